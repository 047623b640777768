//! The commit window: how the owner forms a batch under load. A durable write costs the same for
//! one change as for fifty (one fsync), so when other registrations are on their way (connections
//! accepted whose request has not reached the owner yet) the owner waits a little for them before
//! writing — PostgreSQL's `commit_delay`, with its `commit_siblings` condition. A registration
//! alone never waits.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use tokio::sync::{Notify, mpsc};

/// How long the owner may hold a batch open for registrations on their way, and how many are.
#[derive(Clone, Debug, Default)]
pub struct CommitWindow {
    /// The longest wait (zero: write every batch at once).
    delay: Duration,
    shared: Arc<Shared>,
}

#[derive(Debug, Default)]
struct Shared {
    /// Connections accepted whose registration has not been handed to the owner yet.
    arriving: AtomicUsize,
    /// Told when `arriving` falls to zero (everyone is in: the batch need not wait longer).
    all_in: Notify,
}

impl CommitWindow {
    /// A window of `delay` (zero turns it off).
    pub fn new(delay: Duration) -> CommitWindow {
        CommitWindow { delay, shared: Arc::default() }
    }

    /// Counts a connection that may soon ask for a registration, until [`Arriving::arrived`] or
    /// its drop.
    pub fn arriving(&self) -> Arriving {
        self.shared.arriving.fetch_add(1, Ordering::AcqRel);
        Arriving { shared: Arc::clone(&self.shared), done: AtomicBool::new(false) }
    }

    /// Connections counted and not arrived.
    pub fn on_their_way(&self) -> usize {
        self.shared.arriving.load(Ordering::Acquire)
    }

    /// Adds to `batch` what arrives within the window, when `writing` and other registrations are
    /// on their way: it sleeps until the window ends or nobody else is on the way (one wake-up, not
    /// one per arrival), then takes what is queued, up to `most` in all.
    pub async fn gather<T>(&self, rx: &mut mpsc::Receiver<T>, batch: &mut Vec<T>, writing: bool, most: usize) {
        if self.delay.is_zero() || !writing || self.on_their_way() == 0 {
            return;
        }
        let all_in = self.shared.all_in.notified();
        tokio::pin!(all_in);
        // Registered before the count is read again, so that the last arrival cannot slip between.
        all_in.as_mut().enable();
        if self.on_their_way() > 0 {
            let _ = tokio::time::timeout(self.delay, all_in).await;
        }
        while batch.len() < most {
            match rx.try_recv() {
                Ok(command) => batch.push(command),
                Err(_) => break,
            }
        }
    }
}

/// A connection counted by a [`CommitWindow`] as on its way.
#[derive(Debug)]
pub struct Arriving {
    shared: Arc<Shared>,
    done: AtomicBool,
}

impl Arriving {
    /// Its registration is about to be handed to the owner (or it has none): no longer waited
    /// for. Only the first call counts.
    pub fn arrived(&self) {
        if !self.done.swap(true, Ordering::AcqRel) && self.shared.arriving.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.shared.all_in.notify_waiters();
        }
    }
}

impl Drop for Arriving {
    fn drop(&mut self) {
        self.arrived();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_connection_counts_until_it_arrives_or_ends_once() {
        let window = CommitWindow::new(Duration::from_millis(2));
        let a = window.arriving();
        let b = window.arriving();
        assert_eq!(window.on_their_way(), 2);
        a.arrived();
        a.arrived();
        assert_eq!(window.on_their_way(), 1);
        drop(a);
        assert_eq!(window.on_their_way(), 1);
        drop(b);
        assert_eq!(window.on_their_way(), 0);
    }

    #[tokio::test(start_paused = true)]
    async fn the_owner_waits_only_for_registrations_on_their_way() {
        let window = CommitWindow::new(Duration::from_millis(5));
        let (tx, mut rx) = mpsc::channel(16);
        // Nobody on the way: no wait at all.
        let mut batch = vec![0];
        let started = tokio::time::Instant::now();
        window.gather(&mut rx, &mut batch, true, 16).await;
        assert_eq!((batch.len(), started.elapsed()), (1, Duration::ZERO));
        // One on the way: it is waited for, and the batch is written as soon as it is in.
        let coming = window.arriving();
        let sender = tx.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(1)).await;
            sender.send(1).await.unwrap();
            coming.arrived();
        });
        window.gather(&mut rx, &mut batch, true, 16).await;
        assert_eq!(batch, [0, 1]);
        assert!(started.elapsed() < Duration::from_millis(5), "{:?}", started.elapsed());
        // One on the way that never asks: the window ends the wait.
        let _idle = window.arriving();
        let started = tokio::time::Instant::now();
        window.gather(&mut rx, &mut batch, true, 16).await;
        assert_eq!((batch.len(), started.elapsed()), (2, Duration::from_millis(5)));
        // A batch that only reads, or a window of zero, never waits.
        window.gather(&mut rx, &mut batch, false, 16).await;
        CommitWindow::new(Duration::ZERO).gather(&mut rx, &mut batch, true, 16).await;
        assert_eq!(started.elapsed(), Duration::from_millis(5));
    }
}
