//! WAL checkpoints off the commit path.
//!
//! SQLite's automatic checkpoint runs inside the commit that crosses the
//! threshold, so every few thousand writes one commit (and every writer
//! queued behind it) waits while pages are copied into the database file
//! and it is fsynced. [`Checkpointer`] copies them from its own connection
//! and thread instead (a PASSIVE checkpoint never blocks the writer or the
//! readers). The writer keeps a much larger automatic threshold
//! ([`WAL_BACKSTOP_PAGES`]) as a backstop: under sustained writes a passive
//! checkpoint rarely catches up with the last frame, and only a checkpoint
//! that does lets the WAL start over, so the backstop bounds its size.

use rusqlite::Connection;
use std::path::Path;
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::Duration;

/// How often the background checkpoint runs.
const INTERVAL: Duration = Duration::from_millis(200);

/// The writer's `wal_autocheckpoint` (pages of 4 KiB, so 64 MiB): reached
/// only when the background checkpoints fall behind.
pub(super) const WAL_BACKSTOP_PAGES: i64 = 16_384;

/// The checkpoint thread; dropping it stops and joins the thread.
pub(super) struct Checkpointer {
    stop: Option<mpsc::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl Checkpointer {
    /// Start checkpointing the database at `path` every [`INTERVAL`], with
    /// the same `synchronous` setting as the writer (it decides the fsync
    /// of the database file after a checkpoint). `None` if the connection
    /// or thread cannot be had; SQLite's automatic checkpoint then does
    /// the work, just on the commit path.
    pub(super) fn start(path: &Path, synchronous: &str) -> Option<Self> {
        let conn = match Connection::open(path).and_then(|c| {
            c.pragma_update(None, "synchronous", synchronous)
                .map(|()| c)
        }) {
            Ok(c) => c,
            Err(e) => {
                tracing::warn!(error = %e, "no background checkpoint connection");
                return None;
            }
        };
        let (stop, stopped) = mpsc::channel::<()>();
        let thread = std::thread::Builder::new()
            .name("dmp-checkpoint".into())
            .spawn(move || {
                while let Err(mpsc::RecvTimeoutError::Timeout) = stopped.recv_timeout(INTERVAL) {
                    if let Err(e) = conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(()))
                    {
                        tracing::warn!(error = %e, "background WAL checkpoint failed");
                    }
                }
            });
        match thread {
            Ok(t) => Some(Checkpointer {
                stop: Some(stop),
                thread: Some(t),
            }),
            Err(e) => {
                tracing::warn!(error = %e, "no background checkpoint thread");
                None
            }
        }
    }
}

impl Drop for Checkpointer {
    fn drop(&mut self) {
        self.stop = None;
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}
