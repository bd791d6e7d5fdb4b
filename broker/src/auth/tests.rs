use std::time::Duration;

use bytes::BytesMut;
use kafka_protocol::messages::{
    ApiKey, ApiVersionsRequest, MetadataRequest, SaslAuthenticateRequest, SaslAuthenticateResponse,
    SaslHandshakeRequest, SaslHandshakeResponse,
};
use kafka_protocol::protocol::{Decodable, Encodable, HeaderVersion, Request, StrBytes};
use kafkit_protocol::frame::{encode_request_frame, request_header};
use kafkit_protocol::response::{decode_response, GuardedResponse};
use kafkit_protocol::sasl::scram::{Hash, ScramClient};
use kafkit_protocol::sasl::{plain, Mechanism};
use tokio::io::{AsyncReadExt, AsyncWriteExt, DuplexStream};

use super::*;
use crate::{Cluster, ClusterConfig};

fn sasl_config() -> ClusterConfig {
    let mut config = ClusterConfig::default();
    for (k, v) in [
        ("listeners", "SASL_PLAINTEXT://127.0.0.1:0"),
        (
            "listener.name.sasl_plaintext.plain.sasl.jaas.config",
            r#"org.apache.kafka.common.security.plain.PlainLoginModule required username="admin" password="admin-secret" user_admin="admin-secret" user_alice="alice-secret";"#,
        ),
        (
            "kafkit.scram.credentials",
            "SCRAM-SHA-512=[name=bob,password=bob-secret,iterations=8192]",
        ),
    ] {
        config.set(k, v).expect(k);
    }
    config
}

#[test]
fn kafka_listener_keys_parse_as_kafka_reads_them() {
    let mut c = SecurityConfig::default();
    c.set(
        "listener.security.protocol.map",
        "CLIENT:SASL_SSL,INTERNAL:PLAINTEXT",
    )
    .expect("map");
    c.set("listeners", "CLIENT://:9093,INTERNAL://127.0.0.1:9092")
        .expect("listeners");
    c.set("advertised.listeners", "CLIENT://kafka.example:19093")
        .expect("advertised");
    assert_eq!(c.listeners.len(), 2);
    assert_eq!(c.listeners[0].protocol, SecurityProtocol::SaslSsl);
    assert_eq!(c.listeners[0].host, "0.0.0.0");
    assert_eq!(c.listeners[0].advertised, Some(("kafka.example".into(), 19093)));
    assert_eq!(c.listeners[1].protocol, SecurityProtocol::Plaintext);
    assert_eq!(c.listeners[1].advertised, None);
    // A listener the map does not name, whatever the order of the keys.
    let mut custom = SecurityConfig::default();
    custom
        .set("listeners", "CUSTOM://127.0.0.1:9092")
        .expect("deferred");
    let err = custom.validate().expect_err("unknown protocol");
    assert!(
        err.to_string().contains("listener.security.protocol.map"),
        "{err}"
    );
    custom
        .set("listener.security.protocol.map", "CUSTOM:SASL_PLAINTEXT")
        .expect("map");
    custom.validate().expect("resolved");
    assert_eq!(custom.listeners[0].protocol, SecurityProtocol::SaslPlaintext);
    // A TLS listener without a certificate is refused, naming the key.
    let err = c.validate().expect_err("no certificate");
    assert!(err.to_string().contains("ssl.keystore.location"), "{err}");

    let config = sasl_config();
    let sasl = &config.security.sasl;
    assert_eq!(sasl.plain_users.len(), 2);
    assert_eq!(sasl.plain_users["alice"], "alice-secret");
    let bob = &sasl.scram_users[&("bob".to_string(), Hash::Sha512)];
    assert_eq!(bob.iterations, 8192);
    assert_eq!(sasl.mechanisms(), vec![Mechanism::Plain, Mechanism::ScramSha512]);
    assert!(!format!("{config:?}").contains("secret"), "no password in Debug");
    let mut tls = ClusterConfig::default();
    tls.set(
        "ssl.keystore.key",
        "-----BEGIN PRIVATE KEY-----\nMIGHAgEAMBMG\n-----END PRIVATE KEY-----",
    )
    .expect("key");
    assert!(
        !format!("{tls:?}").contains("MIGHAgEAMBMG"),
        "no private key in Debug"
    );
}

