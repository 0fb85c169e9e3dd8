//! Building and resolving request URLs.
//!
//! Requests carry URLs relative to the source base URL (so a checkpoint stays
//! valid if the base URL moves behind a proxy) or absolute ones taken from
//! `Link` headers. An absolute URL is only followed to the base URL's own
//! origin: the token goes with every request, and a forged or misconfigured
//! `Link` must not carry it to another host.

use reqwest::Url;

/// Why a request URL cannot be sent.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UrlError {
    /// The URL (absolute, or the base URL joined with a relative one) does
    /// not parse.
    #[error("`{url}` is not a valid URL: {reason}")]
    Invalid {
        /// The request URL, as carried by the request.
        url: String,
        /// The parser's error.
        reason: String,
    },
    /// An absolute URL points outside the base URL's origin; the token is
    /// never sent there.
    #[error("refusing to send credentials to {found}: not the configured origin {expected}")]
    ForeignOrigin {
        /// The origin of the refused URL.
        found: String,
        /// The origin of the configured base URL.
        expected: String,
    },
}

/// Resolves a request URL against the base URL, keeping the base path
/// (`http://h/github` + `/repos/x` → `http://h/github/repos/x`).
pub(crate) fn resolve(base: &Url, request_url: &str) -> Result<Url, UrlError> {
    let invalid = |reason: String| UrlError::Invalid {
        url: request_url.to_owned(),
        reason,
    };
    if request_url.starts_with("http://") || request_url.starts_with("https://") {
        let url = Url::parse(request_url).map_err(|e| invalid(e.to_string()))?;
        if url.origin() != base.origin() {
            return Err(UrlError::ForeignOrigin {
                found: url.origin().ascii_serialization(),
                expected: base.origin().ascii_serialization(),
            });
        }
        return Ok(url);
    }
    let joined = format!(
        "{}/{}",
        base.as_str().trim_end_matches('/'),
        request_url.trim_start_matches('/')
    );
    Url::parse(&joined).map_err(|e| invalid(e.to_string()))
}

/// A relative URL (`/a/b?x=1`) from raw path segments and query pairs, each
/// percent-encoded as needed.
pub(crate) fn relative(segments: &[&str], query: &[(&str, &str)]) -> String {
    let mut url = placeholder_base();
    url.path_segments_mut()
        .expect("the placeholder base can have a path")
        .extend(segments);
    if !query.is_empty() {
        url.query_pairs_mut().extend_pairs(query);
    }
    path_and_query(&url)
}

/// The same URL (relative or absolute) with query parameter `name` set to
/// `value`, other parameters kept in order.
pub(crate) fn with_query_param(
    request_url: &str,
    name: &str,
    value: &str,
) -> Result<String, UrlError> {
    let is_absolute = request_url.starts_with("http://") || request_url.starts_with("https://");
    let mut url = if is_absolute {
        Url::parse(request_url)
    } else {
        placeholder_base().join(request_url)
    }
    .map_err(|e| UrlError::Invalid {
        url: request_url.to_owned(),
        reason: e.to_string(),
    })?;
    let kept: Vec<(String, String)> = url
        .query_pairs()
        .filter(|(k, _)| k != name)
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    url.query_pairs_mut()
        .clear()
        .extend_pairs(kept)
        .append_pair(name, value);
    Ok(if is_absolute {
        url.to_string()
    } else {
        path_and_query(&url)
    })
}

/// A child list of an item of a list, addressed like the list itself
/// (`/repos/o/r/pulls?page=2` → `/repos/o/r/pulls/7/commits?per_page=100`;
/// also for GitHub's `/repositories/{id}/pulls` next links). Absolute list
/// URLs give absolute children, relative ones relative children.
pub(crate) fn child_of_list(
    list_url: &str,
    list_segment: &str,
    child_segments: &[&str],
    query: &[(&str, &str)],
) -> Result<String, UrlError> {
    let is_absolute = list_url.starts_with("http://") || list_url.starts_with("https://");
    let invalid = |reason: String| UrlError::Invalid {
        url: list_url.to_owned(),
        reason,
    };
    let mut url = if is_absolute {
        Url::parse(list_url)
    } else {
        placeholder_base().join(list_url)
    }
    .map_err(|e| invalid(e.to_string()))?;
    if url.path_segments().and_then(|mut s| s.next_back()) != Some(list_segment) {
        return Err(invalid(format!(
            "expected a path ending in /{list_segment}"
        )));
    }
    url.path_segments_mut()
        .map_err(|()| invalid("URL cannot have a path".into()))?
        .extend(child_segments);
    url.set_query(None);
    if !query.is_empty() {
        url.query_pairs_mut().extend_pairs(query);
    }
    Ok(if is_absolute {
        url.to_string()
    } else {
        path_and_query(&url)
    })
}

