//! The clock enrollment bearers and token lifetimes are checked against.
//!
//! `AGENTKEYS_BEARER_CLOCK=<epoch seconds>` fixes it, so that frozen test vectors (bearers issued
//! at a known time) can be checked by a real server; unset, it is the system clock. Agents'
//! registration times always come from the system clock.

use std::sync::OnceLock;

/// Now, in seconds since the epoch, for bearer and token checks.
pub fn bearer_now() -> i64 {
    static FIXED: OnceLock<Option<i64>> = OnceLock::new();
    let fixed = FIXED.get_or_init(|| std::env::var("AGENTKEYS_BEARER_CLOCK").ok().and_then(|v| v.parse().ok()));
    fixed.unwrap_or_else(crate::localtime::now)
}
