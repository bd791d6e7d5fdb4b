//! TLS and SASL (#15): kafkit's producer and librdkafka (a client nobody here wrote) against
//! the mock cluster's secured listeners, over TCP and in memory; wrong credentials, untrusted
//! certificates and missing client certificates fail as typed, immediate errors.

use std::time::Duration;

use kafka_protocol::messages::ApiKey;
use kafkit_producer::{Error, Producer, ProducerConfig, ProducerRecord};
use kafkit_testkit::{Fault, MockCluster};
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{Consumer, StreamConsumer};
use rdkafka::producer::FutureProducer;
use rdkafka::Message;
use rstest::rstest;

use crate::common::{send, values, WAIT};

/// A config for `cluster` (its protocol and CA) with `extra` on top.
fn config(cluster: &MockCluster, extra: &[(&str, &str)]) -> kafkit_producer::Result<ProducerConfig> {
    let mut builder = cluster.producer_config().set("max.block.ms", "10000");
    for (k, v) in extra {
        builder = builder.set(k, v);
    }
    builder.build()
}

async fn produce(producer: &Producer, topic: &str, value: &str) -> i64 {
    producer
        .send(
            ProducerRecord::builder(topic.to_string())
                .value(value.as_bytes().to_vec())
                .build(),
        )
        .await
        .expect("accepted")
        .await
        .expect("delivered")
        .offset
}

/// SASL_SSL with user alice for PLAIN and both SCRAMs.
async fn sasl_ssl_cluster() -> MockCluster {
    MockCluster::builder()
        .tls()
        .sasl_scram(&[("alice", "alice-secret")])
        .sasl_plain(&[("alice", "alice-secret")])
        .start()
        .await
        .expect("cluster")
}

#[rstest]
#[case::scram_sha_512("SCRAM-SHA-512")]
#[case::scram_sha_256("SCRAM-SHA-256")]
#[case::plain("PLAIN")]
#[tokio::test]
async fn kafkits_producer_authenticates_over_sasl_ssl(#[case] mechanism: &str) {
    let cluster = sasl_ssl_cluster().await;
    assert_eq!(cluster.security_protocol().name(), "SASL_SSL");
    let creds = [
        ("sasl.mechanism", mechanism),
        ("sasl.username", "alice"),
        ("sasl.password", "alice-secret"),
    ];
    // Over TCP, and in memory (TLS and SASL run over any transport).
    let tcp = Producer::connect(config(&cluster, &creds).expect("config"))
        .await
        .expect("authenticated");
    let memory = cluster
        .in_memory_producer(config(&cluster, &creds).expect("config"))
        .await
        .expect("authenticated in memory");
    assert_eq!(produce(&tcp, "secure", "one").await, 0);
    assert_eq!(produce(&memory, "secure", "two").await, 1);
    assert_eq!(values(&cluster, "secure", 0), ["one", "two"]);
    let journal = cluster.journal();
    let produces = journal.requests(ApiKey::Produce);
    assert_eq!(produces.len(), 2);
    assert!(
        produces.iter().all(|e| e.principal == "User:alice"),
        "{produces:?}"
    );
    tcp.close(WAIT).await;
    memory.close(WAIT).await;
}

#[rstest]
#[case::scram_wrong_password("SCRAM-SHA-512", "alice", "wrong",
    "Authentication failed during authentication due to invalid credentials with SASL mechanism SCRAM-SHA-512")]
#[case::scram_unknown_user("SCRAM-SHA-256", "mallory", "alice-secret",
    "Authentication failed during authentication due to invalid credentials with SASL mechanism SCRAM-SHA-256")]
