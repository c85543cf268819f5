//! Checks that the hand-written JSON of `semantest_protocol::json` reads and writes as serde_json does: the same texts accepted with the same values, the same refused with the same message and position, and the same bytes written (floats too, natively; in the browser they only have to read back equal).
//!
//! The reference is serde_json itself, as this crate builds it on native targets (with
//! `float_roundtrip`). Values are compared with `==` and also by serde_json's own text of
//! them, which tells `-0.0` from `0.0` and shows the order of an object's keys (insertion
//! order with serde_json's `preserve_order`, as the wasm client builds it; sorted without).
//! `cargo test -p semantest-protocol --features serde_json/preserve_order --test json` runs
//! the same checks with insertion-ordered objects.

use std::cell::{Cell, RefCell};

use proptest::prelude::*;
use proptest::sample::Index;
use proptest::test_runner::{Config, TestError, TestRunner};
use semantest_protocol::json;
use serde_json::Value;

// ---------------------------------------------------------------------------------------------
// Generated values

/// Finite floats of every kind: tiny, huge, subnormal, negative zero, integral, plain.
fn any_f64() -> impl Strategy<Value = f64> {
    use prop::num::f64 as f;
    prop_oneof![
        (f::POSITIVE | f::NEGATIVE | f::NORMAL | f::SUBNORMAL | f::ZERO),
        prop::sample::select(vec![
            0.0,
            -0.0,
            1.0,
            -1.0,
            0.1,
            1e-5,
            9.999_999_999_999_999e-6,
            1e15,
            1e16,
            1e17,
            1e21,
            1e22,
            123_456_789.0,
            f64::MIN_POSITIVE,
            5e-324,
            -5e-324,
            f64::MAX,
            f64::MIN,
            f64::EPSILON,
            9_007_199_254_740_993.0,
            18_446_744_073_709_551_616.0,
        ]),
        (-1e6..1e6f64),
        any::<i64>().prop_map(|i| i as f64),
        (any::<u32>(), -330..290i32).prop_map(|(m, e)| format!("{m}e{e}").parse().unwrap_or(0.0)),
    ]
}

/// Characters JSON must escape, may escape, and need not: control characters, quotes,
/// backslashes, non-ASCII and astral ones.
fn any_char() -> impl Strategy<Value = char> {
    prop_oneof![
        3 => prop::char::range(' ', '~'),
        2 => prop::char::range('\0', '\u{1f}'),
        1 => prop::sample::select(vec!['"', '\\', '/', '\u{7f}', '\u{a0}', '\u{feff}', '\u{2028}', '\u{fffd}', '\u{ffff}']),
        1 => prop::char::range('\u{80}', '\u{d7ff}'),
        1 => prop::char::range('\u{10000}', '\u{10ffff}'),
        1 => any::<char>(),
    ]
}

fn any_string() -> impl Strategy<Value = String> {
    prop_oneof![
        prop::collection::vec(any_char(), 0..12).prop_map(String::from_iter),
        prop::sample::select(vec!["", "a", "b", "type", "id"]).prop_map(str::to_owned),
    ]
}

fn any_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<u64>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any_f64().prop_map(Value::from),
        any_string().prop_map(Value::String),
    ];
    leaf.prop_recursive(5, 48, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::vec((any_string(), inner), 0..6)
                .prop_map(|fields| Value::Object(fields.into_iter().collect())),
        ]
    })
}

/// Equal, and equal in the details `==` overlooks: the sign of zero, the order of keys.
fn same(a: &Value, b: &Value) -> bool {
    a == b && serde_json::to_string(a).ok() == serde_json::to_string(b).ok()
}

// ---------------------------------------------------------------------------------------------
// 1. Writing

