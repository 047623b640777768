//! Time intervals written as upstream writes them: `3600`, `1h`, `30m`, `2d`, `0x10s`.

use std::fmt;

use serde::de::{self, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A number of seconds. In TOML an integer, or a string in upstream's syntax (`get_time_interval`):
/// an unsigned integer (`0x` hexadecimal and leading-`0` octal accepted, as `strtoul(…, 0)` does)
/// optionally followed by exactly one of `s`, `m`, `h`, `d`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Interval(u64);

impl Interval {
    /// `secs` seconds.
    #[must_use]
    pub const fn from_secs(secs: u64) -> Self {
        Interval(secs)
    }

    /// In seconds.
    #[must_use]
    pub const fn as_secs(self) -> u64 {
        self.0
    }

    /// Parses upstream's syntax; the error says what is wrong.
    ///
    /// # Errors
    /// Empty text, a sign, an unknown unit, trailing text, or overflow.
    pub fn parse(text: &str) -> Result<Self, String> {
        let text = text.trim();
        let invalid = || format!("invalid interval {text:?}: expected a number with an optional s, m, h or d");
        // Like strtoul(…, 0): the base from the prefix, then as many digits as match, greedily.
        let (radix, digits) = if let Some(hex) = text.strip_prefix("0x").or_else(|| text.strip_prefix("0X")) {
            (16, hex)
        } else if text.len() > 1 && text.starts_with('0') {
            (8, &text[1..])
        } else {
            (10, text)
        };
        let end = digits.find(|c: char| !c.is_digit(radix)).unwrap_or(digits.len());
        let (number, unit) = digits.split_at(end);
        let value = match (number, radix) {
            ("", 8) => 0,
            ("", _) => return Err(invalid()),
            (n, r) => u64::from_str_radix(n, r).map_err(|_| format!("invalid interval {text:?}: too large"))?,
        };
        let factor = match unit {
            "" | "s" => 1,
            "m" => 60,
            "h" => 3600,
            "d" => 86_400,
            _ => return Err(invalid()),
        };
        value.checked_mul(factor).map(Interval).ok_or_else(|| format!("invalid interval {text:?}: too large"))
    }
}

impl Serialize for Interval {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u64(self.0)
    }
}

impl<'de> Deserialize<'de> for Interval {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = Interval;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("seconds, or a string such as \"1h\", \"30m\", \"2d\"")
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Interval, E> {
                Ok(Interval(v))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Interval, E> {
                u64::try_from(v).map(Interval).map_err(|_| E::custom("an interval cannot be negative"))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Interval, E> {
                Interval::parse(v).map_err(E::custom)
            }
        }
        d.deserialize_any(V)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn upstream_syntax() {
        for (text, secs) in [
            ("3600", 3600),
            ("1h", 3600),
            ("30m", 1800),
            ("2d", 172_800),
            ("10s", 10),
            ("0x10", 16),
            ("0x1d", 29),
            ("010", 8),
            ("0", 0),
            ("010m", 480),
        ] {
            assert_eq!(Interval::parse(text).unwrap().as_secs(), secs, "{text}");
        }
        for bad in ["", "-1", "1x", "1hh", "h", "1 h0", "1.5h", "99999999999999999999", "08", "0x"] {
            assert!(Interval::parse(bad).is_err(), "{bad}");
        }
    }
}
