//! The image answer's effects in the browser, in the order [`crate::image`] decides them: ask
//! the page for the image (the one thing only the extension can do: its `takeImage` callback),
//! fetch it with the user's cookies, cap it, hash it with WebCrypto, upload it to the server
//! whose socket is ready now, and reply to the requester through the core (tracked like any
//! request). The bytes stay a JavaScript `ArrayBuffer`: they never enter the module's memory,
//! which would grow by the image's size and never shrink.

use js_sys::{Function, Promise, Reflect, Uint8Array};
use serde_json::Value;
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;
use web_sys::{Headers, RequestCredentials, RequestInit, Response};

use super::api::request;
use super::driver::{from_js, js_error, to_js, Shared};
use super::fetch::fetch;
use super::within::within;
use crate::image::{self, Destination, Image, ImageError, ImageRequest};

/// Answers the `imageDownloadRequested` event with this payload, and resolves with the outcome
/// (`{event, requestId, …}`, and `replyError` if the reply could not be delivered).
pub(crate) async fn answer(
    shared: Shared,
    event: JsValue,
    take_image: Function,
) -> Result<JsValue, JsValue> {
    let payload = from_js(&event).map_err(|e| js_error("bad_payload", &e))?;
    let Some(asked) = ImageRequest::from_event(&payload) else {
        return Err(js_error(
            "bad_payload",
            "not an image request: the event has no id",
        ));
    };
    let result = deliver(&shared, &asked, &take_image).await;
    let reply = image::reply(&asked, &result);
    let mut outcome = reply.outcome;
    let sent = JsFuture::from(request(&shared, "reply", reply.payload, None)).await;
    if let (Err(e), Some(fields)) = (sent, outcome.as_object_mut()) {
        fields.insert("replyError".to_owned(), Value::from(message(&e)));
    }
    Ok(to_js(&outcome))
}

/// The image, taken, fetched and stored: the data of `imageDownloaded`.
async fn deliver(
    shared: &Shared,
    asked: &ImageRequest,
    take_image: &Function,
) -> Result<Value, ImageError> {
    image::must_be_connected(shared.borrow().status.mode)?;
    let src = take(take_image, asked).await?;
    store(shared, &src, asked.filename.as_deref()).await
}

/// The image at `src` (a page's image URL), fetched with the user's cookies, capped, hashed
/// and stored on the server whose socket is ready now: the data of `imageDownloaded`. All of
/// it within [`image::STORE_LIMIT_MS`]: a fetch or an upload that hangs must not keep the
/// request (and, for a generation, its tab and the queue) waiting for good.
pub(crate) async fn store(
    shared: &Shared,
    src: &str,
    filename: Option<&str>,
) -> Result<Value, ImageError> {
    let (shared, src, filename) = (shared.clone(), src.to_owned(), filename.map(str::to_owned));
    let work = async move { store_unbounded(&shared, &src, filename.as_deref()).await };
    within(image::STORE_LIMIT_MS, work)
        .await
        .unwrap_or(Err(ImageError::TookTooLong))
}

/// [`store`] without its time limit.
async fn store_unbounded(
    shared: &Shared,
    src: &str,
    filename: Option<&str>,
) -> Result<Value, ImageError> {
    let get = RequestInit::new();
    get.set_credentials(RequestCredentials::Include); // the user's ChatGPT cookies, if it needs them
    let source = fetch(src, &get)
        .await
        .map_err(|e| ImageError::Fetch(message(&e)))?;
    if !source.ok() {
        return Err(ImageError::FetchStatus(source.status()));
    }
    let header = |name: &str| source.headers().get(name).ok().flatten();
    if let Some(declared) = header("content-length").and_then(|l| l.parse().ok()) {
        image::check_size(declared)?;
    }
    let content_type = image::content_type(header("content-type").as_deref());
    let bytes = body(&source)
        .await
        .map_err(|e| ImageError::Fetch(message(&e)))?;
    image::check_size(u64::from(bytes.length()))?;
    let sha256 = sha256(&bytes)
        .await
        .map_err(|e| ImageError::Fetch(format!("SHA-256: {}", message(&e))))?;
    let image = Image {
        name: image::stored_name(js_sys::Date::now() as u64, filename, &content_type),
        content_type,
        size: u64::from(bytes.length()),
        sha256,
    };
    // Judged now, not when the request came: the socket that is ready at upload time.
    let (mode, local_url) = {
        let d = shared.borrow();
        (d.status.mode, d.machine.settings().local_url.clone())
    };
    match image::destination(mode, &local_url, &image)? {
        Destination::Local { post_url } => upload_local(&post_url, None, &bytes, &image).await,
        Destination::Cloud { request_upload } => {
            upload_cloud(shared, request_upload, &bytes, &image).await
        }
    }
}

