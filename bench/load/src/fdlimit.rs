//! The process's open-file limit: raised to its hard limit at start, and checked against the
//! connections a run will open (one file descriptor each, plus a margin).

use rlimit::Resource;

use crate::error::LoadError;

/// File descriptors kept for everything that is not a connection (stdio, the runtime, files).
pub const MARGIN: u64 = 64;

/// The soft and hard `RLIMIT_NOFILE`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FdLimit {
    /// What the process may open now.
    pub soft: u64,
    /// The most the soft limit can be raised to without privileges.
    pub hard: u64,
}

/// Raises the soft limit to the hard one (an unlimited hard limit: to the kernel's
/// `fs.nr_open`) and returns both as they are then.
pub fn raise() -> Result<FdLimit, LoadError> {
    let (_, hard) = Resource::NOFILE
        .get()
        .map_err(LoadError::io("getrlimit(RLIMIT_NOFILE)"))?;
    let target = if hard == rlimit::INFINITY {
        nr_open().unwrap_or(1 << 20)
    } else {
        hard
    };
    rlimit::increase_nofile_limit(target).map_err(LoadError::io("setrlimit(RLIMIT_NOFILE)"))?;
    let (soft, hard) = Resource::NOFILE
        .get()
        .map_err(LoadError::io("getrlimit(RLIMIT_NOFILE)"))?;
    Ok(FdLimit { soft, hard })
}

/// The kernel's ceiling for any process's open files (Linux).
fn nr_open() -> Option<u64> {
    std::fs::read_to_string("/proc/sys/fs/nr_open")
        .ok()?
        .trim()
        .parse()
        .ok()
}

/// Whether `connections` fit in `limit`; the error says what to do when they do not.
pub fn check(limit: FdLimit, connections: u64) -> Result<(), LoadError> {
    let need = connections.saturating_add(MARGIN);
    if need <= limit.soft {
        return Ok(());
    }
    Err(LoadError::FdLimit {
        connections,
        need,
        soft: limit.soft,
        hard: limit.hard,
    })
}

/// [`raise`], then [`check`].
pub fn ensure(connections: u64) -> Result<FdLimit, LoadError> {
    let limit = raise()?;
    check(limit, connections)?;
    Ok(limit)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connections_plus_the_margin_must_fit_under_the_soft_limit() {
        let limit = FdLimit {
            soft: 1024,
            hard: 4096,
        };
        assert!(check(limit, 1024 - MARGIN).is_ok());
        let err = check(limit, 1024 - MARGIN + 1).unwrap_err();
        let text = err.to_string();
        assert!(text.contains("need about 1025 open files"), "{text}");
        assert!(text.contains("may open 1024 (hard limit 4096)"), "{text}");
        assert!(text.contains("ulimit -Hn 1025"), "{text}");
        assert!(check(limit, u64::MAX).is_err());
    }

    #[test]
    fn raising_reaches_the_hard_limit() {
        let limit = raise().unwrap();
        assert!(limit.soft <= limit.hard, "{limit:?}");
        if limit.hard != rlimit::INFINITY {
            assert_eq!(limit.soft, limit.hard);
        }
        assert_eq!(Resource::NOFILE.get().unwrap(), (limit.soft, limit.hard));
    }
}
