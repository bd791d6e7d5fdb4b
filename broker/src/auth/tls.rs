//! TLS for listeners: a rustls server config from PEM, and the principal of a client
//! certificate.

use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::WebPkiClientVerifier;

use super::{ClientAuth, TlsConfig};
use crate::{Error, Result};

fn config_error(key: &str, reason: impl std::fmt::Display) -> Error {
    Error::Config(format!("{key}: {reason}"))
}

/// Parses every certificate in `pem`.
pub(crate) fn certificates(key: &str, pem: &str) -> Result<Vec<CertificateDer<'static>>> {
    let certs = CertificateDer::pem_slice_iter(pem.as_bytes())
        .collect::<std::result::Result<Vec<_>, _>>()
        .map_err(|e| config_error(key, format!("invalid PEM certificate: {e}")))?;
    if certs.is_empty() {
        return Err(config_error(key, "no certificate in the PEM text"));
    }
    Ok(certs)
}

/// A TLS acceptor for `config` (TLS 1.2 and 1.3, rustls' safe defaults).
pub(crate) fn acceptor(config: &TlsConfig) -> Result<tokio_rustls::TlsAcceptor> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let chain = certificates("ssl.keystore.certificate.chain", &config.certificate_chain_pem)?;
    let key = PrivateKeyDer::from_pem_slice(config.private_key_pem.as_bytes()).map_err(|e| {
        config_error(
            "ssl.keystore.key",
            format!("no unencrypted private key in the PEM text: {e}"),
        )
    })?;
    let builder = rustls::ServerConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| config_error("ssl.enabled.protocols", e))?;
    let builder = match (config.client_auth, &config.truststore_pem) {
        (ClientAuth::None, _) | (_, None) => builder.with_no_client_auth(),
        (auth, Some(trust)) => {
            let mut roots = rustls::RootCertStore::empty();
            for cert in certificates("ssl.truststore.certificates", trust)? {
                roots
                    .add(cert)
                    .map_err(|e| config_error("ssl.truststore.certificates", e))?;
            }
            let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider);
            let verifier = if auth == ClientAuth::Requested {
                verifier.allow_unauthenticated()
            } else {
                verifier
            };
            let verifier = verifier
                .build()
                .map_err(|e| config_error("ssl.truststore.certificates", e))?;
            builder.with_client_cert_verifier(verifier)
        }
    };
    let server = builder.with_single_cert(chain, key).map_err(|e| {
        config_error(
            "ssl.keystore.key",
            format!("the key does not fit the certificate: {e}"),
        )
    })?;
    Ok(tokio_rustls::TlsAcceptor::from(Arc::new(server)))
}

/// Kafka's principal for a verified client certificate: `User:` and the subject's
/// distinguished name as Java's `X500Principal.getName()` writes it (RFC 2253: last RDN
/// first, `CN=client,OU=...,O=...`). `None` when the subject cannot be read.
pub(crate) fn certificate_principal(cert: &[u8]) -> Option<String> {
    let subject = der::subject(cert)?;
    Some(format!("User:{subject}"))
}

/// Just enough DER to read a certificate's subject name.
mod der {
    /// One TLV: (tag, contents, rest).
    fn tlv(input: &[u8]) -> Option<(u8, &[u8], &[u8])> {
        let (&tag, rest) = input.split_first()?;
        let (&first, rest) = rest.split_first()?;
        let (len, rest) = if first < 0x80 {
            (usize::from(first), rest)
        } else {
            let n = usize::from(first & 0x7f);
            if n == 0 || n > 4 || rest.len() < n {
                return None;
            }
            let len = rest[..n]
                .iter()
                .fold(0usize, |acc, b| (acc << 8) | usize::from(*b));
            (len, &rest[n..])
        };
        if rest.len() < len {
            return None;
        }
        Some((tag, &rest[..len], &rest[len..]))
    }

    const SEQUENCE: u8 = 0x30;
    const SET: u8 = 0x31;

    /// Certificate → tbsCertificate → [version], serial, signature, issuer, validity, subject.
    pub(super) fn subject(cert: &[u8]) -> Option<String> {
        let (SEQUENCE, certificate, _) = tlv(cert)? else {
            return None;
        };
        let (SEQUENCE, mut tbs, _) = tlv(certificate)? else {
            return None;
        };
        let (tag, _, rest) = tlv(tbs)?;
        if tag == 0xa0 {
            tbs = rest; // explicit version
        }
        let mut fields = Vec::new();
        for _ in 0..5 {
            let (tag, contents, rest) = tlv(tbs)?;
            fields.push((tag, contents));
            tbs = rest;
        }
        // serial, signature, issuer, validity, subject
        let (SEQUENCE, name) = fields[4] else { return None };
        rdn_sequence(name)
    }

    fn rdn_sequence(mut name: &[u8]) -> Option<String> {
        let mut rdns = Vec::new();
        while !name.is_empty() {
            let (SET, mut set, rest) = tlv(name)? else {
                return None;
            };
            name = rest;
            let mut parts = Vec::new();
            while !set.is_empty() {
                let (SEQUENCE, attribute, rest) = tlv(set)? else {
                    return None;
                };
                set = rest;
                let (0x06, oid, value) = tlv(attribute)? else {
                    return None;
                };
                let (_, value, _) = tlv(value)?;
                let value = String::from_utf8_lossy(value);
                parts.push(format!("{}={}", attribute_name(oid), escape(&value)));
            }
            rdns.push(parts.join("+"));
        }
        rdns.reverse();
        Some(rdns.join(","))
    }

    fn attribute_name(oid: &[u8]) -> String {
        match oid {
            [0x55, 0x04, 0x03] => "CN".into(),
            [0x55, 0x04, 0x06] => "C".into(),
            [0x55, 0x04, 0x07] => "L".into(),
            [0x55, 0x04, 0x08] => "ST".into(),
            [0x55, 0x04, 0x09] => "STREET".into(),
            [0x55, 0x04, 0x0a] => "O".into(),
            [0x55, 0x04, 0x0b] => "OU".into(),
            [0x09, 0x92, 0x26, 0x89, 0x93, 0xf2, 0x2c, 0x64, 0x01, 0x19] => "DC".into(),
            [0x09, 0x92, 0x26, 0x89, 0x93, 0xf2, 0x2c, 0x64, 0x01, 0x01] => "UID".into(),
            other => dotted(other),
        }
    }

    fn dotted(oid: &[u8]) -> String {
        let mut out = Vec::new();
        let mut value: u64 = 0;
        for (i, b) in oid.iter().enumerate() {
            value = (value << 7) | u64::from(b & 0x7f);
            if b & 0x80 == 0 {
                if out.is_empty() {
                    let first = (value / 40).min(2);
                    out.push(first.to_string());
                    out.push((value - first * 40).to_string());
                } else {
                    out.push(value.to_string());
                }
                value = 0;
            }
            if i > 64 {
                break;
            }
        }
        out.join(".")
    }

    fn escape(value: &str) -> String {
        let mut out = String::with_capacity(value.len());
        for (i, c) in value.chars().enumerate() {
            if matches!(c, ',' | '+' | '"' | '\\' | '<' | '>' | ';') || (i == 0 && (c == '#' || c == ' ')) {
                out.push('\\');
            }
            out.push(c);
        }
        out
    }
}
