//! Property tests: format → parse round trips, and no parser panics on any input.

use agentkeys::*;
use proptest::prelude::*;

/// IDs as they are written: padded to 3 digits (`007`) or not (`7`, `42`, `12345`), 1 to 8 digits.
fn id() -> impl Strategy<Value = AgentId> {
    prop_oneof![
        (1u32..=AgentId::MAX_VALUE).prop_map(|n| AgentId::from_number(n).unwrap()),
        "[1-9][0-9]{0,7}".prop_map(|s| AgentId::parse(s.as_bytes()).unwrap()),
    ]
}

fn name() -> impl Strategy<Value = String> {
    "[A-Za-z0-9_-][A-Za-z0-9._-]{1,127}"
}

fn key() -> impl Strategy<Value = String> {
    // Printable ASCII without space (0x20) and quote (0x27).
    "[!-&(-~]{1,128}"
}

fn addr() -> impl Strategy<Value = AgentAddr> {
    let v4 = (any::<[u8; 4]>(), prop::option::of(0u8..=32)).prop_map(|(o, p)| {
        let base = format!("{}.{}.{}.{}", o[0], o[1], o[2], o[3]);
        match p {
            Some(p) => AgentAddr::new(&format!("{base}/{p}")).unwrap(),
            None => AgentAddr::new(&base).unwrap(),
        }
    });
    let mask = (any::<[u8; 4]>(), any::<[u8; 4]>()).prop_map(|(o, m)| {
        AgentAddr::new(&format!("{}.{}.{}.{}/{}.{}.{}.{}", o[0], o[1], o[2], o[3], m[0], m[1], m[2], m[3])).unwrap()
    });
    let v6 = (any::<[u8; 16]>(), prop::option::of(0u8..=128)).prop_map(|(o, p)| {
        let ip = std::net::Ipv6Addr::from(o);
        // Mapped addresses become IPv4, which is covered above.
        let ip = if ip.to_ipv4_mapped().is_some() { std::net::Ipv6Addr::LOCALHOST } else { ip };
        match p {
            Some(p) => AgentAddr::new(&format!("{ip}/{p}")).unwrap(),
            None => AgentAddr::new(&ip.to_string()).unwrap(),
        }
    });
    prop_oneof![Just(AgentAddr::ANY), v4, mask, v6]
}

