use super::*;
use rstest::rstest;

fn props(extra: &[(&'static str, &'static str)]) -> Result<ProducerConfig> {
    let mut all = vec![("bootstrap.servers", "localhost:9092")];
    all.extend_from_slice(extra);
    ProducerConfig::from_properties(all)
}

fn key_of(result: Result<ProducerConfig>) -> String {
    match result {
        Err(Error::Config { key, .. }) => key,
        other => panic!("expected a config error, got {other:?}"),
    }
}

#[test]
fn defaults_are_java_4() {
    let c = props(&[]).expect("valid");
    assert_eq!(c.bootstrap_servers(), &[("localhost".to_string(), 9092)]);
    assert_eq!(c.acks(), Acks::All);
    assert!(c.enable_idempotence());
    assert_eq!(c.linger(), Duration::from_millis(5));
    assert_eq!(c.batch_size(), 16_384);
    assert_eq!(c.buffer_memory(), 33_554_432);
    assert_eq!(c.max_block(), Duration::from_millis(60_000));
    assert_eq!(c.max_request_size(), 1_048_576);
    assert_eq!(c.max_in_flight_requests_per_connection(), 5);
    assert_eq!(c.retries(), 2_147_483_647);
    assert_eq!(c.retry_backoff(), Duration::from_millis(100));
    assert_eq!(c.retry_backoff_max(), Duration::from_millis(1000));
    assert_eq!(c.request_timeout(), Duration::from_millis(30_000));
    assert_eq!(c.delivery_timeout(), Duration::from_millis(120_000));
    assert_eq!(c.metadata_max_age(), Duration::from_millis(300_000));
    assert_eq!(c.compression(), Compression::None);
    assert_eq!(c.reconnect_backoff(), Duration::from_millis(50));
    assert_eq!(c.reconnect_backoff_max(), Duration::from_millis(1000));
    assert!(!c.partitioner_ignore_keys());
}

#[rstest]
#[case::acks_all("acks", "all")]
#[case::acks_minus_one("acks", "-1")]
#[case::acks_upper("acks", "ALL")]
#[case::acks_zero("acks", "0")]
#[case::bool_any_case("partitioner.ignore.keys", "True")]
#[case::whitespace("linger.ms", " 20 ")]
#[case::codec("compression.type", "zstd")]
#[case::servers_list("bootstrap.servers", "a:1, b:2,[::1]:3")]
#[case::zero_batch("batch.size", "0")]
fn accepted_values(#[case] key: &'static str, #[case] value: &'static str) {
    props(&[(key, value)]).unwrap_or_else(|e| panic!("{key}={value}: {e}"));
}

#[rstest]
#[case::unknown_key("linger", "5")]
#[case::typo("lingers.ms", "5")]
#[case::acks_two("acks", "2")]
#[case::bad_int("batch.size", "16k")]
#[case::negative_int("batch.size", "-1")]
#[case::negative_ms("linger.ms", "-5")]
#[case::bad_bool("enable.idempotence", "yes")]
#[case::bad_codec("compression.type", "brotli")]
#[case::in_flight_zero("max.in.flight.requests.per.connection", "0")]
#[case::no_port("bootstrap.servers", "localhost")]
#[case::bad_port("bootstrap.servers", "localhost:99999")]
#[case::empty_servers("bootstrap.servers", " , ")]
fn rejected_values_name_the_key(#[case] key: &'static str, #[case] value: &'static str) {
    assert_eq!(key_of(props(&[(key, value)])), key);
}

#[test]
fn bootstrap_servers_is_required() {
    assert_eq!(
        key_of(ProducerConfig::from_properties([("acks", "1")])),
        "bootstrap.servers"
    );
}

/// A bad key before `bootstrap.servers` is the error reported, not a missing bootstrap.servers.
#[test]
fn error_before_bootstrap_servers_names_the_bad_key() {
    let result =
        ProducerConfig::from_properties([("no.such.key", "1"), ("bootstrap.servers", "localhost:9092")]);
    assert_eq!(key_of(result), "no.such.key");
    let result =
        ProducerConfig::from_properties([("linger.ms", "x"), ("bootstrap.servers", "localhost:9092")]);
    assert_eq!(key_of(result), "linger.ms");
}

