//! Key-poll answers never panic; every accepted record formats back to an answer that parses to it.
#![no_main]

use agentkeys::{KeyPollAnswer, encode_keypoll_success, parse_keypoll_output};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(KeyPollAnswer::Found(record)) = parse_keypoll_output(data) {
        let mut buf = vec![0u8; 2048];
        let json = encode_keypoll_success(&record.as_record(), &mut buf).expect("fits");
        match parse_keypoll_output(json.as_bytes()) {
            Ok(KeyPollAnswer::Found(back)) => assert_eq!(back, record),
            other => panic!("re-parse of {json}: {other:?}"),
        }
    }
});
