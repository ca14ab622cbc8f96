//! Semantic checks: names (unknown, used before definition, duplicate, unused parameter,
//! clash with a dimension), methods (unknown, argument count and kinds), dimension counts,
//! numbers (in range for `f32`), item attributes (no `cfg`), and shapes wherever the
//! dimensions are literals (or the same dimension name).
//!
//! Every problem becomes a `syn::Error` on the user's tokens; all of them are combined so
//! the user sees them at once. A sub-expression with an error yields no value, so one
//! mistake does not cascade into more messages; the rest of the expression is still
//! checked (its own mistakes are reported), and every name it mentions counts as used.
//!
//! Names are compared unraw (`r#w` is `w`), as Rust compares them.

use crate::ops::{axis_of, find_function, find_method, Arg, Method, Rule, FUNCTIONS, METHODS};
use crate::parse::{key, BinOp, Dim, Expr, ExprKind, Init, ItemKind, LeafKind, Model, Scalar};
use proc_macro2::Span;
use quote::ToTokens;
use std::collections::{HashMap, HashSet};
use std::fmt;
use syn::Ident;

/// A dimension as far as the macro knows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum D {
    Lit(usize),
    Name(String),
    /// Known only at run time (e.g. a sum of dimension names).
    Unknown,
}

impl D {
    /// Whether two dimensions are known to differ (`Some(true)`), known to agree
    /// (`Some(false)`), or cannot be compared before run time (`None`).
    fn differs(&self, other: &D) -> Option<bool> {
        match (self, other) {
            (D::Lit(a), D::Lit(b)) => Some(a != b),
            (D::Name(a), D::Name(b)) if a == b => Some(false),
            _ => None,
        }
    }
}

impl fmt::Display for D {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            D::Lit(n) => write!(f, "{n}"),
            D::Name(n) => write!(f, "{n}"),
            D::Unknown => write!(f, "?"),
        }
    }
}

/// A shape `rows x cols`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Shape(pub D, pub D);

impl fmt::Display for Shape {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}x{}", self.0, self.1)
    }
}

/// What an expression denotes.
#[derive(Clone, Debug)]
enum Value {
    /// A node of the graph with its shape; `param` when it is a parameter's name.
    Node { shape: Shape, param: bool },
    /// An `Index<K>` input (usable only as a lookup argument).
    Index { count: D },
    /// A number.
    Scalar,
    /// An axis (0: rows, 1: columns).
    Axis(usize),
}

/// Collects errors, combining them into one.
#[derive(Default)]
struct Errors(Option<syn::Error>);

impl Errors {
    fn push(&mut self, error: syn::Error) {
        match &mut self.0 {
            Some(e) => e.combine(error),
            None => self.0 = Some(error),
        }
    }

    fn at(&mut self, span: Span, message: impl fmt::Display) {
        self.push(syn::Error::new(span, message));
    }

    fn spanned(&mut self, tokens: impl ToTokens, message: impl fmt::Display) {
        self.push(syn::Error::new_spanned(tokens, message));
    }
}

/// The result of a successful check: the run-time dimension names, in order of first use.
pub struct Checked {
    pub dims: Vec<Ident>,
}