#[test]
fn bad_security_settings_name_the_key() {
    let cases = [
        ("listeners", "PLAINTEXT:9092"),
        ("listeners", "SSL://127.0.0.1:x"),
        ("listener.security.protocol.map", "A:TLS"),
        ("ssl.keystore.type", "JKS"),
        ("ssl.key.password", "x"),
        ("ssl.client.auth", "maybe"),
        ("ssl.keystore.location", "/nonexistent.pem"),
        ("sasl.enabled.mechanisms", "GSSAPI"),
        ("kafkit.scram.credentials", "SCRAM-SHA-512=[name=a]"),
        (
            "kafkit.scram.credentials",
            "SCRAM-SHA-512=[name=a,password=b,iterations=10]",
        ),
        ("kafkit.authentication.timeout.ms", "0"),
    ];
    for (key, value) in cases {
        let mut config = ClusterConfig::default();
        let err = config.set(key, value).expect_err(key);
        assert!(err.to_string().contains(key), "{key}={value}: {err}");
    }
}

async fn sasl_cluster() -> Cluster {
    Cluster::start(sasl_config()).await.expect("cluster")
}

fn connect(cluster: &Cluster) -> DuplexStream {
    let (client, server) = tokio::io::duplex(1 << 20);
    cluster.spawn_connection(0, server);
    client
}

async fn call<Q, A>(io: &mut DuplexStream, api: ApiKey, version: i16, request: &Q) -> Option<A>
where
    Q: Encodable + Request,
    A: Decodable + HeaderVersion + GuardedResponse,
{
    let mut out = BytesMut::new();
    encode_request_frame(&mut out, &request_header(api, version, 7, Some("t")), request).expect("encode");
    io.write_all(&out).await.ok()?;
    let mut len = [0u8; 4];
    tokio::time::timeout(Duration::from_secs(5), io.read_exact(&mut len))
        .await
        .expect("answer or close in time")
        .ok()?;
    let mut frame = vec![0u8; i32::from_be_bytes(len) as usize];
    io.read_exact(&mut frame).await.ok()?;
    Some(decode_response::<A>(frame.into(), version).expect("decode").body)
}

async fn closed(io: &mut DuplexStream) -> bool {
    let mut byte = [0u8; 1];
    matches!(
        tokio::time::timeout(Duration::from_secs(5), io.read(&mut byte)).await,
        Ok(Ok(0) | Err(_))
    )
}

async fn handshake(io: &mut DuplexStream, mechanism: &str) -> SaslHandshakeResponse {
    let request =
        SaslHandshakeRequest::default().with_mechanism(StrBytes::from_string(mechanism.to_string()));
    call(io, ApiKey::SaslHandshake, 1, &request)
        .await
        .expect("handshake answer")
}

async fn token(io: &mut DuplexStream, bytes: Vec<u8>) -> Option<SaslAuthenticateResponse> {
    let request = SaslAuthenticateRequest::default().with_auth_bytes(bytes.into());
    call(io, ApiKey::SaslAuthenticate, 2, &request).await
}

#[tokio::test]
async fn only_api_versions_and_sasl_are_served_before_authentication() {
    let cluster = sasl_cluster().await;
    let mut io = connect(&cluster);
    let versions: kafka_protocol::messages::ApiVersionsResponse =
        call(&mut io, ApiKey::ApiVersions, 2, &ApiVersionsRequest::default())
            .await
            .expect("ApiVersions is served");
    assert!(versions
        .api_keys
        .iter()
        .any(|k| k.api_key == ApiKey::SaslAuthenticate as i16));
    let metadata: Option<kafka_protocol::messages::MetadataResponse> =
        call(&mut io, ApiKey::Metadata, 12, &MetadataRequest::default()).await;
    assert!(
        metadata.is_none(),
        "Metadata before authentication closes the connection"
    );
    assert!(closed(&mut io).await);
    cluster.shutdown().await.expect("shutdown");
}

