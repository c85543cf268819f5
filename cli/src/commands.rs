//! What `semantest status|ping|send|listen|request-image` do, as functions of a
//! [`Connection`] writing to `out`.
//! Each returns whether it succeeded; the binary turns that into the exit code.

use std::io::Write;
use std::time::Duration;

use semantest_connect::settings::RetryOverrides;
use semantest_connect::{FailureCode, Mode, Overrides, Settings, SettingsError, Status};
use semantest_protocol::generation;
use semantest_protocol::{
    ErrorCode, EventPayload, Role, ServerFrame, ServerMessage, IMAGE_DOWNLOAD_REQUESTED,
};
use serde_json::{json, Value};
use tokio::sync::broadcast::error::RecvError;

use crate::credentials;
use crate::driver::{Answer, ConnectionError};
use crate::image::{self, Download};
use crate::progress::{self, Progress};
use crate::Connection;

/// [`settings`], with the token `semantest pair` stored for the remote server in use when
/// `SEMANTEST_TOKEN` gives none.
pub fn settings_with_credentials(var: impl Fn(&str) -> Option<String>) -> anyhow::Result<Settings> {
    let settings = settings(&var)?;
    if settings.token.is_some() {
        return Ok(settings);
    }
    let Ok(path) = credentials::path(&var) else {
        return Ok(settings);
    };
    let stored = match credentials::load(&path) {
        Ok(stored) => stored,
        // A broken file must not stop every command (`semantest pair` rewrites it).
        Err(e) => {
            eprintln!("semantest: warning: {e}");
            None
        }
    };
    match stored {
        Some(stored) if stored.server == settings.effective_remote_url() => {
            let token = Overrides {
                token: Some(stored.token),
                ..Default::default()
            };
            Ok(settings.with(&token)?)
        }
        _ => Ok(settings),
    }
}

/// The CLI's settings: one attempt (a command reports rather than retries), the client role,
/// then the `SEMANTEST_*` environment over everything (read through `var`).
pub fn settings(var: impl Fn(&str) -> Option<String>) -> Result<Settings, SettingsError> {
    let cli = Overrides {
        role: Some(Role::Client),
        client_id: Some("semantest-cli".into()),
        retry: Some(RetryOverrides {
            max_attempts: Some(1),
            ..Default::default()
        }),
        ..Default::default()
    };
    Settings::resolve(&cli.merged(Overrides::from_env(var)?))
}

/// The longest one attempt can take with `settings`, plus a margin.
fn attempt_limit(settings: &Settings) -> Duration {
    Duration::from_millis(
        2 * settings.probe_timeout_ms
            + settings.connect_timeout_ms
            + settings.pong_timeout_ms
            + 2_000,
    )
}

/// Waits until connected with a latency, or offline. `None` only if neither came in time.
async fn settle(conn: &mut Connection, settings: &Settings) -> Option<Status> {
    conn.wait_for(attempt_limit(settings), |s| {
        matches!(s.mode, Mode::Offline)
            || (matches!(s.mode, Mode::Local | Mode::Cloud) && s.latency_ms.is_some())
    })
    .await
}

fn connected(s: &Status) -> bool {
    matches!(s.mode, Mode::Local | Mode::Cloud)
}

/// Connects as `settings` say and waits until connected with a latency. When no server
/// answers, prints why (one line per server), closes, and returns `None`.
async fn open(
    settings: &Settings,
    out: &mut impl Write,
) -> anyhow::Result<Option<(Connection, Status)>> {
    let mut conn = Connection::start(settings.clone());
    match settle(&mut conn, settings).await {
        Some(s) if connected(&s) => Ok(Some((conn, s))),
        other => {
            match other {
                Some(s) => offline_lines(&s, out)?,
                None => writeln!(
                    out,
                    "no answer within {} s",
                    attempt_limit(settings).as_secs()
                )?,
            }
            conn.close().await;
            Ok(None)
        }
    }
}

