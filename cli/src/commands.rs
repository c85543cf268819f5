//! What `semantest status|ping|send` do, as functions of a [`Connection`] writing to `out`.
//! Each returns whether it succeeded; the binary turns that into the exit code.

use std::io::Write;
use std::time::Duration;

use semantest_connect::settings::RetryOverrides;
use semantest_connect::{Mode, Overrides, Settings, SettingsError, Status};
use semantest_protocol::Role;
use serde_json::{json, Value};

use crate::Connection;

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
    } else {
        offline_lines(&status, out)?;
    }
    Ok(connected(&status))
}

/// Sends `action` with `payload` and waits (at most `limit`) for the frame that answers it.
async fn request(
    conn: &Connection,
    action: &str,
    payload: Value,
    limit: Duration,
) -> anyhow::Result<Option<Value>> {
    let mut messages = conn.messages();
    let id = conn.send(action, payload).await?;
    let wait = async {
        loop {
            let Ok(text) = messages.recv().await else {
                return None;
            };
            let Ok(frame) = serde_json::from_str::<Value>(&text) else {
                continue;
            };
            if frame["replyTo"] == id.as_str() {
                return Some(frame);
            }
        }
    };
    Ok(tokio::time::timeout(limit, wait).await.ok().flatten())
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
            Some(frame) if frame["type"] == "pong" => {
                let ms = started.elapsed().as_secs_f64() * 1000.0;
                if json {
                    writeln!(out, "{}", json!({"seq": seq, "url": url, "ms": ms}))?;
                } else {
                    writeln!(out, "pong from {url}: seq={seq} time={ms:.1} ms")?;
                }
            }
            other => {
                ok = false;
                let why = other.map_or("timed out".into(), |f| f.to_string());
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
        Some(frame) => {
            writeln!(out, "{frame}")?;
            frame["type"] != "error"
        }
        None => {
            writeln!(out, "no answer to '{action}' within 10 s")?;
            false
        }
    };
    conn.close().await;
    Ok(ok)
}

/// `semantest listen EVENT...`: subscribes (again after every reconnect) and prints each event
/// as it arrives, until `count` events (if given) or until `stop` resolves (Ctrl-C).
pub async fn listen(
    settings: Settings,
    events: Vec<String>,
    count: Option<u64>,
    json: bool,
    out: &mut impl Write,
    stop: impl std::future::Future<Output = ()>,
) -> anyhow::Result<bool> {
    let Some((conn, _)) = open(&settings, out).await? else {
        return Ok(false);
    };
    let mut messages = conn.messages();
    conn.subscribe(events)?;
    tokio::pin!(stop);
    let mut seen = 0;
    let ok = loop {
        if count.is_some_and(|c| seen >= c) {
            break true;
        }
        tokio::select! {
            () = &mut stop => break true,
            message = messages.recv() => {
                let Ok(text) = message else { break false };
                let Ok(frame) = serde_json::from_str::<Value>(&text) else { continue };
                match frame["type"].as_str() {
                    Some("event") => {
                        seen += 1;
                        if json {
                            writeln!(out, "{text}")?;
                        } else {
                            let p = &frame["payload"];
                            writeln!(out, "{} from {}: {}", p["event"].as_str().unwrap_or("?"), p["from"].as_str().unwrap_or("?"), p["data"])?;
                        }
                        out.flush()?;
                    }
                    Some("error") => writeln!(out, "error: {}", frame["payload"]["message"].as_str().unwrap_or("?"))?,
                    _ => {}
                }
            }
        }
    };
    conn.close().await;
    Ok(ok)
}

/// What to ask the extension for.
#[derive(Debug, Clone)]
pub enum ImageSource {
    /// The image ChatGPT generated for this prompt (the newest one on the page).
    Prompt(String),
    /// An image at this URL, read from the ChatGPT page.
    Url(String),
}

