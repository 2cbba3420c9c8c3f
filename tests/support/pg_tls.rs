//! TLS in front of the real Postgres, the way a managed database offers it:
//! a listener on 127.0.0.1 that speaks Postgres's `SSLRequest` opening
//! (answers `S`), terminates TLS with a certificate a test CA signed
//! (see [`TestCa`]), and relays the decrypted protocol to the server every
//! other test uses. Janus therefore really talks to Postgres through TLS,
//! and the test chooses whom the certificate is signed by.
#![allow(dead_code)] // each test uses a different part of this API

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::TlsAcceptor;

use super::tls_front::TestCa;

/// The 8 bytes of Postgres's `SSLRequest`: length 8, code 80877103.
const SSL_REQUEST: [u8; 8] = [0, 0, 0, 8, 0x04, 0xd2, 0x16, 0x2f];

/// A running front. Counts what clients did, so a test can tell "refused
/// once" from "tried again".
#[derive(Clone)]
pub struct PgTlsFront {
    port: u16,
    connections: Arc<AtomicUsize>,
    sessions: Arc<AtomicUsize>,
}

impl PgTlsFront {
    /// Listens on 127.0.0.1 with a certificate `ca` signs for `127.0.0.1`
    /// and `localhost`, relaying to `backend` (`host:port`, see
    /// `TestDb::server`). Runs until the test ends.
    pub async fn start(ca: &TestCa, backend: String) -> PgTlsFront {
        janus::install_crypto_provider();
        let acceptor = TlsAcceptor::from(ca.server_config());
        let listener = TcpListener::bind(("127.0.0.1", 0))
            .await
            .expect("pg tls front: bind");
        let front = PgTlsFront {
            port: listener.local_addr().expect("bound").port(),
            connections: Arc::default(),
            sessions: Arc::default(),
        };
        let this = front.clone();
        tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                this.connections.fetch_add(1, Ordering::SeqCst);
                let (acceptor, backend, sessions) =
                    (acceptor.clone(), backend.clone(), this.sessions.clone());
                tokio::spawn(async move {
                    let _ = relay(client, acceptor, &backend, &sessions).await;
                });
            }
        });
        front
    }

    /// The port to put in the database URL.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// TCP connections clients opened.
    pub fn connections(&self) -> usize {
        self.connections.load(Ordering::SeqCst)
    }

    /// TLS handshakes that completed (the client trusted the certificate).
    pub fn sessions(&self) -> usize {
        self.sessions.load(Ordering::SeqCst)
    }
}

/// One client: TLS after an `SSLRequest`, else plaintext as it came.
async fn relay(
    mut client: TcpStream,
    acceptor: TlsAcceptor,
    backend: &str,
    sessions: &AtomicUsize,
) -> std::io::Result<()> {
    let mut opening = [0u8; 8];
    client.read_exact(&mut opening).await?;
    let mut server = TcpStream::connect(backend).await?;
    if opening != SSL_REQUEST {
        server.write_all(&opening).await?;
        tokio::io::copy_bidirectional(&mut client, &mut server).await?;
        return Ok(());
    }
    client.write_all(b"S").await?;
    let mut tls = acceptor.accept(client).await?;
    sessions.fetch_add(1, Ordering::SeqCst);
    tokio::io::copy_bidirectional(&mut tls, &mut server).await?;
    Ok(())
}
