//! Helpers shared by the fuzz targets: an independent reading of a frame's top-level keys, a
//! JSON comparison that knows serde_json's float parsing, and the opt-in strict mode.

use std::sync::OnceLock;

use serde::de::{Deserialize, Deserializer, MapAccess, Visitor};
use serde_json::Value;

/// Set `SEMANTEST_FUZZ_STRICT=1` to also assert what the protocol does not promise today:
/// every error message at most [`STRICT_MESSAGE_CHARS`] characters, and floats that survive a
/// round trip bit for bit. Both fail at the time of writing (see README.md).
pub fn strict() -> bool {
    static STRICT: OnceLock<bool> = OnceLock::new();
    *STRICT.get_or_init(|| std::env::var_os("SEMANTEST_FUZZ_STRICT").is_some_and(|v| v == "1"))
}

/// The bound strict mode puts on any error message.
pub const STRICT_MESSAGE_CHARS: usize = 256;

/// The top-level keys of a JSON object, read without the protocol crate: every occurrence of
/// every key, in order (serde_json's `Value` would keep only the last of duplicated keys).
#[derive(Debug)]
pub struct TopLevel(Vec<(String, Value)>);

impl TopLevel {
    /// `None` when `text` is not one JSON object.
    pub fn read(text: &str) -> Option<Self> {
        serde_json::from_str(text).ok()
    }

    /// How often `key` occurs.
    pub fn count(&self, key: &str) -> usize {
        self.0.iter().filter(|(k, _)| k == key).count()
    }

    /// The value of `key` when it occurs exactly once.
    pub fn single(&self, key: &str) -> Option<&Value> {
        let mut found = self.0.iter().filter(|(k, _)| k == key);
        match (found.next(), found.next()) {
            (Some((_, v)), None) => Some(v),
            _ => None,
        }
    }

    /// The envelope `{"<kind_key>": string, "<id_key>"?: string | null, "payload"?: any}` with
    /// each of those keys at most once: `(kind, id)`. `None` for anything else.
    pub fn envelope(&self, kind_key: &str, id_key: &str) -> Option<(&str, Option<&str>)> {
        let kind = self.single(kind_key)?.as_str()?;
        if self.count(id_key) > 1 || self.count("payload") > 1 {
            return None;
        }
        let id = match self.single(id_key) {
            None | Some(Value::Null) => None,
            Some(Value::String(s)) => Some(s.as_str()),
            Some(_) => return None,
        };
        Some((kind, id))
    }
}

impl<'de> Deserialize<'de> for TopLevel {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Keys;
        impl<'de> Visitor<'de> for Keys {
            type Value = TopLevel;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<TopLevel, A::Error> {
                let mut keys = Vec::new();
                while let Some(key) = map.next_key::<String>()? {
                    keys.push((key, map.next_value::<Value>()?));
                }
                Ok(TopLevel(keys))
            }
        }
        deserializer.deserialize_map(Keys)
    }
}

/// Whether serde_json reads back its own float output exactly. By default it does not (its
/// "best effort" parser can be off by a unit in the last place or two; the `float_roundtrip`
/// feature fixes that), so a float in a frame's `data` may change in the last bits on the way
/// through. Checked once, on a float that the default parser gets wrong.
pub fn exact_floats() -> bool {
    static EXACT: OnceLock<bool> = OnceLock::new();
    *EXACT.get_or_init(|| {
        let text = "-0.0009979823645894575";
        serde_json::from_str::<f64>(text).ok() == text.parse::<f64>().ok()
    })
}

/// How far apart, in units in the last place, a float may come back: serde_json's default
/// parser rounds the significand, a power of ten and their product (plus one more division
/// below 1e-308), each within half a unit.
pub const FLOAT_ULPS: u64 = 4;

/// `a` and `b` are the same JSON, but floats may differ by [`FLOAT_ULPS`] when serde_json's
/// parser is not exact (and strict mode is off).
pub fn same_value(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) if x.is_f64() && y.is_f64() => {
            match (x.as_f64(), y.as_f64()) {
                (Some(x), Some(y)) => close(x, y),
                _ => false,
            }
        }
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(x, y)| same_value(x, y))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len()
                && x.iter()
                    .all(|(k, v)| y.get(k).is_some_and(|w| same_value(v, w)))
        }
        _ => a == b,
    }
}

fn close(x: f64, y: f64) -> bool {
    if x == y {
        return true;
    }
    if exact_floats() || strict() || x.is_sign_negative() != y.is_sign_negative() {
        return false;
    }
    x.to_bits().abs_diff(y.to_bits()) <= FLOAT_ULPS
}