/// `semantest request-image`: publishes `imageDownloadRequested`, waits for the extension's
/// `imageDownloaded` (or the failure), fetches the stored bytes from the server, checks their
/// sha256 and writes them to `out/name`. Prints the path.
pub async fn request_image(
    settings: Settings,
    source: ImageSource,
    out_dir: &std::path::Path,
    name: Option<String>,
    limit: Duration,
    out: &mut impl Write,
) -> anyhow::Result<bool> {
    let name = name.unwrap_or_else(|| format!("semantest-{}.png", fastrand::u32(..)));
    anyhow::ensure!(
        !name.starts_with('.')
            && name.len() <= 128
            && name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b)),
        "--name must be a plain file name (letters, digits, '.', '_', '-')"
    );
    let Some((conn, status)) = open(&settings, out).await? else {
        return Ok(false);
    };
    let mut data = json!({ "filename": name, "downloadFolder": out_dir.display().to_string() });
    match &source {
        ImageSource::Prompt(p) => data["prompt"] = json!(p),
        ImageSource::Url(u) => data["url"] = json!(u),
    }
    let mut messages = conn.messages();
    let id = conn
        .send(
            "publish",
            json!({ "event": "imageDownloadRequested", "data": data }),
        )
        .await?;
    let answer = tokio::time::timeout(limit, async {
        loop {
            let Ok(text) = messages.recv().await else {
                return None;
            };
            let Ok(frame) = serde_json::from_str::<Value>(&text) else {
                continue;
            };
            if frame["replyTo"] == id.as_str() && frame["type"] != "ack" {
                return Some(frame);
            }
        }
    })
    .await;
    conn.close().await;
    let frame = match answer {
        Ok(Some(frame)) => frame,
        Ok(None) => anyhow::bail!("the connection closed before the extension answered"),
        Err(_) => {
            writeln!(
                out,
                "no answer from the extension within {} s",
                limit.as_secs()
            )?;
            return Ok(false);
        }
    };
    let payload = &frame["payload"];
    match (frame["type"].as_str(), payload["event"].as_str()) {
        (Some("event"), Some("imageDownloaded")) => {
            let data = &payload["data"];
            let want = data["sha256"].as_str().unwrap_or_default().to_owned();
            let request = match data["url"].as_str() {
                // From the public service: a presigned URL, whose signature is the permission.
                Some(url) => reqwest::Client::new().get(url),
                None => {
                    let image_id = data["imageId"].as_str().unwrap_or_default();
                    let http = status.url.unwrap_or_default().replacen("ws", "http", 1);
                    let url = format!("{}/images/{image_id}", http.trim_end_matches('/'));
                    let request = reqwest::Client::new().get(url);
                    // A remote server asks for the key; the local one never sees it.
                    match (&settings.token, status.mode) {
                        (Some(token), Mode::Cloud) => request.bearer_auth(token.expose()),
                        _ => request,
                    }
                }
            };
            let response = request
                .send()
                .await
                .and_then(reqwest::Response::error_for_status)
                .map_err(reqwest::Error::without_url)?;
            // Without the query: a presigned URL's signature is not for the terminal.
            let mut shown = response.url().clone();
            shown.set_query(None);
            let bytes = response.bytes().await?;
            let got = crate::hex_sha256(&bytes);
            anyhow::ensure!(
                got == want,
                "the image fetched from {shown} has sha256 {got}, the extension reported {want}"
            );
            std::fs::create_dir_all(out_dir)?;
            let path = out_dir.join(&name);
            let temp = out_dir.join(format!(".{name}.part"));
            std::fs::write(&temp, &bytes)?;
            std::fs::rename(&temp, &path)?;
            writeln!(out, "{}", std::path::absolute(&path)?.display())?;
            Ok(true)
        }
        (Some("event"), _) => {
            let reason = payload["data"]["reason"]
                .as_str()
                .unwrap_or("no reason given");
            writeln!(out, "the extension could not get the image: {reason}")?;
            Ok(false)
        }
        _ => {
            let message = payload["message"].as_str().unwrap_or("unknown error");
            writeln!(out, "error: {message}")?;
            Ok(false)
        }
    }
}
