//! `kubeseal bulk`: seal every Secret of a directory tree into a mirrored tree (`bulk seal`), or
//! re-encrypt every SealedSecret of a tree in place through the controller (`bulk re-encrypt`),
//! spread over several threads.
//!
//! How files are rewritten: the documents that are not replaced (everything but the Secrets, or
//! the SealedSecrets) are copied byte for byte from the input, comments included, in their order;
//! each replaced document is written in the Go `kubeseal` shape in its place. Comments inside a
//! replaced document are dropped (they could quote a value). When a file cannot be cut into its
//! documents exactly (rare YAML, such as a `%YAML` directive), or `-o` asks for the
//! other format, the whole file is written from its parsed documents instead, and then every
//! comment of it is lost and the keys of the other documents come out sorted.
//!
//! Each file either succeeds as a whole or is reported (`error: FILE: reason`, never a value) and
//! left alone; the other files go on. Outputs are written atomically.

use std::collections::HashSet;
use std::io::IsTerminal;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::flags::{BulkArgs, BulkCommand, CommonArgs, ReEncryptArgs, SealArgs};
use anyhow::{anyhow, bail, Context, Result};
use crds::manifest::{self, Document, Format};
use crds::{PublicKey, Scope, SealOptions, SealedSecret};
use indicatif::{ProgressBar, ProgressStyle};
use zeroize::Zeroizing;

use crate::modes::{block_on, parse_format, sealed_secret_from_document};
use crate::rotation::{describe, Rotator};
use kubeseal_client::cert;
use kubeseal_client::controller_api::{is_unreachable, ControllerApi};
use kubeseal_client::git::WorkTree;
use kubeseal_client::output::write_atomically;

/// `eprintln!` that ignores a closed stderr instead of panicking.
macro_rules! say {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stderr(), $($arg)*);
    }};
}

impl CommonArgs {
    fn format(&self) -> Result<Option<Format>> {
        self.format.as_deref().map(parse_format).transpose()
    }

    fn jobs(&self) -> usize {
        self.jobs
            .and_then(|j| usize::try_from(j).ok())
            .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
    }

    async fn controller(&self) -> Result<ControllerApi> {
        ControllerApi::connect(
            &self.cluster,
            &self.cluster.controller.controller_namespace,
            &self.cluster.controller.controller_name,
        )
        .await
    }
}

/// Runs a bulk operation; prints its report and returns the exit status.
pub fn run(args: &BulkArgs) -> ExitCode {
    let result = match &args.command {
        BulkCommand::Seal(a) => seal_tree(a),
        BulkCommand::ReEncrypt(a) => re_encrypt_tree(a),
    };
    match result {
        Ok(code) => code,
        Err(err) => {
            say!("error: {err:#}");
            ExitCode::FAILURE
        }
    }
}

// ---------------------------------------------------------------------------------------------
// bulk seal

/// What every worker of `bulk seal` shares.
struct SealJob<'a> {
    src: &'a Path,
    dst: &'a Path,
    key: PublicKey,
    opts: SealOptions,
    format: Option<Format>,
    /// When SRC_DIR lies inside DST_DIR: the relative path of each output that would land on an
    /// input file (refused rather than overwriting a plaintext input).
    clobbers: HashSet<PathBuf>,
}

