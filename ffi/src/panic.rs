//! The panic boundary: no Rust panic ever unwinds into C.

/// The value an exported function returns when its body panicked.
pub(crate) trait PanicFallback {
    fn on_panic() -> Self;
}

impl PanicFallback for crate::result::ak_result {
    fn on_panic() -> Self {
        crate::result::ak_result::AK_PANIC
    }
}

impl PanicFallback for bool {
    fn on_panic() -> Self {
        false
    }
}

impl PanicFallback for *const core::ffi::c_char {
    /// A getter that returns static text returns NULL when it panicked.
    fn on_panic() -> Self {
        core::ptr::null()
    }
}

impl PanicFallback for usize {
    fn on_panic() -> Self {
        0
    }
}

/// Runs the body inside `catch_unwind`; a panic becomes the return type's [`PanicFallback`].
macro_rules! ffi_panic_boundary {
    ( $($body:tt)* ) => {
        match ::std::panic::catch_unwind(::std::panic::AssertUnwindSafe(|| { $($body)* })) {
            Ok(value) => value,
            Err(_) => $crate::panic::PanicFallback::on_panic(),
        }
    };
}

pub(crate) use ffi_panic_boundary;
