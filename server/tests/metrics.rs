//! `/metrics` after real traffic, read as a scraper reads it: a real server on a loopback port,
//! a real WebSocket and real HTTP requests, then the body parsed by a strict OpenMetrics text
//! parser (`openmetrics-parser`), and exact values asserted on the parsed families.
//!
//! The parser refuses what a scraper would refuse: no `# EOF`, a counter sample without
//! `_total`, buckets that are not cumulative, a series twice. It does not check that the `+Inf`
//! bucket equals `_count`, so that is asserted here.

mod common;

use std::collections::BTreeMap;

use common::{round_trip, TestServer, WAIT};
use openmetrics_parser::openmetrics::parse_openmetrics;
use openmetrics_parser::{
    HistogramValue, MetricFamily, MetricsExposition, OpenMetricsType, OpenMetricsValue,
};
use semantest_protocol::{ErrorCode, ServerFrame, ServerMessage};
use semantest_server::images::Stored;
use semantest_server::Config;
use serde_json::json;
use sha2::{Digest, Sha256};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

type Exposition = MetricsExposition<OpenMetricsType, OpenMetricsValue>;

/// One HTTP answer: status, headers (names lower-cased), body.
struct Answer {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Answer {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// One HTTP/1.1 request on its own connection (`Connection: close`), read to the end.
///
/// The answers of this server carry a `Content-Length`; one without it fails the test rather
/// than being guessed at.
async fn http(server: &TestServer, method: &str, path: &str, body: &[u8]) -> Answer {
    let mut tcp = TcpStream::connect(server.addr).await.expect("connect");
    let head = format!(
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        server.addr.port(),
        body.len()
    );
    tcp.write_all(head.as_bytes()).await.expect("write head");
    tcp.write_all(body).await.expect("write body");
    let mut raw = Vec::new();
    tokio::time::timeout(WAIT, tcp.read_to_end(&mut raw))
        .await
        .expect("no answer in time")
        .expect("read answer");
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("an HTTP head");
    let head = std::str::from_utf8(&raw[..split]).expect("an ASCII head");
    let mut lines = head.split("\r\n");
    let status_line = lines.next().expect("a status line");
    let status = status_line
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("bad status line {status_line:?}"));
    let headers: Vec<(String, String)> = lines
        .map(|line| {
            let (name, value) = line.split_once(':').expect("a header line");
            (name.trim().to_ascii_lowercase(), value.trim().to_owned())
        })
        .collect();
    let answer = Answer {
        status,
        headers,
        body: raw[split + 4..].to_vec(),
    };
    let length: usize = answer
        .header("content-length")
        .unwrap_or_else(|| panic!("no Content-Length in {head}"))
        .parse()
        .expect("a numeric Content-Length");
    assert_eq!(answer.body.len(), length, "the whole body arrived");
    answer
}

fn error_code(frame: &ServerFrame) -> ErrorCode {
    match &frame.message {
        ServerMessage::Error(e) => e.code,
        other => panic!("expected an error frame, got {other:?}"),
    }
}

/// The family `name` (as in `# TYPE`, without `_total`), which must have type `kind`.
fn family<'a>(
    exposition: &'a Exposition,
    name: &str,
    kind: OpenMetricsType,
) -> &'a MetricFamily<OpenMetricsType, OpenMetricsValue> {
    let family = exposition
        .families
        .get(name)
        .unwrap_or_else(|| panic!("no family {name} in {:?}", exposition.families.keys()));
    assert_eq!(family.family_type, kind, "{name}");
    family
}

/// The value of an unlabelled counter or gauge.
fn single(exposition: &Exposition, name: &str, kind: OpenMetricsType) -> f64 {
    let family = family(exposition, name, kind);
    assert!(family.get_label_names().is_empty(), "{name} has labels");
    let samples: Vec<_> = family.iter_samples().collect();
    assert_eq!(samples.len(), 1, "{name}: one series");
    match &samples[0].value {
        OpenMetricsValue::Counter(c) => c.value.as_f64(),
        OpenMetricsValue::Gauge(g) => g.as_f64(),
        other => panic!("{name}: not a counter or gauge: {other:?}"),
    }
}

