//! A loopback port that refuses connections, for "it is down" tests.

use tokio::net::TcpSocket;

/// A port on 127.0.0.1 held by a socket that is bound but never listens:
/// a connection to it is refused, and no other test can be given it while
/// this lives. (A port bound and then released may be handed at once to
/// another test's listener, which then answers in its place.)
pub struct ClosedPort {
    _socket: TcpSocket,
    pub port: u16,
}

impl ClosedPort {
    pub fn new() -> ClosedPort {
        let socket = TcpSocket::new_v4().expect("closed port: socket");
        socket
            .bind(([127, 0, 0, 1], 0).into())
            .expect("closed port: bind");
        let port = socket.local_addr().expect("closed port: address").port();
        ClosedPort {
            _socket: socket,
            port,
        }
    }

    /// `http://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }
}
