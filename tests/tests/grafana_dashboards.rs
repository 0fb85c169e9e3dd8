//! The Grafana dashboards under `deploy/grafana/dashboards/` against what
//! dorafleet really exports: every dashboard parses and has a uid, a title and
//! panels laid out on the grid; every panel reads the provisioned Prometheus
//! datasource (`deploy/grafana/provisioning/datasources/`); every PromQL
//! expression is well bracketed, calls known functions, and names only series
//! that `crates/telemetry/src/metrics.rs` registers (with the `_total`,
//! `_bucket`, `_sum` and `_count` suffixes of the text format) and only labels
//! those series carry. The fleet dashboard covers what the fleet must show
//! (tasks and durations by stage, retries by tier, dead letters, queue depth,
//! rate-limit waits, holds, freshness).
//!
//! A static check: no Grafana or Prometheus runs. How the files are wired into
//! compose (mounts, scrape targets) is checked by `scripts/check-deploy.sh`.

use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ sits in the repository")
        .to_path_buf()
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

// --- what the telemetry crate exports ----------------------------------------

/// Series name → the labels its samples carry (before Prometheus adds `job`
/// and `instance`).
type Exported = BTreeMap<String, BTreeSet<String>>;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Counter,
    Gauge,
    Histogram,
}

fn kind_of(type_name: &str, aliases: &BTreeMap<String, Kind>) -> Option<Kind> {
    let base = type_name.split('<').next().unwrap_or("").trim();
    match base {
        "Counter" => Some(Kind::Counter),
        "Gauge" => Some(Kind::Gauge),
        "Histogram" => Some(Kind::Histogram),
        other => aliases.get(other).copied(),
    }
}

/// The body between the braces that follow `header` (no nested braces).
fn braced_after<'a>(source: &'a str, header: &str) -> Option<&'a str> {
    let start = source.find(header)? + header.len();
    let open = start + source[start..].find('{')?;
    let close = open + source[open..].find('}')?;
    Some(&source[open + 1..close])
}

/// `name: Type,` fields of a struct body, types with their generics.
fn struct_fields(body: &str) -> Vec<(String, String)> {
    let mut fields = Vec::new();
    let mut depth = 0;
    let mut current = String::new();
    let mut previous = ' ';
    for c in body.chars() {
        let arrow = previous == '-';
        previous = c;
        match c {
            '<' => depth += 1,
            '>' if !arrow => depth -= 1,
            ',' if depth == 0 => {
                fields.push(std::mem::take(&mut current));
                continue;
            }
            _ => {}
        }
        current.push(c);
    }
    fields.push(current);
    fields
        .iter()
        .filter_map(|f| {
            let f = f
                .lines()
                .filter(|l| !l.trim_start().starts_with("//"))
                .collect::<Vec<_>>()
                .join(" ");
            let (name, ty) = f.split_once(':')?;
            let name = name.trim().trim_start_matches("pub ").trim();
            Some((name.to_owned(), ty.trim().to_owned()))
        })
        .filter(|(n, t)| !n.is_empty() && !t.is_empty())
        .collect()
}

/// The next string literal's contents at or after `from`, and the index after it.
fn string_literal(source: &str, from: usize) -> Option<(String, usize)> {
    let open = from + source[from..].find('"')?;
    let mut out = String::new();
    let mut chars = source[open + 1..].char_indices();
    while let Some((i, c)) = chars.next() {
        match c {
            '\\' => {
                if let Some((_, escaped)) = chars.next() {
                    out.push(escaped);
                }
            }
            '"' => return Some((out, open + 1 + i + 1)),
            _ => out.push(c),
        }
    }
    None
}

