//! The checks, grouped by feature. Each returns `Ok` or a message that says
//! what was expected and what came back.

use crate::http::{self, Response};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use dmp_core::crypto::{Signer25519, hex, sha256};
use dmp_core::dns::client::{build_txt_query, parse_txt_response};
use dmp_core::node::publish::Limits;
use dmp_core::node::registration::signing_payload;
use dmp_core::node::{HttpError, PUBLISH_OK_BODY, records_body};
use serde_json::Value;
use std::collections::BTreeSet;
use std::fmt;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Write-auth mode of the node under test (`DMP_AUTH_MODE`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// Anyone may write.
    Open,
    /// Operator token only.
    Legacy,
    /// Operator token or per-user tokens.
    MultiTenant,
}

impl std::str::FromStr for Mode {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "open" => Ok(Mode::Open),
            "legacy" => Ok(Mode::Legacy),
            "multi-tenant" => Ok(Mode::MultiTenant),
            _ => Err(format!(
                "unknown auth mode {s:?} (open, legacy or multi-tenant)"
            )),
        }
    }
}

/// The node under test and how it is configured.
///
/// The suite sends about 150 record requests and 7 registration requests
/// from one address: run the node with per-IP limits that allow that
/// (dmp-node: `--http-burst 1000`, `DMP_REGISTRATION_ENDPOINT_RATE_BURST=20`).
#[derive(Clone, Debug)]
pub struct Target {
    /// `http://host:port`.
    pub base: String,
    /// Auth mode for writes.
    pub mode: Mode,
    /// The operator token, when the node has one (reads then need it too).
    pub operator_token: Option<String>,
    /// Registration routes enabled (multi-tenant only).
    pub registration: bool,
    /// The node's caps.
    pub limits: Limits,
}

impl Target {
    /// An open-mode node with default caps.
    pub fn open(base: &str) -> Self {
        Target {
            base: base.trim_end_matches('/').to_string(),
            mode: Mode::Open,
            operator_token: None,
            registration: false,
            limits: Limits::default(),
        }
    }
}

/// A feature group of checks.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Group {
    /// `/health`, `/stats`, unknown routes.
    Basics,
    /// `/v1/records/{name}` CRUD, status codes, bodies, caps, TTL.
    Records,
    /// Write and read authorization for the target's mode.
    Auth,
    /// `/v1/registration/challenge` + `/confirm` and the issued token's scope.
    Registration,
    /// `/dns-query` GET/POST/JSON.
    Doh,
    /// CORS on the record API and DoH.
    Cors,
}

impl Group {
    /// Every group, in run order.
    pub const ALL: [Group; 6] = [
        Group::Basics,
        Group::Records,
        Group::Auth,
        Group::Registration,
        Group::Doh,
        Group::Cors,
    ];
}

impl std::str::FromStr for Group {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Group::ALL
            .into_iter()
            .find(|g| g.to_string() == s)
            .ok_or_else(|| {
                format!("unknown group {s:?} (basics, records, auth, registration, doh, cors)")
            })
    }
}

impl fmt::Display for Group {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = match self {
            Group::Basics => "basics",
            Group::Records => "records",
            Group::Auth => "auth",
            Group::Registration => "registration",
            Group::Doh => "doh",
            Group::Cors => "cors",
        };
        f.write_str(s)
    }
}

/// How one check ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Passed.
    Pass,
    /// Failed, with what went wrong.
    Fail(String),
    /// Not applicable to this target's configuration.
    Skip(String),
}

/// One check's result.
#[derive(Clone, Debug)]
pub struct CheckResult {
    /// Its group.
    pub group: Group,
    /// Its name.
    pub name: &'static str,
    /// How it ended.
    pub outcome: Outcome,
}

/// All results of a run.
#[derive(Clone, Debug, Default)]
pub struct Report {
    /// In run order.
    pub results: Vec<CheckResult>,
}

impl Report {
    /// Failed checks.
    pub fn failures(&self) -> Vec<&CheckResult> {
        self.results
            .iter()
            .filter(|r| matches!(r.outcome, Outcome::Fail(_)))
            .collect()
    }

    /// Failed checks of one group.
    pub fn failures_in(&self, g: Group) -> Vec<&CheckResult> {
        self.failures()
            .into_iter()
            .filter(|r| r.group == g)
            .collect()
    }

    /// Passed checks.
    pub fn passed(&self) -> usize {
        self.results
            .iter()
            .filter(|r| r.outcome == Outcome::Pass)
            .count()
    }

    /// One line per check and a summary line.
    pub fn render(&self) -> String {
        let mut out = String::new();
        for r in &self.results {
            let line = match &r.outcome {
                Outcome::Pass => format!("PASS {}/{}\n", r.group, r.name),
                Outcome::Fail(m) => format!("FAIL {}/{}: {m}\n", r.group, r.name),
                Outcome::Skip(m) => format!("SKIP {}/{}: {m}\n", r.group, r.name),
            };
            out.push_str(&line);
        }
        let skipped = self.results.len() - self.passed() - self.failures().len();
        out.push_str(&format!(
            "conformance: {} passed, {} failed, {} skipped\n",
            self.passed(),
            self.failures().len(),
            skipped
        ));
        out
    }
}

type CheckFn = fn(&Ctx) -> Outcome;

