//! Behaviour of the node rules (dmp_core::node): HTTP publish/delete
//! validation with the reference's statuses and texts (REFERENCE-NODE.md
//! §3.3, §3.7), write authorization (§3.1), registration (§3.4–3.6, with a
//! signature and proof of possession produced by the reference), unsigned
//! claim UPDATEs (§4.4), rate limits (§7) and store verification (§6).

use std::convert::Infallible;

use dmp_core::crypto::{Keypair, sha256};
use dmp_core::node::authz::{
    self, AuthMode, ClaimPolicy, Denied, Op, TokenRow, WriteAuth, WriteGrant,
};
use dmp_core::node::publish::{
    self, Limits, RrsetState, UpdateRcode, check_update_add, in_zone, normalize_path_name,
    validate_delete, validate_publish,
};
use dmp_core::node::ratelimit::{self, Rate, RateLimiter};
use dmp_core::node::registration::{
    self, ChallengeStore, PendingChallenge, ScopeMode, parse_confirm, plan_tsig, verify_confirm,
};
use dmp_core::node::verify::{Reject, StoreKind, verify_for_store};
use dmp_core::node::{HttpError, error_body};
use dmp_core::records::chunk::{chunk_wire, wrap_block};
use dmp_core::records::claim::ClaimRecord;
use dmp_core::wire::RecordKind;
use proptest::prelude::*;
use rand_core::{TryCryptoRng, TryRng};

/// RNG yielding 0, 1, 2, … so tests can predict every random byte.
struct CountingRng(u8);

impl TryRng for CountingRng {
    type Error = Infallible;
    fn try_next_u32(&mut self) -> Result<u32, Infallible> {
        let mut b = [0u8; 4];
        self.try_fill_bytes(&mut b)?;
        Ok(u32::from_be_bytes(b))
    }
    fn try_next_u64(&mut self) -> Result<u64, Infallible> {
        let mut b = [0u8; 8];
        self.try_fill_bytes(&mut b)?;
        Ok(u64::from_be_bytes(b))
    }
    fn try_fill_bytes(&mut self, dst: &mut [u8]) -> Result<(), Infallible> {
        for d in dst {
            *d = self.0;
            self.0 = self.0.wrapping_add(1);
        }
        Ok(())
    }
}

impl TryCryptoRng for CountingRng {}

fn unhex<const N: usize>(s: &str) -> [u8; N] {
    hex::decode(s).unwrap().try_into().unwrap()
}

const NOW: u64 = 1_900_000_000;

// ------------------------------------------------------------------ errors

