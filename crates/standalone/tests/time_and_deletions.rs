//! Time and deletions, end to end: runs never reach past now (days that
//! have not happened are unknown, not zero); forged tasks are refused before
//! anything is written; a child list that answers 404 says its item is gone
//! without failing the run; rejections of dead-lettered extract tasks are
//! still reported; and without the watch, hourly runs lose statuses that
//! arrive late.

mod common;

use chrono::{DateTime, Duration, NaiveDate, NaiveTime, TimeZone, Utc};
use common::{clients, config, differences, gold, run_over, sim_over, warehouse};
use dorafleet_broker::{Broker, DeliveryStream, InProcessBroker, Route};
use dorafleet_core::{
    Clock, Config, DeadLetter, ErrorClass, Metric, Scope, Source, Stage, TaskEnvelope, Window,
};
use dorafleet_sim::RunningSim;
use dorafleet_standalone::{StandaloneOptions, run_standalone};
use dorafleet_warehouse::{BronzeFilter, DeploymentOutcome};
use dorafleet_worker::{Worker, WorkerOptions};
use std::sync::Arc;
use tokio_util::sync::CancellationToken;

fn midnight(day: NaiveDate) -> DateTime<Utc> {
    day.and_time(NaiveTime::MIN).and_utc()
}

/// A config reading `sim`, starting at `start`, its clock manual at `now`,
/// and the simulator's clock moved there too.
fn config_at(sim: &RunningSim, start: DateTime<Utc>, now: DateTime<Utc>) -> Config {
    let mut config = config(sim, 3);
    config.sync.earliest = start.date_naive();
    config.sensors.enabled = false;
    config.clock = Clock::manual(now);
    sim.state().set_now(now);
    config
}

fn options() -> StandaloneOptions {
    StandaloneOptions {
        sources: Source::ALL.to_vec(),
        concurrency: 4,
        worker_name: "test".into(),
        deadline: std::time::Duration::from_secs(120),
    }
}

/// Every (source, scope) the config plans.
fn scopes(config: &Config) -> Vec<(Source, Scope)> {
    let mut all = Vec::new();
    for team in &config.teams {
        for source in Source::ALL {
            for target in team.targets(source) {
                all.push((
                    source,
                    Scope {
                        team: team.id.clone(),
                        target: Some(target.clone()),
                    },
                ));
            }
        }
    }
    all
}

// ---------------------------------------------------------------- 1. now

#[tokio::test]
async fn a_range_reaching_a_month_past_now_is_cut_at_now_and_leaves_later_days_unknown() {
    const DAYS: u32 = 10;
    let end = NaiveDate::from_ymd_opt(2026, 6, 1).unwrap();
    let start = midnight(end) - Duration::days(i64::from(DAYS));
    let sim = sim_over(21, DAYS, end, 2, &[]).await;
    // Mid-afternoon of the seventh day: today is partly over.
    let now = start + Duration::days(6) + Duration::hours(15);
    let config = config_at(&sim, start, now);
    let warehouse = warehouse();

    let requested = Window {
        from: start,
        to: now + Duration::days(30),
    };
    let summary = run_over(requested, &config, &warehouse).await;
    assert_eq!((summary.dead, summary.unfinished), (0, 0));

    let tasks = warehouse.run_tasks(summary.run_id).await.unwrap();
    let extracts: Vec<_> = tasks
        .iter()
        .filter(|t| t.envelope.stage == Stage::Extract)
        .collect();
    assert_eq!(extracts.len(), scopes(&config).len());
    for task in &tasks {
        assert!(
            task.envelope.window.to <= now,
            "{} task planned up to {}, after now {now}",
            task.envelope.stage,
            task.envelope.window
        );
    }
    for task in &extracts {
        assert_eq!(task.envelope.window.to, now, "extract plans up to now");
    }

    let today = now.date_naive();
    let gold = gold(&warehouse).await;
    assert!(!gold.is_empty());
    let later: Vec<_> = gold.iter().filter(|g| g.date >= today).collect();
    assert!(
        later.is_empty(),
        "gold holds days at or after now's date {today}: {later:#?}"
    );

    for (source, scope) in scopes(&config) {
        let watermark = warehouse.high_watermark(source, &scope).await.unwrap();
        let coverage = warehouse.coverage(source, &scope).await.unwrap();
        let watermark = watermark.unwrap_or_else(|| panic!("{source} {scope:?} has no watermark"));
        assert!(
            watermark <= now,
            "{source} {scope:?}: watermark {watermark}"
        );
        let coverage = coverage.unwrap_or_else(|| panic!("{source} {scope:?} has no coverage"));
        assert!(
            coverage.to <= now,
            "{source} {scope:?}: coverage {coverage:?}"
        );
    }

    let truth = sim.state().ground_truth();
    assert!(truth.iter().all(|t| t.date < today));
    assert_eq!(
        truth.len(),
        6 * 2 * Metric::ALL.len(),
        "6 days over × 2 teams × every metric"
    );
    assert_eq!(gold.len(), truth.len(), "gold has every day over, no more");
    let diffs = differences(&gold, &truth);
    assert!(
        diffs.is_empty(),
        "gold vs truth at now:\n{}",
        diffs.join("\n")
    );
}

