//! Where `semantest request-image` fetches the image from, and how much it reads.
//!
//! The extension's reply names the image, and a reply is only as trustworthy as the peer
//! that sent it, so the command fetches only from:
//! - the connected server's own `GET /images/{imageId}` (the local server; a reply without
//!   `url`), or
//! - the reply's `url` (the public service's presigned S3 `GET`), when [`allowed`] says so:
//!   `https` (plain `http` only to a loopback host), no user name or password in it, and a
//!   host that is the connected server's host or ends with one of [`ALLOWED_HOST_SUFFIXES`].
//!   A loopback host is allowed as well when the connected server is itself on loopback
//!   (tests, and the local stand-in of the public service with moto on 127.0.0.1).
//!
//! [`Download`] bounds the fetch: [`DOWNLOAD_TIMEOUT`] for all of it, at most
//! [`MAX_IMAGE_BYTES`] read (it stops reading past the cap), no redirects (a redirect could
//! lead anywhere), and a non-2xx answer is an error. URLs are parsed as WHATWG URLs
//! (the `url` crate), never split as strings.

use std::net::IpAddr;
use std::time::Duration;

use url::Url;

/// Hosts under these suffixes may serve the image (the public service stores it in S3).
pub const ALLOWED_HOST_SUFFIXES: &[&str] = &[".amazonaws.com"];
/// The most `request-image` reads: 32 MiB.
pub const MAX_IMAGE_BYTES: usize = 32 * 1024 * 1024;
/// How long the whole download may take, from connecting to the last byte.
pub const DOWNLOAD_TIMEOUT: Duration = Duration::from_secs(60);

/// Why the image was not fetched. URLs are shown without their query (a presigned URL's
/// signature is not for the terminal) and without user info.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ImageError {
    /// The reply's `url` is not a URL.
    #[error("the extension's image URL is not a valid URL: {0}")]
    BadUrl(#[from] url::ParseError),
    /// The reply's `url` is not one the command fetches from.
    #[error("refusing to fetch the image from {url}: {why}")]
    Refused {
        /// Where (shown without query or user info).
        url: String,
        /// Which rule it breaks.
        why: &'static str,
    },
    /// The connected server's URL does not lead to its `/images`.
    #[error("cannot tell where the server's images are (its URL is '{0}')")]
    NoServer(String),
    /// The image is over the cap.
    #[error("the image is larger than {} MiB", .limit / (1024 * 1024))]
    TooLarge {
        /// The cap, in bytes.
        limit: usize,
    },
    /// The download took too long.
    #[error("fetching the image from {url} took longer than {} s", .limit.as_secs_f32())]
    Timeout {
        /// Where.
        url: String,
        /// The limit.
        limit: Duration,
    },
    /// The server did not answer 2xx.
    #[error("fetching the image from {url} failed: HTTP {status}")]
    Status {
        /// Where.
        url: String,
        /// The status it answered.
        status: u16,
    },
    /// The request failed below HTTP.
    #[error("fetching the image from {url} failed: {message}")]
    Http {
        /// Where.
        url: String,
        /// Why (without the URL).
        message: String,
    },
}

/// `url` without its query, fragment and user info, for messages.
pub fn shown(url: &Url) -> String {
    let mut url = url.clone();
    url.set_query(None);
    url.set_fragment(None);
    let _ = url.set_username("");
    let _ = url.set_password(None);
    url.to_string()
}

fn is_loopback(url: &Url) -> bool {
    match url.host() {
        Some(url::Host::Domain(d)) => d == "localhost",
        Some(url::Host::Ipv4(ip)) => IpAddr::V4(ip).is_loopback(),
        Some(url::Host::Ipv6(ip)) => IpAddr::V6(ip).is_loopback(),
        None => false,
    }
}

