//! What `kubeseal` does, one function per mode, in the original's order of precedence:
//! recovery-unseal, validate / re-encrypt, fetch-cert, merge-into, raw, seal.

use std::collections::BTreeMap;
use std::io::{IsTerminal, Read};
use std::path::{Path, PathBuf};

use anyhow::{anyhow, bail, Context, Result};
use crds::convert::ZeroizingSecret;
use crds::manifest::{self, Format};
use crds::{PublicKey, Scope, SealOptions, SealedSecret};
use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use k8s_openapi::ByteString;
use zeroize::Zeroizing;

use crate::flags::Cli;
use crate::rotation::{describe, Rotator};
use kubeseal_client::cert;
use kubeseal_client::controller_api::ControllerApi;
use kubeseal_client::kubeconfig;
use kubeseal_client::output::{write_atomically, Sink};

/// Runs the mode the flags select.
pub fn run(cli: &Cli) -> Result<()> {
    let f = &cli.seal;
    let scope = f
        .scope
        .as_deref()
        .filter(|s| !s.is_empty())
        .map(str::parse::<Scope>)
        .transpose()?;
    let explicit_format = f.format.as_deref().map(parse_format).transpose()?;
    if !f.recovery_private_key.is_empty()
        && !f.recovery_unseal
        && !f.re_encrypt
        && std::io::stderr().is_terminal()
    {
        eprintln!("warning: ignoring --recovery-private-key because unseal command not chosen with --recovery-unseal");
    }

    if f.recovery_unseal {
        let format = output_format(explicit_format, f.sealed_secret_file.as_deref());
        return recovery_unseal(cli, format);
    }
    if f.validate {
        return validate(cli);
    }
    if f.re_encrypt {
        let format = output_format(explicit_format, f.sealed_secret_file.as_deref());
        return re_encrypt(cli, format);
    }
    if f.cert.len() > 1 {
        let format = output_format(explicit_format, f.sealed_secret_file.as_deref());
        return seal_for_clusters(cli, scope, format);
    }
    let (cert_source, pem) = match f.cert.first().map(String::as_str).filter(|c| !c.is_empty()) {
        Some(source) => (source.to_owned(), cert::read_cert_source(source)?),
        None => {
            let pem = block_on(async { controller(cli).await?.cert().await })?;
            (
                format!(
                    "from controller {}/{}",
                    cli.cluster.controller.controller_namespace,
                    cli.cluster.controller.controller_name
                ),
                pem,
            )
        }
    };
    if f.fetch_cert {
        return sink(cli).write(&pem);
    }
    let cert_source = cert_source.as_str();
    let key = cert::sealing_key(cert_source, &pem)?;

    if let Some(target) = f.merge_into.as_deref() {
        return merge_into(cli, &key, scope, explicit_format, target);
    }
    if f.raw {
        return seal_raw(cli, &key, scope);
    }
    let format = output_format(explicit_format, f.sealed_secret_file.as_deref());
    seal(cli, &key, scope, format)
}

/// The controller, or with `--recovery-private-key` the key backup (to `--cert`, else to the
/// newest backed-up key): `--re-encrypt` then needs no controller.
async fn rotator(cli: &Cli) -> Result<Rotator> {
    let f = &cli.seal;
    if f.recovery_private_key.is_empty() {
        return Ok(Rotator::Online(controller(cli).await?));
    }
    if f.cert.len() > 1 {
        bail!("--re-encrypt takes one --cert (the certificate to re-encrypt to)");
    }
    let cert = f.cert.first().map(String::as_str).filter(|c| !c.is_empty());
    Rotator::offline(&f.recovery_private_key, cert)
}

/// Runs async cluster work on a small runtime (only the modes that need the cluster pay for it).
pub(crate) fn block_on<T>(work: impl std::future::Future<Output = Result<T>>) -> Result<T> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?
        .block_on(work)
}

async fn controller(cli: &Cli) -> Result<ControllerApi> {
    ControllerApi::connect(
        &cli.cluster,
        &cli.cluster.controller.controller_namespace,
        &cli.cluster.controller.controller_name,
    )
    .await
}

