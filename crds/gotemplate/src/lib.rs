//! `spec.template.data`: Go `text/template` templates rendered over the decrypted values, the
//! way the original controller renders them (Go's `text/template` plus the sprig functions, less
//! `env`, `expandenv` and `getHostByName`).
//!
//! A template sees the decrypted values as a map: `{{ index . "password" }}` and
//! `{{ .password }}` both give the value of the key `password`.
//!
//! # What is supported
//!
//! * Text and actions `{{ }}`, trim markers `{{- ` and ` -}}`, comments `{{/* */}}`.
//! * Pipelines with `|` (the piped value is the last argument), parenthesized pipelines,
//!   variables (`$x := …`, `$x = …`, `$`), `.` and field access `.key`, `$x.key`, `(…).key`.
//! * Literals: interpreted and raw strings, character constants, integers (decimal, hex, octal,
//!   binary, with `_`), floats, `true`, `false`, `nil`.
//! * `if` / `else if` / `else`, `with` / `else with` / `else`, `range` over lists, maps (in key
//!   order) and integers, with `$v :=` or `$i, $v :=`, `break` and `continue`; `define`,
//!   `template` and `block`.
//! * Go's builtins `and`, `or` (both short-circuit), `not`, `len`, `index`, `eq`, `ne`, `lt`,
//!   `le`, `gt`, `ge`, `print`, `printf`, `println`, `urlquery`, `html`, `js`. `printf` knows
//!   `%v %s %d %q %x %X %t %c %U %b %o %O %e %E %f %F %g %G %T %%`, the flags `+ - # 0 space`,
//!   widths and precisions (also `*`), and Go's `%!d(string=…)` / `%!d(MISSING)` /
//!   `%!(EXTRA …)` output for mismatches.
//! * sprig's whole generic function map (v3.3, what upstream's controller is built with), less
//!   `env`, `expandenv` and `getHostByName`, with sprig's argument order (`replace old new
//!   src`, `indent n str`, `default fallback value`, …) and output, each checked byte for byte
//!   against Go and sprig (`tests/template_oracle.rs`, `tests/sprig/*.txt`): strings, regular
//!   expressions (Go's RE2 syntax), paths, URLs and semantic versions (`sprig_strings.rs`);
//!   numbers, types and random values (`sprig_numbers.rs`); lists and dicts, `set`/`unset`/`merge`
//!   changing maps in place (`sprig_lists.rs`); dates, durations and zones, with Go's layouts and
//!   the system's zone database (`sprig_dates.rs`, `gotime.rs`, `golayout.rs`, `gozone.rs`);
//!   digests, bcrypt, `derivePassword`, AES, keys and certificates (`sprig_crypto.rs`); and the
//!   first set (`sprig.rs`). [`functions`] lists every name. `toYaml`/`fromYaml` are Helm's, not
//!   sprig's: upstream does not offer them either.
//!
//! Any other function name is refused when the template is parsed, as Go does:
//! `template: data:1: function "env" not defined`. `env`, `expandenv` and `getHostByName` are
//! never defined: a template must not read the controller's environment or network.
//!
//! Parse errors read `template: data:LINE: message`, execution errors
//! `template: data:LINE:COL: executing "data" at <action>: message` (COL counts bytes from 0),
//! with Go's messages.
//!
//! # Where this differs from the original
//!
//! * **A key that is not there is an error.** `{{ .x }}` and `{{ index . "x" }}` on a missing key
//!   fail with `map has no entry for key "x"` (Go would print `<no value>` or an empty string
//!   and write a Secret nobody asked for). `hasKey . "x"` and `get . "x"` test or read a key
//!   that may be absent (sprig's versions only take `dict`s; ours also take `.`). The same holds
//!   for maps a template builds with `dict` or `fromJson`.
//! * Functions whose sprig version swallows errors fail instead: `b64dec`, `b32dec` (sprig
//!   returns the error text as the value), `fromJson` (nothing), `regexMatch` on a bad pattern,
//!   `dateModify` on a bad duration, `toDate` on a bad date, an unknown zone (sprig uses UTC),
//!   `date`/`ago` on a value that is no time or number (sprig uses now), `derivePassword`,
//!   `htpasswd`, `bcrypt` and `genPrivateKey` errors, random strings of negative length, and a
//!   map made to contain itself (Go hangs printing it). Numeric conversions still give 0 for a
//!   non-number, as sprig's do.
//! * Go types that have no value kind here: `int64` results read as `int` (`typeOf (add 1 2)`
//!   is `int`, Go `int64`); `until`/`untilStep` give `[]interface {}` (Go `[]int`); `semver`
//!   gives a map of `Major Minor Patch Prerelease Metadata Original` (Go a `*Version` printing as
//!   `1.2.3`, with methods); the certificate functions give a map of `Cert` and `Key` (Go a
//!   struct); `time.Time` has the methods `Unix Year YearDay Day Hour Minute Second Nanosecond
//!   UTC Local String`, not `Month` or `Weekday`. `duration`/`durationRound` take strings (and
//!   times), not ints. `values` lists in key order (Go's is random), `sortAlpha` does not sort
//!   its `[]string` argument in place, `slice` stops at a list's length (Go reads into spare
//!   capacity). `genPrivateKey "dsa"` is refused (aws-lc-rs has no DSA); RSA keys are 2048 to
//!   8192 bits, curves P-256/384/521. Regular expressions: patterns up to 64 KiB, 50 `\p`
//!   classes, nesting 250 (Go 1000); Unicode tables are newer than Go 1.19's.
//! * Error messages never quote a value. Where Go quotes one (`range can't iterate over …`,
//!   `index out of range: 7`, a slice's bounds, base64 error offsets, `eq` on lists), the
//!   message gives types only; a missing key is named only when it is written as a string
//!   literal in the call (`index . "x"`), else it reads `(computed key withheld)`.
//! * Values are byte strings, like Go's: binary values go through unchanged, `len` counts
//!   bytes, `trunc` and `substr` cut bytes. Functions that work on characters (`upper`,
//!   `lower`, `title`, `nospace`, `trim`, `trimAll`) read invalid UTF-8 as U+FFFD, as Go does.
//!   Case mapping uses Rust's tables, keeping characters whose upper case is several
//!   characters; `title` upper-cases rather than title-cases (`ǆ` gives `Ǆ`, Go `ǅ`).
//!   `printf`'s `%q` and `quote` treat every character but controls, spaces and invisible
//!   format characters as printable (Go consults its Unicode tables).
//! * `toJson` writes `\b` and `\f` as Go 1.22 and later do. `keys` returns the keys sorted (Go's
//!   order is random).
//! * Not supported: complex numbers (an error), method calls other than the time methods
//!   above, `call`, `printf` argument indexes (`%[1]s`), `%#v`, `%b` and `%x` of floats.
//!
//! # Limits
//!
//! Templates come from whoever can create a SealedSecret, so rendering is bounded by what it
//! really costs, and a rendering over a bound fails with an error naming the bound (the
//! controller reports it as `Synced=False`, an Event and `unseal_errors_total`, and does not
//! retry until the SealedSecret changes):
//!
//! | bound | value | message |
//! | --- | --- | --- |
//! | the output | [`MAX_OUTPUT_BYTES`] (1 MiB) | `output exceeds the limit of … bytes` |
//! | every string a function returns | [`MAX_VALUE_BYTES`] (1 MiB) | `result exceeds the limit of … bytes` |
//! | the bytes all calls read and write together | [`MAX_WORK_BYTES`] (64 MiB) | `rendering exceeds the work limit of … bytes read and written` |
//! | evaluation steps, range iterations included | [`MAX_STEPS`] (10⁶) | `evaluation exceeds the limit of … steps` |
//! | wall-clock time, the last resort | [`MAX_RENDER_TIME`] (2 s; [`Template::execute_within`] for another) | `rendering exceeds the time limit of …` |
//! | nesting | 50 in the template, 150 in execution (template calls included), 64 in values | `max expression depth exceeded`, `exceeded maximum template depth (…)`, `values nest deeper than 64 levels` |
//!
//! Every function is charged for the bytes of its arguments before it runs and for what it
//! returns; none is worse than linear in what it reads (`trimAll`'s cutset is a set, `trim` reads
//! only the ends, `contains`/`replace` search in linear time, regular expressions run in linear
//! time). `printf` widths and precisions stop at Go's 10⁶, as Go's do; sequences (`until`,
//! `seq`) at 10⁶ items. Key generation is bounded by count and by the time left (per
//! rendering: one RSA-4096 key, seven RSA-2048 keys or `derivePassword`s, fifteen `bcrypt`s,
//! 63 certificates; each starts only if the rendering still has the time it may take), so a
//! rendering overruns its time limit by at most one such operation. Without them, the costliest
//! rendering these bounds let through takes about 0.2 s of CPU (release build;
//! `cargo bench -p gotemplate`, `adversarial/*`). Nothing panics on
//! any input (`tests/template_verbs.rs`, `tests/template_random.rs`), and the deepest template
//! fits a quarter of a 2 MiB stack.
//!
//! # Secrets in memory
//!
//! The values are copied into buffers that are wiped when dropped, and so are the strings the
//! template computes and the output ([`Zeroizing`]); a buffer that grows wipes the allocation
//! it leaves. Temporaries inside a few library calls (base64 decoding, JSON parsing of escaped
//! strings, float formatting) are not wiped.

