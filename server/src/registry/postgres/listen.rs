//! Keeps a node current with the others: LISTEN on the registry's channel, and a timer.
//!
//! A notification (another node committed a batch) or a tick asks the owner to refresh, which
//! reads every change newer than the last one it saw — so a notification lost with a dropped
//! connection costs at most one refresh interval. The listening connection is re-opened with a
//! back-off while the database is away, and a refresh follows each reconnection.

use std::time::Duration;

use tokio::sync::{mpsc, watch};
use tokio_postgres::AsyncMessage;
use tracing::{info, warn};

use super::{CHANNEL, DbTls, describe};
use crate::registry::owner::Handle;

/// Starts the listener; it ends when `stop` turns true.
pub fn spawn(
    pg: tokio_postgres::Config,
    tls: DbTls,
    node: String,
    registry: Handle,
    every: Duration,
    mut stop: watch::Receiver<bool>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut backoff = Duration::from_millis(200);
        let mut was_down = false;
        loop {
            let session = listen(&pg, &tls, &node, &registry, every, &mut was_down);
            tokio::select! {
                () = session => {}
                _ = stop.wait_for(|s| *s) => return,
            }
            tokio::select! {
                () = tokio::time::sleep(backoff) => {}
                _ = stop.wait_for(|s| *s) => return,
            }
            backoff = (backoff * 2).min(Duration::from_secs(5));
        }
    })
}

/// One listening connection, until it fails.
async fn listen(
    pg: &tokio_postgres::Config,
    tls: &DbTls,
    node: &str,
    registry: &Handle,
    every: Duration,
    was_down: &mut bool,
) {
    let (messages, mut incoming) = mpsc::unbounded_channel();
    let client = match tls.connect(pg, messages).await {
        Ok(client) => client,
        Err(e) => {
            if !*was_down {
                warn!(
                    "registry database {}: cannot listen for changes: {}; retrying",
                    describe(pg),
                    super::error_text(&e)
                );
                *was_down = true;
            }
            return;
        }
    };
    let (tx, mut rx) = mpsc::unbounded_channel();
    let driver = tokio::spawn(async move {
        while let Some(message) = incoming.recv().await {
            match message {
                Ok(AsyncMessage::Notification(n)) => {
                    if tx.send(n.payload().to_owned()).is_err() {
                        return;
                    }
                }
                Ok(_) => {}
                Err(e) => {
                    warn!("registry database: the listening connection failed: {e}");
                    return;
                }
            }
        }
    });
    if let Err(e) = client.batch_execute(&format!("LISTEN {CHANNEL}")).await {
        warn!("registry database: LISTEN failed: {e}");
        driver.abort();
        return;
    }
    if *was_down {
        info!("registry database {}: listening for changes again", describe(pg));
        *was_down = false;
    }
    // Whatever happened while not listening.
    registry.refresh();
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            payload = rx.recv() => {
                let Some(mut payload) = payload else { break };
                // Many notifications at once make one refresh; this node's own commits none.
                let mut others = payload != node;
                while let Ok(more) = rx.try_recv() {
                    payload = more;
                    others |= payload != node;
                }
                if others {
                    registry.refresh();
                }
            }
            _ = tick.tick() => registry.refresh(),
        }
    }
    driver.abort();
}
