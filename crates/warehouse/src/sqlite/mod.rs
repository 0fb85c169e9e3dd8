//! The embedded warehouse: one SQLite file in WAL mode.
//!
//! rusqlite is synchronous, so every call runs on tokio's blocking pool
//! against one connection behind a mutex. One writer at a time is what SQLite
//! allows anyway, and WAL keeps readers (the CLI, other processes sharing the
//! file) from blocking it. The schema is created and migrated by the program.

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
use std::path::Path;
use std::sync::{Arc, Mutex};
use uuid::Uuid;

/// The warehouse in one SQLite file (or in memory): every role, over one
/// connection. Cloning shares the connection.
#[derive(Debug, Clone)]
pub struct SqliteWarehouse {
    conn: Arc<Mutex<Connection>>,
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
        Self::init(conn)
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
        })
    }

    /// Run `f` with the connection on the blocking pool.
    async fn with_conn<T, F>(&self, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection) -> Result<T> + Send + 'static,
    {
        let conn = Arc::clone(&self.conn);
        tokio::task::spawn_blocking(move || {
            let mut guard = conn
                .lock()
                .map_err(|_| WarehouseError::unavailable("connection mutex poisoned"))?;
            f(&mut guard)
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
