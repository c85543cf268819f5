//! signature: arbitrary bytes as the answer to `GET /signature`, read by the core's probe (`semantest_connect::signature::check`) and as a typed `Signature`: ours is accepted and round-trips, everything else is a classified error whose echoed text is shortened.
#![no_main]

use libfuzzer_sys::fuzz_target;
use semantest_connect::signature::{check, wanted_version, MAX_SIGNATURE_BYTES};
use semantest_connect::ProbeError;
use semantest_protocol::{shorten, Signature, SERVICE_NAME};
use serde_json::Value;

/// `check` echoes stranger text through `shorten(text, 80)`: at most 80 characters and `…`.
const ECHO_CHARS: usize = 80 + 1;

/// The longest message: "incompatible version " (21) + the version + " (need ^1.0.0)" (14).
const MESSAGE_CHARS: usize = 21 + ECHO_CHARS + 14;

fuzz_target!(|data: &[u8]| {
    assert_eq!(check(404, data), Err(ProbeError::Http { status: 404 }));

    let value = serde_json::from_slice::<Value>(data).ok();
    match check(200, data) {
        Ok(sig) => {
            assert_eq!(sig.service, SERVICE_NAME);
            assert!(sig.version.starts_with("1."), "{:?} accepted", sig.version);
            let body = serde_json::to_vec(&sig).expect("a signature serializes");
            assert_eq!(check(200, &body), Ok(sig));
        }
        Err(error) => {
            let message = error.to_string();
            assert!(message.chars().count() <= MESSAGE_CHARS, "{message:?}");
            match &error {
                ProbeError::TooLarge { .. } => assert!(data.len() > MAX_SIGNATURE_BYTES),
                ProbeError::NotJson => assert!(value.is_none(), "JSON called not JSON"),
                ProbeError::WrongService { service } => {
                    assert!(service.chars().count() <= ECHO_CHARS, "{service:?}");
                    let sent = value.as_ref().and_then(|v| v.get("service")?.as_str());
                    let sent = sent.expect("a wrong service was sent");
                    assert_ne!(sent, SERVICE_NAME);
                    assert_eq!(*service, shorten(sent, 80));
                }
                ProbeError::NotSignature { detail } => {
                    assert!(detail.chars().count() <= ECHO_CHARS, "{detail:?}");
                }
                ProbeError::IncompatibleVersion { found, wanted } => {
                    assert!(found.chars().count() <= ECHO_CHARS, "{found:?}");
                    assert_eq!(*wanted, wanted_version());
                }
                other => panic!("check(200, …) cannot give {other:?}"),
            }
        }
    }

    // The typed read that `welcome` and the server use: what parses serializes back the same.
    if let Ok(sig) = serde_json::from_slice::<Signature>(data) {
        let body = serde_json::to_vec(&sig).expect("a signature serializes");
        let again: Signature = serde_json::from_slice(&body).expect("own output parses");
        assert_eq!(again, sig);
    }
});
