//! Handing freed memory back to the operating system after a burst (a 16 MiB admin batch).

/// Asks the allocator to return freed heap pages to the operating system (glibc's `malloc_trim`;
/// a no-op elsewhere). Without it, glibc keeps the arenas of a burst for the process's lifetime.
pub fn return_to_os() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only releases free pages of the allocator's own arenas; it takes a plain
    // integer and touches no memory the program holds.
    unsafe {
        libc::malloc_trim(0);
    }
}
