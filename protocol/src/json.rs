//! JSON by hand for the client: text to `serde_json::Value` and back, and typed reads of an
//! object's fields, without serde's generic code.
//!
//! Why: in the .wasm each serde type brought its own deserializer, and serde_json's text
//! reader and writer came on top; together they were a third of the module (BENCHMARKS.md,
//! "The module"). The client reads and writes its few frame and settings types through this
//! one small reader and writer instead. The servers keep serde. The tests in `tests/` check
//! that both sides agree: the same texts accepted and read to the same values, the same texts
//! written (see `tests/json.rs` and `tests/wire.rs`).
//!
//! The [`Value`] type stays serde_json's, so the rest of the code (and the servers) share it.

use std::fmt;

use serde_json::{Map, Number, Value};

/// serde_json's nesting limit: 127 arrays or objects deep is read, 128 is refused.
const MAX_DEPTH: usize = 128;

/// Why a text is not JSON: what is wrong and where, in serde_json's words.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyntaxError {
    /// What is wrong, e.g. `EOF while parsing a value`.
    pub what: &'static str,
    /// The line, from 1.
    pub line: usize,
    /// The column on that line, from 1 (0 at the very start of a line).
    pub column: usize,
}

impl fmt::Display for SyntaxError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} at line {} column {}",
            self.what, self.line, self.column
        )
    }
}

/// Reads `text` as one JSON value, as serde_json reads it into a [`Value`]: integers as
/// `u64`/`i64` where they fit (`-0` and larger ones as `f64`), floats correctly rounded, a
/// repeated key keeps its first place and its last value.
pub fn parse(text: &str) -> Result<Value, SyntaxError> {
    let mut p = Parser {
        text: text.as_bytes(),
        at: 0,
        depth: 0,
    };
    let value = p.value()?;
    p.space();
    if p.at < p.text.len() {
        p.at += 1;
        return Err(p.error("trailing characters"));
    }
    Ok(value)
}

struct Parser<'a> {
    text: &'a [u8],
    at: usize,
    depth: usize,
}