/// One line per server that failed, for people.
fn offline_lines(s: &Status, out: &mut impl Write) -> std::io::Result<()> {
    if s.local_reason.is_none() && s.remote_reason.is_none() {
        writeln!(
            out,
            "offline: {}",
            s.reason.as_deref().unwrap_or("no server answered")
        )?;
    }
    if let Some(r) = &s.local_reason {
        writeln!(out, "local: {r}")?;
    }
    if let Some(r) = &s.remote_reason {
        writeln!(out, "remote: {r}")?;
    }
    Ok(())
}

/// `semantest status`: which server, why, and the latency.
pub async fn status(settings: Settings, json: bool, out: &mut impl Write) -> anyhow::Result<bool> {
    let mut conn = Connection::start(settings.clone());
    let status = settle(&mut conn, &settings).await;
    conn.close().await;
    let Some(status) = status else {
        writeln!(
            out,
            "no answer within {} s",
            attempt_limit(&settings).as_secs()
        )?;
        return Ok(false);
    };
    let unpaired = status.mode == Mode::Cloud && settings.token.is_none();
    if json {
        writeln!(out, "{}", serde_json::to_string(&status)?)?;
    } else if connected(&status) {
        let name = if status.mode == Mode::Local {
            "local"
        } else {
            "cloud"
        };
        let url = status.url.as_deref().unwrap_or_default();
        writeln!(
            out,
            "{name} {url} {} ms",
            status.latency_ms.unwrap_or_default()
        )?;
        if let Some(reason) = &status.reason {
            writeln!(out, "({reason})")?;
        }
        if unpaired {
            writeln!(out, "{UNPAIRED}")?;
        }
    } else {
        offline_lines(&status, out)?;
    }
    Ok(connected(&status) && !unpaired)
}

/// What `status` says on the cloud without a token.
pub const UNPAIRED: &str = "not paired: this CLI has no token for the cloud, so it cannot reach your extension. \
In Chrome, open the Semantest popup, click \"Pair a device\", and run the line it shows: semantest pair CODE";

/// `semantest pair CODE`: pairs this CLI with the extension that shows `code`, on the remote
/// server, and stores the device token in `file` (see [`credentials`]).
pub async fn pair(
    settings: Settings,
    code: &str,
    name: Option<String>,
    file: &std::path::Path,
    out: &mut impl Write,
) -> anyhow::Result<bool> {
    if let Err(e) = semantest_protocol::identity::PairingCode::parse(code) {
        writeln!(out, "not a pairing code: {e}")?;
        return Ok(false);
    }
    // Pairing is with the remote server, from a socket without a token.
    let remote = Overrides {
        strategy: Some(semantest_connect::Strategy::RemoteOnly),
        ..Default::default()
    };
    let mut settings = settings.with(&remote)?;
    settings.token = None;
    let server = settings.effective_remote_url().to_owned();
    let Some((conn, _)) = open(&settings, out).await? else {
        return Ok(false);
    };
    let name = name.unwrap_or_else(default_device_name);
    let answer = request(
        &conn,
        "pair",
        json!({"code": code, "name": name}),
        Duration::from_secs(10),
    )
    .await?;
    let ok = match answer {
        Ok(Answer {
            frame:
                ServerFrame {
                    message: ServerMessage::Paired(paired),
                    ..
                },
            ..
        }) => {
            let stored = credentials::Stored {
                server: server.clone(),
                token: paired.token,
                install_id: paired.install_id,
                device_id: paired.device_id,
                paired_at: u64::try_from(
                    std::time::SystemTime::now()
                        .duration_since(std::time::UNIX_EPOCH)?
                        .as_millis(),
                )?,
            };
            credentials::save(file, &stored)?;
            writeln!(
                out,
                "paired with your extension as \"{name}\" (device {}); the token is in {}",
                stored.device_id,
                file.display()
            )?;
            true
        }
        Ok(Answer {
            frame:
                ServerFrame {
                    message: ServerMessage::Error(e),
                    ..
                },
            ..
        }) => {
            let wait = e
                .retry_after_secs
                .map(|s| format!(" (try again in {s} s)"))
                .unwrap_or_default();
            writeln!(out, "pairing refused: {}{wait}", e.message)?;
            false
        }
        Ok(other) => {
            writeln!(out, "unexpected answer to pair: {}", other.text)?;
            false
        }
        Err(e) => {
            writeln!(out, "no answer to pair: {e}")?;
            false
        }
    };
    conn.close().await;
    Ok(ok)
}

