//! Documentation that runs: every `sh`, `python` and `js` block of README.md and
//! docs/integrations.md is executed against the emulator, with the built binary on PATH
//! under its four names, in a private HOME. The shell blocks of one document run in order
//! in one bash (`set -e -o pipefail`), so a later block sees what an earlier one set.
//!
//! What the harness changes, and nothing else: `https://api.bsn.cloud` reaches the
//! emulator (a `curl` function, a patched `urllib.request.urlopen`, a wrapped `fetch`);
//! lines holding a `…` placeholder for the reader's own values are left out (the test's
//! environment already has them); port 8765 becomes a free port. A block preceded by
//! `<!-- doc-test: not run: REASON -->` is only parsed where a parser exists here (bash -n,
//! Python's compile, node --check, YAML); PowerShell and Go blocks must carry that mark.

use crate::util::{TestEnv, apply_env, bin, stderr, stdout};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

struct Block {
    at: String,
    lang: String,
    text: String,
    not_run: Option<String>,
}

fn repo(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(rel)
}

fn blocks(doc: &str) -> Vec<Block> {
    let text = std::fs::read_to_string(repo(doc)).unwrap();
    let mut out = Vec::new();
    let mut open: Option<Block> = None;
    let mut last_line = "";
    for (n, line) in text.lines().enumerate() {
        if let Some(fence) = line.strip_prefix("```") {
            match open.take() {
                Some(b) => out.push(b),
                None => {
                    open = Some(Block {
                        at: format!("{doc}:{}", n + 1),
                        lang: fence.trim().to_string(),
                        text: String::new(),
                        not_run: last_line
                            .strip_prefix("<!-- doc-test: not run:")
                            .map(|r| r.trim_end_matches("-->").trim().to_string()),
                    })
                }
            }
        } else if let Some(b) = open.as_mut() {
            b.text.push_str(line);
            b.text.push('\n');
        }
        if !line.trim().is_empty() {
            last_line = line.trim();
        }
    }
    out
}

const SH_PRELUDE: &str = r#"set -e -o pipefail
curl() { local a=() x; for x in "$@"; do a+=("${x//https:\/\/api.bsn.cloud/$BSN_API_URL}"); done; command curl "${a[@]}"; }
"#;

const PY_PRELUDE: &str = r#"import os as _os, urllib.request as _u
_orig = _u.urlopen
def _urlopen(req, *a, **k):
    api = _os.environ["BSN_API_URL"]
    if isinstance(req, str):
        req = req.replace("https://api.bsn.cloud", api)
    else:
        req.full_url = req.full_url.replace("https://api.bsn.cloud", api)
    return _orig(req, *a, **k)
_u.urlopen = _urlopen
"#;

const JS_PRELUDE: &str = "const __fetch = globalThis.fetch;\nglobalThis.fetch = (u, i) => __fetch(String(u).replace('https://api.bsn.cloud', process.env.BSN_API_URL), i);\n";

/// A private HOME with fixtures for the snippets and the four names on PATH.
struct Stage {
    env: TestEnv,
    work: PathBuf,
    path: std::ffi::OsString,
}

fn stage() -> Stage {
    let env = TestEnv::new();
    let work = env.path("work");
    let names = env.path("bin");
    std::fs::create_dir_all(&work).unwrap();
    std::fs::create_dir_all(&names).unwrap();
    for name in [
        "bsn-credential-helper",
        "git-credential-bsn",
        "docker-credential-bsn",
        "bazel-credential-bsn",
    ] {
        std::os::unix::fs::symlink(bin(), names.join(name)).unwrap();
    }
    let script = |path: PathBuf, text: &str| {
        std::fs::write(&path, text).unwrap();
        std::fs::set_permissions(&path, std::os::unix::fs::PermissionsExt::from_mode(0o755))
            .unwrap();
    };
    script(
        work.join("deploy.sh"),
        "#!/bin/sh\ntest -n \"$BSN_ACCESS_TOKEN\"\n",
    );
    script(
        names.join("long-running-job"),
        "#!/bin/sh\ntest -n \"$BSN_ACCESS_TOKEN\"\n",
    );
    std::fs::write(
        work.join("tool.py"),
        "import os, sys\nsys.exit(0 if os.environ.get('BS_TOKEN') else 1)\n",
    )
    .unwrap();
    // `import … from 'bsn-credential-helper'` resolves to the package in this checkout.
    std::fs::create_dir_all(work.join("node_modules")).unwrap();
    std::os::unix::fs::symlink(
        repo("clients/node"),
        work.join("node_modules/bsn-credential-helper"),
    )
    .unwrap();
    let mut dirs = vec![names, env.home.path().join(".local/bin")];
    dirs.extend(std::env::split_paths(
        &std::env::var_os("PATH").unwrap_or_default(),
    ));
    Stage {
        path: std::env::join_paths(dirs).unwrap(),
        env,
        work,
    }
}

impl Stage {
    fn cmd(&self, program: &str) -> Command {
        let mut cmd = Command::new(program);
        apply_env(&mut cmd, &self.env);
        cmd.current_dir(&self.work)
            .env("PATH", &self.path)
            .env("PYTHONPATH", repo("clients/python"))
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .env("GIT_TERMINAL_PROMPT", "0")
            .stdin(Stdio::null());
        cmd
    }
}

