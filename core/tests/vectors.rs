//! Every case of `../shared/vectors/*.json` (the cross-language test vectors) against `core`.
//!
//! The directory is `$AGENTKEYS_VECTORS` or `<workspace>/../shared/vectors`.

use std::net::IpAddr;
use std::path::PathBuf;

use agentkeys::*;
use serde_json::Value;

fn vectors_dir() -> PathBuf {
    match std::env::var_os("AGENTKEYS_VECTORS") {
        Some(dir) => PathBuf::from(dir),
        None => PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/vectors"),
    }
}

/// The `cases` array of one vector file; fails loudly if the file is missing.
fn cases(file: &str) -> Vec<Value> {
    let path = vectors_dir().join(file);
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("cannot read {} ({e}); set AGENTKEYS_VECTORS", path.display()));
    let doc: Value = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let cases = doc["cases"].as_array().unwrap_or_else(|| panic!("{file}: no cases")).clone();
    assert!(!cases.is_empty(), "{file}: empty");
    cases
}

fn s<'a>(case: &'a Value, key: &str) -> &'a str {
    case[key].as_str().unwrap_or_else(|| panic!("case {case} has no string {key}"))
}

fn ok(case: &Value, key: &str) -> bool {
    case[key].as_bool().unwrap_or_else(|| panic!("case {case} has no bool {key}"))
}

#[test]
fn names() {
    for case in cases("names.json") {
        let name = s(&case, "name");
        assert_eq!(AgentName::new(name).is_ok(), ok(&case, "valid"), "{case}");
    }
}

#[test]
fn ip() {
    for case in cases("ip.json") {
        let parsed = AgentAddr::new(s(&case, "input"));
        assert_eq!(parsed.is_ok(), ok(&case, "valid"), "{case}");
        if let Ok(addr) = parsed {
            assert_eq!(addr.to_string(), s(&case, "canonical"), "{case}");
            assert_eq!(addr.file_form().to_string(), s(&case, "file"), "{case}");
        }
    }
}

#[test]
fn groups() {
    for case in cases("groups.json") {
        let parsed = Groups::parse(s(&case, "groups").as_bytes());
        if ok(&case, "ok") {
            let groups = parsed.unwrap_or_else(|e| panic!("{case}: {e}"));
            let mut buf = [0u8; 256];
            assert_eq!(groups.dedup_into(&mut buf).unwrap(), s(&case, "dedup"), "{case}");
        } else {
            let err = parsed.expect_err(&case.to_string());
            assert_eq!(err.to_string(), s(&case, "error"), "{case}");
        }
    }
}

#[test]
fn keys_lines() {
    for case in cases("keys_lines.json") {
        let line = parse_line(s(&case, "line").as_bytes());
        match (s(&case, "kind"), line) {
            ("agent", Line::Agent(r)) => {
                assert_eq!(r.id.as_str(), s(&case, "id"), "{case}");
                assert_eq!(r.name.as_str(), s(&case, "name"), "{case}");
                assert_eq!(r.addr.file_form().to_string(), s(&case, "ip"), "{case}");
                assert_eq!(r.key.as_str(), s(&case, "key"), "{case}");
                // The writer reproduces the line exactly.
                assert_eq!(r.to_string(), s(&case, "line"), "{case}");
            }
            ("removed", Line::Removed(r)) => {
                assert_eq!(r.id.as_str(), s(&case, "id"), "{case}");
                assert_eq!(r.text, s(&case, "line"), "{case}");
            }
            ("comment", Line::Comment) | ("error", Line::Invalid(_)) => {}
            (kind, other) => panic!("{case}: expected {kind}, got {other:?}"),
        }
    }
}

#[test]
fn requests() {
    for case in cases("requests.json") {
        let password = case["server_password"].as_str().map(str::as_bytes);
        let version = Version::parse_lenient(s(&case, "manager_version").as_bytes());
        let opts = RequestOptions { password, manager_version: Some(version) };
        let source: IpAddr = s(&case, "source_ip").parse().unwrap();
        let use_source_ip = ok(&case, "use_source_ip");
        let parsed = Request::parse(s(&case, "request").as_bytes(), &opts);
        if is_one_byte_name_defect(&case) {
            continue;
        }
        if !ok(&case, "ok") {
            let err = parsed.expect_err(&case.to_string());
            assert_eq!(err.to_string(), s(&case, "error"), "{case}");
            let mut buf = [0u8; 512];
            let reply = encode_error_reply(&err, &mut buf).unwrap();
            assert_eq!(reply, format!("{}. Unable to add agent", s(&case, "error")).as_bytes());
            continue;
        }
        let req = parsed.unwrap_or_else(|e| panic!("{case}: {e}"));
        let expect = &case["expect"];
        assert_eq!(req.name.as_str(), s(expect, "name"), "{case}");
        if let Some(ip) = expect["ip"].as_str() {
            assert_eq!(req.decide_addr(source, use_source_ip).to_string(), ip, "{case}");
        }
        if let Some(groups) = expect["groups"].as_str() {
            let mut buf = [0u8; 256];
            assert_eq!(req.groups.unwrap().dedup_into(&mut buf).unwrap(), groups, "{case}");
        } else {
            assert!(req.groups.is_none() || expect.get("note").is_some(), "{case}");
        }
        if let Some(hash) = expect["key_hash"].as_str() {
            assert_eq!(req.key_hash, Some(hash.as_bytes()), "{case}");
        }
        if let Some(v) = expect["version"].as_str() {
            assert_eq!(req.version, Some(v.as_bytes()), "{case}");
        }
    }
}

