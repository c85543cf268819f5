//! `semantest-load`: parses the command line, runs one mode, prints its JSON line on stdout.

use std::io::Write;
use std::time::Duration;

use anyhow::Context;
use clap::{Parser, Subcommand};
use serde::Serialize;

use semantest_load::burst::{self, BurstOptions};
use semantest_load::echo::{self, EchoOptions};
use semantest_load::image::{self, ImageOptions};
use semantest_load::proto::Proto;
use semantest_load::ramp::{self, RampOptions};
use semantest_load::rate::{self, RateOptions};
use semantest_load::target::Target;
use semantest_load::tcp_server;

/// Load client for the Semantest server (loopback only). Each mode prints one JSON line on
/// stdout; progress and errors go to stderr.
#[derive(Debug, Parser)]
#[command(name = "semantest-load", version)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Closed loop: each connection sends a message, waits for its answer, sends the next.
    Echo {
        /// ws://127.0.0.1:PORT/ (semantest, echo) or tcp://127.0.0.1:PORT (tcp).
        #[arg(long)]
        url: String,
        /// Connections.
        #[arg(long, default_value_t = 100)]
        connections: usize,
        /// Seconds measured (after the warm-up).
        #[arg(long, default_value_t = 10.0)]
        duration: f64,
        /// Seconds run before measuring.
        #[arg(long, default_value_t = 1.0)]
        warmup: f64,
        /// What the connections speak.
        #[arg(long, value_enum, default_value_t = Proto::Semantest)]
        proto: Proto,
        /// About how big each message is, in bytes.
        #[arg(long, default_value_t = 128)]
        size: usize,
    },
    /// Open loop: RATE messages per second over the connections, each sent on schedule.
    Rate {
        /// ws://127.0.0.1:PORT/ (semantest, echo) or tcp://127.0.0.1:PORT (tcp).
        #[arg(long)]
        url: String,
        /// Connections.
        #[arg(long, default_value_t = 100)]
        connections: usize,
        /// Messages per second, all connections together.
        #[arg(long)]
        rate: f64,
        /// Seconds of sending.
        #[arg(long, default_value_t = 10.0)]
        duration: f64,
        /// What the connections speak.
        #[arg(long, value_enum, default_value_t = Proto::Semantest)]
        proto: Proto,
        /// About how big each message is, in bytes.
        #[arg(long, default_value_t = 128)]
        size: usize,
    },
    /// Opens many idle connections and reports the server's RSS per connection.
    Ramp {
        /// ws://127.0.0.1:PORT/ (semantest, echo) or tcp://127.0.0.1:PORT (tcp).
        #[arg(long)]
        url: String,
        /// Connections to open and hold.
        #[arg(long)]
        connections: usize,
        /// The server's process id (its RSS is read from /proc/PID/status).
        #[arg(long)]
        pid: u32,
        /// Seconds to hold them before the last RSS reading.
        #[arg(long, default_value_t = 0.0)]
        hold: f64,
        /// What the connections speak.
        #[arg(long, value_enum, default_value_t = Proto::Semantest)]
        proto: Proto,
    },
    /// Image round trips: POST /images then GET /images/{id}, sha256 checked.
    Image {
        /// The server's base URL: http://127.0.0.1:PORT.
        #[arg(long)]
        http: String,
        /// Image size in bytes.
        #[arg(long, default_value_t = 5 * 1024 * 1024)]
        size: usize,
        /// Round trips.
        #[arg(long, default_value_t = 3)]
        runs: usize,
        /// API key, sent as `Authorization: Bearer` (production servers).
        #[arg(long)]
        token: Option<String>,
    },
    /// Starts CONNECTIONS WebSocket handshakes at once and classifies each: served (101),
    /// refused 503 with Retry-After, refused at TCP, closed unanswered, half-open.
    Burst {
        /// ws://127.0.0.1:PORT/.
        #[arg(long)]
        url: String,
        /// Connections started together.
        #[arg(long, default_value_t = 5000)]
        connections: usize,
        /// Source addresses 127.0.0.2, 127.0.0.3, … the connections are spread over (each a
        /// client to the server's per-address limits); 0: the system's choice.
        #[arg(long, default_value_t = 0)]
        sources: usize,
        /// API key, sent as `Authorization: Bearer` (production servers).
        #[arg(long)]
        token: Option<String>,
        /// Seconds a TCP connect may take.
        #[arg(long, default_value_t = 10.0)]
        connect_bound: f64,
        /// Seconds the handshake's answer (and then the hello's welcome) may take; no answer
        /// by then is half-open.
        #[arg(long, default_value_t = 10.0)]
        answer_bound: f64,
    },
    /// A TCP echo server for the tcp proto on 127.0.0.1; prints `listening on PORT` first.
    TcpEchoServer {
        /// Port; 0 for any free one.
        #[arg(long, default_value_t = 0)]
        port: u16,
    },
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the tokio runtime")?;
    runtime.block_on(run(cli.command))?;
    // Held connections and their tasks are not waited for.
    runtime.shutdown_background();
    Ok(())
}

