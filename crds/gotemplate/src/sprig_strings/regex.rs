//! Go's `regexp` on the `regex` crate: patterns in Go's RE2 syntax are checked as Go's parser
//! checks them and rewritten into the crate's syntax (`\d`, `\w`, `\s`, `\b` are ASCII in Go,
//! `[`, `&&`, `~~` and `--` are literal in Go's classes, `{` is literal where it does not start
//! a repetition); the matches are iterated as Go iterates them (`FindAll`, `ReplaceAll`,
//! `Split`), and an invalid byte of the input matches as U+FFFD, as Go reads it.

use std::collections::BTreeSet;

use zeroize::Zeroizing;

use super::super::value::{runes, Buf};
use super::unicode::{is_decimal, is_letter, RUNE_ERROR};

/// Go rejects counted repetitions past this, alone or nested (`(a{100}){20}`).
const MAX_REPEAT: u64 = 1000;
/// The compiled size the crate may build (Go's own limit is larger: 128 MiB).
const SIZE_LIMIT: usize = 8 << 20;
/// Deepest nesting of groups and classes, the crate's default: its compiler recurses (Go
/// refuses a depth of 1000).
const NEST_LIMIT: u32 = 250;
/// The longest pattern (Go has no limit): compiling stays within milliseconds.
const MAX_PATTERN_BYTES: usize = 64 << 10;
/// The most Unicode classes (`\pL`, hundreds of ranges each) in one pattern.
const MAX_UNICODE_CLASSES: usize = 50;

fn syntax_error(code: &str) -> String {
    format!("error parsing regexp: {code}")
}

/// A compiled pattern; the groups are all unnamed for the crate, their names kept here (Go
/// allows a name twice, the crate does not).
pub(super) struct GoRegex {
    re: regex::Regex,
    /// The name of each group, the whole match first (always `None`).
    names: Vec<Option<String>>,
}

impl GoRegex {
    pub(super) fn new(pattern: &[u8]) -> Result<Self, String> {
        let pattern = std::str::from_utf8(pattern).map_err(|_| syntax_error("invalid UTF-8"))?;
        if pattern.len() > MAX_PATTERN_BYTES {
            return Err(format!(
                "regular expression longer than {MAX_PATTERN_BYTES} bytes"
            ));
        }
        let (rust, names) = Translator::new(pattern).run()?;
        let re = regex::RegexBuilder::new(&rust)
            .size_limit(SIZE_LIMIT)
            .nest_limit(NEST_LIMIT)
            .build()
            .map_err(|e| match e {
                regex::Error::CompiledTooBig(_) => syntax_error("expression too large"),
                regex::Error::Syntax(e) if e.contains("nested parentheses") => {
                    syntax_error("expression nests too deeply")
                }
                _ => syntax_error("invalid or unsupported Perl syntax"),
            })?;
        Ok(Self { re, names })
    }

    /// Go's `MatchString`.
    pub(super) fn is_match(&self, s: &[u8]) -> bool {
        let hay = Hay::new(s);
        self.re.is_match(hay.text())
    }

    /// Go's `FindSubmatchIndex`: the groups of the first match, as byte ranges of `s`.
    pub(super) fn captures(&self, s: &[u8]) -> Option<Vec<Option<(usize, usize)>>> {
        let hay = Hay::new(s);
        let found = self.re.captures(hay.text())?;
        let groups = found
            .iter()
            .map(|g| g.map(|m| (hay.original(m.start()), hay.original(m.end()))))
            .collect();
        Some(groups)
    }

    /// Go's `allMatches`: up to `n` (any number when negative) non-overlapping matches, as byte
    /// ranges of `s`; an empty match right after a match is skipped.
    pub(super) fn find_all(&self, s: &[u8], n: i64) -> Vec<(usize, usize)> {
        let hay = Hay::new(s);
        let text = hay.text();
        let limit = usize::try_from(n).unwrap_or(usize::MAX);
        let mut found = Vec::new();
        let (mut pos, mut prev_end) = (0, None);
        while found.len() < limit && pos <= text.len() {
            let Some(m) = self.re.find_at(text, pos) else {
                break;
            };
            let accept = !(m.end() == pos && Some(m.start()) == prev_end);
            pos = if m.end() == pos {
                pos + next_width(text, pos).unwrap_or(1)
            } else {
                m.end()
            };
            prev_end = Some(m.end());
            if accept {
                found.push((hay.original(m.start()), hay.original(m.end())));
            }
        }
        found
    }

