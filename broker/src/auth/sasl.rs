//! The server side of SaslHandshake and SaslAuthenticate for one connection.
//!
//! [`Authenticator`] holds where the connection is in the exchange and who it is. The
//! connection loop hands it every SaslHandshake / SaslAuthenticate request (and, after a v0
//! handshake, the raw tokens that follow it) and asks it whether other requests may be served.

use std::sync::Arc;

use bytes::{Bytes, BytesMut};
use kafka_protocol::messages::{
    SaslAuthenticateRequest, SaslAuthenticateResponse, SaslHandshakeRequest, SaslHandshakeResponse,
};
use kafka_protocol::protocol::StrBytes;
use kafkit_protocol::sasl::scram::ScramServer;
use kafkit_protocol::sasl::{oauth, plain, Mechanism};
use kafkit_protocol::ErrorCode;
use tokio::time::Instant;

use super::SaslConfig;
use crate::Result;

/// Kafka's principal of a connection that has not authenticated (or needs not).
pub const ANONYMOUS: &str = "User:ANONYMOUS";

/// Where the exchange is.
#[derive(Debug)]
enum State {
    /// Waiting for a SaslHandshake (before authentication, or for a re-authentication).
    AwaitHandshake,
    /// A mechanism was chosen; the client's first token is next. `raw`: after a v0
    /// handshake, tokens come as bare length-prefixed frames, not in SaslAuthenticate.
    FirstToken { mechanism: Mechanism, raw: bool },
    /// SCRAM's second round trip.
    ScramFinal {
        server: Box<ScramServer>,
        user: String,
        raw: bool,
    },
    /// OAUTHBEARER refused the token with an error challenge; the client's `%x01` is next.
    OAuthRefused { raw: bool },
}

/// What one token led to.
enum Evaluated {
    /// Send this challenge and wait for the next token.
    Challenge(Vec<u8>),
    /// Authenticated as `principal`; send the last bytes. `expires_at`: when the credential
    /// (an OAUTHBEARER token) expires.
    Done {
        bytes: Vec<u8>,
        principal: String,
        expires_at: Option<Instant>,
    },
}

/// A refusal: Kafka's message (never a secret) for SASL_AUTHENTICATION_FAILED.
struct Refused(String);

/// The response to one SASL frame, and whether the connection closes once it is written.
#[derive(Debug)]
pub(crate) struct SaslReply {
    /// The response frame (length prefix included).
    pub response: Bytes,
    /// Close after writing (a failed authentication, an unsupported mechanism).
    pub close: bool,
    /// The exchange failed (SASL_AUTHENTICATION_FAILED): the close waits for
    /// `connection.failed.authentication.delay.ms`, as in Kafka.
    pub failed: bool,
}

/// One connection's authentication.
#[derive(Debug)]
pub(crate) struct Authenticator {
    config: Arc<SaslConfig>,
    /// Whether the listener requires SASL.
    sasl_listener: bool,
    state: State,
    /// Set once authenticated (always, on a listener without SASL).
    principal: Option<String>,
    /// KIP-368: when the session ends; a request other than a re-authentication after it
    /// closes the connection.
    session_expiry: Option<Instant>,
    /// A mechanism name for logs.
    mechanism: Option<Mechanism>,
}

impl Authenticator {
    /// A connection on a listener; `tls_principal` is the client certificate's principal.
    pub(crate) fn new(config: Arc<SaslConfig>, sasl_listener: bool, tls_principal: Option<String>) -> Self {
        Authenticator {
            config,
            sasl_listener,
            state: State::AwaitHandshake,
            principal: (!sasl_listener).then(|| tls_principal.unwrap_or_else(|| ANONYMOUS.to_string())),
            session_expiry: None,
            mechanism: None,
        }
    }

    /// Whether requests other than ApiVersions and SASL ones may be served.
    pub(crate) fn authenticated(&self) -> bool {
        self.principal.is_some()
    }

    /// The connection's principal (`User:ANONYMOUS` until authenticated).
    pub(crate) fn principal(&self) -> &str {
        self.principal.as_deref().unwrap_or(ANONYMOUS)
    }

    /// Whether the next frame is a bare SASL token (after a v0 handshake).
    pub(crate) fn expects_raw_token(&self) -> bool {
        matches!(
            self.state,
            State::FirstToken { raw: true, .. }
                | State::ScramFinal { raw: true, .. }
                | State::OAuthRefused { raw: true }
        )
    }

    /// Whether the session has expired (KIP-368), so the connection must close.
    pub(crate) fn session_expired(&self, now: Instant) -> bool {
        self.session_expiry.is_some_and(|at| now >= at)
    }