/// `requests.json` has a case `OSSEC A:'x' IP:'1.2.3.4' G:'g'` marked ok, about field order. Its
/// one-byte name breaks the name rule that SPEC 1.3 states and that `names.json` tests (`"n"` is
/// invalid, "shorter than 2"), and upstream refuses it. We keep the name rule, assert that refusal,
/// and check what the case is about (the out-of-order `G:` is ignored) with a valid name. Once the
/// vector is corrected this function returns `false` and the case runs like any other.
fn is_one_byte_name_defect(case: &Value) -> bool {
    let request = s(case, "request");
    if !(ok(case, "ok") && request.starts_with("OSSEC A:'x' ")) {
        return false;
    }
    let opts = RequestOptions::default();
    let err = Request::parse(request.as_bytes(), &opts).expect_err("a one-byte name must be refused");
    assert_eq!(err.to_string(), "ERROR: Invalid agent name: x");
    let fixed = request.replacen("A:'x'", "A:'xx'", 1);
    let req = Request::parse(fixed.as_bytes(), &opts).unwrap();
    let source: IpAddr = s(case, "source_ip").parse().unwrap();
    assert_eq!(req.decide_addr(source, true).to_string(), s(&case["expect"], "ip"));
    assert_eq!(req.groups, None, "out-of-order G: must be ignored");
    true
}

#[test]
fn replies() {
    for case in cases("replies.json") {
        let parsed = parse_reply(s(&case, "reply").as_bytes());
        match (ok(&case, "ok"), parsed) {
            (true, Ok(Reply::Key { record, text })) => {
                assert_eq!(text, s(&case, "record"), "{case}");
                assert_eq!(record.to_string(), s(&case, "record"), "{case}");
            }
            (false, Ok(Reply::Refused(msg))) => {
                assert_eq!(msg, s(&case, "server_error").as_bytes(), "{case}");
            }
            (false, Err(_)) => assert!(case.get("server_error").is_none(), "{case}"),
            (_, other) => panic!("{case}: got {other:?}"),
        }
    }
}

#[test]
fn keypoll_output() {
    for case in cases("keypoll_output.json") {
        let parsed = parse_keypoll_output(s(&case, "output").as_bytes());
        match (ok(&case, "ok"), parsed) {
            (true, Ok(KeyPollAnswer::Found(record))) => {
                assert_eq!(record.to_string(), s(&case, "record"), "{case}");
            }
            (false, Ok(KeyPollAnswer::Refused { code, message })) => {
                let expected = &case["script_error"];
                assert_eq!(i64::from(code), expected["code"].as_i64().unwrap(), "{case}");
                assert_eq!(message.to_string(), s(expected, "message"), "{case}");
            }
            (false, Err(_)) => assert!(case.get("script_error").is_none(), "{case}"),
            (_, other) => panic!("{case}: got {other:?}"),
        }
    }
}

#[test]
fn key_hash_vectors() {
    for case in cases("key_hash.json") {
        let h = key_hash(s(&case, "id"), s(&case, "name"), s(&case, "key"));
        assert_eq!(h.as_str(), s(&case, "hash"), "{case}");
        assert!(h.matches(s(&case, "hash").as_bytes()));
    }
}

#[test]
fn encryption_key_vectors() {
    for case in cases("encryption_key.json") {
        let k = encryption_key(s(&case, "id"), s(&case, "name"), s(&case, "key"));
        assert_eq!(k.as_str(), s(&case, "encryption_key"), "{case}");
        assert_eq!(k.aes_key(), s(&case, "aes_key").as_bytes(), "{case}");
    }
}

#[test]
fn export_import() {
    for case in cases("export_import.json") {
        let imported = import_key(s(&case, "base64").as_bytes());
        if ok(&case, "ok") {
            let record = imported.unwrap_or_else(|e| panic!("{case}: {e}"));
            assert_eq!(record.to_string(), s(&case, "record"), "{case}");
            let mut buf = [0u8; MAX_EXPORT_LEN];
            assert_eq!(export_key(&record.as_record(), &mut buf).unwrap(), s(&case, "base64"), "{case}");
        } else {
            assert!(imported.is_err(), "{case}");
        }
    }
}

/// Every file in the directory is covered by a test above; a new file must get one.
#[test]
fn every_vector_file_is_tested() {
    let known = [
        "encryption_key.json",
        "export_import.json",
        "groups.json",
        "ip.json",
        "key_hash.json",
        "keypoll_output.json",
        "keys_lines.json",
        "names.json",
        "replies.json",
        "requests.json",
    ];
    for entry in std::fs::read_dir(vectors_dir()).expect("vectors directory") {
        let name = entry.unwrap().file_name().into_string().unwrap();
        if name.ends_with(".json") {
            assert!(known.contains(&name.as_str()), "vector file {name} has no test in core/tests/vectors.rs");
        }
    }
}
