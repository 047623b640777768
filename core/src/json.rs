//! A small, strict JSON reader for the key-poll answer: no allocation, no recursion.
//!
//! Why not serde-json-core: the key-poll contract needs to say *which* member is missing or of the
//! wrong type, to reject duplicate members, and to decode escaped strings (PHP writes `10.0.0.0\/24`)
//! without a scratch buffer per field. This reader validates the full JSON grammar (RFC 8259),
//! including UTF-8 and surrogate pairs, and bounds nesting at [`MAX_DEPTH`].

use core::fmt;

use crate::error::{Error, ErrorKind};

/// Deepest nesting accepted inside skipped values.
pub(crate) const MAX_DEPTH: usize = 64;

/// A JSON string's raw contents (between the quotes), already checked to be valid.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct JsonStr<'a> {
    raw: &'a [u8],
}

impl<'a> JsonStr<'a> {
    /// Checks `raw` as the contents of a JSON string literal (without its quotes): valid UTF-8,
    /// valid escapes, no raw control characters or unescaped `"`.
    ///
    /// # Errors
    /// `InvalidJson` at the offending byte.
    pub fn from_raw(raw: &'a [u8]) -> Result<Self, Error> {
        let mut i = 0;
        while let Some(&b) = raw.get(i) {
            match b {
                b'\\' => i += escape_len(&raw[i..]).ok_or(invalid(i))?,
                b'"' | 0x00..=0x1f => return Err(invalid(i)),
                _ => i += 1,
            }
        }
        core::str::from_utf8(raw).map_err(|e| invalid(e.valid_up_to()))?;
        Ok(JsonStr { raw })
    }

    /// The decoded characters.
    pub fn chars(&self) -> impl Iterator<Item = char> + 'a {
        Unescape { raw: self.raw }
    }

    /// The raw, still-escaped contents (valid UTF-8).
    #[must_use]
    pub fn raw(&self) -> &'a str {
        core::str::from_utf8(self.raw).unwrap_or("")
    }

    /// The contents, borrowed, when they contain no escape.
    #[must_use]
    pub fn as_plain(&self) -> Option<&'a str> {
        (!self.raw.contains(&b'\\')).then(|| self.raw())
    }

    /// Decodes into `out`, returning the text.
    ///
    /// # Errors
    /// `BufferTooSmall` with the needed length.
    pub fn decode_into<'o>(&self, out: &'o mut [u8]) -> Result<&'o str, Error> {
        let mut w = crate::out::SliceWriter::new(out);
        for c in self.chars() {
            w.push(c.encode_utf8(&mut [0u8; 4]).as_bytes());
        }
        w.finish_str()
    }

    /// The decoded length in bytes.
    #[must_use]
    pub fn decoded_len(&self) -> usize {
        self.chars().map(char::len_utf8).sum()
    }

    /// Decodes into a fixed-capacity string; `None` if it does not fit.
    #[must_use]
    pub fn decode<const N: usize>(&self) -> Option<heapless::String<N>> {
        let mut s = heapless::String::new();
        for c in self.chars() {
            s.push(c).ok()?;
        }
        Some(s)
    }

    fn equals(&self, literal: &str) -> bool {
        match self.as_plain() {
            Some(plain) => plain == literal,
            None => self.chars().eq(literal.chars()),
        }
    }
}

impl fmt::Display for JsonStr<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(plain) = self.as_plain() {
            return f.write_str(plain);
        }
        self.chars().try_for_each(|c| fmt::Write::write_char(f, c))
    }
}

impl fmt::Debug for JsonStr<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "JsonStr({:?})", self.raw())
    }
}

struct Unescape<'a> {
    raw: &'a [u8],
}

impl Iterator for Unescape<'_> {
    type Item = char;
    fn next(&mut self) -> Option<char> {
        // Only the first character is decoded (the whole string was validated as UTF-8 once), so
        // iterating stays linear in the length.
        let width = match *self.raw.first()? {
            0x00..=0x7f => 1,
            0xc0..=0xdf => 2,
            0xe0..=0xef => 3,
            _ => 4,
        };
        let c = core::str::from_utf8(self.raw.get(..width)?).ok()?.chars().next()?;
        if c != '\\' {
            self.raw = &self.raw[c.len_utf8()..];
            return Some(c);
        }
        let esc = *self.raw.get(1)?;
        let (c, used) = match esc {
            b'"' => ('"', 2),
            b'\\' => ('\\', 2),
            b'/' => ('/', 2),
            b'b' => ('\u{8}', 2),
            b'f' => ('\u{c}', 2),
            b'n' => ('\n', 2),
            b'r' => ('\r', 2),
            b't' => ('\t', 2),
            _ => {
                let hi = hex4(self.raw.get(2..6)?)?;
                if (0xD800..0xDC00).contains(&hi) {
                    let lo = hex4(self.raw.get(8..12)?)?;
                    let cp = 0x10000 + ((hi - 0xD800) << 10) + (lo - 0xDC00);
                    (char::from_u32(cp)?, 12)
                } else {
                    (char::from_u32(hi)?, 6)
                }
            }
        };
        self.raw = &self.raw[used..];
        Some(c)
    }
}

