//! Resolver pool: failover, cooldown and lying-resolver demotion
//! (PROTOCOL.md §9), as decisions only. The front end owns the sockets.
//!
//! Upstreams are indexes into the caller's list, in priority order. A host
//! is *cooling* while it has `failure_threshold` consecutive failures and
//! its last failure is younger than `cooldown_secs`; cooling hosts are
//! tried after every healthy one, oldest failure first, and never dropped.
//!
//! One name is resolved by a [`Lookup`]: ask [`ResolverPool::next`] which
//! upstream to query, report its [`Reply`], repeat until it says
//! [`Step::Done`]. The rules:
//!
//! * the first answer holding a DMP value (`v=dmp1;…`) wins;
//! * a transport error demotes the host at once;
//! * NXDOMAIN / NODATA, or an answer with no DMP value (a rewriting or
//!   lying resolver), is not held against a host unless a later host
//!   answers the same name with DMP values: then every earlier such host is
//!   demoted (the "oracle" rule);
//! * when every host that answered agrees the name is absent, those hosts
//!   count as healthy.
//!
//! Unlike the reference, a not-found answer from a healthy host ends the
//! lookup without asking the cooling hosts: they are suspected down or
//! lying, and asking a dead host for each of the ~30 absent names of a
//! receive poll would stall it. Cooling hosts are still asked when no
//! healthy host gave an answer at all.

use alloc::vec::Vec;

use alloc::string::String;

/// The prefix every DMP TXT value starts with.
const DMP_PREFIX: &str = "v=dmp1;";

/// Tuning of a pool; the reference's defaults.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PoolConfig {
    /// Seconds a demoted host stays behind the healthy ones.
    pub cooldown_secs: u64,
    /// Consecutive failures that demote a host (1 = fail fast).
    pub failure_threshold: u32,
}

impl Default for PoolConfig {
    fn default() -> Self {
        PoolConfig {
            cooldown_secs: 60,
            failure_threshold: 1,
        }
    }
}

/// Health bookkeeping of one upstream.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct HostHealth {
    pub consecutive_failures: u32,
    /// Time of the last failure, if any.
    pub last_failure: Option<u64>,
    /// Lifetime counters, for `doctor`/`resolvers list` style output.
    pub failures: u64,
    pub successes: u64,
    /// Times this host was disproven by a later host (lying or stale).
    pub lies: u64,
}

/// What one upstream said about one name.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Reply {
    /// TXT values, each with its strings joined (possibly none).
    Answer(Vec<String>),
    /// NXDOMAIN or NOERROR without TXT data.
    NotFound,
    /// Timeout, refused connection, SERVFAIL/REFUSED, malformed reply, or an
    /// answer that failed a required check (DNSSEC AD bit).
    Failed,
}

/// The next move of a lookup.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Step {
    /// Query this upstream (index into the pool) and report its reply.
    Query(usize),
    /// Finished: the values found (empty = the name holds no DMP data, or
    /// no upstream could answer).
    Done(Vec<String>),
}

/// Failover, cooldown and demotion state over `n` upstreams.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ResolverPool {
    hosts: Vec<HostHealth>,
    config: PoolConfig,
}

/// The state of resolving one name; see the module docs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Lookup {
    order: Vec<usize>,
    /// How many of `order` are healthy (the rest are cooling).
    healthy: usize,
    pos: usize,
    /// Hosts that said not-found (or gave no DMP value) so far.
    doubted: Vec<usize>,
    /// Some host gave a real answer (not a transport failure).
    answered: bool,
    /// The upstream a reply is awaited from.
    waiting: Option<usize>,
    done: bool,
}

/// True when at least one value looks like a DMP record.
pub fn has_dmp_value(values: &[String]) -> bool {
    values.iter().any(|v| v.starts_with(DMP_PREFIX))
}

impl ResolverPool {
    /// A pool over `n` upstreams with the default tuning.
    pub fn new(n: usize) -> Self {
        Self::with_config(n, PoolConfig::default())
    }

    pub fn with_config(n: usize, config: PoolConfig) -> Self {
        ResolverPool {
            hosts: alloc::vec![HostHealth::default(); n],
            config,
        }
    }

