//! Builds of one Jenkins job: a deploy job (each SUCCESS is a production
//! deployment) or a CI job (never a deployment). Some builds fail or are
//! aborted, and the last build of some jobs is still running when the range
//! ends: in the history every build has its result and duration, and the
//! view as of the end shows it `building: true`, `result: null`.

use super::calendar::Calendar;
use super::random::{poisson, time_of_day_ms, weighted_index};
use crate::model::{BuildResult, JenkinsBuild, JobKind, Person};
use chrono::Duration;
use rand::Rng;
use rand::seq::IndexedRandom;

const DEPLOY_BUILDS_PER_WEEKDAY: f64 = 1.3;
const CI_BUILDS_PER_WEEKDAY: f64 = 2.5;

pub(crate) fn builds(
    rng: &mut impl Rng,
    cal: &Calendar,
    kind: JobKind,
    members: &[&Person],
) -> Vec<JenkinsBuild> {
    let per_weekday = match kind {
        JobKind::Deploy => DEPLOY_BUILDS_PER_WEEKDAY,
        JobKind::Ci => CI_BUILDS_PER_WEEKDAY,
    };
    let mut builds = Vec::new();
    for day in cal.days() {
        for _ in 0..poisson(rng, per_weekday * cal.volume(day)) {
            let started_at = time_of_day_ms(rng, day, 8, 20);
            builds.push(build(rng, kind, members, started_at));
        }
    }
    if rng.random_bool(0.5) {
        let started_at = cal.end - Duration::milliseconds(rng.random_range(30_000..600_000));
        builds.push(build(rng, kind, members, started_at));
    }
    builds.sort_by_key(|b| b.started_at);
    let first_number = rng.random_range(1..400);
    for (i, b) in builds.iter_mut().enumerate() {
        b.number = first_number + i as u64;
    }
    builds
}

fn build(
    rng: &mut impl Rng,
    kind: JobKind,
    members: &[&Person],
    started_at: chrono::DateTime<chrono::Utc>,
) -> JenkinsBuild {
    let (duration_ms, result) = match kind {
        JobKind::Deploy => (
            rng.random_range(60_000..600_000),
            [
                BuildResult::Success,
                BuildResult::Failure,
                BuildResult::Aborted,
            ][weighted_index(rng, &[85, 10, 5])],
        ),
        JobKind::Ci => (
            rng.random_range(180_000..1_500_000),
            [
                BuildResult::Success,
                BuildResult::Failure,
                BuildResult::Unstable,
                BuildResult::Aborted,
            ][weighted_index(rng, &[75, 15, 5, 5])],
        ),
    };
    let started_by = match kind {
        JobKind::Deploy => true,
        JobKind::Ci => rng.random_bool(0.3),
    }
    .then(|| members.choose(rng).expect("members").contributor_id.clone());
    JenkinsBuild {
        number: 0,
        result: Some(result),
        started_at,
        duration_ms: duration_ms as u64,
        building: false,
        started_by,
        commit: None,
    }
}
