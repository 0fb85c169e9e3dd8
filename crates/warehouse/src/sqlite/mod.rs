//! The embedded warehouse: one SQLite file in WAL mode.
//!
//! rusqlite is synchronous, so every call runs on tokio's blocking pool
//! against one connection behind a mutex. One writer at a time is what SQLite
//! allows anyway, and WAL keeps readers (the CLI, other processes sharing the
//! file) from blocking it. The schema is created and migrated by the program.
//!
//! A file opened by path can be deleted or replaced under a running process
//! (an operator's `rm`, a restore copied over it, a volume remounted): the
//! open connection keeps reading and writing the old file, which nobody else
//! will ever see. So the file's identity (device and inode) is recorded at
//! open and compared with the path's before and after every call; once they
//! differ every call fails with [`WarehouseError::Replaced`], so no write is
//! reported done unless it reached the file the path names.

mod bronze;
mod dead_letters;
mod gold;
mod holds;
mod ledger;
mod monitor;
mod schema;
mod silver;
mod slots;

use crate::{Result, WarehouseError};
use chrono::{DateTime, SecondsFormat, Utc};
use dorafleet_core::Source;
use rusqlite::Connection;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use uuid::Uuid;

/// The warehouse in one SQLite file (or in memory): every role, over one
/// connection. Cloning shares the connection.
#[derive(Debug, Clone)]
pub struct SqliteWarehouse {
    conn: Arc<Mutex<Connection>>,
    /// The identity of the file opened, checked around every call; `None`
    /// in memory (or where files have no identity to compare).
    file: Option<Arc<FileIdentity>>,
}

/// The file a warehouse opened: its path, and its device and inode then.
#[derive(Debug, Clone, PartialEq, Eq)]
struct FileIdentity {
    path: PathBuf,
    dev: u64,
    ino: u64,
}

impl FileIdentity {
    /// The identity of the file at `path` now.
    #[cfg(unix)]
    fn of(path: &Path) -> std::io::Result<Option<FileIdentity>> {
        use std::os::unix::fs::MetadataExt;
        let meta = std::fs::metadata(path)?;
        Ok(Some(FileIdentity {
            path: path.to_owned(),
            dev: meta.dev(),
            ino: meta.ino(),
        }))
    }

    #[cfg(not(unix))]
    fn of(_path: &Path) -> std::io::Result<Option<FileIdentity>> {
        Ok(None)
    }

    /// Fails with [`WarehouseError::Replaced`] unless the path still names
    /// the file opened.
    fn check(&self) -> Result<()> {
        let what = match Self::of(&self.path) {
            Ok(Some(now)) if now == *self => return Ok(()),
            Ok(None) => return Ok(()),
            Ok(Some(_)) => "replaced by another file",
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => "deleted",
            Err(e) => {
                return Err(WarehouseError::unavailable_from(
                    format!(
                        "cannot check the warehouse file sqlite:{}",
                        self.path.display()
                    ),
                    e,
                ));
            }
        };
        Err(WarehouseError::replaced(format!(
            "the warehouse file sqlite:{} was {what} while this process had it open; \
             what it writes now would go to the old file, which nobody reads, so nothing \
             more is written: restart this process against the file the operator uses",
            self.path.display()
        )))
    }
}

impl SqliteWarehouse {
    /// Open (or create) the SQLite file at `path`, creating its directory
    /// if needed; switch it to WAL and migrate the schema.
    pub fn open(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref();
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|e| {
                WarehouseError::config(format!("cannot create {}: {e}", dir.display()))
            })?;
        }
        let conn = Connection::open(path)
            .map_err(|e| WarehouseError::config(format!("cannot open {}: {e}", path.display())))?;
        let mut warehouse = Self::init(conn)?;
        // Once migrated the file surely exists on disk.
        let absolute = std::path::absolute(path).unwrap_or_else(|_| path.to_owned());
        warehouse.file = FileIdentity::of(&absolute)
            .map_err(|e| {
                WarehouseError::config_from(format!("cannot stat {}", absolute.display()), e)
            })?
            .map(Arc::new);
        Ok(warehouse)
    }

    /// A fresh, private in-memory warehouse (gone when the last clone is
    /// dropped), with the schema created: for tests and `sqlite::memory:`.
    pub fn open_in_memory() -> Result<Self> {
        let conn = Connection::open_in_memory().map_err(unavailable)?;
        Self::init(conn)
    }

    fn init(mut conn: Connection) -> Result<Self> {
        conn.busy_timeout(std::time::Duration::from_secs(10))
            .map_err(unavailable)?;
        // Switching a new file to WAL takes an exclusive lock for which SQLite
        // does not always wait (two processes opening the same new file), so
        // that step is retried for a bounded time.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        loop {
            match conn.query_row("PRAGMA journal_mode=WAL", [], |r| r.get::<_, String>(0)) {
                Ok(_) => break,
                Err(e) if is_busy(&e) && std::time::Instant::now() < deadline => {
                    std::thread::sleep(std::time::Duration::from_millis(10));
                }
                Err(e) => return Err(unavailable(e)),
            }
        }
        conn.execute_batch("PRAGMA synchronous=NORMAL; PRAGMA foreign_keys=ON;")
            .map_err(unavailable)?;
        schema::migrate(&mut conn)?;
        Ok(SqliteWarehouse {
            conn: Arc::new(Mutex::new(conn)),
            file: None,
        })
    }

    /// Run `f` with the connection on the blocking pool, checking before
    /// and after it that the path still names the file opened: a call that
    /// ran against a file deleted or replaced meanwhile fails (even if its
    /// transaction committed, to the old file) instead of reporting success.
    async fn with_conn<T, F>(&self, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection) -> Result<T> + Send + 'static,
    {
        let conn = Arc::clone(&self.conn);
        let file = self.file.clone();
        tokio::task::spawn_blocking(move || {
            let mut guard = conn
                .lock()
                .map_err(|_| WarehouseError::unavailable("connection mutex poisoned"))?;
            if let Some(file) = &file {
                file.check()?;
            }
            let out = f(&mut guard);
            if let Some(file) = &file {
                file.check()?;
            }
            out
        })
        .await
        .map_err(|e| WarehouseError::unavailable_from("warehouse task failed", e))?
    }
}

