//! # agentkeys
//!
//! Parsers, validators and formatters for the agent registration formats of Wazuh 4.x/3.x and
//! OSSEC: `client.keys` records, the port-1515 registration request and reply, key-poll script
//! answers, key hashes, message-encryption keys and Base64 key export. Byte-for-byte compatible
//! with upstream, stricter where upstream is unsafe (see `DESIGN.md` §7).
//!
//! `no_std`, no allocation: parsers take `&[u8]` and return views that borrow from it; formatters
//! write into a caller's `&mut [u8]` (or any [`core::fmt::Write`]) and report the size they need.
//! Nothing panics on any input.
//!
//! ```
//! use agentkeys::{parse_keys, Line, Request, RequestOptions, encode_key_reply, GeneratedKey, AgentId, Record};
//!
//! // Read a client.keys buffer.
//! let file = b"001 web-01 any 0123abcd\n002 !old any ffff\n";
//! let agents = parse_keys(file).filter(|l| matches!(l.line, Line::Agent(_))).count();
//! assert_eq!(agents, 1);
//!
//! // Parse a registration request as a manager does, and answer it.
//! let req = Request::parse(b"OSSEC A:'db-01' V:'v4.14.7'\n", &RequestOptions::default()).unwrap();
//! let key = GeneratedKey::from_os().unwrap();
//! let rec = Record::new(AgentId::from_number(3).unwrap(), req.name, agentkeys::AgentAddr::ANY, key.as_key());
//! let mut buf = [0u8; 512];
//! assert!(encode_key_reply(&rec, &mut buf).unwrap().starts_with("OSSEC K:'003 db-01 any "));
//! ```
//!
//! # Cargo features
//! - `std` (default): [`GeneratedKey::from_os`], keys from the operating system's entropy. Implies
//!   `alloc`.
//! - `alloc`: nothing extra yet beyond `ToString` on the `Display` types; reserved for owned
//!   conveniences.
//!
//! Without features the crate builds for bare-metal targets (CI builds it for
//! `thumbv7em-none-eabihf`); generate keys there with [`GeneratedKey::from_rng`].
//!
//! # Errors
//! Every fallible function returns [`Error`]: a `Copy` [`ErrorKind`] plus the [`Field`], line and
//! byte offset it concerns. Request parsing returns [`RequestError`], which also carries the value
//! upstream quotes in its reply, so [`encode_error_reply`] produces upstream's exact text.

#![no_std]
#![forbid(unsafe_code)]
#![deny(missing_docs)]
#![cfg_attr(docsrs, feature(doc_cfg))]

#[cfg(feature = "alloc")]
extern crate alloc;
#[cfg(any(test, feature = "std"))]
extern crate std;

mod addr;
mod class;
mod digest;
mod error;
mod export;
mod groups;
mod hostname;
mod id;
mod json;
mod key;
mod key_request;
mod keypoll;
mod keys_file;
mod name;
mod out;
mod record;
mod reply;
mod request;
pub mod wazuh5;

pub use addr::{AddrText, AgentAddr, FileForm, MAX_ADDR_TEXT_LEN};
pub use digest::{EncryptionKey, KeyHash, encryption_key, key_hash};
pub use error::{Error, ErrorKind, Field, RequestError};
#[cfg(feature = "alloc")]
pub use export::export_key_string;
pub use export::{MAX_EXPORT_LEN, MAX_IMPORT_LEN, export_key, export_key_len, import_key};
pub use groups::Groups;
pub use heapless;
pub use hostname::{CertName, cert_names_match, hostname_matches};
pub use id::AgentId;
pub use json::{JsonProgress, JsonStr, json_progress};
pub use key::{AgentKey, GeneratedKey, ct_eq};
pub use key_request::{KeyRequest, MAX_KEY_REQUEST_IP_LEN};
pub use keypoll::{
    KeyPollAnswer, MIN_SCRIPT_ID_LEN, encode_keypoll_error, encode_keypoll_success, keypoll_error_len,
    keypoll_success_len, parse_keypoll_output, validate_script_id,
};
#[cfg(feature = "alloc")]
pub use keypoll::{keypoll_error_string, keypoll_success_string};
pub use keys_file::{KeysLines, Line, NumberedLine, RemovedLine, parse_keys, parse_line, write_keys};
pub use name::AgentName;
pub use out::SliceWriter;
pub use rand_core;
#[cfg(feature = "alloc")]
pub use record::OwnedRecord;
pub use record::{Record, RecordBuf};
pub use reply::{Reply, encode_error_reply, encode_key_reply, error_reply_len, key_reply_len, parse_reply};
#[cfg(feature = "alloc")]
pub use reply::{error_reply_vec, key_reply_string};
pub use request::{IpField, MAX_AGENT_VERSION_LEN, Request, RequestOptions, Version};

/// The README's examples, compiled and run as doctests so they stay true.
#[cfg(doctest)]
#[doc = include_str!("../../README.md")]
struct ReadmeDoctests;
