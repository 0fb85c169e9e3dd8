//! What to simulate: the seed and size of the organisation, the covered date
//! range, the faults active from the start, the GitHub hourly budget and
//! where the simulated clock starts.

use crate::faults::FaultRule;
use chrono::{DateTime, NaiveDate, Utc};

/// Everything that shapes one simulator run; [`Default`] gives the values
/// documented on each field.
#[derive(Debug, Clone, PartialEq)]
pub struct SimOptions {
    /// Seed of the generated organisation and of the fault draws. Default 42.
    pub seed: u64,
    /// Days covered, ending at `end_date` (exclusive). Default 90.
    pub days: u32,
    /// Number of teams (at least 1). Default 5.
    pub teams: usize,
    /// Data covers `[end_date - days, end_date)` UTC. Default: today (UTC).
    pub end_date: NaiveDate,
    /// Faults active from the start.
    pub faults: Vec<FaultRule>,
    /// Requests per hour before GitHub answers 403. Default 5000.
    pub github_hourly_limit: u32,
    /// The instant the simulator's clock starts at (it stays there until set
    /// or advanced, see [`SimState::set_now`](crate::SimState::set_now)).
    /// Default `None`: the end of the covered range, where the world looks
    /// finished up to the last day.
    pub clock: Option<DateTime<Utc>>,
}

impl Default for SimOptions {
    fn default() -> Self {
        SimOptions {
            seed: 42,
            days: 90,
            teams: 5,
            end_date: Utc::now().date_naive(),
            faults: Vec::new(),
            github_hourly_limit: 5000,
            clock: None,
        }
    }
}