    /// Answers a SaslHandshake request.
    pub(crate) fn handshake(
        &mut self,
        correlation_id: i32,
        version: i16,
        request: &SaslHandshakeRequest,
    ) -> Result<SaslReply> {
        let enabled = self.config.mechanisms();
        let mut response = SaslHandshakeResponse::default().with_mechanisms(
            enabled
                .iter()
                .map(|m| StrBytes::from_static_str(m.name()))
                .collect(),
        );
        let mut close = false;
        if !self.sasl_listener || !matches!(self.state, State::AwaitHandshake) {
            // Kafka: a handshake on a listener without SASL, or a second one mid-exchange.
            response.error_code = ErrorCode::IllegalSaslState.code();
            response.mechanisms.clear();
            close = self.sasl_listener;
        } else {
            match request
                .mechanism
                .parse::<Mechanism>()
                .ok()
                .filter(|m| enabled.contains(m))
            {
                Some(mechanism) => {
                    self.mechanism = Some(mechanism);
                    self.state = State::FirstToken {
                        mechanism,
                        raw: version == 0,
                    };
                }
                None => {
                    tracing::info!(mechanism = %request.mechanism, "unsupported SASL mechanism");
                    response.error_code = ErrorCode::UnsupportedSaslMechanism.code();
                    close = true;
                }
            }
        }
        Ok(SaslReply {
            response: encode(correlation_id, version, &response)?,
            close,
            failed: false,
        })
    }

    /// Answers a SaslAuthenticate request.
    pub(crate) fn authenticate(
        &mut self,
        correlation_id: i32,
        version: i16,
        request: &SaslAuthenticateRequest,
    ) -> Result<SaslReply> {
        let mut response = SaslAuthenticateResponse::default();
        let mid_exchange = !matches!(self.state, State::AwaitHandshake) && !self.expects_raw_token();
        if !self.sasl_listener || !mid_exchange {
            response.error_code = ErrorCode::IllegalSaslState.code();
            response.error_message = Some(StrBytes::from_static_str(
                "Unexpected SaslAuthenticate request: no SASL exchange is in progress",
            ));
            return Ok(SaslReply {
                response: encode(correlation_id, version, &response)?,
                close: self.sasl_listener && !self.authenticated(),
                failed: false,
            });
        }
        let close = match self.evaluate(&request.auth_bytes) {
            Ok(Evaluated::Challenge(bytes)) => {
                response.auth_bytes = Bytes::from(bytes);
                false
            }
            Ok(Evaluated::Done {
                bytes,
                principal,
                expires_at,
            }) => match self.finish(principal, expires_at) {
                Ok(lifetime_ms) => {
                    response.auth_bytes = Bytes::from(bytes);
                    if version >= 1 {
                        response.session_lifetime_ms = lifetime_ms;
                    }
                    false
                }
                Err(Refused(message)) => {
                    response.error_code = ErrorCode::SaslAuthenticationFailed.code();
                    response.error_message = Some(StrBytes::from_string(message));
                    true
                }
            },
            Err(Refused(message)) => {
                response.error_code = ErrorCode::SaslAuthenticationFailed.code();
                response.error_message = Some(StrBytes::from_string(message));
                true
            }
        };
        Ok(SaslReply {
            response: encode(correlation_id, version, &response)?,
            close,
            failed: close,
        })
    }

    /// Handles a bare token after a v0 handshake: the answer is a bare length-prefixed token;
    /// a failure closes the connection without one (as Kafka does for v0 clients).
    pub(crate) fn raw_token(&mut self, token: &[u8]) -> SaslReply {
        let bytes = match self.evaluate(token) {
            Ok(Evaluated::Challenge(bytes)) => bytes,
            Ok(Evaluated::Done {
                bytes,
                principal,
                expires_at,
            }) => match self.finish(principal, expires_at) {
                Ok(_) => bytes,
                Err(_) => return closing(),
            },
            Err(_) => return closing(),
        };
        let mut frame = BytesMut::with_capacity(bytes.len() + 4);
        frame.extend_from_slice(&(bytes.len() as i32).to_be_bytes());
        frame.extend_from_slice(&bytes);
        SaslReply {
            response: frame.freeze(),
            close: false,
            failed: false,
        }
    }

    /// Records a successful exchange; returns the session lifetime in ms (0: none).
    fn finish(
        &mut self,
        principal: String,
        expires_at: Option<Instant>,
    ) -> std::result::Result<i64, Refused> {
        self.state = State::AwaitHandshake;
        if let Some(previous) = &self.principal {
            if *previous != principal {
                self.log_failure("re-authentication changed the principal");
                return Err(Refused(format!(
                    "Cannot change principals during re-authentication from {previous}: {principal}"
                )));
            }
        }
        tracing::debug!(%principal, mechanism = ?self.mechanism, "authenticated");
        self.principal = Some(principal);
        let now = Instant::now();
        let lifetime = match (self.config.max_reauth, expires_at) {
            (None, _) => None,
            (Some(max), None) => Some(max),
            (Some(max), Some(at)) => Some(max.min(at.saturating_duration_since(now))),
        };
        self.session_expiry = lifetime.map(|l| now + l);
        Ok(lifetime.map_or(0, |l| i64::try_from(l.as_millis()).unwrap_or(i64::MAX).max(1)))
    }