/// Every series `crates/telemetry/src/metrics.rs` registers, read from its
/// source: the registry's prefix, the `Metrics` struct's field types (with
/// the file's type aliases and label structs) and the `registry.register(
/// "name", "help", m.field.clone())` calls.
fn exported_from_source(source: &str) -> Exported {
    let prefix = {
        let at = source
            .find("Registry::with_prefix(")
            .expect("metrics.rs: no Registry::with_prefix(\"…\")");
        string_literal(source, at).expect("the prefix literal").0
    };
    let mut aliases = BTreeMap::new();
    for line in source.lines() {
        let line = line.trim();
        if let Some(rest) = line.strip_prefix("type ")
            && let Some((name, ty)) = rest.trim_end_matches(';').split_once('=')
            && let Some(kind) = kind_of(ty.trim(), &BTreeMap::new())
        {
            aliases.insert(name.trim().to_owned(), kind);
        }
    }
    let mut label_structs: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (at, _) in source.match_indices("struct ") {
        let name: String = source[at + 7..]
            .chars()
            .take_while(|c| c.is_alphanumeric() || *c == '_')
            .collect();
        if name.ends_with("Labels") {
            let body = braced_after(&source[at..], &name).expect("a label struct's body");
            let labels = struct_fields(body).into_iter().map(|(n, _)| n).collect();
            label_structs.insert(name, labels);
        }
    }
    let metrics_body =
        braced_after(source, "struct Metrics ").expect("metrics.rs: no `struct Metrics`");
    let mut fields: BTreeMap<String, (Kind, BTreeSet<String>)> = BTreeMap::new();
    for (name, ty) in struct_fields(metrics_body) {
        if let Some(inner) = ty.strip_prefix("Family<") {
            let mut args = inner.trim_end_matches('>').split(',').map(str::trim);
            let labels = args.next().unwrap_or("");
            let value = args.next().unwrap_or("");
            let labels = label_structs
                .get(labels)
                .unwrap_or_else(|| panic!("metrics.rs: field {name}: unknown label set {labels}"))
                .clone();
            let kind = kind_of(value, &aliases)
                .unwrap_or_else(|| panic!("metrics.rs: field {name}: unknown metric type {value}"));
            fields.insert(name, (kind, labels));
        } else if let Some(kind) = kind_of(&ty, &aliases) {
            fields.insert(name, (kind, BTreeSet::new()));
        }
    }

    let mut exported = Exported::new();
    for (at, _) in source.match_indices("registry.register(") {
        let (name, after_name) = string_literal(source, at).expect("a metric name literal");
        let (_, after_help) = string_literal(source, after_name).expect("a help literal");
        let rest = source[after_help..].trim_start_matches([',', ' ', '\n', '\r', '\t']);
        let field: String = rest
            .strip_prefix("m.")
            .unwrap_or_else(|| panic!("metrics.rs: register(\"{name}\"…) does not pass m.FIELD"))
            .chars()
            .take_while(|c| c.is_alphanumeric() || *c == '_')
            .collect();
        let (kind, labels) = fields
            .get(&field)
            .unwrap_or_else(|| {
                panic!("metrics.rs: register(\"{name}\"…) passes unknown field {field}")
            })
            .clone();
        let full = format!("{prefix}_{name}");
        match kind {
            Kind::Counter => {
                exported.insert(format!("{full}_total"), labels);
            }
            Kind::Gauge => {
                exported.insert(full, labels);
            }
            Kind::Histogram => {
                let mut with_le = labels.clone();
                with_le.insert("le".to_owned());
                exported.insert(format!("{full}_bucket"), with_le);
                exported.insert(format!("{full}_sum"), labels.clone());
                exported.insert(format!("{full}_count"), labels);
            }
        }
    }
    exported
}

fn exported() -> Exported {
    let path = repo_root().join("crates/telemetry/src/metrics.rs");
    let exported = exported_from_source(&read(&path));
    assert!(
        exported.len() >= 10 && exported.contains_key("dorafleet_tasks_total"),
        "reading {} found only {:?}: has the way metrics are registered changed?",
        path.display(),
        exported.keys()
    );
    exported
}

/// Series Prometheus makes itself for every target.
const PROMETHEUS_SERIES: [&str; 1] = ["up"];
/// Labels Prometheus adds to every scraped series.
const TARGET_LABELS: [&str; 2] = ["job", "instance"];

// --- PromQL ------------------------------------------------------------------

