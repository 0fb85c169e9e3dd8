//! A small pool of read-only connections to the warehouse file.
//!
//! Reads used to queue behind the one connection every call shared, so a
//! normalize reading a run's bronze waited for the extract next to it to
//! store its page, and the other way round. In WAL, a read-only connection
//! reads the last committed state without taking the write lock, so reads of
//! one process run beside its writes and beside each other. Connections are
//! opened on first need and kept (their prepared statements with them); at
//! most [`KEPT`] wait idle, and a burst beyond that opens connections that
//! are closed after use.
//!
//! Each keeps a small page cache ([`CACHE_KIB`]): what it reads is in the
//! operating system's file cache anyway, and SQLite's default of 2 MiB per
//! connection, held by every kept reader, cost a worker 2–3 MB of its peak
//! memory in the workers benchmark.

use super::{unavailable, wait_when_busy};
use crate::{Result, WarehouseError};
use rusqlite::{Connection, OpenFlags};
use std::path::PathBuf;
use std::sync::Mutex;

/// Idle connections kept: as many reads as a worker usually runs at once.
const KEPT: usize = 4;

/// Each read connection's page cache, in KiB.
const CACHE_KIB: u32 = 256;

#[derive(Debug)]
pub(super) struct ReadPool {
    path: PathBuf,
    idle: Mutex<Vec<Connection>>,
}

impl ReadPool {
    pub(super) fn new(path: PathBuf) -> ReadPool {
        ReadPool {
            path,
            idle: Mutex::new(Vec::new()),
        }
    }

    /// Runs `f` on an idle connection (or a new one), then keeps it for the
    /// next read.
    pub(super) fn with_connection<T>(
        &self,
        f: impl FnOnce(&mut Connection) -> Result<T>,
    ) -> Result<T> {
        let idle = self.lock().pop();
        let mut conn = match idle {
            Some(conn) => conn,
            None => self.open()?,
        };
        let out = f(&mut conn);
        // A read that failed half-way must not leave a transaction open on a
        // kept connection: it would pin an old snapshot for every later read.
        if conn.is_autocommit() {
            let mut idle = self.lock();
            if idle.len() < KEPT {
                idle.push(conn);
            }
        }
        out
    }

    fn open(&self) -> Result<Connection> {
        let conn = Connection::open_with_flags(
            &self.path,
            OpenFlags::SQLITE_OPEN_READ_ONLY
                | OpenFlags::SQLITE_OPEN_NO_MUTEX
                | OpenFlags::SQLITE_OPEN_URI,
        )
        .map_err(|e| {
            WarehouseError::unavailable_from(
                format!("cannot open sqlite:{} to read", self.path.display()),
                e,
            )
        })?;
        wait_when_busy(&conn)?;
        conn.execute_batch(&format!(
            "PRAGMA query_only=ON; PRAGMA cache_size=-{CACHE_KIB};"
        ))
        .map_err(unavailable)?;
        Ok(conn)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<Connection>> {
        self.idle.lock().unwrap_or_else(|p| p.into_inner())
    }
}
