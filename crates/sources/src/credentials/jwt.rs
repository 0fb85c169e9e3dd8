//! The JSON Web Token a GitHub App signs to ask for installation tokens:
//! RS256 over `{"iat", "exp", "iss"}` with the app's private key.
//!
//! `iat` is 60 seconds in the past and `exp` 9 minutes ahead, as GitHub
//! advises: its clock may lag ours by a little, and it refuses a token that
//! lives longer than 10 minutes. Signed with OpenSSL, which the build
//! already compiles (for TLS), so signing adds no crate to it.

use chrono::{DateTime, Utc};
use openssl::hash::MessageDigest;
use openssl::pkey::{PKey, Private};
use openssl::sign::Signer;

/// How far back `iat` is set, for a server clock slightly behind ours.
pub(crate) const ISSUED_BACKDATE_SECS: i64 = 60;

/// How long after `now` the JWT expires (GitHub's limit is 10 minutes).
pub(crate) const LIFETIME_SECS: i64 = 9 * 60;

/// A JWT for app `app_id`, signed at `now` with `key` (RS256).
pub(crate) fn mint_app_jwt(
    key: &PKey<Private>,
    app_id: u64,
    now: DateTime<Utc>,
) -> Result<String, openssl::error::ErrorStack> {
    let header = r#"{"alg":"RS256","typ":"JWT"}"#;
    let claims = serde_json::json!({
        "iat": now.timestamp() - ISSUED_BACKDATE_SECS,
        "exp": now.timestamp() + LIFETIME_SECS,
        "iss": app_id.to_string(),
    });
    let signing_input = format!(
        "{}.{}",
        base64url(header.as_bytes()),
        base64url(claims.to_string().as_bytes())
    );
    let mut signer = Signer::new(MessageDigest::sha256(), key)?;
    signer.update(signing_input.as_bytes())?;
    let signature = signer.sign_to_vec()?;
    Ok(format!("{signing_input}.{}", base64url(&signature)))
}

/// Base64url without padding (RFC 7515 §2).
pub(crate) fn base64url(bytes: &[u8]) -> String {
    openssl::base64::encode_block(bytes)
        .trim_end_matches('=')
        .replace('+', "-")
        .replace('/', "_")
}

#[cfg(test)]
mod tests {
    use super::*;
    use openssl::rsa::Rsa;
    use openssl::sign::Verifier;

    fn decode(part: &str) -> Vec<u8> {
        let mut text = part.replace('-', "+").replace('_', "/");
        while !text.len().is_multiple_of(4) {
            text.push('=');
        }
        openssl::base64::decode_block(&text).unwrap()
    }

    #[test]
    fn a_minted_jwt_verifies_with_the_apps_public_key_and_names_the_app() {
        let key = PKey::from_rsa(Rsa::generate(2048).unwrap()).unwrap();
        let now = "2026-12-07T04:00:00Z".parse::<DateTime<Utc>>().unwrap();
        let jwt = mint_app_jwt(&key, 4242, now).unwrap();
        let parts: Vec<&str> = jwt.split('.').collect();
        assert_eq!(parts.len(), 3);

        let public = PKey::public_key_from_pem(&key.public_key_to_pem().unwrap()).unwrap();
        let mut verifier = Verifier::new(MessageDigest::sha256(), &public).unwrap();
        verifier
            .update(format!("{}.{}", parts[0], parts[1]).as_bytes())
            .unwrap();
        assert!(verifier.verify(&decode(parts[2])).unwrap());

        let header: serde_json::Value = serde_json::from_slice(&decode(parts[0])).unwrap();
        assert_eq!(header["alg"], "RS256");
        let claims: serde_json::Value = serde_json::from_slice(&decode(parts[1])).unwrap();
        assert_eq!(claims["iss"], "4242");
        assert_eq!(claims["iat"], now.timestamp() - 60);
        let lifetime = claims["exp"].as_i64().unwrap() - now.timestamp();
        assert!((1..=600).contains(&lifetime), "exp {lifetime} s ahead");
    }

    #[test]
    fn a_jwt_signed_by_another_key_does_not_verify() {
        let key = PKey::from_rsa(Rsa::generate(2048).unwrap()).unwrap();
        let other = PKey::from_rsa(Rsa::generate(2048).unwrap()).unwrap();
        let jwt = mint_app_jwt(&key, 1, Utc::now()).unwrap();
        let (input, signature) = jwt.rsplit_once('.').unwrap();
        let mut verifier = Verifier::new(MessageDigest::sha256(), &other).unwrap();
        verifier.update(input.as_bytes()).unwrap();
        assert!(!verifier.verify(&decode(signature)).unwrap_or(false));
    }
}