/// The SealedSecrets of the input, each with its compact JSON (what the controller receives).
fn input_sealed_secrets(cli: &Cli) -> Result<Vec<SealedSecret>> {
    let input = read_input(cli)?;
    let docs = manifest::parse_documents(&input)
        .with_context(|| format!("cannot read {}", input_name(cli)))?;
    if docs.is_empty() {
        bail!("no SealedSecret found in {}", input_name(cli));
    }
    docs.into_iter().map(sealed_secret_from_document).collect()
}

fn validate(cli: &Cli) -> Result<()> {
    let sealed = input_sealed_secrets(cli)?;
    block_on(async {
        let api = controller(cli).await?;
        for s in &sealed {
            if !api.verify(serde_json::to_vec(s)?).await? {
                bail!(
                    "unable to decrypt sealed secret: {}",
                    s.metadata.name.as_deref().unwrap_or_default()
                );
            }
        }
        Ok(())
    })
}

fn re_encrypt(cli: &Cli, format: Format) -> Result<()> {
    let sealed = input_sealed_secrets(cli)?;
    let rotated = block_on(async {
        let rotator = rotator(cli).await?;
        let mut out = Vec::with_capacity(sealed.len());
        for s in &sealed {
            match rotator.rotate(s, false).await {
                Ok(Some(r)) => out.push(r),
                Ok(None) => bail!("internal error: nothing re-encrypted"),
                Err(e) => bail!("unable to rotate secret {}: {e:#}", describe(s)),
            }
        }
        Ok(out)
    })?;
    // Like the original (#405): re-encrypting a file without -w updates that file in place,
    // keeping its format unless -o asks otherwise.
    match (&cli.seal.sealed_secret_file, &cli.seal.secret_file) {
        (None, Some(input)) => {
            let format = match (&cli.seal.format, std::fs::read(input)) {
                (None, Ok(old)) if !manifest::is_json(&old) => Format::Yaml,
                _ => format,
            };
            let text = manifest::write_sealed_secrets(&rotated, format)?;
            write_atomically(input, text.as_bytes())
        }
        _ => sink(cli).write(manifest::write_sealed_secrets(&rotated, format)?.as_bytes()),
    }
}

pub(crate) fn parse_format(s: &str) -> Result<Format> {
    match s.to_ascii_lowercase().as_str() {
        "json" | "" => Ok(Format::Json),
        "yaml" => Ok(Format::Yaml),
        other => bail!("unsupported output format: {other} (expected json or yaml)"),
    }
}

/// As the original: a `.yaml`/`.yml` output file means YAML whatever `-o` says; otherwise `-o`,
/// else JSON.
fn output_format(explicit: Option<Format>, out_file: Option<&Path>) -> Format {
    match out_file.and_then(|p| p.extension()) {
        Some(ext) if ext == "yaml" || ext == "yml" => Format::Yaml,
        _ => explicit.unwrap_or(Format::Json),
    }
}

fn sink(cli: &Cli) -> Sink {
    match &cli.seal.sealed_secret_file {
        Some(path) => Sink::File(path.clone()),
        None => Sink::Stdout,
    }
}

/// The whole input (from `-f` or stdin), zeroized when dropped.
fn read_input(cli: &Cli) -> Result<Zeroizing<Vec<u8>>> {
    let mut buf = Zeroizing::new(Vec::new());
    match &cli.seal.secret_file {
        Some(path) => {
            buf.extend_from_slice(
                &std::fs::read(path).map_err(|e| kubeseal_client::os_error("open", path, &e))?,
            );
        }
        None => {
            let stdin = std::io::stdin();
            if stdin.is_terminal() {
                eprintln!("(tty detected: expecting json/yaml k8s resource in stdin)");
            }
            stdin
                .lock()
                .read_to_end(&mut buf)
                .context("cannot read stdin")?;
        }
    }
    Ok(buf)
}

fn input_name(cli: &Cli) -> String {
    cli.seal
        .secret_file
        .as_ref()
        .map(|p| p.display().to_string())
        .unwrap_or_else(|| "stdin".to_owned())
}

/// The namespace used for Secrets that have none: `-n`, else the kubeconfig context's.
fn fallback_namespace(cli: &Cli) -> Result<Option<String>> {
    if let Some(ns) = cli.cluster.namespace.as_ref().filter(|n| !n.is_empty()) {
        return Ok(Some(ns.clone()));
    }
    kubeconfig::context_namespace(
        cli.cluster.kubeconfig.as_deref(),
        cli.cluster.context.as_deref(),
    )
}

