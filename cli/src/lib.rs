//! The pieces of `kubeseal` other binaries of the project reuse (`ccloud-keys` seals and fetches
//! the certificate exactly as `kubeseal` does): flags, the controller client, certificate
//! sources, atomic output. `main.rs` is only the command-line front end.

pub mod bulk;
pub mod cert;
pub mod controller_api;
pub mod flags;
pub mod kubeconfig;
pub mod modes;
pub mod output;
pub mod render;
