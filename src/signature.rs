//! The probe's answer and whether it is ours: `service == "semantest"` and a version that is
//! semver-compatible with the protocol this crate speaks. Every other outcome is a
//! [`ProbeError`] that says what was found, never a panic.

use semantest_protocol::json::{self, FromFields};
use semantest_protocol::{Signature, PROTOCOL_VERSION, SERVICE_NAME};
use serde_json::Value;

/// The most of a probe answer a driver reads; anything longer is [`ProbeError::TooLarge`].
pub const MAX_SIGNATURE_BYTES: usize = 16 * 1024;

/// Why the local server is not used. Expected outcomes, each its own variant.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ProbeError {
    /// Nothing listens there (connection refused or the host is unreachable).
    #[error("connection refused")]
    Refused,
    /// A server answered, but the browser withheld the answer because the server's CORS
    /// headers do not allow this origin (start the server with `--allow-origin ORIGIN`).
    #[error("answered, but its CORS headers do not allow this origin")]
    CorsBlocked,
    /// Something accepted the connection but did not answer in time.
    #[error("no answer within {ms} ms")]
    Timeout {
        /// The timeout that ran out.
        ms: u64,
    },
    /// It answered with an HTTP error status.
    #[error("HTTP {status}")]
    Http {
        /// The status code.
        status: u16,
    },
    /// The answer was longer than [`MAX_SIGNATURE_BYTES`].
    #[error("answer larger than {limit} bytes")]
    TooLarge {
        /// The cap.
        limit: usize,
    },
    /// The answer was not JSON (or not UTF-8).
    #[error("answer is not JSON")]
    NotJson,
    /// JSON, but not a signature object.
    #[error("answer is not a signature: {detail}")]
    NotSignature {
        /// What the reader said.
        detail: String,
    },
    /// A signature of some other service.
    #[error("wrong service '{service}'")]
    WrongService {
        /// The service it named.
        service: String,
    },
    /// Our service, but a version we cannot talk to.
    #[error("incompatible version {found} (need {wanted})")]
    IncompatibleVersion {
        /// The server's version.
        found: String,
        /// What we accept.
        wanted: String,
    },
    /// Any other network failure the driver saw.
    #[error("network error: {message}")]
    Network {
        /// The driver's description.
        message: String,
    },
}

/// The version requirement a server must meet: same major as ours (`^1.0.0`).
pub fn wanted_version() -> String {
    format!("^{PROTOCOL_VERSION}")
}

/// Reads an HTTP answer to the probe. `status` 404 is an [`ProbeError::Http`] like any other;
/// the caller decides whether to try the fallback path.
pub fn check(status: u16, body: &[u8]) -> Result<Signature, ProbeError> {
    if !(200..300).contains(&status) {
        return Err(ProbeError::Http { status });
    }
    if body.len() > MAX_SIGNATURE_BYTES {
        return Err(ProbeError::TooLarge {
            limit: MAX_SIGNATURE_BYTES,
        });
    }
    // Text first, then JSON: one JSON reader in the .wasm (`from_slice` added a second, 6 KB).
    let text = std::str::from_utf8(body).map_err(|_| ProbeError::NotJson)?;
    let value = json::parse(text).map_err(|_| ProbeError::NotJson)?;
    if let Some(service) = value.get("service").and_then(|s| s.as_str()) {
        if service != SERVICE_NAME {
            return Err(ProbeError::WrongService {
                service: truncate(service),
            });
        }
    }
    let sig = Signature::read(value, "signature").map_err(|e| ProbeError::NotSignature {
        detail: match e {
            json::ReadError::NotObject { .. } => "not a JSON object".to_owned(),
            e => truncate(&e.to_string()),
        },
    })?;
    ours(sig)
}

/// Whether a signature already read (the `server` of a `welcome`) is ours: the same service
/// name and a compatible version, with the same errors as the probe's.
pub fn ours(sig: Signature) -> Result<Signature, ProbeError> {
    if sig.service != SERVICE_NAME {
        return Err(ProbeError::WrongService {
            service: truncate(&sig.service),
        });
    }
    match Version::parse(&sig.version) {
        Some(v) if compatible(&v) => Ok(sig),
        _ => Err(ProbeError::IncompatibleVersion {
            found: truncate(&sig.version),
            wanted: wanted_version(),
        }),
    }
}

/// Whether `v` matches [`wanted_version`], `^PROTOCOL_VERSION` (a major version of 1 or more):
/// the same major version, not older, and not a pre-release (a test checks this is what the
/// semver crate's `VersionReq` says).
fn compatible(v: &Version) -> bool {
    let ours = Version::parse(PROTOCOL_VERSION).expect("our own version is valid semver");
    v.major == ours.major && (v.minor, v.patch) >= (ours.minor, ours.patch) && !v.pre_release
}

