//! The extension's answer to `imageDownloadRequested`, decided without I/O: what the event asks,
//! that a server is connected, the size cap, the name the image is stored under, where it goes
//! (the server whose socket is ready *at upload time*: the local server's `POST /images`, or the
//! public service's presigned upload), what each server's answer means, and the reply that tells
//! the requester. The browser side (`web::images`) only fetches, hashes and uploads as these say.

use semantest_protocol::json::{self, object};
use serde_json::Value;

use crate::status::Mode;

/// The largest image the extension takes from a page: the local server's default cap, and
/// below the public service's (25 MiB).
pub const MAX_IMAGE_BYTES: u64 = 16 * 1024 * 1024;

/// How long the page and the public service each may take to answer.
pub const IMAGE_WAIT_MS: u64 = 10_000;

/// How long fetching an image and storing it on the server may take in all (16 MiB at most):
/// within the margin a generation keeps of the servers' reply window for it.
pub const STORE_LIMIT_MS: u64 = 50_000;
const _: () = assert!(STORE_LIMIT_MS < semantest_protocol::generation::DOWNLOAD_MARGIN_SECS * 1000);

/// Headers the browser's `fetch` computes itself and refuses to be given.
const FORBIDDEN_HEADERS: &[&str] = &["content-length", "host"];

/// Why an image request failed: the `reason` of `imageDownloadFailed`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ImageError {
    /// No socket is ready: there is nowhere to upload to.
    #[error("not connected to a Semantest server ({0})")]
    NotConnected(&'static str),
    /// What the ChatGPT tab (or its absence) said: no tab open, no image on the page, ….
    #[error("{0}")]
    Page(String),
    /// The image's URL could not be fetched.
    #[error("could not fetch the image: {0}")]
    Fetch(String),
    /// The image's URL answered with an error status.
    #[error("the image answered HTTP {0}")]
    FetchStatus(u16),
    /// More than [`MAX_IMAGE_BYTES`].
    #[error("the image is larger than {MAX_IMAGE_BYTES} bytes")]
    TooLarge,
    /// The local server refused the image or could not be reached.
    #[error("the local server did not store the image: {0}")]
    Local(String),
    /// The public service refused `requestUpload`, or answered with something else.
    #[error("the service gave no upload URL: {0}")]
    NoUploadUrl(String),
    /// The presigned `PUT` failed.
    #[error("the upload to the cloud failed: {0}")]
    Cloud(String),
    /// Fetching and storing took longer than [`STORE_LIMIT_MS`].
    #[error("fetching and storing the image took longer than {} s", STORE_LIMIT_MS / 1000)]
    TookTooLong,
}

/// What an `imageDownloadRequested` event asks (its payload: `{event, id, from, data}`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageRequest {
    /// The event's id: what the reply names in `to`, and the `requestId` it carries.
    pub id: String,
    /// The image to take (`data.url`); the newest generated image on the page when absent.
    pub url: Option<String>,
    /// The name the requester wants (`data.filename`).
    pub filename: Option<String>,
}

impl ImageRequest {
    /// The request in an event's payload; `None` without an id (there is no one to answer).
    pub fn from_event(payload: &Value) -> Option<ImageRequest> {
        let id = payload.get("id")?.as_str().filter(|id| !id.is_empty())?;
        let text = |key: &str| {
            payload["data"][key]
                .as_str()
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
        };
        Some(ImageRequest {
            id: id.to_owned(),
            url: text("url"),
            filename: text("filename"),
        })
    }

    /// What the ChatGPT tab is asked for: `{requestId, url}`.
    pub fn for_page(&self) -> Value {
        object([
            ("requestId", Value::from(self.id.as_str())),
            ("url", Value::from(self.url.clone())),
        ])
    }
}

/// The image as fetched, before it is uploaded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Image {
    /// The name it is stored under (see [`stored_name`]).
    pub name: String,
    /// Its media type, without parameters.
    pub content_type: String,
    /// Its length in bytes.
    pub size: u64,
    /// Its SHA-256, lowercase hex.
    pub sha256: String,
}

/// Where the image goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Destination {
    /// The local server: `POST` the bytes to this URL.
    Local {
        /// `{localUrl}/images?name=…&sha256=…`.
        post_url: String,
    },
    /// The public service: ask for a presigned upload with this `requestUpload` payload.
    Cloud {
        /// `{filename, size, sha256, contentType}`.
        request_upload: Value,
    },
}

