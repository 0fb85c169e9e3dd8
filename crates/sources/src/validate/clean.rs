//! The common case made cheap: a page whose every record is clean, decoded
//! straight from the page's text.
//!
//! Checking a page through a `serde_json::Value` tree allocates every key
//! and string of every record, only to read a few of them and then decode
//! the record again into its model. Here the page is split into its records'
//! raw text, each record's keys are read as borrowed slices (what the
//! schema's checks need), and the record is decoded into its model from its
//! text. Nothing the model does not keep is allocated.
//!
//! Only a page that needs no judgement goes this way: every record an
//! object, with every required field present and not null, that decodes.
//! Anything else (a rejected record, a key with escapes, a body of another
//! shape) answers `None`, and the caller checks the page through the tree,
//! which gives every reason and message. The two ways agree on what they
//! both accept: for a repeated key the last one counts, as in the tree, and
//! a field name is counted as unknown once per record.

use super::{PageQuality, Schema};
use serde::de::{DeserializeOwned, Deserializer, MapAccess, Visitor};
use serde_json::value::RawValue;
use std::collections::BTreeMap;

/// The valid records of `body` and its quality, when every record is clean.
pub(super) fn clean_page<T: DeserializeOwned>(
    schema: &Schema,
    body: &str,
) -> Option<(Vec<T>, PageQuality)> {
    let list: Vec<&RawValue> = match schema.list {
        None => serde_json::from_str(body).ok()?,
        // A dotted name reaches into nested objects (`changelog.histories`).
        Some(path) => serde_json::from_str(Fields::parse(body)?.path(path)?.get()).ok()?,
    };
    let mut quality = PageQuality {
        records: list.len() as u64,
        ..PageQuality::default()
    };
    let mut valid = Vec::with_capacity(list.len());
    for record in list {
        let fields = Fields::of(record)?;
        for required in schema.required {
            let value = fields.path(required.path)?;
            if value.get() == "null" && !required.nullable {
                return None;
            }
        }
        count_unknown(schema, &fields, &mut quality.unknown_fields)?;
        valid.push(serde_json::from_str(record.get()).ok()?);
    }
    Some((valid, quality))
}

fn count_unknown(
    schema: &Schema,
    fields: &Fields<'_>,
    unknown: &mut BTreeMap<String, u64>,
) -> Option<()> {
    for name in fields.distinct_names() {
        if !schema.known.contains(&name) {
            *unknown.entry(name.to_owned()).or_default() += 1;
        }
    }
    if let Some(known) = schema.known_in_fields
        && let Some(inner) = fields.last("fields")
        && inner.get().starts_with('{')
    {
        for name in Fields::of(inner)?.distinct_names() {
            if !known.contains(&name) && !name.starts_with("customfield_") {
                *unknown.entry(name.to_owned()).or_default() += 1;
            }
        }
    }
    Some(())
}

/// An object's members as borrowed slices of the page, in order, repeats
/// kept.
struct Fields<'a>(Vec<(&'a str, &'a RawValue)>);

impl<'a> Fields<'a> {
    /// The members of `value`; `None` when it is not an object or a key
    /// holds an escape (a borrowed slice cannot unescape it).
    fn of(value: &'a RawValue) -> Option<Self> {
        Self::parse(value.get())
    }

    /// The members of the object `text` is.
    fn parse(text: &'a str) -> Option<Self> {
        if !text.trim_start().starts_with('{') {
            return None;
        }
        let mut de = serde_json::Deserializer::from_str(text);
        let fields = (&mut de).deserialize_map(FieldsVisitor).ok()?;
        de.end().ok()?;
        Some(fields)
    }

    /// The value of the last member named `name`, as the tree keeps it.
    fn last(&self, name: &str) -> Option<&'a RawValue> {
        self.0
            .iter()
            .rev()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| *v)
    }

    /// The value at a dotted path; `None` when any step is not there.
    fn path(&self, path: &str) -> Option<&'a RawValue> {
        let mut parts = path.split('.');
        let mut value = self.last(parts.next()?)?;
        for part in parts {
            value = Fields::of(value)?.last(part)?;
        }
        Some(value)
    }

    /// Each member name once.
    fn distinct_names(&self) -> Vec<&'a str> {
        let mut names: Vec<&str> = self.0.iter().map(|(k, _)| *k).collect();
        names.sort_unstable();
        names.dedup();
        names
    }
}

struct FieldsVisitor;

impl<'de> Visitor<'de> for FieldsVisitor {
    type Value = Fields<'de>;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut members = Vec::with_capacity(map.size_hint().unwrap_or(16));
        while let Some(member) = map.next_entry::<&'de str, &'de RawValue>()? {
            members.push(member);
        }
        Ok(Fields(members))
    }
}

#[cfg(test)]
mod tests {
    use super::clean_page;
    use crate::github::PullRequest;
    use crate::page::endpoint;
    use crate::validate::schema;

    const PULL: &str = r#""state":"closed","user":{"login":"alice","type":"User"},
        "created_at":"2026-03-01T09:00:00Z","updated_at":"2026-03-02T10:00:00Z",
        "closed_at":null,"merged_at":null,"merge_commit_sha":null"#;

    fn clean(body: &str) -> Option<usize> {
        let schema = schema(endpoint::PULLS).unwrap();
        clean_page::<PullRequest>(schema, body).map(|(valid, _)| valid.len())
    }

    #[test]
    fn a_page_of_clean_records_is_decoded_from_its_text() {
        let body = format!(r#"[{{"number":1,{PULL}}}, {{"number":2,{PULL},"new":1}}]"#);
        assert_eq!(clean(&body), Some(2));
        assert_eq!(clean("[]"), Some(0));
    }

    #[test]
    fn a_null_with_space_around_it_is_still_a_null() {
        let fields = super::Fields::parse(r#"{ "a" :  null , "b":1}"#).unwrap();
        assert_eq!(fields.last("a").map(|v| v.get()), Some("null"));
    }

    #[test]
    fn a_page_that_needs_judgement_is_left_to_the_tree() {
        for body in [
            format!(r#"[{{"number":null,{PULL}}}]"#),
            format!(r#"[{{{PULL}}}]"#),
            format!(r#"[{{"n\u0075mber":1,{PULL}}}]"#),
            format!(r#"[{{"number":"one",{PULL}}}]"#),
            format!(r#"[1,{{"number":1,{PULL}}}]"#),
            format!(r#"{{"number":1,{PULL}}}"#),
        ] {
            assert_eq!(clean(&body), None, "{body}");
        }
    }
}