impl Parser<'_> {
    fn error(&self, what: &'static str) -> SyntaxError {
        let before = &self.text[..self.at.min(self.text.len())];
        let line = 1 + before.iter().filter(|&&b| b == b'\n').count();
        let line_start = before
            .iter()
            .rposition(|&b| b == b'\n')
            .map_or(0, |i| i + 1);
        SyntaxError {
            what,
            line,
            column: before.len() - line_start,
        }
    }

    /// The error for the byte at `self.at` (which counts in its column), or for the end.
    fn error_here(&mut self, at_end: &'static str, otherwise: &'static str) -> SyntaxError {
        if self.at >= self.text.len() {
            self.error(at_end)
        } else {
            self.at += 1;
            self.error(otherwise)
        }
    }

    fn peek(&self) -> Option<u8> {
        self.text.get(self.at).copied()
    }

    fn space(&mut self) {
        while let Some(b' ' | b'\n' | b'\t' | b'\r') = self.peek() {
            self.at += 1;
        }
    }

    fn value(&mut self) -> Result<Value, SyntaxError> {
        self.space();
        match self.peek() {
            None => Err(self.error("EOF while parsing a value")),
            Some(b'n') => self.word(b"null", Value::Null),
            Some(b't') => self.word(b"true", Value::Bool(true)),
            Some(b'f') => self.word(b"false", Value::Bool(false)),
            Some(b'"') => {
                self.at += 1;
                self.string().map(Value::String)
            }
            Some(b'-' | b'0'..=b'9') => self.number(),
            Some(b'[') => self.nested(Parser::array),
            Some(b'{') => self.nested(Parser::object),
            Some(_) => Err(self.error_here("", "expected value")),
        }
    }

    fn nested(
        &mut self,
        read: fn(&mut Self) -> Result<Value, SyntaxError>,
    ) -> Result<Value, SyntaxError> {
        self.depth += 1;
        if self.depth >= MAX_DEPTH {
            self.at += 1;
            return Err(self.error("recursion limit exceeded"));
        }
        self.at += 1;
        let value = read(self);
        self.depth -= 1;
        value
    }

    fn word(&mut self, word: &[u8], value: Value) -> Result<Value, SyntaxError> {
        for &want in word {
            match self.peek() {
                None => return Err(self.error("EOF while parsing a value")),
                Some(b) if b == want => self.at += 1,
                Some(_) => {
                    self.at += 1;
                    return Err(self.error("expected ident"));
                }
            }
        }
        Ok(value)
    }

    fn digits(&mut self) -> usize {
        let start = self.at;
        while let Some(b'0'..=b'9') = self.peek() {
            self.at += 1;
        }
        self.at - start
    }

    fn number(&mut self) -> Result<Value, SyntaxError> {
        let start = self.at;
        let negative = self.peek() == Some(b'-');
        if negative {
            self.at += 1;
        }
        match self.peek() {
            Some(b'0') => {
                self.at += 1;
                if let Some(b'0'..=b'9') = self.peek() {
                    self.at += 1;
                    return Err(self.error("invalid number"));
                }
            }
            Some(b'1'..=b'9') => {
                self.digits();
            }
            None => return Err(self.error("EOF while parsing a value")),
            Some(_) => return Err(self.error_here("", "invalid number")),
        }
        let mut float = false;
        if self.peek() == Some(b'.') {
            self.at += 1;
            float = true;
            if self.digits() == 0 {
                return Err(self.error_here("EOF while parsing a value", "invalid number"));
            }
        }
        if let Some(b'e' | b'E') = self.peek() {
            let nonzero = self.text[start..self.at]
                .iter()
                .any(|b| matches!(b, b'1'..=b'9'));
            self.at += 1;
            float = true;
            let sign = self.peek();
            if let Some(b'+' | b'-') = sign {
                self.at += 1;
            }
            let digits = self.at;
            let mut exp = 0u64;
            while let Some(d @ b'0'..=b'9') = self.peek() {
                self.at += 1;
                exp = (exp * 10 + u64::from(d - b'0')).min(1 << 31);
                // Where serde_json stops: at the digit taking the exponent past i32::MAX,
                // unless the number is 0 or the exponent negative (then it reads 0).
                if exp >> 31 != 0 && nonzero && sign != Some(b'-') {
                    return Err(self.error("number out of range"));
                }
            }
            if self.at == digits {
                return Err(self.error_here("EOF while parsing a value", "invalid number"));
            }
        }
        // The bytes are ASCII digits and signs, so the slice is text.
        let text = std::str::from_utf8(&self.text[start..self.at]).unwrap_or_default();
        if !float {
            if negative {
                if let Ok(n) = text.parse::<i64>() {
                    if n != 0 {
                        return Ok(Value::Number(n.into()));
                    }
                }
            } else if let Ok(n) = text.parse::<u64>() {
                return Ok(Value::Number(n.into()));
            }
        }
        match Number::from_f64(to_f64(text)) {
            Some(n) => Ok(Value::Number(n)),
            None => Err(self.error("number out of range")),
        }
    }

    /// A string's contents after its opening quote.
    fn string(&mut self) -> Result<String, SyntaxError> {
        let mut out = Vec::new();
        loop {
            let start = self.at;
            while let Some(b) = self.peek() {
                if b == b'"' || b == b'\\' || b < 0x20 {
                    break;
                }
                self.at += 1;
            }
            out.extend_from_slice(&self.text[start..self.at]);
            match self.peek() {
                None => return Err(self.error("EOF while parsing a string")),
                Some(b'"') => {
                    self.at += 1;
                    // Whole UTF-8 runs of a `&str` and encoded escapes: valid UTF-8.
                    return Ok(String::from_utf8(out).unwrap_or_default());
                }
                Some(b'\\') => {
                    self.at += 1;
                    self.escape(&mut out)?;
                }
                Some(_) => {
                    self.at += 1;
                    return Err(self.error(
                        "control character (\\u0000-\\u001F) found while parsing a string",
                    ));
                }
            }
        }
    }

    fn escape(&mut self, out: &mut Vec<u8>) -> Result<(), SyntaxError> {
        let Some(b) = self.peek() else {
            return Err(self.error("EOF while parsing a string"));
        };
        self.at += 1;
        let byte = match b {
            b'"' => b'"',
            b'\\' => b'\\',
            b'/' => b'/',
            b'b' => 0x08,
            b'f' => 0x0c,
            b'n' => b'\n',
            b'r' => b'\r',
            b't' => b'\t',
            b'u' => {
                let c = self.unicode_escape()?;
                let mut buf = [0; 4];
                out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
                return Ok(());
            }
            _ => return Err(self.error("invalid escape")),
        };
        out.push(byte);
        Ok(())
    }

    /// The character of `\uXXXX` (after the `u`), with its trailing surrogate if it needs one.
    fn unicode_escape(&mut self) -> Result<char, SyntaxError> {
        let first = self.hex4()?;
        if (0xDC00..=0xDFFF).contains(&first) {
            return Err(self.error("lone leading surrogate in hex escape"));
        }
        if !(0xD800..=0xDBFF).contains(&first) {
            return char::from_u32(first).ok_or_else(|| self.error("invalid unicode code point"));
        }
        for want in [b'\\', b'u'] {
            match self.peek() {
                None => return Err(self.error("EOF while parsing a string")),
                Some(b) if b == want => self.at += 1,
                Some(_) => {
                    self.at += 1;
                    return Err(self.error("unexpected end of hex escape"));
                }
            }
        }
        let second = self.hex4()?;
        if !(0xDC00..=0xDFFF).contains(&second) {
            return Err(self.error("lone leading surrogate in hex escape"));
        }
        let code = 0x10000 + ((first - 0xD800) << 10) + (second - 0xDC00);
        char::from_u32(code).ok_or_else(|| self.error("invalid unicode code point"))
    }

    /// Four hex digits, taken at once as serde_json takes them (so its error positions).
    fn hex4(&mut self) -> Result<u32, SyntaxError> {
        let Some(hex) = self.text.get(self.at..self.at + 4) else {
            self.at = self.text.len();
            return Err(self.error("EOF while parsing a string"));
        };
        self.at += 4;
        let mut code = 0;
        for &b in hex {
            let Some(digit) = char::from(b).to_digit(16) else {
                return Err(self.error("invalid escape"));
            };
            code = code * 16 + digit;
        }
        Ok(code)
    }

    fn array(&mut self) -> Result<Value, SyntaxError> {
        let mut items = Vec::new();
        self.space();
        match self.peek() {
            Some(b']') => {
                self.at += 1;
                return Ok(Value::Array(items));
            }
            None => return Err(self.error("EOF while parsing a list")),
            _ => {}
        }
        loop {
            items.push(self.value()?);
            self.space();
            match self.peek() {
                Some(b',') => {
                    self.at += 1;
                    self.space();
                    if self.peek() == Some(b']') {
                        self.at += 1;
                        return Err(self.error("trailing comma"));
                    }
                }
                Some(b']') => {
                    self.at += 1;
                    return Ok(Value::Array(items));
                }
                _ => return Err(self.error_here("EOF while parsing a list", "expected `,` or `]`")),
            }
        }
    }

    fn object(&mut self) -> Result<Value, SyntaxError> {
        let mut map = Map::new();
        self.space();
        if self.peek() == Some(b'}') {
            self.at += 1;
            return Ok(Value::Object(map));
        }
        // serde_json's word for an end of text where a key must be: after a comma, a value.
        let mut eof = "EOF while parsing an object";
        loop {
            match self.peek() {
                Some(b'"') => self.at += 1,
                _ => return Err(self.error_here(eof, "key must be a string")),
            }
            let key = self.string()?;
            self.space();
            match self.peek() {
                Some(b':') => self.at += 1,
                _ => return Err(self.error_here("EOF while parsing an object", "expected `:`")),
            }
            let value = self.value()?;
            map.insert(key, value);
            self.space();
            match self.peek() {
                Some(b',') => {
                    self.at += 1;
                    eof = "EOF while parsing a value";
                    self.space();
                    if self.peek() == Some(b'}') {
                        self.at += 1;
                        return Err(self.error("trailing comma"));
                    }
                }
                Some(b'}') => {
                    self.at += 1;
                    return Ok(Value::Object(map));
                }
                _ => {
                    return Err(
                        self.error_here("EOF while parsing an object", "expected `,` or `}`")
                    )
                }
            }
        }
    }
}

