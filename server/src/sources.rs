//! Who a connection comes from: the key that per-source limits count under, address ranges for
//! allow-lists, and the per-source connection bound.
//!
//! A source is an IPv4 address, or the /64 prefix of an IPv6 address (one host usually holds a
//! whole /64, so counting single IPv6 addresses would let it open connections without bound).

use std::collections::HashMap;
use std::fmt;
use std::net::{IpAddr, Ipv6Addr};
use std::str::FromStr;
use std::sync::{Arc, Mutex};

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// The key a source is counted under: IPv4 as is (IPv4-mapped IPv6 unwrapped), IPv6 cut to /64.
pub fn source_key(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(_) => ip,
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => IpAddr::V6(Ipv6Addr::from(v6.to_bits() & !u128::from(u64::MAX))),
        },
    }
}

/// An address range `ADDR/PREFIX` (or a single address), for allow-lists in the configuration.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Cidr {
    network: IpAddr,
    prefix: u8,
}

impl Cidr {
    /// Whether `ip` is in the range (IPv4-mapped IPv6 addresses count as IPv4).
    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
            v4 => v4,
        };
        match (self.network, ip) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                let mask = u32::MAX.checked_shl(32 - u32::from(self.prefix)).unwrap_or(0);
                net.to_bits() & mask == ip.to_bits() & mask
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                let mask = u128::MAX.checked_shl(128 - u32::from(self.prefix)).unwrap_or(0);
                net.to_bits() & mask == ip.to_bits() & mask
            }
            _ => false,
        }
    }
}

impl FromStr for Cidr {
    type Err = String;

    fn from_str(text: &str) -> Result<Cidr, String> {
        let (addr, prefix) = text.split_once('/').map_or((text, None), |(a, p)| (a, Some(p)));
        let network: IpAddr =
            addr.parse().map_err(|_| format!("'{text}': expected an IPv4 or IPv6 address, optionally with /prefix"))?;
        let max = if network.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            None => max,
            Some(p) => p
                .parse::<u8>()
                .ok()
                .filter(|&p| p <= max)
                .ok_or_else(|| format!("'{text}': the prefix must be a number from 0 to {max}"))?,
        };
        Ok(Cidr { network, prefix })
    }
}

impl fmt::Display for Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.network, self.prefix)
    }
}

impl Serialize for Cidr {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Cidr {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Cidr, D::Error> {
        let text = String::deserialize(d)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

/// Open connections per source, bounded so that one source cannot take every slot.
#[derive(Debug)]
pub struct PerSource {
    limit: usize,
    open: Mutex<HashMap<IpAddr, usize>>,
}

/// One connection counted against its source; dropping it frees the place.
#[derive(Debug)]
pub struct SourceSlot {
    owner: Arc<PerSource>,
    key: IpAddr,
}

impl PerSource {
    /// At most `limit` open connections per source.
    pub fn new(limit: usize) -> Arc<PerSource> {
        Arc::new(PerSource { limit, open: Mutex::new(HashMap::new()) })
    }

    /// A place for one more connection from `ip`, or `None` when the source holds `limit` already.
    pub fn acquire(self: &Arc<Self>, ip: IpAddr) -> Option<SourceSlot> {
        let key = source_key(ip);
        let mut open = self.open.lock().ok()?;
        let count = open.entry(key).or_insert(0);
        if *count >= self.limit {
            return None;
        }
        *count += 1;
        Some(SourceSlot { owner: Arc::clone(self), key })
    }
}

impl Drop for SourceSlot {
    fn drop(&mut self) {
        if let Ok(mut open) = self.owner.open.lock()
            && let Some(count) = open.get_mut(&self.key)
        {
            *count -= 1;
            if *count == 0 {
                open.remove(&self.key);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges() {
        let lan: Cidr = "10.0.0.0/8".parse().unwrap();
        assert!(lan.contains("10.1.2.3".parse().unwrap()));
        assert!(lan.contains("::ffff:10.1.2.3".parse().unwrap()));
        assert!(!lan.contains("11.0.0.1".parse().unwrap()));
        let one: Cidr = "2001:db8::1".parse().unwrap();
        assert!(one.contains("2001:db8::1".parse().unwrap()) && !one.contains("2001:db8::2".parse().unwrap()));
        assert!("0.0.0.0/0".parse::<Cidr>().unwrap().contains("1.2.3.4".parse().unwrap()));
        assert!("10.0.0.0/33".parse::<Cidr>().unwrap_err().contains("0 to 32"));
        assert!("host/8".parse::<Cidr>().is_err());
    }

    #[test]
    fn per_source_bound() {
        let limits = PerSource::new(2);
        let a: IpAddr = "192.0.2.1".parse().unwrap();
        let (s1, s2) = (limits.acquire(a).unwrap(), limits.acquire(a).unwrap());
        assert!(limits.acquire(a).is_none());
        assert!(limits.acquire("192.0.2.2".parse().unwrap()).is_some());
        assert!(limits.acquire("::ffff:192.0.2.1".parse().unwrap()).is_none(), "mapped IPv4 is the same source");
        drop(s1);
        assert!(limits.acquire(a).is_some());
        drop(s2);
        let v6 = limits.acquire("2001:db8::1".parse().unwrap()).unwrap();
        let _v6b = limits.acquire("2001:db8::2".parse().unwrap()).unwrap();
        assert!(limits.acquire("2001:db8::3".parse().unwrap()).is_none(), "one /64 is one source");
        drop(v6);
    }
}
