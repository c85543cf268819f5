//! The production server's book of identities: installs, their paired devices and pairing codes, keyed by the SHA-256 of their secrets, kept in a JSON file.
//!
//! Only digests are stored ([`issue::digest`]): the file (and a memory dump) never holds a
//! token or a code. A token is looked up by its digest; an operator key is checked against the
//! configured keys in constant time ([`crate::auth::ApiKeys`]). The file is rewritten (to a
//! temporary file, then renamed) after every change to installs or devices; pairing codes live
//! only in memory, for [`PAIR_CODE_TTL_SECS`] (or [`crate::Config::pair_code_ttl_secs`]). Without a file (tests, `--identity-file ''`) the
//! book lives in memory only.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use semantest_protocol::identity::{
    clean_name, issue, Device, DeviceList, Identity, PairCodeIssued, Paired, PairingCode,
    Registered, MAX_DEVICES,
};
pub(crate) use semantest_protocol::identity::{Lookup, PairError};
use serde::{Deserialize, Serialize};

/// How many pairing codes one install may have alive at once (a new one past that replaces
/// the oldest).
const MAX_CODES_PER_INSTALL: usize = 4;

/// Why a `revoke` failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}", semantest_protocol::identity::no_such_device(.0))]
pub(crate) struct NoSuchDevice(pub(crate) String);

