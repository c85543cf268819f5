//! `semantest-server`: parses flags, sets up logging, binds, and runs the library's [`serve`]
//! until SIGINT or SIGTERM.

use std::io::{IsTerminal, Write};
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::Parser;
use semantest_protocol::Token;
use semantest_server::{config, serve_state, AppState, Config, Environment};

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
    /// Production: an API key clients must show (16–256 of letters, digits, '-._~'); repeat
    /// the flag, or comma-separate in the environment variable. Never logged.
    #[arg(
        long = "api-key",
        value_name = "KEY",
        env = "SEMANTEST_API_KEYS",
        value_delimiter = ',',
        hide_env_values = true
    )]
    api_keys: Vec<String>,
    /// Production: a file with one API key per line ('#' starts a comment).
    #[arg(long, value_name = "FILE", env = "SEMANTEST_API_KEYS_FILE")]
    api_keys_file: Option<PathBuf>,
    /// Production: where registered installs and paired devices are kept (digests of their
    /// tokens only). Default: $XDG_STATE_HOME/semantest/identity.json (~/.local/state/…);
    /// an empty value keeps them in memory only.
    #[arg(long, value_name = "FILE", env = "SEMANTEST_IDENTITY_FILE")]
    identity_file: Option<String>,
    /// Production: refuse `register`, so only operator keys (and tokens issued before) get in.
    #[arg(long, env = "SEMANTEST_NO_REGISTRATION")]
    no_registration: bool,
    /// How long an event that needs an extension (an image request) waits for one when none is
    /// connected, in seconds, before its publisher is told `no_extension`.
    #[arg(long, default_value_t = 30, value_parser = clap::value_parser!(u64).range(1..=3600), env = "SEMANTEST_HOLD_SECS")]
    hold_secs: u64,
    /// Production: installs one client address may register per hour.
    #[arg(long, default_value_t = semantest_protocol::identity::REGISTRATIONS_PER_HOUR, env = "SEMANTEST_REGISTRATIONS_PER_HOUR")]
    registrations_per_hour: u32,
    /// Production: how long a pairing code is valid, in seconds.
    #[arg(long, default_value_t = semantest_protocol::identity::PAIR_CODE_TTL_SECS, env = "SEMANTEST_PAIR_CODE_TTL_SECS")]
    pair_code_ttl_secs: u64,
    /// Production: pairing attempts one client address may make per hour.
    #[arg(long, default_value_t = semantest_protocol::identity::PAIR_FAILURES_PER_HOUR, env = "SEMANTEST_PAIR_ATTEMPTS_PER_HOUR")]
    pair_attempts_per_hour: u32,
    /// A proxy whose X-Forwarded-For names the client; repeat the flag, or comma-separate.
    #[arg(
        long = "trusted-proxy",
        value_name = "IP",
        env = "SEMANTEST_TRUSTED_PROXIES",
        value_delimiter = ','
    )]
    trusted_proxies: Vec<IpAddr>,
    /// TLS certificate chain (PEM); with --tls-key the server speaks TLS 1.3 only.
    #[arg(
        long,
        value_name = "FILE",
        env = "SEMANTEST_TLS_CERT",
        requires = "tls_key"
    )]
    tls_cert: Option<PathBuf>,
    /// The certificate's private key (PEM).
    #[arg(
        long,
        value_name = "FILE",
        env = "SEMANTEST_TLS_KEY",
        requires = "tls_cert"
    )]
    tls_key: Option<PathBuf>,
    /// Production: HTTP requests per minute per client address.
    #[arg(long, env = "SEMANTEST_HTTP_REQUESTS_PER_MINUTE", default_value_t = config::DEFAULT_HTTP_REQUESTS_PER_MINUTE)]
    http_requests_per_minute: u32,
    /// Production: WebSocket messages per second per connection (bursts of twice as many).
    #[arg(long, env = "SEMANTEST_MESSAGES_PER_SECOND", default_value_t = config::DEFAULT_MESSAGES_PER_SECOND)]
    messages_per_second: u32,
    /// The most connections open at once.
    #[arg(long, env = "SEMANTEST_MAX_CONNECTIONS", default_value_t = Config::default().max_connections)]
    max_connections: usize,
    /// The most connections open at once from one address.
    #[arg(long, env = "SEMANTEST_MAX_CONNECTIONS_PER_IP", default_value_t = Config::default().max_connections_per_ip)]
    max_connections_per_ip: usize,
    /// How many connects the kernel queues before the server accepts them; a burst larger
    /// than that waits for SYN retries. The kernel caps it at net.core.somaxconn.
    #[arg(long, env = "SEMANTEST_LISTEN_BACKLOG", default_value_t = semantest_server::DEFAULT_BACKLOG, value_parser = clap::value_parser!(u32).range(1..))]
    listen_backlog: u32,
}