#[tokio::test]
async fn plain_and_scram_exchanges_authenticate_and_failures_close_with_kafkas_message() {
    let cluster = sasl_cluster().await;
    // PLAIN, right password: then Metadata is served.
    let mut io = connect(&cluster);
    let h = handshake(&mut io, "PLAIN").await;
    assert_eq!(h.error_code, 0);
    assert_eq!(
        h.mechanisms,
        vec![
            StrBytes::from_static_str("PLAIN"),
            StrBytes::from_static_str("SCRAM-SHA-512")
        ]
    );
    let ok = token(&mut io, plain::client_message("alice", "alice-secret"))
        .await
        .expect("answer");
    assert_eq!(ok.error_code, 0);
    let metadata: Option<kafka_protocol::messages::MetadataResponse> =
        call(&mut io, ApiKey::Metadata, 12, &MetadataRequest::default()).await;
    assert!(metadata.is_some());

    // PLAIN, wrong password.
    let mut io = connect(&cluster);
    handshake(&mut io, "PLAIN").await;
    let refused = token(&mut io, plain::client_message("alice", "nope"))
        .await
        .expect("answer");
    assert_eq!(refused.error_code, 58);
    assert_eq!(
        refused.error_message.as_deref(),
        Some("Authentication failed: Invalid username or password")
    );
    assert!(closed(&mut io).await);

    // SCRAM-SHA-512, right and wrong.
    for (password, ok) in [("bob-secret", true), ("nope", false)] {
        let mut io = connect(&cluster);
        handshake(&mut io, "SCRAM-SHA-512").await;
        let mut client = ScramClient::new(Hash::Sha512, "bob", password).expect("client");
        let first = token(&mut io, client.client_first()).await.expect("first");
        assert_eq!(first.error_code, 0);
        let last = client.client_final(&first.auth_bytes).expect("final");
        let answer = token(&mut io, last).await.expect("answer");
        if ok {
            assert_eq!(answer.error_code, 0);
            client
                .verify_server_final(&answer.auth_bytes)
                .expect("server proof");
        } else {
            assert_eq!(answer.error_code, 58);
            assert_eq!(
                answer.error_message.as_deref(),
                Some("Authentication failed during authentication due to invalid credentials with SASL mechanism SCRAM-SHA-512")
            );
            assert!(closed(&mut io).await);
        }
    }

    // A mechanism the broker does not enable.
    let mut io = connect(&cluster);
    let h = handshake(&mut io, "SCRAM-SHA-256").await;
    assert_eq!(h.error_code, 33, "UNSUPPORTED_SASL_MECHANISM");
    assert!(closed(&mut io).await);
    cluster.shutdown().await.expect("shutdown");
}

#[tokio::test]
async fn a_plaintext_listener_answers_sasl_with_illegal_sasl_state() {
    let cluster = Cluster::start(ClusterConfig::default()).await.expect("cluster");
    let mut io = connect(&cluster);
    let h = handshake(&mut io, "PLAIN").await;
    assert_eq!(h.error_code, 34, "ILLEGAL_SASL_STATE");
    let metadata: Option<kafka_protocol::messages::MetadataResponse> =
        call(&mut io, ApiKey::Metadata, 12, &MetadataRequest::default()).await;
    assert!(metadata.is_some(), "the connection stays usable");
    cluster.shutdown().await.expect("shutdown");
}

#[tokio::test]
async fn a_client_that_never_authenticates_is_dropped_and_holds_a_bounded_frame() {
    let mut config = sasl_config();
    config
        .set("kafkit.authentication.timeout.ms", "300")
        .expect("timeout");
    let cluster = Cluster::start(config).await.expect("cluster");
    // Silent: dropped after the timeout.
    let mut io = connect(&cluster);
    let started = std::time::Instant::now();
    assert!(closed(&mut io).await);
    assert!(started.elapsed() < Duration::from_secs(4));
    // A frame longer than 512 KiB before authentication: closed as soon as its length is read,
    // nothing buffered.
    let mut io = connect(&cluster);
    io.write_all(&(600 * 1024i32).to_be_bytes()).await.expect("write");
    assert!(closed(&mut io).await);
    cluster.shutdown().await.expect("shutdown");
}

#[test]
fn a_client_certificate_subject_reads_as_javas_x500_name() {
    let key = rcgen::KeyPair::generate().expect("key");
    let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).expect("params");
    params.distinguished_name = rcgen::DistinguishedName::new();
    params.distinguished_name.push(rcgen::DnType::CountryName, "DE");
    params
        .distinguished_name
        .push(rcgen::DnType::OrganizationName, "Acme, Inc");
    params.distinguished_name.push(rcgen::DnType::CommonName, "svc");
    let cert = params.self_signed(&key).expect("cert");
    assert_eq!(
        tls::certificate_principal(cert.der()).as_deref(),
        Some("User:CN=svc,O=Acme\\, Inc,C=DE")
    );
    assert_eq!(tls::certificate_principal(&[0x30, 0x03, 0x30]), None);
    assert_eq!(tls::certificate_principal(&[]), None);
}

