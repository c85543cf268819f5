//! A process's resident memory: `VmRSS` from `/proc/PID/status` (Linux), in KiB.

use crate::error::LoadError;

/// The `VmRSS` of process `pid`, in KiB.
pub fn rss_kib(pid: u32) -> Result<u64, LoadError> {
    let status =
        std::fs::read_to_string(format!("/proc/{pid}/status")).map_err(|e| LoadError::Rss {
            pid,
            reason: e.to_string(),
        })?;
    vm_rss_kib(&status).ok_or_else(|| LoadError::Rss {
        pid,
        reason: "no VmRSS line".to_owned(),
    })
}

/// This process's own `VmRSS`, in KiB.
pub fn own_rss_kib() -> Result<u64, LoadError> {
    rss_kib(std::process::id())
}

/// The `VmRSS:   1234 kB` value of a `/proc/PID/status` text.
pub fn vm_rss_kib(status: &str) -> Option<u64> {
    let line = status.lines().find_map(|l| l.strip_prefix("VmRSS:"))?;
    let mut words = line.split_whitespace();
    let value = words.next()?.parse().ok()?;
    (words.next() == Some("kB")).then_some(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_vm_rss_line_only() {
        let status = "Name:\tsemantest-serv\nVmPeak:\t  999999 kB\nVmHWM:\t   20000 kB\nVmRSS:\t   12345 kB\nRssAnon:\t    8000 kB\n";
        assert_eq!(vm_rss_kib(status), Some(12_345));
        assert_eq!(vm_rss_kib("VmPeak:\t1 kB\n"), None);
        assert_eq!(vm_rss_kib("VmRSS:\t12 MB\n"), None);
        assert_eq!(vm_rss_kib("VmRSS:\tlots kB\n"), None);
    }

    #[test]
    fn this_process_has_some_rss() {
        let kib = own_rss_kib().unwrap();
        assert!((100..10_000_000).contains(&kib), "{kib}");
        assert!(matches!(rss_kib(u32::MAX), Err(LoadError::Rss { .. })));
    }
}
