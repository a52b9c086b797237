//! The lexer: cuts a template into text and the tokens of its actions, as Go's `text/template`
//! does, including its error messages. Lexing stops at the first error, which becomes the last
//! token; the parser reports it when it gets there.

use std::fmt;

use super::format::{go_quote, is_print};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Kind {
    Error,
    Eof,
    Text,
    LeftDelim,
    RightDelim,
    Space,
    Pipe,
    LeftParen,
    RightParen,
    Assign,
    Declare,
    /// Any other printable ASCII character inside an action (`,`, `}`, `%`, …).
    Char,
    String,
    RawString,
    CharConstant,
    Number,
    Complex,
    Bool,
    Field,
    Variable,
    Identifier,
    // Keywords.
    Block,
    Break,
    Continue,
    Define,
    Dot,
    Else,
    End,
    If,
    Nil,
    Range,
    Template,
    With,
}

impl Kind {
    fn is_keyword(self) -> bool {
        matches!(
            self,
            Self::Block
                | Self::Break
                | Self::Continue
                | Self::Define
                | Self::Dot
                | Self::Else
                | Self::End
                | Self::If
                | Self::Nil
                | Self::Range
                | Self::Template
                | Self::With
        )
    }
}

#[derive(Debug, Clone)]
pub(super) struct Token {
    pub(super) kind: Kind,
    /// Byte offset in the template.
    pub(super) pos: usize,
    /// The text of the token, or the message of an error.
    pub(super) val: String,
    pub(super) line: usize,
}

impl fmt::Display for Token {
    /// As Go shows a token in "unexpected …" messages.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.kind {
            Kind::Eof => f.write_str("EOF"),
            Kind::Error => f.write_str(&self.val),
            k if k.is_keyword() => write!(f, "<{}>", self.val),
            _ if self.val.chars().count() > 10 => {
                let head: String = self.val.chars().take(10).collect();
                write!(f, "{}...", go_quote(&head))
            }
            _ => f.write_str(&go_quote(&self.val)),
        }
    }
}

const LEFT: &str = "{{";
const RIGHT: &str = "}}";
const LEFT_COMMENT: &str = "/*";
const RIGHT_COMMENT: &str = "*/";

/// Cuts `input` into tokens; the last one is `Eof` or `Error`.
pub(super) fn lex(input: &str) -> Vec<Token> {
    let mut lexer = Lexer {
        input,
        pos: 0,
        start: 0,
        paren_depth: 0,
        newlines: input
            .bytes()
            .enumerate()
            .filter(|(_, b)| *b == b'\n')
            .map(|(i, _)| i)
            .collect(),
        tokens: Vec::new(),
    };
    lexer.run();
    lexer.tokens
}

/// Stop lexing (an error token was emitted).
struct Stop;

struct Lexer<'a> {
    input: &'a str,
    pos: usize,
    start: usize,
    paren_depth: usize,
    newlines: Vec<usize>,
    tokens: Vec<Token>,
}

fn is_space(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\r' | '\n')
}

fn is_alphanumeric(c: char) -> bool {
    c == '_' || c.is_alphabetic() || c.is_numeric()
}

fn has_left_trim_marker(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() >= 2 && b[0] == b'-' && is_space(char::from(b[1]))
}

fn has_right_trim_marker(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() >= 2 && is_space(char::from(b[0])) && b[1] == b'-'
}

/// `U+0025 '%'`, as Go's `%#U`.
fn describe(c: char) -> String {
    if is_print(c) {
        format!("U+{:04X} '{c}'", u32::from(c))
    } else {
        format!("U+{:04X}", u32::from(c))
    }
}

