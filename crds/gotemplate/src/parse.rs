//! The parser: tokens to a tree of nodes, with Go's grammar and error messages
//! (`template: NAME:LINE: message`). Function names are checked here, as Go does.

use std::collections::BTreeMap;
use std::fmt;

use super::ast::{Arg, Command, Control, Node, Number, Parsed, Pipe};
use super::format::go_quote;
use super::lex::{lex, Kind, Token};
use super::literal::{parse_float, parse_int, single_char, unescape, unquote};
use super::table::Func;

/// Deepest nesting of parentheses and control structures.
const MAX_DEPTH: usize = 50;

/// What `{{end}}` and `{{else}}` parse to before they close their list.
enum Item {
    Node(Node),
    End,
    Else,
}

impl fmt::Display for Item {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::End => "{{end}}",
            Self::Else => "{{else}}",
            Self::Node(_) => "node",
        })
    }
}

type PResult<T> = Result<T, String>;

/// Parses `text`, named `name` in messages.
pub(super) fn parse(name: &str, text: &str) -> PResult<Parsed> {
    let mut parser = Parser {
        name,
        tokens: lex(text),
        next: 0,
        furthest: 0,
        vars: vec!["$".to_owned()],
        range_depth: 0,
        action_line: 0,
        depth: 0,
        trees: BTreeMap::new(),
    };
    let root = parser.parse_top()?;
    parser.add(name, root)?;
    Ok(Parsed {
        text: text.to_owned(),
        trees: parser.trees,
    })
}

struct Parser<'a> {
    name: &'a str,
    tokens: Vec<Token>,
    /// Index of the next token.
    next: usize,
    /// The furthest token read: its line is the line of parse errors, as in Go.
    furthest: usize,
    vars: Vec<String>,
    range_depth: usize,
    action_line: usize,
    depth: usize,
    trees: BTreeMap<String, Vec<Node>>,
}

fn is_empty_tree(nodes: &[Node]) -> bool {
    nodes.iter().all(|n| match n {
        Node::Text(t) => t.trim_matches(|c: char| c.is_whitespace()).is_empty(),
        _ => false,
    })
}