proptest! {
    #![proptest_config(Config::with_cases(2000))]

    #[test]
    fn written_text_reads_back_and_matches_serde(v in any_value()) {
        let text = json::write(&v);
        let by_serde: Value = serde_json::from_str(&text).map_err(|e| {
            TestCaseError::fail(format!("serde_json refuses {text:?}: {e}"))
        })?;
        prop_assert!(same(&by_serde, &v), "serde_json reads {text:?} as {by_serde}, not {v}");
        let by_us = json::parse(&text).map_err(|e| {
            TestCaseError::fail(format!("json::parse refuses {text:?}: {e}"))
        })?;
        prop_assert!(same(&by_us, &v), "json::parse reads {text:?} as {by_us}, not {v}");
        prop_assert_eq!(&text, &serde_json::to_string(&v).unwrap());
        // `write_to` appends.
        let mut out = String::from("x");
        json::write_to(&mut out, &v);
        prop_assert_eq!(&out[1..], text.as_str());
    }

    #[test]
    fn written_string_matches_serde(s in any_string()) {
        let mut out = String::new();
        json::write_str(&mut out, &s);
        prop_assert_eq!(&out, &serde_json::to_string(&s).unwrap());
    }

    #[test]
    fn written_float_reads_back_exactly(f in any_f64()) {
        let text = json::write(&Value::from(f));
        let back = json::parse(&text).unwrap();
        prop_assert!(back.is_f64(), "{} reads back as {:?}, not a float", text, back);
        prop_assert_eq!(back.as_f64().unwrap().to_bits(), f.to_bits(), "{}", text);
        let back: f64 = serde_json::from_str(&text).unwrap();
        prop_assert_eq!(back.to_bits(), f.to_bits(), "{}", text);
        prop_assert_eq!(&text, &serde_json::to_string(&f).unwrap());
    }
}

/// A float exactly halfway between two shortest spellings is written as serde_json writes it
/// (serde_json rounds this tie down; core's `{}` rounds it up): a generated frame found this.
#[test]
fn a_float_on_a_tie_is_spelled_as_serde_spells_it() {
    for (f, wanted) in [
        // exactly 2066786237676.90625: .9062 and .9063 both read back as it
        (2_066_786_237_676.0 + 29.0 / 32.0, "2066786237676.9062"),
        (1e21, "1e+21"),
        (1.5e-7, "1.5e-7"),
        (1e16, "1e+16"),
        (123.0, "123.0"),
    ] {
        assert_eq!(json::write(&Value::from(f)), wanted);
        assert_eq!(serde_json::to_string(&f).unwrap(), wanted);
    }
}

// ---------------------------------------------------------------------------------------------
// 2. Reading, compared with serde_json on texts right and wrong

/// What the comparisons saw, for the summary and for the assertions.
#[derive(Default)]
struct Tally {
    texts: Cell<usize>,
    accepted: Cell<usize>,
    refused: Cell<usize>,
    /// Refused by both, with another message (the position may still agree).
    other_message: Cell<usize>,
    /// Refused by both, at another line or column.
    other_position: Cell<usize>,
    examples: RefCell<Vec<String>>,
}

impl Tally {
    fn add(cell: &Cell<usize>) {
        cell.set(cell.get() + 1);
    }

    /// Reads `text` with both and compares. Values and acceptance must agree; a message or
    /// position that differs is counted (and asserted on by the caller, see [`Tally::exact`]).
    fn check(&self, text: &str) -> Result<(), TestCaseError> {
        Tally::add(&self.texts);
        let ours = json::parse(text);
        let theirs = serde_json::from_str::<Value>(text);
        match (ours, theirs) {
            (Ok(a), Ok(b)) => {
                Tally::add(&self.accepted);
                prop_assert!(
                    same(&a, &b),
                    "{:?}: json::parse reads {}, serde_json {}",
                    text,
                    a,
                    b
                );
            }
            (Err(a), Err(b)) => {
                Tally::add(&self.refused);
                let full = b.to_string();
                let suffix = format!(" at line {} column {}", b.line(), b.column());
                let what = full.strip_suffix(&suffix).unwrap_or(&full);
                let message = a.what != what;
                let position = (a.line, a.column) != (b.line(), b.column());
                if message {
                    Tally::add(&self.other_message);
                }
                if position {
                    Tally::add(&self.other_position);
                }
                if message || position {
                    let mut examples = self.examples.borrow_mut();
                    if examples.len() < 20 {
                        examples.push(format!("{text:?}: json::parse says {a}, serde_json {b}"));
                    }
                }
            }
            (Ok(a), Err(b)) => {
                return Err(TestCaseError::fail(format!(
                    "{text:?}: json::parse reads {a}, serde_json refuses: {b}"
                )))
            }
            (Err(a), Ok(b)) => {
                return Err(TestCaseError::fail(format!(
                    "{text:?}: json::parse refuses ({a}), serde_json reads {b}"
                )))
            }
        }
        Ok(())
    }

    /// Every refusal had serde_json's message and position. (No known exception: json/read.rs
    /// follows serde_json's reader step by step, including where it reports each error.)
    fn exact(&self, name: &str) {
        println!(
            "{name}: {} texts, {} accepted by both, {} refused by both, {} with another message, {} at another position",
            self.texts.get(),
            self.accepted.get(),
            self.refused.get(),
            self.other_message.get(),
            self.other_position.get(),
        );
        let examples = self.examples.borrow();
        assert!(
            self.other_message.get() == 0 && self.other_position.get() == 0,
            "{name}: errors unlike serde_json's:\n{}",
            examples.join("\n")
        );
    }
}

