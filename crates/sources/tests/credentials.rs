//! Several credentials of one source: each keeps its own budget (rate,
//! server quota, pauses, fleet schedule) and together they carry more than
//! one; a GitHub App installation's tokens are minted, replaced when they
//! expire and minted again when refused.

mod common;

use async_trait::async_trait;
use chrono::{DateTime, Duration as Span, NaiveDate, Utc};
use common::{Reply, ScriptedServer};
use dorafleet_core::config::CredentialConfig;
use dorafleet_core::{Scope, Secret, Source, SourceConfig, TaskError, Window};
use dorafleet_sim::{GithubAppOptions, RunningSim, SimOptions, credential_id};
use dorafleet_sources::{FleetBudget, PageRequest, SourceClient, next_steps, start_requests};
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

const PAGE_SIZE: u32 = 5;

async fn start_sim(app: Option<GithubAppOptions>) -> RunningSim {
    let options = SimOptions {
        seed: 11,
        days: 30,
        teams: 2,
        end_date: NaiveDate::from_ymd_opt(2024, 5, 1).unwrap(),
        github_app: app,
        ..Default::default()
    };
    RunningSim::start(options, "127.0.0.1:0").await.unwrap()
}

fn token(name: &str, token: &str) -> CredentialConfig {
    CredentialConfig {
        name: name.to_owned(),
        token: Some(Secret::new(token)),
        ..CredentialConfig::default()
    }
}

fn config(base_url: &str, per_second: u32, credentials: Vec<CredentialConfig>) -> SourceConfig {
    let mut config = SourceConfig::with_base_url(base_url, per_second);
    config.timeout = Duration::from_secs(10);
    config.credentials = credentials;
    config
}

fn every_repo(sim: &RunningSim) -> Vec<Scope> {
    sim.state()
        .organisation()
        .team_configs()
        .into_iter()
        .flat_map(|team| {
            team.github_repos.into_iter().map(move |repo| Scope {
                team: team.id.clone(),
                target: Some(repo),
            })
        })
        .collect()
}

/// Every repository crawled at once (as a worker's concurrent tasks do), at
/// most `max_pages` pages each; the pages fetched.
async fn crawl_all(sim: &RunningSim, client: &SourceClient, max_pages: usize) -> usize {
    let org = sim.state().organisation();
    let window = Window {
        from: org.start - Span::days(1),
        to: org.end + Span::days(1),
    };
    let tasks: Vec<_> = every_repo(sim)
        .into_iter()
        .map(|scope| {
            let client = client.clone();
            tokio::spawn(async move {
                let mut queue: VecDeque<PageRequest> =
                    start_requests(Source::Github, &scope, &window, PAGE_SIZE).into();
                let mut pages = 0;
                while let Some(request) = queue.pop_front() {
                    if pages == max_pages {
                        break;
                    }
                    let page = client.get(&request).await.unwrap();
                    let step = next_steps(Source::Github, &page, &window, PAGE_SIZE).unwrap();
                    queue.extend(step.follow_ups);
                    pages += 1;
                }
                pages
            })
        })
        .collect();
    let mut pages = 0;
    for task in tasks {
        pages += task.await.unwrap();
    }
    pages
}

/// The most requests of `arrivals` within any one second.
fn busiest_second(arrivals: &[DateTime<Utc>]) -> usize {
    arrivals
        .iter()
        .map(|start| {
            arrivals
                .iter()
                .filter(|t| **t >= *start && **t < *start + Span::seconds(1))
                .count()
        })
        .max()
        .unwrap_or(0)
}

