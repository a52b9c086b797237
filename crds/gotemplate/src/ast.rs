//! The tree a template parses to. Nodes show as the template text they come from (as Go's
//! `String()` methods do), which execution errors quote.

use std::collections::BTreeMap;
use std::fmt;

use super::table::Func;

/// A parsed template: its text and its trees by name (the main one and those `define`d).
#[derive(Debug)]
pub(super) struct Parsed {
    pub(super) text: String,
    pub(super) trees: BTreeMap<String, Vec<Node>>,
}

#[derive(Debug)]
pub(super) enum Node {
    Text(String),
    Action(Pipe),
    If(Control),
    With(Control),
    Range(Control),
    Break,
    Continue,
    Template {
        pos: usize,
        name: String,
        pipe: Option<Pipe>,
    },
}

/// `if`, `with` and `range`.
#[derive(Debug)]
pub(super) struct Control {
    pub(super) pipe: Pipe,
    pub(super) list: Vec<Node>,
    pub(super) else_list: Option<Vec<Node>>,
}

#[derive(Debug)]
pub(super) struct Pipe {
    pub(super) pos: usize,
    /// Variables declared (`:=`) or assigned (`=`).
    pub(super) decl: Vec<String>,
    pub(super) is_assign: bool,
    pub(super) cmds: Vec<Command>,
}

#[derive(Debug)]
pub(super) struct Command {
    pub(super) pos: usize,
    pub(super) args: Vec<Arg>,
}

#[derive(Debug)]
pub(super) struct Number {
    pub(super) text: String,
    /// The value when it is an integer (`1`, `0x1F`, `'a'`, `1.0`).
    pub(super) int: Option<i64>,
    /// The value where no type is imposed: a float when written like one.
    pub(super) is_float: bool,
    pub(super) float: f64,
}

/// An operand.
#[derive(Debug)]
pub(super) enum Arg {
    Bool(usize, bool),
    Number(usize, Number),
    Str {
        pos: usize,
        quoted: String,
        value: Vec<u8>,
    },
    Nil(usize),
    Dot(usize),
    /// `.a.b`.
    Field {
        pos: usize,
        idents: Vec<String>,
    },
    /// `$x.a.b`.
    Variable {
        pos: usize,
        name: String,
        fields: Vec<String>,
    },
    Ident {
        pos: usize,
        name: &'static str,
        func: Func,
    },
    Pipe(Box<Pipe>),
    /// `(pipeline).a.b`.
    Chain {
        pos: usize,
        node: Box<Arg>,
        fields: Vec<String>,
    },
}

impl Arg {
    pub(super) fn pos(&self) -> usize {
        match self {
            Self::Bool(pos, _) | Self::Number(pos, _) | Self::Nil(pos) | Self::Dot(pos) => *pos,
            Self::Str { pos, .. }
            | Self::Field { pos, .. }
            | Self::Variable { pos, .. }
            | Self::Ident { pos, .. }
            | Self::Chain { pos, .. } => *pos,
            Self::Pipe(pipe) => pipe.pos,
        }
    }
}

impl fmt::Display for Arg {
    /// The template text of the operand, as Go shows it in messages.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Bool(_, b) => write!(f, "{b}"),
            Self::Number(_, n) => f.write_str(&n.text),
            Self::Str { quoted, .. } => f.write_str(quoted),
            Self::Nil(_) => f.write_str("nil"),
            Self::Dot(_) => f.write_str("."),
            Self::Field { idents, .. } => idents.iter().try_for_each(|i| write!(f, ".{i}")),
            Self::Variable { name, fields, .. } => {
                f.write_str(name)?;
                fields.iter().try_for_each(|i| write!(f, ".{i}"))
            }
            Self::Ident { name, .. } => f.write_str(name),
            Self::Pipe(pipe) => write!(f, "({pipe})"),
            Self::Chain { node, fields, .. } => {
                write!(f, "{node}")?;
                fields.iter().try_for_each(|i| write!(f, ".{i}"))
            }
        }
    }
}

impl fmt::Display for Command {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, arg) in self.args.iter().enumerate() {
            if i > 0 {
                f.write_str(" ")?;
            }
            write!(f, "{arg}")?;
        }
        Ok(())
    }
}

impl fmt::Display for Pipe {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if !self.decl.is_empty() {
            let op = if self.is_assign { "=" } else { ":=" };
            write!(f, "{} {op} ", self.decl.join(", "))?;
        }
        for (i, cmd) in self.cmds.iter().enumerate() {
            if i > 0 {
                f.write_str(" | ")?;
            }
            write!(f, "{cmd}")?;
        }
        Ok(())
    }
}