/// `semantest CLI on <host>`, the name the extension's device list shows by default.
fn default_device_name() -> String {
    let host = std::env::var("HOSTNAME")
        .ok()
        .or_else(|| std::fs::read_to_string("/etc/hostname").ok())
        .map(|h| h.trim().to_owned())
        .filter(|h| !h.is_empty());
    match host {
        Some(host) => format!("semantest CLI on {host}"),
        None => "semantest CLI".to_owned(),
    }
}

/// Sends `action` with `payload` and waits (at most `limit`) for its answer. The inner
/// error is why none came (`timeout`, `closed`, …), for the output; the outer one is anything
/// else that went wrong.
async fn request(
    conn: &Connection,
    action: &str,
    payload: Value,
    limit: Duration,
) -> anyhow::Result<Result<Answer, semantest_connect::RequestError>> {
    match conn.request(action, payload, limit).await {
        Ok(answer) => Ok(Ok(answer)),
        Err(ConnectionError::Failed(e)) => Ok(Err(e)),
        Err(e) => Err(e.into()),
    }
}

/// `semantest ping`: `count` application pings and their round trips.
pub async fn ping(
    settings: Settings,
    count: u32,
    json: bool,
    out: &mut impl Write,
) -> anyhow::Result<bool> {
    let Some((conn, status)) = open(&settings, out).await? else {
        return Ok(false);
    };
    let url = status.url.unwrap_or_default();
    let mut ok = true;
    for seq in 0..count {
        let started = std::time::Instant::now();
        let t = u64::try_from(
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)?
                .as_millis(),
        )?;
        match request(&conn, "ping", json!({ "t": t }), Duration::from_secs(5)).await? {
            Ok(Answer {
                frame:
                    ServerFrame {
                        message: ServerMessage::Pong(_),
                        ..
                    },
                ..
            }) => {
                let ms = started.elapsed().as_secs_f64() * 1000.0;
                if json {
                    writeln!(out, "{}", json!({"seq": seq, "url": url, "ms": ms}))?;
                } else {
                    writeln!(out, "pong from {url}: seq={seq} time={ms:.1} ms")?;
                }
            }
            other => {
                ok = false;
                let why = match other {
                    Ok(answer) => answer.text,
                    Err(e) if e.code == FailureCode::Timeout => "timed out".into(),
                    Err(e) => e.message,
                };
                writeln!(out, "seq={seq}: no pong ({why})")?;
            }
        }
    }
    conn.close().await;
    Ok(ok)
}

/// `semantest send ACTION JSON`: one frame and the server's answer to it.
pub async fn send(
    settings: Settings,
    action: &str,
    payload: &str,
    out: &mut impl Write,
) -> anyhow::Result<bool> {
    let payload: Value =
        serde_json::from_str(payload).map_err(|e| anyhow::anyhow!("payload is not JSON: {e}"))?;
    anyhow::ensure!(
        payload.is_object(),
        "payload must be a JSON object, like {{}}"
    );
    let Some((conn, _)) = open(&settings, out).await? else {
        return Ok(false);
    };
    let ok = match request(&conn, action, payload, Duration::from_secs(10)).await? {
        Ok(answer) => {
            writeln!(out, "{}", answer.text)?;
            !matches!(answer.frame.message, ServerMessage::Error(_))
        }
        Err(e) if e.code == FailureCode::Timeout => {
            writeln!(out, "no answer to '{action}' within 10 s")?;
            false
        }
        Err(e) => {
            writeln!(out, "no answer to '{action}': {e}")?;
            false
        }
    };
    conn.close().await;
    Ok(ok)
}

