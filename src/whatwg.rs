//! A URL as the browser reads it (WHATWG): its scheme, its host and whether it has user info.
//! Natively the `url` crate parses (it implements WHATWG); in the browser the browser's own
//! `URL` does, so the rule for where a key may go reads a URL exactly as the WebSocket that
//! carries the key will.

use std::net::IpAddr;

/// The parts of a URL the settings' rules look at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Parsed {
    /// Lowercase, without the `:`.
    pub(crate) scheme: String,
    /// The host, lowercase; empty when there is none.
    pub(crate) host: String,
    /// The host as an IP address, when it is one (WHATWG reads `0x7f.1` as 127.0.0.1).
    pub(crate) ip: Option<IpAddr>,
    /// `user@` or `user:pass@` before the host.
    pub(crate) user_info: bool,
}

/// Parses `text`, or says why not.
#[cfg(not(target_arch = "wasm32"))]
pub(crate) fn parse(text: &str) -> Result<Parsed, String> {
    let url = url::Url::parse(text).map_err(|e| match e {
        url::ParseError::EmptyHost => "no host".to_owned(),
        e => e.to_string(),
    })?;
    let ip = match url.host() {
        Some(url::Host::Ipv4(ip)) => Some(IpAddr::V4(ip)),
        Some(url::Host::Ipv6(ip)) => Some(IpAddr::V6(ip)),
        _ => None,
    };
    Ok(Parsed {
        scheme: url.scheme().to_owned(),
        host: url.host_str().unwrap_or_default().to_owned(),
        ip,
        user_info: !url.username().is_empty() || url.password().is_some(),
    })
}

/// Parses `text`, or says why not.
#[cfg(target_arch = "wasm32")]
pub(crate) fn parse(text: &str) -> Result<Parsed, String> {
    let url = web_sys::Url::new(text).map_err(|_| "not a URL the browser can read".to_owned())?;
    let host = url.hostname();
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    if host.is_empty() {
        return Err("no host".to_owned());
    }
    Ok(Parsed {
        scheme: url.protocol().trim_end_matches(':').to_owned(),
        ip: bare.parse().ok(),
        host,
        user_info: !url.username().is_empty() || !url.password().is_empty(),
    })
}
