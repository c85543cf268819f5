//! A `serde_json::Value` to compact JSON text, by hand, as serde_json writes it, and the
//! builders of the values the client writes.

use serde_json::{Number, Value};

use super::float::push_f64;

/// `value` as compact JSON text, byte for byte as serde_json writes it (natively; in the
/// browser a float may be spelled as JavaScript spells it, e.g. `10000000000000000.0` for
/// `1e16`, which reads back the same).
pub fn write(value: &Value) -> String {
    let mut out = String::new();
    write_to(&mut out, value);
    out
}

/// Appends `value` as compact JSON text to `out`.
pub fn write_to(out: &mut String, value: &Value) {
    match value {
        Value::Null => out.push_str("null"),
        Value::Bool(true) => out.push_str("true"),
        Value::Bool(false) => out.push_str("false"),
        Value::Number(n) => write_number(out, n),
        Value::String(s) => write_str(out, s),
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_to(out, item);
            }
            out.push(']');
        }
        Value::Object(map) => {
            out.push('{');
            for (i, (key, item)) in map.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_str(out, key);
                out.push(':');
                write_to(out, item);
            }
            out.push('}');
        }
    }
}

fn write_number(out: &mut String, n: &Number) {
    use std::fmt::Write;
    if let Some(n) = n.as_u64() {
        let _ = write!(out, "{n}");
    } else if let Some(n) = n.as_i64() {
        let _ = write!(out, "{n}");
    } else {
        // A Number holds only finite floats: the shortest text that reads back the same, with
        // a `.0` so that it stays a float (and `-0.0` keeps its sign, which JavaScript drops).
        let f = n.as_f64().unwrap_or_default();
        if f == 0.0 && f.is_sign_negative() {
            return out.push_str("-0.0");
        }
        let start = out.len();
        push_f64(out, f);
        if !out[start..].contains(['.', 'e']) {
            out.push_str(".0");
        }
    }
}

/// `f` as JSON writes it (`1.5`, `2.0`, `1e+21` in the browser), for messages: without
/// `{}`'s float formatting, which is 4 KB of the .wasm.
pub fn float_text(f: f64) -> String {
    match Number::from_f64(f) {
        Some(n) => write(&Value::Number(n)),
        None => String::from(if f.is_nan() {
            "NaN"
        } else if f > 0.0 {
            "inf"
        } else {
            "-inf"
        }),
    }
}

/// `text` as a JSON string, escaped as serde_json escapes it.
pub fn write_str(out: &mut String, text: &str) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    out.push('"');
    let mut start = 0;
    for (i, b) in text.bytes().enumerate() {
        let escape = match b {
            b'"' => "\\\"",
            b'\\' => "\\\\",
            b'\n' => "\\n",
            b'\r' => "\\r",
            b'\t' => "\\t",
            0x08 => "\\b",
            0x0c => "\\f",
            0..=0x1f => "",
            _ => continue,
        };
        out.push_str(&text[start..i]);
        if escape.is_empty() {
            out.push_str("\\u00");
            out.push(char::from(HEX[usize::from(b >> 4)]));
            out.push(char::from(HEX[usize::from(b & 0xf)]));
        } else {
            out.push_str(escape);
        }
        start = i + 1;
    }
    out.push_str(&text[start..]);
    out.push('"');
}

/// An object from `(key, value)` pairs, in that order.
#[inline]
pub fn object<const N: usize>(fields: [(&str, Value); N]) -> Value {
    // One copy of the loop for every size of object, not one per size.
    object_of(Vec::from(fields))
}

fn object_of(fields: Vec<(&str, Value)>) -> Value {
    Value::Object(fields.into_iter().map(|(k, v)| (k.to_owned(), v)).collect())
}

/// An array of strings.
pub fn string_array(items: &[String]) -> Value {
    Value::Array(items.iter().cloned().map(Value::String).collect())
}
