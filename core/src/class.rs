//! Byte-class tables, built at compile time, one lookup per byte.

/// Builds a 256-entry table from a `const fn` predicate.
macro_rules! table {
    ($pred:ident) => {{
        let mut t = [false; 256];
        let mut i = 0;
        while i < 256 {
            t[i] = $pred(i as u8);
            i += 1;
        }
        t
    }};
}

const fn is_name_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'.' || b == b'_' || b == b'-'
}

const fn is_key_byte(b: u8) -> bool {
    b.is_ascii_graphic() && b != b'\''
}

const fn is_group_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'.' | b':' | b';' | b'_' | b'-' | b'=' | b'+' | b'!' | b'@' | b'(' | b')')
}

/// `[A-Za-z0-9._-]`: agent names (and keys as the agent checks them in replies).
pub(crate) static NAME: [bool; 256] = table!(is_name_byte);
/// Printable ASCII except space and `'`: agent keys.
pub(crate) static KEY: [bool; 256] = table!(is_key_byte);
/// `[A-Za-z0-9.:;_\-=+!@()]`: characters allowed in a group on the wire.
pub(crate) static GROUP: [bool; 256] = table!(is_group_byte);

/// Offset of the first byte of `bytes` not in `class`.
#[inline]
pub(crate) fn first_outside(bytes: &[u8], class: &[bool; 256]) -> Option<usize> {
    bytes.iter().position(|&b| !class[usize::from(b)])
}
