//! TLS and SASL for the producer's connections, configured with Java's keys.
//!
//! - `security.protocol`: `PLAINTEXT` (default), `SSL`, `SASL_PLAINTEXT`, `SASL_SSL`.
//! - TLS (rustls, TLS 1.2 and 1.3): trust from `ssl.truststore.certificates` (PEM text) or
//!   `ssl.truststore.location` (a PEM file), else the platform's roots; a client certificate
//!   for mutual TLS from `ssl.keystore.location` (key and chain in one PEM file) or
//!   `ssl.keystore.certificate.chain` + `ssl.keystore.key`. `ssl.truststore.type` and
//!   `ssl.keystore.type` must be `PEM`; encrypted keys (`ssl.key.password`) are refused.
//!   `ssl.endpoint.identification.algorithm` is `https` (check the broker's name against its
//!   certificate) by default; empty turns the name check off (the chain is still verified).
//! - SASL: `sasl.mechanism` `PLAIN`, `SCRAM-SHA-256`, `SCRAM-SHA-512` or `OAUTHBEARER`;
//!   credentials from `sasl.jaas.config` as Java writes it
//!   (`org.apache.kafka.common.security.scram.ScramLoginModule required username="alice"
//!   password="alice-secret";`) or librdkafka's `sasl.username` / `sasl.password`.
//!   OAUTHBEARER takes a token from [`ProducerConfigBuilder::oauth_token_provider`], or, for
//!   tests, an unsecured JWT from Java's `OAuthBearerLoginModule required
//!   unsecuredLoginStringClaim_sub="alice";` (with `unsecuredLoginLifetimeSeconds` and
//!   `unsecuredLoginListClaim_aud`).
//!
//! Each connection opens its transport through the [`Connector`](crate::Connector) (so TLS
//! and SASL run over the test kit's in-memory pipes and custom transports too), does the TLS
//! handshake, negotiates versions with ApiVersions, then SaslHandshake v1 and
//! SaslAuthenticate (v0-2). A refused handshake or authentication is fatal: the producer
//! stops with [`Error::Authentication`], naming the broker and
//! the mechanism, and [`Producer::connect`](crate::Producer::connect) returns it at once.
//!
//! KIP-368: when the broker answers a session lifetime (its `connections.max.reauth.ms`),
//! the connection renews the session before it ends: at a random 85-95% of the lifetime (as
//! Java's client) it stops writing new requests, waits for the outstanding ones, runs
//! SaslHandshake and SaslAuthenticate again on the same connection, and goes on.
//!
//! [`ProducerConfigBuilder::oauth_token_provider`]: crate::ProducerConfigBuilder::oauth_token_provider

pub(crate) mod sasl;
#[cfg(test)]
mod tests;
pub(crate) mod tls;

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use kafkit_protocol::sasl::Mechanism;

use crate::error::{Error, Result};

pub use kafkit_protocol::sasl::SecurityProtocol;

/// Supplies OAUTHBEARER tokens: called for every authentication, so it may refresh them.
/// An `Err` fails the authentication with its text.
pub type TokenProvider = Arc<dyn Fn() -> std::result::Result<String, String> + Send + Sync>;

/// The security settings of a producer (the `security.*`, `ssl.*` and `sasl.*` keys).
#[derive(Clone, Default)]
pub(crate) struct SecuritySettings {
    pub protocol: SecurityProtocol,
    pub truststore_pem: Option<String>,
    pub keystore_chain_pem: Option<String>,
    pub keystore_key_pem: Option<String>,
    /// `ssl.endpoint.identification.algorithm` is empty: the broker's name is not checked
    /// (off unless asked, so every way of making settings checks names).
    pub skip_hostname_check: bool,
    pub mechanism: Option<Mechanism>,
    pub username: Option<String>,
    pub password: Option<String>,
    /// Java's unsecured-JWT login options (OAUTHBEARER in tests).
    pub unsecured_jwt: Option<UnsecuredJwt>,
    pub token_provider: Option<TokenProvider>,
}

/// The claims of an unsecured JWT the producer makes for itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct UnsecuredJwt {
    pub subject: String,
    pub lifetime: Duration,
    pub audience: Vec<String>,
}

impl fmt::Debug for SecuritySettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Never a password, key or token.
        f.debug_struct("Security")
            .field("security.protocol", &self.protocol)
            .field("ssl.truststore", &self.truststore_pem.is_some())
            .field("ssl.keystore", &self.keystore_chain_pem.is_some())
            .field(
                "ssl.endpoint.identification.algorithm",
                &!self.skip_hostname_check,
            )
            .field("sasl.mechanism", &self.mechanism)
            .field("sasl.username", &self.username)
            .field(
                "oauthbearer",
                &(self.unsecured_jwt.is_some() || self.token_provider.is_some()),
            )
            .finish()
    }
}

