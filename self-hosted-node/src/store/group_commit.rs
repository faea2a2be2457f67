//! Group commit: many concurrent writes share one transaction (one fsync).
//!
//! With `synchronous=FULL` every commit waits for an fsync of the WAL, so a
//! write per transaction caps the node at roughly one write per disk flush.
//! [`GroupCommit`] runs one committer thread that takes every write queued
//! since its last commit (up to [`MAX_BATCH`]) and applies them together
//! through [`Store::apply_each`]. Each caller still gets its own outcome,
//! and only after the commit that holds its write: an acknowledged write is
//! exactly as durable as with one transaction per write. While a commit is
//! flushing, new writes queue up and form the next batch, so batches grow
//! with load and a lone write is committed at once (no added wait).

use super::{Op, Outcome, Store, StoreError, lock, unix_now_ms};
use dmp_core::node::publish::{Limits, RrsetState, check_rrset_cap};
use std::collections::{HashMap, HashSet};
use std::fmt;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::thread::JoinHandle;
use tokio::sync::{mpsc, oneshot};

/// Most writes in one transaction: bounds the time the writer lock is held
/// and the size of one commit.
pub const MAX_BATCH: usize = 1024;

/// Writes waiting for the committer; a full queue makes callers wait
/// (back-pressure) instead of growing memory without bound.
const QUEUE: usize = 4 * MAX_BATCH;

/// An owned write for the committer ([`Op`] without the borrows). Names are
/// folded by the store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Write {
    /// Append `value` at `name`, or refresh its TTL if it is already there.
    Publish {
        name: String,
        value: String,
        ttl: u32,
    },
    /// Delete one value; absent is not an error.
    DeleteValue { name: String, value: String },
    /// Delete every value of a name.
    DeleteName { name: String },
}

impl Write {
    fn as_op(&self) -> Op<'_> {
        match self {
            Write::Publish { name, value, ttl } => Op::Publish {
                name,
                value,
                ttl: *ttl,
            },
            Write::DeleteValue { name, value } => Op::DeleteValue { name, value },
            Write::DeleteName { name } => Op::DeleteName { name },
        }
    }
}

/// Why one write of [`Store::apply_each`] or [`GroupCommit::write`] was not
/// applied.
#[derive(Debug)]
pub enum WriteError {
    /// A publish of a new value at a name that already held `cap` live
    /// values when its transaction ran (the per-name cap, checked at commit
    /// so concurrent publishes cannot overshoot it).
    RrsetFull { cap: usize },
    /// SQLite refused the write (alone in its own transaction).
    Store(StoreError),
    /// The committer stopped or failed before answering; the write may or
    /// may not have been committed.
    Unavailable,
}

impl fmt::Display for WriteError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            WriteError::RrsetFull { cap } => write!(f, "the name already holds {cap} values"),
            WriteError::Store(e) => e.fmt(f),
            WriteError::Unavailable => f.write_str("the store's committer is not running"),
        }
    }
}

impl std::error::Error for WriteError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            WriteError::Store(e) => Some(e),
            _ => None,
        }
    }
}

/// The live values of the names a batch touches, as the batch goes: seeded
/// from the index on first touch, then changed by each accepted op, so the
/// cap sees the writes ahead of it in the same transaction.
struct CapView<'a> {
    store: &'a Store,
    now_s: u64,
    limits: Limits,
    names: HashMap<String, HashSet<Arc<str>>>,
}

impl<'a> CapView<'a> {
    fn new(store: &'a Store, now_ms: u64, max_values_per_name: usize) -> Self {
        CapView {
            store,
            now_s: now_ms / 1000,
            limits: Limits {
                max_values_per_name,
                ..Limits::default()
            },
            names: HashMap::new(),
        }
    }

    fn values(&mut self, name: &str) -> &mut HashSet<Arc<str>> {
        let name = super::normalize_name(name).into_owned();
        let (store, now_s) = (self.store, self.now_s);
        self.names.entry(name).or_insert_with_key(|n| {
            store
                .read()
                .rows_of(n)
                .iter()
                .filter(|e| e.expires_at > now_s)
                .map(|e| Arc::clone(&e.value))
                .collect()
        })
    }

    /// `Err` if `op` is a publish over the cap; otherwise records its effect.
    fn admit(&mut self, op: &Op<'_>) -> Result<(), WriteError> {
        let cap = self.limits.max_values_per_name;
        if cap == 0 {
            return Ok(());
        }
        match *op {
            Op::Publish { name, value, .. } => {
                let limits = self.limits;
                let values = self.values(name);
                let state = RrsetState {
                    count: values.len(),
                    contains_value: values.contains(value),
                };
                check_rrset_cap(name, state, &limits).map_err(|_| WriteError::RrsetFull { cap })?;
                values.insert(value.into());
            }
            Op::DeleteValue { name, value } => {
                self.values(name).remove(value);
            }
            Op::DeleteName { name } => {
                self.values(name).clear();
            }
        }
        Ok(())
    }
}