fn seal_tree(args: &SealArgs) -> Result<ExitCode> {
    let format = args.common.format()?;
    let scope = args
        .scope
        .as_deref()
        .filter(|s| !s.is_empty())
        .map(str::parse::<Scope>)
        .transpose()?;
    require_dir(&args.src, "SRC_DIR")?;
    let key = match args.cert.as_deref().filter(|c| !c.is_empty()) {
        Some(source) => cert::sealing_key(source, &cert::read_cert_source(source)?)?,
        None => {
            let pem = block_on(async { args.common.controller().await?.cert().await })?;
            cert::sealing_key(
                &format!(
                    "from controller {}/{}",
                    args.common.cluster.controller.controller_namespace,
                    args.common.cluster.controller.controller_name
                ),
                &pem,
            )?
        }
    };
    std::fs::create_dir_all(&args.dst)
        .with_context(|| format!("cannot create {}", args.dst.display()))?;
    let src_real = canonical(&args.src)?;
    let dst_real = canonical(&args.dst)?;
    if src_real == dst_real {
        bail!(
            "SRC_DIR and DST_DIR are the same directory ({}); bulk seal never overwrites its input",
            args.src.display()
        );
    }

    let started = Instant::now();
    let tree = walk(&args.src, Some(&dst_real));
    let clobbers = match dst_real.strip_prefix(&src_real) {
        Ok(_) => HashSet::new(),
        Err(_) => match src_real.strip_prefix(&dst_real) {
            Ok(inner) => tree.files.iter().map(|rel| inner.join(rel)).collect(),
            Err(_) => HashSet::new(),
        },
    };
    let job = SealJob {
        src: &args.src,
        dst: &args.dst,
        key,
        opts: SealOptions {
            scope,
            allow_empty_data: args.allow_empty_data,
            fallback_namespace: args
                .common
                .cluster
                .namespace
                .clone()
                .filter(|n| !n.is_empty()),
            ..SealOptions::default()
        },
        format,
        clobbers,
    };
    let report = Report::new(tree.files.len(), "sealing");
    for (dir, err) in &tree.errors {
        report.failed(dir, err);
    }
    let jobs = args.common.jobs().min(tree.files.len()).max(1);
    let next = AtomicUsize::new(0);
    std::thread::scope(|s| {
        for _ in 0..jobs {
            s.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(rel) = tree.files.get(i) else { break };
                report.record(&args.src.join(rel), seal_file(&job, rel), "Secret");
            });
        }
    });
    Ok(report.finish("sealed", "Secret", started.elapsed()))
}

/// Seals one file: `Some(number of Secrets)` when written, `None` when it has no Secret.
fn seal_file(job: &SealJob, rel: &Path) -> Result<Option<usize>> {
    if job.clobbers.contains(rel) {
        bail!(
            "its output {} would overwrite an input file",
            job.dst.join(rel).display()
        );
    }
    let text = Zeroizing::new(std::fs::read(job.src.join(rel)).context("cannot read file")?);
    let file = ManifestFile::parse(&text)?;
    let mut replacements: Vec<Option<SealedSecret>> = vec![None; file.docs.len()];
    let mut count = 0;
    for (doc, slot) in file.docs.iter().zip(&mut replacements) {
        if doc.kind() != Some("Secret") {
            continue;
        }
        let secret = crds::secret_from_document(doc)?;
        let what = match secret.metadata.name.as_deref().filter(|n| !n.is_empty()) {
            Some(name) => format!("document {} (Secret {name:?})", doc.index),
            None => format!("document {}", doc.index),
        };
        let sealed = crds::seal_secret(secret, &job.key, &job.opts).map_err(|e| match e {
            // The kubeconfig is not looked at here: say what does work.
            crds::SealError::MissingNamespace => anyhow!(
                "{what}: the Secret has no namespace (set metadata.namespace, or pass -n/--namespace for Secrets without one)"
            ),
            e => anyhow::Error::from(e).context(what),
        })?;
        *slot = Some(sealed);
        count += 1;
    }
    if count == 0 {
        return Ok(None);
    }
    let out = file.render(&replacements, job.format)?;
    let target = job.dst.join(rel);
    if let Some(dir) = target.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    }
    write_atomically(&target, &out)?;
    Ok(Some(count))
}

// ---------------------------------------------------------------------------------------------
// bulk re-encrypt

