//! dorafleet's whole-system tests: real processes of the `dorafleet` binary
//! (coordinators, workers, monitors, CLI commands) against the local RabbitMQ
//! at 127.0.0.1:5672, a shared SQLite warehouse and the simulator as the
//! APIs. The tests are in `tests/*.rs`; this library is their shared support:
//! [`fleet_support`] (a fleet on one machine), [`container_fleet`] (the
//! fleet with every role in its own container, through [`containers`]) and
//! [`otlp_receiver`] (an in-test collector, also used by the fleet benchmark
//! of the `dorafleet` crate). Unit and contract tests stay next to their
//! crates.
//!
//! # Finding the binary
//!
//! `env!("CARGO_BIN_EXE_dorafleet")` only exists in the binary's own package,
//! so [`dorafleet_bin`] locates it instead:
//!
//! 1. `DORAFLEET_BIN`, when set, names the binary to start;
//! 2. otherwise it sits next to the test's own build: a test executable is
//!    `<target>/<profile>/deps/<test>-<hash>` (under `cargo test` and
//!    `cargo nextest run`, with or without `CARGO_TARGET_DIR` or
//!    `--target`), the binary `<target>/<profile>/dorafleet`;
//! 3. when neither exists the test fails, saying to build it.
//!
//! # Building the binary first
//!
//! This package does not (and cannot, on stable cargo) depend on a binary, so
//! a build of this package alone does not build `dorafleet`. It is built, from
//! the current sources and with the same profile, whenever the `dorafleet`
//! package's own integration tests are part of the build, which
//! `cargo nextest run --workspace` and `cargo test --workspace` (what
//! `scripts/test.sh` runs) always are. To run these tests alone:
//!
//! ```sh
//! cargo build -p dorafleet && cargo nextest run -p dorafleet-system-tests
//! # or, in one command that builds both:
//! cargo nextest run -p dorafleet -p dorafleet-system-tests -E 'package(dorafleet-system-tests)'
//! ```
//!
//! Run alone without the `cargo build`, they start whatever binary an
//! earlier build left, which may be stale or missing.

pub mod container_fleet;
pub mod containers;
pub mod fleet_support;
pub mod otlp_receiver;

use std::path::PathBuf;
use std::sync::OnceLock;

/// The environment variable naming the `dorafleet` binary to start.
pub const BIN_ENV: &str = "DORAFLEET_BIN";

/// The `dorafleet` binary the tests start (see the crate documentation).
///
/// # Panics
///
/// When it is not there: the message says where it was looked for and how
/// to build it.
pub fn dorafleet_bin() -> PathBuf {
    static BIN: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    BIN.get_or_init(locate)
        .clone()
        .unwrap_or_else(|e| panic!("{e}"))
}

fn locate() -> Result<PathBuf, String> {
    if let Some(bin) = std::env::var_os(BIN_ENV).filter(|v| !v.is_empty()) {
        let bin = PathBuf::from(bin);
        return if bin.is_file() {
            Ok(bin)
        } else {
            Err(format!(
                "{BIN_ENV}={} is not a file: point it at a built dorafleet binary",
                bin.display()
            ))
        };
    }
    let exe = std::env::current_exe()
        .map_err(|e| format!("cannot locate the dorafleet binary: no current_exe ({e})"))?;
    let mut dir = exe
        .parent()
        .ok_or_else(|| format!("test executable {} has no folder", exe.display()))?;
    if dir.ends_with("deps") {
        dir = dir.parent().unwrap_or(dir);
    }
    let bin = dir.join(format!("dorafleet{}", std::env::consts::EXE_SUFFIX));
    if bin.is_file() {
        Ok(bin)
    } else {
        Err(format!(
            "the dorafleet binary is not at {}: build it first with `cargo build -p dorafleet` \
             (same profile and CARGO_TARGET_DIR as the tests), run the tests with \
             `--workspace`, or set {BIN_ENV} to a built binary",
            bin.display()
        ))
    }
}
