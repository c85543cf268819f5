//! Identity on production servers, written once for both: the frames of registration, pairing and revocation, the pairing code, issued tokens, what a socket without a token may do, and the limits.
//!
//! - **An install is a tenant.** An extension's first keyless socket sends `register {role,
//!   name}` and gets `registered {installId, token}`; later sockets show that token as they
//!   would an API key.
//! - **A device joins an install** with a one-time [`PairingCode`] that the install asks for
//!   (`pairCode {}` → `pairCode {code, expiresAt}`) and shows its user; the device's keyless
//!   socket sends `pair {code, name}` and gets `paired {token, deviceId, installId}`.
//! - The install lists its devices (`devices {}` → `devices {items}`) and revokes one
//!   (`revoke {deviceId}` → `ack`): the device's sockets are closed with 1008 `revoked` and its
//!   token is refused from then on.
//!
//! A socket that showed no token may only say `hello`, `ping`, `register` and `pair`
//! ([`keyless_may`]); anything else is `unauthorized`. Servers store only the SHA-256 of a
//! token or a code, never the secret itself.
//!
//! **Guessing a code.** A code is 8 characters of a 32-letter alphabet: 32⁸ = 2⁴⁰ ≈ 1.1 × 10¹²
//! codes. One address may fail [`PAIR_FAILURES_PER_HOUR`] times an hour, and a code lives
//! [`PAIR_CODE_TTL_SECS`]: with `k` codes alive at once on the whole service, one address
//! finds one with probability at most 10 · k / 2⁴⁰ an hour — with a million codes alive at
//! once, 10⁷ / 1.1 × 10¹² ≈ 1 in 110 000 per address-hour, and a code that is found was
//! still useless unless it is found within its 10 minutes.

use serde::{Deserialize, Serialize};

use crate::json::{Fields, FromFields, ReadError};
use crate::{Role, Token};

/// How long a pairing code is valid.
pub const PAIR_CODE_TTL_SECS: u64 = 600;
/// How many installs one client address may register per hour.
pub const REGISTRATIONS_PER_HOUR: u32 = 10;
/// How many wrong or expired pairing codes one client address may try per hour.
pub const PAIR_FAILURES_PER_HOUR: u32 = 10;
/// The longest `name` of an install or a device, in characters (longer ones are cut).
pub const MAX_NAME_CHARS: usize = 64;
/// How many devices one install may have paired at once.
pub const MAX_DEVICES: usize = 32;
/// The reason of the 1008 Close that ends a revoked device's sockets.
pub const REVOKED_CLOSE_REASON: &str = "revoked";

/// `register {role, name}`: a keyless socket asks for an install of its own.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Register {
    /// What registers (an extension, normally).
    pub role: Role,
    /// A name for people, e.g. `Chrome on Linux`.
    #[serde(default)]
    pub name: String,
}

/// `pair {code, name}`: a keyless socket joins the install that showed `code`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Pair {
    /// The code as the user typed it (case, spaces and dashes do not matter).
    pub code: String,
    /// A name for the device, shown in the extension's device list, e.g. `laptop CLI`.
    #[serde(default)]
    pub name: String,
}

/// `revoke {deviceId}`: an install ends a device's access.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Revoke {
    /// The device, as `devices` lists it.
    pub device_id: String,
}

/// `registered {installId, token}`: the answer to `register`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "typescript", derive(tsify_next::Tsify))]
#[serde(rename_all = "camelCase")]
pub struct Registered {
    /// The install's id (the tenant).
    pub install_id: String,
    /// The install's token, shown once: keep it where no page can read it.
    #[cfg_attr(feature = "typescript", tsify(type = "string"))]
    pub token: Token,
}

/// `pairCode {code, expiresAt}`: the answer to `pairCode`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "typescript", derive(tsify_next::Tsify))]
#[serde(rename_all = "camelCase")]
pub struct PairCodeIssued {
    /// The code to show, `XXXX-XXXX`.
    pub code: String,
    /// When it stops being valid, in milliseconds since the Unix epoch.
    pub expires_at: u64,
}

