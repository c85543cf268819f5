//! Graceful shutdown: open sockets get Close 1001, the listener stops, `serve` returns.

mod common;

use common::{round_trip, TestServer, WAIT};
use futures_util::StreamExt;
use semantest_server::Config;
use tokio_tungstenite::tungstenite::Message;

#[tokio::test]
async fn shutdown_closes_every_socket_with_1001_and_serve_returns() {
    let server = TestServer::start(Config::default()).await;
    let addr = server.addr;
    let mut clients = vec![server.connect().await, server.connect().await];
    for client in &mut clients {
        round_trip(client, r#"{"action":"ping","id":"p","payload":{"t":1}}"#).await;
    }
    let readers: Vec<_> = clients
        .into_iter()
        .map(|mut client| {
            tokio::spawn(async move {
                let mut close = None;
                // Reading on answers the server's Close, completing the handshake.
                while let Some(Ok(message)) = tokio::time::timeout(WAIT, client.next())
                    .await
                    .expect("in time")
                {
                    if let Message::Close(frame) = message {
                        close = frame;
                    }
                }
                close
            })
        })
        .collect();

    server.stop().await.expect("serve returns Ok");

    for reader in readers {
        let close = reader.await.unwrap().expect("a Close frame");
        assert_eq!(u16::from(close.code), 1001);
        assert_eq!(close.reason.as_str(), "server shutting down");
    }
    assert!(
        tokio_tungstenite::connect_async(format!("ws://{addr}/"))
            .await
            .is_err(),
        "the listener is closed once serve has returned"
    );
}

#[tokio::test]
async fn shutdown_with_no_connection_returns_at_once() {
    let server = TestServer::start(Config::default()).await;
    server.stop().await.expect("serve returns Ok");
}

#[tokio::test]
async fn an_invalid_config_is_refused_before_serving() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let config = Config {
        allowed_origins: vec!["*".into()],
        ..Config::default()
    };
    let err = semantest_server::serve(listener, config, std::future::pending())
        .await
        .unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::InvalidInput);
    assert!(err.to_string().contains("wildcard"), "{err}");
}
