//! What each expression denotes, item by item in order: names looked up (known, defined
//! above, or a mistake), methods and functions with their arguments, numbers in range.
//! The shapes that operations make are `shape`'s.

use super::shape::{Shape, D};
use super::Errors;
use crate::ops::{axis_of, find_function, find_method, Arg, Method, Rule, FUNCTIONS, METHODS};
use crate::parse::{key, Expr, ExprKind, Scalar, SliceAxis};
use std::collections::{HashMap, HashSet};
use syn::Ident;

/// What an expression denotes.
#[derive(Clone, Debug)]
pub(super) enum Value {
    /// A node of the graph.
    Node {
        /// The node's shape, as far as known.
        shape: Shape,
        /// Whether it is a parameter's name (`index` needs one).
        param: bool,
    },
    /// An `Index<K>` input (usable only as a lookup argument).
    Index {
        /// How many indices, `K`.
        count: D,
    },
    /// A `Bags<B>` input (usable only as the argument of `sum_bags`/`mean_bags`).
    Bags {
        /// How many bags, `B`.
        count: D,
    },
    /// A `Training` flag (usable only as the argument of `dropout`).
    Training,
    /// A user's operation (the first argument of `map`, `combine` and `apply`).
    Op,
    /// A number.
    Scalar,
    /// An axis (0: rows, 1: columns).
    Axis(usize),
    /// What `s![rows, columns]` selects.
    Slice([SliceAxis; 2]),
    /// A size (an argument of `reshape`).
    Size(D),
}

/// The state of checking the definitions in order, one item after another.
pub(super) struct Checker<'a> {
    /// Values of the items checked so far (`None`: the definition had an error).
    pub(super) env: HashMap<String, Option<Value>>,
    /// Where each name is first declared (its position among the items).
    pub(super) position: &'a HashMap<String, usize>,
    /// The run-time dimension names.
    pub(super) dims: &'a [Ident],
    /// Every name an expression mentions (unraw), known or not.
    pub(super) mentioned: HashSet<String>,
    /// Every problem found so far, the declarations' included.
    pub(super) errors: Errors,
    /// The item being checked.
    pub(super) current: usize,
}

