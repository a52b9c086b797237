//! Go's `net/url` as sprig's `urlParse` and `urlJoin` use it: `url.Parse` (with its checks
//! and unescaping) and `URL.String` (with its escaping), on bytes.

use zeroize::Zeroizing;

/// Bytes of a URL, which may hold a password: wiped when dropped.
type Bytes = Zeroizing<Vec<u8>>;

fn owned(b: &[u8]) -> Bytes {
    Zeroizing::new(b.to_vec())
}

/// The part of a URL an escape is for (Go's `encoding`).
#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
    Path,
    Host,
    Zone,
    UserPassword,
    Fragment,
}

/// Go's `shouldEscape`.
fn should_escape(c: u8, mode: Mode) -> bool {
    if c.is_ascii_alphanumeric() {
        return false;
    }
    if matches!(mode, Mode::Host | Mode::Zone) && b"!$&'()*+,;=:[]<>\"".contains(&c) {
        return false;
    }
    match c {
        b'-' | b'_' | b'.' | b'~' => false,
        b'$' | b'&' | b'+' | b',' | b'/' | b':' | b';' | b'=' | b'?' | b'@' => match mode {
            Mode::Path => c == b'?',
            Mode::UserPassword => matches!(c, b'@' | b'/' | b'?' | b':'),
            Mode::Fragment => false,
            Mode::Host | Mode::Zone => true,
        },
        b'!' | b'(' | b')' | b'*' if mode == Mode::Fragment => false,
        _ => true,
    }
}

fn hex_value(c: u8) -> Option<u8> {
    char::from(c)
        .to_digit(16)
        .and_then(|d| u8::try_from(d).ok())
}

/// Go's `unescape` (never in query mode here, so `+` stays).
fn unescape(s: &[u8], mode: Mode) -> Result<Bytes, String> {
    let mut out = Zeroizing::new(Vec::with_capacity(s.len()));
    let mut i = 0;
    while let Some(&c) = s.get(i) {
        if c != b'%' {
            if matches!(mode, Mode::Host | Mode::Zone) && c < 0x80 && should_escape(c, mode) {
                return Err("invalid character in host name".to_owned());
            }
            out.push(c);
            i += 1;
            continue;
        }
        let escape_error = || "invalid URL escape".to_owned();
        let (hi, lo) = match (s.get(i + 1).copied(), s.get(i + 2).copied()) {
            (Some(h), Some(l)) => (
                hex_value(h).ok_or_else(escape_error)?,
                hex_value(l).ok_or_else(escape_error)?,
            ),
            _ => return Err(escape_error()),
        };
        let value = hi << 4 | lo;
        let is_25 = value == 0x25;
        if mode == Mode::Host && hi < 8 && !is_25 {
            return Err(escape_error());
        }
        if mode == Mode::Zone && !is_25 && value != b' ' && should_escape(value, Mode::Host) {
            return Err(escape_error());
        }
        out.push(value);
        i += 3;
    }
    Ok(out)
}

/// Go's `escape` (never in query mode here).
fn escape(s: &[u8], mode: Mode) -> Bytes {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    let mut out = Zeroizing::new(Vec::with_capacity(s.len()));
    for &c in s {
        if should_escape(c, mode) {
            out.extend_from_slice(&[b'%', HEX[usize::from(c >> 4)], HEX[usize::from(c & 15)]]);
        } else {
            out.push(c);
        }
    }
    out
}

/// A user name and maybe a password (`*url.Userinfo`).
struct User {
    name: Bytes,
    password: Option<Bytes>,
}

impl User {
    /// `Userinfo.String`: escaped again.
    fn to_bytes(&self) -> Bytes {
        let mut s = escape(&self.name, Mode::UserPassword);
        if let Some(password) = &self.password {
            s.push(b':');
            s.extend_from_slice(&escape(password, Mode::UserPassword));
        }
        s
    }
}

/// Go's `url.URL`.
#[derive(Default)]
pub(super) struct Url {
    pub(super) scheme: Bytes,
    pub(super) opaque: Bytes,
    user: Option<User>,
    pub(super) host: Bytes,
    pub(super) path: Bytes,
    raw_path: Bytes,
    omit_host: bool,
    force_query: bool,
    pub(super) raw_query: Bytes,
    pub(super) fragment: Bytes,
    raw_fragment: Bytes,
}

fn parse_error(what: &str) -> String {
    format!("unable to parse url: {what}")
}

/// `strings.Cut`.
fn cut(s: &[u8], sep: u8) -> (&[u8], Option<&[u8]>) {
    match s.iter().position(|&c| c == sep) {
        Some(i) => (&s[..i], Some(&s[i + 1..])),
        None => (s, None),
    }
}

