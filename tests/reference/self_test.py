#!/usr/bin/env python3
"""Self-test of oracle.py: every command run through its CLI against the
reference itself. Stdlib only (the reference venv has no pytest).

Run with the reference's interpreter (run_tests.sh does this):
    $DMP_REFERENCE_PYTHON tests/reference/self_test.py [name-filter]
Prints one line per test and ends with `N passed, M failed`.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import traceback

HERE = os.path.dirname(os.path.abspath(__file__))
ORACLE = os.path.join(HERE, "oracle.py")
VECTORS = os.path.join(HERE, "..", "..", "core", "tests", "vectors")
PY = sys.executable

NOW = 2_000_000_000
SALT = "a1" * 16


# ---------------------------------------------------------------------------
# Oracle plumbing


def run(command: str, req, *, expect_error: bool = False, raw_stdin=None):
    stdin = raw_stdin if raw_stdin is not None else json.dumps(req)
    p = subprocess.run(
        [PY, ORACLE, command], input=stdin, capture_output=True, text=True
    )
    try:
        out = json.loads(p.stdout)
    except ValueError:
        raise AssertionError(
            f"{command}: stdout is not JSON (rc={p.returncode}): "
            f"{p.stdout[:300]!r} stderr={p.stderr[-1500:]}"
        )
    if expect_error:
        assert p.returncode != 0, f"{command}: expected failure, got {out}"
        assert isinstance(out.get("error"), str) and out["error"], out
        return out
    assert p.returncode == 0, f"{command}: rc={p.returncode} {out} {p.stderr[-1500:]}"
    assert "error" not in out, out
    return out


PEOPLE = {
    "alice": ("alice passphrase", "a.example"),
    "bob": ("bob passphrase", "b.example"),
    "carol": ("carol passphrase", "c.example"),
}
_KEYS: dict = {}


def party(name: str) -> dict:
    pw, dom = PEOPLE[name]
    return {"passphrase": pw, "salt_hex": SALT, "username": name, "domain": dom}


def keys(name: str) -> dict:
    if name not in _KEYS:
        _KEYS[name] = run("derive", {"passphrase": PEOPLE[name][0], "salt_hex": SALT})
    return _KEYS[name]


def contact(name: str, **extra) -> dict:
    k = keys(name)
    c = {
        "username": name,
        "domain": PEOPLE[name][1],
        "x25519_pub_hex": k["x25519_pub_hex"],
        "ed25519_pub_hex": k["ed25519_pub_hex"],
    }
    c.update(extra)
    return c


def text_of(size: int) -> bytes:
    return bytes((i * 7 + 3) % 95 + 32 for i in range(size))


def send(sender, recipient, text: bytes, now=NOW, **extra):
    req = {
        "sender": party(sender),
        "recipient": contact(recipient),
        "text_hex": text.hex(),
        "now": now,
    }
    req.update(extra)
    return run("send", req)


def receive(recipient, contacts, records, now=NOW + 5, **extra):
    req = {
        "recipient": party(recipient),
        "contacts": [contact(c) for c in contacts],
        "records": records,
        "now": now,
    }
    req.update(extra)
    return run("receive", req)


def parse(kind, wire, now=NOW, **ctx):
    req = {"kind": kind, "wire": wire, "now": now}
    req.update(ctx)
    return run("parse", req)


def by_prefix(records, prefix):
    return [r for r in records if r["value"].startswith(prefix)]


# ---------------------------------------------------------------------------
# Tests

TESTS = []


def test(fn):
    TESTS.append((fn.__name__, fn))
    return fn


@test
def derive_is_deterministic_and_salted():
    a1 = keys("alice")
    a2 = run("derive", {"passphrase": "alice passphrase", "salt_hex": SALT})
    assert a1 == a2
    other_salt = run("derive", {"passphrase": "alice passphrase", "salt_hex": "b2" * 16})
    assert other_salt["x25519_pub_hex"] != a1["x25519_pub_hex"]
    fallback = run("derive", {"passphrase": "alice passphrase"})
    assert fallback["x25519_pub_hex"] not in (a1["x25519_pub_hex"], other_salt["x25519_pub_hex"])
    for k in (a1, other_salt, fallback):
        assert len(bytes.fromhex(k["x25519_priv_hex"])) == 32
        assert len(bytes.fromhex(k["ed25519_pub_hex"])) == 32
        assert k["user_id_hex"] == hashlib.sha256(bytes.fromhex(k["x25519_pub_hex"])).hexdigest()
    # Salt shorter than 8 bytes is refused by the reference.
    run("derive", {"passphrase": "x", "salt_hex": "0011"}, expect_error=True)


@test
def identity_record_v1_v2_and_zone_anchored():
    k = keys("alice")
    base = dict(party("alice"), now=NOW)
    v1 = run("identity", base)
    h16 = hashlib.sha256(b"alice").hexdigest()[:16]
    assert v1["name"] == f"id-{h16}.a.example", v1
    assert v1["ttl"] == 86400
    p = parse("identity", v1["value"])
    assert p["ok"], p
    f = p["fields"]
    assert f["username"] == "alice" and f["ts"] == NOW and f["versions"] == [1]
    assert f["x25519_pk_hex"] == k["x25519_pub_hex"]
    assert f["ed25519_spk_hex"] == k["ed25519_pub_hex"]

    v2 = run("identity", dict(base, advertise_v2=True))
    assert parse("identity", v2["value"])["fields"]["versions"] == [1, 2]
    v3 = run("identity", dict(base, versions=[1, 2, 3]))
    assert parse("identity", v3["value"])["fields"]["versions"] == [1, 2, 3]
    za = run("identity", dict(base, identity_domain="alice.example.org."))
    assert za["name"] == "dmp.alice.example.org", za
    # Same ts and keys → identical wire (Ed25519 is deterministic).
    assert run("identity", base)["value"] == v1["value"]


@test
def make_prekeys_records_and_secrets():
    out = run("make_prekeys", dict(party("bob"), count=4, ttl=3600, now=NOW))
    assert out["published"] == 4
    recs, secrets = out["records"], out["secrets"]
    assert len(recs) == 4 and len(secrets) == 4
    h12 = hashlib.sha256(b"bob").hexdigest()[:12]
    spk = keys("bob")["ed25519_pub_hex"]
    ids = set()
    for r, s in zip(recs, secrets):
        assert r["name"] == f"prekeys.id-{h12}.b.example", r
        assert r["ttl"] == 3600 and len(r["value"]) == 162
        assert s["wire"] == r["value"] and s["exp"] == NOW + 3600
        p = parse("prekey", r["value"], signer_spk_hex=spk)
        assert p["ok"] and p["fields"]["prekey_id"] == s["prekey_id"], p
        assert p["fields"]["exp"] == NOW + 3600 and p["fields"]["expired"] is False
        assert s["prekey_id"] != 0
        ids.add(s["prekey_id"])
    assert len(ids) == 4
    # Wrong signer → rejected; expired only flagged, not rejected.
    assert not parse("prekey", recs[0]["value"], signer_spk_hex=keys("alice")["ed25519_pub_hex"])["ok"]
    late = parse("prekey", recs[0]["value"], now=NOW + 3601, signer_spk_hex=spk)
    assert late["ok"] and late["fields"]["expired"] is True


def _round_trip(size: int, prekeys: bool, v2: bool):
    text = text_of(size)
    sender_world = []
    receiver_world = []
    extra_send = {}
    extra_recv = {}
    pk = None
    if v2:
        bob_id = run("identity", dict(party("bob"), now=NOW - 100, advertise_v2=True))
        sender_world.append(bob_id)
        alice_id = run("identity", dict(party("alice"), now=NOW - 100))
        receiver_world.append(alice_id)
    if prekeys:
        pk = run("make_prekeys", dict(party("bob"), count=3, ttl=86400, now=NOW - 100))
        extra_send["recipient_prekeys"] = [r["value"] for r in pk["records"]]
        extra_recv["prekey_secrets"] = pk["secrets"]
        receiver_world.extend(pk["records"])

    s = send("alice", "bob", text, records=sender_world, **extra_send)
    assert s["ok"] is True, s
    assert s["envelope"] == ("v2" if v2 else "v1"), s["envelope"]
    k, n = s["k"], s["n"]
    chunks = by_prefix(s["records"], "v=dmp1;t=chunk;d=")
    manifests = by_prefix(s["records"], "v=dmp1;t=manifest;d=")
    claims = by_prefix(s["records"], "v=dmp1;t=claim;")
    assert len(chunks) == n and len(manifests) == 1 and len(claims) == 1, s["records"]
    assert len(s["records"]) == n + 2
    assert all(len(c["value"]) == 241 and c["ttl"] == 300 for c in chunks)
    assert s["records"][:n] == chunks and s["records"][n] == manifests[0]
    assert manifests[0]["name"] == s["manifest_name"]
    assert s["manifest_name"].startswith(f"slot-{s['slot']}.mb-")
    assert s["manifest_name"].endswith(".a.example")
    assert claims[0]["name"].endswith(".b.example")
    assert s["slot"] == int(s["msg_id_hex"][:8], 16) % 10
    if prekeys:
        chosen = s["prekey_id"]
        assert chosen in {x["prekey_id"] for x in pk["secrets"]}, s
    else:
        assert s["prekey_id"] == 0

    r = receive("bob", ["alice"], receiver_world + s["records"], **extra_recv)
    assert len(r["delivered"]) == 1, r
    d = r["delivered"][0]
    assert bytes.fromhex(d["text_hex"]) == text
    assert d["sender_spk_hex"] == keys("alice")["ed25519_pub_hex"]
    assert d["msg_id_hex"] == s["msg_id_hex"]
    assert d["timestamp"] == NOW
    assert d["sender_label"] == ("alice@a.example" if v2 else ""), d
    if prekeys:
        wire = next(x["wire"] for x in pk["secrets"] if x["prekey_id"] == chosen)
        h12 = hashlib.sha256(b"bob").hexdigest()[:12]
        assert r["deleted_records"] == [
            {"name": f"prekeys.id-{h12}.b.example", "value": wire}
        ], r["deleted_records"]
        others = sorted(x["prekey_id"] for x in pk["secrets"] if x["prekey_id"] != chosen)
        assert r["remaining_prekey_ids"] == others, r["remaining_prekey_ids"]
    else:
        assert r["deleted_records"] == [] and r["remaining_prekey_ids"] == []
    return s, r


def _make_round_trip(size, prekeys, v2):
    def fn():
        _round_trip(size, prekeys, v2)

    fn.__name__ = (
        f"round_trip_{size}B_{'prekey' if prekeys else 'longterm'}_{'v2' if v2 else 'v1'}"
    )
    return fn


for _size in (1, 1024, 20 * 1024):
    for _pk in (False, True):
        for _v2 in (False, True):
            test(_make_round_trip(_size, _pk, _v2))


@test
def non_utf8_text_round_trip():
    text = bytes([0xFF, 0xFE, 0x00, 0xC3, 0x28, 0x80])
    s = send("alice", "bob", text)
    r = receive("bob", ["alice"], s["records"])
    assert [bytes.fromhex(d["text_hex"]) for d in r["delivered"]] == [text]


@test
def replay_is_not_delivered_twice():
    s = send("alice", "bob", b"once")
    r = receive("bob", ["alice"], s["records"], polls=2)
    assert r["delivered_per_poll"] == [1, 0], r
    seen = r["replay_seen"]
    assert seen == [
        {
            "sender_spk_hex": keys("alice")["ed25519_pub_hex"],
            "msg_id_hex": s["msg_id_hex"],
            "exp": NOW + 300,
        }
    ], seen
    # Chained state: a later process given the seen set delivers nothing.
    r2 = receive("bob", ["alice"], s["records"], replay_seen=seen)
    assert r2["delivered"] == [], r2


@test
def prekey_kept_when_secret_missing():
    pk = run("make_prekeys", dict(party("bob"), count=1, ttl=86400, now=NOW))
    s = send("alice", "bob", b"fs", recipient_prekeys=[pk["records"][0]["value"]])
    assert s["prekey_id"] == pk["secrets"][0]["prekey_id"]
    world = pk["records"] + s["records"]
    r = receive("bob", ["alice"], world)
    assert r["delivered"] == [] and r["deleted_records"] == [], r
    # A secret for a different id does not help either, and is kept.
    other = run("make_prekeys", dict(party("bob"), count=1, ttl=86400, now=NOW))
    r = receive("bob", ["alice"], world, prekey_secrets=other["secrets"])
    assert r["delivered"] == [] and r["remaining_prekey_ids"] == [other["secrets"][0]["prekey_id"]]
    # An expired secret is not usable.
    r = receive("bob", ["alice"], world, prekey_secrets=[dict(pk["secrets"][0], exp=NOW)])
    assert r["delivered"] == [], r
    r = receive("bob", ["alice"], world, prekey_secrets=pk["secrets"])
    assert len(r["delivered"]) == 1 and r["remaining_prekey_ids"] == []


@test
def prekey_choice_and_fixed_msg_id():
    pk = run("make_prekeys", dict(party("bob"), count=5, ttl=86400, now=NOW))
    want = pk["secrets"][3]["prekey_id"]
    mid = "00000007" + "11" * 12
    s = send(
        "alice", "bob", b"x",
        recipient_prekeys=[r["value"] for r in pk["records"]],
        prekey_choice_id=want, msg_id_hex=mid,
    )
    assert s["prekey_id"] == want and s["msg_id_hex"] == mid and s["slot"] == 7, s
    # Prekeys are only used when the recipient's Ed25519 key is pinned.
    s2 = run("send", {
        "sender": party("alice"),
        "recipient": contact("bob", ed25519_pub_hex=""),
        "recipient_prekeys": [r["value"] for r in pk["records"]],
        "text_hex": "78", "now": NOW,
    })
    assert s2["ok"] and s2["prekey_id"] == 0, s2
    # Expired prekeys (now > exp) are skipped by the sender.
    s3 = send("alice", "bob", b"x", now=NOW + 86401,
              recipient_prekeys=[r["value"] for r in pk["records"]])
    assert s3["prekey_id"] == 0, s3


@test
def unpinned_sender_needs_tofu():
    # TOFU only covers the receiver's own zone (no contacts → no other zone
    # is walked), i.e. a shared-mesh sender publishing under b.example.
    s = run("send", {
        "sender": dict(party("alice"), domain="b.example"),
        "recipient": contact("bob"), "text_hex": b"hello stranger".hex(), "now": NOW,
    })
    assert s["manifest_name"].endswith(".b.example"), s
    assert receive("bob", [], s["records"])["delivered"] == []
    r = receive("bob", [], s["records"], allow_tofu=True)
    assert [bytes.fromhex(d["text_hex"]) for d in r["delivered"]] == [b"hello stranger"]
    # A sender in another zone is never reached by TOFU.
    s2 = send("alice", "bob", b"elsewhere")
    assert receive("bob", [], s2["records"], allow_tofu=True)["delivered"] == []


@test
def pinned_contact_in_wrong_zone_is_dropped():
    s = send("alice", "bob", b"zone")
    # Alice pinned under carol's zone: a.example is not walked, and a pin for
    # another zone does not accept a.example manifests. Claim path: the claim
    # points at a.example, where alice is not pinned → quarantined.
    r = run("receive", {
        "recipient": party("bob"),
        "contacts": [contact("alice", domain="c.example")],
        "records": s["records"], "now": NOW + 5,
    })
    assert r["delivered"] == [], r
    assert [bytes.fromhex(q["text_hex"]) for q in r["quarantined"]] == [b"zone"], r


@test
def stranger_claim_is_quarantined():
    s = send("carol", "bob", b"hi bob, it's carol")
    r = receive("bob", ["alice"], s["records"])
    assert r["delivered"] == [], r
    assert len(r["quarantined"]) == 1, r
    q = r["quarantined"][0]
    assert bytes.fromhex(q["text_hex"]) == b"hi bob, it's carol"
    assert q["sender_spk_hex"] == keys("carol")["ed25519_pub_hex"]
    assert q["sender_mailbox_domain"] == "c.example" and q["msg_exp"] == NOW + 300
    # Blocked sender: dropped entirely.
    r = receive("bob", ["alice"], s["records"], blocked_spks=[keys("carol")["ed25519_pub_hex"]])
    assert r["delivered"] == [] and r["quarantined"] == [], r
    # Pinned sender reached only through the claim (phase 2 skipped).
    r = receive("bob", ["carol"], s["records"], primary_only=True)
    assert len(r["delivered"]) == 1 and r["quarantined"] == [], r


@test
def versions_shortcut_identity_domain_and_providers():
    # recipient.versions pre-seeds the sender's memo (no identity record);
    # the sender's zone-anchored identity gives the label alice@alice.example.org.
    sender = dict(party("alice"), identity_domain="alice.example.org")
    s = run("send", {
        "sender": sender,
        "recipient": contact("bob", versions=[1, 2]),
        "text_hex": b"v2 via shortcut".hex(), "now": NOW,
        "claim_providers": ["claims.example.net"],
    })
    assert s["envelope"] == "v2" and s["claim_outcomes"] == [True], s
    claims = by_prefix(s["records"], "v=dmp1;t=claim;")
    assert sorted(c["name"].split(".", 2)[2] for c in claims) == [
        "b.example", "claims.example.net"
    ], claims
    ident = run("identity", dict(sender, now=NOW - 10))
    assert ident["name"] == "dmp.alice.example.org"
    r = receive("bob", ["alice"], s["records"] + [ident])
    assert [d["sender_label"] for d in r["delivered"]] == ["alice@alice.example.org"], r
    # Without the identity record the body still arrives, unlabelled.
    r = receive("bob", ["alice"], s["records"])
    assert [(bytes.fromhex(d["text_hex"]), d["sender_label"]) for d in r["delivered"]] == [
        (b"v2 via shortcut", "")
    ], r
    # An identity record for a different key does not label the message.
    fake = run("identity", dict(party("carol"), username="alice",
                                identity_domain="alice.example.org", now=NOW))
    r = receive("bob", ["alice"], s["records"] + [fake])
    assert [d["sender_label"] for d in r["delivered"]] == [""], r
    # M8 provider claim reaches an unpinned receiver (provider pass runs
    # even with no pins), and lands in quarantine.
    s2 = run("send", {
        "sender": party("carol"), "recipient": contact("bob"),
        "text_hex": b"first contact".hex(), "now": NOW,
        "claim_providers": ["claims.example.net"],
    })
    r = receive("bob", [], s2["records"], claim_providers=["claims.example.net"])
    assert r["delivered"] == [] and [
        bytes.fromhex(q["text_hex"]) for q in r["quarantined"]
    ] == [b"first contact"], r


@test
def expiry_and_ttl():
    s = send("alice", "bob", b"short", ttl=60)
    assert all(rec["ttl"] == 60 for rec in s["records"])
    assert len(receive("bob", ["alice"], s["records"], now=NOW + 60)["delivered"]) == 1
    assert receive("bob", ["alice"], s["records"], now=NOW + 61)["delivered"] == []


@test
def erasure_tolerates_n_minus_k_missing_chunks():
    s = send("alice", "bob", text_of(3000))
    k, n = s["k"], s["n"]
    assert n - k >= 2, (k, n)
    chunks = by_prefix(s["records"], "v=dmp1;t=chunk;d=")
    rest = [r for r in s["records"] if r not in chunks]
    # Drop the first n-k data chunks: parity must fill in.
    kept = chunks[n - k:]
    r = receive("bob", ["alice"], rest + kept)
    assert [bytes.fromhex(d["text_hex"]) for d in r["delivered"]] == [text_of(3000)]
    r = receive("bob", ["alice"], rest + kept[1:])
    assert r["delivered"] == [], r
    # A poisoned extra value at a chunk name is skipped by the hash check.
    bad = dict(chunks[0], value=chunks[1]["value"])
    r = receive("bob", ["alice"], rest + [bad] + chunks)
    assert len(r["delivered"]) == 1


@test
def too_large_message_is_an_error():
    out = run("send", {
        "sender": party("alice"), "recipient": contact("bob"),
        "text_hex": ("41" * 25_000), "now": NOW,
    }, expect_error=True)
    assert out["error"]


@test
def parse_vectors():
    files = {
        "cluster_manifest.json": "cluster",
        "bootstrap_record.json": "bootstrap",
        "identity_record.json": "identity",
        "slot_manifest.json": "manifest",
        "prekey.json": "prekey",
        "rotation_record.json": "rotation",
        "revocation_record.json": "revocation",
    }
    checked = 0
    for fname, kind in files.items():
        with open(os.path.join(VECTORS, fname)) as fh:
            cases = json.load(fh)
        base_inputs = cases[0].get("inputs") or {}
        for i, case in enumerate(cases):
            wire = bytes.fromhex(case["expected_wire_hex"]).decode("utf-8")
            ctx = {"now": case.get("verify_with_now", 2_050_000_000)}
            if kind == "cluster":
                ctx["operator_spk_hex"] = case.get(
                    "verify_with_operator_spk_hex", base_inputs["operator_spk_hex"]
                )
            if kind in ("bootstrap", "prekey"):
                ctx["signer_spk_hex"] = case.get(
                    "verify_with_signer_spk_hex", base_inputs.get("signer_spk_hex")
                )
            if kind == "revocation":
                if "verify_with_expected_revoked_spk_hex" in case:
                    ctx["expected_revoked_spk_hex"] = case["verify_with_expected_revoked_spk_hex"]
                if "verify_with_max_age_seconds" in case:
                    ctx["max_age_seconds"] = case["verify_with_max_age_seconds"]
            if kind == "bootstrap" and "expected_parse_user_domain" in case:
                ctx["expected_user_domain"] = case["expected_parse_user_domain"].upper()
            out = parse(kind, wire, **ctx)
            want_ok = case.get("expected_parse_result") != "none"
            assert out["ok"] == want_ok, (fname, i, out)
            for key, val in case.items():
                if key.startswith("expected_parse_") and key != "expected_parse_result":
                    field = key[len("expected_parse_"):]
                    got = out["fields"].get(field)
                    assert got == val, (fname, i, field, got, val)
            checked += 1
    assert checked == 28, checked
    # Without a pinned clock every success case of these vectors would fail
    # (far-future caps): proves `now` reaches the reference.
    cases = json.load(open(os.path.join(VECTORS, "slot_manifest.json")))
    wire = bytes.fromhex(cases[0]["expected_wire_hex"]).decode()
    assert parse("manifest", wire, now=2_050_000_000)["ok"]
    assert not parse("manifest", wire, now=2_000_000_000)["ok"]


@test
def parse_message_records():
    s = send("alice", "bob", text_of(500))
    m = by_prefix(s["records"], "v=dmp1;t=manifest;d=")[0]["value"]
    p = parse("manifest", m)
    assert p["ok"], p
    f = p["fields"]
    assert f["msg_id_hex"] == s["msg_id_hex"] and f["prekey_id"] == 0
    assert f["total_chunks"] == s["n"] and f["data_chunks"] == s["k"]
    assert f["ts"] == NOW and f["exp"] == NOW + 300 and f["expired"] is False
    assert f["sender_spk_hex"] == keys("alice")["ed25519_pub_hex"]
    assert f["recipient_id_hex"] == keys("bob")["user_id_hex"]
    assert len(f["chunk_hashes_hex"]) == s["n"] and len(f["signature_hex"]) == 128
    assert parse("manifest", m, now=NOW + 301)["fields"]["expired"] is True

    chunks = by_prefix(s["records"], "v=dmp1;t=chunk;d=")
    for i, c in enumerate(chunks):
        p = parse("chunk", c["value"], expected_hash_hex=f["chunk_hashes_hex"][i])
        assert p["ok"] and p["fields"]["erasure_ok"], p
        assert p["fields"]["data_sha256_hex"] == f["chunk_hashes_hex"][i]
        assert len(p["fields"]["data_hex"]) == 2 * 168
    # Flip one base64 character: RS repairs the block, the hash check does not pass.
    v = chunks[0]["value"]
    pos = 40
    mutated = v[:pos] + ("A" if v[pos] != "A" else "B") + v[pos + 1:]
    clean = parse("chunk", v)["fields"]["block_hex"]
    rep = parse("chunk", mutated)
    assert rep["ok"] and rep["fields"]["block_hex"] == clean, rep
    assert not parse("chunk", mutated, expected_hash_hex=f["chunk_hashes_hex"][0])["ok"]
    assert not parse("chunk", "v=dmp1;t=manifest;d=AAAA")["ok"]
    assert not parse("chunk", "garbage")["ok"]

    claim = by_prefix(s["records"], "v=dmp1;t=claim;")[0]["value"]
    p = parse("claim", claim)
    assert p["ok"], p
    cf = p["fields"]
    assert cf["msg_id_hex"] == s["msg_id_hex"] and cf["slot"] == s["slot"]
    assert cf["sender_mailbox_domain"] == "a.example" and cf["exp"] == NOW + 300
    assert not parse("claim", claim, now=NOW + 300)["ok"]  # exp <= now
    assert not parse("claim", claim, now=NOW - 301)["ok"]  # ts too far ahead
    assert parse("claim", claim, now=NOW - 301, ts_skew_seconds=400)["ok"]
    # wire_hex form (bytes as sent over DNS).
    assert run("parse", {"kind": "claim", "wire_hex": claim.encode().hex(), "now": NOW})["ok"]


@test
def parse_heartbeat():
    # Build a heartbeat with the reference itself (it is importable here).
    from dmp.core.crypto import DMPCrypto
    from dmp.core.heartbeat import HeartbeatRecord

    op = DMPCrypto.from_private_bytes(bytes(range(32)))
    rec = HeartbeatRecord(
        endpoint="https://node.example.com",
        operator_spk=op.get_signing_public_key_bytes(),
        version="0.7.5",
        ts=NOW,
        exp=NOW + 86400,
        capabilities=1,
        claim_provider_zone="claims.example.com",
    )
    wire = rec.sign(op)
    p = parse("heartbeat", wire)
    assert p["ok"], p
    f = p["fields"]
    assert f["endpoint"] == "https://node.example.com" and f["capabilities"] == 1
    assert f["claim_provider_zone"] == "claims.example.com"
    assert f["operator_spk_hex"] == op.get_signing_public_key_bytes().hex()
    assert parse("heartbeat", wire, now=NOW + 300)["ok"]
    assert not parse("heartbeat", wire, now=NOW + 301)["ok"]
    assert parse("heartbeat", wire, now=NOW + 301, ts_skew_seconds=10**9)["ok"]
    assert not parse("heartbeat", wire[:-4] + "AAA=")["ok"]


@test
def errors_are_json_and_nonzero():
    run("nope", {}, expect_error=True)
    run("derive", {}, expect_error=True)
    run("derive", None, raw_stdin="{not json", expect_error=True)
    run("send", {"sender": party("alice"), "recipient": contact("bob"),
                 "text_hex": "zz", "now": NOW}, expect_error=True)
    run("parse", {"kind": "frob", "wire": "x", "now": NOW}, expect_error=True)
    run("parse", {"kind": "prekey", "wire": "x", "now": NOW}, expect_error=True)


@test
def batch_and_serve_modes():
    reqs = [
        {"command": "derive", "passphrase": "alice passphrase", "salt_hex": SALT},
        {"command": "parse", "kind": "identity", "wire": "v=dmp1;t=identity;d=AA==", "now": NOW},
        {"command": "bogus"},
    ]
    out = run("batch", {"requests": reqs})["responses"]
    assert out[0] == keys("alice")
    assert out[1] == {"ok": False, "fields": {}}
    assert "error" in out[2]
    lines = "\n".join(json.dumps(r) for r in reqs) + "\n"
    p = subprocess.run([PY, ORACLE, "serve"], input=lines, capture_output=True, text=True)
    assert p.returncode == 0, p.stderr
    got = [json.loads(x) for x in p.stdout.splitlines()]
    assert got == out, got


# ---------------------------------------------------------------------------


def main(argv) -> int:
    pattern = argv[1] if len(argv) > 1 else ""
    passed = failed = 0
    for name, fn in TESTS:
        if pattern and pattern not in name:
            continue
        try:
            fn()
        except Exception:  # noqa: BLE001
            failed += 1
            print(f"FAIL {name}")
            print("  " + traceback.format_exc().replace("\n", "\n  ").rstrip())
        else:
            passed += 1
            print(f"ok   {name}")
        sys.stdout.flush()
    print(f"{passed} passed, {failed} failed")
    return 0 if failed == 0 and passed > 0 else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