/// The reply's image `url`, if the command may fetch it while connected to `server` (the
/// socket's URL); see the module docs for the rule.
pub fn allowed(url: &str, server: &Url) -> Result<Url, ImageError> {
    let parsed = Url::parse(url)?;
    let refuse = |why| ImageError::Refused {
        url: shown(&parsed),
        why,
    };
    match parsed.scheme() {
        "https" => {}
        "http" if is_loopback(&parsed) => {}
        "http" => return Err(refuse("plain http is allowed only to loopback; use https")),
        _ => return Err(refuse("only https URLs are fetched")),
    }
    if !parsed.username().is_empty() || parsed.password().is_some() {
        return Err(refuse("a URL with a user name or password is not fetched"));
    }
    let host_ok = match parsed.host() {
        None => false,
        Some(host) if Some(host.clone()) == server.host() => true,
        Some(url::Host::Domain(d)) if ALLOWED_HOST_SUFFIXES.iter().any(|s| d.ends_with(s)) => true,
        Some(_) => is_loopback(&parsed) && is_loopback(server),
    };
    if !host_ok {
        return Err(refuse(
            "its host is neither the connected server's nor an allowed storage host",
        ));
    }
    Ok(parsed)
}

/// The connected server's `GET /images/{id}`: its socket URL with `http(s)` for `ws(s)`, the
/// id as one path segment (escaped, so it cannot leave `/images/`).
pub fn server_image(server: &Url, id: &str) -> Result<Url, ImageError> {
    let no_server = || ImageError::NoServer(shown(server));
    let scheme = match server.scheme() {
        "ws" | "http" => "http",
        "wss" | "https" => "https",
        _ => return Err(no_server()),
    };
    let mut url = server.clone();
    url.set_scheme(scheme).map_err(|()| no_server())?;
    url.set_query(None);
    url.set_fragment(None);
    url.path_segments_mut()
        .map_err(|()| no_server())?
        .pop_if_empty()
        .push("images")
        .push(id);
    Ok(url)
}

/// A bounded download: see the module docs.
#[derive(Debug, Clone)]
pub struct Download {
    /// For all of it, from connecting to the last byte.
    pub timeout: Duration,
    /// The most bytes it reads.
    pub max_bytes: usize,
}

impl Default for Download {
    fn default() -> Self {
        Download {
            timeout: DOWNLOAD_TIMEOUT,
            max_bytes: MAX_IMAGE_BYTES,
        }
    }
}

impl Download {
    /// A client that follows no redirects and trusts the webpki roots ([`crate::tls`]).
    pub fn client() -> reqwest::Client {
        Download::client_trusting(crate::tls::webpki_roots())
    }

    /// [`Download::client`] trusting `roots` instead (a test's self-signed certificate).
    pub fn client_trusting(roots: rustls::RootCertStore) -> reqwest::Client {
        crate::tls::client(roots)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("a client with a built rustls config and no redirects builds")
    }

