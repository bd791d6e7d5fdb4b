use super::oauth;
use super::plain;
use super::scram::{Hash, ScramClient, ScramCredential, ScramServer};
use super::Mechanism;

/// RFC 7677, section 3: user "user", password "pencil".
const RFC7677_CLIENT_NONCE: &str = "rOprNGfwEbeRWgbNEkqO";
const RFC7677_SERVER_NONCE: &str = "%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0";
const RFC7677_SALT_B64: &str = "W22ZaJ0SNY7soEsUEjb6gQ==";
const RFC7677_SERVER_FIRST: &str =
    "r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096";
const RFC7677_CLIENT_FINAL: &str = "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=";
const RFC7677_SERVER_FINAL: &str = "v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=";

fn rfc_salt() -> Vec<u8> {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD
        .decode(RFC7677_SALT_B64)
        .expect("salt")
}

#[test]
fn scram_sha256_client_matches_rfc_7677() {
    let mut client = ScramClient::with_nonce(Hash::Sha256, "user", "pencil", RFC7677_CLIENT_NONCE);
    assert_eq!(client.client_first(), b"n,,n=user,r=rOprNGfwEbeRWgbNEkqO");
    let client_final = client
        .client_final(RFC7677_SERVER_FIRST.as_bytes())
        .expect("final");
    assert_eq!(
        String::from_utf8(client_final).expect("utf8"),
        RFC7677_CLIENT_FINAL
    );
    client
        .verify_server_final(RFC7677_SERVER_FINAL.as_bytes())
        .expect("server signature verifies");
    assert!(client.verify_server_final(b"v=AAAA").is_err());
    assert!(client.verify_server_final(b"e=invalid-proof").is_err());
}

#[test]
fn scram_sha256_server_matches_rfc_7677() {
    let credential =
        ScramCredential::with_salt(Hash::Sha256, "pencil", &rfc_salt(), 4096).expect("credential");
    let mut server = ScramServer::with_nonce(Hash::Sha256, RFC7677_SERVER_NONCE);
    let (user, first) = server
        .server_first(b"n,,n=user,r=rOprNGfwEbeRWgbNEkqO", |name| {
            (name == "user").then(|| credential.clone())
        })
        .expect("first");
    assert_eq!(user, "user");
    assert_eq!(String::from_utf8(first).expect("utf8"), RFC7677_SERVER_FIRST);
    let last = server
        .server_final(RFC7677_CLIENT_FINAL.as_bytes())
        .expect("final");
    assert_eq!(String::from_utf8(last).expect("utf8"), RFC7677_SERVER_FINAL);
}

#[test]
fn a_wrong_password_fails_the_proof_on_both_mechanisms() {
    for hash in [Hash::Sha256, Hash::Sha512] {
        let credential = ScramCredential::new(hash, "right", 4096).expect("credential");
        let mut client = ScramClient::new(hash, "alice", "wrong").expect("client");
        let mut server = ScramServer::new(hash);
        let (_, first) = server
            .server_first(&client.client_first(), |_| Some(credential.clone()))
            .expect("first");
        let last = client.client_final(&first).expect("client final");
        let err = server.server_final(&last).expect_err("wrong password");
        assert!(err.to_string().contains("invalid credentials"), "{err}");
        assert!(!err.to_string().contains("wrong"), "no secret in {err}");
    }
}

#[test]
fn scram_round_trips_with_escaped_names_and_refuses_unknown_users() {
    for hash in [Hash::Sha256, Hash::Sha512] {
        let credential = ScramCredential::new(hash, "p,w=d", 8192).expect("credential");
        let mut client = ScramClient::new(hash, "a,b=c", "p,w=d").expect("client");
        let mut server = ScramServer::new(hash);
        let (user, first) = server
            .server_first(&client.client_first(), |name| {
                (name == "a,b=c").then(|| credential.clone())
            })
            .expect("first");
        assert_eq!(user, "a,b=c");
        let last = client.client_final(&first).expect("final");
        let signature = server.server_final(&last).expect("verified");
        client.verify_server_final(&signature).expect("server verified");

        let mut server = ScramServer::new(hash);
        assert!(server.server_first(b"n,,n=bob,r=abc", |_| None).is_err());
        // A credential of the other mechanism does not authenticate.
        let other = ScramCredential::new(
            if hash == Hash::Sha256 {
                Hash::Sha512
            } else {
                Hash::Sha256
            },
            "x",
            4096,
        )
        .expect("other");
        assert!(ScramServer::new(hash)
            .server_first(b"n,,n=bob,r=abc", |_| Some(other.clone()))
            .is_err());
    }
}