fn hex4(b: &[u8]) -> Option<u32> {
    b.iter().try_fold(0u32, |acc, &d| Some(acc * 16 + char::from(d).to_digit(16)?))
}

/// A cursor over JSON text.
pub(crate) struct Reader<'a> {
    input: &'a [u8],
    pub(crate) pos: usize,
}

/// What a member's value turned out to be.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Value<'a> {
    Str(JsonStr<'a>),
    /// An integer literal (no fraction, no exponent) that fits `i64`.
    Int(i64),
    /// `null`.
    Null,
    /// Any other valid value (object, array, other number, true/false); it was skipped.
    Other,
}

fn invalid(at: usize) -> Error {
    Error::new(ErrorKind::InvalidJson).shifted(at)
}

impl<'a> Reader<'a> {
    pub(crate) fn new(input: &'a [u8]) -> Self {
        Reader { input, pos: 0 }
    }

    fn peek(&self) -> Option<u8> {
        self.input.get(self.pos).copied()
    }

    pub(crate) fn skip_ws(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            self.pos += 1;
        }
    }

    fn expect(&mut self, byte: u8) -> Result<(), Error> {
        self.skip_ws();
        if self.peek() == Some(byte) {
            self.pos += 1;
            Ok(())
        } else {
            Err(invalid(self.pos))
        }
    }

    /// Reads the members of an object, calling `member(name, value_start, reader)` for each; the
    /// callback must consume the value (with [`Reader::value`]).
    pub(crate) fn object<F>(&mut self, mut member: F) -> Result<(), Error>
    where
        F: FnMut(JsonStr<'a>, &mut Reader<'a>) -> Result<(), Error>,
    {
        self.expect(b'{')?;
        self.skip_ws();
        if self.peek() == Some(b'}') {
            self.pos += 1;
            return Ok(());
        }
        loop {
            self.skip_ws();
            let name = self.string()?;
            self.expect(b':')?;
            self.skip_ws();
            member(name, self)?;
            self.skip_ws();
            match self.peek() {
                Some(b',') => self.pos += 1,
                Some(b'}') => {
                    self.pos += 1;
                    return Ok(());
                }
                _ => return Err(invalid(self.pos)),
            }
        }
    }

    /// Reads any value, returning strings and integers and skipping the rest.
    pub(crate) fn value(&mut self) -> Result<Value<'a>, Error> {
        self.skip_ws();
        match self.peek() {
            Some(b'"') => self.string().map(Value::Str),
            Some(b'-' | b'0'..=b'9') => self.number(),
            Some(b'{') => self.skip_container().map(|()| Value::Other),
            Some(b'[') => self.skip_container().map(|()| Value::Other),
            Some(b't') => self.literal(b"true"),
            Some(b'f') => self.literal(b"false"),
            Some(b'n') => self.literal(b"null").map(|_| Value::Null),
            _ => Err(invalid(self.pos)),
        }
    }

    fn literal(&mut self, word: &[u8]) -> Result<Value<'a>, Error> {
        if self.input[self.pos..].starts_with(word) {
            self.pos += word.len();
            Ok(Value::Other)
        } else {
            Err(invalid(self.pos))
        }
    }

    fn string(&mut self) -> Result<JsonStr<'a>, Error> {
        if self.peek() != Some(b'"') {
            return Err(invalid(self.pos));
        }
        let start = self.pos + 1;
        let mut i = start;
        loop {
            let b = *self.input.get(i).ok_or(invalid(i))?;
            match b {
                b'"' => break,
                b'\\' => i += escape_len(&self.input[i..]).ok_or(invalid(i))?,
                0x00..=0x1f => return Err(invalid(i)),
                _ => i += 1,
            }
        }
        let raw = &self.input[start..i];
        if let Err(e) = core::str::from_utf8(raw) {
            return Err(invalid(start + e.valid_up_to()));
        }
        self.pos = i + 1;
        Ok(JsonStr { raw })
    }

    fn number(&mut self) -> Result<Value<'a>, Error> {
        let start = self.pos;
        let digits = |r: &mut Self| {
            let from = r.pos;
            while matches!(r.peek(), Some(b'0'..=b'9')) {
                r.pos += 1;
            }
            r.pos - from
        };
        if self.peek() == Some(b'-') {
            self.pos += 1;
        }
        let int_start = self.pos;
        let n = digits(self);
        if n == 0 || (n > 1 && self.input[int_start] == b'0') {
            return Err(invalid(int_start));
        }
        let mut integer = true;
        if self.peek() == Some(b'.') {
            self.pos += 1;
            integer = false;
            if digits(self) == 0 {
                return Err(invalid(self.pos));
            }
        }
        if matches!(self.peek(), Some(b'e' | b'E')) {
            self.pos += 1;
            integer = false;
            if matches!(self.peek(), Some(b'+' | b'-')) {
                self.pos += 1;
            }
            if digits(self) == 0 {
                return Err(invalid(self.pos));
            }
        }
        let text = core::str::from_utf8(&self.input[start..self.pos]).map_err(|_| invalid(start))?;
        match (integer, text.parse::<i64>()) {
            (true, Ok(v)) => Ok(Value::Int(v)),
            _ => Ok(Value::Other),
        }
    }

    /// Skips an object or array without recursion; nesting is tracked in a bit stack.
    fn skip_container(&mut self) -> Result<(), Error> {
        // bit i set = level i is an object.
        let mut stack: u64 = 0;
        let mut depth = 0usize;
        let open = |r: &mut Self, stack: &mut u64, depth: &mut usize| -> Result<(), Error> {
            if *depth == MAX_DEPTH {
                return Err(Error::new(ErrorKind::JsonTooDeep).shifted(r.pos));
            }
            let is_object = r.peek() == Some(b'{');
            *stack = (*stack & !(1 << *depth)) | (u64::from(is_object) << *depth);
            *depth += 1;
            r.pos += 1;
            Ok(())
        };
        open(self, &mut stack, &mut depth)?;
        // `expect_value`: the next token must be a value (after `[`, `,` or `:`).
        let mut first = true;
        while depth > 0 {
            let in_object = stack & (1 << (depth - 1)) != 0;
            self.skip_ws();
            let close = if in_object { b'}' } else { b']' };
            if first && self.peek() == Some(close) {
                self.pos += 1;
                depth -= 1;
                first = false;
                continue;
            }
            if !first {
                // After a value: `,` or the closing bracket.
                match self.peek() {
                    Some(b',') => self.pos += 1,
                    Some(c) if c == close => {
                        self.pos += 1;
                        depth -= 1;
                        continue;
                    }
                    _ => return Err(invalid(self.pos)),
                }
                self.skip_ws();
            }
            if in_object {
                self.string()?;
                self.expect(b':')?;
                self.skip_ws();
            }
            match self.peek() {
                Some(b'{' | b'[') => {
                    open(self, &mut stack, &mut depth)?;
                    first = true;
                }
                _ => {
                    self.value()?;
                    first = false;
                }
            }
        }
        Ok(())
    }
}