const CHECKS: &[(Group, &str, CheckFn)] = &[
    (Group::Basics, "health", health),
    (Group::Basics, "stats", stats),
    (Group::Basics, "unknown_route_404", unknown_route),
    (Group::Records, "publish_then_get", publish_then_get),
    (Group::Records, "append_and_idempotent", append_idempotent),
    (Group::Records, "get_missing_404", get_missing),
    (
        Group::Records,
        "delete_value_and_name",
        delete_value_and_name,
    ),
    (Group::Records, "name_case_folded", name_case_folded),
    (Group::Records, "bad_input_400", bad_input),
    (Group::Records, "oversized_body_400", oversized_body),
    (Group::Records, "rrset_cap_413", rrset_cap),
    (Group::Records, "ttl_filtered_on_read", ttl_expiry),
    (Group::Auth, "open_mode_writes", open_writes),
    (
        Group::Auth,
        "writes_need_credentials",
        writes_need_credentials,
    ),
    (
        Group::Auth,
        "reads_need_operator_token",
        reads_need_operator,
    ),
    (
        Group::Auth,
        "malformed_user_token_401",
        malformed_user_token,
    ),
    (Group::Registration, "disabled_404", registration_disabled),
    (Group::Registration, "challenge_shape", challenge_shape),
    (
        Group::Registration,
        "confirm_token_scopes",
        confirm_and_scopes,
    ),
    (Group::Registration, "confirm_errors", confirm_errors),
    (Group::Doh, "get_post_json_same_rrset", doh_same_rrset),
    (Group::Doh, "nxdomain", doh_nxdomain),
    (Group::Doh, "bad_requests_400", doh_bad_requests),
    (Group::Cors, "records_preflight", cors_records_preflight),
    (Group::Cors, "records_simple_request", cors_records_simple),
    (Group::Cors, "doh_preflight_and_get", cors_doh),
];

/// Runs the checks of `groups` (all when empty) against `target`.
pub fn run(target: &Target, groups: &[Group]) -> Report {
    let ctx = Ctx::new(target);
    let mut report = Report::default();
    for (group, name, f) in CHECKS {
        if !groups.is_empty() && !groups.contains(group) {
            continue;
        }
        let outcome = f(&ctx);
        report.results.push(CheckResult {
            group: *group,
            name,
            outcome,
        });
    }
    report
}

/// A fresh label for this run (time and a counter hashed: unique across
/// runs against one persistent store).
pub fn run_label() -> String {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    let seed = format!("{nanos}-{}", std::process::id());
    hex(&sha256(seed.as_bytes()))[..10].to_string()
}

/// The per-run context.
struct Ctx<'a> {
    t: &'a Target,
    run: String,
}

/// Early return of a failed check.
macro_rules! ensure {
    ($cond:expr, $($msg:tt)+) => {
        if !$cond {
            return Outcome::Fail(format!($($msg)+));
        }
    };
}

/// `?` for `Result<_, String>` inside a check.
macro_rules! tryo {
    ($e:expr) => {
        match $e {
            Ok(v) => v,
            Err(e) => return Outcome::Fail(e),
        }
    };
}

fn expect(r: &Response, status: u16, body: &str, what: &str) -> Result<(), String> {
    if r.status != status || r.text() != body {
        return Err(format!(
            "{what}: expected {status} {body:?}, got {} {:?}",
            r.status,
            r.text()
        ));
    }
    Ok(())
}

impl<'a> Ctx<'a> {
    fn new(t: &'a Target) -> Self {
        Ctx {
            t,
            run: run_label(),
        }
    }

    /// A record name unique to this run and check.
    fn name(&self, tag: &str) -> String {
        format!("{tag}.r{}.conformance.example", self.run)
    }

