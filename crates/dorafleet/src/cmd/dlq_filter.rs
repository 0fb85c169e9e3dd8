//! Selecting dead letters from the command line: ids, `--filter KEY=VALUE`
//! pairs, and the `list` flags, all turned into one `LetterFilter`.

use chrono::{DateTime, NaiveDate, NaiveTime, Utc};
use dorafleet_core::{ErrorClass, Source, Stage};
use dorafleet_operations::{LetterFilter, LetterStatus};
use uuid::Uuid;

pub const FILTER_KEYS: &str = "stage, source, team, error_class, status, since, until, run";

/// A point in time: `YYYY-MM-DD` (midnight UTC) or RFC 3339.
pub fn parse_time(text: &str) -> Result<DateTime<Utc>, String> {
    if let Ok(day) = text.parse::<NaiveDate>() {
        return Ok(day.and_time(NaiveTime::MIN).and_utc());
    }
    DateTime::parse_from_rfc3339(text)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|_| format!("`{text}` is not a date (YYYY-MM-DD) or an RFC 3339 time"))
}

pub fn parse_error_class(text: &str) -> Result<ErrorClass, String> {
    match text.trim().to_lowercase().replace('-', "_").as_str() {
        "transient" => Ok(ErrorClass::Transient),
        "rate_limited" => Ok(ErrorClass::RateLimited),
        "permanent" => Ok(ErrorClass::Permanent),
        other => Err(format!(
            "unknown error class `{other}`; expected transient, rate_limited or permanent"
        )),
    }
}

pub fn parse_id(text: &str) -> Result<Uuid, String> {
    Uuid::parse_str(text.trim()).map_err(|_| format!("`{text}` is not a dead-letter id (a UUID)"))
}

/// Apply one `KEY=VALUE` to `filter`.
pub fn apply(filter: &mut LetterFilter, pair: &str) -> Result<(), String> {
    let (key, value) = pair
        .split_once('=')
        .ok_or_else(|| format!("filter `{pair}` is not KEY=VALUE (keys: {FILTER_KEYS})"))?;
    let value = value.trim();
    if value.is_empty() {
        return Err(format!("filter `{pair}` has an empty value"));
    }
    match key.trim().replace('-', "_").as_str() {
        "stage" => filter.stage = Some(value.parse::<Stage>().map_err(|e| e.to_string())?),
        "source" => filter.source = Some(value.parse::<Source>().map_err(|e| e.to_string())?),
        "team" => filter.team = Some(value.to_owned()),
        "error_class" => filter.error_class = Some(parse_error_class(value)?),
        "status" => filter.status = Some(value.parse::<LetterStatus>()?),
        "since" => filter.since = Some(parse_time(value)?),
        "until" => filter.until = Some(parse_time(value)?),
        "run" => filter.run_id = Some(parse_id(value)?),
        other => {
            return Err(format!(
                "unknown filter key `{other}`; expected one of: {FILTER_KEYS}"
            ));
        }
    }
    Ok(())
}

/// The filter of a bulk action: ids and/or `--filter` pairs; refuses to be empty.
pub fn for_action(ids: &[String], pairs: &[String], verb: &str) -> Result<LetterFilter, String> {
    let mut filter = LetterFilter::default();
    for id in ids {
        filter.ids.push(parse_id(id)?);
    }
    for pair in pairs {
        apply(&mut filter, pair)?;
    }
    if filter.is_empty() {
        return Err(format!(
            "nothing selected: give dead-letter ids or --filter KEY=VALUE (keys: {FILTER_KEYS}); refusing to {verb} every letter"
        ));
    }
    Ok(filter)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filters_parse_and_bad_ones_say_what_is_wrong() {
        let f = for_action(
            &[],
            &["source=jira".into(), "error-class=transient".into()],
            "replay",
        )
        .unwrap();
        assert_eq!(
            (f.source, f.error_class),
            (Some(Source::Jira), Some(ErrorClass::Transient))
        );
        assert!(
            for_action(&[], &[], "replay")
                .unwrap_err()
                .contains("refusing to replay")
        );
        assert!(
            for_action(&[], &["colour=red".into()], "replay")
                .unwrap_err()
                .contains("unknown filter key `colour`")
        );
        assert!(
            for_action(&[], &["source".into()], "replay")
                .unwrap_err()
                .contains("KEY=VALUE")
        );
        assert!(
            for_action(&[], &["source=gitlab".into()], "replay")
                .unwrap_err()
                .contains("gitlab")
        );
        assert!(
            for_action(&["nope".into()], &[], "replay")
                .unwrap_err()
                .contains("not a dead-letter id")
        );
        assert!(
            for_action(&[], &["since=yesterday".into()], "x")
                .unwrap_err()
                .contains("not a date")
        );
    }
}