    pub fn len(&self) -> usize {
        self.hosts.len()
    }

    pub fn is_empty(&self) -> bool {
        self.hosts.is_empty()
    }

    /// Health of upstream `i`.
    pub fn health(&self, i: usize) -> Option<&HostHealth> {
        self.hosts.get(i)
    }

    /// True while upstream `i` is demoted behind the healthy ones.
    pub fn is_cooling(&self, i: usize, now: u64) -> bool {
        self.hosts.get(i).is_some_and(|h| {
            h.consecutive_failures >= self.config.failure_threshold.max(1)
                && h.last_failure
                    .is_some_and(|t| now.saturating_sub(t) < self.config.cooldown_secs)
        })
    }

    /// Upstreams in the order a lookup tries them: healthy ones in priority
    /// order, then cooling ones by oldest failure; and how many are healthy.
    pub fn order(&self, now: u64) -> (Vec<usize>, usize) {
        let (mut healthy, mut cooling): (Vec<usize>, Vec<usize>) =
            (0..self.hosts.len()).partition(|&i| !self.is_cooling(i, now));
        cooling.sort_by_key(|&i| self.hosts.get(i).and_then(|h| h.last_failure).unwrap_or(0));
        let n = healthy.len();
        healthy.append(&mut cooling);
        (healthy, n)
    }

    /// Start resolving one name.
    pub fn begin(&self, now: u64) -> Lookup {
        let (order, healthy) = self.order(now);
        Lookup {
            order,
            healthy,
            pos: 0,
            doubted: Vec::new(),
            answered: false,
            waiting: None,
            done: false,
        }
    }

    fn fail(&mut self, i: usize, now: u64) {
        if let Some(h) = self.hosts.get_mut(i) {
            h.consecutive_failures = h.consecutive_failures.saturating_add(1);
            h.last_failure = Some(now);
            h.failures = h.failures.saturating_add(1);
        }
    }

    fn succeed(&mut self, i: usize) {
        if let Some(h) = self.hosts.get_mut(i) {
            h.consecutive_failures = 0;
            h.successes = h.successes.saturating_add(1);
        }
    }

    /// Drive `lookup`: pass `None` first, then the reply of the upstream the
    /// previous step named. A reply from any other upstream is ignored.
    pub fn next(&mut self, lookup: &mut Lookup, reply: Option<Reply>, now: u64) -> Step {
        if lookup.done {
            return Step::Done(Vec::new());
        }
        if let (Some(i), Some(reply)) = (lookup.waiting.take(), reply) {
            match reply {
                Reply::Answer(values) if has_dmp_value(&values) => {
                    for liar in core::mem::take(&mut lookup.doubted) {
                        self.fail(liar, now);
                        if let Some(h) = self.hosts.get_mut(liar) {
                            h.lies = h.lies.saturating_add(1);
                        }
                    }
                    self.succeed(i);
                    lookup.done = true;
                    return Step::Done(values);
                }
                Reply::Answer(_) | Reply::NotFound => {
                    lookup.answered = true;
                    lookup.doubted.push(i);
                }
                Reply::Failed => self.fail(i, now),
            }
        }
        // Cooling hosts only when no healthy host could answer at all.
        let limit = if lookup.answered {
            lookup.healthy
        } else {
            lookup.order.len()
        };
        if lookup.pos < limit
            && let Some(&i) = lookup.order.get(lookup.pos)
        {
            lookup.pos += 1;
            lookup.waiting = Some(i);
            return Step::Query(i);
        }
        // Everyone who answered agrees the name is absent: healthy answers.
        // A host demoted meanwhile (by a concurrent lookup's oracle) keeps
        // its cooldown; clearing it here would undo the demotion.
        for i in core::mem::take(&mut lookup.doubted) {
            if self.is_cooling(i, now) {
                if let Some(h) = self.hosts.get_mut(i) {
                    h.successes = h.successes.saturating_add(1);
                }
            } else {
                self.succeed(i);
            }
        }
        lookup.done = true;
        Step::Done(Vec::new())
    }
}
