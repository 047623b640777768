//! The library's version at run time, to compare with the header's `AGENTKEYS_VERSION` macros
//! (a program built against one header may load another `libagentkeys.so.0`).

use core::ffi::c_char;

/// The version of the loaded library, `"MAJOR.MINOR.PATCH"`, NUL-terminated and static (never
/// freed). Compare it with `AGENTKEYS_VERSION`, the version of the header the caller was built
/// with.
#[unsafe(no_mangle)]
pub extern "C" fn ak_version() -> *const c_char {
    const VERSION: &core::ffi::CStr =
        match core::ffi::CStr::from_bytes_with_nul(concat!(env!("CARGO_PKG_VERSION"), "\0").as_bytes()) {
            Ok(v) => v,
            Err(_) => c"unknown",
        };
    VERSION.as_ptr()
}
