//! `semantest`: talks to a Semantest server the way the extension does — the local server if
//! it runs, the public one otherwise — or to the side `SEMANTEST_SERVER` names.

use std::process::ExitCode;

use clap::{Parser, Subcommand};
use semantest_cli::commands;
use semantest_cli::progress::Progress;
use semantest_protocol::generation;

/// How long `request-image --url/--latest` waits for the extension when `--timeout` is not given.
const DOWNLOAD_TIMEOUT_SECS: u64 = 120;

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
    /// Gets an image through the extension in your ChatGPT tab: generates a new one
    /// (--prompt), downloads a given one (--url) or takes the newest on the page (--latest).
    /// Prints the path of the file written (with --json: JSON lines). Exits 1 when the
    /// extension reports a failure or does not answer.
    ///
    /// While a generation runs, its progress (queued, typing, sent, generating, downloading,
    /// saved) is shown on stderr: a live line on a terminal, otherwise one line per stage
    /// ("semantest: generating after 1.4 s"); with --json each event is a JSON line on stdout.
    #[command(group(
        clap::ArgGroup::new("source")
            .required(true)
            .args(["prompt", "url", "latest"])
    ))]
    RequestImage {
        /// Generate a NEW image: types this prompt into ChatGPT, waits for the image and
        /// downloads it (showing progress).
        #[arg(long)]
        prompt: Option<String>,
        /// Download the image at this URL from the ChatGPT page (nothing is generated).
        #[arg(long)]
        url: Option<String>,
        /// Download the newest generated image already on the ChatGPT page (nothing is
        /// generated).
        #[arg(long)]
        latest: bool,
        /// With --prompt: start a new chat for it rather than use the tab's current one.
        #[arg(long, conflicts_with_all = ["url", "latest"])]
        new_chat: bool,
        /// The folder to write the image to.
        #[arg(long)]
        out: std::path::PathBuf,
        /// The file name [default: semantest-<random>.png].
        #[arg(long)]
        name: Option<String>,
        /// In seconds, 1 to 600. With --prompt: how long ChatGPT may take once its tab
        /// starts [default: 300] (the command gives up only after this plus 60 s with no news
        /// about the request: a queued request may wait longer). With --url or --latest: how
        /// long to wait for the extension in all [default: 120].
        #[arg(
            long,
            value_name = "SECS",
            value_parser = clap::value_parser!(u64).range(1..=generation::MAX_TIMEOUT_SECS)
        )]
        timeout: Option<u64>,
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
                latest: _,
                new_chat,
                out: dir,
                name,
                timeout,
            } => {
                // The group makes exactly one of --prompt, --url and --latest present.
                let timeout = timeout.unwrap_or(if prompt.is_some() {
                    generation::DEFAULT_TIMEOUT_SECS
                } else {
                    DOWNLOAD_TIMEOUT_SECS
                });
                let source = match (prompt, url) {
                    (Some(prompt), _) => commands::ImageSource::Generate { prompt, new_chat },
                    (None, Some(url)) => commands::ImageSource::Url(url),
                    (None, None) => commands::ImageSource::Latest,
                };
                let job = commands::ImageRequest {
                    source,
                    out_dir: dir,
                    name,
                    timeout_secs: timeout,
                };
                let progress = Progress::new(args.json);
                let mut err = std::io::stderr();
                commands::request_image(settings, job, progress, &mut out, &mut err).await
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

#[cfg(test)]
mod tests {
    use clap::{CommandFactory, Parser};

    use super::{Args, Command};

    #[test]
    fn the_arguments_are_consistent() {
        Args::command().debug_assert();
    }

    #[test]
    fn request_image_takes_exactly_one_source_and_new_chat_only_with_a_prompt() {
        let parse = |args: &[&str]| {
            Args::try_parse_from(
                ["semantest", "request-image", "--out", "o"]
                    .iter()
                    .chain(args),
            )
        };
        let Ok(Args {
            command:
                Command::RequestImage {
                    prompt,
                    new_chat,
                    timeout,
                    ..
                },
            ..
        }) = parse(&["--prompt", "p", "--new-chat"])
        else {
            panic!("--prompt with --new-chat parses");
        };
        assert_eq!((prompt.as_deref(), new_chat), (Some("p"), true));
        assert_eq!(timeout, None, "the default depends on the source");
        assert!(parse(&["--latest"]).is_ok());
        assert!(parse(&["--url", "u", "--timeout", "600"]).is_ok());
        for refused in [
            &[][..],
            &["--prompt", "p", "--url", "u"],
            &["--latest", "--url", "u"],
            &["--url", "u", "--new-chat"],
            &["--latest", "--timeout", "601"],
            &["--latest", "--timeout", "0"],
        ] {
            assert!(parse(refused).is_err(), "{refused:?}");
        }
    }
}
