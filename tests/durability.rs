//! What the file system and the kernel see of a renewal (issue 21): every entry is fsynced
//! before it is renamed into place and its directory fsynced after, the write-ahead of a
//! refresh token is durable before the token endpoint is even connected to, a store that
//! fails after a refresh leaves no stale entry and says so, no core dump can be written
//! while tokens are in memory, a 503 keeps the refresh token, and temp files a killed
//! writer left behind (they hold tokens) are removed.
//!
//! The system calls are read with strace (Debian `strace`, installed by .ci/run); a failing
//! rename is injected with a tiny LD_PRELOAD library built here with `cc`.

use crate::util::*;
use bsn_emulator::{Fault, FaultKind};
use serde_json::Value;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;

const FORCE: &str = r#"{"force_refresh":true}"#;

fn entry(env: &TestEnv) -> Option<Value> {
    let path = env.cache_file("json")?;
    serde_json::from_slice(&std::fs::read(path).ok()?).ok()
}

fn have(tool: &str) -> bool {
    Command::new(tool).arg("--version").output().is_ok()
}

/// One system call of the traced helper, in order.
#[derive(Debug)]
enum Call {
    Open { fd: String, path: String },
    Fsync { fd: String },
    Rename { from: String, to: String },
    Connect { port: u16 },
}

/// A force-refreshed `get` under strace: the calls that matter, in order.
fn traced_refresh(env: &TestEnv) -> Vec<Call> {
    let log = env.path("strace.log");
    let mut cmd = Command::new("strace");
    cmd.args(["-f", "-qq", "-s", "512", "-e"])
        .arg("trace=openat,fsync,fdatasync,rename,renameat,renameat2,connect")
        .arg("-o")
        .arg(&log)
        .arg(bin())
        .arg("get");
    apply_env(&mut cmd, env);
    let out = run_with_stdin(cmd, FORCE);
    assert!(out.status.success(), "{}", stderr(&out));
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["source"], "refresh", "{v}");
    let text = std::fs::read_to_string(&log).unwrap();
    let calls: Vec<Call> = text.lines().filter_map(parse).collect();
    // Every run opens files; none seen means the log is not in the shape `parse` reads
    // (strace's pid padding once was not): show it rather than a bare empty list.
    assert!(
        calls.iter().any(|c| matches!(c, Call::Open { .. })),
        "no openat parsed from strace's log ({} bytes; stderr {:?}):\n{}",
        text.len(),
        stderr(&out),
        text.lines().take(40).collect::<Vec<_>>().join("\n")
    );
    calls
}

/// `1234 openat(AT_FDCWD, "/p", …) = 3` and the like; failed calls are left out.
/// strace pads the pid to five columns (`4881  openat…`), so a fresh machine's small
/// pids put two spaces before the call.
fn parse(line: &str) -> Option<Call> {
    let call = line.split_once(' ')?.1.trim_start();
    let (head, result) = call.rsplit_once(" = ")?;
    let head = head.trim_end();
    // A non-blocking connect "fails" with EINPROGRESS: it is still the request starting.
    let started = result.contains("EINPROGRESS");
    let result = result.split_whitespace().next()?;
    if result.starts_with('-') && !started {
        return None;
    }
    let quoted: Vec<&str> = head.split('"').skip(1).step_by(2).collect();
    let name = head.split('(').next()?;
    let arg = head.split_once('(')?.1.split([',', ')']).next()?.trim();
    Some(match name {
        "openat" => Call::Open {
            fd: result.to_string(),
            path: quoted.first()?.to_string(),
        },
        "fsync" | "fdatasync" => Call::Fsync {
            fd: arg.to_string(),
        },
        "rename" | "renameat" | "renameat2" => Call::Rename {
            from: quoted.first()?.to_string(),
            to: quoted.get(1)?.to_string(),
        },
        "connect" => Call::Connect {
            port: head
                .split("htons(")
                .nth(1)?
                .split(')')
                .next()?
                .parse()
                .ok()?,
        },
        _ => return None,
    })
}

/// For every entry renamed into place: (temp file fsynced before the rename, directory
/// fsynced after it, the index of the rename).
fn replacements(calls: &[Call], dir: &Path) -> Vec<(bool, bool, usize)> {
    let dir = dir.to_string_lossy().to_string();
    let mut open: HashMap<&str, &str> = HashMap::new();
    let mut synced: Vec<&str> = Vec::new();
    let mut out = Vec::new();
    for (i, call) in calls.iter().enumerate() {
        match call {
            Call::Open { fd, path } => {
                open.insert(fd, path);
            }
            Call::Fsync { fd } => synced.extend(open.get(fd.as_str())),
            Call::Rename { from, to } if to.ends_with(".json") => {
                let file_synced = synced.contains(&from.as_str());
                let dir_synced = calls[i..].iter().any(|c| match c {
                    Call::Fsync { fd } => open.get(fd.as_str()).is_some_and(|p| *p == dir),
                    _ => false,
                }) || dir_fsynced_later(&calls[i..], &dir);
                out.push((file_synced, dir_synced, i));
            }
            _ => {}
        }
    }
    out
}

