//! PLAIN (RFC 4616): one message, `authzid NUL authcid NUL passwd`, UTF-8.

use super::{sasl_error, Mechanism};
use crate::Result;

/// The client's PLAIN message for `username` and `password`, with an empty authorization id
/// (as Java's and librdkafka's clients send it).
pub fn client_message(username: &str, password: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(username.len() + password.len() + 2);
    out.push(0);
    out.extend_from_slice(username.as_bytes());
    out.push(0);
    out.extend_from_slice(password.as_bytes());
    out
}

/// A decoded PLAIN message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlainMessage<'a> {
    /// The authorization id; empty when the client asked for none.
    pub authzid: &'a str,
    /// The user name.
    pub username: &'a str,
    /// The password.
    pub password: &'a str,
}

/// Decodes a client's PLAIN message. Kafka's rules: exactly three fields, UTF-8, user name
/// and password not empty.
pub fn parse_client_message(message: &[u8]) -> Result<PlainMessage<'_>> {
    let text =
        std::str::from_utf8(message).map_err(|_| sasl_error(Mechanism::Plain, "the message is not UTF-8"))?;
    let mut parts = text.split('\0');
    let (Some(authzid), Some(username), Some(password), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(sasl_error(
            Mechanism::Plain,
            "Invalid SASL/PLAIN response: expected 3 tokens",
        ));
    };
    if username.is_empty() {
        return Err(sasl_error(
            Mechanism::Plain,
            "Authentication failed: username not specified",
        ));
    }
    if password.is_empty() {
        return Err(sasl_error(
            Mechanism::Plain,
            "Authentication failed: password not specified",
        ));
    }
    Ok(PlainMessage {
        authzid,
        username,
        password,
    })
}

/// Compares two secrets in time that does not depend on where they differ.
pub fn secrets_equal(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}
