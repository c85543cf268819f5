//! The linger: refused connections held for a moment after their `503`, so that what a client
//! sends after it (usually its request, which had not arrived when the connection was accepted)
//! is read and dropped instead of drawing a TCP reset — on a reset, Windows discards the `503`
//! unread and its client sees "connection reset".
//!
//! The policy: one task per listener holds at most [`Linger::CAPACITY`] (4096) sockets, each for
//! at most [`Linger::WAIT`] (1 s) from its hand-over, reading and dropping what it sends. A socket
//! is closed at the client's end of stream, at a read error or at its deadline, whichever comes
//! first. What is read lands in a buffer that lives only during one poll, so a held socket costs
//! its file descriptor, a timer and a future of a few hundred bytes (tested). Past the bound,
//! [`Linger::hold`] hands the socket back, for the caller to close at once. Dropping the
//! [`Linger`] ends its task and closes what it held.

use std::io::ErrorKind;
use std::sync::Arc;
use std::time::Duration;

use futures_util::stream::{FuturesUnordered, StreamExt};
use tokio::net::TcpStream;
use tokio::sync::{mpsc, OwnedSemaphorePermit, Semaphore};
use tokio::time::Instant;
use tokio_util::task::AbortOnDropHandle;

/// The handle to a listener's linger task: hands it sockets, and ends it on drop.
#[derive(Debug)]
pub(crate) struct Linger {
    /// The way to the task; unbounded, because `room` bounds it.
    arrivals: mpsc::UnboundedSender<Held>,
    /// One permit per socket held (on its way or in the task), so that the bound covers both.
    room: Arc<Semaphore>,
    /// How long a socket is held at most.
    wait: Duration,
    /// The task, aborted when the listener's loop ends and drops this handle.
    _task: AbortOnDropHandle<()>,
}

/// One socket held, with its deadline and its place in the bound.
#[derive(Debug)]
struct Held {
    tcp: TcpStream,
    deadline: Instant,
    _permit: OwnedSemaphorePermit,
}

impl Linger {
    /// How many sockets one listener holds at once: a burst of refusals from one address (5000
    /// connects, 64 admitted) fits in it whole.
    pub(crate) const CAPACITY: usize = 4096;

    /// How long a socket is held at most: time for a client's request to arrive, and for it to
    /// read the `503` and close.
    pub(crate) const WAIT: Duration = Duration::from_secs(1);

    /// Starts the task, with [`Linger::CAPACITY`] and [`Linger::WAIT`].
    pub(crate) fn spawn() -> Self {
        Self::spawn_with(Self::CAPACITY, Self::WAIT)
    }

    fn spawn_with(capacity: usize, wait: Duration) -> Self {
        let (arrivals, received) = mpsc::unbounded_channel();
        Linger {
            arrivals,
            room: Arc::new(Semaphore::new(capacity)),
            wait,
            _task: AbortOnDropHandle::new(tokio::spawn(run(received))),
        }
    }

    /// Holds `tcp` until the client's end of stream, an error or the deadline; gives it back
    /// when the linger is full.
    pub(crate) fn hold(&self, tcp: TcpStream) -> Result<(), TcpStream> {
        let Ok(permit) = Arc::clone(&self.room).try_acquire_owned() else {
            return Err(tcp);
        };
        let held = Held {
            tcp,
            deadline: Instant::now() + self.wait,
            _permit: permit,
        };
        self.arrivals.send(held).map_err(|refused| refused.0.tcp)
    }
}

/// The task: takes sockets as they come and drives every one held, until the handle is gone.
async fn run(mut arrivals: mpsc::UnboundedReceiver<Held>) {
    let mut held = FuturesUnordered::new();
    loop {
        tokio::select! {
            arrival = arrivals.recv() => match arrival {
                Some(socket) => held.push(socket.linger()),
                None => break,
            },
            Some(()) = held.next() => {}
        }
    }
}