/// The Secrets to seal: from `--from-file` with `--name`, or the documents of the input.
/// The Secrets to seal, wiped when dropped (also on the error paths of their consumers).
fn input_secrets(cli: &Cli) -> Result<Vec<ZeroizingSecret>> {
    let f = &cli.seal;
    if !f.from_file.is_empty() {
        let Some(name) = f.name.as_ref() else {
            bail!("--from-file requires --raw, or --name to build a Secret from the files");
        };
        let mut secret = ZeroizingSecret(Secret {
            metadata: ObjectMeta {
                name: Some(name.clone()),
                ..ObjectMeta::default()
            },
            data: Some(BTreeMap::new()),
            type_: Some("Opaque".to_owned()),
            ..Secret::default()
        });
        for spec in &f.from_file {
            let (key, path) = from_file_spec(spec)?;
            let bytes =
                std::fs::read(&path).map_err(|e| kubeseal_client::os_error("open", &path, &e))?;
            secret
                .data
                .get_or_insert_with(BTreeMap::new)
                .insert(key, ByteString(bytes));
        }
        return Ok(vec![secret]);
    }
    let input = read_input(cli)?;
    let docs = manifest::parse_documents(&input)
        .with_context(|| format!("cannot read {}", input_name(cli)))?;
    if docs.is_empty() {
        bail!(
            "no Secret found in {} (expected a YAML or JSON Secret, UTF-8 encoded)",
            input_name(cli)
        );
    }
    docs.iter()
        .map(|doc| {
            crds::secret_from_document(doc)
                .map(ZeroizingSecret)
                .map_err(anyhow::Error::from)
        })
        .collect()
}

/// `[key=]path`: the key defaults to the file's name.
fn from_file_spec(spec: &str) -> Result<(String, PathBuf)> {
    let (key, path) = match spec.split_once('=') {
        Some((key, path)) => (key.to_owned(), PathBuf::from(path)),
        None => {
            let path = PathBuf::from(spec);
            let key = path
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .ok_or_else(|| {
                    anyhow!("--from-file {spec:?}: cannot derive a key name; use key=path")
                })?;
            (key, path)
        }
    };
    if key.is_empty() {
        bail!("--from-file {spec:?}: empty key name");
    }
    Ok((key, path))
}

/// As upstream: `-n` may fill in a Secret's missing namespace, never replace a different one
/// (the Secret would be sealed for a namespace its author did not write).
fn check_namespace(secret_ns: Option<&str>, flag_ns: &str) -> Result<()> {
    match secret_ns.filter(|n| !n.is_empty()) {
        Some(ns) if ns != flag_ns => bail!(
            "namespace mismatch: the input Secret's namespace {ns:?} differs from --namespace {flag_ns:?}"
        ),
        _ => Ok(()),
    }
}

fn seal_all(
    cli: &Cli,
    key: &PublicKey,
    secrets: Vec<ZeroizingSecret>,
    mut opts: SealOptions,
) -> Result<Vec<SealedSecret>> {
    if opts.namespace.is_none() {
        if let Some(ns) = cli.cluster.namespace.as_deref().filter(|n| !n.is_empty()) {
            for s in &secrets {
                check_namespace(s.metadata.namespace.as_deref(), ns)?;
            }
        }
    }
    // As the original, the kubeconfig is consulted only for a Secret that needs a namespace: one
    // without any, sealed with a scope other than cluster-wide.
    let needs_namespace = secrets.iter().any(|s| {
        let scope = opts
            .scope
            .unwrap_or_else(|| crds::Scope::from_annotations(s.metadata.annotations.as_ref()));
        s.metadata.namespace.as_deref().is_none_or(str::is_empty)
            && opts.namespace.is_none()
            && scope != crds::Scope::ClusterWide
    });
    if needs_namespace {
        opts.fallback_namespace = fallback_namespace(cli)?;
    }
    let many = secrets.len() > 1;
    secrets
        .into_iter()
        .enumerate()
        .map(|(i, secret)| {
            let name = secret.metadata.name.clone().unwrap_or_default();
            crds::seal_secret(secret.into_inner(), key, &opts).map_err(|e| {
                let err = anyhow::Error::from(e);
                if many {
                    err.context(format!("Secret {} ({name:?})", i + 1))
                } else {
                    err
                }
            })
        })
        .collect()
}

