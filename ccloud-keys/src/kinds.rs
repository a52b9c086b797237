//! The Secrets the ccloud-operator and the connect-operator write, built from their parts: same
//! names, data keys, value formats and labels (including the operator's misspelled
//! `service_accont` label), so that what the controller unseals is exactly what the operator
//! would have written. Pure functions; reading the secret parts is `input.rs`'s job.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use k8s_openapi::ByteString;
use zeroize::Zeroizing;

/// A secret part (API secret, password) held in memory that is wiped on drop.
pub type SecretText = Zeroizing<String>;

/// Why a credential cannot be built. Messages name the input, never a secret value.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum KindError {
    /// A part that ends up in the Secret's name is not a valid DNS subdomain part.
    #[error("{what} {value:?} cannot be part of a Secret name (use lowercase letters, digits, '-' and '.')")]
    BadNamePart {
        /// The flag or field.
        what: &'static str,
        /// The offending (non-secret) value.
        value: String,
    },
    /// A label value the API server would reject.
    #[error("{what} {value:?} is not a valid label value (at most 63 characters: letters, digits, '-', '_', '.', starting and ending with a letter or digit)")]
    BadLabelValue {
        /// The flag or field.
        what: &'static str,
        /// The offending (non-secret) value.
        value: String,
    },
    /// The category cannot be told from the resource id.
    #[error("cannot tell the category of resource {0:?} (lkc-… is kafka, lsrc-… is schema-registry): pass --category")]
    UnknownCategory(String),
    /// The whole name is too long.
    #[error("Secret name {0:?} is longer than 253 characters")]
    NameTooLong(String),
    /// An empty secret part.
    #[error("the {0} is empty")]
    EmptySecret(&'static str),
}

/// `category` label of an API key Secret.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Category {
    /// A Kafka cluster key (`lkc-…`).
    Kafka,
    /// A Schema Registry key (`lsrc-…`).
    SchemaRegistry,
}

impl Category {
    /// The label value the operator writes.
    pub fn as_str(self) -> &'static str {
        match self {
            Category::Kafka => "kafka",
            Category::SchemaRegistry => "schema-registry",
        }
    }

    /// The category a resource id implies.
    pub fn from_resource_id(resource_id: &str) -> Result<Self, KindError> {
        if resource_id.starts_with("lkc-") {
            Ok(Category::Kafka)
        } else if resource_id.starts_with("lsrc-") {
            Ok(Category::SchemaRegistry)
        } else {
            Err(KindError::UnknownCategory(resource_id.to_owned()))
        }
    }
}

/// An API key: its id (not secret) and its secret.
pub struct ApiKey {
    /// The key id, e.g. `ABCDEFGHIJKLMNOP`.
    pub id: String,
    /// The API secret.
    pub secret: SecretText,
}

/// `cc.api-key.<service-account>.<resource-id>`: data `ccloud-api-key` = `{"key":…,"secret":…}`.
pub struct ApiKeySecret<'a> {
    /// Service-account name (the `service_accont` label and part of the Secret name).
    pub service_account: &'a str,
    /// Service-account id (`sa-…`).
    pub service_account_id: &'a str,
    /// Kafka cluster (`lkc-…`) or Schema Registry (`lsrc-…`) id.
    pub resource_id: &'a str,
    /// Overrides the category implied by `resource_id`.
    pub category: Option<Category>,
    /// The key.
    pub key: &'a ApiKey,
}

/// Labels the ccloud-operator puts on an API key Secret.
pub const LABEL_RESOURCE_ID: &str = "resource_id";
/// The operator's misspelling of `service_account`, kept because consumers select on it.
pub const LABEL_SERVICE_ACCOUNT: &str = "service_accont";
/// Service-account id label.
pub const LABEL_SERVICE_ACCOUNT_ID: &str = "service_account_id";
/// API key id label.
pub const LABEL_KEY: &str = "key";
/// `kafka` or `schema-registry`.
pub const LABEL_CATEGORY: &str = "category";