fn re_encrypt_tree(args: &ReEncryptArgs) -> Result<ExitCode> {
    let format = args.common.format()?;
    require_dir(&args.dir, "DIR")?;
    let git = args.commit.then(|| WorkTree::new(&args.dir));
    if let Some(tree) = git.as_ref().filter(|t| !t.is_git()) {
        bail!(
            "--commit: {} is not inside a Git working tree",
            tree.root().display()
        );
    }
    if args.commit {
        kubeseal_client::git::parse_author(&args.author)?;
    }
    let jobs = args.common.jobs();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(jobs.clamp(1, 8))
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    let run = runtime.block_on(async {
        let rotator = Arc::new(if args.recovery_private_key.is_empty() {
            Rotator::Online(args.common.controller().await?)
        } else {
            Rotator::offline(&args.recovery_private_key, args.cert.as_deref())?
        });
        let job = Arc::new(ReEncryptJob {
            rotator,
            format,
            only_stale: args.only_stale,
            git: git.clone(),
        });
        Ok::<_, anyhow::Error>(re_encrypt_files(&job, &args.dir, jobs).await)
    })??;
    let code = run
        .report
        .finish("re-encrypted", "SealedSecret", run.elapsed);
    if run.left > 0 {
        say!(
            "stopped: the controller is unreachable; {} left (not attempted; run again to finish)",
            counted(run.left, "file")
        );
    }
    let committed = match &git {
        Some(tree) => commit_run(tree, args, &run.rewritten, &run.failed),
        None => Ok(()),
    };
    match committed {
        Ok(()) if run.left == 0 => Ok(code),
        Ok(()) => Ok(ExitCode::FAILURE),
        Err(e) => {
            say!("error: {e:#}");
            Ok(ExitCode::FAILURE)
        }
    }
}

/// What every worker of `bulk re-encrypt` shares.
struct ReEncryptJob {
    rotator: Arc<Rotator>,
    format: Option<Format>,
    only_stale: bool,
    /// With `--commit`: the working tree, whose locally changed files are refused.
    git: Option<WorkTree>,
}

/// The end of a `bulk re-encrypt` run.
struct ReEncryptRun {
    report: Report,
    elapsed: Duration,
    /// Files rewritten, sorted.
    rewritten: Vec<PathBuf>,
    /// Files that failed, sorted.
    failed: Vec<PathBuf>,
    /// Files not attempted because the controller became unreachable.
    left: usize,
}

/// Re-encrypts the files of `dir` on `jobs` workers; stops starting files once the controller
/// is unreachable (the files done stay done).
async fn re_encrypt_files(
    job: &Arc<ReEncryptJob>,
    dir: &Path,
    jobs: usize,
) -> Result<ReEncryptRun> {
    let started = Instant::now();
    let tree = walk(dir, None);
    let report = Arc::new(Report::new(tree.files.len(), "re-encrypting"));
    for (d, err) in &tree.errors {
        report.failed(d, err);
    }
    let files: Arc<Vec<PathBuf>> = Arc::new(tree.files.iter().map(|rel| dir.join(rel)).collect());
    let shared = Arc::new(Shared::default());
    let mut workers = tokio::task::JoinSet::new();
    for _ in 0..jobs.min(files.len()) {
        let (job, files, shared, report) = (
            Arc::clone(job),
            Arc::clone(&files),
            Arc::clone(&shared),
            Arc::clone(&report),
        );
        workers.spawn(async move {
            while !shared.stop.load(Ordering::Relaxed) {
                let i = shared.next.fetch_add(1, Ordering::Relaxed);
                let Some(path) = files.get(i) else { break };
                shared.attempted.fetch_add(1, Ordering::Relaxed);
                let outcome = re_encrypt_file(&job, path).await;
                shared.note(path, &outcome);
                match outcome {
                    Ok(Rewrite::Current) => report.unchanged(),
                    Ok(Rewrite::Written(n)) => {
                        if job.only_stale {
                            report.say(&format!("re-encrypted: {}", path.display()));
                        }
                        report.record(path, Ok(Some(n)), "SealedSecret");
                    }
                    Ok(Rewrite::NoSealedSecret) => report.record(path, Ok(None), "SealedSecret"),
                    Err(e) => report.record(path, Err(e), "SealedSecret"),
                }
            }
        });
    }
    while let Some(joined) = workers.join_next().await {
        joined.map_err(|e| anyhow!("a worker stopped unexpectedly: {e}"))?;
    }
    let shared =
        Arc::try_unwrap(shared).map_err(|_| anyhow!("a worker is still running after the end"))?;
    let report =
        Arc::try_unwrap(report).map_err(|_| anyhow!("a worker is still running after the end"))?;
    let attempted = shared.attempted.into_inner().min(files.len());
    let mut rewritten = shared
        .rewritten
        .into_inner()
        .unwrap_or_else(|e| e.into_inner());
    let mut failed = shared
        .failed
        .into_inner()
        .unwrap_or_else(|e| e.into_inner());
    rewritten.sort();
    failed.sort();
    Ok(ReEncryptRun {
        report,
        elapsed: started.elapsed(),
        rewritten,
        failed,
        left: files.len() - attempted,
    })
}