    fn req(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> Result<Response, String> {
        http::request(&self.t.base, method, path, headers, body)
    }

    fn operator_header(&self) -> Option<String> {
        self.t
            .operator_token
            .as_ref()
            .map(|t| format!("Bearer {t}"))
    }

    /// Headers that make a write succeed in this mode (operator token
    /// unless open).
    fn write_auth(&self) -> Vec<(&'static str, String)> {
        match (self.t.mode, self.operator_header()) {
            (Mode::Open, _) | (_, None) => Vec::new(),
            (_, Some(h)) => vec![("Authorization", h)],
        }
    }

    fn read_auth(&self) -> Vec<(&'static str, String)> {
        self.operator_header()
            .map(|h| vec![("Authorization", h)])
            .unwrap_or_default()
    }

    fn can_write(&self) -> bool {
        self.t.mode == Mode::Open || self.t.operator_token.is_some()
    }

    fn publish_with(
        &self,
        name: &str,
        value: &str,
        ttl: u64,
        headers: &[(&str, String)],
    ) -> Result<Response, String> {
        let body = format!(
            "{{\"value\": {}, \"ttl\": {ttl}}}",
            dmp_core::node::json_str(value)
        );
        let mut h: Vec<(&str, &str)> = headers.iter().map(|(k, v)| (*k, v.as_str())).collect();
        h.push(("Content-Type", "application/json"));
        self.req("POST", &format!("/v1/records/{name}"), &h, body.as_bytes())
    }

    fn publish(&self, name: &str, value: &str, ttl: u64) -> Result<(), String> {
        let r = self.publish_with(name, value, ttl, &self.write_auth())?;
        expect(&r, 201, PUBLISH_OK_BODY, &format!("POST {name}"))
    }

    fn get(&self, name: &str) -> Result<Response, String> {
        let a = self.read_auth();
        let h: Vec<(&str, &str)> = a.iter().map(|(k, v)| (*k, v.as_str())).collect();
        self.req("GET", &format!("/v1/records/{name}"), &h, b"")
    }

    /// The values GET returns (status 200 or 404; checks the body shape).
    fn values(&self, name: &str) -> Result<BTreeSet<String>, String> {
        let r = self.get(name)?;
        let v: Value = serde_json::from_slice(&r.body)
            .map_err(|e| format!("GET {name}: body is not JSON ({e}): {:?}", r.text()))?;
        let vals: BTreeSet<String> = v["values"]
            .as_array()
            .ok_or_else(|| format!("GET {name}: no values array in {:?}", r.text()))?
            .iter()
            .filter_map(|x| x.as_str().map(String::from))
            .collect();
        let want = if vals.is_empty() { 404 } else { 200 };
        if r.status != want || v["name"] != name {
            return Err(format!(
                "GET {name}: expected {want} with name {name:?}, got {} {:?}",
                r.status,
                r.text()
            ));
        }
        Ok(vals)
    }

    fn delete(&self, name: &str, value: Option<&str>) -> Result<Response, String> {
        let body = value
            .map(|v| format!("{{\"value\": {}}}", dmp_core::node::json_str(v)))
            .unwrap_or_default();
        let a = self.write_auth();
        let mut h: Vec<(&str, &str)> = a.iter().map(|(k, v)| (*k, v.as_str())).collect();
        if value.is_some() {
            h.push(("Content-Type", "application/json"));
        }
        self.req(
            "DELETE",
            &format!("/v1/records/{name}"),
            &h,
            body.as_bytes(),
        )
    }

    fn needs_write(&self) -> Option<Outcome> {
        (!self.can_write()).then(|| Outcome::Skip("no write credential for this mode".into()))
    }
}

fn set(v: &[&str]) -> BTreeSet<String> {
    v.iter().map(|s| s.to_string()).collect()
}

// ---- basics -------------------------------------------------------------------

fn health(c: &Ctx) -> Outcome {
    let r = tryo!(c.req("GET", "/health", &[], b""));
    ensure!(
        r.status == 200,
        "GET /health: status {} {:?}",
        r.status,
        r.text()
    );
    let v: Value = tryo!(serde_json::from_slice(&r.body).map_err(|e| format!("/health: {e}")));
    ensure!(v["status"] == "ok", "GET /health: body {:?}", r.text());
    Outcome::Pass
}

fn stats(c: &Ctx) -> Outcome {
    if let Some(s) = c.needs_write() {
        return s;
    }
    tryo!(c.publish(&c.name("stats"), "v=stats", 600));
    let r = tryo!(c.req("GET", "/stats", &[], b""));
    ensure!(
        r.status == 200,
        "GET /stats: status {} {:?}",
        r.status,
        r.text()
    );
    let v: Value = tryo!(serde_json::from_slice(&r.body).map_err(|e| format!("/stats: {e}")));
    ensure!(
        v["records"].as_u64().is_some_and(|n| n >= 1),
        "GET /stats after a publish: want records >= 1, got {:?}",
        r.text()
    );
    Outcome::Pass
}

fn unknown_route(c: &Ctx) -> Outcome {
    let nf = HttpError::NotFound.body();
    for path in ["/v1/nope", "/v1/records", "/definitely/not/here"] {
        let r = tryo!(c.req("GET", path, &[], b""));
        tryo!(expect(&r, 404, &nf, &format!("GET {path}")));
    }
    Outcome::Pass
}

// ---- records ------------------------------------------------------------------

fn publish_then_get(c: &Ctx) -> Outcome {
    if let Some(s) = c.needs_write() {
        return s;
    }
    let n = c.name("pub");
    tryo!(c.publish(&n, "v=dmp1;t=conformance", 600));
    let r = tryo!(c.get(&n));
    tryo!(expect(
        &r,
        200,
        &records_body(&n, &["v=dmp1;t=conformance"]),
        "GET after POST"
    ));
    ensure!(
        r.header("content-type")
            .is_some_and(|t| t.starts_with("application/json")),
        "GET: content-type {:?}",
        r.header("content-type")
    );
    Outcome::Pass
}

fn append_idempotent(c: &Ctx) -> Outcome {
    if let Some(s) = c.needs_write() {
        return s;
    }
    let n = c.name("append");
    tryo!(c.publish(&n, "one", 600));
    tryo!(c.publish(&n, "two", 600));
    tryo!(c.publish(&n, "one", 900));
    let got = tryo!(c.values(&n));
    ensure!(
        got == set(&["one", "two"]),
        "append: want {{one, two}}, got {got:?}"
    );
    Outcome::Pass
}

fn get_missing(c: &Ctx) -> Outcome {
    let n = c.name("missing");
    let r = tryo!(c.get(&n));
    tryo!(expect(
        &r,
        404,
        &records_body::<&str>(&n, &[]),
        "GET missing"
    ));
    Outcome::Pass
}

fn delete_value_and_name(c: &Ctx) -> Outcome {
    if let Some(s) = c.needs_write() {
        return s;
    }
    let n = c.name("del");
    for v in ["a", "b", "c"] {
        tryo!(c.publish(&n, v, 600));
    }
    let r = tryo!(c.delete(&n, Some("a")));
    tryo!(expect(&r, 204, "", "DELETE one value"));
    let got = tryo!(c.values(&n));
    ensure!(got == set(&["b", "c"]), "after DELETE a: got {got:?}");
    let r = tryo!(c.delete(&n, Some("zzz")));
    tryo!(expect(&r, 404, "", "DELETE absent value"));
    let r = tryo!(c.delete(&n, None));
    tryo!(expect(&r, 204, "", "DELETE whole name"));
    let got = tryo!(c.values(&n));
    ensure!(got.is_empty(), "after DELETE name: got {got:?}");
    let r = tryo!(c.delete(&n, None));
    tryo!(expect(&r, 404, "", "DELETE of an empty name"));
    Outcome::Pass
}

fn name_case_folded(c: &Ctx) -> Outcome {
    if let Some(s) = c.needs_write() {
        return s;
    }
    let n = c.name("case");
    tryo!(c.publish(&n.to_ascii_uppercase(), "folded", 600));
    let got = tryo!(c.values(&n));
    ensure!(
        got == set(&["folded"]),
        "POST upper-case, GET lower-case: got {got:?}"
    );
    Outcome::Pass
}

fn bad_input(c: &Ctx) -> Outcome {
    if let Some(s) = c.needs_write() {
        return s;
    }
    let n = c.name("bad");
    let lim = &c.t.limits;
    let long = "x".repeat(lim.max_value_bytes + 1);
    let cases: Vec<(String, String, HttpError)> = vec![
        (n.clone(), "not json".into(), HttpError::InvalidBody),
        (n.clone(), "[1, 2]".into(), HttpError::InvalidBody),
        (
            n.clone(),
            "{\"ttl\": 60}".into(),
            HttpError::ValueTtlRequired,
        ),
        (
            n.clone(),
            "{\"value\": \"v\", \"ttl\": 0}".into(),
            HttpError::ValueTtlRequired,
        ),
        (
            n.clone(),
            "{\"value\": \"v\", \"ttl\": \"60\"}".into(),
            HttpError::ValueTtlRequired,
        ),
        (
            n.clone(),
            format!("{{\"value\": \"v\", \"ttl\": {}}}", lim.max_ttl + 1),
            HttpError::TtlExceedsCap(lim.max_ttl),
        ),
        (
            n.clone(),
            format!("{{\"value\": \"{long}\", \"ttl\": 60}}"),
            HttpError::ValueExceedsCap(lim.max_value_bytes),
        ),
        (
            format!("-bad.r{}.conformance.example", c.run),
            "{\"value\": \"v\", \"ttl\": 60}".into(),
            HttpError::InvalidName,
        ),
        (
            n.clone(),
            "{\"value\": \"has \\\"quote\", \"ttl\": 60}".into(),
            HttpError::InvalidValue,
        ),
        (
            n.clone(),
            "{\"value\": \"tab\\there\", \"ttl\": 60}".into(),
            HttpError::InvalidValue,
        ),
    ];
    let a = c.write_auth();
    let mut h: Vec<(&str, &str)> = a.iter().map(|(k, v)| (*k, v.as_str())).collect();
    h.push(("Content-Type", "application/json"));
    for (name, body, err) in &cases {
        let r = tryo!(c.req("POST", &format!("/v1/records/{name}"), &h, body.as_bytes()));
        let what = format!(
            "POST {name} {:?}",
            body.chars().take(60).collect::<String>()
        );
        tryo!(expect(&r, err.status(), &err.body(), &what));
    }
    let got = tryo!(c.values(&n));
    ensure!(
        got.is_empty(),
        "rejected publishes stored something: {got:?}"
    );
    Outcome::Pass
}

fn oversized_body(c: &Ctx) -> Outcome {
    if let Some(s) = c.needs_write() {
        return s;
    }
    let n = c.name("huge");
    let body = format!(
        "{{\"value\": \"v\", \"ttl\": 60, \"pad\": \"{}\"}}",
        "p".repeat(dmp_core::node::publish::MAX_BODY_BYTES)
    );
    let a = c.write_auth();
    let mut h: Vec<(&str, &str)> = a.iter().map(|(k, v)| (*k, v.as_str())).collect();
    h.push(("Content-Type", "application/json"));
    let r = tryo!(c.req("POST", &format!("/v1/records/{n}"), &h, body.as_bytes()));
    let e = HttpError::InvalidBody;
    tryo!(expect(&r, e.status(), &e.body(), "POST over 16 KiB"));
    Outcome::Pass
}

fn rrset_cap(c: &Ctx) -> Outcome {
    if let Some(s) = c.needs_write() {
        return s;
    }
    let cap = c.t.limits.max_values_per_name;
    if cap == 0 || cap > 200 {
        return Outcome::Skip(format!("cap {cap} too large to fill"));
    }
    let n = c.name("cap");
    for i in 0..cap {
        tryo!(c.publish(&n, &format!("v{i}"), 600));
    }
    // Re-publishing an existing value is a refresh, not a new value.
    tryo!(c.publish(&n, "v0", 600));
    let r = tryo!(c.publish_with(&n, "one-too-many", 600, &c.write_auth()));
    let e = HttpError::RrsetFull {
        name: n.clone(),
        cap,
    };
    tryo!(expect(&r, 413, &e.body(), "POST beyond the cap"));
    let got = tryo!(c.values(&n));
    ensure!(got.len() == cap, "want {cap} values, got {}", got.len());
    Outcome::Pass
}

fn ttl_expiry(c: &Ctx) -> Outcome {
    if let Some(s) = c.needs_write() {
        return s;
    }
    let n = c.name("ttl");
    tryo!(c.publish(&n, "short", 1));
    tryo!(c.publish(&n, "long", 600));
    std::thread::sleep(Duration::from_millis(2300));
    let got = tryo!(c.values(&n));
    ensure!(
        got == set(&["long"]),
        "after ttl=1 lapsed: want {{long}}, got {got:?}"
    );
    Outcome::Pass
}

// ---- auth ---------------------------------------------------------------------

fn open_writes(c: &Ctx) -> Outcome {
    if c.t.mode != Mode::Open {
        return Outcome::Skip("target is not in open mode".into());
    }
    let n = c.name("open");
    let r = tryo!(c.publish_with(&n, "anyone", 60, &[]));
    tryo!(expect(&r, 201, PUBLISH_OK_BODY, "POST without a token"));
    let r = tryo!(c.req("DELETE", &format!("/v1/records/{n}"), &[], b""));
    tryo!(expect(&r, 204, "", "DELETE without a token"));
    Outcome::Pass
}

fn writes_need_credentials(c: &Ctx) -> Outcome {
    if c.t.mode == Mode::Open {
        return Outcome::Skip("open mode".into());
    }
    let n = c.name("authw");
    let un = HttpError::Unauthorized;
    let bad = vec![("Authorization", "Bearer not-the-token".to_string())];
    for (what, h) in [("no token", vec![]), ("wrong token", bad)] {
        let r = tryo!(c.publish_with(&n, "x", 60, &h));
        tryo!(expect(&r, 401, &un.body(), &format!("POST with {what}")));
        let hh: Vec<(&str, &str)> = h.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let r = tryo!(c.req("DELETE", &format!("/v1/records/{n}"), &hh, b""));
        tryo!(expect(&r, 401, &un.body(), &format!("DELETE with {what}")));
    }
    if c.t.operator_token.is_some() {
        tryo!(c.publish(&n, "by-operator", 60));
    }
    Outcome::Pass
}

fn reads_need_operator(c: &Ctx) -> Outcome {
    if c.t.operator_token.is_none() {
        return Outcome::Skip("no operator token: reads are open".into());
    }
    let n = c.name("authr");
    tryo!(c.publish(&n, "secret-read", 60));
    let r = tryo!(c.req("GET", &format!("/v1/records/{n}"), &[], b""));
    let un = HttpError::Unauthorized;
    tryo!(expect(
        &r,
        401,
        &un.body(),
        "GET without the operator token"
    ));
    let got = tryo!(c.values(&n));
    ensure!(got == set(&["secret-read"]), "GET with the token: {got:?}");
    Outcome::Pass
}

fn malformed_user_token(c: &Ctx) -> Outcome {
    if c.t.mode != Mode::MultiTenant {
        return Outcome::Skip("not multi-tenant".into());
    }
    let n = format!("dmp.u{}.conformance.example", c.run);
    let h = vec![("Authorization", "Bearer dmp_v1_short".to_string())];
    let r = tryo!(c.publish_with(&n, "x", 60, &h));
    tryo!(expect(
        &r,
        401,
        &HttpError::Unauthorized.body(),
        "POST with a malformed token"
    ));
    Outcome::Pass
}

// ---- registration -------------------------------------------------------------

fn registration_disabled(c: &Ctx) -> Outcome {
    if c.t.registration {
        return Outcome::Skip("registration is enabled".into());
    }
    let nf = HttpError::NotFound.body();
    let r = tryo!(c.req("GET", "/v1/registration/challenge", &[], b""));
    tryo!(expect(&r, 404, &nf, "GET challenge (disabled)"));
    let r = tryo!(c.req("POST", "/v1/registration/confirm", &[], b"{}"));
    tryo!(expect(&r, 404, &nf, "POST confirm (disabled)"));
    Outcome::Pass
}

struct Challenge {
    hex: String,
    node: String,
}

fn challenge(c: &Ctx) -> Result<Challenge, String> {
    let r = c.req("GET", "/v1/registration/challenge", &[], b"")?;
    if r.status != 200 {
        return Err(format!("GET challenge: {} {:?}", r.status, r.text()));
    }
    let v: Value = serde_json::from_slice(&r.body).map_err(|e| format!("challenge body: {e}"))?;
    let hex = v["challenge"].as_str().unwrap_or("").to_string();
    let node = v["node"].as_str().unwrap_or("").to_string();
    let xpub = v["server_x25519_pub"].as_str().unwrap_or("");
    let is_hex64 = |s: &str| s.len() == 64 && s.bytes().all(|b| b.is_ascii_hexdigit());
    if !is_hex64(&hex) || !is_hex64(xpub) || node.is_empty() || v["version"] != 1 {
        return Err(format!(
            "challenge body has the wrong shape: {:?}",
            r.text()
        ));
    }
    if v["expires_at"].as_u64().is_none_or(|e| e == 0) {
        return Err(format!("challenge expires_at: {:?}", r.text()));
    }
    Ok(Challenge { hex, node })
}

fn decode32(h: &str) -> [u8; 32] {
    let mut out = [0u8; 32];
    for (i, o) in out.iter_mut().enumerate() {
        *o = h
            .get(2 * i..2 * i + 2)
            .and_then(|b| u8::from_str_radix(b, 16).ok())
            .unwrap_or(0);
    }
    out
}

fn confirm_body(ch: &Challenge, subject: &str, key: &Signer25519, sign_subject: &str) -> String {
    let sig = key.sign(&signing_payload(&decode32(&ch.hex), sign_subject, &ch.node));
    format!(
        "{{\"subject\": \"{subject}\", \"ed25519_spk\": \"{}\", \"challenge\": \"{}\", \"signature\": \"{}\"}}",
        hex(&key.public()),
        ch.hex,
        hex(&sig)
    )
}

fn needs_registration(c: &Ctx) -> Option<Outcome> {
    (!c.t.registration).then(|| Outcome::Skip("registration is disabled".into()))
}

fn challenge_shape(c: &Ctx) -> Outcome {
    if let Some(s) = needs_registration(c) {
        return s;
    }
    tryo!(challenge(c));
    Outcome::Pass
}

fn confirm_and_scopes(c: &Ctx) -> Outcome {
    if let Some(s) = needs_registration(c) {
        return s;
    }
    let user = format!("alice{}", c.run);
    let domain = "conformance.example";
    let subject = format!("{user}@{domain}");
    let key = Signer25519::from_seed(&sha256(format!("alice-{}", c.run).as_bytes()));
    let ch = tryo!(challenge(c));
    let r = tryo!(c.req(
        "POST",
        "/v1/registration/confirm",
        &[("Content-Type", "application/json")],
        confirm_body(&ch, &subject, &key, &subject).as_bytes(),
    ));
    ensure!(r.status == 200, "confirm: {} {:?}", r.status, r.text());
    let v: Value = tryo!(serde_json::from_slice(&r.body).map_err(|e| format!("confirm: {e}")));
    let token = v["token"].as_str().unwrap_or("").to_string();
    ensure!(
        dmp_core::node::authz::token_looks_valid(&token)
            && v["subject"] == subject.as_str()
            && v["expires_at"].as_u64().is_some()
            && v["rate_per_sec"].is_number()
            && v["rate_burst"].as_u64().is_some(),
        "confirm body has the wrong shape: {:?}",
        r.text()
    );
    let bearer = vec![("Authorization", format!("Bearer {token}"))];
    let own = format!("dmp.{user}.{domain}");
    let r = tryo!(c.publish_with(&own, "v=dmp1;t=identity", 60, &bearer));
    tryo!(expect(
        &r,
        201,
        PUBLISH_OK_BODY,
        "user token on its own name"
    ));
    let un = HttpError::Unauthorized.body();
    let other = format!("dmp.bob{}.{domain}", c.run);
    let r = tryo!(c.publish_with(&other, "x", 60, &bearer));
    tryo!(expect(&r, 401, &un, "user token on another user's name"));
    let op_ns = format!("cluster.r{}.{domain}", c.run);
    let r = tryo!(c.publish_with(&op_ns, "x", 60, &bearer));
    tryo!(expect(&r, 401, &un, "user token on an operator name"));
    let slot = format!(
        "slot-1.mb-{}.{domain}",
        &hex(&sha256(c.run.as_bytes()))[..12]
    );
    let r = tryo!(c.publish_with(&slot, "mail", 60, &bearer));
    tryo!(expect(
        &r,
        201,
        PUBLISH_OK_BODY,
        "user token on a mailbox slot"
    ));
    let bh: Vec<(&str, &str)> = bearer.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let r = tryo!(c.req("DELETE", &format!("/v1/records/{slot}"), &bh, b""));
    tryo!(expect(&r, 401, &un, "user token deleting a mailbox slot"));
    // Another key for the same subject is a takeover attempt.
    let ch = tryo!(challenge(c));
    let thief = Signer25519::from_seed(&sha256(format!("mallory-{}", c.run).as_bytes()));
    let r = tryo!(c.req(
        "POST",
        "/v1/registration/confirm",
        &[("Content-Type", "application/json")],
        confirm_body(&ch, &subject, &thief, &subject).as_bytes(),
    ));
    ensure!(
        r.status == 409,
        "takeover: want 409, got {} {:?}",
        r.status,
        r.text()
    );
    Outcome::Pass
}

fn confirm_errors(c: &Ctx) -> Outcome {
    if let Some(s) = needs_registration(c) {
        return s;
    }
    let subject = format!("carol{}@conformance.example", c.run);
    let key = Signer25519::from_seed(&sha256(format!("carol-{}", c.run).as_bytes()));
    let post = |body: &str| {
        c.req(
            "POST",
            "/v1/registration/confirm",
            &[("Content-Type", "application/json")],
            body.as_bytes(),
        )
    };
    let r = tryo!(post("{\"subject\": \"x@y.z\"}"));
    let e = HttpError::Registration {
        status: 400,
        reason: "missing or non-string field: ed25519_spk".into(),
    };
    tryo!(expect(&r, 400, &e.body(), "confirm without fields"));
    // Signed over another subject: 401, and the challenge is used up.
    let ch = tryo!(challenge(c));
    let r = tryo!(post(&confirm_body(
        &ch,
        &subject,
        &key,
        "someone@else.example"
    )));
    let e = HttpError::Registration {
        status: 401,
        reason: "signature verification failed".into(),
    };
    tryo!(expect(&r, 401, &e.body(), "confirm with a bad signature"));
    let r = tryo!(post(&confirm_body(&ch, &subject, &key, &subject)));
    let e = HttpError::Registration {
        status: 400,
        reason: "challenge expired or unknown".into(),
    };
    tryo!(expect(
        &r,
        400,
        &e.body(),
        "confirm reusing a consumed challenge"
    ));
    Outcome::Pass
}

// ---- DoH ----------------------------------------------------------------------

/// TXT values of a DoH JSON answer (`"a" "b"` joined, escapes undone).
fn json_txt_values(v: &Value) -> BTreeSet<String> {
    v["Answer"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter(|r| r["type"] == 16)
                .filter_map(|r| r["data"].as_str().map(unquote))
                .collect()
        })
        .unwrap_or_default()
}