impl Parser<'_> {
    fn error<T>(&self, message: impl fmt::Display) -> PResult<T> {
        let line = self.tokens.get(self.furthest).map_or(1, |t| t.line);
        Err(format!("template: {}:{line}: {message}", self.name))
    }

    fn unexpected<T>(&self, token: &Token, context: &str) -> PResult<T> {
        if token.kind == Kind::Error {
            let mut extra = String::new();
            if self.action_line != 0 && self.action_line != token.line {
                extra = format!(" in action started at {}:{}", self.name, self.action_line);
                if token.val.ends_with(" action") {
                    extra = extra.replacen(" in action", "", 1);
                }
            }
            return self.error(format_args!("{}{extra}", token.val));
        }
        self.error(format_args!("unexpected {token} in {context}"))
    }

    fn token(&self, index: usize) -> Token {
        let last = self.tokens.len().saturating_sub(1);
        self.tokens.get(index.min(last)).cloned().unwrap_or(Token {
            kind: Kind::Eof,
            pos: 0,
            val: String::new(),
            line: 1,
        })
    }

    fn next(&mut self) -> Token {
        let token = self.token(self.next);
        self.furthest = self
            .furthest
            .max(self.next.min(self.tokens.len().saturating_sub(1)));
        self.next += 1;
        token
    }

    fn backup(&mut self) {
        self.next = self.next.saturating_sub(1);
    }

    fn peek(&mut self) -> Token {
        let token = self.next();
        self.backup();
        token
    }

    fn next_non_space(&mut self) -> Token {
        loop {
            let token = self.next();
            if token.kind != Kind::Space {
                return token;
            }
        }
    }

    fn peek_non_space(&mut self) -> Token {
        let token = self.next_non_space();
        self.backup();
        token
    }

    fn expect(&mut self, kind: Kind, context: &str) -> PResult<Token> {
        let token = self.next_non_space();
        if token.kind != kind {
            return self.unexpected(&token, context);
        }
        Ok(token)
    }

    fn enter(&mut self) -> PResult<()> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return self.error("max expression depth exceeded");
        }
        Ok(())
    }

    fn leave(&mut self) {
        self.depth = self.depth.saturating_sub(1);
    }

    /// Adds a tree; an empty one never replaces another, two non-empty ones clash.
    fn add(&mut self, name: &str, root: Vec<Node>) -> PResult<()> {
        match self.trees.get(name) {
            Some(existing) if !is_empty_tree(existing) => {
                if !is_empty_tree(&root) {
                    return self.error(format_args!(
                        "template: multiple definition of template {}",
                        go_quote(name)
                    ));
                }
            }
            _ => {
                self.trees.insert(name.to_owned(), root);
            }
        }
        Ok(())
    }

    fn parse_top(&mut self) -> PResult<Vec<Node>> {
        let mut root = Vec::new();
        while self.peek().kind != Kind::Eof {
            if self.peek().kind == Kind::LeftDelim {
                let save = self.next;
                self.next();
                if self.next_non_space().kind == Kind::Define {
                    self.parse_definition()?;
                    continue;
                }
                self.next = save;
            }
            match self.text_or_action()? {
                Item::Node(n) => root.push(n),
                other => return self.error(format_args!("unexpected {other}")),
            }
        }
        Ok(root)
    }

    /// Runs `body` with the variables and range depth of a new template.
    fn in_new_template<T>(&mut self, body: impl FnOnce(&mut Self) -> PResult<T>) -> PResult<T> {
        let vars = std::mem::replace(&mut self.vars, vec!["$".to_owned()]);
        let range_depth = std::mem::replace(&mut self.range_depth, 0);
        let result = body(self);
        self.vars = vars;
        self.range_depth = range_depth;
        result
    }

    /// `{{define "name"}} … {{end}}`, `define` scanned.
    fn parse_definition(&mut self) -> PResult<()> {
        const CONTEXT: &str = "define clause";
        let token = self.next_non_space();
        let name = self.template_name(&token, CONTEXT)?;
        self.expect(Kind::RightDelim, CONTEXT)?;
        let (list, end) = self.in_new_template(Self::item_list)?;
        if !matches!(end, Item::End) {
            return self.error(format_args!("unexpected {end} in {CONTEXT}"));
        }
        self.add(&name, list)
    }

    fn template_name(&mut self, token: &Token, context: &str) -> PResult<String> {
        match token.kind {
            Kind::String | Kind::RawString => {
                let name = self.unquote(token)?;
                Ok(String::from_utf8_lossy(&name).into_owned())
            }
            _ => self.unexpected(token, context),
        }
    }

    /// Nodes up to `{{end}}` or `{{else}}`, which is returned too.
    fn item_list(&mut self) -> PResult<(Vec<Node>, Item)> {
        self.enter()?;
        let mut list = Vec::new();
        while self.peek_non_space().kind != Kind::Eof {
            match self.text_or_action()? {
                Item::Node(n) => list.push(n),
                end => {
                    self.leave();
                    return Ok((list, end));
                }
            }
        }
        self.error("unexpected EOF")
    }

    fn text_or_action(&mut self) -> PResult<Item> {
        let token = self.next_non_space();
        match token.kind {
            Kind::Text => Ok(Item::Node(Node::Text(token.val))),
            Kind::LeftDelim => {
                self.action_line = token.line;
                let item = self.action();
                self.action_line = 0;
                item
            }
            _ => self.unexpected(&token, "input"),
        }
    }

    fn action(&mut self) -> PResult<Item> {
        let token = self.next_non_space();
        match token.kind {
            Kind::Block => return self.block_control().map(Item::Node),
            Kind::Break => {
                return self
                    .loop_control("{{break}}")
                    .map(|()| Item::Node(Node::Break))
            }
            Kind::Continue => {
                return self
                    .loop_control("{{continue}}")
                    .map(|()| Item::Node(Node::Continue))
            }
            Kind::Else => return self.else_control(),
            Kind::End => return self.expect(Kind::RightDelim, "end").map(|_| Item::End),
            Kind::If => return self.if_control().map(Item::Node),
            Kind::Range => return self.control("range").map(|c| Item::Node(Node::Range(c))),
            Kind::Template => return self.template_control().map(Item::Node),
            Kind::With => return self.control("with").map(|c| Item::Node(Node::With(c))),
            _ => {}
        }
        self.backup();
        // Variables declared here stay until the enclosing {{end}}.
        let pipe = self.pipeline("command", Kind::RightDelim)?;
        Ok(Item::Node(Node::Action(pipe)))
    }

    fn loop_control(&mut self, context: &str) -> PResult<()> {
        let token = self.next_non_space();
        if token.kind != Kind::RightDelim {
            return self.unexpected(&token, context);
        }
        if self.range_depth == 0 {
            return self.error(format_args!("{context} outside {{{{range}}}}"));
        }
        Ok(())
    }

    fn else_control(&mut self) -> PResult<Item> {
        // `{{else if …}}` and `{{else with …}}` leave the keyword for the enclosing control.
        if matches!(self.peek_non_space().kind, Kind::If | Kind::With) {
            return Ok(Item::Else);
        }
        self.expect(Kind::RightDelim, "else")?;
        Ok(Item::Else)
    }

    fn if_control(&mut self) -> PResult<Node> {
        self.control("if").map(Node::If)
    }

    /// `if`, `with` or `range`, the keyword scanned.
    fn control(&mut self, context: &str) -> PResult<Control> {
        let vars = self.vars.len();
        let result = self.control_inner(context);
        self.vars.truncate(vars);
        result
    }

    fn control_inner(&mut self, context: &str) -> PResult<Control> {
        let pipe = self.pipeline(context, Kind::RightDelim)?;
        let is_range = context == "range";
        if is_range {
            self.range_depth += 1;
        }
        let (list, next) = self.item_list()?;
        if is_range {
            self.range_depth -= 1;
        }
        let mut else_list = None;
        if let Item::Else = next {
            let chained = self.peek().kind;
            if context == "if" && chained == Kind::If {
                // {{if a}}…{{else if b}}…{{end}} is {{if a}}…{{else}}{{if b}}…{{end}}{{end}}.
                self.next();
                else_list = Some(vec![self.if_control()?]);
            } else if context == "with" && chained == Kind::With {
                self.next();
                else_list = Some(vec![Node::With(self.control("with")?)]);
            } else {
                let (list, next) = self.item_list()?;
                if !matches!(next, Item::End) {
                    return self.error(format_args!("expected end; found {next}"));
                }
                else_list = Some(list);
            }
        }
        Ok(Control {
            pipe,
            list,
            else_list,
        })
    }

    /// `{{template "name" pipeline}}`, `template` scanned.
    fn template_control(&mut self) -> PResult<Node> {
        const CONTEXT: &str = "template clause";
        let token = self.next_non_space();
        let name = self.template_name(&token, CONTEXT)?;
        let mut pipe = None;
        if self.next_non_space().kind != Kind::RightDelim {
            self.backup();
            pipe = Some(self.pipeline(CONTEXT, Kind::RightDelim)?);
        }
        Ok(Node::Template {
            pos: token.pos,
            name,
            pipe,
        })
    }

    /// `{{block "name" pipeline}} … {{end}}`: a definition and its use, `block` scanned.
    fn block_control(&mut self) -> PResult<Node> {
        const CONTEXT: &str = "block clause";
        let token = self.next_non_space();
        let name = self.template_name(&token, CONTEXT)?;
        let pipe = self.pipeline(CONTEXT, Kind::RightDelim)?;
        let (list, end) = self.in_new_template(Self::item_list)?;
        if !matches!(end, Item::End) {
            return self.error(format_args!("unexpected {end} in {CONTEXT}"));
        }
        self.add(&name, list)?;
        Ok(Node::Template {
            pos: token.pos,
            name,
            pipe: Some(pipe),
        })
    }

    /// declarations? command ('|' command)*, up to `end`.
    fn pipeline(&mut self, context: &str, end: Kind) -> PResult<Pipe> {
        self.enter()?;
        let pos = self.peek_non_space().pos;
        let mut pipe = Pipe {
            pos,
            decl: Vec::new(),
            is_assign: false,
            cmds: Vec::new(),
        };
        self.declarations(&mut pipe, context)?;
        loop {
            let token = self.next_non_space();
            match token.kind {
                k if k == end => {
                    self.check_pipeline(&pipe, context)?;
                    self.leave();
                    return Ok(pipe);
                }
                Kind::Bool
                | Kind::CharConstant
                | Kind::Complex
                | Kind::Dot
                | Kind::Field
                | Kind::Identifier
                | Kind::Number
                | Kind::Nil
                | Kind::RawString
                | Kind::String
                | Kind::Variable
                | Kind::LeftParen => {
                    self.backup();
                    let cmd = self.command()?;
                    pipe.cmds.push(cmd);
                }
                _ => return self.unexpected(&token, context),
            }
        }
    }

    /// `$x :=`, `$x =`, `$i, $v :=` (in range).
    fn declarations(&mut self, pipe: &mut Pipe, context: &str) -> PResult<()> {
        loop {
            let var = self.peek_non_space();
            if var.kind != Kind::Variable {
                return Ok(());
            }
            let save = self.next;
            self.next();
            let after = self.peek_non_space();
            match after.kind {
                Kind::Assign | Kind::Declare => {
                    pipe.is_assign = after.kind == Kind::Assign;
                    self.next_non_space();
                    pipe.decl.push(var.val.clone());
                    self.vars.push(var.val);
                    return Ok(());
                }
                Kind::Char if after.val == "," => {
                    self.next_non_space();
                    pipe.decl.push(var.val.clone());
                    self.vars.push(var.val);
                    if context == "range" && pipe.decl.len() < 2 {
                        match self.peek_non_space().kind {
                            Kind::Variable | Kind::RightDelim | Kind::RightParen => continue,
                            _ => return self.error("range can only initialize variables"),
                        }
                    }
                    return self.error(format_args!("too many declarations in {context}"));
                }
                _ => {
                    self.next = save;
                    return Ok(());
                }
            }
        }
    }

    fn check_pipeline(&self, pipe: &Pipe, context: &str) -> PResult<()> {
        if pipe.cmds.is_empty() {
            return self.error(format_args!("missing value for {context}"));
        }
        for (i, cmd) in pipe.cmds.iter().enumerate().skip(1) {
            if let Some(
                Arg::Bool(..) | Arg::Dot(_) | Arg::Nil(_) | Arg::Number(..) | Arg::Str { .. },
            ) = cmd.args.first()
            {
                return self.error(format_args!(
                    "non executable command in pipeline stage {}",
                    i + 1
                ));
            }
        }
        Ok(())
    }

    /// Operands up to `|`, `}}` or `)`.
    fn command(&mut self) -> PResult<Command> {
        let pos = self.peek_non_space().pos;
        let mut args = Vec::new();
        loop {
            self.peek_non_space();
            if let Some(operand) = self.operand()? {
                args.push(operand);
            }
            let token = self.next();
            match token.kind {
                Kind::Space => continue,
                Kind::RightDelim | Kind::RightParen => self.backup(),
                Kind::Pipe => {}
                _ => return self.unexpected(&token, "operand"),
            }
            break;
        }
        if args.is_empty() {
            return self.error("empty command");
        }
        Ok(Command { pos, args })
    }

    /// A term and the fields that follow it.
    fn operand(&mut self) -> PResult<Option<Arg>> {
        let Some(term) = self.term()? else {
            return Ok(None);
        };
        if self.peek().kind != Kind::Field {
            return Ok(Some(term));
        }
        let pos = self.peek().pos;
        let mut fields = Vec::new();
        while self.peek().kind == Kind::Field {
            let field = self.next().val.trim_start_matches('.').to_owned();
            fields.push(field);
        }
        Ok(Some(match term {
            Arg::Field { mut idents, .. } => {
                idents.extend(fields);
                Arg::Field { pos, idents }
            }
            Arg::Variable {
                name,
                fields: mut first,
                ..
            } => {
                first.extend(fields);
                Arg::Variable {
                    pos,
                    name,
                    fields: first,
                }
            }
            Arg::Bool(..) | Arg::Str { .. } | Arg::Number(..) | Arg::Nil(_) | Arg::Dot(_) => {
                return self.error(format_args!(
                    "unexpected . after term {}",
                    go_quote(&term.to_string())
                ))
            }
            node => Arg::Chain {
                pos,
                node: Box::new(node),
                fields,
            },
        }))
    }

    fn term(&mut self) -> PResult<Option<Arg>> {
        let token = self.next_non_space();
        let pos = token.pos;
        Ok(Some(match token.kind {
            Kind::Identifier => match Func::lookup(&token.val) {
                Some((name, func)) => Arg::Ident { pos, name, func },
                None => {
                    return self.error(format_args!(
                        "function {} not defined",
                        go_quote(&token.val)
                    ))
                }
            },
            Kind::Dot => Arg::Dot(pos),
            Kind::Nil => Arg::Nil(pos),
            Kind::Variable => {
                if !self.vars.contains(&token.val) {
                    return self.error(format_args!("undefined variable {}", go_quote(&token.val)));
                }
                Arg::Variable {
                    pos,
                    name: token.val,
                    fields: Vec::new(),
                }
            }
            Kind::Field => {
                let field = token.val.trim_start_matches('.').to_owned();
                Arg::Field {
                    pos,
                    idents: vec![field],
                }
            }
            Kind::Bool => Arg::Bool(pos, token.val == "true"),
            Kind::CharConstant | Kind::Complex | Kind::Number => {
                Arg::Number(pos, self.number(&token)?)
            }
            Kind::LeftParen => Arg::Pipe(Box::new(
                self.pipeline("parenthesized pipeline", Kind::RightParen)?,
            )),
            Kind::String | Kind::RawString => {
                let value = self.unquote(&token)?;
                Arg::Str {
                    pos,
                    quoted: token.val,
                    value,
                }
            }
            _ => {
                self.backup();
                return Ok(None);
            }
        }))
    }

    fn unquote(&self, token: &Token) -> PResult<Vec<u8>> {
        match unquote(&token.val) {
            Some(v) => Ok(v),
            None => self.error("invalid syntax"),
        }
    }

    fn number(&self, token: &Token) -> PResult<Number> {
        let text = &token.val;
        if token.kind == Kind::Complex || (text.ends_with('i') && !text.starts_with('\'')) {
            return self.error("complex numbers are not supported");
        }
        if token.kind == Kind::CharConstant {
            let inner = text
                .get(1..text.len().saturating_sub(1))
                .unwrap_or_default();
            let chars = unescape(inner, '\'')
                .and_then(|b| String::from_utf8(b).ok())
                .filter(|s| !s.is_empty());
            let Some(chars) = chars else {
                return self.error("invalid syntax");
            };
            let Some(c) = single_char(&chars) else {
                return self.error(format_args!("malformed character constant: {text}"));
            };
            let i = i64::from(u32::from(c));
            return Ok(Number {
                text: text.clone(),
                int: Some(i),
                is_float: false,
                float: i as f64,
            });
        }
        if let Some(i) = parse_int(text) {
            return Ok(Number {
                text: text.clone(),
                int: Some(i),
                is_float: false,
                float: i as f64,
            });
        }
        let Some(f) = parse_float(text) else {
            return self.error(format_args!("illegal number syntax: {}", go_quote(text)));
        };
        if !text.contains(['.', 'e', 'E', 'p', 'P']) || text.starts_with("0x") {
            // An integer too large for 64 bits.
            return self.error(format_args!("integer overflow: {}", go_quote(text)));
        }
        let int = (f.fract() == 0.0 && f.abs() < 9.2e18).then_some(f as i64);
        Ok(Number {
            text: text.clone(),
            int,
            is_float: true,
            float: f,
        })
    }
}
