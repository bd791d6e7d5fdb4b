//! Listeners and their security: TLS, SASL (PLAIN, SCRAM-SHA-256/512, OAUTHBEARER), principals.
//!
//! Configured as Kafka's broker is ([`SecurityConfig::set`] takes Kafka's keys):
//!
//! - `listeners=PLAINTEXT://127.0.0.1:9092,SASL_SSL://127.0.0.1:9093`, each listener named, its
//!   security protocol the name itself or what `listener.security.protocol.map` maps it to
//!   (`CLIENT:SASL_SSL`); `advertised.listeners` gives the address Metadata hands out per
//!   listener. A client is always told the addresses of the listener it came in on, as Kafka
//!   does, so a client on the SASL_SSL port never gets sent to the plaintext one.
//! - TLS from PEM: `ssl.keystore.location` (key and certificate chain in one file) or
//!   `ssl.keystore.certificate.chain` + `ssl.keystore.key`; `ssl.client.auth`
//!   (`none`, `requested`, `required`) against `ssl.truststore.location` /
//!   `ssl.truststore.certificates`. Encrypted keys (`ssl.key.password`) are not supported.
//! - SASL: `sasl.enabled.mechanisms`; PLAIN users from a JAAS line
//!   (`[listener.name.<l>.]plain.sasl.jaas.config=... user_alice="alice-secret";`); SCRAM users
//!   as `kafka-storage format --add-scram` takes them
//!   (`kafkit.scram.credentials=SCRAM-SHA-512=[name=alice,password=alice-secret]`), stored only
//!   salted and hashed, as Kafka stores them; OAUTHBEARER accepts unsecured JWTs
//!   (`kafkit.oauthbearer.allowed.audience` lists audiences; empty accepts any).
//!
//! Before a SASL listener's connection has authenticated, only ApiVersions, SaslHandshake and
//! SaslAuthenticate are served; anything else closes the connection (Kafka: "Unexpected Kafka
//! request of type ... during SASL handshake"), frames are capped at 512 KiB (Kafka's
//! `sasl.server.max.receive.size`), and the whole of TLS and SASL must finish within
//! `kafkit.authentication.timeout.ms` (10 s), so a peer that never authenticates holds one
//! bounded buffer for a bounded time. A failure answers SASL_AUTHENTICATION_FAILED with Kafka's
//! message after `connection.failed.authentication.delay.ms` (100 ms, as Kafka), is logged
//! without the secret, and closes the connection.
//!
//! KIP-368: with `connections.max.reauth.ms` set, SaslAuthenticate v1+ answers a session
//! lifetime (the smaller of it and an OAUTHBEARER token's expiry); a request other than a new
//! handshake after that closes the connection. Re-authentication keeps the principal.
//!
//! Principals are Kafka's default ones: `User:<name>` after SASL, `User:<subject DN>` for a
//! TLS client certificate (RFC 2253 order, as Java's `X500Principal.getName()`), and
//! `User:ANONYMOUS` otherwise.
//!
//! Not implemented: GSSAPI (Kerberos), delegation tokens, ACLs (every authenticated principal
//! may do anything), signed OAUTHBEARER tokens (JWKS), per-listener user databases (the users
//! are the cluster's, whatever listener prefix their key has).
//!
//! # References
//! - Kafka docs "Security" (listeners, SSL, SASL); KIP-43, KIP-84, KIP-152, KIP-255, KIP-368
//! - Kafka's `SaslServerAuthenticator`, `ScramSaslServer`, `PlainSaslServer`,
//!   `DefaultKafkaPrincipalBuilder`

pub(crate) mod sasl;
#[cfg(test)]
mod tests;
pub(crate) mod tls;

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use kafkit_protocol::sasl::scram::{Hash, ScramCredential};
use kafkit_protocol::sasl::Mechanism;

use crate::{Error, Result};

pub use kafkit_protocol::sasl::SecurityProtocol;