/// What the workers of one run share.
#[derive(Default)]
struct Shared {
    next: AtomicUsize,
    attempted: AtomicUsize,
    stop: std::sync::atomic::AtomicBool,
    rewritten: std::sync::Mutex<Vec<PathBuf>>,
    failed: std::sync::Mutex<Vec<PathBuf>>,
}

impl Shared {
    fn note(&self, path: &Path, outcome: &Result<Rewrite>) {
        let list = match outcome {
            Ok(Rewrite::Written(_)) => &self.rewritten,
            Err(e) => {
                if is_unreachable(e) {
                    self.stop.store(true, Ordering::Relaxed);
                }
                &self.failed
            }
            Ok(_) => return,
        };
        list.lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(path.to_owned());
    }
}

/// What became of one file.
enum Rewrite {
    /// Rewritten, with this many SealedSecrets re-encrypted.
    Written(usize),
    /// `--only-stale` and every SealedSecret already on the newest key: not touched.
    Current,
    NoSealedSecret,
}

/// Re-encrypts the SealedSecrets of one file in place; a SealedSecret already current (with
/// `--only-stale`) keeps its bytes, and a file with nothing stale is not written at all.
async fn re_encrypt_file(job: &ReEncryptJob, path: &Path) -> Result<Rewrite> {
    if let Some(git) = &job.git {
        if git.has_local_changes(path)? {
            bail!("has uncommitted changes; commit or discard them first (not overwritten)");
        }
    }
    let text = std::fs::read(path).context("cannot read file")?;
    let file = ManifestFile::parse(&text)?;
    let mut replacements: Vec<Option<SealedSecret>> = vec![None; file.docs.len()];
    let (mut found, mut count) = (0, 0);
    for (doc, slot) in file.docs.iter().zip(&mut replacements) {
        let is_sealed_secret = doc.kind() == Some(crds::types::KIND)
            && doc.value.get("apiVersion").and_then(|v| v.as_str())
                == Some(crds::types::API_VERSION);
        if !is_sealed_secret {
            continue;
        }
        found += 1;
        let sealed = sealed_secret_from_document(doc.clone())?;
        let rotated = job
            .rotator
            .rotate(&sealed, job.only_stale)
            .await
            .with_context(|| format!("document {} ({})", doc.index, describe(&sealed)))?;
        if let Some(rotated) = rotated {
            *slot = Some(rotated);
            count += 1;
        }
    }
    match (found, count) {
        (0, _) => Ok(Rewrite::NoSealedSecret),
        (_, 0) => Ok(Rewrite::Current),
        _ => {
            let out = file.render(&replacements, job.format)?;
            write_atomically(path, &out)?;
            Ok(Rewrite::Written(count))
        }
    }
}

