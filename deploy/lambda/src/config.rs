//! The handlers' configuration, read once from the function's environment variables.

use semantest_protocol::keys::{ApiKeys, DigestError};

/// Which handler this function runs (`SEMANTEST_HANDLER`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Handler {
    /// `$connect`.
    Connect,
    /// `$disconnect`.
    Disconnect,
    /// `$default` and the action routes.
    Default,
    /// The HTTP API: `/health`, `/signature`.
    Http,
}

impl std::str::FromStr for Handler {
    type Err = ConfigError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "connect" => Ok(Handler::Connect),
            "disconnect" => Ok(Handler::Disconnect),
            "default" => Ok(Handler::Default),
            "http" => Ok(Handler::Http),
            other => Err(ConfigError::Invalid {
                var: "SEMANTEST_HANDLER",
                reason: format!(
                    "'{}' is not a handler; use connect, disconnect, default or http",
                    semantest_protocol::shorten(other, 32)
                ),
            }),
        }
    }
}

/// The largest image `requestUpload` hands out a URL for, unless configured.
pub const DEFAULT_MAX_UPLOAD_BYTES: u64 = 25 * 1024 * 1024;

/// Everything the handlers read from the environment.
#[derive(Debug, Clone)]
pub struct Config {
    /// Which handler runs.
    pub handler: Handler,
    /// `SEMANTEST_TABLE`: the connections table.
    pub table: String,
    /// `SEMANTEST_BUCKET`: the images bucket.
    pub bucket: String,
    /// `SEMANTEST_MANAGEMENT_ENDPOINT`: `https://{api}.execute-api.{region}.amazonaws.com/{stage}`.
    pub management_endpoint: Option<String>,
    /// `SEMANTEST_API_KEY_SHA256`: the SHA-256 of each accepted key.
    pub keys: ApiKeys,
    /// `SEMANTEST_REGISTRATIONS_PER_HOUR`: installs one client address may register per hour.
    pub registrations_per_hour: u32,
    /// `SEMANTEST_PAIR_ATTEMPTS_PER_HOUR`: pairing attempts one client address may make per hour.
    pub pair_attempts_per_hour: u32,
    /// `SEMANTEST_ENVIRONMENT`: what the signature says (default `production`).
    pub environment: String,
    /// `SEMANTEST_S3_FORCE_PATH_STYLE=true`: path-style S3 URLs (moto on loopback).
    pub s3_force_path_style: bool,
    /// `SEMANTEST_MAX_UPLOAD_BYTES`: the largest upload (default 25 MiB).
    pub max_upload_bytes: u64,
}

/// A configuration that cannot run; the function fails its init with this message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    /// A variable this handler needs is not set.
    #[error("{var} is not set; the {handler} handler needs it")]
    Missing {
        /// The variable.
        var: &'static str,
        /// The handler that needs it.
        handler: &'static str,
    },
    /// A variable is set to something unusable.
    #[error("{var}: {reason}")]
    Invalid {
        /// The variable.
        var: &'static str,
        /// Why.
        reason: String,
    },
}