/// `value` as compact JSON text, byte for byte as serde_json writes it (natively; in the
/// browser a float may be spelled as JavaScript spells it, `1e21` for `1e+21`, which reads back
/// the same).
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
    use fmt::Write;
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

/// Why a value could not be read as a typed one.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ReadError {
    /// Not JSON at all.
    Syntax(SyntaxError),
    /// JSON, but not the object it must be.
    NotObject {
        /// What must be an object: `frame`, `payload`, ….
        what: &'static str,
        /// What it was instead: `an array`, `a string`, `a boolean`, `a number`, `null`.
        found: &'static str,
    },
    /// A field that must be there is not.
    Missing(&'static str),
    /// A field of the wrong kind.
    Type {
        /// The field.
        field: &'static str,
        /// What it must be, e.g. `a string`.
        expected: &'static str,
        /// What it was.
        found: &'static str,
    },
    /// A field of the right kind whose value is not allowed.
    Invalid {
        /// The field.
        field: &'static str,
        /// Why (bounded: a quoted input is cut).
        reason: String,
    },
    /// A field this type does not have (for types that refuse unknown fields).
    Unknown {
        /// The field as given (cut to 40 characters).
        field: String,
        /// The fields the type has.
        expected: &'static [&'static str],
    },
}

impl fmt::Display for ReadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ReadError::Syntax(e) => e.fmt(f),
            ReadError::NotObject { what, found } => {
                write!(f, "a {what} must be a JSON object, not {found}")
            }
            ReadError::Missing(field) => write!(f, "missing field `{field}`"),
            ReadError::Type {
                field,
                expected,
                found,
            } => write!(
                f,
                "invalid type for `{field}`: {found}, expected {expected}"
            ),
            ReadError::Invalid { field, reason } => write!(f, "invalid `{field}`: {reason}"),
            ReadError::Unknown { field, expected } => {
                write!(f, "unknown field `{field}`, expected ")?;
                one_of(f, expected)
            }
        }
    }
}

