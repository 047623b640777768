//! `tests/c/vectors.h`: the cases of `tests/vectors/*.json` as C arrays, for the C tests.
//! Committed and checked for drift; refresh with `make c-vectors` (AGENTKEYS_UPDATE_VECTORS=1).

use std::fmt::Write as _;
use std::path::PathBuf;

use serde_json::Value;

fn vectors_dir() -> PathBuf {
    match std::env::var_os("AGENTKEYS_VECTORS") {
        Some(dir) => PathBuf::from(dir),
        None => PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../tests/vectors"),
    }
}

fn cases(file: &str) -> Vec<Value> {
    let path = vectors_dir().join(file);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let doc: Value = serde_json::from_str(&text).unwrap();
    doc["cases"].as_array().unwrap().clone()
}

/// A C string literal and its length, or `NULL, 0`; every byte outside printable ASCII, and the
/// characters that need it, as 3-digit octal escapes (which cannot swallow following digits).
///
/// C11 compilers need only support literals of 4095 bytes: a longer value (the "over 4096 bytes"
/// bearer) becomes `NULL, <length>`, and the C test builds a filler of that length instead.
fn lit(v: Option<&str>) -> String {
    let Some(s) = v else { return "NULL, 0".into() };
    if s.len() > 4000 {
        return format!("NULL, {}", s.len());
    }
    let mut out = String::from("\"");
    for b in s.bytes() {
        match b {
            b'"' | b'\\' | b'?' => write!(out, "\\{b:03o}").unwrap(),
            0x20..=0x7e => out.push(b as char),
            _ => write!(out, "\\{b:03o}").unwrap(),
        }
    }
    write!(out, "\", {}", s.len()).unwrap();
    out
}

fn s<'a>(c: &'a Value, k: &str) -> Option<&'a str> {
    c.get(k).and_then(Value::as_str)
}

fn b(c: &Value, k: &str) -> i32 {
    i32::from(c.get(k).and_then(Value::as_bool).unwrap_or(false))
}

fn table(out: &mut String, ty: &str, fields: &str, name: &str, rows: Vec<String>) {
    writeln!(out, "struct {ty} {{ {fields} }};").unwrap();
    writeln!(out, "static const struct {ty} {name}[] = {{").unwrap();
    for r in &rows {
        writeln!(out, "    {{ {r} }},").unwrap();
    }
    writeln!(out, "}};\n#define {name}_LEN {}\n", rows.len()).unwrap();
}

const STR: &str = "const char *";