/// One listener of every broker.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListenerConfig {
    /// The listener's name (`PLAINTEXT`, `CLIENT`, ...), upper case as Kafka keeps it.
    pub name: String,
    /// Its security protocol.
    pub protocol: SecurityProtocol,
    /// Address bound.
    pub host: String,
    /// Port of broker 0; broker `i` binds `port + i`. 0: any free port.
    pub port: u16,
    /// `advertised.listeners` entry: host and port of broker 0 handed to clients (broker `i`
    /// advertises `port + i`). `None`: the bound address.
    pub advertised: Option<(String, u16)>,
}

/// `ssl.client.auth`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ClientAuth {
    /// No client certificate is asked for.
    #[default]
    None,
    /// A client certificate is asked for; a client without one connects anonymously.
    Requested,
    /// A client certificate signed by the truststore is required.
    Required,
}

/// The TLS material of every TLS listener, PEM text.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct TlsConfig {
    /// The broker's certificate chain, leaf first.
    pub certificate_chain_pem: String,
    /// The broker's private key (PKCS#8, PKCS#1 or SEC1), unencrypted.
    pub private_key_pem: String,
    /// CA certificates client certificates are checked against.
    pub truststore_pem: Option<String>,
    /// `ssl.client.auth`.
    pub client_auth: ClientAuth,
}

impl fmt::Debug for TlsConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TlsConfig")
            .field("client_auth", &self.client_auth)
            .field("truststore", &self.truststore_pem.is_some())
            .finish_non_exhaustive()
    }
}

/// SASL settings and users.
#[derive(Clone)]
pub struct SaslConfig {
    /// `sasl.enabled.mechanisms` (Kafka's default: GSSAPI, which kafkit has not; kafkit's:
    /// every mechanism for which users are configured, and OAUTHBEARER when
    /// [`oauth_enabled`](Self::oauth_enabled)).
    pub enabled_mechanisms: Option<Vec<Mechanism>>,
    /// PLAIN users and their passwords.
    pub plain_users: BTreeMap<String, String>,
    /// SCRAM credentials by user and hash (salted; no password is kept).
    pub scram_users: BTreeMap<(String, Hash), ScramCredential>,
    /// `kafkit.oauthbearer.allowed.audience`: audiences an OAUTHBEARER token may carry; empty
    /// accepts any (Kafka's `unsecuredValidatorRequiredAudience` unset).
    pub oauth_allowed_audience: Vec<String>,
    /// `connections.max.reauth.ms` (KIP-368): `None` (0) never expires a session.
    pub max_reauth: Option<Duration>,
    /// `kafkit.authentication.timeout.ms`: TLS and SASL must be done this soon after accept.
    pub authentication_timeout: Duration,
    /// `connection.failed.authentication.delay.ms` (Kafka's default 100 ms): how long the
    /// answer to a failed login waits before it is sent and the connection closed.
    pub failed_authentication_delay: Duration,
    /// Whether OAUTHBEARER (unsecured JWTs) is enabled without `sasl.enabled.mechanisms`
    /// naming it: set by `kafkit.oauthbearer.allowed.audience`.
    pub oauth_enabled: bool,
}

impl fmt::Debug for SaslConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // User names only: never a password.
        f.debug_struct("SaslConfig")
            .field("enabled_mechanisms", &self.enabled_mechanisms)
            .field("plain_users", &self.plain_users.keys().collect::<Vec<_>>())
            .field("scram_users", &self.scram_users.keys().collect::<Vec<_>>())
            .field("oauth_allowed_audience", &self.oauth_allowed_audience)
            .field("max_reauth", &self.max_reauth)
            .field("authentication_timeout", &self.authentication_timeout)
            .finish()
    }
}

impl Default for SaslConfig {
    fn default() -> Self {
        SaslConfig {
            enabled_mechanisms: None,
            plain_users: BTreeMap::new(),
            scram_users: BTreeMap::new(),
            oauth_allowed_audience: Vec::new(),
            max_reauth: None,
            authentication_timeout: Duration::from_secs(10),
            oauth_enabled: false,
            failed_authentication_delay: Duration::from_millis(100),
        }
    }
}

