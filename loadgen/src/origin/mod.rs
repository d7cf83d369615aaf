//! The test origin: an HTTP(S) server that answers for any host.
//!
//! The proxy under test is pointed at it through its static resolve override,
//! so every request of a run ends here. It must be fast enough never to be the
//! bottleneck: bodies are slices of one pre-built payload, routing borrows the
//! path, and connections are plain hyper HTTP/1.1 tasks. The TLS listener
//! terminates the HTTPS sent through CONNECT tunnels with leaves of a per-run
//! CA ([`tls::TestCa`]), on its own listener and, recognised by the first
//! byte, on the plain one too.

pub mod body;
pub mod faults;
pub mod handler;
pub mod pages;
pub mod routes;
pub mod tls;

use std::future::Future;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::oneshot;
use tokio::task::JoinSet;
use tokio_rustls::TlsAcceptor;

pub use faults::FaultSettings;
pub use handler::OriginState;
pub use tls::TestCa;

/// Errors starting or running the origin.
#[derive(Debug, thiserror::Error)]
pub enum OriginError {
    /// Binding or reading a socket failed.
    #[error("origin socket: {0}")]
    Io(#[from] std::io::Error),
    /// The TLS setup failed.
    #[error(transparent)]
    Tls(#[from] tls::TlsError),
}

/// A bound listener for HTTPS and the CA whose leaves it presents.
#[derive(Debug)]
pub struct TlsListener {
    /// The bound socket.
    pub listener: TcpListener,
    /// The CA issuing the server certificates.
    pub ca: Arc<TestCa>,
}

/// Serves the origin on already bound listeners until `shutdown` resolves,
/// then aborts the open connections.
pub async fn serve(
    listener: TcpListener,
    tls: Option<TlsListener>,
    shutdown: impl Future<Output = ()>,
) -> Result<(), OriginError> {
    serve_with_state(listener, tls, OriginState::new(), shutdown).await
}

/// [`serve`] with a given state (so a caller keeps a handle on its faults).
pub async fn serve_with_state(
    listener: TcpListener,
    tls: Option<TlsListener>,
    state: Arc<OriginState>,
    shutdown: impl Future<Output = ()>,
) -> Result<(), OriginError> {
    let tls = match tls {
        Some(t) => Some((t.ca.acceptor()?, t.listener)),
        None => None,
    };
    let mut conns = JoinSet::new();
    tokio::pin!(shutdown);
    loop {
        let tls_accept = async {
            match &tls {
                Some((_, l)) => l.accept().await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            _ = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => {
                    let _ = stream.set_nodelay(true);
                    let sniff = tls.as_ref().map(|(a, _)| a.clone());
                    conns.spawn(serve_plain_or_tls(stream, sniff, Arc::clone(&state)));
                }
                Err(e) => accept_backoff(e).await,
            },
            accepted = tls_accept => match accepted {
                Ok((stream, _)) => {
                    let _ = stream.set_nodelay(true);
                    let acceptor: TlsAcceptor = tls
                        .as_ref()
                        .map(|(a, _)| a.clone())
                        .expect("a TLS accept only completes when TLS is configured");
                    let state = Arc::clone(&state);
                    conns.spawn(async move {
                        match acceptor.accept(stream).await {
                            Ok(tls_stream) => serve_conn(tls_stream, state).await,
                            Err(e) => tracing::debug!(error = %e, "TLS handshake failed"),
                        }
                    });
                }
                Err(e) => accept_backoff(e).await,
            },
        }
        while conns.try_join_next().is_some() {}
    }
    conns.shutdown().await;
    Ok(())
}

/// Serves a connection of the plain listener. With TLS configured, a first
/// byte of 0x16 (a TLS handshake record) means HTTPS: the proxy's resolve
/// override sends every host, CONNECT targets included, to one address.
async fn serve_plain_or_tls(stream: TcpStream, tls: Option<TlsAcceptor>, state: Arc<OriginState>) {
    let Some(acceptor) = tls else {
        return serve_conn(stream, state).await;
    };
    let mut first = [0u8; 1];
    match stream.peek(&mut first).await {
        Ok(1) if first[0] == 0x16 => match acceptor.accept(stream).await {
            Ok(tls_stream) => serve_conn(tls_stream, state).await,
            Err(e) => tracing::debug!(error = %e, "TLS handshake failed"),
        },
        Ok(_) => serve_conn(stream, state).await,
        Err(e) => tracing::debug!(error = %e, "peeking a new connection failed"),
    }
}

async fn accept_backoff(e: std::io::Error) {
    // Out of descriptors or a transient error: pause rather than spin.
    tracing::warn!(error = %e, "origin accept failed");
    tokio::time::sleep(Duration::from_millis(10)).await;
}

async fn serve_conn<S>(stream: S, state: Arc<OriginState>)
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let service = service_fn(move |req| handler::handle(Arc::clone(&state), req));
    if let Err(e) = http1::Builder::new()
        .keep_alive(true)
        .serve_connection(TokioIo::new(stream), service)
        .await
    {
        tracing::debug!(error = %e, "origin connection ended with an error");
    }
}

/// An origin running on its own task, for in-process use (attacks, tests).
#[derive(Debug)]
pub struct RunningOrigin {
    /// Plain HTTP address.
    pub addr: SocketAddr,
    /// HTTPS address.
    pub tls_addr: SocketAddr,
    /// The CA clients must trust for HTTPS.
    pub ca: Arc<TestCa>,
    /// The live state (fault settings).
    pub state: Arc<OriginState>,
    stop: Option<oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<Result<(), OriginError>>>,
}

impl RunningOrigin {
    /// Binds both listeners on 127.0.0.1 with ephemeral ports and starts serving.
    pub async fn start() -> Result<RunningOrigin, OriginError> {
        Self::start_on(
            "127.0.0.1:0".parse().expect("literal address"),
            "127.0.0.1:0".parse().expect("literal address"),
        )
        .await
    }

    /// Binds the given addresses (port 0 for ephemeral) and starts serving.
    pub async fn start_on(
        http: SocketAddr,
        https: SocketAddr,
    ) -> Result<RunningOrigin, OriginError> {
        let listener = TcpListener::bind(http).await?;
        let tls_listener = TcpListener::bind(https).await?;
        let addr = listener.local_addr()?;
        let tls_addr = tls_listener.local_addr()?;
        let ca = TestCa::generate()?;
        let state = OriginState::new();
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(serve_with_state(
            listener,
            Some(TlsListener {
                listener: tls_listener,
                ca: Arc::clone(&ca),
            }),
            Arc::clone(&state),
            async move {
                let _ = stopped.await;
            },
        ));
        Ok(RunningOrigin {
            addr,
            tls_addr,
            ca,
            state,
            stop: Some(stop),
            task: Some(task),
        })
    }

    /// Writes the CA certificate next to the run's other files and returns its path.
    pub fn write_ca(&self, dir: &Path) -> Result<PathBuf, OriginError> {
        let path = dir.join("origin-ca.pem");
        self.ca.write_ca_pem(&path)?;
        Ok(path)
    }

    /// Stops serving and waits for the server task.
    pub async fn stop(mut self) -> Result<(), OriginError> {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        match self.task.take() {
            Some(task) => task.await.unwrap_or(Ok(())),
            None => Ok(()),
        }
    }
}

impl Drop for RunningOrigin {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}