impl Config {
    /// Reads the configuration through `var` (the process environment in `main`).
    pub fn from_lookup(var: impl Fn(&str) -> Option<String>) -> Result<Config, ConfigError> {
        let get = |name: &str| var(name).filter(|v| !v.trim().is_empty());
        let handler: Handler = get("SEMANTEST_HANDLER")
            .ok_or(ConfigError::Missing {
                var: "SEMANTEST_HANDLER",
                handler: "any",
            })?
            .parse()?;
        let name = match handler {
            Handler::Connect => "connect",
            Handler::Disconnect => "disconnect",
            Handler::Default => "default",
            Handler::Http => "http",
        };
        let needs = |var: &'static str, needed: bool| -> Result<String, ConfigError> {
            match get(var) {
                Some(v) => Ok(v),
                None if needed => Err(ConfigError::Missing { var, handler: name }),
                None => Ok(String::new()),
            }
        };
        let uses_table = handler != Handler::Http;
        let table = needs("SEMANTEST_TABLE", uses_table)?;
        let bucket = needs("SEMANTEST_BUCKET", handler == Handler::Default)?;
        let management_endpoint = match handler {
            Handler::Default => Some(needs("SEMANTEST_MANAGEMENT_ENDPOINT", true)?),
            _ => get("SEMANTEST_MANAGEMENT_ENDPOINT"),
        };
        let flag = |var: &'static str| -> Result<bool, ConfigError> {
            match get(var).as_deref() {
                None | Some("false") | Some("0") => Ok(false),
                Some("true") | Some("1") => Ok(true),
                Some(_) => Err(ConfigError::Invalid {
                    var,
                    reason: "use true or false".to_owned(),
                }),
            }
        };
        // An open stack (every socket in one tenant) is gone: a stale setting must not pass
        // unnoticed.
        if flag("SEMANTEST_ALLOW_ANONYMOUS")? {
            return Err(ConfigError::Invalid {
                var: "SEMANTEST_ALLOW_ANONYMOUS",
                reason: "open stacks are gone: every install registers and tools pair; remove it"
                    .to_owned(),
            });
        }
        let keys = ApiKeys::from_sha256_hex(&get("SEMANTEST_API_KEY_SHA256").unwrap_or_default())
            .map_err(|e: DigestError| ConfigError::Invalid {
            var: "SEMANTEST_API_KEY_SHA256",
            reason: e.to_string(),
        })?;
        let per_hour = |var: &'static str, default: u32| -> Result<u32, ConfigError> {
            match get(var) {
                None => Ok(default),
                Some(v) => match v.parse::<u32>() {
                    Ok(n) if n > 0 => Ok(n),
                    _ => Err(ConfigError::Invalid {
                        var,
                        reason: "a whole number of at least 1".to_owned(),
                    }),
                },
            }
        };
        let registrations_per_hour = per_hour(
            "SEMANTEST_REGISTRATIONS_PER_HOUR",
            semantest_protocol::identity::REGISTRATIONS_PER_HOUR,
        )?;
        let pair_attempts_per_hour = per_hour(
            "SEMANTEST_PAIR_ATTEMPTS_PER_HOUR",
            semantest_protocol::identity::PAIR_FAILURES_PER_HOUR,
        )?;
        let max_upload_bytes = match get("SEMANTEST_MAX_UPLOAD_BYTES") {
            None => DEFAULT_MAX_UPLOAD_BYTES,
            Some(v) => v.parse().map_err(|_| ConfigError::Invalid {
                var: "SEMANTEST_MAX_UPLOAD_BYTES",
                reason: "not a number of bytes".to_owned(),
            })?,
        };
        Ok(Config {
            handler,
            table,
            bucket,
            management_endpoint,
            keys,
            registrations_per_hour,
            pair_attempts_per_hour,
            environment: get("SEMANTEST_ENVIRONMENT").unwrap_or_else(|| "production".to_owned()),
            s3_force_path_style: flag("SEMANTEST_S3_FORCE_PATH_STYLE")?,
            max_upload_bytes,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn read(vars: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let map: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        Config::from_lookup(|k| map.get(k).cloned())
    }

    const DIGEST: &str = "bcb5a7a1f2ffe0ac1fd3bd8b03e4f9bcc8e0b6c1c4c1a4c2b1f8a2a1b9d4e5f6";

    #[test]
    fn each_handler_names_what_it_misses() {
        assert_eq!(
            read(&[]).unwrap_err().to_string(),
            "SEMANTEST_HANDLER is not set; the any handler needs it"
        );
        assert!(read(&[("SEMANTEST_HANDLER", "nope")])
            .unwrap_err()
            .to_string()
            .contains("'nope' is not a handler"));
        assert_eq!(
            read(&[("SEMANTEST_HANDLER", "default"), ("SEMANTEST_TABLE", "t")]).unwrap_err(),
            ConfigError::Missing {
                var: "SEMANTEST_BUCKET",
                handler: "default"
            }
        );
        let http = read(&[("SEMANTEST_HANDLER", "http")]).unwrap();
        assert_eq!(http.handler, Handler::Http);
        assert_eq!(http.environment, "production");
    }

    #[test]
    fn operator_keys_are_optional_and_an_open_stack_is_refused() {
        let base = [("SEMANTEST_HANDLER", "connect"), ("SEMANTEST_TABLE", "t")];
        // No operator key: installs register and devices pair.
        let identities = read(&base).unwrap();
        assert!(identities.keys.is_empty());
        assert_eq!(identities.registrations_per_hour, 10);
        let bad = read(&[base[0], base[1], ("SEMANTEST_PAIR_ATTEMPTS_PER_HOUR", "0")]).unwrap_err();
        assert!(bad.to_string().contains("at least 1"), "{bad}");
        let open = read(&[base[0], base[1], ("SEMANTEST_ALLOW_ANONYMOUS", "true")]).unwrap_err();
        assert!(open.to_string().contains("open stacks are gone"), "{open}");
        let closed = read(&[base[0], base[1], ("SEMANTEST_ALLOW_ANONYMOUS", "false")]).unwrap();
        assert!(closed.keys.is_empty());
        let keyed = read(&[base[0], base[1], ("SEMANTEST_API_KEY_SHA256", DIGEST)]).unwrap();
        assert!(!keyed.keys.is_empty());
        let bad = read(&[base[0], base[1], ("SEMANTEST_API_KEY_SHA256", "abc")]).unwrap_err();
        assert!(bad.to_string().contains("not 64 hex digits"), "{bad}");
        let flag = read(&[base[0], base[1], ("SEMANTEST_ALLOW_ANONYMOUS", "yes")]).unwrap_err();
        assert!(flag.to_string().contains("use true or false"));
    }
}
