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

fn classify(e: &reqwest::Error) -> ProbeError {
    if e.is_connect() {
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