#[test]
fn error_statuses_and_bodies_are_the_reference_ones() {
    let cases: Vec<(HttpError, u16, &str)> = vec![
        (HttpError::NotFound, 404, r#"{"error": "not found"}"#),
        (
            HttpError::RateLimited,
            429,
            r#"{"error": "rate limit exceeded"}"#,
        ),
        (HttpError::Unauthorized, 401, r#"{"error": "unauthorized"}"#),
        (
            HttpError::TokenThrottled,
            429,
            r#"{"error": "per-token rate limit exceeded"}"#,
        ),
        (HttpError::Forbidden, 403, r#"{"error": "forbidden"}"#),
        (HttpError::InvalidBody, 400, r#"{"error": "invalid body"}"#),
        (
            HttpError::ValueTtlRequired,
            400,
            r#"{"error": "value (str) and ttl (int > 0) required"}"#,
        ),
        (
            HttpError::TtlExceedsCap(86400),
            400,
            r#"{"error": "ttl exceeds cap of 86400s"}"#,
        ),
        (
            HttpError::ValueExceedsCap(2048),
            400,
            r#"{"error": "value exceeds cap of 2048 bytes"}"#,
        ),
        (
            HttpError::RrsetFull {
                name: "a.mesh.test".into(),
                cap: 64,
            },
            413,
            r#"{"error": "RRset at a.mesh.test already holds 64 values"}"#,
        ),
        (
            HttpError::InvalidName,
            400,
            r#"{"error": "invalid record name"}"#,
        ),
        (
            HttpError::InvalidValue,
            400,
            r#"{"error": "invalid record value"}"#,
        ),
        (
            HttpError::RegistrationRateLimited,
            429,
            r#"{"error": "registration rate limit exceeded"}"#,
        ),
        (
            HttpError::TsigDisabled,
            404,
            r#"{"error": "tsig registration disabled"}"#,
        ),
        (HttpError::Internal, 500, r#"{"error": "internal error"}"#),
    ];
    for (e, status, body) in cases {
        assert_eq!(e.status(), status, "{e:?}");
        assert_eq!(e.body(), body, "{e:?}");
    }
}

#[test]
fn error_body_escapes_like_json_dumps() {
    // json.dumps({"error": 'a"b\\c\né\x7f😀'}) in CPython 3.11.
    assert_eq!(
        error_body("a\"b\\c\n\u{e9}\u{7f}\u{1f600}"),
        r#"{"error": "a\"b\\c\n\u00e9\u007f\ud83d\ude00"}"#
    );
}

// ------------------------------------------------------------------ publish

fn empty(_: &str, _: &str) -> RrsetState {
    RrsetState::default()
}

fn post(name: &str, body: &str) -> Result<publish::Publish, HttpError> {
    validate_publish(name, body.as_bytes(), &Limits::default(), empty)
}

#[test]
fn publish_accepts_and_defaults_ttl() {
    let p = post("probe-a.mesh.test", r#"{"value": "v=probe;x=1"}"#).unwrap();
    assert_eq!(
        (p.name.as_str(), p.value.as_str(), p.ttl),
        ("probe-a.mesh.test", "v=probe;x=1", 300)
    );
    let p = post("probe-a.mesh.test", r#"{"value": "x", "ttl": 86400}"#).unwrap();
    assert_eq!(p.ttl, 86400);
    // Python's bool is an int: ttl true is 1.
    assert_eq!(
        post("a.b", r#"{"value": "x", "ttl": true}"#).unwrap().ttl,
        1
    );
    // A 600-byte value is fine (§3.7).
    assert!(post("a.b", &format!(r#"{{"value": "{}"}}"#, "x".repeat(600))).is_ok());
}

#[test]
fn publish_lower_cases_names() {
    // Reference bug R5 fixed: stored lower-case so DNS can reach it.
    let p = post("UPPER.Mesh.Test", r#"{"value": "x"}"#).unwrap();
    assert_eq!(p.name, "upper.mesh.test");
    assert_eq!(
        normalize_path_name("%55PPER.mesh.test.").as_deref(),
        Some("UPPER.mesh.test")
    );
    assert_eq!(normalize_path_name(" a.b.. ").as_deref(), Some("a.b"));
    assert_eq!(normalize_path_name("a%2"), Some("a%2".into()));
    assert_eq!(normalize_path_name(""), None);
    use publish::record_name_from_path as from_path;
    assert_eq!(from_path("/v1/records/A.b/").as_deref(), Some("A.b"));
    assert_eq!(from_path("/v1/records/a.b?x=1").as_deref(), Some("a.b?x=1"));
    assert_eq!(from_path("/v1/records/a/b"), None);
    assert_eq!(from_path("/v1/records/"), None);
    assert_eq!(from_path("/v1/records//"), None);
    assert_eq!(from_path("/v1/record/a.b"), None);
    assert_eq!(normalize_path_name("a/b"), None);
}

#[test]
fn publish_errors_follow_reference_order_and_text() {
    use HttpError::*;
    let cases: &[(&str, &str, HttpError)] = &[
        ("a.b", "{", InvalidBody),
        ("a.b", "[1]", InvalidBody),
        ("a.b", "", ValueTtlRequired),
        ("a.b", "{}", ValueTtlRequired),
        ("a.b", r#"{"value": 5}"#, ValueTtlRequired),
        ("a.b", r#"{"value": "x", "ttl": 0}"#, ValueTtlRequired),
        ("a.b", r#"{"value": "x", "ttl": -5}"#, ValueTtlRequired),
        ("a.b", r#"{"value": "x", "ttl": "300"}"#, ValueTtlRequired),
        ("a.b", r#"{"value": "x", "ttl": 1.0}"#, ValueTtlRequired),
        ("a.b", r#"{"value": "x", "ttl": false}"#, ValueTtlRequired),
        ("a.b", r#"{"value": "x", "ttl": null}"#, ValueTtlRequired),
        (
            "a.b",
            r#"{"value": "x", "ttl": 86401}"#,
            TtlExceedsCap(86400),
        ),
        // ttl is checked before the name.
        (
            "bad..name",
            r#"{"value": "x", "ttl": 86401}"#,
            TtlExceedsCap(86400),
        ),
        ("bad..name", r#"{"value": "x"}"#, InvalidName),
        ("a.b", r#"{"value": "a\"b"}"#, InvalidValue),
        ("a.b", r#"{"value": "a\nb"}"#, InvalidValue),
        // name before value.
        ("-a.b", r#"{"value": "a\nb"}"#, InvalidName),
    ];
    for (name, body, want) in cases {
        assert_eq!(post(name, body).unwrap_err(), *want, "{name} {body}");
    }
    let big = format!(r#"{{"value": "{}"}}"#, "é".repeat(1025));
    assert_eq!(post("a.b", &big).unwrap_err(), ValueExceedsCap(2048));
    let ok = format!(r#"{{"value": "{}"}}"#, "x".repeat(2048));
    assert!(post("a.b", &ok).is_ok());
    let huge = format!(r#"{{"value": "{}"}}"#, "x".repeat(16_400));
    assert_eq!(post("a.b", &huge).unwrap_err(), InvalidBody);
    // Duplicate keys: the last wins, as in json.loads.
    assert_eq!(
        post("a.b", r#"{"value": 1, "value": "ok"}"#).unwrap().value,
        "ok"
    );
}

#[test]
fn rrset_cap_only_refuses_new_values() {
    let limits = Limits::default();
    let full = |name: &str, value: &str| {
        assert_eq!((name, value), ("full.b", "x"));
        RrsetState {
            count: 64,
            contains_value: false,
        }
    };
    let err = validate_publish("Full.b", br#"{"value": "x"}"#, &limits, full).unwrap_err();
    assert_eq!(err.status(), 413);
    assert_eq!(err.message(), "RRset at Full.b already holds 64 values");
    let refresh = |_: &str, _: &str| RrsetState {
        count: 64,
        contains_value: true,
    };
    assert!(validate_publish("a.b", br#"{"value": "x"}"#, &limits, refresh).is_ok());
    let below = |_: &str, _: &str| RrsetState {
        count: 63,
        contains_value: false,
    };
    assert!(validate_publish("a.b", br#"{"value": "x"}"#, &limits, below).is_ok());
    // 0 disables the cap (the lookup is never made).
    let off = Limits {
        max_values_per_name: 0,
        ..limits
    };
    let never = |_: &str, _: &str| -> RrsetState { panic!("looked up") };
    assert!(validate_publish("a.b", br#"{"value": "x"}"#, &off, never).is_ok());
    // Caps are configurable.
    let small = Limits {
        max_ttl: 10,
        max_value_bytes: 3,
        max_values_per_name: 1,
    };
    assert_eq!(
        validate_publish("a.b", br#"{"value": "abcd"}"#, &small, empty)
            .unwrap_err()
            .message(),
        "ttl exceeds cap of 10s"
    );
    assert_eq!(
        validate_publish("a.b", br#"{"value": "abcd", "ttl": 5}"#, &small, empty)
            .unwrap_err()
            .message(),
        "value exceeds cap of 3 bytes"
    );
}

#[test]
fn delete_rules() {
    let d = validate_delete("A.B", b"").unwrap();
    assert_eq!((d.name.as_str(), d.value), ("a.b", None));
    assert_eq!(validate_delete("a.b", b"{}").unwrap().value, None);
    assert_eq!(validate_delete("a.b", b"[1]").unwrap().value, None);
    assert_eq!(
        validate_delete("a.b", br#"{"value": null}"#).unwrap().value,
        None
    );
    assert_eq!(
        validate_delete("a.b", br#"{"value": "v1"}"#).unwrap().value,
        Some("v1".into())
    );
    assert_eq!(
        validate_delete("a.b", br#"{"value": 3}"#).unwrap_err(),
        HttpError::InvalidValue
    );
    assert_eq!(
        validate_delete("a.b", br#"{"value": "a\"b"}"#).unwrap_err(),
        HttpError::InvalidValue
    );
    // Name is checked before the body.
    assert_eq!(
        validate_delete("a..b", b"{").unwrap_err(),
        HttpError::InvalidName
    );
    // Deliberate fix: a garbled body does not wipe the RRset.
    assert_eq!(
        validate_delete("a.b", b"{").unwrap_err(),
        HttpError::InvalidBody
    );
}

#[test]
fn zone_and_update_caps() {
    assert!(in_zone("A.Mesh.Test.", "mesh.test"));
    assert!(in_zone("mesh.test", "MESH.TEST."));
    assert!(!in_zone("xmesh.test", "mesh.test"));
    assert!(!in_zone("mesh.test", ""));
    let l = Limits::default();
    assert_eq!(check_update_add("v", 0, 1, &l), Ok(60));
    assert_eq!(check_update_add("v", 86400, 64, &l), Ok(86400));
    assert_eq!(
        check_update_add("v", 86401, 1, &l),
        Err(UpdateRcode::Refused)
    );
    assert_eq!(check_update_add("v", 1, 65, &l), Err(UpdateRcode::Refused));
    assert_eq!(
        check_update_add(&"x".repeat(2049), 1, 1, &l),
        Err(UpdateRcode::Refused)
    );
    let off = Limits {
        max_ttl: 0,
        max_value_bytes: 0,
        max_values_per_name: 0,
    };
    assert_eq!(
        check_update_add(&"x".repeat(5000), 999_999, 999, &off),
        Ok(999_999)
    );
    assert_eq!(UpdateRcode::Refused.code(), 5);
    assert_eq!(UpdateRcode::NotZone.code(), 10);
    assert_eq!(UpdateRcode::NotAuth.code(), 9);
}

// ------------------------------------------------------------------ authz

const OP_TOKEN: &str = "operator-secret";

fn user_token() -> String {
    format!("dmp_v1_{}", "A".repeat(52))
}

fn row(subject: &str) -> TokenRow {
    TokenRow {
        subject: subject.into(),
        subject_hash12: None,
        expires_at: Some(NOW + 10),
        revoked_at: None,
        rate_per_sec: 10.0,
        rate_burst: 50,
    }
}

fn mt() -> WriteAuth<'static> {
    WriteAuth {
        mode: AuthMode::MultiTenant,
        operator_token: Some(OP_TOKEN),
        has_token_store: true,
    }
}

fn write_as(
    cfg: &WriteAuth<'_>,
    presented: &str,
    name: &str,
    op: Op,
    r: Option<TokenRow>,
) -> Result<WriteGrant, Denied> {
    let tok = user_token();
    authz::authorize_record_write(cfg, presented, name, op, NOW, |h| {
        assert_eq!(h, authz::token_hash(&tok));
        r
    })
}

#[test]
fn auth_modes() {
    assert_eq!(AuthMode::from_config(None, false), AuthMode::Open);
    assert_eq!(AuthMode::from_config(Some(""), true), AuthMode::Legacy);
    assert_eq!(
        AuthMode::from_config(Some("multi-tenant"), true),
        AuthMode::MultiTenant
    );
    assert_eq!(
        AuthMode::from_config(Some("Open"), false),
        AuthMode::Invalid
    );

    let open = WriteAuth {
        mode: AuthMode::Open,
        operator_token: None,
        has_token_store: false,
    };
    assert_eq!(
        write_as(&open, "", "cluster.x.y", Op::Delete, None),
        Ok(WriteGrant::Open)
    );
    let legacy = WriteAuth {
        mode: AuthMode::Legacy,
        ..mt()
    };
    assert_eq!(
        write_as(&legacy, OP_TOKEN, "anything", Op::Delete, None),
        Ok(WriteGrant::Operator)
    );
    assert_eq!(
        write_as(
            &legacy,
            &user_token(),
            "dmp.a.b.c",
            Op::Publish,
            Some(row("a@b.c"))
        ),
        Err(Denied::OperatorOnlyMode)
    );
    let bad = WriteAuth {
        mode: AuthMode::Invalid,
        ..mt()
    };
    assert_eq!(
        write_as(&bad, "nope", "a.b", Op::Publish, None),
        Err(Denied::InvalidMode)
    );
    assert_eq!(
        write_as(&bad, OP_TOKEN, "a.b", Op::Publish, None),
        Ok(WriteGrant::Operator)
    );
    let no_store = WriteAuth {
        has_token_store: false,
        ..mt()
    };
    assert_eq!(
        write_as(&no_store, &user_token(), "dmp.a.b.c", Op::Publish, None),
        Err(Denied::NoTokenStore)
    );
    // An empty operator token never matches an empty credential.
    let empty_op = WriteAuth {
        mode: AuthMode::Legacy,
        operator_token: Some(""),
        has_token_store: false,
    };
    assert_eq!(
        write_as(&empty_op, "", "a.b", Op::Publish, None),
        Err(Denied::OperatorOnlyMode)
    );
}

#[test]
fn user_token_scopes() {
    let t = user_token();
    let alice = || Some(row("alice@mesh.test"));
    let ok = |r: Result<WriteGrant, Denied>| matches!(r, Ok(WriteGrant::User { .. }));
    assert!(ok(write_as(
        &mt(),
        &t,
        "dmp.alice.mesh.test",
        Op::Publish,
        alice()
    )));
    assert!(ok(write_as(
        &mt(),
        &t,
        "DMP.Alice.mesh.test.",
        Op::Delete,
        alice()
    )));
    assert!(ok(write_as(
        &mt(),
        &t,
        "rotate.dmp.alice.mesh.test",
        Op::Publish,
        alice()
    )));
    assert_eq!(
        write_as(&mt(), &t, "dmp.bob.mesh.test", Op::Publish, alice()),
        Err(Denied::SubjectMismatch)
    );
    // Hashed identity and prekey pool: recomputed from the local part.
    let h = dmp_core::crypto::hex(&sha256(b"alice"));
    let id16 = format!("id-{}.mesh.test", &h[..16]);
    let pool = format!("prekeys.id-{}.mesh.test", &h[..12]);
    assert!(ok(write_as(&mt(), &t, &id16, Op::Publish, alice())));
    assert!(ok(write_as(&mt(), &t, &pool, Op::Delete, alice())));
    assert_eq!(
        write_as(
            &mt(),
            &t,
            &format!("id-{}.evil.test", &h[..16]),
            Op::Publish,
            alice()
        ),
        Err(Denied::SubjectMismatch)
    );
    // pk-<n>.<hash12>: needs the row's subject_hash12.
    let pk = "pk-3.0123456789ab.mesh.test";
    assert_eq!(
        write_as(&mt(), &t, pk, Op::Publish, alice()),
        Err(Denied::SubjectMismatch)
    );
    let mut with_pk = row("alice@mesh.test");
    with_pk.subject_hash12 = Some("0123456789ab".into());
    assert!(ok(write_as(&mt(), &t, pk, Op::Publish, Some(with_pk))));
    // Shared pool: publish yes, delete no.
    let slot = "slot-2.mb-0123456789ab.mesh.test";
    match write_as(&mt(), &t, slot, Op::Publish, alice()) {
        Ok(WriteGrant::User {
            shared_pool,
            rate_burst,
            token_hash,
            ..
        }) => {
            assert!(shared_pool);
            assert_eq!(rate_burst, 50);
            assert_eq!(token_hash, authz::token_hash(&t));
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(
        write_as(&mt(), &t, slot, Op::Delete, alice()),
        Err(Denied::SharedPoolDelete)
    );
    // Operator namespaces.
    for n in [
        "cluster.mesh.test",
        "claim-1.mb-0123456789ab.mesh.test",
        "rotate.dmp.id-0123456789ab.mesh.test",
    ] {
        assert_eq!(
            write_as(&mt(), &t, n, Op::Publish, alice()),
            Err(Denied::OperatorNamespace),
            "{n}"
        );
    }
    assert_eq!(
        write_as(&mt(), &t, "_dmp.mesh.test", Op::Publish, alice()),
        Err(Denied::UnclassifiedName)
    );
    // Token shape, existence and liveness.
    assert_eq!(
        write_as(
            &mt(),
            "dmp_v1_short",
            "dmp.alice.mesh.test",
            Op::Publish,
            alice()
        ),
        Err(Denied::MalformedToken)
    );
    assert_eq!(
        write_as(&mt(), &t, "dmp.alice.mesh.test", Op::Publish, None),
        Err(Denied::UnknownToken)
    );
    let mut expired = row("alice@mesh.test");
    expired.expires_at = Some(NOW);
    assert_eq!(
        write_as(&mt(), &t, "dmp.alice.mesh.test", Op::Publish, Some(expired)),
        Err(Denied::NotLive)
    );
    let mut revoked = row("alice@mesh.test");
    revoked.revoked_at = Some(1);
    revoked.expires_at = None;
    assert_eq!(
        write_as(&mt(), &t, "dmp.alice.mesh.test", Op::Publish, Some(revoked)),
        Err(Denied::NotLive)
    );
}

#[test]
fn token_shape_and_reads() {
    assert!(authz::token_looks_valid(&user_token()));
    assert!(!authz::token_looks_valid(&format!(
        "dmp_v1_{}",
        "2".repeat(52)
    )));
    assert!(!authz::token_looks_valid(&format!(
        "dmp_v1_{}",
        "a".repeat(52)
    )));
    assert!(!authz::token_looks_valid(&format!(
        "dmp_v2_{}",
        "A".repeat(52)
    )));
    assert_eq!(authz::bearer(Some("Bearer abc")), "abc");
    assert_eq!(authz::bearer(Some("bearer abc")), "");
    assert_eq!(authz::bearer(None), "");
    assert!(authz::authorize_operator_read(None, None));
    assert!(authz::authorize_operator_read(Some(""), None));
    assert!(authz::authorize_operator_read(Some("t"), Some("Bearer t")));
    assert!(!authz::authorize_operator_read(
        Some("t"),
        Some("Bearer t ")
    ));
    assert!(!authz::authorize_operator_read(Some("t"), None));
    assert!(!authz::authorize_sync(None, Some("Bearer ")));
    assert!(!authz::authorize_sync(Some(""), Some("Bearer ")));
    assert!(authz::authorize_sync(Some("s"), Some("Bearer s")));
    assert!(!authz::authorize_sync(Some("s"), Some("Bearer x")));
}

#[test]
fn tsig_delete_needs_literal_suffix() {
    let scope = registration::tsig_suffixes(
        "bob@mesh.test",
        "05d40c154a8a76fb",
        "mesh.test",
        ScopeMode::Default,
        None,
    );
    let slot = "slot-1.mb-0123456789ab.mesh.test";
    assert!(authz::tsig_allows(&scope, slot, Op::Publish));
    assert!(!authz::tsig_allows(&scope, slot, Op::Delete));
    let pool = "prekeys.id-81b637d8fcd2.mesh.test";
    assert!(authz::tsig_allows(&scope, pool, Op::Delete));
    assert!(!authz::tsig_allows(
        &scope,
        "dmp.bob.mesh.test",
        Op::Publish
    ));
    assert!(!authz::tsig_allows(
        &scope,
        "slot-1.mb-0123456789ab.other.test",
        Op::Publish
    ));
}

// ------------------------------------------------------------------ claims

fn claim_wire(kp: &Keypair, ts: u64, exp: u64) -> String {
    ClaimRecord {
        msg_id: [7; 16],
        sender_spk: kp.ed25519_public(),
        sender_mailbox_domain: "sender.test".into(),
        slot: 3,
        ts,
        exp,
    }
    .to_wire(kp.signer())
    .unwrap()
}

#[test]
fn unsigned_claim_rule() {
    let kp = Keypair::from_x25519_secret([5; 32]);
    let good = claim_wire(&kp, NOW, NOW + 3600);
    let owner = "claim-3.mb-0123456789ab.mesh.test";
    let policy = ClaimPolicy {
        zone: "mesh.test",
        max_ttl: 86_400,
        registered: None,
    };
    let acc = authz::accept_unsigned_claim(&policy, Op::Publish, owner, &good, 0, NOW).unwrap();
    assert_eq!((acc.hash12.as_str(), acc.ttl), ("0123456789ab", 60));
    let acc =
        authz::accept_unsigned_claim(&policy, Op::Publish, owner, &good, 999_999, NOW).unwrap();
    assert_eq!(acc.ttl, 86_400);
    let refused = |r: Result<_, UpdateRcode>| r.unwrap_err() == UpdateRcode::Refused;
    assert!(refused(authz::accept_unsigned_claim(
        &policy,
        Op::Delete,
        owner,
        &good,
        60,
        NOW
    )));
    assert!(refused(authz::accept_unsigned_claim(
        &policy,
        Op::Publish,
        "slot-3.mb-0123456789ab.mesh.test",
        &good,
        60,
        NOW
    )));
    assert!(refused(authz::accept_unsigned_claim(
        &policy,
        Op::Publish,
        "claim-3.mb-0123456789ab.other.test",
        &good,
        60,
        NOW
    )));
    // Lifetime cap: exp - now must be ≤ max_ttl.
    let at_cap = claim_wire(&kp, NOW, NOW + 86_400);
    assert!(authz::accept_unsigned_claim(&policy, Op::Publish, owner, &at_cap, 60, NOW).is_ok());
    let long = claim_wire(&kp, NOW, NOW + 86_401);
    assert!(refused(authz::accept_unsigned_claim(
        &policy,
        Op::Publish,
        owner,
        &long,
        60,
        NOW
    )));
    let no_cap = ClaimPolicy {
        max_ttl: 0,
        ..policy
    };
    assert_eq!(
        authz::accept_unsigned_claim(&no_cap, Op::Publish, owner, &long, 999_999, NOW)
            .unwrap()
            .ttl,
        999_999
    );
    // Tampered or non-claim values.
    let mut bad = good.clone().into_bytes();
    let i = bad.len() - 6;
    bad[i] = if bad[i] == b'A' { b'B' } else { b'A' };
    let bad = String::from_utf8(bad).unwrap();
    assert!(refused(authz::accept_unsigned_claim(
        &policy,
        Op::Publish,
        owner,
        &bad,
        60,
        NOW
    )));
    assert!(refused(authz::accept_unsigned_claim(
        &policy,
        Op::Publish,
        owner,
        "v=spf1",
        60,
        NOW
    )));
    // Receiver-only mode.
    let only_other = |h: &str| h == "ffffffffffff";
    let recv = ClaimPolicy {
        registered: Some(&only_other),
        ..policy
    };
    assert!(refused(authz::accept_unsigned_claim(
        &recv,
        Op::Publish,
        owner,
        &good,
        60,
        NOW
    )));
    let only_mine = |h: &str| h == "0123456789ab";
    let recv = ClaimPolicy {
        registered: Some(&only_mine),
        ..policy
    };
    assert!(authz::accept_unsigned_claim(&recv, Op::Publish, owner, &good, 60, NOW).is_ok());
}

// ------------------------------------------------------------------ registration

// Produced by the reference: DMPCrypto.from_private_bytes(07*32) signing
// _build_signing_payload(challenge, "bob@mesh.test", "mesh.test"), and
// build_x25519_registration_pop(server_pub(09*32), 0b*32, challenge,
// "bob@mesh.test", client_pub).
const R_SPK: &str = "f33237418e65d2554334fcaa13fdb7d948b5c06405925d1287cfd23a7524c238";
const R_CHALLENGE: &str = "6465666768696a6b6c6d6e6f707172737475767778797a7b7c7d7e7f80818283";
const R_PAYLOAD: &str = "6465666768696a6b6c6d6e6f707172737475767778797a7b7c7d7e7f80818283626f62406d6573682e746573746d6573682e7465737401";
const R_SIG: &str = "c457af6d5546b06cbe9585c08b940c85c390db623612b0e4177664f2a04a9a62127ea8ac0ffc7531be4fbb90227d7ac8ffd1d3d55768b2610b57e5134d4e2b01";
const R_SERVER_PUB: &str = "57db4b359f23ae5e146e4e2512056704722506348c150c14753d0c933d04d421";
const R_CLIENT_PUB: &str = "73b2d8b76aa9b53660032bc8f5d8bee3a3ae4e3b3a7fd49ade81f7347a34aa68";
const R_POP: &str = "4dcbf081ca10706604a12f3704b5c7f6ec193532079d79027dba43dded3030d3";

fn reference_pending() -> PendingChallenge {
    PendingChallenge {
        challenge_hex: R_CHALLENGE.into(),
        node: "mesh.test".into(),
        expires_at: NOW + 60,
        server_x25519_secret: [9; 32],
        server_x25519_pub: unhex(R_SERVER_PUB),
    }
}

fn confirm_body(subject: &str, extra: &str) -> String {
    format!(
        r#"{{"subject": "{subject}", "ed25519_spk": "{R_SPK}", "challenge": "{R_CHALLENGE}", "signature": "{R_SIG}"{extra}}}"#
    )
}

#[test]
fn signed_challenge_from_the_reference_verifies() {
    let pc = reference_pending();
    assert_eq!(
        registration::signing_payload(&unhex(R_CHALLENGE), "bob@mesh.test", "mesh.test"),
        hex::decode(R_PAYLOAD).unwrap()
    );
    assert_eq!(
        Keypair::from_x25519_secret([7; 32]).ed25519_public(),
        unhex::<32>(R_SPK)
    );
    // The subject is canonicalized before verification.
    let req = parse_confirm(confirm_body(" Bob@Mesh.Test ", "").as_bytes()).unwrap();
    assert_eq!(req.subject, "bob@mesh.test");
    verify_confirm::<&str>(&req, &pc, &[]).unwrap();
    verify_confirm(&req, &pc, &["Mesh.Test.", ""]).unwrap();
    let e = verify_confirm(&req, &pc, &["other.test"]).unwrap_err();
    assert_eq!(
        (e.status(), e.message().as_str()),
        (403, "subject not in registration allowlist")
    );
    // Another node name or subject breaks the signature.
    let mut other = pc.clone();
    other.node = "mesh.test:8053".into();
    let e = verify_confirm::<&str>(&req, &other, &[]).unwrap_err();
    assert_eq!(
        (e.status(), e.message().as_str()),
        (401, "signature verification failed")
    );
    let req2 = parse_confirm(confirm_body("bob@mesh.tesu", "").as_bytes()).unwrap();
    assert_eq!(
        verify_confirm::<&str>(&req2, &pc, &[])
            .unwrap_err()
            .status(),
        401
    );
}

#[test]
fn confirm_body_errors() {
    let cases: Vec<(String, u16, String)> = vec![
        ("{".into(), 400, "invalid body".into()),
        (
            "{}".into(),
            400,
            "missing or non-string field: subject".into(),
        ),
        (
            "".into(),
            400,
            "missing or non-string field: subject".into(),
        ),
        (
            r#"{"subject": "a@b.c", "ed25519_spk": 1}"#.into(),
            400,
            "missing or non-string field: ed25519_spk".into(),
        ),
        (
            r#"{"subject": "a@b.c", "ed25519_spk": "x", "challenge": "y", "signature": ""}"#.into(),
            400,
            "missing or non-string field: signature".into(),
        ),
        (
            confirm_body("bob", ""),
            400,
            "subject invalid: subject does not match <local>@<fqdn> shape: 'bob'".into(),
        ),
        (
            confirm_body("b\u{f6}b@x.y", ""),
            400,
            "subject invalid: subject must be ASCII; got non-ASCII character at position 1".into(),
        ),
        (
            confirm_body("bob@mesh.test", "").replace(R_SPK, "abc"),
            400,
            "ed25519_spk: not valid hex".into(),
        ),
        (
            confirm_body("bob@mesh.test", "").replace(R_SPK, "zz"),
            400,
            "ed25519_spk: not valid hex".into(),
        ),
        (
            confirm_body("bob@mesh.test", "").replace(R_SPK, "abcd"),
            400,
            "ed25519_spk: expected 32 bytes, got 2".into(),
        ),
        (
            confirm_body("bob@mesh.test", "").replace(R_SIG, R_SPK),
            400,
            "signature: expected 64 bytes, got 32".into(),
        ),
        (
            confirm_body("bob@mesh.test", "").replace(R_CHALLENGE, "00"),
            400,
            "challenge: expected 32 bytes, got 1".into(),
        ),
    ];
    for (body, status, msg) in cases {
        let e = parse_confirm(body.as_bytes()).unwrap_err();
        assert_eq!((e.status(), e.message()), (status, msg), "{body}");
    }
    // Upper-case hex is accepted (unhexlify).
    let upper = confirm_body("bob@mesh.test", "").replace(R_SIG, &R_SIG.to_uppercase());
    assert_eq!(
        parse_confirm(upper.as_bytes()).unwrap().signature,
        unhex::<64>(R_SIG)
    );
}

#[test]
fn challenge_store_lifecycle() {
    let mut store = ChallengeStore::new();
    let mut rng = CountingRng(0);
    let pc = store.issue(&mut rng, "mesh.test", NOW);
    let nonce: Vec<u8> = (0u8..32).collect();
    assert_eq!(pc.challenge_hex, hex::encode(&nonce));
    let secret: [u8; 32] = core::array::from_fn(|i| 32 + i as u8);
    assert_eq!(pc.server_x25519_secret, secret);
    assert_eq!(
        pc.server_x25519_pub,
        Keypair::from_x25519_secret(secret).x25519_public()
    );
    assert_eq!(pc.expires_at, NOW + 60);
    assert_eq!(
        pc.response_json(),
        format!(
            r#"{{"challenge": "{}", "node": "mesh.test", "expires_at": {}, "server_x25519_pub": "{}", "version": 1}}"#,
            pc.challenge_hex,
            NOW + 60,
            hex::encode(pc.server_x25519_pub)
        )
    );
    // Single use.
    assert_eq!(store.consume(&pc.challenge_hex, NOW + 59).unwrap(), pc);
    let e = store.consume(&pc.challenge_hex, NOW + 59).unwrap_err();
    assert_eq!(
        (e.status(), e.message().as_str()),
        (400, "challenge expired or unknown")
    );
    // Expired at expires_at; consumed anyway.
    let pc2 = store.issue(&mut rng, "mesh.test", NOW);
    assert!(store.consume(&pc2.challenge_hex, NOW + 60).is_err());
    assert!(store.is_empty());
    // Keys are the hex as issued: upper case misses.
    let pc3 = store.issue(&mut rng, "mesh.test", NOW);
    assert!(
        store
            .consume(&pc3.challenge_hex.to_uppercase(), NOW)
            .is_err()
    );
    // Capacity: oldest dropped first.
    let mut small = ChallengeStore::with_capacity(2);
    let a = small.issue(&mut rng, "n", NOW);
    let b = small.issue(&mut rng, "n", NOW);
    let c = small.issue(&mut rng, "n", NOW);
    assert_eq!(small.len(), 2);
    assert!(small.consume(&a.challenge_hex, NOW).is_err());
    assert!(small.consume(&b.challenge_hex, NOW).is_ok());
    assert!(small.consume(&c.challenge_hex, NOW).is_ok());
}

#[test]
fn x25519_pop_matches_reference() {
    let pc = reference_pending();
    let client_pub: [u8; 32] = unhex(R_CLIENT_PUB);
    assert_eq!(
        registration::x25519_pop(
            &[11; 32],
            &unhex(R_SERVER_PUB),
            &unhex(R_CHALLENGE),
            "bob@mesh.test",
            &client_pub
        ),
        Some(unhex(R_POP))
    );
    assert!(registration::verify_x25519_pop(
        &pc,
        "bob@mesh.test",
        &client_pub,
        &unhex(R_POP)
    ));
    assert!(!registration::verify_x25519_pop(
        &pc,
        "bob@mesh.tesu",
        &client_pub,
        &unhex(R_POP)
    ));
    // A low-order client key fails closed.
    assert!(!registration::verify_x25519_pop(
        &pc,
        "bob@mesh.test",
        &[0; 32],
        &[0; 32]
    ));
}

#[test]
fn tsig_plan() {
    let pc = reference_pending();
    let extra = format!(
        r#", "x25519_pub": " {} ", "x25519_pop": "{R_POP}""#,
        R_CLIENT_PUB.to_uppercase()
    );
    let req = parse_confirm(confirm_body("bob@mesh.test", &extra).as_bytes()).unwrap();
    let mut rng = CountingRng(200);
    let plan = plan_tsig(
        &req,
        &pc,
        "Mesh.Test.",
        ScopeMode::Default,
        7_776_000,
        NOW,
        &mut rng,
    )
    .unwrap();
    assert_eq!(plan.key_name, "bob-f3323741-60dc3b.mesh.test.");
    assert_eq!(plan.zone, "mesh.test");
    assert_eq!(plan.expires_at, NOW + 7_776_000);
    assert_eq!(plan.registered_x25519_pub, R_CLIENT_PUB);
    assert_eq!(
        plan.secret,
        core::array::from_fn(|i| 200u8.wrapping_add(i as u8))
    );
    let mb = dmp_core::crypto::hex(&sha256(&sha256(&unhex::<32>(R_CLIENT_PUB))));
    assert!(
        plan.allowed_suffixes
            .contains(&format!("mb-{}.mesh.test", &mb[..12]))
    );
    assert_eq!(plan.allowed_suffixes.len(), 8);
    let json = plan.response_json();
    assert!(
        json.starts_with(
            r#"{"tsig_key_name": "bob-f3323741-60dc3b.mesh.test.", "tsig_secret_hex": "c8c9"#
        ),
        "{json}"
    );
    assert!(json.ends_with(&format!(
        r#""subject": "bob@mesh.test", "zone": "mesh.test", "expires_at": {}}}"#,
        NOW + 7_776_000
    )));
    // Without a proof the key is dropped from scope.
    let extra = format!(r#", "x25519_pub": "{R_CLIENT_PUB}""#);
    let req = parse_confirm(confirm_body("bob@mesh.test", &extra).as_bytes()).unwrap();
    let plan = plan_tsig(&req, &pc, "mesh.test", ScopeMode::Default, 0, NOW, &mut rng).unwrap();
    assert_eq!(plan.allowed_suffixes.len(), 7);
    assert_eq!(plan.registered_x25519_pub, "");
    assert_eq!(plan.expires_at, 0);
    // Bad proof: 401; bad hex: 400.
    let extra = format!(
        r#", "x25519_pub": "{R_CLIENT_PUB}", "x25519_pop": "{}""#,
        "00".repeat(32)
    );
    let req = parse_confirm(confirm_body("bob@mesh.test", &extra).as_bytes()).unwrap();
    let e = plan_tsig(&req, &pc, "mesh.test", ScopeMode::Default, 0, NOW, &mut rng).unwrap_err();
    assert_eq!(
        (e.status(), e.message().as_str()),
        (
            401,
            "x25519_pop verification failed: registrant did not prove possession of the claimed X25519 key"
        )
    );
    let req = parse_confirm(confirm_body("bob@mesh.test", r#", "x25519_pub": "abc""#).as_bytes())
        .unwrap();
    let e = plan_tsig(&req, &pc, "mesh.test", ScopeMode::Default, 0, NOW, &mut rng).unwrap_err();
    assert_eq!(
        (e.status(), e.message().as_str()),
        (400, "x25519_pub: not valid hex")
    );
    // Empty zone: no scope, 500. Long local part: 400.
    let req = parse_confirm(confirm_body("bob@mesh.test", "").as_bytes()).unwrap();
    let e = plan_tsig(&req, &pc, "", ScopeMode::Default, 0, NOW, &mut rng).unwrap_err();
    assert_eq!(
        (e.status(), e.message().as_str()),
        (500, "could not derive TSIG scope from subject + zone")
    );
    let long = format!("{}@mesh.test", "a".repeat(48));
    let req = parse_confirm(confirm_body(&long, "").as_bytes()).unwrap();
    let e = plan_tsig(&req, &pc, "mesh.test", ScopeMode::Default, 0, NOW, &mut rng).unwrap_err();
    assert_eq!(
        (e.status(), e.message().as_str()),
        (
            400,
            "subject local part too long for TSIG key label (max 54 chars)"
        )
    );
}

#[test]
fn minted_tokens() {
    let t = registration::mint_token(&mut CountingRng(0));
    assert_eq!(
        t,
        "dmp_v1_AAAQEAYEAUDAOCAJBIFQYDIOB4IBCEQTCQKRMFYYDENBWHA5DYPQ"
    );
    assert!(authz::token_looks_valid(&t));
    assert_eq!(
        authz::token_hash(&t),
        dmp_core::crypto::hex(&sha256(t.as_bytes()))
    );
    assert_eq!(registration::subject_already_owned().status(), 409);
    assert!(registration::check_takeover([], "ab").is_ok());
    assert!(registration::check_takeover(["AB", ""], "ab").is_ok());
    let e = registration::check_takeover(["ab", "cd"], "AB").unwrap_err();
    assert_eq!(
        (e.status(), e.message().as_str()),
        (
            409,
            "subject already has a live token; re-registration must be signed with the previously-registered Ed25519 key"
        )
    );
    assert!(registration::tsig_key_live(0, false, NOW));
    assert!(registration::tsig_key_live(NOW + 1, false, NOW));
    assert!(!registration::tsig_key_live(NOW, false, NOW));
    assert!(!registration::tsig_key_live(0, true, NOW));
}

// ------------------------------------------------------------------ rate limits

#[test]
fn token_bucket() {
    let mut l = RateLimiter::new(Rate::new(10.0, 3.0));
    let k = "1.2.3.4";
    assert!(l.allow(&k, 1000));
    assert!(l.allow(&k, 1000));
    assert!(l.allow(&k, 1000));
    assert!(!l.allow(&k, 1000));
    // 10/s: one token per 100 ms.
    assert!(!l.allow(&k, 1099));
    assert!(l.allow(&k, 1100));
    assert!(!l.allow(&k, 1100));
    // Refill caps at burst.
    for _ in 0..3 {
        assert!(l.allow(&k, 100_000));
    }
    assert!(!l.allow(&k, 100_000));
    // Other keys are independent; a clock going backwards refills nothing.
    assert!(l.allow(&"other", 100_000));
    assert!(!l.allow(&k, 50));
    // Disabled with rate or burst 0.
    let mut off = RateLimiter::new(Rate::new(0.0, 5.0));
    assert!((0..100).all(|_| off.allow(&k, 0)));
    assert!(off.is_empty());
    let mut off = RateLimiter::new(Rate::new(5.0, 0.0));
    assert!((0..100).all(|_| off.allow(&k, 0)));
}

#[test]
fn rate_limit_defaults_and_eviction() {
    assert_eq!(ratelimit::HTTP_PER_IP, Rate::new(10.0, 100.0));
    assert_eq!(ratelimit::DNS_PER_IP, Rate::new(50.0, 200.0));
    assert_eq!(ratelimit::PER_TOKEN, Rate::new(10.0, 50.0));
    assert_eq!(ratelimit::CLAIM_PER_RECIPIENT, Rate::new(0.5, 30.0));
    // Registration: 5 per hour, burst 5 (two registrations = 4 calls).
    let mut reg = RateLimiter::new(ratelimit::REGISTRATION_PER_IP);
    assert!((0..5).all(|_| reg.allow(&"ip", 0)));
    assert!(!reg.allow(&"ip", 0));
    assert!(!reg.allow(&"ip", 719_000));
    assert!(reg.allow(&"ip", 720_000));
    // LRU: the least recently used key is evicted and comes back full.
    let mut l = RateLimiter::with_capacity(Rate::new(1.0, 1.0), 2);
    assert!(l.allow(&1, 0));
    assert!(l.allow(&2, 0));
    assert!(!l.allow(&1, 0)); // 1 is now most recent
    assert!(l.allow(&3, 0)); // evicts 2
    assert_eq!(l.len(), 2);
    assert!(l.allow(&2, 0)); // fresh bucket; evicts 1
    assert!(l.allow(&1, 0));
    // Per-key rates (per-token limits).
    let mut t = RateLimiter::new(Rate::new(1.0, 1.0));
    assert!(t.allow_with(&"tok", 0, Rate::new(10.0, 2.0)));
    assert!(t.allow_with(&"tok", 0, Rate::new(10.0, 2.0)));
    assert!(!t.allow_with(&"tok", 0, Rate::new(10.0, 2.0)));
    t.forget(&"tok");
    assert!(t.allow_with(&"tok", 0, Rate::new(10.0, 2.0)));
}

// ------------------------------------------------------------------ store verification

#[test]
fn store_verification() {
    let kp = Keypair::from_x25519_secret([5; 32]);
    let claim = claim_wire(&kp, NOW, NOW + 3600);
    assert_eq!(
        verify_for_store("claim-3.mb-0123456789ab.z.test", &claim, NOW, None),
        Ok(StoreKind::Dmp(RecordKind::Claim))
    );
    let mut bad = claim.clone().into_bytes();
    let i = bad.len() - 6;
    bad[i] = if bad[i] == b'A' { b'B' } else { b'A' };
    assert_eq!(
        verify_for_store("x", &String::from_utf8(bad).unwrap(), NOW, None),
        Err(Reject::BadRecord(RecordKind::Claim))
    );
    let chunk = chunk_wire(&wrap_block(&[42; 128]));
    assert_eq!(
        verify_for_store("chunk-1-0123456789ab.z.test", &chunk, NOW, None),
        Ok(StoreKind::Dmp(RecordKind::Chunk))
    );
    assert_eq!(
        verify_for_store("x", "v=dmp1;t=chunk;d=AAAA", NOW, None),
        Err(Reject::BadRecord(RecordKind::Chunk))
    );
    // Structural checks (prekey, bootstrap, unpinned cluster).
    let sig_sized = format!("v=dmp1;t=prekey;d={}", base64_65());
    assert_eq!(
        verify_for_store("x", &sig_sized, NOW, None),
        Ok(StoreKind::Dmp(RecordKind::Prekey))
    );
    assert_eq!(
        verify_for_store("x", "v=dmp1;t=prekey;d=AAAA", NOW, None),
        Err(Reject::BadRecord(RecordKind::Prekey))
    );
    assert_eq!(
        verify_for_store("x", &format!("v=dmp1;t=cluster;{}", base64_65()), NOW, None),
        Ok(StoreKind::Dmp(RecordKind::Cluster))
    );
    assert_eq!(
        verify_for_store(
            "x",
            &format!("v=dmp1;t=cluster;{}", base64_65()),
            NOW,
            Some(&[1; 32])
        ),
        Err(Reject::BadRecord(RecordKind::Cluster))
    );
    assert_eq!(
        verify_for_store("x", "v=dmp1;t=heartbeat;AAAA", NOW, None),
        Err(Reject::UnknownDmp)
    );
    assert_eq!(
        verify_for_store("www.z.test", "v=spf1 -all", NOW, None),
        Ok(StoreKind::Foreign)
    );
    assert_eq!(
        verify_for_store("slot-0.mb-ab.z.test", "v=spf1 -all", NOW, None),
        Err(Reject::ForeignAtDmpName)
    );
    assert_eq!(
        verify_for_store("", "v=spf1", NOW, None),
        Ok(StoreKind::Foreign)
    );
    assert_eq!(verify_for_store("x", "", NOW, None), Err(Reject::Empty));
}

fn base64_65() -> String {
    dmp_core::wire::b64_encode(&[1u8; 65])
}

// ------------------------------------------------------------------ no panics

proptest! {
    #[test]
    fn validators_never_panic(name in ".{0,300}", body in proptest::collection::vec(any::<u8>(), 0..600)) {
        let limits = Limits::default();
        let _ = validate_publish(&name, &body, &limits, |_, _| RrsetState { count: 64, contains_value: false });
        let _ = validate_delete(&name, &body);
        let _ = normalize_path_name(&name);
        let _ = publish::record_name_from_path(&name);
        let _ = publish::update_txt_value(&[&body]);
        let _ = authz::classify_name(&name);
        let _ = authz::claim_owner_hash12(&name, "mesh.test");
        let _ = is_dmp(&name);
        let _ = parse_confirm(&body);
        let _ = registration::canonicalize_subject(&name);
        if let Ok(text) = std::str::from_utf8(&body) {
            let _ = verify_for_store(&name, text, NOW, None);
            let _ = authz::suffix_covers(&name, text);
            let _ = in_zone(&name, text);
        }
    }

    #[test]
    fn json_bodies_never_panic(value in ".{0,100}", ttl in any::<i64>(), extra in "[a-z]{0,5}") {
        let body = format!(r#"{{"value": {}, "ttl": {ttl}, "{extra}": [1, {{}}]}}"#, serde_json::to_string(&value).unwrap());
        let r = validate_publish("a.b", body.as_bytes(), &Limits::default(), |_, _| RrsetState::default());
        if ttl <= 0 {
            prop_assert_eq!(r.unwrap_err(), HttpError::ValueTtlRequired);
        } else if ttl > 86_400 {
            prop_assert_eq!(r.unwrap_err(), HttpError::TtlExceedsCap(86_400));
        }
    }

    #[test]
    fn globs_never_panic(owner in "[a-z*.-]{0,30}", suffix in "[a-z*.-]{0,30}") {
        let _ = authz::suffix_covers(&owner, &suffix);
        let _ = authz::tsig_allows(&[suffix.as_str()], &owner, Op::Delete);
    }

    #[test]
    fn limiter_never_panics(steps in proptest::collection::vec((0u8..4, any::<u64>()), 0..50)) {
        let mut l = RateLimiter::with_capacity(Rate::new(0.5, 3.0), 2);
        for (k, t) in steps {
            let _ = l.allow(&k, t);
            prop_assert!(l.len() <= 2);
        }
    }

    #[test]
    fn confirm_fields_never_panic(subject in ".{0,40}", spk in "[0-9a-fA-Fz]{0,70}", pub_ in ".{0,70}", pop in ".{0,70}") {
        let body = serde_json::json!({
            "subject": subject, "ed25519_spk": spk, "challenge": R_CHALLENGE,
            "signature": R_SIG, "x25519_pub": pub_, "x25519_pop": pop,
        }).to_string();
        if let Ok(req) = parse_confirm(body.as_bytes()) {
            let pc = reference_pending();
            let _ = verify_confirm::<&str>(&req, &pc, &[]);
            let _ = plan_tsig(&req, &pc, "mesh.test", ScopeMode::Default, 1, NOW, &mut CountingRng(0));
        }
    }
}

fn is_dmp(name: &str) -> bool {
    dmp_core::node::verify::is_dmp_reserved_name(name)
}

#[test]
fn response_bodies_match_json_dumps() {
    use dmp_core::node::{PUBLISH_OK_BODY, py_float, records_body};
    // Expected texts from CPython 3.11 json.dumps / repr.
    assert_eq!(
        registration::token_response_json("t", "s", 1, 10.0, 50),
        r#"{"token": "t", "subject": "s", "expires_at": 1, "rate_per_sec": 10.0, "rate_burst": 50}"#
    );
    assert_eq!(py_float(0.5), "0.5");
    assert_eq!(py_float(5.0 / 3600.0), "0.001388888888888889");
    assert_eq!(py_float(1e16), "1e+16");
    assert_eq!(py_float(123456789.0), "123456789.0");
    assert_eq!(py_float(0.0001), "0.0001");
    assert_eq!(py_float(1e-5), "1e-05");
    assert_eq!(py_float(-2.5e-7), "-2.5e-07");
    assert_eq!(
        records_body("a.b", &["v=probe;x=1", "x\""]),
        r#"{"name": "a.b", "values": ["v=probe;x=1", "x\""]}"#
    );
    assert_eq!(
        records_body::<&str>("n", &[]),
        r#"{"name": "n", "values": []}"#
    );
    assert_eq!(PUBLISH_OK_BODY, r#"{"ok": true}"#);
    assert_eq!(
        publish::update_txt_value(&[&b"ab"[..], &b"cd"[..]]),
        Ok("abcd".into())
    );
    assert_eq!(
        publish::update_txt_value(&[&b"\xc3"[..], &b"\xa9"[..]]),
        Ok("\u{e9}".into())
    );
    assert_eq!(
        publish::update_txt_value(&[&b"\xff"[..]]),
        Err(UpdateRcode::FormErr)
    );
    assert_eq!(
        HttpError::BadRequest("limit must be > 0".into()).body(),
        r#"{"error": "limit must be > 0"}"#
    );
}

#[test]
fn json_numbers_are_classified_like_python() {
    use HttpError::*;
    // Observed on a live reference node (open mode, caps at defaults).
    let cases: &[(&str, Result<u64, HttpError>)] = &[
        (r#"{"value": "x", "ttl": true}"#, Ok(1)),
        (r#"{"value": "x", "ttl": false}"#, Err(ValueTtlRequired)),
        (r#"{"value": "x", "ttl": 1.0}"#, Err(ValueTtlRequired)),
        (r#"{"value": "x", "ttl": NaN}"#, Err(ValueTtlRequired)),
        (
            r#"{"value": "x", "ttl": 100000000000000000000000}"#,
            Err(TtlExceedsCap(86400)),
        ),
        // Also observed live (the last two there hit its small test cap first).
        (
            r#"{"value": "x", "ttl": -100000000000000000000000}"#,
            Err(ValueTtlRequired),
        ),
        (r#"{"value": "x", "ttl": -Infinity}"#, Err(ValueTtlRequired)),
        (r#"{"value": "x", "ttl": 1e400}"#, Err(ValueTtlRequired)),
        (r#"{"value": "x", "ttl": 2E+2}"#, Err(ValueTtlRequired)),
        (
            r#"{"value": "x", "ttl": 18446744073709551615}"#,
            Err(TtlExceedsCap(86400)),
        ),
        (r#"{"value": "x", "ttl": -0}"#, Err(ValueTtlRequired)),
        (r#"{"value": "x", "ttl": 0123}"#, Err(InvalidBody)),
        (r#"{"value": "x", "ttl": 1.}"#, Err(InvalidBody)),
        (r#"{"value": "x", "ttl": 1-2}"#, Err(InvalidBody)),
        (r#"{"value": "x", "ttl": NaNa}"#, Err(InvalidBody)),
        (r#"{"value": NaN}"#, Err(ValueTtlRequired)),
        (
            r#"{"value": "NaN 1e400 99999999999999999999999", "ttl": 7}"#,
            Ok(7),
        ),
        (r#"{"value": "a\"NaN\\", "ttl": 8}"#, Err(InvalidValue)),
        (r#"{"value": "\\", "ttl": 8, "x": [1e5, -Infinity]}"#, Ok(8)),
    ];
    for (body, want) in cases {
        let got = post("a.b", body).map(|p| p.ttl);
        assert_eq!(&got, want, "{body}");
    }
    // Strings are untouched.
    assert_eq!(
        post("a.b", r#"{"value": "NaN 1e400 99999999999999999999999"}"#)
            .unwrap()
            .value,
        "NaN 1e400 99999999999999999999999"
    );
    assert_eq!(
        validate_delete("a.b", br#"{"value": NaN}"#).unwrap_err(),
        HttpError::InvalidValue
    );
}

proptest! {
    #[test]
    fn python_json_never_panics(text in "[-+.eE0-9NaInfity\"\\\\{}\\[\\]:, a-zé]{0,80}") {
        let _ = dmp_core::node::python_json(&text);
    }

    #[test]
    fn python_json_keeps_plain_json(
        entries in proptest::collection::vec(("[a-z\"\\\\é ]{0,8}", any::<i64>(), ".{0,12}", any::<bool>()), 0..6)
    ) {
        // Strings, 64-bit integers and booleans parse exactly as serde_json
        // parses them.
        let mut obj = serde_json::Map::new();
        for (k, n, s, b) in entries {
            obj.insert(format!("{k}n"), n.into());
            obj.insert(format!("{k}s"), s.into());
            obj.insert(format!("{k}b"), b.into());
        }
        let text = serde_json::Value::Object(obj.clone()).to_string();
        prop_assert_eq!(dmp_core::node::python_json(&text), Some(serde_json::Value::Object(obj)));
    }
}