/// Builds the API key Secret.
pub fn api_key(namespace: &str, spec: &ApiKeySecret<'_>) -> Result<Secret, KindError> {
    let category = match spec.category {
        Some(c) => c,
        None => Category::from_resource_id(spec.resource_id)?,
    };
    non_empty(&spec.key.secret, "API secret")?;
    let name = secret_name(
        Some("cc.api-key"),
        &[
            ("--service-account", spec.service_account),
            ("--resource-id", spec.resource_id),
        ],
    )?;
    let labels = [
        (LABEL_RESOURCE_ID, "--resource-id", spec.resource_id),
        (
            LABEL_SERVICE_ACCOUNT,
            "--service-account",
            spec.service_account,
        ),
        (
            LABEL_SERVICE_ACCOUNT_ID,
            "--service-account-id",
            spec.service_account_id,
        ),
        (LABEL_KEY, "--key", spec.key.id.as_str()),
        (LABEL_CATEGORY, "--category", category.as_str()),
    ]
    .into_iter()
    .map(|(label, what, value)| label_value(what, value).map(|v| (label.to_owned(), v)))
    .collect::<Result<BTreeMap<_, _>, _>>()?;
    // Compact JSON, keys in this order, exactly as the operator writes it.
    let json = Zeroizing::new(
        serde_json::to_string(&serde_json::json!({
            "key": spec.key.id,
            "secret": spec.key.secret.as_str(),
        }))
        .unwrap_or_default(),
    );
    Ok(secret(
        namespace,
        name,
        Some(labels),
        [("ccloud-api-key", json.as_bytes())],
    ))
}

/// `cc.sasl-jaas-config.<sa>.<env>.<kafka>`: the JAAS line for PLAIN login with the Kafka key.
pub fn sasl_jaas_config(
    namespace: &str,
    service_account: &str,
    environment: &str,
    kafka_cluster: &str,
    key: &ApiKey,
) -> Result<Secret, KindError> {
    non_empty(&key.secret, "API secret")?;
    let value = Zeroizing::new(format!(
        "org.apache.kafka.common.security.plain.PlainLoginModule required username=\"{}\" password=\"{}\";",
        key.id,
        key.secret.as_str()
    ));
    properties(
        namespace,
        "sasl-jaas-config",
        &[
            ("--service-account", service_account),
            ("--environment", environment),
            ("--kafka-cluster", kafka_cluster),
        ],
        "sasl.jaas.config",
        &value,
    )
}

/// `cc.schema-registry-basic-auth-user-info.<sa>.<env>`: `<key>:<secret>` for Schema Registry.
pub fn schema_registry_basic_auth(
    namespace: &str,
    service_account: &str,
    environment: &str,
    key: &ApiKey,
) -> Result<Secret, KindError> {
    non_empty(&key.secret, "API secret")?;
    let value = Zeroizing::new(format!("{}:{}", key.id, key.secret.as_str()));
    properties(
        namespace,
        "schema-registry-basic-auth-user-info",
        &[
            ("--service-account", service_account),
            ("--environment", environment),
        ],
        "schema.registry.basic.auth.user.info",
        &value,
    )
}

/// `cc.bootstrap-servers.<env>.<kafka>`: `bootstrap.servers=<host:port>`.
pub fn bootstrap_servers(
    namespace: &str,
    environment: &str,
    kafka_cluster: &str,
    servers: &str,
) -> Result<Secret, KindError> {
    non_empty(servers, "--servers value")?;
    properties(
        namespace,
        "bootstrap-servers",
        &[
            ("--environment", environment),
            ("--kafka-cluster", kafka_cluster),
        ],
        "bootstrap.servers",
        servers,
    )
}

/// `cc.schema-registry-url.<env>`: `schema.registry.url=<url>`.
pub fn schema_registry_url(
    namespace: &str,
    environment: &str,
    url: &str,
) -> Result<Secret, KindError> {
    non_empty(url, "--url value")?;
    properties(
        namespace,
        "schema-registry-url",
        &[("--environment", environment)],
        "schema.registry.url",
        url,
    )
}

