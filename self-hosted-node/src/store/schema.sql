-- dmp-rs records schema, version 1 (PRAGMA user_version = 1).
--
-- Shared by the self-hosted node (SQLite via rusqlite) and the edge node
-- (Cloudflare D1): run it as is; every statement is idempotent. Connection
-- settings (WAL, synchronous) are not here because D1 manages its own.
--
-- Table and column names are those of the reference node's records DB
-- (dnsmesh 0.7.5), so a database written by the reference opens unchanged
-- and the anti-entropy digest orders rows the same way on every node.
--
-- Differences in meaning from the reference (both are refinements, not
-- format changes):
--   * `name` is always ASCII lower-case (the reference keeps the case it was
--     given, REFERENCE-NODE.md 13.1 R5); opening an older DB folds it.
--   * `stored_ts` is strictly increasing within one store (unix ms of local
--     arrival, bumped by 1 ms when two writes land in the same ms), so it is
--     a usable sync cursor on its own; the (stored_ts, name, value_hash)
--     cursor keeps working unchanged.

CREATE TABLE IF NOT EXISTS records (
    name       TEXT NOT NULL,              -- owner name, ASCII lower-case
    value      TEXT NOT NULL,              -- one TXT value (strings joined)
    ttl        INTEGER NOT NULL,           -- seconds, as published
    created_at INTEGER NOT NULL,           -- unix seconds of the last publish
    expires_at INTEGER NOT NULL,           -- created_at + ttl; live iff > now
    stored_ts  INTEGER NOT NULL DEFAULT 0, -- unix ms of local arrival (cursor)
    value_hash TEXT NOT NULL DEFAULT '',   -- lower-case hex sha256(UTF-8 value)
    PRIMARY KEY (name, value)
);
CREATE INDEX IF NOT EXISTS idx_records_expires   ON records(expires_at);
CREATE INDEX IF NOT EXISTS idx_records_page      ON records(stored_ts, name, value_hash);
-- The reference also keeps idx_records_name (name) and idx_records_stored_ts
-- (stored_ts). Both are prefixes of an index above (the primary key's and
-- idx_records_page), so the planner never needs them; each one only costs
-- a random B-tree insert and its WAL pages on every publish (dropping them
-- raised durable publish throughput by about a fifth). A reference
-- database opened here loses them; the reference re-creates them if it
-- opens the file again.
DROP INDEX IF EXISTS idx_records_name;
DROP INDEX IF EXISTS idx_records_stored_ts;