/// One commit of the rewritten files (the failed ones named in its message), pushed with
/// `--push`. Nothing rewritten: no commit.
fn commit_run(
    tree: &WorkTree,
    args: &ReEncryptArgs,
    rewritten: &[PathBuf],
    failed: &[PathBuf],
) -> Result<()> {
    if rewritten.is_empty() {
        say!("nothing to commit");
        return Ok(());
    }
    let message = commit_message(args.message.as_deref(), rewritten, failed);
    tree.commit(rewritten, &message, &args.author)?;
    say!("committed {}", counted(rewritten.len(), "file"));
    if args.push {
        tree.push_with_retry(&args.remote)?;
        say!("pushed to {}", args.remote);
    }
    Ok(())
}

/// The subject, then the files, then the failures.
fn commit_message(subject: Option<&str>, rewritten: &[PathBuf], failed: &[PathBuf]) -> String {
    let mut message = subject.map_or_else(
        || {
            format!(
                "Re-encrypt {} to the newest key",
                counted(rewritten.len(), "SealedSecret file")
            )
        },
        str::to_owned,
    );
    message.push_str("\n\n");
    for path in rewritten {
        message.push_str(&format!("- {}\n", path.display()));
    }
    if !failed.is_empty() {
        message.push_str(&format!(
            "\nNot re-encrypted ({} failed):\n",
            thousands(failed.len())
        ));
        for path in failed {
            message.push_str(&format!("- {}\n", path.display()));
        }
    }
    message
}

// ---------------------------------------------------------------------------------------------
// Files: finding them, cutting them into documents, writing them back

fn require_dir(path: &Path, what: &str) -> Result<()> {
    match std::fs::metadata(path) {
        Ok(m) if m.is_dir() => Ok(()),
        Ok(_) => bail!("{what} {} is not a directory", path.display()),
        Err(e) => Err(e).with_context(|| format!("cannot read {what} {}", path.display())),
    }
}

fn canonical(path: &Path) -> Result<PathBuf> {
    path.canonicalize()
        .with_context(|| format!("cannot resolve {}", path.display()))
}

/// The manifest files of a tree, relative to its root and sorted, and the directories that
/// could not be read.
struct Tree {
    files: Vec<PathBuf>,
    errors: Vec<(PathBuf, anyhow::Error)>,
}

/// Lists `*.yaml`, `*.yml` and `*.json` files under `root`, skipping hidden entries, the
/// directory `skip` (canonical path) and symbolic links to directories (no loops).
fn walk(root: &Path, skip: Option<&Path>) -> Tree {
    let mut tree = Tree {
        files: Vec::new(),
        errors: Vec::new(),
    };
    let mut pending = vec![PathBuf::new()];
    while let Some(rel) = pending.pop() {
        let dir = root.join(&rel);
        let entries = match std::fs::read_dir(&dir) {
            Ok(entries) => entries,
            Err(e) => {
                tree.errors
                    .push((dir, anyhow!(e).context("cannot read directory")));
                continue;
            }
        };
        for entry in entries {
            let entry = match entry {
                Ok(entry) => entry,
                Err(e) => {
                    tree.errors
                        .push((dir.clone(), anyhow!(e).context("cannot read directory")));
                    continue;
                }
            };
            let name = entry.file_name();
            if name.to_string_lossy().starts_with('.') {
                continue;
            }
            let path = entry.path();
            let Ok(file_type) = entry.file_type() else {
                continue;
            };
            if file_type.is_dir() {
                let skipped = skip.is_some_and(|s| path.canonicalize().is_ok_and(|p| p == s));
                if !skipped {
                    pending.push(rel.join(&name));
                }
            } else if is_manifest_name(&path)
                && (file_type.is_file() || std::fs::metadata(&path).is_ok_and(|m| m.is_file()))
            {
                tree.files.push(rel.join(&name));
            }
        }
    }
    tree.files.sort();
    tree
}

fn is_manifest_name(path: &Path) -> bool {
    path.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| ["yaml", "yml", "json"].contains(&e.to_ascii_lowercase().as_str()))
}

/// A manifest file: its documents, and where each one lies in the text when the file could be
/// cut into them exactly.
struct ManifestFile<'a> {
    text: &'a [u8],
    json: bool,
    docs: Vec<Document>,
    spans: Option<Vec<Range<usize>>>,
}

