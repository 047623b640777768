//! C ABI over the agentkeys core crate. The API lands with the C ABI issue; this crate builds so
//! the workspace layout is in place.
