//! The fault spec-string grammar used by `dorafleet sim --fault` and the admin API.

use super::{FaultKind, FaultRule, Trigger};
use crate::endpoint::Endpoint;
use dorafleet_core::Source;
use std::str::FromStr;

/// A fault spec that does not parse; the message names the bad part.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid fault spec `{spec}`: {problem}")]
pub struct FaultSpecError {
    /// The spec string as given.
    pub spec: String,
    /// What is wrong with it.
    pub problem: String,
}

/// Parses `SOURCE[/ENDPOINT][~SCOPE]:KIND[=PARAM][@RATE|#COUNT]`.
///
/// - `SOURCE`: `github`, `jira` or `jenkins`.
/// - `ENDPOINT` (optional, default: every data endpoint of the source): an
///   [`Endpoint`] name such as `pulls`, `pull_commits`, `deployments`, `repo_commits`,
///   `deployment_statuses`, `jira_search`, `jira_approximate_count`,
///   `jira_changelog`, `jenkins_builds`, or a short alias (`commits`,
///   `history`, `statuses`, `search`, `count`, `changelog`, `builds`).
/// - `SCOPE` (optional, default: every scope): one repo (`owner/repo`), Jira
///   project key or Jenkins job; the fault hits only requests about it.
/// - `KIND`:
///   - `429[=SECS]` or `rate_limit[=SECS]`: 429 with `Retry-After: SECS` (default 1);
///   - `secondary[=SECS]` (GitHub only): 403 with GitHub's "You have exceeded
///     a secondary rate limit" message and `Retry-After: SECS`, or no
///     `Retry-After` at all without `=SECS` (a client then waits a minute);
///   - any 5xx number, e.g. `503`: that status; a 4xx number, e.g. `404`,
///     likewise (an endpoint this server does not offer);
///   - `latency=MS`: wait MS milliseconds, then answer normally;
///   - `truncate`: the next-page pointer silently skips a page;
///   - `drift=FROM->TO[*SHARE]`: rename the JSON field FROM to TO (at the top
///     level of a record, and inside a Jira issue's `fields`) in every record,
///     or with `*SHARE` (0.0–1.0) in that share of the records. Which records
///     is deterministic: each record is numbered by its own number (a Jira
///     key's number, a PR's or build's `number`, else a numeric `id`; commits
///     by a hash of their `sha`), and record `n` is hit when
///     ⌊n·SHARE⌋ > ⌊(n−1)·SHARE⌋ (see [`drift_selects`](super::drift_selects)):
///     of the issues `PAY-1`…`PAY-N`, exactly ⌊N·SHARE⌋ drift, the same ones on
///     every request.
/// - Trigger (optional, default `@1.0`): `@RATE` fires on that share of
///   matching requests (0.0–1.0), `#COUNT` on the next COUNT matching requests.
///
/// Examples: `github/pulls:429=2@0.05`, `jira:503#3`, `jenkins:latency=200@0.1`,
/// `github/pulls:truncate#1`, `jira/jira_search:drift=created->createdDate@1`,
/// `jira:drift=created->createdDate*0.1@1` (10 % of every Jira response's issues).
impl FromStr for FaultRule {
    type Err = FaultSpecError;

    fn from_str(spec: &str) -> Result<Self, Self::Err> {
        let fail = |problem: String| FaultSpecError {
            spec: spec.to_owned(),
            problem,
        };
        let spec_trimmed = spec.trim();
        let (target, rest) = spec_trimmed
            .split_once(':')
            .ok_or_else(|| fail("expected SOURCE[/ENDPOINT]:KIND, found no `:`".into()))?;
        let (target, scope) = match target.split_once('~') {
            Some((t, scope)) if !scope.is_empty() => (t, Some(scope.to_owned())),
            Some(_) => return Err(fail("empty scope after `~`".into())),
            None => (target, None),
        };
        let (source_text, endpoint_text) = match target.split_once('/') {
            Some((s, e)) => (s, Some(e)),
            None => (target, None),
        };
        let source: Source = source_text
            .parse()
            .map_err(|e| fail(format!("source: {e}")))?;
        let endpoint = endpoint_text
            .map(|text| {
                let endpoint: Endpoint =
                    text.parse().map_err(|e| fail(format!("endpoint: {e}")))?;
                if endpoint.source() != source {
                    return Err(fail(format!(
                        "endpoint `{endpoint}` belongs to {}, not {source}",
                        endpoint.source()
                    )));
                }
                Ok(endpoint)
            })
            .transpose()?;
        let (kind_text, trigger) = split_trigger(rest).map_err(fail)?;
        let kind = parse_kind(kind_text).map_err(fail)?;
        if matches!(kind, FaultKind::SecondaryRateLimit { .. }) && source != Source::Github {
            return Err(fail(format!(
                "secondary rate limits are GitHub's, not {source}'s"
            )));
        }
        Ok(FaultRule {
            source,
            endpoint,
            scope,
            kind,
            trigger,
        })
    }
}

