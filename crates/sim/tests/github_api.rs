//! The GitHub-compatible endpoints against a running simulator.

mod common;

use common::{Reply, get, github_all, link, send, small_options, start};
use dorafleet_core::Source;
use dorafleet_sim::SimOptions;
use std::collections::BTreeSet;

#[tokio::test]
async fn paging_through_every_github_list_yields_each_generated_record_once_and_matches_served_records()
 {
    let sim = start(small_options(21)).await;
    let base = sim.base_url(Source::Github);
    let org = sim.state().organisation().clone();
    let mut fetched_records = 0u64;
    for repo in &org.repos {
        let full = repo.full_name();
        let (pulls, pages) =
            github_all(&format!("{base}/repos/{full}/pulls?state=all&per_page=7")).await;
        assert_eq!(pages, repo.pulls.len().div_ceil(7), "{full}");
        let numbers: BTreeSet<u64> = pulls
            .iter()
            .map(|p| p["number"].as_u64().unwrap())
            .collect();
        assert_eq!(
            numbers.len(),
            pulls.len(),
            "a pull request was served twice"
        );
        assert_eq!(numbers, repo.pulls.iter().map(|p| p.number).collect());
        fetched_records += pulls.len() as u64;

        for pr in repo.pulls.iter().filter(|p| p.merged_at.is_some()) {
            let (commits, _) =
                github_all(&format!("{base}/repos/{full}/pulls/{}/commits", pr.number)).await;
            let shas: Vec<&str> = commits.iter().map(|c| c["sha"].as_str().unwrap()).collect();
            assert_eq!(
                shas,
                pr.commits
                    .iter()
                    .map(|c| c.sha.as_str())
                    .collect::<Vec<_>>()
            );
            fetched_records += commits.len() as u64;
        }

        let (deployments, _) =
            github_all(&format!("{base}/repos/{full}/deployments?per_page=10")).await;
        let ids: BTreeSet<u64> = deployments
            .iter()
            .map(|d| d["id"].as_u64().unwrap())
            .collect();
        assert_eq!(ids.len(), deployments.len());
        assert_eq!(ids, repo.deployments.iter().map(|d| d.id).collect());
        fetched_records += deployments.len() as u64;
        for d in &repo.deployments {
            let (statuses, _) = github_all(&format!(
                "{base}/repos/{full}/deployments/{}/statuses",
                d.id
            ))
            .await;
            assert_eq!(statuses.len(), d.statuses.len());
            fetched_records += statuses.len() as u64;
        }
    }
    assert!(fetched_records > 200, "{fetched_records}");
    assert_eq!(
        sim.state().served_records().get(&Source::Github),
        Some(&fetched_records)
    );
    sim.shutdown().await;
}

#[tokio::test]
async fn link_headers_name_next_last_prev_and_first_pages_with_absolute_urls_on_this_host() {
    let sim = start(small_options(22)).await;
    let repo = &sim.state().organisation().repos[0];
    let total = repo.pulls.len();
    let last = total.div_ceil(5);
    assert!(last >= 3, "need at least three pages, have {total} pulls");
    let url = format!(
        "{}/repos/{}/pulls?state=all&per_page=5",
        sim.base_url(Source::Github),
        repo.full_name()
    );

    let first = get(&url).await;
    assert_eq!(link(&first.headers, "next"), Some(format!("{url}&page=2")));
    assert_eq!(
        link(&first.headers, "last"),
        Some(format!("{url}&page={last}"))
    );
    assert_eq!(link(&first.headers, "prev"), None);
    assert_eq!(link(&first.headers, "first"), None);

    let second = get(&format!("{url}&page=2")).await;
    assert_eq!(link(&second.headers, "prev"), Some(format!("{url}&page=1")));
    assert_eq!(link(&second.headers, "next"), Some(format!("{url}&page=3")));
    assert_eq!(
        link(&second.headers, "first"),
        Some(format!("{url}&page=1"))
    );

    let final_page = get(&format!("{url}&page={last}")).await;
    assert_eq!(link(&final_page.headers, "next"), None);
    assert_eq!(link(&final_page.headers, "last"), None);
    assert_eq!(
        final_page.body.as_array().unwrap().len(),
        total - (last - 1) * 5
    );
    sim.shutdown().await;
}

