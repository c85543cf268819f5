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
//! - The answer is 201 `{id, path, size, sha256}`; `path` is where the file is on disk.

use std::path::{Path, PathBuf};

use axum::body::Body;
use axum::extract::{Path as UrlPath, Query, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use futures_util::StreamExt;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use tokio::io::AsyncWriteExt;

use semantest_protocol::shorten;

use crate::AppState;

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

/// A file name and nothing else.
fn valid_name(name: &str) -> bool {
    (1..=128).contains(&name.len())
        && !name.starts_with('.')
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b))
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
    Query(query): Query<Upload>,
    body: Body,
) -> Result<(StatusCode, Json<Stored>), ImageError> {
    let dir = state.config().images_dir.clone();
    let limit = state.config().max_image_bytes;
    let id = format!("{:016x}", fastrand::u64(..));
    let name = match query.name {
        Some(name) if valid_name(&name) => name,
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
    while let Some(chunk) = stream.next().await {
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
    state.images().insert(id.clone(), target.clone());
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
    UrlPath(id): UrlPath<String>,
) -> Result<Response, ImageError> {
    let Some(path) = state.images().get(&id) else {
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
    use super::valid_name;

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