/// The directory is opened after the rename, then fsynced.
fn dir_fsynced_later(calls: &[Call], dir: &str) -> bool {
    let mut fds = Vec::new();
    for call in calls {
        match call {
            Call::Open { fd, path } if path == dir => fds.push(fd.as_str()),
            Call::Fsync { fd } if fds.contains(&fd.as_str()) => return true,
            _ => {}
        }
    }
    false
}

#[test]
fn strace_lines_parse_whatever_the_pid_width() {
    // The first CI failure of the fsync test: pid 4881 is padded to "4881  openat".
    for line in [
        r#"4881  openat(AT_FDCWD, "/c/x.tmp", O_WRONLY|O_CREAT, 0600) = 4"#,
        r#"1234567 openat(AT_FDCWD, "/c/x.tmp", O_WRONLY|O_CREAT, 0600) = 4"#,
    ] {
        assert!(
            matches!(parse(line), Some(Call::Open { ref fd, ref path }) if fd == "4" && path == "/c/x.tmp"),
            "{line}"
        );
    }
    assert!(
        matches!(parse("12  fsync(4)                          = 0"), Some(Call::Fsync { ref fd }) if fd == "4")
    );
    assert!(
        parse(r#"12 openat(AT_FDCWD, "/nope", O_RDONLY) = -1 ENOENT (No such file)"#).is_none()
    );
}

#[test]
fn entries_are_fsynced_before_the_rename_and_the_write_ahead_before_connecting() {
    if !require("strace", have("strace")) {
        return;
    }
    let env = TestEnv::new().password_grant();
    env.token();
    let calls = traced_refresh(&env);
    let dir = env.cache_dir();
    let renames = replacements(&calls, &dir);
    assert!(renames.len() >= 2, "write-ahead and result: {calls:#?}");
    for (file_synced, dir_synced, at) in &renames {
        assert!(
            file_synced,
            "entry renamed at call {at} without an fsync first: {calls:#?}"
        );
        assert!(
            dir_synced,
            "directory not fsynced after the rename at call {at}"
        );
    }
    // The write-ahead (the first rename) and its directory fsync come before the token
    // endpoint is connected to.
    let port = env.emu.port();
    let connect = calls
        .iter()
        .position(|c| matches!(c, Call::Connect { port: p } if *p == port))
        .expect("the helper connects to the emulator");
    let (_, _, first) = renames[0];
    assert!(
        first < connect,
        "write-ahead at call {first}, connect at {connect}"
    );
    assert!(
        dir_fsynced_later(&calls[first..connect], &dir.to_string_lossy()),
        "the write-ahead's directory fsync must precede the request"
    );
}

/// A library that makes the Nth rename onto a `.json` fail with ENOSPC.
fn failing_rename_shim(env: &TestEnv) -> PathBuf {
    let src = env.path("shim.c");
    write_file(
        &src,
        r#"#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
static int calls;
int rename(const char *from, const char *to) {
    int (*real)(const char *, const char *) = dlsym(RTLD_NEXT, "rename");
    const char *at = getenv("BSN_TEST_FAIL_RENAME_AT");
    if (at && strstr(to, ".json") && ++calls == atoi(at)) { errno = ENOSPC; return -1; }
    return real(from, to);
}
"#,
    );
    let lib = env.path("shim.so");
    let ok = Command::new("cc")
        .args(["-shared", "-fPIC", "-o"])
        .arg(&lib)
        .arg(&src)
        .arg("-ldl")
        .status()
        .unwrap();
    assert!(ok.success(), "cc failed");
    lib
}

#[test]
fn a_store_failing_after_a_refresh_leaves_no_stale_entry_and_says_so() {
    if !require("cc", have("cc")) {
        return;
    }
    let env = TestEnv::new().password_grant();
    env.token();
    let spent = entry(&env).unwrap()["refresh_token"].clone();
    let shim = failing_rename_shim(&env);
    // Rename 1 is the write-ahead, rename 2 the refreshed entry: that one fails.
    let mut cmd = env.cmd(&["get"]);
    cmd.env("LD_PRELOAD", &shim)
        .env("BSN_TEST_FAIL_RENAME_AT", "2");
    let out = run_with_stdin(cmd, FORCE);
    assert!(out.status.success(), "{}", stderr(&out));
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["source"], "refresh", "{v}");
    let warning = v["warning"].as_str().unwrap_or_default();
    assert!(
        warning.contains("not cached") && warning.contains("BSN_CACHE_DIR"),
        "the failed store is reported: {v}"
    );
    assert!(
        entry(&env).is_none(),
        "no stale entry stays: {:?}",
        entry(&env)
    );
    assert_ne!(spent, Value::Null);
    // The next call logs in (the warning's promise); nothing is presented twice.
    let (code, v, err) = env.get("");
    assert_eq!((code, v["source"].as_str()), (0, Some("login")), "{err}");
    assert_eq!(env.stats().refresh_tokens_reused, 0);
}