impl<'a> ManifestFile<'a> {
    fn parse(text: &'a [u8]) -> Result<Self> {
        let docs = manifest::parse_documents(text)?;
        let json = manifest::is_json(text);
        let spans = if json {
            json_spans(text)
        } else {
            yaml_spans(text)
        }
        .filter(|spans| spans_hold(text, spans, &docs));
        Ok(Self {
            text,
            json,
            docs,
            spans,
        })
    }

    /// The file with each document that has a replacement replaced: spliced into the original
    /// text when the format stays, else written whole from the parsed documents.
    fn render(
        &self,
        replacements: &[Option<SealedSecret>],
        format: Option<Format>,
    ) -> Result<Vec<u8>> {
        let own = if self.json {
            Format::Json
        } else {
            Format::Yaml
        };
        let format = format.unwrap_or(own);
        let mut out = Vec::with_capacity(self.text.len() * 2);
        match self.spans.as_ref().filter(|_| format == own) {
            Some(spans) => {
                let mut pos = 0;
                for (span, replacement) in spans.iter().zip(replacements) {
                    let Some(sealed) = replacement else { continue };
                    out.extend_from_slice(&self.text[pos..span.start]);
                    match format {
                        // The text after the value (newline, comma) is kept.
                        Format::Json => out
                            .extend_from_slice(manifest::to_go_json(sealed)?.trim_end().as_bytes()),
                        // A YAML span starts at a line start and runs to the next `---` line.
                        Format::Yaml => {
                            out.extend_from_slice(b"---\n");
                            out.extend_from_slice(manifest::to_go_yaml(sealed)?.as_bytes());
                        }
                    }
                    pos = span.end;
                }
                out.extend_from_slice(&self.text[pos..]);
            }
            None => {
                for (doc, replacement) in self.docs.iter().zip(replacements) {
                    let text = match (format, replacement) {
                        (Format::Json, Some(sealed)) => manifest::to_go_json(sealed)?,
                        (Format::Json, None) => serde_json::to_string_pretty(&doc.value)? + "\n",
                        (Format::Yaml, Some(sealed)) => {
                            "---\n".to_owned() + &manifest::to_go_yaml(sealed)?
                        }
                        (Format::Yaml, None) => {
                            "---\n".to_owned() + &crds::yaml::to_string(&doc.value)
                        }
                    };
                    out.extend_from_slice(text.as_bytes());
                }
            }
        }
        Ok(out)
    }
}

/// Whether each span holds exactly its document (so that splicing is exact).
fn spans_hold(text: &[u8], spans: &[Range<usize>], docs: &[Document]) -> bool {
    spans.len() == docs.len()
        && spans.iter().zip(docs).all(|(span, doc)| {
            matches!(manifest::parse_documents(&text[span.clone()]).as_deref(),
                Ok([one]) if one.value == doc.value)
        })
}

/// The documents of multi-document YAML: each runs from its `---` line (or the file's start) to
/// the next `---` line; parts that hold no document (comments only) are left out.
fn yaml_spans(text: &[u8]) -> Option<Vec<Range<usize>>> {
    let mut starts = vec![0];
    let mut line_start = 0;
    for line in text.split_inclusive(|b| *b == b'\n') {
        let marker = line.starts_with(b"---")
            && line
                .get(3)
                .is_none_or(|b| matches!(b, b' ' | b'\t' | b'\r' | b'\n'));
        if marker && line_start > 0 {
            starts.push(line_start);
        }
        line_start += line.len();
    }
    starts.push(text.len());
    let mut spans = Vec::new();
    for part in starts.windows(2) {
        let span = part[0]..part[1];
        match manifest::parse_documents(&text[span.clone()]).ok()?.len() {
            0 => {}
            1 => spans.push(span),
            _ => return None,
        }
    }
    Some(spans)
}