/// Runs `check` on `cases` texts from `texts` (or `PROPTEST_CASES`, for a longer search),
/// then asserts the tally.
fn compare(name: &str, cases: u32, texts: impl Strategy<Value = String>) {
    let tally = Tally::default();
    let mut runner = TestRunner::new(Config {
        cases: std::env::var("PROPTEST_CASES")
            .ok()
            .and_then(|n| n.parse().ok())
            .unwrap_or(cases),
        failure_persistence: None,
        ..Config::default()
    });
    match runner.run(&texts, |text| tally.check(&text)) {
        Ok(()) => {}
        Err(TestError::Fail(why, text)) => panic!("{name}: {why} (minimal input {text:?})"),
        Err(e) => panic!("{name}: {e}"),
    }
    tally.exact(name);
}

/// Random bytes that steer [`spell`]: whitespace between tokens, escapes in strings.
struct Dice<'a>(&'a [u8], usize);

impl Dice<'_> {
    fn roll(&mut self) -> usize {
        let b = self
            .0
            .get(self.1 % self.0.len().max(1))
            .copied()
            .unwrap_or(0);
        self.1 += 1;
        usize::from(b)
    }

    fn space(&mut self, out: &mut String) {
        const SPACES: [&str; 9] = ["", "", "", " ", "\n", "\t", "\r\n", "  \n    ", "\r"];
        out.push_str(SPACES[self.roll() % SPACES.len()]);
    }
}

/// `v` as JSON text with random whitespace between tokens and random (valid) escapes in
/// strings: `\/`, `\uXXXX` in either case, surrogate pairs for astral characters.
fn spell(v: &Value, d: &mut Dice<'_>, out: &mut String) {
    match v {
        Value::Array(items) => {
            out.push('[');
            d.space(out);
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                    d.space(out);
                }
                spell(item, d, out);
                d.space(out);
            }
            out.push(']');
        }
        Value::Object(map) => {
            out.push('{');
            d.space(out);
            for (i, (key, item)) in map.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                    d.space(out);
                }
                spell_str(key, d, out);
                d.space(out);
                out.push(':');
                d.space(out);
                spell(item, d, out);
                d.space(out);
            }
            out.push('}');
        }
        Value::String(s) => spell_str(s, d, out),
        other => out.push_str(&serde_json::to_string(other).unwrap()),
    }
}

fn spell_str(s: &str, d: &mut Dice<'_>, out: &mut String) {
    out.push('"');
    for c in s.chars() {
        let roll = d.roll();
        if c < ' ' || roll % 5 == 0 {
            let mut units = [0; 2];
            for unit in c.encode_utf16(&mut units) {
                if roll % 2 == 0 {
                    out.push_str(&format!("\\u{unit:04x}"));
                } else {
                    out.push_str(&format!("\\u{unit:04X}"));
                }
            }
        } else if c == '"' || c == '\\' || (c == '/' && roll % 2 == 0) {
            out.push('\\');
            out.push(c);
        } else {
            out.push(c);
        }
    }
    out.push('"');
}

/// serde_json's compact and pretty texts of generated values, and the same with random
/// whitespace and escapes.
fn good_text() -> impl Strategy<Value = String> {
    prop_oneof![
        any_value().prop_map(|v| serde_json::to_string(&v).unwrap()),
        any_value().prop_map(|v| serde_json::to_string_pretty(&v).unwrap()),
        (any_value(), prop::collection::vec(any::<u8>(), 1..64)).prop_map(|(v, dice)| {
            let mut out = String::new();
            let mut d = Dice(&dice, 0);
            d.space(&mut out);
            spell(&v, &mut d, &mut out);
            d.space(&mut out);
            out
        }),
    ]
}

/// Pieces of JSON and of near-JSON that mutations insert and random texts are made of.
const PIECES: &[&str] = &[
    "{",
    "}",
    "[",
    "]",
    "\"",
    ":",
    ",",
    "\\",
    "u",
    "0",
    "1",
    "2",
    "3",
    "4",
    "5",
    "6",
    "7",
    "8",
    "9",
    "e",
    "E",
    "+",
    "-",
    ".",
    "t",
    "f",
    "n",
    "a",
    "l",
    "s",
    "r",
    "x",
    "/",
    "b",
    " ",
    " ",
    "\t",
    "\n",
    "\r",
    "\0",
    "\u{1}",
    "\u{1f}",
    "\u{7f}",
    "\u{b}",
    "\u{c}",
    "\u{a0}",
    "\u{feff}",
    "é",
    "\u{1f600}",
    "\\u",
    "\\ud800",
    "\\udc00",
    "\\uDBFF\\uDFFF",
    "null",
    "true",
    "false",
    "1e400",
    "-0",
    "\"a\":",
    "\"\\",
];