    /// Sends `request` (for `url`) and reads the body, within the limits.
    pub async fn fetch(
        &self,
        request: reqwest::RequestBuilder,
        url: &Url,
    ) -> Result<Vec<u8>, ImageError> {
        let at = shown(url);
        let http = |e: reqwest::Error| {
            let e = e.without_url();
            let mut message = e.to_string();
            let mut source = std::error::Error::source(&e);
            while let Some(s) = source {
                message = format!("{message}: {s}");
                source = s.source();
            }
            ImageError::Http {
                url: at.clone(),
                message,
            }
        };
        let work = async {
            let mut response = request.send().await.map_err(&http)?;
            let status = response.status();
            if !status.is_success() {
                return Err(ImageError::Status {
                    url: at.clone(),
                    status: status.as_u16(),
                });
            }
            let too_large = ImageError::TooLarge {
                limit: self.max_bytes,
            };
            if response
                .content_length()
                .is_some_and(|n| n > self.max_bytes as u64)
            {
                return Err(too_large);
            }
            let mut body = Vec::new();
            while let Some(chunk) = response.chunk().await.map_err(&http)? {
                if body.len() + chunk.len() > self.max_bytes {
                    return Err(too_large);
                }
                body.extend_from_slice(&chunk);
            }
            Ok(body)
        };
        tokio::time::timeout(self.timeout, work)
            .await
            .map_err(|_| ImageError::Timeout {
                url: at.clone(),
                limit: self.timeout,
            })?
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpListener;

    fn server(url: &str) -> Url {
        Url::parse(url).unwrap()
    }

    #[test]
    fn the_public_services_presigned_urls_are_allowed() {
        let cloud = server("wss://api.extension.semantest.com");
        let url = "https://semantest-images.s3.eu-west-1.amazonaws.com/images/abc/x.png?X-Amz-Signature=1";
        assert_eq!(allowed(url, &cloud).unwrap().as_str(), url);
        let own = "https://api.extension.semantest.com/images/abc";
        assert!(allowed(own, &cloud).is_ok());
    }

    #[test]
    fn the_local_stand_in_with_moto_on_loopback_is_allowed() {
        // tests/e2e/aws.test.mjs: the gateway and moto both on 127.0.0.1, path-style URLs.
        let gateway = server("ws://127.0.0.1:41234");
        let moto = "http://127.0.0.1:5123/images-bucket/images/abc/x.png?X-Amz-Signature=1";
        assert!(allowed(moto, &gateway).is_ok());
        assert!(allowed("http://localhost:5123/x.png", &gateway).is_ok());
        assert!(allowed("http://[::1]:5123/x.png", &gateway).is_ok());
    }

    #[test]
    fn other_hosts_schemes_and_user_info_are_refused() {
        let cloud = server("wss://api.extension.semantest.com");
        let refused = |url: &str, server: &Url| match allowed(url, server) {
            Err(ImageError::Refused { url, why }) => format!("{url}: {why}"),
            other => panic!("{other:?}"),
        };
        let host = refused("https://evil.example/x.png?sig=secret", &cloud);
        assert_eq!(
            host,
            "https://evil.example/x.png: its host is neither the connected server's nor an allowed storage host"
        );
        // A suffix is a suffix of the host name, not of any text.
        refused("https://amazonaws.com.evil.example/x.png", &cloud);
        refused("https://evilamazonaws.com/x.png", &cloud);
        // Plain http only to loopback, and loopback only while the server is on it too.
        refused("http://bucket.s3.amazonaws.com/x.png", &cloud);
        refused("https://127.0.0.1/x.png", &cloud);
        refused("http://127.0.0.1/x.png", &cloud);
        refused("file:///etc/passwd", &cloud);
        refused("ftp://bucket.s3.amazonaws.com/x.png", &cloud);
        let userinfo = refused("https://user:pw@bucket.s3.amazonaws.com/x.png", &cloud);
        assert!(!userinfo.contains("pw"), "{userinfo}");
        assert!(matches!(
            allowed("not a url", &cloud),
            Err(ImageError::BadUrl(_))
        ));
    }

    #[test]
    fn the_servers_images_are_under_its_own_url() {
        let local = server("ws://127.0.0.1:3003");
        assert_eq!(
            server_image(&local, "abc").unwrap().as_str(),
            "http://127.0.0.1:3003/images/abc"
        );
        // An id cannot leave /images/.
        assert_eq!(
            server_image(&local, "../../x?y#z").unwrap().as_str(),
            "http://127.0.0.1:3003/images/..%2F..%2Fx%3Fy%23z"
        );
        let cloud = server("wss://api.extension.semantest.com/prod");
        assert_eq!(
            server_image(&cloud, "abc").unwrap().as_str(),
            "https://api.extension.semantest.com/prod/images/abc"
        );
    }

    /// An HTTP server on loopback that answers every request with `head` and then `body`
    /// and closes; with `stall`, it keeps the connection open after that, silent.
    async fn serve(head: &'static str, body: Vec<u8>, stall: bool) -> Url {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = Url::parse(&format!("http://{}/x.png", listener.local_addr().unwrap())).unwrap();
        tokio::spawn(async move {
            loop {
                let Ok((mut tcp, _)) = listener.accept().await else {
                    return;
                };
                let body = body.clone();
                tokio::spawn(async move {
                    let mut request = [0; 4096];
                    let _ = tcp.read(&mut request).await;
                    let _ = tcp.write_all(head.as_bytes()).await;
                    let _ = tcp.write_all(&body).await;
                    if stall {
                        std::future::pending::<()>().await;
                    }
                });
            }
        });
        url
    }

    async fn http(head: &'static str, body: Vec<u8>) -> Url {
        serve(head, body, false).await
    }

    const OK_STREAMED: &str =
        "HTTP/1.1 200 OK\r\nContent-Type: image/png\r\nConnection: close\r\n\r\n";

    fn small() -> Download {
        Download {
            timeout: Duration::from_millis(500),
            max_bytes: 1000,
        }
    }

    async fn fetch(download: &Download, url: &Url) -> Result<Vec<u8>, ImageError> {
        download
            .fetch(Download::client().get(url.clone()), url)
            .await
    }

    #[tokio::test]
    async fn a_body_within_the_cap_is_read_whole() {
        let url = http(OK_STREAMED, vec![7; 1000]).await;
        assert_eq!(fetch(&small(), &url).await.unwrap(), vec![7; 1000]);
    }

    #[tokio::test]
    async fn a_body_over_the_cap_is_refused_while_streaming() {
        // No Content-Length: only reading tells.
        let url = http(OK_STREAMED, vec![7; 1001]).await;
        let e = fetch(&small(), &url).await.unwrap_err();
        assert!(matches!(e, ImageError::TooLarge { limit: 1000 }), "{e:?}");
        let e = fetch(&Download::default(), &url).await.map(|b| b.len());
        assert_eq!(e.unwrap(), 1001);
        assert_eq!(
            ImageError::TooLarge {
                limit: MAX_IMAGE_BYTES
            }
            .to_string(),
            "the image is larger than 32 MiB"
        );
    }

    #[tokio::test]
    async fn a_declared_length_over_the_cap_is_refused_before_reading() {
        let head = "HTTP/1.1 200 OK\r\nContent-Length: 5000000\r\nConnection: close\r\n\r\n";
        let url = http(head, Vec::new()).await;
        let e = fetch(&small(), &url).await.unwrap_err();
        assert!(matches!(e, ImageError::TooLarge { .. }), "{e:?}");
    }

    #[tokio::test]
    async fn a_hung_download_times_out() {
        // Never answers.
        let url = serve("", Vec::new(), true).await;
        let started = std::time::Instant::now();
        let e = fetch(&small(), &url).await.unwrap_err();
        assert!(matches!(e, ImageError::Timeout { .. }), "{e:?}");
        assert!(started.elapsed() < Duration::from_secs(3));
        // Answers the head, then stalls in the body: the limit is for all of it.
        let head = "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nabc";
        let url = serve(head, Vec::new(), true).await;
        let e = fetch(&small(), &url).await.unwrap_err();
        assert!(matches!(e, ImageError::Timeout { .. }), "{e:?}");
    }

    #[tokio::test]
    async fn https_is_fetched_over_tls() {
        let (url, roots) = crate::tls::test_server::https(OK_STREAMED, vec![7; 1000]).await;
        let client = Download::client_trusting(roots);
        let got = small().fetch(client.get(url.clone()), &url).await;
        assert_eq!(got.unwrap(), vec![7; 1000]);
        // The production roots do not trust a self-signed certificate: TLS is verified.
        let e = fetch(&small(), &url).await.unwrap_err().to_string();
        assert!(e.contains("invalid peer certificate"), "{e}");
    }

    #[tokio::test]
    async fn redirects_and_errors_are_not_followed() {
        let head =
            "HTTP/1.1 302 Found\r\nLocation: https://evil.example/\r\nContent-Length: 0\r\n\r\n";
        let url = http(head, Vec::new()).await;
        let e = fetch(&small(), &url).await.unwrap_err();
        assert!(matches!(e, ImageError::Status { status: 302, .. }), "{e:?}");
        let head = "HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n";
        let url = http(head, Vec::new()).await;
        let e = fetch(&small(), &url).await.unwrap_err();
        assert!(matches!(e, ImageError::Status { status: 403, .. }), "{e:?}");
    }
}
