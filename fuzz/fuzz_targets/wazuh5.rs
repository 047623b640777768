//! Wazuh 5.0 parsers never panic: bearers (peek and verify), enrollment tokens (a token that
//! decodes encodes to one that decodes to the same value), token addresses, `/enroll` bodies.
#![no_main]

use agentkeys::wazuh5::{EnrollError, EnrollReply, EnrollRequest, EnrollmentToken, TokenAddress, VerifyPolicy};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = agentkeys::wazuh5::peek_bearer(data);
    let _ = agentkeys::wazuh5::verify_bearer(data, |_| Ok([0; 32]), &VerifyPolicy::at(1_700_000_000));
    let mut buf = vec![0u8; data.len()];
    if let Ok(token) = EnrollmentToken::decode(data, &mut buf) {
        let mut out = vec![0u8; token.encoded_len() * 2 + 64];
        let text = token.encode_into(&mut out).expect("a decoded token encodes").to_owned();
        let mut again = vec![0u8; text.len()];
        assert_eq!(EnrollmentToken::decode(text.as_bytes(), &mut again).expect("re-encoded token decodes"), token);
    }
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = TokenAddress::parse(text);
    }
    if let Ok(req) = EnrollRequest::parse(data) {
        let mut out = vec![0u8; req.encoded_len()];
        let body = req.encode_into(&mut out).expect("a parsed request encodes").to_owned();
        assert_eq!(EnrollRequest::parse(body.as_bytes()).expect("re-encoded body parses"), req);
    }
    let _ = EnrollReply::parse(data);
    let _ = EnrollError::parse(data);
});