fn piece() -> impl Strategy<Value = &'static str> {
    prop::sample::select(PIECES)
}

/// `text` with a few bytes deleted, inserted (pieces), replaced, or cut off.
fn mutate(text: &str, edits: &[(u8, Index, &str)]) -> String {
    let mut b = text.as_bytes().to_vec();
    for (kind, at, piece) in edits {
        let i = at.index(b.len() + 1);
        match kind % 7 {
            0 | 1 if i < b.len() => {
                b.remove(i);
            }
            2 | 3 => {
                b.splice(i..i, piece.bytes());
            }
            4 | 5 if i < b.len() => {
                b.splice(i..=i, piece.bytes());
            }
            6 => b.truncate(i),
            _ => {}
        }
    }
    String::from_utf8_lossy(&b).into_owned()
}

fn mutated_text() -> impl Strategy<Value = String> {
    (
        good_text(),
        prop::collection::vec((any::<u8>(), any::<Index>(), piece()), 1..4),
    )
        .prop_map(|(text, edits)| mutate(&text, &edits))
}

fn random_text() -> impl Strategy<Value = String> {
    prop::collection::vec(piece(), 0..16).prop_map(|pieces| pieces.concat())
}

/// Strings with `\u` escapes: any code unit, surrogates alone, in pairs and in wrong pairs,
/// short or bad hex, other escapes right and wrong; in a few places of a document.
fn escape_text() -> impl Strategy<Value = String> {
    let unit = prop_oneof![
        any::<u16>().prop_map(|u| format!("\\u{u:04x}")),
        (0xd800..0xdc00u16).prop_map(|u| format!("\\u{u:04X}")),
        (0xdc00..0xe000u16).prop_map(|u| format!("\\u{u:04x}")),
        (0xd800..0xdc00u16, 0xdc00..0xe000u16).prop_map(|(a, b)| format!("\\u{a:04x}\\u{b:04X}")),
        (0xd800..0xdc00u16, 0xd800..0xdc00u16).prop_map(|(a, b)| format!("\\u{a:04x}\\u{b:04x}")),
        prop::sample::select(vec![
            "\\u12G4",
            "\\uG",
            "\\u",
            "\\u1",
            "\\u12",
            "\\u123",
            "\\u00e",
            "\\uD800\\u",
            "\\uD800\\",
            "\\uD800x",
            "\\uD800\\n",
            "\\uD800\\uDC0",
            "\\uD800\\uZZZZ",
            "\\uDBFF\\uE000",
            "\\x",
            "\\U0041",
            "\\'",
            "\\ ",
            "\\\"",
            "\\\\",
            "\\/",
            "\\b",
            "\\f",
            "\\n",
            "\\r",
            "\\t",
            "a",
            "é",
            "\u{1f600}",
            " ",
            "\t",
            "\u{1}",
        ])
        .prop_map(str::to_owned),
    ];
    (
        prop::collection::vec(unit, 0..5),
        0..5u8,
        any::<bool>(),
        any::<Index>(),
    )
        .prop_map(|(units, place, close, cut)| {
            let mut s = format!("\"{}", units.concat());
            if close {
                s.push('"');
            }
            let mut text = match place {
                0 => s,
                1 => format!("[{s}, 1]"),
                2 => format!("{{{s}: 1}}"),
                3 => format!("{{\"k\": {s}}}"),
                _ => format!(" \n{s}\n "),
            };
            if cut.index(4) == 0 {
                let at = cut.index(text.len() + 1);
                text = String::from_utf8_lossy(&text.as_bytes()[..at]).into_owned();
            }
            text
        })
}