/// `semantest listen EVENT...`: subscribes (again after every reconnect) and prints each event
/// as it arrives, until `count` events (if given) or until `stop` resolves (Ctrl-C). Events
/// that came faster than they could be printed (more than
/// [`crate::driver::MESSAGE_BUFFER`] behind) are missed: that is said on `err`, and it goes on.
pub async fn listen(
    settings: Settings,
    events: Vec<String>,
    count: Option<u64>,
    json: bool,
    out: &mut impl Write,
    err: &mut impl Write,
    stop: impl std::future::Future<Output = ()>,
) -> anyhow::Result<bool> {
    let Some((conn, _)) = open(&settings, out).await? else {
        return Ok(false);
    };
    let mut messages = conn.messages();
    conn.subscribe(events).await?;
    tokio::pin!(stop);
    let mut seen = 0;
    let ok = loop {
        if count.is_some_and(|c| seen >= c) {
            break true;
        }
        tokio::select! {
            () = &mut stop => break true,
            message = messages.recv() => {
                let text = match message {
                    Ok(text) => text,
                    Err(RecvError::Lagged(missed)) => {
                        writeln!(err, "semantest: missed {missed} messages (they came faster than they were printed)")?;
                        continue;
                    }
                    Err(RecvError::Closed) => break false,
                };
                let Ok(frame) = ServerFrame::parse(&text) else { continue };
                match frame.message {
                    ServerMessage::Event(e) => {
                        seen += 1;
                        if json {
                            writeln!(out, "{text}")?;
                        } else {
                            writeln!(out, "{} from {}: {}", e.event, e.from, e.data)?;
                        }
                        out.flush()?;
                    }
                    ServerMessage::Error(e) => writeln!(out, "error: {}", e.message)?,
                    _ => {}
                }
            }
        }
    };
    conn.close().await;
    Ok(ok)
}

/// What to ask the extension for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ImageSource {
    /// Have ChatGPT generate a new image for this prompt in a ChatGPT tab
    /// (`imageGenerationRequested`).
    Generate {
        /// What to draw.
        prompt: String,
        /// Whether to start a new chat first rather than use the tab's current one.
        new_chat: bool,
    },
    /// Download the image at this URL from the ChatGPT page (`imageDownloadRequested {url}`).
    Url(String),
    /// Take the newest generated image already on the ChatGPT page (`imageDownloadRequested`
    /// without a URL).
    Latest,
}

/// How long `request-image` waits for the extension's answer.
///
/// A generation waits its turn in the extension's queue, behind other requests that may each
/// take up to their own `timeoutSecs`, and the extension says so with a progress event each
/// time the queue moves; so its wait is [`Patience::Quiet`]: it ends only when nothing about
/// the request has come for `timeoutSecs` + [`GENERATION_GRACE`]. A download has nothing to
/// wait for but the page, so its wait is [`Patience::Whole`]: `timeout` from the publish.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Patience {
    /// At most this long from the publish, whatever arrives meanwhile.
    Whole(Duration),
    /// Until nothing about the request has arrived for this long (each event starts it again).
    Quiet(Duration),
}

impl Patience {
    /// The longest wait for the next message.
    pub fn limit(self) -> Duration {
        match self {
            Patience::Whole(d) | Patience::Quiet(d) => d,
        }
    }
}

/// How long a generation may stay silent beyond its `timeoutSecs` before the command gives up:
/// the time the extension may need around ChatGPT's own (finding a tab, uploading the image).
pub const GENERATION_GRACE: Duration = Duration::from_secs(generation::REQUESTER_GRACE_SECS);

