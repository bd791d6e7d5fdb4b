//! TLS and SASL against Apache Kafka itself and against kafkit's broker, side by side (#15).
//!
//! One Kafka (from its jars) with a `SASL_SSL` listener whose certificate a test CA signed,
//! users with PLAIN passwords and SCRAM-SHA-256/512 credentials (added at format time), and
//! Kafka's default unsecured OAUTHBEARER validator; one kafkit mock cluster set up the same
//! way. For every mechanism kafkit's producer authenticates and produces on both; a wrong
//! password fails on both with the same typed error and the same message from the broker,
//! and librdkafka reports the wrong password with the same text on both.
//!
//! Skipped without Kafka's jars, unless `KAFKIT_REQUIRE_KAFKA` is set (CI sets it).

use std::sync::{Arc, Mutex};
use std::time::Duration;

use kafkit_producer::{Error, Producer, ProducerConfig, ProducerRecord};
use kafkit_testkit::target::KafkaProcess;
use kafkit_testkit::{MockCluster, TestCa};

use crate::TestResult;

const USERS: &[(&str, &str)] = &[("alice", "alice-secret")];

/// Starts the SASL_SSL Kafka, or `None` when its jars are missing and not required.
async fn secure_kafka(ca: &TestCa) -> Result<Option<KafkaProcess>, Box<dyn std::error::Error>> {
    let Some(libs) = crate::kafka_jars_or_skip()? else {
        return Ok(None);
    };
    let certificate = ca.server_certificate(&["127.0.0.1", "localhost"])?;
    Ok(Some(
        KafkaProcess::builder(libs)
            .sasl_ssl(certificate, USERS)
            // KIP-368: sessions of 2 s, so the producer re-authenticates within a test.
            .config("connections.max.reauth.ms", "2000")
            .start()
            .await?,
    ))
}

fn config(bootstrap: &str, ca_pem: &str, mechanism: &str, user: &str, password: &str) -> ProducerConfig {
    let mut builder = ProducerConfig::builder(bootstrap)
        .set("security.protocol", "SASL_SSL")
        .set("ssl.truststore.type", "PEM")
        .set("ssl.truststore.certificates", ca_pem)
        .set("sasl.mechanism", mechanism)
        .set("max.block.ms", "30000");
    builder = if mechanism == "OAUTHBEARER" {
        builder.set(
            "sasl.jaas.config",
            &format!(
                "org.apache.kafka.common.security.oauthbearer.OAuthBearerLoginModule required \
                 unsecuredLoginStringClaim_sub=\"{user}\";"
            ),
        )
    } else {
        builder.set(
            "sasl.jaas.config",
            &format!(
                "org.apache.kafka.common.security.scram.ScramLoginModule required \
                 username=\"{user}\" password=\"{password}\";"
            ),
        )
    };
    builder.build().expect("config")
}

async fn produce_one(config: ProducerConfig, topic: &str) -> Result<i64, Error> {
    let producer = Producer::connect(config).await?;
    let delivery = producer
        .send(
            ProducerRecord::builder(topic.to_string())
                .partition(0)
                .value("secret record")
                .build(),
        )
        .await?
        .await?;
    producer.close(Duration::from_secs(5)).await;
    Ok(delivery.offset)
}

