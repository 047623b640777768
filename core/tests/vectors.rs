//! Every case of the cross-language test vectors (`tests/vectors/*.json`) against `core`, and the
//! check that this vendored copy matches `../shared/vectors` when that folder exists.
//!
//! The directory is `$AGENTKEYS_VECTORS` or `<workspace>/tests/vectors`.

use std::net::IpAddr;
use std::path::PathBuf;

use agentkeys::*;
use serde_json::Value;

fn vectors_dir() -> PathBuf {
    match std::env::var_os("AGENTKEYS_VECTORS") {
        Some(dir) => PathBuf::from(dir),
        None => PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../tests/vectors"),
    }
}

/// The vendored vectors are byte for byte the shared ones (when `../shared/vectors` is beside the
/// repository; a clone on its own tests with its copy).
#[test]
fn vendored_vectors_match_the_shared_ones() {
    let ours = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../tests/vectors");
    let shared = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/vectors");
    if !shared.is_dir() {
        eprintln!("skipped: no {} to compare the vendored vectors with", shared.display());
        return;
    }
    let names = |dir: &PathBuf| {
        let mut names: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| n.ends_with(".json"))
            .collect();
        names.sort();
        names
    };
    assert_eq!(names(&ours), names(&shared), "tests/vectors must hold exactly the shared vector files");
    for name in names(&shared) {
        let (a, b) = (std::fs::read(ours.join(&name)).unwrap(), std::fs::read(shared.join(&name)).unwrap());
        assert!(a == b, "tests/vectors/{name} differs from ../shared/vectors/{name}: copy it and run `make c-vectors`");
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
                // The loose fields put back together give the line again.
                let marker = &r.text[r.id.as_str().len() + 1..][..1];
                if !r.key.is_empty() {
                    assert_eq!(format!("{} {marker}{} {} {}", r.id, r.name, r.ip, r.key), r.text, "{case}");
                }
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

fn wazuh5() -> Value {
    let path = vectors_dir().join("wazuh5.json");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap()
}

fn key32(case: &Value, member: &str) -> [u8; 32] {
    hex_bytes(s(case, member)).try_into().unwrap()
}

fn hex_bytes(text: &str) -> Vec<u8> {
    (0..text.len()).step_by(2).map(|i| u8::from_str_radix(&text[i..i + 2], 16).unwrap()).collect()
}

fn label(text: &str) -> wazuh5::KeyLabel {
    [wazuh5::KeyLabel::Password, wazuh5::KeyLabel::Token, wazuh5::KeyLabel::Reenroll]
        .into_iter()
        .find(|l| l.label() == text)
        .unwrap_or_else(|| panic!("unknown label {text}"))
}

#[test]
fn wazuh5_hkdf() {
    for case in wazuh5()["hkdf"].as_array().unwrap() {
        let ikm = match case.get("ikm_hex") {
            Some(h) => hex_bytes(h.as_str().unwrap()),
            None => s(case, "ikm_utf8").as_bytes().to_vec(),
        };
        assert_eq!(wazuh5::derive_key(label(s(case, "label")), &ikm), key32(case, "key_hex"), "{case}");
    }
}

#[test]
fn wazuh5_jwt_sign_reproduces_the_bearers() {
    for case in wazuh5()["jwt_sign"].as_array().unwrap() {
        let jti: [u8; 16] = hex_bytes(s(case, "jti_hex")).try_into().unwrap();
        let kid = case["kid"].as_str();
        let iat = case["iat"].as_i64().unwrap();
        let mut out = [0u8; 1024];
        let bearer = wazuh5::sign_bearer(&key32(case, "key_hex"), kid, iat, &jti, &mut out).unwrap();
        assert_eq!(bearer, s(case, "bearer"), "{case}");
        assert_eq!(bearer.len(), wazuh5::bearer_len(kid.map(str::len), iat));
        let kind = wazuh5::peek_bearer(bearer.as_bytes()).unwrap();
        let ok =
            wazuh5::verify_bearer(bearer.as_bytes(), |_| Ok(key32(case, "key_hex")), &wazuh5::VerifyPolicy::at(iat))
                .unwrap();
        assert_eq!(ok.kind, kind);
    }
}

#[test]
fn wazuh5_jwt_verify() {
    for case in wazuh5()["jwt_verify"].as_array().unwrap() {
        let policy = wazuh5::VerifyPolicy::at(case["now"].as_i64().unwrap());
        let result = wazuh5::verify_bearer(s(case, "bearer").as_bytes(), |_| Ok(key32(case, "key_hex")), &policy);
        if ok(case, "ok") {
            let verified = result.unwrap_or_else(|e| panic!("{case}: {e}"));
            let kid = match verified.kind {
                wazuh5::BearerKind::Token(id) => id.to_text().to_string(),
                wazuh5::BearerKind::Reenroll(id) => id.as_str().to_owned(),
                wazuh5::BearerKind::Password => String::new(),
            };
            assert_eq!(kid, s(case, "kid"), "{case}");
        } else {
            let e = result.expect_err(s(case, "case"));
            assert_eq!(e.kind().bearer_class(), Some(s(case, "error")), "{}: {e}", s(case, "case"));
        }
    }
}

#[test]
fn wazuh5_tokens() {
    for case in wazuh5()["token"].as_array().unwrap() {
        let mut buf = [0u8; 4096];
        let decoded = wazuh5::EnrollmentToken::decode(s(case, "token").as_bytes(), &mut buf);
        if !ok(case, "ok") {
            assert!(decoded.is_err(), "{case} decoded: {decoded:?}");
            continue;
        }
        let token = decoded.unwrap_or_else(|e| panic!("{case}: {e}"));
        let host = match token.address.host {
            wazuh5::TokenHost::Name(n) => n.to_owned(),
            wazuh5::TokenHost::V4(v4) => v4.to_string(),
            wazuh5::TokenHost::V6 { addr, .. } => addr.to_string(),
        };
        assert_eq!(host, s(case, "host"), "{case}");
        assert_eq!(i64::from(token.address.port), case["port"].as_i64().unwrap());
        assert_eq!(token.address.prefix, s(case, "prefix"));
        let wazuh5::TrustAnchor::Pin(pin) = token.anchor else { panic!("{case}: no pin") };
        assert_eq!(wazuh5::pin_hex(&pin).as_str(), s(case, "pin_hex"));
        assert_eq!(token.credential.is_some(), case["credential"].as_bool().unwrap());
        if let Some(credential) = token.credential {
            assert_eq!(credential.id.to_text().as_str(), s(case, "kid"));
            assert_eq!(credential.secret.to_vec(), hex_bytes(s(case, "secret_hex")));
        }
        // Encoding gives the same token back, byte for byte.
        let mut out = [0u8; 8192];
        assert_eq!(token.encode_into(&mut out).unwrap(), s(case, "token"), "{case}");
        assert_eq!(token.to_text_string().unwrap(), s(case, "token"), "{case}");
        // The buffer size it states is exact: one byte less is refused, naming that size.
        let needed = token.encode_buffer_len();
        let err = token.encode_into(&mut out[..needed - 1]).unwrap_err();
        assert_eq!((err.kind(), err.offset()), (agentkeys::ErrorKind::BufferTooSmall, needed), "{case}");
    }
}

#[test]
fn wazuh5_enroll_bodies() {
    for case in wazuh5()["enroll_body"].as_array().unwrap() {
        let parsed = wazuh5::EnrollRequest::parse(s(case, "body").as_bytes());
        if ok(case, "ok") {
            let req = parsed.unwrap_or_else(|e| panic!("{case}: {e}"));
            assert_eq!(req.name(), s(case, "name"));
            assert_eq!(req.version(), s(case, "version"));
            assert_eq!(req.groups.map(|g| g.as_str().to_owned()), case["groups"].as_str().map(str::to_owned));
            let ip = match req.ip {
                None => None,
                Some(wazuh5::EnrollIp::Source) => Some("src".to_owned()),
                Some(wazuh5::EnrollIp::Addr(a)) => Some(a.to_string()),
            };
            assert_eq!(ip.as_deref(), case["ip"].as_str(), "{case}");
            assert_eq!(req.key_hash(), case["key_hash"].as_str());
            let mut out = [0u8; 1024];
            let encoded = req.encode_into(&mut out).unwrap();
            assert_eq!(encoded.len(), req.encoded_len());
            assert_eq!(wazuh5::EnrollRequest::parse(encoded.as_bytes()).unwrap(), req);
        } else {
            let e = parsed.expect_err(s(case, "body"));
            assert_eq!(case["status"].as_i64(), Some(400));
            assert_eq!(wazuh5::enroll_error_message(&e), s(case, "message"), "{case}: {e}");
        }
    }
}

/// Every encoder's `*_len` is the exact length it writes, and the allocating forms give the same
/// bytes, for every record and request of the vectors (so no caller needs to guess a size).
#[test]
fn encoded_lengths_are_exact_for_every_vector() {
    for case in cases("keys_lines.json") {
        let Line::Agent(r) = parse_line(s(&case, "line").as_bytes()) else { continue };
        let mut buf = [0u8; 1024];
        assert_eq!(r.encoded_len(), r.encode_into(&mut buf).unwrap().len(), "{case}");
        assert_eq!(key_reply_len(&r), encode_key_reply(&r, &mut buf).unwrap().len(), "{case}");
        assert_eq!(key_reply_string(&r), encode_key_reply(&r, &mut buf).unwrap(), "{case}");
        assert_eq!(export_key_len(&r), export_key(&r, &mut buf).unwrap().len(), "{case}");
        assert_eq!(export_key_string(&r), export_key(&r, &mut buf).unwrap(), "{case}");
        match encode_keypoll_success(&r, &mut buf) {
            Ok(json) => {
                let json = json.to_owned();
                assert_eq!(keypoll_success_len(&r).unwrap(), json.len(), "{case}");
                assert_eq!(keypoll_success_string(&r).unwrap(), json, "{case}");
            }
            Err(e) => assert_eq!(keypoll_success_len(&r).unwrap_err(), e, "{case}"),
        }
    }
    for case in cases("requests.json") {
        let password = case["server_password"].as_str().map(str::as_bytes);
        let opts = RequestOptions { password, manager_version: None };
        let mut buf = [0u8; 70_000];
        match Request::parse(s(&case, "request").as_bytes(), &opts) {
            Ok(req) => {
                if let Ok(bytes) = req.encode_into(&mut buf).map(<[u8]>::to_vec) {
                    assert_eq!(req.encoded_len().unwrap(), bytes.len(), "{case}");
                    assert_eq!(req.to_vec().unwrap(), bytes, "{case}");
                }
            }
            Err(e) => {
                let reply = encode_error_reply(&e, &mut buf).unwrap().to_vec();
                assert_eq!(error_reply_len(&e), reply.len(), "{case}");
                assert_eq!(error_reply_vec(&e), reply, "{case}");
            }
        }
    }
    for message in ["", "No \"agent\"\n", "é\u{1}"] {
        let mut buf = [0u8; 256];
        let json = encode_keypoll_error(4, message, &mut buf).unwrap().to_owned();
        assert_eq!(
            (keypoll_error_len(4, message).unwrap(), keypoll_error_string(4, message).unwrap()),
            (json.len(), json)
        );
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
        "wazuh5.json",
    ];
    for entry in std::fs::read_dir(vectors_dir()).expect("vectors directory") {
        let name = entry.unwrap().file_name().into_string().unwrap();
        if name.ends_with(".json") {
            assert!(known.contains(&name.as_str()), "vector file {name} has no test in core/tests/vectors.rs");
        }
    }
}
