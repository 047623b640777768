//! Python bindings (`agentkeys._native`) over the agentkeys core crate. The API lands with the
//! Python issue; this crate builds so the workspace layout is in place.