    /// Go's `Split`.
    pub(super) fn split<'s>(&self, s: &'s [u8], n: i64) -> Vec<&'s [u8]> {
        if n == 0 {
            return Vec::new();
        }
        if !self.re.as_str().is_empty() && s.is_empty() {
            return vec![s];
        }
        let mut parts = Vec::new();
        let (mut begin, mut end) = (0, 0);
        for (start, stop) in self.find_all(s, n) {
            if n > 0 && i64::try_from(parts.len()).unwrap_or(i64::MAX) == n - 1 {
                break;
            }
            end = start;
            if stop != 0 {
                parts.push(s.get(begin..end).unwrap_or_default());
            }
            begin = stop;
        }
        if end != s.len() {
            parts.push(s.get(begin..).unwrap_or_default());
        }
        parts
    }

    /// Go's `ReplaceAllString` (`$1`, `${name}` expanded) or `ReplaceAllLiteralString`.
    pub(super) fn replace_all(
        &self,
        s: &[u8],
        repl: &[u8],
        expand: bool,
        b: &mut Buf,
    ) -> Result<(), String> {
        let hay = Hay::new(s);
        let text = hay.text();
        let slice = |from: usize, to: usize| {
            s.get(hay.original(from)..hay.original(to))
                .unwrap_or_default()
        };
        let (mut last_end, mut search) = (0, 0);
        let mut locs = self.re.capture_locations();
        while search <= text.len() {
            let Some(m) = self.re.captures_read_at(&mut locs, text, search) else {
                break;
            };
            b.push(slice(last_end, m.start()))?;
            if m.end() > last_end || m.start() == 0 {
                if expand {
                    self.expand(repl, &|i| locs.get(i).map(|(x, y)| slice(x, y)), b)?;
                } else {
                    b.push(repl)?;
                }
            }
            last_end = m.end();
            let width = next_width(text, search).unwrap_or(0);
            search = if search + width > m.end() {
                search + width
            } else if search + 1 > m.end() {
                search + 1
            } else {
                m.end()
            };
        }
        b.push(slice(last_end, text.len()))?;
        Ok(())
    }

    /// Go's `Regexp.expand`: `$$` is `$`, `$name` and `${name}` a group (nothing if it did not
    /// take part or does not exist), a malformed `$` itself.
    fn expand<'s>(
        &self,
        mut template: &[u8],
        group: &dyn Fn(usize) -> Option<&'s [u8]>,
        b: &mut Buf,
    ) -> Result<(), String> {
        while let Some(dollar) = template.iter().position(|&c| c == b'$') {
            b.push(&template[..dollar])?;
            template = &template[dollar + 1..];
            if let Some(rest) = template.strip_prefix(b"$") {
                b.push(b"$")?;
                template = rest;
                continue;
            }
            let Some((name, rest)) = group_reference(template) else {
                b.push(b"$")?;
                continue;
            };
            template = rest;
            let text = match group_number(name) {
                Some(i) => group(i),
                None => self
                    .names
                    .iter()
                    .enumerate()
                    .filter(|(_, n)| n.as_deref().map(str::as_bytes) == Some(name))
                    .find_map(|(i, _)| group(i)),
            };
            b.push(text.unwrap_or_default())?;
        }
        Ok(b.push(template)?)
    }
}

/// Go's `extract`: the name after a `$` (letters, digits, `_`, maybe in braces) and the rest.
fn group_reference(s: &[u8]) -> Option<(&[u8], &[u8])> {
    let (braced, s) = match s.strip_prefix(b"{") {
        Some(inner) => (true, inner),
        None => (false, s),
    };
    let len = runes(s)
        .take_while(|(_, _, c)| c.is_some_and(|c| is_letter(c) || is_decimal(c) || c == '_'))
        .last()
        .map_or(0, |(_, end, _)| end);
    if len == 0 {
        return None;
    }
    let (name, rest) = s.split_at(len);
    if !braced {
        return Some((name, rest));
    }
    rest.strip_prefix(b"}").map(|rest| (name, rest))
}

