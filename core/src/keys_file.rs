//! `client.keys`: reading lines (SPEC 1.2) and writing the upstream layout (SPEC 1.7).

use core::fmt;

use crate::error::{Error, ErrorKind, Field};
use crate::id::AgentId;
use crate::record::Record;

/// What one line of `client.keys` holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Line<'a> {
    /// An active agent.
    Agent(Record<'a>),
    /// A removed agent (`ID !NAME …` or the legacy `ID #NAME …`), kept verbatim by upstream.
    Removed(RemovedLine<'a>),
    /// A line starting with `#` or a space; ignored by every reader.
    Comment,
    /// A line no reader can use, and why. Upstream logs and skips some of these and exits on
    /// others; agentkeys reports them all (DESIGN §7.2).
    Invalid(Error),
}

/// A removed agent's line.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RemovedLine<'a> {
    /// The ID it still reserves.
    pub id: AgentId,
    /// The whole line, verbatim (without newline), as upstream re-emits it.
    pub text: &'a str,
    /// The name, without its `!` or `#` marker, as written (not validated, like upstream).
    pub name: &'a str,
    /// The address field as written (upstream drops the CIDR suffix there); may be empty.
    pub ip: &'a str,
    /// The key field as written; may be empty.
    pub key: &'a str,
}

/// Parses one line of `client.keys` (without its `\n`; a trailing `\r` is ignored).
///
/// Unlike upstream, every field of an agent line is validated, the key may not contain spaces,
/// nothing is truncated, and an invalid address is an [`Line::Invalid`] instead of a fatal exit.
///
/// ```
/// use agentkeys::{parse_line, Line};
/// let Line::Agent(r) = parse_line(b"002 dbserver 10.0.1.2 363a99a6e9") else { panic!() };
/// assert_eq!(r.name.as_str(), "dbserver");
/// assert!(matches!(parse_line(b"004 !data3 any ed52"), Line::Removed(_)));
/// assert!(matches!(parse_line(b"# comment"), Line::Comment));
/// assert!(matches!(parse_line(b"001 name"), Line::Invalid(_)));
/// ```
#[must_use]
pub fn parse_line(line: &[u8]) -> Line<'_> {
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    match line.first() {
        None => return Line::Invalid(Error::new(ErrorKind::EmptyLine)),
        Some(b'#' | b' ') => return Line::Comment,
        Some(_) => {}
    }
    match parse_agent_or_removed(line) {
        Ok(l) => l,
        Err(e) => Line::Invalid(e),
    }
}

fn parse_agent_or_removed(line: &[u8]) -> Result<Line<'_>, Error> {
    let missing = |field| Error::at(ErrorKind::MissingField, field, line.len());
    let sp1 = find_space(line).ok_or(missing(Field::Name))?;
    let id_bytes = &line[..sp1];
    let rest = &line[sp1 + 1..];
    if matches!(rest.first(), Some(b'!' | b'#')) {
        let id = AgentId::parse(id_bytes)?;
        let text =
            core::str::from_utf8(line).map_err(|e| Error::at(ErrorKind::InvalidName, Field::Name, e.valid_up_to()))?;
        // The other fields are read loosely, as upstream reads them: it never validates them.
        let mut fields = text.splitn(4, ' ').skip(1);
        let marked = fields.next().unwrap_or("");
        let name = marked.get(1..).unwrap_or("");
        let (ip, key) = (fields.next().unwrap_or(""), fields.next().unwrap_or(""));
        return Ok(Line::Removed(RemovedLine { id, text, name, ip, key }));
    }
    let sp2 = find_space(rest).ok_or(missing(Field::Ip))?;
    let name = &rest[..sp2];
    let rest = &rest[sp2 + 1..];
    let sp3 = find_space(rest).ok_or(missing(Field::Key))?;
    let (ip, key) = (&rest[..sp3], &rest[sp3 + 1..]);
    Record::from_fields(line, id_bytes, name, ip, key).map(Line::Agent)
}

#[inline]
fn find_space(bytes: &[u8]) -> Option<usize> {
    bytes.iter().position(|&b| b == b' ')
}

/// One line of a `client.keys` buffer with its 1-based number.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NumberedLine<'a> {
    /// 1-based line number.
    pub number: u32,
    /// The raw line, without `\n`.
    pub text: &'a [u8],
    /// What it holds; errors carry [`Error::line`] = `number`.
    pub line: Line<'a>,
}

/// Iterator over the lines of a whole `client.keys` buffer; see [`parse_keys`].
#[derive(Clone, Debug)]
pub struct KeysLines<'a> {
    rest: &'a [u8],
    number: u32,
}

/// Iterates over every line of a `client.keys` buffer. A final line without `\n` counts; the
/// empty tail after a final `\n` does not.
///
/// ```
/// use agentkeys::{parse_keys, Line};
/// let file = b"001 a1 any k1\n# note\n002 !a2 any k2\n003 a3 999.1.1.1 k3\n";
/// let kinds: Vec<_> = parse_keys(file).map(|l| (l.number, matches!(l.line, Line::Invalid(_)))).collect();
/// assert_eq!(kinds, [(1, false), (2, false), (3, false), (4, true)]);
/// ```
#[must_use]
pub fn parse_keys(buf: &[u8]) -> KeysLines<'_> {
    KeysLines { rest: buf, number: 0 }
}