mod ast;
mod builtins;
mod call;
mod exec;
mod float;
mod format;
mod funcs;
mod golayout;
mod gotime;
mod gozone;
mod json;
mod lex;
mod literal;
mod parse;
mod sprig;
mod sprig_crypto;
mod sprig_dates;
mod sprig_lists;
mod sprig_numbers;
mod sprig_strings;
mod table;
mod value;

use std::collections::BTreeMap;

use zeroize::Zeroizing;

use crds::convert::TemplateRenderer;

/// The name templates are parsed under: it starts every error message (`template: data:1: …`).
pub const TEMPLATE_NAME: &str = "data";

/// Largest output a template may produce, in bytes.
pub const MAX_OUTPUT_BYTES: usize = 1 << 20;

/// Largest string a single function may return, in bytes.
pub const MAX_VALUE_BYTES: usize = 1 << 20;

/// Bytes all the function calls of one rendering may read and produce together: every call is
/// charged for its string arguments before it runs and for what it returns, so a template that
/// calls a function on a large value many times stops after a bounded amount of work.
pub const MAX_WORK_BYTES: usize = 64 << 20;

/// Wall-clock time one rendering may take, as a last resort behind the byte and step limits
/// (checked every 256 evaluation steps).
pub const MAX_RENDER_TIME: std::time::Duration = std::time::Duration::from_secs(2);

