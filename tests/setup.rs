//! `setup git|docker|bazel`, `install-links` and `init`: real git, real files in a private
//! HOME, and the written configuration then used for real.

use crate::util::{TestEnv, bin, run_with_stdin, stderr, stdout};
use std::path::Path;
use std::process::Command;

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_default()
}

fn git_global(env: &TestEnv, args: &[&str]) -> Command {
    let mut cmd = Command::new("git");
    crate::util::apply_env(&mut cmd, env);
    cmd.env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_TERMINAL_PROMPT", "0")
        .args(args);
    cmd
}

#[test]
fn setup_git_writes_global_helpers_that_git_then_uses() {
    let env = TestEnv::new();
    let gitconfig = env.path(".gitconfig");
    let out = env.run(&["setup", "git", "--dry-run"], "");
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stdout(&out)
            .contains("would set: git config --global credential.https://api.bsn.cloud.helper")
    );
    assert!(!gitconfig.exists(), "--dry-run wrote {}", read(&gitconfig));

    let out = env.run(&["setup", "git"], "");
    assert!(out.status.success(), "{}", stderr(&out));
    let key = format!("credential.http://127.0.0.1:{}.helper", env.emu.port());
    let got = git_global(&env, &["config", "--global", "--get-all", &key])
        .output()
        .unwrap();
    let expected = format!("\n!'{}' git\n", bin());
    assert_eq!(stdout(&got), expected);
    let written = read(&gitconfig);
    let again = env.run(&["setup", "git"], "");
    assert!(stdout(&again).contains("already set"), "{}", stdout(&again));
    assert_eq!(read(&gitconfig), written, "a second setup changed the file");

    let input = format!("protocol=http\nhost=127.0.0.1:{}\n\n", env.emu.port());
    let fill = run_with_stdin(git_global(&env, &["credential", "fill"]), &input);
    assert!(fill.status.success(), "{}", stderr(&fill));
    assert!(
        stdout(&fill).contains("password=emu-at-"),
        "{}",
        stdout(&fill)
    );
}

#[test]
fn setup_docker_merges_keeps_other_keys_and_backs_up() {
    let env = TestEnv::new();
    let path = env.path(".docker/config.json");
    let before = r#"{"auths":{"registry.example":{}},"credHelpers":{"gcr.io":"gcloud"}}"#;
    crate::util::write_file(&path, before);
    let out = env.run(&["setup", "docker"], "");
    assert!(out.status.success(), "{}", stderr(&out));
    let config: serde_json::Value = serde_json::from_str(&read(&path)).unwrap();
    assert_eq!(config["auths"], serde_json::json!({"registry.example": {}}));
    let helpers = &config["credHelpers"];
    assert_eq!(helpers["gcr.io"], "gcloud");
    assert_eq!(helpers["api.bsn.cloud"], "bsn");
    assert_eq!(helpers[format!("127.0.0.1:{}", env.emu.port())], "bsn");
    assert_eq!(read(&env.path(".docker/config.json.bak")), before);
    let written = read(&path);
    let out = env.run(&["setup", "docker", "--dry-run"], "");
    assert!(!stdout(&out).contains("would set"), "{}", stdout(&out));
    env.run(&["setup", "docker"], "");
    assert_eq!(read(&path), written);
}

#[test]
fn setup_bazel_appends_rc_lines_once() {
    let env = TestEnv::new();
    crate::util::write_file(&env.path(".bazelrc"), "build --jobs=4");
    let out = env.run(&["setup", "bazel"], "");
    assert!(out.status.success(), "{}", stderr(&out));
    let rc = read(&env.path(".bazelrc"));
    let helper = Path::new(bin()).with_file_name("bazel-credential-bsn");
    assert!(rc.starts_with("build --jobs=4\n"), "{rc}");
    for host in [
        "api.bsn.cloud",
        "ws.bsn.cloud",
        "provision.bsn.cloud",
        "127.0.0.1",
    ] {
        let line = format!("common --credential_helper={host}={}\n", helper.display());
        assert_eq!(rc.matches(&line).count(), 1, "{line} in {rc}");
    }
    env.run(&["setup", "bazel"], "");
    assert_eq!(read(&env.path(".bazelrc")), rc);
}