impl<'a> KeysLines<'a> {
    /// Continues iterating over `rest`, numbering the next line `lines_read + 1`. With
    /// [`KeysLines::remaining`] and [`KeysLines::lines_read`] this lets a caller keep the iterator's
    /// state in its own storage (the C ABI does).
    #[must_use]
    pub const fn resume(rest: &'a [u8], lines_read: u32) -> Self {
        KeysLines { rest, number: lines_read }
    }

    /// The part of the buffer not read yet.
    #[must_use]
    pub const fn remaining(&self) -> &'a [u8] {
        self.rest
    }

    /// How many lines were read so far.
    #[must_use]
    pub const fn lines_read(&self) -> u32 {
        self.number
    }
}

impl<'a> Iterator for KeysLines<'a> {
    type Item = NumberedLine<'a>;

    fn next(&mut self) -> Option<NumberedLine<'a>> {
        if self.rest.is_empty() {
            return None;
        }
        let (text, rest) = match self.rest.iter().position(|&b| b == b'\n') {
            Some(nl) => (&self.rest[..nl], &self.rest[nl + 1..]),
            None => (self.rest, &self.rest[self.rest.len()..]),
        };
        self.rest = rest;
        self.number = self.number.saturating_add(1);
        let line = match parse_line(text) {
            Line::Invalid(e) => Line::Invalid(e.on_line(self.number)),
            other => other,
        };
        Some(NumberedLine { number: self.number, text, line })
    }
}

impl core::iter::FusedIterator for KeysLines<'_> {}

/// Writes a whole `client.keys` in the upstream layout: every active agent as `ID NAME IP KEY\n`
/// (address in file form), in the given order, then every removed line verbatim plus `\n`.
///
/// ```
/// use agentkeys::{parse_keys, write_keys, Line};
/// let input = "002 !old any k0\n001 web 10.0.0.0/255.0.0.0 k1\n";
/// let lines: Vec<_> = parse_keys(input.as_bytes()).map(|l| l.line).collect();
/// let agents = lines.iter().filter_map(|l| if let Line::Agent(r) = l { Some(*r) } else { None });
/// let removed = lines.iter().filter_map(|l| if let Line::Removed(r) = l { Some(r.text) } else { None });
/// let mut out = String::new();
/// write_keys(&mut out, agents, removed).unwrap();
/// assert_eq!(out, "001 web 10.0.0.0/8 k1\n002 !old any k0\n");
/// ```
///
/// # Errors
/// Only those of the writer.
pub fn write_keys<'r, W, A, R>(out: &mut W, agents: A, removed: R) -> fmt::Result
where
    W: fmt::Write + ?Sized,
    A: IntoIterator<Item = Record<'r>>,
    R: IntoIterator<Item = &'r str>,
{
    for record in agents {
        writeln!(out, "{record}")?;
    }
    for line in removed {
        out.write_str(line)?;
        out.write_str("\n")?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn invalid(line: &[u8]) -> Error {
        match parse_line(line) {
            Line::Invalid(e) => e,
            other => panic!("expected invalid, got {other:?}"),
        }
    }

    #[test]
    fn errors_name_field_and_byte() {
        let e = invalid(b"001 bad*name any k");
        assert_eq!((e.kind(), e.field(), e.offset()), (ErrorKind::InvalidName, Some(Field::Name), 7));
        let e = invalid(b"001 name 10.0.0.300 k");
        assert_eq!((e.kind(), e.offset()), (ErrorKind::InvalidAddr, 9));
        let e = invalid(b"001 name any with space");
        assert_eq!((e.kind(), e.field(), e.offset()), (ErrorKind::InvalidKey, Some(Field::Key), 17));
        let e = invalid(b"x01 name any k");
        assert_eq!((e.kind(), e.offset()), (ErrorKind::InvalidId, 0));
        assert_eq!(invalid(b"000 name any k").kind(), ErrorKind::ReservedId);
        assert_eq!(invalid(b"001 name any ").kind(), ErrorKind::InvalidKey);
    }

    #[test]
    fn crlf_and_line_numbers() {
        let buf = b"001 a1 any k1\r\n\n002 a2 any k2";
        let lines: heapless::Vec<NumberedLine<'_>, 4> = parse_keys(buf).collect();
        assert_eq!(lines.len(), 3);
        let Line::Agent(r) = lines[0].line else { panic!() };
        assert_eq!(r.key.as_str(), "k1");
        let Line::Invalid(e) = lines[1].line else { panic!() };
        assert_eq!((e.kind(), e.line()), (ErrorKind::EmptyLine, Some(2)));
        assert!(matches!(lines[2].line, Line::Agent(_)));
    }

    #[test]
    fn removed_line_keeps_text_and_reserves_id() {
        let Line::Removed(r) = parse_line(b"0042 #legacy 10.0.0.1/24 k") else { panic!() };
        assert_eq!((r.id.value(), r.text), (42, "0042 #legacy 10.0.0.1/24 k"));
    }
}