fn groups() -> impl Strategy<Value = String> {
    prop::collection::vec("[A-Za-z0-9.:;_=+!@()-]{1,20}", 1..6).prop_map(|g| g.join(","))
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn record_line_round_trip(id in id(), name in name(), addr in addr(), key in key()) {
        let record = Record::new(id, AgentName::new(&name).unwrap(), addr, AgentKey::new(&key).unwrap());
        let mut buf = [0u8; Record::MAX_LINE_LEN];
        let line = record.encode_into(&mut buf).unwrap();
        let Line::Agent(back) = parse_line(line.as_bytes()) else { panic!("{line} did not parse") };
        prop_assert_eq!(back.id, record.id);
        prop_assert_eq!(back.name, record.name);
        prop_assert_eq!(back.key, record.key);
        prop_assert_eq!(back.addr.file_form().to_string(), addr.file_form().to_string());
        prop_assert_eq!(back.addr.prefix_len(), addr.prefix_len());
    }

    #[test]
    fn export_import_round_trip(id in id(), name in name(), addr in addr(), key in "[!-&(-~]{1,64}") {
        let record = Record::new(id, AgentName::new(&name).unwrap(), addr, AgentKey::new(&key).unwrap());
        let mut buf = [0u8; MAX_EXPORT_LEN];
        let b64 = export_key(&record, &mut buf).unwrap();
        // manage_agents refuses decoded text over 256 bytes; so do we.
        match import_key(b64.as_bytes()) {
            Ok(back) => prop_assert_eq!(back.to_string(), record.to_string()),
            Err(e) => prop_assert!(record.to_string().len() > MAX_IMPORT_LEN && e.kind() == ErrorKind::TooLong),
        }
    }

    #[test]
    fn request_round_trip(
        password in prop::option::of("[ -~]{1,40}"),
        name in name(),
        version in prop::option::of("v[0-9.]{0,25}"),
        groups in prop::option::of(groups()),
        ip in prop_oneof![Just(IpField::Absent), Just(IpField::Source), addr().prop_map(IpField::Addr)],
        key_hash in prop::option::of("[0-9a-f]{40}"),
    ) {
        let request = Request {
            password: password.as_deref().map(str::as_bytes),
            name: AgentName::new(&name).unwrap(),
            version: version.as_deref().map(str::as_bytes),
            groups: groups.as_deref().map(|g| Groups::parse(g.as_bytes()).unwrap()),
            ip,
            key_hash: key_hash.as_deref().map(str::as_bytes),
        };
        let mut buf = vec![0u8; 4096];
        let wire = request.encode_into(&mut buf).unwrap().to_vec();
        prop_assert_eq!(wire.last(), Some(&b'\n'));
        let opts = RequestOptions { password: request.password, manager_version: None };
        let back = Request::parse(&wire, &opts).unwrap();
        prop_assert_eq!(back, request);
    }

    #[test]
    fn keypoll_success_round_trip(id in id(), name in name(), addr in addr(), key in key()) {
        let record = Record::new(id, AgentName::new(&name).unwrap(), addr, AgentKey::new(&key).unwrap());
        let mut buf = [0u8; 600];
        // What the encoder writes, the parser accepts: IDs of 1–2 digits are refused by both.
        let Ok(json) = encode_keypoll_success(&record, &mut buf) else {
            prop_assert!(id.as_str().len() < MIN_SCRIPT_ID_LEN);
            prop_assert_eq!(encode_keypoll_success(&record, &mut [0u8; 600]).unwrap_err().kind(), ErrorKind::ScriptIdTooShort);
            return Ok(());
        };
        let KeyPollAnswer::Found(back) = parse_keypoll_output(json.as_bytes()).unwrap() else { panic!() };
        prop_assert_eq!(back, RecordBuf::from_record(&record));
    }

    #[test]
    fn keypoll_error_round_trip(code in any::<i32>().prop_filter("non-zero", |c| *c != 0), message in any::<String>()) {
        let mut buf = vec![0u8; message.len() * 6 + 64];
        let json = encode_keypoll_error(code, &message, &mut buf).unwrap();
        match parse_keypoll_output(json.as_bytes()).unwrap() {
            KeyPollAnswer::Refused { code: c, message: m } => {
                prop_assert_eq!(c, code);
                prop_assert_eq!(m.to_string(), message);
            }
            other => prop_assert!(false, "{other:?}"),
        }
    }

    #[test]
    fn reply_round_trip(id in id(), name in name(), addr in addr(), key in "[A-Za-z0-9_-][A-Za-z0-9._-]{1,127}") {
        let record = Record::new(id, AgentName::new(&name).unwrap(), addr, AgentKey::new(&key).unwrap());
        let mut buf = [0u8; 600];
        let reply = encode_key_reply(&record, &mut buf).unwrap();
        let Reply::Key { record: back, text } = parse_reply(reply.as_bytes()).unwrap() else { panic!() };
        prop_assert_eq!(back, record);
        prop_assert_eq!(&reply[9..reply.len() - 1], text);
    }

    #[test]
    fn parsers_never_panic(input in prop::collection::vec(any::<u8>(), 0..2048)) {
        for line in parse_keys(&input) {
            let _ = line;
        }
        let _ = Request::parse(&input, &RequestOptions::default());
        let _ = Request::parse(&input, &RequestOptions { password: Some(b"pw"), manager_version: Some(Version::parse_lenient(b"v4.14.7")) });
        let _ = parse_reply(&input);
        let _ = parse_keypoll_output(&input);
        let _ = import_key(&input);
        let _ = AgentAddr::parse(&input);
        if let Ok(g) = Groups::parse(&input) {
            let _ = g.dedup_into(&mut [0u8; 64]).is_ok();
        }
        let _ = Record::parse(&input);
    }

    #[test]
    fn structured_inputs_never_panic(
        prefix in prop_oneof![Just("OSSEC A:'"), Just("OSSEC PASS: pw OSSEC A:'"), Just("{\"error\":0,\"data\":{"), Just("OSSEC K:'")],
        body in "[ -~\n]{0,300}",
    ) {
        let input = format!("{prefix}{body}");
        let _ = Request::parse(input.as_bytes(), &RequestOptions { password: Some(b"pw"), manager_version: None });
        let _ = Request::parse(input.as_bytes(), &RequestOptions::default());
        let _ = parse_keypoll_output(input.as_bytes());
        let _ = parse_reply(input.as_bytes());
    }
}

