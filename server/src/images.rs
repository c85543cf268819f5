//! Image upload and download: `POST /images` stores the bytes the extension took from the
//! ChatGPT page, `GET /images/{id}` serves them back.
//!
//! The policy:
//! - At most [`crate::Config::max_image_bytes`] (default 16 MiB): a larger body is refused with
//!   413 before anything is kept.
//! - `?name=` is a file name, never a path: letters, digits, `.`, `_`, `-`, at most 128
//!   characters, not starting with a dot. Anything else (`../x`, `a/b`, `C:\x`) is 400. Without
//!   a name the file is `image-<id>.png`. The file always lands directly in the images folder.
//! - `?sha256=` (hex), when given, must match the bytes, or it is 422 and nothing is kept.
//! - The bytes are streamed to a temporary file in the same folder and renamed into place only
//!   when complete and checked, so a truncated upload or a disk error never leaves a partial
//!   image behind (the temporary file is removed).
//! - A body that sends nothing for [`UPLOAD_STALL`] (30 s) ends the upload with 408 and the
//!   temporary file is removed: a stalled client cannot hold a handler and a file open for
//!   ever. The wait is per chunk, so a slow upload that keeps sending is not cut.
//! - The answer is 201 `{id, path, size, sha256}`; `path` is where the file is on disk.
//!
//! Metrics: a stored upload counts its size in `semantest_image_bytes_total{direction="upload"}`
//! and its time in `semantest_image_upload_seconds`; a refused one counts in neither. A download
//! counts the bytes it serves in `{direction="download"}`.

use std::path::{Path, PathBuf};
use std::time::Duration;

use axum::body::Body;
use axum::extract::{Path as UrlPath, Query, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use futures_util::StreamExt;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use tokio::io::AsyncWriteExt;
// Tokio's clock, so a test with paused time sees the upload time it made up.
use tokio::time::Instant;

use semantest_protocol::shorten;

use crate::auth::Tenant;
use crate::metrics::Direction;
use crate::AppState;

/// The longest an upload may go without a body chunk before it ends with 408.
pub const UPLOAD_STALL: Duration = Duration::from_secs(30);

/// `POST /images` query parameters.
#[derive(Debug, Deserialize)]
pub(crate) struct Upload {
    name: Option<String>,
    sha256: Option<String>,
}

/// The answer to a stored upload.
#[derive(Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct Stored {
    /// The id for `GET /images/{id}`.
    pub id: String,
    /// Where the file is on disk.
    pub path: String,
    /// Its size in bytes.
    pub size: u64,
    /// Its sha256, hex.
    pub sha256: String,
}

/// What went wrong with an upload, as an HTTP answer.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ImageError {
    #[error("invalid file name '{0}': use letters, digits, '.', '_' or '-' (at most 128, no leading dot)")]
    BadName(String),
    #[error("image larger than {0} bytes")]
    TooLarge(usize),
    #[error("sha256 mismatch: the upload is {got}, expected {want}")]
    Mismatch { got: String, want: String },
    #[error("the upload ended early: {0}")]
    Truncated(String),
    #[error("the upload stalled: no data for {} s", UPLOAD_STALL.as_secs())]
    Stalled,
    #[error("an image named '{0}' already exists")]
    Exists(String),
    #[error("cannot store the image: {0}")]
    Disk(String),
    #[error("no image '{0}'")]
    NotFound(String),
}

impl IntoResponse for ImageError {
    fn into_response(self) -> Response {
        let status = match &self {
            ImageError::BadName(_) => StatusCode::BAD_REQUEST,
            ImageError::TooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            ImageError::Mismatch { .. } => StatusCode::UNPROCESSABLE_ENTITY,
            ImageError::Truncated(_) => StatusCode::BAD_REQUEST,
            ImageError::Stalled => StatusCode::REQUEST_TIMEOUT,
            ImageError::Exists(_) => StatusCode::CONFLICT,
            ImageError::Disk(_) => StatusCode::INTERNAL_SERVER_ERROR,
            ImageError::NotFound(_) => StatusCode::NOT_FOUND,
        };
        (
            status,
            Json(serde_json::json!({ "error": self.to_string() })),
        )
            .into_response()
    }
}

/// Removes the temporary file unless the upload was kept.
struct TempFile(Option<PathBuf>);

impl Drop for TempFile {
    fn drop(&mut self) {
        if let Some(path) = self.0.take() {
            let _ = std::fs::remove_file(path);
        }
    }
}