/// The operator's `.properties` Secrets: `cc.<kind>.<parts…>` holding `<kind>.properties` with
/// the single line `<property>=<value>`.
fn properties(
    namespace: &str,
    kind: &str,
    parts: &[(&'static str, &str)],
    property: &str,
    value: &str,
) -> Result<Secret, KindError> {
    let name = secret_name(Some(&format!("cc.{kind}")), parts)?;
    let line = Zeroizing::new(format!("{property}={value}"));
    Ok(secret(
        namespace,
        name,
        None,
        [(format!("{kind}.properties").as_str(), line.as_bytes())],
    ))
}

/// `cc.api-key.cloud`: the Cloud API key as `key` and `secret`.
pub fn cloud_key(namespace: &str, key: &ApiKey) -> Result<Secret, KindError> {
    non_empty(&key.secret, "API secret")?;
    Ok(secret(
        namespace,
        "cc.api-key.cloud".to_owned(),
        None,
        [
            ("key", key.id.as_bytes()),
            ("secret", key.secret.as_bytes()),
        ],
    ))
}

/// `cc.ccloud-secrets`: the operator's own login.
pub fn operator_login(namespace: &str, email: &str, password: &str) -> Result<Secret, KindError> {
    non_empty(email, "--email value")?;
    non_empty(password, "password")?;
    Ok(secret(
        namespace,
        "cc.ccloud-secrets".to_owned(),
        None,
        [
            ("CCLOUD_EMAIL", email.as_bytes()),
            ("CCLOUD_PASSWORD", password.as_bytes()),
        ],
    ))
}

/// A connector's credentials: any name, the given data keys.
pub fn connector<'a>(
    namespace: &str,
    name: &str,
    entries: impl IntoIterator<Item = (&'a str, &'a [u8])>,
) -> Result<Secret, KindError> {
    let name = secret_name(None, &[("--name", name)])?;
    Ok(secret(namespace, name, None, entries))
}

fn secret<'a>(
    namespace: &str,
    name: String,
    labels: Option<BTreeMap<String, String>>,
    entries: impl IntoIterator<Item = (&'a str, &'a [u8])>,
) -> Secret {
    Secret {
        metadata: ObjectMeta {
            name: Some(name),
            namespace: Some(namespace.to_owned()),
            labels,
            ..ObjectMeta::default()
        },
        // `kubectl create secret generic` writes it explicitly; the operator's manifests leave it
        // to the API server's default, which is the same.
        type_: Some("Opaque".to_owned()),
        data: Some(
            entries
                .into_iter()
                .map(|(k, v)| (k.to_owned(), ByteString(v.to_vec())))
                .collect(),
        ),
        ..Secret::default()
    }
}

fn non_empty(value: &str, what: &'static str) -> Result<(), KindError> {
    if value.is_empty() {
        Err(KindError::EmptySecret(what))
    } else {
        Ok(())
    }
}

