//! Kubeconfig loading (the default namespace `kubeseal` uses): any file gives a namespace or an
//! error, never a panic.
#![no_main]
use std::io::Write as _;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let Ok(mut file) = tempfile_in_shm() else { return };
    if file.1.write_all(data).is_err() {
        return;
    }
    let _ = kubeseal_client::kubeconfig::context_namespace(Some(&file.0), None);
    let _ = kubeseal_client::kubeconfig::context_namespace(Some(&file.0), Some("other"));
});

/// A file of this process in /dev/shm (reused across runs).
fn tempfile_in_shm() -> std::io::Result<(std::path::PathBuf, std::fs::File)> {
    let path = std::env::temp_dir().join(format!("kubeconfig-fuzz-{}", std::process::id()));
    let file = std::fs::File::create(&path)?;
    Ok((path, file))
}
