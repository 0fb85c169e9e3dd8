//! The Jenkins-compatible endpoint against a running simulator.

mod common;

use common::{BUILD_TREE, get, jenkins_all, small_options, start};
use dorafleet_core::Source;
use dorafleet_sim::JobKind;

#[tokio::test]
async fn ranges_select_builds_newest_first_with_m_inclusive_and_n_exclusive() {
    let sim = start(small_options(41)).await;
    let job = &sim.state().organisation().jenkins_jobs[1];
    let base = format!(
        "{}/job/{}/api/json?tree={BUILD_TREE}",
        sim.base_url(Source::Jenkins),
        job.name
    );
    let newest: Vec<u64> = job.builds.iter().rev().map(|b| b.number).collect();
    let numbers = |body: &serde_json::Value| -> Vec<u64> {
        body["allBuilds"]
            .as_array()
            .unwrap()
            .iter()
            .map(|b| b["number"].as_u64().unwrap())
            .collect()
    };
    let reply = get(&format!("{base}{{2,5}}")).await;
    assert_eq!(reply.body["_class"], "hudson.model.FreeStyleProject");
    assert_eq!(
        reply.body["allBuilds"][0]["_class"],
        "hudson.model.FreeStyleBuild"
    );
    assert_eq!(numbers(&reply.body), newest[2..5]);
    assert_eq!(
        numbers(&get(&format!("{base}{{,3}}")).await.body),
        newest[..3]
    );
    assert_eq!(
        numbers(&get(&format!("{base}{{4,}}")).await.body),
        newest[4..]
    );
    assert_eq!(numbers(&get(&base).await.body), newest);
    let fields: Vec<&String> = reply.body["allBuilds"][0]
        .as_object()
        .unwrap()
        .keys()
        .collect();
    assert_eq!(
        fields.len(),
        6,
        "only the asked-for fields and _class: {fields:?}"
    );
    sim.shutdown().await;
}

#[tokio::test]
async fn a_running_build_has_a_null_result_and_building_true() {
    let sim = start(small_options(42)).await;
    let org = sim.state().organisation();
    let job = org
        .jenkins_jobs
        .iter()
        .find(|j| j.builds.last().is_some_and(|b| b.building))
        .expect("some job still running at the end");
    let url = format!(
        "{}/job/{}/api/json?tree={BUILD_TREE}{{0,1}}",
        sim.base_url(Source::Jenkins),
        job.name
    );
    let newest = &get(&url).await.body["allBuilds"][0];
    assert_eq!(newest["building"], true);
    assert!(newest["result"].is_null());
    assert_eq!(newest["duration"], 0);
    sim.shutdown().await;
}

#[tokio::test]
async fn paging_by_ranges_yields_every_build_once_and_matches_served_records() {
    let sim = start(small_options(43)).await;
    let org = sim.state().organisation().clone();
    let mut total = 0;
    for job in &org.jenkins_jobs {
        let builds = jenkins_all(&sim, &job.name, 10).await;
        let numbers: Vec<u64> = builds
            .iter()
            .map(|b| b["number"].as_u64().unwrap())
            .collect();
        assert_eq!(
            numbers,
            job.builds
                .iter()
                .rev()
                .map(|b| b.number)
                .collect::<Vec<_>>()
        );
        let finished = builds.iter().find(|b| b["building"] == false).unwrap();
        assert!(
            finished["timestamp"].as_i64().unwrap() > 1_700_000_000_000,
            "epoch millis"
        );
        total += builds.len() as u64;
    }
    assert_eq!(
        sim.state().served_records().get(&Source::Jenkins),
        Some(&total)
    );
    sim.shutdown().await;
}

#[tokio::test]
async fn deploy_builds_name_the_user_who_started_them_when_causes_are_asked_for() {
    let sim = start(small_options(44)).await;
    let org = sim.state().organisation();
    let job = org
        .jenkins_jobs
        .iter()
        .find(|j| j.kind == JobKind::Deploy)
        .unwrap();
    let url = format!(
        "{}/job/{}/api/json?tree=allBuilds[number,result,actions[causes[userId,userName]]]{{0,3}}",
        sim.base_url(Source::Jenkins),
        job.name
    );
    let body = get(&url).await.body;
    let cause = &body["allBuilds"][0]["actions"][0]["causes"][0];
    assert_eq!(cause["_class"], "hudson.model.Cause$UserIdCause");
    let user = cause["userId"].as_str().unwrap();
    assert!(org.people.iter().any(|p| p.jenkins_user == user), "{user}");
    assert!(cause.get("shortDescription").is_none());
    sim.shutdown().await;
}

#[tokio::test]
async fn deploy_builds_carry_the_revision_they_built_beside_their_causes() {
    let sim = start(small_options(45)).await;
    let org = sim.state().organisation();
    let job = org
        .jenkins_jobs
        .iter()
        .find(|j| j.kind == JobKind::Deploy)
        .unwrap();
    let url = format!(
        "{}/job/{}/api/json?tree=allBuilds[number,actions[causes[userId,userName],lastBuiltRevision[SHA1]]]{{0,100}}",
        sim.base_url(Source::Jenkins),
        job.name
    );
    let body = get(&url).await.body;
    let builds = body["allBuilds"].as_array().unwrap();
    assert_eq!(builds.len(), job.builds.len().min(100));
    for served in builds {
        let number = served["number"].as_u64().unwrap();
        let build = job.builds.iter().find(|b| b.number == number).unwrap();
        let revision = served["actions"]
            .as_array()
            .unwrap()
            .iter()
            .find(|a| a["_class"] == "hudson.plugins.git.util.BuildData")
            .map(|a| a["lastBuiltRevision"]["SHA1"].as_str().unwrap().to_owned());
        assert_eq!(revision, build.commit, "build {number}");
        assert!(served["actions"][0]["causes"][0].is_object());
    }
    assert!(job.builds.iter().filter(|b| b.commit.is_some()).count() > job.builds.len() / 2);
    sim.shutdown().await;
}

#[tokio::test]
async fn an_unknown_job_answers_404_and_a_malformed_tree_400() {
    let sim = start(small_options(45)).await;
    let base = sim.base_url(Source::Jenkins);
    assert_eq!(get(&format!("{base}/job/nope/api/json")).await.status, 404);
    let job = &sim.state().organisation().jenkins_jobs[0].name;
    assert_eq!(
        get(&format!("{base}/job/{job}/api/json?tree=allBuilds[number"))
            .await
            .status,
        400
    );
    let default = get(&format!("{base}/job/{job}/api/json")).await;
    assert_eq!(default.status, 200);
    assert!(default.body["builds"][0]["number"].is_u64());
    sim.shutdown().await;
}
