//! Production rate limits (with `governor`): HTTP requests per client address, and messages per
//! WebSocket connection; and who the client is when a proxy stands in front.
//!
//! The policies:
//! - **HTTP**: [`crate::Config::http_requests_per_minute`] (default 100) per client address, as
//!   a token bucket that holds a minute's worth and refills evenly. The request after that is
//!   answered 429 with `Retry-After` (whole seconds until the next one is allowed) and a JSON
//!   body saying so. A WebSocket handshake is an HTTP request and counts as one.
//! - **Messages**: [`crate::Config::messages_per_second`] per connection, bursts of twice as
//!   many. A message over the limit is not handled; it is answered with a `rate_limited` error
//!   and the connection stays open. A client that goes on sending [`FLOOD_LIMIT`] messages in a
//!   row over the limit is closed with 1008.
//! - **Client address**: the TCP peer, unless the peer is one of
//!   [`crate::Config::trusted_proxies`]: then the last address in `X-Forwarded-For` that is not
//!   itself a trusted proxy. From anyone else `X-Forwarded-For` is ignored, so a client cannot
//!   pick its own bucket. A trusted proxy's own `GET /health` (nothing forwarded) is never
//!   limited, so a load balancer's checks cannot be starved by clients.
//!
//! Both limits apply in production only (see [`crate::Config::rate_limited`]). The buckets of
//! addresses that went quiet are dropped every minute, so the table does not grow for ever.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::num::NonZeroU32;

use axum::extract::{ConnectInfo, Request, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::Json;
use governor::clock::Clock;
use governor::{DefaultDirectRateLimiter, DefaultKeyedRateLimiter, Quota};

use crate::metrics::LimitScope;
use crate::{AppState, Config};

/// How many messages in a row over the limit close the connection.
pub(crate) const FLOOD_LIMIT: u32 = 100;

/// A limit per client address (its [`bucket`]): HTTP requests, registrations, pairings.
#[derive(Debug)]
pub(crate) struct AddressLimiter {
    limiter: DefaultKeyedRateLimiter<IpAddr>,
    /// How many it allows per period (for messages).
    allowed: u32,
}

impl AddressLimiter {
    /// `n` a minute (at least one), refilled evenly.
    pub(crate) fn per_minute(n: u32) -> Self {
        let n = NonZeroU32::new(n).unwrap_or(NonZeroU32::MIN);
        AddressLimiter {
            limiter: DefaultKeyedRateLimiter::keyed(Quota::per_minute(n)),
            allowed: n.get(),
        }
    }

    /// `n` an hour (at least one): a burst of `n`, then one every `60 / n` minutes.
    pub(crate) fn per_hour(n: u32) -> Self {
        let n = NonZeroU32::new(n).unwrap_or(NonZeroU32::MIN);
        AddressLimiter {
            limiter: DefaultKeyedRateLimiter::keyed(Quota::per_hour(n)),
            allowed: n.get(),
        }
    }

    /// `Ok` if `client` may go on now, else how many seconds until it may.
    pub(crate) fn check(&self, client: IpAddr) -> Result<(), u64> {
        self.limiter
            .check_key(&bucket(client))
            .map_err(|not_until| {
                let wait = not_until.wait_time_from(self.limiter.clock().now());
                (wait.as_secs() + u64::from(wait.subsec_nanos() > 0)).max(1)
            })
    }

    /// Forgets the addresses whose buckets are full again (called every minute); an hourly
    /// bucket is forgotten only once it is full again, so forgetting never lifts a limit.
    pub(crate) fn forget_quiet(&self) {
        self.limiter.retain_recent();
        self.limiter.shrink_to_fit();
    }
}

/// A connection's message limiter.
#[derive(Debug)]
pub(crate) struct MessageLimiter {
    /// Boxed: most of a socket's life is idle, and its future is kept small (see `ws`).
    limiter: Option<Box<DefaultDirectRateLimiter>>,
    refused_in_a_row: u32,
}

/// What to do with one message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// Handle it.
    Handle,
    /// Answer `rate_limited` and drop it.
    Refuse,
    /// The client does not slow down: close the connection.
    Close,
}