#[tokio::test]
async fn a_range_entirely_after_now_plans_nothing() {
    let end = NaiveDate::from_ymd_opt(2026, 6, 1).unwrap();
    let start = midnight(end) - Duration::days(3);
    let sim = sim_over(21, 3, end, 1, &[]).await;
    let now = start + Duration::hours(30);
    let config = config_at(&sim, start, now);
    let warehouse = warehouse();

    let after = Window {
        from: now + Duration::days(1),
        to: now + Duration::days(31),
    };
    let planned = run_standalone(
        Some(after),
        Arc::clone(&warehouse),
        clients(&config),
        Arc::new(config.clone()),
        options(),
        |_| {},
    )
    .await
    .unwrap();
    assert!(planned.is_none(), "{planned:?}");
    assert!(warehouse.runs(10).await.unwrap().is_empty());
    assert!(sim.state().request_log().is_empty(), "no API was asked");
}

// ---------------------------------------------------------------- 2. forged tasks

async fn next_letter(stream: &mut Box<dyn DeliveryStream>) -> DeadLetter {
    let delivery = tokio::time::timeout(std::time::Duration::from_secs(10), stream.next())
        .await
        .expect("a dead letter within 10 s")
        .expect("stream open");
    let letter = serde_json::from_slice(&delivery.body).unwrap();
    delivery.ack().await.unwrap();
    letter
}

#[tokio::test]
async fn forged_extract_tasks_are_dead_lettered_as_refused_and_write_nothing() {
    let end = NaiveDate::from_ymd_opt(2026, 6, 1).unwrap();
    let start = midnight(end) - Duration::days(3);
    let sim = sim_over(21, 3, end, 1, &[]).await;
    let config = config_at(&sim, start, midnight(end));
    let warehouse = warehouse();
    let broker = InProcessBroker::new();
    let shared: Arc<dyn Broker> = Arc::new(broker.clone());
    let mut letters = shared.consume_dead_letters().await.unwrap();

    let config = Arc::new(config);
    let handlers = dorafleet_stages::handlers(&Stage::ALL, &warehouse, &config, clients(&config));
    let worker = Worker::new(
        Arc::clone(&shared),
        handlers,
        WorkerOptions {
            name: "worker-1".into(),
            concurrency: 2,
            retry: config.retry.clone(),
            drain_timeout: std::time::Duration::from_secs(5),
        },
    );
    let shutdown = CancellationToken::new();
    let token = shutdown.clone();
    let running = tokio::spawn(async move {
        worker
            .run(&Route::all(&Stage::ALL, &Source::ALL), token)
            .await
            .unwrap();
    });

    let team = &config.teams[0];
    let repo = team.github_repos[0].clone();
    let all_time = Window {
        from: Utc.with_ymd_and_hms(1, 1, 1, 0, 0, 0).unwrap(),
        to: Utc.with_ymd_and_hms(9999, 12, 31, 0, 0, 0).unwrap(),
    };
    let forged_window = TaskEnvelope::new(
        uuid::Uuid::now_v7(),
        Stage::Extract,
        Some(Source::Github),
        Scope {
            team: team.id.clone(),
            target: Some(repo.clone()),
        },
        all_time,
        3,
    );
    let forged_team = TaskEnvelope::new(
        uuid::Uuid::now_v7(),
        Stage::Extract,
        Some(Source::Github),
        Scope {
            team: "ghosts".into(),
            target: Some(repo.clone()),
        },
        Window {
            from: start,
            to: midnight(end),
        },
        3,
    );
    let cases = [
        (&forged_window, "starts before sync.earliest"),
        (&forged_team, "team `ghosts` is not in the configuration"),
    ];
    for (task, reason) in cases {
        broker.publish(task).await.unwrap();
        let letter = next_letter(&mut letters).await;
        assert_eq!(letter.envelope.as_ref().unwrap().task_id, task.task_id);
        assert_eq!(letter.error_class, ErrorClass::Permanent);
        assert_eq!(letter.attempts.len(), 1, "a refusal is not retried");
        assert!(
            letter.reason.contains("task refused") && letter.reason.contains(reason),
            "{}",
            letter.reason
        );
    }
    // A window that only ends in the future is refused for that.
    let mut forged_future = forged_window.clone();
    forged_future.task_id = uuid::Uuid::now_v7();
    forged_future.window.from = start;
    broker.publish(&forged_future).await.unwrap();
    let letter = next_letter(&mut letters).await;
    assert_eq!(
        letter.envelope.as_ref().unwrap().task_id,
        forged_future.task_id
    );
    assert!(
        letter.reason.contains("task refused") && letter.reason.contains("ends in the future"),
        "{}",
        letter.reason
    );
    shutdown.cancel();
    running.await.unwrap();

    for scope in [&forged_window.scope, &forged_team.scope] {
        let pages = warehouse
            .bronze_pages(&BronzeFilter {
                team: Some(scope.team.clone()),
                target: scope.target.clone(),
                ..BronzeFilter::default()
            })
            .await
            .unwrap();
        assert!(pages.is_empty(), "{scope:?}: {} bronze pages", pages.len());
        assert_eq!(
            warehouse.coverage(Source::Github, scope).await.unwrap(),
            None
        );
        assert_eq!(
            warehouse
                .high_watermark(Source::Github, scope)
                .await
                .unwrap(),
            None
        );
    }
    assert!(sim.state().request_log().is_empty(), "no API was asked");
}

