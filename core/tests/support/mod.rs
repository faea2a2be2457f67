//! Shared test support: the live Python reference as an oracle.
//!
//! `DMP_REFERENCE_PYTHON` must point at an interpreter with `dnsmesh==0.7.5`
//! (scripts/install-tools.sh makes one). A missing oracle fails the test with
//! a clear message: a differential test that silently skips proves nothing.
//! `DMP_SKIP_REFERENCE=1` is the explicit, visible opt-out for local runs.
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Write};
use std::path::PathBuf;
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};

use serde_json::Value;

pub mod det_rng;

/// `true` when the caller explicitly opted out of reference tests.
pub fn reference_skipped() -> bool {
    if std::env::var("DMP_SKIP_REFERENCE").as_deref() == Ok("1") {
        eprintln!("DMP_SKIP_REFERENCE=1: skipping a differential test against the reference");
        return true;
    }
    false
}

/// A long-lived `oracle.py serve` child: one JSON request per line.
pub struct Oracle {
    child: Child,
    stdin: ChildStdin,
    stdout: BufReader<ChildStdout>,
}

impl Oracle {
    pub fn start() -> Oracle {
        let python = std::env::var("DMP_REFERENCE_PYTHON").unwrap_or_else(|_| {
            panic!(
                "DMP_REFERENCE_PYTHON is not set: run scripts/install-tools.sh and export the \
                 interpreter it prints (or set DMP_SKIP_REFERENCE=1 to skip reference tests)"
            )
        });
        let script: PathBuf = [
            env!("CARGO_MANIFEST_DIR"),
            "..",
            "tests",
            "reference",
            "oracle.py",
        ]
        .iter()
        .collect();
        let mut child = Command::new(&python)
            .arg(&script)
            .arg("serve")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start the reference oracle with {python}: {e}"));
        let stdin = child.stdin.take().expect("piped stdin");
        let stdout = BufReader::new(child.stdout.take().expect("piped stdout"));
        Oracle {
            child,
            stdin,
            stdout,
        }
    }

    /// Send one request (`command` plus fields) and return the response.
    /// Oracle-reported errors come back as `{"error": ...}` values.
    pub fn call(&mut self, command: &str, mut req: Value) -> Value {
        req["command"] = Value::String(command.to_string());
        let mut line = serde_json::to_string(&req).expect("serializable request");
        line.push('\n');
        self.stdin
            .write_all(line.as_bytes())
            .and_then(|_| self.stdin.flush())
            .expect("oracle stdin");
        let mut out = String::new();
        self.stdout.read_line(&mut out).expect("oracle stdout");
        assert!(!out.is_empty(), "the reference oracle exited unexpectedly");
        serde_json::from_str(&out).unwrap_or_else(|e| panic!("bad oracle reply {out:?}: {e}"))
    }

    /// Like [`Oracle::call`], but a reply with `error` fails the test.
    pub fn ok(&mut self, command: &str, req: Value) -> Value {
        let reply = self.call(command, req);
        if let Some(err) = reply.get("error") {
            panic!("reference oracle {command} failed: {err}");
        }
        reply
    }
}

impl Drop for Oracle {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn hex(data: &[u8]) -> String {
    dmp_core::crypto::hex(data)
}

pub fn unhex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).expect("hex"))
        .collect()
}

impl Oracle {
    /// Pipeline many requests of one command through this child and return
    /// the replies in order. A writer thread feeds stdin while this thread
    /// drains stdout, so a long batch cannot deadlock on full pipes.
    pub fn call_many(&mut self, command: &str, reqs: &[Value]) -> Vec<Value> {
        let mut text = String::new();
        for req in reqs {
            let mut req = req.clone();
            req["command"] = Value::String(command.to_string());
            text.push_str(&ascii_json(&req));
            text.push('\n');
        }
        let stdin = &mut self.stdin;
        let stdout = &mut self.stdout;
        let lines: Vec<String> = std::thread::scope(|s| {
            let writer =
                s.spawn(move || stdin.write_all(text.as_bytes()).and_then(|_| stdin.flush()));
            let mut lines = Vec::with_capacity(reqs.len());
            for _ in 0..reqs.len() {
                let mut line = String::new();
                // A dead child shows up here as EOF (and as EPIPE in the writer).
                if stdout.read_line(&mut line).unwrap_or(0) == 0 {
                    break;
                }
                lines.push(line);
            }
            writer
                .join()
                .expect("oracle writer thread")
                .expect("oracle stdin");
            lines
        });
        assert_eq!(
            lines.len(),
            reqs.len(),
            "the reference oracle exited unexpectedly"
        );
        lines
            .iter()
            .map(|l| {
                serde_json::from_str(l).unwrap_or_else(|e| panic!("bad oracle reply {l:?}: {e}"))
            })
            .collect()
    }
}

/// Compact JSON with every non-ASCII character written as `\uXXXX`, so the
/// child reads the same text whatever its locale's stdin encoding is.
pub fn ascii_json(value: &Value) -> String {
    let text = serde_json::to_string(value).expect("serializable request");
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if c.is_ascii() {
            out.push(c);
        } else {
            let mut units = [0u16; 2];
            for unit in c.encode_utf16(&mut units) {
                out.push_str(&format!("\\u{unit:04x}"));
            }
        }
    }
    out
}
