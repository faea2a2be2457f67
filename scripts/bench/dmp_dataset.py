#!/usr/bin/env python3
"""Writes the record set and query mix of scripts/bench/dns-qps.sh.

A DMP-shaped data set under one zone, deterministic for a given --seed:

* per user: an identity record `id-<h16>.<zone>` (one value), a prekey pool
  `prekeys.id-<h12>.<zone>` (--prekeys values of 162 bytes);
* per message: a slot manifest `slot-<n>.mb-<h12>.<zone>` (one value over
  255 bytes, so it goes out as two character-strings) and --chunks chunk
  records `chunk-<iiii>-<key12>.<zone>` (241-byte values, the size every
  real chunk has).

Values carry the real wire prefixes with random base64 payloads (the nodes
store them without verifying signatures, so they serve the same bytes).

Outputs, in --out:
  records.tsv   name<TAB>value per line (what the HTTP loaders publish)
  queries.txt   dnsperf input: `<name> TXT` lines, the mix below, shuffled
  zone.db       the same records as an RFC 1035 zone file for NSD

Query mix (per 100): 50 chunk, 15 manifest, 10 identity, 5 prekey pool,
20 names that do not exist (empty slots and chunks past the end: NXDOMAIN),
which is what a polling receiver asks.

Only the standard library; run with any Python 3.
"""

import argparse
import base64
import hashlib
import os
import random


def b64(rng, nbytes):
    return base64.b64encode(rng.randbytes(nbytes)).decode()


def h(data):
    return hashlib.sha256(data).hexdigest()


def split255(value):
    raw = value.encode()
    return [raw[i : i + 255].decode() for i in range(0, len(raw), 255)] or [""]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", required=True)
    ap.add_argument("--zone", default="mesh.test")
    ap.add_argument("--users", type=int, default=100)
    ap.add_argument("--messages", type=int, default=300)
    ap.add_argument("--chunks", type=int, default=4)
    ap.add_argument("--prekeys", type=int, default=4)
    ap.add_argument("--queries", type=int, default=20000)
    ap.add_argument("--seed", type=int, default=7)
    a = ap.parse_args()
    rng = random.Random(a.seed)
    zone = a.zone.rstrip(".").lower()

    records = []  # (name, value)
    ident, pools, manifests, chunks, missing = [], [], [], [], []
    users = [f"user{i}" for i in range(a.users)]
    for u in users:
        hu = h(u.encode())
        n = f"id-{hu[:16]}.{zone}"
        # identity: prefix (20) + base64 of 168 bytes (224) = 244 bytes.
        records.append((n, "v=dmp1;t=identity;d=" + b64(rng, 168)))
        ident.append(n)
        p = f"prekeys.id-{hu[:12]}.{zone}"
        for _ in range(a.prekeys):
            # prekey: prefix (18) + 144 base64 characters = 162 bytes.
            records.append((p, "v=dmp1;t=prekey;d=" + b64(rng, 108)))
        pools.append(p)
    for m in range(a.messages):
        recipient = users[rng.randrange(len(users))]
        h12 = h(h(recipient.encode()).encode())[:12]
        slot = rng.randrange(10)
        mn = f"slot-{slot}.mb-{h12}.{zone}"
        # manifest: prefix (20) + 320 base64 characters = 340 bytes, two strings.
        records.append((mn, "v=dmp1;t=manifest;d=" + b64(rng, 240)))
        manifests.append(mn)
        key = h(f"msg{m}".encode())[:12]
        for i in range(a.chunks):
            cn = f"chunk-{i:04d}-{key}.{zone}"
            records.append((cn, "v=dmp1;t=chunk;d=" + b64(rng, 168)))
            chunks.append(cn)
        missing.append(f"chunk-{a.chunks:04d}-{key}.{zone}")
        missing.append(f"slot-{(slot + 1) % 10}.mb-{h12}.{zone}")
    # A name may hold several manifests (two messages in one slot): dedupe.
    manifests = sorted(set(manifests))
    live = {n for n, _ in records}
    missing = sorted(set(n for n in missing if n not in live))

    mix = [(chunks, 50), (manifests, 15), (ident, 10), (pools, 5), (missing, 20)]
    queries = []
    for names, share in mix:
        k = a.queries * share // 100
        queries.extend(names[rng.randrange(len(names))] for _ in range(k))
    rng.shuffle(queries)

    os.makedirs(a.out, exist_ok=True)
    with open(os.path.join(a.out, "records.tsv"), "w") as f:
        for n, v in records:
            f.write(f"{n}\t{v}\n")
    with open(os.path.join(a.out, "queries.txt"), "w") as f:
        for n in queries:
            f.write(f"{n} TXT\n")
    with open(os.path.join(a.out, "zone.db"), "w") as f:
        f.write(f"$ORIGIN {zone}.\n$TTL 60\n")
        f.write(f"@ IN SOA ns1.{zone}. hostmaster.{zone}. 1 3600 600 604800 60\n")
        f.write(f"@ IN NS ns1.{zone}.\nns1 IN A 127.0.0.1\n")
        for n, v in records:
            strings = " ".join(f'"{s}"' for s in split255(v))
            f.write(f"{n}. 60 IN TXT {strings}\n")
    print(
        f"{len(records)} records on {len(live)} names; {len(queries)} queries "
        f"({len(missing)} missing names)"
    )


if __name__ == "__main__":
    main()
