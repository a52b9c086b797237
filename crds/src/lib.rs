//! The SealedSecret API shared by every binary of the project: the resource types and CRD,
//! the sealing format, key handling, and Secret ⇄ SealedSecret conversion.
//!
//! Compatible with Bitnami sealed-secrets: same ciphertexts, same CRD, same key Secrets.

pub mod convert;
pub mod crd;
pub mod crypto;
mod der;
pub mod keygen;
pub mod keys;
pub mod manifest;
pub mod rotate;
mod schema;
pub mod scope;
pub mod types;
pub mod yaml;

pub use convert::{
    seal_bytes, seal_secret, secret_from_document, unseal_bytes, unseal_sealed_secret, SealError,
    SealOptions, UnsealError, UnsealOptions,
};
pub use crypto::{hybrid_decrypt, hybrid_encrypt, DecryptError, EncryptError};
pub use keys::{
    parse_private_keys, parse_sealing_key, Certificate, KeyError, PrivateKey, PublicKey,
};
pub use manifest::{
    parse_documents, write_sealed_secrets, write_secrets, Document, Format, ManifestError,
};
pub use scope::Scope;
pub use types::{SealedSecret, SealedSecretSpec, SealedSecretStatus, SecretTemplateSpec};
