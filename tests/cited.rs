//! Every claim in README.md, protocol.md and docs/ names the test behind it: each cited
//! `module::test` of this binary must exist, so a renamed or deleted test cannot leave a
//! claim standing on nothing. `{a,b}` expands; a trailing `…` matches a prefix.

use std::collections::BTreeSet;
use std::path::Path;
use std::process::Command;

/// The tests of this binary, as `--list` names them.
fn our_tests() -> BTreeSet<String> {
    let out = Command::new(std::env::current_exe().unwrap())
        .args(["--list", "--format", "terse"])
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.strip_suffix(": test"))
        .map(str::to_string)
        .collect()
}

/// Backticked spans shaped like a test path, with `{a,b}` expanded.
fn cited(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    for span in text.split('`').skip(1).step_by(2) {
        let shaped = span.contains("::")
            && span
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "_:{},…".contains(c));
        if !shaped {
            continue;
        }
        match (span.find('{'), span.find('}')) {
            (Some(a), Some(b)) if a < b => {
                for alt in span[a + 1..b].split(',') {
                    out.push(format!("{}{alt}{}", &span[..a], &span[b + 1..]));
                }
            }
            _ => out.push(span.to_string()),
        }
    }
    out
}

#[test]
fn every_test_cited_in_the_docs_exists() {
    let tests = our_tests();
    assert!(tests.len() > 100, "--list gave {} tests", tests.len());
    let modules: BTreeSet<&str> = tests.iter().filter_map(|t| t.split("::").next()).collect();
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut docs = vec![root.join("README.md"), root.join("protocol.md")];
    for e in std::fs::read_dir(root.join("docs")).unwrap() {
        docs.push(e.unwrap().path());
    }
    let mut missing = Vec::new();
    let mut checked = 0;
    for doc in docs
        .iter()
        .filter(|d| d.extension().is_some_and(|e| e == "md"))
    {
        let text = std::fs::read_to_string(doc).unwrap();
        for name in cited(&text) {
            // Unit tests of the library crates live in other binaries.
            if !modules.contains(name.split("::").next().unwrap()) || name.ends_with("::") {
                continue;
            }
            checked += 1;
            let found = match name.strip_suffix('…') {
                Some(prefix) => tests.iter().any(|t| t.starts_with(prefix)),
                // A module (`foreign::fleet`) is cited as the tests under it.
                None => {
                    let module = format!("{name}::");
                    tests.contains(&name) || tests.iter().any(|t| t.starts_with(&module))
                }
            };
            if !found {
                missing.push(format!("{}: {name}", doc.display()));
            }
        }
    }
    assert!(checked > 30, "only {checked} citations found");
    assert!(
        missing.is_empty(),
        "cited but no such test:\n{}",
        missing.join("\n")
    );
}

/// All output of the helper goes through `adapters::print_text`/`print_line` (stdout) and
/// `log::line`/`log::prompt` (stderr), which treat a closed stream as silence; the std
/// printing macros panic on one, and the release build aborts. Test modules may use them.
#[test]
fn no_output_bypasses_the_printing_functions() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut offenders = Vec::new();
    let mut stack = vec![root.join("src"), root.join("crates/helper/src")];
    while let Some(dir) = stack.pop() {
        for e in std::fs::read_dir(&dir).unwrap() {
            let path = e.unwrap().path();
            if path.is_dir() {
                stack.push(path);
                continue;
            }
            if path.extension().is_none_or(|x| x != "rs") || path.ends_with("tests.rs") {
                continue;
            }
            let text = std::fs::read_to_string(&path).unwrap();
            let code = text.split("#[cfg(test)]").next().unwrap();
            for (n, line) in code.lines().enumerate() {
                let line = line.trim_start();
                if line.starts_with("//") {
                    continue;
                }
                if ["println!", "print!(", "eprintln!", "eprint!("]
                    .iter()
                    .any(|m| line.contains(m))
                {
                    offenders.push(format!("{}:{}: {line}", path.display(), n + 1));
                }
            }
        }
    }
    assert!(
        offenders.is_empty(),
        "use adapters::print_text/print_line or log::line:\n{}",
        offenders.join("\n")
    );
}