#[case::plain_wrong_password(
    "PLAIN",
    "alice",
    "wrong",
    "Authentication failed: Invalid username or password"
)]
#[tokio::test]
async fn a_wrong_password_is_a_fatal_typed_error_at_once(
    #[case] mechanism: &str,
    #[case] user: &str,
    #[case] password: &str,
    #[case] kafka_message: &str,
) {
    let cluster = MockCluster::builder()
        .sasl_scram(&[("alice", "alice-secret")])
        .sasl_plain(&[("alice", "alice-secret")])
        .start()
        .await
        .expect("cluster");
    assert_eq!(cluster.security_protocol().name(), "SASL_PLAINTEXT");
    let config = cluster
        .producer_config()
        .set("max.block.ms", "120000")
        .set("sasl.mechanism", mechanism)
        .set("sasl.username", user)
        .set("sasl.password", password)
        .build()
        .expect("config");
    // Reported at once, not after max.block.ms of retries.
    let err = tokio::time::timeout(WAIT, Producer::connect(config))
        .await
        .expect("not retried for max.block.ms")
        .expect_err("refused");
    match &err {
        Error::Authentication {
            broker,
            mechanism: m,
            message,
        } => {
            assert_eq!(broker, &cluster.bootstrap_servers());
            assert_eq!(m, mechanism);
            assert!(message.contains(kafka_message), "{message}");
            assert!(message.contains("SASL_AUTHENTICATION_FAILED"), "{message}");
            assert!(
                !message.contains(password) || password == "alice-secret",
                "no secret in {message}"
            );
        }
        other => panic!("expected Error::Authentication, got {other}"),
    }
    assert!(
        cluster.journal().requests(ApiKey::Metadata).is_empty(),
        "nothing but SASL before authentication"
    );
}

#[tokio::test]
async fn mutual_tls_names_the_principal_and_refuses_a_client_without_a_certificate() {
    let cluster = MockCluster::builder()
        .mutual_tls()
        .start()
        .await
        .expect("cluster");
    assert_eq!(cluster.security_protocol().name(), "SSL");
    let cert = cluster.client_certificate("billing").expect("client certificate");
    let producer = Producer::connect(
        config(
            &cluster,
            &[
                ("ssl.keystore.type", "PEM"),
                ("ssl.keystore.certificate.chain", &cert.certificate_pem),
                ("ssl.keystore.key", &cert.private_key_pem),
            ],
        )
        .expect("config"),
    )
    .await
    .expect("connected with a client certificate");
    produce(&producer, "mtls", "x").await;
    let produces = cluster.journal().requests(ApiKey::Produce);
    assert_eq!(produces[0].principal, "User:CN=billing,O=kafkit");
    // A fault can pick requests by principal.
    let fault = cluster.fault(
        Fault::on(ApiKey::Produce)
            .principal("User:CN=billing,O=kafkit")
            .respond_error(kafkit_protocol::ErrorCode::NotEnoughReplicas),
    );
    produce(&producer, "mtls", "y").await; // retried past the one-shot fault
    assert_eq!(fault.hits(), 1);
    producer.close(WAIT).await;

    let err = Producer::connect(config(&cluster, &[]).expect("config"))
        .await
        .expect_err("no client certificate");
    assert!(
        matches!(&err, Error::Authentication { mechanism, .. } if mechanism == "SSL"),
        "{err}"
    );
}

#[tokio::test]
async fn an_untrusted_certificate_fails_the_handshake_and_an_unchecked_name_is_allowed() {
    let cluster = MockCluster::builder().tls().start().await.expect("cluster");
    let other_ca = kafkit_testkit::TestCa::new().expect("ca");
    let config = cluster
        .producer_config()
        .set("ssl.truststore.certificates", &other_ca.certificate_pem())
        .set("max.block.ms", "10000")
        .build()
        .expect("config");
    let err = Producer::connect(config).await.expect_err("untrusted");
    assert!(
        matches!(&err, Error::Authentication { mechanism, message, .. } if mechanism == "SSL" && message.contains("TLS handshake failed")),
        "{err}"
    );
    // A broker whose certificate names another host: refused while the name is checked
    // (Java's default `https`), accepted with the check off (the chain is still verified).
    let ca = kafkit_testkit::TestCa::new().expect("ca");
    let server = ca.server_certificate(&["kafka.example"]).expect("server cert");
    let mut config = kafkit_broker::ClusterConfig::default();
    config.set("listeners", "SSL://127.0.0.1:0").expect("listeners");
    config
        .set("ssl.keystore.certificate.chain", &server.certificate_pem)
        .expect("chain");
    config
        .set("ssl.keystore.key", &server.private_key_pem)
        .expect("key");
    let broker = MockCluster::builder()
        .config(config)
        .start()
        .await
        .expect("other-named broker");
    let by_name_check = |check: &str| {
        ProducerConfig::builder(broker.bootstrap_servers())
            .set("security.protocol", "SSL")
            .set("ssl.truststore.certificates", &ca.certificate_pem())
            .set("ssl.endpoint.identification.algorithm", check)
            .set("max.block.ms", "10000")
            .build()
            .expect("config")
    };
    let err = Producer::connect(by_name_check("https"))
        .await
        .expect_err("wrong name");
    assert!(
        matches!(&err, Error::Authentication { message, .. } if message.contains("not valid for name")),
        "{err}"
    );
    let producer = Producer::connect(by_name_check(""))
        .await
        .expect("name not checked");
    produce(&producer, "tls", "ok").await;
    assert_eq!(values(&broker, "tls", 0), ["ok"]);
    producer.close(WAIT).await;
}