/// `paired {token, deviceId, installId}`: the answer to `pair`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "typescript", derive(tsify_next::Tsify))]
#[serde(rename_all = "camelCase")]
pub struct Paired {
    /// The device's token, shown once.
    #[cfg_attr(feature = "typescript", tsify(type = "string"))]
    pub token: Token,
    /// The device's id (what `revoke` names).
    pub device_id: String,
    /// The install it joined.
    pub install_id: String,
}

/// One paired device, as `devices` lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "typescript", derive(tsify_next::Tsify))]
#[serde(rename_all = "camelCase")]
pub struct Device {
    /// Its id.
    pub device_id: String,
    /// The name it paired with.
    pub name: String,
    /// When it paired, in milliseconds since the Unix epoch.
    pub paired_at: u64,
    /// When it last opened a socket, in milliseconds since the Unix epoch.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_seen: Option<u64>,
}

/// `devices {items}`: the answer to `devices`, oldest pairing first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "typescript", derive(tsify_next::Tsify))]
pub struct DeviceList {
    /// The install's devices that are not revoked.
    pub items: Vec<Device>,
}

impl FromFields for Registered {
    fn from_fields(f: &mut Fields) -> Result<Self, ReadError> {
        Ok(Registered {
            install_id: f.string("installId")?,
            token: f.with("token", Token::read)?,
        })
    }
}

impl FromFields for PairCodeIssued {
    fn from_fields(f: &mut Fields) -> Result<Self, ReadError> {
        Ok(PairCodeIssued {
            code: f.string("code")?,
            expires_at: f.u64("expiresAt")?,
        })
    }
}

impl FromFields for Paired {
    fn from_fields(f: &mut Fields) -> Result<Self, ReadError> {
        Ok(Paired {
            token: f.with("token", Token::read)?,
            device_id: f.string("deviceId")?,
            install_id: f.string("installId")?,
        })
    }
}

impl FromFields for Device {
    fn from_fields(f: &mut Fields) -> Result<Self, ReadError> {
        Ok(Device {
            device_id: f.string("deviceId")?,
            name: f.string("name")?,
            paired_at: f.u64("pairedAt")?,
            last_seen: f.opt_u64("lastSeen")?,
        })
    }
}

impl FromFields for DeviceList {
    fn from_fields(f: &mut Fields) -> Result<Self, ReadError> {
        Ok(DeviceList {
            items: f.with("items", devices)?,
        })
    }
}

/// `value` as an array of devices, each a JSON object.
fn devices(field: &'static str, value: serde_json::Value) -> Result<Vec<Device>, ReadError> {
    match value {
        serde_json::Value::Array(items) => items
            .into_iter()
            .map(|item| Device::read(item, "device"))
            .collect(),
        other => Err(crate::json::wrong(field, "an array of devices", &other)),
    }
}

/// Whether a socket that showed no token may send `action`.
pub fn keyless_may(action: &str) -> bool {
    matches!(action, "hello" | "ping" | "register" | "pair")
}

/// The message of the `unauthorized` error that answers any other action on a keyless socket.
pub const KEYLESS_REFUSAL: &str =
    "this socket has no token: register (an extension), pair with a code (a tool), or show an API key";

/// Who a token (or API key) belongs to: what a server's authentication resolves it to.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Identity {
    /// An operator's API key; its tenant is the key's id ([`crate::keys`]'s `key_id`).
    Operator {
        /// The key's id.
        key_id: String,
    },
    /// An install (an extension) with its own token.
    Install {
        /// The install's id.
        install_id: String,
    },
    /// A device paired to an install.
    Device {
        /// The install it belongs to.
        install_id: String,
        /// The device's id.
        device_id: String,
    },
}

impl Identity {
    /// The tenant: everything one tenant's sockets do stays among them.
    pub fn tenant(&self) -> String {
        match self {
            Identity::Operator { key_id } => format!("key:{key_id}"),
            Identity::Install { install_id } | Identity::Device { install_id, .. } => {
                format!("install:{install_id}")
            }
        }
    }

    /// The install, if this identity is an install itself (only an install may ask for a
    /// pairing code, list its devices and revoke them).
    pub fn install(&self) -> Option<&str> {
        match self {
            Identity::Install { install_id } => Some(install_id),
            _ => None,
        }
    }