/// Runs `cmd` in its own process group (snippets start background emulators), at most 60 s.
fn run(mut cmd: Command, what: &str) -> String {
    use std::os::unix::process::CommandExt;
    let out_file = tempfile::NamedTempFile::new().unwrap();
    let err_file = tempfile::NamedTempFile::new().unwrap();
    cmd.process_group(0)
        .stdout(out_file.reopen().unwrap())
        .stderr(err_file.reopen().unwrap());
    let mut child = cmd.spawn().unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break Some(s);
        }
        if Instant::now() > deadline {
            break None;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    // Whatever the snippet left running in the background goes with its group.
    unsafe { libc::kill(-(child.id() as i32), libc::SIGTERM) };
    let _ = child.wait();
    let (out, err) = (read(out_file.path()), read(err_file.path()));
    match status {
        Some(s) if s.success() => out,
        _ => panic!("{what} failed ({status:?})\n--- stdout\n{out}\n--- stderr\n{err}"),
    }
}

fn read(p: &Path) -> String {
    std::fs::read_to_string(p).unwrap_or_default()
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Parses a block that is not run; returns whether a parser was found.
fn parse_only(stage: &Stage, b: &Block) {
    let (program, args): (&str, Vec<String>) = match b.lang.as_str() {
        "sh" | "bash" => ("bash", vec!["-n".into(), "-c".into(), b.text.clone()]),
        "python" => (
            "python3",
            vec![
                "-c".into(),
                format!("compile({:?}, 'snippet', 'exec')", b.text),
            ],
        ),
        "yaml" => (
            "python3",
            vec![
                "-c".into(),
                format!("import yaml; yaml.safe_load({:?})", b.text),
            ],
        ),
        "powershell" | "go" => return, // no parser in the distribution's packages here
        other => panic!("{}: cannot parse a not-run {other} block", b.at),
    };
    if b.lang == "yaml"
        && !Command::new("python3")
            .args(["-c", "import yaml"])
            .status()
            .is_ok_and(|s| s.success())
    {
        eprintln!("skipped: PyYAML missing for {}", b.at);
        return;
    }
    let mut cmd = stage.cmd(program);
    cmd.args(args);
    run(cmd, &format!("parsing {}", b.at));
}

fn run_document(doc: &str) -> Vec<String> {
    let stage = stage();
    let port = free_port().to_string();
    let mut shell = String::from(SH_PRELUDE);
    let mut ran = Vec::new();
    for b in blocks(doc) {
        if let Some(reason) = &b.not_run {
            assert!(!reason.is_empty(), "{}: say why it is not run", b.at);
            parse_only(&stage, &b);
            continue;
        }
        let text: String = b
            .text
            .lines()
            .filter(|l| !l.contains('…') || !l.contains("export"))
            .map(|l| format!("{l}\n"))
            .collect();
        match b.lang.as_str() {
            "sh" | "bash" => shell.push_str(&format!(
                "echo '### {}' >&2\n{}",
                b.at,
                text.replace("8765", &port)
            )),
            "python" => {
                let mut cmd = stage.cmd("python3");
                cmd.args(["-c", &format!("{PY_PRELUDE}{text}")]);
                run(cmd, &b.at);
            }
            "js" => {
                // The snippets are ES modules (import, top-level await).
                let file = stage.work.join("snippet.mjs");
                std::fs::write(&file, format!("{JS_PRELUDE}{text}")).unwrap();
                let mut cmd = stage.cmd("node");
                cmd.arg(&file);
                run(cmd, &b.at);
            }
            "json" => {
                serde_json::from_str::<serde_json::Value>(&text)
                    .unwrap_or_else(|e| panic!("{}: {e}", b.at));
            }
            "toml" => check_toml(&stage, &b.at, &text),
            "powershell" | "go" | "yaml" => panic!(
                "{}: a {} block must be marked `doc-test: not run`",
                b.at, b.lang
            ),
            _ => continue, // output samples, .bazelrc lines, tables
        }
        ran.push(format!("{} ({})", b.at, b.lang));
    }
    let mut cmd = stage.cmd("bash");
    cmd.args(["--norc", "-c", &shell]);
    run(cmd, &format!("the shell blocks of {doc}"));
    ran
}

/// A config sample must load: `status` reads every profile and needs no secret.
fn check_toml(stage: &Stage, at: &str, text: &str) {
    let file = stage.work.join("sample.toml");
    std::fs::write(&file, text).unwrap();
    let mut cmd = stage.cmd("bsn-credential-helper");
    cmd.arg("--config").arg(&file).arg("status");
    for var in ["BSN_CLIENT_ID", "BSN_CLIENT_SECRET", "BSN_NETWORK"] {
        cmd.env_remove(var);
    }
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "{at}: status on the sample failed: {}{}",
        stdout(&out),
        stderr(&out)
    );
}

#[test]
fn readme_snippets_run() {
    let ran = run_document("README.md");
    for lang in ["(sh)", "(python)", "(toml)", "(json)"] {
        assert!(
            ran.iter().any(|r| r.ends_with(lang)),
            "no {lang} block ran: {ran:?}"
        );
    }
}

#[test]
fn integrations_snippets_run() {
    let ran = run_document("docs/integrations.md");
    for lang in ["(sh)", "(python)", "(js)", "(json)"] {
        assert!(
            ran.iter().any(|r| r.ends_with(lang)),
            "no {lang} block ran: {ran:?}"
        );
    }
}
