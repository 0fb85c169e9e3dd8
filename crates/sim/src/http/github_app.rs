//! A GitHub App as GitHub serves it to its installations:
//! `POST /app/installations/{id}/access_tokens`, answered with an
//! installation token and its `expires_at` when the request carries a JWT
//! the app signed (RS256, checked against the app's public key, its issuer,
//! and a lifetime of at most ten minutes that has not ended).
//!
//! Installation tokens (`ghs_…`) live [`GithubAppOptions::token_ttl`] of
//! real time, an hour on GitHub; a shorter one makes a run outlive its
//! token, so a client's refresh can be tested. A data request with a `ghs_`
//! token the simulator did not mint, or whose time is over, is answered 401
//! `Bad credentials`, as GitHub does.

use super::{RequestMeta, Served};
use crate::state::SimState;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use chrono::{Duration, Utc};
use dorafleet_core::Source;
use openssl::hash::MessageDigest;
use openssl::pkey::PKey;
use openssl::sign::Verifier;
use serde_json::{Value, json};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

/// The GitHub App the simulator stands in for (`SimOptions::github_app`).
#[derive(Debug, Clone, PartialEq)]
pub struct GithubAppOptions {
    /// The app's id: the issuer (`iss`) its JWTs must name.
    pub app_id: u64,
    /// The one installation tokens are minted for; any other id is 404.
    pub installation_id: u64,
    /// The app's public key (PEM), which every JWT's signature must verify
    /// against.
    pub public_key_pem: String,
    /// How long a minted installation token is accepted (GitHub: an hour).
    pub token_ttl: std::time::Duration,
}

/// The longest a JWT may live, as GitHub allows (plus a minute for clocks).
const MAX_JWT_LIFETIME_SECS: i64 = 11 * 60;

/// Tells minted tokens apart.
static MINTED: AtomicU64 = AtomicU64::new(0);

/// `POST /app/installations/{id}/access_tokens`.
pub(crate) async fn access_tokens(
    State(state): State<Arc<SimState>>,
    Path(installation_id): Path<u64>,
    headers: HeaderMap,
) -> Response {
    let Some(app) = state.options().github_app.clone() else {
        return refusal(StatusCode::NOT_FOUND, "Not Found");
    };
    let jwt = crate::request_log::presented_token(&headers).unwrap_or_default();
    if let Err(why) = verify_jwt(&app, &jwt) {
        return refusal(StatusCode::UNAUTHORIZED, &why);
    }
    if installation_id != app.installation_id {
        return refusal(StatusCode::NOT_FOUND, "Not Found");
    }
    let now = Utc::now();
    let expires_at = now + Duration::from_std(app.token_ttl).unwrap_or_else(|_| Duration::hours(1));
    let n = MINTED.fetch_add(1, Ordering::Relaxed);
    let token = format!(
        "ghs_sim{}{n:08}",
        crate::http::fnv_hex(format!("{installation_id}/{now}/{n}").as_bytes())
    );
    state.mint_installation_token(token.clone(), expires_at);
    let body = json!({
        "token": token,
        "expires_at": expires_at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        "permissions": {"contents": "read", "pull_requests": "read", "deployments": "read", "metadata": "read"},
        "repository_selection": "all",
    });
    (StatusCode::CREATED, axum::Json(body)).into_response()
}

/// The 401 a data request with a stale or unknown installation token gets
/// (when an App is simulated).
pub(crate) fn refuse_stale_installation_token(
    state: &SimState,
    meta: &RequestMeta,
) -> Option<Served> {
    state.options().github_app.as_ref()?;
    let token = crate::request_log::presented_token(&meta.headers)?;
    if !token.starts_with("ghs_") || state.installation_token_valid(&token, Utc::now()) {
        return None;
    }
    Some(Served::error(
        Source::Github,
        StatusCode::UNAUTHORIZED,
        "Bad credentials",
    ))
}

fn refusal(status: StatusCode, message: &str) -> Response {
    let body = json!({"message": message, "documentation_url": "https://docs.github.com/rest/apps/apps#create-an-installation-access-token-for-an-app", "status": status.as_u16().to_string()});
    (status, axum::Json(body)).into_response()
}

/// Checks a JWT as GitHub does; the error is GitHub's kind of message.
fn verify_jwt(app: &GithubAppOptions, jwt: &str) -> Result<(), String> {
    let parts: Vec<&str> = jwt.split('.').collect();
    let [header, claims, signature] = parts[..] else {
        return Err("A JSON web token could not be decoded".into());
    };
    let decode = |part: &str| -> Result<Vec<u8>, String> {
        let mut text = part.replace('-', "+").replace('_', "/");
        while !text.len().is_multiple_of(4) {
            text.push('=');
        }
        openssl::base64::decode_block(&text)
            .map_err(|_| "A JSON web token could not be decoded".to_owned())
    };
    let json = |part: &str| -> Result<Value, String> {
        serde_json::from_slice(&decode(part)?)
            .map_err(|_| "A JSON web token could not be decoded".to_owned())
    };
    if json(header)?["alg"] != "RS256" {
        return Err("'alg' must be RS256".into());
    }
    let key = PKey::public_key_from_pem(app.public_key_pem.as_bytes())
        .map_err(|_| "the simulated app's public key does not parse".to_owned())?;
    let signature = decode(signature)?;
    let verified = Verifier::new(MessageDigest::sha256(), &key)
        .and_then(|mut v| {
            v.update(format!("{header}.{claims}").as_bytes())?;
            v.verify(&signature)
        })
        .unwrap_or(false);
    if !verified {
        return Err("A JSON web token could not be decoded".into());
    }
    let claims = json(claims)?;
    let issuer = match &claims["iss"] {
        Value::String(s) => s.parse::<u64>().ok(),
        other => other.as_u64(),
    };
    if issuer != Some(app.app_id) {
        return Err("Integration not found".into());
    }
    let (Some(iat), Some(exp)) = (claims["iat"].as_i64(), claims["exp"].as_i64()) else {
        return Err("'iat' and 'exp' are required".into());
    };
    let now = Utc::now().timestamp();
    if exp <= now {
        return Err("'Expiration time' claim ('exp') must be a numeric value representing the future time at which the assertion expires".into());
    }
    if iat > now + 60 || exp - iat > MAX_JWT_LIFETIME_SECS {
        return Err("'Expiration time' claim ('exp') is too far in the future".into());
    }
    Ok(())
}