fn generate() -> String {
    let f = |n: &str| format!("{STR}{n}; size_t {n}_len;");
    let mut out = String::from(
        "/* Generated from the JSON files in tests/vectors by ffi/tests/c_vectors.rs; do not edit.\n * Refresh with `make c-vectors`. */\n#ifndef AGENTKEYS_TEST_VECTORS_H\n#define AGENTKEYS_TEST_VECTORS_H\n\n#include <stddef.h>\n\n",
    );
    let rows = cases("names.json").iter().map(|c| format!("{}, {}", lit(s(c, "name")), b(c, "valid"))).collect();
    table(&mut out, "name_case", &format!("{} int valid;", f("name")), "NAME_CASES", rows);

    let rows = cases("ip.json")
        .iter()
        .map(|c| {
            format!("{}, {}, {}, {}", lit(s(c, "input")), b(c, "valid"), lit(s(c, "canonical")), lit(s(c, "file")))
        })
        .collect();
    table(
        &mut out,
        "ip_case",
        &format!("{} int valid; {} {}", f("input"), f("canonical"), f("file")),
        "IP_CASES",
        rows,
    );

    let rows = cases("groups.json")
        .iter()
        .map(|c| format!("{}, {}, {}, {}", lit(s(c, "groups")), b(c, "ok"), lit(s(c, "dedup")), lit(s(c, "error"))))
        .collect();
    table(
        &mut out,
        "groups_case",
        &format!("{} int ok; {} {}", f("groups"), f("dedup"), f("error")),
        "GROUPS_CASES",
        rows,
    );

    let rows = cases("keys_lines.json")
        .iter()
        .map(|c| {
            let kind = match s(c, "kind").unwrap() {
                "agent" => 0,
                "removed" => 1,
                "comment" => 2,
                _ => 3,
            };
            format!(
                "{}, {kind}, {}, {}, {}, {}",
                lit(s(c, "line")),
                lit(s(c, "id")),
                lit(s(c, "name")),
                lit(s(c, "ip")),
                lit(s(c, "key"))
            )
        })
        .collect();
    table(
        &mut out,
        "keys_line_case",
        &format!("{} unsigned kind; {} {} {} {}", f("line"), f("id"), f("name"), f("ip"), f("key")),
        "KEYS_LINE_CASES",
        rows,
    );

    let rows = cases("requests.json")
        .iter()
        .map(|c| {
            let e = c.get("expect").cloned().unwrap_or(Value::Null);
            format!(
                "{}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}",
                lit(s(c, "request")),
                lit(s(c, "server_password")),
                lit(s(c, "manager_version")),
                lit(s(c, "source_ip")),
                b(c, "use_source_ip"),
                b(c, "ok"),
                lit(s(c, "error")),
                lit(s(&e, "name")),
                lit(s(&e, "ip")),
                lit(s(&e, "groups")),
                lit(s(&e, "key_hash")),
                lit(s(&e, "version")),
            )
        })
        .collect();
    table(
        &mut out,
        "request_case",
        &format!(
            "{} {} {} {} int use_source_ip; int ok; {} {} {} {} {} {}",
            f("request"),
            f("password"),
            f("manager_version"),
            f("source_ip"),
            f("error"),
            f("name"),
            f("ip"),
            f("groups"),
            f("key_hash"),
            f("version")
        ),
        "REQUEST_CASES",
        rows,
    );

    let rows = cases("replies.json")
        .iter()
        .map(|c| {
            format!("{}, {}, {}, {}", lit(s(c, "reply")), b(c, "ok"), lit(s(c, "record")), lit(s(c, "server_error")))
        })
        .collect();
    table(
        &mut out,
        "reply_case",
        &format!("{} int ok; {} {}", f("reply"), f("record"), f("server_error")),
        "REPLY_CASES",
        rows,
    );

    let rows = cases("keypoll_output.json")
        .iter()
        .map(|c| {
            let se = c.get("script_error");
            let code = se.and_then(|e| e["code"].as_i64()).unwrap_or(0);
            let msg = se.and_then(|e| e["message"].as_str());
            format!(
                "{}, {}, {}, {}, {code}, {}",
                lit(s(c, "output")),
                b(c, "ok"),
                lit(s(c, "record")),
                i32::from(se.is_some()),
                lit(msg)
            )
        })
        .collect();
    table(
        &mut out,
        "keypoll_case",
        &format!("{} int ok; {} int has_script_error; int code; {}", f("output"), f("record"), f("message")),
        "KEYPOLL_CASES",
        rows,
    );

    let rows = cases("key_hash.json")
        .iter()
        .map(|c| format!("{}, {}, {}, {}", lit(s(c, "id")), lit(s(c, "name")), lit(s(c, "key")), lit(s(c, "hash"))))
        .collect();
    table(
        &mut out,
        "key_hash_case",
        &format!("{} {} {} {}", f("id"), f("name"), f("key"), f("hash")),
        "KEY_HASH_CASES",
        rows,
    );

    let rows = cases("encryption_key.json")
        .iter()
        .map(|c| {
            format!(
                "{}, {}, {}, {}, {}",
                lit(s(c, "id")),
                lit(s(c, "name")),
                lit(s(c, "key")),
                lit(s(c, "encryption_key")),
                lit(s(c, "aes_key"))
            )
        })
        .collect();
    table(
        &mut out,
        "encryption_key_case",
        &format!("{} {} {} {} {}", f("id"), f("name"), f("key"), f("encryption_key"), f("aes_key")),
        "ENCRYPTION_KEY_CASES",
        rows,
    );

    let rows = cases("export_import.json")
        .iter()
        .map(|c| format!("{}, {}, {}", lit(s(c, "base64")), b(c, "ok"), lit(s(c, "record"))))
        .collect();
    table(&mut out, "export_case", &format!("{} int ok; {}", f("base64"), f("record")), "EXPORT_CASES", rows);

    // Wazuh 5.0 (wazuh5.json: sections instead of one `cases` array).
    let w5: Value = {
        let path = vectors_dir().join("wazuh5.json");
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap()
    };
    let section = |name: &str| w5[name].as_array().unwrap().clone();
    let hex = |c: &Value, k: &str| lit(s(c, k));
    let rows = section("hkdf")
        .iter()
        .map(|c| {
            format!("{}, {}, {}, {}", lit(s(c, "label")), hex(c, "ikm_hex"), lit(s(c, "ikm_utf8")), hex(c, "key_hex"))
        })
        .collect();
    table(
        &mut out,
        "hkdf_case",
        &format!("{} {} {} {}", f("label"), f("ikm_hex"), f("ikm_utf8"), f("key_hex")),
        "HKDF_CASES",
        rows,
    );
    let rows = section("jwt_sign")
        .iter()
        .map(|c| {
            format!(
                "{}, {}, {}, {}, {}",
                hex(c, "key_hex"),
                lit(s(c, "kid")),
                c["iat"].as_i64().unwrap(),
                hex(c, "jti_hex"),
                lit(s(c, "bearer"))
            )
        })
        .collect();
    table(
        &mut out,
        "jwt_sign_case",
        &format!("{} {} long long iat; {} {}", f("key_hex"), f("kid"), f("jti_hex"), f("bearer")),
        "JWT_SIGN_CASES",
        rows,
    );
    let rows = section("jwt_verify")
        .iter()
        .map(|c| {
            format!(
                "{}, {}, {}, {}, {}, {}, {}",
                lit(s(c, "case")),
                lit(s(c, "bearer")),
                hex(c, "key_hex"),
                c["now"].as_i64().unwrap(),
                b(c, "ok"),
                lit(s(c, "kid")),
                lit(s(c, "error"))
            )
        })
        .collect();
    table(
        &mut out,
        "jwt_verify_case",
        &format!("{} {} {} long long now; int ok; {} {}", f("name"), f("bearer"), f("key_hex"), f("kid"), f("error")),
        "JWT_VERIFY_CASES",
        rows,
    );
    let rows = section("token")
        .iter()
        .map(|c| {
            format!(
                "{}, {}, {}, {}, {}, {}, {}, {}, {}",
                lit(s(c, "token")),
                b(c, "ok"),
                lit(s(c, "host")),
                c.get("port").and_then(Value::as_i64).unwrap_or(0),
                lit(s(c, "prefix")),
                lit(s(c, "pin_hex")),
                b(c, "credential"),
                lit(s(c, "kid")),
                lit(s(c, "secret_hex"))
            )
        })
        .collect();
    table(
        &mut out,
        "token_case",
        &format!(
            "{} int ok; {} long port; {} {} int credential; {} {}",
            f("token"),
            f("host"),
            f("prefix"),
            f("pin_hex"),
            f("kid"),
            f("secret_hex")
        ),
        "TOKEN_CASES",
        rows,
    );
    let rows = section("enroll_body")
        .iter()
        .map(|c| {
            format!(
                "{}, {}, {}, {}, {}, {}, {}, {}",
                lit(s(c, "body")),
                b(c, "ok"),
                lit(s(c, "name")),
                lit(s(c, "version")),
                lit(s(c, "groups")),
                lit(s(c, "ip")),
                lit(s(c, "key_hash")),
                lit(s(c, "message"))
            )
        })
        .collect();
    table(
        &mut out,
        "enroll_body_case",
        &format!(
            "{} int ok; {} {} {} {} {} {}",
            f("body"),
            f("name"),
            f("version"),
            f("groups"),
            f("ip"),
            f("key_hash"),
            f("message")
        ),
        "ENROLL_BODY_CASES",
        rows,
    );

    out.push_str("#endif\n");
    out
}

#[test]
fn c_vectors_match_shared_vectors() {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../tests/c/vectors.h");
    let fresh = generate();
    if std::env::var_os("AGENTKEYS_UPDATE_VECTORS").is_some() {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, fresh).unwrap();
        return;
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        committed == fresh,
        "tests/c/vectors.h is out of date with tests/vectors. Run `make c-vectors` and commit it."
    );
}