/// OAUTHBEARER with the token callback (`oauth_token_provider`): called for every
/// authentication, its token decides the principal.
#[tokio::test]
async fn oauthbearer_takes_tokens_from_the_provider() {
    let cluster = MockCluster::builder()
        .sasl_oauthbearer(&[])
        .start()
        .await
        .expect("cluster");
    let calls = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counted = calls.clone();
    let config = cluster
        .producer_config()
        .set("sasl.mechanism", "OAUTHBEARER")
        .set("max.block.ms", "10000")
        .oauth_token_provider(std::sync::Arc::new(move || {
            counted.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            let now_ms = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_err(|e| e.to_string())?
                .as_millis() as i64;
            Ok(kafkit_protocol::sasl::oauth::unsecured_jwt(
                "from-provider",
                now_ms,
                60_000,
                &[],
            ))
        }))
        .build()
        .expect("config");
    let producer = Producer::connect(config).await.expect("authenticated");
    produce(&producer, "provided", "x").await;
    assert!(calls.load(std::sync::atomic::Ordering::SeqCst) >= 1);
    assert_eq!(
        cluster.journal().requests(ApiKey::Produce)[0].principal,
        "User:from-provider"
    );
    producer.close(WAIT).await;
    // A provider that fails: a typed authentication error with its text.
    let failing = cluster
        .producer_config()
        .set("sasl.mechanism", "OAUTHBEARER")
        .oauth_token_provider(std::sync::Arc::new(|| {
            Err("the identity service is down".to_string())
        }))
        .build()
        .expect("config");
    let err = Producer::connect(failing).await.expect_err("no token");
    assert!(
        matches!(&err, Error::Authentication { message, .. } if message.contains("identity service is down")),
        "{err}"
    );
}

#[tokio::test]
async fn oauthbearer_accepts_an_unsecured_jwt_for_the_allowed_audience_only() {
    let cluster = MockCluster::builder()
        .tls()
        .sasl_oauthbearer(&["kafka"])
        .start()
        .await
        .expect("cluster");
    let jaas = |aud: &str| {
        format!(
            "org.apache.kafka.common.security.oauthbearer.OAuthBearerLoginModule required \
             unsecuredLoginStringClaim_sub=\"svc\" unsecuredLoginListClaim_aud=\"{aud}\";"
        )
    };
    let connect = |audience: &str| {
        let config = config(
            &cluster,
            &[
                ("sasl.mechanism", "OAUTHBEARER"),
                ("sasl.jaas.config", &jaas(audience)),
            ],
        )
        .expect("config");
        Producer::connect(config)
    };
    let producer = connect("kafka").await.expect("token accepted");
    produce(&producer, "oauth", "x").await;
    assert_eq!(
        cluster.journal().requests(ApiKey::Produce)[0].principal,
        "User:svc"
    );
    producer.close(WAIT).await;
    let err = connect("other").await.expect_err("wrong audience");
    assert!(
        matches!(&err, Error::Authentication { mechanism, message, .. } if mechanism == "OAUTHBEARER" && message.contains("invalid_token")),
        "{err}"
    );
}