impl SaslConfig {
    /// The mechanisms a SaslHandshake may pick, in Kafka's order.
    pub fn mechanisms(&self) -> Vec<Mechanism> {
        match &self.enabled_mechanisms {
            Some(list) => list.clone(),
            None => Mechanism::ALL
                .into_iter()
                .filter(|m| match m {
                    Mechanism::Plain => !self.plain_users.is_empty(),
                    Mechanism::ScramSha256 | Mechanism::ScramSha512 => {
                        self.scram_users.keys().any(|(_, h)| Some(*h) == m.scram())
                    }
                    Mechanism::OAuthBearer => self.oauth_enabled,
                })
                .collect(),
        }
    }

    /// Adds a PLAIN user.
    pub fn add_plain_user(&mut self, name: &str, password: &str) {
        self.plain_users.insert(name.to_string(), password.to_string());
    }

    /// Adds a SCRAM user for `hash`, salting and hashing the password at `iterations`
    /// (4096..=16384; Kafka's default is 4096).
    pub fn add_scram_user(&mut self, hash: Hash, name: &str, password: &str, iterations: u32) -> Result<()> {
        let credential = ScramCredential::new(hash, password, iterations)
            .map_err(|e| Error::Config(format!("SCRAM user {name:?}: {e}")))?;
        self.scram_users.insert((name.to_string(), hash), credential);
        Ok(())
    }
}

/// Listeners, TLS and SASL of a cluster: part of [`ClusterConfig`](crate::ClusterConfig).
#[derive(Debug, Clone, Default)]
pub struct SecurityConfig {
    /// `listeners`; empty: one `PLAINTEXT` listener at the config's `host` and `port`.
    pub listeners: Vec<ListenerConfig>,
    /// TLS material, required when a listener is SSL or SASL_SSL.
    pub tls: Option<TlsConfig>,
    /// SASL settings and users.
    pub sasl: SaslConfig,
    /// `listener.security.protocol.map` as given, applied to `listeners` whichever comes first.
    protocol_map: BTreeMap<String, SecurityProtocol>,
    /// `advertised.listeners` as given, by listener name.
    advertised: BTreeMap<String, (String, u16)>,
    /// `listeners` as given: name, host, port. Kafka reads the keys as a whole, so a
    /// listener's protocol is resolved whenever any of the three keys changes, and one the map
    /// does not name is reported by [`validate`](SecurityConfig::validate).
    raw_listeners: Vec<(String, String, u16)>,
    /// Key and certificate chain from `ssl.keystore.location`, or the inline keys.
    keystore: Keystore,
}

#[derive(Clone, Default)]
struct Keystore {
    chain: Option<String>,
    key: Option<String>,
}

impl fmt::Debug for Keystore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Never the private key.
        f.debug_struct("Keystore")
            .field("chain", &self.chain.is_some())
            .field("key", &self.key.is_some())
            .finish()
    }
}

