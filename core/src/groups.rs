//! [`Groups`]: the `G:'…'` field (SPEC 3.5 syntax, 3.6 manager rules) and its de-duplication.

use crate::class;
use crate::error::{Error, ErrorKind, Field, RequestError};
use crate::out::SliceWriter;

/// A groups string that passed the wire syntax check (SPEC 3.5), borrowed from its input.
///
/// ```
/// use agentkeys::Groups;
/// let g = Groups::parse(b"Group1,Group2,Group1").unwrap();
/// let mut buf = [0u8; 64];
/// assert_eq!(g.dedup_into(&mut buf).unwrap(), "Group1,Group2");
/// let err = Groups::parse(b"Group1,").unwrap_err();
/// assert_eq!(err.to_string(), "ERROR: Invalid group name: Group1,... cannot start or end with ','");
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Groups<'a>(&'a str);

impl<'a> Groups<'a> {
    /// The most distinct groups an agent may belong to.
    pub const MAX_GROUPS: usize = 128;
    /// The longest single group on the wire.
    pub const MAX_GROUP_LEN: usize = 255;
    /// The longest comma-separated groups string on the wire.
    pub const MAX_MULTIGROUP_LEN: usize = 65535;

    /// Checks the wire syntax, in upstream's order, with upstream's replies.
    ///
    /// # Errors
    /// One of the group kinds (`EmptyGroup`, `GroupTooLarge`, …); the [`RequestError`]'s reply is
    /// the exact upstream text.
    pub fn parse(bytes: &'a [u8]) -> Result<Self, RequestError<'a>> {
        let whole = |kind, at| RequestError::from_error(Error::at(kind, Field::Groups, at), bytes);
        if bytes.is_empty() {
            return Err(RequestError::new(ErrorKind::EmptyGroup, b""));
        }
        let multi = bytes.contains(&b',');
        if !multi && bytes.len() > Self::MAX_GROUP_LEN {
            return Err(whole(ErrorKind::GroupTooLarge, Self::MAX_GROUP_LEN));
        }
        if multi {
            if bytes.len() > Self::MAX_MULTIGROUP_LEN {
                return Err(whole(ErrorKind::MultigroupTooLarge, Self::MAX_MULTIGROUP_LEN));
            }
            let mut start = 0;
            for token in bytes.split(|&b| b == b',') {
                if let Some(sp) = token.iter().position(|&b| b == b' ') {
                    return Err(whole(ErrorKind::GroupWhiteSpace, start + sp));
                }
                if token.len() > Self::MAX_GROUP_LEN {
                    let e = Error::at(ErrorKind::GroupTooLarge, Field::Groups, start);
                    return Err(RequestError::from_error(e, token));
                }
                start += token.len() + 1;
            }
            if let Some(at) = bytes.windows(2).position(|w| w == b",,") {
                return Err(whole(ErrorKind::GroupConsecutiveCommas, at));
            }
            if bytes.iter().all(|&b| b == b',') {
                return Err(whole(ErrorKind::GroupProhibitedChars, 0));
            }
            if bytes[0] == b',' {
                return Err(whole(ErrorKind::GroupCommaEdge, 0));
            }
            if bytes[bytes.len() - 1] == b',' {
                return Err(whole(ErrorKind::GroupCommaEdge, bytes.len() - 1));
            }
        }
        let bad = bytes.iter().position(|&b| !(class::GROUP[usize::from(b)] || (multi && b == b',')));
        if let Some(at) = bad {
            return Err(whole(ErrorKind::GroupProhibitedChars, at));
        }
        // Every allowed byte is ASCII.
        core::str::from_utf8(bytes).map(Groups).map_err(|_| whole(ErrorKind::GroupProhibitedChars, 0))
    }

    /// The groups string as received.
    #[must_use]
    pub const fn as_str(&self) -> &'a str {
        self.0
    }

    /// Every group in order, duplicates included.
    pub fn iter(&self) -> impl Iterator<Item = &'a str> + 'a {
        self.0.split(',')
    }