/// Every series of the counter `name`, by the value of its one label `label`.
fn counters_by(exposition: &Exposition, name: &str, label: &str) -> BTreeMap<String, f64> {
    let family = family(exposition, name, OpenMetricsType::Counter);
    assert_eq!(family.get_label_names(), [label], "{name}'s labels");
    let mut series = BTreeMap::new();
    for sample in family.iter_samples() {
        let key = sample
            .get_labelset()
            .expect("a sample bound to its family")
            .get_label_value(label)
            .expect("the label")
            .to_owned();
        let OpenMetricsValue::Counter(counter) = &sample.value else {
            panic!("{name}: not a counter sample: {:?}", sample.value)
        };
        assert!(
            series.insert(key, counter.value.as_f64()).is_none(),
            "{name}: a series twice"
        );
    }
    series
}

/// The one series of the unlabelled histogram `name`, after checking its shape: ascending
/// bounds ending at `+Inf`, cumulative counts, and `+Inf` equal to `_count`.
fn histogram(exposition: &Exposition, name: &str) -> HistogramValue {
    let family = family(exposition, name, OpenMetricsType::Histogram);
    let samples: Vec<_> = family.iter_samples().collect();
    assert_eq!(samples.len(), 1, "{name}: one series");
    let OpenMetricsValue::Histogram(h) = &samples[0].value else {
        panic!("{name}: not a histogram sample")
    };
    let count = h.count.unwrap_or_else(|| panic!("{name}: no _count"));
    assert!(h.buckets.len() > 1, "{name}: buckets");
    for pair in h.buckets.windows(2) {
        assert!(
            pair[0].upper_bound < pair[1].upper_bound,
            "{name}: bounds ascend"
        );
        assert!(
            pair[0].count.as_f64() <= pair[1].count.as_f64(),
            "{name}: buckets are cumulative"
        );
    }
    let last = h.buckets.last().expect("a bucket");
    assert_eq!(last.upper_bound, f64::INFINITY, "{name}: ends at +Inf");
    assert_eq!(last.count.as_f64(), count as f64, "{name}: +Inf == _count");
    h.clone()
}

fn expected(pairs: &[(&str, f64)]) -> BTreeMap<String, f64> {
    pairs.iter().map(|(k, v)| ((*k).to_owned(), *v)).collect()
}

