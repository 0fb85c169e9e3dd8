//! The contract of the warehouse's silver role: silver upserts by natural key.

use super::*;
use crate::DeploymentOutcome;

fn silver_batch(run_id: Uuid, status: &str) -> SilverBatch {
    let t = |h: u32| Utc.with_ymd_and_hms(2026, 3, 1, h, 0, 0).unwrap();
    SilverBatch {
        deployments: vec![SilverDeployment {
            source: Source::Github,
            key: "acme/ledger#17".into(),
            team_id: "payments".into(),
            repo: "acme/ledger".into(),
            job: None,
            environment: "production".into(),
            status: status.into(),
            started_at: t(9),
            finished_at: Some(t(10)),
            sha: Some("abc".into()),
            deployer: Some("maria".into()),
            run_id,
            ref_name: Some("hotfix/PAY-1".into()),
        }],
        changes: vec![SilverChange {
            repo: "acme/ledger".into(),
            number: 5,
            team_id: "payments".into(),
            author: Some("maria".into()),
            first_commit_at: t(1),
            merged_at: t(8),
            merge_sha: Some("abc".into()),
            title: Some("Fix PAY-1: retry the ledger write".into()),
            head_ref: Some("hotfix/PAY-1".into()),
            run_id,
        }],
        incidents: vec![SilverIncident {
            key: "PAY-1".into(),
            project: "PAY".into(),
            team_id: "payments".into(),
            issue_type: "Incident".into(),
            priority: Some("P2".into()),
            created_at: t(11),
            resolved_at: None,
            reporter: None,
            run_id,
        }],
        commits: vec![
            SilverCommit {
                repo: "acme/ledger".into(),
                sha: "abc".into(),
                team_id: "payments".into(),
                parents: vec!["root".into(), "branch-head".into()],
                committed_at: t(8),
                run_id,
            },
            SilverCommit {
                repo: "acme/ledger".into(),
                sha: "root".into(),
                team_id: "payments".into(),
                parents: Vec::new(),
                committed_at: t(2),
                run_id,
            },
        ],
        gone_deployments: Vec::new(),
        counts: NormalizeCounts {
            run_id,
            source: Some(Source::Github),
            scope: Some(scope("payments", "acme/ledger")),
            pages: 3,
            deployments: 1,
            changes: 1,
            bot_changes_filtered: 2,
            rejected_records: 1,
            unknown_fields: [("last_updated".to_owned(), 1)].into(),
            ..NormalizeCounts::default()
        },
    }
}

pub async fn silver_upserts_by_natural_key_so_a_repeat_changes_nothing(w: Arc<dyn Warehouse>) {
    let run = Uuid::now_v7();
    let batch = silver_batch(run, "in_progress");
    w.upsert_silver(&batch).await.unwrap();
    w.upsert_silver(&batch).await.unwrap();
    let silver = w.team_silver("payments").await.unwrap();
    assert_eq!(silver.deployments, batch.deployments);
    assert_eq!(silver.changes, batch.changes);
    assert_eq!(silver.incidents, batch.incidents);
    // Read back oldest first, parents in their order.
    let mut commits = batch.commits.clone();
    commits.reverse();
    assert_eq!(silver.commits, commits);
    assert_eq!(
        w.normalize_counts(Some(run)).await.unwrap(),
        vec![batch.counts.clone()]
    );

    let later = silver_batch(Uuid::now_v7(), "success");
    w.upsert_silver(&later).await.unwrap();
    let silver = w.team_silver("payments").await.unwrap();
    assert_eq!(silver.deployments.len(), 1);
    assert_eq!(silver.deployments[0].status, DeploymentOutcome::Success);
    assert!(
        w.team_silver("search")
            .await
            .unwrap()
            .deployments
            .is_empty()
    );
}
