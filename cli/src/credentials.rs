//! The CLI's token from `semantest pair`, kept where only the user can read it: `$XDG_CONFIG_HOME/semantest/credentials.json` (`~/.config/…`), mode 0600 in a 0700 folder. `SEMANTEST_TOKEN` wins over it.
//!
//! The file names the server it was paired with: its token is shown to that remote server
//! only, so pointing the CLI at another one (`SEMANTEST_REMOTE_URL`) never sends it there.

use std::path::{Path, PathBuf};

use semantest_protocol::Token;
use serde::{Deserialize, Serialize};

/// What `semantest pair` stored.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Stored {
    /// The remote server (WebSocket URL) that issued the token.
    pub server: String,
    /// The device token.
    pub token: Token,
    /// The install (extension) this CLI is paired to.
    pub install_id: String,
    /// This CLI's device id (what the extension's device list shows and revokes).
    pub device_id: String,
    /// When it paired, in milliseconds since the Unix epoch.
    pub paired_at: u64,
}

impl std::fmt::Debug for Stored {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Stored")
            .field("server", &self.server)
            .field("install_id", &self.install_id)
            .field("device_id", &self.device_id)
            .finish_non_exhaustive()
    }
}

/// A credentials file that could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum CredentialsError {
    /// Neither `XDG_CONFIG_HOME` nor `HOME` is set.
    #[error("no config folder: set XDG_CONFIG_HOME or HOME")]
    NoHome,
    /// The file is there but is not ours.
    #[error("{path} is not a credentials file ({reason}); remove it and pair again")]
    Invalid {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// Reading or writing failed.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
}

/// Where the file is, from `XDG_CONFIG_HOME` or `HOME` (read through `var`).
pub fn path(var: impl Fn(&str) -> Option<String>) -> Result<PathBuf, CredentialsError> {
    let base = match (var("XDG_CONFIG_HOME"), var("HOME")) {
        (Some(dir), _) if !dir.is_empty() => PathBuf::from(dir),
        (_, Some(home)) if !home.is_empty() => PathBuf::from(home).join(".config"),
        _ => return Err(CredentialsError::NoHome),
    };
    Ok(base.join("semantest").join("credentials.json"))
}

/// The stored credentials, if the file exists.
pub fn load(path: &Path) -> Result<Option<Stored>, CredentialsError> {
    match std::fs::read(path) {
        Ok(bytes) => {
            serde_json::from_slice(&bytes)
                .map(Some)
                .map_err(|e| CredentialsError::Invalid {
                    path: path.to_owned(),
                    reason: e.to_string(),
                })
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(source) => Err(CredentialsError::Io {
            path: path.to_owned(),
            source,
        }),
    }
}

/// Writes `stored` to `path` (replacing what was there), readable by the user only.
pub fn save(path: &Path, stored: &Stored) -> Result<(), CredentialsError> {
    let io = |source| CredentialsError::Io {
        path: path.to_owned(),
        source,
    };
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(io)?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700)).map_err(io)?;
        }
    }
    let text = serde_json::to_vec_pretty(stored).unwrap_or_default();
    let temporary = path.with_extension("json.tmp");
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let write = || -> std::io::Result<()> {
        use std::io::Write;
        let mut file = options.open(&temporary)?;
        file.write_all(&text)?;
        file.sync_all()?;
        std::fs::rename(&temporary, path)
    };
    write().map_err(io)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_file_is_the_users_only_and_reads_back() {
        let dir = tempfile::tempdir().unwrap();
        let home = dir.path().to_str().unwrap().to_owned();
        let file = path(|k| (k == "HOME").then(|| home.clone())).unwrap();
        assert!(file.ends_with(".config/semantest/credentials.json"));
        let xdg = path(|k| (k == "XDG_CONFIG_HOME").then(|| "/x".to_owned())).unwrap();
        assert_eq!(xdg, PathBuf::from("/x/semantest/credentials.json"));
        assert!(matches!(path(|_| None), Err(CredentialsError::NoHome)));
        assert_eq!(load(&file).unwrap(), None);
        let stored = Stored {
            server: "wss://api.extension.semantest.com".into(),
            token: format!("std_{:064}", 1).parse().unwrap(),
            install_id: "inst_1".into(),
            device_id: "dev_1".into(),
            paired_at: 5,
        };
        save(&file, &stored).unwrap();
        assert_eq!(load(&file).unwrap(), Some(stored.clone()));
        assert!(
            !format!("{stored:?}").contains("std_"),
            "the token never prints"
        );
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode(&file), 0o600);
            assert_eq!(mode(file.parent().unwrap()), 0o700);
        }
        std::fs::write(&file, "nope").unwrap();
        assert!(load(&file).unwrap_err().to_string().contains("pair again"));
    }
}
