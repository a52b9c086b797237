//! The reconciler's writes, sent through the same `kube` client as everything else but with
//! responses read only as far as the controller needs them: the resourceVersion of a written
//! Secret, nothing of a status update or an Event.
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
    let body = client.request_text(request).await?;
    let written: Written = serde_json::from_str(&body).map_err(kube::Error::SerdeError)?;
    Ok(written.metadata.resource_version)
}

/// PATCHes the status subresource of `name`; the response is not decoded.
pub async fn patch_status<P: Serialize + std::fmt::Debug>(
    client: &Client,
    url: &str,
    name: &str,
    params: &PatchParams,
    patch: &Patch<P>,
) -> Result<(), kube::Error> {
    let request = Request::new(url)
        .patch_subresource("status", name, params, patch)
        .map_err(kube::Error::BuildRequest)?;
    client.request_text(request).await.map(drop)
}

/// POSTs `object` to the collection at `url`; the response is not decoded.
pub async fn create<T: Serialize>(
    client: &Client,
    url: &str,
    object: &T,
) -> Result<(), kube::Error> {
    let body = serde_json::to_vec(object).map_err(kube::Error::SerdeError)?;
    let request = Request::new(url)
        .create(&PostParams::default(), body)
        .map_err(kube::Error::BuildRequest)?;
    client.request_text(request).await.map(drop)
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
