//! `semantest-server`: parses flags, sets up logging, binds, and runs the library's [`serve`]
//! until SIGINT or SIGTERM.

use std::io::{IsTerminal, Write};
use std::net::{IpAddr, SocketAddr};
use std::process::ExitCode;

use anyhow::Context;
use clap::Parser;
use semantest_server::{serve, Config, Environment};
use tokio::net::TcpListener;

/// The Semantest server: signature, health, metrics and the protocol v1 WebSocket.
#[derive(Debug, Parser)]
#[command(name = "semantest-server", version)]
struct Args {
    /// Port to listen on; 0 picks a free one (the listening line says which).
    #[arg(long, env = "SEMANTEST_PORT", default_value_t = 3003)]
    port: u16,
    /// Address to bind.
    #[arg(long, env = "SEMANTEST_BIND", default_value = "127.0.0.1")]
    bind: IpAddr,
    /// local or production.
    #[arg(long, env = "SEMANTEST_ENVIRONMENT", default_value = "local")]
    environment: Environment,
    /// An origin the HTTP endpoints allow through CORS; repeat the flag, or comma-separate in
    /// the environment variable.
    #[arg(
        long = "allow-origin",
        value_name = "ORIGIN",
        env = "SEMANTEST_ALLOW_ORIGINS",
        value_delimiter = ','
    )]
    allow_origins: Vec<String>,
    /// Where uploaded images are stored [default: ~/Downloads/semantest, or ./semantest-images
    /// without a home folder].
    #[arg(long, env = "SEMANTEST_IMAGES_DIR")]
    images_dir: Option<std::path::PathBuf>,
    /// The largest image upload accepted, in bytes.
    #[arg(long, env = "SEMANTEST_MAX_IMAGE_BYTES", default_value_t = 16 * 1024 * 1024)]
    max_image_bytes: usize,
}

fn main() -> ExitCode {
    let args = Args::parse();
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .init();
    match run(args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("semantest-server: {e:#}");
            ExitCode::from(1)
        }
    }
}

#[tokio::main]
async fn run(args: Args) -> anyhow::Result<()> {
    let config = Config {
        environment: args.environment,
        allowed_origins: args
            .allow_origins
            .into_iter()
            .filter(|o| !o.trim().is_empty())
            .collect(),
        images_dir: args
            .images_dir
            .unwrap_or_else(|| match std::env::var_os("HOME") {
                Some(home) => std::path::Path::new(&home)
                    .join("Downloads")
                    .join("semantest"),
                None => "semantest-images".into(),
            }),
        max_image_bytes: args.max_image_bytes,
        ..Config::default()
    };
    config.validate().context("invalid configuration")?;
    let addr = SocketAddr::new(args.bind, args.port);
    let listener = TcpListener::bind(addr)
        .await
        .with_context(|| format!("cannot listen on {addr}"))?;
    let local = listener
        .local_addr()
        .context("cannot read the bound address")?;
    let mut out = std::io::stdout().lock();
    writeln!(
        out,
        "semantest-server listening on http://{local} (environment {})",
        config.environment
    )?;
    out.flush()?;
    drop(out);
    tracing::info!(%local, environment = %config.environment, "listening");
    serve(listener, config, signal())
        .await
        .context("server failed")
}

/// Resolves on SIGINT (Ctrl-C) or, on Unix, SIGTERM.
async fn signal() {
    let ctrl_c = async {
        if let Err(e) = tokio::signal::ctrl_c().await {
            tracing::error!(error = %e, "cannot listen for Ctrl-C");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(e) => {
                tracing::error!(error = %e, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {}
        () = term => {}
    }
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    use super::*;

    #[test]
    fn flags_parse_with_their_defaults() {
        Args::command().debug_assert();
        let args = Args::try_parse_from(["semantest-server"]).unwrap();
        assert_eq!(args.port, 3003);
        assert_eq!(args.bind.to_string(), "127.0.0.1");
        assert_eq!(args.environment, Environment::Local);
        let args = Args::try_parse_from([
            "semantest-server",
            "--environment",
            "production",
            "--allow-origin",
            "chrome-extension://a",
            "--allow-origin",
            "http://localhost:5173",
        ])
        .unwrap();
        assert_eq!(args.environment, Environment::Production);
        assert_eq!(
            args.allow_origins,
            ["chrome-extension://a", "http://localhost:5173"]
        );
        assert!(Args::try_parse_from(["semantest-server", "--environment", "staging"]).is_err());
    }
}
