//! Which file, on which machine and boot, an entry was written into — so a cache directory
//! restored from a backup, a CI cache step or another machine cannot make a spent refresh
//! token presentable again.
//!
//! Every store records the identity of the file it writes — device, inode and birth time,
//! known before the bytes are written because the temp file is renamed, not copied — and,
//! on Linux, the boot. A copy is a new file: another birth time, even where the file
//! system hands it the inode number just freed (ext4 does); a disk snapshot restored
//! needs a reboot. An entry whose
//! record does not match the file it is read from keeps its access token (those may be
//! reused) but not its refresh token: the next renewal logs in. The cost is one login after
//! a restore, a reboot, or an upgrade from a version that wrote no record.
//!
//! Not covered: Windows (no stable file index in std) and other Unixes' boots; the whole
//! machine rolled back with its memory (nothing local can tell).

use serde::{Deserialize, Serialize};
use std::fs::File;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Origin {
    /// Linux's boot id; empty where there is none.
    boot: String,
    dev: u64,
    ino: u64,
    /// Birth time ("seconds.nanoseconds"), where the file system keeps one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    born: Option<String>,
}

impl Origin {
    /// The identity of `file` (the temp file about to become the entry). None where the
    /// platform gives none: such entries are never checked.
    pub fn of(file: &File) -> Option<Origin> {
        let (dev, ino) = file_id(file)?;
        let born = file
            .metadata()
            .and_then(|m| m.created())
            .ok()
            .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
            .map(|d| format!("{}.{:09}", d.as_secs(), d.subsec_nanos()));
        Some(Origin {
            boot: boot_id(),
            dev,
            ino,
            born,
        })
    }
}

/// Whether an entry recording `recorded` may be trusted for its refresh token when read
/// from `file`.
pub fn vouches_for(recorded: Option<&Origin>, file: &File) -> bool {
    match (recorded, Origin::of(file)) {
        // The platform has no file identity: nothing to compare.
        (_, None) => true,
        (Some(r), Some(now)) => *r == now,
        // Written by a version that recorded nothing, or by someone else.
        (None, Some(_)) => false,
    }
}

#[cfg(unix)]
fn file_id(file: &File) -> Option<(u64, u64)> {
    use std::os::unix::fs::MetadataExt;
    let m = file.metadata().ok()?;
    Some((m.dev(), m.ino()))
}

#[cfg(not(unix))]
fn file_id(_file: &File) -> Option<(u64, u64)> {
    None
}

#[cfg(target_os = "linux")]
fn boot_id() -> String {
    std::fs::read_to_string("/proc/sys/kernel/random/boot_id")
        .map(|s| s.trim().chars().take(64).collect())
        .unwrap_or_default()
}

#[cfg(not(target_os = "linux"))]
fn boot_id() -> String {
    String::new()
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;

    #[test]
    fn a_copy_is_not_the_file_that_was_written() {
        let dir = tempfile::tempdir().unwrap();
        let (a, b) = (dir.path().join("a"), dir.path().join("b"));
        std::fs::write(&a, "x").unwrap();
        let recorded = Origin::of(&File::open(&a).unwrap());
        assert!(vouches_for(recorded.as_ref(), &File::open(&a).unwrap()));
        // Renamed: the same file.
        std::fs::rename(&a, &b).unwrap();
        assert!(vouches_for(recorded.as_ref(), &File::open(&b).unwrap()));
        // Copied back: another file.
        std::fs::copy(&b, &a).unwrap();
        assert!(!vouches_for(recorded.as_ref(), &File::open(&a).unwrap()));
        // Removed and copied back, where ext4 may hand out the same inode number again.
        let recorded_b = Origin::of(&File::open(&b).unwrap());
        let c = dir.path().join("c");
        std::fs::copy(&b, &c).unwrap();
        std::fs::remove_file(&b).unwrap();
        std::thread::sleep(std::time::Duration::from_millis(5));
        std::fs::copy(&c, &b).unwrap();
        assert!(!vouches_for(recorded_b.as_ref(), &File::open(&b).unwrap()));
        // No record at all: not trusted.
        assert!(!vouches_for(None, &File::open(&b).unwrap()));
    }
}
