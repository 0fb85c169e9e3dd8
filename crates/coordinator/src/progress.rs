//! Progress of a run, as progress displays show it.

/// A snapshot taken after every applied task event.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RunProgress {
    pub total: usize,
    pub done: usize,
    pub dead: usize,
    pub retries: u64,
    /// Bronze pages and records stored by the run's extracts so far.
    pub pages: u64,
    pub records: u64,
}

impl RunProgress {
    pub fn finished(&self) -> usize {
        self.done + self.dead
    }
}
