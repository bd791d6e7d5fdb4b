use super::*;
use crate::ProducerConfig;

fn build(props: &[(&str, &str)]) -> crate::Result<ProducerConfig> {
    let mut all = vec![("bootstrap.servers", "localhost:9093")];
    all.extend_from_slice(props);
    ProducerConfig::from_properties(all)
}

#[test]
fn java_jaas_lines_give_the_credentials() {
    let c = build(&[
        ("security.protocol", "SASL_SSL"),
        ("sasl.mechanism", "SCRAM-SHA-512"),
        (
            "sasl.jaas.config",
            r#"org.apache.kafka.common.security.scram.ScramLoginModule required username="alice" password="a \"quoted\" secret";"#,
        ),
        ("ssl.truststore.certificates", "-----BEGIN CERTIFICATE-----"),
    ])
    .expect("valid");
    let s = c.security();
    assert_eq!(s.protocol, SecurityProtocol::SaslSsl);
    assert_eq!(s.username.as_deref(), Some("alice"));
    assert_eq!(s.password.as_deref(), Some(r#"a "quoted" secret"#));
    assert!(!s.skip_hostname_check, "https is the default");
    assert!(!format!("{c:?}").contains("secret"), "no secret in Debug");
}

#[test]
fn librdkafka_names_and_unsecured_jwts_work_too() {
    let c = build(&[
        ("security.protocol", "sasl_plaintext"),
        ("sasl.mechanism", "PLAIN"),
        ("sasl.username", "bob"),
        ("sasl.password", "pw"),
        ("ssl.endpoint.identification.algorithm", ""),
    ])
    .expect("valid");
    assert_eq!(c.security().username.as_deref(), Some("bob"));
    assert!(c.security().skip_hostname_check);
    let c = build(&[
        ("security.protocol", "SASL_PLAINTEXT"),
        ("sasl.mechanism", "OAUTHBEARER"),
        (
            "sasl.jaas.config",
            r#"org.apache.kafka.common.security.oauthbearer.OAuthBearerLoginModule required unsecuredLoginStringClaim_sub="svc" unsecuredLoginLifetimeSeconds="60" unsecuredLoginListClaim_aud="kafka";"#,
        ),
    ])
    .expect("valid");
    let jwt = c.security().unsecured_jwt.clone().expect("jwt");
    assert_eq!(jwt.subject, "svc");
    assert_eq!(jwt.lifetime, Duration::from_secs(60));
    assert_eq!(jwt.audience, vec!["kafka".to_string()]);
}

#[test]
fn bad_security_configs_name_the_key() {
    let cases: &[(&[(&str, &str)], &str)] = &[
        (&[("security.protocol", "TLS")], "security.protocol"),
        (&[("security.protocol", "SASL_SSL")], "sasl.mechanism"),
        (
            &[("security.protocol", "SASL_SSL"), ("sasl.mechanism", "GSSAPI")],
            "sasl.mechanism",
        ),
        (
            &[("security.protocol", "SASL_SSL"), ("sasl.mechanism", "PLAIN")],
            "sasl.jaas.config",
        ),
        (
            &[
                ("security.protocol", "SASL_SSL"),
                ("sasl.mechanism", "OAUTHBEARER"),
            ],
            "sasl.jaas.config",
        ),
        (
            &[("sasl.jaas.config", "PlainLoginModule maybe username=\"a\";")],
            "sasl.jaas.config",
        ),
        (
            &[("sasl.jaas.config", "PlainLoginModule required username=\"a;")],
            "sasl.jaas.config",
        ),
        (&[("ssl.truststore.type", "JKS")], "ssl.truststore.type"),
        (&[("ssl.keystore.type", "PKCS12")], "ssl.keystore.type"),
        (&[("ssl.key.password", "secret")], "ssl.key.password"),
        (
            &[("ssl.truststore.location", "/nonexistent/ca.pem")],
            "ssl.truststore.location",
        ),
        (&[("ssl.keystore.key", "x")], "ssl.keystore.key"),
        (
            &[("ssl.endpoint.identification.algorithm", "ldap")],
            "ssl.endpoint.identification.algorithm",
        ),
    ];
    for (props, key) in cases {
        let err = build(props).expect_err("invalid");
        assert!(
            matches!(&err, crate::Error::Config { key: k, .. } if k == key),
            "{props:?}: expected an error naming {key}, got {err}"
        );
    }
}

#[test]
fn a_truststore_without_certificates_fails_when_the_producer_starts() {
    let c = build(&[
        ("security.protocol", "SSL"),
        ("ssl.truststore.certificates", "not pem"),
    ])
    .expect("config");
    let err = ConnectionSecurity::new(c.security()).expect_err("no certificate");
    assert!(err.to_string().contains("ssl.truststore.certificates"), "{err}");
}

#[test]
fn without_a_truststore_the_platform_roots_are_trusted() {
    // The machine's CA bundle (Debian's ca-certificates on CI); a machine without any gets an
    // error naming the key, never an empty trust store that refuses every broker later.
    let c = build(&[("security.protocol", "SSL")]).expect("config");
    let built = ConnectionSecurity::new(c.security());
    if rustls_native_certs::load_native_certs().certs.is_empty() {
        let err = built.err().map(|e| e.to_string()).unwrap_or_default();
        assert!(err.contains("no platform root certificates"), "{err}");
    } else {
        assert!(built.is_ok_and(|s| s.tls.is_some()));
    }
}
