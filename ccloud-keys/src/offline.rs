//! The one-shot commands: build the Secret of one credential kind, seal it, write it into the
//! repository layout.

use anyhow::{bail, Context, Result};
use k8s_openapi::api::core::v1::Secret;
use zeroize::Zeroizing;

use crate::flags::{Command, OutputFlags};
use crate::input::{self, Entry};
use crate::kinds::{self, ApiKey, ApiKeySecret};
use crate::repo::Repo;
use crate::sealing::{self, Outcome};

/// Runs one of the sealing commands.
pub fn run(out: &OutputFlags, command: &Command) -> Result<()> {
    let Some(env) = out.env.as_deref() else {
        bail!("--env is required (the environment the file is for, e.g. dev or prd)");
    };
    let repo = Repo::new(out.repo.clone(), env)?;
    let ns = out.namespace.as_str();
    // Build first: a bad input fails before the certificate is even read.
    let secret = build(ns, command)?;
    let key = sealing::offline_cert(out.cert.as_deref(), &repo)?;
    let name = secret.metadata.name.clone().unwrap_or_default();
    let rel = repo.sealed_file(ns, &name);
    let yaml = sealing::seal_to_yaml(secret, &key)?;
    match sealing::emit(&repo, &rel, &yaml, out.dry_run, || out.force)? {
        Outcome::Written => eprintln!("wrote {}", rel.display()),
        Outcome::DryRun => {}
    }
    Ok(())
}

fn api_key(id: &str, source: &input::SecretSource) -> Result<ApiKey> {
    let secret = source.read("API secret")?;
    input::warn_if_contains_equals("the API secret", secret.as_bytes());
    Ok(ApiKey {
        id: id.to_owned(),
        secret,
    })
}

fn build(ns: &str, command: &Command) -> Result<Secret> {
    let secret = match command {
        Command::ApiKey(a) => {
            let key = api_key(&a.key, &a.secret)?;
            kinds::api_key(
                ns,
                &ApiKeySecret {
                    service_account: &a.service_account,
                    service_account_id: &a.service_account_id,
                    resource_id: &a.resource_id,
                    category: a.category,
                    key: &key,
                },
            )?
        }
        Command::SaslJaasConfig(a) => {
            let key = api_key(&a.key, &a.secret)?;
            kinds::sasl_jaas_config(
                ns,
                &a.service_account,
                &a.environment,
                &a.kafka_cluster,
                &key,
            )?
        }
        Command::SchemaRegistryAuth(a) => {
            let key = api_key(&a.key, &a.secret)?;
            kinds::schema_registry_basic_auth(ns, &a.service_account, &a.environment, &key)?
        }
        Command::BootstrapServers(a) => {
            kinds::bootstrap_servers(ns, &a.environment, &a.kafka_cluster, &a.servers)?
        }
        Command::SchemaRegistryUrl(a) => kinds::schema_registry_url(ns, &a.environment, &a.url)?,
        Command::CloudKey(a) => kinds::cloud_key(ns, &api_key(&a.key, &a.secret)?)?,
        Command::OperatorLogin(a) => {
            let password = a.secret.read("password")?;
            kinds::operator_login(ns, &a.email, &password)?
        }
        Command::Connector(a) => {
            let entries = connector_entries(&a.from_env_file, &a.from_file)?;
            kinds::connector(
                ns,
                &a.name,
                entries.iter().map(|e| (e.key.as_str(), e.value.as_slice())),
            )?
        }
        Command::Watch(_) | Command::Completion { .. } => {
            bail!("not a sealing command")
        }
    };
    Ok(secret)
}

fn connector_entries(env_files: &[std::path::PathBuf], files: &[String]) -> Result<Vec<Entry>> {
    if env_files.is_empty() && files.is_empty() {
        bail!("nothing to seal: give --from-env-file and/or --from-file");
    }
    let mut entries: Vec<Entry> = Vec::new();
    for path in env_files {
        let bytes = Zeroizing::new(
            std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?,
        );
        for entry in input::parse_env_file(path, &bytes)? {
            input::warn_if_contains_equals(&entry.key, &entry.value);
            entries.push(entry);
        }
    }
    for spec in files {
        entries.push(input::read_from_file(spec)?);
    }
    let mut keys: Vec<&str> = entries.iter().map(|e| e.key.as_str()).collect();
    keys.sort_unstable();
    if let Some(w) = keys.windows(2).find(|w| w[0] == w[1]) {
        bail!("key {:?} is given twice", w[0]);
    }
    Ok(entries)
}
