//! SCRAM-SHA-256 and SCRAM-SHA-512 (RFC 5802, RFC 7677), both ends, without channel binding
//! (gs2 header `n,,`), as Kafka speaks them.
//!
//! The exchange is two round trips:
//!
//! ```text
//! client-first  n,,n=alice,r=<client nonce>
//! server-first  r=<client nonce><server nonce>,s=<salt, base64>,i=<iterations>
//! client-final  c=biws,r=<both nonces>,p=<ClientKey XOR HMAC(StoredKey, AuthMessage), base64>
//! server-final  v=<HMAC(ServerKey, AuthMessage), base64>
//! ```
//!
//! The server keeps only a [`ScramCredential`] per user (salt, iterations, StoredKey,
//! ServerKey): Kafka's stored form, from which the password cannot be recovered.
//!
//! ```
//! use kafkit_protocol::sasl::scram::{Hash, ScramClient, ScramCredential, ScramServer};
//!
//! let credential = ScramCredential::new(Hash::Sha512, "alice-secret", 4096)?;
//! let mut client = ScramClient::new(Hash::Sha512, "alice", "alice-secret")?;
//! let mut server = ScramServer::new(Hash::Sha512);
//!
//! let client_first = client.client_first();
//! let (user, server_first) = server.server_first(&client_first, |name| {
//!     (name == "alice").then(|| credential.clone())
//! })?;
//! assert_eq!(user, "alice");
//! let client_final = client.client_final(&server_first)?;
//! let server_final = server.server_final(&client_final)?;
//! client.verify_server_final(&server_final)?;
//! # Ok::<(), kafkit_protocol::Error>(())
//! ```

use std::num::NonZeroU32;

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;
use ring::{digest, hmac, pbkdf2};

use super::{random_bytes, sasl_error, Mechanism};
use crate::Result;

/// Kafka's fewest iterations for a SCRAM credential (and the fewest a client accepts).
pub const MIN_ITERATIONS: u32 = 4096;
/// Kafka's most iterations for a SCRAM credential. A client refuses more, so a hostile server
/// cannot make it hash for long.
pub const MAX_ITERATIONS: u32 = 16384;
/// The longest SCRAM message accepted from the peer (Kafka bounds the whole SASL frame; a
/// SCRAM message is a few hundred bytes).
const MAX_MESSAGE: usize = 8 * 1024;

/// The hash a SCRAM mechanism is built on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Hash {
    /// SHA-256 (`SCRAM-SHA-256`).
    Sha256,
    /// SHA-512 (`SCRAM-SHA-512`).
    Sha512,
}

impl Hash {
    /// The mechanism built on this hash.
    pub fn mechanism(self) -> Mechanism {
        match self {
            Hash::Sha256 => Mechanism::ScramSha256,
            Hash::Sha512 => Mechanism::ScramSha512,
        }
    }

    fn pbkdf2(self) -> pbkdf2::Algorithm {
        match self {
            Hash::Sha256 => pbkdf2::PBKDF2_HMAC_SHA256,
            Hash::Sha512 => pbkdf2::PBKDF2_HMAC_SHA512,
        }
    }

    fn hmac_algorithm(self) -> hmac::Algorithm {
        match self {
            Hash::Sha256 => hmac::HMAC_SHA256,
            Hash::Sha512 => hmac::HMAC_SHA512,
        }
    }

    fn digest_algorithm(self) -> &'static digest::Algorithm {
        match self {
            Hash::Sha256 => &digest::SHA256,
            Hash::Sha512 => &digest::SHA512,
        }
    }

    fn len(self) -> usize {
        match self {
            Hash::Sha256 => 32,
            Hash::Sha512 => 64,
        }
    }

    fn hmac(self, key: &[u8], data: &[u8]) -> Vec<u8> {
        hmac::sign(&hmac::Key::new(self.hmac_algorithm(), key), data)
            .as_ref()
            .to_vec()
    }

    fn digest(self, data: &[u8]) -> Vec<u8> {
        digest::digest(self.digest_algorithm(), data).as_ref().to_vec()
    }

    fn salted_password(self, password: &str, salt: &[u8], iterations: NonZeroU32) -> Vec<u8> {
        let mut out = vec![0; self.len()];
        pbkdf2::derive(self.pbkdf2(), iterations, salt, password.as_bytes(), &mut out);
        out
    }

    fn error(self, reason: impl Into<String>) -> crate::Error {
        sasl_error(self.mechanism(), reason)
    }
}