impl Checker<'_> {
    /// What an expression denotes; `None` once its errors are reported.
    pub(super) fn infer(&mut self, expr: &Expr) -> Option<Value> {
        match &expr.kind {
            ExprKind::Name(ident) => self.lookup(ident),
            // Only ever `slice`'s argument (the parser sees to it), which `arguments` reads.
            ExprKind::Slice { .. } => None,
            // Reported by the parser; the names in it are used, not "never used" as well.
            ExprKind::Invalid(_) => {
                self.mention_all(&expr.tokens);
                None
            }
            ExprKind::Op { ty, .. } => {
                // A node's name where the operation goes: `a.combine(b, Op)` or `x.map(y)`.
                if let Some(ident) = ty.get_ident() {
                    let name = key(ident);
                    if self.position.contains_key(&name) {
                        self.mentioned.insert(name);
                        self.errors.at(
                            ident.span(),
                            format!(
                                "`{ident}` is a node of the model, but this argument is the \
                                 operation: a value of your own type implementing `UnaryOp` \
                                 (`x.map(Softsign)`), `BinaryOp` (`a.combine(Pinball::new(0.9), b)`) \
                                 or `SingleOp` (`x.apply(Standardize)`)"
                            ),
                        );
                        return None;
                    }
                }
                Some(Value::Op)
            }
            ExprKind::Scalar(s) => self.number(s).then_some(Value::Scalar),
            ExprKind::Neg { operand, .. } => {
                let v = self.infer(operand)?;
                self.node_operand(&v, operand, "`-`")?;
                Some(v)
            }
            ExprKind::Binary { op, lhs, rhs, .. } => {
                let (l, r) = (self.infer(lhs), self.infer(rhs));
                let (l, r) = (l?, r?);
                let what = format!("`{}`", op.symbol());
                match (&l, &r) {
                    (Value::Scalar, Value::Scalar) => {
                        self.errors.spanned(
                            &expr.tokens,
                            "both operands are numbers: at least one side must be a node",
                        );
                        None
                    }
                    (Value::Scalar, _) => {
                        self.node_operand(&r, rhs, &what)?;
                        Some(r)
                    }
                    (_, Value::Scalar) => {
                        self.node_operand(&l, lhs, &what)?;
                        Some(l)
                    }
                    _ => {
                        // Both sides are checked before giving up, so both are reported.
                        let ls = self.node_operand(&l, lhs, &what);
                        let rs = self.node_operand(&r, rhs, &what);
                        self.elementwise(op.verb(), ls?, rs?, expr)
                    }
                }
            }
            ExprKind::Method {
                receiver,
                method,
                args,
            } => {
                let receiver_value = self.infer(receiver);
                let Some(spec) = find_method(&method.to_string()) else {
                    let known: Vec<&str> = METHODS.iter().map(|m| m.name).collect();
                    // Hand-written graphs clone nodes; a block names them as they are.
                    let hint = if method == "clone" && args.is_empty() {
                        "names are written without `.clone()` in a model; "
                    } else if method == "dropout_with_seed" {
                        "a block seeds its dropout from the generator of `new_with_rng`; \
                         write `h.dropout(rate, training)`; "
                    } else {
                        &did_you_mean(&method.to_string(), &known)
                    };
                    self.errors.at(
                        method.span(),
                        format!(
                            "unknown method `{method}`; {hint}a model supports: {}",
                            known.join(", ")
                        ),
                    );
                    self.infer_each(args);
                    return None;
                };
                // The arguments are checked even when the receiver has an error.
                let shape =
                    receiver_value.and_then(|value| self.receiver(spec, method, &value, receiver));
                let values = self.arguments(spec, method, args);
                if method == "dropout" {
                    if let Some(rate) = args.first() {
                        self.dropout_rate(rate)?;
                    }
                }
                let (shape, values) = (shape?, values?);
                if spec.rule == Rule::Elementwise {
                    // `a.combine(op, b)`: broadcasting as `+ - * /` do.
                    let Value::Node { shape: other, .. } = &values[1] else {
                        unreachable!("checked by `arguments`")
                    };
                    return self.elementwise("combine", shape, other.clone(), expr);
                }
                self.apply(spec, shape, &values, expr)
            }
            ExprKind::Call { function, args } => {
                let Some(spec) = find_function(&function.to_string()) else {
                    let known: Vec<&str> = FUNCTIONS.iter().map(|m| m.name).collect();
                    let hint = did_you_mean(&function.to_string(), &known);
                    self.errors.at(
                        function.span(),
                        format!(
                            "unknown function `{function}`; {hint}a model supports: {}",
                            known.join(", ")
                        ),
                    );
                    self.infer_each(args);
                    return None;
                };
                let values = self.arguments(spec, function, args)?;
                if spec.rule == Rule::Concat {
                    return self.concat(&values, args, expr);
                }
                self.loss_setting(function, args)?;
                if spec.rule == Rule::Elementwise {
                    let (Value::Node { shape: l, .. }, Value::Node { shape: r, .. }) =
                        (&values[0], &values[1])
                    else {
                        unreachable!("checked by `arguments`")
                    };
                    // A loss repeats at most one side (the runtime checks too): a row of
                    // targets against a column of predictions is a table of every pair.
                    let repeated =
                        |a: &D, b: &D| *a == D::Lit(1) && b.differs(&D::Lit(1)) == Some(true);
                    let (l_repeated, r_repeated) = (
                        repeated(&l.0, &r.0) || repeated(&l.1, &r.1),
                        repeated(&r.0, &l.0) || repeated(&r.1, &l.1),
                    );
                    if l_repeated && r_repeated {
                        self.errors.spanned(
                            &expr.tokens,
                            format!(
                                "shape mismatch in `{function}`: a {l} and a {r} would both be \
                                 repeated, giving a table of every pair; give the second the \
                                 shape of the first (or a single row, column or 1x1 to repeat \
                                 along it)"
                            ),
                        );
                        return None;
                    }
                    let verb = format!("take `{function}` of");
                    return self.elementwise(&verb, l.clone(), r.clone(), expr);
                }
                if let (Value::Node { shape, .. }, Value::Index { count }) =
                    (&values[0], &values[1])
                {
                    if shape.0.differs(count) == Some(true) {
                        self.errors.spanned(
                            &expr.tokens,
                            format!(
                                "shape mismatch in `{function}`: {} rows of logits ({shape}) but {count} targets",
                                shape.0
                            ),
                        );
                        return None;
                    }
                }
                Some(Value::Node {
                    shape: Shape(D::Lit(1), D::Lit(1)),
                    param: false,
                })
            }
        }
    }

    /// Whether a number is in range: one beyond `f32::MAX` parses as infinity, which has no
    /// literal and which the user did not mean.
    pub(super) fn number(&mut self, s: &Scalar) -> bool {
        // A constant expression's value is known when the generated code runs (a clip's
        // bounds and an initialiser's spread are checked then).
        if s.constant.is_none() && !s.value.is_finite() {
            self.errors.at(
                s.span,
                format!(
                    "number out of range for `f32`: the largest is about {:e}",
                    f32::MAX
                ),
            );
        }
        s.constant.is_some() || s.value.is_finite()
    }

    /// Checks expressions whose place has an error already (the arguments of an unknown
    /// method, or of a known one given the wrong number of them), discarding their values:
    /// their own mistakes are reported, and the names they mention count as used. An axis
    /// is skipped, as `Axis(0)` would read as an unknown function.
    fn infer_each(&mut self, args: &[Expr]) {
        for arg in args.iter().filter(|a| axis_of(a).is_none()) {
            self.infer(arg);
        }
    }

    /// Counts every name in `tokens` as used, reporting nothing (for an argument that has
    /// an error already and is not an expression to check, such as a bad axis).
    fn mention_all(&mut self, tokens: &proc_macro2::TokenStream) {
        for token in tokens.clone() {
            match token {
                proc_macro2::TokenTree::Ident(ident) => {
                    self.mentioned.insert(key(&ident));
                }
                proc_macro2::TokenTree::Group(group) => self.mention_all(&group.stream()),
                _ => {}
            }
        }
    }

    /// The shape of a method's receiver, checking that lookups are called on a parameter.
    fn receiver(
        &mut self,
        spec: &Method,
        method: &Ident,
        value: &Value,
        receiver: &Expr,
    ) -> Option<Shape> {
        let shape = self.node_operand(value, receiver, &format!("`.{method}()`"))?;
        if matches!(spec.rule, Rule::Index | Rule::Bags) {
            let is_param = matches!(value, Value::Node { param: true, .. });
            if !is_param || !matches!(receiver.kind, ExprKind::Name(_)) {
                // Rows of a computed node have their own methods, with dense gradients.
                let any_node = if method == "index" {
                    "gather_rows".to_string()
                } else {
                    format!("gather_{method}")
                };
                self.errors.spanned(
                    &receiver.tokens,
                    format!(
                        "`{method}` looks up rows of a parameter: the receiver must be a `Param` \
                         name (for rows of any node: `{any_node}`)"
                    ),
                );
                return None;
            }
        }
        Some(shape)
    }

    /// The value of a name, reporting a name that is unknown, a dimension, or not defined
    /// yet; every name looked up counts as mentioned.
    fn lookup(&mut self, ident: &Ident) -> Option<Value> {
        let name = key(ident);
        self.mentioned.insert(name.clone());
        if let Some(value) = self.env.get(&name) {
            return value.clone();
        }
        match self.position.get(&name) {
            Some(&at) if at == self.current => {
                self.errors.at(
                    ident.span(),
                    format!("`{ident}` is used in its own definition"),
                );
            }
            Some(_) => {
                self.errors.at(
                    ident.span(),
                    format!("`{ident}` is used before it is defined; move its definition above this line"),
                );
            }
            None if self.dims.iter().any(|d| key(d) == name) => {
                self.errors.at(
                    ident.span(),
                    format!("`{name}` is a dimension, not a node of the model"),
                );
            }
            None => {
                // An upper-case name is likely a constant, which needs braces.
                let text = ident.to_string();
                let hint = if text.chars().any(char::is_alphabetic)
                    && !text.chars().any(char::is_lowercase)
                {
                    format!("; for a constant, write `{{{text}}}`")
                } else {
                    String::new()
                };
                self.errors
                    .at(ident.span(), format!("unknown name `{ident}`{hint}"));
            }
        }
        None
    }

    /// The shape of an operand that must be a node.
    fn node_operand(&mut self, value: &Value, expr: &Expr, what: &str) -> Option<Shape> {
        match value {
            Value::Node { shape, .. } => Some(shape.clone()),
            Value::Index { .. } => {
                self.errors.spanned(
                    &expr.tokens,
                    format!(
                        "an index input cannot be an operand of {what}; look rows up with `table.index(i)`"
                    ),
                );
                None
            }
            Value::Bags { .. } => {
                self.errors.spanned(
                    &expr.tokens,
                    format!(
                        "a bags input cannot be an operand of {what}; pool rows with `table.sum_bags(b)` or `table.mean_bags(b)`"
                    ),
                );
                None
            }
            Value::Training => {
                self.errors.spanned(
                    &expr.tokens,
                    format!(
                        "a training flag cannot be an operand of {what}; it switches dropout, as in `h.dropout(0.5, training)`"
                    ),
                );
                None
            }
            Value::Op => {
                self.errors.spanned(
                    &expr.tokens,
                    format!("an operation cannot be an operand of {what}; it needs a node"),
                );
                None
            }
            Value::Scalar | Value::Axis(_) => {
                self.errors.spanned(
                    &expr.tokens,
                    format!("a number cannot be the operand of {what}; it needs a node"),
                );
                None
            }
            Value::Slice(_) | Value::Size(_) => {
                unreachable!("only `slice`'s and `reshape`'s arguments, never operands")
            }
        }
    }

    /// Checks a loss's setting written as a literal, as the function would when the graph
    /// is built: `huber`'s `delta` must be positive, a `pos_weight` not negative. `None`
    /// after reporting one that is not.
    fn loss_setting(&mut self, function: &Ident, args: &[Expr]) -> Option<()> {
        let (index, positive, what) = match function.to_string().as_str() {
            "huber" => (2, true, "`huber`'s delta must be positive"),
            "binary_crossentropy_with_logits_weighted" => {
                (2, false, "a `pos_weight` must not be negative")
            }
            _ => return Some(()),
        };
        if let Some(ExprKind::Scalar(s)) = args.get(index).map(|a| &a.kind) {
            let bad = |v: f32| if positive { v <= 0.0 } else { v < 0.0 };
            if s.literal_value().is_some_and(bad) {
                self.errors.at(s.span, what);
                return None;
            }
        }
        Some(())
    }

    /// Checks a dropout rate written as a literal: it must be in `[0, 1)` (a constant in
    /// braces is checked when the model is built). `None` after reporting one that is not.
    fn dropout_rate(&mut self, rate: &Expr) -> Option<()> {
        if let ExprKind::Scalar(s) = &rate.kind {
            if s.literal_value().is_some_and(|v| !(0.0..1.0).contains(&v)) {
                self.errors.spanned(
                    &rate.tokens,
                    "a dropout rate must be in [0, 1): the share of elements zeroed while training",
                );
                return None;
            }
        }
        Some(())
    }

    /// What a size argument denotes: a literal whole number, a run-time dimension (by
    /// name) or a constant in braces (known when the graph is built); `None` for
    /// anything else.
    fn size_of(&mut self, arg: &Expr) -> Option<D> {
        match &arg.kind {
            // Not negated: `-{n}` would lose its sign in a `usize`.
            ExprKind::Scalar(s) if s.constant.is_some() => {
                self.mention_all(&arg.tokens);
                (s.value > 0.0).then_some(D::Unknown)
            }
            // An integer literal as written (numbers are read as `f32`, which would round
            // large sizes), unsuffixed or `usize`.
            ExprKind::Scalar(_) => {
                let literal: syn::LitInt = syn::parse2(arg.tokens.clone()).ok()?;
                matches!(literal.suffix(), "" | "usize")
                    .then(|| literal.base10_parse::<usize>().ok())
                    .flatten()
                    .map(D::Lit)
            }
            ExprKind::Name(ident) => {
                let name = key(ident);
                self.mentioned.insert(name.clone());
                self.dims
                    .iter()
                    .any(|d| key(d) == name)
                    .then_some(D::Name(name))
            }
            _ => None,
        }
    }

    /// Checks the count and kinds of a method's or function's arguments.
    fn arguments(&mut self, spec: &Method, name: &Ident, args: &[Expr]) -> Option<Vec<Value>> {
        // `Nodes` stands for the leading arguments but the last (the parser checked their
        // count).
        let kinds: Vec<Arg> = match spec.args {
            [Arg::Nodes, rest @ ..] => {
                let nodes = args.len().saturating_sub(rest.len());
                std::iter::repeat_n(Arg::Node, nodes)
                    .chain(rest.iter().copied())
                    .collect()
            }
            _ => spec.args.to_vec(),
        };
        if args.len() != kinds.len() {
            let plural = if kinds.len() == 1 { "" } else { "s" };
            self.errors.at(
                name.span(),
                format!(
                    "`{name}` takes {} argument{plural}, found {}",
                    kinds.len(),
                    args.len()
                ),
            );
            self.infer_each(args);
            return None;
        }
        let mut values = Vec::new();
        let mut failed = false;
        for (arg, kind) in args.iter().zip(&kinds) {
            if !arg.errors().is_empty() && !matches!(kind, Arg::Node | Arg::Scalar) {
                // Reported by the parser (`Axis(d as usize)`): no second error about what
                // the place takes. (A node's or a number's is checked below, the mistake
                // giving it no value.)
                self.mention_all(&arg.tokens);
                failed = true;
                continue;
            }
            if *kind == Arg::Numbers {
                // Only a constant expression in braces, which the graph's build evaluates.
                match &arg.kind {
                    ExprKind::Scalar(s) if s.constant.is_some() && s.value > 0.0 => {
                        values.push(Value::Scalar)
                    }
                    _ => {
                        self.errors.spanned(
                            &arg.tokens,
                            format!(
                                "this argument of `{name}` must be a list of numbers, written as a \
                                 constant expression in braces: `{{&CLASS_WEIGHTS}}` or \
                                 `{{class_weights()}}` (an array, a `Vec<f32>` or a slice)"
                            ),
                        );
                        self.mention_all(&arg.tokens);
                        failed = true;
                    }
                }
                continue;
            }
            if *kind == Arg::Size {
                match self.size_of(arg) {
                    Some(size) => values.push(Value::Size(size)),
                    None => {
                        self.errors.spanned(
                            &arg.tokens,
                            format!(
                                "this argument of `{name}` must be a size: a whole number (`4`), a \
                                 dimension's name (`batch`) or a constant in braces giving a \
                                 `usize` (`{{batch * 2}}`)"
                            ),
                        );
                        self.mention_all(&arg.tokens);
                        failed = true;
                    }
                }
                continue;
            }
            if let (Arg::Slice, ExprKind::Slice { axes, .. }) = (kind, &arg.kind) {
                values.push(Value::Slice(axes.clone()));
                continue;
            }
            if *kind == Arg::Axis {
                match axis_of(arg) {
                    Some(axis) => values.push(Value::Axis(axis)),
                    None => {
                        // The axis decides the result's shape, which is checked here, so
                        // it has to be written out; say so for a constant in braces.
                        let braced =
                            matches!(&arg.kind, ExprKind::Scalar(s) if s.constant.is_some());
                        let why = if braced {
                            " (a constant cannot be one: the axis decides the result's shape, which the block checks as it compiles)"
                        } else {
                            ""
                        };
                        self.errors.spanned(
                            &arg.tokens,
                            format!("this argument of `{name}` must be an axis: `0` (rows) or `1` (columns), or `Axis(0)` or `Axis(1)`{why}"),
                        );
                        // Its names count as used: the error above is the one mistake.
                        self.mention_all(&arg.tokens);
                        failed = true;
                    }
                }
                continue;
            }
            // A flag that was never declared: say how to declare one.
            if let (Arg::Training, ExprKind::Name(ident)) = (kind, &arg.kind) {
                let name = key(ident);
                if !self.position.contains_key(&name) && !self.dims.iter().any(|d| key(d) == name) {
                    self.mentioned.insert(name);
                    self.errors.at(
                        ident.span(),
                        format!(
                            "unknown name `{ident}`: declare the training flag in the block, as `{ident}: Training`"
                        ),
                    );
                    failed = true;
                    continue;
                }
            }
            match (self.infer(arg), kind) {
                (None, _) => failed = true,
                (Some(v @ Value::Node { .. }), Arg::Node)
                | (Some(v @ Value::Index { .. }), Arg::Index)
                | (Some(v @ Value::Bags { .. }), Arg::Bags)
                | (Some(v @ Value::Training), Arg::Training)
                | (Some(v @ Value::Op), Arg::Op)
                | (Some(v @ Value::Scalar), Arg::Scalar) => values.push(v),
                (Some(_), kind) => {
                    let expected = match kind {
                        Arg::Node => "a node",
                        Arg::Index => "the name of an `Index<K>` input",
                        Arg::Bags => "the name of a `Bags<B>` input",
                        Arg::Training => "the name of a `Training` flag",
                        Arg::Op => "an operation (a value of your own op type)",
                        Arg::Scalar => "a number",
                        Arg::Axis | Arg::Numbers | Arg::Size => unreachable!("handled above"),
                        Arg::Nodes => unreachable!("read as `Node`s above"),
                        Arg::Slice => "`s![rows, columns]`",
                    };
                    self.errors.spanned(
                        &arg.tokens,
                        format!("this argument of `{name}` must be {expected}"),
                    );
                    failed = true;
                }
            }
        }
        (!failed).then_some(values)
    }
}