    /// The device id, for a paired device.
    pub fn device(&self) -> Option<&str> {
        match self {
            Identity::Device { device_id, .. } => Some(device_id),
            _ => None,
        }
    }
}

/// What a shown token turns out to be, on either server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Lookup {
    /// A live install or device.
    Known(Identity),
    /// A device token whose device was revoked.
    Revoked,
    /// Nobody's.
    Unknown,
}

/// Why a `pair` was refused (the `invalid_code` error's message), on either server.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PairError {
    /// No such code (mistyped, used, or from another server).
    #[error("this pairing code is not valid (mistyped, or already used); ask the extension for a new one")]
    Unknown,
    /// The code existed but its 10 minutes are over.
    #[error("this pairing code expired; ask the extension for a new one (a code is valid for a few minutes)")]
    Expired,
    /// The install has as many devices as it may.
    #[error(
        "this extension already has {MAX_DEVICES} paired devices; revoke one in its options first"
    )]
    Full,
}

/// The message of the `unauthorized` error that refuses a revoked device's token, and the
/// reason of the 1008 that follows.
pub const REVOKED_MESSAGE: &str =
    "this device was revoked in the extension's options; pair it again with a new code";

/// What a per-address hourly limit counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Limited {
    /// `register`.
    Registrations,
    /// `pair` (every attempt, right or wrong).
    PairAttempts,
}

impl Limited {
    /// Its short name (in counters' keys, in logs).
    pub fn name(self) -> &'static str {
        match self {
            Limited::Registrations => "register",
            Limited::PairAttempts => "pair",
        }
    }

    /// The `rate_limited` answer to the attempt over `per_hour`, with when to try again.
    pub fn refusal(
        self,
        reply_to: Option<String>,
        per_hour: u32,
        retry_after_secs: u64,
    ) -> crate::ServerFrame {
        let what = match self {
            Limited::Registrations => "registrations",
            Limited::PairAttempts => "pairing attempts",
        };
        crate::ServerFrame::rate_limited(
            reply_to,
            format!("too many {what} from this address: at most {per_hour} an hour"),
            retry_after_secs,
        )
    }
}

/// The refusal of `register` or `pair` on a socket that has a token already.
pub const ALREADY_HAS_TOKEN: &str =
    "this socket already has a token; register and pair are for a new socket";

/// The refusal of a `revoke` of a device the install does not have.
pub fn no_such_device(device_id: &str) -> String {
    format!(
        "no device '{}' is paired to this extension",
        crate::shorten(device_id, 64)
    )
}

/// The refusal of an identity action from a socket that may not ask for it.
pub const ONLY_AN_INSTALL: &str =
    "only the extension's own socket (an install token) may manage pairing and devices";

/// The 32 letters of a pairing code: no 0/O and no 1/I, so it reads aloud unambiguously.
pub const CODE_ALPHABET: &[u8; 32] = b"ABCDEFGHJKLMNPQRSTUVWXYZ23456789";
/// How many characters a code has (8 × 5 bits = 40 bits).
pub const CODE_CHARS: usize = 8;

/// A pairing code, `K7QM-3XTD`: 40 random bits in [`CODE_ALPHABET`].
#[derive(Clone, PartialEq, Eq)]
pub struct PairingCode([u8; CODE_CHARS]);

impl std::fmt::Debug for PairingCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PairingCode(<redacted>)")
    }
}

/// Why a typed code cannot be a pairing code (said before any server is asked).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CodeError {
    /// Not 8 characters once spaces and dashes are gone.
    #[error("a pairing code has 8 letters and digits, like K7QM-3XTD (this has {0})")]
    Length(usize),
    /// A character outside the alphabet.
    #[error("'{0}' is not in a pairing code: codes use A-Z and 2-9 without I and O")]
    Character(char),
}