impl ImageSource {
    /// The `publish` payload asking for this: `{event, data}`. `timeout_secs` goes in
    /// `timeoutSecs` for a generation only (how long ChatGPT may take once its tab starts).
    pub fn publish(&self, filename: &str, download_folder: &str, timeout_secs: u64) -> Value {
        let mut data = json!({ "filename": filename, "downloadFolder": download_folder });
        let event = match self {
            ImageSource::Generate { prompt, new_chat } => {
                data["prompt"] = json!(prompt);
                data["timeoutSecs"] = json!(timeout_secs);
                if *new_chat {
                    data["newChat"] = json!(true);
                }
                generation::REQUESTED
            }
            ImageSource::Url(url) => {
                data["url"] = json!(url);
                IMAGE_DOWNLOAD_REQUESTED
            }
            ImageSource::Latest => IMAGE_DOWNLOAD_REQUESTED,
        };
        json!({ "event": event, "data": data })
    }

    /// How long to wait for the answer (see [`Patience`]).
    pub fn patience(&self, timeout_secs: u64) -> Patience {
        let timeout = Duration::from_secs(timeout_secs);
        match self {
            ImageSource::Generate { .. } => Patience::Quiet(timeout + GENERATION_GRACE),
            ImageSource::Url(_) | ImageSource::Latest => Patience::Whole(timeout),
        }
    }

    /// What a failure's reason is printed after.
    fn failure(&self) -> &'static str {
        match self {
            ImageSource::Generate { .. } => "image generation failed",
            ImageSource::Url(_) | ImageSource::Latest => "the extension could not get the image",
        }
    }
}

/// One `semantest request-image`.
#[derive(Debug, Clone)]
pub struct ImageRequest {
    /// What to ask for.
    pub source: ImageSource,
    /// The folder to write the image to (created when needed).
    pub out_dir: std::path::PathBuf,
    /// The file name; `semantest-<random>.png` when `None`.
    pub name: Option<String>,
    /// For a generation, how long ChatGPT may take once its tab starts; for a download, the
    /// whole wait (see [`Patience`]).
    pub timeout_secs: u64,
}

/// How the wait for the extension's answer ended.
enum Outcome {
    /// Its final reply (anything but progress).
    Reply(EventPayload),
    /// The server held the request and no extension came.
    NoExtension(String),
    /// The connection closed first.
    Closed,
    /// The [`Patience`] ran out.
    TimedOut,
}

