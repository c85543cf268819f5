//! Floats to and from JSON text: natively by core and serde_json (as serde_json reads and
//! spells them); in the browser by JavaScript's `parseFloat` and `Number.prototype.toString`,
//! exact as well, since core's float reader and writer are 14 KB of the .wasm.

/// `text`, a JSON number, as the nearest `f64` (infinite when out of range). In the browser
/// JavaScript's own `parseFloat` reads it, exactly as well: core's reader brings a 10 KB table
/// into the .wasm.
#[cfg(not(all(target_arch = "wasm32", target_os = "unknown")))]
pub(super) fn to_f64(text: &str) -> f64 {
    text.parse().unwrap_or(f64::NAN)
}

#[cfg(all(target_arch = "wasm32", target_os = "unknown"))]
pub(super) fn to_f64(text: &str) -> f64 {
    js_sys::parse_float(text)
}

/// The shortest text that reads back as `f`, a finite float: natively by serde_json's own
/// `Number` display, so the bytes are serde_json's (`1e+16`, and a tie between two shortest
/// spellings rounded as serde_json rounds it, where core's `{}` rounds the other way). In the
/// browser JavaScript's `Number.prototype.toString` writes it (`1e+21`, `1.5e-7`; plain digits
/// up to 1e21): core's float formatting is 4 KB of the .wasm.
#[cfg(not(all(target_arch = "wasm32", target_os = "unknown")))]
pub(super) fn push_f64(out: &mut String, f: f64) {
    use std::fmt::Write;
    if let Some(n) = serde_json::Number::from_f64(f) {
        let _ = write!(out, "{n}");
    }
}

#[cfg(all(target_arch = "wasm32", target_os = "unknown"))]
pub(super) fn push_f64(out: &mut String, f: f64) {
    if let Ok(text) = js_sys::Number::from(f).to_string_with_radix(10) {
        out.push_str(&String::from(text));
    }
}
