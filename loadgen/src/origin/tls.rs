//! The origin's TLS identity: a test CA generated at start that issues a leaf
//! certificate for whatever server name a client asks for (SNI).
//!
//! HTTPS traffic reaches the origin through CONNECT tunnels to many different
//! host names, so one fixed certificate cannot match them all; a per-run CA the
//! load generator trusts (its PEM is written to a file) can. Leaves are cached,
//! so a name costs one key generation per run.

use std::collections::HashMap;
use std::fmt;
use std::path::Path;
use std::sync::{Arc, Mutex};

use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair, KeyUsagePurpose,
};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use tokio_rustls::TlsAcceptor;

/// Errors building the test CA or a certificate.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// Certificate generation failed.
    #[error("generating a certificate: {0}")]
    Generate(#[from] rcgen::Error),
    /// rustls refused the key or configuration.
    #[error("TLS setup: {0}")]
    Rustls(#[from] rustls::Error),
    /// Writing the CA certificate failed.
    #[error("writing the CA certificate to {path}: {cause}")]
    Write {
        /// Where it was written.
        path: String,
        /// Why it failed.
        cause: std::io::Error,
    },
}

/// A per-run certificate authority that signs leaves on demand.
pub struct TestCa {
    issuer: CertifiedIssuer<'static, KeyPair>,
    leaves: Mutex<HashMap<String, Arc<CertifiedKey>>>,
}

impl fmt::Debug for TestCa {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TestCa").finish_non_exhaustive()
    }
}

impl TestCa {
    /// Generates a fresh CA.
    pub fn generate() -> Result<Arc<TestCa>, TlsError> {
        let mut params = CertificateParams::new(Vec::<String>::new())?;
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params
            .distinguished_name
            .push(DnType::CommonName, "loadgen test origin CA");
        params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        let issuer = CertifiedIssuer::self_signed(params, KeyPair::generate()?)?;
        Ok(Arc::new(TestCa {
            issuer,
            leaves: Mutex::new(HashMap::new()),
        }))
    }

    /// The CA certificate, PEM encoded, for clients to trust.
    pub fn ca_pem(&self) -> String {
        self.issuer.pem()
    }

    /// Writes the CA certificate (PEM) to `path`, creating its directory, whole or not at
    /// all: in a cluster the workers read it from a shared volume while the origin runs.
    pub fn write_ca_pem(&self, path: &Path) -> Result<(), TlsError> {
        rundir::atomic::write_atomic(path, self.ca_pem().as_bytes()).map_err(|e| TlsError::Write {
            path: path.display().to_string(),
            cause: e.cause,
        })
    }

    /// A TLS acceptor (HTTP/1.1 only) that answers every name with a leaf of this CA.
    pub fn acceptor(self: &Arc<Self>) -> Result<TlsAcceptor, TlsError> {
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let mut config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()?
            .with_no_client_auth()
            .with_cert_resolver(Arc::new(Resolver(Arc::clone(self))));
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(TlsAcceptor::from(Arc::new(config)))
    }

    /// The certified key for `name`, issued on first use.
    pub fn leaf(&self, name: &str) -> Result<Arc<CertifiedKey>, TlsError> {
        if let Some(found) = self
            .leaves
            .lock()
            .expect("leaf cache lock is never held across a panic")
            .get(name)
        {
            return Ok(Arc::clone(found));
        }
        let key = KeyPair::generate()?;
        // No server name (a client dialling an IP address): cover the loopback names.
        let names: Vec<String> = if name.is_empty() {
            vec!["localhost".into(), "127.0.0.1".into(), "::1".into()]
        } else {
            vec![name.to_string()]
        };
        let cert = CertificateParams::new(names)?.signed_by(&key, &self.issuer)?;
        let der = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der()));
        let signing = rustls::crypto::aws_lc_rs::sign::any_supported_type(&der)?;
        let chain: Vec<CertificateDer<'static>> =
            vec![cert.der().clone(), self.issuer.der().clone()];
        let certified = Arc::new(CertifiedKey::new(chain, signing));
        self.leaves
            .lock()
            .expect("leaf cache lock is never held across a panic")
            .insert(name.to_string(), Arc::clone(&certified));
        Ok(certified)
    }
}

/// Adapter from rustls' certificate lookup to [`TestCa::leaf`].
#[derive(Debug)]
struct Resolver(Arc<TestCa>);

impl ResolvesServerCert for Resolver {
    fn resolve(&self, hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        let name = hello.server_name().unwrap_or("");
        match self.0.leaf(name) {
            Ok(key) => Some(key),
            Err(e) => {
                tracing::warn!(name, error = %e, "issuing a leaf certificate failed");
                None
            }
        }
    }
}