impl PairingCode {
    /// The code of 40 bits of entropy (5 bytes, each bit used once).
    pub fn from_entropy(bytes: [u8; 5]) -> Self {
        let bits = bytes.iter().fold(0u64, |acc, b| (acc << 8) | u64::from(*b));
        let mut out = [0u8; CODE_CHARS];
        for (i, c) in out.iter_mut().enumerate() {
            let shift = 5 * (CODE_CHARS - 1 - i);
            *c = CODE_ALPHABET[((bits >> shift) & 31) as usize];
        }
        PairingCode(out)
    }

    /// Reads a code as a user may type it: any case, with or without spaces and dashes.
    pub fn parse(typed: &str) -> Result<Self, CodeError> {
        let chars: Vec<char> = typed
            .chars()
            .filter(|c| !c.is_whitespace() && *c != '-')
            .map(|c| c.to_ascii_uppercase())
            .collect();
        if chars.len() != CODE_CHARS {
            return Err(CodeError::Length(chars.len()));
        }
        let mut out = [0u8; CODE_CHARS];
        for (slot, c) in out.iter_mut().zip(chars) {
            match u8::try_from(c) {
                Ok(b) if CODE_ALPHABET.contains(&b) => *slot = b,
                _ => return Err(CodeError::Character(c)),
            }
        }
        Ok(PairingCode(out))
    }

    /// The code as shown: `XXXX-XXXX`.
    pub fn display(&self) -> String {
        let text = std::str::from_utf8(&self.0).unwrap_or_default();
        format!("{}-{}", &text[..4], &text[4..])
    }

    /// The 8 characters without the dash: what a server digests and stores.
    pub fn canonical(&self) -> &str {
        std::str::from_utf8(&self.0).unwrap_or_default()
    }
}

/// A name as a server keeps it: trimmed, control characters removed, at most
/// [`MAX_NAME_CHARS`]; an empty one becomes `fallback`.
pub fn clean_name(name: &str, fallback: &str) -> String {
    let cleaned: String = name
        .trim()
        .chars()
        .filter(|c| !c.is_control())
        .take(MAX_NAME_CHARS)
        .collect();
    if cleaned.is_empty() {
        fallback.to_owned()
    } else {
        cleaned
    }
}

/// The prefix of an install's token (a secret scanner can tell them by it).
pub const INSTALL_TOKEN_PREFIX: &str = "sti_";
/// The prefix of a device's token.
pub const DEVICE_TOKEN_PREFIX: &str = "std_";

/// Issuing identities from the operating system's random numbers (servers only).
#[cfg(feature = "keys")]
pub mod issue {
    use super::{PairingCode, DEVICE_TOKEN_PREFIX, INSTALL_TOKEN_PREFIX};
    use crate::Token;

    /// `N` bytes from the operating system's CSPRNG.
    fn random<const N: usize>() -> [u8; N] {
        let mut bytes = [0u8; N];
        // The OS generator failing is not something a server can go on from.
        getrandom::fill(&mut bytes).expect("the operating system's random number generator");
        bytes
    }

    /// A fresh install id, `inst_` and 16 hex digits.
    pub fn install_id() -> String {
        format!("inst_{}", hex::encode(random::<8>()))
    }

    /// A fresh device id, `dev_` and 16 hex digits.
    pub fn device_id() -> String {
        format!("dev_{}", hex::encode(random::<8>()))
    }

    /// A fresh install token: 256 random bits.
    pub fn install_token() -> Token {
        token(INSTALL_TOKEN_PREFIX)
    }

    /// A fresh device token: 256 random bits.
    pub fn device_token() -> Token {
        token(DEVICE_TOKEN_PREFIX)
    }

    fn token(prefix: &str) -> Token {
        Token::new(format!("{prefix}{}", hex::encode(random::<32>())))
            .expect("a prefix and 64 hex digits make a valid token")
    }

    /// A fresh pairing code.
    pub fn pairing_code() -> PairingCode {
        PairingCode::from_entropy(random())
    }