#[tokio::test]
async fn per_page_is_capped_at_one_hundred_and_defaults_to_thirty() {
    let sim = start(SimOptions {
        days: 90,
        teams: 1,
        ..small_options(23)
    })
    .await;
    let repo = &sim.state().organisation().repos[0];
    assert!(repo.pulls.len() > 100, "{}", repo.pulls.len());
    let url = format!(
        "{}/repos/{}/pulls?state=all",
        sim.base_url(Source::Github),
        repo.full_name()
    );
    assert_eq!(get(&url).await.body.as_array().unwrap().len(), 30);
    assert_eq!(
        get(&format!("{url}&per_page=500"))
            .await
            .body
            .as_array()
            .unwrap()
            .len(),
        100
    );
    sim.shutdown().await;
}

#[tokio::test]
async fn pull_requests_are_filtered_by_state_and_sorted_as_asked() {
    let sim = start(small_options(24)).await;
    let repo = &sim.state().organisation().repos[0];
    let url = format!(
        "{}/repos/{}/pulls",
        sim.base_url(Source::Github),
        repo.full_name()
    );
    let (open, _) = github_all(&format!("{url}?per_page=100")).await;
    assert!(open.iter().all(|p| p["state"] == "open"));
    assert_eq!(
        open.len(),
        repo.pulls.iter().filter(|p| p.is_open()).count()
    );

    let (closed, _) = github_all(&format!(
        "{url}?state=closed&sort=updated&direction=asc&per_page=100"
    ))
    .await;
    assert!(closed.iter().all(|p| p["state"] == "closed"));
    let updated: Vec<&str> = closed
        .iter()
        .map(|p| p["updated_at"].as_str().unwrap())
        .collect();
    assert!(
        updated.windows(2).all(|w| w[0] <= w[1]),
        "not ascending by updated_at"
    );

    let (newest_first, _) = github_all(&format!("{url}?state=all&per_page=100")).await;
    let created: Vec<&str> = newest_first
        .iter()
        .map(|p| p["created_at"].as_str().unwrap())
        .collect();
    assert!(
        created.windows(2).all(|w| w[0] >= w[1]),
        "default is created desc"
    );

    let merged = closed
        .iter()
        .find(|p| !p["merged_at"].is_null())
        .expect("a merged PR");
    let stamp = merged["merged_at"].as_str().unwrap();
    assert!(stamp.ends_with('Z') && stamp.len() == 20, "{stamp}");
    assert!(
        closed.iter().any(|p| p["merged_at"].is_null()),
        "no closed-unmerged PR"
    );

    assert_eq!(get(&format!("{url}?state=merged")).await.status, 422);
    sim.shutdown().await;
}

#[tokio::test]
async fn deployments_are_newest_first_and_filter_by_environment() {
    let sim = start(small_options(25)).await;
    let repo = &sim.state().organisation().repos[0];
    let url = format!(
        "{}/repos/{}/deployments",
        sim.base_url(Source::Github),
        repo.full_name()
    );
    let (production, _) = github_all(&format!("{url}?environment=production&per_page=100")).await;
    assert!(!production.is_empty());
    assert!(
        production
            .iter()
            .all(|d| d["environment"] == "production" && d["task"] == "deploy")
    );
    let created: Vec<&str> = production
        .iter()
        .map(|d| d["created_at"].as_str().unwrap())
        .collect();
    assert!(created.windows(2).all(|w| w[0] >= w[1]));
    let id = production[0]["id"].as_u64().unwrap();
    let statuses = get(&format!("{url}/{id}/statuses")).await;
    let states: Vec<&str> = statuses
        .body
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["state"].as_str().unwrap())
        .collect();
    assert_eq!(
        states.last(),
        Some(&"queued"),
        "statuses are newest first: {states:?}"
    );
    sim.shutdown().await;
}

#[tokio::test]
async fn a_request_carrying_the_current_etag_gets_304_without_spending_the_budget() {
    let sim = start(small_options(26)).await;
    let repo = &sim.state().organisation().repos[0];
    let url = format!(
        "{}/repos/{}/pulls?state=all",
        sim.base_url(Source::Github),
        repo.full_name()
    );
    let first = get(&url).await;
    let etag = first.header("etag").expect("an ETag").to_owned();
    assert!(etag.starts_with("W/\""), "{etag}");
    let remaining_before: u32 = first
        .header("x-ratelimit-remaining")
        .unwrap()
        .parse()
        .unwrap();

    let client = common::client();
    let again = send(client.get(&url).header("If-None-Match", &etag)).await;
    assert_eq!(again.status, 304);
    assert_eq!(again.body, serde_json::Value::Null);
    let remaining_after: u32 = again
        .header("x-ratelimit-remaining")
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(remaining_after, remaining_before);

    let stale = send(client.get(&url).header("If-None-Match", "W/\"0000\"")).await;
    assert_eq!(stale.status, 200);
    sim.shutdown().await;
}