/// `delivery.timeout.ms >= linger.ms + request.timeout.ms`: an error if set explicitly, a silent
/// raise if defaulted (`KafkaProducer.configureDeliveryTimeout`).
#[rstest]
#[case::explicit_too_low(&[("delivery.timeout.ms", "1000")], Err("delivery.timeout.ms"))]
#[case::explicit_exact(&[("delivery.timeout.ms", "30005")], Ok(30_005))]
#[case::explicit_with_linger(&[("linger.ms", "100"), ("delivery.timeout.ms", "30099")], Err("delivery.timeout.ms"))]
#[case::default_raised(&[("linger.ms", "100000")], Ok(130_000))]
#[case::default_kept(&[("request.timeout.ms", "1000")], Ok(120_000))]
fn delivery_timeout_rule(
    #[case] extra: &[(&'static str, &'static str)],
    #[case] expected: std::result::Result<u64, &str>,
) {
    match (props(extra), expected) {
        (Ok(c), Ok(ms)) => assert_eq!(c.delivery_timeout(), Duration::from_millis(ms)),
        (Err(Error::Config { key, .. }), Err(k)) => assert_eq!(key, k),
        (other, expected) => panic!("{other:?}, expected {expected:?}"),
    }
}

/// Idempotence conflicts: an error naming the conflicting key when the user asked for
/// idempotence, idempotence silently off when it was only the default.
#[rstest]
#[case::acks1_default(&[("acks", "1")], Ok(false))]
#[case::acks0_default(&[("acks", "0")], Ok(false))]
#[case::retries0_default(&[("retries", "0")], Ok(false))]
#[case::in_flight6_default(&[("max.in.flight.requests.per.connection", "6")], Ok(false))]
#[case::in_flight5_default(&[("max.in.flight.requests.per.connection", "5")], Ok(true))]
#[case::acks1_explicit(&[("enable.idempotence", "true"), ("acks", "1")], Err("acks"))]
#[case::retries0_explicit(&[("enable.idempotence", "true"), ("retries", "0")], Err("retries"))]
#[case::in_flight6_explicit(
    &[("enable.idempotence", "true"), ("max.in.flight.requests.per.connection", "6")],
    Err("max.in.flight.requests.per.connection")
)]
#[case::off_explicit(&[("enable.idempotence", "false")], Ok(false))]
#[case::off_with_acks1(&[("enable.idempotence", "false"), ("acks", "1")], Ok(false))]
#[case::acks_all_explicit(&[("enable.idempotence", "true"), ("acks", "-1")], Ok(true))]
fn idempotence_rule(
    #[case] extra: &[(&'static str, &'static str)],
    #[case] expected: std::result::Result<bool, &str>,
) {
    match (props(extra), expected) {
        (Ok(c), Ok(on)) => assert_eq!(c.enable_idempotence(), on),
        (Err(Error::Config { key, .. }), Err(k)) => assert_eq!(key, k),
        (other, expected) => panic!("{other:?}, expected {expected:?}"),
    }
}

#[test]
fn builder_and_properties_agree() {
    let built = ProducerConfig::builder("h:1")
        .acks(Acks::Leader)
        .linger(Duration::from_millis(7))
        .compression(Compression::Lz4)
        .build()
        .expect("valid");
    let parsed = ProducerConfig::from_properties([
        ("bootstrap.servers", "h:1"),
        ("acks", "1"),
        ("linger.ms", "7"),
        ("compression.type", "lz4"),
    ])
    .expect("valid");
    assert_eq!(format!("{built:?}"), format!("{parsed:?}"));
    assert!(!built.enable_idempotence());
}

#[test]
fn builder_set_reports_the_first_bad_key() {
    let result = ProducerConfig::builder("h:1")
        .set("linger.ms", "x")
        .set("acks", "9")
        .build();
    assert_eq!(key_of(result), "linger.ms");
}