/// librdkafka's settings for `cluster`'s listener: its protocol, and the CA in a file (the
/// rdkafka crate takes `ssl.ca.pem` too, but a file is what most users write).
fn rdkafka_config(cluster: &MockCluster, dir: &std::path::Path, extra: &[(&str, &str)]) -> ClientConfig {
    let mut config = ClientConfig::new();
    config
        .set("bootstrap.servers", cluster.bootstrap_servers())
        .set("security.protocol", cluster.security_protocol().name())
        .set("message.timeout.ms", "10000")
        .set("socket.timeout.ms", "10000");
    if let Some(pem) = cluster.ca_certificate_pem() {
        let path = dir.join("ca.pem");
        std::fs::write(&path, pem).expect("write ca");
        config.set("ssl.ca.location", path.to_str().expect("utf-8 path"));
    }
    for (k, v) in extra {
        config.set(*k, *v);
    }
    config
}

async fn rdkafka_round_trip(cluster: &MockCluster, extra: &[(&str, &str)], topic: &str) {
    let dir = tempfile::tempdir().expect("dir");
    let producer: FutureProducer = rdkafka_config(cluster, dir.path(), extra)
        .create()
        .expect("producer");
    for i in 0..3 {
        send(&producer, topic, 0, &format!("v{i}")).await;
    }
    let consumer: StreamConsumer = rdkafka_config(cluster, dir.path(), extra)
        .set("group.id", format!("{topic}-readers"))
        .set("auto.offset.reset", "earliest")
        .create()
        .expect("consumer");
    consumer.subscribe(&[topic]).expect("subscribe");
    let mut seen = Vec::new();
    while seen.len() < 3 {
        let message = tokio::time::timeout(WAIT, consumer.recv())
            .await
            .expect("a message in time")
            .expect("message");
        seen.push(String::from_utf8_lossy(message.payload().unwrap_or_default()).into_owned());
    }
    assert_eq!(seen, ["v0", "v1", "v2"]);
    drop(consumer);
}

