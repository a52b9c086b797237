//! The executor: walks a parsed template over the values with Go's semantics and messages
//! (`template: data:1:3: executing "data" at <.x>: map has no entry for key "x"`), within the
//! limits of the module.

use std::collections::BTreeMap;
use std::fmt;
use std::time::{Duration, Instant};

use zeroize::Zeroizing;

use super::ast::{Arg, Command, Control, Node, Number, Parsed, Pipe};
use super::call::Cx;
use super::format::{go_quote, write_value};
use super::table::{Func, Ty};
use super::value::{Buf, Limit, Str, Value};
use super::{MAX_OUTPUT_BYTES, MAX_STEPS};

/// Deepest nesting of lists, pipelines and template calls during execution.
const MAX_DEPTH: usize = 150;

/// Why execution stopped: a `{{break}}`, a `{{continue}}`, or an error.
enum Stop {
    Break,
    Continue,
    Fail(String),
}

type ExResult<T> = Result<T, Stop>;

/// Executes the tree `name` of `parsed` with `values` as dot.
pub(super) fn execute(
    name: &str,
    parsed: &Parsed,
    values: &BTreeMap<String, Zeroizing<Vec<u8>>>,
    time_limit: Duration,
) -> Result<Zeroizing<Vec<u8>>, String> {
    let root = Value::string_map(
        values
            .iter()
            .map(|(k, v)| (Str::from_text(k), Str::new(v.clone())))
            .collect(),
    );
    let Some(tree) = parsed.trees.get(name) else {
        return Err(format!(
            "template: {name}: {} is an incomplete or empty template",
            go_quote(name)
        ));
    };
    let started = Instant::now();
    let mut state = State {
        name,
        text: &parsed.text,
        trees: &parsed.trees,
        current: name.to_owned(),
        vars: vec![("$".to_owned(), root.clone())],
        out: Buf::new(MAX_OUTPUT_BYTES, Limit::Output),
        cx: Cx::new(),
        steps: 0,
        depth: 0,
        started,
        time_limit,
    };
    state.cx.deadline = started.checked_add(time_limit);
    match state.walk_list(&root, tree) {
        Ok(()) | Err(Stop::Break | Stop::Continue) => Ok(state.out.into_bytes()),
        Err(Stop::Fail(message)) => Err(message),
    }
}

struct State<'a> {
    /// The name the template was parsed under, which starts locations.
    name: &'a str,
    text: &'a str,
    trees: &'a BTreeMap<String, Vec<Node>>,
    /// The template being executed (differs inside `{{template}}`).
    current: String,
    vars: Vec<(String, Value)>,
    out: Buf,
    cx: Cx,
    steps: usize,
    depth: usize,
    /// When the rendering started, and how long it may take.
    started: Instant,
    time_limit: Duration,
}

/// How a `{{template}}` node shows in messages.
struct TemplateCall<'n>(&'n str, Option<&'n Pipe>);

impl fmt::Display for TemplateCall<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.1 {
            Some(pipe) => write!(f, "{{{{template {} {pipe}}}}}", go_quote(self.0)),
            None => write!(f, "{{{{template {}}}}}", go_quote(self.0)),
        }
    }
}

