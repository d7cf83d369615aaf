//! TLS pieces shared by the tunnel tests: a self-signed certificate made at test time, a
//! tokio-rustls origin that answers one HTTP/1.1 request per connection with the SNI it
//! saw, and a rustls client that trusts only that certificate.
#![allow(dead_code)] // each test crate uses a different subset

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer, ServerName};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::{TlsAcceptor, TlsConnector};

/// Names the test certificate is valid for.
pub const CERT_NAMES: [&str; 3] = ["allowed.test", "blocked.test", "localhost"];

/// A self-signed certificate (acting as its own root) and its key.
pub struct TestCert {
    pub der: CertificateDer<'static>,
    key: PrivatePkcs8KeyDer<'static>,
}

impl TestCert {
    /// Generates a fresh certificate for [`CERT_NAMES`].
    pub fn generate() -> Self {
        Self::for_names(&CERT_NAMES)
    }

    /// Generates a fresh certificate for `names`.
    pub fn for_names(names: &[&str]) -> Self {
        let names: Vec<String> = names.iter().map(|s| s.to_string()).collect();
        let certified = rcgen::generate_simple_self_signed(names).expect("generate test cert");
        Self {
            der: certified.cert.der().clone(),
            key: PrivatePkcs8KeyDer::from(certified.signing_key.serialize_der()),
        }
    }

    fn provider() -> Arc<rustls::crypto::CryptoProvider> {
        Arc::new(rustls::crypto::aws_lc_rs::default_provider())
    }

    /// A client config that trusts only this certificate.
    pub fn client_config(&self) -> Arc<rustls::ClientConfig> {
        let mut roots = rustls::RootCertStore::empty();
        roots.add(self.der.clone()).expect("add test root");
        let config = rustls::ClientConfig::builder_with_provider(Self::provider())
            .with_safe_default_protocol_versions()
            .expect("protocol versions")
            .with_root_certificates(roots)
            .with_no_client_auth();
        Arc::new(config)
    }

    /// A client that trusts only this certificate.
    pub fn connector(&self) -> TlsConnector {
        TlsConnector::from(self.client_config())
    }

    /// The bytes of the first flight (the ClientHello records) a client sends for `name`.
    pub fn client_hello_bytes(&self, name: &str) -> Vec<u8> {
        let server_name = ServerName::try_from(name.to_string()).expect("valid server name");
        let mut conn = rustls::ClientConnection::new(self.client_config(), server_name)
            .expect("client connection");
        let mut out = Vec::new();
        while conn.wants_write() {
            conn.write_tls(&mut out).expect("write to a Vec");
        }
        out
    }

    /// A server config presenting this certificate.
    pub fn acceptor(&self) -> TlsAcceptor {
        let config = rustls::ServerConfig::builder_with_provider(Self::provider())
            .with_safe_default_protocol_versions()
            .expect("protocol versions")
            .with_no_client_auth()
            .with_single_cert(
                vec![self.der.clone()],
                PrivateKeyDer::Pkcs8(self.key.clone_key()),
            )
            .expect("server cert");
        TlsAcceptor::from(Arc::new(config))
    }
}

/// A running TLS origin.
pub struct TlsOrigin {
    /// Where it listens.
    pub addr: SocketAddr,
    /// TCP connections accepted.
    pub connections: Arc<AtomicUsize>,
    /// TLS handshakes completed.
    pub handshakes: Arc<AtomicUsize>,
}

impl TlsOrigin {
    /// TLS handshakes completed so far.
    pub fn handshakes(&self) -> usize {
        self.handshakes.load(Ordering::SeqCst)
    }

    /// TCP connections accepted so far.
    pub fn connections(&self) -> usize {
        self.connections.load(Ordering::SeqCst)
    }
}

/// Starts a TLS origin on 127.0.0.1:0. Each connection gets one HTTP/1.1 response whose
/// body is `sni=<name the client sent>`, then a clean TLS close.
pub async fn start_tls_origin(cert: &TestCert) -> TlsOrigin {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind origin");
    let addr = listener.local_addr().expect("origin addr");
    let acceptor = cert.acceptor();
    let connections = Arc::new(AtomicUsize::new(0));
    let handshakes = Arc::new(AtomicUsize::new(0));
    let (accepted, counter) = (connections.clone(), handshakes.clone());
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            accepted.fetch_add(1, Ordering::SeqCst);
            let acceptor = acceptor.clone();
            let counter = counter.clone();
            tokio::spawn(async move {
                let Ok(mut tls) = acceptor.accept(tcp).await else {
                    return;
                };
                counter.fetch_add(1, Ordering::SeqCst);
                let sni = tls.get_ref().1.server_name().unwrap_or("-").to_string();
                if read_head(&mut tls).await.is_none() {
                    return;
                }
                let body = format!("sni={sni}");
                let response = format!(
                    "HTTP/1.1 200 OK\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = tls.write_all(response.as_bytes()).await;
                let _ = tls.shutdown().await;
            });
        }
    });
    TlsOrigin {
        addr,
        connections,
        handshakes,
    }
}

/// Reads an HTTP head (up to the blank line), bounded to 16 KiB.
pub async fn read_head<S: AsyncRead + Unpin>(stream: &mut S) -> Option<Vec<u8>> {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        if head.len() > 16 * 1024 || stream.read(&mut byte).await.ok()? == 0 {
            return None;
        }
        head.push(byte[0]);
    }
    Some(head)
}

/// Performs a TLS handshake for `name` over `stream`, sends a GET and returns the whole
/// response (the origin closes after it).
pub async fn https_get<S>(cert: &TestCert, stream: S, name: &str) -> std::io::Result<String>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let server_name = ServerName::try_from(name.to_string()).expect("valid server name");
    let mut tls = cert.connector().connect(server_name, stream).await?;
    let request = format!("GET / HTTP/1.1\r\nhost: {name}\r\nconnection: close\r\n\r\n");
    tls.write_all(request.as_bytes()).await?;
    let mut response = String::new();
    tls.read_to_string(&mut response).await?;
    Ok(response)
}

/// A plain TCP connection to `addr`.
pub async fn connect(addr: SocketAddr) -> TcpStream {
    TcpStream::connect(addr).await.expect("connect")
}
