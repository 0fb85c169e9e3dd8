//! Secrets (API tokens, passwords, password-bearing URLs) wrapped so they
//! cannot end up in logs, spans or `Debug` output by accident: reading the
//! value takes an explicit `expose()`.
//!
//! Wrapping is not enough when a *server* hands a secret back — an API that
//! echoes the `Authorization` header in its error body, a driver error that
//! quotes the connection URL. So every secret is also kept in one
//! process-wide registry, and [`scrub`] replaces, in any text, every
//! registered value and, independently of the registry, the password of any
//! URL (`scheme://user:PASSWORD@host` → `scheme://user:***@host`) and the
//! credentials of an echoed `Basic` authorization header. Error texts go
//! through it when they are built and rendered ([`crate::error`]), dead
//! letters when they are built ([`crate::dead_letter`]), and the log writer
//! and span exporter of `dorafleet-telemetry` on every line and span.
//!
//! What is registered: every [`Secret`] when it is created — so every token,
//! broker URL and webhook URL of a loaded configuration, and each value a
//! token file yields whenever it is (re)read — plus, for a secret that is a
//! URL, the password in it, and the password of the warehouse URL
//! ([`crate::Config`] registers it when loaded). Values shorter than
//! [`MIN_SECRET_CHARS`] are *not* registered: a one-to-three character
//! value would turn ordinary words into stars everywhere. Such a password is
//! still masked inside URLs and `Basic` headers, which need no registry.

use serde::{Deserialize, Deserializer};
use std::borrow::Cow;
use std::fmt;
use std::sync::RwLock;

/// What a secret is replaced with.
pub const MASK: &str = "***";

/// The shortest value the registry accepts (in characters). Shorter values
/// would match inside ordinary words; URL passwords and `Basic` credentials
/// are masked whatever their length.
pub const MIN_SECRET_CHARS: usize = 4;

/// The registered values, longest first (so a secret that contains another
/// is replaced whole).
static REGISTRY: RwLock<Vec<String>> = RwLock::new(Vec::new());

/// Remember `value` as a secret of this process: from now on [`scrub`]
/// replaces it. Surrounding whitespace is ignored; values shorter than
/// [`MIN_SECRET_CHARS`] are ignored. When the value is a URL with a
/// password, the password (as written and percent-decoded) is registered
/// too. Registering a value twice is harmless.
pub fn register(value: &str) {
    let value = value.trim();
    register_url_password(value);
    register_one(value);
}

/// When `url` is a URL with a password, register the password (as written
/// and percent-decoded) but not the rest: for settings such as the
/// warehouse URL, whose host and path may be shown.
pub fn register_url_password(url: &str) {
    if let Ok(url) = url::Url::parse(url.trim())
        && let Some(password) = url.password()
    {
        register_one(password);
        if let Ok(decoded) = percent_decode(password) {
            register_one(&decoded);
        }
    }
}

fn register_one(value: &str) {
    if value.chars().count() < MIN_SECRET_CHARS || value == MASK {
        return;
    }
    let known = |list: &Vec<String>| list.iter().any(|v| v == value);
    if known(&REGISTRY.read().unwrap_or_else(|p| p.into_inner())) {
        return;
    }
    let mut list = REGISTRY.write().unwrap_or_else(|p| p.into_inner());
    if !known(&list) {
        list.push(value.to_owned());
        list.sort_by_key(|v| std::cmp::Reverse(v.len()));
    }
}

/// `text` with every registered secret, every URL password and every
/// `Basic` credential replaced by `***`. Borrows when there is nothing to
/// hide.
pub fn scrub(text: &str) -> Cow<'_, str> {
    let mut out = Cow::Borrowed(text);
    {
        let list = REGISTRY.read().unwrap_or_else(|p| p.into_inner());
        for secret in list.iter() {
            if out.contains(secret.as_str()) {
                out = Cow::Owned(out.replace(secret.as_str(), MASK));
            }
        }
    }
    if let Some(masked) = mask_url_passwords(&out) {
        out = Cow::Owned(masked);
    }
    if let Some(masked) = mask_basic_credentials(&out) {
        out = Cow::Owned(masked);
    }
    out
}

