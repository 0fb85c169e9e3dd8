//! The clients and crawls against the project's simulator, which follows the
//! real APIs' pagination, rate-limit headers and failure modes, keeps a
//! request log and knows what it served.

use chrono::{DateTime, Duration as Days, NaiveDate, Utc};
use dorafleet_core::{ErrorClass, Scope, Secret, Source, SourceConfig, TaskError, Window};
use dorafleet_sim::{RunningSim, SimOptions};
use dorafleet_sources::{PageRequest, SourceClient, endpoint, next_steps, start_requests};
use std::collections::{BTreeMap, VecDeque};
use std::time::Duration;

const PAGE_SIZE: u32 = 7;

async fn start_sim(teams: usize) -> RunningSim {
    RunningSim::start(
        SimOptions {
            seed: 7,
            days: 21,
            teams,
            end_date: NaiveDate::from_ymd_opt(2024, 3, 15).unwrap(),
            ..Default::default()
        },
        "127.0.0.1:0",
    )
    .await
    .expect("simulator starts")
}

fn client(sim: &RunningSim, source: Source, requests_per_second: u32) -> SourceClient {
    let mut config = SourceConfig::with_base_url(&sim.base_url(source), requests_per_second);
    config.token = Some(Secret::new("sim-token"));
    config.timeout = std::time::Duration::from_millis(10_000);
    SourceClient::new(source, &config).unwrap()
}

/// The whole simulated range, with a day to spare on each side.
fn whole_range(sim: &RunningSim) -> Window {
    let org = sim.state().organisation();
    Window {
        from: org.start - Days::days(1),
        to: org.end + Days::days(1),
    }
}

#[derive(Debug, Default)]
struct Crawled {
    pages: u64,
    records_by_endpoint: BTreeMap<String, u64>,
    newest_seen: Option<DateTime<Utc>>,
    /// Records validation rejected, with their reasons, page by page.
    rejected: Vec<(u32, String)>,
    unknown_fields: BTreeMap<String, u64>,
}

impl Crawled {
    fn records(&self) -> u64 {
        self.records_by_endpoint.values().sum()
    }
}

/// What the extract stage does: pop a request, fetch it, read it, queue what
/// follows, until nothing is left (or `max_pages` were fetched).
async fn crawl(
    client: &SourceClient,
    scope: &Scope,
    window: &Window,
    max_pages: u64,
) -> Result<Crawled, TaskError> {
    let source = client.source();
    let mut queue: VecDeque<PageRequest> = start_requests(source, scope, window, PAGE_SIZE).into();
    assert!(!queue.is_empty(), "no start requests for {scope}");
    let mut crawled = Crawled::default();
    while let Some(request) = queue.pop_front() {
        if crawled.pages == max_pages {
            break;
        }
        let page = client.get(&request).await?;
        let step = next_steps(source, &page, window, PAGE_SIZE)?;
        crawled.pages += 1;
        *crawled
            .records_by_endpoint
            .entry(request.endpoint.clone())
            .or_default() += step.records;
        crawled.newest_seen = crawled.newest_seen.max(step.newest_seen);
        for rejection in &step.quality.rejected {
            crawled
                .rejected
                .push((request.page_no, rejection.to_string()));
        }
        for (name, n) in &step.quality.unknown_fields {
            *crawled.unknown_fields.entry(name.clone()).or_default() += n;
        }
        queue.extend(step.follow_ups);
    }
    Ok(crawled)
}

fn scopes(sim: &RunningSim, source: Source) -> Vec<Scope> {
    let team = sim.state().organisation().team_configs().remove(0);
    team.targets(source)
        .iter()
        .map(|target| Scope {
            team: team.id.clone(),
            target: Some(target.clone()),
        })
        .collect()
}