/// Every key [`apply`] takes.
pub(crate) const KEYS: &[&str] = &[
    "security.protocol",
    "ssl.truststore.type",
    "ssl.truststore.location",
    "ssl.truststore.certificates",
    "ssl.keystore.type",
    "ssl.keystore.location",
    "ssl.keystore.certificate.chain",
    "ssl.keystore.key",
    "ssl.key.password",
    "ssl.keystore.password",
    "ssl.endpoint.identification.algorithm",
    "sasl.mechanism",
    "sasl.jaas.config",
    "sasl.username",
    "sasl.password",
];

/// Applies one security key; `Ok(None)` when `key` is not one.
pub(crate) fn apply(s: &mut SecuritySettings, key: &str, value: &str) -> Result<Option<&'static str>> {
    let Some(&name) = KEYS.iter().find(|k| **k == key) else {
        return Ok(None);
    };
    match name {
        "security.protocol" => {
            s.protocol = SecurityProtocol::from_name(value).ok_or_else(|| {
                Error::config(
                    name,
                    format!("expected PLAINTEXT, SSL, SASL_PLAINTEXT or SASL_SSL, got `{value}`"),
                )
            })?
        }
        "ssl.truststore.type" | "ssl.keystore.type" if !value.eq_ignore_ascii_case("PEM") => {
            return Err(Error::config(
                name,
                format!("`{value}` is not supported; kafkit reads PEM (convert JKS or PKCS12 with keytool or openssl)"),
            ));
        }
        "ssl.truststore.location" => s.truststore_pem = Some(read(name, value)?),
        "ssl.truststore.certificates" => s.truststore_pem = Some(value.to_string()),
        "ssl.keystore.location" => {
            let pem = read(name, value)?;
            s.keystore_chain_pem = Some(pem.clone());
            s.keystore_key_pem = Some(pem);
        }
        "ssl.keystore.certificate.chain" => s.keystore_chain_pem = Some(value.to_string()),
        "ssl.keystore.key" => s.keystore_key_pem = Some(value.to_string()),
        "ssl.key.password" | "ssl.keystore.password" if !value.is_empty() => {
            return Err(Error::config(
                name,
                "encrypted keys are not supported; give an unencrypted PEM key",
            ));
        }
        "ssl.endpoint.identification.algorithm" => {
            s.skip_hostname_check = match value.to_ascii_lowercase().as_str() {
                "https" => false,
                "" => true,
                _ => {
                    return Err(Error::config(
                        name,
                        format!("expected https or empty, got `{value}`"),
                    ))
                }
            }
        }
        "sasl.mechanism" => {
            s.mechanism = Some(
                value
                    .parse::<Mechanism>()
                    .map_err(|e| Error::config(name, e.to_string()))?,
            )
        }
        "sasl.jaas.config" => apply_jaas(s, name, value)?,
        "sasl.username" => s.username = Some(value.to_string()),
        "sasl.password" => s.password = Some(value.to_string()),
        _ => {}
    }
    Ok(Some(name))
}

fn read(key: &str, path: &str) -> Result<String> {
    std::fs::read_to_string(path).map_err(|e| Error::config(key, format!("cannot read `{path}`: {e}")))
}

/// Java's JAAS line: `<LoginModule> required key="value" ...;`.
fn apply_jaas(s: &mut SecuritySettings, key: &str, value: &str) -> Result<()> {
    let options = jaas_options(value).map_err(|why| Error::config(key, why))?;
    let get = |k: &str| options.iter().find(|(name, _)| name == k).map(|(_, v)| v.clone());
    if value.contains("OAuthBearerLoginModule") {
        if let Some(subject) = get("unsecuredLoginStringClaim_sub") {
            let lifetime = match get("unsecuredLoginLifetimeSeconds") {
                Some(secs) => Duration::from_secs(
                    secs.parse()
                        .map_err(|_| Error::config(key, "unsecuredLoginLifetimeSeconds is not a number"))?,
                ),
                None => Duration::from_secs(3600),
            };
            let audience = get("unsecuredLoginListClaim_aud")
                .map(|a| {
                    a.split(',')
                        .map(|s| s.trim().to_string())
                        .filter(|s| !s.is_empty())
                        .collect()
                })
                .unwrap_or_default();
            s.unsecured_jwt = Some(UnsecuredJwt {
                subject,
                lifetime,
                audience,
            });
        }
        return Ok(());
    }
    s.username = get("username");
    s.password = get("password");
    if s.username.is_none() || s.password.is_none() {
        return Err(Error::config(
            key,
            "the login module needs username=\"...\" and password=\"...\"",
        ));
    }
    Ok(())
}