/// [`scrub`] of an owned string, reusing it when nothing changes.
pub fn scrub_owned(text: String) -> String {
    match scrub(&text) {
        Cow::Borrowed(_) => text,
        Cow::Owned(scrubbed) => scrubbed,
    }
}

/// A URL as it may be shown: the password replaced by `***` (the user
/// name stays, it says which account is used).
pub fn redact_url(url: &url::Url) -> String {
    if url.password().is_none() {
        return url.to_string();
    }
    let mut shown = url.clone();
    // Only fails for URLs that cannot have a password, which this one has.
    let _ = shown.set_password(Some(MASK));
    shown.to_string()
}

/// Characters that end a URL's authority in free text.
fn ends_authority(c: char) -> bool {
    c.is_whitespace() || matches!(c, '/' | '?' | '#' | '"' | '<' | '>' | '`' | '\\')
}

/// The text with the password of every `scheme://user:PASSWORD@host`
/// replaced, or `None` when there is none.
fn mask_url_passwords(text: &str) -> Option<String> {
    let mut out = String::new();
    let mut copied = 0;
    let mut search = 0;
    while let Some(found) = text[search..].find("://") {
        let start = search + found + 3;
        let rest = &text[start..];
        let authority = &rest[..rest.find(ends_authority).unwrap_or(rest.len())];
        search = start + authority.len();
        let Some(at) = authority.rfind('@') else {
            continue;
        };
        let Some(colon) = authority[..at].find(':') else {
            continue;
        };
        let password = &authority[colon + 1..at];
        if password.is_empty() || password == MASK {
            continue;
        }
        out.push_str(&text[copied..start + colon + 1]);
        out.push_str(MASK);
        copied = start + at;
    }
    (copied > 0).then(|| {
        out.push_str(&text[copied..]);
        out
    })
}

/// The text with the credentials of every `Basic <base64 of user:password>`
/// replaced, or `None` when there is none. Only a value that decodes to
/// text with a `:` is masked, so prose ("Basic authentication") stays.
fn mask_basic_credentials(text: &str) -> Option<String> {
    const SCHEME: &str = "Basic ";
    let mut out = String::new();
    let mut copied = 0;
    let mut search = 0;
    while let Some(found) = text[search..].find(SCHEME) {
        let start = search + found + SCHEME.len();
        let len = text[start..]
            .find(|c: char| !(c.is_ascii_alphanumeric() || matches!(c, '+' | '/' | '=')))
            .unwrap_or(text.len() - start);
        search = start + len.max(1).min(text.len() - start);
        let candidate = &text[start..start + len];
        let is_credential = base64_decode(candidate)
            .and_then(|bytes| String::from_utf8(bytes).ok())
            .is_some_and(|decoded| decoded.contains(':'));
        if !is_credential {
            continue;
        }
        out.push_str(&text[copied..start]);
        out.push_str(MASK);
        copied = start + len;
    }
    (copied > 0).then(|| {
        out.push_str(&text[copied..]);
        out
    })
}

/// Standard base64 (padding optional); `None` when `text` is not base64.
fn base64_decode(text: &str) -> Option<Vec<u8>> {
    let text = text.trim_end_matches('=');
    if text.len() < 4 || text.len() % 4 == 1 {
        return None;
    }
    let mut out = Vec::with_capacity(text.len() * 3 / 4);
    let mut acc = 0u32;
    let mut bits = 0;
    for c in text.bytes() {
        let v = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            _ => return None,
        };
        acc = (acc << 6) | u32::from(v);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
        }
    }
    Some(out)
}

/// `%XX` decoding; `Err` when the result is not UTF-8.
fn percent_decode(text: &str) -> Result<String, std::string::FromUtf8Error> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        if bytes[i] == b'%'
            && i + 2 < bytes.len()
            && let (Some(h), Some(l)) = (hex(bytes[i + 1]), hex(bytes[i + 2]))
        {
            out.push((h * 16 + l) as u8);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out)
}

/// A secret string (token, password-bearing URL) that prints as `***`.
/// Creating one registers its value (see [`register`]), so that [`scrub`]
/// hides it wherever a server or a library quotes it back.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wrap a secret value, and register it for [`scrub`].
    pub fn new(value: impl Into<String>) -> Self {
        let value = value.into();
        register(&value);
        Secret(value)
    }

    /// The raw value, for the one place that must send it (an HTTP header).
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// Whether the value is the empty string (no secret given).
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(MASK)
    }
}

