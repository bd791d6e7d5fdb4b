//! SASL mechanisms as Kafka speaks them: the PLAIN message (RFC 4616), SCRAM-SHA-256 and
//! SCRAM-SHA-512 (RFC 5802, RFC 7677) for both ends of the exchange, and the unsecured JWT
//! OAUTHBEARER uses in tests (RFC 7628, KIP-255).
//!
//! These are the bytes inside `SaslAuthenticate` requests and responses (KIP-152); the
//! producer uses the client side, the broker the server side, so both live here, beside the
//! rest of the wire format.
//!
//! Digests, HMAC and PBKDF2 come from `ring`; nonces from the operating system's generator.
//! Errors ([`Error::Sasl`]) never contain a password or a
//! proof.
//!
//! # References
//! - RFC 4616 (PLAIN), RFC 5802 (SCRAM), RFC 7677 (SCRAM-SHA-256), RFC 7628 (OAUTHBEARER)
//! - Kafka: KIP-43 (SASL handshake), KIP-84 (SCRAM), KIP-152 (SaslAuthenticate), KIP-255
//!   (OAUTHBEARER), `ScramSaslServer`, `ScramFormatter`, `PlainSaslServer`

pub mod oauth;
pub mod plain;
pub mod scram;
#[cfg(test)]
mod tests;

use std::fmt;
use std::str::FromStr;

use crate::{Error, Result};

/// A SASL mechanism kafkit speaks, named as Kafka names it in `sasl.mechanism` and in the
/// SaslHandshake request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Mechanism {
    /// `PLAIN`: user name and password in the clear (use it over TLS).
    Plain,
    /// `SCRAM-SHA-256`.
    ScramSha256,
    /// `SCRAM-SHA-512`.
    ScramSha512,
    /// `OAUTHBEARER`: a bearer token (a JWT).
    OAuthBearer,
}

impl Mechanism {
    /// Every mechanism, in the order brokers list them.
    pub const ALL: [Mechanism; 4] = [
        Mechanism::Plain,
        Mechanism::ScramSha256,
        Mechanism::ScramSha512,
        Mechanism::OAuthBearer,
    ];

    /// Kafka's name of the mechanism.
    pub fn name(self) -> &'static str {
        match self {
            Mechanism::Plain => "PLAIN",
            Mechanism::ScramSha256 => "SCRAM-SHA-256",
            Mechanism::ScramSha512 => "SCRAM-SHA-512",
            Mechanism::OAuthBearer => "OAUTHBEARER",
        }
    }

    /// The SCRAM hash of a SCRAM mechanism.
    pub fn scram(self) -> Option<scram::Hash> {
        match self {
            Mechanism::ScramSha256 => Some(scram::Hash::Sha256),
            Mechanism::ScramSha512 => Some(scram::Hash::Sha512),
            _ => None,
        }
    }
}

impl fmt::Display for Mechanism {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Mechanism {
    type Err = Error;

    /// Parses Kafka's name (case sensitive, as Kafka's is). `GSSAPI` and unknown names are an
    /// error listing what kafkit speaks.
    fn from_str(s: &str) -> Result<Self> {
        Mechanism::ALL
            .into_iter()
            .find(|m| m.name() == s)
            .ok_or_else(|| Error::Sasl {
                mechanism: "?",
                reason: format!(
                    "unsupported mechanism {s:?}; kafkit speaks {}",
                    Mechanism::ALL.map(Mechanism::name).join(", ")
                ),
            })
    }
}

/// Kafka's `security.protocol` of a listener or a client: whether connections use TLS and
/// whether they authenticate with SASL. One type for the broker's listeners and the
/// producer's setting.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum SecurityProtocol {
    /// Plain TCP, no authentication (the default).
    #[default]
    Plaintext,
    /// TLS; a client certificate may identify the client.
    Ssl,
    /// SASL over plain TCP.
    SaslPlaintext,
    /// SASL over TLS.
    SaslSsl,
}

impl SecurityProtocol {
    /// Every protocol, in Kafka's order.
    pub const ALL: [SecurityProtocol; 4] = [
        SecurityProtocol::Plaintext,
        SecurityProtocol::Ssl,
        SecurityProtocol::SaslPlaintext,
        SecurityProtocol::SaslSsl,
    ];

    /// Kafka's name.
    pub fn name(self) -> &'static str {
        match self {
            SecurityProtocol::Plaintext => "PLAINTEXT",
            SecurityProtocol::Ssl => "SSL",
            SecurityProtocol::SaslPlaintext => "SASL_PLAINTEXT",
            SecurityProtocol::SaslSsl => "SASL_SSL",
        }
    }

    /// The protocol Kafka names `name` (in any case, as Kafka reads it), if any.
    pub fn from_name(name: &str) -> Option<SecurityProtocol> {
        let name = name.trim();
        SecurityProtocol::ALL
            .into_iter()
            .find(|p| p.name().eq_ignore_ascii_case(name))
    }

    /// Whether connections use TLS.
    pub fn tls(self) -> bool {
        matches!(self, SecurityProtocol::Ssl | SecurityProtocol::SaslSsl)
    }

    /// Whether connections authenticate with SASL.
    pub fn sasl(self) -> bool {
        matches!(self, SecurityProtocol::SaslPlaintext | SecurityProtocol::SaslSsl)
    }
}

impl fmt::Display for SecurityProtocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Fills `out` from the operating system's secure generator.
pub(crate) fn random_bytes(out: &mut [u8]) -> Result<()> {
    use ring::rand::SecureRandom;
    ring::rand::SystemRandom::new()
        .fill(out)
        .map_err(|_| Error::Sasl {
            mechanism: "SCRAM",
            reason: "the system's random generator failed".to_string(),
        })
}

/// A SASL error for `mechanism`.
pub(crate) fn sasl_error(mechanism: Mechanism, reason: impl Into<String>) -> Error {
    Error::Sasl {
        mechanism: mechanism.name(),
        reason: reason.into(),
    }
}
