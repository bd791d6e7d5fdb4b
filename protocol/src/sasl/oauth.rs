//! OAUTHBEARER (RFC 7628, KIP-255) and the unsecured JWTs Kafka accepts in tests
//! (`OAuthBearerUnsecuredJws`: header `{"alg":"none"}`, an empty signature).
//!
//! ```
//! use kafkit_protocol::sasl::oauth;
//!
//! let now_ms = 1_700_000_000_000;
//! let token = oauth::unsecured_jwt("alice", now_ms, 3_600_000, &["kafka"]);
//! let message = oauth::client_message(&token);
//! let parsed = oauth::parse_client_message(&message)?;
//! let valid = oauth::validate_unsecured_jwt(parsed.token, now_ms, &["kafka".to_string()])?;
//! assert_eq!(valid.principal, "alice");
//! assert_eq!(valid.expires_at_ms, now_ms + 3_600_000);
//! # Ok::<(), kafkit_protocol::Error>(())
//! ```

use base64::engine::general_purpose::URL_SAFE_NO_PAD as BASE64URL;
use base64::Engine as _;

use super::{sasl_error, Mechanism};
use crate::Result;

/// The longest token accepted (Kafka bounds the SASL frame; real JWTs are a few KiB).
const MAX_TOKEN: usize = 64 * 1024;

/// What the server answers a token it refuses (RFC 7628's error challenge), and the message
/// of the SASL_AUTHENTICATION_FAILED that follows the client's `%x01`.
pub const INVALID_TOKEN: &str = r#"{"status":"invalid_token"}"#;

fn error(reason: impl Into<String>) -> crate::Error {
    sasl_error(Mechanism::OAuthBearer, reason)
}

/// The client's initial response for `token`: `n,,\x01auth=Bearer <token>\x01\x01`.
pub fn client_message(token: &str) -> Vec<u8> {
    format!("n,,\x01auth=Bearer {token}\x01\x01").into_bytes()
}

/// A decoded client response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientMessage<'a> {
    /// The bearer token.
    pub token: &'a str,
    /// SASL extensions (`key=value` pairs besides `auth`).
    pub extensions: Vec<(&'a str, &'a str)>,
}

/// Decodes the client's initial response.
pub fn parse_client_message(message: &[u8]) -> Result<ClientMessage<'_>> {
    if message.len() > MAX_TOKEN {
        return Err(error("the client message is too long"));
    }
    let text = std::str::from_utf8(message).map_err(|_| error("the client message is not UTF-8"))?;
    let (gs2, rest) = text
        .split_once('\x01')
        .ok_or_else(|| error("the client message has no gs2 header"))?;
    if !gs2.starts_with("n,") {
        return Err(error("channel binding is not supported"));
    }
    let mut token = None;
    let mut extensions = Vec::new();
    for kv in rest.split('\x01').filter(|kv| !kv.is_empty()) {
        let (key, value) = kv
            .split_once('=')
            .ok_or_else(|| error("malformed key-value pair"))?;
        if key == "auth" {
            let bearer = value
                .strip_prefix("Bearer ")
                .ok_or_else(|| error("the auth value is not a bearer token"))?;
            token = Some(bearer.trim());
        } else {
            extensions.push((key, value));
        }
    }
    Ok(ClientMessage {
        token: token.ok_or_else(|| error("the client message has no auth="))?,
        extensions,
    })
}

/// An unsecured JWT (Kafka's `OAuthBearerUnsecuredLoginCallbackHandler` shape): subject
/// `principal`, issued at `now_ms`, expiring `lifetime_ms` later, with audience `audience`
/// when not empty.
pub fn unsecured_jwt(principal: &str, now_ms: i64, lifetime_ms: i64, audience: &[&str]) -> String {
    let header = BASE64URL.encode(br#"{"alg":"none"}"#);
    let mut claims = serde_json::json!({
        "sub": principal,
        "iat": now_ms as f64 / 1000.0,
        "exp": (now_ms + lifetime_ms) as f64 / 1000.0,
    });
    if !audience.is_empty() {
        claims["aud"] = serde_json::json!(audience);
    }
    format!("{header}.{}.", BASE64URL.encode(claims.to_string()))
}

/// A token the server accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValidToken {
    /// The `sub` claim.
    pub principal: String,
    /// When the token expires (`exp`), in ms since the epoch: the session's end.
    pub expires_at_ms: i64,
}

/// Validates an unsecured JWT as Kafka's `OAuthBearerUnsecuredValidatorCallbackHandler` does:
/// three dot-separated parts with an empty signature, header `alg` `none`, a `sub`, an `exp`
/// in the future, and, when `allowed_audience` is not empty, an `aud` naming one of them.
pub fn validate_unsecured_jwt(token: &str, now_ms: i64, allowed_audience: &[String]) -> Result<ValidToken> {
    let mut parts = token.split('.');
    let (Some(header), Some(payload), Some(signature), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(error("the token is not a JWS compact serialization"));
    };
    if !signature.is_empty() {
        return Err(error("an unsecured token must have an empty signature"));
    }
    let decode = |part: &str, what: &str| -> Result<serde_json::Value> {
        let bytes = BASE64URL
            .decode(part.trim_end_matches('='))
            .map_err(|_| error(format!("the {what} is not base64url")))?;
        serde_json::from_slice(&bytes).map_err(|_| error(format!("the {what} is not a JSON object")))
    };
    let header = decode(header, "header")?;
    if header.get("alg").and_then(|a| a.as_str()) != Some("none") {
        return Err(error("the token's alg is not none"));
    }
    let claims = decode(payload, "payload")?;
    let principal = claims
        .get("sub")
        .and_then(|s| s.as_str())
        .filter(|s| !s.is_empty())
        .ok_or_else(|| error("the token has no sub claim"))?;
    let exp = claims
        .get("exp")
        .and_then(serde_json::Value::as_f64)
        .ok_or_else(|| error("the token has no exp claim"))?;
    let expires_at_ms = (exp * 1000.0) as i64;
    if expires_at_ms <= now_ms {
        return Err(error("the token has expired"));
    }
    if !allowed_audience.is_empty() {
        let audience: Vec<&str> = match claims.get("aud") {
            Some(serde_json::Value::String(a)) => vec![a.as_str()],
            Some(serde_json::Value::Array(list)) => list.iter().filter_map(|a| a.as_str()).collect(),
            _ => Vec::new(),
        };
        if !audience
            .iter()
            .any(|a| allowed_audience.iter().any(|allowed| allowed == a))
        {
            return Err(error("the token's audience is not allowed"));
        }
    }
    Ok(ValidToken {
        principal: principal.to_string(),
        expires_at_ms,
    })
}
