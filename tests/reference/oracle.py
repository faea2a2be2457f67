#!/usr/bin/env python3
"""Live oracle over the Python reference `dmp` (dnsmesh 0.7.5).

Rust tests run this script with the reference's interpreter
($DMP_REFERENCE_PYTHON) and compare their own output with what the real
reference code produces. This file only *drives* the reference: every
record is built, published, fetched, verified and decrypted by the
reference's own classes (DMPClient, InMemoryDNSStore, PrekeyStore, the
record classes' parse_and_verify). Nothing of the protocol is
re-implemented here.

Usage:
    python oracle.py <command>   < request.json   > response.json
    python oracle.py batch       (stdin: {"requests": [{"command": .., ...}]})
    python oracle.py serve       (stdin/stdout: one JSON request per line)

Every byte string is lowercase hex. Errors exit non-zero and print
{"error": "..."}. The protocol is documented in README.md next to this
file.

Clock: the reference reads the wall clock through `time.time()` (module
attribute lookups such as `int(time.time())` and dataclass default
factories), so the oracle replaces `time.time` / `time.time_ns` in the
`time` module itself, once, before importing `dmp`, with a function that
returns the request's `now`. Nothing in the paths driven here reads
another clock (`time.monotonic` is only used by the network resolver
pool and fan-out writer, which are not used).
"""

from __future__ import annotations

import dataclasses
import enum
import hashlib
import json
import random
import sys
import time
import uuid

# ---------------------------------------------------------------------------
# Clock pinning. Must happen before `dmp` is imported.

_REAL_TIME = time.time
_REAL_TIME_NS = time.time_ns
_NOW: list = [None]


def _pinned_time() -> float:
    now = _NOW[0]
    return _REAL_TIME() if now is None else float(now)


def _pinned_time_ns() -> int:
    now = _NOW[0]
    return _REAL_TIME_NS() if now is None else int(now) * 1_000_000_000


time.time = _pinned_time
time.time_ns = _pinned_time_ns


def set_now(now) -> None:
    """Pin the reference's clock to `now` (int Unix seconds), None = real."""
    _NOW[0] = None if now is None else int(now)


# ---------------------------------------------------------------------------

from dmp.client import client as _client_mod  # noqa: E402
from dmp.client.client import DMPClient  # noqa: E402
from dmp.core import envelope as _envelope_mod  # noqa: E402
from dmp.core.bootstrap import BootstrapRecord  # noqa: E402
from dmp.core.chunking import MessageChunker  # noqa: E402
from dmp.core.claim import ClaimRecord  # noqa: E402
from dmp.core.cluster import ClusterManifest  # noqa: E402
from dmp.core.crypto import DMPCrypto  # noqa: E402
from dmp.core.dns import DMPDNSRecord  # noqa: E402
from dmp.core.heartbeat import HeartbeatRecord  # noqa: E402
from dmp.core.identity import (  # noqa: E402
    SUPPORTED_VERSIONS,
    IdentityRecord,
    identity_domain,
    make_record,
    zone_anchored_identity_name,
)
from dmp.core.manifest import ReplayCache, SlotManifest  # noqa: E402
from dmp.core.prekeys import Prekey  # noqa: E402
from dmp.core.rotation import RevocationRecord, RotationRecord  # noqa: E402
from dmp.network.memory import InMemoryDNSStore  # noqa: E402

from cryptography.hazmat.primitives import serialization  # noqa: E402
from cryptography.hazmat.primitives.asymmetric.x25519 import (  # noqa: E402
    X25519PrivateKey,
)

# Default DNS TTL given to world records loaded without a `ttl`.
DEFAULT_WORLD_TTL = 86_400


class OracleError(Exception):
    """A bad request (missing field, bad hex, ...)."""


# ---------------------------------------------------------------------------
# Small helpers


def _req(obj: dict, key: str):
    if not isinstance(obj, dict) or key not in obj or obj[key] is None:
        raise OracleError(f"missing field: {key}")
    return obj[key]