/// What a server stores for one user and mechanism: Kafka's `ScramCredential`.
#[derive(Clone, PartialEq, Eq)]
pub struct ScramCredential {
    /// The mechanism's hash.
    pub hash: Hash,
    /// The salt.
    pub salt: Vec<u8>,
    /// PBKDF2 iterations.
    pub iterations: u32,
    /// `H(HMAC(SaltedPassword, "Client Key"))`.
    pub stored_key: Vec<u8>,
    /// `HMAC(SaltedPassword, "Server Key")`.
    pub server_key: Vec<u8>,
}

impl std::fmt::Debug for ScramCredential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The keys are password equivalents for this server: never logged.
        f.debug_struct("ScramCredential")
            .field("hash", &self.hash)
            .field("iterations", &self.iterations)
            .finish_non_exhaustive()
    }
}

impl ScramCredential {
    /// Salts and hashes `password` with a fresh random salt, as `kafka-configs --add-config
    /// 'SCRAM-SHA-256=[password=...]'` does. `iterations` must be within Kafka's 4096..=16384.
    pub fn new(hash: Hash, password: &str, iterations: u32) -> Result<ScramCredential> {
        let mut salt = [0u8; 24];
        random_bytes(&mut salt)?;
        ScramCredential::with_salt(hash, password, &salt, iterations)
    }

    /// As [`new`](Self::new), with a given salt (for test vectors and reproducible setups).
    pub fn with_salt(hash: Hash, password: &str, salt: &[u8], iterations: u32) -> Result<ScramCredential> {
        let checked = check_iterations(hash, iterations)?;
        let salted = hash.salted_password(password, salt, checked);
        let client_key = hash.hmac(&salted, b"Client Key");
        Ok(ScramCredential {
            hash,
            salt: salt.to_vec(),
            iterations,
            stored_key: hash.digest(&client_key),
            server_key: hash.hmac(&salted, b"Server Key"),
        })
    }
}

fn check_iterations(hash: Hash, iterations: u32) -> Result<NonZeroU32> {
    if !(MIN_ITERATIONS..=MAX_ITERATIONS).contains(&iterations) {
        return Err(hash.error(format!(
            "{iterations} iterations is outside Kafka's range {MIN_ITERATIONS}..={MAX_ITERATIONS}"
        )));
    }
    NonZeroU32::new(iterations).ok_or_else(|| hash.error("zero iterations"))
}

/// A fresh nonce: 18 random bytes in base64 (printable, never a comma).
fn nonce() -> Result<String> {
    let mut raw = [0u8; 18];
    random_bytes(&mut raw)?;
    Ok(BASE64.encode(raw))
}

/// RFC 5802's `saslname`: `,` and `=` escaped.
fn escape_name(name: &str) -> String {
    name.replace('=', "=3D").replace(',', "=2C")
}

fn unescape_name(hash: Hash, name: &str) -> Result<String> {
    let mut out = String::with_capacity(name.len());
    let mut rest = name;
    while let Some(at) = rest.find('=') {
        out.push_str(&rest[..at]);
        match rest.get(at..at + 3) {
            Some("=2C") => out.push(','),
            Some("=3D") => out.push('='),
            _ => return Err(hash.error("invalid escape in the user name")),
        }
        rest = &rest[at + 3..];
    }
    out.push_str(rest);
    Ok(out)
}

/// Splits a SCRAM message into its `k=v` attributes, in order.
fn attributes(hash: Hash, message: &str) -> Result<Vec<(char, &str)>> {
    message
        .split(',')
        .map(|field| {
            let mut chars = field.chars();
            match (chars.next(), chars.next()) {
                (Some(key), Some('=')) if key.is_ascii_alphabetic() => Ok((key, &field[2..])),
                _ => Err(hash.error(format!("malformed attribute {:?}", truncate(field)))),
            }
        })
        .collect()
}

