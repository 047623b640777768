//! The key request remoted sends to the manager's `krequest` socket when an unknown agent
//! connects: `id:<agent ID>` or `ip:<address>`. Key polling answers it by running a script with
//! `id <value>` / `ip <value>` as arguments.

use core::fmt;
use core::net::IpAddr;

use crate::addr::AgentAddr;
use crate::error::{Error, ErrorKind, Field};
use crate::id::AgentId;
use crate::out::SliceWriter;

/// Longest address remoted sends (`INET6_ADDRSTRLEN` − 1).
pub const MAX_KEY_REQUEST_IP_LEN: usize = 45;

/// A validated key request.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum KeyRequest {
    /// `id:<digits>`: 1 to 8 digits, kept as written.
    Id(AgentId),
    /// `ip:<address>`: one IPv4 or IPv6 address.
    Ip(IpAddr),
}

impl KeyRequest {
    /// Parses a datagram exactly: `id:` and 1–8 digits, or `ip:` and an address, nothing else.
    ///
    /// ```
    /// use agentkeys::KeyRequest;
    /// assert_eq!(KeyRequest::parse(b"id:001").unwrap().to_string(), "id:001");
    /// assert_eq!(KeyRequest::parse(b"ip:::1").unwrap().argument().as_str(), "0000:0000:0000:0000:0000:0000:0000:0001");
    /// assert!(KeyRequest::parse(b"ip:1.2.3.4;rm").is_err());
    /// ```
    ///
    /// # Errors
    /// `TooLong` for an ID over 8 digits or an address over 45 bytes (field `id`/`ip`; upstream
    /// logs these apart), else `InvalidKeyRequest`.
    pub fn parse(datagram: &[u8]) -> Result<KeyRequest, Error> {
        if let Some(id) = datagram.strip_prefix(b"id:") {
            if id.len() > AgentId::MAX_LEN {
                return Err(Error::at(ErrorKind::TooLong, Field::Id, 3 + AgentId::MAX_LEN));
            }
            return AgentId::parse(id)
                .map(KeyRequest::Id)
                .map_err(|e| Error::at(ErrorKind::InvalidKeyRequest, Field::Id, 3 + e.offset()));
        }
        if let Some(ip) = datagram.strip_prefix(b"ip:") {
            if ip.len() > MAX_KEY_REQUEST_IP_LEN {
                return Err(Error::at(ErrorKind::TooLong, Field::Ip, 3 + MAX_KEY_REQUEST_IP_LEN));
            }
            let text = core::str::from_utf8(ip).map_err(|_| Error::at(ErrorKind::InvalidKeyRequest, Field::Ip, 3))?;
            return text.parse().map(KeyRequest::Ip).map_err(|_| Error::at(ErrorKind::InvalidKeyRequest, Field::Ip, 3));
        }
        Err(Error::new(ErrorKind::InvalidKeyRequest))
    }

    /// Checks the two arguments a key-poll script receives (`id 001`, `ip 10.0.0.1`).
    ///
    /// # Errors
    /// As [`KeyRequest::parse`]; `InvalidKeyRequest` for a kind other than `id` and `ip`.
    pub fn from_args(kind: &str, value: &str) -> Result<KeyRequest, Error> {
        let mut buf = [0u8; 3 + MAX_KEY_REQUEST_IP_LEN + 1];
        let mut w = SliceWriter::new(&mut buf);
        match kind {
            "id" | "ip" => {
                w.push(kind.as_bytes());
                w.push(b":");
                w.push(value.as_bytes());
            }
            _ => return Err(Error::new(ErrorKind::InvalidKeyRequest)),
        }
        let datagram = w.finish().map_err(|_| Error::at(ErrorKind::TooLong, field_of(kind), 3))?;
        KeyRequest::parse(datagram)
    }

    /// `"id"` or `"ip"`.
    #[must_use]
    pub const fn kind(&self) -> &'static str {
        match self {
            KeyRequest::Id(_) => "id",
            KeyRequest::Ip(_) => "ip",
        }
    }

    /// The value handed to the script: the ID as written, or the address as upstream writes
    /// source addresses (dotted IPv4, expanded upper-case IPv6).
    #[must_use]
    pub fn argument(&self) -> crate::addr::AddrText {
        match self {
            KeyRequest::Id(id) => {
                let mut text = crate::addr::AddrText::new();
                let _ = text.push_str(id.as_str());
                text
            }
            KeyRequest::Ip(ip) => AgentAddr::from_ip(*ip).to_text(),
        }
    }

    /// Writes the datagram, `id:<id>` or `ip:<address as given>`.
    ///
    /// # Errors
    /// `BufferTooSmall` (`3 + 45` bytes always suffice).
    pub fn encode_into<'b>(&self, buf: &'b mut [u8]) -> Result<&'b str, Error> {
        let mut w = SliceWriter::new(buf);
        let _ = fmt::Write::write_fmt(&mut w, format_args!("{self}"));
        w.finish_str()
    }
}

fn field_of(kind: &str) -> Field {
    if kind == "id" { Field::Id } else { Field::Ip }
}

impl fmt::Display for KeyRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KeyRequest::Id(id) => write!(f, "id:{id}"),
            KeyRequest::Ip(ip) => write!(f, "ip:{ip}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests() {
        assert_eq!(KeyRequest::parse(b"id:1").unwrap(), KeyRequest::Id(AgentId::parse(b"1").unwrap()));
        for (bad, kind) in [
            (&b"id:1 2"[..], ErrorKind::InvalidKeyRequest),
            (b"id:123456789", ErrorKind::TooLong),
            (b"ip:1.2.3.4;rm", ErrorKind::InvalidKeyRequest),
            (b"name:x", ErrorKind::InvalidKeyRequest),
            (b"id:", ErrorKind::InvalidKeyRequest),
            (b"ip:1111:2222:3333:4444:5555:6666:7777:8888:9999:aaaa", ErrorKind::TooLong),
        ] {
            assert_eq!(KeyRequest::parse(bad).unwrap_err().kind(), kind, "{bad:?}");
        }
        let req = KeyRequest::from_args("ip", "10.0.0.1").unwrap();
        assert_eq!((req.kind(), req.argument().as_str()), ("ip", "10.0.0.1"));
        assert!(KeyRequest::from_args("name", "x").is_err());
        let mut buf = [0u8; 64];
        assert_eq!(req.encode_into(&mut buf).unwrap(), "ip:10.0.0.1");
    }
}