#[tokio::test]
async fn a_full_github_crawl_reads_every_record_the_simulator_serves() {
    let sim = start_sim(1).await;
    let github = client(&sim, Source::Github, 1000);
    let window = whole_range(&sim);
    let mut total = Crawled::default();
    for scope in scopes(&sim, Source::Github) {
        let crawled = crawl(&github, &scope, &window, u64::MAX).await.unwrap();
        let (owner, name) = scope.target.as_deref().unwrap().split_once('/').unwrap();
        let org = sim.state().organisation();
        let repo = org.repo(owner, name).unwrap();
        let closed = repo.pulls.iter().filter(|p| p.closed_at.is_some()).count() as u64;
        let merged_commits: u64 = repo
            .pulls
            .iter()
            .filter(|p| p.merged_at.is_some_and(|t| window.contains(t)))
            .map(|p| p.commits.len() as u64)
            .sum();
        let statuses: u64 = repo
            .deployments
            .iter()
            .map(|d| d.statuses.len() as u64)
            .sum();
        let by_endpoint = &crawled.records_by_endpoint;
        assert_eq!(
            by_endpoint.get(endpoint::PULLS).copied().unwrap_or(0),
            closed,
            "{scope}"
        );
        assert_eq!(
            by_endpoint
                .get(endpoint::PULL_COMMITS)
                .copied()
                .unwrap_or(0),
            merged_commits,
            "{scope}"
        );
        assert_eq!(
            by_endpoint.get(endpoint::DEPLOYMENTS).copied().unwrap_or(0),
            repo.deployments.len() as u64,
            "{scope}"
        );
        assert_eq!(
            by_endpoint
                .get(endpoint::DEPLOYMENT_STATUSES)
                .copied()
                .unwrap_or(0),
            statuses,
            "{scope}"
        );
        total.pages += crawled.pages;
        for (endpoint, records) in crawled.records_by_endpoint {
            *total.records_by_endpoint.entry(endpoint).or_default() += records;
        }
    }
    assert!(
        total.pages > 4,
        "the crawl should span several pages, got {}",
        total.pages
    );
    assert_eq!(
        sim.state().served_records().get(&Source::Github).copied(),
        Some(total.records())
    );
    assert!(
        github.stats().by_status.keys().all(|s| *s == 200),
        "{:?}",
        github.stats()
    );
}

#[tokio::test]
async fn a_full_jira_crawl_reads_every_issue_updated_in_the_window() {
    let sim = start_sim(1).await;
    let jira = client(&sim, Source::Jira, 1000);
    let window = whole_range(&sim);
    let mut records = 0;
    for scope in scopes(&sim, Source::Jira) {
        let crawled = crawl(&jira, &scope, &window, u64::MAX).await.unwrap();
        let org = sim.state().organisation();
        let project = org
            .jira_projects
            .iter()
            .find(|p| Some(&p.key) == scope.target.as_ref())
            .unwrap();
        assert_eq!(crawled.records(), project.issues.len() as u64, "{scope}");
        assert!(
            crawled.pages > 1,
            "{scope}: expected several pages of {PAGE_SIZE}"
        );
        assert_eq!(
            crawled.newest_seen,
            project.issues.iter().map(|i| i.updated()).max(),
            "{scope}"
        );
        records += crawled.records();
    }
    assert_eq!(
        sim.state().served_records().get(&Source::Jira).copied(),
        Some(records)
    );
}

#[tokio::test]
async fn a_full_jenkins_crawl_reads_every_build() {
    let sim = start_sim(1).await;
    let jenkins = client(&sim, Source::Jenkins, 1000);
    let window = whole_range(&sim);
    let mut records = 0;
    for scope in scopes(&sim, Source::Jenkins) {
        let crawled = crawl(&jenkins, &scope, &window, u64::MAX).await.unwrap();
        let org = sim.state().organisation();
        let job = org.job(scope.target.as_deref().unwrap()).unwrap();
        assert_eq!(crawled.records(), job.builds.len() as u64, "{scope}");
        // Ranges of PAGE_SIZE until a short page (an empty one if it divides
        // evenly); a short page that is not empty is confirmed by one probe.
        let builds = job.builds.len() as u64;
        let probe = u64::from(!builds.is_multiple_of(u64::from(PAGE_SIZE)));
        assert_eq!(
            crawled.pages,
            builds / u64::from(PAGE_SIZE) + 1 + probe,
            "{scope}"
        );
        records += crawled.records();
    }
    assert!(records > 0);
    assert_eq!(
        sim.state().served_records().get(&Source::Jenkins).copied(),
        Some(records)
    );
}

#[tokio::test]
async fn the_simulator_never_sees_more_than_the_request_budget_in_any_second() {
    let sim = start_sim(2).await;
    let github = client(&sim, Source::Github, 20);
    let window = whole_range(&sim);
    let repos: Vec<Scope> = sim
        .state()
        .organisation()
        .team_configs()
        .into_iter()
        .flat_map(|team| {
            team.github_repos.into_iter().map(move |repo| Scope {
                team: team.id.clone(),
                target: Some(repo),
            })
        })
        .collect();
    // Several tasks of one worker share the client, as in production.
    let tasks: Vec<_> = repos
        .into_iter()
        .map(|scope| {
            let github = github.clone();
            tokio::spawn(async move { crawl(&github, &scope, &window, 20).await.unwrap() })
        })
        .collect();
    for task in tasks {
        task.await.unwrap();
    }
    let arrivals: Vec<DateTime<Utc>> = sim
        .state()
        .request_log()
        .iter()
        .filter(|e| e.source == Source::Github)
        .map(|e| e.at)
        .collect();
    assert!(
        arrivals.len() >= 40,
        "only {} requests: too few to measure",
        arrivals.len()
    );
    let busiest = arrivals
        .iter()
        .map(|start| {
            arrivals
                .iter()
                .filter(|t| **t >= *start && **t < *start + Days::seconds(1))
                .count()
        })
        .max()
        .unwrap();
    assert!(busiest <= 20, "{busiest} requests within one second");
    assert!(
        busiest >= 15,
        "the budget should be used, not wasted: {busiest}"
    );
}