const FUNCTIONS: [&str; 36] = [
    "sum",
    "min",
    "max",
    "avg",
    "count",
    "stddev",
    "topk",
    "bottomk",
    "quantile",
    "count_values",
    "group",
    "rate",
    "irate",
    "increase",
    "delta",
    "idelta",
    "deriv",
    "resets",
    "changes",
    "histogram_quantile",
    "time",
    "timestamp",
    "abs",
    "ceil",
    "floor",
    "round",
    "clamp",
    "clamp_min",
    "clamp_max",
    "vector",
    "scalar",
    "absent",
    "label_replace",
    "sum_over_time",
    "max_over_time",
    "avg_over_time",
];
const KEYWORDS: [&str; 5] = ["and", "or", "unless", "bool", "offset"];
const GROUPING: [&str; 6] = [
    "by",
    "without",
    "on",
    "ignoring",
    "group_left",
    "group_right",
];
/// Grafana's own variables that may stand for a range.
const GRAFANA_RANGES: [&str; 4] = [
    "$__rate_interval",
    "$__interval",
    "$__range",
    "${__rate_interval}",
];

#[derive(Debug, Clone, PartialEq)]
enum Token {
    Ident(String),
    Number,
    Str,
    Variable(String),
    Punct(char),
    Op,
}

fn tokenize(expr: &str) -> Result<Vec<Token>, String> {
    let chars: Vec<char> = expr.chars().collect();
    let mut tokens = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c.is_whitespace() {
            i += 1;
        } else if c.is_ascii_alphabetic() || c == '_' || c == ':' {
            let start = i;
            while i < chars.len()
                && (chars[i].is_ascii_alphanumeric() || chars[i] == '_' || chars[i] == ':')
            {
                i += 1;
            }
            tokens.push(Token::Ident(chars[start..i].iter().collect()));
        } else if c.is_ascii_digit()
            || (c == '.' && chars.get(i + 1).is_some_and(char::is_ascii_digit))
        {
            // Numbers, and durations such as 5m or 1h30m.
            while i < chars.len() && (chars[i].is_ascii_alphanumeric() || chars[i] == '.') {
                i += 1;
            }
            tokens.push(Token::Number);
        } else if c == '"' || c == '\'' || c == '`' {
            let quote = c;
            i += 1;
            while i < chars.len() && chars[i] != quote {
                i += if chars[i] == '\\' { 2 } else { 1 };
            }
            if i >= chars.len() {
                return Err("a string is not closed".into());
            }
            i += 1;
            tokens.push(Token::Str);
        } else if c == '$' {
            let start = i;
            i += 1;
            if chars.get(i) == Some(&'{') {
                while i < chars.len() && chars[i] != '}' {
                    i += 1;
                }
                i += 1;
            } else {
                while i < chars.len() && (chars[i].is_ascii_alphanumeric() || chars[i] == '_') {
                    i += 1;
                }
            }
            tokens.push(Token::Variable(
                chars[start..i.min(chars.len())].iter().collect(),
            ));
        } else if "(){}[],".contains(c) {
            tokens.push(Token::Punct(c));
            i += 1;
        } else if "=!<>~".contains(c) {
            // Comparisons and label matchers: =, !=, =~, !~, ==, <=, >=.
            while i < chars.len() && "=!<>~".contains(chars[i]) {
                i += 1;
            }
            tokens.push(Token::Op);
        } else if "+-*/%^".contains(c) {
            i += 1;
            tokens.push(Token::Op);
        } else {
            return Err(format!("unexpected character {c:?}"));
        }
    }
    Ok(tokens)
}

/// What one expression reads.
#[derive(Debug, Default)]
struct Reads {
    /// Series named, with the labels their selectors match on.
    series: BTreeMap<String, BTreeSet<String>>,
    /// Labels named in `by (…)`, `without (…)`, `on (…)` and the like.
    grouping: BTreeSet<String>,
}