#[tokio::test]
async fn every_github_response_carries_rate_limit_headers_and_a_spent_budget_answers_403() {
    let sim = start(SimOptions {
        github_hourly_limit: 3,
        ..small_options(27)
    })
    .await;
    let repo = &sim.state().organisation().repos[0];
    let url = format!(
        "{}/repos/{}/pulls",
        sim.base_url(Source::Github),
        repo.full_name()
    );
    let mut replies: Vec<Reply> = Vec::new();
    for _ in 0..4 {
        replies.push(get(&url).await);
    }
    let remaining: Vec<&str> = replies
        .iter()
        .map(|r| r.header("x-ratelimit-remaining").unwrap())
        .collect();
    assert_eq!(remaining, ["2", "1", "0", "0"]);
    assert_eq!(
        replies.iter().map(|r| r.status).collect::<Vec<_>>(),
        [200, 200, 200, 403]
    );
    assert!(
        replies[3].body["message"]
            .as_str()
            .unwrap()
            .starts_with("API rate limit exceeded")
    );
    let reset: i64 = replies[0]
        .header("x-ratelimit-reset")
        .unwrap()
        .parse()
        .unwrap();
    let now = chrono::Utc::now().timestamp();
    assert!(reset > now && reset <= now + 3600, "{reset}");
    assert_eq!(replies[0].header("x-ratelimit-limit"), Some("3"));
    assert_eq!(replies[1].header("x-ratelimit-used"), Some("2"));
    assert_eq!(replies[0].header("x-ratelimit-resource"), Some("core"));
    sim.shutdown().await;
}

#[tokio::test]
async fn unknown_repositories_pull_requests_and_deployments_answer_404() {
    let sim = start(small_options(28)).await;
    let base = sim.base_url(Source::Github);
    for path in [
        "/repos/acme/nope/pulls",
        "/repos/acme/payments-api/pulls/1/commits",
        "/repos/acme/payments-api/deployments/1/statuses",
        "/repos/acme/payments-api/pulls/abc/commits",
    ] {
        let reply = get(&format!("{base}{path}")).await;
        assert_eq!(reply.status, 404, "{path}");
        assert_eq!(reply.body["message"], "Not Found");
    }
    sim.shutdown().await;
}

#[tokio::test]
async fn commits_report_bot_and_human_authors_like_github() {
    let sim = start(small_options(29)).await;
    let org = sim.state().organisation();
    let (repo, pr) = org
        .repos
        .iter()
        .flat_map(|r| r.pulls.iter().map(move |p| (r, p)))
        .find(|(_, p)| !p.author_is_bot && p.commits.first().is_some_and(|c| c.is_bot()))
        .expect("a human PR whose first commit is a bot's");
    let url = format!(
        "{}/repos/{}/pulls/{}/commits",
        sim.base_url(Source::Github),
        repo.full_name(),
        pr.number
    );
    let commits = get(&url).await.body;
    assert_eq!(commits[0]["author"]["type"], "Bot");
    assert!(
        commits[0]["author"]["login"]
            .as_str()
            .unwrap()
            .ends_with("[bot]")
    );
    let human = commits
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["author"]["type"] == "User")
        .unwrap();
    let date = human["commit"]["author"]["date"].as_str().unwrap();
    assert_eq!(
        date,
        pr.first_human_commit_at()
            .unwrap()
            .format("%Y-%m-%dT%H:%M:%SZ")
            .to_string()
    );
    sim.shutdown().await;
}

