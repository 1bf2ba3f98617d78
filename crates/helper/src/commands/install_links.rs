//! `install-links [--dir DIR]`: the three names git, Docker and Bazel look for, as
//! symbolic links to this binary, next to it or in DIR (created if missing). For
//! `cargo install` users; packages already install them. Idempotent.

use super::mark;
use super::setup::this_program;
use crate::adapters::{BAZEL_NAME, DOCKER_NAME, GIT_NAME};
use crate::error::{Error, Result};
use std::path::Path;
use std::process::ExitCode;

pub fn install(dir: Option<&Path>) -> Result<ExitCode> {
    let exe = this_program()?;
    let dir = match dir {
        Some(d) => d.to_path_buf(),
        None => exe.parent().map(Path::to_path_buf).unwrap_or_default(),
    };
    std::fs::create_dir_all(&dir)
        .map_err(|e| Error::config(format!("cannot create {}: {e}", dir.display())))?;
    let mut ok = true;
    for name in [GIT_NAME, DOCKER_NAME, BAZEL_NAME] {
        let link = dir.join(format!("{name}{}", std::env::consts::EXE_SUFFIX));
        let (done, what) = place(&exe, &link);
        ok &= done;
        crate::adapters::print_line(&format!("{} {what}", mark(done)));
    }
    let on_path = std::env::var_os("PATH")
        .is_some_and(|p| std::env::split_paths(&p).any(|d| same_dir(&d, &dir)));
    if !on_path {
        crate::adapters::print_line(&format!(
            "  note: {} is not on PATH; add it so git and Docker find the helpers",
            dir.display()
        ));
    }
    Ok(if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

fn same_dir(a: &Path, b: &Path) -> bool {
    a == b
        || a.canonicalize()
            .ok()
            .is_some_and(|a| Some(a) == b.canonicalize().ok())
}

/// Links `link` to `exe` unless it already does; replaces a link elsewhere, never a file.
fn place(exe: &Path, link: &Path) -> (bool, String) {
    let shown = link.display();
    match std::fs::symlink_metadata(link) {
        Ok(m) if m.file_type().is_symlink() => {
            if std::fs::read_link(link).is_ok_and(|t| t == exe) {
                return (true, format!("{shown} already links to {}", exe.display()));
            }
            if let Err(e) = std::fs::remove_file(link) {
                return (false, format!("cannot replace {shown}: {e}"));
            }
        }
        Ok(_) => {
            return (
                true,
                format!("{shown} exists (not a link to this binary); left alone"),
            );
        }
        Err(_) => {}
    }
    match make_link(exe, link) {
        Ok(()) => (true, format!("{shown} → {}", exe.display())),
        Err(e) => (false, format!("cannot create {shown}: {e}")),
    }
}

#[cfg(unix)]
fn make_link(exe: &Path, link: &Path) -> std::io::Result<()> {
    std::os::unix::fs::symlink(exe, link)
}

/// Windows symlinks need a privilege: a hard link needs none on NTFS (and stays one file);
/// across volumes or on FAT, a copy.
#[cfg(not(unix))]
fn make_link(exe: &Path, link: &Path) -> std::io::Result<()> {
    std::fs::hard_link(exe, link).or_else(|_| std::fs::copy(exe, link).map(|_| ()))
}