#[tokio::test]
async fn two_credentials_each_keep_their_own_rate_and_together_carry_more_than_one() {
    const RATE: usize = 6;
    let sim = start_sim(None).await;
    let client = SourceClient::new(
        Source::Github,
        &config(
            &sim.base_url(Source::Github),
            RATE as u32,
            vec![
                token("bot-1", "ghp_cred_test_one"),
                token("bot-2", "ghp_cred_test_two"),
            ],
        ),
    )
    .unwrap();
    let pages = crawl_all(&sim, &client, 12).await;

    let log = sim.state().request_log();
    let mut by_credential: BTreeMap<String, Vec<DateTime<Utc>>> = BTreeMap::new();
    for entry in &log {
        by_credential
            .entry(entry.credential.clone().unwrap_or_default())
            .or_default()
            .push(entry.at);
    }
    let one = &by_credential[&credential_id("ghp_cred_test_one")];
    let two = &by_credential[&credential_id("ghp_cred_test_two")];
    assert_eq!(one.len() + two.len(), pages, "{by_credential:?}");
    assert!(pages >= 4 * RATE, "only {pages} pages: too few to measure");
    for (name, arrivals) in [("bot-1", one), ("bot-2", two)] {
        let busiest = busiest_second(arrivals);
        assert!(
            busiest <= RATE,
            "{name}: {busiest} requests within one second, over its {RATE}/s"
        );
        // Each credential carries its share, not a token amount.
        assert!(
            arrivals.len() * 3 >= pages,
            "{name} sent {} of {pages}",
            arrivals.len()
        );
    }
    let all: Vec<DateTime<Utc>> = log.iter().map(|e| e.at).collect();
    assert!(
        busiest_second(&all) > RATE,
        "together the credentials never exceeded one credential's budget: {}",
        busiest_second(&all)
    );
    let stats = client.stats();
    assert_eq!(stats.by_credential.len(), 2, "{stats:?}");
}

#[tokio::test]
async fn the_simulator_counts_githubs_hourly_quota_per_token() {
    let sim = RunningSim::start(
        SimOptions {
            github_hourly_limit: 2,
            end_date: NaiveDate::from_ymd_opt(2024, 5, 1).unwrap(),
            ..Default::default()
        },
        "127.0.0.1:0",
    )
    .await
    .unwrap();
    let repo = sim.state().organisation().team_configs()[0].github_repos[0].clone();
    let url = format!(
        "{}/repos/{repo}/pulls?state=all",
        sim.base_url(Source::Github)
    );
    let http = reqwest::Client::new();
    let ask = |token: &'static str| {
        let (http, url) = (http.clone(), url.clone());
        async move {
            let response = http.get(&url).bearer_auth(token).send().await.unwrap();
            let remaining = response.headers()["x-ratelimit-remaining"]
                .to_str()
                .unwrap()
                .to_owned();
            (response.status().as_u16(), remaining)
        }
    };
    assert_eq!(ask("ghp_quota_a").await, (200, "1".to_owned()));
    assert_eq!(ask("ghp_quota_a").await, (200, "0".to_owned()));
    assert_eq!(ask("ghp_quota_a").await.0, 403);
    assert_eq!(ask("ghp_quota_b").await, (200, "1".to_owned()));
}

/// A fleet budget in memory that records what each schedule was asked.
#[derive(Debug, Default)]
struct RecordingBudget {
    next: Mutex<HashMap<String, DateTime<Utc>>>,
    reserved: Mutex<Vec<(String, DateTime<Utc>)>>,
    paused: Mutex<Vec<(String, DateTime<Utc>)>>,
}

#[async_trait]
impl FleetBudget for RecordingBudget {
    async fn reserve(
        &self,
        schedule: &str,
        interval: Duration,
    ) -> Result<DateTime<Utc>, TaskError> {
        let mut next = self.next.lock().unwrap();
        let now = Utc::now();
        let slot = next.get(schedule).copied().unwrap_or(now).max(now);
        next.insert(
            schedule.to_owned(),
            slot + Span::from_std(interval).unwrap(),
        );
        self.reserved
            .lock()
            .unwrap()
            .push((schedule.to_owned(), slot));
        Ok(slot)
    }

    async fn pause_until(&self, schedule: &str, until: DateTime<Utc>) -> Result<(), TaskError> {
        let mut next = self.next.lock().unwrap();
        let slot = next.entry(schedule.to_owned()).or_insert(until);
        *slot = (*slot).max(until);
        self.paused
            .lock()
            .unwrap()
            .push((schedule.to_owned(), until));
        Ok(())
    }
}