/// The `key="value"` options of a JAAS line (unquoted values allowed, as Java's parser does).
fn jaas_options(line: &str) -> std::result::Result<Vec<(String, String)>, String> {
    let line = line.trim().trim_end_matches(';');
    let mut words = line.splitn(3, char::is_whitespace);
    let (Some(_module), Some(flag)) = (words.next(), words.next()) else {
        return Err("expected `<LoginModule> required key=\"value\" ...;`".to_string());
    };
    if !matches!(flag, "required" | "requisite" | "sufficient" | "optional") {
        return Err(format!("`{flag}` is not a JAAS control flag"));
    }
    let mut rest = words.next().unwrap_or("").trim();
    let mut out = Vec::new();
    while !rest.is_empty() {
        let (name, after) = rest
            .split_once('=')
            .ok_or_else(|| format!("`{rest}` is not key=value"))?;
        let after = after.trim_start();
        let (value, remaining) = if let Some(quoted) = after.strip_prefix('"') {
            let mut value = String::new();
            let mut chars = quoted.char_indices();
            let mut end = None;
            while let Some((i, c)) = chars.next() {
                match c {
                    '\\' => {
                        if let Some((_, escaped)) = chars.next() {
                            value.push(escaped);
                        }
                    }
                    '"' => {
                        end = Some(i + 1);
                        break;
                    }
                    c => value.push(c),
                }
            }
            let end = end.ok_or_else(|| "an unterminated quoted value".to_string())?;
            (value, &quoted[end..])
        } else {
            let end = after.find(char::is_whitespace).unwrap_or(after.len());
            (after[..end].to_string(), &after[end..])
        };
        out.push((name.trim().to_string(), value));
        rest = remaining.trim_start();
    }
    Ok(out)
}

/// Checks that the settings make sense together, at `build`: a SASL protocol needs a
/// supported mechanism and its credentials, a keystore needs both parts.
pub(crate) fn validate(s: &mut SecuritySettings) -> Result<()> {
    if s.keystore_chain_pem.is_some() != s.keystore_key_pem.is_some() {
        return Err(Error::config(
            "ssl.keystore.key",
            "a client certificate needs both ssl.keystore.certificate.chain and ssl.keystore.key",
        ));
    }
    if !s.protocol.sasl() {
        return Ok(());
    }
    let Some(mechanism) = s.mechanism else {
        return Err(Error::config(
            "sasl.mechanism",
            "Java's default GSSAPI (Kerberos) is not supported; set PLAIN, SCRAM-SHA-256, SCRAM-SHA-512 or OAUTHBEARER",
        ));
    };
    match mechanism {
        Mechanism::OAuthBearer => {
            if s.token_provider.is_none() && s.unsecured_jwt.is_none() {
                return Err(Error::config(
                    "sasl.jaas.config",
                    "OAUTHBEARER needs a token provider or OAuthBearerLoginModule's unsecuredLoginStringClaim_sub",
                ));
            }
        }
        _ => {
            if s.username.is_none() || s.password.is_none() {
                return Err(Error::config(
                    "sasl.jaas.config",
                    format!("{mechanism} needs a username and a password (sasl.jaas.config, or sasl.username and sasl.password)"),
                ));
            }
        }
    }
    Ok(())
}

/// What every connection of a producer needs for TLS and SASL, built once.
#[derive(Clone, Default)]
pub(crate) struct ConnectionSecurity {
    pub tls: Option<tls::TlsClient>,
    pub sasl: Option<Arc<SecuritySettings>>,
}

impl fmt::Debug for ConnectionSecurity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ConnectionSecurity")
            .field("tls", &self.tls.is_some())
            .field("sasl", &self.sasl.as_ref().and_then(|s| s.mechanism))
            .finish()
    }
}

impl ConnectionSecurity {
    /// Builds the TLS client config (loading the platform roots if no truststore is given).
    pub(crate) fn new(settings: &SecuritySettings) -> Result<Self> {
        let tls = if settings.protocol.tls() {
            Some(tls::TlsClient::new(settings)?)
        } else {
            None
        };
        let sasl = settings.protocol.sasl().then(|| Arc::new(settings.clone()));
        Ok(ConnectionSecurity { tls, sasl })
    }
}
