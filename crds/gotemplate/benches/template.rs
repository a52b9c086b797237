//! Criterion benches of `spec.template.data` rendering (parse + execute, as the controller does
//! per key) of the templates people write.
//!
//! `cargo bench -p gotemplate --bench template`
//!
//! - `template/dsn`: a URL with `urlquery`; `template/config`: a YAML file with `indent`,
//!   `b64enc`, `quote`, `default`, `printf`; `template/json`: `toJson` of a `dict`;
//!   `template/range_20`: a `range` over 20 values with `upper` and `trim`;
//!   `template/execute_config`: `config` parsed once.
//! - `adversarial/*`: the most expensive renderings the bounds allow, from issue 13's reproducers
//!   and what the limits let through (each ends at a bound, with an error, or just under it): the
//!   slowest is the worst-case time one SealedSecret can take of an unseal slot.

use std::collections::BTreeMap;
use std::hint::black_box;
use std::time::Duration;

use crds::convert::TemplateRenderer;
use criterion::{criterion_group, criterion_main, Criterion};
use gotemplate::{GoTemplates, Template, TEMPLATE_NAME};
use zeroize::Zeroizing;

/// The values the template benches render with: a few credentials and a PEM-sized blob.
fn template_values() -> BTreeMap<String, Zeroizing<Vec<u8>>> {
    let mut values: BTreeMap<String, Zeroizing<Vec<u8>>> = [
        ("user", &b"admin"[..]),
        ("password", b"s3cr3t p@ss/&"),
        ("host", b"db.example.com"),
        ("port", b"5432"),
        ("debug", b""),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), Zeroizing::new(v.to_vec())))
    .collect();
    let pem = "MIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQC7\n".repeat(30);
    values.insert("tls.key".to_owned(), Zeroizing::new(pem.into_bytes()));
    for i in 0..20 {
        values.insert(
            format!("k{i:02}"),
            Zeroizing::new(format!("  value-{i}  ").into_bytes()),
        );
    }
    values
}

const TEMPLATES: &[(&str, &str)] = &[
    (
        "dsn",
        "postgres://{{ .user }}:{{ .password | urlquery }}@{{ .host }}:{{ .port }}/app?sslmode=require",
    ),
    (
        "config",
        "database:\n  user: {{ .user | quote }}\n  password: {{ .password | b64enc }}\n  \
         debug: {{ .debug | default \"false\" }}\n  url: {{ printf \"%s:%s\" .host .port }}\n\
         tls:\n  key: |\n{{ index . \"tls.key\" | indent 4 }}\n",
    ),
    (
        "json",
        r#"{{ dict "user" .user "password" .password "port" (atoi .port) | toJson }}"#,
    ),
    (
        "range_20",
        r#"{{ range $k, $v := . }}{{ if hasPrefix "k" $k }}{{ $k | upper }}={{ trim $v }};{{ end }}{{ end }}"#,
    ),
];

fn template_ops(c: &mut Criterion) {
    let values = template_values();
    let mut g = c.benchmark_group("template");
    g.sample_size(30).measurement_time(Duration::from_secs(5));
    for (name, text) in TEMPLATES {
        assert!(GoTemplates.render(text, &values).is_ok(), "{name}");
        g.bench_function(*name, |bench| {
            bench.iter(|| GoTemplates.render(black_box(text), black_box(&values)))
        });
    }
    let config = Template::parse(TEMPLATE_NAME, TEMPLATES[1].1).expect("parses");
    g.bench_function("execute_config", |bench| {
        bench.iter(|| config.execute(black_box(&values)))
    });
    g.finish();
}

/// Templates that run into a bound (the work budget, the output size, the step limit) or come
/// close to it.
const ADVERSARIAL: &[(&str, &str)] = &[
    (
        "trim_1MB_300k_times",
        r#"{{ $s := repeat 1000000 "a" }}{{ range 300000 }}{{ $t := trim $s }}{{ end }}"#,
    ),
    (
        "trimAll_1MB_cutset_1MB",
        r#"{{ trimAll (print (repeat 1000000 "b") "a") (repeat 1000000 "a") }}"#,
    ),
    (
        "printf_width_1e6_x20",
        r#"{{ range 20 }}{{ printf "%1000000d" 1 }}{{ end }}"#,
    ),
    (
        "printf_prec_1e6_float",
        r#"{{ printf "%.1000000e" 5e-324 }}"#,
    ),
    ("range_1e6_steps", "{{ range 1000000 }}{{ end }}"),
    (
        "nested_range_2000x2000",
        "{{ range 2000 }}{{ range 2000 }}{{ end }}{{ end }}",
    ),
    (
        "replace_1MB_x64",
        r#"{{ $s := repeat 500000 "ab" }}{{ range 64 }}{{ $s = replace "ab" "ba" $s }}{{ end }}"#,
    ),
    ("toJson_1MB", r#"{{ repeat 1000000 "" | toJson }}"#),
];

fn adversarial_ops(c: &mut Criterion) {
    let values = template_values();
    let mut g = c.benchmark_group("adversarial");
    g.sample_size(10).measurement_time(Duration::from_secs(10));
    for (name, text) in ADVERSARIAL {
        let outcome = GoTemplates.render(text, &values);
        eprintln!(
            "adversarial/{name}: {}",
            outcome
                .as_ref()
                .map_or_else(|e| e.clone(), |o| format!("{} bytes", o.len()))
        );
        g.bench_function(*name, |bench| {
            bench.iter(|| GoTemplates.render(black_box(text), black_box(&values)))
        });
    }
    g.finish();
}

criterion_group!(benches, template_ops, adversarial_ops);
criterion_main!(benches);