#[cfg(unix)]
#[test]
fn install_links_creates_the_dir_and_three_working_names() {
    let env = TestEnv::new();
    let dir = env.path("new/bin");
    for round in 0..2 {
        let out = env.run(&["install-links", "--dir", dir.to_str().unwrap()], "");
        assert!(out.status.success(), "round {round}: {}", stdout(&out));
    }
    for name in [
        "git-credential-bsn",
        "docker-credential-bsn",
        "bazel-credential-bsn",
    ] {
        assert_eq!(
            std::fs::read_link(dir.join(name)).unwrap(),
            Path::new(bin())
        );
    }
    let out = Command::new(dir.join("docker-credential-bsn"))
        .arg("--version")
        .output()
        .unwrap();
    assert!(out.status.success());
}

/// The test environment's profile variables removed: only the config file speaks.
fn without_profile_env(cmd: &mut Command) {
    for var in [
        "BSN_CLIENT_ID",
        "BSN_CLIENT_SECRET",
        "BSN_NETWORK",
        "BSN_TOKEN_URL",
        "BSN_API_URL",
    ] {
        cmd.env_remove(var);
    }
}

fn init_cmd(env: &TestEnv, config: &Path, args: &[&str]) -> Command {
    let mut cmd = env.cmd(&["--config", config.to_str().unwrap(), "init"]);
    cmd.args(args);
    without_profile_env(&mut cmd);
    cmd
}

#[cfg(unix)]
#[test]
fn init_from_flags_writes_a_checked_profile_without_the_secret() {
    use std::os::unix::fs::PermissionsExt;
    let env = TestEnv::new();
    let config = env.path("config/bsn-credential-helper/config.toml");
    let secret = env.path("secrets/bsn");
    let (token_url, api_url) = (env.emu.token_url(), env.emu.base_url());
    let args = |secret_value: &str| {
        let cmd = init_cmd(
            &env,
            &config,
            &[
                "--client-id",
                "demo-client",
                "--secret-file",
                secret.to_str().unwrap(),
                "--network",
                "Demo",
                "--token-url",
                &token_url,
                "--api-url",
                &api_url,
            ],
        );
        run_with_stdin(cmd, secret_value)
    };
    let out = args("wrong-secret\n");
    assert_eq!(out.status.code(), Some(1), "{}", stdout(&out));
    assert!(stdout(&out).contains("not written"), "{}", stdout(&out));
    assert!(!config.exists());

    let out = args("demo-secret\n");
    assert!(out.status.success(), "{}{}", stdout(&out), stderr(&out));
    let text = read(&config);
    assert!(
        text.contains("client_secret_file") && !text.contains("demo-secret"),
        "{text}"
    );
    assert_eq!(
        std::fs::metadata(&secret).unwrap().permissions().mode() & 0o777,
        0o600
    );
    // The profile now works with nothing in the environment but the cache dir.
    let mut cmd = env.cmd(&["--config", config.to_str().unwrap(), "token"]);
    without_profile_env(&mut cmd);
    let out = cmd.output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
}

