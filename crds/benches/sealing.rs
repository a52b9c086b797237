//! Criterion benches of the sealing format and the `kubeseal` library path.
//!
//! `cargo bench -p sealed-secrets-crds --bench sealing`
//!
//! All keys are RSA-4096 (the controller's default), generated once before measuring.
//!
//! - `value/seal_64B`: `seal_bytes` of one 64-byte value (RSA-OAEP public op + AES-GCM + base64).
//! - `value/unseal_64B`: `unseal_bytes` of that value with the right key (RSA private op).
//! - `value/unseal_64B_right_key_last_of_3`: the same with two wrong keys tried first.
//! - `secret/seal_bytes_x5`, `secret/seal_secret_5_keys`: a 5-value Secret, bare and converted.
//! - `stream/parse_seal_write_1000`: what `kubeseal < 1000.yaml` does in-process (parse the
//!   multi-document YAML, seal each Secret, write JSON); `stream/parse_1000` and
//!   `stream/write_json_1000` are its two non-crypto parts alone.
//!
//! The template benches are the `gotemplate` crate's (`cargo bench -p gotemplate`).

use std::hint::black_box;
use std::sync::OnceLock;
use std::time::Duration;

use crds::{PrivateKey, Scope, SealOptions};
use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use k8s_openapi::api::core::v1::Secret;

/// Three RSA-4096 keys, generated on first use (so a filtered run only pays for what it uses).
fn keys() -> &'static [PrivateKey; 3] {
    static KEYS: OnceLock<[PrivateKey; 3]> = OnceLock::new();
    KEYS.get_or_init(|| {
        [(); 3].map(|()| PrivateKey::generate(4096).expect("RSA-4096 key generation"))
    })
}

/// A Secret with `n` data keys of 32 bytes each (base64 in `data`, as kubectl writes them).
fn secret_yaml(name: &str, n: usize) -> String {
    let mut y = format!(
        "apiVersion: v1\nkind: Secret\ntype: Opaque\nmetadata:\n  name: {name}\n  namespace: bench\n  labels:\n    app: bench\ndata:\n"
    );
    for i in 0..n {
        // 32 bytes -> 44 base64 characters.
        y.push_str(&format!(
            "  key{i}: {}\n",
            "c2VjcmV0LXZhbHVlLXRoYXQtaXMtMzItYnl0ZXMtbG9u"
        ));
    }
    y
}

/// `count` Secrets of two values each, as one multi-document YAML stream.
fn stream_yaml(count: usize) -> String {
    (0..count)
        .map(|i| format!("---\n{}", secret_yaml(&format!("secret-{i:04}"), 2)))
        .collect()
}

fn parse_secret(yaml: &str) -> Secret {
    let docs = crds::parse_documents(yaml.as_bytes()).expect("yaml");
    crds::secret_from_document(&docs[0]).expect("Secret")
}

fn value_ops(c: &mut Criterion) {
    let [a, b, right] = keys();
    let label = Scope::Strict.label("bench", "name");
    let value = [0x5au8; 64];

    let mut g = c.benchmark_group("value");
    g.sample_size(20).measurement_time(Duration::from_secs(5));

    g.bench_function("seal_64B", |bench| {
        bench.iter(|| crds::seal_bytes(a.public_key(), black_box(&label), black_box(&value)))
    });

    let sealed = crds::seal_bytes(a.public_key(), &label, &value).expect("seal");
    let one = [a.clone()];
    assert_eq!(
        &crds::unseal_bytes(&one, &label, &sealed).expect("unseal")[..],
        &value
    );
    g.bench_function("unseal_64B", |bench| {
        bench.iter(|| crds::unseal_bytes(black_box(&one), &label, black_box(&sealed)))
    });

    let sealed_right = crds::seal_bytes(right.public_key(), &label, &value).expect("seal");
    let three = [a.clone(), b.clone(), right.clone()];
    assert!(crds::unseal_bytes(&three, &label, &sealed_right).is_ok());
    g.bench_function("unseal_64B_right_key_last_of_3", |bench| {
        bench.iter(|| crds::unseal_bytes(black_box(&three), &label, black_box(&sealed_right)))
    });
    g.finish();
}

fn secret_ops(c: &mut Criterion) {
    let k = &keys()[0];
    let secret = parse_secret(&secret_yaml("five", 5));
    let opts = SealOptions::default();

    let mut g = c.benchmark_group("secret");
    g.sample_size(20).measurement_time(Duration::from_secs(5));
    // Baseline for the line below: the same five values through `seal_bytes` alone.
    let label = Scope::Strict.label("bench", "five");
    let values: Vec<Vec<u8>> = secret
        .data
        .iter()
        .flatten()
        .map(|(_, v)| v.0.clone())
        .collect();
    assert_eq!(values.len(), 5);
    g.bench_function("seal_bytes_x5", |bench| {
        bench.iter(|| {
            values
                .iter()
                .map(|v| crds::seal_bytes(k.public_key(), &label, v).expect("seal"))
                .collect::<Vec<_>>()
        })
    });
    g.bench_function("seal_secret_5_keys", |bench| {
        bench.iter_batched(
            || secret.clone(),
            |s| crds::seal_secret(s, k.public_key(), &opts).expect("seal"),
            BatchSize::SmallInput,
        )
    });
    g.finish();

    let stream = stream_yaml(1000);
    let mut g = c.benchmark_group("stream");
    g.sample_size(10).measurement_time(Duration::from_secs(10));
    g.throughput(Throughput::Elements(1000));
    // What `kubeseal < 1000.yaml` does in-process: parse, seal, write the JSON output.
    g.bench_function("parse_seal_write_1000", |bench| {
        bench.iter(|| {
            let docs = crds::parse_documents(black_box(stream.as_bytes())).expect("yaml");
            let sealed: Vec<_> = docs
                .iter()
                .map(|d| {
                    let s = crds::secret_from_document(d).expect("Secret");
                    crds::seal_secret(s, k.public_key(), &opts).expect("seal")
                })
                .collect();
            crds::write_sealed_secrets(&sealed, crds::Format::Json).expect("write")
        })
    });
    g.bench_function("parse_1000", |bench| {
        bench.iter(|| {
            let docs = crds::parse_documents(black_box(stream.as_bytes())).expect("yaml");
            docs.iter()
                .map(|d| crds::secret_from_document(d).expect("Secret"))
                .collect::<Vec<_>>()
        })
    });
    let sealed: Vec<_> = crds::parse_documents(stream.as_bytes())
        .expect("yaml")
        .iter()
        .map(|d| {
            let s = crds::secret_from_document(d).expect("Secret");
            crds::seal_secret(s, k.public_key(), &opts).expect("seal")
        })
        .collect();
    g.bench_function("write_json_1000", |bench| {
        bench.iter(|| crds::write_sealed_secrets(black_box(&sealed), crds::Format::Json))
    });
    g.finish();
}

criterion_group!(benches, value_ops, secret_ops);
criterion_main!(benches);