fn seal(cli: &Cli, key: &PublicKey, scope: Option<Scope>, format: Format) -> Result<()> {
    let secrets = input_secrets(cli)?;
    let opts = SealOptions {
        scope,
        allow_empty_data: cli.seal.allow_empty_data,
        name: cli.seal.name.clone(),
        ..SealOptions::default()
    };
    let sealed = seal_all(cli, key, secrets, opts)?;
    let text = manifest::write_sealed_secrets(&sealed, format)?;
    sink(cli).write(text.as_bytes())
}

/// `--cert a=A --cert b=B -w 'sealed/{cluster}/x.yaml'`: the same input sealed for each cluster,
/// each to its own file. Everything is sealed before anything is written.
fn seal_for_clusters(cli: &Cli, scope: Option<Scope>, format: Format) -> Result<()> {
    let f = &cli.seal;
    if f.raw || f.merge_into.is_some() || f.fetch_cert {
        bail!("several --cert values work only for sealing manifests (not with --raw, --merge-into or --fetch-cert)");
    }
    let template = f
        .sealed_secret_file
        .as_ref()
        .map(|p| p.display().to_string())
        .filter(|p| p.contains("{cluster}"))
        .ok_or_else(|| anyhow!("several --cert values need -w with a {{cluster}} placeholder, e.g. -w 'sealed/{{cluster}}/secret.yaml'"))?;
    let mut targets = Vec::new();
    for spec in &f.cert {
        let (name, source) = spec
            .split_once('=')
            .filter(|(n, s)| !n.is_empty() && !s.is_empty())
            .ok_or_else(|| {
                anyhow!("--cert {spec:?}: with several --cert values each must be NAME=FILE|URL")
            })?;
        if targets.iter().any(|(n, _): &(String, PublicKey)| n == name) {
            bail!("--cert: cluster {name:?} given twice");
        }
        let pem = cert::read_cert_source(source)?;
        targets.push((name.to_owned(), cert::sealing_key(source, &pem)?));
    }
    let secrets = input_secrets(cli)?;
    let opts = SealOptions {
        scope,
        allow_empty_data: f.allow_empty_data,
        name: f.name.clone(),
        ..SealOptions::default()
    };
    let sealed_per_cluster: Result<Vec<_>> = targets
        .iter()
        .map(|(name, key)| {
            let sealed = seal_all(cli, key, secrets.clone(), opts.clone())
                .with_context(|| format!("cluster {name}"))?;
            let path = PathBuf::from(template.replace("{cluster}", name));
            Ok((path, manifest::write_sealed_secrets(&sealed, format)?))
        })
        .collect();
    drop(secrets);
    let outputs = sealed_per_cluster?;
    for (path, text) in &outputs {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)
                .with_context(|| format!("cannot create {}", dir.display()))?;
        }
        write_atomically(path, text.as_bytes())?;
    }
    Ok(())
}

fn seal_raw(cli: &Cli, key: &PublicKey, scope: Option<Scope>) -> Result<()> {
    let f = &cli.seal;
    let scope = scope.unwrap_or_default();
    let namespace = if scope == Scope::ClusterWide {
        cli.cluster.namespace.clone().unwrap_or_default()
    } else {
        fallback_namespace(cli)?
            .filter(|n| !n.is_empty())
            .ok_or_else(|| {
                anyhow!("must provide the --namespace flag with --raw and --scope {scope}")
            })?
    };
    let name = f.name.clone().unwrap_or_default();
    if scope == Scope::Strict && name.is_empty() {
        bail!("must provide the --name flag with --raw and --scope strict");
    }
    let value = match f.from_file.as_slice() {
        [] => {
            let stdin = std::io::stdin();
            if stdin.is_terminal() {
                // As the original: typed in (ended by Ctrl-D), the value stays out of the shell
                // history.
                eprintln!("(tty detected: expecting a secret to encrypt in stdin)");
            }
            let mut buf = Zeroizing::new(Vec::new());
            stdin
                .lock()
                .read_to_end(&mut buf)
                .context("cannot read stdin")?;
            if buf.is_empty() {
                bail!("--raw read an empty value from stdin: pass --from-file PATH (use /dev/null to seal an empty value)");
            }
            buf
        }
        [spec] => {
            let (_, path) = from_file_spec(spec)?;
            Zeroizing::new(
                std::fs::read(&path)
                    .with_context(|| format!("cannot read --from-file {}", path.display()))?,
            )
        }
        _ => bail!("must provide only one --from-file when encrypting a single item with --raw"),
    };
    let sealed = crds::seal_bytes(key, &scope.label(&namespace, &name), &value)?;
    sink(cli).write(sealed.as_bytes())
}