/// "did you mean `softmax`? " for a name within a third of its length in edits (at
/// least one, as rustc allows) of exactly one closest known name (`sofmax`), else
/// nothing: `sin` is no `ln`.
fn did_you_mean(word: &str, known: &[&str]) -> String {
    let distance = |name: &&str| crate::parse::edit_distance(word, name);
    let limit = word.chars().count().max(3) / 3;
    let Some(best) = known.iter().map(distance).min().filter(|&d| d <= limit) else {
        return String::new();
    };
    match known
        .iter()
        .filter(|n| distance(n) == best)
        .collect::<Vec<_>>()[..]
    {
        [name] => format!("did you mean `{name}`? "),
        _ => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use crate::check::testing::{assert_errors, errors};

    #[test]
    fn checks_dims_arguments_and_kinds() {
        let e = errors(quote::quote! {
            struct M {
                w: Param<1, 2, 3>,
                i: Index<2, 2>,
                e: Param<2, 4>,
                a = w.pow(w),
                b = w.clip(1.0),
                c = e.index(w),
                d = (w + 1.0).index(i),
                f = i + w,
                g = 1.0 + 2.0,
                h = sparse_categorical_crossentropy(e, i) + w.dot(n),
                k = e.softmax().foo(1),
                l = e.dropout_with_seed(0.5, 3),
            }
        });
        let expected = [
            "wrong number of dimensions: `Param` takes 2 dimensions",
            "wrong number of dimensions: `Index` takes 1 dimension",
            "this argument of `pow` must be a number",
            "`clip` takes 2 arguments, found 1",
            "this argument of `index` must be the name of an `Index<K>` input",
            "the receiver must be a `Param` name",
            "an index input cannot be an operand of `+`",
            "both operands are numbers",
            "unknown name `n`",
            "unknown method `foo`",
            "unknown method `dropout_with_seed`; a block seeds its dropout from the generator of `new_with_rng`",
        ];
        assert_errors(&e, &expected);
    }

    #[test]
    fn a_near_miss_names_the_method_or_function_meant() {
        let e = errors(quote::quote! {
            struct M {
                x: Input<4, 3>,
                y: Input<4, 3>,
                a = x.sofmax(),
                b = huberr(x, y, 1.0),
                c = x.tan(),
                d = x.frobnicate(),
                e = x.erf(),
            }
        });
        let expected = [
            "unknown method `sofmax`; did you mean `softmax`? a model supports: dot,",
            "unknown function `huberr`; did you mean `huber`? a model supports:",
            // `tanh` is one edit away, `t` and `ln` two: the closest wins; `erf` (three
            // letters) may be one edit from a known name, and `exp` is two.
            "unknown method `tan`; did you mean `tanh`?",
            "unknown method `frobnicate`; a model supports:",
            "unknown method `erf`; a model supports:",
        ];
        assert_errors(&e, &expected);
    }

    #[test]
    fn literal_loss_settings_are_checked() {
        let e = errors(quote::quote! {
            struct M {
                x: Input<4, 1>,
                y: Input<4, 1>,
                a = huber(x, y, 0.0),
                b = huber(x, y, -1),
                c = binary_crossentropy_with_logits_weighted(x, y, -0.5),
                d = huber(x, y, 0.5) + binary_crossentropy_with_logits_weighted(x, y, 0),
                f = huber(x, y, {DELTA}),
            }
        });
        let expected = [
            "`huber`'s delta must be positive",
            "`huber`'s delta must be positive",
            "a `pos_weight` must not be negative",
        ];
        assert_errors(&e, &expected);
    }

    #[test]
    fn class_weights_are_a_constant_list_in_braces() {
        let e = errors(quote::quote! {
            struct M {
                x: Input<4, 3>,
                i: Index<4>,
                a = sparse_categorical_crossentropy_weighted(x, i, {&WEIGHTS}),
                b = sparse_categorical_crossentropy_weighted(x, i, {weights(batch)}),
                c = sparse_categorical_crossentropy_weighted(x, i, 2.0),
                d = sparse_categorical_crossentropy_weighted(x, i, x),
                f = sparse_categorical_crossentropy_weighted(x, i, -{&WEIGHTS}),
                g = sparse_categorical_crossentropy_weighted(x, i),
            }
        });
        let expected = [
            "this argument of `sparse_categorical_crossentropy_weighted` must be a list of numbers, written as a constant expression in braces",
            "this argument of `sparse_categorical_crossentropy_weighted` must be a list of numbers",
            "this argument of `sparse_categorical_crossentropy_weighted` must be a list of numbers",
            "`sparse_categorical_crossentropy_weighted` takes 3 arguments, found 2",
        ];
        assert_errors(&e, &expected);
    }

    #[test]
    fn custom_operations_take_an_operation_then_nodes() {
        let e = errors(quote::quote! {
            struct M {
                x: Input<2, 3>,
                r: Input<1, 3>,
                c: Input<3, 1>,
                a = x.map(Softsign) + x.apply(ops::Centre).map(Scale::new(2.0)),
                b = x.combine(Pinball { tau: 0.5 }, r),
                f = x.map(r),
                g = x.combine(Pinball::new(0.5)),
                h = x.combine(Pinball::new(0.5), c),
                k = x.combine(Pinball::new(0.5), 2.0),
                l = x.apply(FirstColumn) + r,
            }
        });
        let expected = [
            "`r` is a node of the model, but this argument is the operation",
            "`combine` takes 2 arguments, found 1",
            "shape mismatch: cannot combine a 2x3 and a 3x1",
            "this argument of `combine` must be a node",
        ];
        assert_errors(&e, &expected);
    }

    #[test]
    fn a_training_flag_only_switches_dropout() {
        let e = errors(quote::quote! {
            struct M {
                t: Training,
                u: Training<2>,
                x: Input<2, 3>,
                a = x.dropout(0.5, t),
                b = x.dropout(1.0, t),
                c = x.dropout(-0.1, t),
                d = x.dropout(0.5),
                e = x.dropout(),
                f = x.dropout(0.5, x),
                g = x.dropout(t, 0.5),
                h = x + t,
                k = t,
                l = x.dropout({RATE}, t).dropout(0, t),
                m = x.dropout(0.5, training),
                v: Training<>,
            }
        });
        let expected = [
            "`Training` takes no dimensions: it is a flag, declared as `name: Training`",
            "`Training` takes no dimensions",
            "a dropout rate must be in [0, 1)",
            "a dropout rate must be in [0, 1)",
            "`dropout` takes 2 arguments, found 1",
            "`dropout` takes 2 arguments, found 0",
            "this argument of `dropout` must be the name of a `Training` flag",
            "this argument of `dropout` must be a number",
            "this argument of `dropout` must be the name of a `Training` flag",
            "a training flag cannot be an operand of `+`",
            "a training flag cannot be renamed",
            "unknown name `training`: declare the training flag in the block, as `training: Training`",
        ];
        assert_errors(&e, &expected);
        // A misspelt flag is read as one, and says so.
        let e = errors(quote::quote! {
            struct M { t: Trainig, x: Input<1, 1>, a = x.dropout(0.5, t) }
        });
        assert_errors(&e, &["unknown declaration `Trainig`: expected `Param<R, C>`, `Input<R, C>`, `Index<K>`, `Bags<B>` or `Training` (did you mean `Training`?)"]);
    }

    #[test]
    fn bags_inputs_are_only_pooled_from_parameters() {
        let e = errors(quote::quote! {
            struct M {
                t: Param<10, 4>,
                b: Bags<3, 1>,
                c: Bags<3>,
                i: Index<3>,
                p = t.sum_bags(i),
                q = (t * 2.0).mean_bags(c),
                r = c + t,
                s = c,
                u = t.index(c),
            }
        });
        let expected = [
            "wrong number of dimensions: `Bags` takes 1 dimension",
            "this argument of `sum_bags` must be the name of a `Bags<B>` input",
            "`mean_bags` looks up rows of a parameter: the receiver must be a `Param` name",
            "a bags input cannot be an operand of `+`",
            "a bags input cannot be renamed",
            "this argument of `index` must be the name of an `Index<K>` input",
        ];
        assert_errors(&e, &expected);
    }

    #[test]
    fn one_mistake_gives_one_error() {
        // Each model has one mistake; the parameter its expression mentions is used, and
        // the arguments of the broken call are still checked (`typo`, `nowhere`).
        let cases = [
            (
                quote::quote! { struct M { x: Input<1, 3>, w: Param<3, 1>, y = x.matmul(w) } },
                &["unknown method `matmul`"][..],
            ),
            (
                quote::quote! { struct M { x: Input<1, 3>, w: Param<3, 1>, y = x.clone().dot(w) } },
                &["unknown method `clone`; names are written without `.clone()` in a model"],
            ),
            (
                // A raw name, as Rust names it: without its `r#`.
                quote::quote! { struct M { x: Input<1, r#in>, w: Param<r#in, 1>, y = x.dot(w) * r#in } },
                &["`in` is a dimension, not a node of the model"],
            ),
            (
                quote::quote! { struct M { x: Input<1, 3>, w: Param<3, 1>, y = softplus(x.dot(w)) } },
                &["unknown function `softplus`"],
            ),
            (
                quote::quote! { struct M { x: Input<1, 3>, w: Param<3, 1>, y = x.dot(w, w) } },
                &["`dot` takes 1 argument, found 2"],
            ),
            (
                quote::quote! { struct M { w: Param<3, 1>, y = sparse_categorical_crossentropy(w) } },
                &["`sparse_categorical_crossentropy` takes 2 arguments, found 1"],
            ),
            (
                quote::quote! { struct M { x: Input<1, 1>, y = w * x, w: Param<1, 1> } },
                &["`w` is used before it is defined"],
            ),
            (
                quote::quote! { struct M { x: Input<1, 3>, w: Param<1, 3>, y = x.matmul(typo) + w } },
                &["unknown method `matmul`", "unknown name `typo`"],
            ),
            (
                quote::quote! { struct M { w: Param<1, 1>, v: Param<1, 1>, x: Input<1, 1>, y = w.stack(x, v) } },
                &["this argument of `stack` must be an axis"],
            ),
            (
                quote::quote! { struct M { w: Param<1, 1>, y = w.stack(w, {AXIS}) } },
                &["must be an axis: `0` (rows) or `1` (columns), or `Axis(0)` or `Axis(1)` (a constant cannot be one"],
            ),
            (
                quote::quote! { struct M { w: Param<3, 1>, y = nowhere.dot(w.frobnicate()) } },
                &["unknown name `nowhere`", "unknown method `frobnicate`"],
            ),
            (
                // An axis among extra arguments is not read as a call of `Axis`.
                quote::quote! { struct M { w: Param<3, 1>, y = w.stack(w, Axis(0), 1) } },
                &["`stack` takes 2 arguments, found 3"],
            ),
        ];
        for (tokens, expected) in cases {
            let e = errors(tokens);
            assert_errors(&e, expected);
        }
        // A parameter that nothing mentions is still reported next to other errors.
        let e = errors(quote::quote! {
            struct M { w: Param<1, 1>, v: Param<1, 1>, y = w.matmul(w) }
        });
        assert_eq!(e.len(), 2, "{e:?}");
        assert!(e[1].contains("parameter `v` is never used"), "{e:?}");
    }
}
