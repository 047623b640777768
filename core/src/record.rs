//! [`Record`]: one agent, `ID NAME IP KEY`, borrowed; [`RecordBuf`]: the same, owned.

use core::fmt::{self, Write as _};

use crate::addr::AgentAddr;
use crate::error::{Error, ErrorKind, Field};
use crate::id::AgentId;
use crate::key::AgentKey;
use crate::name::AgentName;
use crate::out::SliceWriter;

/// One agent's identity: ID, name, address and key, each validated.
///
/// `Display` writes the `client.keys` line without its newline (address in file form).
///
/// ```
/// use agentkeys::{AgentAddr, AgentId, AgentKey, AgentName, Record};
/// let r = Record::new(
///     AgentId::parse(b"001").unwrap(),
///     AgentName::new("web-01").unwrap(),
///     AgentAddr::new("10.1.1.1/32").unwrap(),
///     AgentKey::new("TopSecret").unwrap(),
/// );
/// let mut buf = [0u8; Record::MAX_LINE_LEN];
/// assert_eq!(r.encode_into(&mut buf).unwrap(), "001 web-01 10.1.1.1 TopSecret");
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Record<'a> {
    /// The agent ID.
    pub id: AgentId,
    /// The agent name.
    pub name: AgentName<'a>,
    /// The agent address.
    pub addr: AgentAddr,
    /// The agent key.
    pub key: AgentKey<'a>,
}

impl<'a> Record<'a> {
    /// The longest line a record can produce (without newline).
    pub const MAX_LINE_LEN: usize =
        AgentId::MAX_LEN + 1 + AgentName::MAX_LEN + 1 + crate::addr::MAX_ADDR_TEXT_LEN + 1 + AgentKey::MAX_LEN;

    /// Puts four validated fields together.
    #[must_use]
    pub const fn new(id: AgentId, name: AgentName<'a>, addr: AgentAddr, key: AgentKey<'a>) -> Self {
        Record { id, name, addr, key }
    }

    /// Parses `ID NAME IP KEY` separated by single spaces, validating every field. Used for
    /// imported records and for the text inside a reply.
    ///
    /// # Errors
    /// `InvalidRecord` when a field is missing, else the failing field's error (offset within
    /// `text`).
    pub fn parse(text: &'a [u8]) -> Result<Self, Error> {
        let mut fields = text.splitn(4, |&b| b == b' ');
        let (Some(id), Some(name), Some(ip), Some(key)) = (fields.next(), fields.next(), fields.next(), fields.next())
        else {
            return Err(Error::new(ErrorKind::InvalidRecord));
        };
        Self::from_fields(text, id, name, ip, key)
    }

    /// Validates four fields that are sub-slices of `whole` (offsets in errors are relative to it).
    pub(crate) fn from_fields(
        whole: &[u8],
        id: &'a [u8],
        name: &'a [u8],
        ip: &'a [u8],
        key: &'a [u8],
    ) -> Result<Self, Error> {
        let at = |field: &[u8]| (field.as_ptr() as usize).saturating_sub(whole.as_ptr() as usize);
        Ok(Record {
            id: AgentId::parse(id).map_err(|e| e.shifted(at(id)))?,
            name: AgentName::parse(name).map_err(|e| e.shifted(at(name)))?,
            addr: AgentAddr::parse(ip).map_err(|e| e.shifted(at(ip)))?,
            key: AgentKey::parse(key).map_err(|e| e.shifted(at(key)).with_field(Field::Key))?,
        })
    }

    /// Writes the `client.keys` line (no newline) into `buf`.
    ///
    /// # Errors
    /// `BufferTooSmall`; [`Record::MAX_LINE_LEN`] bytes always suffice.
    pub fn encode_into<'b>(&self, buf: &'b mut [u8]) -> Result<&'b str, Error> {
        let mut w = SliceWriter::new(buf);
        let _ = write!(w, "{self}");
        w.finish_str()
    }

    /// The exact length [`Record::encode_into`] writes.
    #[must_use]
    pub fn encoded_len(&self) -> usize {
        crate::out::measure(|b| self.encode_into(b).map(str::as_bytes)).unwrap_or(0)
    }

    /// Writes the line upstream keeps for a removed agent: `ID !NAME IP KEY`.
    ///
    /// # Errors
    /// Only those of the writer.
    pub fn write_removed_line<W: fmt::Write + ?Sized>(&self, w: &mut W) -> fmt::Result {
        write!(w, "{} !{} {} {}", self.id, self.name, self.addr.file_form(), self.key.as_str())
    }
}

impl fmt::Display for Record<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {} {} {}", self.id, self.name, self.addr.file_form(), self.key.as_str())
    }
}