impl SecurityConfig {
    /// Applies one of the security keys (see the module docs). `Ok(false)` when `key` is not a
    /// security key, so [`ClusterConfig::set`](crate::ClusterConfig::set) can go on looking.
    pub fn set(&mut self, key: &str, value: &str) -> Result<bool> {
        let value = value.trim();
        match key {
            "listeners" => {
                self.raw_listeners = parse_listeners(key, value)?;
                self.resolve_listeners();
            }
            "advertised.listeners" => {
                self.advertised = parse_listeners(key, value)?
                    .into_iter()
                    .map(|(name, host, port)| (name, (host, port)))
                    .collect();
                self.resolve_listeners();
            }
            "listener.security.protocol.map" => {
                self.protocol_map = value
                    .split(',')
                    .filter(|e| !e.trim().is_empty())
                    .map(|entry| {
                        let (name, protocol) = entry
                            .split_once(':')
                            .ok_or_else(|| invalid(key, format!("{entry:?} is not NAME:PROTOCOL")))?;
                        let protocol = SecurityProtocol::from_name(protocol)
                            .ok_or_else(|| invalid(key, format!("unknown security protocol {protocol:?}")))?;
                        Ok((name.trim().to_ascii_uppercase(), protocol))
                    })
                    .collect::<Result<_>>()?;
                self.resolve_listeners();
            }
            "ssl.keystore.type" | "ssl.truststore.type" => {
                if !value.eq_ignore_ascii_case("PEM") {
                    return Err(invalid(
                        key,
                        format!(
                            "{value:?}: kafkit reads PEM only (convert JKS or PKCS12 with keytool/openssl)"
                        ),
                    ));
                }
            }
            "ssl.keystore.location" => {
                let pem = read_file(key, value)?;
                self.keystore.chain = Some(pem.clone());
                self.keystore.key = Some(pem);
                self.apply_keystore();
            }
            "ssl.keystore.certificate.chain" => {
                self.keystore.chain = Some(value.to_string());
                self.apply_keystore();
            }
            "ssl.keystore.key" => {
                self.keystore.key = Some(value.to_string());
                self.apply_keystore();
            }
            "ssl.key.password" | "ssl.keystore.password" => {
                if !value.is_empty() {
                    return Err(invalid(
                        key,
                        "encrypted keys are not supported; give an unencrypted PEM key",
                    ));
                }
            }
            "ssl.truststore.location" => self.tls_mut().truststore_pem = Some(read_file(key, value)?),
            "ssl.truststore.certificates" => self.tls_mut().truststore_pem = Some(value.to_string()),
            "ssl.client.auth" => {
                self.tls_mut().client_auth = match value.to_ascii_lowercase().as_str() {
                    "none" => ClientAuth::None,
                    "requested" => ClientAuth::Requested,
                    "required" => ClientAuth::Required,
                    _ => {
                        return Err(invalid(
                            key,
                            format!("{value:?} is not none, requested or required"),
                        ))
                    }
                }
            }
            "sasl.enabled.mechanisms" => {
                self.sasl.enabled_mechanisms = Some(
                    value
                        .split(',')
                        .map(str::trim)
                        .filter(|m| !m.is_empty())
                        .map(|m| m.parse::<Mechanism>().map_err(|e| invalid(key, e)))
                        .collect::<Result<_>>()?,
                )
            }
            "connections.max.reauth.ms" => {
                let lifetime = millis(key, value)?;
                self.sasl.max_reauth = (!lifetime.is_zero()).then_some(lifetime);
            }
            "connection.failed.authentication.delay.ms" => {
                self.sasl.failed_authentication_delay = millis(key, value)?
            }
            "kafkit.authentication.timeout.ms" => {
                let timeout = millis(key, value)?;
                if timeout.is_zero() {
                    return Err(invalid(key, "must be positive"));
                }
                self.sasl.authentication_timeout = timeout;
            }
            "kafkit.oauthbearer.allowed.audience" => {
                self.sasl.oauth_enabled = true;
                self.sasl.oauth_allowed_audience = value
                    .split(',')
                    .map(str::trim)
                    .filter(|a| !a.is_empty())
                    .map(String::from)
                    .collect()
            }
            "kafkit.scram.credentials" => {
                for (hash, name, password, iterations) in parse_scram_credentials(key, value)? {
                    self.sasl
                        .add_scram_user(hash, &name, &password, iterations)
                        .map_err(|e| invalid(key, e))?;
                }
            }
            _ if is_jaas_key(key) => {
                for (name, password) in parse_jaas_users(key, value)? {
                    self.sasl.add_plain_user(&name, &password);
                }
            }
            _ => return Ok(false),
        }
        Ok(true)
    }

    /// Rebuilds `listeners` from the three listener keys; a listener whose protocol is not
    /// known yet is left out until [`validate`](Self::validate) reports it.
    fn resolve_listeners(&mut self) {
        self.listeners = self
            .raw_listeners
            .iter()
            .filter_map(|(name, host, port)| {
                Some(ListenerConfig {
                    protocol: self.protocol_for(name).ok()?,
                    advertised: self.advertised.get(name).cloned(),
                    name: name.clone(),
                    host: host.clone(),
                    port: *port,
                })
            })
            .collect();
    }

