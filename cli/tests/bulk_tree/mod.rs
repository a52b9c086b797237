//! A generated tree of Secret manifests for `kubeseal bulk` tests and benchmarks (used by
//! `tests/bulk_online.rs` and, through `#[path]`, by `examples/bulk_bench_tree.rs`).
//!
//! File `i` is `team{i%10}/app{i%50}/secret{i}.yaml` and holds the Secret `secret-{i}` with two
//! `data` values (`username`, `password`) and one `stringData` value (`config.json`). With
//! `mixed`, every fourth file also holds a ConfigMap (with comments) before its Secret and a
//! Service after it, which `bulk seal` and `bulk re-encrypt` must keep verbatim and in order.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// One generated file.
pub struct Planted {
    /// Path relative to the tree's root.
    pub rel: PathBuf,
    pub namespace: String,
    pub name: String,
    /// The plain values, as the unsealed Secret's `data` holds them (all UTF-8).
    pub values: BTreeMap<String, String>,
    /// The document before the Secret, verbatim (mixed files only).
    pub before: Option<String>,
    /// The document after the Secret, `---` line included, verbatim (mixed files only).
    pub after: Option<String>,
}

/// Writes `count` files under `root`. Every Secret is in `namespace`, or in `ns{i%10}` when
/// `None`.
pub fn write_tree(
    root: &Path,
    count: usize,
    namespace: Option<&str>,
    mixed: bool,
) -> std::io::Result<Vec<Planted>> {
    let mut planted = Vec::with_capacity(count);
    for i in 0..count {
        let ns = namespace.map_or_else(|| format!("ns{}", i % 10), str::to_owned);
        let name = format!("secret-{i}");
        let password: String = (0..24)
            .map(|k| char::from(b"abcdefghijkmnpqrstuvwxyz23456789"[(k * 7 + i * 13) % 32]))
            .collect();
        let values = BTreeMap::from([
            ("username".to_owned(), format!("user{i}")),
            ("password".to_owned(), password),
            (
                "config.json".to_owned(),
                format!("{{\"endpoint\": \"https://db{i}.example\", \"pool\": 5}}"),
            ),
        ]);
        let secret = format!(
            "apiVersion: v1\nkind: Secret\nmetadata:\n  name: {name}\n  namespace: {ns}\n  labels:\n    app: app{}\ntype: Opaque\ndata:\n  username: {}\n  password: {}\nstringData:\n  config.json: '{}'\n",
            i % 50,
            base64(&values["username"]),
            base64(&values["password"]),
            values["config.json"],
        );
        let (before, after) = if mixed && i % 4 == 3 {
            (
                Some(format!(
                    "# Settings of app{}: kept byte for byte.\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: settings-{i}\n  namespace: {ns}\ndata:\n  zeta: \"1\"   # unsorted keys\n  alpha: \"yes\"\n",
                    i % 50
                )),
                Some(format!(
                    "---\napiVersion: v1\nkind: Service\nmetadata: {{name: web-{i}, namespace: {ns}}}\nspec:\n  ports: [{{port: 80}}]   # flow style\n"
                )),
            )
        } else {
            (None, None)
        };
        let text = match (&before, &after) {
            (Some(b), Some(a)) => format!("{b}---\n{secret}{a}"),
            _ => secret,
        };
        let rel = PathBuf::from(format!("team{}", i % 10))
            .join(format!("app{}", i % 50))
            .join(format!("secret{i}.yaml"));
        let path = root.join(&rel);
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        std::fs::write(&path, text)?;
        planted.push(Planted {
            rel,
            namespace: ns,
            name,
            values,
            before,
            after,
        });
    }
    Ok(planted)
}

fn base64(text: &str) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(text)
}