/// `init` on a terminal (a pty from util-linux `script`) asks for each value.
#[cfg(unix)]
#[test]
fn init_on_a_terminal_asks_and_writes_the_secret_file_with_tilde_paths() {
    if Command::new("script").arg("--version").output().is_err() {
        assert!(
            std::env::var("CI").is_err(),
            "script (util-linux) is missing under CI"
        );
        return;
    }
    let env = TestEnv::new();
    // An empty client id and a menu answer out of range are asked again; no user login.
    let answers = "\ndemo-client\n7\n1\n~/bsn-secret\ndemo-secret\n\nDemo\n";
    let mut cmd = Command::new("script");
    crate::util::apply_env(&mut cmd, &env);
    cmd.current_dir(env.home.path())
        .args([
            "-qec",
            &format!(
                "'{}' init --token-url '{}' --api-url '{}'",
                bin(),
                env.emu.token_url(),
                env.emu.base_url()
            ),
            "/dev/null",
        ])
        .env_remove("BSN_CLIENT_ID")
        .env_remove("BSN_CLIENT_SECRET")
        .env_remove("BSN_NETWORK");
    let out = run_with_stdin(cmd, answers);
    let text = stdout(&out);
    assert!(out.status.success(), "{text}");
    for prompt in [
        "Client id",
        "Where does the client secret live?",
        "Client secret (not shown)",
        "Network",
    ] {
        assert!(text.contains(prompt), "{prompt:?} not asked:\n{text}");
    }
    let config = read(&env.path("config/bsn-credential-helper/config.toml"));
    // `~` is written as typed and expanded when read.
    assert!(
        config.contains("client_secret_file = \"~/bsn-secret\""),
        "{config}"
    );
    assert_eq!(read(&env.path("bsn-secret")), "demo-secret\n");
    assert!(text.contains("all 8 checks passed"), "{text}");
    assert_eq!(text.matches("not an answer to that").count(), 2, "{text}");
    // The report names the file it wrote, and no --profile flag that was not given.
    assert!(!text.contains("config.toml.new"), "{text}");
    assert!(!text.contains("flag --profile"), "{text}");
}

