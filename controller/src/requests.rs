//! The reconciler's writes, sent through the same `kube` client as everything else but with
//! responses read only as far as the controller needs them: the resourceVersion of a written
//! Secret, nothing of a status update.
//!
//! `kube::Api` decodes every response into the full object (a SealedSecret with its ciphertext
//! and managedFields, a Secret with its values), and on a decoding error logs the whole body,
//! which for a Secret holds its values. Here a Secret's values are skipped, never decoded, and
//! a decoding error names only the field.

use kube::api::{Patch, PatchParams, PostParams};
use kube::core::Request;
use kube::Client;
use serde::{Deserialize, Serialize};

/// The one part of a written object the reconciler keeps.
#[derive(Deserialize)]
struct Written {
    metadata: WrittenMeta,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct WrittenMeta {
    resource_version: Option<String>,
}

/// PATCHes the object `name` of the collection at `url` and returns its new resourceVersion.
pub async fn patch<P: Serialize + std::fmt::Debug>(
    client: &Client,
    url: &str,
    name: &str,
    params: &PatchParams,
    patch: &Patch<P>,
) -> Result<Option<String>, kube::Error> {
    let request = Request::new(url)
        .patch(name, params, patch)
        .map_err(kube::Error::BuildRequest)?;
    written_version(client.request_text(request).await?)
}

/// PUTs `object` as the status subresource of `name` (only its status is taken; its
/// resourceVersion is the precondition); the response is not decoded.
pub async fn replace_status<T: Serialize>(
    client: &Client,
    url: &str,
    name: &str,
    params: &PostParams,
    object: &T,
) -> Result<(), kube::Error> {
    let body = serde_json::to_vec(object).map_err(kube::Error::SerdeError)?;
    let request = Request::new(url)
        .replace_subresource("status", name, params, body)
        .map_err(kube::Error::BuildRequest)?;
    client.request_text(request).await.map(drop)
}

/// PUTs `object` as `name` of the collection at `url` (its resourceVersion is the
/// precondition: 409 Conflict when the object changed) and returns the new resourceVersion.
pub async fn replace<T: Serialize>(
    client: &Client,
    url: &str,
    name: &str,
    params: &PostParams,
    object: &T,
) -> Result<Option<String>, kube::Error> {
    let body = serde_json::to_vec(object).map_err(kube::Error::SerdeError)?;
    let request = Request::new(url)
        .replace(name, params, body)
        .map_err(kube::Error::BuildRequest)?;
    written_version(client.request_text(request).await?)
}

/// POSTs `object` to the collection at `url` (409 AlreadyExists when its name is taken) and
/// returns the new object's resourceVersion.
pub async fn create<T: Serialize>(
    client: &Client,
    url: &str,
    params: &PostParams,
    object: &T,
) -> Result<Option<String>, kube::Error> {
    let body = serde_json::to_vec(object).map_err(kube::Error::SerdeError)?;
    let request = Request::new(url)
        .create(params, body)
        .map_err(kube::Error::BuildRequest)?;
    written_version(client.request_text(request).await?)
}

fn written_version(body: String) -> Result<Option<String>, kube::Error> {
    let written: Written = serde_json::from_str(&body).map_err(kube::Error::SerdeError)?;
    Ok(written.metadata.resource_version)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_only_the_resource_version_of_a_written_secret() {
        let body = r#"{"kind":"Secret","apiVersion":"v1","metadata":{"name":"s","resourceVersion":"42",
            "managedFields":[{"manager":"m"}]},"data":{"password":"aHVudGVyMg=="},"type":"Opaque"}"#;
        let written: Written = serde_json::from_str(body).expect("decodes");
        assert_eq!(written.metadata.resource_version.as_deref(), Some("42"));
    }
}