#[test]
fn every_known_key_parses_its_default_spelling() {
    let values = [
        ("bootstrap.servers", "h:1"),
        ("client.id", "c"),
        ("acks", "all"),
        ("enable.idempotence", "true"),
        ("linger.ms", "5"),
        ("batch.size", "16384"),
        ("buffer.memory", "33554432"),
        ("max.block.ms", "60000"),
        ("max.request.size", "1048576"),
        ("max.in.flight.requests.per.connection", "5"),
        ("retries", "2147483647"),
        ("retry.backoff.ms", "100"),
        ("retry.backoff.max.ms", "1000"),
        ("request.timeout.ms", "30000"),
        ("delivery.timeout.ms", "120000"),
        ("metadata.max.age.ms", "300000"),
        ("compression.type", "none"),
        ("compression.gzip.level", "-1"),
        ("compression.lz4.level", "9"),
        ("compression.zstd.level", "3"),
        ("reconnect.backoff.ms", "50"),
        ("reconnect.backoff.max.ms", "1000"),
        ("partitioner.ignore.keys", "false"),
        ("partitioner.adaptive.partitioning.enable", "true"),
        ("partitioner.availability.timeout.ms", "0"),
        ("transactional.id", ""),
        ("transaction.timeout.ms", "60000"),
    ];
    assert_eq!(values.len(), properties::keys().count());
    let c = ProducerConfig::from_properties(values).expect("valid");
    assert_eq!(
        format!("{c:?}"),
        format!(
            "{:?}",
            ProducerConfig::builder("h:1")
                .client_id("c".into())
                .build()
                .expect("valid")
        )
    );
}

/// KIP-390's levels: each codec's range as in Java, except lz4, which kafkit compresses at
/// Java's default level only; a value outside names its key.
#[rstest]
#[case::gzip_default("compression.gzip.level", "-1", None)]
#[case::gzip_low("compression.gzip.level", "1", None)]
#[case::gzip_high("compression.gzip.level", "9", None)]
#[case::gzip_zero("compression.gzip.level", "0", Some("outside 1..=9"))]
#[case::gzip_ten("compression.gzip.level", "10", Some("outside 1..=9"))]
#[case::lz4_default("compression.lz4.level", "9", None)]
#[case::lz4_hc("compression.lz4.level", "12", Some("LZ4 HC"))]
#[case::zstd_negative("compression.zstd.level", "-131072", None)]
#[case::zstd_max("compression.zstd.level", "22", None)]
#[case::zstd_over("compression.zstd.level", "23", Some("outside -131072..=22"))]
#[case::not_a_number("compression.zstd.level", "high", Some("expected an integer"))]
fn compression_levels_are_checked(#[case] key: &str, #[case] value: &str, #[case] error: Option<&str>) {
    let result = ProducerConfig::from_properties([("bootstrap.servers", "h:1"), (key, value)]);
    match error {
        None => {
            result.expect("valid level");
        }
        Some(reason) => {
            let e = result.expect_err("invalid level");
            assert_eq!(key_of(Err(e.clone())), key);
            assert!(e.to_string().contains(reason), "{e}");
        }
    }
}

#[test]
fn the_level_follows_the_codec() {
    let level = |codec: &str| {
        ProducerConfig::from_properties([
            ("bootstrap.servers", "h:1"),
            ("compression.type", codec),
            ("compression.gzip.level", "2"),
            ("compression.zstd.level", "7"),
        ])
        .expect("valid")
        .compression_level()
    };
    assert_eq!(level("gzip"), Some(2));
    assert_eq!(level("zstd"), Some(7));
    assert_eq!(level("lz4"), Some(9));
    assert_eq!(level("snappy"), None);
    assert_eq!(level("none"), None);
}

/// One row per producer key: a valid value (other than Java's default where there is one), the
/// same setting through the typed builder, and a value refused with an error naming the key
/// (`None`: Java accepts any value).
struct KeyCase {
    key: &'static str,
    valid: &'static str,
    typed: fn(ProducerConfigBuilder) -> ProducerConfigBuilder,
    invalid: Option<&'static str>,
}