/// Checks one PromQL expression against the exported series; `variables`
/// are the dashboard's own template variables.
fn check_promql(
    expr: &str,
    exported: &Exported,
    variables: &BTreeSet<String>,
) -> Result<Reads, Vec<String>> {
    let tokens = tokenize(expr).map_err(|e| vec![e])?;
    let mut errors = Vec::new();
    let mut reads = Reads::default();

    let mut stack = Vec::new();
    for t in &tokens {
        if let Token::Punct(c) = t {
            match c {
                '(' | '{' | '[' => stack.push(*c),
                ')' | '}' | ']' => {
                    let open = match c {
                        ')' => '(',
                        '}' => '{',
                        _ => '[',
                    };
                    if stack.pop() != Some(open) {
                        errors.push(format!("unbalanced {c}"));
                    }
                }
                _ => {}
            }
        }
    }
    if !stack.is_empty() {
        errors.push(format!("unclosed {}", stack.iter().collect::<String>()));
    }
    if !errors.is_empty() {
        return Err(errors);
    }

    let known = |name: &str| exported.contains_key(name) || PROMETHEUS_SERIES.contains(&name);
    let mut i = 0;
    while i < tokens.len() {
        match &tokens[i] {
            Token::Ident(word) if GROUPING.contains(&word.as_str()) => {
                i += 1;
                if tokens.get(i) == Some(&Token::Punct('(')) {
                    i += 1;
                    while i < tokens.len() && tokens[i] != Token::Punct(')') {
                        match &tokens[i] {
                            Token::Ident(label) => {
                                reads.grouping.insert(label.clone());
                            }
                            Token::Punct(',') => {}
                            other => errors.push(format!("{word} (…) lists {other:?}")),
                        }
                        i += 1;
                    }
                    i += 1;
                }
            }
            Token::Ident(word) if KEYWORDS.contains(&word.as_str()) => i += 1,
            // An aggregation with its grouping first: `sum by (stage) (…)`.
            Token::Ident(word)
                if FUNCTIONS.contains(&word.as_str())
                    && matches!(tokens.get(i + 1), Some(Token::Ident(g)) if g == "by" || g == "without") =>
            {
                i += 1;
            }
            Token::Ident(word) if tokens.get(i + 1) == Some(&Token::Punct('(')) => {
                if !FUNCTIONS.contains(&word.as_str()) {
                    errors.push(format!("unknown function {word}"));
                }
                i += 1;
            }
            Token::Ident(word) => {
                if !known(word) {
                    errors.push(format!("{word} is not a series dorafleet exports"));
                }
                let matchers = reads.series.entry(word.clone()).or_default();
                i += 1;
                if tokens.get(i) == Some(&Token::Punct('{')) {
                    i += 1;
                    while i < tokens.len() && tokens[i] != Token::Punct('}') {
                        match (&tokens[i], tokens.get(i + 1), tokens.get(i + 2)) {
                            (Token::Ident(label), Some(Token::Op), Some(Token::Str)) => {
                                matchers.insert(label.clone());
                                i += 3;
                            }
                            (Token::Punct(','), _, _) => i += 1,
                            _ => {
                                errors.push(format!("a malformed label matcher in {word}{{…}}"));
                                i += 1;
                            }
                        }
                    }
                    i += 1;
                }
            }
            Token::Punct('{') => {
                errors.push("a selector without a series name".into());
                i += 1;
            }
            Token::Punct('[') => {
                // A range: a duration or one of Grafana's range variables.
                let range = tokens.get(i + 1);
                let ok = match range {
                    Some(Token::Number) => true,
                    Some(Token::Variable(v)) => GRAFANA_RANGES.contains(&v.as_str()),
                    _ => false,
                };
                if !ok || tokens.get(i + 2) != Some(&Token::Punct(']')) {
                    errors.push(format!("range [{range:?}] is not a duration or $__rate_interval, $__interval, $__range"));
                }
                i += 3;
            }
            Token::Variable(v) => {
                let name = v.trim_start_matches('$').trim_matches(['{', '}']);
                if !GRAFANA_RANGES.contains(&v.as_str()) && !variables.contains(name) {
                    errors.push(format!(
                        "variable {v} is neither Grafana's nor the dashboard's"
                    ));
                }
                i += 1;
            }
            _ => i += 1,
        }
    }

    // Labels: a selector matches only labels its series carries; a grouping
    // names only labels some series of the expression carries.
    let mut available: BTreeSet<String> = TARGET_LABELS.iter().map(|l| (*l).to_owned()).collect();
    for (series, matchers) in &reads.series {
        let carries = exported.get(series).cloned().unwrap_or_default();
        available.extend(carries.iter().cloned());
        for label in matchers {
            if !carries.contains(label) && !TARGET_LABELS.contains(&label.as_str()) {
                errors.push(format!(
                    "{series} has no label {label} (it has {carries:?})"
                ));
            }
        }
    }
    for label in &reads.grouping {
        if !available.contains(label) {
            errors.push(format!(
                "grouping by {label}, which no series of the expression carries"
            ));
        }
    }
    if reads.series.is_empty() && !expr.contains("time()") {
        errors.push("reads no series".into());
    }
    if errors.is_empty() {
        Ok(reads)
    } else {
        Err(errors)
    }
}