/// The keys in a keys file: one per line, blank lines and `#` comments skipped. An invalid
/// key names its line, not its value.
fn read_keys(path: &std::path::Path) -> anyhow::Result<Vec<Token>> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read the API keys file {}", path.display()))?;
    text.lines()
        .enumerate()
        .map(|(n, line)| (n + 1, line.split('#').next().unwrap_or("").trim()))
        .filter(|(_, line)| !line.is_empty())
        .map(|(n, line)| {
            line.parse::<Token>()
                .with_context(|| format!("{}:{n}: not a valid API key", path.display()))
        })
        .collect()
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
    // Checked here rather than by clap, whose error would repeat the value: a key, maybe
    // mistyped by one character, in a log.
    let mut api_keys = args
        .api_keys
        .iter()
        .enumerate()
        .map(|(n, key)| {
            key.parse::<Token>().map_err(|e| {
                anyhow::anyhow!("API key {} (--api-key / SEMANTEST_API_KEYS): {e}", n + 1)
            })
        })
        .collect::<anyhow::Result<Vec<Token>>>()?;
    if let Some(file) = &args.api_keys_file {
        api_keys.extend(read_keys(file)?);
    }
    let identity_file = match args.identity_file {
        Some(file) if file.is_empty() => None,
        Some(file) => Some(PathBuf::from(file)),
        None if args.environment == Environment::Production => Some(default_identity_file()?),
        None => None,
    };
    let config = Config {
        api_keys,
        identity_file,
        registration: !args.no_registration,
        registrations_per_hour: args.registrations_per_hour,
        pair_attempts_per_hour: args.pair_attempts_per_hour,
        pair_code_ttl_secs: args.pair_code_ttl_secs,
        trusted_proxies: args.trusted_proxies,
        tls_cert: args.tls_cert,
        tls_key: args.tls_key,
        http_requests_per_minute: args.http_requests_per_minute,
        messages_per_second: args.messages_per_second,
        max_connections: args.max_connections,
        max_connections_per_ip: args.max_connections_per_ip,
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
        hold_ms: args.hold_secs * 1000,
        ..Config::default()
    };
    config.validate().context("invalid configuration")?;
    let state = AppState::open(config).context("cannot start")?;
    let config = state.config().clone();
    let addr = SocketAddr::new(args.bind, args.port);
    let listener = semantest_server::bind(addr, args.listen_backlog)
        .with_context(|| format!("cannot listen on {addr}"))?;
    let somaxconn = semantest_server::somaxconn();
    if let Some(max) = somaxconn.filter(|max| *max < args.listen_backlog) {
        tracing::warn!(
            asked = args.listen_backlog,
            somaxconn = max,
            "the kernel caps the listen backlog at net.core.somaxconn; raise it to get more"
        );
    }
    let local = listener
        .local_addr()
        .context("cannot read the bound address")?;
    let mut out = std::io::stdout().lock();
    let scheme = if config.tls_cert.is_some() {
        "https"
    } else {
        "http"
    };
    writeln!(
        out,
        "semantest-server listening on {scheme}://{local} (environment {})",
        config.environment
    )?;
    out.flush()?;
    drop(out);
    tracing::info!(
        %local,
        environment = %config.environment,
        api_keys = config.api_keys.len(),
        tls = config.tls_cert.is_some(),
        backlog = somaxconn.map_or(args.listen_backlog, |max| max.min(args.listen_backlog)),
        "listening"
    );
    serve_state(listener, state, signal())
        .await
        .context("server failed")
}

/// `$XDG_STATE_HOME/semantest/identity.json` (`~/.local/state/semantest/identity.json`),
/// its folder made owner-only if new.
fn default_identity_file() -> anyhow::Result<PathBuf> {
    let state = match (std::env::var_os("XDG_STATE_HOME"), std::env::var_os("HOME")) {
        (Some(dir), _) if !dir.is_empty() => PathBuf::from(dir),
        (_, Some(home)) => PathBuf::from(home).join(".local").join("state"),
        _ => PathBuf::from("."),
    };
    let dir = state.join("semantest");
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let _ = std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700));
    }
    Ok(dir.join("identity.json"))
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
        assert_eq!(args.listen_backlog, semantest_server::DEFAULT_BACKLOG);
        assert!(
            Args::try_parse_from(["semantest-server", "--listen-backlog", "0"]).is_err(),
            "a backlog of 0"
        );
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
        let args = Args::try_parse_from([
            "semantest-server",
            "--api-key",
            "first-key-0123456789",
            "--api-key",
            "second-key-0123456789",
            "--trusted-proxy",
            "10.0.0.1",
        ])
        .unwrap();
        assert_eq!(args.api_keys.len(), 2);
        assert_eq!(
            args.trusted_proxies,
            ["10.0.0.1".parse::<IpAddr>().unwrap()]
        );
        assert!(
            Args::try_parse_from(["semantest-server", "--tls-cert", "c.pem"]).is_err(),
            "a certificate needs its key"
        );
    }
}