fn unquote(data: &str) -> String {
    let b = data.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    let mut inside = false;
    while let Some(&ch) = b.get(i) {
        match (inside, ch) {
            (false, b'"') => inside = true,
            (true, b'"') => inside = false,
            (true, b'\\') => {
                let digits = b
                    .get(i + 1..i + 4)
                    .filter(|d| d.iter().all(u8::is_ascii_digit));
                if let Some(d) = digits {
                    let n = d.iter().fold(0u32, |a, x| a * 10 + u32::from(x - b'0'));
                    out.push(u8::try_from(n).unwrap_or(b'?'));
                    i += 3;
                } else if let Some(&e) = b.get(i + 1) {
                    out.push(e);
                    i += 1;
                }
            }
            (true, _) => out.push(ch),
            (false, _) => {}
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn doh_wire(c: &Ctx, name: &str, post: bool) -> Result<(u8, BTreeSet<String>), String> {
    let q = build_txt_query(0, name, true, None).map_err(|e| format!("build query: {e}"))?;
    let r = if post {
        c.req(
            "POST",
            "/dns-query",
            &[
                ("Content-Type", "application/dns-message"),
                ("Accept", "application/dns-message"),
            ],
            &q,
        )?
    } else {
        let path = format!("/dns-query?dns={}", URL_SAFE_NO_PAD.encode(&q));
        c.req("GET", &path, &[("Accept", "application/dns-message")], b"")?
    };
    let how = if post { "POST" } else { "GET" };
    if r.status != 200
        || !r
            .header("content-type")
            .is_some_and(|t| t.starts_with("application/dns-message"))
    {
        return Err(format!(
            "DoH {how} {name}: want 200 application/dns-message, got {} {:?}",
            r.status,
            r.header("content-type")
        ));
    }
    let p = parse_txt_response(&r.body).map_err(|e| format!("DoH {how} {name}: {e}"))?;
    Ok((p.rcode, p.values.into_iter().collect()))
}

fn doh_json(c: &Ctx, name: &str) -> Result<(u64, BTreeSet<String>), String> {
    let r = c.req(
        "GET",
        &format!("/dns-query?name={name}&type=TXT"),
        &[("Accept", "application/dns-json")],
        b"",
    )?;
    if r.status != 200 {
        return Err(format!("DoH JSON {name}: {} {:?}", r.status, r.text()));
    }
    let v: Value = serde_json::from_slice(&r.body)
        .map_err(|e| format!("DoH JSON {name}: not JSON ({e}): {:?}", r.text()))?;
    let status = v["Status"]
        .as_u64()
        .ok_or_else(|| format!("DoH JSON {name}: no Status in {:?}", r.text()))?;
    Ok((status, json_txt_values(&v)))
}

fn doh_same_rrset(c: &Ctx) -> Outcome {
    if let Some(s) = c.needs_write() {
        return s;
    }
    let n = c.name("doh");
    let long = format!("v=dmp1;t=long;{}", "z".repeat(400));
    for v in ["v=dmp1;t=a", "v=dmp1;t=b", long.as_str()] {
        tryo!(c.publish(&n, v, 600));
    }
    let want = set(&["v=dmp1;t=a", "v=dmp1;t=b", long.as_str()]);
    let (rc, got) = tryo!(doh_wire(c, &n, false));
    ensure!(
        rc == 0 && got == want,
        "DoH GET: rcode {rc}, values {got:?}"
    );
    let (rc, got) = tryo!(doh_wire(c, &n, true));
    ensure!(
        rc == 0 && got == want,
        "DoH POST: rcode {rc}, values {got:?}"
    );
    let (st, got) = tryo!(doh_json(c, &n));
    ensure!(
        st == 0 && got == want,
        "DoH JSON: Status {st}, values {got:?}"
    );
    // Upper-case query names reach the same RRset.
    let (rc, got) = tryo!(doh_wire(c, &n.to_ascii_uppercase(), false));
    ensure!(
        rc == 0 && got == want,
        "DoH GET upper-case: rcode {rc}, values {got:?}"
    );
    Outcome::Pass
}

fn doh_nxdomain(c: &Ctx) -> Outcome {
    if let Some(s) = c.needs_write() {
        return s;
    }
    let parent = c.name("ent");
    tryo!(c.publish(&format!("leaf.{parent}"), "x", 600));
    let missing = c.name("nx");
    let (rc, got) = tryo!(doh_wire(c, &missing, false));
    ensure!(
        rc == 3 && got.is_empty(),
        "missing name: want NXDOMAIN, got rcode {rc} {got:?}"
    );
    let (st, _) = tryo!(doh_json(c, &missing));
    ensure!(st == 3, "missing name (JSON): want Status 3, got {st}");
    // An empty non-terminal is NODATA, not NXDOMAIN (RFC 8020).
    let (rc, got) = tryo!(doh_wire(c, &parent, true));
    ensure!(
        rc == 0 && got.is_empty(),
        "empty non-terminal: want NODATA, got rcode {rc} {got:?}"
    );
    Outcome::Pass
}

fn doh_bad_requests(c: &Ctx) -> Outcome {
    for (method, path, ct, body) in [
        ("GET", "/dns-query", "", &b""[..]),
        ("GET", "/dns-query?dns=!!!notbase64", "", b""),
        ("POST", "/dns-query", "text/plain", b"hello"),
    ] {
        let mut h = vec![];
        if !ct.is_empty() {
            h.push(("Content-Type", ct));
        }
        let r = tryo!(c.req(method, path, &h, body));
        ensure!(
            (400..500).contains(&r.status),
            "{method} {path} ({ct:?}): want 4xx, got {} {:?}",
            r.status,
            r.text()
        );
    }
    Outcome::Pass
}

// ---- CORS ---------------------------------------------------------------------

fn allows(list: Option<&str>, want: &str) -> bool {
    list.is_some_and(|l| {
        l.split(',')
            .any(|x| x.trim() == "*" || x.trim().eq_ignore_ascii_case(want))
    })
}

fn preflight(c: &Ctx, path: &str, method: &str, headers: &str) -> Result<Response, String> {
    c.req(
        "OPTIONS",
        path,
        &[
            ("Origin", "https://client.example"),
            ("Access-Control-Request-Method", method),
            ("Access-Control-Request-Headers", headers),
        ],
        b"",
    )
}

fn cors_records_preflight(c: &Ctx) -> Outcome {
    let path = format!("/v1/records/{}", c.name("cors"));
    for m in ["POST", "DELETE", "GET"] {
        let r = tryo!(preflight(c, &path, m, "authorization,content-type"));
        ensure!(
            (200..300).contains(&r.status)
                && r.header("access-control-allow-origin").is_some()
                && allows(r.header("access-control-allow-methods"), m)
                && allows(r.header("access-control-allow-headers"), "authorization")
                && allows(r.header("access-control-allow-headers"), "content-type"),
            "preflight {m} {path}: {} {:?}",
            r.status,
            r.headers
        );
    }
    Outcome::Pass
}

fn cors_records_simple(c: &Ctx) -> Outcome {
    let n = c.name("corsget");
    let mut h = vec![("Origin", "https://client.example")];
    let a = c.read_auth();
    h.extend(a.iter().map(|(k, v)| (*k, v.as_str())));
    let r = tryo!(c.req("GET", &format!("/v1/records/{n}"), &h, b""));
    ensure!(
        r.header("access-control-allow-origin").is_some(),
        "GET with Origin: no Access-Control-Allow-Origin in {:?}",
        r.headers
    );
    Outcome::Pass
}

fn cors_doh(c: &Ctx) -> Outcome {
    let r = tryo!(preflight(c, "/dns-query", "POST", "content-type"));
    ensure!(
        (200..300).contains(&r.status)
            && r.header("access-control-allow-origin").is_some()
            && allows(r.header("access-control-allow-methods"), "POST")
            && allows(r.header("access-control-allow-headers"), "content-type"),
        "DoH preflight: {} {:?}",
        r.status,
        r.headers
    );
    let n = c.name("corsdoh");
    let q = tryo!(build_txt_query(0, &n, true, None).map_err(|e| e.to_string()));
    let path = format!("/dns-query?dns={}", URL_SAFE_NO_PAD.encode(&q));
    let r = tryo!(c.req("GET", &path, &[("Origin", "https://client.example")], b""));
    ensure!(
        r.status == 200 && r.header("access-control-allow-origin").is_some(),
        "DoH GET with Origin: {} {:?}",
        r.status,
        r.headers
    );
    Outcome::Pass
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unquote_undoes_json_txt_quoting() {
        assert_eq!(unquote(r#""abc" "def""#), "abcdef");
        assert_eq!(unquote(r#""a\"b\\c\009""#), "a\"b\\c\t");
        assert_eq!(unquote(r#""trailing\"#), "trailing");
    }

    #[test]
    fn groups_round_trip() {
        for g in Group::ALL {
            assert_eq!(g.to_string().parse::<Group>(), Ok(g));
        }
        assert!("nope".parse::<Group>().is_err());
    }

    #[test]
    fn unreachable_target_fails_not_passes() {
        // Port 9 (discard) on loopback is closed here; every check that talks
        // to the node must fail (or skip), none may pass.
        let t = Target::open("http://127.0.0.1:9");
        let r = run(&t, &[Group::Basics, Group::Records]);
        assert_eq!(r.passed(), 0, "{}", r.render());
        assert!(!r.failures().is_empty());
    }
}
