//! Property tests of the Wazuh 5.0 formats: round trips, strictness (any single-byte change to a
//! valid bearer fails verification), and no panic on any input.

use agentkeys::wazuh5::*;
use proptest::prelude::*;

fn kid() -> impl Strategy<Value = Option<String>> {
    prop_oneof![
        Just(None),
        (1u32..=99_999_999).prop_map(|n| Some(agentkeys::AgentId::from_number(n).unwrap().as_str().to_owned())),
        any::<[u8; 16]>().prop_map(|b| Some(TokenId(b).to_text().to_string())),
    ]
}

fn host() -> impl Strategy<Value = String> {
    prop_oneof![
        "[a-z][a-z0-9-]{0,10}(\\.[a-z][a-z0-9-]{0,10}){0,3}"
            .prop_filter("no trailing dash", |h| !h.split('.').any(|l| l.ends_with('-'))),
        any::<[u8; 4]>().prop_map(|o| std::net::Ipv4Addr::from(o).to_string()),
        any::<[u8; 16]>().prop_map(|o| format!("[{}]", std::net::Ipv6Addr::from(o))),
    ]
}

fn address() -> impl Strategy<Value = String> {
    (host(), prop::option::of(1u16..), prop::option::of("[a-z0-9._~-]{0,12}")).prop_map(|(h, port, prefix)| {
        let mut a = h;
        if let Some(p) = port {
            a.push_str(&format!(":{p}"));
        }
        if let Some(p) = prefix {
            a.push('/');
            a.push_str(&p);
        }
        a
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn bearers_round_trip(key in any::<[u8; 32]>(), kid in kid(), iat in 0i64..4_000_000_000, jti in any::<[u8; 16]>()) {
        let mut out = [0u8; 512];
        let bearer = sign_bearer(&key, kid.as_deref(), iat, &jti, &mut out).unwrap().to_owned();
        let verified = verify_bearer(bearer.as_bytes(), |_| Ok(key), &VerifyPolicy::at(iat + 10)).unwrap();
        prop_assert_eq!(verified.claims, Claims { exp: iat + 60, iat, jti, nbf: iat });
        prop_assert_eq!(peek_bearer(bearer.as_bytes()).unwrap(), verified.kind);
    }

    #[test]
    fn any_single_byte_change_fails_verification(key in any::<[u8; 32]>(), kid in kid(), at in any::<prop::sample::Index>(), byte in any::<u8>()) {
        let mut out = [0u8; 512];
        let bearer = sign_bearer(&key, kid.as_deref(), 1_700_000_000, &[7; 16], &mut out).unwrap().as_bytes().to_vec();
        let i = at.index(bearer.len());
        prop_assume!(bearer[i] != byte);
        let mut changed = bearer.clone();
        changed[i] = byte;
        prop_assert!(verify_bearer(&changed, |_| Ok(key), &VerifyPolicy::at(1_700_000_000)).is_err());
    }

    #[test]
    fn tokens_round_trip(address in address(), pin in any::<[u8; 32]>(), credential in prop::option::of((any::<[u8; 16]>(), any::<[u8; 16]>()))) {
        let address = TokenAddress::parse(&address).unwrap();
        let token = EnrollmentToken {
            address,
            anchor: TrustAnchor::Pin(pin),
            credential: credential.map(|(id, secret)| TokenCredential { id: TokenId(id), secret }),
        };
        let mut out = vec![0u8; 4096];
        let text = token.encode_into(&mut out).unwrap().to_owned();
        prop_assert_eq!(text.len(), token.encoded_len());
        let mut buf = vec![0u8; text.len()];
        prop_assert_eq!(EnrollmentToken::decode(text.as_bytes(), &mut buf).unwrap(), token);
    }

    #[test]
    fn enroll_requests_round_trip(name in "[A-Za-z0-9_-][A-Za-z0-9._-]{1,127}", version in "v[0-9]\\.[0-9]{1,2}\\.[0-9]", src in any::<bool>()) {
        let mut req = EnrollRequest::new(&name, &version).unwrap();
        req.ip = src.then_some(EnrollIp::Source);
        let mut out = vec![0u8; req.encoded_len()];
        let body = req.encode_into(&mut out).unwrap().to_owned();
        prop_assert_eq!(EnrollRequest::parse(body.as_bytes()).unwrap(), req);
    }

    #[test]
    fn parsers_never_panic(data in prop::collection::vec(any::<u8>(), 0..600)) {
        let _ = peek_bearer(&data);
        let _ = verify_bearer(&data, |_| Ok([0; 32]), &VerifyPolicy::at(0));
        let mut buf = vec![0u8; data.len()];
        let _ = EnrollmentToken::decode(&data, &mut buf);
        let _ = EnrollRequest::parse(&data);
        let _ = EnrollReply::parse(&data);
        let _ = EnrollError::parse(&data);
        if let Ok(text) = std::str::from_utf8(&data) {
            let _ = TokenAddress::parse(text);
        }
    }

    #[test]
    fn base64_of_json_fragments_never_panics(json in "\\{\"(ver|adr|pin|ca|key)\":(1|\"[ -~]{0,60}\")(,\"(ver|adr|pin|ca|key)\":(1|\"[ -~]{0,60}\")){0,5}\\}") {
        use base64::Engine as _;
        let mut token = vec![0u8; json.len() * 4 / 3 + 4];
        let n = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode_slice(json, &mut token).unwrap();
        let mut buf = vec![0u8; n];
        let _ = EnrollmentToken::decode(&token[..n], &mut buf);
    }
}
