//! The file system under the cache: atomic writes, and the checks that keep a planted
//! symlink, FIFO or foreign file from being followed, waited on or trusted.

use super::MAX_ENTRY_BYTES;
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::Path;

/// Writes what `bytes` makes of the temp file (it may record the file's identity, which the
/// rename keeps) to a temp file, fsyncs it, renames it over `path` and fsyncs the directory.
pub(super) fn write_atomically(
    path: &Path,
    bytes: impl FnOnce(&File) -> std::io::Result<Vec<u8>>,
) -> std::io::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("entry");
    let tmp = dir.join(format!(
        ".{name}.{}.{}.tmp",
        std::process::id(),
        crate::time::now_ms()
    ));
    let result = (|| {
        let mut f = open_nofollow(OpenOptions::new().write(true).create_new(true), &tmp)?;
        let bytes = bytes(&f)?;
        f.write_all(&bytes)?;
        f.sync_all()?;
        drop(f);
        rename_over(&tmp, path)?;
        sync_dir(dir);
        Ok(())
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

#[cfg(not(windows))]
fn rename_over(from: &Path, to: &Path) -> std::io::Result<()> {
    std::fs::rename(from, to)
}

/// Windows: where rename cannot replace a file another process has open (no POSIX rename
/// semantics: before Windows 10 1607, FAT, Wine), it fails with "access denied" while a
/// reader holds the entry. Readers hold it for one small read, so a short retry wins.
#[cfg(windows)]
fn rename_over(from: &Path, to: &Path) -> std::io::Result<()> {
    let mut tries = 0;
    loop {
        match std::fs::rename(from, to) {
            Err(e) if e.kind() == std::io::ErrorKind::PermissionDenied && tries < 100 => {
                tries += 1;
                std::thread::sleep(std::time::Duration::from_millis(10));
            }
            other => return other,
        }
    }
}

/// Temp files of this entry left by a writer that was killed (SIGKILL, power loss) before
/// its rename. Only the lock holder writes them, so under the lock any that exist are
/// stale; they hold tokens, so they are not left to pile up.
pub(super) fn remove_stale_temps(dir: &Path, stem: &str) {
    let prefix = format!(".{stem}.");
    let Ok(names) = std::fs::read_dir(dir) else {
        return;
    };
    for name in names.flatten().map(|e| e.file_name()) {
        if let Some(name) = name.to_str()
            && name.starts_with(&prefix)
            && name.ends_with(".tmp")
        {
            let _ = std::fs::remove_file(dir.join(name));
        }
    }
}

/// Opens without following a symlink at the last component, without blocking (a FIFO
/// planted in place of a file would otherwise hang the open) and, when creating, with
/// mode 0600. Callers check what they opened with `file_is_ours`.
pub(super) fn open_nofollow(opts: &mut OpenOptions, path: &Path) -> std::io::Result<File> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK)
            .mode(0o600);
    }
    #[cfg(windows)]
    {
        use std::os::windows::fs::OpenOptionsExt;
        // FILE_FLAG_OPEN_REPARSE_POINT: open a symlink itself rather than its target.
        opts.custom_flags(0x0020_0000);
    }
    opts.open(path)
}

#[cfg(unix)]
pub(super) fn sync_dir(dir: &Path) {
    // Makes the rename durable; best effort, some file systems refuse fsync on a dir.
    if let Ok(d) = File::open(dir) {
        let _ = d.sync_all();
    }
}

#[cfg(not(unix))]
pub(super) fn sync_dir(_dir: &Path) {}

pub(super) fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        builder.mode(0o700);
    }
    builder.create(dir)
}

#[cfg(unix)]
pub(super) fn secure_dir(dir: &Path) -> std::result::Result<(), String> {
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    let meta = std::fs::symlink_metadata(dir).map_err(|e| format!("cannot be inspected: {e}"))?;
    if meta.file_type().is_symlink() {
        return Err("is a symbolic link".into());
    }
    if !meta.is_dir() {
        return Err("is not a directory".into());
    }
    // SAFETY: geteuid has no preconditions and cannot fail.
    let uid = unsafe { libc::geteuid() };
    if meta.uid() != uid {
        return Err(format!("belongs to another user (uid {})", meta.uid()));
    }
    if meta.mode() & 0o077 != 0 {
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
            .map_err(|e| format!("is open to other users and cannot be made private: {e}"))?;
    }
    Ok(())
}

/// Windows: the directory's access rules stand in for its mode (win/acl.rs). One that lets
/// another account in is given a protected rule for this user only, as chmod 700 would.
#[cfg(windows)]
pub(super) fn secure_dir(dir: &Path) -> std::result::Result<(), String> {
    let meta = std::fs::symlink_metadata(dir).map_err(|e| format!("cannot be inspected: {e}"))?;
    if meta.file_type().is_symlink() || !meta.is_dir() {
        return Err("is not a plain directory".into());
    }
    if let Some(who) = crate::win::acl::open_to(dir)? {
        crate::win::acl::make_private(dir)
            .map_err(|e| format!("is open to {who} and cannot be made private: {e}"))?;
    }
    Ok(())
}

#[cfg(not(any(unix, windows)))]
pub(super) fn secure_dir(dir: &Path) -> std::result::Result<(), String> {
    let meta = std::fs::symlink_metadata(dir).map_err(|e| format!("cannot be inspected: {e}"))?;
    if meta.file_type().is_symlink() || !meta.is_dir() {
        return Err("is not a plain directory".into());
    }
    Ok(())
}

/// Cheap check for the fast path: a directory others can write to may hold planted
/// entries, so it is not trusted until `prepare` repairs it.
#[cfg(unix)]
pub(super) fn dir_is_private(dir: &Path) -> bool {
    use std::os::unix::fs::MetadataExt;
    // SAFETY: geteuid has no preconditions and cannot fail.
    let uid = unsafe { libc::geteuid() };
    std::fs::symlink_metadata(dir)
        .is_ok_and(|m| m.is_dir() && m.uid() == uid && m.mode() & 0o022 == 0)
}

/// Windows: a plain directory (not a link or junction). Its access rules are checked and
/// repaired by `secure_dir` on the slow path, not here: a rule this code reads as open
/// (Wine maps rules to mode bits and back, lossily) must not turn every call into a login.
#[cfg(windows)]
pub(super) fn dir_is_private(dir: &Path) -> bool {
    std::fs::symlink_metadata(dir).is_ok_and(|m| m.is_dir() && !m.file_type().is_symlink())
}

#[cfg(not(any(unix, windows)))]
pub(super) fn dir_is_private(_dir: &Path) -> bool {
    true
}

#[cfg(unix)]
pub(super) fn file_is_ours(file: &File) -> bool {
    use std::os::unix::fs::MetadataExt;
    // SAFETY: geteuid has no preconditions and cannot fail.
    let uid = unsafe { libc::geteuid() };
    file.metadata()
        .is_ok_and(|m| m.is_file() && m.uid() == uid && m.len() <= MAX_ENTRY_BYTES)
}

#[cfg(not(unix))]
pub(super) fn file_is_ours(file: &File) -> bool {
    file.metadata()
        .is_ok_and(|m| m.is_file() && m.len() <= MAX_ENTRY_BYTES)
}
