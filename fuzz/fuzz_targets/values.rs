//! Value validators, Base64 import and the certificate name rule never panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = agentkeys::AgentAddr::parse(data).map(|a| (a.to_text(), a.file_form().to_text()));
    let _ = agentkeys::AgentName::parse(data);
    let _ = agentkeys::AgentKey::parse(data);
    let _ = agentkeys::AgentId::parse(data);
    let _ = agentkeys::import_key(data);
    if let Ok(text) = std::str::from_utf8(data) {
        let mid = (0..=text.len() / 2).rev().find(|&i| text.is_char_boundary(i)).unwrap_or(0);
        let (a, b) = text.split_at(mid);
        let _ = agentkeys::hostname_matches(a, b);
    }
});