def _hex(value, what: str) -> bytes:
    if not isinstance(value, str):
        raise OracleError(f"{what}: expected a hex string")
    try:
        return bytes.fromhex(value)
    except ValueError as exc:
        raise OracleError(f"{what}: bad hex ({exc})") from None


def _opt_hex(obj: dict, key: str):
    value = obj.get(key)
    return None if value is None else _hex(value, key)


def _salt(obj: dict):
    """`salt_hex` absent or null selects the reference's fixed fallback salt."""
    value = obj.get("salt_hex")
    return None if value is None else _hex(value, "salt_hex")


def _int(obj: dict, key: str, default=None) -> int:
    value = obj.get(key, default)
    if value is None:
        raise OracleError(f"missing field: {key}")
    if isinstance(value, bool) or not isinstance(value, int):
        raise OracleError(f"{key}: expected an integer")
    return value


def _raw_x25519(sk: X25519PrivateKey) -> bytes:
    return sk.private_bytes(
        encoding=serialization.Encoding.Raw,
        format=serialization.PrivateFormat.Raw,
        encryption_algorithm=serialization.NoEncryption(),
    )


def _raw_x25519_pub(sk: X25519PrivateKey) -> bytes:
    return sk.public_key().public_bytes(
        encoding=serialization.Encoding.Raw,
        format=serialization.PublicFormat.Raw,
    )


_CRYPTO_CACHE: dict = {}
_REAL_FROM_PASSPHRASE = DMPCrypto.from_passphrase.__func__


def _cached_from_passphrase(cls, passphrase, salt=None, **kwargs):
    """Memoize the reference's Argon2id derivation (deterministic) so that a
    long-running `serve`/`batch` process derives each identity once."""
    key = (cls, passphrase, salt, tuple(sorted(kwargs.items())))
    hit = _CRYPTO_CACHE.get(key)
    if hit is None:
        hit = _REAL_FROM_PASSPHRASE(cls, passphrase, salt, **kwargs)
        _CRYPTO_CACHE[key] = hit
    return hit


DMPCrypto.from_passphrase = classmethod(_cached_from_passphrase)


class _RawText(str):
    """`send_message` takes a str and calls `.encode("utf-8")` on it. To send
    arbitrary bytes (not only valid UTF-8) the oracle hands it a str whose
    `encode` returns the exact requested bytes."""

    _raw: bytes

    def __new__(cls, raw: bytes):
        obj = super().__new__(cls, raw.decode("utf-8", "replace"))
        obj._raw = raw
        return obj

    def encode(self, encoding="utf-8", errors="strict"):  # noqa: D401
        return self._raw


def _message_text(raw: bytes) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return _RawText(raw)


class RecordingStore(InMemoryDNSStore):
    """The reference's in-memory DNS, plus a log of the publishes/deletes made
    while `recording` is on (the world is loaded with recording off)."""

    def __init__(self) -> None:
        super().__init__()
        self.recording = False
        self.published: list = []
        self.deleted: list = []

    def publish_txt_record(self, name, value, ttl=300):
        ok = super().publish_txt_record(name, value, ttl=ttl)
        if self.recording:
            self.published.append({"name": name, "value": value, "ttl": int(ttl)})
        return ok

    def delete_txt_record(self, name, value=None):
        if self.recording:
            self.deleted.append({"name": name, "value": value})
        return super().delete_txt_record(name, value=value)

    def load_world(self, records) -> None:
        if records is None:
            return
        if not isinstance(records, list):
            raise OracleError("records: expected a list")
        was = self.recording
        self.recording = False
        try:
            for i, rec in enumerate(records):
                name = _req(rec, "name")
                value = rec.get("value")
                if value is None and rec.get("value_hex") is not None:
                    value = _hex(rec["value_hex"], f"records[{i}].value_hex").decode(
                        "utf-8", "replace"
                    )
                if not isinstance(name, str) or not isinstance(value, str):
                    raise OracleError(f"records[{i}]: name and value must be strings")
                ttl = rec.get("ttl")
                ttl = DEFAULT_WORLD_TTL if ttl is None else int(ttl)
                super().publish_txt_record(name, value, ttl=ttl)
        finally:
            self.recording = was


