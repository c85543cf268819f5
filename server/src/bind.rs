//! The listening socket, made with `socket2` so that its accept backlog is ours to choose.
//!
//! `tokio::net::TcpListener::bind` listens with a backlog of 128 (the standard library's): a
//! burst of connects overflows it, and then Linux drops SYNs (the client retries after 1 s,
//! then 3 s) and, worse, drops the handshake's last ACK, so the client sees a connected socket
//! that the server has not got. [`bind`] asks for [`DEFAULT_BACKLOG`] (or the operator's
//! `--listen-backlog`); the kernel clamps it to `net.core.somaxconn` ([`somaxconn`]), which
//! `semantest-server` logs at start.
//!
//! Why 4096: it is Linux's default `somaxconn` since 5.4, so on a current kernel the value is
//! not silently cut; it holds a burst of thousands of connects while the accept loop catches up
//! (5000 at once on 2 cores: 1024 and 2048 still dropped SYNs in some runs, 4096 in none); and
//! a queued connection costs the kernel a socket, not the server memory. A larger one only
//! helps with `somaxconn` raised too.

use std::io;
use std::net::SocketAddr;

use socket2::{Domain, Protocol, Socket, Type};
use tokio::net::TcpListener;

/// The accept backlog asked for by default: see the module's documentation.
pub const DEFAULT_BACKLOG: u32 = 4096;

/// A non-blocking TCP listener on `addr` with an accept queue of `backlog` (at most
/// `somaxconn`), `SO_REUSEADDR` set as the standard library does, so a restarted server can
/// bind its port at once. Must be called inside a tokio runtime.
pub fn bind(addr: SocketAddr, backlog: u32) -> io::Result<TcpListener> {
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    #[cfg(unix)]
    socket.set_reuse_address(true)?;
    socket.set_nonblocking(true)?;
    socket.bind(&addr.into())?;
    socket.listen(i32::try_from(backlog).unwrap_or(i32::MAX))?;
    TcpListener::from_std(socket.into())
}

/// The kernel's ceiling for any accept backlog (`net.core.somaxconn`), where it can be read
/// (Linux).
pub fn somaxconn() -> Option<u32> {
    std::fs::read_to_string("/proc/sys/net/core/somaxconn")
        .ok()?
        .trim()
        .parse()
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn binds_a_free_port_and_accepts() {
        let listener = bind("127.0.0.1:0".parse().unwrap(), 16).unwrap();
        let addr = listener.local_addr().unwrap();
        let client = tokio::net::TcpStream::connect(addr).await.unwrap();
        let (_, peer) = listener.accept().await.unwrap();
        assert_eq!(peer, client.local_addr().unwrap());
        // Taken: a second listener on the same port fails.
        assert!(bind(addr, 16).is_err());
    }

    #[cfg(target_os = "linux")]
    #[tokio::test]
    async fn the_backlog_is_the_one_asked_for() {
        use std::time::Duration;
        use tokio::net::TcpStream;
        // Nothing accepts: Linux completes `backlog + 1` connects (the queue holds one more
        // than its length) and drops the next one's SYN, which is retried only after 1 s.
        let listener = bind("127.0.0.1:0".parse().unwrap(), 4).unwrap();
        let addr = listener.local_addr().unwrap();
        let mut held = Vec::new();
        for n in 0..5 {
            let connect = tokio::time::timeout(Duration::from_secs(10), TcpStream::connect(addr));
            held.push(
                connect
                    .await
                    .unwrap_or_else(|_| panic!("connect {n} in the queue"))
                    .unwrap(),
            );
        }
        let sixth = tokio::time::timeout(Duration::from_millis(500), TcpStream::connect(addr));
        assert!(sixth.await.is_err(), "the queue holds 5, not more");
    }
}
