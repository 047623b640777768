//! [`AgentName`]: the upstream name rule (SPEC 1.3).

use core::fmt;

use crate::class;
use crate::error::{Error, ErrorKind, Field};

/// A validated agent name, borrowed from its input: 2–128 bytes of `A-Z a-z 0-9 . _ -`, not
/// starting with `.` (since Wazuh 4.14.6). Case-sensitive.
///
/// ```
/// use agentkeys::AgentName;
/// assert_eq!(AgentName::parse(b"web-01").unwrap().as_str(), "web-01");
/// assert!(AgentName::parse(b".hidden").is_err());
/// assert!(AgentName::parse(b"bad name").is_err());
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct AgentName<'a>(&'a str);

impl<'a> AgentName<'a> {
    /// A name already validated (kept by an owned record).
    #[cfg(feature = "alloc")]
    pub(crate) const fn from_valid(name: &'a str) -> Self {
        AgentName(name)
    }

    /// The shortest valid name.
    pub const MIN_LEN: usize = 2;
    /// The longest valid name.
    pub const MAX_LEN: usize = 128;

    /// Validates `bytes` as an agent name.
    ///
    /// # Errors
    /// `InvalidName`, with the offset of the first offending byte (or of the length problem).
    pub fn parse(bytes: &'a [u8]) -> Result<Self, Error> {
        check_name_rule(bytes).map_err(|at| Error::at(ErrorKind::InvalidName, Field::Name, at))?;
        // The rule admits only ASCII, so this cannot fail.
        core::str::from_utf8(bytes).map(AgentName).map_err(|_| Error::at(ErrorKind::InvalidName, Field::Name, 0))
    }

    /// Wraps text that already passed this type's rule (kept private to the crate).
    pub(crate) const fn from_validated(s: &'a str) -> Self {
        AgentName(s)
    }

    /// Validates a `&str` as an agent name.
    ///
    /// # Errors
    /// As [`AgentName::parse`].
    pub fn new(s: &'a str) -> Result<Self, Error> {
        Self::parse(s.as_bytes())
    }

    /// The name.
    #[must_use]
    pub const fn as_str(&self) -> &'a str {
        self.0
    }
}

/// The name rule, shared by names and by keys as agents check them in replies (SPEC 6.4).
/// Returns the offset of the problem.
pub(crate) fn check_name_rule(bytes: &[u8]) -> Result<(), usize> {
    if bytes.len() < AgentName::MIN_LEN {
        return Err(bytes.len());
    }
    if bytes.len() > AgentName::MAX_LEN {
        return Err(AgentName::MAX_LEN);
    }
    if bytes[0] == b'.' {
        return Err(0);
    }
    match class::first_outside(bytes, &class::NAME) {
        Some(pos) => Err(pos),
        None => Ok(()),
    }
}

impl fmt::Display for AgentName<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0)
    }
}

impl fmt::Debug for AgentName<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "AgentName({:?})", self.0)
    }
}

impl AsRef<str> for AgentName<'_> {
    fn as_ref(&self) -> &str {
        self.0
    }
}
