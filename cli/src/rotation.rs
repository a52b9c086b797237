//! Who re-encrypts: the controller (`/v1/rotate`, through the API server), or this process with
//! a key backup (`--recovery-private-key`) and optionally another cluster's certificate
//! (`--cert`), with no controller at all. Used by `kubeseal --re-encrypt` and
//! `kubeseal bulk re-encrypt`.

use std::path::PathBuf;

use anyhow::{bail, Context, Result};
use crds::rotate::{KeyBackup, Rotation};
use crds::{PrivateKey, PublicKey, SealedSecret, UnsealOptions};
use zeroize::Zeroizing;

use kubeseal_client::cert;
use kubeseal_client::controller_api::{ControllerApi, StaleRotation};

/// Re-encrypts SealedSecrets to the newest key, online or offline.
pub enum Rotator {
    /// Through the controller.
    Online(ControllerApi),
    /// With backed-up private keys, to `target`.
    Offline {
        /// Every backed-up key, newest first.
        keys: Vec<PrivateKey>,
        /// The key re-encrypted to: `--cert`, else the newest backed-up key.
        target: PublicKey,
    },
}

impl Rotator {
    /// The offline rotator: keys from `backups` (PEM, key Secrets, Lists; read whole), target
    /// from `cert` (a file or URL) or else the newest backed-up key.
    pub fn offline(backups: &[PathBuf], cert: Option<&str>) -> Result<Self> {
        let mut inputs = Vec::with_capacity(backups.len());
        for path in backups {
            let bytes =
                std::fs::read(path).map_err(|e| kubeseal_client::os_error("open", path, &e))?;
            inputs.push(Zeroizing::new(bytes));
        }
        let slices: Vec<&[u8]> = inputs.iter().map(|b| b.as_slice()).collect();
        let backup = KeyBackup::read(&slices).with_context(|| {
            format!(
                "cannot read the key backup {}",
                backups
                    .iter()
                    .map(|p| p.display().to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        })?;
        let target = match cert {
            Some(source) => cert::sealing_key(source, &cert::read_cert_source(source)?)?,
            None => backup.newest()?,
        };
        Ok(Self::Offline {
            keys: backup.private_keys(),
            target,
        })
    }

    /// `Some(re-encrypted)`, or `None` when `only_stale` and every value is already on the
    /// newest key. An error says why, never with a value.
    pub async fn rotate(
        &self,
        sealed: &SealedSecret,
        only_stale: bool,
    ) -> Result<Option<SealedSecret>> {
        let rotated = match self {
            Self::Online(api) => online(api, sealed, only_stale).await?,
            Self::Offline { keys, target } => {
                let opts = UnsealOptions::default();
                match crds::rotate::rotate(sealed, keys, target, only_stale, opts) {
                    Ok(Rotation::Current) => None,
                    Ok(Rotation::Rotated(r)) => Some(*r),
                    Err(e) => bail!("the backed-up keys cannot decrypt it: {e}"),
                }
            }
        };
        Ok(rotated.map(|mut r| {
            // As the original's --re-encrypt: drop what the controller's copy carries from the
            // API server.
            r.metadata.creation_timestamp = None;
            r.metadata.generation = None;
            r.metadata.deletion_timestamp = None;
            r
        }))
    }
}

/// How messages name a SealedSecret: `SealedSecret "ns/name"`.
pub fn describe(sealed: &SealedSecret) -> String {
    format!(
        "SealedSecret \"{}/{}\"",
        sealed.metadata.namespace.as_deref().unwrap_or_default(),
        sealed.metadata.name.as_deref().unwrap_or_default()
    )
}

async fn online(
    api: &ControllerApi,
    sealed: &SealedSecret,
    only_stale: bool,
) -> Result<Option<SealedSecret>> {
    let body = serde_json::to_vec(sealed)?;
    if only_stale {
        return match api.rotate_if_stale(body).await? {
            StaleRotation::Current => Ok(None),
            StaleRotation::Rotated(r) => Ok(Some(*r)),
            StaleRotation::Undecryptable => bail!("the controller cannot decrypt it"),
        };
    }
    match api.rotate(body).await? {
        Some(r) => Ok(Some(r)),
        None => bail!("the controller cannot decrypt it"),
    }
}
