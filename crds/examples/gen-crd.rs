//! Regenerates the checked-in CRD manifest: `cargo run -p sealed-secrets-crds --example gen-crd`.

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(crds::crd::CRD_FILE);
    std::fs::write(&path, crds::crd::crd_yaml()?)?;
    println!("wrote {}", path.display());
    Ok(())
}