fn truncate(s: &str) -> &str {
    let mut end = s.len().min(32);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

fn text(hash: Hash, message: &[u8]) -> Result<&str> {
    if message.len() > MAX_MESSAGE {
        return Err(hash.error(format!("a message of {} bytes is too long", message.len())));
    }
    std::str::from_utf8(message).map_err(|_| hash.error("the message is not UTF-8"))
}

fn xor(a: &[u8], b: &[u8]) -> Vec<u8> {
    a.iter().zip(b).map(|(x, y)| x ^ y).collect()
}

/// The client's side of one SCRAM exchange.
#[derive(Debug)]
pub struct ScramClient {
    hash: Hash,
    username: String,
    password: String,
    client_nonce: String,
    client_first_bare: String,
    /// The ServerSignature expected in server-final, once client-final was built.
    expected_server_signature: Option<Vec<u8>>,
}

impl ScramClient {
    /// A client for `username` with a random nonce.
    pub fn new(hash: Hash, username: &str, password: &str) -> Result<ScramClient> {
        Ok(ScramClient::with_nonce(hash, username, password, &nonce()?))
    }

    /// A client with a given nonce (for test vectors).
    pub fn with_nonce(hash: Hash, username: &str, password: &str, nonce: &str) -> ScramClient {
        ScramClient {
            hash,
            username: username.to_string(),
            password: password.to_string(),
            client_nonce: nonce.to_string(),
            client_first_bare: format!("n={},r={nonce}", escape_name(username)),
            expected_server_signature: None,
        }
    }

    /// client-first-message: `n,,n=<user>,r=<nonce>`.
    pub fn client_first(&self) -> Vec<u8> {
        format!("n,,{}", self.client_first_bare).into_bytes()
    }

    /// client-final-message for the server's first message. Checks that the server's nonce
    /// extends ours and that its iterations are within Kafka's range.
    pub fn client_final(&mut self, server_first: &[u8]) -> Result<Vec<u8>> {
        let hash = self.hash;
        let server_first = text(hash, server_first)?;
        let attrs = attributes(hash, server_first)?;
        if let Some((_, e)) = attrs.iter().find(|(k, _)| *k == 'e') {
            return Err(hash.error(format!("the server refused: {e}")));
        }
        let get = |key: char| {
            attrs
                .iter()
                .find(|(k, _)| *k == key)
                .map(|(_, v)| *v)
                .ok_or_else(|| hash.error(format!("server-first-message has no {key}=")))
        };
        let nonce = get('r')?;
        if !nonce.starts_with(&self.client_nonce) || nonce.len() == self.client_nonce.len() {
            return Err(hash.error("the server's nonce does not extend the client's"));
        }
        let salt = BASE64
            .decode(get('s')?)
            .map_err(|_| hash.error("the salt is not base64"))?;
        let iterations: u32 = get('i')?
            .parse()
            .map_err(|_| hash.error("the iteration count is not a number"))?;
        let iterations = check_iterations(hash, iterations)?;
        let salted = hash.salted_password(&self.password, &salt, iterations);
        let client_key = hash.hmac(&salted, b"Client Key");
        let stored_key = hash.digest(&client_key);
        let without_proof = format!("c=biws,r={nonce}");
        let auth_message = format!("{},{server_first},{without_proof}", self.client_first_bare);
        let client_signature = hash.hmac(&stored_key, auth_message.as_bytes());
        let proof = xor(&client_key, &client_signature);
        let server_key = hash.hmac(&salted, b"Server Key");
        self.expected_server_signature = Some(hash.hmac(&server_key, auth_message.as_bytes()));
        Ok(format!("{without_proof},p={}", BASE64.encode(proof)).into_bytes())
    }

    /// Checks server-final-message: the server proves it knows the credential.
    pub fn verify_server_final(&self, server_final: &[u8]) -> Result<()> {
        let hash = self.hash;
        let server_final = text(hash, server_final)?;
        let attrs = attributes(hash, server_final)?;
        if let Some((_, e)) = attrs.iter().find(|(k, _)| *k == 'e') {
            return Err(hash.error(format!("the server refused: {e}")));
        }
        let expected = self
            .expected_server_signature
            .as_ref()
            .ok_or_else(|| hash.error("server-final-message before client-final-message"))?;
        let signature = attrs
            .iter()
            .find(|(k, _)| *k == 'v')
            .and_then(|(_, v)| BASE64.decode(v).ok())
            .ok_or_else(|| hash.error("server-final-message has no valid v="))?;
        if !super::plain::secrets_equal(&signature, expected) {
            return Err(hash.error("the server's signature does not verify"));
        }
        Ok(())
    }

    /// The user name this client authenticates as.
    pub fn username(&self) -> &str {
        &self.username
    }
}

/// The server's side of one SCRAM exchange.
#[derive(Debug)]
pub struct ScramServer {
    hash: Hash,
    /// Set by [`server_first`](Self::server_first).
    state: Option<ServerState>,
    server_nonce: Option<String>,
}

#[derive(Debug)]
struct ServerState {
    credential: ScramCredential,
    client_first_bare: String,
    server_first: String,
    nonce: String,
}

impl ScramServer {
    /// A server for one exchange with a random nonce.
    pub fn new(hash: Hash) -> ScramServer {
        ScramServer {
            hash,
            state: None,
            server_nonce: None,
        }
    }

    /// A server with a given nonce (for test vectors).
    pub fn with_nonce(hash: Hash, nonce: &str) -> ScramServer {
        ScramServer {
            hash,
            state: None,
            server_nonce: Some(nonce.to_string()),
        }
    }

    /// Answers client-first-message. `lookup` finds the user's credential; an unknown user is
    /// an error (Kafka refuses at this step too). Returns the user name and
    /// server-first-message.
    pub fn server_first<F>(&mut self, client_first: &[u8], lookup: F) -> Result<(String, Vec<u8>)>
    where
        F: FnOnce(&str) -> Option<ScramCredential>,
    {
        let hash = self.hash;
        if self.state.is_some() {
            return Err(hash.error("a second client-first-message"));
        }
        let message = text(hash, client_first)?;
        // gs2-header: channel binding flag, then the authorization id, then the bare message.
        let mut gs2 = message.splitn(3, ',');
        let (Some(flag), Some(authzid), Some(bare)) = (gs2.next(), gs2.next(), gs2.next()) else {
            return Err(hash.error("client-first-message has no gs2 header"));
        };
        if flag != "n" && flag != "y" {
            return Err(hash.error("channel binding is not supported"));
        }
        let attrs = attributes(hash, bare)?;
        let (Some(('n', name)), Some(('r', client_nonce))) = (attrs.first().copied(), attrs.get(1).copied())
        else {
            return Err(hash.error("client-first-message must start with n= and r="));
        };
        // Any further attributes are extensions (Kafka's `tokenauth`), ignored here.
        let username = unescape_name(hash, name)?;
        if !authzid.is_empty()
            && authzid
                .strip_prefix("a=")
                .map(|a| unescape_name(hash, a))
                .transpose()?
                .as_deref()
                != Some(&username)
        {
            return Err(hash.error(
                "Authentication failed: Client requested an authorization id that is different from username",
            ));
        }
        if client_nonce.is_empty() {
            return Err(hash.error("empty client nonce"));
        }
        let credential = lookup(&username)
            .filter(|c| c.hash == hash)
            .ok_or_else(|| hash.error("unknown user"))?;
        let server_nonce = match &self.server_nonce {
            Some(n) => n.clone(),
            None => nonce()?,
        };
        let nonce = format!("{client_nonce}{server_nonce}");
        let server_first = format!(
            "r={nonce},s={},i={}",
            BASE64.encode(&credential.salt),
            credential.iterations
        );
        let out = server_first.clone().into_bytes();
        self.state = Some(ServerState {
            credential,
            client_first_bare: bare.to_string(),
            server_first,
            nonce,
        });
        Ok((username, out))
    }

    /// Checks client-final-message's proof; returns server-final-message.
    pub fn server_final(&mut self, client_final: &[u8]) -> Result<Vec<u8>> {
        let hash = self.hash;
        let state = self
            .state
            .take()
            .ok_or_else(|| hash.error("client-final-message before client-first-message"))?;
        let message = text(hash, client_final)?;
        let (without_proof, proof) = message
            .rsplit_once(",p=")
            .ok_or_else(|| hash.error("client-final-message has no proof"))?;
        let attrs = attributes(hash, without_proof)?;
        let get = |key: char| attrs.iter().find(|(k, _)| *k == key).map(|(_, v)| *v);
        if get('c') != Some("biws") && get('c') != Some("eSws") {
            return Err(hash.error("unexpected channel binding"));
        }
        if get('r') != Some(state.nonce.as_str()) {
            return Err(hash.error("the nonce does not match"));
        }
        let proof = BASE64
            .decode(proof)
            .map_err(|_| hash.error("the proof is not base64"))?;
        let credential = &state.credential;
        if proof.len() != hash.len() {
            return Err(hash.error("the proof has the wrong length"));
        }
        let auth_message = format!(
            "{},{},{without_proof}",
            state.client_first_bare, state.server_first
        );
        let client_signature = hash.hmac(&credential.stored_key, auth_message.as_bytes());
        let client_key = xor(&proof, &client_signature);
        if !super::plain::secrets_equal(&hash.digest(&client_key), &credential.stored_key) {
            return Err(hash.error("invalid credentials"));
        }
        let signature = hash.hmac(&credential.server_key, auth_message.as_bytes());
        Ok(format!("v={}", BASE64.encode(signature)).into_bytes())
    }
}