/// Evaluation steps (commands, arguments and range iterations) of one rendering.
pub const MAX_STEPS: usize = 1_000_000;

/// Why a template could not be parsed or executed. The message follows Go's
/// (`template: data:1:3: executing "data" at <.x>: map has no entry for key "x"`) and never
/// holds a value: only template positions, template text, function and key names, and types.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TemplateError {
    /// The template is not valid.
    #[error("{0}")]
    Parse(String),
    /// The template is valid but failed on these values.
    #[error("{0}")]
    Exec(String),
}

/// A parsed template, ready to be executed any number of times.
#[derive(Debug)]
pub struct Template {
    name: String,
    parsed: ast::Parsed,
}

impl Template {
    /// Parses `text`; `name` is the name used in error messages.
    pub fn parse(name: &str, text: &str) -> Result<Self, TemplateError> {
        let parsed = parse::parse(name, text).map_err(TemplateError::Parse)?;
        Ok(Self {
            name: name.to_owned(),
            parsed,
        })
    }

    /// Renders the template with `values` as `.`. Each value is a string of the template.
    pub fn execute(
        &self,
        values: &BTreeMap<String, Zeroizing<Vec<u8>>>,
    ) -> Result<Zeroizing<Vec<u8>>, TemplateError> {
        self.execute_within(values, MAX_RENDER_TIME)
    }

    /// Like [`Template::execute`], with another time limit than [`MAX_RENDER_TIME`].
    pub fn execute_within(
        &self,
        values: &BTreeMap<String, Zeroizing<Vec<u8>>>,
        time_limit: std::time::Duration,
    ) -> Result<Zeroizing<Vec<u8>>, TemplateError> {
        exec::execute(&self.name, &self.parsed, values, time_limit).map_err(TemplateError::Exec)
    }
}

/// Renders templates with the Go `text/template` syntax and the sprig functions, as the
/// original controller does.
#[derive(Debug, Clone, Copy, Default)]
pub struct GoTemplates;

impl TemplateRenderer for GoTemplates {
    fn render(
        &self,
        template: &str,
        values: &BTreeMap<String, Zeroizing<Vec<u8>>>,
    ) -> Result<Zeroizing<Vec<u8>>, String> {
        Template::parse(TEMPLATE_NAME, template)
            .and_then(|t| t.execute(values))
            .map_err(|e| e.to_string())
    }
}

/// The names of the functions templates may call, sorted.
pub fn functions() -> Vec<&'static str> {
    table::names()
}