impl<'de> Deserialize<'de> for Secret {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d).map(Secret::new)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_secret_never_prints_its_value() {
        let s = Secret::new("ghp_supersecret");
        assert!(!format!("{s:?} {s}").contains("supersecret"));
        assert_eq!(s.expose(), "ghp_supersecret");
    }

    #[test]
    fn a_created_secret_is_scrubbed_from_any_text() {
        let _token = Secret::new("tok_scrub_unit_1");
        assert_eq!(
            scrub("HTTP 401: {\"echo\":\"Authorization: Bearer tok_scrub_unit_1\"}"),
            "HTTP 401: {\"echo\":\"Authorization: Bearer ***\"}"
        );
        assert_eq!(scrub_owned("a tok_scrub_unit_1b".into()), "a ***b");
    }

    #[test]
    fn text_without_secrets_is_borrowed_unchanged() {
        let text = "GET /repos/acme/api/pulls: HTTP 500 at https://api.github.com/x";
        assert!(matches!(scrub(text), Cow::Borrowed(t) if t == text));
    }

    #[test]
    fn the_longer_of_two_overlapping_secrets_is_replaced_whole() {
        register("overlap_short");
        register("overlap_short_and_longer");
        assert_eq!(scrub("x overlap_short_and_longer y"), "x *** y");
    }

    #[test]
    fn values_below_the_floor_are_not_registered() {
        register("zq7");
        register("  \n");
        assert_eq!(scrub("zq7 is a word"), "zq7 is a word");
        register("zq7w");
        assert_eq!(scrub("zq7w is masked"), "*** is masked");
    }

    #[test]
    fn url_passwords_are_masked_without_being_registered() {
        assert_eq!(
            scrub("cannot connect to amqp://fleet:pw@rabbit:5672/%2f (refused)"),
            "cannot connect to amqp://fleet:***@rabbit:5672/%2f (refused)"
        );
        assert_eq!(
            scrub("\"mongodb://u:p%40ss@a:27017,b:27017/db?replicaSet=rs0\""),
            "\"mongodb://u:***@a:27017,b:27017/db?replicaSet=rs0\""
        );
        // a password with an unencoded `@`: the last `@` ends the userinfo
        assert_eq!(scrub("https://u:p@ss@host/x"), "https://u:***@host/x");
        // two URLs, only one with a password
        assert_eq!(
            scrub("https://a.example/x then https://bob:hunter2@b.example"),
            "https://a.example/x then https://bob:***@b.example"
        );
        // nothing to hide: a user without password, an e-mail in a path
        for text in [
            "https://bob@b.example/x",
            "https://b.example/users/bob@example.com",
            "https://bob:@b.example",
            "https://bob:***@b.example",
        ] {
            assert_eq!(scrub(text), text);
        }
    }

    #[test]
    fn a_secret_url_registers_its_password() {
        let _url = Secret::new("amqp://user:pw_in_url_9%21@rabbit:5672/");
        assert_eq!(scrub("auth failed for pw_in_url_9!"), "auth failed for ***");
        assert_eq!(
            scrub("auth failed for pw_in_url_9%21"),
            "auth failed for ***"
        );
    }

    #[test]
    fn echoed_basic_credentials_are_masked_but_prose_is_not() {
        // base64("jira@acme.io:basic_unit_tok")
        let echoed = "Authorization: Basic amlyYUBhY21lLmlvOmJhc2ljX3VuaXRfdG9r\n";
        assert_eq!(scrub(echoed), "Authorization: Basic ***\n");
        assert_eq!(
            scrub("Basic authentication failed"),
            "Basic authentication failed"
        );
        assert_eq!(scrub("Basic "), "Basic ");
    }

    #[test]
    fn redact_url_hides_only_the_password() {
        let url = url::Url::parse("https://user:PW_redact@jira.example/rest").unwrap();
        assert_eq!(redact_url(&url), "https://user:***@jira.example/rest");
        let plain = url::Url::parse("https://jira.example/rest").unwrap();
        assert_eq!(redact_url(&plain), "https://jira.example/rest");
    }
}