/// A book that could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum BookError {
    /// The file exists but is not a book.
    #[error("the identity file {path} is not valid: {reason}")]
    Invalid {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// Reading or writing failed.
    #[error("the identity file {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Book {
    installs: HashMap<String, InstallRecord>,
    devices: HashMap<String, DeviceRecord>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct InstallRecord {
    name: String,
    created_at: u64,
    token_sha256: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct DeviceRecord {
    install_id: String,
    name: String,
    paired_at: u64,
    #[serde(default)]
    last_seen: Option<u64>,
    token_sha256: String,
    #[serde(default)]
    revoked: bool,
}

#[derive(Debug)]
struct Code {
    install_id: String,
    expires_at: u64,
}

#[derive(Debug, Default)]
struct State {
    book: Book,
    /// token digest → install or device id (rebuilt from the book).
    tokens: HashMap<String, Owner>,
    /// code digest → code.
    codes: HashMap<String, Code>,
}

#[derive(Debug, Clone)]
enum Owner {
    Install(String),
    Device(String),
}

/// Installs, devices and codes of one server.
#[derive(Debug)]
pub(crate) struct Identities {
    state: Mutex<State>,
    file: Option<PathBuf>,
}

impl Identities {
    /// A book kept in `file` (read now if it exists), or in memory only.
    pub(crate) fn open(file: Option<&Path>) -> Result<Self, BookError> {
        let book = match file {
            Some(path) => match std::fs::read(path) {
                Ok(bytes) => serde_json::from_slice(&bytes).map_err(|e| BookError::Invalid {
                    path: path.to_owned(),
                    reason: e.to_string(),
                })?,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => Book::default(),
                Err(source) => {
                    return Err(BookError::Io {
                        path: path.to_owned(),
                        source,
                    })
                }
            },
            None => Book::default(),
        };
        let mut state = State {
            book,
            ..State::default()
        };
        reindex(&mut state);
        Ok(Identities {
            state: Mutex::new(state),
            file: file.map(Path::to_owned),
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Who `token` belongs to.
    pub(crate) fn lookup(&self, token: &str) -> Lookup {
        let digest = issue::digest(token);
        let state = self.lock();
        match state.tokens.get(&digest) {
            Some(Owner::Install(id)) => Lookup::Known(Identity::Install {
                install_id: id.clone(),
            }),
            Some(Owner::Device(id)) => match state.book.devices.get(id) {
                Some(d) if d.revoked => Lookup::Revoked,
                Some(d) => Lookup::Known(Identity::Device {
                    install_id: d.install_id.clone(),
                    device_id: id.clone(),
                }),
                None => Lookup::Unknown,
            },
            None => Lookup::Unknown,
        }
    }

    /// A new install named `name`.
    pub(crate) fn register(&self, name: &str, now_ms: u64) -> Result<Registered, BookError> {
        let (install_id, token) = (issue::install_id(), issue::install_token());
        let record = InstallRecord {
            name: clean_name(name, "extension"),
            created_at: now_ms,
            token_sha256: issue::digest(token.expose()),
        };
        let mut state = self.lock();
        state.book.installs.insert(install_id.clone(), record);
        reindex(&mut state);
        if let Err(e) = self.save(&state) {
            // Not kept, so not half made: the token was never handed out.
            state.book.installs.remove(&install_id);
            reindex(&mut state);
            return Err(e);
        }
        Ok(Registered { install_id, token })
    }

    /// A new pairing code for `install_id`, valid `ttl_secs`.
    pub(crate) fn pair_code(&self, install_id: &str, now_ms: u64, ttl_secs: u64) -> PairCodeIssued {
        let code = issue::pairing_code();
        let expires_at = now_ms + ttl_secs * 1000;
        let mut state = self.lock();
        state.codes.retain(|_, c| c.expires_at > now_ms);
        let mine: Vec<(String, u64)> = state
            .codes
            .iter()
            .filter(|(_, c)| c.install_id == install_id)
            .map(|(k, c)| (k.clone(), c.expires_at))
            .collect();
        if mine.len() >= MAX_CODES_PER_INSTALL {
            if let Some((oldest, _)) = mine.iter().min_by_key(|(_, at)| *at) {
                state.codes.remove(oldest);
            }
        }
        state.codes.insert(
            issue::digest(code.canonical()),
            Code {
                install_id: install_id.to_owned(),
                expires_at,
            },
        );
        PairCodeIssued {
            code: code.display(),
            expires_at,
        }
    }

    /// Pairs a device named `name` with the install that issued `code`; the code is used up.
    pub(crate) fn pair(
        &self,
        code: &PairingCode,
        name: &str,
        now_ms: u64,
    ) -> Result<Result<Paired, PairError>, BookError> {
        let digest = issue::digest(code.canonical());
        let mut state = self.lock();
        let Some(found) = state.codes.remove(&digest) else {
            return Ok(Err(PairError::Unknown));
        };
        if found.expires_at <= now_ms {
            return Ok(Err(PairError::Expired));
        }
        let live = state
            .book
            .devices
            .values()
            .filter(|d| d.install_id == found.install_id && !d.revoked)
            .count();
        if live >= MAX_DEVICES || !state.book.installs.contains_key(&found.install_id) {
            return Ok(Err(PairError::Full));
        }
        let (device_id, token) = (issue::device_id(), issue::device_token());
        state.book.devices.insert(
            device_id.clone(),
            DeviceRecord {
                install_id: found.install_id.clone(),
                name: clean_name(name, "device"),
                paired_at: now_ms,
                last_seen: Some(now_ms),
                token_sha256: issue::digest(token.expose()),
                revoked: false,
            },
        );
        reindex(&mut state);
        if let Err(e) = self.save(&state) {
            // The device is not made, and the code may be tried again.
            state.book.devices.remove(&device_id);
            reindex(&mut state);
            state.codes.insert(digest, found);
            return Err(e);
        }
        Ok(Ok(Paired {
            token,
            device_id,
            install_id: found.install_id,
        }))
    }

    /// The live devices of `install_id`, oldest pairing first.
    pub(crate) fn devices(&self, install_id: &str) -> DeviceList {
        let state = self.lock();
        let mut items: Vec<Device> = state
            .book
            .devices
            .iter()
            .filter(|(_, d)| d.install_id == install_id && !d.revoked)
            .map(|(id, d)| Device {
                device_id: id.clone(),
                name: d.name.clone(),
                paired_at: d.paired_at,
                last_seen: d.last_seen,
            })
            .collect();
        items.sort_by(|a, b| (a.paired_at, &a.device_id).cmp(&(b.paired_at, &b.device_id)));
        DeviceList { items }
    }

    /// Revokes `device_id` of `install_id`: its token is refused from now on.
    pub(crate) fn revoke(
        &self,
        install_id: &str,
        device_id: &str,
    ) -> Result<Result<(), NoSuchDevice>, BookError> {
        let mut state = self.lock();
        match state.book.devices.get_mut(device_id) {
            Some(d) if d.install_id == install_id && !d.revoked => d.revoked = true,
            _ => return Ok(Err(NoSuchDevice(device_id.to_owned()))),
        }
        if let Err(e) = self.save(&state) {
            // Revoked only once the file says so (else a restart would bring the token back);
            // the revoke can be repeated.
            if let Some(d) = state.book.devices.get_mut(device_id) {
                d.revoked = false;
            }
            return Err(e);
        }
        Ok(Ok(()))
    }

    /// Notes that `device_id` opened a socket at `now_ms` (kept in memory; written with the
    /// next change).
    pub(crate) fn seen(&self, device_id: &str, now_ms: u64) {
        if let Some(d) = self.lock().book.devices.get_mut(device_id) {
            d.last_seen = Some(now_ms);
        }
    }

    fn save(&self, state: &State) -> Result<(), BookError> {
        let Some(path) = &self.file else {
            return Ok(());
        };
        let io = |source| BookError::Io {
            path: path.clone(),
            source,
        };
        let text = serde_json::to_vec_pretty(&state.book).unwrap_or_default();
        let temporary = path.with_extension("json.tmp");
        write_private(&temporary, &text).map_err(io)?;
        std::fs::rename(&temporary, path).map_err(io)
    }
}

/// Writes `bytes` to `path`, readable by its owner only where the system has modes.
fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(path)?;
    file.write_all(bytes)?;
    file.sync_all()
}

fn reindex(state: &mut State) {
    let installs = state
        .book
        .installs
        .iter()
        .map(|(id, i)| (i.token_sha256.clone(), Owner::Install(id.clone())));
    let devices = state
        .book
        .devices
        .iter()
        .map(|(id, d)| (d.token_sha256.clone(), Owner::Device(id.clone())));
    state.tokens = installs.chain(devices).collect();
}

#[cfg(test)]
mod tests {
    use super::*;
    use semantest_protocol::identity::PAIR_CODE_TTL_SECS;

    #[test]
    fn an_install_pairs_a_device_with_a_code_used_once_and_revokes_it() {
        let book = Identities::open(None).unwrap();
        let install = book.register("Chrome", 1_000).unwrap();
        let me = Identity::Install {
            install_id: install.install_id.clone(),
        };
        assert_eq!(book.lookup(install.token.expose()), Lookup::Known(me));
        let issued = book.pair_code(&install.install_id, 2_000, PAIR_CODE_TTL_SECS);
        assert_eq!(issued.expires_at, 2_000 + 600_000);
        let code = PairingCode::parse(&issued.code).unwrap();
        let paired = book.pair(&code, "laptop", 3_000).unwrap().unwrap();
        assert_eq!(paired.install_id, install.install_id);
        assert_eq!(
            book.pair(&code, "again", 3_001).unwrap(),
            Err(PairError::Unknown),
            "a code is single use"
        );
        let device = Lookup::Known(Identity::Device {
            install_id: install.install_id.clone(),
            device_id: paired.device_id.clone(),
        });
        assert_eq!(book.lookup(paired.token.expose()), device);
        let list = book.devices(&install.install_id);
        assert_eq!(list.items.len(), 1);
        assert_eq!(list.items[0].name, "laptop");
        // Another install cannot revoke it.
        let other = book.register("other", 4_000).unwrap();
        assert!(book
            .revoke(&other.install_id, &paired.device_id)
            .unwrap()
            .is_err());
        book.revoke(&install.install_id, &paired.device_id)
            .unwrap()
            .unwrap();
        assert_eq!(book.lookup(paired.token.expose()), Lookup::Revoked);
        assert!(book.devices(&install.install_id).items.is_empty());
        assert_eq!(book.lookup("sti_not-a-token-of-anyone"), Lookup::Unknown);
    }

    #[test]
    fn a_change_the_file_did_not_take_is_not_kept() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("book").join("identity.json");
        std::fs::create_dir(path.parent().unwrap()).unwrap();
        let book = Identities::open(Some(&path)).unwrap();
        let install = book.register("Chrome", 1).unwrap();
        let code = PairingCode::parse(
            &book
                .pair_code(&install.install_id, 1, PAIR_CODE_TTL_SECS)
                .code,
        )
        .unwrap();
        let paired = book.pair(&code, "cli", 2).unwrap().unwrap();
        let second = PairingCode::parse(
            &book
                .pair_code(&install.install_id, 3, PAIR_CODE_TTL_SECS)
                .code,
        )
        .unwrap();
        // The disk goes away: every change fails, and none is half kept.
        std::fs::remove_dir_all(path.parent().unwrap()).unwrap();
        assert!(book.revoke(&install.install_id, &paired.device_id).is_err());
        assert!(
            matches!(book.lookup(paired.token.expose()), Lookup::Known(_)),
            "not revoked in memory while the file says otherwise"
        );
        assert!(book.pair(&second, "other", 4).is_err());
        assert_eq!(
            book.devices(&install.install_id).items.len(),
            1,
            "no device half made"
        );
        assert!(book.register("x", 5).is_err());
        // The disk is back: the same revoke and the same code go through.
        std::fs::create_dir(path.parent().unwrap()).unwrap();
        book.revoke(&install.install_id, &paired.device_id)
            .unwrap()
            .unwrap();
        assert_eq!(book.lookup(paired.token.expose()), Lookup::Revoked);
        assert!(
            book.pair(&second, "other", 6).unwrap().is_ok(),
            "the code was not used up"
        );
    }

    #[test]
    fn an_expired_code_is_refused_as_expired() {
        let book = Identities::open(None).unwrap();
        let install = book.register("", 0).unwrap();
        let issued = book.pair_code(&install.install_id, 0, PAIR_CODE_TTL_SECS);
        let code = PairingCode::parse(&issued.code).unwrap();
        assert_eq!(
            book.pair(&code, "late", 600_000).unwrap(),
            Err(PairError::Expired)
        );
    }

    #[test]
    fn the_file_keeps_digests_only_and_a_restarted_server_knows_every_token() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("identity.json");
        let book = Identities::open(Some(&path)).unwrap();
        let install = book.register("Chrome", 1).unwrap();
        let code = PairingCode::parse(
            &book
                .pair_code(&install.install_id, 1, PAIR_CODE_TTL_SECS)
                .code,
        )
        .unwrap();
        let paired = book.pair(&code, "cli", 2).unwrap().unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(!text.contains(install.token.expose()));
        assert!(!text.contains(paired.token.expose()));
        assert!(text.contains(&issue::digest(paired.token.expose())));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        let again = Identities::open(Some(&path)).unwrap();
        assert!(matches!(
            again.lookup(install.token.expose()),
            Lookup::Known(_)
        ));
        assert!(matches!(
            again.lookup(paired.token.expose()),
            Lookup::Known(_)
        ));
        std::fs::write(&path, "{nope").unwrap();
        let error = Identities::open(Some(&path)).unwrap_err().to_string();
        assert!(error.contains("is not valid"), "{error}");
    }
}