impl Url {
    /// Go's `url.Parse`; the error does not repeat the URL.
    pub(super) fn parse(raw: &[u8]) -> Result<Self, String> {
        let (u, fragment) = cut(raw, b'#');
        let mut url = Self::parse_reference(u).map_err(|e| parse_error(&e))?;
        if let Some(f) = fragment.filter(|f| !f.is_empty()) {
            url.fragment = unescape(f, Mode::Fragment).map_err(|e| parse_error(&e))?;
            if *escape(&url.fragment, Mode::Fragment) != f {
                url.raw_fragment = owned(f);
            }
        }
        Ok(url)
    }

    fn parse_reference(raw: &[u8]) -> Result<Self, String> {
        if raw.iter().any(|&c| c < b' ' || c == 0x7f) {
            return Err("net/url: invalid control character in URL".to_owned());
        }
        let mut url = Self::default();
        if raw == b"*" {
            url.path = owned(b"*");
            return Ok(url);
        }
        let (scheme, rest) = scheme(raw)?;
        url.scheme = Zeroizing::new(scheme.to_ascii_lowercase());
        let mut rest = rest;
        if rest.ends_with(b"?") && rest.iter().filter(|&&c| c == b'?').count() == 1 {
            url.force_query = true;
            rest = &rest[..rest.len() - 1];
        } else {
            let (before, query) = cut(rest, b'?');
            rest = before;
            url.raw_query = owned(query.unwrap_or_default());
        }
        if !rest.starts_with(b"/") {
            if !url.scheme.is_empty() {
                url.opaque = owned(rest);
                return Ok(url);
            }
            if cut(rest, b'/').0.contains(&b':') {
                return Err("first path segment in URL cannot contain colon".to_owned());
            }
        }
        if (!url.scheme.is_empty() || !rest.starts_with(b"///")) && rest.starts_with(b"//") {
            let authority = &rest[2..];
            let end = authority
                .iter()
                .position(|&c| c == b'/')
                .unwrap_or(authority.len());
            let (user, host) = parse_authority(&authority[..end])?;
            url.user = user;
            url.host = host;
            rest = &authority[end..];
        } else if !url.scheme.is_empty() && rest.starts_with(b"/") {
            url.omit_host = true;
        }
        url.path = unescape(rest, Mode::Path)?;
        if *escape(&url.path, Mode::Path) != rest {
            url.raw_path = owned(rest);
        }
        Ok(url)
    }

    /// `URL.Hostname`: the host without its port or brackets.
    pub(super) fn hostname(&self) -> &[u8] {
        let host = &self.host[..];
        let host = match host.iter().rposition(|&c| c == b':') {
            Some(colon) if valid_optional_port(&host[colon..]) => &host[..colon],
            _ => host,
        };
        match host.strip_prefix(b"[").and_then(|h| h.strip_suffix(b"]")) {
            Some(inner) => inner,
            None => host,
        }
    }

    /// `User.String()`, or nothing.
    pub(super) fn userinfo(&self) -> Bytes {
        self.user
            .as_ref()
            .map_or_else(|| owned(b""), User::to_bytes)
    }

    /// The URL sprig's `urlJoin` builds from a dict's parts (the user info parsed from
    /// `proto://USERINFO@host`).
    pub(super) fn from_parts(parts: [&[u8]; 7]) -> Result<Self, String> {
        let [scheme, host, path, query, opaque, fragment, userinfo] = parts;
        let user = if userinfo.is_empty() {
            None
        } else {
            let probe = Zeroizing::new([b"proto://", userinfo, b"@host"].concat());
            Self::parse(&probe)
                .map_err(|_| "unable to parse userinfo in dict".to_owned())?
                .user
        };
        Ok(Self {
            scheme: owned(scheme),
            host: owned(host),
            path: owned(path),
            raw_query: owned(query),
            opaque: owned(opaque),
            fragment: owned(fragment),
            user,
            ..Self::default()
        })
    }

    /// Go's `URL.String`.
    pub(super) fn to_bytes(&self) -> Bytes {
        let mut out = Zeroizing::new(Vec::new());
        if !self.scheme.is_empty() {
            out.extend_from_slice(&self.scheme);
            out.push(b':');
        }
        if !self.opaque.is_empty() {
            out.extend_from_slice(&self.opaque);
        } else {
            self.write_authority(&mut out);
            let path = self.escaped_path();
            if !path.is_empty() && path.first() != Some(&b'/') && !self.host.is_empty() {
                out.push(b'/');
            }
            if out.is_empty() && cut(&path, b'/').0.contains(&b':') {
                out.extend_from_slice(b"./");
            }
            out.extend_from_slice(&path);
        }
        if self.force_query || !self.raw_query.is_empty() {
            out.push(b'?');
            out.extend_from_slice(&self.raw_query);
        }
        if !self.fragment.is_empty() {
            out.push(b'#');
            out.extend_from_slice(&self.escaped_fragment());
        }
        out
    }