/// A SemVer 2.0.0 version, as much of it as the rule needs. Read by hand: the semver crate's
/// parser and types were 2.3 KB of the .wasm for this one check (a test checks that both
/// accept the same texts and read the same numbers).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Version {
    major: u64,
    minor: u64,
    patch: u64,
    /// It has a `-pre.release` part.
    pre_release: bool,
}

impl Version {
    /// `MAJOR.MINOR.PATCH[-PRE][+BUILD]`: numbers without leading zeros; PRE and BUILD are
    /// dot-separated non-empty identifiers of letters, digits and `-`, and a numeric PRE
    /// identifier has no leading zero. `None` when `text` is not one.
    fn parse(text: &str) -> Option<Version> {
        let (rest, build) = match text.split_once('+') {
            Some((rest, build)) => (rest, Some(build)),
            None => (text, None),
        };
        let (core, pre) = match rest.split_once('-') {
            Some((core, pre)) => (core, Some(pre)),
            None => (rest, None),
        };
        let build_ok = build.is_none_or(|b| identifiers(b, false));
        if !build_ok || !pre.is_none_or(|p| identifiers(p, true)) {
            return None;
        }
        let mut numbers = core.split('.').map(|n| match plain_number(n) {
            true => n.parse::<u64>().ok(),
            false => None,
        });
        let version = Version {
            major: numbers.next()??,
            minor: numbers.next()??,
            patch: numbers.next()??,
            pre_release: pre.is_some(),
        };
        numbers.next().is_none().then_some(version)
    }
}

/// Digits only, and no leading zero unless it is `0`.
fn plain_number(n: &str) -> bool {
    !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()) && (n == "0" || !n.starts_with('0'))
}

/// Dot-separated non-empty identifiers of letters, digits and `-`; with `numbers_plain`, an
/// all-digit one has no leading zero.
fn identifiers(part: &str, numbers_plain: bool) -> bool {
    part.split('.').all(|id| {
        let numeric = id.bytes().all(|b| b.is_ascii_digit());
        !id.is_empty()
            && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
            && !(numbers_plain && numeric && !plain_number(id))
    })
}

/// A signature as JSON (`testConnection`'s report): the keys and order of its serde form.
pub fn signature_json(sig: &Signature) -> Value {
    json::object([
        ("service", Value::from(sig.service.as_str())),
        ("version", Value::from(sig.version.as_str())),
        ("environment", Value::from(sig.environment.as_str())),
        ("capabilities", json::string_array(&sig.capabilities)),
    ])
}

/// Keeps strings from a stranger short enough to show (at most 80 characters).
fn truncate(s: &str) -> String {
    semantest_protocol::shorten(s, 80)
}

#[cfg(all(test, not(target_arch = "wasm32")))]
mod tests {
    use super::*;

    #[test]
    fn compatible_is_what_semver_says_of_the_wanted_version() {
        let req = semver::VersionReq::parse(&wanted_version()).unwrap();
        let versions = [
            "1.0.0",
            "1.0.1",
            "1.2.0",
            "1.99.3",
            "1.0.0+build.5",
            "1.3.0+x",
            "1.0.0-rc.1",
            "1.2.0-beta",
            "0.9.9",
            "0.1.0",
            "2.0.0",
            "2.0.0-alpha",
            "10.0.0",
            "1.18446744073709551615.0",
        ];
        for text in versions {
            let ours = Version::parse(text).unwrap();
            let theirs = semver::Version::parse(text).unwrap();
            assert_eq!(compatible(&ours), req.matches(&theirs), "{text}");
        }
        assert!(compatible(&Version::parse(PROTOCOL_VERSION).unwrap()));
    }

    /// What the semver crate reads of `text`, in this file's terms.
    fn by_semver(text: &str) -> Option<Version> {
        semver::Version::parse(text).ok().map(|v| Version {
            major: v.major,
            minor: v.minor,
            patch: v.patch,
            pre_release: !v.pre.is_empty(),
        })
    }

    #[test]
    fn versions_are_read_as_the_semver_crate_reads_them() {
        for text in [
            "1.0.0",
            "0.0.0",
            "01.0.0",
            "1.00.0",
            "1.0",
            "1.0.0.0",
            "1..0",
            "",
            "1.0.0-",
            "1.0.0+",
            "1.0.0-a..b",
            "1.0.0-01",
            "1.0.0-0",
            "1.0.0-0a",
            "1.0.0-a-b.c",
            "1.0.0+001",
            "1.0.0+a+b",
            "1.0.0-a+b-c",
            " 1.0.0",
            "1.0.0 ",
            "v1.0.0",
            "1.0.0-é",
            "18446744073709551616.0.0",
            "1.0.0-x.7.z.92",
            "1.0.0+21AF26D3----117B344092BD",
            "-1.0.0",
            "1.-0.0",
            "1.0.0--",
            "1.0.0-+",
            "1.0.0+-",
        ] {
            assert_eq!(Version::parse(text), by_semver(text), "{text:?}");
        }
    }

