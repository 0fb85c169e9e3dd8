//! The contract of the warehouse's holds role: sensor holds and their resolutions.

use super::*;

fn hold(run_id: Uuid, team: &str, from_day: u32, created_secs: i64) -> Hold {
    let from = chrono::NaiveDate::from_ymd_opt(2026, 9, from_day).unwrap();
    Hold {
        hold_id: Hold::id_for(run_id, team, "volume", Some("github:acme/api"), from),
        run_id,
        team_id: team.into(),
        sensor: "volume".into(),
        scope: Some("github:acme/api".into()),
        from,
        to: from + Duration::days(7),
        evidence: HoldEvidence {
            measure: "github acme/api records".into(),
            observed: 0.0,
            expected: 42.5,
            threshold: "observed < 50% of expected and 3σ below".into(),
            detail: "8 baseline weeks".into(),
        },
        status: HoldStatus::Open,
        created_at: Utc
            .timestamp_opt(1_790_000_000 + created_secs, 123_456_789)
            .unwrap(),
        resolution: None,
    }
}

pub async fn holds_are_stored_once_selected_by_run_team_and_status_and_resolved_once(
    w: Arc<dyn Warehouse>,
) {
    let (run_a, run_b) = (Uuid::now_v7(), Uuid::now_v7());
    let first = hold(run_a, "payments", 1, 0);
    w.save_hold(&first).await.unwrap();
    w.save_hold(&first).await.unwrap();
    w.save_hold(&hold(run_a, "search", 1, 1)).await.unwrap();
    w.save_hold(&hold(run_b, "payments", 8, 2)).await.unwrap();

    let all = w.holds(&HoldFilter::default()).await.unwrap();
    assert_eq!(all.len(), 3, "a hold saved twice is stored once");
    assert_eq!(all[0], first, "read back whole, oldest first");
    let of_run_a = HoldFilter {
        run_id: Some(run_a),
        ..HoldFilter::default()
    };
    assert_eq!(w.holds(&of_run_a).await.unwrap().len(), 2);
    let payments_open = HoldFilter {
        team_id: Some("payments".into()),
        status: Some(HoldStatus::Open),
        ..HoldFilter::default()
    };
    assert_eq!(w.holds(&payments_open).await.unwrap().len(), 2);
    let older = HoldFilter {
        created_before: Some(first.created_at + Duration::seconds(2)),
        ..HoldFilter::default()
    };
    assert_eq!(w.holds(&older).await.unwrap().len(), 2);

    let release = HoldResolution {
        at: Utc::now(),
        by: "olga".into(),
        reason: "release freeze: the quiet week is real".into(),
    };
    let released = w
        .resolve_holds(&of_run_a, HoldStatus::Released, &release)
        .await
        .unwrap();
    assert_eq!(released.len(), 2);
    assert!(released.iter().all(|h| h.status == HoldStatus::Released));
    let again = w
        .resolve_holds(&of_run_a, HoldStatus::Cleared, &release)
        .await
        .unwrap();
    assert!(
        again.is_empty(),
        "a resolved hold keeps its first resolution"
    );
    let stored = w.holds(&of_run_a).await.unwrap();
    assert!(
        stored
            .iter()
            .all(|h| h.status == HoldStatus::Released && h.resolution.as_ref() == Some(&release))
    );
    w.save_hold(&first).await.unwrap();
    assert_eq!(
        w.holds(&payments_open).await.unwrap().len(),
        1,
        "saving a resolved hold again does not reopen it"
    );
}