/// `prefix` and the parts joined with `.`, checking each part (named by its flag) is a valid
/// DNS-subdomain part.
fn secret_name(prefix: Option<&str>, parts: &[(&'static str, &str)]) -> Result<String, KindError> {
    for (what, value) in parts {
        let ok = !value.is_empty()
            && value
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'.')
            && value
                .as_bytes()
                .first()
                .is_some_and(u8::is_ascii_alphanumeric)
            && value
                .as_bytes()
                .last()
                .is_some_and(u8::is_ascii_alphanumeric);
        if !ok {
            return Err(KindError::BadNamePart {
                what,
                value: (*value).to_owned(),
            });
        }
    }
    let name = prefix
        .into_iter()
        .chain(parts.iter().map(|(_, v)| *v))
        .collect::<Vec<_>>()
        .join(".");
    if name.len() > 253 {
        return Err(KindError::NameTooLong(name));
    }
    Ok(name)
}

fn label_value(what: &'static str, value: &str) -> Result<String, KindError> {
    let ok = value.len() <= 63
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
        && (value.is_empty()
            || (value
                .as_bytes()
                .first()
                .is_some_and(u8::is_ascii_alphanumeric)
                && value
                    .as_bytes()
                    .last()
                    .is_some_and(u8::is_ascii_alphanumeric)));
    if ok && !value.is_empty() {
        Ok(value.to_owned())
    } else {
        Err(KindError::BadLabelValue {
            what,
            value: value.to_owned(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> ApiKey {
        ApiKey {
            id: "ABCDEFGHIJKLMNOP".to_owned(),
            secret: Zeroizing::new("s3cr3t+/x".to_owned()),
        }
    }

    fn value(s: &Secret, k: &str) -> String {
        String::from_utf8(
            s.data
                .as_ref()
                .and_then(|d| d.get(k))
                .map(|b| b.0.clone())
                .unwrap_or_default(),
        )
        .unwrap_or_default()
    }

    #[test]
    fn api_key_secret_matches_the_operator() {
        let key = key();
        let s = api_key(
            "default",
            &ApiKeySecret {
                service_account: "orders-app",
                service_account_id: "sa-abc123",
                resource_id: "lkc-xyz9",
                category: None,
                key: &key,
            },
        )
        .expect("builds");
        assert_eq!(
            s.metadata.name.as_deref(),
            Some("cc.api-key.orders-app.lkc-xyz9")
        );
        assert_eq!(
            value(&s, "ccloud-api-key"),
            r#"{"key":"ABCDEFGHIJKLMNOP","secret":"s3cr3t+/x"}"#
        );
        let labels = s.metadata.labels.clone().unwrap_or_default();
        assert_eq!(
            labels.get("service_accont").map(String::as_str),
            Some("orders-app")
        );
        assert_eq!(
            labels.get("service_account_id").map(String::as_str),
            Some("sa-abc123")
        );
        assert_eq!(
            labels.get("resource_id").map(String::as_str),
            Some("lkc-xyz9")
        );
        assert_eq!(
            labels.get("key").map(String::as_str),
            Some("ABCDEFGHIJKLMNOP")
        );
        assert_eq!(labels.get("category").map(String::as_str), Some("kafka"));
        assert_eq!(labels.len(), 5);
    }

    #[test]
    fn schema_registry_category_comes_from_the_resource_id() {
        assert_eq!(
            Category::from_resource_id("lsrc-1").ok(),
            Some(Category::SchemaRegistry)
        );
        assert!(matches!(
            Category::from_resource_id("xyz"),
            Err(KindError::UnknownCategory(_))
        ));
    }

    #[test]
    fn properties_values_are_the_operator_lines() {
        let key = key();
        let s = sasl_jaas_config("default", "orders-app", "dev", "lkc-1", &key).expect("builds");
        assert_eq!(
            s.metadata.name.as_deref(),
            Some("cc.sasl-jaas-config.orders-app.dev.lkc-1")
        );
        assert_eq!(
            value(&s, "sasl-jaas-config.properties"),
            "sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required username=\"ABCDEFGHIJKLMNOP\" password=\"s3cr3t+/x\";"
        );
        let s = schema_registry_basic_auth("default", "orders-app", "dev", &key).expect("builds");
        assert_eq!(
            value(&s, "schema-registry-basic-auth-user-info.properties"),
            "schema.registry.basic.auth.user.info=ABCDEFGHIJKLMNOP:s3cr3t+/x"
        );
        let s = bootstrap_servers("default", "dev", "lkc-1", "pkc-1.aws.confluent.cloud:9092")
            .expect("builds");
        assert_eq!(
            s.metadata.name.as_deref(),
            Some("cc.bootstrap-servers.dev.lkc-1")
        );
        assert_eq!(
            value(&s, "bootstrap-servers.properties"),
            "bootstrap.servers=pkc-1.aws.confluent.cloud:9092"
        );
        let s = schema_registry_url("default", "dev", "https://psrc-1.confluent.cloud")
            .expect("builds");
        assert_eq!(
            s.metadata.name.as_deref(),
            Some("cc.schema-registry-url.dev")
        );
        assert_eq!(
            value(&s, "schema-registry-url.properties"),
            "schema.registry.url=https://psrc-1.confluent.cloud"
        );
    }

    #[test]
    fn bad_parts_are_named_and_secrets_never_echoed() {
        let key = ApiKey {
            id: "K".to_owned(),
            secret: Zeroizing::new("topsecret".to_owned()),
        };
        let err =
            sasl_jaas_config("default", "Orders App", "dev", "lkc-1", &key).expect_err("refused");
        assert!(err.to_string().contains("--service-account"), "{err}");
        assert!(!err.to_string().contains("topsecret"));
        let empty = ApiKey {
            id: "K".to_owned(),
            secret: Zeroizing::new(String::new()),
        };
        assert_eq!(
            cloud_key("default", &empty).err(),
            Some(KindError::EmptySecret("API secret"))
        );
        let bad_label = ApiKey {
            id: "bad id!".to_owned(),
            secret: Zeroizing::new("x".to_owned()),
        };
        let err = api_key(
            "default",
            &ApiKeySecret {
                service_account: "a",
                service_account_id: "sa-1",
                resource_id: "lkc-1",
                category: None,
                key: &bad_label,
            },
        )
        .expect_err("refused");
        assert!(err.to_string().contains("--key"), "{err}");
    }
}
