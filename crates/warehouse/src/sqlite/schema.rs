//! Schema migrations, applied in order and recorded in `PRAGMA user_version`,
//! so a newer binary upgrades an older file in place and an older binary
//! refuses a file it does not understand.

use super::unavailable;
use crate::{Result, WarehouseError};
use rusqlite::{Connection, TransactionBehavior};

const MIGRATIONS: &[&str] = &[
    // 1: bronze, extract checkpoints, high-watermarks, dead letters.
    r#"
    CREATE TABLE bronze_pages (
        task_id       TEXT    NOT NULL,
        seq           INTEGER NOT NULL,
        execution_id  TEXT    NOT NULL,
        source_system TEXT    NOT NULL,
        team          TEXT    NOT NULL,
        target        TEXT,
        endpoint      TEXT    NOT NULL,
        request       TEXT    NOT NULL,
        cursor        TEXT    NOT NULL,
        status        INTEGER NOT NULL,
        fetched_at    TEXT    NOT NULL,
        record_count  INTEGER NOT NULL,
        body          TEXT    NOT NULL,
        PRIMARY KEY (task_id, seq)
    );
    CREATE INDEX bronze_by_run ON bronze_pages (execution_id, source_system);
    CREATE INDEX bronze_by_scope ON bronze_pages (source_system, team, target);
    CREATE INDEX bronze_by_fetched ON bronze_pages (fetched_at);
    -- Bronze is the record of what the APIs said: never rewritten.
    CREATE TRIGGER bronze_pages_are_immutable BEFORE UPDATE ON bronze_pages
    BEGIN SELECT RAISE(ABORT, 'bronze pages are immutable'); END;

    CREATE TABLE extract_checkpoints (
        task_id     TEXT PRIMARY KEY,
        run_id      TEXT    NOT NULL,
        pages_done  INTEGER NOT NULL,
        state       TEXT    NOT NULL,
        newest_seen TEXT,
        completed   INTEGER NOT NULL DEFAULT 0,
        updated_at  TEXT    NOT NULL
    );

    CREATE TABLE high_watermarks (
        source     TEXT NOT NULL,
        team       TEXT NOT NULL,
        target     TEXT NOT NULL,
        watermark  TEXT NOT NULL,
        updated_at TEXT NOT NULL,
        PRIMARY KEY (source, team, target)
    );

    CREATE TABLE dead_letters (
        id              TEXT PRIMARY KEY,
        task_id         TEXT,
        run_id          TEXT,
        stage           TEXT,
        source          TEXT,
        team            TEXT,
        target          TEXT,
        error_class     TEXT NOT NULL,
        reason          TEXT NOT NULL,
        first_failed_at TEXT NOT NULL,
        last_failed_at  TEXT NOT NULL,
        status          TEXT NOT NULL DEFAULT 'dead',
        letter          TEXT NOT NULL,
        archived_at     TEXT NOT NULL
    );
    CREATE INDEX dead_letters_by_time ON dead_letters (last_failed_at);
    "#,
    // 2: coverage start, silver, gold, definition versions, normalize counts.
    r#"
    ALTER TABLE high_watermarks ADD COLUMN synced_from TEXT;

    CREATE TABLE silver_deployments (
        source      TEXT NOT NULL,
        key         TEXT NOT NULL,
        team_id     TEXT NOT NULL,
        repo        TEXT NOT NULL,
        job         TEXT,
        environment TEXT NOT NULL,
        status      TEXT NOT NULL,
        started_at  TEXT NOT NULL,
        finished_at TEXT,
        sha         TEXT,
        deployer    TEXT,
        run_id      TEXT NOT NULL,
        PRIMARY KEY (source, key)
    );
    CREATE INDEX silver_deployments_by_team ON silver_deployments (team_id);

    CREATE TABLE silver_changes (
        repo            TEXT    NOT NULL,
        number          INTEGER NOT NULL,
        team_id         TEXT    NOT NULL,
        author          TEXT,
        first_commit_at TEXT    NOT NULL,
        merged_at       TEXT    NOT NULL,
        merge_sha       TEXT,
        run_id          TEXT    NOT NULL,
        PRIMARY KEY (repo, number)
    );
    CREATE INDEX silver_changes_by_team ON silver_changes (team_id);

    CREATE TABLE silver_incidents (
        key         TEXT PRIMARY KEY,
        project     TEXT NOT NULL,
        team_id     TEXT NOT NULL,
        issue_type  TEXT NOT NULL,
        priority    TEXT,
        created_at  TEXT NOT NULL,
        resolved_at TEXT,
        reporter    TEXT,
        run_id      TEXT NOT NULL
    );
    CREATE INDEX silver_incidents_by_team ON silver_incidents (team_id);

    CREATE TABLE normalize_counts (
        run_id      TEXT NOT NULL,
        source      TEXT NOT NULL,
        team        TEXT NOT NULL,
        target      TEXT NOT NULL,
        counts      TEXT NOT NULL,
        recorded_at TEXT NOT NULL,
        PRIMARY KEY (run_id, source, team, target)
    );

    CREATE TABLE gold (
        team_id            TEXT    NOT NULL,
        date               TEXT    NOT NULL,
        metric             TEXT    NOT NULL,
        value              REAL,
        sample_size        INTEGER NOT NULL,
        samples            TEXT    NOT NULL,
        definition_version INTEGER NOT NULL,
        run_id             TEXT    NOT NULL,
        computed_at        TEXT    NOT NULL,
        complete           INTEGER NOT NULL,
        PRIMARY KEY (team_id, date, metric)
    );
    CREATE INDEX gold_by_date ON gold (date);

    CREATE TABLE definition_versions (
        metric      TEXT    NOT NULL,
        fingerprint TEXT    NOT NULL,
        version     INTEGER NOT NULL,
        created_at  TEXT    NOT NULL,
        PRIMARY KEY (metric, fingerprint),
        UNIQUE (metric, version)
    );
    "#,
    // 3: runs, task states, leases, request-slot schedules.
    r#"
    CREATE TABLE runs (
        run_id      TEXT PRIMARY KEY,
        kind        TEXT NOT NULL,
        window_from TEXT NOT NULL,
        window_to   TEXT NOT NULL,
        status      TEXT NOT NULL,
        created_at  TEXT NOT NULL,
        updated_at  TEXT NOT NULL
    );
    CREATE INDEX runs_by_status ON runs (status);

    CREATE TABLE tasks (
        task_id    TEXT PRIMARY KEY,
        run_id     TEXT    NOT NULL,
        stage      TEXT    NOT NULL,
        source     TEXT,
        team       TEXT    NOT NULL,
        target     TEXT,
        state      TEXT    NOT NULL,
        published  INTEGER NOT NULL,
        worker     TEXT,
        attempts   INTEGER NOT NULL,
        envelope   TEXT    NOT NULL,
        updated_at TEXT    NOT NULL
    );
    CREATE INDEX tasks_by_run ON tasks (run_id);

    CREATE TABLE leases (
        name       TEXT PRIMARY KEY,
        holder     TEXT NOT NULL,
        expires_at TEXT NOT NULL
    );

    CREATE TABLE slot_schedules (
        key     TEXT PRIMARY KEY,
        next_at TEXT NOT NULL
    );
    "#,
    // 4: dead-letter triage: replay claims, counts and the audit trail.
    r#"
    ALTER TABLE dead_letters ADD COLUMN replay_count INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE dead_letters ADD COLUMN claimed_by TEXT;
    ALTER TABLE dead_letters ADD COLUMN claimed_at TEXT;
    CREATE INDEX dead_letters_by_status ON dead_letters (status);
    CREATE TABLE dead_letter_audit (
        letter_id TEXT    NOT NULL,
        seq       INTEGER NOT NULL,
        at        TEXT    NOT NULL,
        actor     TEXT    NOT NULL,
        action    TEXT    NOT NULL,
        detail    TEXT    NOT NULL,
        PRIMARY KEY (letter_id, seq)
    );
    "#,
    // 5: data-quality holds, with their evidence and resolution as JSON.
    r#"
    CREATE TABLE holds (
        hold_id    TEXT PRIMARY KEY,
        run_id     TEXT NOT NULL,
        team_id    TEXT NOT NULL,
        status     TEXT NOT NULL,
        created_at TEXT NOT NULL,
        hold       TEXT NOT NULL
    );
    CREATE INDEX holds_by_team ON holds (team_id, status);
    CREATE INDEX holds_by_run ON holds (run_id);
    "#,
    // 6: the alert monitor: gold change outbox, checkpoints, delivered alerts.
    r#"
    CREATE TABLE gold_outbox (
        seq        INTEGER PRIMARY KEY AUTOINCREMENT,
        team_id    TEXT NOT NULL,
        date       TEXT NOT NULL,
        metric     TEXT NOT NULL,
        kind       TEXT NOT NULL,
        record     TEXT NOT NULL,
        written_at TEXT NOT NULL
    );
    CREATE TABLE monitor_checkpoints (
        name       TEXT PRIMARY KEY,
        checkpoint TEXT NOT NULL,
        updated_at TEXT NOT NULL
    );
    CREATE TABLE delivered_alerts (
        key          TEXT PRIMARY KEY,
        payload      TEXT NOT NULL,
        delivered_at TEXT NOT NULL
    );
    "#,
    // 7: the trace a run's tasks continue.
    r#"
    ALTER TABLE runs ADD COLUMN traceparent TEXT;
    "#,
    // 8: lease generations, the fencing token of the holder's writes.
    r#"
    ALTER TABLE leases ADD COLUMN generation INTEGER NOT NULL DEFAULT 0;
    "#,
    // 9: definitions v2: deployed refs, change titles and branches, and the
    // default-branch history that links changes to deployments.
    r#"
    ALTER TABLE silver_deployments ADD COLUMN ref_name TEXT;
    ALTER TABLE silver_changes ADD COLUMN title TEXT;
    ALTER TABLE silver_changes ADD COLUMN head_ref TEXT;
    CREATE TABLE silver_commits (
        repo         TEXT NOT NULL,
        sha          TEXT NOT NULL,
        team_id      TEXT NOT NULL,
        parents      TEXT NOT NULL,
        committed_at TEXT NOT NULL,
        run_id       TEXT NOT NULL,
        PRIMARY KEY (repo, sha)
    );
    CREATE INDEX silver_commits_by_team ON silver_commits (team_id);
    "#,
    // 10: conditional requests: each page's validators and next link, and
    // the page a 304 reuses instead of storing its payload again.
    r#"
    ALTER TABLE bronze_pages ADD COLUMN etag TEXT;
    ALTER TABLE bronze_pages ADD COLUMN last_modified TEXT;
    ALTER TABLE bronze_pages ADD COLUMN link_next TEXT;
    ALTER TABLE bronze_pages ADD COLUMN reuses_task_id TEXT;
    ALTER TABLE bronze_pages ADD COLUMN reuses_seq INTEGER;
    CREATE INDEX bronze_by_request ON bronze_pages (source_system, request, fetched_at);
    CREATE INDEX bronze_by_reused ON bronze_pages (reuses_task_id, reuses_seq);
    "#,
    // 11: a scope's pages read in storage order straight off the run's (or
    // the scope's) index, in chunks, with no sort of their bodies; and only
    // the records that reuse a page in the index of reused pages (most
    // pages reuse none, and each index entry is one more b-tree leaf an
    // append writes).
    r#"
    DROP INDEX bronze_by_run;
    CREATE INDEX bronze_by_run
        ON bronze_pages (execution_id, source_system, team, target, task_id, seq);
    DROP INDEX bronze_by_scope;
    CREATE INDEX bronze_by_scope ON bronze_pages (source_system, team, target, task_id, seq);
    DROP INDEX bronze_by_reused;
    CREATE INDEX bronze_by_reused ON bronze_pages (reuses_task_id, reuses_seq)
        WHERE reuses_task_id IS NOT NULL;
    "#,
];

pub(super) fn migrate(conn: &mut Connection) -> Result<()> {
    for (i, sql) in MIGRATIONS.iter().enumerate() {
        let version = i as i64 + 1;
        // IMMEDIATE takes the write lock first, so two processes opening a new
        // file at once migrate it once: the second sees the version moved on.
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(unavailable)?;
        let current: i64 = tx
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .map_err(unavailable)?;
        if current > MIGRATIONS.len() as i64 {
            return Err(WarehouseError::config(format!(
                "warehouse schema version {current} is newer than this build understands ({}); upgrade dorafleet",
                MIGRATIONS.len()
            )));
        }
        if current >= version {
            continue;
        }
        tx.execute_batch(sql)
            .and_then(|()| tx.pragma_update(None, "user_version", version))
            .map_err(|e| {
                WarehouseError::config_from(format!("schema migration {version} failed"), e)
            })?;
        tx.commit().map_err(unavailable)?;
    }
    Ok(())
}