// ---------------------------------------------------------------- 3. 404 on a child

const GONE_DAYS: u32 = 7;

fn gone_end() -> NaiveDate {
    NaiveDate::from_ymd_opt(2026, 6, 1).unwrap()
}

/// A midnight inside the simulated days and a repo deploying through GitHub
/// deployments whose newest deployment before that midnight — the first
/// whose statuses a crawl up to it asks for, deployments being listed newest
/// first — succeeded in production on an earlier day; with the repo's team.
fn midnight_after_a_counted_newest_deployment(
    sim: &RunningSim,
    start: DateTime<Utc>,
    days: u32,
) -> (DateTime<Utc>, String, String) {
    let history = sim.state().history();
    for day in (2..=i64::from(days)).rev() {
        let now = start + Duration::days(day);
        for repo in &history.repos {
            if !matches!(
                repo.deploys_with,
                dorafleet_sim::DeployMechanism::GithubDeployments
            ) {
                continue;
            }
            let newest = repo
                .deployments
                .iter()
                .filter(|d| d.created_at < now && d.deleted_at.is_none_or(|t| t >= now))
                .max_by_key(|d| (d.created_at, d.id));
            let counts = newest.is_some_and(|d| {
                let last = d.statuses.iter().rfind(|s| s.created_at < now);
                d.environment == dorafleet_sim::PRODUCTION_ENVIRONMENT
                    && last.is_some_and(|s| {
                        s.state == "success" && s.created_at.date_naive() < now.date_naive()
                    })
            });
            if counts {
                return (now, repo.full_name(), repo.team.clone());
            }
        }
    }
    panic!("no day ends with a repo whose newest deployment succeeded in production");
}