impl Store {
    /// Apply `ops` in order, each with its own result, committing as many
    /// as possible in one transaction; returns after the commit, one result
    /// per op.
    ///
    /// A publish of a new value at a name that already holds
    /// `max_values_per_name` live values (counting the ops before it) is
    /// refused with [`WriteError::RrsetFull`] (0 disables the cap). The
    /// check runs under the writer lock, so no other write can slip in
    /// between check and commit. If the shared transaction fails, every op
    /// is retried in its own transaction, so one bad op fails alone.
    pub fn apply_each(
        &self,
        ops: &[Op<'_>],
        now_ms: u64,
        max_values_per_name: usize,
    ) -> Vec<Result<Outcome, WriteError>> {
        let mut w = lock(&self.writer);
        let mut view = CapView::new(self, now_ms, max_values_per_name);
        let admitted: Vec<Result<(), WriteError>> = ops.iter().map(|op| view.admit(op)).collect();
        drop(view);
        let batch: Vec<Op<'_>> = ops
            .iter()
            .zip(&admitted)
            .filter(|(_, a)| a.is_ok())
            .map(|(op, _)| *op)
            .collect();
        match self.apply_locked(&mut w, &batch, now_ms) {
            Ok(outcomes) => {
                let mut outcomes = outcomes.into_iter();
                admitted
                    .into_iter()
                    .map(|a| match a {
                        Ok(()) => outcomes.next().ok_or(WriteError::Unavailable),
                        Err(e) => Err(e),
                    })
                    .collect()
            }
            Err(e) => {
                tracing::warn!(error = %e, ops = batch.len(), "group commit failed, applying its writes one by one");
                // Start over: the cap is checked against what the single
                // transactions before each op really committed.
                ops.iter()
                    .map(|op| {
                        CapView::new(self, now_ms, max_values_per_name).admit(op)?;
                        match self.apply_locked(&mut w, std::slice::from_ref(op), now_ms) {
                            Ok(mut out) => out.pop().ok_or(WriteError::Unavailable),
                            Err(e) => Err(WriteError::Store(e)),
                        }
                    })
                    .collect()
            }
        }
    }
}

/// One queued write and where its result goes.
struct Job {
    write: Write,
    done: oneshot::Sender<Result<Outcome, WriteError>>,
}

/// The committer thread and its queue. Writes submitted through
/// [`GroupCommit::write`] are batched as described in the module docs.
/// Dropping it lets the thread commit what is still queued, then joins it.
pub struct GroupCommit {
    store: Arc<Store>,
    max_values_per_name: usize,
    queue: Option<mpsc::Sender<Job>>,
    thread: Option<JoinHandle<()>>,
}

impl GroupCommit {
    /// Start the committer over `store`, enforcing `max_values_per_name`
    /// (0: no cap) at commit. If the thread cannot be started, writes run
    /// one transaction each on tokio's blocking pool instead.
    pub fn spawn(store: Arc<Store>, max_values_per_name: usize) -> Self {
        let (tx, rx) = mpsc::channel(QUEUE);
        let s = Arc::clone(&store);
        let thread = std::thread::Builder::new()
            .name("dmp-commit".into())
            .spawn(move || run(&s, rx, max_values_per_name));
        let (queue, thread) = match thread {
            Ok(t) => (Some(tx), Some(t)),
            Err(e) => {
                tracing::error!(error = %e, "cannot start the group-commit thread; committing each write alone");
                (None, None)
            }
        };
        GroupCommit {
            store,
            max_values_per_name,
            queue,
            thread,
        }
    }

    /// Queue `write` and wait for the commit that holds it. `Ok` means
    /// committed (durable as the store's [`super::Durability`] promises).
    pub async fn write(&self, write: Write) -> Result<Outcome, WriteError> {
        let Some(queue) = &self.queue else {
            let store = Arc::clone(&self.store);
            let cap = self.max_values_per_name;
            return tokio::task::spawn_blocking(move || {
                store
                    .apply_each(&[write.as_op()], unix_now_ms(), cap)
                    .pop()
                    .unwrap_or(Err(WriteError::Unavailable))
            })
            .await
            .unwrap_or(Err(WriteError::Unavailable));
        };
        let (done, result) = oneshot::channel();
        queue
            .send(Job { write, done })
            .await
            .map_err(|_| WriteError::Unavailable)?;
        result.await.unwrap_or(Err(WriteError::Unavailable))
    }
}

impl Drop for GroupCommit {
    fn drop(&mut self) {
        // Closing the queue ends the thread once it has drained it.
        self.queue = None;
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// The committer loop: block for one write, take whatever else is queued,
/// commit it all, answer everyone, repeat until the queue closes.
fn run(store: &Store, mut rx: mpsc::Receiver<Job>, max_values_per_name: usize) {
    let mut batch: Vec<Job> = Vec::with_capacity(MAX_BATCH);
    while let Some(first) = rx.blocking_recv() {
        batch.push(first);
        while batch.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        let results = catch_unwind(AssertUnwindSafe(|| {
            let ops: Vec<Op<'_>> = batch.iter().map(|j| j.write.as_op()).collect();
            store.apply_each(&ops, unix_now_ms(), max_values_per_name)
        }));
        match results {
            Ok(results) => {
                for (job, result) in batch.drain(..).zip(results) {
                    // The caller may have gone (client hung up): its write
                    // is committed all the same.
                    let _ = job.done.send(result);
                }
            }
            Err(_) => {
                // Dropping the jobs answers their callers `Unavailable`.
                tracing::error!(writes = batch.len(), "group commit panicked");
                batch.clear();
            }
        }
    }
}
