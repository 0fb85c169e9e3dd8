//! What a Jira task asks before its search: which API the server speaks
//! (`serverInfo`, when `sources.jira.api` is `auto`) and who the API user is
//! (`/myself`: the time zone the JQL bounds are written in).

use super::*;

/// `serverInfo`'s answer: Cloud, or else Data Center / Server.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct ServerInfo {
    #[serde(default)]
    deployment_type: Option<String>,
}

/// Which Jira answered: `deploymentType` `Cloud`, or `Server` /
/// `DataCenter` (older servers send none: they are Server). Next: the API
/// user, in that dialect.
pub(super) fn server_info_steps(page: &FetchedPage) -> Result<CrawlStep, TaskError> {
    let body = parse_body(Source::Jira, page)?;
    let info = ServerInfo::deserialize(&body)
        .map_err(|e| page_error(Source::Jira, page, &format!("not a Jira serverInfo: {e}")))?;
    let flavour = match info.deployment_type.as_deref().map(str::trim) {
        Some(t) if t.eq_ignore_ascii_case("cloud") => Flavour::Cloud,
        _ => Flavour::DataCenter,
    };
    tracing::debug!(deployment_type = ?info.deployment_type, ?flavour, "Jira serverInfo");
    Ok(CrawlStep {
        follow_ups: vec![myself_request(flavour)],
        ..CrawlStep::default()
    })
}

/// `/myself`'s answer: the user's time zone, an IANA name.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct Myself {
    #[serde(default)]
    time_zone: Option<String>,
}

/// The API user's time zone: the search follows, its bounds in that zone
/// (widened when the zone is unknown, see [`JqlZone`]).
pub(super) fn myself_steps(
    page: &FetchedPage,
    window: &Window,
    page_size: u32,
    watch: &Watch,
) -> Result<CrawlStep, TaskError> {
    let Some(crawl) = watch.jira.as_ref() else {
        return Err(page_error(
            Source::Jira,
            page,
            "a `/myself` page in a crawl that was told no project",
        ));
    };
    let body = parse_body(Source::Jira, page)?;
    let myself = Myself::deserialize(&body)
        .map_err(|e| page_error(Source::Jira, page, &format!("not a Jira user: {e}")))?;
    let zone = JqlZone::named(myself.time_zone.as_deref());
    if zone == JqlZone::Unknown {
        tracing::warn!(time_zone = ?myself.time_zone, project = %crawl.project,
            "the Jira API user's time zone is not known; the search's date bounds are widened by 14 hours on each side");
    }
    let flavour = Flavour::of_request(&page.request.url);
    Ok(CrawlStep {
        follow_ups: vec![search_request(
            flavour,
            &crawl.project,
            window,
            page_size,
            zone,
        )],
        ..CrawlStep::default()
    })
}