/// `POST /images?name=&sha256=`.
pub(crate) async fn upload(
    State(state): State<AppState>,
    tenant: Option<Extension<Tenant>>,
    Query(query): Query<Upload>,
    body: Body,
) -> Result<(StatusCode, Json<Stored>), ImageError> {
    let started = Instant::now();
    let tenant = tenant.map(|Extension(t)| t.0);
    // A production server keeps each tenant's images in a folder of its own.
    let dir = match &tenant {
        Some(t) => state
            .config()
            .images_dir
            .join(&semantest_protocol::identity::issue::digest(t)[..16]),
        None => state.config().images_dir.clone(),
    };
    let limit = state.config().max_image_bytes;
    let id = format!("{:016x}", fastrand::u64(..));
    let name = match query.name {
        Some(name) if semantest_protocol::valid_file_name(&name) => name,
        Some(name) => return Err(ImageError::BadName(shorten(&name, 64))),
        None => format!("image-{id}.png"),
    };
    tokio::fs::create_dir_all(&dir)
        .await
        .map_err(|e| ImageError::Disk(e.to_string()))?;
    let target = dir.join(&name);
    if tokio::fs::try_exists(&target).await.unwrap_or(false) {
        return Err(ImageError::Exists(name));
    }
    let temp_path = dir.join(format!(".upload-{id}.part"));
    let mut temp = TempFile(Some(temp_path.clone()));
    let mut file = tokio::fs::File::create(&temp_path)
        .await
        .map_err(|e| ImageError::Disk(e.to_string()))?;
    let mut hasher = Sha256::new();
    let mut size = 0usize;
    let mut stream = body.into_data_stream();
    loop {
        let Ok(next) = tokio::time::timeout(UPLOAD_STALL, stream.next()).await else {
            tracing::debug!(%id, size, "upload stalled");
            return Err(ImageError::Stalled);
        };
        let Some(chunk) = next else { break };
        let chunk = chunk.map_err(|e| ImageError::Truncated(e.to_string()))?;
        size += chunk.len();
        if size > limit {
            return Err(ImageError::TooLarge(limit));
        }
        hasher.update(&chunk);
        file.write_all(&chunk)
            .await
            .map_err(|e| ImageError::Disk(e.to_string()))?;
    }
    file.sync_all()
        .await
        .map_err(|e| ImageError::Disk(e.to_string()))?;
    drop(file);
    let sha256 = hex(&hasher.finalize());
    if let Some(want) = query.sha256 {
        if !want.eq_ignore_ascii_case(&sha256) {
            return Err(ImageError::Mismatch {
                got: sha256,
                want: shorten(&want, 64),
            });
        }
    }
    tokio::fs::rename(&temp_path, &target)
        .await
        .map_err(|e| ImageError::Disk(e.to_string()))?;
    temp.0 = None; // kept
    state.images().insert(id.clone(), tenant, target.clone());
    state.metrics().image_bytes(Direction::Upload, size as u64);
    state.metrics().image_upload(started.elapsed());
    let path = absolute(&target);
    tracing::info!(%id, path, size, "image stored");
    Ok((
        StatusCode::CREATED,
        Json(Stored {
            id,
            path,
            size: size as u64,
            sha256,
        }),
    ))
}

/// `GET /images/{id}`.
pub(crate) async fn download(
    State(state): State<AppState>,
    tenant: Option<Extension<Tenant>>,
    UrlPath(id): UrlPath<String>,
) -> Result<Response, ImageError> {
    // Another tenant's image is as unknown as one that never was.
    let tenant = tenant.map(|Extension(t)| t.0);
    let Some(path) = state.images().get(&id, tenant.as_deref()) else {
        return Err(ImageError::NotFound(shorten(&id, 32)));
    };
    let bytes = tokio::fs::read(&path)
        .await
        .map_err(|_| ImageError::NotFound(id))?;
    let kind = match path.extension().and_then(|e| e.to_str()) {
        Some("jpg" | "jpeg") => "image/jpeg",
        Some("webp") => "image/webp",
        Some("gif") => "image/gif",
        Some("png") => "image/png",
        _ => "application/octet-stream",
    };
    state
        .metrics()
        .image_bytes(Direction::Download, bytes.len() as u64);
    Ok(([(header::CONTENT_TYPE, kind)], bytes).into_response())
}