# The store that the patched M10 claim publisher writes into (see below).
_CLAIM_SINK: list = [None]


def _claim_via_store(*, zone, target, name, wire, ttl, resolver_pool=None):
    """Stand-in for the reference's un-TSIG'd DNS UPDATE of claim records
    (`dmp.client.client._publish_claim_via_dns_update`), which would open a
    UDP socket. The reference's own tests patch the same function; here the
    claim lands in the request's in-memory store and is reported like any
    other publish."""
    store = _CLAIM_SINK[0]
    if store is None:
        return False
    return bool(store.publish_txt_record(name, wire, ttl=int(ttl)))


_client_mod._publish_claim_via_dns_update = _claim_via_store


def _new_client(party: dict, store: InMemoryDNSStore, *, allow_tofu=False):
    username = _req(party, "username")
    passphrase = _req(party, "passphrase")
    domain = _req(party, "domain")
    ident_dom = party.get("identity_domain") or None
    return DMPClient(
        username,
        passphrase,
        domain=domain,
        identity_domain=ident_dom,
        store=store,
        kdf_salt=_salt(party),
        prekey_store_path=":memory:",
        intro_queue_path=":memory:",
        allow_tofu=bool(allow_tofu),
    )


def _add_contact(client: DMPClient, c: dict, i: int) -> str:
    username = _req(c, "username")
    label = c.get("label") or username
    pub_hex = c.get("x25519_pub_hex") or ""
    spk_hex = c.get("ed25519_pub_hex") or ""
    domain = c.get("domain")
    explicit = c.get("domain_explicit", True)
    ok = client.add_contact(
        label,
        pub_hex,
        domain=domain if explicit else None,
        signing_key_hex=spk_hex,
    )
    if not ok:
        raise OracleError(f"contact {i}: rejected by add_contact (bad key hex?)")
    if label != username or (domain and not explicit):
        # Label differs from the protocol username (CLI `remote_username`),
        # or a domain is given but should count as back-filled.
        from dmp.client.client import Contact

        existing = client.contacts[label]
        client.contacts[label] = Contact(
            username=username,
            public_key_bytes=existing.public_key_bytes,
            signing_key_bytes=existing.signing_key_bytes,
            domain=domain or existing.domain,
            domain_explicit=bool(domain) and bool(explicit),
        )
    return label


def _to_json(value, key=None):
    if isinstance(value, (bytes, bytearray)):
        return bytes(value).hex()
    if isinstance(value, enum.Enum):
        return value.value
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return _fields(value)
    if isinstance(value, (list, tuple)):
        return [_to_json(v) for v in value]
    return value


# Sequence fields whose items are bytes (named with `_hex` even when empty).
_BYTES_SEQ_FIELDS = {"chunk_hashes"}


def _fields(obj) -> dict:
    """Dataclass → dict. Bytes fields get a `_hex` suffix; private fields
    (leading underscore) are skipped."""
    out = {}
    for f in dataclasses.fields(obj):
        if f.name.startswith("_"):
            continue
        v = getattr(obj, f.name)
        if isinstance(v, (bytes, bytearray)) or f.name in _BYTES_SEQ_FIELDS:
            out[f.name + "_hex"] = _to_json(v)
        else:
            out[f.name] = _to_json(v)
    return out


# ---------------------------------------------------------------------------
# Commands


def cmd_derive(req: dict) -> dict:
    crypto = DMPCrypto.from_passphrase(_req(req, "passphrase"), salt=_salt(req))
    pub = crypto.get_public_key_bytes()
    return {
        "x25519_priv_hex": crypto.get_private_key_bytes().hex(),
        "x25519_pub_hex": pub.hex(),
        "ed25519_pub_hex": crypto.get_signing_public_key_bytes().hex(),
        "user_id_hex": hashlib.sha256(pub).hexdigest(),
    }