#[tokio::test]
async fn the_default_branch_lists_its_merge_commits_newest_first_in_pages_down_to_the_root() {
    let sim = start(small_options(71)).await;
    let base = sim.base_url(Source::Github);
    let org = sim.state().organisation().clone();
    let repo = &org.repos[0];
    let full = repo.full_name();
    let history = repo.main_history();
    let (items, pages) = github_all(&format!("{base}/repos/{full}/commits?per_page=20")).await;
    assert_eq!(pages, history.len().div_ceil(20));
    let shas: Vec<&str> = items.iter().map(|c| c["sha"].as_str().unwrap()).collect();
    let expected: Vec<&str> = history.iter().rev().map(|c| c.sha.as_str()).collect();
    assert_eq!(shas, expected);
    for pair in items.windows(2) {
        assert_eq!(pair[0]["parents"][0]["sha"], pair[1]["sha"]);
        assert_eq!(pair[0]["parents"].as_array().unwrap().len(), 2);
        assert!(
            pair[0]["commit"]["committer"]["date"].as_str()
                >= pair[1]["commit"]["committer"]["date"].as_str()
        );
    }
    let root = items.last().unwrap();
    assert_eq!(root["sha"].as_str().unwrap(), repo.root_sha);
    assert_eq!(root["parents"], serde_json::json!([]));
    let merge = &items[0];
    let pull = repo
        .pulls
        .iter()
        .find(|p| p.merge_commit_sha == merge["sha"].as_str().unwrap())
        .unwrap();
    assert_eq!(
        merge["parents"][1]["sha"].as_str().unwrap(),
        pull.head_sha()
    );
    assert_eq!(
        merge["author"]["login"].as_str().unwrap(),
        pull.author_login
    );
    assert_eq!(merge["committer"]["login"], "web-flow");
    assert!(merge["commit"]["tree"]["sha"].is_string());
    assert!(
        merge["html_url"]
            .as_str()
            .unwrap()
            .ends_with(merge["sha"].as_str().unwrap())
    );
    let log = sim.state().request_log();
    assert!(
        log.iter()
            .all(|e| e.endpoint == dorafleet_sim::Endpoint::RepoCommits)
    );
    assert_eq!(log.len(), pages);
    sim.shutdown().await;
}

#[tokio::test]
async fn since_and_until_filter_commits_by_committer_date_inclusively() {
    let sim = start(small_options(72)).await;
    let base = sim.base_url(Source::Github);
    let org = sim.state().organisation().clone();
    let repo = &org.repos[1];
    let history = repo.main_history();
    let (from, to) = (&history[3], &history[8]);
    let stamp = |c: &dorafleet_sim::MainCommit| c.committed_at.format("%Y-%m-%dT%H:%M:%SZ");
    let url = format!(
        "{base}/repos/{}/commits?since={}&until={}&per_page=100",
        repo.full_name(),
        stamp(from),
        stamp(to)
    );
    let reply = get(&url).await;
    let shas: Vec<&str> = reply
        .body
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["sha"].as_str().unwrap())
        .collect();
    let expected: Vec<&str> = history[3..=8]
        .iter()
        .rev()
        .map(|c| c.sha.as_str())
        .collect();
    assert_eq!(shas, expected);
    let bad = get(&format!(
        "{base}/repos/{}/commits?since=yesterday",
        repo.full_name()
    ))
    .await;
    assert_eq!(bad.status, 422);
    sim.shutdown().await;
}

#[tokio::test]
async fn a_merge_commit_is_listed_from_its_merge_on_and_a_sha_selects_its_history() {
    let sim = start(small_options(73)).await;
    let base = sim.base_url(Source::Github);
    let history = sim.state().history().repos[0].main_history();
    let full = sim.state().history().repos[0].full_name();
    let merge = &history[5];
    let newest = |reply: Reply| reply.body[0]["sha"].as_str().unwrap().to_owned();
    let url = format!("{base}/repos/{full}/commits?sha=main");
    sim.state()
        .set_now(merge.committed_at - chrono::Duration::seconds(1));
    assert_eq!(newest(get(&url).await), history[4].sha);
    sim.state().set_now(merge.committed_at);
    assert_eq!(newest(get(&url).await), merge.sha);

    let (items, _) = github_all(&format!(
        "{base}/repos/{full}/commits?sha={}",
        history[2].sha
    ))
    .await;
    assert_eq!(items.len(), 3);
    assert_eq!(items[0]["sha"].as_str().unwrap(), history[2].sha);
    // Not yet merged as of the clock, or never a main commit: 404.
    let later = get(&format!(
        "{base}/repos/{full}/commits?sha={}",
        history[6].sha
    ))
    .await;
    assert_eq!(later.status, 404);
    let unknown = get(&format!("{base}/repos/{full}/commits?sha=feature")).await;
    assert_eq!(unknown.status, 404);
    sim.shutdown().await;
}

fn enterprise(seed: u64) -> SimOptions {
    SimOptions {
        github_flavour: dorafleet_sim::GithubFlavour::Enterprise,
        ..small_options(seed)
    }
}

