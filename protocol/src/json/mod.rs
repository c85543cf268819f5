//! JSON by hand for the client: text to `serde_json::Value` and back, and typed reads of an
//! object's fields, without serde's generic code.
//!
//! Why: in the .wasm each serde type brought its own deserializer, and serde_json's text
//! reader and writer came on top; together they were a third of the module (BENCHMARKS.md,
//! "Where the module's bytes go"). The client reads and writes its few frame and settings
//! types through this one small reader and writer instead. The servers keep serde. The tests
//! in `tests/` check that both sides agree: the same texts accepted and read to the same
//! values, the same texts written (see `tests/json.rs` and `tests/wire.rs`). The value type
//! stays serde_json's [`Value`](serde_json::Value), which the rest of the code and the servers
//! share.
//!
//! - `read`: [`parse`], text to a `Value`, as serde_json reads it.
//! - `write`: [`write`] and the builders ([`object`], [`string_array`]), a `Value` to text as
//!   serde_json writes it.
//! - `fields`: [`Fields`], [`FromFields`] and the readers of one value ([`string`],
//!   [`unsigned`], …), with their [`ReadError`].
//! - `float`: floats to and from text (in the browser, through JavaScript).

mod fields;
mod float;
mod read;
mod write;

pub use fields::{
    boolean, fitting, float, kind, string, strings, unsigned, variant, wrong, Fields, FromFields,
    ReadError,
};
pub use read::{parse, SyntaxError};
pub use write::{float_text, object, string_array, write, write_str, write_to};
