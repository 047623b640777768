//! Registration requests never panic; every refusal has a reply that fits its announced length.
#![no_main]

use agentkeys::{Request, RequestOptions, Version, encode_error_reply};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    for opts in [
        RequestOptions::default(),
        RequestOptions { password: Some(b"pw"), manager_version: Some(Version::parse_lenient(b"v4.14.7")) },
    ] {
        match Request::parse(data, &opts) {
            Ok(req) => {
                let _ = req.decide_addr("::1".parse().unwrap(), true);
                if let Some(g) = req.groups {
                    let mut buf = vec![0u8; g.as_str().len()];
                    let _ = g.dedup_into(&mut buf);
                }
            }
            Err(e) => {
                let mut buf = vec![0u8; e.reply_len() + 32];
                let reply = encode_error_reply(&e, &mut buf).expect("reply_len is exact");
                assert!(reply.starts_with(b"ERROR: "));
            }
        }
    }
});
