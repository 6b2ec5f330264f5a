//! One pulse per instance for the live streams: while anyone listens, a single task reads the
//! newest incident and derivation ids every quarter of a second and wakes every stream on this
//! instance when they move, so a new incident reaches each console within a fraction of a
//! second — however many consoles are open — without each stream asking the database that
//! often. The database stays the only truth: the pulse only says "look", and each stream then
//! reads what its own reader may see; an incident created on any instance moves the ids every
//! instance reads.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use atiende_store::Store;
use tokio::sync::watch;

/// How often the newest ids are read while someone listens.
pub const EVERY: Duration = Duration::from_millis(250);

pub struct Pulse {
    tx: watch::Sender<(i64, i64)>,
    running: AtomicBool,
}

impl Default for Pulse {
    fn default() -> Self {
        Pulse {
            tx: watch::channel((0, 0)).0,
            running: AtomicBool::new(false),
        }
    }
}

impl Pulse {
    /// A receiver woken when the newest ids move; starts the reading task if none runs.
    pub fn subscribe(self: &Arc<Self>, store: &Store) -> watch::Receiver<(i64, i64)> {
        let rx = self.tx.subscribe();
        if self
            .running
            .compare_exchange(false, true, Ordering::AcqRel, Ordering::Acquire)
            .is_ok()
        {
            let (pulse, store) = (self.clone(), store.clone());
            tokio::spawn(async move { pulse.beat(store).await });
        }
        rx
    }

    async fn beat(self: Arc<Self>, store: Store) {
        loop {
            tokio::time::sleep(EVERY).await;
            if self.tx.receiver_count() == 0 {
                // Nobody listens: stop, unless someone subscribed meanwhile and found it
                // running.
                self.running.store(false, Ordering::Release);
                if self.tx.receiver_count() == 0
                    || self
                        .running
                        .compare_exchange(false, true, Ordering::AcqRel, Ordering::Acquire)
                        .is_err()
                {
                    return;
                }
            }
            match store.newest_ids().await {
                Ok(ids) => {
                    self.tx.send_if_modified(|now| {
                        let moved = *now != ids;
                        *now = ids;
                        moved
                    });
                }
                Err(e) => tracing::debug!(error = %e, "pulse: cannot read the newest ids"),
            }
        }
    }
}