#[tokio::test]
async fn a_429_on_one_credential_pauses_only_its_schedule_and_the_other_carries_on() {
    let server = ScriptedServer::start(vec![
        Reply::new(429, r#"{"message":"slow down"}"#).header("retry-after", "30"),
    ])
    .await;
    let budget = Arc::new(RecordingBudget::default());
    let client = SourceClient::new(
        Source::Github,
        &config(
            &server.base_url,
            50,
            vec![
                token("left", "ghp_left_429"),
                token("right", "ghp_right_429"),
            ],
        ),
    )
    .unwrap()
    .with_fleet_budget(budget.clone());
    let request = |n: u32| {
        PageRequest::new(
            dorafleet_sources::endpoint::PULLS,
            format!("/repos/acme/api/pulls?page={n}"),
            n,
        )
    };
    for n in 1..=6 {
        let page = client
            .get(&request(n))
            .await
            .expect("the other credential answers");
        assert_eq!(page.status, 200);
    }

    let seen = server.seen();
    let first = seen[0].header("authorization").unwrap().to_owned();
    let (refused, other) = if first.ends_with("ghp_left_429") {
        ("github/left", "github/right")
    } else {
        ("github/right", "github/left")
    };
    assert_eq!(seen.len(), 7, "one refusal and six pages");
    assert!(
        seen[1..]
            .iter()
            .all(|s| s.header("authorization") != Some(first.as_str())),
        "the paused credential was used again"
    );
    let paused = budget.paused.lock().unwrap().clone();
    assert_eq!(paused.len(), 1, "{paused:?}");
    assert_eq!(paused[0].0, refused);
    assert!(paused[0].1 > Utc::now() + Span::seconds(25));
    // The other schedule was never pushed back: its slots are all now-ish.
    let reserved = budget.reserved.lock().unwrap().clone();
    let others: Vec<_> = reserved.iter().filter(|(s, _)| s == other).collect();
    // Six pages; a request too late for its slot (a slow test machine)
    // takes another, so perhaps a few more slots.
    assert!(others.len() >= 6, "{reserved:?}");
    assert!(
        others
            .iter()
            .all(|(_, slot)| *slot < Utc::now() + Span::seconds(5))
    );
}

#[tokio::test]
async fn a_page_stored_under_one_credential_is_revalidated_under_the_other() {
    let sim = start_sim(None).await;
    let client = SourceClient::new(
        Source::Github,
        &config(
            &sim.base_url(Source::Github),
            50,
            vec![
                token("etag-1", "ghp_etag_one"),
                token("etag-2", "ghp_etag_two"),
            ],
        ),
    )
    .unwrap();
    let repo = sim.state().organisation().team_configs()[0].github_repos[0].clone();
    let request = PageRequest::new(
        dorafleet_sources::endpoint::PULLS,
        format!("/repos/{repo}/pulls?state=all&per_page=5"),
        1,
    );
    let stored = client.get(&request).await.unwrap();
    let validators = dorafleet_sources::Validators {
        etag: stored.etag.clone(),
        last_modified: None,
    };
    assert!(validators.etag.is_some());
    let again = client.get_conditional(&request, &validators).await.unwrap();
    assert_eq!(again.status, 304);

    let log = sim.state().request_log();
    assert_eq!(log.len(), 2);
    assert_ne!(
        log[0].credential, log[1].credential,
        "both requests went out with one credential"
    );
}

/// Hands out a first slot already a second old (as a slot is to a request
/// whose timer fired late on a starved machine), then slots as they come.
#[derive(Debug, Default)]
struct LateFirstSlot {
    inner: RecordingBudget,
    handed_out: Mutex<u32>,
}

#[async_trait]
impl FleetBudget for LateFirstSlot {
    async fn reserve(
        &self,
        schedule: &str,
        interval: Duration,
    ) -> Result<DateTime<Utc>, TaskError> {
        let slot = self.inner.reserve(schedule, interval).await?;
        let mut handed_out = self.handed_out.lock().unwrap();
        *handed_out += 1;
        Ok(if *handed_out == 1 {
            slot - Span::seconds(1)
        } else {
            slot
        })
    }

    async fn pause_until(&self, schedule: &str, until: DateTime<Utc>) -> Result<(), TaskError> {
        self.inner.pause_until(schedule, until).await
    }
}

#[tokio::test]
async fn a_request_too_late_for_its_fleet_slot_leaves_it_unused_and_takes_the_next() {
    let server = ScriptedServer::start(Vec::new()).await;
    let budget = Arc::new(LateFirstSlot::default());
    let client = SourceClient::new(
        Source::Github,
        &config(&server.base_url, 50, vec![token("only", "ghp_late_slot")]),
    )
    .unwrap()
    .with_fleet_budget(budget.clone());
    let request = PageRequest::new(
        dorafleet_sources::endpoint::PULLS,
        "/repos/acme/api/pulls?page=1",
        1,
    );
    assert_eq!(client.get(&request).await.unwrap().status, 200);
    assert_eq!(server.seen().len(), 1, "one request sent");
    assert_eq!(
        *budget.handed_out.lock().unwrap(),
        2,
        "the stale slot was given up for a fresh one"
    );
}