/// Kafka's `connection.failed.authentication.delay.ms` (100 ms) before the refusal, and a
/// lingering close after it: the broker leaves the client time to read the answer and close
/// first (kafka-python over TLS lost the answer when the broker's close arrived with it).
#[tokio::test(start_paused = true)]
async fn a_refused_client_gets_the_answer_late_and_closes_first() {
    let cluster = sasl_cluster().await;
    let mut io = connect(&cluster);
    handshake(&mut io, "PLAIN").await;
    let asked = tokio::time::Instant::now();
    let refused = token(&mut io, plain::client_message("alice", "nope"))
        .await
        .expect("answer");
    assert_eq!(refused.error_code, 58);
    assert!(
        asked.elapsed() >= Duration::from_millis(100),
        "answered after {:?}",
        asked.elapsed()
    );
    let mut byte = [0u8; 1];
    assert!(
        tokio::time::timeout(Duration::from_millis(300), io.read(&mut byte))
            .await
            .is_err(),
        "the broker waits for the client to close"
    );
    assert!(closed(&mut io).await, "then closes by itself");
}

async fn metadata(io: &mut DuplexStream) -> bool {
    let request = MetadataRequest::default();
    call::<_, kafka_protocol::messages::MetadataResponse>(io, ApiKey::Metadata, 12, &request)
        .await
        .is_some()
}

/// KIP-368 on the broker: with `connections.max.reauth.ms` the session lifetime is answered,
/// requests are served within it, a request after it closes the connection, and a
/// re-authentication on the same connection renews it (with the same principal only).
#[tokio::test(start_paused = true)]
async fn sessions_expire_unless_renewed_on_the_connection() {
    let mut config = sasl_config();
    config.set("connections.max.reauth.ms", "600").expect("reauth");
    let cluster = Cluster::start(config).await.expect("cluster");
    // Renewed: served past the first lifetime.
    let mut io = connect(&cluster);
    handshake(&mut io, "PLAIN").await;
    let ok = token(&mut io, plain::client_message("alice", "alice-secret"))
        .await
        .expect("answer");
    assert_eq!((ok.error_code, ok.session_lifetime_ms), (0, 600));
    assert!(metadata(&mut io).await);
    tokio::time::sleep(Duration::from_millis(500)).await;
    handshake(&mut io, "PLAIN").await;
    let renewed = token(&mut io, plain::client_message("alice", "alice-secret"))
        .await
        .expect("answer");
    assert_eq!(renewed.error_code, 0);
    tokio::time::sleep(Duration::from_millis(400)).await; // 900 ms after the first login
    assert!(metadata(&mut io).await, "the renewed session serves");
    // Another principal on re-authentication is refused.
    handshake(&mut io, "PLAIN").await;
    let changed = token(&mut io, plain::client_message("admin", "admin-secret"))
        .await
        .expect("answer");
    assert_eq!(changed.error_code, 58);
    assert!(changed
        .error_message
        .as_deref()
        .unwrap_or_default()
        .contains("Cannot change principals"));

    // Not renewed: the first request after the lifetime closes the connection.
    let mut io = connect(&cluster);
    handshake(&mut io, "PLAIN").await;
    token(&mut io, plain::client_message("alice", "alice-secret"))
        .await
        .expect("answer");
    tokio::time::sleep(Duration::from_millis(700)).await;
    assert!(!metadata(&mut io).await, "expired session: closed");
}

/// Each listener advertises its own address: a client on the SASL_SSL-named listener is told
/// that listener's advertised address, one on PLAINTEXT the plaintext one (as Kafka does).
#[tokio::test]
async fn metadata_names_the_listener_the_client_came_in_on() {
    let mut config = ClusterConfig::default();
    for (k, v) in [
        ("listeners", "PLAINTEXT://127.0.0.1:0,EXTERNAL://127.0.0.1:0"),
        (
            "listener.security.protocol.map",
            "PLAINTEXT:PLAINTEXT,EXTERNAL:PLAINTEXT",
        ),
        ("advertised.listeners", "EXTERNAL://kafka.example:19093"),
    ] {
        config.set(k, v).expect(k);
    }
    let cluster = Cluster::start(config).await.expect("cluster");
    let addrs = cluster.listener_addrs()[0].clone();
    for (listener, expected) in [
        (0, ("127.0.0.1".to_string(), i32::from(addrs[0].port()))),
        (1, ("kafka.example".to_string(), 19093)),
    ] {
        let (mut client, server) = tokio::io::duplex(1 << 20);
        let state = cluster.state().clone();
        let shutdown = cluster.shutdown_signal();
        tokio::spawn(crate::server::serve_on_listener(
            state, 0, listener, server, None, shutdown,
        ));
        let response: kafka_protocol::messages::MetadataResponse =
            call(&mut client, ApiKey::Metadata, 12, &MetadataRequest::default())
                .await
                .expect("metadata");
        let broker = &response.brokers[0];
        assert_eq!(
            (broker.host.to_string(), broker.port),
            expected,
            "listener {listener}"
        );
    }
    cluster.shutdown().await.expect("shutdown");
}
