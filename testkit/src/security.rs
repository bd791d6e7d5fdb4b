//! TLS and SASL for the mock cluster: certificates made in memory, users from the test.
//!
//! ```
//! # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
//! use kafkit_producer::{Error, Producer, ProducerConfig};
//! use kafkit_testkit::MockCluster;
//!
//! let cluster = MockCluster::builder()
//!     .tls()
//!     .sasl_scram(&[("alice", "alice-secret")])
//!     .start()
//!     .await?;
//! let mut config = ProducerConfig::builder(cluster.bootstrap_servers());
//! for (key, value) in cluster.client_properties() {
//!     config = config.set(&key, &value); // security.protocol=SASL_SSL, the CA as PEM
//! }
//! let config = config
//!     .set("sasl.mechanism", "SCRAM-SHA-512")
//!     .set("sasl.username", "alice")
//!     .set("sasl.password", "wrong")
//!     .build()?;
//! let err = Producer::connect(config).await.expect_err("a wrong password is refused");
//! assert!(matches!(err, Error::Authentication { .. }), "{err}");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! # }).unwrap();
//! ```

use rcgen::{
    BasicConstraints, Certificate, CertificateParams, DistinguishedName, DnType, IsCa, KeyPair,
    KeyUsagePurpose,
};

use crate::error::{Error, Result};

/// A certificate and its private key, PEM text.
#[derive(Clone, PartialEq, Eq)]
pub struct CertifiedKey {
    /// The certificate (PEM).
    pub certificate_pem: String,
    /// Its private key (PKCS#8 PEM, unencrypted).
    pub private_key_pem: String,
}

impl std::fmt::Debug for CertifiedKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CertifiedKey").finish_non_exhaustive()
    }
}

impl CertifiedKey {
    /// Certificate and key in one PEM text: what `ssl.keystore.location` points at.
    pub fn keystore_pem(&self) -> String {
        format!("{}{}", self.private_key_pem, self.certificate_pem)
    }
}

/// A certificate authority made in memory for one test run: it signs the brokers' and the
/// clients' certificates.
pub struct TestCa {
    certificate: Certificate,
    key: KeyPair,
}

impl std::fmt::Debug for TestCa {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TestCa").finish_non_exhaustive()
    }
}

fn tls_error(e: rcgen::Error) -> Error {
    Error::Config(format!("cannot make a test certificate: {e}"))
}

impl TestCa {
    /// A new CA ("kafkit test CA"), ECDSA P-256.
    pub fn new() -> Result<TestCa> {
        let key = KeyPair::generate().map_err(tls_error)?;
        let mut params = CertificateParams::new(Vec::<String>::new()).map_err(tls_error)?;
        params.distinguished_name = DistinguishedName::new();
        params
            .distinguished_name
            .push(DnType::CommonName, "kafkit test CA");
        params.distinguished_name.push(DnType::OrganizationName, "kafkit");
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let certificate = params.self_signed(&key).map_err(tls_error)?;
        Ok(TestCa { certificate, key })
    }

    /// The CA certificate (PEM): a client's `ssl.truststore.certificates`.
    pub fn certificate_pem(&self) -> String {
        self.certificate.pem()
    }

    /// A server certificate for `names` (DNS names or IP addresses), signed by this CA.
    pub fn server_certificate(&self, names: &[&str]) -> Result<CertifiedKey> {
        let mut params = CertificateParams::new(names.iter().map(|n| n.to_string()).collect::<Vec<_>>())
            .map_err(tls_error)?;
        params.distinguished_name = DistinguishedName::new();
        params
            .distinguished_name
            .push(DnType::CommonName, names.first().copied().unwrap_or("kafkit"));
        self.sign(params)
    }

    /// A client certificate with subject `CN=<common_name>,O=kafkit`, signed by this CA, for
    /// mutual TLS. The broker's principal for it is `User:CN=<common_name>,O=kafkit`.
    pub fn client_certificate(&self, common_name: &str) -> Result<CertifiedKey> {
        let mut params = CertificateParams::new(Vec::<String>::new()).map_err(tls_error)?;
        params.distinguished_name = DistinguishedName::new();
        params.distinguished_name.push(DnType::OrganizationName, "kafkit");
        params.distinguished_name.push(DnType::CommonName, common_name);
        self.sign(params)
    }

    fn sign(&self, params: CertificateParams) -> Result<CertifiedKey> {
        // (Each `params` started from an empty name: rcgen's default carries a CN of its own.)
        let key = KeyPair::generate().map_err(tls_error)?;
        let certificate = params
            .signed_by(&key, &self.certificate, &self.key)
            .map_err(tls_error)?;
        Ok(CertifiedKey {
            certificate_pem: certificate.pem(),
            private_key_pem: key.serialize_pem(),
        })
    }
}
