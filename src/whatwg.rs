//! A URL as the browser reads it (WHATWG): its scheme, its host and whether it has user info.
//! Natively the `url` crate parses (it implements WHATWG); in the browser the browser's own
//! `URL` does, so the rule for where a key may go reads a URL exactly as the WebSocket that
//! carries the key will.

/// The parts of a URL the settings' rules look at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Parsed {
    /// Lowercase, without the `:`.
    pub(crate) scheme: String,
    /// The host, lowercase; empty when there is none.
    pub(crate) host: String,
    /// The host is a loopback IP address: 127.0.0.0/8 or `::1` (WHATWG reads `0x7f.1` as
    /// 127.0.0.1).
    pub(crate) loopback_ip: bool,
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
    let loopback_ip = match url.host() {
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        _ => false,
    };
    Ok(Parsed {
        scheme: url.scheme().to_owned(),
        host: url.host_str().unwrap_or_default().to_owned(),
        loopback_ip,
        user_info: !url.username().is_empty() || url.password().is_some(),
    })
}

/// Parses `text`, or says why not.
#[cfg(target_arch = "wasm32")]
pub(crate) fn parse(text: &str) -> Result<Parsed, String> {
    let url = web_sys::Url::new(text).map_err(|_| "not a URL the browser can read".to_owned())?;
    let host = url.hostname();
    if host.is_empty() {
        return Err("no host".to_owned());
    }
    Ok(Parsed {
        scheme: url.protocol().trim_end_matches(':').to_owned(),
        loopback_ip: loopback_ip(&host),
        host,
        user_info: !url.username().is_empty() || !url.password().is_empty(),
    })
}

/// Whether `host`, as the browser's `URL` serializes it, is a loopback IP address. The browser
/// writes an IPv4 host as four decimal numbers (`0x7f.1` becomes `127.0.0.1`; a host ending
/// in a number that is not an IPv4 address is no URL at all) and an IPv6 host in its shortest
/// form in brackets (`[::1]`), so the text tells; no IP parser needed (core's is 2 KB of the
/// .wasm).
#[cfg(any(target_arch = "wasm32", test))]
fn loopback_ip(host: &str) -> bool {
    let v4 = host.split('.').count() == 4 && host.bytes().all(|b| b.is_ascii_digit() || b == b'.');
    (v4 && host.starts_with("127.")) || host == "[::1]"
}

#[cfg(all(test, not(target_arch = "wasm32")))]
mod tests {
    use super::*;

    #[test]
    fn loopback_ip_reads_the_browser_s_host_as_std_does() {
        // Hosts as the WHATWG serializer writes them (here the url crate, which implements it).
        for text in [
            "ws://127.0.0.1:3003",
            "ws://127.1.2.3",
            "ws://0x7f.1",
            "ws://2130706433",
            "ws://[::1]:3003",
            "ws://[0:0:0:0:0:0:0:1]",
            "ws://[::ffff:127.0.0.1]",
            "ws://[::2]",
            "ws://128.0.0.1",
            "ws://10.0.0.1",
            "ws://localhost",
            "ws://127.example.com",
            "ws://[fe80::1]",
            "ws://0.0.0.0",
        ] {
            let url = url::Url::parse(text).unwrap();
            let host = url.host_str().unwrap();
            assert_eq!(
                loopback_ip(host),
                parse(text).unwrap().loopback_ip,
                "{text} ({host})"
            );
        }
    }
}
