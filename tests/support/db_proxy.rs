//! A TCP proxy in front of Postgres that a test can cut and restore, to
//! play a database outage without stopping the server every other test
//! uses.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

/// A running proxy. While `down`, open connections are cut and new ones
/// are closed at once, as if the server had gone away.
#[derive(Clone)]
pub struct DbProxy {
    port: u16,
    down: Arc<AtomicBool>,
    refused: Arc<AtomicUsize>,
    cut: watch::Sender<u64>,
}

impl DbProxy {
    /// Forwards 127.0.0.1:<port> to `target` (`host:port`).
    pub async fn start(target: String) -> DbProxy {
        let listener = TcpListener::bind(("127.0.0.1", 0))
            .await
            .expect("proxy bind");
        let port = listener.local_addr().unwrap().port();
        let down = Arc::new(AtomicBool::new(false));
        let (cut, _) = watch::channel(0u64);
        let refused = Arc::new(AtomicUsize::new(0));
        let proxy = DbProxy {
            port,
            down,
            refused,
            cut,
        };
        let this = proxy.clone();
        tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                if this.down.load(Ordering::SeqCst) {
                    this.refused.fetch_add(1, Ordering::SeqCst);
                    drop(client);
                    continue;
                }
                let target = target.clone();
                let mut cut = this.cut.subscribe();
                tokio::spawn(async move {
                    let Ok(server) = TcpStream::connect(&target).await else {
                        return;
                    };
                    let (mut cr, mut cw) = client.into_split();
                    let (mut sr, mut sw) = server.into_split();
                    tokio::select! {
                        _ = tokio::io::copy(&mut cr, &mut sw) => {}
                        _ = tokio::io::copy(&mut sr, &mut cw) => {}
                        _ = cut.changed() => {}
                    }
                });
            }
        });
        proxy
    }

    /// The port to put in the database URL.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The database goes away: connections are cut, new ones refused.
    pub fn go_down(&self) {
        self.down.store(true, Ordering::SeqCst);
        self.cut.send_modify(|n| *n += 1);
    }

    /// Connections closed at once because the database was down: how often
    /// a client tried.
    pub fn refused(&self) -> usize {
        self.refused.load(Ordering::SeqCst)
    }

    pub fn come_back(&self) {
        self.down.store(false, Ordering::SeqCst);
    }
}