#[rstest]
#[case::scram_sha_512("SCRAM-SHA-512")]
#[case::plain("PLAIN")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn librdkafka_produces_and_consumes_over_sasl_ssl(#[case] mechanism: &str) {
    let cluster = sasl_ssl_cluster().await;
    let creds = [
        ("sasl.mechanisms", mechanism),
        ("sasl.username", "alice"),
        ("sasl.password", "alice-secret"),
    ];
    rdkafka_round_trip(&cluster, &creds, "rd-secure").await;
    let journal = cluster.journal();
    assert!(journal
        .requests(ApiKey::Fetch)
        .iter()
        .all(|e| e.principal == "User:alice"));
    assert!(!journal.requests(ApiKey::Produce).is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn librdkafka_over_mutual_tls() {
    let cluster = MockCluster::builder()
        .mutual_tls()
        .start()
        .await
        .expect("cluster");
    let cert = cluster.client_certificate("rdkafka").expect("cert");
    let dir = tempfile::tempdir().expect("dir");
    let cert_path = dir.path().join("client.pem");
    let key_path = dir.path().join("client.key");
    std::fs::write(&cert_path, &cert.certificate_pem).expect("write");
    std::fs::write(&key_path, &cert.private_key_pem).expect("write");
    let extra = [
        ("ssl.certificate.location", cert_path.to_str().expect("utf-8")),
        ("ssl.key.location", key_path.to_str().expect("utf-8")),
    ];
    rdkafka_round_trip(&cluster, &extra, "rd-mtls").await;
    let produces = cluster.journal().requests(ApiKey::Produce);
    assert!(
        produces.iter().all(|e| e.principal == "User:CN=rdkafka,O=kafkit"),
        "{produces:?}"
    );
}

/// Collects librdkafka's error callbacks.
#[derive(Clone, Default)]
struct Errors(std::sync::Arc<std::sync::Mutex<Vec<String>>>);

impl rdkafka::ClientContext for Errors {
    fn error(&self, error: rdkafka::error::KafkaError, reason: &str) {
        self.0.lock().expect("lock").push(format!("{error}: {reason}"));
    }
}

impl rdkafka::producer::ProducerContext for Errors {
    type DeliveryOpaque = ();
    fn delivery(&self, _: &rdkafka::message::DeliveryResult<'_>, _: ()) {}
}

/// librdkafka reports a wrong password as it does against Kafka: an authentication error
/// carrying Kafka's message.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn librdkafka_reports_a_wrong_password_as_against_kafka() {
    let cluster = MockCluster::builder()
        .tls()
        .sasl_scram(&[("alice", "alice-secret")])
        .start()
        .await
        .expect("cluster");
    let dir = tempfile::tempdir().expect("dir");
    let errors = Errors::default();
    let producer: rdkafka::producer::BaseProducer<Errors> = rdkafka_config(
        &cluster,
        dir.path(),
        &[
            ("sasl.mechanisms", "SCRAM-SHA-512"),
            ("sasl.username", "alice"),
            ("sasl.password", "wrong"),
        ],
    )
    .create_with_context(errors.clone())
    .expect("producer");
    let expected = "SASL authentication error: Authentication failed during authentication due to \
                    invalid credentials with SASL mechanism SCRAM-SHA-512";
    let deadline = std::time::Instant::now() + WAIT;
    loop {
        producer.poll(Duration::from_millis(100));
        let seen = errors.0.lock().expect("lock").clone();
        if seen.iter().any(|e| e.contains(expected)) {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "librdkafka reported {seen:?}"
        );
    }
    assert!(cluster.journal().requests(ApiKey::Metadata).is_empty());
}

/// A cluster whose SASL sessions last 500 ms (`connections.max.reauth.ms`, KIP-368).
async fn short_sessions() -> MockCluster {
    let mut broker = kafkit_broker::ClusterConfig::default();
    broker.set("connections.max.reauth.ms", "500").expect("reauth");
    MockCluster::builder()
        .config(broker)
        .tls()
        .sasl_scram(&[("alice", "alice-secret")])
        .start()
        .await
        .expect("cluster")
}

/// The connections that carried produce requests.
fn produce_connections(cluster: &MockCluster) -> std::collections::BTreeSet<u64> {
    let journal = cluster.journal();
    journal
        .requests(ApiKey::Produce)
        .iter()
        .map(|e| e.connection_id)
        .collect()
}

/// KIP-368: kafkit's producer renews its session on the same connection before it ends (the
/// broker would close the connection at the first request after it), so three lifetimes of
/// sends go over one connection.
#[tokio::test]
async fn kafkits_producer_reauthenticates_before_its_session_ends() {
    let cluster = short_sessions().await;
    let producer = Producer::connect(
        config(
            &cluster,
            &[
                ("sasl.mechanism", "SCRAM-SHA-512"),
                ("sasl.username", "alice"),
                ("sasl.password", "alice-secret"),
                ("linger.ms", "0"),
            ],
        )
        .expect("config"),
    )
    .await
    .expect("authenticated");
    for i in 0..30 {
        produce(&producer, "renewed", &i.to_string()).await;
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(values(&cluster, "renewed", 0).len(), 30);
    assert_eq!(
        produce_connections(&cluster).len(),
        1,
        "renewed on one connection"
    );
    producer.close(WAIT).await;
}

/// librdkafka renews its sessions on kafkit's broker too.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn librdkafka_reauthenticates_on_kafkits_broker() {
    let cluster = short_sessions().await;
    let dir = tempfile::tempdir().expect("dir");
    let producer: FutureProducer = rdkafka_config(
        &cluster,
        dir.path(),
        &[
            ("sasl.mechanisms", "SCRAM-SHA-512"),
            ("sasl.username", "alice"),
            ("sasl.password", "alice-secret"),
            ("linger.ms", "0"),
        ],
    )
    .create()
    .expect("producer");
    for i in 0..30 {
        send(&producer, "rd-renewed", 0, &i.to_string()).await;
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(values(&cluster, "rd-renewed", 0).len(), 30);
    assert_eq!(
        produce_connections(&cluster).len(),
        1,
        "renewed on one connection"
    );
}