#[tokio::test]
async fn a_404_on_one_deployments_statuses_marks_it_deleted_without_failing_the_run() {
    let end = gone_end();
    let start = midnight(end) - Duration::days(i64::from(GONE_DAYS));
    let sim = sim_over(11, GONE_DAYS, end, 2, &[]).await;
    let (now, repo, team) = midnight_after_a_counted_newest_deployment(&sim, start, GONE_DAYS);
    sim.state().add_fault(
        format!("github/deployment_statuses~{repo}:404#1")
            .parse()
            .unwrap(),
    );
    let config = config_at(&sim, start, now);
    let warehouse = warehouse();
    let summary = run_over(
        Window {
            from: start,
            to: now,
        },
        &config,
        &warehouse,
    )
    .await;

    // Which deployment the fault hit.
    let hit: Vec<_> = sim
        .state()
        .request_log()
        .into_iter()
        .filter(|e| e.fault.is_some())
        .collect();
    assert_eq!(hit.len(), 1, "{hit:#?}");
    assert_eq!(hit[0].status, 404);
    let id: u64 = hit[0]
        .path
        .split("/deployments/")
        .nth(1)
        .and_then(|rest| rest.split('/').next())
        .and_then(|id| id.parse().ok())
        .unwrap_or_else(|| panic!("no deployment id in {}", hit[0].path));

    assert_eq!((summary.dead, summary.unfinished), (0, 0), "{summary:#?}");
    assert!(warehouse.dead_letters(10).await.unwrap().is_empty());
    assert!(summary.gone >= 1, "gone {}", summary.gone);
    assert!(
        summary.normalized.items_gone >= 1,
        "{:?}",
        summary.normalized
    );

    let pages = warehouse
        .bronze_pages(&BronzeFilter {
            run_id: Some(summary.run_id),
            source: Some(Source::Github),
            target: Some(repo.clone()),
            ..BronzeFilter::default()
        })
        .await
        .unwrap();
    let missing: Vec<_> = pages.iter().filter(|p| p.status == 404).collect();
    assert_eq!(missing.len(), 1, "bronze keeps the 404 page");
    assert!(
        missing[0]
            .request
            .contains(&format!("/deployments/{id}/statuses")),
        "{}",
        missing[0].request
    );

    let key = format!("{repo}#{id}");
    let silver = warehouse.team_silver(&team).await.unwrap();
    let stored = silver
        .deployments
        .iter()
        .find(|d| d.key == key)
        .unwrap_or_else(|| panic!("{key} not in silver"));
    assert_eq!(stored.status, DeploymentOutcome::Deleted);
    assert_eq!(stored.finished_at, None);

    // It is not counted: the deployment exists in the simulator, so gold
    // differs from the truth only where it would have counted.
    let view = sim.state().organisation();
    let real = view
        .repos
        .iter()
        .find(|r| r.full_name() == repo)
        .and_then(|r| r.deployments.iter().find(|d| d.id == id))
        .expect("the deployment exists in the simulator");
    let truth = sim.state().ground_truth();
    let gold = gold(&warehouse).await;
    let diffs = differences(&gold, &truth);
    eprintln!("404 hit {key}; differences:\n{}", diffs.join("\n"));
    assert_eq!(real.environment, dorafleet_sim::PRODUCTION_ENVIRONMENT);
    assert_eq!(
        real.latest_status().map(|s| s.state.as_str()),
        Some("success")
    );
    let day = real.latest_status().unwrap().created_at.date_naive();
    let truth_value = truth
        .iter()
        .find(|t| t.team == team && t.date == day && t.metric == "deployment_frequency")
        .and_then(|t| t.value);
    let gold_value = gold
        .iter()
        .find(|g| g.team_id == team && g.date == day && g.metric == Metric::DeploymentFrequency)
        .and_then(|g| g.value);
    assert_eq!(
        gold_value.map(|v| v + 1.0),
        truth_value,
        "the deleted deployment is not counted on {day}"
    );
    let elsewhere: Vec<_> = diffs
        .iter()
        .filter(|d| !d.starts_with(&format!("(\"{team}\", {day},")))
        .collect();
    assert!(
        elsewhere.is_empty(),
        "gold differs from the truth only on the deleted deployment's day: {elsewhere:#?}"
    );
}

#[tokio::test]
async fn a_configured_repo_that_does_not_exist_still_dead_letters_its_task_permanently() {
    let end = gone_end();
    let start = midnight(end) - Duration::days(3);
    let sim = sim_over(11, 3, end, 1, &[]).await;
    let mut config = config_at(&sim, start, midnight(end));
    let missing = "acme/no-such-repo".to_owned();
    config.teams[0].github_repos.push(missing.clone());
    let warehouse = warehouse();
    let summary = run_over(
        Window {
            from: start,
            to: midnight(end),
        },
        &config,
        &warehouse,
    )
    .await;

    assert_eq!(summary.dead, 1, "{summary:#?}");
    let letters = warehouse.dead_letters(10).await.unwrap();
    assert_eq!(letters.len(), 1, "{letters:#?}");
    let letter = &letters[0];
    assert_eq!(
        letter.scope.as_ref().unwrap().target.as_deref(),
        Some(missing.as_str())
    );
    assert_eq!(letter.stage, Some(Stage::Extract));
    assert_eq!(letter.error_class, ErrorClass::Permanent);
    assert_eq!(letter.attempts.len(), 1, "a 404 on the repo is not retried");
    assert!(letter.reason.contains("404"), "{}", letter.reason);
    assert_eq!(summary.gone, 0);
}

// ---------------------------------------------------------------- 5. dead-lettered rejections

