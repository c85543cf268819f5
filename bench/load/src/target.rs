//! [`Target`]: the server a run talks to, from its URL — resolved once, and on loopback only.

use std::net::SocketAddr;

use tokio_tungstenite::tungstenite::http::Uri;

use crate::error::LoadError;

/// Where the connections go.
#[derive(Debug, Clone)]
pub struct Target {
    /// The URL as given (`ws://127.0.0.1:3003/`, `tcp://127.0.0.1:9000`, `http://…`).
    pub url: String,
    /// The address it resolved to (a loopback one).
    pub addr: SocketAddr,
}

impl Target {
    /// Reads `url` (`ws://`, `http://`, `tcp://` or a bare `host:port`) and resolves its host;
    /// refused unless every address it resolves to is loopback.
    pub async fn resolve(url: &str) -> Result<Self, LoadError> {
        let (host, port) = host_port(url)?;
        let addrs: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), port))
            .await
            .map_err(|e| bad(url, &format!("cannot resolve '{host}': {e}")))?
            .collect();
        if addrs.is_empty() || addrs.iter().any(|a| !a.ip().is_loopback()) {
            return Err(LoadError::NotLoopback(host));
        }
        // Prefer IPv4: that is where a server started with the defaults listens.
        let addr = addrs
            .iter()
            .find(|a| a.is_ipv4())
            .unwrap_or(&addrs[0])
            .to_owned();
        Ok(Target {
            url: url.to_owned(),
            addr,
        })
    }
}

/// The host and port of `url`; the port defaults to 80 for `ws` and `http`.
fn host_port(url: &str) -> Result<(String, u16), LoadError> {
    let uri: Uri = url.parse().map_err(|e| bad(url, &format!("{e}")))?;
    match uri.scheme_str() {
        None | Some("ws" | "http" | "tcp") => {}
        Some(other) => {
            return Err(bad(
                url,
                &format!("scheme '{other}' (use ws://, http:// or tcp://; no TLS on loopback)"),
            ))
        }
    }
    let host = uri
        .host()
        .ok_or_else(|| bad(url, "no host"))?
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_owned();
    let port = match (uri.port_u16(), uri.scheme_str()) {
        (Some(port), _) => port,
        (None, Some("ws" | "http")) => 80,
        (None, _) => return Err(bad(url, "no port")),
    };
    Ok((host, port))
}

fn bad(url: &str, reason: &str) -> LoadError {
    LoadError::BadUrl {
        url: url.to_owned(),
        reason: reason.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_give_their_host_and_port() {
        let cases = [
            ("ws://127.0.0.1:3003/", "127.0.0.1", 3003),
            ("ws://localhost/", "localhost", 80),
            ("http://[::1]:8080", "::1", 8080),
            ("tcp://127.0.0.1:9000", "127.0.0.1", 9000),
            ("127.0.0.1:9000", "127.0.0.1", 9000),
        ];
        for (url, host, port) in cases {
            assert_eq!(host_port(url).unwrap(), (host.to_owned(), port), "{url}");
        }
        for url in [
            "wss://127.0.0.1:1/",
            "https://localhost/",
            "tcp://127.0.0.1",
            "::",
        ] {
            assert!(host_port(url).is_err(), "{url}");
        }
    }

    #[tokio::test]
    async fn only_loopback_is_accepted() {
        let t = Target::resolve("ws://127.0.0.1:3003/").await.unwrap();
        assert_eq!(t.addr, "127.0.0.1:3003".parse().unwrap());
        for url in [
            "ws://10.0.0.1:3003/",
            "http://192.0.2.1:80",
            "tcp://[2001:db8::1]:1",
        ] {
            let err = Target::resolve(url).await.unwrap_err();
            assert!(matches!(err, LoadError::NotLoopback(_)), "{url}: {err}");
        }
    }
}
