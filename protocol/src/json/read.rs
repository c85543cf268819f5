//! JSON text to a `serde_json::Value`, by hand, as serde_json reads it: the same texts
//! accepted and refused (with serde_json's messages and positions), the same values.

use std::fmt;

use serde_json::{Map, Number, Value};

use super::float::to_f64;

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
        self.expect(word, "EOF while parsing a value", "expected ident")?;
        Ok(value)
    }

    /// Steps over `bytes`, which must come next: `at_end` if the text ends first, `otherwise`
    /// at the first byte that differs.
    fn expect(
        &mut self,
        bytes: &[u8],
        at_end: &'static str,
        otherwise: &'static str,
    ) -> Result<(), SyntaxError> {
        for &want in bytes {
            if self.peek() != Some(want) {
                return Err(self.error_here(at_end, otherwise));
            }
            self.at += 1;
        }
        Ok(())
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
        self.expect(
            b"\\u",
            "EOF while parsing a string",
            "unexpected end of hex escape",
        )?;
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
            if !self.more(b']', "EOF while parsing a list", "expected `,` or `]`")? {
                return Ok(Value::Array(items));
            }
        }
    }

    /// After an item of an array or an object: `true` past a `,` (another item follows),
    /// `false` past the `close`ing bracket; a trailing comma or anything else is refused.
    fn more(
        &mut self,
        close: u8,
        eof: &'static str,
        expected: &'static str,
    ) -> Result<bool, SyntaxError> {
        self.space();
        match self.peek() {
            Some(b',') => {
                self.at += 1;
                self.space();
                if self.peek() == Some(close) {
                    self.at += 1;
                    return Err(self.error("trailing comma"));
                }
                Ok(true)
            }
            Some(b) if b == close => {
                self.at += 1;
                Ok(false)
            }
            _ => Err(self.error_here(eof, expected)),
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
            if !self.more(b'}', "EOF while parsing an object", "expected `,` or `}`")? {
                return Ok(Value::Object(map));
            }
            eof = "EOF while parsing a value";
        }
    }
}