// --- provisioning ------------------------------------------------------------

/// The uid of the one Prometheus datasource the provisioning files define
/// (their items read line by line: `- name:`, `uid:`, `type:`).
fn provisioned_prometheus_uid() -> String {
    let dir = repo_root().join("deploy/grafana/provisioning/datasources");
    let mut uids = Vec::new();
    for entry in std::fs::read_dir(&dir).expect("deploy/grafana/provisioning/datasources") {
        let path = entry.unwrap().path();
        if path.extension().is_none_or(|e| e != "yaml" && e != "yml") {
            continue;
        }
        let mut items: Vec<BTreeMap<String, String>> = Vec::new();
        for line in read(&path).lines() {
            let trimmed = line.trim();
            if trimmed.starts_with('#') || trimmed.is_empty() {
                continue;
            }
            let (starts_item, rest) = match trimmed.strip_prefix("- ") {
                Some(rest) => (true, rest),
                None => (false, trimmed),
            };
            if starts_item && line.starts_with("  -") {
                items.push(BTreeMap::new());
            }
            if let (Some(item), Some((key, value))) = (items.last_mut(), rest.split_once(':')) {
                let value = value.trim().trim_matches(['"', '\'']);
                item.entry(key.trim().to_owned())
                    .or_insert_with(|| value.to_owned());
            }
        }
        for item in items {
            if item.get("type").map(String::as_str) == Some("prometheus") {
                let uid = item.get("uid").unwrap_or_else(|| {
                    panic!("{}: a Prometheus datasource without uid", path.display())
                });
                uids.push(uid.clone());
            }
        }
    }
    assert_eq!(
        uids.len(),
        1,
        "exactly one Prometheus datasource is provisioned: {uids:?}"
    );
    uids.remove(0)
}

// --- dashboards --------------------------------------------------------------

fn dashboards() -> Vec<(String, Value)> {
    let dir = repo_root().join("deploy/grafana/dashboards");
    let mut out = Vec::new();
    for entry in std::fs::read_dir(&dir).expect("deploy/grafana/dashboards") {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "json") {
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            let value = serde_json::from_str(&read(&path))
                .unwrap_or_else(|e| panic!("deploy/grafana/dashboards/{name} is not JSON: {e}"));
            out.push((name, value));
        }
    }
    out.sort_by(|a, b| a.0.cmp(&b.0));
    assert!(
        !out.is_empty(),
        "no dashboard under deploy/grafana/dashboards"
    );
    out
}

const PANEL_TYPES: [&str; 11] = [
    "row",
    "timeseries",
    "stat",
    "bargauge",
    "gauge",
    "table",
    "text",
    "barchart",
    "heatmap",
    "piechart",
    "state-timeline",
];

/// Every panel, rows' collapsed panels included.
fn all_panels(panels: &[Value]) -> Vec<&Value> {
    let mut out = Vec::new();
    for p in panels {
        out.push(p);
        if let Some(inner) = p["panels"].as_array() {
            out.extend(inner.iter());
        }
    }
    out
}