impl std::error::Error for ReadError {}

/// `` `a`, `b` or `c` ``.
fn one_of(f: &mut fmt::Formatter<'_>, names: &[&str]) -> fmt::Result {
    for (i, name) in names.iter().enumerate() {
        let sep = match i {
            0 => "",
            _ if i + 1 == names.len() => " or ",
            _ => ", ",
        };
        write!(f, "{sep}`{name}`")?;
    }
    Ok(())
}

/// The kind of `value`, for messages: `an array`, `a string`, `a boolean`, `a number`, `null`,
/// `an object`.
pub fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// An object being read as a struct: each field is taken out once, by name.
#[derive(Debug)]
pub struct Fields(Map<String, Value>);

impl Fields {
    /// `value` as the fields of a `what` (`payload`, …), which must be a JSON object.
    pub fn of(value: Value, what: &'static str) -> Result<Fields, ReadError> {
        match value {
            Value::Object(map) => Ok(Fields(map)),
            other => Err(ReadError::NotObject {
                what,
                found: kind(&other),
            }),
        }
    }

    /// `text` read as the fields of a `what`: JSON, and an object.
    pub fn parse(text: &str, what: &'static str) -> Result<Fields, ReadError> {
        Fields::of(parse(text).map_err(ReadError::Syntax)?, what)
    }

    /// The field's value, if it is there.
    pub fn take(&mut self, field: &str) -> Option<Value> {
        self.0.remove(field)
    }