/// Number texts: right ones of every shape (long, tiny, huge, overflowing exponents) and
/// nearly right ones.
fn number_text() -> impl Strategy<Value = String> {
    let right = prop_oneof![
        "-?(0|[1-9][0-9]{0,22})(\\.[0-9]{1,22})?([eE][+-]?[0-9]{1,4})?",
        "-?(0|[1-9][0-9]{0,3})(\\.[0-9]{1,3})?[eE][+-]?[0-9]{8,12}",
        "-?0\\.0{0,340}[1-9][0-9]{0,20}(e[+-]?[0-9]{1,3})?",
        "-?[1-9][0-9]{15,25}(\\.[0-9]{1,5})?",
        "-?[1-9][0-9]{300,420}(\\.[0-9]{0,5})?",
        "-?[1-9]\\.[0-9]{700,800}e-?3[0-2][0-9]",
        "-?(9223372036854775[0-9]{3}|1844674407370955[0-9]{4})",
    ];
    prop_oneof![
        3 => right.clone(),
        1 => (right, any::<u8>(), any::<Index>(), piece())
            .prop_map(|(t, kind, at, p)| mutate(&t, &[(kind, at, p)])),
        1 => "[-+.eE0-9]{1,8}",
    ]
}

#[test]
fn reads_serdes_own_texts_as_serde_does() {
    compare("good texts", 3000, good_text());
}

#[test]
fn reads_mutated_texts_as_serde_does() {
    compare("mutated texts", 6000, mutated_text());
}

#[test]
fn reads_random_texts_as_serde_does() {
    compare("random texts", 6000, random_text());
}

#[test]
fn reads_unicode_escapes_as_serde_does() {
    compare("unicode escapes", 4000, escape_text());
}

#[test]
fn reads_numbers_as_serde_does() {
    compare("numbers", 6000, number_text());
}

// ---------------------------------------------------------------------------------------------
// 3. Edges, one by one

/// Compares one text (values, refusals, messages, positions) and returns json::parse's result.
fn one(text: &str) -> Result<Value, json::SyntaxError> {
    let tally = Tally::default();
    if let Err(e) = tally.check(text) {
        panic!("{e}");
    }
    assert!(
        tally.other_message.get() == 0 && tally.other_position.get() == 0,
        "{}",
        tally.examples.borrow().join("\n")
    );
    json::parse(text)
}

fn float_bits(text: &str) -> u64 {
    match one(text) {
        Ok(Value::Number(n)) if n.is_f64() => n.as_f64().unwrap().to_bits(),
        other => panic!("{text:?} reads as {other:?}, not a float"),
    }
}

fn refused(text: &str) -> (&'static str, usize, usize) {
    match one(text) {
        Err(e) => (e.what, e.line, e.column),
        Ok(v) => panic!("{text:?} is read, as {v}"),
    }
}