fn split_trigger(rest: &str) -> Result<(&str, Trigger), String> {
    if let Some((kind, rate)) = rest.rsplit_once('@') {
        let p: f64 = rate
            .trim()
            .parse()
            .map_err(|_| format!("rate `@{rate}` is not a number"))?;
        if !(0.0..=1.0).contains(&p) {
            return Err(format!("rate `@{rate}` must be between 0.0 and 1.0"));
        }
        return Ok((kind, Trigger::Rate(p)));
    }
    if let Some((kind, count)) = rest.rsplit_once('#') {
        let n: u32 = count
            .trim()
            .parse()
            .map_err(|_| format!("count `#{count}` is not a whole number"))?;
        return Ok((kind, Trigger::Count(n)));
    }
    Ok((rest, Trigger::always()))
}

fn parse_kind(text: &str) -> Result<FaultKind, String> {
    let (name, param) = match text.split_once('=') {
        Some((n, p)) => (n.trim(), Some(p.trim())),
        None => (text.trim(), None),
    };
    let number = |what: &str| -> Result<u64, String> {
        let p = param.ok_or_else(|| format!("`{name}` needs a parameter: {name}={what}"))?;
        p.parse()
            .map_err(|_| format!("`{name}={p}`: {what} must be a whole number"))
    };
    let no_param = |kind: FaultKind| match param {
        Some(p) => Err(format!("`{name}` takes no parameter, found `={p}`")),
        None => Ok(kind),
    };
    match name.to_ascii_lowercase().as_str() {
        "429" | "rate_limit" | "ratelimit" => Ok(FaultKind::RateLimit {
            retry_after_secs: if param.is_some() {
                number("SECONDS")?
            } else {
                1
            },
        }),
        "secondary" | "secondary_rate_limit" => Ok(FaultKind::SecondaryRateLimit {
            retry_after_secs: param.map(|_| number("SECONDS")).transpose()?,
        }),
        "latency" | "delay" => Ok(FaultKind::Latency {
            ms: number("MILLISECONDS")?,
        }),
        "truncate" | "truncated" | "truncated_pagination" => {
            no_param(FaultKind::TruncatedPagination)
        }
        "drift" | "schema_drift" => {
            let p = param.ok_or("`drift` needs a parameter: drift=FROM->TO[*SHARE]")?;
            let (fields, share) = match p.rsplit_once('*') {
                Some((fields, share_text)) => {
                    let share: f64 = share_text.trim().parse().map_err(|_| {
                        format!("`drift={p}`: share `*{share_text}` is not a number")
                    })?;
                    if !(0.0..=1.0).contains(&share) {
                        return Err(format!(
                            "`drift={p}`: share `*{share_text}` must be between 0.0 and 1.0"
                        ));
                    }
                    (fields, share)
                }
                None => (p, 1.0),
            };
            let (from, to) = fields
                .split_once("->")
                .ok_or_else(|| format!("`drift={p}`: expected FROM->TO"))?;
            if from.trim().is_empty() || to.trim().is_empty() {
                return Err(format!("`drift={p}`: FROM and TO must not be empty"));
            }
            Ok(FaultKind::SchemaDrift {
                from: from.trim().into(),
                to: to.trim().into(),
                share,
            })
        }
        other => match other.parse::<u16>() {
            Ok(status) if (400..600).contains(&status) => {
                no_param(FaultKind::ErrorStatus { status })
            }
            _ => Err(format!(
                "unknown fault kind `{name}`; expected 429, secondary, a 4xx or 5xx status, latency=MS, truncate or drift=FROM->TO"
            )),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &str) -> FaultRule {
        s.parse().unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn the_documented_examples_parse_to_the_intended_rules() {
        assert_eq!(
            parse("github/pulls:429=2@0.05"),
            FaultRule {
                source: Source::Github,
                endpoint: Some(Endpoint::Pulls),
                scope: None,
                kind: FaultKind::RateLimit {
                    retry_after_secs: 2
                },
                trigger: Trigger::Rate(0.05),
            }
        );
        let r = parse("jira:503#3");
        assert_eq!(
            (r.endpoint, r.kind, r.trigger),
            (
                None,
                FaultKind::ErrorStatus { status: 503 },
                Trigger::Count(3)
            )
        );
        assert_eq!(
            parse("jenkins:latency=200@0.1").kind,
            FaultKind::Latency { ms: 200 }
        );
        assert_eq!(
            parse("github/pulls:truncate#1").kind,
            FaultKind::TruncatedPagination
        );
        assert_eq!(
            parse("jira/jira_search:drift=created->createdDate@1").kind,
            FaultKind::SchemaDrift {
                from: "created".into(),
                to: "createdDate".into(),
                share: 1.0,
            }
        );
        assert_eq!(
            parse("jira:drift=created->createdDate*0.1@1").kind,
            FaultKind::SchemaDrift {
                from: "created".into(),
                to: "createdDate".into(),
                share: 0.1,
            }
        );
        assert_eq!(parse("jenkins:500").trigger, Trigger::Rate(1.0));
    }

    #[test]
    fn a_rule_printed_as_a_spec_parses_back_to_itself() {
        for spec in [
            "github/pulls:429=2@0.05",
            "jira:503#3",
            "jira/jira_search:drift=a->b@1",
            "jira:drift=created->createdDate*0.03@1",
            "github/pulls:drift=updated_at->updatedAt*0.5#2",
            "jenkins:truncate#2",
        ] {
            let rule = parse(spec);
            assert_eq!(parse(&rule.to_string()), rule, "{spec}");
        }
    }

    #[test]
    fn bad_specs_are_rejected_naming_the_bad_part() {
        let cases = [
            ("gitlab:503", "gitlab"),
            ("github/issues:503", "issues"),
            ("github/jira_search:503", "belongs to jira"),
            ("github:302", "302"),
            ("github:600", "600"),
            ("github:latency", "latency=MILLISECONDS"),
            ("github:latency=fast", "latency=fast"),
            ("jira:503@2", "between 0.0 and 1.0"),
            ("jira:503#x", "#x"),
            ("jira:drift=created", "FROM->TO"),
            ("jira:drift=a->b*x", "`*x` is not a number"),
            ("jira:drift=a->b*1.5", "between 0.0 and 1.0"),
            ("jira:drift=a->*0.5", "must not be empty"),
            ("jira", "no `:`"),
            ("jira:truncate=3", "takes no parameter"),
        ];
        for (spec, needle) in cases {
            let err = spec.parse::<FaultRule>().expect_err(spec).to_string();
            assert!(err.contains(needle), "{spec}: {err}");
        }
    }

    #[test]
    fn rules_round_trip_through_their_flat_json_form() {
        let rule = parse("github/pulls:429=2@0.05");
        let json = serde_json::to_value(&rule).unwrap();
        assert_eq!(json["kind"], "rate_limit");
        assert_eq!(json["retry_after_secs"], 2);
        assert_eq!(json["trigger"]["rate"], 0.05);
        assert_eq!(serde_json::from_value::<FaultRule>(json).unwrap(), rule);
        let drift = parse("jira:drift=created->createdDate*0.1@1");
        let json = serde_json::to_value(&drift).unwrap();
        assert_eq!(json["kind"], "schema_drift");
        assert_eq!(json["share"], 0.1);
        assert_eq!(serde_json::from_value::<FaultRule>(json).unwrap(), drift);
        let whole = serde_json::to_value(parse("jira:drift=a->b")).unwrap();
        assert!(whole.get("share").is_none(), "{whole}");
        let old: FaultRule =
            serde_json::from_str(r#"{"source":"jira","kind":"schema_drift","from":"a","to":"b"}"#)
                .unwrap();
        assert_eq!(old, parse("jira:drift=a->b"));
        let minimal: FaultRule =
            serde_json::from_str(r#"{"source":"jira","kind":"truncated_pagination"}"#).unwrap();
        assert_eq!(minimal.trigger, Trigger::Rate(1.0));
    }
}

#[cfg(test)]
mod secondary_tests {
    use super::*;

    #[test]
    fn secondary_rate_limits_parse_print_and_serialize_with_or_without_retry_after() {
        let with: FaultRule = "github/pulls:secondary=2@0.05".parse().unwrap();
        assert_eq!(
            with.kind,
            FaultKind::SecondaryRateLimit {
                retry_after_secs: Some(2)
            }
        );
        let without: FaultRule = "github:secondary#3".parse().unwrap();
        assert_eq!(
            without.kind,
            FaultKind::SecondaryRateLimit {
                retry_after_secs: None
            }
        );
        for rule in [with, without] {
            assert_eq!(rule.to_string().parse::<FaultRule>().unwrap(), rule);
            let json = serde_json::to_value(&rule).unwrap();
            assert_eq!(json["kind"], "secondary_rate_limit");
            assert_eq!(serde_json::from_value::<FaultRule>(json).unwrap(), rule);
        }
        let err = "jira:secondary=1".parse::<FaultRule>().unwrap_err();
        assert!(err.to_string().contains("GitHub"), "{err}");
    }
}
