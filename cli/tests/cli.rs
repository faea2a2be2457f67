//! Runs the built `dnsmesh` binary as a user would.

use std::process::Command;

fn dnsmesh(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_dnsmesh"))
        .args(args)
        .env_remove("DMP_CONFIG_HOME")
        .output()
        .expect("run dnsmesh")
}

#[test]
fn help_lists_commands_and_options() {
    let out = dnsmesh(&["--help"]);
    assert!(out.status.success(), "{out:?}");
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(
        text.starts_with("End-to-end encrypted messaging over DNS"),
        "{text}"
    );
    for needle in [
        "Usage: dnsmesh",
        "version",
        "--config-home",
        "DMP_CONFIG_HOME",
        "--help",
    ] {
        assert!(text.contains(needle), "--help lacks {needle}:\n{text}");
    }
}

#[test]
fn version_command_prints_workspace_version() {
    let out = dnsmesh(&["version"]);
    assert!(out.status.success(), "{out:?}");
    let text = String::from_utf8(out.stdout).unwrap();
    let first = text.lines().next().unwrap_or_default();
    assert_eq!(
        first,
        format!("dnsmesh {} (dmp-rs)", env!("CARGO_PKG_VERSION"))
    );
    assert!(text.contains("10 record kinds"), "{text}");
}

#[test]
fn version_flag_matches() {
    let out = dnsmesh(&["--version"]);
    assert!(out.status.success());
    assert_eq!(
        String::from_utf8(out.stdout).unwrap().trim(),
        format!("dnsmesh {}", env!("CARGO_PKG_VERSION"))
    );
}

#[test]
fn missing_or_unknown_command_is_a_usage_error() {
    for args in [&[][..], &["no-such-command"][..]] {
        let out = dnsmesh(args);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {out:?}");
        assert!(String::from_utf8_lossy(&out.stderr).contains("Usage: dnsmesh"));
    }
}

#[test]
fn every_command_has_an_example() {
    for args in [
        &["init", "--help"][..],
        &["identity", "show", "--help"],
        &["contacts", "add", "--help"],
        &["contacts", "list", "--help"],
        &["token", "list", "--help"],
        &["token", "forget", "--help"],
        &["identity", "publish", "--help"],
        &["identity", "refresh-prekeys", "--help"],
        &["identity", "fetch", "--help"],
        &["send", "--help"],
        &["recv", "--help"],
        &["intro", "list", "--help"],
        &["intro", "accept", "--help"],
        &["intro", "trust", "--help"],
        &["intro", "block", "--help"],
        &["register", "--help"],
        &["tsig", "register", "--help"],
        &["resolvers", "list", "--help"],
        &["resolvers", "discover", "--help"],
        &["peers", "--help"],
        &["doctor", "--help"],
        &["identity", "rotate", "--help"],
        &["cluster", "pin", "--help"],
        &["cluster", "fetch", "--help"],
        &["cluster", "status", "--help"],
        &["cluster", "enable", "--help"],
        &["cluster", "disable", "--help"],
        &["bootstrap", "pin", "--help"],
        &["bootstrap", "fetch", "--help"],
        &["bootstrap", "discover", "--help"],
    ] {
        let out = dnsmesh(args);
        assert!(out.status.success(), "{args:?}");
        let text = String::from_utf8(out.stdout).unwrap();
        assert!(
            text.contains("Example:\n  dnsmesh ") || text.contains("Examples:\n  dnsmesh "),
            "{args:?}: {text}"
        );
    }
}

#[test]
fn missing_config_and_missing_passphrase_are_user_errors() {
    let dir = std::env::temp_dir().join(format!("dnsmesh-cli-test-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let home = dir.to_str().unwrap();
    let run = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_dnsmesh"))
            .args(["--config-home", home])
            .args(args)
            .env_remove("DMP_CONFIG_HOME")
            .env_remove("DMP_PASSPHRASE")
            .stdin(std::process::Stdio::null())
            .output()
            .unwrap()
    };
    let out = run(&["contacts", "list"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("run `dnsmesh init <username>` first"));
    assert!(
        run(&["init", "zoe", "--no-default-resolvers"])
            .status
            .success()
    );
    // No DMP_PASSPHRASE, no passphrase_file, stdin not a terminal: no hang.
    let out = run(&["identity", "show"]);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    assert!(String::from_utf8_lossy(&out.stderr).contains("set DMP_PASSPHRASE"));
    // passphrase_file is honoured (trimmed), as in the reference.
    let pass = dir.join("pass");
    std::fs::write(&pass, "  secret\n").unwrap();
    let cfg = dir.join("config.yaml");
    let text = std::fs::read_to_string(&cfg).unwrap().replace(
        "passphrase_file: null",
        &format!("passphrase_file: \"{}\"", pass.display()),
    );
    std::fs::write(&cfg, text).unwrap();
    let out = run(&["identity", "show"]);
    assert!(out.status.success(), "{out:?}");
    let with_file = String::from_utf8(out.stdout).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_dnsmesh"))
        .args(["--config-home", home, "identity", "show"])
        .env("DMP_PASSPHRASE", "secret")
        .output()
        .unwrap();
    assert_eq!(String::from_utf8(out.stdout).unwrap(), with_file);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn config_home_variable_does_not_move_tokens() {
    let dir = std::env::temp_dir().join(format!("dnsmesh-env-test-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let (cfg_home, home) = (dir.join("cfg"), dir.join("home"));
    let tok = |base: &std::path::Path| {
        std::fs::create_dir_all(base).unwrap();
        std::fs::write(
            base.join("n.example.json"),
            "{\"token\": \"t\", \"node\": \"n.example\"}",
        )
        .unwrap();
    };
    tok(&cfg_home.join("tokens"));
    let run = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_dnsmesh"))
            .args(args)
            .env("DMP_CONFIG_HOME", &cfg_home)
            .env("HOME", &home)
            .env_remove("DMP_TOKENS_HOME")
            .output()
            .unwrap()
    };
    assert!(run(&["init", "amy"]).status.success());
    assert!(cfg_home.join("config.yaml").exists());
    // Tokens come from ~/.dmp/tokens, not $DMP_CONFIG_HOME/tokens.
    let out = String::from_utf8(run(&["token", "list"]).stdout).unwrap();
    assert_eq!(out, "(no saved tokens)\n");
    tok(&home.join(".dmp/tokens"));
    let out = String::from_utf8(run(&["token", "list"]).stdout).unwrap();
    assert!(out.contains("n.example"), "{out}");
    let _ = std::fs::remove_dir_all(&dir);
}