fn merge_into(
    cli: &Cli,
    key: &PublicKey,
    scope: Option<Scope>,
    explicit_format: Option<Format>,
    target: &Path,
) -> Result<()> {
    let original_text =
        std::fs::read(target).with_context(|| format!("cannot read {}", target.display()))?;
    let mut original = read_sealed_secret(&original_text)
        .with_context(|| format!("--merge-into {}", target.display()))?;
    let secrets = input_secrets(cli)?;
    let opts = SealOptions {
        scope,
        allow_empty_data: cli.seal.allow_empty_data,
        name: original.metadata.name.clone(),
        namespace: original.metadata.namespace.clone(),
        fallback_namespace: None,
    };
    for update in seal_all(cli, key, secrets, opts)? {
        crds::convert::merge_into(&mut original, update);
    }
    // Unlike the original (which rewrites in -o format, JSON by default), keep the file's own
    // format unless -o asks otherwise.
    let format = explicit_format.unwrap_or(if manifest::is_json(&original_text) {
        Format::Json
    } else {
        Format::Yaml
    });
    let text = manifest::write_sealed_secrets(std::slice::from_ref(&original), format)?;
    write_atomically(target, text.as_bytes())
}

/// Exactly one SealedSecret from a file's text.
fn read_sealed_secret(text: &[u8]) -> Result<SealedSecret> {
    let mut docs = manifest::parse_documents(text)?;
    let doc = match docs.len() {
        1 => docs.remove(0),
        0 => bail!("no SealedSecret found"),
        n => bail!("expected one SealedSecret, found {n} documents"),
    };
    sealed_secret_from_document(doc)
}

pub(crate) fn sealed_secret_from_document(doc: crds::Document) -> Result<SealedSecret> {
    match (
        doc.kind(),
        doc.value.get("apiVersion").and_then(|v| v.as_str()),
    ) {
        (Some(crds::types::KIND), Some(crds::types::API_VERSION)) => {}
        (kind, api) => bail!(
            "document {} is not a SealedSecret (apiVersion {:?}, kind {:?})",
            doc.index,
            api.unwrap_or_default(),
            kind.unwrap_or_default()
        ),
    }
    serde_json::from_value(doc.value)
        .map_err(|e| anyhow!("document {} is not a valid SealedSecret: {e}", doc.index))
}

fn recovery_unseal(cli: &Cli, format: Format) -> Result<()> {
    let f = &cli.seal;
    if f.recovery_private_key.is_empty() {
        bail!("--recovery-unseal requires --recovery-private-key FILE (PEM key, key Secret or List of them)");
    }
    let mut keys = Vec::new();
    for path in &f.recovery_private_key {
        let bytes = Zeroizing::new(
            std::fs::read(path).map_err(|e| kubeseal_client::os_error("open", path, &e))?,
        );
        keys.extend(
            crds::parse_private_keys(&bytes)
                .with_context(|| format!("cannot use private key {}", path.display()))?,
        );
    }
    let input = read_input(cli)?;
    let docs = manifest::parse_documents(&input)
        .with_context(|| format!("cannot read {}", input_name(cli)))?;
    if docs.is_empty() {
        bail!("no SealedSecret found in {}", input_name(cli));
    }
    let mut secrets = Vec::with_capacity(docs.len());
    for doc in docs {
        let sealed = sealed_secret_from_document(doc)?;
        let secret = crds::unseal_sealed_secret(
            &sealed,
            &keys,
            &crate::render::PanicSafe(gotemplate::GoTemplates),
            crds::UnsealOptions {
                accept_deprecated_v1_data: true,
            },
        )
        .with_context(|| {
            format!(
                "cannot unseal SealedSecret {}/{}",
                sealed.metadata.namespace.as_deref().unwrap_or_default(),
                sealed.metadata.name.as_deref().unwrap_or_default()
            )
        })?;
        secrets.push(ZeroizingSecret(secret));
    }
    let text = Zeroizing::new(manifest::write_secrets(
        secrets.iter().map(|s| &s.0),
        format,
    )?);
    drop(secrets);
    sink(cli).write(text.as_bytes())
}