impl MessageLimiter {
    /// The limiter for a new connection (no limit outside production).
    pub(crate) fn new(config: &Config) -> Self {
        let limiter = config.rate_limited().then(|| {
            let per_second = NonZeroU32::new(config.messages_per_second).unwrap_or(NonZeroU32::MIN);
            let burst = per_second.saturating_mul(NonZeroU32::MIN.saturating_add(1));
            Box::new(DefaultDirectRateLimiter::direct(
                Quota::per_second(per_second).allow_burst(burst),
            ))
        });
        MessageLimiter {
            limiter,
            refused_in_a_row: 0,
        }
    }

    /// Whether the next message may be handled.
    pub(crate) fn check(&mut self) -> Verdict {
        let Some(limiter) = &self.limiter else {
            return Verdict::Handle;
        };
        if limiter.check().is_ok() {
            self.refused_in_a_row = 0;
            return Verdict::Handle;
        }
        self.refused_in_a_row += 1;
        if self.refused_in_a_row >= FLOOD_LIMIT {
            Verdict::Close
        } else {
            Verdict::Refuse
        }
    }
}

/// The client's address: the peer, or what a trusted proxy says in `X-Forwarded-For`.
///
/// `X-Forwarded-For` is read from the right (the entries the trusted proxies appended) to the
/// first address that is not a trusted proxy. An entry that is not an address stops the walk:
/// everything left of it was written by the client, so the last trusted hop is used instead.
/// Addresses are compared in canonical form (`::ffff:10.0.0.1` is `10.0.0.1`).
pub(crate) fn client_ip(peer: IpAddr, headers: &HeaderMap, trusted: &[IpAddr]) -> IpAddr {
    let peer = peer.to_canonical();
    if !is_trusted(peer, trusted) {
        return peer;
    }
    let entries: Vec<&str> = headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .collect();
    let mut hop = peer;
    for entry in entries.into_iter().rev() {
        match entry.trim().parse::<IpAddr>().map(|ip| ip.to_canonical()) {
            Ok(ip) if is_trusted(ip, trusted) => hop = ip,
            Ok(ip) => return ip,
            Err(_) => return hop,
        }
    }
    hop
}

/// Whether `ip` (canonical) is one of the trusted proxies.
fn is_trusted(ip: IpAddr, trusted: &[IpAddr]) -> bool {
    trusted.iter().any(|t| t.to_canonical() == ip)
}

pub(crate) use semantest_protocol::rules::address_bucket as bucket;

/// The TCP peer of a request (set by the listener); unspecified when served without one, as
/// in `oneshot` tests.
pub(crate) fn peer(request: &Request) -> IpAddr {
    request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED), |c| c.0.ip())
}

/// Middleware: in production, 429 with `Retry-After` for the request over the limit.
pub(crate) async fn http(State(state): State<AppState>, request: Request, next: Next) -> Response {
    if state.config().rate_limited() {
        let trusted = &state.config().trusted_proxies;
        let peer = peer(&request).to_canonical();
        let client = client_ip(peer, request.headers(), trusted);
        // A trusted proxy's own health checks (nothing forwarded) are not rate limited: a
        // load balancer must not mark the server down because clients used up its bucket.
        let own_health_check =
            request.uri().path() == "/health" && client == peer && is_trusted(peer, trusted);
        if own_health_check {
            return next.run(request).await;
        }
        if let Err(retry_after) = state.http_limiter().check(client) {
            state.metrics().rate_limited(LimitScope::Http);
            tracing::debug!(%client, retry_after, "rate limited");
            return too_many(state.http_limiter().allowed, retry_after);
        }
    }
    next.run(request).await
}