/// A group's number, when the name is one (no leading zero, below 10⁸).
fn group_number(name: &[u8]) -> Option<usize> {
    if name.len() > 1 && name.first() == Some(&b'0') {
        return None;
    }
    let mut n: usize = 0;
    for &c in name {
        if !c.is_ascii_digit() || n >= 100_000_000 {
            return None;
        }
        n = n * 10 + usize::from(c - b'0');
    }
    Some(n)
}

/// The width of the character at `pos` (`None` at the end).
fn next_width(text: &str, pos: usize) -> Option<usize> {
    text.get(pos..)?.chars().next().map(char::len_utf8)
}

/// The input as Go's regexp reads it: valid UTF-8, an invalid byte read as U+FFFD.
struct Hay<'a> {
    valid: Option<&'a str>,
    mapped: Zeroizing<String>,
    /// Where each U+FFFD that stands for one invalid byte starts in `mapped`.
    invalid: Vec<usize>,
}

impl<'a> Hay<'a> {
    fn new(s: &'a [u8]) -> Self {
        if let Ok(valid) = std::str::from_utf8(s) {
            return Self {
                valid: Some(valid),
                mapped: Zeroizing::new(String::new()),
                invalid: Vec::new(),
            };
        }
        let mut mapped = Zeroizing::new(String::with_capacity(s.len() + 16));
        let mut invalid = Vec::new();
        for (_, _, c) in runes(s) {
            if c.is_none() {
                invalid.push(mapped.len());
            }
            mapped.push(c.unwrap_or(RUNE_ERROR));
        }
        Self {
            valid: None,
            mapped,
            invalid,
        }
    }

    fn text(&self) -> &str {
        self.valid.unwrap_or(&self.mapped)
    }

    /// The offset in the input of an offset (at a character boundary) of [`Self::text`].
    fn original(&self, at: usize) -> usize {
        at.saturating_sub(2 * self.invalid.partition_point(|&p| p < at))
    }
}

/// Go's `QuoteMeta`.
pub(super) fn quote_meta(s: &[u8], b: &mut Buf) -> Result<(), String> {
    for &c in s {
        if br"\.+*?()|[]{}^$".contains(&c) {
            b.push(b"\\")?;
        }
        b.push(&[c])?;
    }
    Ok(())
}

/// What the parser last read, for Go's checks of repetition operators.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Last {
    /// The start, `(` or `|`: nothing to repeat.
    Nothing,
    /// Something to repeat, with its repetition factor.
    Atom(u64),
    /// A repetition (another one is an error), with its factor.
    Repeat(u64),
}

/// Go's syntax read and the crate's written, one token at a time.
struct Translator<'p> {
    rest: &'p str,
    out: String,
    last: Last,
    /// For each open group, the largest repetition factor inside it so far, and whether
    /// repetitions were ungreedy (`U`) where it opened.
    groups: Vec<(u64, bool)>,
    /// The largest repetition factor at the top level so far.
    top: u64,
    names: Vec<Option<String>>,
    /// A flags-only group (`(?i)`) not written yet: Go lets a repetition after it repeat what
    /// came before it, so it is written before the next token that is not a repetition.
    pending: String,
    /// How many Unicode classes so far.
    unicode_classes: usize,
    /// Whether repetitions are ungreedy here, for Go and in what is written so far.
    ungreedy: bool,
    written_ungreedy: bool,
}

impl<'p> Translator<'p> {
    fn new(pattern: &'p str) -> Self {
        Self {
            rest: pattern,
            out: String::with_capacity(pattern.len() * 2),
            last: Last::Nothing,
            groups: Vec::new(),
            top: 1,
            names: vec![None],
            pending: String::new(),
            ungreedy: false,
            written_ungreedy: false,
            unicode_classes: 0,
        }
    }

    fn run(mut self) -> Result<(String, Vec<Option<String>>), String> {
        while let Some(c) = self.next() {
            // A `(?` group writes the pending flags itself, unless it is flags only.
            let keeps_pending = matches!(c, '*' | '+' | '?')
                || c == '{' && parse_repeat(self.rest).is_some()
                || c == '(' && self.rest.starts_with('?');
            if !keeps_pending {
                self.flush();
            }
            self.token(c)?;
        }
        self.out.push_str(&self.pending);
        Ok((self.out, self.names))
    }

    fn next(&mut self) -> Option<char> {
        let c = self.rest.chars().next()?;
        self.rest = &self.rest[c.len_utf8()..];
        Some(c)
    }

    fn flush(&mut self) {
        self.out.push_str(&std::mem::take(&mut self.pending));
        self.written_ungreedy = self.ungreedy;
    }

