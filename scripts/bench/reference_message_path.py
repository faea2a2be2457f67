#!/usr/bin/env python3
"""Benchmark of the Python reference's (dnsmesh 0.7.5) message path.

Run with the reference's interpreter:
    $DMP_REFERENCE_PYTHON scripts/bench/reference_message_path.py \
        [--iterations N] [--warmup W] [--sizes 1024,20480] [--ops send,receive]

Prints one JSON object per line, e.g.
    {"impl":"reference","op":"send","size":1024,"iterations":200,
     "us_per_msg":1834.2,"us_median":1790.5,"us_min":1702.0}

Operations (all on the reference's InMemoryDNSStore, long-term-key path,
v1 plaintext, one recipient, clock pinned so nothing expires):
  send          DMPClient.send_message: AAD + seal (X25519/HKDF/ChaCha20-
                Poly1305) + zfec erasure + per-chunk RS + chunk records +
                signed manifest + M10 claim record, all published into a
                fresh in-memory store. Key derivation is NOT included
                (clients are built once).
  receive       The decode half for one message already in the store:
                SlotManifest.parse_and_verify of the manifest value, then
                DMPClient._fetch_and_decrypt (fetch k chunks from memory,
                hash check, RS decode, checksum, zfec decode, header
                parse/checks, AAD rebuild, decrypt, envelope strip).
  receive_poll  A whole DMPClient.receive_messages() call that delivers that
                one message: claim poll of own zone (10 names), slot walk of
                2 zones (20 names) and the decode above, with a fresh replay
                cache per iteration (not timed).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time

NOW = 2_000_000_000
_REAL_TIME = time.time
# Pin the clock before `dmp` is imported; the benchmark timer uses
# time.perf_counter, which is not touched.
time.time = lambda: float(NOW)

from dmp.client import client as client_mod  # noqa: E402
from dmp.client.client import DMPClient  # noqa: E402
from dmp.core.manifest import ReplayCache, SlotManifest  # noqa: E402
from dmp.network.memory import InMemoryDNSStore  # noqa: E402

_CLAIM_STORE = [None]


def _claim_into_store(*, zone, target, name, wire, ttl, resolver_pool=None):
    # Replaces the reference's un-TSIG'd DNS UPDATE (a UDP round trip) for
    # the M10 claim with a write into the same in-memory store.
    return _CLAIM_STORE[0].publish_txt_record(name, wire, ttl=int(ttl))


client_mod._publish_claim_via_dns_update = _claim_into_store


def make_client(username, passphrase, domain, store):
    return DMPClient(
        username,
        passphrase,
        domain=domain,
        store=store,
        kdf_salt=bytes(range(16)),
        prekey_store_path=":memory:",
        intro_queue_path=":memory:",
    )


def timed(fn, iterations, warmup, setup=None):
    samples = []
    for i in range(warmup + iterations):
        if setup is not None:
            setup()
        t0 = time.perf_counter()
        fn()
        dt = time.perf_counter() - t0
        if i >= warmup:
            samples.append(dt * 1e6)
    return samples


def emit(op, size, samples):
    print(
        json.dumps(
            {
                "impl": "reference",
                "op": op,
                "size": size,
                "iterations": len(samples),
                "us_per_msg": round(statistics.fmean(samples), 1),
                "us_median": round(statistics.median(samples), 1),
                "us_min": round(min(samples), 1),
            },
            separators=(",", ":"),
        )
    )
    sys.stdout.flush()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument(
        "--iterations",
        type=int,
        default=0,
        help="timed iterations per (op, size); 0 = auto (100 up to 4 KiB, else 20)",
    )
    ap.add_argument("--warmup", type=int, default=5)
    ap.add_argument("--sizes", default="1024,20480")
    ap.add_argument(
        "--ops", default="send,receive,receive_poll", help="comma-separated subset"
    )
    args = ap.parse_args()
    sizes = [int(s) for s in args.sizes.split(",") if s]
    ops = set(args.ops.split(","))

    store = InMemoryDNSStore()
    alice = make_client("alice", "alice passphrase", "a.example", store)
    bob = make_client("bob", "bob passphrase", "b.example", store)
    alice.add_contact(
        "bob",
        bob.get_public_key_hex(),
        domain="b.example",
        signing_key_hex=bob.get_signing_public_key_hex(),
    )
    bob.add_contact(
        "alice",
        alice.get_public_key_hex(),
        domain="a.example",
        signing_key_hex=alice.get_signing_public_key_hex(),
    )

    for size in sizes:
        text = "a" * size
        iters = args.iterations or (100 if size <= 4096 else 20)

        if "send" in ops:

            def fresh_store():
                s = InMemoryDNSStore()
                alice.writer = alice.reader = s
                _CLAIM_STORE[0] = s

            def do_send():
                if not alice.send_message("bob", text):
                    raise RuntimeError("send_message returned False")

            emit("send", size, timed(do_send, iters, args.warmup, fresh_store))

        # One message in a store both clients see, for the receive side.
        s = InMemoryDNSStore()
        alice.writer = alice.reader = bob.writer = bob.reader = s
        _CLAIM_STORE[0] = s
        if not alice.send_message("bob", text):
            raise RuntimeError("send_message returned False")
        manifest_wire = next(
            v
            for name in s.list_names()
            if name.startswith("slot-")
            for v in s.query_txt_record(name)
        )

        if "receive" in ops:

            def do_receive():
                parsed = SlotManifest.parse_and_verify(manifest_wire)
                if parsed is None:
                    raise RuntimeError("manifest did not verify")
                out = bob._fetch_and_decrypt(parsed[0], source_zone="a.example")
                if out is None or len(out[0]) != size:
                    raise RuntimeError("decode failed")

            emit("receive", size, timed(do_receive, iters, args.warmup))

        if "receive_poll" in ops:

            def fresh_replay():
                bob.replay_cache = ReplayCache()

            def do_poll():
                got = bob.receive_messages()
                if len(got) != 1 or len(got[0].plaintext) != size:
                    raise RuntimeError(f"expected 1 delivery, got {len(got)}")

            emit(
                "receive_poll",
                size,
                timed(do_poll, iters, args.warmup, fresh_replay),
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