    /// The field's value; `null` when it is not there (serde's `#[serde(default)] Value`).
    pub fn value(&mut self, field: &str) -> Value {
        self.take(field).unwrap_or_default()
    }

    /// A string that must be there.
    pub fn string(&mut self, field: &'static str) -> Result<String, ReadError> {
        string(field, self.take(field).ok_or(ReadError::Missing(field))?)
    }

    /// A string that may be missing or `null`.
    pub fn opt_string(&mut self, field: &'static str) -> Result<Option<String>, ReadError> {
        self.optional(field, string)
    }

    /// An unsigned integer that must be there.
    pub fn u64(&mut self, field: &'static str) -> Result<u64, ReadError> {
        unsigned(field, self.take(field).ok_or(ReadError::Missing(field))?)
    }

    /// An unsigned integer that may be missing or `null`.
    pub fn opt_u64(&mut self, field: &'static str) -> Result<Option<u64>, ReadError> {
        self.optional(field, unsigned)
    }

    /// A number that may be missing or `null`.
    pub fn opt_f64(&mut self, field: &'static str) -> Result<Option<f64>, ReadError> {
        self.optional(field, float)
    }

    /// A boolean that may be missing or `null`.
    pub fn opt_bool(&mut self, field: &'static str) -> Result<Option<bool>, ReadError> {
        self.optional(field, boolean)
    }

    /// A boolean that is `false` when missing (but not `null`).
    pub fn bool_or_false(&mut self, field: &'static str) -> Result<bool, ReadError> {
        match self.take(field) {
            None => Ok(false),
            Some(v) => boolean(field, v),
        }
    }

    /// An array of strings, empty when missing (but not `null`).
    pub fn strings_or_empty(&mut self, field: &'static str) -> Result<Vec<String>, ReadError> {
        match self.take(field) {
            None => Ok(Vec::new()),
            Some(v) => strings(field, v),
        }
    }

    /// An array of strings that may be missing or `null`.
    pub fn opt_strings(&mut self, field: &'static str) -> Result<Option<Vec<String>>, ReadError> {
        self.optional(field, strings)
    }

    /// A string that must be there, read by `read` (a name, a token, …).
    pub fn with<T>(
        &mut self,
        field: &'static str,
        read: fn(&'static str, Value) -> Result<T, ReadError>,
    ) -> Result<T, ReadError> {
        read(field, self.take(field).ok_or(ReadError::Missing(field))?)
    }

    /// A field read by `read` that may be missing or `null`.
    pub fn optional<T>(
        &mut self,
        field: &'static str,
        read: fn(&'static str, Value) -> Result<T, ReadError>,
    ) -> Result<Option<T>, ReadError> {
        match self.take(field) {
            None | Some(Value::Null) => Ok(None),
            Some(v) => read(field, v).map(Some),
        }
    }

    /// Refuses any field not taken yet (serde's `deny_unknown_fields`).
    pub fn done(self, expected: &'static [&'static str]) -> Result<(), ReadError> {
        match self.0.into_iter().next() {
            None => Ok(()),
            Some((field, _)) => Err(ReadError::Unknown {
                field: crate::shorten(&field, 40),
                expected,
            }),
        }
    }
}

fn wrong(field: &'static str, expected: &'static str, value: &Value) -> ReadError {
    ReadError::Type {
        field,
        expected,
        found: kind(value),
    }
}

/// `value` as a string.
pub fn string(field: &'static str, value: Value) -> Result<String, ReadError> {
    match value {
        Value::String(s) => Ok(s),
        other => Err(wrong(field, "a string", &other)),
    }
}

/// `value` as an unsigned integer (a float is refused, as serde refuses it).
pub fn unsigned(field: &'static str, value: Value) -> Result<u64, ReadError> {
    match &value {
        Value::Number(n) => n.as_u64().ok_or_else(|| ReadError::Invalid {
            field,
            reason: write(&value) + " is not an unsigned integer",
        }),
        other => Err(wrong(field, "an unsigned integer", other)),
    }
}

/// `value` as a float (any number).
pub fn float(field: &'static str, value: Value) -> Result<f64, ReadError> {
    match &value {
        Value::Number(n) => Ok(n.as_f64().unwrap_or_default()),
        other => Err(wrong(field, "a number", other)),
    }
}

/// `value` as a boolean.
pub fn boolean(field: &'static str, value: Value) -> Result<bool, ReadError> {
    match value {
        Value::Bool(b) => Ok(b),
        other => Err(wrong(field, "a boolean", &other)),
    }
}

/// `value` as an array of strings.
pub fn strings(field: &'static str, value: Value) -> Result<Vec<String>, ReadError> {
    match value {
        Value::Array(items) => items.into_iter().map(|item| string(field, item)).collect(),
        other => Err(wrong(field, "an array of strings", &other)),
    }
}

/// `value`, a string, as one of `names` (an enum's variants): its index.
pub fn one_of_names(
    field: &'static str,
    value: Value,
    names: &'static [&'static str],
) -> Result<usize, ReadError> {
    let text = string(field, value)?;
    names
        .iter()
        .position(|n| *n == text)
        .ok_or_else(|| ReadError::Invalid {
            field,
            reason: format!(
                "unknown variant `{}`, expected {}",
                crate::shorten(&text, 40),
                Names(names)
            ),
        })
}