/// Only a connected client takes an image (checked before the page is asked).
pub fn must_be_connected(mode: Mode) -> Result<(), ImageError> {
    match mode {
        Mode::Local | Mode::Cloud => Ok(()),
        Mode::Connecting => Err(ImageError::NotConnected("connecting")),
        Mode::Offline => Err(ImageError::NotConnected("offline")),
    }
}

/// Refuses a length (declared or read) over the cap.
pub fn check_size(size: u64) -> Result<(), ImageError> {
    if size > MAX_IMAGE_BYTES {
        return Err(ImageError::TooLarge);
    }
    Ok(())
}

/// A `Content-Type` header as a media type (`image/png` when absent or empty).
pub fn content_type(header: Option<&str>) -> String {
    let media = header.and_then(|h| h.split(';').next()).map(str::trim);
    match media {
        Some(m) if !m.is_empty() => m.to_ascii_lowercase(),
        _ => "image/png".to_owned(),
    }
}

/// The name the image is stored under on the server: the requester's name (or `chatgpt.<ext>`)
/// after the time, so that two requests never collide (the requester saves its own copy under
/// the name it asked for).
pub fn stored_name(now_ms: u64, filename: Option<&str>, content_type: &str) -> String {
    match filename {
        Some(name) => format!("{now_ms}-{name}"),
        None => {
            let ext = match content_type {
                "image/jpeg" => "jpg",
                "image/webp" => "webp",
                "image/gif" => "gif",
                _ => "png",
            };
            format!("{now_ms}-chatgpt.{ext}")
        }
    }
}

/// Where the image goes, judged when it is ready to upload: to the server whose socket is ready
/// now, which may not be the one that was ready when the request came.
pub fn destination(mode: Mode, local_url: &str, image: &Image) -> Result<Destination, ImageError> {
    must_be_connected(mode)?;
    if mode == Mode::Local {
        let post_url = post_url(local_url, image);
        return Ok(Destination::Local { post_url });
    }
    Ok(Destination::Cloud {
        request_upload: object([
            ("filename", Value::from(image.name.as_str())),
            ("size", Value::from(image.size)),
            ("sha256", Value::from(image.sha256.as_str())),
            ("contentType", Value::from(image.content_type.as_str())),
        ]),
    })
}

/// `POST {base}/images?name=…&sha256=…` for `image`.
fn post_url(base: &str, image: &Image) -> String {
    format!(
        "{}/images?name={}&sha256={}",
        base.trim_end_matches('/'),
        encode_component(&image.name),
        image.sha256
    )
}

/// Where a self-hosted production server takes the image when it has no presigned storage
/// (it answered `requestUpload` with `unknown_action`): its own `POST /images`, at the remote
/// socket's URL with `http(s)` for `ws(s)`, shown the client's token. `None` for a URL that
/// is not `ws://` or `wss://`.
pub fn self_hosted_post(remote_url: &str, image: &Image) -> Option<String> {
    let base = if let Some(rest) = remote_url.strip_prefix("wss://") {
        format!("https://{rest}")
    } else {
        format!("http://{}", remote_url.strip_prefix("ws://")?)
    };
    Some(post_url(
        base.split(['?', '#']).next().unwrap_or_default(),
        image,
    ))
}

/// The local server's answer to `POST /images`: `{path, size, sha256, id}`, or `{error}`.
/// The reply's data (`{path, size, sha256, imageId}`) when it stored these very bytes.
pub fn local_stored(status: u16, body: &str, image: &Image) -> Result<Value, ImageError> {
    let answer = json::parse(body).unwrap_or(Value::Null);
    if !(200..300).contains(&status) {
        let reason = answer["error"]
            .as_str()
            .map(str::to_owned)
            .unwrap_or_else(|| format!("HTTP {status}"));
        return Err(ImageError::Local(reason));
    }
    let (Some(path), Some(size), Some(sha256)) = (
        answer["path"].as_str(),
        answer["size"].as_u64(),
        answer["sha256"].as_str(),
    ) else {
        return Err(ImageError::Local(
            "its answer has no path, size and sha256".to_owned(),
        ));
    };
    if size != image.size || sha256 != image.sha256 {
        return Err(ImageError::Local(format!(
            "it stored {size} bytes with sha256 {sha256}, not the {} bytes sent",
            image.size
        )));
    }
    Ok(object([
        ("path", Value::from(path)),
        ("size", Value::from(size)),
        ("sha256", Value::from(sha256)),
        ("imageId", answer["id"].clone()),
    ]))
}