fn absolute(path: &Path) -> String {
    std::path::absolute(path)
        .unwrap_or_else(|_| path.to_owned())
        .display()
        .to_string()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use std::convert::Infallible;
    use std::path::Path;
    use std::time::Duration;

    use axum::body::{Body, Bytes};
    use axum::http::{header, Request, StatusCode};
    use futures_util::{stream, StreamExt};
    use http_body_util::BodyExt;
    use tower::ServiceExt;

    use super::UPLOAD_STALL;
    use crate::{app, AppState, Config};
    use semantest_protocol::valid_file_name as valid_name;

    /// A state that stores images under `dir`.
    fn state(dir: &Path) -> AppState {
        AppState::new(Config {
            images_dir: dir.join("images"),
            ..Config::default()
        })
    }

    /// `POST /images?name=…` with `body`, through the router; the status and the body's JSON.
    /// Bounded by an hour of (paused) time, so an upload that never ends fails the test.
    async fn post(state: &AppState, body: Body) -> (StatusCode, serde_json::Value) {
        let request = Request::post("/images?name=slow.png")
            .header(header::HOST, "localhost:3003")
            .body(body)
            .unwrap();
        let response = tokio::time::timeout(
            Duration::from_secs(3600),
            app(state.clone()).oneshot(request),
        )
        .await
        .expect("the upload never ended")
        .unwrap();
        let status = response.status();
        let bytes = response.into_body().collect().await.unwrap().to_bytes();
        (status, serde_json::from_slice(&bytes).unwrap())
    }

    /// Every file name in the images folder, temporary ones included.
    fn files(dir: &Path) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(dir.join("images"))
            .map(|entries| {
                entries
                    .flatten()
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .collect()
            })
            .unwrap_or_default();
        names.sort();
        names
    }

    #[tokio::test(start_paused = true)]
    async fn a_stalled_upload_ends_with_408_after_the_stall_and_leaves_nothing() {
        let tmp = tempfile::tempdir().unwrap();
        let state = state(tmp.path());
        // One chunk, then a body that neither sends nor ends.
        let first = stream::iter([Ok::<_, Infallible>(Bytes::from_static(b"first chunk"))]);
        let body = Body::from_stream(first.chain(stream::pending()));
        let start = tokio::time::Instant::now();
        let (status, json) = post(&state, body).await;
        let waited = start.elapsed();
        assert_eq!(status, StatusCode::REQUEST_TIMEOUT, "{json}");
        assert_eq!(json["error"], "the upload stalled: no data for 30 s");
        assert!(
            (UPLOAD_STALL..UPLOAD_STALL + Duration::from_secs(1)).contains(&waited),
            "ended after {waited:?}, not after the {UPLOAD_STALL:?} stall"
        );
        assert!(files(tmp.path()).is_empty(), "{:?}", files(tmp.path()));
        let text = state.metrics().encode();
        assert!(
            text.contains(r#"semantest_image_bytes_total{direction="upload"} 0"#),
            "{text}"
        );
        assert!(
            text.contains("semantest_image_upload_seconds_count 0"),
            "{text}"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_slow_upload_that_keeps_sending_is_stored() {
        let tmp = tempfile::tempdir().unwrap();
        let state = state(tmp.path());
        // Three chunks 20 s apart: 40 s in all, longer than the stall but never silent for it.
        let gap = UPLOAD_STALL - Duration::from_secs(10);
        let chunks = stream::iter(0..3u8).then(move |i| async move {
            if i > 0 {
                tokio::time::sleep(gap).await;
            }
            Ok::<_, Infallible>(Bytes::from(vec![i; 100]))
        });
        let (status, json) = post(&state, Body::from_stream(chunks)).await;
        assert_eq!(status, StatusCode::CREATED, "{json}");
        assert_eq!(json["size"], 300);
        assert_eq!(files(tmp.path()), ["slow.png"]);
        let text = state.metrics().encode();
        assert!(
            text.contains(r#"semantest_image_bytes_total{direction="upload"} 300"#),
            "{text}"
        );
        assert!(
            text.contains("semantest_image_upload_seconds_count 1"),
            "{text}"
        );
        // The paused clock moved 40 s: the histogram saw the upload's whole time.
        assert!(
            text.contains(r#"semantest_image_upload_seconds_bucket{le="32.768"} 0"#),
            "{text}"
        );
        assert!(
            text.contains(r#"semantest_image_upload_seconds_bucket{le="65.536"} 1"#),
            "{text}"
        );
    }

    #[test]
    fn names_are_file_names_only() {
        for ok in ["cat.png", "image-1.jpeg", "A_b-c.webp"] {
            assert!(valid_name(ok), "{ok}");
        }
        for bad in [
            "",
            "../cat.png",
            "a/b.png",
            "a\\b.png",
            ".hidden",
            "..",
            "c:x",
            "x y.png",
            &"x".repeat(129),
        ] {
            assert!(!valid_name(bad), "{bad}");
        }
    }
}
