use super::*;

fn utc(text: &str) -> DateTime<Utc> {
    text.parse().unwrap()
}

#[test]
fn the_window_end_is_rounded_up_to_the_next_minute() {
    let window = Window {
        from: utc("2024-03-01T10:15:42Z"),
        to: utc("2024-03-02T00:00:00.001Z"),
    };
    assert_eq!(
        window_jql("OPS", &window),
        "project = \"OPS\" AND updated >= \"2024-03-01 10:15\" AND updated < \"2024-03-02 00:01\" ORDER BY updated ASC"
    );
    let whole_minutes = Window {
        from: utc("2024-03-01T00:00:00Z"),
        to: utc("2024-03-02T00:00:00Z"),
    };
    assert!(window_jql("OPS", &whole_minutes).contains("updated < \"2024-03-02 00:00\""));
}

#[test]
fn quotes_in_a_project_key_cannot_break_out_of_the_jql_string() {
    let window = Window {
        from: utc("2024-03-01T00:00:00Z"),
        to: utc("2024-03-02T00:00:00Z"),
    };
    assert!(
        window_jql("A\" OR project = \"B", &window)
            .starts_with("project = \"A\\\" OR project = \\\"B\"")
    );
}
