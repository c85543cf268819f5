//! Image upload and download: the stored bytes, the checks, and that a bad upload leaves
//! nothing behind — never a file outside the images folder.

mod common;

use std::path::Path;

use axum::body::Body;
use axum::http::{header, Request, StatusCode};
use common::TestServer;
use http_body_util::BodyExt;
use semantest_server::images::Stored;
use semantest_server::{app, AppState, Config};
use sha2::{Digest, Sha256};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tower::ServiceExt;

fn config(dir: &Path, max: usize) -> Config {
    Config {
        images_dir: dir.join("images"),
        max_image_bytes: max,
        ..Config::default()
    }
}

fn sha(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

async fn call(state: &AppState, method: &str, uri: &str, body: Vec<u8>) -> (StatusCode, Vec<u8>) {
    let request = Request::builder()
        .method(method)
        .uri(uri)
        .header(header::HOST, "localhost:3003")
        .body(Body::from(body))
        .unwrap();
    let response = app(state.clone()).oneshot(request).await.unwrap();
    let status = response.status();
    (
        status,
        response
            .into_body()
            .collect()
            .await
            .unwrap()
            .to_bytes()
            .to_vec(),
    )
}

/// Every file under `dir`, recursively, relative names.
fn files(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    if let Ok(entries) = std::fs::read_dir(dir) {
        for e in entries.flatten() {
            let p = e.path();
            if p.is_dir() {
                out.extend(
                    files(&p)
                        .into_iter()
                        .map(|f| format!("{}/{f}", e.file_name().to_string_lossy())),
                );
            } else {
                out.push(e.file_name().to_string_lossy().into_owned());
            }
        }
    }
    out.sort();
    out
}

#[tokio::test]
async fn an_upload_is_stored_checked_and_served_back() {
    let tmp = tempfile::tempdir().unwrap();
    let state = AppState::new(config(tmp.path(), 1024 * 1024));
    let bytes: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
    let uri = format!("/images?name=cat.png&sha256={}", sha(&bytes));
    let (status, body) = call(&state, "POST", &uri, bytes.clone()).await;
    assert_eq!(
        status,
        StatusCode::CREATED,
        "{}",
        String::from_utf8_lossy(&body)
    );
    let stored: Stored = serde_json::from_slice(&body).unwrap();
    assert_eq!(stored.size, 200_000);
    assert_eq!(stored.sha256, sha(&bytes));
    assert!(stored.path.ends_with("images/cat.png"), "{}", stored.path);
    assert_eq!(std::fs::read(&stored.path).unwrap(), bytes);
    assert_eq!(
        files(tmp.path()),
        ["images/cat.png"],
        "no temporary file left"
    );

    let (status, served) = call(&state, "GET", &format!("/images/{}", stored.id), vec![]).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(served, bytes);
    let (status, _) = call(&state, "GET", "/images/nope", vec![]).await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // The same name again is a conflict, not an overwrite.
    let (status, _) = call(&state, "POST", "/images?name=cat.png", b"other".to_vec()).await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert_eq!(std::fs::read(&stored.path).unwrap(), bytes);
}

#[tokio::test]
async fn bad_uploads_are_refused_and_leave_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let state = AppState::new(config(tmp.path(), 1000));
    for name in [
        "../evil.png",
        "..%2Fevil.png",
        "a%2Fb.png",
        ".hidden",
        "x%5Cy.png",
    ] {
        let (status, body) = call(
            &state,
            "POST",
            &format!("/images?name={name}"),
            b"x".to_vec(),
        )
        .await;
        assert_eq!(
            status,
            StatusCode::BAD_REQUEST,
            "{name}: {}",
            String::from_utf8_lossy(&body)
        );
        assert!(String::from_utf8_lossy(&body).contains("invalid file name"));
    }
    let (status, _) = call(&state, "POST", "/images?name=big.png", vec![0; 1001]).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    let (status, body) = call(
        &state,
        "POST",
        &format!("/images?name=x.png&sha256={}", sha(b"y")),
        b"x".to_vec(),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(String::from_utf8_lossy(&body).contains("sha256 mismatch"));
    assert!(files(tmp.path()).is_empty(), "{:?}", files(tmp.path()));
    assert!(!tmp.path().join("evil.png").exists());
}

#[tokio::test]
async fn a_truncated_upload_leaves_nothing_and_the_server_goes_on() {
    let tmp = tempfile::tempdir().unwrap();
    let server = TestServer::start(config(tmp.path(), 1024 * 1024)).await;
    let mut tcp = tokio::net::TcpStream::connect(server.addr).await.unwrap();
    let head = format!(
        "POST /images?name=part.png HTTP/1.1\r\nHost: 127.0.0.1:{}\r\nContent-Length: 100000\r\n\r\n",
        server.addr.port()
    );
    tcp.write_all(head.as_bytes()).await.unwrap();
    tcp.write_all(&[7; 5000]).await.unwrap();
    tcp.shutdown().await.unwrap();
    let mut answer = Vec::new();
    let _ = tokio::time::timeout(common::WAIT, tcp.read_to_end(&mut answer)).await;
    let answer = String::from_utf8_lossy(&answer);
    assert!(
        answer.starts_with("HTTP/1.1 400"),
        "the handler saw the truncation: {answer}"
    );
    assert!(answer.contains("the upload ended early"), "{answer}");
    // The server saw the body end early: nothing is kept (allow the handler a moment to clean up).
    for _ in 0..100 {
        if files(tmp.path()).iter().all(|f| !f.contains("part")) {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert!(
        files(tmp.path()).iter().all(|f| !f.contains("part")),
        "{:?}",
        files(tmp.path())
    );
    // And it still serves.
    let mut client = server.connect().await;
    let frame = common::round_trip(
        &mut client,
        r#"{"action":"ping","id":"p","payload":{"t":1}}"#,
    )
    .await;
    assert_eq!(frame.reply_to.as_deref(), Some("p"));
}