impl Held {
    /// Reads and drops until the end of stream, an error or the deadline; then the socket (and
    /// its permit) is dropped, which closes it.
    async fn linger(self) {
        let _ = tokio::time::timeout_at(self.deadline, drain(&self.tcp)).await;
    }
}

/// Reads and drops what `tcp` sends until its end of stream or an error.
async fn drain(tcp: &TcpStream) {
    loop {
        if tcp.readable().await.is_err() {
            return;
        }
        // Not held across an await, so not part of the future: one buffer per poll.
        let mut sink = [0u8; 1024];
        match tcp.try_read(&mut sink) {
            Ok(0) => return,
            Ok(_) => {}
            Err(error)
                if matches!(error.kind(), ErrorKind::WouldBlock | ErrorKind::Interrupted) => {}
            Err(_) => return,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpListener;

    /// How long any wait in these tests may take before the test fails.
    const BOUND: Duration = Duration::from_secs(10);

    /// A connected pair on loopback: the client's end and the server's.
    async fn pair() -> (TcpStream, TcpStream) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let client = TcpStream::connect(listener.local_addr().unwrap())
            .await
            .unwrap();
        let (server, _) = listener.accept().await.unwrap();
        (client, server)
    }

    /// What the client reads once the server's end is closed: an end of stream (bounded).
    async fn closed(client: &mut TcpStream) -> std::io::Result<usize> {
        let mut buf = [0u8; 64];
        tokio::time::timeout(BOUND, client.read(&mut buf))
            .await
            .expect("closed in time")
    }

    #[tokio::test]
    async fn a_held_socket_is_read_to_its_end_and_closed_there() {
        let linger = Linger::spawn_with(4, Duration::from_secs(3600));
        let (mut client, server) = pair().await;
        linger.hold(server).unwrap();
        // More than a socket buffer, so that it must be read for the writes to finish.
        let big = vec![b'x'; 4 << 20];
        tokio::time::timeout(BOUND, client.write_all(&big))
            .await
            .expect("read by the linger")
            .unwrap();
        client.shutdown().await.unwrap();
        assert_eq!(closed(&mut client).await.unwrap(), 0);
    }

    #[tokio::test]
    async fn a_silent_socket_is_closed_at_its_deadline() {
        let linger = Linger::spawn_with(4, Duration::from_millis(50));
        let (mut client, server) = pair().await;
        linger.hold(server).unwrap();
        assert_eq!(closed(&mut client).await.unwrap(), 0);
    }

    #[tokio::test]
    async fn past_the_bound_a_socket_is_handed_back_until_one_is_closed() {
        let linger = Linger::spawn_with(1, Duration::from_secs(3600));
        let (mut first, server) = pair().await;
        linger.hold(server).unwrap();
        let (_second, server) = pair().await;
        let server = linger.hold(server).expect_err("full");
        first.shutdown().await.unwrap();
        assert_eq!(closed(&mut first).await.unwrap(), 0);
        // The permit goes back as the socket is dropped, just after the close.
        tokio::time::timeout(BOUND, async {
            while linger.room.available_permits() == 0 {
                tokio::task::yield_now().await;
            }
        })
        .await
        .expect("room again");
        linger.hold(server).expect("held once there is room");
    }

    #[tokio::test]
    async fn dropping_the_linger_closes_what_it_holds() {
        let linger = Linger::spawn_with(4, Duration::from_secs(3600));
        let (mut client, server) = pair().await;
        linger.hold(server).unwrap();
        drop(linger);
        assert_eq!(closed(&mut client).await.unwrap(), 0);
    }

    /// The read buffer (1 KiB) is not part of what a held socket keeps (440 bytes in all with
    /// tokio 1.54, most of it the timer).
    #[tokio::test]
    async fn a_held_socket_costs_a_small_future() {
        let (_client, server) = pair().await;
        let room = Arc::new(Semaphore::new(1));
        let held = Held {
            tcp: server,
            deadline: Instant::now(),
            _permit: room.try_acquire_owned().unwrap(),
        };
        let size = std::mem::size_of_val(&held.linger());
        assert!(size <= 768, "{size} bytes");
    }
}