fn too_many(per_minute: u32, retry_after: u64) -> Response {
    let body = serde_json::json!({
        "error": format!(
            "rate limited: {per_minute} requests per minute per address; retry in {retry_after} s"
        ),
    });
    (
        StatusCode::TOO_MANY_REQUESTS,
        [
            (header::RETRY_AFTER, HeaderValue::from(retry_after)),
            // A refused client does not keep its connection (and its slot) for the next try.
            (header::CONNECTION, HeaderValue::from_static("close")),
        ],
        Json(body),
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Environment;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn forwarded_for_counts_only_from_trusted_proxies() {
        let proxy = ip("10.0.0.1");
        let mut h = HeaderMap::new();
        h.insert(
            "x-forwarded-for",
            HeaderValue::from_static("6.6.6.6, 203.0.113.7"),
        );
        // From a stranger the header is ignored.
        assert_eq!(
            client_ip(ip("198.51.100.2"), &h, &[proxy]),
            ip("198.51.100.2")
        );
        // From the proxy, the last address it saw (the first ones the client may have written).
        assert_eq!(client_ip(proxy, &h, &[proxy]), ip("203.0.113.7"));
        // Chained trusted proxies are skipped.
        h.insert(
            "x-forwarded-for",
            HeaderValue::from_static("203.0.113.7, 10.0.0.2"),
        );
        assert_eq!(
            client_ip(proxy, &h, &[proxy, ip("10.0.0.2")]),
            ip("203.0.113.7")
        );
        // Garbage from the proxy: the proxy itself.
        h.insert("x-forwarded-for", HeaderValue::from_static("not-an-ip"));
        assert_eq!(client_ip(proxy, &h, &[proxy]), proxy);
        assert_eq!(client_ip(proxy, &HeaderMap::new(), &[proxy]), proxy);
        // A client that writes garbage before the proxy's entry does not pick its bucket.
        h.insert(
            "x-forwarded-for",
            HeaderValue::from_static("6.6.6.6, x, 203.0.113.7"),
        );
        assert_eq!(client_ip(proxy, &h, &[proxy]), ip("203.0.113.7"));
        h.insert("x-forwarded-for", HeaderValue::from_static("6.6.6.6, x"));
        assert_eq!(client_ip(proxy, &h, &[proxy]), proxy);
        // A dual-stack listener sees IPv4 peers as IPv4-mapped IPv6.
        h.insert("x-forwarded-for", HeaderValue::from_static("203.0.113.9"));
        assert_eq!(
            client_ip(ip("::ffff:10.0.0.1"), &h, &[proxy]),
            ip("203.0.113.9")
        );
        assert_eq!(
            client_ip(ip("::ffff:198.51.100.2"), &h, &[proxy]),
            ip("198.51.100.2")
        );
    }

    #[test]
    fn an_hourly_bucket_allows_its_burst_then_says_when_to_retry() {
        let limiter = AddressLimiter::per_hour(10);
        let (a, b) = (ip("192.0.2.1"), ip("192.0.2.2"));
        for _ in 0..10 {
            assert_eq!(limiter.check(a), Ok(()));
        }
        let wait = limiter.check(a).unwrap_err();
        assert!(
            (300..=360).contains(&wait),
            "one more every 6 minutes: {wait}"
        );
        assert_eq!(
            limiter.check(b),
            Ok(()),
            "another address has its own bucket"
        );
    }

    #[test]
    fn the_http_bucket_holds_a_minute_and_says_when_to_retry() {
        let limiter = AddressLimiter::per_minute(3);
        let (a, b) = (ip("192.0.2.1"), ip("192.0.2.2"));
        for _ in 0..3 {
            assert_eq!(limiter.check(a), Ok(()));
        }
        let wait = limiter.check(a).unwrap_err();
        assert!((1..=20).contains(&wait), "one request every 20 s: {wait}");
        assert_eq!(
            limiter.check(b),
            Ok(()),
            "another address has its own bucket"
        );
        // One IPv6 /64 is one bucket.
        for n in 1..=3 {
            assert_eq!(limiter.check(ip(&format!("2001:db8:1:2::{n}"))), Ok(()));
        }
        assert!(limiter.check(ip("2001:db8:1:2:ffff::1")).is_err());
        assert_eq!(limiter.check(ip("2001:db8:1:3::1")), Ok(()));
    }

    #[test]
    fn messages_over_the_rate_are_refused_then_a_flood_is_closed() {
        let config = Config {
            environment: Environment::Production,
            messages_per_second: 5,
            ..Config::default()
        };
        let mut limiter = MessageLimiter::new(&config);
        for _ in 0..10 {
            assert_eq!(
                limiter.check(),
                Verdict::Handle,
                "a burst of twice the rate"
            );
        }
        for _ in 1..FLOOD_LIMIT {
            assert_eq!(limiter.check(), Verdict::Refuse);
        }
        assert_eq!(limiter.check(), Verdict::Close);
        let mut local = MessageLimiter::new(&Config::default());
        for _ in 0..1000 {
            assert_eq!(local.check(), Verdict::Handle, "no limit on a local server");
        }
    }
}