struct Names(&'static [&'static str]);

impl fmt::Display for Names {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        one_of(f, self.0)
    }
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

/// `text`, a JSON number, as the nearest `f64` (infinite when out of range). In the browser
/// JavaScript's own `parseFloat` reads it, exactly as well: core's reader brings a 10 KB table
/// into the .wasm.
#[cfg(not(target_arch = "wasm32"))]
fn to_f64(text: &str) -> f64 {
    text.parse().unwrap_or(f64::NAN)
}

#[cfg(target_arch = "wasm32")]
fn to_f64(text: &str) -> f64 {
    js_sys::parse_float(text)
}

/// The shortest text that reads back as `f`, a finite float, natively as serde_json (ryu)
/// spells it. In the browser JavaScript's `Number.prototype.toString` writes it (`1e+21`,
/// `1.5e-7`; plain digits up to 1e21): core's float formatting is 4 KB of the .wasm.
#[cfg(not(target_arch = "wasm32"))]
fn push_f64(out: &mut String, f: f64) {
    use fmt::Write;
    if f != 0.0 && !(1e-5..1e16).contains(&f.abs()) {
        let start = out.len();
        let _ = write!(out, "{f:e}");
        // serde_json (ryu) signs a positive exponent: `1e+21`, where Rust writes `1e21`.
        if let Some(e) = out.as_bytes()[start..].iter().position(|&b| b == b'e') {
            if out.as_bytes().get(start + e + 1) != Some(&b'-') {
                out.insert(start + e + 1, '+');
            }
        }
    } else {
        let _ = write!(out, "{f}");
    }
}

#[cfg(target_arch = "wasm32")]
fn push_f64(out: &mut String, f: f64) {
    if let Ok(text) = js_sys::Number::from(f).to_string_with_radix(10) {
        out.push_str(&String::from(text));
    }
}

/// An array of strings.
pub fn string_array(items: &[String]) -> Value {
    Value::Array(items.iter().cloned().map(Value::String).collect())
}

/// A type read by hand from a JSON object's fields.
pub trait FromFields: Sized {
    /// Reads the type from `fields`, taking out each field it has. Fields left over are
    /// ignored, unless the type refuses them with [`Fields::done`].
    fn from_fields(fields: &mut Fields) -> Result<Self, ReadError>;

    /// Reads `value`, which must be a JSON object (a `what`, for the message if it is not).
    fn read(value: Value, what: &'static str) -> Result<Self, ReadError> {
        Self::from_fields(&mut Fields::of(value, what)?)
    }

    /// Reads the field `field` of an object, which must be a JSON object itself.
    fn field(field: &'static str, value: Value) -> Result<Self, ReadError> {
        Self::read(value, field)
    }
}