/// How far a buffer that is still being received holds one JSON value (for readers of a stream
/// that must know when an answer is complete).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum JsonProgress {
    /// A whole value ends at this byte (leading white space included).
    Complete(usize),
    /// Valid so far; more bytes are needed.
    Incomplete,
    /// Not JSON, whatever follows.
    Invalid,
}

/// Whether `bytes` starts with one complete JSON value, with the same strict grammar as the
/// key-poll parser (so a reader stops exactly where the parser would).
///
/// ```
/// use agentkeys::{json_progress, JsonProgress};
/// assert_eq!(json_progress(br#" {"a":"}"} tail"#), JsonProgress::Complete(10));
/// assert_eq!(json_progress(br#"{"a":"}"#), JsonProgress::Incomplete);
/// assert_eq!(json_progress(b"{]"), JsonProgress::Invalid);
/// ```
#[must_use]
pub fn json_progress(bytes: &[u8]) -> JsonProgress {
    let mut reader = Reader::new(bytes);
    reader.skip_ws();
    if reader.pos == bytes.len() {
        return JsonProgress::Incomplete;
    }
    match reader.value() {
        // A number may go on with more digits; only containers and strings end for sure.
        Ok(Value::Int(_) | Value::Other) if reader.pos == bytes.len() && bytes[reader.pos - 1].is_ascii_digit() => {
            JsonProgress::Incomplete
        }
        Ok(_) => JsonProgress::Complete(reader.pos),
        Err(e) if e.offset() >= bytes.len() => JsonProgress::Incomplete,
        Err(_) => JsonProgress::Invalid,
    }
}