/// A presigned upload, as `requestUpload`'s answer gives it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UploadTarget {
    /// `PUT` the bytes here.
    pub put_url: String,
    /// With these headers (those a browser may set).
    pub headers: Vec<(String, String)>,
    /// The image's id on the service.
    pub image_id: String,
    /// Where the requester downloads it.
    pub get_url: String,
}

/// The answer frame of `requestUpload` (`{type: "uploadUrl", payload}`: the protocol's
/// `UploadUrl`) as an upload target.
pub fn upload_target(frame: &Value) -> Result<UploadTarget, ImageError> {
    let kind = frame["type"].as_str().unwrap_or("nothing");
    if kind != "uploadUrl" {
        return Err(ImageError::NoUploadUrl(format!("it answered {kind}")));
    }
    // Read field by field (a serde visitor for this one type cost the module kilobytes).
    let payload = &frame["payload"];
    let text = |key: &str| payload[key].as_str().map(str::to_owned);
    let (Some(put_url), Some(get_url), Some(image_id)) =
        (text("putUrl"), text("getUrl"), text("imageId"))
    else {
        return Err(ImageError::NoUploadUrl(
            "its uploadUrl has no putUrl, getUrl and imageId".to_owned(),
        ));
    };
    let mut headers = Vec::new();
    for (name, value) in payload["headers"].as_object().into_iter().flatten() {
        let Some(value) = value.as_str() else {
            return Err(ImageError::NoUploadUrl(format!(
                "its uploadUrl header {name} is not text"
            )));
        };
        if !FORBIDDEN_HEADERS.contains(&name.to_ascii_lowercase().as_str()) {
            headers.push((name.clone(), value.to_owned()));
        }
    }
    Ok(UploadTarget {
        put_url,
        headers,
        image_id,
        get_url,
    })
}

/// The reply's data after a presigned upload: `{size, sha256, imageId, url}`.
pub fn cloud_stored(target: &UploadTarget, image: &Image) -> Value {
    object([
        ("size", Value::from(image.size)),
        ("sha256", Value::from(image.sha256.as_str())),
        ("imageId", Value::from(target.image_id.as_str())),
        ("url", Value::from(target.get_url.as_str())),
    ])
}

/// The answer to the requester and what the extension records of it.
#[derive(Debug, Clone, PartialEq)]
pub struct Reply {
    /// The `reply` action's payload: `{to, event, data: {requestId, …}}`.
    pub payload: Value,
    /// `{event, requestId, …data}`: the outcome, for the popup and troubleshooting.
    pub outcome: Value,
}

/// `imageDownloaded` with the stored image's data, or `imageDownloadFailed` with the reason.
pub fn reply(request: &ImageRequest, result: &Result<Value, ImageError>) -> Reply {
    let (event, data) = match result {
        Ok(data) => ("imageDownloaded", data.clone()),
        Err(e) => (
            "imageDownloadFailed",
            object([("reason", Value::from(e.to_string()))]),
        ),
    };
    let payload = answer(&request.id, event, data);
    let mut outcome = payload["data"].clone();
    if let Some(fields) = outcome.as_object_mut() {
        fields.insert("event".to_owned(), Value::from(event));
    }
    Reply { payload, outcome }
}

/// The `reply` payload answering the event `request_id` with `event`: `{to, event, data}`,
/// the data (an object) carrying `requestId` as well. Every answer of the extension to a
/// tool's request (a download, a generation's progress and outcome) is one.
pub fn answer(request_id: &str, event: &str, mut data: Value) -> Value {
    if let Some(fields) = data.as_object_mut() {
        fields.insert("requestId".to_owned(), Value::from(request_id));
    }
    object([
        ("to", Value::from(request_id)),
        ("event", Value::from(event)),
        ("data", data),
    ])
}

