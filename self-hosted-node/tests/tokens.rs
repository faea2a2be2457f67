//! `dmp-node token issue|list|revoke` on the real token database, used by
//! a running node at the same time (revocation takes effect on the next
//! request), and the same file read and written by the reference's
//! `dnsmesh-node-admin`.

mod auth_support;

use auth_support::*;
use serde_json::Value;
use std::path::Path;
use std::process::{Command, Output};

fn token_cmd(db: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_dmp-node"))
        .env_clear()
        .env("DMP_DB_PATH", db)
        .arg("token")
        .args(args)
        .output()
        .expect("run dmp-node token")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn issue_json(db: &Path, args: &[&str]) -> Value {
    let mut a = vec!["issue"];
    a.extend_from_slice(args);
    a.push("--json");
    let o = token_cmd(db, &a);
    assert!(o.status.success(), "{}", stderr(&o));
    serde_json::from_str(&stdout(&o)).unwrap()
}

#[test]
fn help_explains_with_examples() {
    let o = Command::new(env!("CARGO_BIN_EXE_dmp-node"))
        .args(["token", "--help"])
        .output()
        .unwrap();
    assert!(o.status.success());
    let out = stdout(&o);
    for c in ["issue", "list", "revoke"] {
        assert!(out.contains(c), "{out}");
    }
    for sub in ["issue", "list", "revoke"] {
        let o = Command::new(env!("CARGO_BIN_EXE_dmp-node"))
            .args(["token", sub, "--help"])
            .output()
            .unwrap();
        let out = stdout(&o);
        assert!(out.contains("Examples:"), "{sub}: {out}");
        assert!(
            out.contains(&format!("dmp-node token {sub}")),
            "{sub}: {out}"
        );
    }
}

#[test]
fn issued_tokens_work_on_a_running_node_until_revoked() {
    let (_d, db) = tmpdb();
    std::fs::create_dir_all(db.parent().unwrap()).unwrap();
    let node = Node::start(&db, &multi_tenant_env());
    let a = node.http;

    let v = issue_json(
        &db,
        &["alice@Mesh.Test", "--expires", "1h", "--note", "laptop"],
    );
    let ta = v["token"].as_str().unwrap().to_string();
    assert_eq!(v["subject"], "alice@mesh.test");
    assert_eq!(v["rate_per_sec"], 10.0);
    assert_eq!(v["rate_burst"], 50);
    let name = format!("dmp.alice.{ZONE}");
    assert_eq!(publish(a, &name, "v=1", Some(&ta)).status, 201);
    assert_eq!(
        publish(a, &format!("dmp.bob.{ZONE}"), "v=1", Some(&ta)).status,
        401
    );

    // A prekey-scoped token may publish pk-<n>.<hash12> names.
    let xpub = "11".repeat(32);
    let v = issue_json(&db, &["bob@mesh.test", "--with-prekey-scope", &xpub]);
    let h12 = dmp_core::crypto::hex(&dmp_core::crypto::sha256(&[0x11; 32]))[..12].to_string();
    assert_eq!(v["subject_hash12"], h12.as_str());
    let tb = v["token"].as_str().unwrap();
    assert_eq!(
        publish(a, &format!("pk-7.{h12}.{ZONE}"), "v=pk", Some(tb)).status,
        201
    );
    assert_eq!(
        publish(
            a,
            &format!("pk-7.{}.{ZONE}", "0".repeat(12)),
            "v=pk",
            Some(tb)
        )
        .status,
        401
    );

    // list: table and JSON.
    let o = token_cmd(&db, &["list"]);
    assert!(o.status.success());
    let table = stdout(&o);
    assert!(
        table.contains("alice@mesh.test") && table.contains("live"),
        "{table}"
    );
    let o = token_cmd(&db, &["list", "--json"]);
    let rows: Value = serde_json::from_str(&stdout(&o)).unwrap();
    let rows = rows.as_array().unwrap();
    assert_eq!(rows.len(), 2);
    let alice = rows
        .iter()
        .find(|r| r["subject"] == "alice@mesh.test")
        .unwrap();
    assert_eq!(alice["live"], true);
    assert_eq!(alice["note"], "laptop");
    assert_eq!(
        alice["token_hash"],
        dmp_core::node::authz::token_hash(&ta).as_str()
    );
    assert!(alice["issuer"].as_str().unwrap().starts_with("admin:"));
    assert!(alice["expires_at"].as_i64().unwrap() > 0);
    assert!(
        !stdout(&o).contains(&ta),
        "the token itself is never listed"
    );

    // Revoke by subject: the running node refuses the next write.
    let o = token_cmd(&db, &["revoke", "alice@mesh.test"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stdout(&o).contains("revoked 1 token"), "{}", stdout(&o));
    assert_eq!(
        publish(a, &name, "v=2", Some(&ta)).pair(),
        (401, r#"{"error": "unauthorized"}"#)
    );
    assert_eq!(values(a, &name), vec!["v=1".to_string()]);
    // Revoke by hash prefix.
    let hb = dmp_core::node::authz::token_hash(tb);
    let o = token_cmd(&db, &["revoke", &hb[..10]]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(
        publish(a, &format!("pk-8.{h12}.{ZONE}"), "v=pk", Some(tb)).status,
        401
    );
    // Nothing left to revoke; revoked rows show with --include-revoked.
    let o = token_cmd(&db, &["revoke", "alice@mesh.test"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("no live token"), "{}", stderr(&o));
    let o = token_cmd(&db, &["list", "--json"]);
    assert_eq!(stdout(&o).trim(), "[]");
    let o = token_cmd(
        &db,
        &[
            "list",
            "--json",
            "--include-revoked",
            "--subject",
            "alice@mesh.test",
        ],
    );
    let rows: Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(rows.as_array().unwrap().len(), 1);
    assert_eq!(rows[0]["live"], false);
}

#[test]
fn bad_input_is_a_clear_error() {
    let (_d, db) = tmpdb();
    let o = token_cmd(&db, &["list"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("no token database"), "{}", stderr(&o));
    std::fs::create_dir_all(db.parent().unwrap()).unwrap();
    for (args, want) in [
        (vec!["issue", "not-a-subject"], "subject invalid"),
        (vec!["issue", "a@b.test", "--expires", "10y"], "--expires"),
        (
            vec!["issue", "a@b.test", "--with-prekey-scope", "abcd"],
            "--with-prekey-scope",
        ),
    ] {
        let o = token_cmd(&db, &args);
        assert_eq!(o.status.code(), Some(2), "{args:?}");
        assert!(stderr(&o).contains(want), "{args:?}: {}", stderr(&o));
    }
    let o = token_cmd(&db, &["revoke", "zz-not-hex"]);
    assert_eq!(o.status.code(), Some(1));
}

/// The reference's admin tool and `dmp-node` share one token database.
#[test]
fn token_database_is_shared_with_the_reference_admin() {
    let Some(python) = reference_python() else {
        return;
    };
    let admin = python.with_file_name("dnsmesh-node-admin");
    let (_d, db) = tmpdb();
    std::fs::create_dir_all(db.parent().unwrap()).unwrap();
    let tokdb = db.with_file_name("dmp_tokens.db");
    // Our CLI creates the file; the reference reads it.
    let ours = issue_json(&db, &["dave@mesh.test", "--expires", "2h"]);
    let o = Command::new(&admin)
        .args(["--db"])
        .arg(&tokdb)
        .args(["token", "list", "--json"])
        .output()
        .expect("run dnsmesh-node-admin");
    assert!(o.status.success(), "{}", stderr(&o));
    let rows: Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(rows[0]["subject"], "dave@mesh.test");
    assert_eq!(rows[0]["live"], true);
    assert_eq!(
        rows[0]["token_hash"],
        dmp_core::node::authz::token_hash(ours["token"].as_str().unwrap()).as_str()
    );
    // The reference issues into it; our node accepts that token.
    let o = Command::new(&admin)
        .args(["--db"])
        .arg(&tokdb)
        .args(["token", "issue", "erin@mesh.test", "--json"])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    let theirs: Value = serde_json::from_str(&stdout(&o)).unwrap();
    let node = Node::start(&db, &multi_tenant_env());
    let t = theirs["token"].as_str().unwrap();
    assert_eq!(
        publish(node.http, &format!("dmp.erin.{ZONE}"), "v=1", Some(t)).status,
        201
    );
    let td = ours["token"].as_str().unwrap();
    assert_eq!(
        publish(node.http, &format!("dmp.dave.{ZONE}"), "v=1", Some(td)).status,
        201
    );
    // A reference revoke is seen by the running node.
    let o = Command::new(&admin)
        .args(["--db"])
        .arg(&tokdb)
        .args(["token", "revoke", "erin@mesh.test"])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(
        publish(node.http, &format!("dmp.erin.{ZONE}"), "v=2", Some(t)).status,
        401
    );
}

/// A token database the node cannot use stops it at start with a message
/// naming the file, instead of running without per-user auth.
#[test]
fn unusable_token_database_stops_the_node() {
    let (dir, db) = tmpdb();
    std::fs::create_dir_all(db.parent().unwrap()).unwrap();
    // Written by a newer schema.
    let tokdb = db.with_file_name("dmp_tokens.db");
    let c = rusqlite::Connection::open(&tokdb).unwrap();
    c.execute_batch("PRAGMA user_version = 3;").unwrap();
    drop(c);
    let run = |env: &[(&str, String)]| {
        Command::new(env!("CARGO_BIN_EXE_dmp-node"))
            .env_clear()
            .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
            .arg("--db-path")
            .arg(&db)
            .args(["--http-port", "0", "--dns-port", "0"])
            .output()
            .unwrap()
    };
    let o = run(&multi_tenant_env());
    assert!(!o.status.success());
    let err = stderr(&o);
    assert!(
        err.contains("dmp_tokens.db") && err.contains("schema version 3"),
        "{err}"
    );
    // A TSIG keystore in a directory that does not exist.
    let mut env = multi_tenant_env();
    env.retain(|(k, _)| *k != "DMP_AUTH_MODE");
    env.push(("DMP_DNS_UPDATE_ENABLED", "1".into()));
    let missing = dir.path().join("missing/dir/keys.db");
    env.push(("DMP_TSIG_DB_PATH", missing.to_string_lossy().into_owned()));
    let o = run(&env);
    assert!(!o.status.success());
    assert!(
        stderr(&o).contains("cannot open the TSIG keystore"),
        "{}",
        stderr(&o)
    );
}