    fn log_failure(&self, why: &str) {
        // Never the token or password: the user name at most.
        tracing::info!(mechanism = ?self.mechanism, why, "failed authentication");
    }

    fn evaluate(&mut self, token: &[u8]) -> std::result::Result<Evaluated, Refused> {
        let state = std::mem::replace(&mut self.state, State::AwaitHandshake);
        match state {
            State::AwaitHandshake => Err(Refused("Unexpected SASL token".to_string())),
            State::FirstToken {
                mechanism: Mechanism::Plain,
                ..
            } => self.plain(token),
            State::FirstToken {
                mechanism: Mechanism::OAuthBearer,
                raw,
            } => self.oauth(token, raw),
            State::FirstToken { mechanism, raw } => {
                // Invariant: the other mechanisms are SCRAM ones.
                let Some(hash) = mechanism.scram() else {
                    return Err(Refused(format!("unsupported mechanism {mechanism}")));
                };
                let mut server = ScramServer::new(hash);
                let config = &self.config;
                match server.server_first(token, |name| {
                    config.scram_users.get(&(name.to_string(), hash)).cloned()
                }) {
                    Ok((user, first)) => {
                        self.state = State::ScramFinal {
                            server: Box::new(server),
                            user,
                            raw,
                        };
                        Ok(Evaluated::Challenge(first))
                    }
                    Err(e) => {
                        self.log_failure(&e.to_string());
                        Err(scram_refused(mechanism))
                    }
                }
            }
            State::ScramFinal { mut server, user, .. } => {
                let mechanism = self.mechanism.unwrap_or(Mechanism::ScramSha512);
                match server.server_final(token) {
                    Ok(last) => Ok(Evaluated::Done {
                        bytes: last,
                        principal: format!("User:{user}"),
                        expires_at: None,
                    }),
                    Err(e) => {
                        tracing::info!(user, mechanism = %mechanism, why = %e, "failed authentication");
                        Err(scram_refused(mechanism))
                    }
                }
            }
            State::OAuthRefused { .. } => Err(Refused(oauth::INVALID_TOKEN.to_string())),
        }
    }

    fn plain(&self, token: &[u8]) -> std::result::Result<Evaluated, Refused> {
        let message = plain::parse_client_message(token).map_err(|e| {
            self.log_failure("malformed PLAIN message");
            Refused(sasl_reason(e))
        })?;
        if !message.authzid.is_empty() && message.authzid != message.username {
            return Err(Refused(
                "Authentication failed: Client requested an authorization id that is different from username"
                    .to_string(),
            ));
        }
        let known = self.config.plain_users.get(message.username);
        if !known.is_some_and(|p| plain::secrets_equal(p.as_bytes(), message.password.as_bytes())) {
            tracing::info!(
                user = message.username,
                mechanism = "PLAIN",
                "failed authentication"
            );
            return Err(Refused(
                "Authentication failed: Invalid username or password".to_string(),
            ));
        }
        Ok(Evaluated::Done {
            bytes: Vec::new(),
            principal: format!("User:{}", message.username),
            expires_at: None,
        })
    }

    fn oauth(&mut self, token: &[u8], raw: bool) -> std::result::Result<Evaluated, Refused> {
        let now_ms = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX));
        let valid = oauth::parse_client_message(token).and_then(|m| {
            oauth::validate_unsecured_jwt(m.token, now_ms, &self.config.oauth_allowed_audience)
        });
        match valid {
            Ok(valid) => {
                let remaining = u64::try_from(valid.expires_at_ms - now_ms).unwrap_or(0);
                Ok(Evaluated::Done {
                    bytes: Vec::new(),
                    principal: format!("User:{}", valid.principal),
                    expires_at: Some(Instant::now() + std::time::Duration::from_millis(remaining)),
                })
            }
            Err(e) => {
                self.log_failure(&sasl_reason(e));
                // RFC 7628: an error challenge, then the client's %x01, then the failure.
                self.state = State::OAuthRefused { raw };
                Ok(Evaluated::Challenge(oauth::INVALID_TOKEN.as_bytes().to_vec()))
            }
        }
    }
}

fn scram_refused(mechanism: Mechanism) -> Refused {
    Refused(format!(
        "Authentication failed during authentication due to invalid credentials with SASL mechanism {mechanism}"
    ))
}

fn sasl_reason(e: kafkit_protocol::Error) -> String {
    match e {
        kafkit_protocol::Error::Sasl { reason, .. } => reason,
        other => other.to_string(),
    }
}

fn closing() -> SaslReply {
    SaslReply {
        response: Bytes::new(),
        close: true,
        failed: true,
    }
}

fn encode<R>(correlation_id: i32, version: i16, body: &R) -> Result<Bytes>
where
    R: kafka_protocol::protocol::Encodable + kafka_protocol::protocol::HeaderVersion,
{
    let mut out = BytesMut::with_capacity(128);
    kafkit_protocol::frame::encode_response_frame(&mut out, correlation_id, version, body)?;
    Ok(out.freeze())
}