def cmd_identity(req: dict) -> dict:
    """What `dnsmesh identity publish [--advertise-v2]` publishes."""
    set_now(_int(req, "now"))
    crypto = DMPCrypto.from_passphrase(_req(req, "passphrase"), salt=_salt(req))
    username = _req(req, "username")
    if req.get("versions") is not None:
        versions = tuple(int(v) for v in req["versions"])
    else:
        versions = SUPPORTED_VERSIONS if req.get("advertise_v2") else (1,)
    record = make_record(crypto, username, versions=versions)
    wire = record.sign(crypto)
    if req.get("identity_domain"):
        name = zone_anchored_identity_name(req["identity_domain"])
    else:
        name = identity_domain(username, _req(req, "domain"))
    return {"name": name, "value": wire, "ttl": _int(req, "ttl", 86_400)}


def cmd_make_prekeys(req: dict) -> dict:
    """DMPClient.refresh_prekeys on a fresh in-memory prekey store."""
    set_now(_int(req, "now"))
    store = RecordingStore()
    client = _new_client(req, store)
    count = _int(req, "count", 50)
    ttl = _int(req, "ttl", 86_400)
    store.recording = True
    published = client.refresh_prekeys(count=count, ttl_seconds=ttl)
    store.recording = False
    rows = client.prekey_store._conn.execute(
        "SELECT prekey_id, private_key, exp, wire_record FROM prekeys"
    ).fetchall()
    by_wire = {str(r[3]): r for r in rows}
    secrets_out = []
    for rec in store.published:
        row = by_wire.get(rec["value"])
        if row is None:
            continue
        secrets_out.append(
            {
                "prekey_id": int(row[0]),
                "x25519_priv_hex": bytes(row[1]).hex(),
                "exp": int(row[2]),
                "wire": str(row[3]),
            }
        )
    return {
        "published": published,
        "records": store.published,
        "secrets": secrets_out,
    }


def cmd_send(req: dict) -> dict:
    now = _int(req, "now")
    set_now(now)
    sender = _req(req, "sender")
    recipient = _req(req, "recipient")
    text = _message_text(_hex(_req(req, "text_hex"), "text_hex"))
    ttl = _int(req, "ttl", _client_mod.DEFAULT_TTL_SECONDS)

    store = RecordingStore()
    store.load_world(req.get("records"))
    client = _new_client(sender, store)
    label = _add_contact(client, recipient, 0)
    contact = client.contacts[label]

    pk_wires = req.get("recipient_prekeys") or []
    if pk_wires:
        from dmp.core.prekeys import prekey_rrset_name

        pk_name = prekey_rrset_name(contact.username, contact.domain)
        store.load_world(
            [{"name": pk_name, "value": w, "ttl": req.get("prekey_ttl")} for w in pk_wires]
        )

    if recipient.get("versions") is not None:
        # Shortcut: pre-seed the reference's memo of the recipient's advertised
        # versions instead of serving a recipient identity record. Same key
        # shape as DMPClient._recipient_versions uses.
        raw_user = contact.username.split("@", 1)[0]
        addr = _envelope_mod.canonicalize_address(f"{raw_user}@{contact.domain}")
        if addr is not None:
            pin = contact.signing_key_bytes or contact.public_key_bytes or b""
            client._recipient_versions_cache[(addr, bytes(pin))] = tuple(
                int(v) for v in recipient["versions"]
            )

    # Observe whether the DMPv2 envelope was applied.
    envelope_used = {"v2": False}
    real_encode = _envelope_mod.encode

    def spy_encode(body, *, sender_addr):
        out = real_encode(body, sender_addr=sender_addr)
        envelope_used["v2"] = out != body
        return out

    # Optional determinism knobs.
    restore = []
    if req.get("msg_id_hex") is not None:
        fixed = _hex(req["msg_id_hex"], "msg_id_hex")
        if len(fixed) != 16:
            raise OracleError("msg_id_hex must be 16 bytes")
        real_uuid4 = uuid.uuid4
        uuid.uuid4 = lambda: uuid.UUID(bytes=fixed)
        restore.append(lambda: setattr(uuid, "uuid4", real_uuid4))
    if req.get("prekey_choice_id") is not None:
        want = int(req["prekey_choice_id"])
        real_choice = random.choice

        def pick(seq):
            for item in seq:
                if getattr(item, "prekey_id", None) == want:
                    return item
            raise OracleError(f"prekey_choice_id {want} not among verified prekeys")

        random.choice = pick
        restore.append(lambda: setattr(random, "choice", real_choice))

    providers = [(z, "") for z in (req.get("claim_providers") or [])]
    claim_outcomes: list = []
    recipient_claim: list = []
    _envelope_mod.encode = spy_encode
    _CLAIM_SINK[0] = store
    store.recording = True
    try:
        ok = client.send_message(
            label,
            text,
            ttl=ttl,
            claim_providers=providers,
            claim_outcomes=claim_outcomes,
            claim_writer=store if providers else None,
            recipient_claim_outcome=recipient_claim,
        )
    finally:
        store.recording = False
        _CLAIM_SINK[0] = None
        _envelope_mod.encode = real_encode
        for undo in restore:
            undo()

    out = {
        "ok": bool(ok),
        "records": store.published,
        "envelope": "v2" if envelope_used["v2"] else "v1",
        "claim_outcomes": claim_outcomes,
        "recipient_claim_outcome": recipient_claim,
    }
    for rec in store.published:
        parsed = SlotManifest.parse_and_verify(rec["value"])
        if parsed is not None:
            m, _sig = parsed
            out.update(
                msg_id_hex=m.msg_id.hex(),
                prekey_id=m.prekey_id,
                k=m.data_chunks,
                n=m.total_chunks,
                slot=int.from_bytes(m.msg_id[:4], "big") % _client_mod.SLOT_COUNT,
                manifest_name=rec["name"],
            )
            break
    return out


