//! RFC 8288 `Link` headers, as GitHub uses them for pagination.
//!
//! The next page is followed opaquely (never rebuilt from `page=`), because
//! GitHub's cursors are not always page numbers. The parser tolerates
//! whitespace, quoted or bare `rel` values, several relations in one value
//! (`rel="next last"`) and commas inside the `<…>` target.

/// One link of a `Link` header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinkValue {
    /// The target inside `<…>`, trimmed, otherwise as sent.
    pub url: String,
    /// Relation types, lower-cased.
    pub rels: Vec<String>,
}

/// All links of a `Link` header value; malformed parts are skipped.
pub fn parse_link_header(value: &str) -> Vec<LinkValue> {
    let mut links = Vec::new();
    let mut rest = value;
    while let Some(open) = rest.find('<') {
        let Some(close) = rest[open..].find('>').map(|i| open + i) else {
            break;
        };
        let url = rest[open + 1..close].trim().to_owned();
        rest = &rest[close + 1..];
        let (params, remaining) = split_params(rest);
        rest = remaining;
        let rels = params
            .iter()
            .filter(|(name, _)| name.eq_ignore_ascii_case("rel"))
            .flat_map(|(_, value)| value.split_whitespace().map(str::to_ascii_lowercase))
            .collect();
        links.push(LinkValue { url, rels });
    }
    links
}

/// The target of `rel="next"`, if any.
pub fn next_link(value: &str) -> Option<String> {
    parse_link_header(value)
        .into_iter()
        .find(|link| link.rels.iter().any(|r| r == "next"))
        .map(|link| link.url)
}

/// Reads `; name=value` parameters up to the comma that ends this link
/// (commas inside quoted values do not end it). Returns the parameters and
/// the text after that comma.
fn split_params(text: &str) -> (Vec<(String, String)>, &str) {
    let mut params = Vec::new();
    let mut current = String::new();
    let mut in_quotes = false;
    let mut end = text.len();
    for (i, c) in text.char_indices() {
        match c {
            '"' => in_quotes = !in_quotes,
            ',' if !in_quotes => {
                end = i + 1;
                break;
            }
            ';' if !in_quotes => {
                push_param(&mut params, &current);
                current.clear();
                continue;
            }
            _ => {}
        }
        current.push(c);
    }
    push_param(&mut params, &current);
    (params, &text[end.min(text.len())..])
}

fn push_param(params: &mut Vec<(String, String)>, raw: &str) {
    let raw = raw.trim().trim_end_matches(',');
    if let Some((name, value)) = raw.split_once('=') {
        let value = value.trim().trim_matches('"');
        params.push((name.trim().to_owned(), value.to_owned()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn next_and_last_are_read_from_githubs_format() {
        let header = r#"<https://api.github.com/repositories/3710711/commits?per_page=25&page=2>; rel="next", <https://api.github.com/repositories/3710711/commits?per_page=25&page=111>; rel="last""#;
        let links = parse_link_header(header);
        assert_eq!(links.len(), 2);
        assert_eq!(links[1].rels, vec!["last"]);
        assert_eq!(
            next_link(header).as_deref(),
            Some("https://api.github.com/repositories/3710711/commits?per_page=25&page=2")
        );
    }

    #[test]
    fn whitespace_bare_rels_several_rels_and_commas_in_urls_are_tolerated() {
        let header = "  < https://h/x?a=1,2 > ;rel=prev ,\n\t<https://h/y?page=3>;  title=\"a, b\" ;REL=\"Next Last\"";
        let links = parse_link_header(header);
        assert_eq!(links.len(), 2, "{links:?}");
        assert_eq!(links[0].url, "https://h/x?a=1,2");
        assert_eq!(links[0].rels, vec!["prev"]);
        assert_eq!(links[1].rels, vec!["next", "last"]);
        assert_eq!(next_link(header).as_deref(), Some("https://h/y?page=3"));
    }

    #[test]
    fn a_header_without_next_has_no_next_link() {
        assert_eq!(next_link(r#"<https://h/1>; rel="first""#), None);
        assert_eq!(next_link(""), None);
        assert_eq!(next_link("garbage"), None);
    }
}