#[tokio::test]
async fn after_a_429_no_request_reaches_the_source_before_retry_after() {
    let sim = start_sim(1).await;
    sim.state()
        .set_faults(vec!["github:429=1#1".parse().unwrap()]);
    let github = client(&sim, Source::Github, 1000);
    let request = start_requests(
        Source::Github,
        &scopes(&sim, Source::Github)[0],
        &whole_range(&sim),
        PAGE_SIZE,
    )
    .remove(0);

    let err = github.get(&request).await.unwrap_err();
    assert!(matches!(err, TaskError::RetryAfter { .. }), "{err}");
    assert!(
        err.retry_after().unwrap() > Duration::from_millis(900),
        "{err}"
    );
    // Other tasks keep asking; the client holds them back.
    let (a, b) = tokio::join!(github.get(&request), github.get(&request));
    a.unwrap();
    b.unwrap();

    let log: Vec<_> = sim
        .state()
        .request_log()
        .into_iter()
        .filter(|e| e.source == Source::Github)
        .collect();
    assert_eq!(log.len(), 3);
    assert_eq!(log[0].status, 429);
    assert_eq!(log[0].retry_after_secs, Some(1));
    for later in &log[1..] {
        assert!(
            later.at >= log[0].at + Days::seconds(1),
            "request at {} came before retry-after ({})",
            later.at,
            log[0].at
        );
    }
    assert_eq!(github.stats().server_pauses, 1);
}

#[tokio::test]
async fn a_server_error_is_transient_and_an_unknown_repo_permanent() {
    let sim = start_sim(1).await;
    sim.state()
        .set_faults(vec!["github:503#1".parse().unwrap()]);
    let github = client(&sim, Source::Github, 1000);
    let request = start_requests(
        Source::Github,
        &scopes(&sim, Source::Github)[0],
        &whole_range(&sim),
        PAGE_SIZE,
    )
    .remove(0);

    let err = github.get(&request).await.unwrap_err();
    assert_eq!(err.class(), ErrorClass::Transient, "{err}");
    assert!(err.message().contains("HTTP 503"), "{err}");
    github.get(&request).await.unwrap();

    let missing = PageRequest::new(
        endpoint::PULLS,
        "/repos/nobody/nothing/pulls?state=closed",
        1,
    );
    let err = github.get(&missing).await.unwrap_err();
    assert_eq!(err.class(), ErrorClass::Permanent, "{err}");
    assert!(
        err.message()
            .contains("github GET /github/repos/nobody/nothing/pulls: HTTP 404"),
        "{err}"
    );
}

#[tokio::test]
async fn the_removed_jira_search_is_permanent() {
    let sim = start_sim(1).await;
    let jira = client(&sim, Source::Jira, 1000);
    let old = PageRequest::new(
        endpoint::JIRA_SEARCH,
        "/rest/api/3/search?jql=project%3DX",
        1,
    );
    let err = jira.get(&old).await.unwrap_err();
    assert_eq!(err.class(), ErrorClass::Permanent, "{err}");
    assert!(err.message().contains("HTTP 410"), "{err}");
}

#[tokio::test]
async fn a_renamed_field_rejects_the_records_of_the_drifted_page_and_the_crawl_goes_on() {
    let sim = start_sim(1).await;
    sim.state().set_faults(vec![
        "jira/search:drift=updated->lastUpdated#1".parse().unwrap(),
    ]);
    let jira = client(&sim, Source::Jira, 1000);
    let crawled = crawl(
        &jira,
        &scopes(&sim, Source::Jira)[0],
        &whole_range(&sim),
        u64::MAX,
    )
    .await
    .unwrap();
    let first_page = crawled.records().min(PAGE_SIZE.into());
    assert!(crawled.pages > 1, "{crawled:?}");
    assert_eq!(crawled.rejected.len() as u64, first_page, "{crawled:?}");
    assert!(
        crawled
            .rejected
            .iter()
            .all(|(page, reason)| *page == 1 && reason.ends_with("missing `fields.updated`")),
        "{:?}",
        crawled.rejected
    );
    assert_eq!(
        crawled.unknown_fields,
        [("lastUpdated".to_owned(), first_page)].into()
    );
}
