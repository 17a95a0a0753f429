//! Following the other instances on a shared (PostgreSQL) store.
//!
//! Every committed batch is announced on the database's `latchkey_changes` channel. A
//! background thread LISTENs on its own connection and, on each announcement, applies the
//! batches committed since the snapshot (`Directory::catch_up`), so that a key deactivated
//! through one instance stops working on every other within milliseconds. Every
//! [`RECONCILE_EVERY`] it catches up anyway, as the safety net for an announcement missed;
//! after losing the connection it reconnects with backoff and catches up first thing.
//!
//! With the SQLite store there is one instance and nothing to follow.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use latchkey_core::Directory;
use latchkey_store_postgres::{ChangeListener, PostgresStore};

use crate::datadir::StoreLocation;

/// The periodic reconciliation: catch up at least this often.
pub const RECONCILE_EVERY: Duration = Duration::from_secs(2);
/// Backoff between attempts to listen again: doubling from the first to the last.
const BACKOFF_FIRST: Duration = Duration::from_millis(100);
const BACKOFF_MAX: Duration = Duration::from_secs(2);
/// How long the liveness check of an idle listening connection may take.
const CHECK_TIMEOUT: Duration = Duration::from_secs(2);

/// When the follower last caught up with the store, for `/readyz` and the snapshot's age.
#[derive(Debug)]
pub struct Following {
    last_caught_up: Mutex<Option<Instant>>,
    started: Instant,
}

impl Following {
    /// How long since the snapshot was last known to hold every committed batch (since
    /// start-up, when it never was).
    pub fn behind_for(&self) -> Duration {
        let last = *self
            .last_caught_up
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        last.unwrap_or(self.started).elapsed()
    }

    fn caught_up(&self) {
        *self
            .last_caught_up
            .lock()
            .unwrap_or_else(|p| p.into_inner()) = Some(Instant::now());
    }
}

/// Starts following the other instances if the store is shared; a no-op for SQLite.
/// `server::serve` calls it once the directory is open.
pub fn start(directory: &Arc<Directory>, store: &StoreLocation) -> Option<Arc<Following>> {
    let StoreLocation::Postgres(url) = store else {
        return None;
    };
    let following = Arc::new(Following {
        last_caught_up: Mutex::new(None),
        started: Instant::now(),
    });
    let store = match PostgresStore::connect_only(url) {
        Ok(store) => store,
        Err(error) => {
            tracing::error!(%error, "cannot follow the other instances");
            return Some(following);
        }
    };
    let directory = directory.clone();
    let status = following.clone();
    let spawned = std::thread::Builder::new()
        .name("latchkey-follow".into())
        .spawn(move || follow(&directory, &store, &status));
    if let Err(error) = spawned {
        tracing::error!(%error, "cannot start following the other instances");
    }
    Some(following)
}

/// The follower's loop; runs for the life of the process.
fn follow(directory: &Directory, store: &PostgresStore, following: &Following) {
    let mut backoff = BACKOFF_FIRST;
    let mut lost = false;
    loop {
        match store.listen() {
            Ok(mut listener) => {
                if lost {
                    tracing::info!("following the other instances again");
                    lost = false;
                }
                backoff = BACKOFF_FIRST;
                // Whatever committed while nobody was listening.
                catch_up(directory, following);
                if let Err(error) = listen(directory, &mut listener, following) {
                    tracing::warn!(%error, "lost the connection that follows the other instances; reconnecting");
                    lost = true;
                }
            }
            Err(error) => {
                if !lost {
                    tracing::warn!(%error, "cannot listen for the other instances' changes; retrying");
                    lost = true;
                }
                std::thread::sleep(backoff);
                backoff = (backoff * 2).min(BACKOFF_MAX);
            }
        }
    }
}

/// Catches up on every announcement, and every [`RECONCILE_EVERY`] regardless, until the
/// connection fails.
fn listen(
    directory: &Directory,
    listener: &mut ChangeListener,
    following: &Following,
) -> Result<(), latchkey_core::store::StoreError> {
    let mut last = Instant::now();
    loop {
        let announced = listener.wait(RECONCILE_EVERY.saturating_sub(last.elapsed()))?;
        if !announced {
            // Quiet: make sure the silence is not a dead connection.
            listener.check(CHECK_TIMEOUT)?;
        }
        catch_up(directory, following);
        last = Instant::now();
    }
}

fn catch_up(directory: &Directory, following: &Following) {
    match directory.catch_up() {
        Ok(()) => following.caught_up(),
        Err(error) => {
            // The store logged the cause; the next announcement or reconciliation retries.
            tracing::debug!(
                code = error.code.as_str(),
                "could not catch up with the store"
            );
        }
    }
}