#[test]
fn a_hostile_server_first_message_is_refused() {
    let cases: &[&str] = &[
        "r=nonce-not-ours,s=QUJD,i=4096",
        "r=CLIENTx,s=QUJD,i=100",       // below Kafka's minimum
        "r=CLIENTx,s=QUJD,i=100000000", // would hash for minutes
        "r=CLIENTx,s=!!!,i=4096",
        "r=CLIENTx,i=4096",
        "r=CLIENT,s=QUJD,i=4096", // the server added nothing to the nonce
        "e=other-error",
        "garbage",
    ];
    for case in cases {
        let mut client = ScramClient::with_nonce(Hash::Sha512, "u", "p", "CLIENT");
        assert!(client.client_final(case.as_bytes()).is_err(), "{case}");
    }
    let mut client = ScramClient::with_nonce(Hash::Sha512, "u", "p", "CLIENT");
    assert!(client.client_final(&vec![b'r'; 100_000]).is_err());
}

#[test]
fn malformed_client_messages_are_refused_by_the_server() {
    let credential = ScramCredential::new(Hash::Sha256, "p", 4096).expect("credential");
    let firsts: &[&[u8]] = &[
        b"",
        b"n,,",
        b"p=tls-unique,,n=u,r=x",
        b"n,,r=x,n=u",
        b"n,,n=u=zz,r=x",
        b"n,a=other,n=u,r=x",
        b"\xff\xfe",
    ];
    for first in firsts {
        let mut server = ScramServer::new(Hash::Sha256);
        assert!(
            server.server_first(first, |_| Some(credential.clone())).is_err(),
            "{first:?}"
        );
    }
    let mut server = ScramServer::new(Hash::Sha256);
    assert!(
        server.server_final(b"c=biws,r=x,p=AAAA").is_err(),
        "final before first"
    );
    let mut server = ScramServer::new(Hash::Sha256);
    server
        .server_first(b"n,a=u,n=u,r=abc", |_| Some(credential.clone()))
        .expect("an authzid equal to the user is fine");
    for last in [
        &b"c=biws,r=abcX,p=AAAA"[..],
        b"c=biws,r=abc",
        b"c=biws,r=abc,p=!!",
    ] {
        let mut server = ScramServer::new(Hash::Sha256);
        server
            .server_first(b"n,,n=u,r=abc", |_| Some(credential.clone()))
            .expect("first");
        assert!(server.server_final(last).is_err(), "{last:?}");
    }
}

#[test]
fn credentials_keep_no_password_and_check_iterations() {
    let c = ScramCredential::new(Hash::Sha512, "secret", 4096).expect("credential");
    assert_eq!(
        (c.stored_key.len(), c.server_key.len(), c.salt.len()),
        (64, 64, 24)
    );
    assert!(!format!("{c:?}").contains("stored_key"));
    assert!(ScramCredential::new(Hash::Sha256, "x", 4095).is_err());
    assert!(ScramCredential::new(Hash::Sha256, "x", 16385).is_err());
    // Fresh salt each time.
    let d = ScramCredential::new(Hash::Sha512, "secret", 4096).expect("credential");
    assert_ne!(c.salt, d.salt);
}