/// Checks the model; returns every problem found, combined.
pub fn check(model: &Model) -> Result<Checked, syn::Error> {
    let mut errors = Errors::default();

    // Names: duplicates.
    let mut position: HashMap<String, usize> = HashMap::new();
    for (i, item) in model.items.iter().enumerate() {
        let name = key(&item.name);
        if let Some(&first) = position.get(&name) {
            let first = &model.items[first].name;
            // `r#w` after `w` looks like two names unless the message says otherwise.
            let same = if *first == item.name {
                String::new()
            } else {
                format!(": `{}` and `{first}` are the same name", item.name)
            };
            let mut e = syn::Error::new(
                item.name.span(),
                format!("duplicate name `{}`{same}", item.name),
            );
            e.combine(syn::Error::new(
                first.span(),
                format!("`{first}` is first declared here"),
            ));
            errors.push(e);
        } else {
            position.insert(name, i);
        }
    }

    // Attributes: an item's go to its field only, while the constructors and the
    // parameter list still set it, so a configured-out item would leave them naming a
    // missing field (rustc's E0560, far from the cause). A `cfg_attr` is fine unless it
    // can produce a `cfg`.
    for item in &model.items {
        for attr in &item.attrs {
            let path = attr.path();
            if path.is_ident("cfg") || (path.is_ident("cfg_attr") && yields_cfg(&attr.meta)) {
                errors.spanned(
                    attr,
                    format!(
                        "`{}` is not supported on model items: the constructors and the \
                         parameter list set every item; declare a separate model for each \
                         configuration instead",
                        path.to_token_stream()
                    ),
                );
            }
        }
    }

    // Dimensions: counts, and names that clash with nodes.
    for item in &model.items {
        let ItemKind::Leaf(leaf) = &item.kind else {
            continue;
        };
        let arity = leaf.kind.arity();
        if leaf.dims.len() != arity {
            let expected = match leaf.kind {
                LeafKind::Index => "1 dimension (the number of indices), as in `Index<K>`",
                LeafKind::Param => "2 dimensions (rows, columns), as in `Param<R, C>`",
                LeafKind::Input => "2 dimensions (rows, columns), as in `Input<R, C>`",
            };
            errors.spanned(
                &leaf.dims_tokens,
                format!(
                    "wrong number of dimensions: `{}` takes {expected}, found {}",
                    leaf.kind.keyword(),
                    leaf.dims.len()
                ),
            );
        }
        for dim in &leaf.dims {
            if let Dim::Name(ident) = dim {
                if position.contains_key(&key(ident)) {
                    errors.at(
                        ident.span(),
                        format!(
                            "dimension `{ident}` has the same name as a node of the model; rename one of them"
                        ),
                    );
                }
            }
        }
    }

    let dims = model.run_time_dims();

    // Definitions, in order.
    let mut checker = Checker {
        env: HashMap::new(),
        position: &position,
        dims: &dims,
        mentioned: HashSet::new(),
        errors,
        current: 0,
    };
    for (i, item) in model.items.iter().enumerate() {
        checker.current = i;
        let name = key(&item.name);
        let value = match &item.kind {
            ItemKind::Leaf(leaf) => {
                let dim = |k: usize| match leaf.dims.get(k) {
                    Some(Dim::Lit(n, _)) => D::Lit(*n),
                    Some(Dim::Name(n)) => D::Name(key(n)),
                    // A constant agrees with the same constant expression.
                    Some(d @ Dim::Const(_)) => D::Name(d.text()),
                    None => D::Lit(1),
                };
                if let Some(Init::Normal { mean, std, .. }) = &leaf.init {
                    checker.number(mean);
                    checker.number(std);
                }
                match leaf.kind {
                    LeafKind::Param => Some(Value::Node {
                        shape: Shape(dim(0), dim(1)),
                        param: true,
                    }),
                    LeafKind::Input => Some(Value::Node {
                        shape: Shape(dim(0), dim(1)),
                        param: false,
                    }),
                    LeafKind::Index => Some(Value::Index { count: dim(0) }),
                }
            }
            ItemKind::Node(expr) => match checker.infer(expr) {
                Some(Value::Scalar) => {
                    checker.errors.spanned(
                        &expr.tokens,
                        "a node definition needs a node: this expression is only a number",
                    );
                    None
                }
                Some(Value::Index { .. }) => {
                    checker.errors.spanned(
                        &expr.tokens,
                        "an index input cannot be renamed; use it directly, as in `table.index(i)`",
                    );
                    None
                }
                other => other.map(|v| match v {
                    Value::Node { shape, .. } => Value::Node {
                        shape,
                        param: false,
                    },
                    v => v,
                }),
            },
        };
        // A duplicate keeps its first definition.
        if position.get(&name) == Some(&i) {
            checker.env.insert(name, value);
        }
    }

    // Parameters never used. A mention anywhere counts, even in an expression with an
    // error or before the declaration: that mistake has its own message, and "never
    // used" would be false.
    for (i, item) in model.items.iter().enumerate() {
        let ItemKind::Leaf(leaf) = &item.kind else {
            continue;
        };
        let name = key(&item.name);
        if leaf.kind == LeafKind::Param
            && position.get(&name) == Some(&i)
            && !checker.mentioned.contains(&name)
        {
            checker.errors.at(
                item.name.span(),
                format!(
                    "parameter `{}` is never used: no node depends on it, so it would never be trained",
                    item.name
                ),
            );
        }
    }

    match checker.errors.0 {
        Some(e) => Err(e),
        None => Ok(Checked { dims }),
    }
}