    /// Calls `each` with every distinct group, in first-seen order.
    ///
    /// Work is bounded by 128 comparisons per group, whatever the input.
    ///
    /// # Errors
    /// `TooManyGroups` past 128 distinct groups (the manager refuses more), or whatever `each`
    /// returns.
    pub fn for_each_distinct<F>(&self, mut each: F) -> Result<(), RequestError<'a>>
    where
        F: FnMut(&'a str) -> Result<(), RequestError<'a>>,
    {
        let mut seen: heapless::Vec<&'a str, { Groups::MAX_GROUPS }> = heapless::Vec::new();
        for group in self.iter() {
            if seen.contains(&group) {
                continue;
            }
            if seen.push(group).is_err() {
                return Err(RequestError::new(ErrorKind::TooManyGroups, b""));
            }
            each(group)?;
        }
        Ok(())
    }

    /// Applies the manager's rules (SPEC 3.6 step 1, without the directory check, which needs the
    /// file system) and calls `each` with every distinct group in order: at most 128 distinct
    /// groups, each `[A-Za-z0-9_.-]+` and not `.` or `..`.
    ///
    /// # Errors
    /// `TooManyGroups` or `InvalidGroupName` (quoting the group), with upstream's reply text; or
    /// whatever `each` returns.
    pub fn check_manager_rules<F>(&self, mut each: F) -> Result<(), RequestError<'a>>
    where
        F: FnMut(&'a str) -> Result<(), RequestError<'a>>,
    {
        self.for_each_distinct(|group| {
            let valid_chars = class::first_outside(group.as_bytes(), &class::NAME).is_none();
            if group.is_empty() || !valid_chars || group == "." || group == ".." {
                return Err(RequestError::new(ErrorKind::InvalidGroupName, group.as_bytes()));
            }
            each(group)
        })
    }

    /// Writes the distinct groups, comma-separated, in first-seen order (upstream de-duplicates
    /// before anything else looks at the groups).
    ///
    /// # Errors
    /// `TooManyGroups` past 128 distinct groups, or `BufferTooSmall` (a buffer as long as the input always
    /// suffices).
    pub fn dedup_into<'b>(&self, buf: &'b mut [u8]) -> Result<&'b str, RequestError<'a>> {
        let mut w = SliceWriter::new(buf);
        let mut first = true;
        self.for_each_distinct(|g| {
            if !first {
                w.push(b",");
            }
            first = false;
            w.push(g.as_bytes());
            Ok(())
        })?;
        w.finish_str().map_err(|e| RequestError::from_error(e, b""))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::string::ToString;

    fn err(s: &[u8]) -> ErrorKind {
        Groups::parse(s).unwrap_err().kind()
    }

    #[test]
    fn syntax_order() {
        assert_eq!(err(b""), ErrorKind::EmptyGroup);
        assert_eq!(err(&[b'a'; 256]), ErrorKind::GroupTooLarge);
        assert!(Groups::parse(&[b'a'; 255]).is_ok());
        assert_eq!(err(b"a b,c"), ErrorKind::GroupWhiteSpace);
        assert_eq!(err(b"a b"), ErrorKind::GroupProhibitedChars);
        assert_eq!(err(b"a,,b"), ErrorKind::GroupConsecutiveCommas);
        assert_eq!(err(b",a"), ErrorKind::GroupCommaEdge);
        assert_eq!(err(b"a/b,c"), ErrorKind::GroupProhibitedChars);
        assert!(Groups::parse(b"a.b:c;d_e-f=g+h!i@(j)").is_ok());
    }

    #[test]
    fn long_token_quotes_only_that_token() {
        let mut s = [b'a'; 300];
        s[0] = b'x';
        s[1] = b',';
        let e = Groups::parse(&s).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::GroupTooLarge);
        assert_eq!(e.subject().len(), 298);
        assert_eq!(e.reply_len(), "ERROR: Invalid group name: ".len() + 255 + "... group is too large".len());
    }

    #[test]
    fn manager_rules() {
        let g = Groups::parse(b"a,b,a,..").unwrap();
        let e = g.check_manager_rules(|_| Ok(())).unwrap_err();
        assert_eq!(e.to_string(), "ERROR: Invalid group name: ..");
        let g = Groups::parse(b"a:b").unwrap();
        assert_eq!(g.check_manager_rules(|_| Ok(())).unwrap_err().kind(), ErrorKind::InvalidGroupName);
    }

    #[test]
    fn at_most_128_distinct() {
        let mut buf = [0u8; 2000];
        let mut w = SliceWriter::new(&mut buf);
        for i in 0..129 {
            if i > 0 {
                w.push(b",");
            }
            let mut n = heapless::String::<8>::new();
            core::fmt::write(&mut n, format_args!("g{i}")).unwrap();
            w.push(n.as_bytes());
        }
        let text = w.finish().unwrap();
        let g = Groups::parse(text).unwrap();
        let mut out = [0u8; 2000];
        assert_eq!(g.dedup_into(&mut out).unwrap_err().kind(), ErrorKind::TooManyGroups);
        // 128 distinct plus repeats is fine.
        let cut = text.iter().rposition(|&b| b == b',').unwrap();
        let g = Groups::parse(&text[..cut]).unwrap();
        assert!(g.dedup_into(&mut out).is_ok());
    }
}
