//! `image`: uploads random bytes to `POST /images` (with their sha256, which the server
//! checks), downloads them back from `GET /images/{id}`, checks the sha256 again, and times
//! both halves of each run.

use std::time::Duration;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use tokio::time::Instant;

use crate::error::LoadError;
use crate::tally::rounded;
use crate::target::Target;

/// The longest one request may take.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(120);

/// What to run.
#[derive(Debug, Clone)]
pub struct ImageOptions {
    /// The server's HTTP base URL (`http://127.0.0.1:3003`).
    pub target: Target,
    /// The image size, in bytes.
    pub size: usize,
    /// How many round trips.
    pub runs: usize,
    /// An API key, for a production server.
    pub token: Option<String>,
}

/// One round trip's times, in milliseconds.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct ImageRun {
    /// `POST /images`, from the request to the answer.
    pub upload_ms: f64,
    /// `GET /images/{id}`, from the request to the last byte.
    pub download_ms: f64,
    /// Both.
    pub total_ms: f64,
}

/// The one JSON line of `image`.
#[derive(Debug, Clone, Serialize)]
pub struct ImageReport {
    /// `"image"`.
    pub mode: &'static str,
    /// The image size, in bytes.
    pub size: usize,
    /// Each successful round trip.
    pub runs: Vec<ImageRun>,
    /// The median upload time.
    pub median_upload_ms: f64,
    /// The median download time.
    pub median_download_ms: f64,
    /// The median round trip.
    pub median_total_ms: f64,
    /// Round trips that failed (refused, wrong bytes, timed out).
    pub errors: usize,
}

/// The answer to a stored upload (what this client reads of it).
#[derive(Debug, Deserialize)]
struct Stored {
    id: String,
    size: u64,
    sha256: String,
}

/// Runs the round trips one after the other.
pub async fn run(options: &ImageOptions) -> Result<ImageReport, LoadError> {
    // Err only when a provider is already installed, which is as good (see Cargo.toml).
    let _ = rustls::crypto::ring::default_provider().install_default();
    let client = reqwest::Client::builder()
        .timeout(REQUEST_TIMEOUT)
        .no_proxy()
        .build()
        .map_err(|e| LoadError::Http(e.to_string()))?;
    let base = options.target.url.trim_end_matches('/').to_owned();
    let mut runs = Vec::with_capacity(options.runs);
    let mut first_error = None;
    let mut errors = 0;
    for run in 0..options.runs {
        match round_trip(&client, &base, options, run).await {
            Ok(one) => runs.push(one),
            Err(e) => {
                eprintln!("image run {run}: {e}");
                errors += 1;
                first_error.get_or_insert(e);
            }
        }
    }
    if runs.is_empty() {
        if let Some(e) = first_error {
            return Err(e);
        }
    }
    let median_of =
        |f: fn(&ImageRun) -> f64| rounded(median(runs.iter().map(f).collect()).unwrap_or(0.0), 3);
    Ok(ImageReport {
        mode: "image",
        size: options.size,
        median_upload_ms: median_of(|r| r.upload_ms),
        median_download_ms: median_of(|r| r.download_ms),
        median_total_ms: median_of(|r| r.total_ms),
        runs,
        errors,
    })
}

/// One upload and its download.
async fn round_trip(
    client: &reqwest::Client,
    base: &str,
    options: &ImageOptions,
    run: usize,
) -> Result<ImageRun, LoadError> {
    let mut bytes = vec![0u8; options.size];
    fastrand::fill(&mut bytes);
    let sha256 = hex(&Sha256::digest(&bytes));
    let name = format!("bench-{run}-{:016x}.png", fastrand::u64(..));
    let url = format!("{base}/images?name={name}&sha256={sha256}");

    let started = Instant::now();
    let answer = authorized(client.post(url), options)
        .body(bytes)
        .send()
        .await;
    let body = read(answer, reqwest::StatusCode::CREATED).await?;
    let upload = started.elapsed();
    let stored: Stored = serde_json::from_slice(&body)
        .map_err(|e| LoadError::Http(format!("the upload's answer: {e}")))?;
    if stored.size != options.size as u64 || stored.sha256 != sha256 {
        return Err(LoadError::Http(format!(
            "the server stored {} bytes with sha256 {}, sent {} with {sha256}",
            stored.size, stored.sha256, options.size
        )));
    }

    let downloading = Instant::now();
    let answer = authorized(client.get(format!("{base}/images/{}", stored.id)), options)
        .send()
        .await;
    let body = read(answer, reqwest::StatusCode::OK).await?;
    let download = downloading.elapsed();
    let got = hex(&Sha256::digest(&body));
    if got != sha256 {
        return Err(LoadError::Http(format!(
            "downloaded {} bytes with sha256 {got}, uploaded {sha256}",
            body.len()
        )));
    }
    let ms = |d: Duration| rounded(d.as_secs_f64() * 1000.0, 3);
    Ok(ImageRun {
        upload_ms: ms(upload),
        download_ms: ms(download),
        total_ms: ms(upload + download),
    })
}

fn authorized(request: reqwest::RequestBuilder, options: &ImageOptions) -> reqwest::RequestBuilder {
    match &options.token {
        Some(token) => request.bearer_auth(token),
        None => request,
    }
}

/// The whole body of an answer that has status `want`.
async fn read(
    answer: reqwest::Result<reqwest::Response>,
    want: reqwest::StatusCode,
) -> Result<Vec<u8>, LoadError> {
    let answer = answer.map_err(|e| LoadError::Http(e.to_string()))?;
    let status = answer.status();
    let body = answer
        .bytes()
        .await
        .map_err(|e| LoadError::Http(e.to_string()))?;
    if status != want {
        let text = String::from_utf8_lossy(&body);
        return Err(LoadError::Http(format!(
            "{status}: {}",
            semantest_protocol::shorten(text.trim(), 200)
        )));
    }
    Ok(body.to_vec())
}

/// The median of `values` (the mean of the two middle ones for an even count).
pub fn median(mut values: Vec<f64>) -> Option<f64> {
    values.sort_by(f64::total_cmp);
    let n = values.len();
    match n {
        0 => None,
        _ if n % 2 == 1 => Some(values[n / 2]),
        _ => Some((values[n / 2 - 1] + values[n / 2]) / 2.0),
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn medians() {
        assert_eq!(median(vec![]), None);
        assert_eq!(median(vec![7.0]), Some(7.0));
        assert_eq!(median(vec![9.0, 1.0, 5.0]), Some(5.0));
        assert_eq!(median(vec![4.0, 1.0, 3.0, 100.0]), Some(3.5));
    }

    #[test]
    fn hex_is_lowercase_and_padded() {
        assert_eq!(hex(&[0, 0x0f, 0xab]), "000fab");
        assert_eq!(
            hex(&Sha256::digest(b"abc")),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
