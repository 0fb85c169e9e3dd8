use super::*;
use std::num::NonZeroU32;

fn member(name: &str, per_second: u32) -> Credential {
    Credential {
        name: name.to_owned(),
        schedule: schedule_name(Source::Github, name),
        secret: SecretSource::Token(TokenSource::None),
        user: None,
        gate: RateGate::new(NonZeroU32::new(per_second).unwrap()),
    }
}

#[test]
fn the_default_credential_keeps_the_sources_own_schedule_and_others_get_their_own() {
    assert_eq!(schedule_name(Source::Github, "default"), "github");
    assert_eq!(schedule_name(Source::Github, "ci-bot-1"), "github/ci-bot-1");
    assert_eq!(schedule_name(Source::Jira, "svc"), "jira/svc");
}

#[tokio::test(start_paused = true)]
async fn equal_credentials_take_requests_in_turn() {
    let pool = CredentialPool::new(vec![member("a", 10), member("b", 10), member("c", 10)]);
    let chosen: Vec<usize> = (0..9).map(|_| pool.choose(&[])).collect();
    for i in 0..3 {
        assert_eq!(chosen.iter().filter(|&&c| c == i).count(), 3, "{chosen:?}");
    }
}

#[tokio::test(start_paused = true)]
async fn a_faster_credential_takes_a_larger_share() {
    let pool = CredentialPool::new(vec![member("slow", 2), member("fast", 6)]);
    let chosen: Vec<usize> = (0..40).map(|_| pool.choose(&[])).collect();
    let fast = chosen.iter().filter(|&&c| c == 1).count();
    // Shares follow the rates, 3 : 1, within a request or two.
    assert!((28..=32).contains(&fast), "fast took {fast} of 40");
}

#[tokio::test(start_paused = true)]
async fn a_paused_credential_gets_no_request_while_another_is_free() {
    let pool = CredentialPool::new(vec![member("a", 10), member("b", 10)]);
    pool.get(0).gate.pause_for(Duration::from_secs(30));
    let chosen: Vec<usize> = (0..20).map(|_| pool.choose(&[])).collect();
    assert!(chosen.iter().all(|&c| c == 1), "{chosen:?}");
}

#[tokio::test(start_paused = true)]
async fn a_credential_that_refused_is_skipped_unless_every_one_did() {
    let pool = CredentialPool::new(vec![member("a", 10), member("b", 10)]);
    assert!((0..6).all(|_| pool.choose(&[0]) == 1));
    let both = pool.choose(&[0, 1]);
    assert!(both < 2);
}

#[tokio::test(start_paused = true)]
async fn a_slot_far_ahead_in_the_fleet_schedule_moves_requests_to_the_other_credential() {
    let pool = CredentialPool::new(vec![member("a", 10), member("b", 10)]);
    // Other workers have booked `a` for the next minute.
    pool.slot_taken(0, Duration::from_secs(60));
    let chosen: Vec<usize> = (0..50).map(|_| pool.choose(&[])).collect();
    assert!(chosen.iter().all(|&c| c == 1), "{chosen:?}");
}