    fn eat(&mut self, c: char) -> bool {
        match self.rest.strip_prefix(c) {
            Some(rest) => {
                self.rest = rest;
                true
            }
            None => false,
        }
    }

    fn atom(&mut self, factor: u64) {
        self.last = Last::Atom(factor);
        let max = match self.groups.last_mut() {
            Some((max, _)) => max,
            None => &mut self.top,
        };
        *max = (*max).max(factor);
    }

    fn token(&mut self, c: char) -> Result<(), String> {
        match c {
            '(' if self.eat('?') => return self.group(),
            '(' => {
                self.out.push('(');
                self.open(None);
            }
            '|' => {
                self.out.push('|');
                self.last = Last::Nothing;
            }
            ')' => {
                let (factor, ungreedy) = self
                    .groups
                    .pop()
                    .ok_or_else(|| syntax_error("unexpected )"))?;
                (self.ungreedy, self.written_ungreedy) = (ungreedy, ungreedy);
                self.out.push(')');
                self.atom(factor);
            }
            '^' | '$' => {
                self.out.push_str(if c == '^' { "(?:^)" } else { "(?:$)" });
                self.atom(1);
            }
            '.' => {
                self.out.push('.');
                self.atom(1);
            }
            '[' => {
                self.class()?;
                self.atom(1);
            }
            '*' | '+' | '?' => self.repeat(&c.to_string(), None)?,
            '{' => match parse_repeat(self.rest) {
                Some((min, max, rest)) => {
                    self.rest = rest;
                    self.counted(min, max)?;
                }
                None => {
                    push_literal(&mut self.out, '{');
                    self.atom(1);
                }
            },
            '\\' => self.escape()?,
            c => {
                push_literal(&mut self.out, c);
                self.atom(1);
            }
        }
        Ok(())
    }

    fn open(&mut self, name: Option<String>) {
        self.names.push(name);
        self.groups.push((1, self.ungreedy));
        self.last = Last::Nothing;
    }

    /// `{min}`, `{min,}` (max `None`) or `{min,max}`.
    fn counted(&mut self, min: u64, max: Option<u64>) -> Result<(), String> {
        if min > MAX_REPEAT || max.is_some_and(|m| m > MAX_REPEAT || m < min) {
            return Err(syntax_error("invalid repeat count"));
        }
        let op = match max {
            Some(m) if m == min => format!("{{{min}}}"),
            Some(m) => format!("{{{min},{m}}}"),
            None => format!("{{{min},}}"),
        };
        // Go checks the nesting of counted repetitions that may repeat twice or more.
        let factor = max.unwrap_or(min);
        let checked = (min >= 2 || max.is_none_or(|m| m >= 2)) && factor != 0;
        self.repeat(&op, checked.then_some(factor))
    }

    /// A repetition operator; `factor` for a counted one Go checks.
    fn repeat(&mut self, op: &str, factor: Option<u64>) -> Result<(), String> {
        // The greediness Go gives it, written where pending flags may not be yet.
        let lazy = self.eat('?') ^ self.ungreedy ^ self.written_ungreedy;
        let inner = match self.last {
            Last::Repeat(_) => return Err(syntax_error("invalid nested repetition operator")),
            Last::Nothing => return Err(syntax_error("missing argument to repetition operator")),
            Last::Atom(inner) => inner,
        };
        let total = match factor {
            Some(f) if f.saturating_mul(inner) > MAX_REPEAT => {
                return Err(syntax_error("invalid repeat count"))
            }
            Some(f) => f * inner,
            None => inner,
        };
        self.out.push_str(op);
        if lazy {
            self.out.push('?');
        }
        self.atom(total);
        self.last = Last::Repeat(total);
        Ok(())
    }

    /// After `(?`: a named group, or flags with or without a group.
    fn group(&mut self) -> Result<(), String> {
        if self.rest.len() > 2 {
            if let Some(named) = self.rest.strip_prefix("P<") {
                return self.named_group(named);
            }
        }
        let (on, off, opens) = self.flags()?;
        let mut body: String = on.iter().collect();
        if !off.is_empty() {
            body.push('-');
            body.extend(off.iter());
        }
        if opens {
            self.flush();
            self.out.push_str(&format!("(?{body}:"));
            self.groups.push((1, self.ungreedy));
            self.last = Last::Nothing;
        } else if !body.is_empty() {
            self.pending.push_str(&format!("(?{body})"));
            if let Last::Repeat(factor) = self.last {
                self.last = Last::Atom(factor);
            }
        }
        if on.contains(&'U') {
            self.ungreedy = true;
        } else if off.contains(&'U') {
            self.ungreedy = false;
        }
        if opens {
            self.written_ungreedy = self.ungreedy;
        }
        Ok(())
    }

