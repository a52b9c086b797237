//! Writes a tree of Secret manifests to benchmark `kubeseal bulk seal` against a shell loop:
//! `DIR/team{0..9}/app{0..49}/secretN.yaml`, one Secret per file with 2 `data` and 1
//! `stringData` values.
//!
//! ```sh
//! cargo run --release -p kubeseal --example bulk_bench_tree -- /tmp/tree 1000
//! hyperfine --prepare 'rm -rf /tmp/sealed' \
//!   'target/release/kubeseal bulk seal --cert cert.pem /tmp/tree /tmp/sealed'
//! ```

use std::path::PathBuf;

fn main() -> std::io::Result<()> {
    let mut args = std::env::args().skip(1);
    let (Some(dir), count) = (args.next(), args.next()) else {
        eprintln!("usage: bulk_bench_tree DIR [COUNT (default 1000)]");
        std::process::exit(2);
    };
    let count: usize = match count.map(|c| c.parse()) {
        None => 1000,
        Some(Ok(n)) => n,
        Some(Err(_)) => {
            eprintln!("COUNT must be a number");
            std::process::exit(2);
        }
    };
    let root = PathBuf::from(dir);
    for i in 0..count {
        let dir = root
            .join(format!("team{}", i % 10))
            .join(format!("app{}", i % 50));
        std::fs::create_dir_all(&dir)?;
        let password: Vec<u8> = (0..24u8)
            .map(|k| k.wrapping_mul(31).wrapping_add(i as u8))
            .collect();
        let text = format!(
            "apiVersion: v1\nkind: Secret\nmetadata:\n  name: secret-{i}\n  namespace: ns{}\n  labels:\n    app: app{}\ntype: Opaque\ndata:\n  username: {}\n  password: {}\nstringData:\n  config.json: '{{\"endpoint\": \"https://db{i}.example\", \"pool\": 5}}'\n",
            i % 10,
            i % 50,
            base64(format!("user{i}").as_bytes()),
            base64(&password),
        );
        std::fs::write(dir.join(format!("secret{i}.yaml")), text)?;
    }
    println!("wrote {count} Secret manifests under {}", root.display());
    Ok(())
}

fn base64(bytes: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(bytes)
}