    fn protocol_for(&self, name: &str) -> Result<SecurityProtocol> {
        if let Some(p) = self.protocol_map.get(name) {
            return Ok(*p);
        }
        SecurityProtocol::from_name(name).ok_or_else(|| {
            invalid(
                "listeners",
                format!("listener {name:?} is not a security protocol and listener.security.protocol.map does not name it"),
            )
        })
    }

    fn tls_mut(&mut self) -> &mut TlsConfig {
        self.tls.get_or_insert_with(TlsConfig::default)
    }

    fn apply_keystore(&mut self) {
        let (chain, key) = (self.keystore.chain.clone(), self.keystore.key.clone());
        let tls = self.tls_mut();
        if let Some(chain) = chain {
            tls.certificate_chain_pem = chain;
        }
        if let Some(key) = key {
            tls.private_key_pem = key;
        }
    }

    /// The listeners every broker has: the configured ones, or one PLAINTEXT listener at
    /// `host:port`.
    pub fn effective_listeners(&self, host: &str, port: u16) -> Vec<ListenerConfig> {
        if self.listeners.is_empty() {
            vec![ListenerConfig {
                name: "PLAINTEXT".to_string(),
                protocol: SecurityProtocol::Plaintext,
                host: host.to_string(),
                port,
                advertised: None,
            }]
        } else {
            self.listeners.clone()
        }
    }

    /// Checks the whole: unique listener names, TLS material for TLS listeners, users for SASL
    /// listeners' mechanisms.
    pub fn validate(&self) -> Result<()> {
        for (name, _, _) in &self.raw_listeners {
            self.protocol_for(name)?;
        }
        let mut names = std::collections::BTreeSet::new();
        for l in &self.listeners {
            if !names.insert(l.name.as_str()) {
                return Err(invalid(
                    "listeners",
                    format!("listener {} is named twice", l.name),
                ));
            }
            if l.protocol.tls() {
                let tls = self.tls.as_ref().filter(|t| !t.certificate_chain_pem.is_empty());
                if tls.is_none() {
                    return Err(invalid(
                        "ssl.keystore.location",
                        format!(
                            "listener {} is {} but no certificate is configured",
                            l.name, l.protocol
                        ),
                    ));
                }
            }
        }
        if let Some(tls) = &self.tls {
            if tls.client_auth != ClientAuth::None && tls.truststore_pem.is_none() {
                return Err(invalid(
                    "ssl.truststore.location",
                    "ssl.client.auth needs a truststore to check client certificates against",
                ));
            }
        }
        Ok(())
    }
}

fn invalid(key: &str, reason: impl fmt::Display) -> Error {
    Error::Config(format!("{key}: {reason}"))
}

fn millis(key: &str, value: &str) -> Result<Duration> {
    value
        .parse()
        .map(Duration::from_millis)
        .map_err(|_| invalid(key, format!("cannot parse {value:?}")))
}

fn read_file(key: &str, path: &str) -> Result<String> {
    std::fs::read_to_string(path).map_err(|e| invalid(key, format!("cannot read {path}: {e}")))
}

/// `NAME://host:port,...`; an empty host binds every address, as in Kafka.
fn parse_listeners(key: &str, value: &str) -> Result<Vec<(String, String, u16)>> {
    value
        .split(',')
        .map(str::trim)
        .filter(|e| !e.is_empty())
        .map(|entry| {
            let (name, address) = entry
                .split_once("://")
                .ok_or_else(|| invalid(key, format!("{entry:?} is not NAME://HOST:PORT")))?;
            let (host, port) = address
                .rsplit_once(':')
                .ok_or_else(|| invalid(key, format!("{entry:?} has no port")))?;
            let port = port
                .parse::<u16>()
                .map_err(|_| invalid(key, format!("{entry:?}: invalid port")))?;
            let host = host.trim_start_matches('[').trim_end_matches(']');
            let host = if host.is_empty() { "0.0.0.0" } else { host };
            Ok((name.trim().to_ascii_uppercase(), host.to_string(), port))
        })
        .collect()
}