    /// Texts shaped like versions: numbers with and without leading zeros, pre-release and
    /// build parts of all kinds of identifiers (most valid, some not).
    fn version_text() -> impl proptest::strategy::Strategy<Value = String> {
        use proptest::prelude::*;
        let number = prop_oneof!["0", "[1-9][0-9]{0,3}", "0[0-9]{1,2}", "[0-9]{0,2}[a.]?"];
        let id = prop_oneof!["[0-9A-Za-z-]{1,4}", "0[0-9]{1,2}", "[1-9][0-9]{0,2}", ""];
        let ids = proptest::collection::vec(id, 1..3).prop_map(|ids| ids.join("."));
        (
            number.clone(),
            number.clone(),
            number,
            proptest::option::of(ids.clone()),
            proptest::option::of(ids),
        )
            .prop_map(|(major, minor, patch, pre, build)| {
                let pre = pre.map(|p| format!("-{p}")).unwrap_or_default();
                let build = build.map(|b| format!("+{b}")).unwrap_or_default();
                format!("{major}.{minor}.{patch}{pre}{build}")
            })
    }

    proptest::proptest! {
        #[test]
        fn generated_texts_are_read_as_the_semver_crate_reads_them(
            text in "[0-2.+aZ-]{0,12}",
        ) {
            proptest::prop_assert_eq!(Version::parse(&text), by_semver(&text), "{:?}", text);
        }

        #[test]
        fn generated_versions_are_read_and_matched_as_the_semver_crate_does(
            text in version_text(),
        ) {
            let ours = Version::parse(&text);
            proptest::prop_assert_eq!(ours, by_semver(&text), "{:?}", text);
            if let (Some(v), Ok(theirs)) = (ours, semver::Version::parse(&text)) {
                let req = semver::VersionReq::parse(&wanted_version()).unwrap();
                proptest::prop_assert_eq!(compatible(&v), req.matches(&theirs), "{:?}", text);
            }
        }
    }

    fn body(service: &str, version: &str) -> Vec<u8> {
        format!(r#"{{"service":"{service}","version":"{version}","environment":"local","capabilities":["imageGeneration"]}}"#)
            .into_bytes()
    }

    #[test]
    fn ours_is_accepted_across_minor_versions() {
        assert_eq!(
            check(200, &body("semantest", "1.0.0")).unwrap().environment,
            "local"
        );
        assert!(check(200, &body("semantest", "1.4.2")).is_ok());
    }

    #[test]
    fn each_failure_is_classified() {
        assert_eq!(
            check(404, b"").unwrap_err(),
            ProbeError::Http { status: 404 }
        );
        assert_eq!(
            check(500, &body("semantest", "1.0.0")).unwrap_err(),
            ProbeError::Http { status: 500 }
        );
        assert_eq!(check(200, b"<html>").unwrap_err(), ProbeError::NotJson);
        assert_eq!(check(200, &[0xff, 0xfe]).unwrap_err(), ProbeError::NotJson);
        assert!(matches!(
            check(200, b"[1,2]").unwrap_err(),
            ProbeError::NotSignature { .. }
        ));
        assert!(matches!(
            check(200, br#"{"service":"semantest"}"#).unwrap_err(),
            ProbeError::NotSignature { .. }
        ));
        assert_eq!(
            check(200, &body("other", "1.0.0")).unwrap_err(),
            ProbeError::WrongService {
                service: "other".into()
            }
        );
        assert!(matches!(
            check(200, &body("semantest", "2.0.0")).unwrap_err(),
            ProbeError::IncompatibleVersion { .. }
        ));
        assert!(matches!(
            check(200, &body("semantest", "banana")).unwrap_err(),
            ProbeError::IncompatibleVersion { .. }
        ));
        let long = format!(
            r#"{{"service":"semantest","version":"1.0.0","environment":{{"x":"{}"}}}}"#,
            "y".repeat(10_000)
        );
        match check(200, long.as_bytes()).unwrap_err() {
            ProbeError::NotSignature { detail } => {
                assert!(detail.chars().count() <= 81, "{detail}")
            }
            other => panic!("{other:?}"),
        }
        let huge = vec![b' '; MAX_SIGNATURE_BYTES + 1];
        assert_eq!(
            check(200, &huge).unwrap_err(),
            ProbeError::TooLarge {
                limit: MAX_SIGNATURE_BYTES
            }
        );
    }

    #[test]
    fn signature_is_written_as_serde_wrote_it() {
        for sig in [
            Signature::new("local", &[]),
            Signature::new("production", &["imageGeneration", "imageDownload"]),
        ] {
            assert_eq!(signature_json(&sig), serde_json::to_value(&sig).unwrap());
        }
    }

    #[test]
    fn messages_read_well() {
        let e = ProbeError::IncompatibleVersion {
            found: "2.0.0".into(),
            wanted: wanted_version(),
        };
        assert_eq!(e.to_string(), "incompatible version 2.0.0 (need ^1.0.0)");
        assert_eq!(
            ProbeError::Timeout { ms: 2000 }.to_string(),
            "no answer within 2000 ms"
        );
    }
}