/// Checks one dashboard; returns its problems and every expression's reads.
fn check_dashboard(
    name: &str,
    dashboard: &Value,
    exported: &Exported,
    datasource_uid: &str,
) -> (Vec<String>, Vec<Reads>) {
    let mut errors = Vec::new();
    let mut reads = Vec::new();
    let mut fail = |m: String| errors.push(format!("{name}: {m}"));

    let uid = dashboard["uid"].as_str().unwrap_or("");
    if uid.is_empty()
        || uid.len() > 40
        || !uid
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    {
        fail(format!(
            "uid {:?} is not 1–40 characters of [A-Za-z0-9_-]",
            dashboard["uid"]
        ));
    }
    if dashboard["title"].as_str().is_none_or(str::is_empty) {
        fail("has no title".into());
    }
    if !dashboard["schemaVersion"].is_u64() {
        fail("has no schemaVersion".into());
    }
    if !dashboard["id"].is_null() {
        fail("has an id: provisioned dashboards are named by uid only".into());
    }
    let variables: BTreeSet<String> = dashboard["templating"]["list"]
        .as_array()
        .map(|l| {
            l.iter()
                .filter_map(|v| v["name"].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default();
    let Some(panels) = dashboard["panels"].as_array().filter(|p| !p.is_empty()) else {
        fail("has no panels".into());
        return (errors, reads);
    };

    let mut ids = BTreeSet::new();
    let mut boxes: Vec<(String, u64, u64, u64, u64)> = Vec::new();
    for panel in all_panels(panels) {
        let title = panel["title"].as_str().unwrap_or("").to_owned();
        let kind = panel["type"].as_str().unwrap_or("");
        let at = format!("panel {title:?}");
        if title.is_empty() {
            fail(format!("a {kind} panel has no title"));
        }
        if !PANEL_TYPES.contains(&kind) {
            fail(format!("{at}: unknown type {kind:?}"));
        }
        match panel["id"].as_u64() {
            Some(id) if ids.insert(id) => {}
            other => fail(format!("{at}: id {other:?} is missing or not unique")),
        }
        let g = &panel["gridPos"];
        match (
            g["x"].as_u64(),
            g["y"].as_u64(),
            g["w"].as_u64(),
            g["h"].as_u64(),
        ) {
            (Some(x), Some(y), Some(w), Some(h)) if w > 0 && h > 0 && x + w <= 24 => {
                for (other, ox, oy, ow, oh) in &boxes {
                    if x < ox + ow && *ox < x + w && y < oy + oh && *oy < y + h {
                        fail(format!("{at} overlaps panel {other:?}"));
                    }
                }
                boxes.push((title.clone(), x, y, w, h));
            }
            _ => fail(format!("{at}: gridPos {g} is not inside the 24 columns")),
        }
        if kind == "row" || kind == "text" {
            continue;
        }
        let expected = serde_json::json!({"type": "prometheus", "uid": datasource_uid});
        if panel["datasource"] != expected {
            fail(format!(
                "{at}: datasource {} is not the provisioned {expected}",
                panel["datasource"]
            ));
        }
        let Some(targets) = panel["targets"].as_array().filter(|t| !t.is_empty()) else {
            fail(format!("{at}: no queries"));
            continue;
        };
        let mut ref_ids = BTreeSet::new();
        for target in targets {
            let ref_id = target["refId"].as_str().unwrap_or("");
            if ref_id.is_empty() || !ref_ids.insert(ref_id.to_owned()) {
                fail(format!("{at}: refId {ref_id:?} is missing or repeated"));
            }
            if !target["datasource"].is_null() && target["datasource"] != expected {
                fail(format!(
                    "{at} {ref_id}: datasource {} is not {expected}",
                    target["datasource"]
                ));
            }
            let Some(expr) = target["expr"].as_str().filter(|e| !e.trim().is_empty()) else {
                fail(format!("{at} {ref_id}: no PromQL expression"));
                continue;
            };
            match check_promql(expr, exported, &variables) {
                Ok(r) => {
                    // Legends name labels the result can carry.
                    let legend = target["legendFormat"].as_str().unwrap_or("");
                    for part in legend.split("{{").skip(1) {
                        let label = part.split("}}").next().unwrap_or("").trim();
                        let carried = r.grouping.contains(label)
                            || (r.grouping.is_empty()
                                && r.series
                                    .keys()
                                    .any(|s| exported.get(s).is_some_and(|l| l.contains(label))));
                        if !carried {
                            fail(format!(
                                "{at} {ref_id}: legend names {{{{{label}}}}}, which `{expr}` does not keep"
                            ));
                        }
                    }
                    reads.push(r);
                }
                Err(problems) => {
                    for p in problems {
                        fail(format!("{at} {ref_id}: `{expr}`: {p}"));
                    }
                }
            }
        }
    }
    (errors, reads)
}

#[test]
fn every_dashboard_reads_only_what_dorafleet_exports_from_the_provisioned_datasource() {
    let exported = exported();
    let uid = provisioned_prometheus_uid();
    let mut errors = Vec::new();
    let mut uids = BTreeSet::new();
    let mut titles = BTreeSet::new();
    for (name, dashboard) in dashboards() {
        if !uids.insert(dashboard["uid"].to_string()) {
            errors.push(format!("{name}: uid {} is used twice", dashboard["uid"]));
        }
        if !titles.insert(dashboard["title"].to_string()) {
            errors.push(format!(
                "{name}: title {} is used twice",
                dashboard["title"]
            ));
        }
        errors.extend(check_dashboard(&name, &dashboard, &exported, &uid).0);
    }
    assert!(
        errors.is_empty(),
        "dashboard problems:\n  {}",
        errors.join("\n  ")
    );
}

#[test]
fn the_fleet_dashboard_shows_what_the_fleet_must_show() {
    let exported = exported();
    let uid = provisioned_prometheus_uid();
    let (name, fleet) = dashboards()
        .into_iter()
        .find(|(_, d)| d["uid"] == "dorafleet-fleet")
        .expect("a dashboard with uid dorafleet-fleet");
    let (errors, reads) = check_dashboard(&name, &fleet, &exported, &uid);
    assert!(errors.is_empty(), "{errors:#?}");
    // (series, a label some query of it groups by); "" for no grouping.
    let wanted = [
        ("dorafleet_tasks_total", "stage"),
        ("dorafleet_task_duration_seconds_bucket", "stage"),
        ("dorafleet_retries_total", "tier"),
        ("dorafleet_dead_letters_total", "source"),
        ("dorafleet_queue_depth", "queue"),
        ("dorafleet_rate_limit_wait_seconds_total", "source"),
        ("dorafleet_holds_total", "sensor"),
        ("dorafleet_held_runs", ""),
        (
            "dorafleet_source_last_extracted_timestamp_seconds",
            "source",
        ),
    ];
    for (series, label) in wanted {
        assert!(
            exported.contains_key(series),
            "{series} is no longer exported: update the fleet dashboard and this list"
        );
        let shown = reads.iter().any(|r| {
            r.series.contains_key(series) && (label.is_empty() || r.grouping.contains(label))
        });
        assert!(shown, "{name}: no panel shows {series} by {label:?}");
    }
}

// --- the check itself refuses broken dashboards ------------------------------

fn sample_exported() -> Exported {
    exported_from_source(
        r#"
        struct TaskLabels { stage: String, outcome: String }
        struct StageLabels { stage: String }
        type Seconds = Counter<f64, AtomicU64>;
        struct Metrics {
            registry: Registry,
            tasks: Family<TaskLabels, Counter>,
            task_seconds: Family<StageLabels, Histogram, fn() -> Histogram>,
            wait: Seconds,
            held: Gauge,
        }
        let mut registry = Registry::with_prefix("dorafleet");
        registry.register("tasks", "Task attempts, by stage (done, \"dead\")", m.tasks.clone());
        registry.register(
            "task_duration_seconds",
            "Time, by stage",
            m.task_seconds.clone(),
        );
        registry.register("wait_seconds", "Waited", m.wait.clone());
        registry.register("held_runs", "Held", m.held.clone());
        "#,
    )
}

#[test]
fn the_source_reading_finds_names_suffixes_and_labels() {
    let e = sample_exported();
    let names: Vec<&str> = e.keys().map(String::as_str).collect();
    assert_eq!(
        names,
        [
            "dorafleet_held_runs",
            "dorafleet_task_duration_seconds_bucket",
            "dorafleet_task_duration_seconds_count",
            "dorafleet_task_duration_seconds_sum",
            "dorafleet_tasks_total",
            "dorafleet_wait_seconds_total",
        ]
    );
    assert!(e["dorafleet_task_duration_seconds_bucket"].contains("le"));
    assert!(e["dorafleet_tasks_total"].contains("outcome"));
}

#[test]
fn the_promql_check_refuses_what_prometheus_would_answer_with_nothing() {
    let e = sample_exported();
    let none = BTreeSet::new();
    let ok = |expr: &str| {
        check_promql(expr, &e, &none)
            .map(|_| ())
            .map_err(|p| p.join("; "))
    };
    ok(r#"sum by (stage, outcome) (rate(dorafleet_tasks_total{outcome="done"}[$__rate_interval]))"#).unwrap();
    ok("histogram_quantile(0.95, sum by (stage, le) (rate(dorafleet_task_duration_seconds_bucket[5m])))")
        .unwrap();
    ok(r#"time() - max(dorafleet_held_runs) / sum(up{job="worker"})"#).unwrap();

    let refused = [
        ("sum(rate(dorafleet_task_total[5m]))", "not a series"),
        ("sum(rate(dorafleet_tasks[5m]))", "not a series"),
        (
            "sum by (source) (rate(dorafleet_tasks_total[5m]))",
            "grouping by source",
        ),
        (r#"dorafleet_tasks_total{sensor="x"}"#, "no label sensor"),
        ("sum(rate(dorafleet_tasks_total[5m])", "unclosed"),
        ("sum(rate(dorafleet_tasks_total[$interval]))", "range"),
        ("summ(dorafleet_held_runs)", "unknown function"),
        (
            r#"{__name__="dorafleet_held_runs"}"#,
            "without a series name",
        ),
    ];
    for (expr, why) in refused {
        let problems = ok(expr).expect_err(expr);
        assert!(problems.contains(why), "{expr}: {problems}");
    }
}

#[test]
fn the_dashboard_check_refuses_a_foreign_datasource_an_overlap_and_a_bad_legend() {
    let e = sample_exported();
    let panel = |id: u64, x: u64, uid: &str, legend: &str| {
        serde_json::json!({
            "id": id, "type": "timeseries", "title": format!("p{id}"),
            "gridPos": {"x": x, "y": 0, "w": 12, "h": 8},
            "datasource": {"type": "prometheus", "uid": uid},
            "targets": [{"refId": "A", "expr": "sum by (stage) (rate(dorafleet_tasks_total[5m]))",
                         "legendFormat": legend}],
        })
    };
    let board = |panels: Vec<Value>| serde_json::json!({"uid": "t", "title": "t", "schemaVersion": 39, "panels": panels});
    let good = board(vec![panel(1, 0, "ds", "{{stage}}"), panel(2, 12, "ds", "")]);
    assert_eq!(
        check_dashboard("good", &good, &e, "ds").0,
        Vec::<String>::new()
    );

    for (broken, why) in [
        (
            board(vec![panel(1, 0, "other", "")]),
            "is not the provisioned",
        ),
        (
            board(vec![panel(1, 0, "ds", ""), panel(2, 6, "ds", "")]),
            "overlaps",
        ),
        (
            board(vec![panel(1, 0, "ds", "{{outcome}}")]),
            "legend names {{outcome}}",
        ),
        (
            board(vec![panel(1, 0, "ds", ""), panel(1, 12, "ds", "")]),
            "not unique",
        ),
        (board(vec![]), "no panels"),
    ] {
        let errors = check_dashboard("broken", &broken, &e, "ds").0.join("\n");
        assert!(errors.contains(why), "expected {why:?} in:\n{errors}");
    }
}
