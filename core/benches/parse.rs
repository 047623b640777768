//! Throughput of the core parsers (DESIGN §10: parse + validate client.keys at ≥ 500 MB/s).
//!
//! `cargo bench -p agentkeys --bench parse`. Inputs are generated deterministically.

use std::hint::black_box;

use agentkeys::{Line, Request, RequestOptions, Version, parse_keys};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use rand_chacha::ChaCha8Rng;
use rand_chacha::rand_core::{Rng, SeedableRng};

/// A client.keys of `lines` lines: 40% any, 30% IPv4, 15% IPv4 CIDR, 10% IPv6, 5% removed.
fn keys_file(lines: usize) -> Vec<u8> {
    let mut rng = ChaCha8Rng::seed_from_u64(1515);
    let mut out = Vec::with_capacity(lines * 100);
    for i in 1..=lines {
        let mut key = [0u8; 32];
        rng.fill_bytes(&mut key);
        let key = hex(&key);
        let roll = rng.next_u32() % 100;
        let ip = match roll {
            0..40 => "any".to_string(),
            40..70 => format!("10.{}.{}.{}", (i >> 16) & 255, (i >> 8) & 255, i & 255),
            70..85 => format!("172.16.{}.0/24", i & 255),
            _ => format!("2001:0DB8:0000:0000:0000:0000:{:04X}:{:04X}", (i >> 16) & 0xffff, i & 0xffff),
        };
        let removed = if roll % 20 == 0 { "!" } else { "" };
        out.extend_from_slice(format!("{i:03} {removed}agent-{i}.example {ip} {key}\n").as_bytes());
    }
    out
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// 10,000 distinct requests in the shapes real agents send.
fn requests() -> Vec<Vec<u8>> {
    (0..10_000)
        .map(|i| {
            let req = match i % 4 {
                0 => format!("OSSEC A:'agent-{i}'\n"),
                1 => format!("OSSEC A:'agent-{i}' V:'v4.14.7' G:'default,web'\n"),
                2 => format!(
                    "OSSEC PASS: topsecret OSSEC A:'agent-{i}' V:'v4.14.7' IP:'10.0.{}.{}'\n",
                    i >> 8 & 255,
                    i & 255
                ),
                _ => format!(
                    "OSSEC A:'agent-{i}' V:'v4.12.0' G:'linux' IP:'src' K:'0965e68d9935a35530910bf32d35052995efe7bd'\n"
                ),
            };
            req.into_bytes()
        })
        .collect()
}

fn bench_keys_file(c: &mut Criterion) {
    let file = keys_file(100_000);
    let mut group = c.benchmark_group("client.keys");
    group.throughput(Throughput::Bytes(file.len() as u64));
    group.bench_function("parse+validate 100k lines", |b| {
        b.iter(|| {
            let mut agents = 0usize;
            for line in parse_keys(black_box(&file)) {
                match line.line {
                    Line::Agent(_) | Line::Removed(_) => agents += 1,
                    Line::Comment => {}
                    Line::Invalid(e) => panic!("generated file has a bad line: {e}"),
                }
            }
            assert_eq!(agents, 100_000);
            agents
        });
    });
    group.finish();
}

fn bench_requests(c: &mut Criterion) {
    let reqs = requests();
    let with_password = RequestOptions {
        password: Some(b"topsecret"),
        manager_version: Some(Version::parse_lenient(Version::DEFAULT_MANAGER.as_bytes())),
    };
    let without = RequestOptions { password: None, ..with_password };
    let mut group = c.benchmark_group("request");
    group.sample_size(10);
    group.throughput(Throughput::Elements(1_000_000));
    group.bench_function("parse 1M requests", |b| {
        b.iter(|| {
            let mut ok = 0usize;
            for _ in 0..100 {
                for (i, r) in reqs.iter().enumerate() {
                    let opts = if i % 4 == 2 { &with_password } else { &without };
                    ok += usize::from(Request::parse(black_box(r), opts).is_ok());
                }
            }
            assert_eq!(ok, 1_000_000);
            ok
        });
    });
    group.finish();
}

/// Verifying an enroll bearer runs on every Wazuh 5.0 enrollment: verify (with the key lookup
/// answered at once), beside its parts: peek alone and HKDF key derivation.
fn bench_wazuh5(c: &mut Criterion) {
    use agentkeys::wazuh5::{KeyLabel, VerifyPolicy, derive_key, peek_bearer, sign_bearer, verify_bearer};
    let key = derive_key(KeyLabel::Token, &[0x10; 16]);
    let mut out = [0u8; 512];
    let bearer =
        sign_bearer(&key, Some("AAECAwQFBgcICQoLDA0ODw"), 1_700_000_000, &[0; 16], &mut out).unwrap().to_owned();
    let policy = VerifyPolicy::at(1_700_000_010);
    let mut group = c.benchmark_group("wazuh5");
    group.throughput(Throughput::Elements(1));
    group.bench_function("verify bearer", |b| {
        b.iter(|| verify_bearer(black_box(bearer.as_bytes()), |_| Ok(key), &policy).unwrap())
    });
    group.bench_function("peek bearer", |b| b.iter(|| peek_bearer(black_box(bearer.as_bytes())).unwrap()));
    group.bench_function("derive key", |b| b.iter(|| derive_key(KeyLabel::Token, black_box(&[0x10; 16]))));
    group.finish();
}

criterion_group!(benches, bench_keys_file, bench_requests, bench_wazuh5);
criterion_main!(benches);