def _load_prekey_secrets(client: DMPClient, secrets_in, now: int) -> None:
    for i, s in enumerate(secrets_in or []):
        pid = _int(s, "prekey_id")
        sk_raw = _hex(_req(s, "x25519_priv_hex"), f"prekey_secrets[{i}].x25519_priv_hex")
        sk = X25519PrivateKey.from_private_bytes(sk_raw)
        client.prekey_store._conn.execute(
            "INSERT OR REPLACE INTO prekeys "
            "(prekey_id, private_key, public_key, exp, created_at, wire_record) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            (pid, sk_raw, _raw_x25519_pub(sk), _int(s, "exp"), now, s.get("wire") or ""),
        )


def cmd_receive(req: dict) -> dict:
    now = _int(req, "now")
    set_now(now)
    recipient = _req(req, "recipient")
    store = RecordingStore()
    store.load_world(req.get("records"))
    client = _new_client(recipient, store, allow_tofu=req.get("allow_tofu", False))
    for i, c in enumerate(req.get("contacts") or []):
        _add_contact(client, c, i)
    _load_prekey_secrets(client, req.get("prekey_secrets"), now)
    for i, r in enumerate(req.get("replay_seen") or []):
        client.replay_cache.finalize(
            _hex(_req(r, "sender_spk_hex"), f"replay_seen[{i}].sender_spk_hex"),
            _hex(_req(r, "msg_id_hex"), f"replay_seen[{i}].msg_id_hex"),
            _int(r, "exp"),
        )
    for i, b in enumerate(req.get("blocked_spks") or []):
        client.intro_queue.block_sender(_hex(b, f"blocked_spks[{i}]"))

    providers = [(z, "") for z in (req.get("claim_providers") or [])]
    polls = _int(req, "polls", 1)
    delivered = []
    per_poll = []
    store.recording = True
    try:
        for _ in range(polls):
            got = client.receive_messages(
                claim_providers=providers,
                primary_only=bool(req.get("primary_only", False)),
                skip_primary=bool(req.get("skip_primary", False)),
            )
            per_poll.append(len(got))
            for m in got:
                delivered.append(
                    {
                        "text_hex": bytes(m.plaintext).hex(),
                        "sender_spk_hex": bytes(m.sender_signing_pk).hex(),
                        "msg_id_hex": bytes(m.msg_id).hex(),
                        "timestamp": int(m.timestamp),
                        "sender_label": m.sender_label,
                    }
                )
    finally:
        store.recording = False

    quarantined = [
        {
            "sender_spk_hex": bytes(q.sender_spk).hex(),
            "msg_id_hex": bytes(q.msg_id).hex(),
            "text_hex": bytes(q.plaintext).hex(),
            "sender_mailbox_domain": q.sender_mailbox_domain,
            "msg_exp": int(q.msg_exp),
            "sender_label": q.sender_label,
        }
        for q in reversed(client.intro_queue.list_intros())
    ]
    seen = sorted(
        (
            {"sender_spk_hex": k[0].hex(), "msg_id_hex": k[1].hex(), "exp": int(v)}
            for k, v in client.replay_cache._seen.items()
        ),
        key=lambda d: (d["sender_spk_hex"], d["msg_id_hex"]),
    )
    return {
        "delivered": delivered,
        "delivered_per_poll": per_poll,
        "deleted_records": store.deleted,
        "published_records": store.published,
        "remaining_prekey_ids": client.prekey_store.list_live_ids(),
        "quarantined": quarantined,
        "replay_seen": seen,
    }


