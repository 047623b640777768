//! Failure lockout per source (DESIGN §7.6): after `max` failed password attempts from one source
//! within `window`, its connections are refused for `duration`.
//!
//! The count is taken where the password is evaluated, not only at accept: an attempt first
//! reserves one of the source's remaining guesses ([`Lockout::begin`]), so connections opened and
//! handshaken in advance, then fired together, still get at most `max` guesses evaluated. A correct
//! password clears the source's count (so a NAT of legitimate agents is not locked out by a few
//! typos), and sources in `exempt` are never counted.
//!
//! A source is an IPv4 address, or the /64 prefix of an IPv6 address (one host usually holds a
//! whole /64).

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::sources::{Cidr, source_key};

/// Beyond this many tracked sources, entries whose window has passed are dropped.
const PRUNE_AT: usize = 10_000;

#[derive(Debug)]
struct Entry {
    window_start: Instant,
    failures: u32,
    in_flight: u32,
    locked_until: Option<Instant>,
}

/// The lockout state of every source that failed recently.
#[derive(Debug)]
pub struct Lockout {
    max: u32,
    window: Duration,
    duration: Duration,
    exempt: Vec<Cidr>,
    entries: Mutex<HashMap<IpAddr, Entry>>,
}

/// One password evaluation in progress; tell it how it went ([`Attempt::failed`],
/// [`Attempt::succeeded`]). Dropped without either, it frees its reservation uncounted.
#[must_use = "report the outcome of the attempt"]
#[derive(Debug)]
pub struct Attempt<'l> {
    lockout: &'l Lockout,
    /// None: not counted (lockout off, or an exempt source).
    key: Option<IpAddr>,
}

impl Lockout {
    /// `max` failures (0 disables) within `window` lock a source for `duration`; `exempt` sources
    /// are never locked.
    pub fn new(max: u32, window: Duration, duration: Duration, exempt: Vec<Cidr>) -> Lockout {
        Lockout { max, window, duration, exempt, entries: Mutex::new(HashMap::new()) }
    }

    fn counted(&self, ip: IpAddr) -> Option<IpAddr> {
        (self.max > 0 && !self.exempt.iter().any(|c| c.contains(ip))).then(|| source_key(ip))
    }

    /// Whether connections from `ip` are refused now (checked at accept, to drop them early).
    pub fn is_locked(&self, ip: IpAddr) -> bool {
        let Some(key) = self.counted(ip) else { return false };
        let Ok(entries) = self.entries.lock() else { return false };
        entries.get(&key).and_then(|e| e.locked_until).is_some_and(|until| Instant::now() < until)
    }

    /// Reserves one guess for `ip` before its password is evaluated; `None` means the source is
    /// locked out, or its remaining guesses are all being evaluated already: refuse without
    /// evaluating.
    pub fn begin(&self, ip: IpAddr) -> Option<Attempt<'_>> {
        let Some(key) = self.counted(ip) else { return Some(Attempt { lockout: self, key: None }) };
        let Ok(mut entries) = self.entries.lock() else { return None };
        let now = Instant::now();
        if entries.len() >= PRUNE_AT {
            entries.retain(|_, e| {
                e.in_flight > 0
                    || e.locked_until.is_some_and(|t| now < t)
                    || now.duration_since(e.window_start) < self.window
            });
        }
        let entry =
            entries.entry(key).or_insert(Entry { window_start: now, failures: 0, in_flight: 0, locked_until: None });
        match entry.locked_until {
            Some(until) if now < until => return None,
            Some(_) => {
                entry.locked_until = None;
                entry.failures = 0;
                entry.window_start = now;
            }
            None => {}
        }
        if now.duration_since(entry.window_start) >= self.window {
            entry.window_start = now;
            entry.failures = 0;
        }
        if entry.failures.saturating_add(entry.in_flight) >= self.max {
            return None;
        }
        entry.in_flight += 1;
        Some(Attempt { lockout: self, key: Some(key) })
    }

    fn finish(&self, key: IpAddr, outcome: Option<bool>) -> bool {
        let Ok(mut entries) = self.entries.lock() else { return false };
        let Some(entry) = entries.get_mut(&key) else { return false };
        entry.in_flight = entry.in_flight.saturating_sub(1);
        match outcome {
            Some(true) => {
                entry.failures += 1;
                if entry.failures >= self.max && entry.locked_until.is_none() {
                    entry.locked_until = Some(Instant::now() + self.duration);
                    return true;
                }
            }
            Some(false) if entry.locked_until.is_none() => entry.failures = 0,
            _ => {}
        }
        false
    }
}

