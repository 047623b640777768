//! The accept (or receive) step of every listener: on an error such as EMFILE, log it and pause
//! briefly instead of spinning, and keep serving.

use std::time::Duration;

use tracing::warn;

/// Pause after a failed accept.
const BACK_OFF: Duration = Duration::from_millis(50);

/// The accepted value, or `None` after logging the error (`what: accept failed: …`) and pausing.
pub async fn or_back_off<T>(accepted: std::io::Result<T>, what: &str) -> Option<T> {
    match accepted {
        Ok(value) => Some(value),
        Err(e) => {
            warn!("{what}: accept failed: {e}");
            tokio::time::sleep(BACK_OFF).await;
            None
        }
    }
}
