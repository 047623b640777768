//! [`AgentId`]: 1 to 8 decimal digits, kept exactly as written.

use core::fmt;

use crate::error::{Error, ErrorKind, Field};

/// An agent ID: 1–8 ASCII digits, not all zeros, kept as written (`"001"` and `"1"` differ,
/// as they do upstream, where IDs are compared as strings).
///
/// `Copy` and 9 bytes: it owns its digits.
///
/// ```
/// use agentkeys::AgentId;
/// let id = AgentId::parse(b"001").unwrap();
/// assert_eq!(id.as_str(), "001");
/// assert_eq!(id.value(), 1);
/// assert_eq!(AgentId::from_number(42).unwrap().as_str(), "042");
/// assert!(AgentId::parse(b"000").is_err());
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct AgentId {
    len: u8,
    digits: [u8; AgentId::MAX_LEN],
}

impl AgentId {
    /// The longest ID, in digits.
    pub const MAX_LEN: usize = 8;
    /// The largest ID value.
    pub const MAX_VALUE: u32 = 99_999_999;

    /// Validates `bytes` as an agent ID.
    ///
    /// # Errors
    /// `InvalidId` (empty, longer than 8, or a non-digit, with the offending byte's offset) or
    /// `ReservedId` (all zeros).
    pub fn parse(bytes: &[u8]) -> Result<Self, Error> {
        if bytes.is_empty() {
            return Err(Error::at(ErrorKind::InvalidId, Field::Id, 0));
        }
        if bytes.len() > Self::MAX_LEN {
            return Err(Error::at(ErrorKind::InvalidId, Field::Id, Self::MAX_LEN));
        }
        if let Some(pos) = bytes.iter().position(|b| !b.is_ascii_digit()) {
            return Err(Error::at(ErrorKind::InvalidId, Field::Id, pos));
        }
        if bytes.iter().all(|&b| b == b'0') {
            return Err(Error::at(ErrorKind::ReservedId, Field::Id, 0));
        }
        let mut digits = [0u8; Self::MAX_LEN];
        digits[..bytes.len()].copy_from_slice(bytes);
        Ok(AgentId { len: bytes.len() as u8, digits })
    }

    /// The ID that upstream generates for counter value `n`: zero-padded to at least three
    /// digits (`1` → `"001"`, `1000` → `"1000"`).
    ///
    /// # Errors
    /// `ReservedId` for 0, `InvalidId` above [`AgentId::MAX_VALUE`].
    pub fn from_number(n: u32) -> Result<Self, Error> {
        if n == 0 {
            return Err(Error::at(ErrorKind::ReservedId, Field::Id, 0));
        }
        if n > Self::MAX_VALUE {
            return Err(Error::at(ErrorKind::InvalidId, Field::Id, 0));
        }
        let mut tmp = [b'0'; Self::MAX_LEN];
        let mut v = n;
        let mut i = Self::MAX_LEN;
        while v > 0 {
            i -= 1;
            tmp[i] = b'0' + (v % 10) as u8;
            v /= 10;
        }
        let start = i.min(Self::MAX_LEN - 3);
        let mut digits = [0u8; Self::MAX_LEN];
        let len = Self::MAX_LEN - start;
        digits[..len].copy_from_slice(&tmp[start..]);
        Ok(AgentId { len: len as u8, digits })
    }

    /// The ID as written.
    #[must_use]
    pub fn as_str(&self) -> &str {
        // Only ASCII digits are ever stored.
        core::str::from_utf8(self.as_bytes()).unwrap_or("")
    }

    /// The ID's bytes as written.
    #[must_use]
    pub fn as_bytes(&self) -> &[u8] {
        &self.digits[..usize::from(self.len)]
    }

    /// The numeric value (`"001"` → 1), used for the ID counter.
    #[must_use]
    pub fn value(&self) -> u32 {
        self.as_bytes().iter().fold(0, |acc, d| acc * 10 + u32::from(d - b'0'))
    }
}

impl fmt::Display for AgentId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Debug for AgentId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "AgentId({:?})", self.as_str())
    }
}

impl core::str::FromStr for AgentId {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self, Error> {
        AgentId::parse(s.as_bytes())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pads_to_three_digits() {
        assert_eq!(AgentId::from_number(1).unwrap().as_str(), "001");
        assert_eq!(AgentId::from_number(999).unwrap().as_str(), "999");
        assert_eq!(AgentId::from_number(1000).unwrap().as_str(), "1000");
        assert_eq!(AgentId::from_number(99_999_999).unwrap().as_str(), "99999999");
        assert!(AgentId::from_number(100_000_000).is_err());
    }

    #[test]
    fn rejects_bad_ids_with_position() {
        assert_eq!(AgentId::parse(b"12a").unwrap_err().offset(), 2);
        assert_eq!(AgentId::parse(b"").unwrap_err().kind(), ErrorKind::InvalidId);
        assert_eq!(AgentId::parse(b"123456789").unwrap_err().kind(), ErrorKind::InvalidId);
        assert_eq!(AgentId::parse(b"0").unwrap_err().kind(), ErrorKind::ReservedId);
        assert_eq!(AgentId::parse(b"12345678").unwrap().value(), 12_345_678);
        assert_ne!(AgentId::parse(b"1").unwrap(), AgentId::parse(b"001").unwrap());
    }
}