/// A write transaction. IMMEDIATE takes the write lock up front: a deferred
/// transaction that reads and then writes cannot wait for another process's
/// write (SQLite answers "database is locked" at once instead of waiting),
/// so every transaction that writes starts as a writer.
pub(crate) fn write_tx(conn: &mut Connection) -> Result<rusqlite::Transaction<'_>> {
    conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
        .map_err(unavailable)
}

fn is_busy(e: &rusqlite::Error) -> bool {
    matches!(
        e.sqlite_error_code(),
        Some(rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked)
    )
}

pub(crate) fn unavailable(e: rusqlite::Error) -> WarehouseError {
    // A value above SQLite's size limit is refused the same way every time:
    // not worth a retry (which would fetch and refuse it again).
    if e.sqlite_error_code() == Some(rusqlite::ErrorCode::TooBig) {
        return WarehouseError::config_from(
            "SQLite refused a value above its size limit (SQLITE_TOOBIG); lower sources.<source>.max_response_bytes",
            e,
        );
    }
    // A damaged file (a corrupted page, a file that is not a database) reads
    // the same on every attempt: retrying only repeats the work before it.
    if matches!(
        e.sqlite_error_code(),
        Some(rusqlite::ErrorCode::DatabaseCorrupt | rusqlite::ErrorCode::NotADatabase)
    ) {
        return WarehouseError::corrupt_from(
            "the SQLite file is damaged (restore it from a backup, or move it away and backfill)",
            e,
        );
    }
    WarehouseError::unavailable_from("SQLite", e)
}

/// Timestamps are stored as fixed-width RFC 3339 UTC text, so text order is time order.
pub(crate) fn ts(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Nanos, true)
}

pub(crate) fn parse_ts(s: &str) -> Result<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(s)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|e| WarehouseError::corrupt_from(format!("bad timestamp `{s}`"), e))
}

pub(crate) fn parse_uuid(s: &str) -> Result<Uuid> {
    Uuid::parse_str(s).map_err(|e| WarehouseError::corrupt_from(format!("bad uuid `{s}`"), e))
}

pub(crate) fn parse_source(s: &str) -> Result<Source> {
    s.parse()
        .map_err(|e| WarehouseError::corrupt_from("unreadable value", e))
}

#[cfg(test)]
mod error_class_tests {
    #[test]
    fn a_value_above_the_size_limit_is_a_permanent_failure() {
        let e = rusqlite::Error::SqliteFailure(
            rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_TOOBIG),
            Some("string or blob too big".into()),
        );
        let err = dorafleet_core::TaskError::from(super::unavailable(e));
        assert_eq!(err.class(), dorafleet_core::ErrorClass::Permanent, "{err}");
        assert!(err.detail().contains("max_response_bytes"), "{err}");
    }

    #[test]
    fn a_corrupted_file_is_a_permanent_failure_not_a_retry() {
        for code in [rusqlite::ffi::SQLITE_CORRUPT, rusqlite::ffi::SQLITE_NOTADB] {
            let e = rusqlite::Error::SqliteFailure(
                rusqlite::ffi::Error::new(code),
                Some("database disk image is malformed".into()),
            );
            let err = dorafleet_core::TaskError::from(super::unavailable(e));
            assert_eq!(err.class(), dorafleet_core::ErrorClass::Permanent, "{err}");
            assert!(err.detail().contains("damaged"), "{err}");
        }
    }
}
