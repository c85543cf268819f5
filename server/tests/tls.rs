//! TLS termination: a real `wss://` handshake with TLS 1.3, and what happens to a client that
//! offers only TLS 1.2 or speaks plain HTTP to the TLS port (refused; others go on).

mod common;

use std::sync::Arc;

use common::{TestServer, WAIT};
use futures_util::{SinkExt, StreamExt};
use semantest_protocol::{ServerFrame, ServerMessage};
use semantest_server::{Config, Environment};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_rustls::rustls::pki_types::ServerName;
use tokio_rustls::rustls::{self, ClientConfig, RootCertStore};
use tokio_rustls::TlsConnector;
use tokio_tungstenite::tungstenite::Message;

const KEY: &str = "tls-test-key-0123456789abcdef";

/// A server with a fresh self-signed certificate for `localhost`; the certificate to trust.
async fn tls_server(
    dir: &std::path::Path,
) -> (TestServer, rustls::pki_types::CertificateDer<'static>) {
    let cert = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
    let (cert_path, key_path) = (dir.join("cert.pem"), dir.join("key.pem"));
    std::fs::write(&cert_path, cert.cert.pem()).unwrap();
    std::fs::write(&key_path, cert.signing_key.serialize_pem()).unwrap();
    let server = TestServer::start(Config {
        environment: Environment::Production,
        api_keys: vec![KEY.parse().unwrap()],
        tls_cert: Some(cert_path),
        tls_key: Some(key_path),
        ..Config::default()
    })
    .await;
    (server, cert.cert.der().clone())
}

fn connector(
    trusted: &rustls::pki_types::CertificateDer<'static>,
    versions: &[&'static rustls::SupportedProtocolVersion],
) -> TlsConnector {
    let mut roots = RootCertStore::empty();
    roots.add(trusted.clone()).unwrap();
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(versions)
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    TlsConnector::from(Arc::new(config))
}

#[tokio::test]
async fn wss_works_over_tls_1_3_and_tls_1_2_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let (server, cert) = tls_server(dir.path()).await;
    let name = ServerName::try_from("localhost").unwrap();

    // TLS 1.2 only: the handshake fails; nothing is served.
    let tcp = TcpStream::connect(server.addr).await.unwrap();
    let old = connector(&cert, &[&rustls::version::TLS12]);
    let refused = tokio::time::timeout(WAIT, old.connect(name.clone(), tcp))
        .await
        .expect("handshake ends in time");
    let error = refused.expect_err("TLS 1.2 must be refused").to_string();
    assert!(
        error.contains("ProtocolVersion") || error.to_lowercase().contains("protocol version"),
        "{error}"
    );

    // Plain HTTP to the TLS port: no answer that a browser could read as HTTP.
    let mut plain = TcpStream::connect(server.addr).await.unwrap();
    plain
        .write_all(b"GET /health HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut out = Vec::new();
    let _ = tokio::time::timeout(WAIT, plain.read_to_end(&mut out))
        .await
        .expect("closed in time");
    assert!(!out.starts_with(b"HTTP/1.1 200"), "{out:?}");

    // TLS 1.3: the WebSocket works, with the key in the hello.
    let tcp = TcpStream::connect(server.addr).await.unwrap();
    let tls = connector(&cert, &[&rustls::version::TLS13])
        .connect(name, tcp)
        .await
        .expect("TLS 1.3 handshake");
    assert_eq!(
        tls.get_ref().1.protocol_version(),
        Some(rustls::ProtocolVersion::TLSv1_3)
    );
    assert_eq!(
        tls.get_ref().1.alpn_protocol(),
        None,
        "the client offered no ALPN"
    );
    let (mut ws, response) = tokio_tungstenite::client_async("wss://localhost/", tls)
        .await
        .expect("websocket over TLS");
    assert_eq!(response.status(), 101);
    let hello = format!(
        r#"{{"action":"hello","id":"h1","payload":{{"role":"client","clientId":"t","version":"1","token":"{KEY}"}}}}"#
    );
    ws.send(Message::text(hello)).await.unwrap();
    let welcome = tokio::time::timeout(WAIT, ws.next())
        .await
        .expect("welcome in time")
        .expect("a message")
        .expect("no error");
    let welcome = ServerFrame::parse(welcome.to_text().unwrap()).unwrap();
    assert!(
        matches!(welcome.message, ServerMessage::Welcome(_)),
        "{welcome:?}"
    );
}

#[tokio::test]
async fn a_missing_or_broken_certificate_is_a_clear_startup_error() {
    let dir = tempfile::tempdir().unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let config = Config {
        tls_cert: Some(dir.path().join("missing.pem")),
        tls_key: Some(dir.path().join("missing-key.pem")),
        ..Config::default()
    };
    let error = semantest_server::serve(listener, config, async {})
        .await
        .expect_err("no certificate, no server");
    assert_eq!(error.kind(), std::io::ErrorKind::InvalidInput);
    assert!(
        error.to_string().contains("cannot read a certificate from"),
        "{error}"
    );
    assert!(error.to_string().contains("missing.pem"), "{error}");

    std::fs::write(dir.path().join("cert.pem"), "not a certificate").unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let config = Config {
        tls_cert: Some(dir.path().join("cert.pem")),
        tls_key: Some(dir.path().join("cert.pem")),
        ..Config::default()
    };
    let error = semantest_server::serve(listener, config, async {})
        .await
        .expect_err("garbage is no certificate");
    assert!(
        error.to_string().contains("no CERTIFICATE block"),
        "{error}"
    );
}