    /// After `(?P<`: the name, `>`, and the group's pattern.
    fn named_group(&mut self, named: &'p str) -> Result<(), String> {
        let invalid = || syntax_error("invalid named capture");
        let (name, rest) = named.split_once('>').ok_or_else(invalid)?;
        if name.is_empty() || !name.bytes().all(|c| c == b'_' || c.is_ascii_alphanumeric()) {
            return Err(invalid());
        }
        self.rest = rest;
        self.flush();
        self.out.push('(');
        self.open(Some(name.to_owned()));
        Ok(())
    }

    /// Go's flags after `(?`: those set, those cleared (the last word on each wins), and
    /// whether a group opens (`:`) rather than the flags ending (`)`).
    fn flags(&mut self) -> Result<(BTreeSet<char>, BTreeSet<char>, bool), String> {
        let (mut on, mut off) = (BTreeSet::new(), BTreeSet::new());
        let (mut negated, mut saw) = (false, false);
        let perl_error = || syntax_error("invalid or unsupported Perl syntax");
        loop {
            match self.next().ok_or_else(perl_error)? {
                c @ ('i' | 'm' | 's' | 'U') => {
                    if negated {
                        on.remove(&c);
                        off.insert(c);
                    } else {
                        on.insert(c);
                    }
                    saw = true;
                }
                '-' if !negated => {
                    negated = true;
                    saw = false;
                }
                end @ (':' | ')') if saw || !negated => return Ok((on, off, end == ':')),
                _ => return Err(perl_error()),
            }
        }
    }

    /// After `\` outside a class.
    fn escape(&mut self) -> Result<(), String> {
        let emitted = match self.rest.chars().next() {
            Some('A') => Some(r"\A"),
            Some('z') => Some(r"\z"),
            Some('b') => Some(r"(?-u:\b)"),
            Some('B') => Some(r"(?-u:\B)"),
            Some('C') => return Err(syntax_error("invalid escape sequence")),
            Some('Q') => {
                self.rest = &self.rest[1..];
                let (literal, rest) = self.rest.split_once(r"\E").unwrap_or((self.rest, ""));
                self.rest = rest;
                for c in literal.chars() {
                    push_literal(&mut self.out, c);
                    self.atom(1);
                }
                return Ok(());
            }
            _ => None,
        };
        if let Some(emitted) = emitted {
            self.rest = &self.rest[1..];
            self.out.push_str(emitted);
        } else if let Some(class) = self.named_class(true)? {
            self.out.push_str(&class);
        } else {
            let c = self.escaped_char()?;
            push_range(&mut self.out, c, c);
        }
        self.atom(1);
        Ok(())
    }

    /// A Unicode class (`\pN`, `\p{Name}`, `\P…`) or a Perl class (`\d`, …) after `\`, as the
    /// crate writes it (`alone`: outside a class).
    fn named_class(&mut self, alone: bool) -> Result<Option<String>, String> {
        let Some(c) = self.rest.chars().next() else {
            return Ok(None);
        };
        if c == 'p' || c == 'P' {
            self.rest = &self.rest[1..];
            return self.unicode_class(c == 'P').map(Some);
        }
        let Some(body) = perl_class(c) else {
            return Ok(None);
        };
        self.rest = &self.rest[1..];
        Ok(Some(match (c.is_ascii_uppercase(), alone) {
            (false, false) => body.to_owned(),
            (false, true) => format!("[{body}]"),
            (true, _) => format!("[^{body}]"),
        }))
    }

