//! Gives the shared library its SONAME, so programs linked against it survive minor upgrades.

/// The ABI major version: bump it (and the SONAME) on any incompatible change to the C ABI.
const ABI_MAJOR: u32 = 0;

fn main() {
    let os = std::env::var("CARGO_CFG_TARGET_OS").unwrap_or_default();
    if os == "linux" || os == "freebsd" {
        println!("cargo:rustc-cdylib-link-arg=-Wl,-soname,libagentkeys.so.{ABI_MAJOR}");
    }
    println!("cargo:rerun-if-changed=build.rs");
}