/// Asks the page (the extension's callback) for the image's URL.
async fn take(take_image: &Function, asked: &ImageRequest) -> Result<String, ImageError> {
    let page = |e: &JsValue| ImageError::Page(message(e));
    let called = take_image
        .call1(&JsValue::NULL, &to_js(&asked.for_page()))
        .map_err(|e| page(&e))?;
    let src = JsFuture::from(Promise::resolve(&called))
        .await
        .map_err(|e| page(&e))?;
    src.as_string()
        .filter(|s| !s.is_empty())
        .ok_or_else(|| ImageError::Page("the ChatGPT tab named no image".to_owned()))
}

/// `POST /images` of a local server, or of a self-hosted production one (shown `authorization`).
async fn upload_local(
    post_url: &str,
    authorization: Option<&str>,
    bytes: &Uint8Array,
    image: &Image,
) -> Result<Value, ImageError> {
    let local = |e: JsValue| ImageError::Local(message(&e));
    let mut headers = vec![("content-type", image.content_type.as_str())];
    if let Some(authorization) = authorization {
        headers.push(("authorization", authorization));
    }
    let response = send("POST", post_url, &headers, bytes)
        .await
        .map_err(local)?;
    let answer = match response.text() {
        Ok(text) => JsFuture::from(text).await.ok().and_then(|t| t.as_string()),
        Err(_) => None,
    };
    image::local_stored(response.status(), &answer.unwrap_or_default(), image)
}

async fn upload_cloud(
    shared: &Shared,
    request_upload: Value,
    bytes: &Uint8Array,
    image: &Image,
) -> Result<Value, ImageError> {
    let asked = JsFuture::from(request(
        shared,
        "requestUpload",
        request_upload,
        Some(image::IMAGE_WAIT_MS),
    ))
    .await;
    let answer = match asked {
        Ok(answer) => answer,
        // A self-hosted production server: no presigned storage, its own POST /images.
        Err(e)
            if Reflect::get(&e, &"code".into())
                .ok()
                .and_then(|c| c.as_string())
                .as_deref()
                == Some("unknown_action") =>
        {
            let (remote, token) = {
                let d = shared.borrow();
                let settings = d.machine.settings();
                let token = settings
                    .token
                    .as_ref()
                    .map(|t| format!("Bearer {}", t.expose()));
                (settings.effective_remote_url().to_owned(), token)
            };
            let Some(post_url) = image::self_hosted_post(&remote, image) else {
                return Err(ImageError::NoUploadUrl(message(&e)));
            };
            return upload_local(&post_url, token.as_deref(), bytes, image).await;
        }
        Err(e) => return Err(ImageError::NoUploadUrl(message(&e))),
    };
    let frame = from_js(&answer).map_err(ImageError::NoUploadUrl)?;
    let target = image::upload_target(&frame)?;
    let headers: Vec<(&str, &str)> = target
        .headers
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let response = send("PUT", &target.put_url, &headers, bytes)
        .await
        .map_err(|e| ImageError::Cloud(message(&e)))?;
    if !response.ok() {
        return Err(ImageError::Cloud(format!("HTTP {}", response.status())));
    }
    Ok(image::cloud_stored(&target, image))
}

/// `method` the bytes to `url` with these headers.
async fn send(
    method: &str,
    url: &str,
    headers: &[(&str, &str)],
    bytes: &Uint8Array,
) -> Result<Response, JsValue> {
    let init = RequestInit::new();
    init.set_method(method);
    let all = Headers::new()?;
    for (name, value) in headers {
        all.append(name, value)?;
    }
    init.set_headers(&all);
    init.set_body(bytes);
    fetch(url, &init).await
}

/// The whole body, as bytes that stay in JavaScript.
async fn body(response: &Response) -> Result<Uint8Array, JsValue> {
    let buffer = JsFuture::from(response.array_buffer()?).await?;
    Ok(Uint8Array::new(&buffer))
}

/// `crypto.subtle.digest("SHA-256", bytes)` as lowercase hex.
async fn sha256(bytes: &Uint8Array) -> Result<String, JsValue> {
    let subtle = Reflect::get(
        &Reflect::get(&js_sys::global(), &"crypto".into())?,
        &"subtle".into(),
    )?;
    let digest: Function = Reflect::get(&subtle, &"digest".into())?.dyn_into()?;
    let promise: Promise = digest
        .call2(&subtle, &"SHA-256".into(), bytes)?
        .dyn_into()?;
    let hash = Uint8Array::new(&JsFuture::from(promise).await?);
    Ok(hex::encode(hash.to_vec()))
}

/// A JavaScript error's message (a rejection of the core's own promises included).
pub(crate) fn message(e: &JsValue) -> String {
    e.dyn_ref::<js_sys::Error>()
        .map(|e| String::from(e.message()))
        .or_else(|| e.as_string())
        .unwrap_or_else(|| super::probe::describe(e))
}