struct Checker<'a> {
    /// Values of the items checked so far (`None`: the definition had an error).
    env: HashMap<String, Option<Value>>,
    position: &'a HashMap<String, usize>,
    dims: &'a [Ident],
    /// Every name an expression mentions (unraw), known or not.
    mentioned: HashSet<String>,
    errors: Errors,
    /// The item being checked.
    current: usize,
}

impl Checker<'_> {
    fn infer(&mut self, expr: &Expr) -> Option<Value> {
        match &expr.kind {
            ExprKind::Name(ident) => self.lookup(ident),
            ExprKind::Scalar(s) => self.number(s).then_some(Value::Scalar),
            ExprKind::Neg { operand, .. } => {
                let v = self.infer(operand)?;
                self.node_operand(&v, operand, "`-`")?;
                Some(v)
            }
            ExprKind::Binary { op, lhs, rhs, .. } => {
                let (l, r) = (self.infer(lhs), self.infer(rhs));
                let (l, r) = (l?, r?);
                let what = format!("`{}`", op_symbol(*op));
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
                        self.elementwise(*op, ls?, rs?, expr)
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
                    self.errors.at(
                        method.span(),
                        format!(
                            "unknown method `{method}`; a model supports: {}",
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
                self.apply(spec, shape?, &values?, expr)
            }
            ExprKind::Call { function, args } => {
                let Some(spec) = find_function(&function.to_string()) else {
                    let known: Vec<&str> = FUNCTIONS.iter().map(|m| m.name).collect();
                    self.errors.at(
                        function.span(),
                        format!(
                            "unknown function `{function}`; a model supports: {}",
                            known.join(", ")
                        ),
                    );
                    self.infer_each(args);
                    return None;
                };
                let values = self.arguments(spec, function, args)?;
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
    fn number(&mut self, s: &Scalar) -> bool {
        if !s.value.is_finite() {
            self.errors.at(
                s.span,
                format!(
                    "number out of range for `f32`: the largest is about {:e}",
                    f32::MAX
                ),
            );
        }
        s.value.is_finite()
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

    /// The shape of a method's receiver, checking that `index` is called on a parameter.
    fn receiver(
        &mut self,
        spec: &Method,
        method: &Ident,
        value: &Value,
        receiver: &Expr,
    ) -> Option<Shape> {
        let shape = self.node_operand(value, receiver, &format!("`.{method}()`"))?;
        if spec.rule == Rule::Index {
            let is_param = matches!(value, Value::Node { param: true, .. });
            if !is_param || !matches!(receiver.kind, ExprKind::Name(_)) {
                self.errors.spanned(
                    &receiver.tokens,
                    "`index` looks up rows of a parameter: the receiver must be a `Param` name",
                );
                return None;
            }
        }
        Some(shape)
    }

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
                    format!("`{ident}` is a dimension, not a node of the model"),
                );
            }
            None => {
                self.errors
                    .at(ident.span(), format!("unknown name `{ident}`"));
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
            Value::Scalar | Value::Axis(_) => {
                self.errors.spanned(
                    &expr.tokens,
                    format!("a number cannot be the operand of {what}; it needs a node"),
                );
                None
            }
        }
    }

    fn elementwise(&mut self, op: BinOp, l: Shape, r: Shape, expr: &Expr) -> Option<Value> {
        let cols_differ = l.1.differs(&r.1) == Some(true);
        let rows_differ = l.0.differs(&r.0) == Some(true) && r.0 != D::Lit(1);
        if cols_differ || rows_differ {
            self.errors.spanned(
                &expr.tokens,
                format!(
                    "shape mismatch: cannot {} a {l} and a {r}; elementwise operations need equal \
                     shapes, or a 1x{} row on the right to broadcast",
                    op.verb(),
                    l.1
                ),
            );
            return None;
        }
        Some(Value::Node {
            shape: l,
            param: false,
        })
    }

    /// Checks the count and kinds of a method's or function's arguments.
    fn arguments(&mut self, spec: &Method, name: &Ident, args: &[Expr]) -> Option<Vec<Value>> {
        if args.len() != spec.args.len() {
            let plural = if spec.args.len() == 1 { "" } else { "s" };
            self.errors.at(
                name.span(),
                format!(
                    "`{name}` takes {} argument{plural}, found {}",
                    spec.args.len(),
                    args.len()
                ),
            );
            self.infer_each(args);
            return None;
        }
        let mut values = Vec::new();
        let mut failed = false;
        for (arg, kind) in args.iter().zip(spec.args) {
            if *kind == Arg::Axis {
                match axis_of(arg) {
                    Some(axis) => values.push(Value::Axis(axis)),
                    None => {
                        self.errors.spanned(
                            &arg.tokens,
                            format!("this argument of `{name}` must be an axis: `0` (rows) or `1` (columns), or `Axis(0)` or `Axis(1)`"),
                        );
                        // Its names count as used: the error above is the one mistake.
                        self.mention_all(&arg.tokens);
                        failed = true;
                    }
                }
                continue;
            }
            match (self.infer(arg), kind) {
                (None, _) => failed = true,
                (Some(v @ Value::Node { .. }), Arg::Node)
                | (Some(v @ Value::Index { .. }), Arg::Index)
                | (Some(v @ Value::Scalar), Arg::Scalar) => values.push(v),
                (Some(_), kind) => {
                    let expected = match kind {
                        Arg::Node => "a node",
                        Arg::Index => "the name of an `Index<K>` input",
                        Arg::Scalar => "a number",
                        Arg::Axis => unreachable!("handled above"),
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

    fn apply(&mut self, spec: &Method, s: Shape, args: &[Value], expr: &Expr) -> Option<Value> {
        let node = |shape| {
            Some(Value::Node {
                shape,
                param: false,
            })
        };
        let other = || match args.first() {
            Some(Value::Node { shape, .. }) => shape.clone(),
            _ => unreachable!("checked by `arguments`"),
        };
        match spec.rule {
            Rule::Keep => node(s),
            Rule::One => node(Shape(D::Lit(1), D::Lit(1))),
            Rule::Rows => node(Shape(s.0, D::Lit(1))),
            Rule::Columns => node(Shape(D::Lit(1), s.1)),
            Rule::Transpose => node(Shape(s.1, s.0)),
            Rule::Dot => {
                let o = other();
                if s.1.differs(&o.0) == Some(true) {
                    self.errors.spanned(
                        &expr.tokens,
                        format!(
                            "shape mismatch: cannot dot a {s} with a {o}; the left's columns ({}) must equal the right's rows ({})",
                            s.1, o.0
                        ),
                    );
                    return None;
                }
                node(Shape(s.0, o.1))
            }
            Rule::VectorDot => {
                let o = other();
                if s.0.differs(&o.0) == Some(true) || s.1.differs(&o.1) == Some(true) {
                    self.errors.spanned(
                        &expr.tokens,
                        format!(
                            "shape mismatch: cannot take row-wise dot products of a {s} and a {o}; the shapes must be equal"
                        ),
                    );
                    return None;
                }
                node(Shape(s.0, D::Lit(1)))
            }
            Rule::Stack => {
                let o = other();
                let Some(Value::Axis(axis)) = args.get(1) else {
                    unreachable!("checked by `arguments`")
                };
                let sum = |a: &D, b: &D| match (a, b) {
                    (D::Lit(a), D::Lit(b)) => D::Lit(a + b),
                    _ => D::Unknown,
                };
                let (kept, what) = if *axis == 0 {
                    ((&s.1, &o.1), "columns")
                } else {
                    ((&s.0, &o.0), "rows")
                };
                if kept.0.differs(kept.1) == Some(true) {
                    self.errors.spanned(
                        &expr.tokens,
                        format!(
                            "shape mismatch: cannot stack a {s} and a {o} along axis {axis}; their {what} ({} and {}) must be equal",
                            kept.0, kept.1
                        ),
                    );
                    return None;
                }
                if *axis == 0 {
                    node(Shape(sum(&s.0, &o.0), s.1))
                } else {
                    node(Shape(s.0.clone(), sum(&s.1, &o.1)))
                }
            }
            Rule::Index => match args.first() {
                Some(Value::Index { count }) => node(Shape(count.clone(), s.1)),
                _ => unreachable!("checked by `arguments`"),
            },
        }
    }
}

/// Whether a `cfg_attr(predicate, attrs..)` (possibly nested) can produce a `cfg`. One
/// that does not parse is left to rustc.
fn yields_cfg(meta: &syn::Meta) -> bool {
    use syn::punctuated::Punctuated;
    let syn::Meta::List(list) = meta else {
        return false;
    };
    let Ok(parts) = list.parse_args_with(Punctuated::<syn::Meta, syn::Token![,]>::parse_terminated)
    else {
        return false;
    };
    // The first part is the predicate.
    parts.iter().skip(1).any(|attr| {
        attr.path().is_ident("cfg") || (attr.path().is_ident("cfg_attr") && yields_cfg(attr))
    })
}

fn op_symbol(op: BinOp) -> &'static str {
    match op {
        BinOp::Add => "+",
        BinOp::Sub => "-",
        BinOp::Mul => "*",
        BinOp::Div => "/",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn errors(tokens: proc_macro2::TokenStream) -> Vec<String> {
        let model: Model = syn::parse2(tokens).expect("parses");
        match check(&model) {
            Ok(_) => Vec::new(),
            Err(e) => e.into_iter().map(|e| e.to_string()).collect(),
        }
    }

    /// Asserts that the errors are the expected ones, in order (each containing its text).
    fn assert_errors(errors: &[String], expected: &[&str]) {
        assert_eq!(errors.len(), expected.len(), "{errors:?}");
        for (e, x) in errors.iter().zip(expected) {
            assert!(e.contains(x), "{e:?} does not contain {x:?}");
        }
    }

    #[test]
    fn accepts_a_valid_model_and_collects_dims() {
        let model: Model = syn::parse2(quote::quote! {
            struct M {
                w: Param<n_in, 4>,
                b: Param<1, 4>,
                x: Input<batch, n_in>,
                h = (x.dot(w) + b).tanh(),
                loss = h.sum_rows().t().dot(h.sum_rows()).scalar_sum() + 2.0 * h.mean(),
            }
        })
        .unwrap();
        let checked = check(&model).unwrap_or_else(|e| panic!("{e}"));
        let dims: Vec<String> = checked.dims.iter().map(|d| d.to_string()).collect();
        assert_eq!(dims, ["n_in", "batch"]);
    }

    #[test]
    fn reports_all_name_errors_at_once() {
        let e = errors(quote::quote! {
            struct M {
                w: Param<1, 1>,
                unused: Param<1, 1>,
                x: Input<1, 1>,
                x: Input<1, 1>,
                a = w * later,
                b = w * nowhere,
                c = c + w,
                later = w.frobnicate(),
            }
        });
        let expected = [
            "duplicate name `x`",
            "`x` is first declared here",
            "`later` is used before it is defined",
            "unknown name `nowhere`",
            "`c` is used in its own definition",
            "unknown method `frobnicate`",
            "parameter `unused` is never used",
        ];
        assert_errors(&e, &expected);
    }

    #[test]
    fn checks_literal_shapes() {
        let e = errors(quote::quote! {
            struct M {
                a: Param<1, 3>,
                b: Param<1, 4>,
                c: Param<4, 1>,
                bias: Param<1, 3>,
                m: Param<5, 3>,
                n: Param<n_rows, 3>,
                s = a + b,
                d = a.dot(c),
                ok = m + bias + n.sum_columns() + m.t().t(),
                v = m.vector_dot(a),
                r = bias - m,
            }
        });
        let expected = [
            "cannot add a 1x3 and a 1x4",
            "cannot dot a 1x3 with a 4x1",
            "cannot take row-wise dot products of a 5x3 and a 1x3",
            "cannot subtract a 1x3 and a 5x3",
        ];
        assert_errors(&e, &expected);
    }

    #[test]
    fn named_dims_agree_with_themselves_only() {
        let e = errors(quote::quote! {
            struct M {
                a: Param<n, 3>,
                b: Param<n, 3>,
                c: Param<m, 3>,
                x = a + b + c,
                y = a.t().dot(b).scalar_sum() + a.dot(c.t()).sum_rows().sum_columns(),
                z = a.sum_rows() + b.sum_columns(),
            }
        });
        assert_eq!(e.len(), 1, "{e:?}");
        assert!(e[0].contains("cannot add a nx1 and a 1x3"), "{e:?}");
    }

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
        ];
        assert_errors(&e, &expected);
    }

    #[test]
    fn constant_dims_agree_with_the_same_expression() {
        let model: Model = syn::parse2(quote::quote! {
            struct M {
                a: Param<1, {H}>,
                b: Param<1, {H}>,
                c: Param<1, 3>,
                x = a + b + c,
                y = a.dot(b.t()),
                z = y + c,
            }
        })
        .unwrap();
        let e: Vec<String> = match check(&model) {
            Ok(checked) => {
                assert!(checked.dims.is_empty(), "constants are not arguments");
                Vec::new()
            }
            Err(e) => e.into_iter().map(|e| e.to_string()).collect(),
        };
        assert_eq!(e.len(), 1, "{e:?}");
        assert!(e[0].contains("cannot add a 1x1 and a 1x3"), "{e:?}");
    }

    #[test]
    fn checks_stacking() {
        let e = errors(quote::quote! {
            struct M {
                a: Param<1, 3>,
                b: Param<2, 3>,
                c: Param<2, 4>,
                rows = a.stack(b, 0).stack(&a, Axis(0)),
                wide = rows.stack(c, 1),
                ok = rows.sum_rows().t().stack(a.t().t(), Axis(1)),
                bad = a.stack(c, 0) + a.stack(b, 2),
                sized = rows.dot(a.t()).t() + a.stack(a, 1),
            }
        });
        let expected = [
            "cannot stack a 4x3 and a 2x4 along axis 1; their rows (4 and 2)",
            "cannot stack a 1x3 and a 2x4 along axis 0; their columns (3 and 4)",
            "this argument of `stack` must be an axis",
            "cannot add a 1x4 and a 1x6",
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

    #[test]
    fn numbers_out_of_range_and_cfg_are_reported_together() {
        let e = errors(quote::quote! {
            struct M {
                w: Param<1, 3> = normal(0, 1e39),
                x: Input<1, 3>,
                #[cfg(test)]
                a = x * 1e39 + w,
                b = w.clip(-1e39, 1e39),
                #[cfg_attr(test, cfg(test))]
                c = x.pow(1e40) + w * 3.4e38,
                #[cfg_attr(test, allow(unused), cfg_attr(all(), doc = "fine"))]
                e = x * 2,
                d = w * 340282366920938463463374607431768211456,
            }
        });
        let expected = [
            "`cfg` is not supported on model items",
            "`cfg_attr` is not supported on model items",
            "number out of range for `f32`",
            "number out of range for `f32`",
            "number out of range for `f32`",
            "number out of range for `f32`",
            "number out of range for `f32`",
            "number out of range for `f32`",
        ];
        assert_errors(&e, &expected);
    }

    #[test]
    fn raw_identifiers_are_the_plain_names() {
        let model: Model = syn::parse2(quote::quote! {
            struct M {
                r#w: Param<n, r#m>,
                x: Input<r#n, m>,
                r#type = w.t() * x,
                y = r#w.t() + r#type,
            }
        })
        .unwrap();
        let checked = check(&model).unwrap_or_else(|e| panic!("{e}"));
        let dims: Vec<String> = checked.dims.iter().map(|d| d.to_string()).collect();
        assert_eq!(dims, ["n", "r#m"]);

        let e = errors(quote::quote! {
            struct M { w: Param<1, 1>, r#w: Param<1, 1>, y = w * 2, z = r#y * 2 }
        });
        assert_eq!(e.len(), 2, "{e:?}");
        assert!(
            e[0].contains("duplicate name `r#w`: `r#w` and `w` are the same name"),
            "{e:?}"
        );
    }

    #[test]
    fn dimension_names_must_not_be_node_names() {
        let e = errors(quote::quote! {
            struct M { n: Param<n, 1>, x = n.square() }
        });
        assert_eq!(e.len(), 1, "{e:?}");
        assert!(e[0].contains("dimension `n` has the same name as a node"));
    }
}
