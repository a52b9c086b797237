//! Go's `unicode` predicates and simple case mappings, on the general categories of
//! regex-syntax's Unicode tables.

use std::sync::OnceLock;

use regex_syntax::hir::{Class, HirKind};

/// Go's `utf8.RuneError`, also what an invalid byte decodes to.
pub(super) const RUNE_ERROR: char = char::REPLACEMENT_CHARACTER;

/// A general category Go's predicates test.
#[derive(Clone, Copy)]
enum Category {
    UpperLetter,
    LowerLetter,
    TitleLetter,
    Letter,
    Decimal,
    Number,
    Punct,
}

impl Category {
    fn name(self) -> &'static str {
        match self {
            Self::UpperLetter => "Lu",
            Self::LowerLetter => "Ll",
            Self::TitleLetter => "Lt",
            Self::Letter => "L",
            Self::Decimal => "Nd",
            Self::Number => "N",
            Self::Punct => "P",
        }
    }

    fn contains(self, c: char) -> bool {
        static TABLES: [OnceLock<Vec<(char, char)>>; 7] = [const { OnceLock::new() }; 7];
        let ranges = TABLES[self as usize].get_or_init(|| ranges(self.name()));
        ranges
            .binary_search_by(|&(lo, hi)| {
                if hi < c {
                    std::cmp::Ordering::Less
                } else if lo > c {
                    std::cmp::Ordering::Greater
                } else {
                    std::cmp::Ordering::Equal
                }
            })
            .is_ok()
    }
}

fn ranges(category: &str) -> Vec<(char, char)> {
    match regex_syntax::parse(&format!(r"\p{{{category}}}")).map(|h| h.into_kind()) {
        Ok(HirKind::Class(Class::Unicode(class))) => class
            .ranges()
            .iter()
            .map(|r| (r.start(), r.end()))
            .collect(),
        _ => Vec::new(),
    }
}

pub(super) fn is_upper(c: char) -> bool {
    Category::UpperLetter.contains(c)
}

pub(super) fn is_lower(c: char) -> bool {
    Category::LowerLetter.contains(c)
}

pub(super) fn is_title(c: char) -> bool {
    Category::TitleLetter.contains(c)
}

pub(super) fn is_letter(c: char) -> bool {
    Category::Letter.contains(c)
}

/// Go's `unicode.IsDigit`.
pub(super) fn is_decimal(c: char) -> bool {
    Category::Decimal.contains(c)
}

pub(super) fn is_number(c: char) -> bool {
    Category::Number.contains(c)
}

pub(super) fn is_punct(c: char) -> bool {
    Category::Punct.contains(c)
}

/// Go's `unicode.IsSpace` (the White_Space property, as Rust's).
pub(super) fn is_space(c: char) -> bool {
    c.is_whitespace()
}

/// The one-character mapping, or `c` where the full mapping has several characters.
fn single(mut mapped: impl Iterator<Item = char>, c: char) -> char {
    match (mapped.next(), mapped.next()) {
        (Some(m), None) => m,
        _ => c,
    }
}

pub(super) fn to_upper(c: char) -> char {
    let mut upper = c.to_uppercase();
    match (upper.next(), upper.next()) {
        (Some(u), None) => u,
        _ => greek_iota_upper(c).unwrap_or(c),
    }
}

/// The Greek letters with ypogegrammeni: their full upper case is two letters, their simple
/// one (Go's) the title-case letter with prosgegrammeni.
fn greek_iota_upper(c: char) -> Option<char> {
    let offset = match c {
        '\u{1f80}'..='\u{1f87}' | '\u{1f90}'..='\u{1f97}' | '\u{1fa0}'..='\u{1fa7}' => 8,
        '\u{1fb3}' | '\u{1fc3}' | '\u{1ff3}' => 9,
        _ => return None,
    };
    char::from_u32(u32::from(c) + offset)
}

pub(super) fn to_lower(c: char) -> char {
    // The only character whose full lower case is several and whose simple one differs.
    if c == '\u{130}' {
        return 'i';
    }
    single(c.to_lowercase(), c)
}

/// Go's `unicode.ToTitle`: the upper case, except for the digraphs that have a title case.
pub(super) fn to_title(c: char) -> char {
    match c {
        '\u{1c4}'..='\u{1c6}' => '\u{1c5}',
        '\u{1c7}'..='\u{1c9}' => '\u{1c8}',
        '\u{1ca}'..='\u{1cc}' => '\u{1cb}',
        '\u{1f1}'..='\u{1f3}' => '\u{1f2}',
        _ => to_upper(c),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn categories_and_cases() {
        assert!(is_upper('A') && is_upper('É') && !is_upper('Ⓐ'));
        assert!(is_lower('ß') && !is_lower('ª'));
        assert!(is_title('ǅ') && is_letter('日') && is_number('²') && is_punct('!'));
        assert!(!is_punct('$') && !is_number('x'));
        assert_eq!(
            (to_upper('ß'), to_lower('İ'), to_title('ǆ')),
            ('ß', 'i', 'ǅ')
        );
    }
}