    /// After `\p` or `\P`: a name Go knows, one letter or in braces, maybe negated by `^`.
    fn unicode_class(&mut self, mut negated: bool) -> Result<String, String> {
        let invalid = || syntax_error("invalid character class range");
        self.unicode_classes += 1;
        if self.unicode_classes > MAX_UNICODE_CLASSES {
            return Err(syntax_error("expression too large"));
        }
        let name = if let Some(braced) = self.rest.strip_prefix('{') {
            let end = braced.find('}').ok_or_else(invalid)?;
            self.rest = &braced[end + 1..];
            &braced[..end]
        } else {
            let c = self.rest.chars().next().ok_or_else(invalid)?;
            let (name, rest) = self.rest.split_at(c.len_utf8());
            self.rest = rest;
            name
        };
        let name = match name.strip_prefix('^') {
            Some(name) => {
                negated = !negated;
                name
            }
            None => name,
        };
        if !is_go_unicode_class(name) {
            return Err(invalid());
        }
        if name == "Cs" {
            // No surrogate is a character (nor in the input, where it is invalid bytes).
            return Ok(if negated { ANYTHING } else { NOTHING }.to_owned());
        }
        Ok(format!(r"\{}{{{name}}}", if negated { 'P' } else { 'p' }))
    }

    /// Go's `parseEscape`, after `\`: the code point an escape stands for (maybe a surrogate).
    fn escaped_char(&mut self) -> Result<u32, String> {
        let invalid = || syntax_error("invalid escape sequence");
        let c = self
            .next()
            .ok_or_else(|| syntax_error("trailing backslash at end of expression"))?;
        let octal = |c: Option<char>| c.is_some_and(|c| ('0'..='7').contains(&c));
        match c {
            '1'..='7' if !octal(self.rest.chars().next()) => Err(invalid()),
            '0'..='7' => {
                let mut r = c.to_digit(8).unwrap_or(0);
                for _ in 1..3 {
                    match self.rest.chars().next().and_then(|d| d.to_digit(8)) {
                        Some(d) => {
                            r = r * 8 + d;
                            self.rest = &self.rest[1..];
                        }
                        None => break,
                    }
                }
                Ok(r)
            }
            'x' => self.hex().ok_or_else(invalid),
            'a' => Ok(0x07),
            'f' => Ok(0x0c),
            'n' => Ok(0x0a),
            'r' => Ok(0x0d),
            't' => Ok(0x09),
            'v' => Ok(0x0b),
            c if c.is_ascii() && !c.is_ascii_alphanumeric() => Ok(u32::from(c)),
            _ => Err(invalid()),
        }
    }

    /// After `\x`: two hex digits, or any number (at least one) in braces.
    fn hex(&mut self) -> Option<u32> {
        let (digits, rest) = match self.rest.strip_prefix('{') {
            Some(braced) => braced.split_once('}')?,
            None => (self.rest.get(..2)?, self.rest.get(2..)?),
        };
        let mut value: u32 = 0;
        for d in digits.chars() {
            value = value * 16 + d.to_digit(16)?;
            if value > 0x10_ffff {
                return None;
            }
        }
        if digits.is_empty() {
            return None;
        }
        self.rest = rest;
        Some(value)
    }

    /// After `[`: Go's class, as the crate writes it.
    fn class(&mut self) -> Result<(), String> {
        let missing = || syntax_error("missing closing ]");
        self.out.push('[');
        if self.eat('^') {
            self.out.push('^');
        }
        let mut first = true;
        loop {
            if self.rest.is_empty() {
                return Err(missing());
            }
            if !first && self.eat(']') {
                break;
            }
            first = false;
            if let Some(posix) = self.posix_class()? {
                self.out.push_str(posix);
                continue;
            }
            if let Some(after) = self.rest.strip_prefix('\\') {
                let saved = self.rest;
                self.rest = after;
                if let Some(class) = self.named_class(false)? {
                    self.out.push_str(&class);
                    continue;
                }
                self.rest = saved;
            }
            let lo = self.class_char()?;
            let mut hi = lo;
            if self.rest.len() >= 2
                && self.rest.starts_with('-')
                && !self.rest[1..].starts_with(']')
            {
                self.rest = &self.rest[1..];
                hi = self.class_char()?;
                if hi < lo {
                    return Err(syntax_error("invalid character class range"));
                }
            }
            push_range(&mut self.out, lo, hi);
        }
        self.out.push(']');
        Ok(())
    }