#[test]
fn numbers() {
    assert_eq!(one("0").unwrap(), Value::from(0u64));
    assert!(one("0").unwrap().is_u64());
    assert_eq!(float_bits("-0"), (-0.0f64).to_bits());
    assert_eq!(float_bits("-0.0"), (-0.0f64).to_bits());
    assert_eq!(float_bits("-0e5"), (-0.0f64).to_bits());
    assert_eq!(refused("01"), ("invalid number", 1, 2));
    assert_eq!(refused("-01"), ("invalid number", 1, 3));
    assert_eq!(refused("00"), ("invalid number", 1, 2));
    assert_eq!(refused("1."), ("EOF while parsing a value", 1, 2));
    assert_eq!(refused("1.]"), ("invalid number", 1, 3));
    assert_eq!(refused("1.e5"), ("invalid number", 1, 3));
    assert_eq!(refused(".5"), ("expected value", 1, 1));
    assert_eq!(refused("+1"), ("expected value", 1, 1));
    assert_eq!(refused("-"), ("EOF while parsing a value", 1, 1));
    assert_eq!(refused("-x"), ("invalid number", 1, 2));
    assert_eq!(refused("- 1"), ("invalid number", 1, 2));
    assert_eq!(refused("1e"), ("EOF while parsing a value", 1, 2));
    assert_eq!(refused("1e+"), ("EOF while parsing a value", 1, 3));
    assert_eq!(refused("1e+x"), ("invalid number", 1, 4));
    assert_eq!(refused("1E-]"), ("invalid number", 1, 4));
    assert_eq!(refused("1x"), ("trailing characters", 1, 2));
    assert_eq!(refused("[1x]"), ("expected `,` or `]`", 1, 3));
    let max = one("18446744073709551615").unwrap();
    assert_eq!(max.as_u64(), Some(u64::MAX));
    assert_eq!(
        float_bits("18446744073709551616"),
        18446744073709551616f64.to_bits()
    );
    assert_eq!(
        one("-9223372036854775808").unwrap().as_i64(),
        Some(i64::MIN)
    );
    assert_eq!(
        one("-9223372036854775807").unwrap().as_i64(),
        Some(i64::MIN + 1)
    );
    assert_eq!(
        float_bits("-9223372036854775809"),
        (-9223372036854775809f64).to_bits()
    );
    assert_eq!(
        float_bits("-18446744073709551615"),
        (-18446744073709551615f64).to_bits()
    );
    assert_eq!(one("-1").unwrap().as_i64(), Some(-1));
    assert_eq!(one("1.0").unwrap().as_f64(), Some(1.0));
    assert!(one("1.0").unwrap().is_f64());
    assert!(one("1e2").unwrap().is_f64());
    assert_eq!(refused("1e400"), ("number out of range", 1, 5));
    assert_eq!(refused("-1e400"), ("number out of range", 1, 6));
    assert_eq!(refused("[1e400]"), ("number out of range", 1, 6));
    assert_eq!(
        refused("1.7976931348623159e308"),
        ("number out of range", 1, 22)
    );
    assert_eq!(float_bits("1.7976931348623158e308"), f64::MAX.to_bits());
    assert_eq!(float_bits("1e-400"), 0f64.to_bits());
    assert_eq!(float_bits("-1e-400"), (-0f64).to_bits());
    assert_eq!(float_bits("2.4703282292062327e-324"), 0f64.to_bits());
    assert_eq!(float_bits("2.4703282292062328e-324"), 5e-324f64.to_bits());
    assert_eq!(
        float_bits("9007199254740993.0"),
        9007199254740992f64.to_bits()
    );
    assert_eq!(
        float_bits("123456789012345678901234567890"),
        1.2345678901234568e29f64.to_bits()
    );
    assert_eq!(float_bits("0.1"), 0.1f64.to_bits());
    // Exponents past i32: serde_json stops at the digit that overflows (out of range, unless
    // the number is 0 or the exponent negative: then 0, reading all digits).
    assert_eq!(refused("1e2147483648"), ("number out of range", 1, 12));
    assert_eq!(refused("1e21474836470000"), ("number out of range", 1, 13));
    assert_eq!(refused("1.5e99999999999 "), ("number out of range", 1, 14));
    assert_eq!(refused("1e2147483647"), ("number out of range", 1, 12));
    assert_eq!(float_bits("0e99999999999999"), 0f64.to_bits());
    assert_eq!(float_bits("-0.000e99999999999999"), (-0f64).to_bits());
    assert_eq!(float_bits("1e-99999999999999"), 0f64.to_bits());
    assert_eq!(
        refused("1e-99999999999999x"),
        ("trailing characters", 1, 18)
    );
    let long = format!("1{}", "0".repeat(400));
    assert_eq!(refused(&long), ("number out of range", 1, 401));
    assert_eq!(float_bits(&format!("{long}e-400")), 1f64.to_bits());
    assert_eq!(float_bits(&format!("0.{long}e-10")), 1e-11f64.to_bits());
}

#[test]
fn nesting_limit() {
    for (open, close, per) in [("[", "]", 1), ("{\"a\":", "}", 1), ("[{\"\":", "}]", 2)] {
        let deep = |n: usize| format!("{}1{}", open.repeat(n / per), close.repeat(n / per));
        assert!(one(&deep(126)).is_ok(), "{open} 126");
        assert!(one(&deep(2)).is_ok(), "{open} 2");
        let ok = one(&deep(if per == 2 { 126 } else { 127 }));
        assert!(ok.is_ok(), "{open}: {ok:?}");
        if per == 1 {
            assert_eq!(refused(&deep(128)).0, "recursion limit exceeded");
        }
        assert_eq!(refused(&deep(128 + per)).0, "recursion limit exceeded");
        // Far deeper, unclosed, and with no stack trouble.
        assert_eq!(refused(&open.repeat(100_000)).0, "recursion limit exceeded");
    }
    // Exactly 127 arrays, and 127 objects, are read; 128 are not (at the 128th opening).
    let arrays = |n| format!("{}{}", "[".repeat(n), "]".repeat(n));
    assert!(one(&arrays(127)).is_ok());
    assert_eq!(refused(&arrays(128)), ("recursion limit exceeded", 1, 128));
    let objects = |n| format!("{}null{}", "{\"\":".repeat(n), "}".repeat(n));
    assert!(one(&objects(127)).is_ok());
    assert_eq!(
        refused(&objects(128)),
        ("recursion limit exceeded", 1, 128 * 4 - 3)
    );
    // Depth is given back when a level closes.
    let wide = format!("[{}]", vec![arrays(126); 3].join(","));
    assert!(one(&wide).is_ok());
}

