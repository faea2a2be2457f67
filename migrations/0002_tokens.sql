-- Edge node (D1) migration 2: per-user bearer tokens and pending
-- registration challenges (multi-tenant mode, REFERENCE-NODE.md §3.1, §3.4).
--
-- `tokens` uses the reference node's token-store column names. Only
-- sha256(token) is stored. `registered_spk` is the Ed25519 key that
-- registered a self-service token (NULL for operator-issued ones) and drives
-- the anti-takeover rule. The self-hosted node keeps challenges in memory;
-- a Worker has no memory that outlives a request, so they live here, each
-- single use (deleted on confirm) and swept by the cron trigger.

CREATE TABLE IF NOT EXISTS tokens (
    token_hash     TEXT PRIMARY KEY,
    subject        TEXT NOT NULL,
    subject_type   INTEGER NOT NULL DEFAULT 0,
    subject_hash12 TEXT,
    rate_per_sec   REAL    NOT NULL DEFAULT 10.0,
    rate_burst     INTEGER NOT NULL DEFAULT 50,
    issued_at      INTEGER NOT NULL,
    expires_at     INTEGER,
    revoked_at     INTEGER,
    issuer         TEXT NOT NULL DEFAULT '',
    note           TEXT NOT NULL DEFAULT '',
    registered_spk TEXT
);
CREATE INDEX IF NOT EXISTS idx_tokens_subject ON tokens(subject);

CREATE TABLE IF NOT EXISTS registration_challenges (
    challenge     TEXT PRIMARY KEY,      -- 64 hex, as issued
    node          TEXT NOT NULL,         -- DMP_NODE_HOSTNAME at issue time
    expires_at    INTEGER NOT NULL,      -- unix seconds
    server_secret TEXT NOT NULL,         -- 64 hex X25519 secret (PoP)
    server_pub    TEXT NOT NULL          -- 64 hex X25519 public key
);
CREATE INDEX IF NOT EXISTS idx_challenges_expires ON registration_challenges(expires_at);
