//! Failure lockout per source address (DESIGN §7.6): after `max` failed password attempts from one
//! address within `window`, its connections are closed at once for `duration`. Every failure is
//! counted under one lock, so concurrent failing attempts all count; an attempt already in flight
//! when the lock starts is answered normally.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Beyond this many tracked addresses, entries whose window has passed are dropped.
const PRUNE_AT: usize = 10_000;

#[derive(Debug)]
struct Entry {
    window_start: Instant,
    failures: u32,
    locked_until: Option<Instant>,
}

/// The lockout state of every address that failed recently.
#[derive(Debug)]
pub struct Lockout {
    max: u32,
    window: Duration,
    duration: Duration,
    entries: Mutex<HashMap<IpAddr, Entry>>,
}

impl Lockout {
    /// `max` failures (0 disables) within `window` lock an address for `duration`.
    pub fn new(max: u32, window: Duration, duration: Duration) -> Lockout {
        Lockout { max, window, duration, entries: Mutex::new(HashMap::new()) }
    }

    /// Whether connections from `ip` are refused now.
    pub fn is_locked(&self, ip: IpAddr) -> bool {
        if self.max == 0 {
            return false;
        }
        let Ok(mut entries) = self.entries.lock() else { return false };
        match entries.get(&ip).and_then(|e| e.locked_until) {
            Some(until) if Instant::now() < until => true,
            Some(_) => {
                entries.remove(&ip);
                false
            }
            None => false,
        }
    }

    /// Counts a failed attempt from `ip`; returns true when it starts a lockout.
    pub fn failure(&self, ip: IpAddr) -> bool {
        if self.max == 0 {
            return false;
        }
        let Ok(mut entries) = self.entries.lock() else { return false };
        let now = Instant::now();
        if entries.len() >= PRUNE_AT {
            entries.retain(|_, e| {
                e.locked_until.is_some_and(|t| now < t) || now.duration_since(e.window_start) < self.window
            });
        }
        let entry = entries.entry(ip).or_insert(Entry { window_start: now, failures: 0, locked_until: None });
        if entry.locked_until.is_some() {
            return false;
        }
        if now.duration_since(entry.window_start) >= self.window {
            *entry = Entry { window_start: now, failures: 0, locked_until: None };
        }
        entry.failures += 1;
        if entry.failures >= self.max {
            entry.locked_until = Some(now + self.duration);
            return true;
        }
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locks_after_max_failures_in_the_window() {
        let ip: IpAddr = "192.0.2.7".parse().unwrap();
        let other: IpAddr = "192.0.2.8".parse().unwrap();
        let l = Lockout::new(3, Duration::from_secs(60), Duration::from_millis(200));
        assert!(!l.failure(ip) && !l.failure(ip));
        assert!(!l.is_locked(ip));
        assert!(l.failure(ip), "the third failure locks");
        assert!(l.is_locked(ip) && !l.is_locked(other));
        std::thread::sleep(Duration::from_millis(250));
        assert!(!l.is_locked(ip), "the lock expires");
        assert!(!Lockout::new(0, Duration::from_secs(1), Duration::from_secs(1)).failure(ip), "0 disables");
    }

    #[test]
    fn concurrent_failures_all_count() {
        let ip: IpAddr = "192.0.2.9".parse().unwrap();
        let l = std::sync::Arc::new(Lockout::new(50, Duration::from_secs(60), Duration::from_secs(60)));
        let threads: Vec<_> = (0..10)
            .map(|_| {
                let l = std::sync::Arc::clone(&l);
                std::thread::spawn(move || (0..5).filter(|_| l.failure(ip)).count())
            })
            .collect();
        let locks: usize = threads.into_iter().map(|t| t.join().unwrap()).sum();
        assert_eq!(locks, 1, "exactly one failure, the 50th, starts the lock");
        assert!(l.is_locked(ip));
    }
}
