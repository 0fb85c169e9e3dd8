//! Typed Jenkins payloads: a page of `allBuilds` and its builds (also a single
//! build from `/job/X/N/api/json`). Times are epoch milliseconds; `result` is
//! `null` while `building` is true.

use crate::timestamps::from_epoch_millis;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// `GET /job/X/api/json?tree=allBuilds[…]{M,N}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BuildsPage {
    /// `allBuilds`: the builds of the requested `{M,N}` range, newest first.
    #[serde(rename = "allBuilds")]
    pub all_builds: Vec<Build>,
}

/// A branch job of a multibranch project: an item of its `jobs`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BranchJob {
    /// The job's name: the branch name with `/` written `%2F`
    /// (`feature%2Flogin`), as Jenkins names branch jobs.
    pub name: String,
    /// The job's URL.
    #[serde(default)]
    pub url: Option<String>,
    /// The job's class (`…WorkflowJob` for a branch).
    #[serde(default, rename = "_class")]
    pub class: Option<String>,
}

/// A build of a job: an item of `allBuilds`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Build {
    /// The build number, unique in its job: in the silver key (`{job}#{number}`).
    pub number: u64,
    /// `SUCCESS`, `UNSTABLE`, `FAILURE`, `NOT_BUILT`, `ABORTED`; `None` while building.
    #[serde(default)]
    pub result: Option<String>,
    /// Start time, epoch milliseconds.
    pub timestamp: i64,
    /// Milliseconds; 0 while building.
    #[serde(default)]
    pub duration: i64,
    /// True while the build is running.
    #[serde(default)]
    pub building: bool,
    /// Mixed action objects; only those with `causes` matter here.
    #[serde(default)]
    pub actions: Vec<Action>,
}

/// An item of a build's `actions`; cause actions and the git plugin's build
/// data carry what is read here.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Action {
    /// Why the build ran; `None` for the other kinds of action.
    #[serde(default)]
    pub causes: Option<Vec<Cause>>,
    /// The commit the build checked out (git plugin `BuildData`).
    #[serde(default)]
    pub last_built_revision: Option<Revision>,
}

/// A git revision as the git plugin reports it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Revision {
    /// The commit's sha.
    #[serde(rename = "SHA1")]
    pub sha1: String,
}

/// Why a build ran; user-started builds name the user.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Cause {
    /// `userId` of a user-started build: the silver deployer.
    #[serde(default)]
    pub user_id: Option<String>,
    /// `userName`, the deployer when there is no `userId`.
    #[serde(default)]
    pub user_name: Option<String>,
    /// `shortDescription`, e.g. `Started by user Ana`.
    #[serde(default)]
    pub short_description: Option<String>,
}

impl Build {
    /// `timestamp` in UTC; `None` if out of chrono's range.
    pub fn started_at(&self) -> Option<DateTime<Utc>> {
        from_epoch_millis(self.timestamp)
    }

    /// Start plus duration; `None` while the build is still running.
    pub fn finished_at(&self) -> Option<DateTime<Utc>> {
        if self.building || self.result.is_none() {
            return None;
        }
        from_epoch_millis(self.timestamp.checked_add(self.duration)?)
    }

    /// The commit the build built, when its git build data records one.
    pub fn built_commit(&self) -> Option<&str> {
        self.actions
            .iter()
            .find_map(|a| a.last_built_revision.as_ref())
            .map(|r| r.sha1.as_str())
            .filter(|sha| !sha.is_empty())
    }

    /// The first user-started cause (user id, else user name).
    pub fn triggered_by(&self) -> Option<&str> {
        self.actions
            .iter()
            .filter_map(|a| a.causes.as_deref())
            .flatten()
            .find_map(|c| c.user_id.as_deref().or(c.user_name.as_deref()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_running_build_has_no_result_and_no_finish_time() {
        let build: Build = serde_json::from_str(
            r#"{"number": 8, "result": null, "timestamp": 1461091892486, "duration": 0, "building": true}"#,
        )
        .unwrap();
        assert_eq!(build.result, None);
        assert!(build.started_at().is_some());
        assert_eq!(build.finished_at(), None);
    }

    #[test]
    fn the_built_commit_is_read_from_the_git_build_data() {
        let build: Build = serde_json::from_str(
            r#"{"number": 9, "result": "SUCCESS", "timestamp": 1461091892486, "duration": 5,
                "actions": [{"causes": [{"userId": "ana"}]},
                            {"_class": "hudson.plugins.git.util.BuildData",
                             "lastBuiltRevision": {"SHA1": "d27afa08", "branch": [{"SHA1": "d27afa08", "name": "refs/remotes/origin/main"}]}}]}"#,
        )
        .unwrap();
        assert_eq!(build.built_commit(), Some("d27afa08"));
        assert_eq!(build.triggered_by(), Some("ana"));
        let without: Build =
            serde_json::from_str(r#"{"number": 9, "timestamp": 1461091892486}"#).unwrap();
        assert_eq!(without.built_commit(), None);
    }
}