#[tokio::test]
async fn as_github_enterprise_server_the_api_lives_under_api_v3_with_links_and_urls_saying_so() {
    let sim = start(SimOptions {
        // Rate limiting is disabled on this server: no budget to spend.
        github_hourly_limit: 2,
        ..enterprise(31)
    })
    .await;
    let base = sim.base_url(Source::Github);
    assert!(base.ends_with("/api/v3"), "{base}");
    let org = sim.state().organisation().clone();
    let repo = org
        .repos
        .iter()
        .max_by_key(|r| r.pulls.len())
        .expect("a repo");
    let full = repo.full_name();

    let first = get(&format!("{base}/repos/{full}/pulls?state=all&per_page=3")).await;
    assert_eq!(first.status, 200, "{}", first.body);
    let next = link(&first.headers, "next").expect("more than one page");
    assert!(
        next.starts_with(&format!("{base}/repos/{full}/pulls?")),
        "{next}"
    );
    let pr = &first.body[0];
    assert!(
        pr["url"]
            .as_str()
            .unwrap()
            .starts_with(&format!("{base}/repos/")),
        "{pr}"
    );
    for name in [
        "x-ratelimit-limit",
        "x-ratelimit-remaining",
        "x-ratelimit-reset",
        "x-ratelimit-used",
    ] {
        assert_eq!(first.header(name), None, "{name}");
    }

    // Every list pages through whole, past the (unenforced) hourly budget.
    let (pulls, pages) =
        github_all(&format!("{base}/repos/{full}/pulls?state=all&per_page=3")).await;
    assert_eq!(pulls.len(), repo.pulls.len());
    assert!(pages > 2, "{pages}");
    let (deployments, _) = github_all(&format!("{base}/repos/{full}/deployments?per_page=5")).await;
    assert_eq!(deployments.len(), repo.deployments.len());

    // The cloud prefix is not served by an enterprise server.
    let host = base.trim_end_matches("/api/v3");
    let cloud = get(&format!("{host}/github/repos/{full}/pulls")).await;
    assert_eq!(cloud.status, 404);
    sim.shutdown().await;
}

#[tokio::test]
async fn an_enterprise_server_may_report_disabled_rate_limits_as_zero_of_zero() {
    let sim = start(SimOptions {
        github_zero_rate_limits: true,
        ..enterprise(32)
    })
    .await;
    let repo = &sim.state().organisation().repos[0];
    let url = format!(
        "{}/repos/{}/deployments",
        sim.base_url(Source::Github),
        repo.full_name()
    );
    for _ in 0..3 {
        let reply = get(&url).await;
        assert_eq!(reply.status, 200);
        assert_eq!(reply.header("x-ratelimit-limit"), Some("0"));
        assert_eq!(reply.header("x-ratelimit-remaining"), Some("0"));
    }
    sim.shutdown().await;
}

#[tokio::test]
async fn a_secondary_rate_limit_fault_answers_403_with_githubs_message_in_either_flavour() {
    for options in [small_options(33), enterprise(33)] {
        let sim = start(SimOptions {
            faults: vec![
                "github/pulls:secondary=3#1".parse().unwrap(),
                "github/pulls:secondary#1".parse().unwrap(),
            ],
            ..options
        })
        .await;
        let repo = &sim.state().organisation().repos[0];
        let url = format!(
            "{}/repos/{}/pulls",
            sim.base_url(Source::Github),
            repo.full_name()
        );
        let with = get(&url).await;
        let without = get(&url).await;
        let then = get(&url).await;
        for refused in [&with, &without] {
            assert_eq!(refused.status, 403);
            assert!(
                refused.body["message"]
                    .as_str()
                    .unwrap()
                    .starts_with("You have exceeded a secondary rate limit"),
                "{}",
                refused.body
            );
        }
        assert_eq!(with.header("retry-after"), Some("3"));
        assert_eq!(without.header("retry-after"), None);
        assert_eq!(then.status, 200);
        let log = sim.state().request_log();
        assert_eq!(log[0].retry_after_secs, Some(3));
        assert_eq!(
            log[1].fault.as_deref(),
            Some("secondary_rate_limit"),
            "{:?}",
            log[1]
        );
        sim.shutdown().await;
    }
}

#[tokio::test]
async fn the_ground_truth_is_the_same_in_either_flavour() {
    let cloud = start(small_options(34)).await;
    let ghes = start(enterprise(34)).await;
    assert_eq!(cloud.state().ground_truth(), ghes.state().ground_truth());
    cloud.shutdown().await;
    ghes.shutdown().await;
}
