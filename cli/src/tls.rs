//! TLS for the CLI's HTTP (the signature probe, the image fetch): rustls with the ring
//! provider, TLS 1.2 and 1.3, trusting the Mozilla roots of `webpki-roots`, the same roots the
//! sockets trust (tokio-tungstenite's `rustls-tls-webpki-roots`). The system's certificate
//! store is not read.
//!
//! reqwest gets the whole rustls config ([`reqwest::ClientBuilder::tls_backend_preconfigured`]),
//! so it never looks for a process-wide crypto provider.

use std::sync::Arc;

use rustls::{ClientConfig, RootCertStore};

/// The roots production trusts: the Mozilla set of `webpki-roots`.
pub fn webpki_roots() -> RootCertStore {
    RootCertStore {
        roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
    }
}

/// A reqwest client builder that speaks TLS trusting `roots` (and nothing else).
pub fn client(roots: RootCertStore) -> reqwest::ClientBuilder {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("the ring provider supports the default TLS versions")
        .with_root_certificates(roots)
        .with_no_client_auth();
    // reqwest is built without HTTP/2.
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    reqwest::Client::builder().tls_backend_preconfigured(config)
}

#[cfg(test)]
pub(crate) mod test_server {
    use std::sync::Arc;

    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpListener;
    use tokio_rustls::rustls;
    use url::Url;

    /// An HTTPS server on `localhost` with a fresh self-signed certificate that answers every
    /// request with `head` and then `body` and closes. Its URL (path `/x.png`), and roots that
    /// trust it.
    pub(crate) async fn https(head: &'static str, body: Vec<u8>) -> (Url, rustls::RootCertStore) {
        let cert = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
        let der = cert.cert.der().clone();
        let key =
            rustls::pki_types::PrivateKeyDer::try_from(cert.signing_key.serialize_der()).unwrap();
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(vec![der.clone()], key)
            .unwrap();
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let url = Url::parse(&format!("https://localhost:{port}/x.png")).unwrap();
        tokio::spawn(async move {
            loop {
                let Ok((tcp, _)) = listener.accept().await else {
                    return;
                };
                let (acceptor, body) = (acceptor.clone(), body.clone());
                tokio::spawn(async move {
                    let Ok(mut tls) = acceptor.accept(tcp).await else {
                        return;
                    };
                    let mut request = [0; 4096];
                    let _ = tls.read(&mut request).await;
                    let _ = tls.write_all(head.as_bytes()).await;
                    let _ = tls.write_all(&body).await;
                    let _ = tls.shutdown().await;
                });
            }
        });
        let mut roots = rustls::RootCertStore::empty();
        roots.add(der).unwrap();
        (url, roots)
    }
}
