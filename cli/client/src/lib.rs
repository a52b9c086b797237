//! kubeseal's client side, shared by `kubeseal` and `ccloud-keys` (which seals and fetches the
//! certificate exactly as `kubeseal` does): the connection flags, the controller API client,
//! certificate sources, kubeconfig's default namespace, Git work trees and atomic output.
//! Nothing here parses a command line or prints.

pub mod cert;
pub mod connection;
pub mod controller_api;
pub mod git;
pub mod kubeconfig;
pub mod output;

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
