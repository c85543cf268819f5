//! The server signature: what `GET /signature` answers, so a client can tell our server from
//! any other program that happens to listen on the same port.

use serde::{Deserialize, Serialize};

/// The `service` value every Semantest server answers with.
pub const SERVICE_NAME: &str = "semantest";

/// `{"service":"semantest","version":"1.0.0","environment":"local","capabilities":[…]}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "typescript", derive(tsify_next::Tsify))]
pub struct Signature {
    /// Always [`SERVICE_NAME`] for a Semantest server.
    pub service: String,
    /// Semantic version of the protocol the server speaks.
    pub version: String,
    /// Where the server runs: `local`, `production`, ….
    pub environment: String,
    /// What the server can do, e.g. `imageGeneration`, `imageDownload`.
    #[serde(default)]
    pub capabilities: Vec<String>,
}

impl crate::json::FromFields for Signature {
    fn from_fields(f: &mut crate::json::Fields) -> Result<Self, crate::json::ReadError> {
        Ok(Signature {
            service: f.string("service")?,
            version: f.string("version")?,
            environment: f.string("environment")?,
            capabilities: f.strings_or_empty("capabilities")?,
        })
    }
}

impl Signature {
    /// The signature of a server of this protocol version in `environment`.
    pub fn new(environment: impl Into<String>, capabilities: &[&str]) -> Self {
        Signature {
            service: SERVICE_NAME.to_owned(),
            version: crate::PROTOCOL_VERSION.to_owned(),
            environment: environment.into(),
            capabilities: capabilities.iter().map(|c| (*c).to_owned()).collect(),
        }
    }
}