/// What a wrong password gives: (mechanism, the broker's message).
async fn refusal(config: ProducerConfig) -> (String, String) {
    match Producer::connect(config).await {
        Err(Error::Authentication {
            mechanism, message, ..
        }) => (mechanism, message),
        Err(other) => panic!("expected Error::Authentication, got {other}"),
        Ok(_) => panic!("a wrong password was accepted"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_mechanism_on_kafka_and_on_kafkit_alike() -> TestResult {
    let kafka_ca = TestCa::new()?;
    let Some(kafka) = secure_kafka(&kafka_ca).await? else {
        return Ok(());
    };
    let kafka_bootstrap = kafka.secure_bootstrap_servers().ok_or("no SASL_SSL listener")?;
    let kafka_ca_pem = kafka_ca.certificate_pem();
    let mock = MockCluster::builder()
        .tls()
        .sasl_plain(USERS)
        .sasl_scram(USERS)
        .sasl_oauthbearer(&[])
        .start()
        .await?;
    let mock_ca_pem = mock.ca_certificate_pem().ok_or("no CA")?;
    let targets = [
        ("kafka", kafka_bootstrap.as_str(), kafka_ca_pem.as_str()),
        ("kafkit", &*mock.bootstrap_servers(), mock_ca_pem.as_str()),
    ];
    for mechanism in ["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512", "OAUTHBEARER"] {
        for (name, bootstrap, ca) in targets {
            let topic = format!("secure-{}", mechanism.to_ascii_lowercase());
            let offset = produce_one(config(bootstrap, ca, mechanism, "alice", "alice-secret"), &topic)
                .await
                .map_err(|e| format!("{mechanism} on {name}: {e}"))?;
            assert!(offset >= 0, "{mechanism} on {name}");
        }
    }
    // Sessions of 2 s (KIP-368): a producer sending for 5 s renews its session on Kafka,
    // which accepts the renewal (a refused one would be a fatal error here).
    let producer = Producer::connect(config(
        &kafka_bootstrap,
        &kafka_ca_pem,
        "SCRAM-SHA-512",
        "alice",
        "alice-secret",
    ))
    .await?;
    for i in 0..25 {
        let record = ProducerRecord::builder("secure-renewed")
            .partition(0)
            .value(i.to_string())
            .build();
        producer.send(record).await?.await?;
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    producer.close(Duration::from_secs(5)).await;
    // A wrong password: the same typed error and Kafka's words on both.
    for mechanism in ["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"] {
        let on_kafka = refusal(config(
            &kafka_bootstrap,
            &kafka_ca_pem,
            mechanism,
            "alice",
            "wrong",
        ))
        .await;
        let on_kafkit = refusal(config(
            &mock.bootstrap_servers(),
            &mock_ca_pem,
            mechanism,
            "alice",
            "wrong",
        ))
        .await;
        assert_eq!(on_kafka, on_kafkit, "{mechanism}: Kafka and kafkit refuse alike");
        assert!(
            on_kafka.1.starts_with("SASL_AUTHENTICATION_FAILED"),
            "{on_kafka:?}"
        );
    }
    // Kafka's own answer for an unknown SCRAM user, which kafkit must match.
    let unknown = refusal(config(
        &kafka_bootstrap,
        &kafka_ca_pem,
        "SCRAM-SHA-512",
        "mallory",
        "x",
    ))
    .await;
    assert_eq!(
        unknown,
        refusal(config(
            &mock.bootstrap_servers(),
            &mock_ca_pem,
            "SCRAM-SHA-512",
            "mallory",
            "x"
        ))
        .await
    );
    // A CA the client does not trust: a TLS failure, typed the same on both.
    let stranger = TestCa::new()?.certificate_pem();
    for (name, bootstrap, _) in targets {
        let (mechanism, message) =
            refusal(config(bootstrap, &stranger, "PLAIN", "alice", "alice-secret")).await;
        assert_eq!(mechanism, "SSL", "{name}: {message}");
    }
    Ok(())
}

/// librdkafka's error callbacks.
#[derive(Clone, Default)]
struct Errors(Arc<Mutex<Vec<String>>>);

impl rdkafka::ClientContext for Errors {
    fn error(&self, error: rdkafka::error::KafkaError, reason: &str) {
        self.0.lock().expect("lock").push(format!("{error}: {reason}"));
    }
}

impl rdkafka::producer::ProducerContext for Errors {
    type DeliveryOpaque = ();
    fn delivery(&self, _: &rdkafka::message::DeliveryResult<'_>, _: ()) {}
}

/// The first authentication error librdkafka reports for a wrong SCRAM password at
/// `bootstrap`, with the broker-specific parts (address, timing) cut off.
async fn rdkafka_refusal(bootstrap: &str, ca_pem: &str) -> Result<String, Box<dyn std::error::Error>> {
    let errors = Errors::default();
    let producer: rdkafka::producer::BaseProducer<Errors> = rdkafka::ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("security.protocol", "SASL_SSL")
        .set("ssl.ca.pem", ca_pem)
        .set("sasl.mechanisms", "SCRAM-SHA-512")
        .set("sasl.username", "alice")
        .set("sasl.password", "wrong")
        .create_with_context(errors.clone())?;
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    loop {
        producer.poll(Duration::from_millis(100));
        let seen = errors.0.lock().expect("lock").clone();
        if let Some(e) = seen.iter().find(|e| e.contains("SASL authentication error")) {
            let start = e.find("SASL authentication error").unwrap_or(0);
            let text = &e[start..];
            return Ok(text.split(" (after").next().unwrap_or(text).to_string());
        }
        if std::time::Instant::now() > deadline {
            return Err(format!("librdkafka reported no authentication error: {seen:?}").into());
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn librdkafka_reports_a_wrong_password_alike_on_kafka_and_kafkit() -> TestResult {
    let kafka_ca = TestCa::new()?;
    let Some(kafka) = secure_kafka(&kafka_ca).await? else {
        return Ok(());
    };
    let mock = MockCluster::builder().tls().sasl_scram(USERS).start().await?;
    let on_kafka = rdkafka_refusal(
        &kafka.secure_bootstrap_servers().ok_or("no listener")?,
        &kafka_ca.certificate_pem(),
    )
    .await?;
    let on_kafkit = rdkafka_refusal(
        &mock.bootstrap_servers(),
        &mock.ca_certificate_pem().ok_or("no CA")?,
    )
    .await?;
    assert_eq!(on_kafka, on_kafkit);
    assert!(
        on_kafka.contains("Authentication failed during authentication due to invalid credentials with SASL mechanism SCRAM-SHA-512"),
        "{on_kafka}"
    );
    Ok(())
}
