//! The signature probe on tokio: one `GET` with reqwest, reading at most
//! [`MAX_SIGNATURE_BYTES`] + 1 bytes. The machine owns the timeout (it aborts the task).

use semantest_connect::signature::MAX_SIGNATURE_BYTES;
use semantest_connect::ProbeError;

/// `GET url`: the status and the (capped) body, or why nothing answered.
pub(crate) async fn probe(
    client: &reqwest::Client,
    url: &str,
) -> Result<(u16, Vec<u8>), ProbeError> {
    let mut response = client.get(url).send().await.map_err(|e| classify(&e))?;
    let status = response.status().as_u16();
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(|e| classify(&e))? {
        body.extend_from_slice(&chunk);
        if body.len() > MAX_SIGNATURE_BYTES {
            body.truncate(MAX_SIGNATURE_BYTES + 1);
            break;
        }
    }
    Ok((status, body))
}

/// Whether a TLS error is somewhere in `e`'s chain. An `io::Error`'s `source` skips the
/// error it wraps (and hyper-rustls wraps one `io::Error` in another), so those are looked into.
fn tls_failed(e: &(dyn std::error::Error + 'static)) -> bool {
    e.is::<rustls::Error>()
        || e.downcast_ref::<std::io::Error>()
            .and_then(std::io::Error::get_ref)
            .is_some_and(|inner| tls_failed(inner))
        || e.source().is_some_and(tls_failed)
}

fn classify(e: &reqwest::Error) -> ProbeError {
    // A failed TLS handshake is a connect error to reqwest, but something did answer there.
    if e.is_connect() && !tls_failed(e) {
        ProbeError::Refused
    } else {
        let mut message = e.to_string();
        let mut source = std::error::Error::source(e);
        while let Some(s) = source {
            message = format!("{message}: {s}");
            source = s.source();
        }
        ProbeError::Network { message }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tls;

    const SIGNATURE: &str = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\n";

    #[tokio::test]
    async fn an_https_local_server_is_probed_over_tls() {
        let (url, roots) = tls::test_server::https(SIGNATURE, b"{}".to_vec()).await;
        let trusting = tls::client(roots).build().unwrap();
        assert_eq!(
            probe(&trusting, url.as_str()).await.unwrap(),
            (200, b"{}".to_vec())
        );
        // An untrusted certificate is not "connection refused": something answered.
        let production = tls::client(tls::webpki_roots()).build().unwrap();
        match probe(&production, url.as_str()).await {
            Err(ProbeError::Network { message }) => {
                assert!(message.contains("invalid peer certificate"), "{message}")
            }
            other => panic!("{other:?}"),
        }
    }

    #[tokio::test]
    async fn nothing_listening_is_refused() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("https://{}/signature", listener.local_addr().unwrap());
        drop(listener);
        let client = tls::client(tls::webpki_roots()).build().unwrap();
        assert_eq!(probe(&client, &url).await, Err(ProbeError::Refused));
    }
}