/// The documents of a JSON stream: each top-level value, or each element of a top-level array.
fn json_spans(text: &[u8]) -> Option<Vec<Range<usize>>> {
    let skip_ws = |mut i: usize| {
        while text.get(i).is_some_and(u8::is_ascii_whitespace) {
            i += 1;
        }
        i
    };
    let mut spans = Vec::new();
    let mut i = skip_ws(0);
    while i < text.len() {
        if text[i] == b'[' {
            i = skip_ws(i + 1);
            if text.get(i) == Some(&b']') {
                i = skip_ws(i + 1);
                continue;
            }
            loop {
                let end = json_value_end(text, i)?;
                spans.push(i..end);
                i = skip_ws(end);
                match text.get(i)? {
                    b',' => i = skip_ws(i + 1),
                    b']' => break,
                    _ => return None,
                }
            }
            i = skip_ws(i + 1);
        } else {
            let end = json_value_end(text, i)?;
            spans.push(i..end);
            i = skip_ws(end);
        }
    }
    Some(spans)
}

/// Where the JSON value starting at `start` ends (one past its last byte).
fn json_value_end(text: &[u8], start: usize) -> Option<usize> {
    let mut depth = 0usize;
    let mut in_string = false;
    let mut escaped = false;
    for (k, b) in text.iter().enumerate().skip(start) {
        if in_string {
            match b {
                _ if escaped => escaped = false,
                b'\\' => escaped = true,
                b'"' => {
                    in_string = false;
                    if depth == 0 {
                        return Some(k + 1);
                    }
                }
                _ => {}
            }
            continue;
        }
        match b {
            b'"' => in_string = true,
            b'{' | b'[' => depth += 1,
            b'}' | b']' => {
                depth = depth.checked_sub(1)?;
                if depth == 0 {
                    return Some(k + 1);
                }
            }
            b',' | b' ' | b'\t' | b'\r' | b'\n' if depth == 0 => return Some(k),
            _ => {}
        }
    }
    (depth == 0 && !in_string).then_some(text.len())
}

// ---------------------------------------------------------------------------------------------
// Progress and report

/// Counts outcomes, prints a line per failed or skipped file and draws the progress bar.
struct Report {
    bar: ProgressBar,
    done: AtomicUsize,
    items: AtomicUsize,
    failed: AtomicUsize,
    skipped: AtomicUsize,
    /// Files left as they were because nothing in them was stale.
    unchanged: AtomicUsize,
}

impl Report {
    fn new(files: usize, action: &'static str) -> Self {
        let bar = if std::io::stderr().is_terminal() {
            let bar = ProgressBar::new(files as u64).with_prefix(action);
            if let Ok(style) = ProgressStyle::with_template(
                "{prefix} [{wide_bar}] {pos}/{len} files ({rate} files/s, {eta} left)",
            ) {
                bar.set_style(style.progress_chars("=> ").with_key(
                    "rate",
                    |state: &indicatif::ProgressState, w: &mut dyn std::fmt::Write| {
                        let _ = write!(w, "{:.0}", state.per_sec());
                    },
                ));
            }
            bar.enable_steady_tick(Duration::from_millis(250));
            bar
        } else {
            ProgressBar::hidden()
        };
        Self {
            bar,
            done: AtomicUsize::new(0),
            items: AtomicUsize::new(0),
            failed: AtomicUsize::new(0),
            skipped: AtomicUsize::new(0),
            unchanged: AtomicUsize::new(0),
        }
    }

    fn record(&self, file: &Path, outcome: Result<Option<usize>>, noun: &str) {
        match outcome {
            Ok(Some(n)) => {
                self.done.fetch_add(1, Ordering::Relaxed);
                self.items.fetch_add(n, Ordering::Relaxed);
            }
            Ok(None) => {
                self.skipped.fetch_add(1, Ordering::Relaxed);
                self.bar
                    .suspend(|| say!("skipped (no {noun}): {}", file.display()));
            }
            Err(err) => self.failed(file, &err),
        }
        self.bar.inc(1);
    }