#[test]
fn plain_messages_encode_and_parse_as_kafka_expects() {
    let m = plain::client_message("alice", "pw");
    assert_eq!(m, b"\0alice\0pw");
    let parsed = plain::parse_client_message(&m).expect("parse");
    assert_eq!(
        (parsed.authzid, parsed.username, parsed.password),
        ("", "alice", "pw")
    );
    for bad in [
        &b"alice\0pw"[..],
        b"\0\0pw",
        b"\0alice\0",
        b"a\0b\0c\0d",
        b"\0\xff\0x",
    ] {
        assert!(plain::parse_client_message(bad).is_err(), "{bad:?}");
    }
    assert!(plain::secrets_equal(b"abc", b"abc"));
    assert!(!plain::secrets_equal(b"abc", b"abd"));
    assert!(!plain::secrets_equal(b"abc", b"ab"));
}

#[test]
fn mechanisms_parse_by_kafka_name() {
    for m in Mechanism::ALL {
        assert_eq!(m.name().parse::<Mechanism>().expect("parse"), m);
    }
    let err = "GSSAPI".parse::<Mechanism>().expect_err("unsupported");
    assert!(err.to_string().contains("SCRAM-SHA-512"), "{err}");
    assert!("plain".parse::<Mechanism>().is_err());
}

#[test]
fn unsecured_jwts_are_validated_as_kafka_does() {
    let now = 1_700_000_000_000;
    let token = oauth::unsecured_jwt("alice", now, 60_000, &[]);
    let ok = oauth::validate_unsecured_jwt(&token, now, &[]).expect("valid");
    assert_eq!(ok.principal, "alice");
    // Expired.
    assert!(oauth::validate_unsecured_jwt(&token, now + 60_000, &[]).is_err());
    // Audience.
    let aud = oauth::unsecured_jwt("bob", now, 60_000, &["kafka", "other"]);
    assert!(oauth::validate_unsecured_jwt(&aud, now, &["kafka".into()]).is_ok());
    assert!(oauth::validate_unsecured_jwt(&aud, now, &["nope".into()]).is_err());
    assert!(oauth::validate_unsecured_jwt(&token, now, &["kafka".into()]).is_err());
    // Signed tokens, no subject, garbage.
    let signed = format!("{}sig", token);
    assert!(oauth::validate_unsecured_jwt(&signed, now, &[]).is_err());
    let (header, _) = token.split_once('.').expect("dot");
    let no_sub = format!("{header}.{}.", {
        use base64::Engine as _;
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(br#"{"exp":99999999999}"#)
    });
    assert!(oauth::validate_unsecured_jwt(&no_sub, now, &[]).is_err());
    for bad in ["", "a.b", "a.b.c.d", "!!.!!."] {
        assert!(oauth::validate_unsecured_jwt(bad, now, &[]).is_err(), "{bad}");
    }
    // Client message round trip, with an extension.
    let msg = oauth::client_message(&token);
    assert_eq!(oauth::parse_client_message(&msg).expect("parse").token, token);
    let with_ext = format!("n,,\x01auth=Bearer {token}\x01traceId=1\x01\x01");
    let parsed = oauth::parse_client_message(with_ext.as_bytes()).expect("parse");
    assert_eq!(parsed.extensions, vec![("traceId", "1")]);
    assert!(oauth::parse_client_message(b"n,,\x01\x01").is_err());
    assert!(oauth::parse_client_message(b"\x01auth=Basic x\x01\x01").is_err());
}

#[test]
fn security_protocols_parse_by_kafka_name_in_any_case() {
    use super::SecurityProtocol;
    for p in SecurityProtocol::ALL {
        assert_eq!(SecurityProtocol::from_name(p.name()), Some(p));
        assert_eq!(
            SecurityProtocol::from_name(&p.name().to_ascii_lowercase()),
            Some(p)
        );
    }
    assert_eq!(SecurityProtocol::from_name("TLS"), None);
    assert!(SecurityProtocol::SaslSsl.tls() && SecurityProtocol::SaslSsl.sasl());
    assert!(!SecurityProtocol::Ssl.sasl() && !SecurityProtocol::SaslPlaintext.tls());
    assert_eq!(SecurityProtocol::default(), SecurityProtocol::Plaintext);
}
