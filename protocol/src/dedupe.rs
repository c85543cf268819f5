//! The repeat rule both servers follow: a repeated `(client, frame id)` of `publish` or `reply` gets the first answer and does nothing again.
//!
//! The client core sends a frame again, with the same id, when its socket died before the
//! answer came; frame ids are unique per client across restarts (they carry a random per-run
//! part). So a server that sees the same `(client, frame id)` twice is seeing one request
//! twice, and answers it as it did the first time, without delivering the event or the reply
//! again. What "client" is depends on the server: the local server uses the `clientId` of the
//! connection's `hello`; the public service, whose frames may run before the `hello` is
//! stored, uses the tenant (the id of the connection's API key).
//!
//! Only acknowledgements are remembered: a frame that was refused with an `error` had no
//! effect, so its repeat is judged afresh.

/// Servers remember the (client, frame id) of `publish` and `reply` at least this long and
/// answer a repeat with the first answer.
pub const DEDUPE_WINDOW_SECS: u64 = 120;

/// The key a server remembers a frame by: SHA-256 of the client's length (8 bytes, little
/// endian), the client and the frame id. Fixed size whatever the ids' lengths, so a table of
/// remembered frames is bounded by its number of entries, and no choice of ids makes two
/// `(client, frame id)` pairs share a key.
#[cfg(feature = "keys")]
pub fn dedupe_key(client: &str, frame_id: &str) -> [u8; 32] {
    use sha2::{Digest, Sha256};
    let mut hash = Sha256::new();
    hash.update((client.len() as u64).to_le_bytes());
    hash.update(client.as_bytes());
    hash.update(frame_id.as_bytes());
    hash.finalize().into()
}

#[cfg(all(test, feature = "keys"))]
mod tests {
    use super::*;

    #[test]
    fn the_key_tells_pairs_apart_even_when_their_concatenation_is_the_same() {
        assert_eq!(dedupe_key("cli", "c1-x"), dedupe_key("cli", "c1-x"));
        assert_ne!(dedupe_key("cli", "c1-x"), dedupe_key("cli", "c2-x"));
        assert_ne!(dedupe_key("cli", "c1-x"), dedupe_key("ext", "c1-x"));
        assert_ne!(dedupe_key("ab", "c"), dedupe_key("a", "bc"));
    }
}
