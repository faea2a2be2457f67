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