/// The decoded value of query parameter `name` of a relative or absolute URL.
pub(crate) fn query_param(request_url: &str, name: &str) -> Option<String> {
    let url = Url::parse(request_url)
        .or_else(|_| placeholder_base().join(request_url))
        .ok()?;
    url.query_pairs()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

fn placeholder_base() -> Url {
    Url::parse("http://relative.invalid/").expect("a valid constant URL")
}

fn path_and_query(url: &Url) -> String {
    match url.query() {
        Some(q) => format!("{}?{}", url.path(), q),
        None => url.path().to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_relative_url_keeps_the_base_path() {
        let base = Url::parse("http://h:8080/github").unwrap();
        assert_eq!(
            resolve(&base, "/repos/x?per_page=5").unwrap().as_str(),
            "http://h:8080/github/repos/x?per_page=5"
        );
        let base = Url::parse("http://h:8080/github/").unwrap();
        assert_eq!(
            resolve(&base, "repos/x").unwrap().as_str(),
            "http://h:8080/github/repos/x"
        );
    }

    #[test]
    fn a_github_enterprise_base_keeps_its_api_v3_prefix_for_requests_links_and_children() {
        for base in [
            "https://ghe.example.com/api/v3",
            "https://ghe.example.com/api/v3/",
        ] {
            let base = Url::parse(base).unwrap();
            assert_eq!(
                resolve(&base, "/repos/o/r/pulls?state=closed&per_page=5")
                    .unwrap()
                    .as_str(),
                "https://ghe.example.com/api/v3/repos/o/r/pulls?state=closed&per_page=5"
            );
            // A `Link` target is followed as given: it names the prefix itself.
            let next = "https://ghe.example.com/api/v3/repositories/42/pulls?state=closed&page=2";
            assert_eq!(resolve(&base, next).unwrap().as_str(), next);
            let child = child_of_list(next, "pulls", &["7", "commits"], &[]).unwrap();
            assert_eq!(
                resolve(&base, &child).unwrap().as_str(),
                "https://ghe.example.com/api/v3/repositories/42/pulls/7/commits"
            );
            assert!(matches!(
                resolve(&base, "https://api.github.com/repositories/42/pulls"),
                Err(UrlError::ForeignOrigin { .. })
            ));
        }
    }

    #[test]
    fn an_absolute_url_must_share_the_base_origin() {
        let base = Url::parse("https://api.github.com").unwrap();
        assert!(resolve(&base, "https://api.github.com/repositories/1/pulls?page=2").is_ok());
        for foreign in [
            "https://evil.example/repos",
            "http://api.github.com/repos",
            "https://api.github.com:8443/repos",
        ] {
            assert!(
                matches!(resolve(&base, foreign), Err(UrlError::ForeignOrigin { .. })),
                "{foreign}"
            );
        }
    }

    #[test]
    fn relative_urls_encode_segments_and_query() {
        assert_eq!(
            relative(&["job", "my job", "api", "json"], &[("tree", "a[b]{0,5}")]),
            "/job/my%20job/api/json?tree=a%5Bb%5D%7B0%2C5%7D"
        );
    }

    #[test]
    fn child_lists_are_addressed_below_their_list() {
        assert_eq!(
            child_of_list(
                "/repos/o/r/pulls?state=closed&page=2",
                "pulls",
                &["7", "commits"],
                &[("per_page", "100")]
            )
            .unwrap(),
            "/repos/o/r/pulls/7/commits?per_page=100"
        );
        assert_eq!(
            child_of_list(
                "https://api.github.com/repositories/3710711/pulls?page=3",
                "pulls",
                &["7", "commits"],
                &[]
            )
            .unwrap(),
            "https://api.github.com/repositories/3710711/pulls/7/commits"
        );
        assert!(child_of_list("/repos/o/r/issues", "pulls", &["7"], &[]).is_err());
    }

    #[test]
    fn a_query_parameter_is_replaced_and_the_rest_kept() {
        let url = "/rest/api/3/search/jql?jql=project+%3D+%22A%22&nextPageToken=old&maxResults=5";
        let next = with_query_param(url, "nextPageToken", "n/e+w").unwrap();
        assert_eq!(
            query_param(&next, "jql").as_deref(),
            Some("project = \"A\"")
        );
        assert_eq!(
            query_param(&next, "nextPageToken").as_deref(),
            Some("n/e+w")
        );
        assert_eq!(query_param(&next, "maxResults").as_deref(), Some("5"));
        assert!(next.starts_with("/rest/api/3/search/jql?"), "{next}");
    }
}
