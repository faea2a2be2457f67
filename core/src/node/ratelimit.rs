//! Token-bucket rate limiting with injected time (REFERENCE-NODE.md §7).
//!
//! Each key has a bucket that refills at `rate` tokens per second up to
//! `burst`; a request costs one token; a new key starts full; at most
//! `max_tracked` keys are kept (least recently used evicted); a rate or burst
//! of 0 disables the limiter.

use alloc::collections::BTreeMap;

/// A bucket's parameters.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Rate {
    /// Tokens added per second.
    pub per_sec: f64,
    /// Bucket size.
    pub burst: f64,
}

impl Rate {
    /// Build from per-second rate and burst.
    pub const fn new(per_sec: f64, burst: f64) -> Self {
        Rate { per_sec, burst }
    }
    /// The limiter is on only when both are positive.
    pub fn enabled(&self) -> bool {
        self.per_sec > 0.0 && self.burst > 0.0
    }
}

/// DNS queries per source IP (UDP and TCP each): 50/s, burst 200.
pub const DNS_PER_IP: Rate = Rate::new(50.0, 200.0);
/// `/v1/records/*` and `/v1/sync/*` per source IP: 10/s, burst 100.
pub const HTTP_PER_IP: Rate = Rate::new(10.0, 100.0);
/// Registration routes per source IP (one shared bucket): 5/h, burst 5.
pub const REGISTRATION_PER_IP: Rate = Rate::new(5.0 / 3600.0, 5.0);
/// Per issued bearer token: 10/s, burst 50.
pub const PER_TOKEN: Rate = Rate::new(10.0, 50.0);
/// Unsigned claim UPDATEs per recipient hash12: 0.5/s, burst 30.
pub const CLAIM_PER_RECIPIENT: Rate = Rate::new(0.5, 30.0);
/// Keys tracked before LRU eviction.
pub const MAX_TRACKED: usize = 10_000;

#[derive(Clone, Debug)]
struct Bucket {
    tokens: f64,
    last_ms: u64,
    seq: u64,
}

/// A per-key token-bucket limiter. Time is passed in (milliseconds on any
/// monotonic clock); a clock going backwards refills nothing.
#[derive(Clone, Debug)]
pub struct RateLimiter<K: Ord + Clone> {
    rate: Rate,
    max_tracked: usize,
    buckets: BTreeMap<K, Bucket>,
    lru: BTreeMap<u64, K>,
    seq: u64,
}

impl<K: Ord + Clone> RateLimiter<K> {
    /// A limiter with one rate for every key and the default key cap.
    pub fn new(rate: Rate) -> Self {
        Self::with_capacity(rate, MAX_TRACKED)
    }

    /// A limiter that tracks at most `max_tracked` keys (at least 1).
    pub fn with_capacity(rate: Rate, max_tracked: usize) -> Self {
        RateLimiter {
            rate,
            max_tracked: max_tracked.max(1),
            buckets: BTreeMap::new(),
            lru: BTreeMap::new(),
            seq: 0,
        }
    }

    /// Whether the limiter is on.
    pub fn enabled(&self) -> bool {
        self.rate.enabled()
    }

    /// Spend one token for `key` at `now_ms` with the limiter's rate.
    pub fn allow(&mut self, key: &K, now_ms: u64) -> bool {
        let rate = self.rate;
        self.allow_with(key, now_ms, rate)
    }

    /// Spend one token with a per-key rate (per-token limits carry their
    /// own rate and burst). A disabled rate always allows and tracks nothing.
    pub fn allow_with(&mut self, key: &K, now_ms: u64, rate: Rate) -> bool {
        if !rate.enabled() {
            return true;
        }
        self.seq = self.seq.wrapping_add(1);
        let seq = self.seq;
        let (tokens, last_ms, old_seq) = match self.buckets.get(key) {
            Some(b) => (b.tokens, b.last_ms, Some(b.seq)),
            None => (rate.burst, now_ms, None),
        };
        if let Some(s) = old_seq {
            self.lru.remove(&s);
        }
        let elapsed = now_ms.saturating_sub(last_ms) as f64 / 1000.0;
        let refilled = (tokens + elapsed * rate.per_sec).min(rate.burst);
        let allowed = refilled >= 1.0;
        let left = if allowed { refilled - 1.0 } else { refilled };
        self.buckets.insert(
            key.clone(),
            Bucket {
                tokens: left,
                last_ms: now_ms.max(last_ms),
                seq,
            },
        );
        self.lru.insert(seq, key.clone());
        while self.buckets.len() > self.max_tracked {
            match self.lru.pop_first() {
                Some((_, k)) => {
                    self.buckets.remove(&k);
                }
                None => break,
            }
        }
        allowed
    }

    /// Drop a key's bucket (e.g. on token revocation).
    pub fn forget(&mut self, key: &K) {
        if let Some(b) = self.buckets.remove(key) {
            self.lru.remove(&b.seq);
        }
    }

    /// Keys currently tracked.
    pub fn len(&self) -> usize {
        self.buckets.len()
    }

    /// No keys tracked.
    pub fn is_empty(&self) -> bool {
        self.buckets.is_empty()
    }
}
