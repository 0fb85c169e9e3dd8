//! Progress of a run, as progress displays show it.

/// A snapshot taken after every applied task event.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RunProgress {
    /// All the run's tasks known so far (later stages join as released).
    pub total: usize,
    /// Tasks finished successfully.
    pub done: usize,
    /// Tasks dead-lettered.
    pub dead: usize,
    /// Retries scheduled so far over all the run's tasks.
    pub retries: u64,
    /// Bronze pages stored by the run's extracts so far.
    pub pages: u64,
    /// Records in those pages.
    pub records: u64,
}

impl RunProgress {
    /// Tasks at their end, done or dead.
    pub fn finished(&self) -> usize {
        self.done + self.dead
    }
}