#[test]
fn no_core_dump_can_be_written_while_a_renewal_holds_tokens() {
    let env = TestEnv::new().password_grant();
    env.token();
    env.emu.inject(Fault::new(FaultKind::Slow).delay_ms(1500));
    let mut cmd = env.cmd(&["get"]);
    cmd.stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null());
    // The child starts with a core limit a shell could have set.
    unsafe_set_core_limit(&mut cmd);
    let mut child = cmd.spawn().unwrap();
    sleep_ms(600);
    let limits = std::fs::read_to_string(format!("/proc/{}/limits", child.id())).unwrap();
    child.wait().unwrap();
    let core = limits
        .lines()
        .find(|l| l.starts_with("Max core file size"))
        .unwrap();
    let soft = core.split_whitespace().nth(4).unwrap();
    assert_eq!(soft, "0", "{core}");
}

/// Raises the child's soft core limit to its hard limit before exec, as `ulimit -c
/// unlimited` would.
fn unsafe_set_core_limit(cmd: &mut Command) {
    use std::os::unix::process::CommandExt;
    // SAFETY: getrlimit/setrlimit are async-signal-safe and touch only this child.
    unsafe {
        cmd.pre_exec(|| {
            let mut l: libc::rlimit = std::mem::zeroed();
            libc::getrlimit(libc::RLIMIT_CORE, &mut l);
            l.rlim_cur = l.rlim_max.min(1 << 30);
            libc::setrlimit(libc::RLIMIT_CORE, &l);
            Ok(())
        });
    }
}

#[test]
fn a_503_to_a_refresh_keeps_the_refresh_token() {
    let env = TestEnv::new().password_grant();
    env.token();
    let before = entry(&env).unwrap()["refresh_token"].clone();
    // Three answers of 503: every attempt the helper makes (it retries a 503, which the
    // server did not process).
    env.emu.inject(Fault::new(FaultKind::ServerError).count(3));
    let out = run_with_stdin(env.cmd(&["get"]), FORCE);
    let after = entry(&env).unwrap()["refresh_token"].clone();
    assert_eq!(after, before, "503: {}", stderr(&out));
    assert!(
        !out.status.success() || stderr(&out).contains("warning"),
        "{}",
        stderr(&out)
    );
    let logins = env.stats().token_requests.password;
    let (code, v, err) = env.get(FORCE);
    assert_eq!((code, v["source"].as_str()), (0, Some("refresh")), "{err}");
    assert_eq!(env.stats().token_requests.password, logins, "no new login");
    assert_eq!(env.stats().refresh_tokens_reused, 0);
}

#[test]
fn temp_files_a_killed_writer_left_behind_are_removed() {
    let env = TestEnv::new().password_grant();
    env.token();
    let entry_path = env.cache_file("json").unwrap();
    let name = entry_path
        .file_name()
        .unwrap()
        .to_string_lossy()
        .to_string();
    let leftover = env.cache_dir().join(format!(".{name}.99999.1.tmp"));
    std::fs::copy(&entry_path, &leftover).unwrap();
    let (code, _, err) = env.get(FORCE);
    assert_eq!(code, 0, "{err}");
    assert!(
        !leftover.exists(),
        "a temp file holding tokens stays behind"
    );
}

/// A token request that provably never left the machine (connection refused) is tried
/// again after a backoff, up to three attempts, before the error — it cost nothing.
#[test]
fn a_request_that_was_not_sent_is_tried_again() {
    let env = TestEnv::new();
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let mut cmd = env.cmd(&["-v", "token"]);
    cmd.env(
        "BSN_TOKEN_URL",
        format!("http://127.0.0.1:{closed}/realms/bsncloud/protocol/openid-connect/token"),
    );
    let out = run_with_stdin(cmd, "");
    assert_eq!(out.status.code(), Some(6), "{}", stderr(&out));
    let err = stderr(&out);
    for attempt in [1, 2] {
        assert!(
            err.contains(&format!("token request attempt {attempt} not sent")),
            "attempt {attempt} then a retry: {err}"
        );
    }
}