    /// `[:alpha:]` and the like at the start of the rest, if there (Go looks for `:]` as far as
    /// it takes).
    fn posix_class(&mut self) -> Result<Option<&'static str>, String> {
        if self.rest.len() <= 2 || !self.rest.starts_with("[:") {
            return Ok(None);
        }
        let Some(end) = self.rest[2..].find(":]") else {
            return Ok(None);
        };
        let (name, rest) = self.rest.split_at(end + 4);
        let known = POSIX_CLASSES
            .iter()
            .find(|known| **known == name)
            .ok_or_else(|| syntax_error("invalid character class range"))?;
        self.rest = rest;
        Ok(Some(known))
    }

    fn class_char(&mut self) -> Result<u32, String> {
        if self.eat('\\') {
            return self.escaped_char();
        }
        self.next()
            .map(u32::from)
            .ok_or_else(|| syntax_error("missing closing ]"))
    }
}

/// Go's ASCII classes, as both write them.
const POSIX_CLASSES: &[&str] = &[
    "[:alnum:]",
    "[:alpha:]",
    "[:ascii:]",
    "[:blank:]",
    "[:cntrl:]",
    "[:digit:]",
    "[:graph:]",
    "[:lower:]",
    "[:print:]",
    "[:punct:]",
    "[:space:]",
    "[:upper:]",
    "[:word:]",
    "[:xdigit:]",
    "[:^alnum:]",
    "[:^alpha:]",
    "[:^ascii:]",
    "[:^blank:]",
    "[:^cntrl:]",
    "[:^digit:]",
    "[:^graph:]",
    "[:^lower:]",
    "[:^print:]",
    "[:^punct:]",
    "[:^space:]",
    "[:^upper:]",
    "[:^word:]",
    "[:^xdigit:]",
];

/// The body of a Perl class (ASCII in Go), by its letter in either case.
fn perl_class(c: char) -> Option<&'static str> {
    match c.to_ascii_lowercase() {
        'd' => Some("0-9"),
        's' => Some(r"\t\n\x0C\r "),
        'w' => Some("0-9A-Za-z_"),
        _ => None,
    }
}

/// A class that matches nothing, and one that matches any character.
const NOTHING: &str = r"[^\x00-\x{10FFFF}]";
const ANYTHING: &str = r"[\x00-\x{10FFFF}]";

/// The characters from `lo` to `hi`, code points Go may give as surrogates (which match
/// nothing).
fn push_range(out: &mut String, lo: u32, hi: u32) {
    let lo = if (0xd800..0xe000).contains(&lo) {
        0xe000
    } else {
        lo
    };
    let hi = if (0xd800..0xe000).contains(&hi) {
        0xd7ff
    } else {
        hi
    };
    match (char::from_u32(lo), char::from_u32(hi)) {
        (Some(lo), Some(hi)) if lo == hi => push_literal(out, lo),
        (Some(lo), Some(hi)) if lo < hi => {
            out.push('[');
            push_literal(out, lo);
            out.push('-');
            push_literal(out, hi);
            out.push(']');
        }
        _ => out.push_str(NOTHING),
    }
}

fn push_literal(out: &mut String, c: char) {
    if regex_syntax::is_meta_character(c) {
        out.push('\\');
    }
    out.push(c);
}

/// `{min}`, `{min,}` (max `None`) or `{min,max}` at the start of `s` (after `{`), as Go's
/// `parseRepeat` reads it; `None` when it is not one (then `{` is a literal).
fn parse_repeat(s: &str) -> Option<(u64, Option<u64>, &str)> {
    let (min, s) = parse_int(s)?;
    let (max, s) = match s.strip_prefix(',') {
        Some(s) if s.starts_with('}') => (None, s),
        Some(s) => {
            let (max, s) = parse_int(s)?;
            (Some(max), s)
        }
        None => (Some(min), s),
    };
    s.strip_prefix('}').map(|rest| (min, max, rest))
}

/// Go's `parseInt`: digits without a leading zero (the value saturates: all too big anyway).
fn parse_int(s: &str) -> Option<(u64, &str)> {
    let len = s.bytes().take_while(u8::is_ascii_digit).count();
    if len == 0 || (len >= 2 && s.starts_with('0')) {
        return None;
    }
    let (digits, rest) = s.split_at(len);
    Some((digits.parse::<u64>().unwrap_or(u64::MAX), rest))
}

/// Whether Go knows the Unicode class name: a general category, a script, or `Any`.
fn is_go_unicode_class(name: &str) -> bool {
    name == "Any" || GO_CATEGORIES.contains(&name) || GO_SCRIPTS.binary_search(&name).is_ok()
}