/// `semantest request-image`: publishes the request ([`ImageSource::publish`]), shows the
/// extension's `imageGenerationProgress` through `progress`, and waits (see [`Patience`]) for
/// its `imageDownloaded` (or the failure); then fetches the stored bytes from the server,
/// checks their sha256 and writes them to `out_dir/name`. Prints the path (or, with JSON
/// progress, the `imageDownloaded` line with `path`).
pub async fn request_image(
    settings: Settings,
    job: ImageRequest,
    mut progress: Progress,
    out: &mut impl Write,
    err: &mut impl Write,
) -> anyhow::Result<bool> {
    let name = job
        .name
        .unwrap_or_else(|| format!("semantest-{}.png", fastrand::u32(..)));
    anyhow::ensure!(
        semantest_protocol::valid_file_name(&name),
        "--name must be a plain file name (letters, digits, '.', '_', '-')"
    );
    if let ImageSource::Generate { prompt, .. } = &job.source {
        match generation::check_prompt(prompt) {
            Ok(_) => {}
            Err(generation::PromptError::Empty) => anyhow::bail!("--prompt must not be empty"),
            Err(generation::PromptError::TooLong) => anyhow::bail!(
                "--prompt is longer than {} characters",
                generation::MAX_PROMPT_CHARS
            ),
        }
    }
    let out_dir = job.out_dir.as_path();
    let Some((conn, status)) = open(&settings, out).await? else {
        return Ok(false);
    };
    let folder = out_dir.display().to_string();
    let publish = job.source.publish(&name, &folder, job.timeout_secs);
    let patience = job.source.patience(job.timeout_secs);
    // Listening before the publish: the extension's reply may follow the ack at once.
    let mut messages = conn.messages();
    let mut deadline = tokio::time::Instant::now() + patience.limit();
    let ack = match request(&conn, "publish", publish, patience.limit()).await? {
        Ok(answer) => answer,
        Err(e) => {
            conn.close().await;
            writeln!(out, "the server did not take the request: {e}")?;
            return Ok(false);
        }
    };
    let event_id = match ack.frame.message {
        ServerMessage::Ack(a) => a.id,
        ServerMessage::Error(e) => {
            conn.close().await;
            writeln!(out, "error: {}", e.message)?;
            return Ok(false);
        }
        _ => None,
    };
    let Some(event_id) = event_id else {
        conn.close().await;
        anyhow::bail!("the server answered the request with {}", ack.text);
    };
    progress.started();
    // The extension's answers are events in reply to ours. A server that held the request
    // for an extension and none came says `no_extension` (only our request can be held).
    let outcome = loop {
        let text = match tokio::time::timeout_at(deadline, messages.recv()).await {
            Err(_) => break Outcome::TimedOut,
            Ok(Ok(text)) => text,
            Ok(Err(RecvError::Lagged(_))) => continue,
            Ok(Err(RecvError::Closed)) => break Outcome::Closed,
        };
        match ServerFrame::parse(&text).map(|f| f.message) {
            Ok(ServerMessage::Event(e)) if e.in_reply_to.as_deref() == Some(&event_id) => {
                if e.event != generation::PROGRESS {
                    break Outcome::Reply(e);
                }
                progress.progress(&e.event, &e.data, out, err)?;
                if let Patience::Quiet(quiet) = patience {
                    deadline = tokio::time::Instant::now() + quiet;
                }
            }
            Ok(ServerMessage::Error(e)) if e.code == ErrorCode::NoExtension => {
                break Outcome::NoExtension(e.message)
            }
            _ => {}
        }
    };
    progress.finish();
    conn.close().await;
    // A failure that is not the extension's answer: a line for people, or with --json an
    // `error` event with its code, like the rest of the output.
    let json = progress.is_json();
    let mut fail = |code: &str, line: String, reason: &str| -> std::io::Result<bool> {
        if json {
            let event = json!({"event": "error", "code": code, "reason": reason});
            writeln!(out, "{event}")?;
        } else {
            writeln!(out, "{line}")?;
        }
        Ok(false)
    };
    let reply = match outcome {
        Outcome::Reply(reply) => reply,
        Outcome::NoExtension(message) => {
            return Ok(fail("no_extension", format!("error: {message}"), &message)?)
        }
        Outcome::Closed => anyhow::bail!("the connection closed before the extension answered"),
        Outcome::TimedOut => {
            let secs = patience.limit().as_secs();
            let line = match patience {
                Patience::Whole(_) => format!("no answer from the extension within {secs} s"),
                Patience::Quiet(_) => {
                    format!("no word from the extension about the request for {secs} s")
                }
            };
            return Ok(fail("timeout", line.clone(), &line)?);
        }
    };
    if reply.event != generation::DOWNLOADED {
        if progress.is_json() {
            writeln!(
                out,
                "{}",
                progress::json_line(&reply.event, &reply.data, None)
            )?;
        } else {
            let reason = reply.data["reason"].as_str().unwrap_or("no reason given");
            writeln!(out, "{}: {reason}", job.source.failure())?;
        }
        return Ok(false);
    }
    let (url, bytes) = fetch_image(&settings, &status, &reply).await?;
    let want = reply.data["sha256"].as_str().unwrap_or_default();
    let got = crate::hex_sha256(&bytes);
    anyhow::ensure!(
        got == want,
        "the image fetched from {} has sha256 {got}, the extension reported {want}",
        image::shown(&url)
    );
    std::fs::create_dir_all(out_dir)?;
    let path = out_dir.join(&name);
    let temp = out_dir.join(format!(".{name}.part"));
    std::fs::write(&temp, &bytes)?;
    std::fs::rename(&temp, &path)?;
    let path = std::path::absolute(&path)?.display().to_string();
    if progress.is_json() {
        let line = progress::json_line(&reply.event, &reply.data, Some(&path));
        writeln!(out, "{line}")?;
    } else {
        writeln!(out, "{path}")?;
    }
    Ok(true)
}