#[test]
fn duplicate_keys() {
    let v = one(r#"{"a":1,"b":2,"a":3}"#).unwrap();
    assert_eq!(v["a"], 3);
    assert_eq!(v["b"], 2);
    assert_eq!(v.as_object().unwrap().len(), 2);
    let v = one(r#"{"b":1,"a":2,"b":{"c":[]}}"#).unwrap();
    assert_eq!(v["b"], serde_json::json!({"c": []}));
    let keys: Vec<_> = v.as_object().unwrap().keys().cloned().collect();
    let insertion_ordered = serde_json::from_str::<Value>(r#"{"b":0,"a":0}"#)
        .unwrap()
        .as_object()
        .unwrap()
        .keys()
        .next()
        .is_some_and(|k| k == "b");
    if insertion_ordered {
        // The first place, the last value.
        assert_eq!(keys, ["b", "a"]);
        assert_eq!(json::write(&v), r#"{"b":{"c":[]},"a":2}"#);
    } else {
        assert_eq!(keys, ["a", "b"]);
    }
}

#[test]
fn escapes() {
    let v = one(r#""\"\\\/\b\f\n\r\t\u0000\u001F\u00e9\u00E9\u20AC\uD83D\uDE00\uffff""#).unwrap();
    assert_eq!(
        v,
        "\"\\/\u{8}\u{c}\n\r\t\0\u{1f}éé\u{20ac}\u{1f600}\u{ffff}"
    );
    assert_eq!(one(r#"{"\u0061":1}"#).unwrap()["a"], 1);
    assert_eq!(refused(r#""\x""#), ("invalid escape", 1, 3));
    assert_eq!(refused(r#""\U0041""#), ("invalid escape", 1, 3));
    assert_eq!(refused(r#""\u00G0""#), ("invalid escape", 1, 7));
    assert_eq!(refused(r#""\u00""#), ("EOF while parsing a string", 1, 6));
    assert_eq!(refused(r#""\uG"#), ("EOF while parsing a string", 1, 4));
    assert_eq!(
        refused(r#""\uDC00""#),
        ("lone leading surrogate in hex escape", 1, 7)
    );
    assert_eq!(
        refused(r#""\uD800""#),
        ("unexpected end of hex escape", 1, 8)
    );
    assert_eq!(
        refused(r#""\uD800\n""#),
        ("unexpected end of hex escape", 1, 9)
    );
    assert_eq!(
        refused(r#""\uD800\u0041""#),
        ("lone leading surrogate in hex escape", 1, 13)
    );
    assert_eq!(
        refused(r#""\uD800\uD800""#),
        ("lone leading surrogate in hex escape", 1, 13)
    );
    assert_eq!(refused(r#""\uD800"#), ("EOF while parsing a string", 1, 7));
    assert_eq!(refused(r#""\uD800\"#), ("EOF while parsing a string", 1, 8));
    assert_eq!(refused(r#""\"#), ("EOF while parsing a string", 1, 2));
    assert_eq!(
        refused("\"a\u{0}\""),
        (
            "control character (\\u0000-\\u001F) found while parsing a string",
            1,
            3
        )
    );
    assert_eq!(
        refused("\"\n\""),
        (
            "control character (\\u0000-\\u001F) found while parsing a string",
            2,
            0
        )
    );
    assert_eq!(
        refused("\"\u{1f}\"").0,
        "control character (\\u0000-\\u001F) found while parsing a string"
    );
    // DEL and other non-ASCII control characters are plain characters.
    assert_eq!(
        one("\"\u{7f}\u{85}\u{2028}\"").unwrap(),
        "\u{7f}\u{85}\u{2028}"
    );
    assert_eq!(refused("\"abc"), ("EOF while parsing a string", 1, 4));
    // Written: only `"`, `\` and U+0000–U+001F are escaped, as serde_json escapes them.
    let all: String = (0..0x80u8)
        .map(char::from)
        .chain(['é', '\u{2028}', '\u{1f600}'])
        .collect();
    assert_eq!(
        json::write(&Value::from(all.clone())),
        serde_json::to_string(&all).unwrap()
    );
}

#[test]
fn byte_order_mark_and_whitespace() {
    // serde_json refuses a byte order mark (column counts bytes: the mark's first).
    assert_eq!(refused("\u{feff}1"), ("expected value", 1, 1));
    assert_eq!(refused("\u{feff}"), ("expected value", 1, 1));
    assert_eq!(refused("1\u{feff}"), ("trailing characters", 1, 2));
    assert_eq!(refused("[\u{feff}]"), ("expected value", 1, 2));
    // Only space, tab, line feed and carriage return are whitespace.
    assert_eq!(
        one(" \t\n\r[ \t\n\r1 \t\n\r, \t\n\r{ \t\n\r\"a\" \t\n\r: \t\n\r2 \t\n\r} \t\n\r] \t\n\r")
            .unwrap(),
        serde_json::json!([1, {"a": 2}])
    );
    for space in [
        '\u{b}', '\u{c}', '\u{0}', '\u{a0}', '\u{85}', '\u{2028}', '\u{3000}', '\u{200b}',
    ] {
        let text = format!("{space}1");
        assert_eq!(refused(&text), ("expected value", 1, 1), "{space:?}");
        let text = format!("[1{space}]");
        assert_eq!(refused(&text), ("expected `,` or `]`", 1, 3), "{space:?}");
        let text = format!("1{space}");
        assert_eq!(refused(&text).0, "trailing characters", "{space:?}");
    }
    // Lines are counted at line feeds only; the column is in bytes, from 0 after a line feed.
    assert_eq!(refused("\n\n  x"), ("expected value", 3, 3));
    assert_eq!(
        refused("[1,\r\n2,\r\n"),
        ("EOF while parsing a value", 3, 0)
    );
    assert_eq!(refused("[\"é\" x"), ("expected `,` or `]`", 1, 7));
    assert_eq!(refused("\r\r1 2"), ("trailing characters", 1, 5));
}

#[test]
fn structure_errors() {
    assert_eq!(refused(""), ("EOF while parsing a value", 1, 0));
    assert_eq!(refused("   "), ("EOF while parsing a value", 1, 3));
    assert_eq!(refused("["), ("EOF while parsing a list", 1, 1));
    assert_eq!(refused("[ "), ("EOF while parsing a list", 1, 2));
    assert_eq!(refused("[1"), ("EOF while parsing a list", 1, 2));
    assert_eq!(refused("[1,"), ("EOF while parsing a value", 1, 3));
    assert_eq!(refused("[1,]"), ("trailing comma", 1, 4));
    assert_eq!(refused("[1 , ]"), ("trailing comma", 1, 6));
    assert_eq!(refused("[,1]"), ("expected value", 1, 2));
    assert_eq!(refused("[1 2]"), ("expected `,` or `]`", 1, 4));
    assert_eq!(refused("[1}"), ("expected `,` or `]`", 1, 3));
    assert_eq!(refused("{"), ("EOF while parsing an object", 1, 1));
    assert_eq!(refused("{ "), ("EOF while parsing an object", 1, 2));
    assert_eq!(refused("{1:2}"), ("key must be a string", 1, 2));
    assert_eq!(refused("{\"a\""), ("EOF while parsing an object", 1, 4));
    assert_eq!(refused("{\"a\" 1}"), ("expected `:`", 1, 6));
    assert_eq!(refused("{\"a\":"), ("EOF while parsing a value", 1, 5));
    assert_eq!(refused("{\"a\":}"), ("expected value", 1, 6));
    assert_eq!(refused("{\"a\":1"), ("EOF while parsing an object", 1, 6));
    assert_eq!(refused("{\"a\":1,"), ("EOF while parsing a value", 1, 7));
    assert_eq!(refused("{\"a\":1, "), ("EOF while parsing a value", 1, 8));
    assert_eq!(refused("{\"a\":1,}"), ("trailing comma", 1, 8));
    assert_eq!(refused("{\"a\":1,2}"), ("key must be a string", 1, 8));
    assert_eq!(refused("{\"a\":1 2}"), ("expected `,` or `}`", 1, 8));
    assert_eq!(refused("{\"a\":1]"), ("expected `,` or `}`", 1, 7));
    assert_eq!(refused("{,}"), ("key must be a string", 1, 2));
    assert_eq!(refused("nul"), ("EOF while parsing a value", 1, 3));
    assert_eq!(refused("nulL"), ("expected ident", 1, 4));
    assert_eq!(refused("tru"), ("EOF while parsing a value", 1, 3));
    assert_eq!(refused("fals e"), ("expected ident", 1, 5));
    assert_eq!(refused("True"), ("expected value", 1, 1));
    assert_eq!(refused("1 2"), ("trailing characters", 1, 3));
    assert_eq!(refused("[] []"), ("trailing characters", 1, 4));
    assert_eq!(refused("]"), ("expected value", 1, 1));
    assert_eq!(refused("\"a\" \"b\""), ("trailing characters", 1, 5));
    assert_eq!(one("[]").unwrap(), serde_json::json!([]));
    assert_eq!(one("{}").unwrap(), serde_json::json!({}));
    assert_eq!(
        one("[[],{},null,true,false,\"\"]").unwrap(),
        serde_json::json!([[], {}, null, true, false, ""])
    );
}
