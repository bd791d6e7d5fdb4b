//! The client side of SaslHandshake and SaslAuthenticate, run once per connection right
//! after ApiVersions.

use std::time::Duration;

use bytes::{Bytes, BytesMut};
use kafka_protocol::messages::{
    ApiKey, SaslAuthenticateRequest, SaslAuthenticateResponse, SaslHandshakeRequest, SaslHandshakeResponse,
};
use kafka_protocol::protocol::{Decodable, Encodable, HeaderVersion, Request, StrBytes};
use kafkit_protocol::frame::{encode_request_frame, request_header};
use kafkit_protocol::response::decode_response;
use kafkit_protocol::sasl::scram::ScramClient;
use kafkit_protocol::sasl::{oauth, plain, Mechanism};
use kafkit_protocol::ErrorCode;
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};
use tokio::time::timeout;

use super::SecuritySettings;
use crate::connection::{read_frame, ConnectionError, ConnectionParams};

/// The first correlation id of the exchange (ApiVersions used the ones below).
const FIRST_CORRELATION_ID: i32 = 8;

/// How the exchange's frames reach the broker: straight over the socket before the
/// connection's reader and writer start ([`Direct`]), or through them for a KIP-368
/// re-authentication (the connection's pipelined transport).
pub(crate) trait SaslTransport {
    /// Writes one request frame (length prefix included) and returns its response frame.
    fn round_trip(
        &mut self,
        frame: BytesMut,
    ) -> impl std::future::Future<Output = Result<Bytes, ConnectionError>> + Send;
}

/// The socket itself, before the connection's loops run.
pub(crate) struct Direct<'a, R, W> {
    pub rd: &'a mut R,
    pub wr: &'a mut W,
    pub buf: &'a mut BytesMut,
    pub params: &'a ConnectionParams,
}

impl<R, W> SaslTransport for Direct<'_, R, W>
where
    R: AsyncRead + Unpin + Send,
    W: AsyncWrite + Unpin + Send,
{
    async fn round_trip(&mut self, frame: BytesMut) -> Result<Bytes, ConnectionError> {
        self.wr
            .write_all(&frame)
            .await
            .map_err(|e| ConnectionError::Io(e.to_string()))?;
        self.wr
            .flush()
            .await
            .map_err(|e| ConnectionError::Io(e.to_string()))?;
        timeout(
            self.params.request_timeout,
            read_frame(self.rd, self.buf, self.params.max_frame),
        )
        .await
        .map_err(|_| ConnectionError::Timeout)?
    }
}

/// One connection's SASL exchange.
pub(crate) struct Exchange<'a, T> {
    transport: T,
    params: &'a ConnectionParams,
    /// `host:port`, for errors.
    broker: &'a str,
    handshake_version: i16,
    authenticate_version: i16,
    correlation_id: i32,
}

impl<'a, T: SaslTransport> Exchange<'a, T> {
    /// An exchange over `transport` at the negotiated (SaslHandshake, SaslAuthenticate)
    /// versions.
    pub(crate) fn new(
        transport: T,
        params: &'a ConnectionParams,
        broker: &'a str,
        versions: (i16, i16),
    ) -> Self {
        Exchange {
            transport,
            params,
            broker,
            handshake_version: versions.0,
            authenticate_version: versions.1,
            correlation_id: FIRST_CORRELATION_ID,
        }
    }

    fn failed(&self, mechanism: Mechanism, message: impl Into<String>) -> ConnectionError {
        ConnectionError::Authentication {
            broker: self.broker.to_string(),
            mechanism: mechanism.name().to_string(),
            message: message.into(),
        }
    }

    async fn round_trip<Q, A>(&mut self, api: ApiKey, version: i16, request: &Q) -> Result<A, ConnectionError>
    where
        Q: Encodable + Request,
        A: Decodable + HeaderVersion + kafkit_protocol::response::GuardedResponse,
    {
        let correlation_id = self.correlation_id;
        self.correlation_id += 1;
        let header = request_header(api, version, correlation_id, Some(&self.params.client_id));
        let mut out = BytesMut::new();
        encode_request_frame(&mut out, &header, request)
            .map_err(|e| ConnectionError::Protocol(e.to_string()))?;
        let frame = self.transport.round_trip(out).await?;
        let response =
            decode_response::<A>(frame, version).map_err(|e| ConnectionError::Protocol(e.to_string()))?;
        if response.header.correlation_id != correlation_id {
            return Err(ConnectionError::Protocol(format!(
                "{api:?} answered with a wrong correlation id"
            )));
        }
        Ok(response.body)
    }

