//! Deciding, per request, which fault (if any) fires. Rules are checked in
//! order and the first matching rule whose trigger fires wins; rate triggers
//! draw from one seeded RNG so a run with the same seed and the same request
//! sequence sees the same faults.

use super::{FaultKind, FaultRule, Trigger};
use crate::endpoint::Endpoint;
use dorafleet_core::Source;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// Mixed into the options seed so fault draws do not mirror generation draws.
const FAULT_SEED_SALT: u64 = 0xFA17_5EED_0000_0001;

#[derive(Debug)]
pub(crate) struct FaultBook {
    rules: Vec<FaultRule>,
    rng: ChaCha8Rng,
}

impl FaultBook {
    pub(crate) fn new(seed: u64, rules: Vec<FaultRule>) -> FaultBook {
        FaultBook {
            rules,
            rng: ChaCha8Rng::seed_from_u64(seed ^ FAULT_SEED_SALT),
        }
    }

    pub(crate) fn rules(&self) -> Vec<FaultRule> {
        self.rules.clone()
    }

    pub(crate) fn replace(&mut self, rules: Vec<FaultRule>) {
        self.rules = rules;
    }

    pub(crate) fn add(&mut self, rule: FaultRule) {
        self.rules.push(rule);
    }

    /// The fault that fires for this request, consuming a count if it has one.
    pub(crate) fn fire(
        &mut self,
        source: Source,
        endpoint: Endpoint,
        path: &str,
        query: Option<&str>,
    ) -> Option<FaultKind> {
        for rule in self
            .rules
            .iter_mut()
            .filter(|r| r.matches(source, endpoint, path, query))
        {
            let fires = match &mut rule.trigger {
                Trigger::Rate(p) => *p >= 1.0 || (*p > 0.0 && self.rng.random::<f64>() < *p),
                Trigger::Count(n) if *n > 0 => {
                    *n -= 1;
                    true
                }
                Trigger::Count(_) => false,
            };
            if fires {
                return Some(rule.kind.clone());
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_count_trigger_fires_exactly_that_many_times() {
        let mut book = FaultBook::new(1, vec!["jira:503#2".parse().unwrap()]);
        let fired: Vec<bool> = (0..5)
            .map(|_| {
                book.fire(Source::Jira, Endpoint::JiraSearch, "/", None)
                    .is_some()
            })
            .collect();
        assert_eq!(fired, [true, true, false, false, false]);
        assert_eq!(book.rules()[0].trigger, Trigger::Count(0));
    }

    #[test]
    fn rules_for_other_sources_or_endpoints_do_not_fire_and_are_not_consumed() {
        let mut book = FaultBook::new(1, vec!["github/pulls:503#1".parse().unwrap()]);
        assert_eq!(
            book.fire(Source::Github, Endpoint::PullCommits, "/", None),
            None
        );
        assert_eq!(
            book.fire(Source::Jira, Endpoint::JiraSearch, "/", None),
            None
        );
        assert_eq!(
            book.fire(Source::Github, Endpoint::Pulls, "/", None),
            Some(FaultKind::ErrorStatus { status: 503 })
        );
    }

    #[test]
    fn a_rate_trigger_fires_on_about_that_share_of_requests_and_is_seeded() {
        let rules = vec!["github:429=1@0.2".parse().unwrap()];
        let run = |seed| {
            let mut book = FaultBook::new(seed, rules.clone());
            (0..1000)
                .map(|_| {
                    book.fire(Source::Github, Endpoint::Pulls, "/", None)
                        .is_some()
                })
                .collect::<Vec<_>>()
        };
        let first = run(7);
        let share = first.iter().filter(|f| **f).count();
        assert!((150..250).contains(&share), "{share}");
        assert_eq!(first, run(7));
        assert_ne!(first, run(8));
    }
}