/// The bytes of the image the extension's `imageDownloaded` names: from its `url` if that is
/// allowed (the public service's presigned URL, fetched without the key), otherwise from the
/// connected server's `/images/{imageId}` (with the key on the public service).
async fn fetch_image(
    settings: &Settings,
    status: &Status,
    reply: &EventPayload,
) -> anyhow::Result<(url::Url, Vec<u8>)> {
    let server = url::Url::parse(status.url.as_deref().unwrap_or_default())
        .map_err(|e| anyhow::anyhow!("the connected server's URL: {e}"))?;
    let client = Download::client();
    let (url, request) = match reply.data["url"].as_str() {
        Some(url) => {
            let url = image::allowed(url, &server)?;
            (url.clone(), client.get(url))
        }
        None => {
            let id = reply.data["imageId"].as_str().unwrap_or_default();
            anyhow::ensure!(!id.is_empty(), "the extension's reply names no image");
            let url = image::server_image(&server, id)?;
            let request = client.get(url.clone());
            // A remote server asks for the key; the local one never sees it.
            let request = match (&settings.token, status.mode) {
                (Some(token), Mode::Cloud) => request.bearer_auth(token.expose()),
                _ => request,
            };
            (url, request)
        }
    };
    let bytes = Download::default().fetch(request, &url).await?;
    Ok((url, bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_generation_is_asked_for_with_its_prompt_name_and_timeout() {
        let source = ImageSource::Generate {
            prompt: "a fox".into(),
            new_chat: false,
        };
        assert_eq!(
            source.publish("fox.png", "out", 120),
            json!({"event": "imageGenerationRequested", "data": {"prompt": "a fox", "filename": "fox.png", "timeoutSecs": 120, "downloadFolder": "out"}})
        );
        let fresh = ImageSource::Generate {
            prompt: "a fox".into(),
            new_chat: true,
        };
        assert_eq!(fresh.publish("f.png", "out", 1)["data"]["newChat"], true);
    }

    #[test]
    fn a_download_is_asked_for_with_the_url_or_without_one() {
        assert_eq!(
            ImageSource::Url("https://chatgpt.com/x".into()).publish("x.png", "out", 300),
            json!({"event": "imageDownloadRequested", "data": {"url": "https://chatgpt.com/x", "filename": "x.png", "downloadFolder": "out"}})
        );
        assert_eq!(
            ImageSource::Latest.publish("x.png", "out", 300),
            json!({"event": "imageDownloadRequested", "data": {"filename": "x.png", "downloadFolder": "out"}})
        );
    }

    #[test]
    fn a_generation_waits_for_silence_and_a_download_for_its_timeout() {
        let source = ImageSource::Generate {
            prompt: "p".into(),
            new_chat: false,
        };
        assert_eq!(
            source.patience(300),
            Patience::Quiet(Duration::from_secs(360))
        );
        assert_eq!(
            ImageSource::Latest.patience(300),
            Patience::Whole(Duration::from_secs(300))
        );
        assert_eq!(
            ImageSource::Url("u".into()).patience(5).limit(),
            Duration::from_secs(5)
        );
    }
}