    /// Sends one token; returns the server's bytes and session lifetime.
    async fn token(&mut self, mechanism: Mechanism, bytes: Vec<u8>) -> Result<(Bytes, i64), ConnectionError> {
        let request = SaslAuthenticateRequest::default().with_auth_bytes(Bytes::from(bytes));
        let version = self.authenticate_version;
        let response: SaslAuthenticateResponse = self
            .round_trip(ApiKey::SaslAuthenticate, version, &request)
            .await?;
        if response.error_code != 0 {
            let code = ErrorCode::from(response.error_code);
            let message = response
                .error_message
                .map(|m| m.to_string())
                .filter(|m| !m.is_empty())
                .unwrap_or_else(|| code.to_string());
            return Err(self.failed(mechanism, format!("{code}: {message}")));
        }
        Ok((response.auth_bytes, response.session_lifetime_ms))
    }

    /// Runs the exchange; returns the session lifetime the broker gave (KIP-368), if any.
    pub(crate) async fn run(
        mut self,
        settings: &SecuritySettings,
    ) -> Result<Option<Duration>, ConnectionError> {
        // Invariant: `validate` refused a SASL protocol without a mechanism.
        let mechanism = settings.mechanism.unwrap_or(Mechanism::Plain);
        let handshake =
            SaslHandshakeRequest::default().with_mechanism(StrBytes::from_static_str(mechanism.name()));
        let version = self.handshake_version;
        let response: SaslHandshakeResponse = self
            .round_trip(ApiKey::SaslHandshake, version, &handshake)
            .await?;
        if response.error_code != 0 {
            let offered: Vec<String> = response.mechanisms.iter().map(|m| m.to_string()).collect();
            return Err(self.failed(
                mechanism,
                format!(
                    "{}: the broker enables [{}]",
                    ErrorCode::from(response.error_code),
                    offered.join(", ")
                ),
            ));
        }
        let username = settings.username.as_deref().unwrap_or_default();
        let password = settings.password.as_deref().unwrap_or_default();
        let lifetime_ms = match mechanism {
            Mechanism::Plain => {
                self.token(mechanism, plain::client_message(username, password))
                    .await?
                    .1
            }
            Mechanism::ScramSha256 | Mechanism::ScramSha512 => {
                let hash = mechanism
                    .scram()
                    .unwrap_or(kafkit_protocol::sasl::scram::Hash::Sha512);
                let mut client = ScramClient::new(hash, username, password)
                    .map_err(|e| self.failed(mechanism, e.to_string()))?;
                let (server_first, _) = self.token(mechanism, client.client_first()).await?;
                let client_final = client
                    .client_final(&server_first)
                    .map_err(|e| self.failed(mechanism, e.to_string()))?;
                let (server_final, lifetime) = self.token(mechanism, client_final).await?;
                client
                    .verify_server_final(&server_final)
                    .map_err(|e| self.failed(mechanism, e.to_string()))?;
                lifetime
            }
            Mechanism::OAuthBearer => {
                let token = oauth_token(settings).map_err(|e| self.failed(mechanism, e))?;
                let (challenge, lifetime) = self.token(mechanism, oauth::client_message(&token)).await?;
                if !challenge.is_empty() {
                    // RFC 7628: an error challenge; answer %x01 to get the failure.
                    self.token(mechanism, vec![0x01]).await?;
                    return Err(self.failed(mechanism, String::from_utf8_lossy(&challenge).into_owned()));
                }
                lifetime
            }
        };
        Ok((lifetime_ms > 0).then(|| Duration::from_millis(lifetime_ms.unsigned_abs())))
    }
}

/// The token for one OAUTHBEARER authentication: the provider's, or an unsecured JWT.
fn oauth_token(settings: &SecuritySettings) -> Result<String, String> {
    if let Some(provider) = &settings.token_provider {
        return provider();
    }
    let jwt = settings
        .unsecured_jwt
        .as_ref()
        .ok_or_else(|| "no OAUTHBEARER token provider".to_string())?;
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX));
    let audience: Vec<&str> = jwt.audience.iter().map(String::as_str).collect();
    let lifetime = i64::try_from(jwt.lifetime.as_millis()).unwrap_or(i64::MAX);
    Ok(oauth::unsecured_jwt(&jwt.subject, now_ms, lifetime, &audience))
}