impl State<'_> {
    /// An error at a node: `template: data:LINE:COL: executing "data" at <node>: message`. The
    /// column counts bytes from 0, as Go's does.
    fn fail_at(&self, pos: usize, node: &dyn fmt::Display, message: impl fmt::Display) -> Stop {
        let before = self.text.get(..pos).unwrap_or(self.text);
        let line = 1 + before.matches('\n').count();
        let col = before
            .rfind('\n')
            .map_or(pos, |nl| pos.saturating_sub(nl + 1));
        Stop::Fail(format!(
            "template: {}:{line}:{col}: executing {} at <{node}>: {message}",
            self.name,
            go_quote(&self.current)
        ))
    }

    /// An error about the whole execution (a limit).
    fn fail(&self, message: impl fmt::Display) -> Stop {
        Stop::Fail(format!("template: {}: {message}", self.name))
    }

    fn step(&mut self) -> ExResult<()> {
        self.steps += 1;
        if self.steps > MAX_STEPS {
            return Err(self.fail(format_args!(
                "evaluation exceeds the limit of {MAX_STEPS} steps"
            )));
        }
        if self.steps.is_multiple_of(256) && self.started.elapsed() > self.time_limit {
            return Err(self.fail(format_args!(
                "rendering exceeds the time limit of {:?}",
                self.time_limit
            )));
        }
        Ok(())
    }

    fn enter(&mut self) -> ExResult<()> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(self.fail(format_args!(
                "exceeded maximum template depth ({MAX_DEPTH})"
            )));
        }
        Ok(())
    }

    fn leave(&mut self) {
        self.depth = self.depth.saturating_sub(1);
    }

    fn write(&mut self, bytes: &[u8]) -> ExResult<()> {
        let pushed = self.out.push(bytes);
        pushed.map_err(|o| self.fail(o.0))
    }

    fn print(&mut self, v: &Value) -> ExResult<()> {
        let printed = match v {
            Value::Nil => self.out.push(b"<no value>"),
            v => write_value(&mut self.out, v),
        };
        printed.map_err(|o| self.fail(o.0))
    }

    fn walk_list(&mut self, dot: &Value, nodes: &[Node]) -> ExResult<()> {
        self.enter()?;
        let mut result = Ok(());
        for node in nodes {
            result = self.walk(dot, node);
            if result.is_err() {
                break;
            }
        }
        self.leave();
        result
    }

    fn walk(&mut self, dot: &Value, node: &Node) -> ExResult<()> {
        match node {
            Node::Text(text) => self.write(text.as_bytes()),
            Node::Action(pipe) => {
                let value = self.eval_pipeline(dot, pipe)?;
                if pipe.decl.is_empty() {
                    self.print(&value)?;
                }
                Ok(())
            }
            Node::If(control) => self.walk_if_or_with(dot, control, false),
            Node::With(control) => self.walk_if_or_with(dot, control, true),
            Node::Range(control) => {
                let mark = self.vars.len();
                let result = self.walk_range(dot, control);
                self.vars.truncate(mark);
                result
            }
            Node::Break => Err(Stop::Break),
            Node::Continue => Err(Stop::Continue),
            Node::Template { pos, name, pipe } => {
                self.walk_template(dot, *pos, name, pipe.as_ref())
            }
        }
    }

    fn walk_if_or_with(&mut self, dot: &Value, control: &Control, with: bool) -> ExResult<()> {
        let mark = self.vars.len();
        let result = match self.eval_pipeline(dot, &control.pipe) {
            Err(stop) => Err(stop),
            Ok(value) if value.truth() => {
                self.walk_list(if with { &value } else { dot }, &control.list)
            }
            Ok(_) => match &control.else_list {
                Some(list) => self.walk_list(dot, list),
                None => Ok(()),
            },
        };
        self.vars.truncate(mark);
        result
    }

    fn walk_range(&mut self, dot: &Value, control: &Control) -> ExResult<()> {
        let pipe = &control.pipe;
        let value = self.eval_pipeline(dot, pipe)?;
        let mark = self.vars.len();
        let mut ran = false;
        match &value {
            Value::List(list) => {
                for (i, item) in list.items.iter().enumerate() {
                    ran = true;
                    let index = Value::Int(i64::try_from(i).unwrap_or(i64::MAX));
                    if self.iterate(index, item, control, mark)? {
                        break;
                    }
                }
            }
            Value::Map(map) => {
                // A copy, as Go's: the body may change the map (`set`).
                let entries: Vec<(Str, Value)> = map
                    .entries()
                    .iter()
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect();
                for (key, item) in &entries {
                    ran = true;
                    if self.iterate(Value::Str(key.clone()), item, control, mark)? {
                        break;
                    }
                }
            }
            Value::Int(n) => {
                if pipe.decl.len() > 1 {
                    return Err(self.fail_at(
                        pipe.pos,
                        pipe,
                        "can't use value of type int to iterate over more than one variable",
                    ));
                }
                for i in 0..*n {
                    ran = true;
                    if self.iterate(Value::Int(i), &Value::Int(i), control, mark)? {
                        break;
                    }
                }
            }
            Value::Nil => {}
            other => {
                return Err(self.fail_at(
                    pipe.pos,
                    pipe,
                    format_args!(
                        "range can't iterate over value of type {}",
                        other.type_name()
                    ),
                ))
            }
        }
        if !ran {
            if let Some(list) = &control.else_list {
                self.walk_list(dot, list)?;
            }
        }
        Ok(())
    }

    /// One iteration; `true` on `{{break}}`.
    fn iterate(
        &mut self,
        index: Value,
        item: &Value,
        control: &Control,
        mark: usize,
    ) -> ExResult<bool> {
        self.step()?;
        let decl = &control.pipe.decl;
        match decl.as_slice() {
            [value] => self.set_var(value, item.clone(), &control.pipe)?,
            [key, value] => {
                self.set_var(key, index, &control.pipe)?;
                self.set_var(value, item.clone(), &control.pipe)?;
            }
            _ => {}
        }
        let result = self.walk_list(item, &control.list);
        self.vars.truncate(mark);
        match result {
            Ok(()) | Err(Stop::Continue) => Ok(false),
            Err(Stop::Break) => Ok(true),
            Err(stop) => Err(stop),
        }
    }

    fn walk_template(
        &mut self,
        dot: &Value,
        pos: usize,
        name: &str,
        pipe: Option<&Pipe>,
    ) -> ExResult<()> {
        let trees = self.trees;
        let Some(tree) = trees.get(name) else {
            return Err(self.fail_at(
                pos,
                &TemplateCall(name, pipe),
                format_args!("template {} not defined", go_quote(name)),
            ));
        };
        let value = match pipe {
            Some(pipe) => self.eval_pipeline(dot, pipe)?,
            None => Value::Nil,
        };
        // A template sees no variables of its caller, only `$`, its dot.
        let vars = std::mem::replace(&mut self.vars, vec![("$".to_owned(), value.clone())]);
        let current = std::mem::replace(&mut self.current, name.to_owned());
        let entered = self.enter();
        let result = entered.and_then(|()| self.walk_list(&value, tree));
        self.leave();
        self.vars = vars;
        self.current = current;
        result
    }

    fn var_value(&self, name: &str, pos: usize, node: &dyn fmt::Display) -> ExResult<Value> {
        match self.vars.iter().rev().find(|(n, _)| n == name) {
            Some((_, value)) => Ok(value.clone()),
            None => Err(self.fail_at(pos, node, format_args!("undefined variable: {name}"))),
        }
    }

    fn set_var(&mut self, name: &str, value: Value, pipe: &Pipe) -> ExResult<()> {
        match self.vars.iter_mut().rev().find(|(n, _)| n == name) {
            Some(slot) => {
                slot.1 = value;
                Ok(())
            }
            None => Err(self.fail_at(pipe.pos, pipe, format_args!("undefined variable: {name}"))),
        }
    }

    fn eval_pipeline(&mut self, dot: &Value, pipe: &Pipe) -> ExResult<Value> {
        self.enter()?;
        let result = self.eval_pipeline_inner(dot, pipe);
        self.leave();
        result
    }

    fn eval_pipeline_inner(&mut self, dot: &Value, pipe: &Pipe) -> ExResult<Value> {
        let mut value = None;
        for cmd in &pipe.cmds {
            value = Some(self.eval_command(dot, cmd, value)?);
        }
        let value = value.unwrap_or(Value::Nil);
        for name in &pipe.decl {
            if pipe.is_assign {
                self.set_var(name, value.clone(), pipe)?;
            } else {
                self.vars.push((name.clone(), value.clone()));
            }
        }
        Ok(value)
    }

    /// One command; `last` is the value piped into it.
    fn eval_command(&mut self, dot: &Value, cmd: &Command, last: Option<Value>) -> ExResult<Value> {
        self.step()?;
        let Some(first) = cmd.args.first() else {
            return Err(self.fail("internal error: empty command"));
        };
        let has_args = cmd.args.len() > 1 || last.is_some();
        match first {
            Arg::Field { pos, idents } => {
                self.eval_fields(dot.clone(), idents, *pos, first, has_args)
            }
            Arg::Chain { pos, node, fields } => {
                let receiver = self.eval_arg(dot, Ty::Any, node)?;
                self.eval_fields(receiver, fields, *pos, first, has_args)
            }
            Arg::Ident { pos, name, func } => self.eval_function(
                dot,
                *func,
                name,
                *pos,
                cmd,
                cmd.args.get(1..).unwrap_or_default(),
                last,
            ),
            Arg::Variable { pos, name, fields } => {
                let value = self.var_value(name, *pos, first)?;
                if fields.is_empty() {
                    self.not_a_function(first, has_args)?;
                    return Ok(value);
                }
                self.eval_fields(value, fields, *pos, first, has_args)
            }
            Arg::Pipe(pipe) => {
                if has_args {
                    return Err(self.fail_at(
                        cmd.pos,
                        cmd,
                        format_args!("can't give argument to non-function {pipe}"),
                    ));
                }
                self.eval_pipeline(dot, pipe)
            }
            Arg::Bool(_, b) => {
                self.not_a_function(first, has_args)?;
                Ok(Value::Bool(*b))
            }
            Arg::Dot(_) => {
                self.not_a_function(first, has_args)?;
                Ok(dot.clone())
            }
            Arg::Nil(pos) => {
                self.not_a_function(first, has_args)?;
                Err(self.fail_at(*pos, first, "nil is not a command"))
            }
            Arg::Number(_, number) => {
                self.not_a_function(first, has_args)?;
                Ok(ideal(number))
            }
            Arg::Str { value, .. } => {
                self.not_a_function(first, has_args)?;
                Ok(Value::Str(Str::new(Zeroizing::new(value.clone()))))
            }
        }
    }

    fn not_a_function(&self, first: &Arg, has_args: bool) -> ExResult<()> {
        if has_args {
            return Err(self.fail_at(
                first.pos(),
                first,
                format_args!("can't give argument to non-function {first}"),
            ));
        }
        Ok(())
    }

    /// `.a.b.c` from `receiver`; only the last field could take arguments (it cannot).
    fn eval_fields(
        &self,
        receiver: Value,
        idents: &[String],
        pos: usize,
        node: &Arg,
        has_args: bool,
    ) -> ExResult<Value> {
        let mut value = receiver;
        for (i, name) in idents.iter().enumerate() {
            let args = has_args && i + 1 == idents.len();
            value = match &value {
                Value::Nil => {
                    return Err(self.fail_at(
                        pos,
                        node,
                        format_args!("nil data; no entry for key {}", go_quote(name)),
                    ))
                }
                Value::Map(map) => {
                    if args {
                        return Err(self.fail_at(
                            pos,
                            node,
                            format_args!("{name} is not a method but has arguments"),
                        ));
                    }
                    match map.entries().get(name.as_bytes()) {
                        Some(v) => v.clone(),
                        None => {
                            return Err(self.fail_at(
                                pos,
                                node,
                                format_args!("map has no entry for key {}", go_quote(name)),
                            ))
                        }
                    }
                }
                Value::Time(t) => match super::sprig_dates::method(t, name) {
                    Some(_) if args => {
                        return Err(self.fail_at(
                            pos,
                            node,
                            format_args!("wrong number of args for {name}: want 0"),
                        ))
                    }
                    Some(v) => v,
                    None => {
                        return Err(self.fail_at(
                            pos,
                            node,
                            format_args!("can't evaluate field {name} in type time.Time"),
                        ))
                    }
                },
                other => {
                    return Err(self.fail_at(
                        pos,
                        node,
                        format_args!("can't evaluate field {name} in type {}", other.type_name()),
                    ))
                }
            };
        }
        Ok(value)
    }

    /// Calls `func` with `args` (and the piped value last). `cmd` is the command, shown when
    /// the function fails.
    #[allow(clippy::too_many_arguments)]
    fn eval_function(
        &mut self,
        dot: &Value,
        func: Func,
        name: &str,
        pos: usize,
        cmd: &dyn fmt::Display,
        args: &[Arg],
        last: Option<Value>,
    ) -> ExResult<Value> {
        let sig = func.sig();
        let num_in = args.len() + usize::from(last.is_some());
        match sig.variadic {
            Some(_) if num_in < sig.fixed.len() => {
                return Err(self.fail_at(
                    pos,
                    &name,
                    format_args!(
                        "wrong number of args for {name}: want at least {} got {}",
                        sig.fixed.len(),
                        args.len()
                    ),
                ))
            }
            None if num_in != sig.fixed.len() => {
                return Err(self.fail_at(
                    pos,
                    &name,
                    format_args!(
                        "wrong number of args for {name}: want {} got {num_in}",
                        sig.fixed.len()
                    ),
                ))
            }
            _ => {}
        }
        if matches!(func, Func::And | Func::Or) {
            // Short-circuit: the first argument that decides, or the last one.
            let decides = func == Func::Or;
            let mut value = Value::Nil;
            for arg in args {
                value = self.eval_arg(dot, Ty::Any, arg)?;
                if value.truth() == decides {
                    return Ok(value);
                }
            }
            return Ok(last.unwrap_or(value));
        }
        let param = |i: usize| {
            sig.fixed
                .get(i)
                .copied()
                .or(sig.variadic)
                .unwrap_or(Ty::Any)
        };
        let mut values = Vec::with_capacity(num_in);
        for (i, arg) in args.iter().enumerate() {
            values.push(self.eval_arg(dot, param(i), arg)?);
        }
        if let Some(value) = last {
            values.push(self.validate(value, param(num_in - 1), pos, &name)?);
        }
        self.cx.literal = args.iter().map(|a| matches!(a, Arg::Str { .. })).collect();
        // Charged for what it reads before it runs: a call on a large value costs its size.
        let read: usize = values.iter().map(Value::string_len).sum();
        let result = self
            .cx
            .charge(read)
            .and_then(|()| func.call(&values, &mut self.cx));
        result.map_err(|message| {
            self.fail_at(pos, cmd, format_args!("error calling {name}: {message}"))
        })
    }

    /// An argument of parameter type `ty`.
    fn eval_arg(&mut self, dot: &Value, ty: Ty, node: &Arg) -> ExResult<Value> {
        self.step()?;
        let value = match node {
            Arg::Dot(_) => dot.clone(),
            Arg::Nil(pos) => {
                if ty.accepts_nil() {
                    return Ok(Value::Nil);
                }
                return Err(self.fail_at(
                    *pos,
                    node,
                    format_args!("cannot assign nil to {}", ty.name()),
                ));
            }
            Arg::Field { pos, idents } => {
                self.eval_fields(dot.clone(), idents, *pos, node, false)?
            }
            Arg::Variable { pos, name, fields } => {
                let value = self.var_value(name, *pos, node)?;
                self.eval_fields(value, fields, *pos, node, false)?
            }
            Arg::Pipe(pipe) => self.eval_pipeline(dot, pipe)?,
            Arg::Ident { pos, name, func } => {
                self.eval_function(dot, *func, name, *pos, node, &[], None)?
            }
            Arg::Chain {
                pos,
                node: inner,
                fields,
            } => {
                let receiver = self.eval_arg(dot, Ty::Any, inner)?;
                self.eval_fields(receiver, fields, *pos, node, false)?
            }
            Arg::Bool(pos, b) => {
                return match ty {
                    Ty::Bool | Ty::Any => Ok(Value::Bool(*b)),
                    _ => Err(self.literal_mismatch(*pos, node, ty)),
                }
            }
            Arg::Number(pos, number) => {
                return match (ty, number.int) {
                    (Ty::Any, _) => Ok(ideal(number)),
                    (Ty::Int, Some(i)) => Ok(Value::Int(i)),
                    (Ty::Float, _) => Ok(Value::Float(number.float)),
                    // Go sets the low 32 bits of a non-negative integer constant.
                    (Ty::Uint32, Some(i)) if i >= 0 => Ok(Value::Int(i & 0xffff_ffff)),
                    _ => Err(self.literal_mismatch(*pos, node, ty)),
                };
            }
            Arg::Str { pos, value, .. } => {
                return match ty {
                    Ty::Str | Ty::Any => Ok(Value::Str(Str::new(Zeroizing::new(value.clone())))),
                    _ => Err(self.literal_mismatch(*pos, node, ty)),
                }
            }
        };
        self.validate(value, ty, node.pos(), node)
    }

    fn literal_mismatch(&self, pos: usize, node: &Arg, ty: Ty) -> Stop {
        let message = match ty {
            Ty::Bool => format!("expected bool; found {node}"),
            Ty::Int => format!("expected integer; found {node}"),
            Ty::Str => format!("expected string; found {node}"),
            Ty::Float => format!("expected float; found {node}"),
            Ty::Uint32 => format!("expected unsigned integer; found {node}"),
            Ty::Any | Ty::Map | Ty::MapOrValues | Ty::List | Ty::Time => {
                format!("can't handle {node} for arg of type {}", ty.name())
            }
        };
        self.fail_at(pos, node, message)
    }

    /// Checks a computed value against a parameter type, as Go's `validateType`.
    fn validate(
        &self,
        value: Value,
        ty: Ty,
        pos: usize,
        node: &dyn fmt::Display,
    ) -> ExResult<Value> {
        if ty.accepts(&value) {
            return Ok(value);
        }
        if let Value::Nil = value {
            if ty.accepts_nil() {
                return Ok(Value::Nil);
            }
            return Err(self.fail_at(
                pos,
                node,
                format_args!("invalid value; expected {}", ty.name()),
            ));
        }
        Err(self.fail_at(
            pos,
            node,
            format_args!(
                "wrong type for value; expected {}; got {}",
                ty.name(),
                value.type_name()
            ),
        ))
    }
}

/// A number where no type is imposed: a float when written like one, else an int.
fn ideal(number: &Number) -> Value {
    match number.int {
        Some(i) if !number.is_float => Value::Int(i),
        _ => Value::Float(number.float),
    }
}
