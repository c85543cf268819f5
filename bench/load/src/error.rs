//! [`LoadError`]: why a load run could not be carried out.

use std::time::Duration;

use crate::codec::CodecError;
use crate::wire::WireError;

/// Why a load run, or one connection of it, failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LoadError {
    /// The URL could not be read, or names something this tool does not speak.
    #[error("bad URL '{url}': {reason}")]
    BadUrl {
        /// The URL as given.
        url: String,
        /// What is wrong with it.
        reason: String,
    },
    /// An option out of its range.
    #[error("{0}")]
    BadOption(String),
    /// The target is not this machine: the load client only runs against loopback.
    #[error("'{0}' is not a loopback address: this load client only runs against this machine")]
    NotLoopback(String),
    /// More connections than this process may open files.
    #[error(
        "{connections} connections need about {need} open files, but this process may open \
         {soft} (hard limit {hard}): raise the hard limit (as root `ulimit -Hn {need}` in the \
         shell that starts it, LimitNOFILE= under systemd, or /etc/security/limits.conf) and run \
         again, or open fewer connections"
    )]
    FdLimit {
        /// The connections asked for.
        connections: u64,
        /// The file descriptors they need, with a margin.
        need: u64,
        /// The soft limit after raising it to the hard one.
        soft: u64,
        /// The hard limit.
        hard: u64,
    },
    /// A socket call failed.
    #[error("{what}: {source}")]
    Io {
        /// What was being done.
        what: &'static str,
        /// The error.
        #[source]
        source: std::io::Error,
    },
    /// The WebSocket handshake or a WebSocket read or write failed.
    #[error("websocket: {0}")]
    WebSocket(#[from] tokio_tungstenite::tungstenite::Error),
    /// A length-prefixed TCP frame could not be read.
    #[error("tcp frame: {0}")]
    Codec(#[from] CodecError),
    /// An answer that is not the one expected.
    #[error("answer: {0}")]
    Wire(#[from] WireError),
    /// Nothing arrived in time.
    #[error("{what}: no answer within {} ms", .after.as_millis())]
    Timeout {
        /// What was waited for.
        what: &'static str,
        /// How long.
        after: Duration,
    },
    /// The peer closed the connection.
    #[error("the server closed the connection")]
    Closed,
    /// An HTTP request failed or was refused.
    #[error("http: {0}")]
    Http(String),
    /// `/proc/PID/status` could not be read or has no `VmRSS`.
    #[error("cannot read the RSS of process {pid}: {reason}")]
    Rss {
        /// The process.
        pid: u32,
        /// Why.
        reason: String,
    },
    /// A connection's task panicked or was cancelled.
    #[error("a connection task failed: {0}")]
    Task(String),
    /// Not a single connection could be opened.
    #[error("no connection could be opened; the first error: {0}")]
    NoConnection(Box<LoadError>),
}

impl LoadError {
    /// [`LoadError::BadOption`] unless there is at least one connection.
    pub fn check_connections(connections: usize) -> Result<(), LoadError> {
        if connections == 0 {
            return Err(LoadError::BadOption(
                "--connections must be at least 1".to_owned(),
            ));
        }
        Ok(())
    }

    /// An [`LoadError::Io`] while doing `what`.
    pub fn io(what: &'static str) -> impl FnOnce(std::io::Error) -> LoadError {
        move |source| LoadError::Io { what, source }
    }
}