const fn case(
    key: &'static str,
    valid: &'static str,
    typed: fn(ProducerConfigBuilder) -> ProducerConfigBuilder,
    invalid: Option<&'static str>,
) -> KeyCase {
    KeyCase {
        key,
        valid,
        typed,
        invalid,
    }
}

const KEY_CASES: &[KeyCase] = &[
    case(
        "bootstrap.servers",
        "a:1,b:2",
        |_| ProducerConfig::builder("a:1,b:2"),
        Some("nohost"),
    ),
    case("client.id", "svc", |b| b.client_id("svc".into()), None),
    case("acks", "1", |b| b.acks(Acks::Leader), Some("2")),
    case(
        "enable.idempotence",
        "false",
        |b| b.enable_idempotence(false),
        Some("yes"),
    ),
    case(
        "linger.ms",
        "7",
        |b| b.linger(Duration::from_millis(7)),
        Some("-1"),
    ),
    case("batch.size", "1000", |b| b.batch_size(1000), Some("big")),
    case(
        "buffer.memory",
        "1000000",
        |b| b.buffer_memory(1_000_000),
        Some("-5"),
    ),
    case(
        "max.block.ms",
        "10",
        |b| b.max_block(Duration::from_millis(10)),
        Some("ten"),
    ),
    case(
        "max.request.size",
        "2000000",
        |b| b.max_request_size(2_000_000),
        Some("-1"),
    ),
    case(
        "max.in.flight.requests.per.connection",
        "3",
        |b| b.max_in_flight_requests_per_connection(3),
        Some("0"),
    ),
    case("retries", "3", |b| b.retries(3), Some("-1")),
    case(
        "retry.backoff.ms",
        "50",
        |b| b.retry_backoff(Duration::from_millis(50)),
        Some("x"),
    ),
    case(
        "retry.backoff.max.ms",
        "2000",
        |b| b.retry_backoff_max(Duration::from_secs(2)),
        Some("x"),
    ),
    case(
        "request.timeout.ms",
        "40000",
        |b| b.request_timeout(Duration::from_secs(40)),
        Some("1.5"),
    ),
    // Below linger.ms + request.timeout.ms when set explicitly: refused by validation.
    case(
        "delivery.timeout.ms",
        "200000",
        |b| b.delivery_timeout(Duration::from_secs(200)),
        Some("1000"),
    ),
    case(
        "metadata.max.age.ms",
        "1000",
        |b| b.metadata_max_age(Duration::from_secs(1)),
        Some(""),
    ),
    case(
        "compression.type",
        "zstd",
        |b| b.compression(Compression::Zstd),
        Some("brotli"),
    ),
    case(
        "compression.gzip.level",
        "5",
        |b| b.compression_gzip_level(5),
        Some("10"),
    ),
    // Java's default is the only level kafkit takes for lz4.
    case(
        "compression.lz4.level",
        "9",
        |b| b.compression_lz4_level(9),
        Some("3"),
    ),
    case(
        "compression.zstd.level",
        "10",
        |b| b.compression_zstd_level(10),
        Some("23"),
    ),
    case(
        "reconnect.backoff.ms",
        "10",
        |b| b.reconnect_backoff(Duration::from_millis(10)),
        Some("x"),
    ),
    case(
        "reconnect.backoff.max.ms",
        "5000",
        |b| b.reconnect_backoff_max(Duration::from_secs(5)),
        Some("x"),
    ),
    case(
        "partitioner.ignore.keys",
        "true",
        |b| b.partitioner_ignore_keys(true),
        Some("maybe"),
    ),
    case(
        "partitioner.adaptive.partitioning.enable",
        "false",
        |b| b.partitioner_adaptive(false),
        Some("maybe"),
    ),
    case(
        "partitioner.availability.timeout.ms",
        "100",
        |b| b.partitioner_availability_timeout(Duration::from_millis(100)),
        Some("-2"),
    ),
    case(
        "transactional.id",
        "orders-1",
        |b| b.transactional_id(Some("orders-1".into())),
        None,
    ),
    case(
        "transaction.timeout.ms",
        "9000",
        |b| b.transaction_timeout(Duration::from_millis(9000)),
        Some("soon"),
    ),
];