impl Attempt<'_> {
    /// The password was wrong; returns true when this failure starts a lockout.
    pub fn failed(mut self) -> bool {
        self.key.take().is_some_and(|key| self.lockout.finish(key, Some(true)))
    }

    /// The password was right: the source's failures are forgotten.
    pub fn succeeded(mut self) {
        if let Some(key) = self.key.take() {
            self.lockout.finish(key, Some(false));
        }
    }
}

impl Drop for Attempt<'_> {
    fn drop(&mut self) {
        if let Some(key) = self.key.take() {
            self.lockout.finish(key, None);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lockout(max: u32, duration: Duration) -> Lockout {
        Lockout::new(max, Duration::from_secs(60), duration, Vec::new())
    }

    #[test]
    fn locks_after_max_failures_in_the_window() {
        let ip: IpAddr = "192.0.2.7".parse().unwrap();
        let other: IpAddr = "192.0.2.8".parse().unwrap();
        let l = lockout(3, Duration::from_millis(200));
        assert!(!l.begin(ip).unwrap().failed() && !l.begin(ip).unwrap().failed());
        assert!(!l.is_locked(ip));
        assert!(l.begin(ip).unwrap().failed(), "the third failure locks");
        assert!(l.is_locked(ip) && !l.is_locked(other));
        assert!(l.begin(ip).is_none(), "no guess is evaluated while locked");
        std::thread::sleep(Duration::from_millis(250));
        assert!(!l.is_locked(ip), "the lock expires");
        assert!(l.begin(ip).is_some());
        let off = lockout(0, Duration::from_secs(1));
        assert!((0..100).all(|_| !off.begin(ip).unwrap().failed()), "0 disables");
    }

    #[test]
    fn guesses_in_flight_count_before_they_fail() {
        let ip: IpAddr = "192.0.2.9".parse().unwrap();
        let l = lockout(10, Duration::from_secs(60));
        // 500 attempts that all reach the password check before any of them has failed.
        let attempts: Vec<_> = (0..500).filter_map(|_| l.begin(ip)).collect();
        assert_eq!(attempts.len(), 10, "only max guesses are evaluated");
        let locks = attempts.into_iter().map(Attempt::failed).filter(|&locked| locked).count();
        assert_eq!(locks, 1);
        assert!(l.is_locked(ip) && l.begin(ip).is_none());
    }

    #[test]
    fn concurrent_failures_all_count() {
        let ip: IpAddr = "192.0.2.10".parse().unwrap();
        let l = std::sync::Arc::new(lockout(50, Duration::from_secs(60)));
        let threads: Vec<_> = (0..10)
            .map(|_| {
                let l = std::sync::Arc::clone(&l);
                std::thread::spawn(move || (0..20).filter(|_| l.begin(ip).is_some_and(Attempt::failed)).count())
            })
            .collect();
        let locks: usize = threads.into_iter().map(|t| t.join().unwrap()).sum();
        assert_eq!(locks, 1, "exactly one failure, the 50th, starts the lock");
        assert!(l.is_locked(ip));
    }

    #[test]
    fn success_clears_and_exempt_sources_are_never_counted() {
        let ip: IpAddr = "192.0.2.11".parse().unwrap();
        let l = lockout(3, Duration::from_secs(60));
        assert!(!l.begin(ip).unwrap().failed() && !l.begin(ip).unwrap().failed());
        l.begin(ip).unwrap().succeeded();
        assert!(!l.begin(ip).unwrap().failed() && !l.begin(ip).unwrap().failed(), "the count restarted");
        drop(l.begin(ip).unwrap());
        assert!(!l.is_locked(ip), "an attempt dropped without outcome is not a failure");

        let nat =
            Lockout::new(1, Duration::from_secs(60), Duration::from_secs(60), vec!["192.0.2.0/24".parse().unwrap()]);
        assert!((0..20).all(|_| !nat.begin(ip).unwrap().failed()));
        assert!(!nat.is_locked(ip));
    }

    #[test]
    fn an_ipv6_64_is_one_source() {
        let l = lockout(2, Duration::from_secs(60));
        assert!(!l.begin("2001:db8::1".parse().unwrap()).unwrap().failed());
        assert!(l.begin("2001:db8::ffff:1".parse().unwrap()).unwrap().failed());
        assert!(l.is_locked("2001:db8::2".parse().unwrap()));
        assert!(!l.is_locked("2001:db8:0:1::2".parse().unwrap()));
    }
}