# ---- parse -----------------------------------------------------------------


def _wire(req: dict) -> str:
    if req.get("wire") is not None:
        if not isinstance(req["wire"], str):
            raise OracleError("wire: expected a string")
        return req["wire"]
    if req.get("wire_hex") is not None:
        # Same lossy decoding the reference's DNS reader applies to TXT data.
        return _hex(req["wire_hex"], "wire_hex").decode("utf-8", "replace")
    raise OracleError("missing field: wire (or wire_hex)")


def _parse_chunk(wire: str, req: dict):
    """Per-value acceptance of DMPClient._fetch_and_decrypt for a chunk."""
    if not wire.startswith("v=dmp"):
        return None
    try:
        rec = DMPDNSRecord.from_txt_record(wire)
    except Exception:
        return None
    if rec.record_type != "chunk":
        return None
    expected = _opt_hex(req, "expected_hash_hex")
    if expected is not None and hashlib.sha256(rec.data).digest() != expected:
        return None
    block = MessageChunker(enable_error_correction=True).unwrap_block(rec.data)
    if block is None:
        return None
    return {
        "data_hex": rec.data.hex(),
        "data_sha256_hex": hashlib.sha256(rec.data).hexdigest(),
        "block_hex": block.hex(),
        "block_len": len(block),
        "erasure_ok": len(block) == MessageChunker.DATA_PER_CHUNK,
    }


def _parse(kind: str, wire: str, req: dict, now: int):
    if kind == "chunk":
        return _parse_chunk(wire, req)
    if kind == "manifest":
        r = SlotManifest.parse_and_verify(wire)
        if r is None:
            return None
        m, sig = r
        f = _fields(m)
        f.update(signature_hex=sig.hex(), expired=m.is_expired(now))
        return f
    if kind == "identity":
        r = IdentityRecord.parse_and_verify(wire)
        if r is None:
            return None
        rec, sig = r
        f = _fields(rec)
        f["signature_hex"] = sig.hex()
        return f
    if kind == "prekey":
        spk = _hex(_req(req, "signer_spk_hex"), "signer_spk_hex")
        r = Prekey.parse_and_verify(wire, spk)
        if r is None:
            return None
        f = _fields(r)
        f["expired"] = r.is_expired(now)
        return f
    if kind == "cluster":
        spk = _hex(_req(req, "operator_spk_hex"), "operator_spk_hex")
        r = ClusterManifest.parse_and_verify(
            wire, spk, now=now, expected_cluster_name=req.get("expected_cluster_name")
        )
        return None if r is None else _fields(r)
    if kind == "bootstrap":
        spk = _hex(_req(req, "signer_spk_hex"), "signer_spk_hex")
        r = BootstrapRecord.parse_and_verify(
            wire, spk, now=now, expected_user_domain=req.get("expected_user_domain")
        )
        return None if r is None else _fields(r)
    if kind == "rotation":
        r = RotationRecord.parse_and_verify(
            wire,
            _opt_hex(req, "expected_old_spk_hex"),
            req.get("expected_subject"),
            now=now,
        )
        return None if r is None else _fields(r)
    if kind == "revocation":
        max_age = req.get("max_age_seconds")
        r = RevocationRecord.parse_and_verify(
            wire,
            _opt_hex(req, "expected_revoked_spk_hex"),
            req.get("expected_subject"),
            now=now,
            max_age_seconds=None if max_age is None else int(max_age),
        )
        return None if r is None else _fields(r)
    if kind in ("claim", "heartbeat"):
        cls = ClaimRecord if kind == "claim" else HeartbeatRecord
        kwargs = {"now": now}
        if req.get("ts_skew_seconds") is not None:
            kwargs["ts_skew_seconds"] = int(req["ts_skew_seconds"])
        r = cls.parse_and_verify(wire, **kwargs)
        return None if r is None else _fields(r)
    raise OracleError(f"unknown parse kind: {kind}")