/// Java's rules for a transactional producer: it needs idempotence (turned on, not off, by
/// the defaults), and a setting that conflicts with idempotence is an error naming its key.
#[rstest]
#[case::idempotence_off(&[("enable.idempotence", "false")], Some("transactional.id"))]
#[case::acks_one(&[("acks", "1")], Some("acks"))]
#[case::too_many_in_flight(&[("max.in.flight.requests.per.connection", "6")], Some("max.in.flight.requests.per.connection"))]
#[case::zero_timeout(&[("transaction.timeout.ms", "0")], Some("transaction.timeout.ms"))]
#[case::defaults(&[], None)]
fn a_transactional_config_needs_idempotence(#[case] extra: &[(&str, &str)], #[case] error_key: Option<&str>) {
    let mut properties = vec![("bootstrap.servers", "h:1"), ("transactional.id", "t")];
    properties.extend_from_slice(extra);
    match (ProducerConfig::from_properties(properties), error_key) {
        (Ok(c), None) => {
            assert!(c.enable_idempotence());
            assert_eq!(c.transactional_id(), Some("t"));
            assert_eq!(c.transaction_timeout(), Duration::from_secs(60));
        }
        (Err(Error::Config { key, .. }), Some(expected)) => assert_eq!(key, expected),
        (other, _) => panic!("{extra:?}: {other:?}"),
    }
}

/// Every key the producer takes parses, applies and validates, and the four places a key lives
/// (the properties table, the field, its `Debug` entry, the builder setter) agree: the table
/// above covers exactly the keys `from_properties` knows, a valid value changes the config
/// exactly as the typed setter does (and differs from the default, except lz4's one level), and
/// an invalid value is an error naming the key.
#[test]
fn every_key_parses_applies_and_validates() {
    let known: BTreeSet<&str> = properties::keys().collect();
    let tested: BTreeSet<&str> = KEY_CASES.iter().map(|c| c.key).collect();
    assert_eq!(tested, known, "one row per key");
    assert_eq!(tested.len(), KEY_CASES.len(), "no key twice");
    let base = || ProducerConfig::builder("h:1");
    let default = format!("{:?}", base().build().expect("defaults"));
    for c in KEY_CASES {
        let bootstrap = if c.key == "bootstrap.servers" {
            c.valid
        } else {
            "h:1"
        };
        let mut properties = vec![("bootstrap.servers", bootstrap)];
        if c.key != "bootstrap.servers" {
            properties.push((c.key, c.valid));
        }
        let parsed = ProducerConfig::from_properties(properties)
            .unwrap_or_else(|e| panic!("{}={}: {e}", c.key, c.valid));
        let via_builder = base().set(c.key, c.valid).build().expect("valid through set");
        let typed = (c.typed)(base()).build().expect("valid through the typed setter");
        let parsed = format!("{parsed:?}");
        assert_eq!(
            parsed,
            format!("{typed:?}"),
            "{}: properties and typed setter",
            c.key
        );
        assert_eq!(
            parsed,
            format!("{via_builder:?}"),
            "{}: properties and set",
            c.key
        );
        if c.key != "compression.lz4.level" {
            assert_ne!(parsed, default, "{}={} changes the config", c.key, c.valid);
        }
        if let Some(bad) = c.invalid {
            let result = if c.key == "bootstrap.servers" {
                ProducerConfig::from_properties([(c.key, bad)])
            } else {
                ProducerConfig::from_properties([("bootstrap.servers", "h:1"), (c.key, bad)])
            };
            assert_eq!(
                key_of(result),
                c.key,
                "{}={bad:?} is refused naming the key",
                c.key
            );
        }
    }
}