impl Lexer<'_> {
    fn rest(&self) -> &str {
        self.input.get(self.pos..).unwrap_or_default()
    }

    fn peek(&self) -> Option<char> {
        self.rest().chars().next()
    }

    fn next(&mut self) -> Option<char> {
        let c = self.peek()?;
        self.pos += c.len_utf8();
        Some(c)
    }

    fn accept(&mut self, valid: &str) -> bool {
        match self.peek() {
            Some(c) if valid.contains(c) => {
                self.pos += c.len_utf8();
                true
            }
            _ => false,
        }
    }

    fn accept_run(&mut self, valid: &str) {
        while self.accept(valid) {}
    }

    fn line_at(&self, pos: usize) -> usize {
        1 + self.newlines.partition_point(|&n| n < pos)
    }

    fn emit(&mut self, kind: Kind) {
        let val = self
            .input
            .get(self.start..self.pos)
            .unwrap_or_default()
            .to_owned();
        self.tokens.push(Token {
            kind,
            pos: self.start,
            val,
            line: self.line_at(self.start),
        });
        self.start = self.pos;
    }

    fn ignore(&mut self) {
        self.start = self.pos;
    }

    fn error(&mut self, message: String) -> Stop {
        self.tokens.push(Token {
            kind: Kind::Error,
            pos: self.start,
            val: message,
            line: self.line_at(self.start),
        });
        Stop
    }

    fn run(&mut self) {
        while self.lex_text().is_ok() {}
    }

    /// Text up to the next action; then the action. `Err` once the input is consumed.
    fn lex_text(&mut self) -> Result<(), Stop> {
        let Some(found) = self.rest().find(LEFT) else {
            self.pos = self.input.len();
            if self.pos > self.start {
                self.emit(Kind::Text);
            }
            self.emit(Kind::Eof);
            return Err(Stop);
        };
        let delim = self.pos + found;
        let after = self.input.get(delim + LEFT.len()..).unwrap_or_default();
        let mut text_end = delim;
        if has_left_trim_marker(after) {
            let text = self.input.get(self.start..delim).unwrap_or_default();
            text_end = self.start + text.trim_end_matches(is_space).len();
        }
        if text_end > self.start {
            self.pos = text_end;
            self.emit(Kind::Text);
        }
        self.start = delim;
        self.pos = delim + LEFT.len();
        self.lex_left_delim()
    }

    /// After `{{`: a comment or an action.
    fn lex_left_delim(&mut self) -> Result<(), Stop> {
        let trim = has_left_trim_marker(self.rest());
        let after_marker = if trim { 2 } else { 0 };
        let rest = self.rest().get(after_marker..).unwrap_or_default();
        if rest.starts_with(LEFT_COMMENT) {
            self.pos += after_marker;
            self.ignore();
            return self.lex_comment();
        }
        self.emit(Kind::LeftDelim);
        self.pos += after_marker;
        self.ignore();
        self.paren_depth = 0;
        self.lex_inside_action()
    }

    fn lex_comment(&mut self) -> Result<(), Stop> {
        self.pos += LEFT_COMMENT.len();
        let Some(end) = self.rest().find(RIGHT_COMMENT) else {
            return Err(self.error("unclosed comment".to_owned()));
        };
        self.pos += end + RIGHT_COMMENT.len();
        let Some(trim) = self.at_right_delim() else {
            return Err(self.error("comment ends before closing delimiter".to_owned()));
        };
        if trim {
            self.pos += 2;
        }
        self.pos += RIGHT.len();
        if trim {
            self.skip_leading_space();
        }
        self.ignore();
        Ok(())
    }

    fn skip_leading_space(&mut self) {
        let rest = self.rest();
        self.pos += rest.len() - rest.trim_start_matches(is_space).len();
    }

    /// At `}}` or ` -}}`: `Some(trim)`.
    fn at_right_delim(&self) -> Option<bool> {
        let rest = self.rest();
        if has_right_trim_marker(rest) && rest.get(2..).is_some_and(|r| r.starts_with(RIGHT)) {
            return Some(true);
        }
        rest.starts_with(RIGHT).then_some(false)
    }

    fn lex_right_delim(&mut self, trim: bool) {
        if trim {
            self.pos += 2;
            self.ignore();
        }
        self.pos += RIGHT.len();
        self.emit(Kind::RightDelim);
        if trim {
            self.skip_leading_space();
            self.ignore();
        }
    }

    fn lex_inside_action(&mut self) -> Result<(), Stop> {
        loop {
            if let Some(trim) = self.at_right_delim() {
                if self.paren_depth == 0 {
                    self.lex_right_delim(trim);
                    return Ok(());
                }
                return Err(self.error("unclosed left paren".to_owned()));
            }
            let Some(c) = self.next() else {
                return Err(self.error("unclosed action".to_owned()));
            };
            match c {
                c if is_space(c) => {
                    self.pos -= 1;
                    if self.lex_space() {
                        return Ok(());
                    }
                }
                '=' => self.emit(Kind::Assign),
                ':' => {
                    if self.next() != Some('=') {
                        return Err(self.error("expected :=".to_owned()));
                    }
                    self.emit(Kind::Declare);
                }
                '|' => self.emit(Kind::Pipe),
                '"' => self.lex_quote()?,
                '`' => self.lex_raw_quote()?,
                '$' => self.lex_field_or_variable(Kind::Variable)?,
                '\'' => self.lex_char()?,
                '.' if !self.peek().is_some_and(|c| c.is_ascii_digit())
                    && self.peek().is_some() =>
                {
                    self.lex_field_or_variable(Kind::Field)?;
                }
                '.' | '+' | '-' | '0'..='9' => {
                    self.pos = self.start;
                    self.lex_number()?;
                }
                c if is_alphanumeric(c) => self.lex_identifier()?,
                '(' => {
                    self.emit(Kind::LeftParen);
                    self.paren_depth += 1;
                }
                ')' => {
                    if self.paren_depth == 0 {
                        return Err(self.error("unexpected right paren".to_owned()));
                    }
                    self.paren_depth -= 1;
                    self.emit(Kind::RightParen);
                }
                c if c.is_ascii() && is_print(c) => self.emit(Kind::Char),
                c => {
                    return Err(
                        self.error(format!("unrecognized character in action: {}", describe(c)))
                    )
                }
            }
        }
    }

    /// A run of spaces; `true` when it ended the action (a lone space before `-}}`).
    fn lex_space(&mut self) -> bool {
        let mut count = 0;
        while self.peek().is_some_and(is_space) {
            self.pos += 1;
            count += 1;
        }
        let before_last = self.input.get(self.pos - 1..).unwrap_or_default();
        if has_right_trim_marker(before_last)
            && before_last.get(2..).is_some_and(|r| r.starts_with(RIGHT))
        {
            self.pos -= 1;
            if count == 1 {
                self.lex_right_delim(true);
                return true;
            }
        }
        self.emit(Kind::Space);
        false
    }

    /// After an identifier: a space, the end, `.`, `,`, `|`, `:`, a paren or `}}`.
    fn at_terminator(&self) -> bool {
        match self.peek() {
            None => true,
            Some(c) if is_space(c) => true,
            Some('.' | ',' | '|' | ':' | ')' | '(') => true,
            Some(_) => self.rest().starts_with(RIGHT),
        }
    }

    fn bad_character(&mut self) -> Stop {
        let c = self.peek().unwrap_or(char::REPLACEMENT_CHARACTER);
        self.error(format!("bad character {}", describe(c)))
    }

    /// `$name` or `.name`, the `$` or `.` scanned.
    fn lex_field_or_variable(&mut self, kind: Kind) -> Result<(), Stop> {
        if self.at_terminator() {
            self.emit(if kind == Kind::Variable {
                Kind::Variable
            } else {
                Kind::Dot
            });
            return Ok(());
        }
        while self.peek().is_some_and(is_alphanumeric) {
            self.next();
        }
        if !self.at_terminator() {
            return Err(self.bad_character());
        }
        self.emit(kind);
        Ok(())
    }

    fn lex_identifier(&mut self) -> Result<(), Stop> {
        while self.peek().is_some_and(is_alphanumeric) {
            self.next();
        }
        if !self.at_terminator() {
            return Err(self.bad_character());
        }
        let kind = match self.input.get(self.start..self.pos).unwrap_or_default() {
            "block" => Kind::Block,
            "break" => Kind::Break,
            "continue" => Kind::Continue,
            "define" => Kind::Define,
            "else" => Kind::Else,
            "end" => Kind::End,
            "if" => Kind::If,
            "nil" => Kind::Nil,
            "range" => Kind::Range,
            "template" => Kind::Template,
            "with" => Kind::With,
            "true" | "false" => Kind::Bool,
            _ => Kind::Identifier,
        };
        self.emit(kind);
        Ok(())
    }

    /// A quoted string or character constant, the opening quote scanned.
    fn lex_escaped(&mut self, quote: char, kind: Kind, unterminated: &str) -> Result<(), Stop> {
        loop {
            match self.next() {
                Some('\\') => {
                    if matches!(self.next(), None | Some('\n')) {
                        return Err(self.error(unterminated.to_owned()));
                    }
                }
                None | Some('\n') => return Err(self.error(unterminated.to_owned())),
                Some(c) if c == quote => break,
                Some(_) => {}
            }
        }
        self.emit(kind);
        Ok(())
    }

    fn lex_quote(&mut self) -> Result<(), Stop> {
        self.lex_escaped('"', Kind::String, "unterminated quoted string")
    }

    fn lex_char(&mut self) -> Result<(), Stop> {
        self.lex_escaped('\'', Kind::CharConstant, "unterminated character constant")
    }

    fn lex_raw_quote(&mut self) -> Result<(), Stop> {
        let Some(end) = self.rest().find('`') else {
            return Err(self.error("unterminated raw quoted string".to_owned()));
        };
        self.pos += end + 1;
        self.emit(Kind::RawString);
        Ok(())
    }

    fn lex_number(&mut self) -> Result<(), Stop> {
        if !self.scan_number() {
            return Err(self.bad_number());
        }
        if matches!(self.peek(), Some('+' | '-')) {
            // A complex number, 1+2i: recognized to be refused by the parser.
            if !self.scan_number() || !self.input.get(..self.pos).is_some_and(|s| s.ends_with('i'))
            {
                return Err(self.bad_number());
            }
            self.emit(Kind::Complex);
        } else {
            self.emit(Kind::Number);
        }
        Ok(())
    }

    fn bad_number(&mut self) -> Stop {
        let text = self
            .input
            .get(self.start..self.pos)
            .unwrap_or_default()
            .to_owned();
        self.error(format!("bad number syntax: {}", go_quote(&text)))
    }

    /// Go's permissive number scanner: the parser checks the syntax.
    fn scan_number(&mut self) -> bool {
        self.accept("+-");
        let mut digits = "0123456789_";
        if self.accept("0") {
            if self.accept("xX") {
                digits = "0123456789abcdefABCDEF_";
            } else if self.accept("oO") {
                digits = "01234567_";
            } else if self.accept("bB") {
                digits = "01_";
            }
        }
        self.accept_run(digits);
        if self.accept(".") {
            self.accept_run(digits);
        }
        if digits.len() == 11 && self.accept("eE") {
            self.accept("+-");
            self.accept_run("0123456789_");
        }
        if digits.len() == 23 && self.accept("pP") {
            self.accept("+-");
            self.accept_run("0123456789_");
        }
        self.accept("i");
        if self.peek().is_some_and(is_alphanumeric) {
            self.next();
            return false;
        }
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kinds(input: &str) -> Vec<(Kind, String)> {
        lex(input).into_iter().map(|t| (t.kind, t.val)).collect()
    }

    #[test]
    fn text_and_actions() {
        use Kind::*;
        assert_eq!(
            kinds("a {{- .x | printf \"%s\" 1 -}} b"),
            vec![
                (Text, "a".into()),
                (LeftDelim, "{{".into()),
                (Field, ".x".into()),
                (Space, " ".into()),
                (Pipe, "|".into()),
                (Space, " ".into()),
                (Identifier, "printf".into()),
                (Space, " ".into()),
                (String, "\"%s\"".into()),
                (Space, " ".into()),
                (Number, "1".into()),
                (RightDelim, "}}".into()),
                (Text, "b".into()),
                (Eof, "".into()),
            ]
        );
    }

    #[test]
    fn comments_and_trim() {
        use Kind::*;
        assert_eq!(
            kinds("a  {{- /* c */ -}}  b{{/* d */}}"),
            vec![(Text, "a".into()), (Text, "b".into()), (Eof, "".into())]
        );
        assert_eq!(
            kinds("{{/* x */ }}"),
            vec![(Error, "comment ends before closing delimiter".into())]
        );
    }

    #[test]
    fn errors_stop_lexing() {
        assert_eq!(
            kinds("{{ \"abc }}").last().map(|t| t.1.clone()),
            Some("unterminated quoted string".into())
        );
        assert_eq!(
            kinds("{{ .x-}}").last().map(|t| t.1.clone()),
            Some("bad character U+002D '-'".into())
        );
        assert_eq!(
            kinds("{{ 3x }}").last().map(|t| t.1.clone()),
            Some("bad number syntax: \"3x\"".into())
        );
    }
}
