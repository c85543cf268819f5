//! `semantest`: talks to a Semantest server the way the extension does — the local server if
//! it runs, the public one otherwise — or to the side `SEMANTEST_SERVER` names.

use std::process::ExitCode;

use clap::{Parser, Subcommand};
use semantest_cli::commands;

/// Semantest from the command line. Environment: SEMANTEST_SERVER=local|remote|auto,
/// SEMANTEST_LOCAL_URL (default http://localhost:3003), SEMANTEST_REMOTE_URL
/// (default wss://api.extension.semantest.com), SEMANTEST_TOKEN (a token for the public service,
/// sent to the remote server only; without it, the one `semantest pair` stored in
/// $XDG_CONFIG_HOME/semantest/credentials.json).
#[derive(Debug, Parser)]
#[command(name = "semantest", version)]
struct Args {
    /// Print JSON for scripts.
    #[arg(long, global = true)]
    json: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Which server is used and why, and the latency. Exits 1 when no server answers.
    Status,
    /// Application pings and their round trips.
    Ping {
        /// How many.
        #[arg(long, default_value_t = 3)]
        count: u32,
    },
    /// Subscribes to events and prints each as it arrives (until Ctrl-C, or `--count` events).
    Listen {
        /// Event names, e.g. imageDownloaded.
        #[arg(required = true)]
        events: Vec<String>,
        /// Stop after this many events.
        #[arg(long)]
        count: Option<u64>,
    },
    /// Asks the extension for an image from the ChatGPT page; prints where it was written.
    RequestImage {
        /// The prompt the image was generated for (the newest generated image is taken).
        #[arg(long, conflicts_with = "url", required_unless_present = "url")]
        prompt: Option<String>,
        /// The image's URL on the ChatGPT page.
        #[arg(long)]
        url: Option<String>,
        /// The folder to write the image to.
        #[arg(long)]
        out: std::path::PathBuf,
        /// The file name [default: semantest-<random>.png].
        #[arg(long)]
        name: Option<String>,
        /// How long to wait for the extension, in seconds.
        #[arg(long, default_value_t = 120)]
        timeout: u64,
    },
    /// Pairs this CLI with your extension through the cloud: run the line the extension's popup
    /// shows under "Pair a device" (a one-time code, valid 10 minutes). The token is stored in
    /// $XDG_CONFIG_HOME/semantest/credentials.json (mode 0600).
    Pair {
        /// The code the extension shows, e.g. K7QM-3XTD.
        code: String,
        /// How the extension's device list names this CLI [default: semantest CLI on <host>].
        #[arg(long)]
        name: Option<String>,
    },
    /// Sends one frame (`ACTION` with the `JSON` object as payload) and prints the answer.
    Send {
        /// The action, e.g. ping.
        action: String,
        /// The payload, a JSON object.
        #[arg(value_name = "JSON")]
        payload: String,
    },
}

fn main() -> ExitCode {
    let args = Args::parse();
    let settings = match commands::settings_with_credentials(|k| std::env::var(k).ok()) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("semantest: {e:#}");
            return ExitCode::from(2);
        }
    };
    let _ = rustls::crypto::ring::default_provider().install_default();
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("semantest: cannot start: {e}");
            return ExitCode::from(2);
        }
    };
    let mut out = std::io::stdout().lock();
    let result = runtime.block_on(async {
        match args.command {
            Command::Status => commands::status(settings, args.json, &mut out).await,
            Command::Ping { count } => commands::ping(settings, count, args.json, &mut out).await,
            Command::Listen { events, count } => {
                let ctrl_c = async {
                    let _ = tokio::signal::ctrl_c().await;
                };
                let mut err = std::io::stderr();
                commands::listen(
                    settings, events, count, args.json, &mut out, &mut err, ctrl_c,
                )
                .await
            }
            Command::RequestImage {
                prompt,
                url,
                out: dir,
                name,
                timeout,
            } => {
                let source = match (prompt, url) {
                    (_, Some(url)) => commands::ImageSource::Url(url),
                    (prompt, None) => commands::ImageSource::Prompt(prompt.unwrap_or_default()),
                };
                let limit = std::time::Duration::from_secs(timeout);
                commands::request_image(settings, source, &dir, name, limit, &mut out).await
            }
            Command::Pair { code, name } => {
                match semantest_cli::credentials::path(|k| std::env::var(k).ok()) {
                    Ok(file) => commands::pair(settings, &code, name, &file, &mut out).await,
                    Err(e) => Err(e.into()),
                }
            }
            Command::Send { action, payload } => {
                commands::send(settings, &action, &payload, &mut out).await
            }
        }
    });
    match result {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(1),
        Err(e) => {
            eprintln!("semantest: {e:#}");
            ExitCode::from(2)
        }
    }
}
