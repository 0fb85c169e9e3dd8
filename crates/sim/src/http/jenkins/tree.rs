//! Jenkins' `tree` parameter: the expression parsed, and a job's JSON cut
//! down to the fields and `{M,N}` ranges it names, as Jenkins does. Apart
//! from the routes, which only decide which job is asked for.

use super::*;

/// One element of a `tree` expression: `name[children]{range}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct TreeNode {
    pub name: String,
    pub children: Vec<TreeNode>,
    pub range: Option<(Option<usize>, Option<usize>)>,
}

pub(crate) fn parse_tree(text: &str) -> Result<Vec<TreeNode>, String> {
    let chars: Vec<char> = text.chars().collect();
    let mut at = 0;
    let nodes = parse_nodes(&chars, &mut at)?;
    if at != chars.len() {
        return Err(format!(
            "Malformed tree expression `{text}` at character {}",
            at + 1
        ));
    }
    Ok(nodes)
}

pub(super) fn parse_nodes(chars: &[char], at: &mut usize) -> Result<Vec<TreeNode>, String> {
    let mut nodes = Vec::new();
    loop {
        let start = *at;
        while *at < chars.len() && !"[]{},".contains(chars[*at]) {
            *at += 1;
        }
        let name: String = chars[start..*at]
            .iter()
            .collect::<String>()
            .trim()
            .to_owned();
        if name.is_empty() {
            return Err(format!(
                "Malformed tree expression: missing field name at character {}",
                start + 1
            ));
        }
        let mut node = TreeNode {
            name,
            children: Vec::new(),
            range: None,
        };
        if chars.get(*at) == Some(&'[') {
            *at += 1;
            node.children = parse_nodes(chars, at)?;
            if chars.get(*at) != Some(&']') {
                return Err(format!(
                    "Malformed tree expression: expected `]` at character {}",
                    *at + 1
                ));
            }
            *at += 1;
        }
        if chars.get(*at) == Some(&'{') {
            let close = chars[*at..]
                .iter()
                .position(|c| *c == '}')
                .ok_or("Malformed tree expression: unclosed `{`")?;
            let inner: String = chars[*at + 1..*at + close].iter().collect();
            node.range = Some(parse_range(&inner)?);
            *at += close + 1;
        }
        nodes.push(node);
        if chars.get(*at) == Some(&',') {
            *at += 1;
        } else {
            return Ok(nodes);
        }
    }
}

/// `{M,N}`, `{M,}`, `{,N}` or `{N}` (just element N).
pub(super) fn parse_range(inner: &str) -> Result<(Option<usize>, Option<usize>), String> {
    let bound = |s: &str| -> Result<Option<usize>, String> {
        let s = s.trim();
        if s.is_empty() {
            Ok(None)
        } else {
            s.parse()
                .map(Some)
                .map_err(|_| format!("Malformed range `{{{inner}}}`: `{s}` is not a number"))
        }
    };
    match inner.split_once(',') {
        Some((from, to)) => Ok((bound(from)?, bound(to)?)),
        None => {
            let n = bound(inner)?.ok_or_else(|| format!("Malformed range `{{{inner}}}`"))?;
            Ok((Some(n), Some(n + 1)))
        }
    }
}

/// Applies the tree to the full job JSON. Returns the body and the number of
/// builds in it. Truncation drops the second half of the selected builds.
pub(super) fn select(full: &Value, nodes: &[TreeNode], shaping: &Shaping) -> (Value, u64) {
    let mut out = serde_json::Map::new();
    out.insert("_class".into(), full["_class"].clone());
    let mut records = 0;
    for node in nodes {
        let Some(value) = full.get(&node.name) else {
            continue;
        };
        let is_build_list = node.name == "allBuilds" || node.name == "builds";
        let selected = match value {
            Value::Array(items) => {
                let mut items = ranged(items, node.range);
                if node.name == "jobs" {
                    records += items.len() as u64;
                }
                if is_build_list {
                    if shaping.truncate && items.len() >= 2 {
                        items.truncate(items.len() / 2);
                    }
                    records += items.len() as u64;
                }
                let items = items.into_iter().map(|item| {
                    let filtered = filter(&item, &node.children);
                    if is_build_list {
                        shaping.reshape(filtered)
                    } else {
                        filtered
                    }
                });
                Value::Array(items.collect())
            }
            other => filter(other, &node.children),
        };
        out.insert(node.name.clone(), selected);
    }
    (Value::Object(out), records)
}

pub(super) fn ranged(items: &[Value], range: Option<(Option<usize>, Option<usize>)>) -> Vec<Value> {
    let (from, to) = range.unwrap_or((None, None));
    let from = from.unwrap_or(0).min(items.len());
    let to = to.unwrap_or(items.len()).clamp(from, items.len());
    items[from..to].to_vec()
}

/// Keeps only the named children (and `_class`), recursively; no children = everything.
pub(super) fn filter(value: &Value, children: &[TreeNode]) -> Value {
    if children.is_empty() {
        return value.clone();
    }
    match value {
        Value::Object(object) => {
            let mut out = serde_json::Map::new();
            if let Some(class) = object.get("_class") {
                out.insert("_class".into(), class.clone());
            }
            for child in children {
                if let Some(v) = object.get(&child.name) {
                    let v = match v {
                        Value::Array(items) => Value::Array(
                            ranged(items, child.range)
                                .iter()
                                .map(|i| filter(i, &child.children))
                                .collect(),
                        ),
                        other => filter(other, &child.children),
                    };
                    out.insert(child.name.clone(), v);
                }
            }
            Value::Object(out)
        }
        Value::Array(items) => Value::Array(items.iter().map(|i| filter(i, children)).collect()),
        other => other.clone(),
    }
}

/// The job without `tree`: like Jenkins at depth 0, builds as `{number, url}`.
pub(super) fn default_view(mut full: Value, shaping: &Shaping) -> (Value, u64) {
    let mut builds: Vec<Value> = full["allBuilds"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .into_iter()
        .take(BUILDS_CAP)
        .map(|b| json!({"_class": b["_class"], "number": b["number"], "url": b["url"]}))
        .collect();
    if shaping.truncate && builds.len() >= 2 {
        builds.truncate(builds.len() / 2);
    }
    let count = builds.len() as u64;
    let object = full.as_object_mut().expect("job JSON is an object");
    object.remove("allBuilds");
    object.insert(
        "builds".into(),
        Value::Array(builds.into_iter().map(|b| shaping.reshape(b)).collect()),
    );
    (full, count)
}