fn is_jaas_key(key: &str) -> bool {
    key == "sasl.jaas.config"
        || key.ends_with(".plain.sasl.jaas.config")
        || (key.starts_with("listener.name.") && key.ends_with(".sasl.jaas.config"))
}

/// The `user_<name>="<password>"` options of a PlainLoginModule JAAS line.
fn parse_jaas_users(key: &str, value: &str) -> Result<Vec<(String, String)>> {
    let pattern =
        regex::Regex::new(r#"\buser_([^\s=]+)\s*=\s*"((?:[^"\\]|\\.)*)""#).map_err(|e| invalid(key, e))?;
    Ok(pattern
        .captures_iter(value)
        .map(|c| (c[1].to_string(), c[2].replace("\\\"", "\"").replace("\\\\", "\\")))
        .collect())
}

/// `SCRAM-SHA-256=[name=alice,password=alice-secret,iterations=8192],SCRAM-SHA-512=[...]`,
/// as `kafka-storage format --add-scram` takes it.
fn parse_scram_credentials(key: &str, value: &str) -> Result<Vec<(Hash, String, String, u32)>> {
    let pattern =
        regex::Regex::new(r"(SCRAM-SHA-(?:256|512))\s*=\s*\[([^\]]*)\]").map_err(|e| invalid(key, e))?;
    let mut out = Vec::new();
    for c in pattern.captures_iter(value) {
        let hash = match &c[1] {
            "SCRAM-SHA-256" => Hash::Sha256,
            _ => Hash::Sha512,
        };
        let mut name = None;
        let mut password = None;
        let mut iterations = 4096;
        for field in c[2].split(',') {
            let (k, v) = field
                .split_once('=')
                .ok_or_else(|| invalid(key, "expected name=...,password=..."))?;
            let v = v.trim().trim_matches('"');
            match k.trim() {
                "name" => name = Some(v.to_string()),
                "password" => password = Some(v.to_string()),
                "iterations" => {
                    iterations = v
                        .parse()
                        .map_err(|_| invalid(key, format!("iterations {v:?} is not a number")))?
                }
                other => return Err(invalid(key, format!("unknown field {other:?}"))),
            }
        }
        let (Some(name), Some(password)) = (name, password) else {
            return Err(invalid(key, "each credential needs a name and a password"));
        };
        out.push((hash, name, password, iterations));
    }
    if out.is_empty() && !value.is_empty() {
        return Err(invalid(key, "expected SCRAM-SHA-256=[name=...,password=...]"));
    }
    Ok(out)
}

/// One listener at run time: its config and, for TLS listeners, the acceptor.
#[derive(Clone)]
pub(crate) struct ListenerRuntime {
    pub config: ListenerConfig,
    pub tls: Option<tokio_rustls::TlsAcceptor>,
}

impl fmt::Debug for ListenerRuntime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ListenerRuntime")
            .field("config", &self.config)
            .field("tls", &self.tls.is_some())
            .finish()
    }
}

/// The listeners of a running cluster, built once at start.
#[derive(Debug)]
pub(crate) struct Security {
    pub listeners: Vec<ListenerRuntime>,
    pub sasl: Arc<SaslConfig>,
}

impl Security {
    pub(crate) fn build(config: &SecurityConfig, host: &str, port: u16) -> Result<Security> {
        config.validate()?;
        let acceptor = match &config.tls {
            Some(tls) if !tls.certificate_chain_pem.is_empty() => Some(tls::acceptor(tls)?),
            _ => None,
        };
        let listeners = config
            .effective_listeners(host, port)
            .into_iter()
            .map(|config| ListenerRuntime {
                tls: if config.protocol.tls() {
                    acceptor.clone()
                } else {
                    None
                },
                config,
            })
            .collect();
        Ok(Security {
            listeners,
            sasl: Arc::new(config.sasl.clone()),
        })
    }
}