/// The upstream heap over-read (SPEC 12, #15861) came from huge unterminated fields.
#[test]
fn seventy_kilobyte_unterminated_fields() {
    let filler = "a".repeat(70 * 1024);
    let cases: [(&str, ErrorKind); 6] = [
        ("OSSEC A:'x", ErrorKind::InvalidRequest),
        ("OSSEC A:'ab' V:'", ErrorKind::UnterminatedVersion),
        ("OSSEC A:'ab' G:'", ErrorKind::UnterminatedGroups),
        ("OSSEC A:'ab' IP:'", ErrorKind::UnterminatedIp),
        ("OSSEC A:'ab' K:'", ErrorKind::UnterminatedKeyHash),
        ("OSSEC PASS: ", ErrorKind::InvalidPassword),
    ];
    for (prefix, kind) in cases {
        let req = format!("{prefix}{filler}\n");
        let opts = RequestOptions {
            password: prefix.starts_with("OSSEC PASS").then_some(b"secret".as_slice()),
            manager_version: None,
        };
        assert_eq!(Request::parse(req.as_bytes(), &opts).unwrap_err().kind(), kind, "{prefix}");
    }
    // A 4095-byte password, as in the upstream reproduction, compared against a short one.
    let req = format!("OSSEC PASS: {} OSSEC A:'ab'\n", "p".repeat(4095));
    let opts = RequestOptions { password: Some(b"secret"), manager_version: None };
    assert_eq!(Request::parse(req.as_bytes(), &opts).unwrap_err().kind(), ErrorKind::InvalidPassword);
    // Groups within the 65536 limit but over 65535 with commas.
    let many = format!("OSSEC A:'ab' G:'{}'\n", "a,".repeat(33_000) + "a");
    assert_eq!(
        Request::parse(many.as_bytes(), &RequestOptions::default()).unwrap_err().kind(),
        ErrorKind::UnterminatedGroups
    );
    // Exactly 65536 bytes: readable (limit 65536) but over the multigroup limit (65535).
    let many = format!("OSSEC A:'ab' G:'{}'\n", "a,".repeat(32_767) + "aa");
    assert_eq!(
        Request::parse(many.as_bytes(), &RequestOptions::default()).unwrap_err().kind(),
        ErrorKind::MultigroupTooLarge
    );
    // A 70 KB key-poll answer and a 70 KB reply.
    let json = format!("{{\"error\":1,\"message\":\"{filler}\"}}");
    assert!(matches!(parse_keypoll_output(json.as_bytes()), Ok(KeyPollAnswer::Refused { code: 1, .. })));
    let reply = format!("OSSEC K:'{filler}");
    assert_eq!(parse_reply(reply.as_bytes()).unwrap_err().kind(), ErrorKind::InvalidReply);
}

/// Deep nesting is refused, not a stack overflow.
#[test]
fn deeply_nested_json() {
    let deep = format!("{{\"x\":{}{},\"error\":1,\"message\":\"m\"}}", "[".repeat(100_000), "]".repeat(100_000));
    assert_eq!(parse_keypoll_output(deep.as_bytes()).unwrap_err().kind(), ErrorKind::JsonTooDeep);
}

/// 128 distinct groups are accepted; the manager refuses a 129th, however many repeats come first.
#[test]
fn group_dedup_is_bounded_on_huge_inputs() {
    let distinct: Vec<String> = (0..32_000).map(|i| format!("g{i}")).collect();
    let text = distinct.join(",");
    let text = &text[..text.len().min(65_000)];
    let text = &text[..text.rfind(',').unwrap()];
    let groups = Groups::parse(text.as_bytes()).unwrap();
    let mut out = vec![0u8; text.len()];
    assert_eq!(groups.dedup_into(&mut out).unwrap_err().kind(), ErrorKind::TooManyGroups);
}
