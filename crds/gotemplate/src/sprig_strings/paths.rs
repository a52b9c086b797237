//! Go's `path` package (`base`, `dir`, `clean`, `ext`, `isAbs`), which is also what
//! `path/filepath` does on Linux (the `os…` names): slash-separated, on bytes.

/// Go's `path.Clean`: the shortest equivalent path, lexically.
pub(super) fn clean(path: &[u8]) -> Vec<u8> {
    if path.is_empty() {
        return b".".to_vec();
    }
    let rooted = path.first() == Some(&b'/');
    let mut out: Vec<u8> = Vec::with_capacity(path.len());
    // Where `..` may no longer back up.
    let mut floor = 0;
    if rooted {
        out.push(b'/');
        floor = 1;
    }
    for element in path.split(|&c| c == b'/') {
        match element {
            b"" | b"." => {}
            b".." if out.len() > floor => {
                let cut = out.iter().rposition(|&c| c == b'/').unwrap_or(0);
                out.truncate(cut.max(floor));
            }
            b".." if !rooted => {
                if !out.is_empty() {
                    out.push(b'/');
                }
                out.extend_from_slice(b"..");
                floor = out.len();
            }
            b".." => {}
            name => {
                if out.len() != usize::from(rooted) {
                    out.push(b'/');
                }
                out.extend_from_slice(name);
            }
        }
    }
    if out.is_empty() {
        out.push(b'.');
    }
    out
}

/// Go's `path.Base`: the last element, trailing slashes dropped.
pub(super) fn base(path: &[u8]) -> &[u8] {
    if path.is_empty() {
        return b".";
    }
    let trimmed = path
        .iter()
        .rposition(|&c| c != b'/')
        .map_or(&path[..0], |end| &path[..=end]);
    let last = match trimmed.iter().rposition(|&c| c == b'/') {
        Some(slash) => &trimmed[slash + 1..],
        None => trimmed,
    };
    if last.is_empty() {
        b"/"
    } else {
        last
    }
}

/// Go's `path.Dir`: all but the last element, cleaned.
pub(super) fn dir(path: &[u8]) -> Vec<u8> {
    let end = path.iter().rposition(|&c| c == b'/').map_or(0, |i| i + 1);
    clean(&path[..end])
}

/// Go's `path.Ext`: from the last dot of the last element, or nothing.
pub(super) fn ext(path: &[u8]) -> &[u8] {
    for (i, &c) in path.iter().enumerate().rev() {
        match c {
            b'/' => break,
            b'.' => return &path[i..],
            _ => {}
        }
    }
    b""
}