/// `text` as a URL query component, as JavaScript's `encodeURIComponent` writes it: every
/// byte of its UTF-8 but letters, digits and `-_.!~*'()` as `%XX`. By hand: percent-encoding's
/// table of all 256 escapes was 1 KB of the .wasm (a test checks the two agree).
pub fn encode_component(text: &str) -> String {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    let mut out = String::with_capacity(text.len());
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.!~*'()".contains(&b) {
            out.push(char::from(b));
        } else {
            out.push('%');
            out.push(char::from(HEX[usize::from(b >> 4)]));
            out.push(char::from(HEX[usize::from(b & 0xf)]));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn image() -> Image {
        Image {
            name: "1700000000000-cat 1.png".to_owned(),
            content_type: "image/png".to_owned(),
            size: 3,
            sha256: "ab".repeat(32),
        }
    }

    #[test]
    fn a_self_hosted_server_takes_the_image_at_its_own_post_images() {
        let sha = "ab".repeat(32);
        assert_eq!(
            self_hosted_post("wss://api.example.com/", &image()).unwrap(),
            format!("https://api.example.com/images?name=1700000000000-cat%201.png&sha256={sha}")
        );
        assert_eq!(
            self_hosted_post("ws://127.0.0.1:4000?x=1", &image()).unwrap(),
            format!("http://127.0.0.1:4000/images?name=1700000000000-cat%201.png&sha256={sha}")
        );
        assert_eq!(self_hosted_post("https://api.example.com", &image()), None);
    }

    #[test]
    fn a_request_needs_an_id_and_reads_url_and_filename() {
        let event = json!({"event": "imageDownloadRequested", "id": "e7", "from": "cli",
            "data": {"url": "https://x/y.png", "filename": "cat.png"}});
        assert_eq!(
            ImageRequest::from_event(&event),
            Some(ImageRequest {
                id: "e7".into(),
                url: Some("https://x/y.png".into()),
                filename: Some("cat.png".into()),
            })
        );
        let bare = ImageRequest::from_event(&json!({"id": "e8"})).unwrap();
        assert_eq!((bare.url, bare.filename), (None, None));
        let empty = json!({"id": "e9", "data": {"url": "", "filename": 5}});
        assert_eq!(ImageRequest::from_event(&empty).unwrap().url, None);
        assert_eq!(ImageRequest::from_event(&json!({"data": {}})), None);
        assert_eq!(ImageRequest::from_event(&json!({"id": ""})), None);
        assert_eq!(ImageRequest::from_event(&json!({"id": 3})), None);
        assert_eq!(
            ImageRequest::from_event(&json!({"id": "e8"}))
                .unwrap()
                .for_page(),
            json!({"requestId": "e8", "url": null}),
            "the page is asked for the newest image"
        );
    }

    #[test]
    fn only_a_connected_client_takes_an_image() {
        assert_eq!(must_be_connected(Mode::Local), Ok(()));
        assert_eq!(must_be_connected(Mode::Cloud), Ok(()));
        let e = must_be_connected(Mode::Offline).unwrap_err();
        assert_eq!(
            e.to_string(),
            "not connected to a Semantest server (offline)"
        );
        let e = destination(Mode::Connecting, "http://localhost:3003", &image()).unwrap_err();
        assert_eq!(e, ImageError::NotConnected("connecting"));
    }

    #[test]
    fn the_ready_server_at_upload_time_decides_where_the_image_goes() {
        let local = destination(Mode::Local, "http://localhost:3003/", &image()).unwrap();
        let sha = "ab".repeat(32);
        assert_eq!(
            local,
            Destination::Local {
                post_url: format!(
                    "http://localhost:3003/images?name=1700000000000-cat%201.png&sha256={sha}"
                )
            }
        );
        let cloud = destination(Mode::Cloud, "http://localhost:3003", &image()).unwrap();
        assert_eq!(
            cloud,
            Destination::Cloud {
                request_upload: json!({"filename": "1700000000000-cat 1.png", "size": 3,
                    "sha256": sha, "contentType": "image/png"})
            }
        );
    }

    #[test]
    fn the_size_cap_holds_at_the_byte() {
        assert_eq!(check_size(MAX_IMAGE_BYTES), Ok(()));
        assert_eq!(check_size(MAX_IMAGE_BYTES + 1), Err(ImageError::TooLarge));
        assert_eq!(
            ImageError::TooLarge.to_string(),
            "the image is larger than 16777216 bytes"
        );
    }

    #[test]
    fn names_keep_the_requested_one_or_follow_the_type() {
        assert_eq!(stored_name(5, Some("cat.png"), "image/jpeg"), "5-cat.png");
        assert_eq!(stored_name(5, None, "image/jpeg"), "5-chatgpt.jpg");
        assert_eq!(stored_name(5, None, "image/webp"), "5-chatgpt.webp");
        assert_eq!(stored_name(5, None, "image/gif"), "5-chatgpt.gif");
        assert_eq!(stored_name(5, None, "application/x-thing"), "5-chatgpt.png");
        assert_eq!(content_type(Some("image/JPEG; q=1")), "image/jpeg");
        assert_eq!(content_type(Some(" ")), "image/png");
        assert_eq!(content_type(None), "image/png");
    }

    #[test]
    fn names_are_encoded_as_encode_uri_component_does() {
        assert_eq!(
            encode_component("a b&c=d/é?#"),
            "a%20b%26c%3Dd%2F%C3%A9%3F%23"
        );
        assert_eq!(encode_component("A-z_0.9!~*'()"), "A-z_0.9!~*'()");
        // As percent-encoding writes it with encodeURIComponent's set, for every byte.
        const COMPONENT: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
            .remove(b'-')
            .remove(b'_')
            .remove(b'.')
            .remove(b'!')
            .remove(b'~')
            .remove(b'*')
            .remove(b'\'')
            .remove(b'(')
            .remove(b')');
        let every: String = (0..=0x10ffu32)
            .filter_map(char::from_u32)
            .chain(['😀', '\u{10ffff}'])
            .collect();
        for text in [every.as_str(), "a b&c=d/é?#", ""] {
            let crate_says = percent_encoding::utf8_percent_encode(text, COMPONENT).to_string();
            assert_eq!(encode_component(text), crate_says);
        }
    }

    #[test]
    fn the_local_answer_must_be_the_bytes_sent() {
        let sha = "ab".repeat(32);
        let ok = format!(r#"{{"path":"/srv/x.png","size":3,"sha256":"{sha}","id":"i1"}}"#);
        assert_eq!(
            local_stored(201, &ok, &image()).unwrap(),
            json!({"path": "/srv/x.png", "size": 3, "sha256": sha, "imageId": "i1"})
        );
        let refused = local_stored(400, r#"{"error":"bad name"}"#, &image()).unwrap_err();
        assert_eq!(
            refused.to_string(),
            "the local server did not store the image: bad name"
        );
        let opaque = local_stored(502, "<html>", &image()).unwrap_err();
        assert_eq!(opaque, ImageError::Local("HTTP 502".into()));
        let other = format!(r#"{{"path":"p","size":4,"sha256":"{sha}"}}"#);
        assert!(matches!(
            local_stored(200, &other, &image()),
            Err(ImageError::Local(m)) if m.contains("4 bytes")
        ));
        assert!(local_stored(200, "{}", &image()).is_err());
    }

    #[test]
    fn an_upload_url_drops_the_headers_fetch_sets_itself() {
        let frame = json!({"type": "uploadUrl", "replyTo": "c3", "payload": {
            "imageId": "img1", "putUrl": "https://s3/put", "getUrl": "https://s3/get",
            "expiresInSecs": 300, "headers": {"Content-Length": "3", "content-type": "image/png",
            "x-amz-checksum-sha256": "q", "Host": "s3"}}});
        let target = upload_target(&frame).unwrap();
        assert_eq!(
            target.headers,
            vec![
                ("content-type".to_owned(), "image/png".to_owned()),
                ("x-amz-checksum-sha256".to_owned(), "q".to_owned())
            ]
        );
        assert_eq!(
            cloud_stored(&target, &image()),
            json!({"size": 3, "sha256": "ab".repeat(32), "imageId": "img1", "url": "https://s3/get"})
        );
        let pong = upload_target(&json!({"type": "pong", "payload": {}})).unwrap_err();
        assert_eq!(
            pong.to_string(),
            "the service gave no upload URL: it answered pong"
        );
        let broken = upload_target(&json!({"type": "uploadUrl", "payload": {"putUrl": 1}}));
        assert!(matches!(broken, Err(ImageError::NoUploadUrl(m)) if m.contains("no putUrl")));
        let mut odd = frame.clone();
        odd["payload"]["headers"]["x-n"] = json!(5);
        assert!(
            matches!(upload_target(&odd), Err(ImageError::NoUploadUrl(m)) if m.contains("x-n"))
        );
    }

    #[test]
    fn the_reply_names_the_event_and_carries_the_request_id() {
        let request = ImageRequest::from_event(&json!({"id": "e1"})).unwrap();
        let done = reply(&request, &Ok(json!({"size": 3})));
        assert_eq!(
            done.payload,
            json!({"to": "e1", "event": "imageDownloaded", "data": {"size": 3, "requestId": "e1"}})
        );
        assert_eq!(
            done.outcome,
            json!({"event": "imageDownloaded", "size": 3, "requestId": "e1"})
        );
        let failed = reply(
            &request,
            &Err(ImageError::Page("no ChatGPT tab is open".into())),
        );
        assert_eq!(
            failed.payload,
            json!({"to": "e1", "event": "imageDownloadFailed",
                "data": {"reason": "no ChatGPT tab is open", "requestId": "e1"}})
        );
    }
}
