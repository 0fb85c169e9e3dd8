//! The embedded warehouse: one SQLite file in WAL mode.
//!
//! rusqlite is synchronous, so every call runs on tokio's blocking pool.
//! Writes go through one connection behind a mutex: one writer at a time is
//! what SQLite allows anyway. Reads that stand alone (bronze pages for
//! normalize, silver, the ledger) take a connection of a small read-only pool
//! instead (see [`readers`]), so they neither wait for this process's writer
//! nor for each other: in WAL a reader sees every committed write, its own
//! process's included, and never blocks the writer. The schema is created and
//! migrated by the program.
//!
//! A file opened by path can be deleted or replaced under a running process
//! (an operator's `rm`, a restore copied over it, a volume remounted): the
//! open connection keeps reading and writing the old file, which nobody else
//! will ever see. So the file's identity (device and inode) is recorded at
//! open and compared with the path's before and after every call; once they
//! differ every call fails with [`WarehouseError::Replaced`], so no write is
//! reported done unless it reached the file the path names.

mod appends;
mod bronze;
mod bronze_reads;
mod dead_letters;
mod filters;
mod gold;
mod holds;
mod ledger;
mod monitor;
mod page_body;
mod readers;
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
    /// Read-only connections to the same file; `None` in memory, where a
    /// second connection would open a different database.
    readers: Option<Arc<readers::ReadPool>>,
    /// The identity of the file opened, checked around every call; `None`
    /// in memory (or where files have no identity to compare).
    file: Option<Arc<FileIdentity>>,
    /// Bronze appends waiting for the next commit of the write connection.
    appends: Arc<appends::AppendQueue>,
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
        warehouse.readers = Some(Arc::new(readers::ReadPool::new(absolute.clone())));
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
        wait_when_busy(&conn)?;
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
        conn.execute_batch(&format!(
            "PRAGMA synchronous=NORMAL; PRAGMA foreign_keys=ON; \
             PRAGMA wal_autocheckpoint={WAL_PAGES_BEFORE_CHECKPOINT};"
        ))
        .map_err(unavailable)?;
        schema::migrate(&mut conn)?;
        Ok(SqliteWarehouse {
            conn: Arc::new(Mutex::new(conn)),
            readers: None,
            file: None,
            appends: Arc::default(),
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
        self.blocking(move |w| w.write_now(f)).await
    }

    /// Like [`with_conn`](Self::with_conn) for a read that stands alone: on
    /// a connection of the read pool, so it waits for no write of this
    /// process. It sees every write committed before it starts (WAL), this
    /// process's included. In memory, the one connection serves it.
    async fn with_reader<T, F>(&self, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection) -> Result<T> + Send + 'static,
    {
        self.blocking(move |w| w.read_now(f)).await
    }

    /// Run `f` on the blocking pool with this warehouse, between the checks
    /// that the path still names the file opened (see [`with_conn`](Self::with_conn)).
    async fn blocking<T, F>(&self, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&SqliteWarehouse) -> Result<T> + Send + 'static,
    {
        let warehouse = self.clone();
        tokio::task::spawn_blocking(move || warehouse.checked(|| f(&warehouse)))
            .await
            .map_err(|e| WarehouseError::unavailable_from("warehouse task failed", e))?
    }

    /// `f`, between the checks that the path still names the file opened.
    fn checked<T>(&self, f: impl FnOnce() -> Result<T>) -> Result<T> {
        if let Some(file) = &self.file {
            file.check()?;
        }
        let out = f();
        if let Some(file) = &self.file {
            file.check()?;
        }
        out
    }

    /// `f` on the write connection, on this thread (already a blocking one).
    fn write_now<T>(&self, f: impl FnOnce(&mut Connection) -> Result<T>) -> Result<T> {
        let mut guard = self
            .conn
            .lock()
            .map_err(|_| WarehouseError::unavailable("connection mutex poisoned"))?;
        f(&mut guard)
    }

    /// `f` on a read-only connection of the pool, on this thread.
    fn read_now<T>(&self, f: impl FnOnce(&mut Connection) -> Result<T>) -> Result<T> {
        match &self.readers {
            Some(readers) => readers.with_connection(f),
            None => self.write_now(f),
        }
    }
}

/// WAL pages a commit may leave before it copies the WAL into the file
/// (SQLite's automatic checkpoint; its default is 1,000). Checkpoints ran in
/// the commits of the workers' bronze appends, 4–5 % of a worker's CPU in the
/// workers benchmark with their `fsync`s; fewer, larger ones copy each
/// rewritten page (index leaves, checkpoint rows) once instead of many times.
/// The WAL file then grows to about 40 MB (10,000 pages of 4 KiB) and stays
/// at that size, reused from its start after each checkpoint.
const WAL_PAGES_BEFORE_CHECKPOINT: u32 = 10_000;

/// How a connection waits for a lock another connection holds: in short
/// steps, for up to about 10 s. SQLite's own busy timeout sleeps 1, 2, 5, 10…
/// up to 100 ms between tries, so a process that finds the write lock taken
/// by another process for a few hundred microseconds (a bronze page, a
/// request slot) slept milliseconds: two workers on one file spent much of
/// their time asleep waiting for each other's short transactions.
pub(crate) fn wait_when_busy(conn: &Connection) -> Result<()> {
    fn busy(tries: i32) -> bool {
        // 200 tries of 50 µs (10 ms), then steps of 1 ms up to ~10 s in all.
        const SHORT_TRIES: i32 = 200;
        const LONG_TRIES: i32 = 10_000;
        match tries {
            t if t < SHORT_TRIES => std::thread::sleep(std::time::Duration::from_micros(50)),
            t if t < SHORT_TRIES + LONG_TRIES => {
                std::thread::sleep(std::time::Duration::from_millis(1))
            }
            _ => return false,
        }
        true
    }
    conn.busy_handler(Some(busy)).map_err(unavailable)
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