    /// The SHA-256 of a secret (token or canonical code) in hex: what a server stores.
    pub fn digest(secret: &str) -> String {
        use sha2::{Digest, Sha256};
        hex::encode(Sha256::digest(secret.as_bytes()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_code_uses_every_bit_once_and_reads_back_however_it_is_typed() {
        assert_eq!(PairingCode::from_entropy([0; 5]).display(), "AAAA-AAAA");
        assert_eq!(PairingCode::from_entropy([0xff; 5]).display(), "9999-9999");
        // 00001 00010 ... : each 5-bit group picks its own letter.
        let code = PairingCode::from_entropy([
            0b0000_1000,
            0b1000_0110,
            0b0100_0010,
            0b1001_1000,
            0b1110_1000,
        ]);
        assert_eq!(code.canonical(), "BCDEFGHJ");
        for typed in ["BCDE-FGHJ", "bcde fghj", " bcdefghj ", "BC-DE-FG-HJ"] {
            assert_eq!(PairingCode::parse(typed).unwrap(), code, "{typed}");
        }
        assert_eq!(
            PairingCode::parse("BCDE-FGH").unwrap_err(),
            CodeError::Length(7)
        );
        assert_eq!(
            PairingCode::parse("BCDE-FGH0").unwrap_err(),
            CodeError::Character('0')
        );
        assert_eq!(
            PairingCode::parse("BCDE-FGHI").unwrap_err(),
            CodeError::Character('I')
        );
        assert_eq!(
            PairingCode::parse("BCDE-FGHé").unwrap_err(),
            CodeError::Character('é')
        );
        assert_eq!(format!("{code:?}"), "PairingCode(<redacted>)");
    }

    #[test]
    fn the_alphabet_has_32_distinct_letters_and_none_that_read_alike() {
        let mut sorted = CODE_ALPHABET.to_vec();
        sorted.sort_unstable();
        sorted.dedup();
        assert_eq!(sorted.len(), 32);
        for bad in b"01IO" {
            assert!(!CODE_ALPHABET.contains(bad));
        }
    }

    #[test]
    fn a_keyless_socket_may_only_say_hello_ping_register_and_pair() {
        for ok in ["hello", "ping", "register", "pair"] {
            assert!(keyless_may(ok));
        }
        for no in [
            "publish",
            "reply",
            "subscribe",
            "pairCode",
            "devices",
            "revoke",
            "requestUpload",
        ] {
            assert!(!keyless_may(no), "{no}");
        }
    }

    #[test]
    fn an_install_and_its_devices_are_one_tenant_and_keys_each_their_own() {
        let install = Identity::Install {
            install_id: "inst_1".into(),
        };
        let device = Identity::Device {
            install_id: "inst_1".into(),
            device_id: "dev_1".into(),
        };
        let other = Identity::Install {
            install_id: "inst_2".into(),
        };
        let key = Identity::Operator {
            key_id: "inst_1".into(),
        };
        assert_eq!(install.tenant(), device.tenant());
        assert_ne!(install.tenant(), other.tenant());
        assert_ne!(
            install.tenant(),
            key.tenant(),
            "a key id never names an install's tenant"
        );
        assert_eq!(install.install(), Some("inst_1"));
        assert_eq!(
            device.install(),
            None,
            "a device may not manage its install"
        );
        assert_eq!(device.device(), Some("dev_1"));
    }

    #[test]
    fn names_are_trimmed_cut_and_never_empty() {
        assert_eq!(clean_name("  laptop\u{7} CLI \n", "device"), "laptop CLI");
        assert_eq!(clean_name("", "device"), "device");
        assert_eq!(
            clean_name(&"x".repeat(100), "d").chars().count(),
            MAX_NAME_CHARS
        );
    }

    #[cfg(feature = "keys")]
    #[test]
    fn issued_secrets_are_valid_tokens_with_their_prefix_and_never_repeat() {
        let a = issue::install_token();
        let b = issue::install_token();
        assert_ne!(a, b);
        assert!(a.expose().starts_with(INSTALL_TOKEN_PREFIX));
        assert_eq!(a.expose().len(), 4 + 64);
        assert!(issue::device_token()
            .expose()
            .starts_with(DEVICE_TOKEN_PREFIX));
        assert_ne!(issue::install_id(), issue::install_id());
        assert_ne!(issue::pairing_code(), issue::pairing_code());
        assert_eq!(issue::digest("x").len(), 64);
    }
}
