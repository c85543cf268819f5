//! Helpers shared by the fuzz targets: an independent reading of a frame's top-level keys and
//! a JSON comparison that tells floats apart bit for bit.

use serde::de::{Deserialize, Deserializer, MapAccess, Visitor};
use serde_json::value::RawValue;
use serde_json::Value;

/// The top-level keys of a JSON object, read without the protocol crate: every occurrence of
/// every key, in order (serde_json's `Value` would keep only the last of duplicated keys).
///
/// A value is `None` when it is valid JSON that a `Value` cannot hold: a number beyond `f64`
/// (`1e999`) or nesting deeper than serde_json's 128 levels. serde skips such a value unread
/// in a field that a frame ignores, so the frame still parses.
#[derive(Debug)]
pub struct TopLevel(Vec<(String, Option<Value>)>);

impl TopLevel {
    /// `None` when `text` is not one JSON object.
    pub fn read(text: &str) -> Option<Self> {
        serde_json::from_str(text).ok()
    }

    /// How often `key` occurs.
    pub fn count(&self, key: &str) -> usize {
        self.0.iter().filter(|(k, _)| k == key).count()
    }

    /// The value of `key` when it occurs exactly once (`Some(None)` when a `Value` cannot
    /// hold it).
    pub fn once(&self, key: &str) -> Option<Option<&Value>> {
        let mut found = self.0.iter().filter(|(k, _)| k == key);
        match (found.next(), found.next()) {
            (Some((_, v)), None) => Some(v.as_ref()),
            _ => None,
        }
    }

    /// The value of `key` when it occurs exactly once and a `Value` can hold it.
    pub fn single(&self, key: &str) -> Option<&Value> {
        self.once(key).flatten()
    }

    /// The envelope `{"<kind_key>": string, "<id_key>"?: string | null, "payload"?: any}` with
    /// each of those keys at most once and a payload that a `Value` can hold (the protocol
    /// reads it as one): `(kind, id)`. `None` for anything else.
    pub fn envelope(&self, kind_key: &str, id_key: &str) -> Option<(&str, Option<&str>)> {
        let kind = self.single(kind_key)?.as_str()?;
        let payload_unreadable = matches!(self.once("payload"), Some(None));
        if self.count(id_key) > 1 || self.count("payload") > 1 || payload_unreadable {
            return None;
        }
        let id = match self.once(id_key) {
            None | Some(Some(Value::Null)) => None,
            Some(Some(Value::String(s))) => Some(s.as_str()),
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
                    // Read as the protocol's derived Deserialize skips an unknown field: any
                    // valid JSON, whatever its numbers and depth.
                    let raw = map.next_value::<Box<RawValue>>()?;
                    keys.push((key, serde_json::from_str(raw.get()).ok()));
                }
                Ok(TopLevel(keys))
            }
        }
        deserializer.deserialize_map(Keys)
    }
}

/// The kind of a JSON value as the protocol's "must be a JSON object, not …" messages name it.
pub use semantest_protocol::json::kind;

/// `a` and `b` are the same JSON, floats bit for bit (so `0.0` and `-0.0` differ, where
/// `Value`'s `==` takes them as equal). serde_json reads back exactly what it wrote because
/// the protocol crate turns on its `float_roundtrip` feature on native targets; without it a
/// float can move in its last bits on a round trip, and this fails.
pub fn same_value(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) if x.is_f64() || y.is_f64() => {
            x.is_f64() && y.is_f64() && x.as_f64().map(f64::to_bits) == y.as_f64().map(f64::to_bits)
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
