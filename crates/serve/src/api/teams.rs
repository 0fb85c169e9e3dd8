//! `GET /api/v1/teams`: the configured teams and where their work shows up.

use super::json;
use super::links::WebRoots;
use crate::AppState;
use crate::error::Problem;
use axum::extract::{RawQuery, State};
use axum::response::Response;
use serde::Serialize;
use std::collections::BTreeMap;

/// One team as the API shows it.
#[derive(Debug, Serialize)]
pub(crate) struct Team<'a> {
    id: &'a str,
    github_repos: Vec<Target<'a>>,
    jira_projects: Vec<Target<'a>>,
    jenkins_jobs: Vec<Target<'a>>,
    /// Deploy job → the repository it deploys.
    deploy_jobs: &'a BTreeMap<String, String>,
}

/// A repository, project or job, with its web page.
#[derive(Debug, Serialize)]
struct Target<'a> {
    name: &'a str,
    url: String,
}

pub(crate) async fn list(
    State(state): State<AppState>,
    RawQuery(raw): RawQuery,
) -> Result<Response, Problem> {
    super::query(raw.as_deref(), &[])?;
    let roots = WebRoots::of(&state.config);
    let teams: Vec<Team<'_>> = state
        .config
        .teams
        .iter()
        .map(|t| Team {
            id: &t.id,
            github_repos: t
                .github_repos
                .iter()
                .map(|r| Target {
                    name: r,
                    url: format!("{}/{r}", roots.github),
                })
                .collect(),
            jira_projects: t
                .jira_projects
                .iter()
                .map(|p| Target {
                    name: p,
                    url: format!("{}/browse/{p}", roots.jira),
                })
                .collect(),
            jenkins_jobs: t
                .jenkins_jobs
                .iter()
                .map(|j| Target {
                    name: j,
                    url: roots.build(j, "").trim_end_matches('/').to_owned() + "/",
                })
                .collect(),
            deploy_jobs: &t.deploy_jobs,
        })
        .collect();
    Ok(json(&serde_json::json!({ "teams": teams })))
}
