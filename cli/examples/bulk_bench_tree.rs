//! Writes a tree of Secret manifests to benchmark `kubeseal bulk seal` against a shell loop:
//! `DIR/team{0..9}/app{0..49}/secretN.yaml`, one Secret per file with 2 `data` and 1
//! `stringData` values (the generator of `tests/bulk_tree`, also used by the online bulk test).
//! With `--mixed`, every fourth file also holds a ConfigMap before and a Service after its
//! Secret.
//!
//! ```sh
//! cargo run --release -p kubeseal --example bulk_bench_tree -- /tmp/tree 1000
//! hyperfine --prepare 'rm -rf /tmp/sealed' \
//!   'target/release/kubeseal bulk seal --cert cert.pem /tmp/tree /tmp/sealed'
//! ```

#[path = "../tests/bulk_tree/mod.rs"]
pub mod bulk_tree;

use std::path::PathBuf;

fn main() -> std::io::Result<()> {
    let mut args: Vec<String> = std::env::args().skip(1).collect();
    let mixed = match args.iter().position(|a| a == "--mixed") {
        Some(at) => {
            args.remove(at);
            true
        }
        None => false,
    };
    let mut args = args.into_iter();
    let (Some(dir), count, None) = (args.next(), args.next(), args.next()) else {
        eprintln!("usage: bulk_bench_tree DIR [COUNT (default 1000)] [--mixed]");
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
    bulk_tree::write_tree(&root, count, None, mixed)?;
    println!("wrote {count} Secret manifests under {}", root.display());
    Ok(())
}