/// Every environment variable the configuration reads is documented where users look: the
/// man page's ENVIRONMENT and the README. Adding a setting without them fails here.
#[test]
fn every_environment_variable_the_config_reads_is_documented() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut vars = BTreeSet::new();
    for e in std::fs::read_dir(root.join("crates/helper/src/config")).unwrap() {
        let text = std::fs::read_to_string(e.unwrap().path()).unwrap();
        for piece in text.split('"').skip(1).step_by(2) {
            let shaped = (piece.starts_with("BSN_") || piece.starts_with("BS_"))
                && piece.chars().all(|c| c.is_ascii_uppercase() || c == '_');
            if shaped {
                vars.insert(piece.to_string());
            }
        }
    }
    assert!(vars.len() > 20, "{vars:?}");
    let man = Command::new(crate::util::bin())
        .arg("manpage")
        .output()
        .unwrap();
    let man = String::from_utf8_lossy(&man.stdout)
        .replace("\\_", "_")
        .replace("\\-", "-");
    let readme = std::fs::read_to_string(root.join("README.md")).unwrap();
    let missing: Vec<String> = vars
        .iter()
        .flat_map(|v| {
            let mut m = Vec::new();
            if !man.contains(v.as_str()) {
                m.push(format!("man page: {v}"));
            }
            if !readme.contains(v.as_str()) {
                m.push(format!("README.md: {v}"));
            }
            m
        })
        .collect();
    assert!(missing.is_empty(), "undocumented:\n{}", missing.join("\n"));
}

/// The README's settings table has a row for every row of the one settings table, with
/// its variable, its config-file key and its default.
#[test]
fn the_readme_settings_table_matches_the_settings_table() {
    use bsn_credential_helper::config::table::SETTINGS;
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let readme = std::fs::read_to_string(root.join("README.md")).unwrap();
    let rows: Vec<&str> = readme
        .lines()
        .filter(|l| l.starts_with("| `BSN_"))
        .collect();
    let mut missing = Vec::new();
    for spec in &SETTINGS {
        let var = format!("`{}`", spec.env[0]);
        let row = rows.iter().find(|r| r.starts_with(&format!("| {var}")));
        match row {
            None => missing.push(format!("no row for {var}")),
            Some(r) => {
                if !r.contains(&format!("`{}`", spec.key)) {
                    missing.push(format!("{var}: key `{}` missing", spec.key));
                }
                if let Some(d) = spec.default.filter(|d| !r.contains(&format!("`{d}`"))) {
                    missing.push(format!("{var}: default `{d}` missing"));
                }
            }
        }
    }
    assert!(
        missing.is_empty(),
        "README settings table:\n{}",
        missing.join("\n")
    );
}

/// The README's figures are the benchmark's output, not typed by hand: the block between
/// its `bench:figures` markers is the one the benchmark printed into benches/RESULTS.md
/// (`BENCH_UPDATE_README=1 cargo bench --bench helper` writes both from one run).
#[test]
fn readme_figures_are_the_benchmarks_output() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    for name in ["figures", "fleet"] {
        let block = |file: &str| {
            let text = std::fs::read_to_string(root.join(file)).unwrap();
            let (a, b) = (
                text.find(&format!("<!-- bench:{name} -->")),
                text.find(&format!("<!-- /bench:{name} -->")),
            );
            match (a, b) {
                (Some(a), Some(b)) if a < b => text[a..b].to_string(),
                _ => panic!("{file} has no bench:{name} block"),
            }
        };
        assert_eq!(
            block("README.md"),
            block("benches/RESULTS.md"),
            "bench:{name}"
        );
    }
}