#[test]
fn setup_docker_names_the_helper_it_replaces_and_where_its_entry_is_kept() {
    let env = TestEnv::new();
    let path = env.path(".docker/config.json");
    crate::util::write_file(&path, r#"{"credHelpers":{"api.bsn.cloud":"ecr-login"}}"#);
    let out = env.run(&["setup", "docker"], "");
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    let line = text
        .lines()
        .find(|l| l.contains("api.bsn.cloud"))
        .unwrap_or_else(|| panic!("{text}"));
    assert!(line.contains("replacing \"ecr-login\""), "{line}");
    assert!(line.contains("config.json.bak"), "{line}");
    assert!(read(&env.path(".docker/config.json.bak")).contains("ecr-login"));
}

#[cfg(unix)]
#[test]
fn setup_bazel_after_install_links_dir_points_at_that_dir() {
    let env = TestEnv::new();
    let dir = env.path("local/bin");
    let out = env.run(&["install-links", "--dir", dir.to_str().unwrap()], "");
    assert!(out.status.success(), "{}", stdout(&out));
    let path = format!("{}:{}", dir.display(), std::env::var("PATH").unwrap());
    let mut cmd = env.cmd(&["setup", "bazel"]);
    cmd.env("PATH", path);
    let out = run_with_stdin(cmd, "");
    assert!(out.status.success(), "{}", stderr(&out));
    let rc = read(&env.path(".bazelrc"));
    let want = format!("={}\n", dir.join("bazel-credential-bsn").display());
    assert!(rc.contains(&want), "{rc}");
    assert!(!stdout(&out).contains("does not exist"), "{}", stdout(&out));
}

/// The checks run on the profile as written: a client id the environment would override
/// is not vouched for by the environment's working one.
#[test]
fn init_checks_what_it_writes_not_what_the_environment_overrides() {
    let env = TestEnv::new();
    let config = env.path("c/config.toml");
    let flags = |id: &str| -> Vec<String> {
        [
            "--client-id",
            id,
            "--secret-env",
            "MY_BSN_SECRET",
            "--token-url",
            &env.emu.token_url(),
            "--api-url",
            &env.emu.base_url(),
            "--network",
            "Demo",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect()
    };
    let run = |id: &str| {
        let args = flags(id);
        let mut cmd = env.cmd(&["--config", config.to_str().unwrap(), "init"]);
        // The environment names the working client; the flag a bogus one.
        cmd.args(&args)
            .env("BSN_CLIENT_ID", "demo-client")
            .env("MY_BSN_SECRET", "demo-secret");
        run_with_stdin(cmd, "")
    };
    let out = run("bogus-client");
    assert_eq!(out.status.code(), Some(1), "{}", stdout(&out));
    assert!(!config.exists(), "{}", read(&config));
    let out = run("demo-client");
    assert!(out.status.success(), "{}{}", stdout(&out), stderr(&out));
    let text = stdout(&out);
    let note = text
        .lines()
        .find(|l| l.contains("would override the profile"));
    assert!(note.is_some_and(|l| l.contains("BSN_CLIENT_ID")), "{text}");
    // What was written passes doctor with the environment cleared of overrides.
    let mut cmd = env.cmd(&["--config", config.to_str().unwrap(), "doctor"]);
    without_profile_env(&mut cmd);
    cmd.env("MY_BSN_SECRET", "demo-secret");
    let out = cmd.output().unwrap();
    assert!(out.status.success(), "{}", stdout(&out));
}

/// A user-session profile from flags; another profile becomes the default only when asked.
#[test]
fn init_writes_a_password_grant_profile_and_changes_the_default_only_with_default() {
    let env = TestEnv::new();
    let config = env.path("c/config.toml");
    let run = |profile: &str, extra: &[&str]| {
        let mut cmd = env.cmd(&[
            "--config",
            config.to_str().unwrap(),
            "--profile",
            profile,
            "init",
            "--client-id",
            "demo-client",
            "--secret-env",
            "MY_BSN_SECRET",
            "--username",
            "demo@example.com",
            "--password-env",
            "MY_BSN_PASSWORD",
            "--token-url",
            &env.emu.token_url(),
            "--api-url",
            &env.emu.base_url(),
        ]);
        cmd.args(extra)
            .env("MY_BSN_SECRET", "demo-secret")
            .env("MY_BSN_PASSWORD", "demo-password");
        run_with_stdin(cmd, "")
    };
    let out = run("user", &[]);
    assert!(out.status.success(), "{}{}", stdout(&out), stderr(&out));
    let text = read(&config);
    for want in [
        "grant = \"password\"",
        "username = \"demo@example.com\"",
        "password_env = \"MY_BSN_PASSWORD\"",
    ] {
        assert!(text.contains(want), "{want} in {text}");
    }
    assert!(!text.contains("default_profile"), "{text}");
    assert!(stdout(&out).contains("--profile user"), "{}", stdout(&out));
    assert_eq!(
        env.stats().token_requests.password,
        1,
        "the checks logged in as the user"
    );
    let out = run("user2", &["--default"]);
    assert!(out.status.success(), "{}", stdout(&out));
    assert!(
        read(&config).contains("default_profile = \"user2\""),
        "{}",
        read(&config)
    );
}

/// Flags that would write a profile that cannot work are refused before anything is
/// written: an empty client id, an empty or malformed variable name.
#[test]
fn init_refuses_an_empty_client_id_or_variable_name() {
    let env = TestEnv::new();
    let config = env.path("c/config.toml");
    for (args, says) in [
        (&["--client-id", "", "--secret-env", "S"][..], "client id"),
        (
            &["--client-id", "x", "--secret-env", ""][..],
            "environment variable name",
        ),
        (
            &["--client-id", "x", "--secret-env", "MY SECRET"][..],
            "environment variable name",
        ),
    ] {
        let out = run_with_stdin(init_cmd(&env, &config, args), "");
        assert_eq!(out.status.code(), Some(3), "{args:?}: {}", stderr(&out));
        assert!(stderr(&out).contains(says), "{args:?}: {}", stderr(&out));
        assert!(!config.exists(), "{args:?} wrote {}", read(&config));
    }
}