#[tokio::test]
async fn metrics_after_real_traffic_parse_as_openmetrics_with_exact_values() {
    let tmp = tempfile::tempdir().unwrap();
    let server = TestServer::start(Config {
        images_dir: tmp.path().join("images"),
        ..Config::default()
    })
    .await;

    // WebSocket: hello, ping, subscribe, text that is not JSON, an action nobody knows.
    let mut client = server.connect().await;
    let hello = round_trip(
        &mut client,
        &json!({"action": "hello", "id": "h", "payload": {"role": "client", "clientId": "m", "version": "1"}})
            .to_string(),
    )
    .await;
    assert!(
        matches!(hello.message, ServerMessage::Welcome(_)),
        "{hello:?}"
    );
    let pong = round_trip(
        &mut client,
        r#"{"action":"ping","id":"p","payload":{"t":1}}"#,
    )
    .await;
    assert!(matches!(pong.message, ServerMessage::Pong(_)), "{pong:?}");
    let ack = round_trip(
        &mut client,
        r#"{"action":"subscribe","id":"s","payload":{"events":["status"]}}"#,
    )
    .await;
    assert!(matches!(ack.message, ServerMessage::Ack(_)), "{ack:?}");
    let bad = round_trip(&mut client, r#"{"action": "ping", "id": "#).await;
    assert_eq!(error_code(&bad), ErrorCode::BadJson);
    let unknown = round_trip(&mut client, r#"{"action":"nope","id":"n","payload":{}}"#).await;
    assert_eq!(error_code(&unknown), ErrorCode::UnknownAction);

    // HTTP: one image up, the same image down.
    let image: Vec<u8> = (0..150_000u32).map(|i| (i * 7 % 251) as u8).collect();
    let sha: String = Sha256::digest(&image)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let stored = http(
        &server,
        "POST",
        &format!("/images?name=metrics.png&sha256={sha}"),
        &image,
    )
    .await;
    assert_eq!(
        stored.status,
        201,
        "{}",
        String::from_utf8_lossy(&stored.body)
    );
    let stored: Stored = serde_json::from_slice(&stored.body).unwrap();
    assert_eq!(stored.size, image.len() as u64);
    let served = http(&server, "GET", &format!("/images/{}", stored.id), &[]).await;
    assert_eq!(served.status, 200);
    assert_eq!(served.body, image);

    // The scrape, while the WebSocket is still open.
    let scrape = http(&server, "GET", "/metrics", &[]).await;
    assert_eq!(scrape.status, 200);
    assert_eq!(
        scrape.header("content-type"),
        Some("application/openmetrics-text; version=1.0.0; charset=utf-8")
    );
    let text = String::from_utf8(scrape.body).expect("UTF-8 text");
    let exposition =
        parse_openmetrics(&text).unwrap_or_else(|e| panic!("not OpenMetrics: {e:?}\n{text}"));

    assert_eq!(
        single(
            &exposition,
            "semantest_connections_open",
            OpenMetricsType::Gauge
        ),
        1.0
    );
    assert_eq!(
        single(
            &exposition,
            "semantest_connections",
            OpenMetricsType::Counter
        ),
        1.0,
        "one WebSocket; HTTP requests are not connections here"
    );
    // A malformed frame and an unknown action both count as `unknown`.
    assert_eq!(
        counters_by(&exposition, "semantest_messages", "action"),
        expected(&[
            ("hello", 1.0),
            ("ping", 1.0),
            ("subscribe", 1.0),
            ("unsubscribe", 0.0),
            ("publish", 0.0),
            ("reply", 0.0),
            ("register", 0.0),
            ("pair", 0.0),
            ("pairCode", 0.0),
            ("devices", 0.0),
            ("revoke", 0.0),
            ("unknown", 2.0),
        ])
    );
    assert_eq!(
        counters_by(&exposition, "semantest_errors", "code"),
        expected(&[
            ("bad_json", 1.0),
            ("unknown_action", 1.0),
            ("bad_payload", 0.0),
            ("bad_frame", 0.0),
            ("too_large", 0.0),
            ("rate_limited", 0.0),
            ("unauthorized", 0.0),
            ("no_extension", 0.0),
            ("invalid_code", 0.0),
            ("internal", 0.0),
        ])
    );
    let size = image.len() as f64;
    assert_eq!(
        counters_by(&exposition, "semantest_image_bytes", "direction"),
        expected(&[("upload", size), ("download", size)])
    );
    assert_eq!(
        counters_by(&exposition, "semantest_rate_limited", "scope"),
        expected(&[("http", 0.0), ("websocket", 0.0)])
    );

    let upload = histogram(&exposition, "semantest_image_upload_seconds");
    assert_eq!(upload.count, Some(1));
    let took = upload.sum.expect("a _sum").as_f64();
    assert!(
        took > 0.0 && took < WAIT.as_secs_f64(),
        "upload took {took}"
    );
    let handshake = histogram(&exposition, "semantest_handshake_seconds");
    assert_eq!(handshake.count, Some(1), "one welcome sent");
    // Heartbeats are 20 s apart by default: no Ping has gone out yet.
    let rtt = histogram(&exposition, "semantest_ping_rtt_seconds");
    assert_eq!(rtt.count, Some(0));

    let names: Vec<&str> = {
        let mut names: Vec<&str> = exposition.families.keys().map(String::as_str).collect();
        names.sort_unstable();
        names
    };
    assert_eq!(
        names,
        [
            "semantest_connections",
            "semantest_connections_open",
            "semantest_connections_refused",
            "semantest_errors",
            "semantest_handshake_seconds",
            "semantest_image_bytes",
            "semantest_image_upload_seconds",
            "semantest_messages",
            "semantest_ping_rtt_seconds",
            "semantest_rate_limited",
        ],
        "every family, and no other"
    );

    drop(client);
    server.stop().await.unwrap();
}

/// The parser used above is strict, so the test's "it parsed" means something: text that a
/// scraper would refuse is refused here too.
#[test]
fn the_parser_refuses_what_a_scraper_refuses() {
    let good = "# TYPE a counter\na_total 1\n# EOF\n";
    assert!(parse_openmetrics(good).is_ok());
    for bad in [
        "# TYPE a counter\na_total 1\n",
        "# TYPE a counter\na 1\n# EOF\n",
        "# TYPE a counter\na_total one\n# EOF\n",
        "# TYPE a counter\na_total 1\na_total 2\n# EOF\n",
        "# TYPE h histogram\nh_bucket{le=\"1\"} 2\nh_bucket{le=\"+Inf\"} 1\nh_count 1\n# EOF\n",
    ] {
        assert!(parse_openmetrics(bad).is_err(), "accepted:\n{bad}");
    }
}