const GO_CATEGORIES: &[&str] = &[
    "C", "Cc", "Cf", "Co", "Cs", "L", "Ll", "Lm", "Lo", "Lt", "Lu", "M", "Mc", "Me", "Mn", "N",
    "Nd", "Nl", "No", "P", "Pc", "Pd", "Pe", "Pf", "Pi", "Po", "Ps", "S", "Sc", "Sk", "Sm", "So",
    "Z", "Zl", "Zp", "Zs",
];

/// Go 1.19's `unicode.Scripts`, sorted.
const GO_SCRIPTS: &[&str] = &[
    "Adlam",
    "Ahom",
    "Anatolian_Hieroglyphs",
    "Arabic",
    "Armenian",
    "Avestan",
    "Balinese",
    "Bamum",
    "Bassa_Vah",
    "Batak",
    "Bengali",
    "Bhaiksuki",
    "Bopomofo",
    "Brahmi",
    "Braille",
    "Buginese",
    "Buhid",
    "Canadian_Aboriginal",
    "Carian",
    "Caucasian_Albanian",
    "Chakma",
    "Cham",
    "Cherokee",
    "Chorasmian",
    "Common",
    "Coptic",
    "Cuneiform",
    "Cypriot",
    "Cyrillic",
    "Deseret",
    "Devanagari",
    "Dives_Akuru",
    "Dogra",
    "Duployan",
    "Egyptian_Hieroglyphs",
    "Elbasan",
    "Elymaic",
    "Ethiopic",
    "Georgian",
    "Glagolitic",
    "Gothic",
    "Grantha",
    "Greek",
    "Gujarati",
    "Gunjala_Gondi",
    "Gurmukhi",
    "Han",
    "Hangul",
    "Hanifi_Rohingya",
    "Hanunoo",
    "Hatran",
    "Hebrew",
    "Hiragana",
    "Imperial_Aramaic",
    "Inherited",
    "Inscriptional_Pahlavi",
    "Inscriptional_Parthian",
    "Javanese",
    "Kaithi",
    "Kannada",
    "Katakana",
    "Kayah_Li",
    "Kharoshthi",
    "Khitan_Small_Script",
    "Khmer",
    "Khojki",
    "Khudawadi",
    "Lao",
    "Latin",
    "Lepcha",
    "Limbu",
    "Linear_A",
    "Linear_B",
    "Lisu",
    "Lycian",
    "Lydian",
    "Mahajani",
    "Makasar",
    "Malayalam",
    "Mandaic",
    "Manichaean",
    "Marchen",
    "Masaram_Gondi",
    "Medefaidrin",
    "Meetei_Mayek",
    "Mende_Kikakui",
    "Meroitic_Cursive",
    "Meroitic_Hieroglyphs",
    "Miao",
    "Modi",
    "Mongolian",
    "Mro",
    "Multani",
    "Myanmar",
    "Nabataean",
    "Nandinagari",
    "New_Tai_Lue",
    "Newa",
    "Nko",
    "Nushu",
    "Nyiakeng_Puachue_Hmong",
    "Ogham",
    "Ol_Chiki",
    "Old_Hungarian",
    "Old_Italic",
    "Old_North_Arabian",
    "Old_Permic",
    "Old_Persian",
    "Old_Sogdian",
    "Old_South_Arabian",
    "Old_Turkic",
    "Oriya",
    "Osage",
    "Osmanya",
    "Pahawh_Hmong",
    "Palmyrene",
    "Pau_Cin_Hau",
    "Phags_Pa",
    "Phoenician",
    "Psalter_Pahlavi",
    "Rejang",
    "Runic",
    "Samaritan",
    "Saurashtra",
    "Sharada",
    "Shavian",
    "Siddham",
    "SignWriting",
    "Sinhala",
    "Sogdian",
    "Sora_Sompeng",
    "Soyombo",
    "Sundanese",
    "Syloti_Nagri",
    "Syriac",
    "Tagalog",
    "Tagbanwa",
    "Tai_Le",
    "Tai_Tham",
    "Tai_Viet",
    "Takri",
    "Tamil",
    "Tangut",
    "Telugu",
    "Thaana",
    "Thai",
    "Tibetan",
    "Tifinagh",
    "Tirhuta",
    "Ugaritic",
    "Vai",
    "Wancho",
    "Warang_Citi",
    "Yezidi",
    "Yi",
    "Zanabazar_Square",
];
