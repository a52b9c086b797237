//! The pieces of `kubeseal` other binaries of the project reuse (`ccloud-keys` seals and fetches
//! the certificate exactly as `kubeseal` does): flags, the controller client, certificate
//! sources, atomic output. `main.rs` is only the command-line front end.

pub mod bulk;
pub mod cert;
pub mod controller_api;
pub mod flags;
pub mod git;
pub mod kubeconfig;
pub mod modes;
pub mod output;
pub mod render;
pub mod rotation;

/// An OS error worded as Go's `*PathError` prints it (`open x.pem: no such file or directory`),
/// which scripts written against the Go `kubeseal` match.
pub fn os_error(op: &str, path: &std::path::Path, e: &std::io::Error) -> anyhow::Error {
    anyhow::anyhow!("{op} {}: {}", path.display(), go_errno_text(e))
}

/// The lower-case text Go (and C's strerror) gives an OS error, without Rust's "(os error N)".
pub fn go_errno_text(e: &std::io::Error) -> String {
    let text = e.to_string();
    let text = match text.find(" (os error ") {
        Some(i) => &text[..i],
        None => &text,
    };
    let mut chars = text.chars();
    match chars.next() {
        Some(first) => first.to_lowercase().chain(chars).collect(),
        None => String::new(),
    }
}