/// Length of a valid escape at the start of `s` (which begins with `\`), or `None`.
fn escape_len(s: &[u8]) -> Option<usize> {
    match s.get(1)? {
        b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't' => Some(2),
        b'u' => {
            let cp = hex4(s.get(2..6)?)?;
            match cp {
                0xD800..=0xDBFF => {
                    if s.get(6..8)? != b"\\u" {
                        return None;
                    }
                    let lo = hex4(s.get(8..12)?)?;
                    (0xDC00..=0xDFFF).contains(&lo).then_some(12)
                }
                0xDC00..=0xDFFF => None,
                _ => Some(6),
            }
        }
        _ => None,
    }
}

/// Unescapes the JSON string contents at `buf[start..end]` in place (the result is never longer)
/// and returns its new end. The contents must have been validated (a [`JsonStr`]).
pub(crate) fn unescape_in_place(buf: &mut [u8], start: usize, end: usize) -> usize {
    let (mut read, mut write) = (start, start);
    while read < end {
        if buf[read] != b'\\' {
            buf[write] = buf[read];
            read += 1;
            write += 1;
            continue;
        }
        let mut escape = [0u8; 12];
        let take = (end - read).min(12);
        escape[..take].copy_from_slice(&buf[read..read + take]);
        let used = escape_len(&escape[..take]).unwrap_or(take);
        let c = Unescape { raw: &escape[..used] }.next().unwrap_or(char::REPLACEMENT_CHARACTER);
        let mut utf8 = [0u8; 4];
        let bytes = c.encode_utf8(&mut utf8).as_bytes();
        buf[write..write + bytes.len()].copy_from_slice(bytes);
        read += used;
        write += bytes.len();
    }
    write
}

impl JsonStr<'_> {
    /// Compares the decoded string with `literal`.
    pub(crate) fn is(&self, literal: &str) -> bool {
        self.equals(literal)
    }
}

/// Writes `s` as a JSON string literal (quotes included), escaping `"`, `\` and control characters.
pub(crate) fn write_string<W: fmt::Write + ?Sized>(w: &mut W, s: &str) -> fmt::Result {
    w.write_char('"')?;
    let mut plain_from = 0;
    for (i, c) in s.char_indices() {
        let escaped: Option<&str> = match c {
            '"' => Some("\\\""),
            '\\' => Some("\\\\"),
            '\n' => Some("\\n"),
            '\r' => Some("\\r"),
            '\t' => Some("\\t"),
            c if (c as u32) < 0x20 || c == '\u{7f}' => None,
            _ => continue,
        };
        w.write_str(&s[plain_from..i])?;
        match escaped {
            Some(e) => w.write_str(e)?,
            None => write!(w, "\\u{:04x}", c as u32)?,
        }
        plain_from = i + c.len_utf8();
    }
    w.write_str(&s[plain_from..])?;
    w.write_char('"')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn skip(s: &str) -> Result<usize, Error> {
        let mut r = Reader::new(s.as_bytes());
        r.value().map(|_| r.pos)
    }

    #[test]
    fn grammar() {
        assert_eq!(skip(r#"{"a":[1,{"b":null},"x"],"c":{}} tail"#).unwrap(), 31);
        for bad in [
            "{",
            "[1,]",
            "{\"a\"}",
            "{\"a\":1,}",
            "01",
            "1.",
            "-",
            "\"\\x\"",
            "\"\\ud800\"",
            "[1 2]",
            "{1:2}",
            "tru",
            "\"a\u{1}\"",
            "[}",
            "{]",
        ] {
            assert!(skip(bad).is_err(), "{bad:?} should be invalid");
        }
        assert!(skip("[[],[[]],{}]").is_ok());
        assert!(skip("\"\\ud83d\\ude00\"").is_ok());
    }

    #[test]
    fn depth_is_bounded() {
        let mut deep = heapless::String::<200>::new();
        for _ in 0..65 {
            deep.push('[').unwrap();
        }
        assert_eq!(skip(&deep).unwrap_err().kind(), ErrorKind::JsonTooDeep);
    }

    #[test]
    fn unescape() {
        let mut r = Reader::new(br#""10.0.0.0\/24 \u00e9\ud83d\ude00\n""#);
        let Value::Str(s) = r.value().unwrap() else { panic!() };
        assert_eq!(s.decode::<32>().unwrap(), "10.0.0.0/24 é😀\n");
        assert!(s.is("10.0.0.0/24 é😀\n"));
    }

    #[test]
    fn writes_escapes() {
        let mut out = heapless::String::<64>::new();
        write_string(&mut out, "a\"b\\c\n\u{1}é").unwrap();
        assert_eq!(out, r#""a\"b\\c\n\u0001é""#);
    }
}
