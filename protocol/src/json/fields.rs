//! Typed reads of a JSON object's fields, by hand: [`Fields`] and [`FromFields`], the readers
//! of one value, and [`ReadError`], what they say when a value is not what it must be.

use std::fmt;

use serde_json::{Map, Value};

use super::read::{parse, SyntaxError};

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
        /// The field as given (cut to 40 characters and `…`).
        field: String,
        /// The fields the type has (those it asked for, in its order).
        expected: Vec<&'static str>,
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
pub struct Fields {
    map: Map<String, Value>,
    /// The names taken so far: the fields of the type being read, for [`Fields::done`].
    asked: Vec<&'static str>,
}

impl Fields {
    /// `value` as the fields of a `what` (`payload`, …), which must be a JSON object.
    pub fn of(value: Value, what: &'static str) -> Result<Fields, ReadError> {
        match value {
            Value::Object(map) => Ok(Fields {
                map,
                asked: Vec::new(),
            }),
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
    pub fn take(&mut self, field: &'static str) -> Option<Value> {
        self.asked.push(field);
        self.map.remove(field)
    }

    /// The field's value; `null` when it is not there (serde's `#[serde(default)] Value`).
    pub fn value(&mut self, field: &'static str) -> Value {
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

    /// A field that must be there, read by `read` (a name, a token, an object, …).
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

    /// Refuses any field not taken yet (serde's `deny_unknown_fields`): the fields the type
    /// has are the ones it asked for, so its reads are the one list of them.
    pub fn done(self) -> Result<(), ReadError> {
        match self.map.into_iter().next() {
            None => Ok(()),
            Some((field, _)) => Err(ReadError::Unknown {
                field: crate::shorten(&field, 40),
                expected: self.asked,
            }),
        }
    }
}

/// The error for `field` holding `value` where it must hold `expected` (`a string`, …).
pub fn wrong(field: &'static str, expected: &'static str, value: &Value) -> ReadError {
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
            reason: super::write(&value) + " is not an unsigned integer",
        }),
        other => Err(wrong(field, "an unsigned integer", other)),
    }
}

/// `value` as an unsigned integer that fits `T` (`u32`; `usize`, 32 bits in the .wasm).
pub fn fitting<T: TryFrom<u64>>(field: &'static str, value: Value) -> Result<T, ReadError> {
    let n = unsigned(field, value)?;
    T::try_from(n).map_err(|_| ReadError::Invalid {
        field,
        reason: format!("{n} is too large"),
    })
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

/// `value`, a string, as the one of `all` (an enum's variants) whose `name` it is: the names
/// are the variants' own (`ErrorCode::name`, `Strategy::as_str`, …), so the wire names are
/// written once, in the function that writes them.
pub fn variant<T: Copy>(
    field: &'static str,
    value: Value,
    all: &[T],
    name: fn(T) -> &'static str,
) -> Result<T, ReadError> {
    let names: Vec<&str> = all.iter().map(|v| name(*v)).collect();
    position(field, value, &names).map(|i| all[i])
}

/// Where `value`, a string, is among `names` (the work of [`variant`], compiled once).
fn position(field: &'static str, value: Value, names: &[&str]) -> Result<usize, ReadError> {
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

struct Names<'a>(&'a [&'a str]);

impl fmt::Display for Names<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        one_of(f, self.0)
    }
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