    fn write_authority(&self, out: &mut Vec<u8>) {
        let has_user = self.user.is_some();
        if self.scheme.is_empty() && self.host.is_empty() && !has_user
            || self.omit_host && self.host.is_empty() && !has_user
        {
            return;
        }
        if !self.host.is_empty() || !self.path.is_empty() || has_user {
            out.extend_from_slice(b"//");
        }
        if let Some(user) = &self.user {
            out.extend_from_slice(&user.to_bytes());
            out.push(b'@');
        }
        out.extend_from_slice(&escape(&self.host, Mode::Host));
    }

    /// `URL.EscapedPath`: the raw path when it is a valid encoding of the path.
    fn escaped_path(&self) -> Bytes {
        if !self.raw_path.is_empty() && valid_encoded(&self.raw_path, Mode::Path) {
            if let Ok(p) = unescape(&self.raw_path, Mode::Path) {
                if p == self.path {
                    return self.raw_path.clone();
                }
            }
        }
        if *self.path == b"*" {
            return owned(b"*");
        }
        escape(&self.path, Mode::Path)
    }

    /// `URL.EscapedFragment`, likewise.
    fn escaped_fragment(&self) -> Bytes {
        if !self.raw_fragment.is_empty() && valid_encoded(&self.raw_fragment, Mode::Fragment) {
            if let Ok(f) = unescape(&self.raw_fragment, Mode::Fragment) {
                if f == self.fragment {
                    return self.raw_fragment.clone();
                }
            }
        }
        escape(&self.fragment, Mode::Fragment)
    }
}

/// Go's `getScheme`: letters, then letters, digits, `+`, `-`, `.`, up to a `:`.
fn scheme(raw: &[u8]) -> Result<(&[u8], &[u8]), String> {
    for (i, &c) in raw.iter().enumerate() {
        match c {
            b'a'..=b'z' | b'A'..=b'Z' => {}
            b'0'..=b'9' | b'+' | b'-' | b'.' if i > 0 => {}
            b':' if i == 0 => return Err("missing protocol scheme".to_owned()),
            b':' => return Ok((&raw[..i], &raw[i + 1..])),
            _ => return Ok((b"", raw)),
        }
    }
    Ok((b"", raw))
}

fn parse_authority(authority: &[u8]) -> Result<(Option<User>, Bytes), String> {
    let Some(at) = authority.iter().rposition(|&c| c == b'@') else {
        return Ok((None, parse_host(authority)?));
    };
    let host = parse_host(&authority[at + 1..])?;
    let userinfo = &authority[..at];
    if !valid_userinfo(userinfo) {
        return Err("net/url: invalid userinfo".to_owned());
    }
    let user = match cut(userinfo, b':') {
        (name, None) => User {
            name: unescape(name, Mode::UserPassword)?,
            password: None,
        },
        (name, Some(password)) => User {
            name: unescape(name, Mode::UserPassword)?,
            password: Some(unescape(password, Mode::UserPassword)?),
        },
    };
    Ok((Some(user), host))
}

fn parse_host(host: &[u8]) -> Result<Bytes, String> {
    let invalid_port = || "invalid port after host".to_owned();
    if host.starts_with(b"[") {
        let end = host
            .iter()
            .rposition(|&c| c == b']')
            .ok_or_else(|| "missing ']' in host".to_owned())?;
        if !valid_optional_port(&host[end + 1..]) {
            return Err(invalid_port());
        }
        if let Some(zone) = host[..end].windows(3).position(|w| w == b"%25") {
            let mut out = unescape(&host[..zone], Mode::Host)?;
            out.extend_from_slice(&unescape(&host[zone..end], Mode::Zone)?);
            out.extend_from_slice(&unescape(&host[end..], Mode::Host)?);
            return Ok(out);
        }
    } else if let Some(colon) = host.iter().rposition(|&c| c == b':') {
        if !valid_optional_port(&host[colon..]) {
            return Err(invalid_port());
        }
    }
    unescape(host, Mode::Host)
}

fn valid_optional_port(port: &[u8]) -> bool {
    match port.split_first() {
        None => true,
        Some((b':', digits)) => digits.iter().all(u8::is_ascii_digit),
        Some(_) => false,
    }
}

/// Go's `validUserinfo` (ASCII only: any other character, or an invalid byte, is refused).
fn valid_userinfo(s: &[u8]) -> bool {
    s.iter()
        .all(|&c| c.is_ascii_alphanumeric() || b"-._:~!$&'()*+,;=%@".contains(&c))
}

/// Go's `validEncoded`.
fn valid_encoded(s: &[u8], mode: Mode) -> bool {
    s.iter()
        .all(|&c| b"!$&'()*+,;=:@[]%".contains(&c) || !should_escape(c, mode))
}
