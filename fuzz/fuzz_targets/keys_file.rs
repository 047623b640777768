//! client.keys parsing never panics, and every agent line it accepts is written back as a line it
//! accepts again with the same fields.
#![no_main]

use agentkeys::{Line, parse_keys, parse_line};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    for line in parse_keys(data) {
        if let Line::Agent(record) = line.line {
            let mut buf = [0u8; agentkeys::Record::MAX_LINE_LEN];
            let text = record.encode_into(&mut buf).expect("a record always fits MAX_LINE_LEN");
            let Line::Agent(back) = parse_line(text.as_bytes()) else { panic!("written line does not parse: {text}") };
            assert_eq!((back.id, back.name, back.key), (record.id, record.name, record.key));
        }
    }
});
