//! The C ABI of agentkeys: `libagentkeys` and `include/agentkeys.h`.
//!
//! Conventions (see `ffi/README.md`), after rustls-ffi:
//! - every function returns `ak_result` (`AK_OK` = 0) or is an infallible predicate;
//! - inputs are `(ptr, size_t len)`: `const char *` for text (names, keys, lines, JSON, tokens),
//!   `const uint8_t *` for raw bytes (secrets, pins, derived keys); `(NULL, 0)` is empty;
//! - text outputs are `(char *buf, size_t cap, size_t *written)`: NUL-terminated on success; on
//!   `AK_BUFFER_TOO_SMALL`, `*written` is the capacity needed and `buf` is untouched;
//! - other outputs are written only on success; failure details go to an optional `ak_error *`;
//! - every body runs inside a panic boundary (`AK_PANIC`), every pointer is checked
//!   (`AK_NULL_PARAMETER`); nothing allocates on the caller's behalf, so there is nothing to free.

#![deny(unsafe_op_in_unsafe_fn)]

mod panic;

// The checked-pointer macros (`try_slice!`, `try_mut!`, …) are used by every module below.
#[macro_use]
mod io;

mod crypto;
mod keypoll;
mod keys;
mod reply;
mod request;
mod result;
mod types;
mod validate;
mod version;
mod wazuh5;

pub use crypto::*;
pub use keypoll::*;
pub use keys::*;
pub use reply::*;
pub use request::*;
pub use result::*;
pub use types::*;
pub use validate::*;
pub use version::*;
pub use wazuh5::*;