def cmd_parse(req: dict) -> dict:
    now = _int(req, "now")
    set_now(now)
    kind = _req(req, "kind")
    fields = _parse(kind, _wire(req), req, now)
    if fields is None:
        return {"ok": False, "fields": {}}
    return {"ok": True, "fields": fields}


COMMANDS = {
    "derive": cmd_derive,
    "identity": cmd_identity,
    "make_prekeys": cmd_make_prekeys,
    "send": cmd_send,
    "receive": cmd_receive,
    "parse": cmd_parse,
}


def dispatch(command: str, req) -> dict:
    fn = COMMANDS.get(command)
    if fn is None:
        raise OracleError(f"unknown command: {command}")
    if not isinstance(req, dict):
        raise OracleError("request must be a JSON object")
    try:
        return fn(req)
    finally:
        set_now(None)


def _error_text(exc: BaseException) -> str:
    if isinstance(exc, OracleError):
        return str(exc)
    return f"{type(exc).__name__}: {exc}"


def _one(command: str, req) -> dict:
    """Run one request; never raises (errors become {"error": ...})."""
    try:
        return dispatch(command, req)
    except Exception as exc:  # noqa: BLE001 - reported to the caller
        return {"error": _error_text(exc)}


def main(argv) -> int:
    if len(argv) != 2:
        print(json.dumps({"error": "usage: oracle.py <command>  (JSON on stdin)"}))
        return 2
    command = argv[1]

    if command == "serve":
        for line in sys.stdin:
            line = line.strip()
            if not line:
                continue
            try:
                req = json.loads(line)
                cmd = _req(req, "command")
                resp = _one(cmd, req)
            except Exception as exc:  # noqa: BLE001
                resp = {"error": _error_text(exc)}
            sys.stdout.write(json.dumps(resp, separators=(",", ":")) + "\n")
            sys.stdout.flush()
        return 0

    try:
        req = json.loads(sys.stdin.read() or "{}")
    except ValueError as exc:
        print(json.dumps({"error": f"bad JSON on stdin: {exc}"}))
        return 1

    if command == "batch":
        reqs = req.get("requests") if isinstance(req, dict) else None
        if not isinstance(reqs, list):
            print(json.dumps({"error": "batch: expected {\"requests\": [...]}"}))
            return 1
        out = []
        for r in reqs:
            cmd = r.get("command") if isinstance(r, dict) else None
            out.append(_one(cmd, r) if cmd else {"error": "missing field: command"})
        print(json.dumps({"responses": out}, separators=(",", ":")))
        return 0

    try:
        resp = dispatch(command, req)
    except Exception as exc:  # noqa: BLE001
        print(json.dumps({"error": _error_text(exc)}))
        return 1
    print(json.dumps(resp, separators=(",", ":")))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