/// An owned [`Record`] in fixed capacity (about 310 bytes), for answers that had to be decoded
/// (key-poll JSON, Base64 imports) and for callers without `alloc`.
#[derive(Clone, PartialEq, Eq)]
pub struct RecordBuf {
    id: AgentId,
    name: heapless::String<{ AgentName::MAX_LEN }>,
    addr: AgentAddr,
    key: heapless::String<{ AgentKey::MAX_LEN }>,
}

impl RecordBuf {
    /// Copies a record.
    #[must_use]
    pub fn from_record(r: &Record<'_>) -> Self {
        let mut name = heapless::String::new();
        let mut key = heapless::String::new();
        // Validated fields never exceed these capacities.
        let _ = name.push_str(r.name.as_str());
        let _ = key.push_str(r.key.as_str());
        RecordBuf { id: r.id, name, addr: r.addr, key }
    }

    /// A borrowed view.
    #[must_use]
    pub fn as_record(&self) -> Record<'_> {
        Record {
            id: self.id,
            name: AgentName::from_validated(&self.name),
            addr: self.addr,
            key: AgentKey::from_validated(&self.key),
        }
    }
}

impl fmt::Debug for RecordBuf {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.as_record(), f)
    }
}

impl fmt::Display for RecordBuf {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.as_record(), f)
    }
}

/// An owned record (the `alloc` tier): the same validated fields as [`Record`], in boxes, for
/// registries and bindings that keep records beyond the buffer they were parsed from.
///
/// ```
/// use agentkeys::{OwnedRecord, Record};
/// let record = OwnedRecord::from(&Record::parse(b"001 web-01 any 0123abcd").unwrap());
/// assert_eq!(record.as_record().to_string(), "001 web-01 any 0123abcd");
/// ```
#[cfg(feature = "alloc")]
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct OwnedRecord {
    id: AgentId,
    /// How many bytes of `text` are the name (names are at most 128 bytes).
    name_len: u8,
    addr: AgentAddr,
    /// The name followed by the key, in one allocation (a registry holds 100,000s of records).
    text: alloc::boxed::Box<str>,
}

#[cfg(feature = "alloc")]
impl OwnedRecord {
    /// An owned copy of validated fields.
    #[must_use]
    pub fn new(id: AgentId, name: AgentName<'_>, addr: AgentAddr, key: AgentKey<'_>) -> Self {
        let (name, key) = (name.as_str(), key.as_str());
        let mut text = alloc::string::String::with_capacity(name.len() + key.len());
        text.push_str(name);
        text.push_str(key);
        // A valid name is 2–128 bytes, so its length fits.
        let name_len = u8::try_from(name.len()).unwrap_or(u8::MAX);
        OwnedRecord { id, name_len, addr, text: text.into_boxed_str() }
    }

    /// The borrowed view, for every function that takes a [`Record`].
    #[must_use]
    pub fn as_record(&self) -> Record<'_> {
        Record::new(self.id, AgentName::from_valid(self.name()), self.addr, AgentKey::from_valid(self.key()))
    }

    /// The ID.
    #[must_use]
    pub fn id(&self) -> AgentId {
        self.id
    }

    /// The name.
    #[must_use]
    pub fn name(&self) -> &str {
        self.text.get(..usize::from(self.name_len)).unwrap_or("")
    }

    /// The address.
    #[must_use]
    pub fn addr(&self) -> AgentAddr {
        self.addr
    }

    /// The key.
    #[must_use]
    pub fn key(&self) -> &str {
        self.text.get(usize::from(self.name_len)..).unwrap_or("")
    }

    /// The same agent with another key (a rekey).
    ///
    /// ```
    /// use agentkeys::{AgentKey, OwnedRecord, Record};
    /// let before = OwnedRecord::from(&Record::parse(b"001 web-01 any 0123abcd").unwrap());
    /// let after = before.with_key(AgentKey::new("89abcdef").unwrap());
    /// assert_eq!(after.to_string(), "001 web-01 any 89abcdef");
    /// assert_eq!((after.id(), after.name()), (before.id(), before.name()));
    /// ```
    #[must_use]
    pub fn with_key(&self, key: AgentKey<'_>) -> Self {
        OwnedRecord::new(self.id, AgentName::from_valid(self.name()), self.addr, key)
    }
}

#[cfg(feature = "alloc")]
impl From<&Record<'_>> for OwnedRecord {
    fn from(r: &Record<'_>) -> Self {
        OwnedRecord::new(r.id, r.name, r.addr, r.key)
    }
}

#[cfg(feature = "alloc")]
impl fmt::Display for OwnedRecord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.as_record().fmt(f)
    }
}

/// The key is never printed by `Debug`.
#[cfg(feature = "alloc")]
impl fmt::Debug for OwnedRecord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OwnedRecord")
            .field("id", &self.id)
            .field("name", &self.name())
            .field("addr", &self.addr)
            .field("key", &"<redacted>")
            .finish()
    }
}