    /// A file already current: counted, not printed.
    fn unchanged(&self) {
        self.unchanged.fetch_add(1, Ordering::Relaxed);
        self.bar.inc(1);
    }

    /// A line above the progress bar.
    fn say(&self, line: &str) {
        self.bar.suspend(|| say!("{line}"));
    }

    fn failed(&self, file: &Path, err: &anyhow::Error) {
        self.failed.fetch_add(1, Ordering::Relaxed);
        self.bar
            .suspend(|| say!("error: {}: {err:#}", file.display()));
    }

    /// Prints `sealed 998 files (1,234 Secrets), 2 failed, 5 skipped in 1.2s`; exit status 1
    /// when any file failed.
    fn finish(self, verb: &str, noun: &str, elapsed: Duration) -> ExitCode {
        self.bar.finish_and_clear();
        let done = self.done.into_inner();
        let items = self.items.into_inner();
        let failed = self.failed.into_inner();
        let unchanged = self.unchanged.into_inner();
        let current = if unchanged > 0 {
            format!(", {} already current", thousands(unchanged))
        } else {
            String::new()
        };
        say!(
            "{verb} {} ({}){current}, {} failed, {} skipped in {:.1}s",
            counted(done, "file"),
            counted(items, noun),
            thousands(failed),
            thousands(self.skipped.into_inner()),
            elapsed.as_secs_f64()
        );
        if failed > 0 {
            ExitCode::FAILURE
        } else {
            ExitCode::SUCCESS
        }
    }
}

/// `1 file`, `1,234 files`.
fn counted(n: usize, noun: &str) -> String {
    format!("{} {noun}{}", thousands(n), if n == 1 { "" } else { "s" })
}

/// `1234567` → `1,234,567`.
fn thousands(n: usize) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_get_thousands_separators() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1234), "1,234");
        assert_eq!(thousands(1_234_567), "1,234,567");
        assert_eq!(counted(1, "file"), "1 file");
        assert_eq!(counted(1000, "Secret"), "1,000 Secrets");
    }

    #[test]
    fn yaml_is_cut_at_document_markers_only() {
        let text = b"# head\n---\na: 1\n# tail of a\n--- # b\nb: '---'\nc: |\n  ---\n...\n---\n";
        let spans = yaml_spans(text).expect("spans");
        let parts: Vec<&str> = spans
            .iter()
            .map(|s| std::str::from_utf8(&text[s.clone()]).expect("utf-8"))
            .collect();
        assert_eq!(
            parts,
            [
                "---\na: 1\n# tail of a\n",
                "--- # b\nb: '---'\nc: |\n  ---\n...\n"
            ]
        );
    }

    #[test]
    fn json_streams_and_arrays_are_cut_into_values() {
        let text = br#" {"a": "}\"{"} [ {"b": [1, {"c": 2}]} , {} ] {"d": 3}"#;
        let spans = json_spans(text).expect("spans");
        let parts: Vec<&str> = spans
            .iter()
            .map(|s| std::str::from_utf8(&text[s.clone()]).expect("utf-8"))
            .collect();
        assert_eq!(
            parts,
            [
                r#"{"a": "}\"{"}"#,
                r#"{"b": [1, {"c": 2}]}"#,
                "{}",
                r#"{"d": 3}"#
            ]
        );
        assert_eq!(json_spans(b"{\"a\": 1"), None);
    }

    #[test]
    fn unsplittable_yaml_is_rewritten_whole() {
        // A directive belongs to the document after it, but cutting at `---` parts them: the
        // file has no spans and is written from its parsed documents.
        let text = b"%YAML 1.1\n---\nb: 2\na: 1\n";
        let file = ManifestFile::parse(text).expect("parses");
        assert_eq!(file.docs.len(), 1);
        assert!(file.spans.is_none());
        let out = file.render(&[None], None).expect("renders");
        assert_eq!(out, b"---\na: 1\nb: 2\n");
    }
}