async fn run(command: Command) -> anyhow::Result<()> {
    match command {
        Command::Echo {
            url,
            connections,
            duration,
            warmup,
            proto,
            size,
        } => {
            let options = EchoOptions {
                target: Target::resolve(&url).await?,
                proto,
                connections,
                duration: seconds(duration, "--duration")?,
                warmup: seconds(warmup, "--warmup")?,
                size,
            };
            print(&echo::run(&options).await?)
        }
        Command::Rate {
            url,
            connections,
            rate,
            duration,
            proto,
            size,
        } => {
            let options = RateOptions {
                target: Target::resolve(&url).await?,
                proto,
                connections,
                rate,
                duration: seconds(duration, "--duration")?,
                size,
            };
            print(&rate::run(&options).await?)
        }
        Command::Ramp {
            url,
            connections,
            pid,
            hold,
            proto,
        } => {
            let options = RampOptions {
                target: Target::resolve(&url).await?,
                proto,
                connections,
                pid,
                hold: seconds(hold, "--hold")?,
            };
            print(&ramp::run(&options).await?)
        }
        Command::Image {
            http,
            size,
            runs,
            token,
        } => {
            let options = ImageOptions {
                target: Target::resolve(&http).await?,
                size,
                runs,
                token,
            };
            print(&image::run(&options).await?)
        }
        Command::Burst {
            url,
            connections,
            sources,
            token,
            connect_bound,
            answer_bound,
        } => {
            let options = BurstOptions {
                target: Target::resolve(&url).await?,
                connections,
                sources,
                token,
                connect_bound: seconds(connect_bound, "--connect-bound")?,
                answer_bound: seconds(answer_bound, "--answer-bound")?,
            };
            print(&burst::run(&options).await?)
        }
        Command::TcpEchoServer { port } => {
            let listener = tcp_server::bind(port).await?;
            let port = listener.local_addr().context("the bound address")?.port();
            let mut out = std::io::stdout().lock();
            writeln!(out, "listening on {port}")?;
            out.flush()?;
            drop(out);
            Ok(tcp_server::serve(listener).await?)
        }
    }
}

/// A non-negative, finite number of seconds.
fn seconds(value: f64, flag: &str) -> anyhow::Result<Duration> {
    Duration::try_from_secs_f64(value)
        .with_context(|| format!("{flag} must be a number of seconds ≥ 0, not {value}"))
}

/// The report as one JSON line on stdout.
fn print(report: &impl Serialize) -> anyhow::Result<()> {
    let line = serde_json::to_string(report).context("cannot write the report as JSON")?;
    let mut out = std::io::stdout().lock();
    writeln!(out, "{line}")?;
    out.flush()?;
    Ok(())
}