#[tokio::test]
async fn rejections_of_a_dead_lettered_extract_task_are_reported_by_the_summary_and_the_run_detail()
{
    const DAYS: u32 = 14;
    let end = NaiveDate::from_ymd_opt(2026, 6, 1).unwrap();
    let start = midnight(end) - Duration::days(i64::from(DAYS));
    let sim = sim_over(11, DAYS, end, 2, &[]).await;
    let project = sim.state().organisation().teams[0].jira_project.clone();
    sim.state().add_fault(
        format!("jira~{project}:drift=created->createdDate@1")
            .parse()
            .unwrap(),
    );
    let config = config_at(&sim, start, midnight(end));
    let warehouse = warehouse();
    let summary = run_over(
        Window {
            from: start,
            to: midnight(end),
        },
        &config,
        &warehouse,
    )
    .await;

    assert_eq!(summary.dead, 1, "only {project}'s task fails: {summary:#?}");
    let letters = warehouse.dead_letters(10).await.unwrap();
    assert_eq!(letters.len(), 1);
    assert_eq!(
        letters[0].scope.as_ref().unwrap().target.as_deref(),
        Some(project.as_str())
    );
    assert!(
        letters[0]
            .reason
            .contains("above quality.max_rejected_ratio"),
        "{}",
        letters[0].reason
    );

    let extracted = &summary.extracted;
    assert!(extracted.records_rejected > 0, "{extracted:?}");
    // Every issue of the project drifted, and nothing else did: the tally
    // is the dead task's own.
    let rejected = extracted.records_rejected;
    assert!(
        letters[0]
            .reason
            .contains(&format!("rejected {rejected} of {rejected} records")),
        "{} vs {extracted:?}",
        letters[0].reason
    );
    assert!(
        extracted.unknown_fields.contains_key("createdDate"),
        "{extracted:?}"
    );
    assert_eq!(
        summary.normalized.rejected_records, 0,
        "the dead task was never normalized"
    );
    assert!(extracted.records_rejected > summary.normalized.rejected_records);

    let detail =
        dorafleet_operations::runs::detail(warehouse.as_ref(), &config.definitions, summary.run_id)
            .await
            .unwrap();
    assert_eq!(&detail.extracted, extracted);
    assert_eq!(detail.gone, summary.gone);
}

// ---------------------------------------------------------------- 6. the watch

const WATCH_DAYS: u32 = 2;

fn watch_end() -> NaiveDate {
    NaiveDate::from_ymd_opt(2026, 4, 1).unwrap()
}

/// Hourly incremental runs over the `WATCH_DAYS` days of seed 9's world,
/// watching `watch_hours`; the gold's differences from the truth at the end.
async fn hourly_differences(watch_hours: u32) -> Vec<String> {
    let end = midnight(watch_end());
    let start = end - Duration::days(i64::from(WATCH_DAYS));
    let sim = sim_over(9, WATCH_DAYS, watch_end(), 2, &[]).await;
    let mut config = config_at(&sim, start, start);
    config.sync.watch_hours = watch_hours;
    let warehouse = warehouse();
    for hour in 1..=i64::from(WATCH_DAYS) * 24 {
        let t = start + Duration::hours(hour);
        sim.state().set_now(t);
        assert!(config.clock.set(t));
        let summary = run_standalone(
            None,
            Arc::clone(&warehouse),
            clients(&config),
            Arc::new(config.clone()),
            StandaloneOptions {
                deadline: std::time::Duration::from_secs(60),
                ..options()
            },
            |_| {},
        )
        .await
        .unwrap()
        .expect("every hour plans a run");
        assert_eq!((summary.dead, summary.unfinished), (0, 0), "run at {t}");
    }
    differences(&gold(&warehouse).await, &sim.state().ground_truth())
}

#[tokio::test]
async fn without_the_watch_hourly_runs_lose_late_statuses_and_with_it_they_equal_the_truth() {
    let unwatched = hourly_differences(0).await;
    assert!(
        !unwatched.is_empty(),
        "without the watch, hourly runs should miss statuses that arrive after the run that listed the deployment"
    );
    eprintln!("without the watch:\n{}", unwatched.join("\n"));
    assert!(
        unwatched.iter().any(|d| d.contains("deployment_frequency")),
        "deployments whose success came in a later hour are missing: {unwatched:#?}"
    );
    let watched = hourly_differences(168).await;
    assert!(
        watched.is_empty(),
        "with the watch:\n{}",
        watched.join("\n")
    );
}
