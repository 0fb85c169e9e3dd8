//! The contract of the warehouse's monitor role: the monitor's checkpoints and delivered alerts.

use super::*;

pub async fn monitor_checkpoints_are_saved_and_replaced_per_name(w: Arc<dyn Warehouse>) {
    assert_eq!(w.monitor_checkpoint("alerts").await.unwrap(), None);
    w.save_monitor_checkpoint("alerts", "17").await.unwrap();
    w.save_monitor_checkpoint("other", "{\"_data\":\"8263\"}")
        .await
        .unwrap();
    w.save_monitor_checkpoint("alerts", "42").await.unwrap();
    assert_eq!(
        w.monitor_checkpoint("alerts").await.unwrap().as_deref(),
        Some("42")
    );
    assert_eq!(
        w.monitor_checkpoint("other").await.unwrap().as_deref(),
        Some("{\"_data\":\"8263\"}")
    );
}

pub async fn a_delivered_alert_is_recorded_once_by_its_key_and_listed(w: Arc<dyn Warehouse>) {
    let key = "change_failure_rate_above:payments:2026-03-01:v1";
    assert!(!w.alert_delivered(key).await.unwrap());
    assert!(w.record_delivered_alert(key, "{\"n\":1}").await.unwrap());
    assert!(!w.record_delivered_alert(key, "{\"n\":2}").await.unwrap());
    assert!(w.alert_delivered(key).await.unwrap());
    assert!(w.record_delivered_alert("other", "{}").await.unwrap());
    let listed = w.delivered_alerts(10).await.unwrap();
    assert_eq!(listed.len(), 2);
    let first = listed.iter().find(|a| a.key == key).unwrap();
    assert_eq!(first.payload, "{\"n\":1}");
    assert_eq!(w.delivered_alerts(1).await.unwrap().len(), 1);
}
