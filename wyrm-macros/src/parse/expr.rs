//! Expressions: the part of Rust's the model language keeps, converted from `syn`'s, the
//! numbers in them (which initialisers take too), and how messages display them.

use super::slice::{slice_of, SliceAxis};
use proc_macro2::{Span, TokenStream};
use quote::ToTokens;
use syn::{Ident, LitFloat, Token};

/// A number: a numeric literal (possibly negated), as an `f32`, infinite when the number
/// is out of range (an error that `check` reports); or a constant expression in braces
/// (`{LEARNING_RATE}`, `{1.0 - EPS}`), which the generated code evaluates.
#[derive(Clone)]
pub(crate) struct Scalar {
    /// A literal's value, sign included; for a constant expression, 1 or -1, its sign.
    pub(crate) value: f32,
    /// The span of the literal or of the braces, which the generated number carries.
    pub(crate) span: Span,
    /// The constant expression inside the braces, if the number is one.
    pub(crate) constant: Option<Box<syn::Expr>>,
}

/// Binary operators.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum BinOp {
    /// `+`.
    Add,
    /// `-`.
    Sub,
    /// `*`.
    Mul,
    /// `/`.
    Div,
}

impl BinOp {
    /// The operator's symbol, for messages, for display and for the generated code.
    pub(crate) fn symbol(self) -> char {
        match self {
            BinOp::Add => '+',
            BinOp::Sub => '-',
            BinOp::Mul => '*',
            BinOp::Div => '/',
        }
    }

    /// The verb used in shape error messages.
    pub(crate) fn verb(self) -> &'static str {
        match self {
            BinOp::Add => "add",
            BinOp::Sub => "subtract",
            BinOp::Mul => "multiply",
            BinOp::Div => "divide",
        }
    }
}

/// An expression of the model language.
pub(crate) struct Expr {
    /// The form of the expression.
    pub(crate) kind: ExprKind,
    /// The user's tokens for the whole expression, for spanned errors.
    pub(crate) tokens: TokenStream,
}

/// The forms an expression can take.
pub(crate) enum ExprKind {
    /// A declared or defined name.
    Name(Ident),
    /// A numeric literal (only as an operand of `+ - * /`, or a method's `f32` argument).
    Scalar(Scalar),
    /// `lhs op rhs`.
    Binary {
        /// The operator.
        op: BinOp,
        /// The operator's span, which the generated node and operator carry.
        op_span: Span,
        /// The left operand.
        lhs: Box<Expr>,
        /// The right operand.
        rhs: Box<Expr>,
    },
    /// `-operand`.
    Neg {
        /// The span of the `-`.
        span: Span,
        /// What is negated (not a number: `-2` is the number `-2`).
        operand: Box<Expr>,
    },
    /// `receiver.method(args)`; `&` on arguments is dropped.
    Method {
        /// The receiver.
        receiver: Box<Expr>,
        /// The method's name.
        method: Ident,
        /// The arguments, in order.
        args: Vec<Expr>,
    },
    /// `function(args)`.
    Call {
        /// The function's name.
        function: Ident,
        /// The arguments, in order.
        args: Vec<Expr>,
    },
    /// The operation given to `map`, `combine` or `apply`: a unit struct (`Softsign`), a
    /// tuple struct (`Scale(2.0)`), a constructor call (`Pinball::new(0.9)`) or a struct
    /// literal (`Pinball { tau: 0.9 }`), whose type is the path it names (a constructor's
    /// without its last segment, the function).
    Op {
        /// The operation's type.
        ty: syn::Path,
        /// The expression building it, used as written.
        value: Box<syn::Expr>,
    },
    /// What the parser could not take (the error says why), so that the block's other
    /// mistakes are reported with it: the checker gives it no value, which keeps it from
    /// cascading, and counts every name in its tokens as used.
    Invalid(syn::Error),
    /// The argument of `slice`: `s![rows, columns]`.
    Slice {
        /// The tokens inside `s![..]`, used as written (they may read the run-time
        /// dimensions).
        inner: TokenStream,
        /// What each element selects, as far as the block can tell.
        axes: [SliceAxis; 2],
    },
}

/// The methods whose first argument is an operation rather than a node.
pub(crate) const OP_METHODS: &[&str] = &["map", "combine", "apply"];

/// A numeric literal, optionally negated, as a [`Scalar`].
pub(super) fn scalar_of(expr: &syn::Expr) -> syn::Result<Scalar> {
    match expr {
        syn::Expr::Lit(syn::ExprLit { lit, .. }) => {
            let value = match lit {
                syn::Lit::Float(f) => f.base10_parse::<f32>()?,
                syn::Lit::Int(i) => i.base10_parse::<f32>()?,
                _ => return Err(syn::Error::new_spanned(lit, "expected a number")),
            };
            // A number beyond `f32::MAX` parses as infinity, which `check` reports (with
            // the block's other errors, and the stand-in that keeps them from cascading).
            Ok(Scalar {
                value,
                span: lit.span(),
                constant: None,
            })
        }
        syn::Expr::Block(b) if b.label.is_none() && b.attrs.is_empty() => {
            // The expression inside, so that the generated code has no braces for rustc's
            // `unused_braces` to flag in the user's block; a block of statements stays one.
            let constant = match &b.block.stmts[..] {
                [syn::Stmt::Expr(syn::Expr::Paren(p), None)] => (*p.expr).clone(),
                [syn::Stmt::Expr(inner, None)] => inner.clone(),
                _ => expr.clone(),
            };
            Ok(Scalar {
                value: 1.0,
                span: b.block.brace_token.span.join(),
                constant: Some(Box::new(constant)),
            })
        }
        syn::Expr::Unary(syn::ExprUnary {
            op: syn::UnOp::Neg(_),
            expr,
            ..
        }) => Ok(scalar_of(expr)?.negated()),
        syn::Expr::Paren(p) => scalar_of(&p.expr),
        syn::Expr::Group(g) => scalar_of(&g.expr),
        other => Err(syn::Error::new_spanned(other, "expected a number")),
    }
}

impl Scalar {
    /// The literal's value; `None` for a constant expression.
    pub(crate) fn literal_value(&self) -> Option<f32> {
        self.constant.is_none().then_some(self.value)
    }

    /// `-self`.
    fn negated(self) -> Scalar {
        Scalar {
            value: -self.value,
            ..self
        }
    }

    /// The number as `f32` tokens with the user's span: a literal (a negative value is
    /// `-x`, since a literal token cannot carry the sign; the value is finite, as `check`
    /// rejects the rest before expansion), or the constant expression converted to `f32`
    /// through the runtime crate `k`.
    pub(crate) fn literal(&self, k: &TokenStream) -> TokenStream {
        if let Some(constant) = &self.constant {
            let value = quote::quote_spanned!(self.span=> #k::__private::Number::to_f32(#constant));
            return if self.value.is_sign_negative() {
                quote::quote_spanned!(self.span=> -#value)
            } else {
                value
            };
        }
        let mut text = format!("{:?}", self.value.abs());
        if !text.contains('.') && !text.contains('e') {
            text.push_str(".0");
        }
        let lit = LitFloat::new(&format!("{text}f32"), self.span);
        if self.value.is_sign_negative() {
            quote::quote_spanned!(self.span=> -#lit)
        } else {
            lit.to_token_stream()
        }
    }
}

impl Expr {
    /// Converts a `syn` expression; what the model language does not support becomes an
    /// [`ExprKind::Invalid`] in place, its siblings converted all the same. (Arguments
    /// that do not fit their call's form, such as `slice` without `s![..]` or `concat`
    /// without a tuple, make the whole call the `Invalid`: what is inside is not read.)
    pub(super) fn from_syn(expr: syn::Expr) -> Expr {
        let tokens = expr.to_token_stream();
        Expr::try_from_syn(expr).unwrap_or_else(|error| Expr {
            kind: ExprKind::Invalid(error),
            tokens,
        })
    }

    /// Every mistake [`from_syn`](Self::from_syn) stepped over, outermost first.
    pub(crate) fn errors(&self) -> Vec<&syn::Error> {
        let mut out = Vec::new();
        self.collect_errors(&mut out);
        out
    }

    fn collect_errors<'a>(&'a self, out: &mut Vec<&'a syn::Error>) {
        match &self.kind {
            ExprKind::Invalid(e) => out.push(e),
            ExprKind::Neg { operand, .. } => operand.collect_errors(out),
            ExprKind::Binary { lhs, rhs, .. } => {
                lhs.collect_errors(out);
                rhs.collect_errors(out);
            }
            ExprKind::Method { receiver, args, .. } => {
                receiver.collect_errors(out);
                args.iter().for_each(|a| a.collect_errors(out));
            }
            ExprKind::Call { args, .. } => args.iter().for_each(|a| a.collect_errors(out)),
            ExprKind::Name(_)
            | ExprKind::Scalar(_)
            | ExprKind::Op { .. }
            | ExprKind::Slice { .. } => {}
        }
    }

    /// Converts a `syn` expression, rejecting what the model language does not support at
    /// this level (what it rejects below becomes an `Invalid` there).
    fn try_from_syn(expr: syn::Expr) -> syn::Result<Expr> {
        let tokens = expr.to_token_stream();
        let kind = match expr {
            syn::Expr::Path(p) if p.qself.is_none() && p.path.get_ident().is_some() => {
                ExprKind::Name(p.path.get_ident().expect("checked").clone())
            }
            syn::Expr::Lit(_) | syn::Expr::Block(_) => ExprKind::Scalar(scalar_of(&expr)?),
            syn::Expr::Paren(p) => return Expr::try_from_syn(*p.expr),
            syn::Expr::Group(g) => return Expr::try_from_syn(*g.expr),
            syn::Expr::Unary(syn::ExprUnary {
                op: syn::UnOp::Neg(minus),
                expr: operand,
                ..
            }) => {
                let operand = Expr::from_syn(*operand);
                match operand.kind {
                    ExprKind::Scalar(s) => ExprKind::Scalar(s.negated()),
                    _ => ExprKind::Neg {
                        span: minus.span,
                        operand: Box::new(operand),
                    },
                }
            }
            syn::Expr::Binary(b) => {
                let (op, op_span) = match b.op {
                    syn::BinOp::Add(t) => (BinOp::Add, t.span),
                    syn::BinOp::Sub(t) => (BinOp::Sub, t.span),
                    syn::BinOp::Mul(t) => (BinOp::Mul, t.span),
                    syn::BinOp::Div(t) => (BinOp::Div, t.span),
                    other => {
                        return Err(syn::Error::new_spanned(
                            other,
                            "unsupported operator: a model uses `+`, `-`, `*` and `/`",
                        ))
                    }
                };
                ExprKind::Binary {
                    op,
                    op_span,
                    lhs: Box::new(Expr::from_syn(*b.left)),
                    rhs: Box::new(Expr::from_syn(*b.right)),
                }
            }
            syn::Expr::MethodCall(m) => {
                if let Some(turbofish) = &m.turbofish {
                    return Err(syn::Error::new_spanned(
                        turbofish,
                        "type arguments are not supported in a model",
                    ));
                }
                let receiver = Box::new(Expr::from_syn(*m.receiver));
                let args = if m.method == "slice" {
                    slice_args(&m.method, m.args)?
                } else if OP_METHODS.contains(&m.method.to_string().as_str()) {
                    let mut args = m.args.into_iter();
                    let op = args.next().map(Expr::op_from_syn).transpose()?;
                    let rest = convert_args(args.collect());
                    op.into_iter().chain(rest).collect()
                } else {
                    convert_args(m.args)
                };
                ExprKind::Method {
                    receiver,
                    method: m.method,
                    args,
                }
            }
            syn::Expr::Call(c) => {
                let function = match &*c.func {
                    syn::Expr::Path(p) if p.qself.is_none() && p.path.get_ident().is_some() => {
                        p.path.get_ident().expect("checked").clone()
                    }
                    other => {
                        return Err(syn::Error::new_spanned(other, not_a_function_name(other)))
                    }
                };
                let args = if function == "concat" {
                    concat_args(c.paren_token.span.join(), c.args)?
                } else {
                    convert_args(c.args)
                };
                ExprKind::Call { function, args }
            }
            syn::Expr::Array(a) => {
                return Err(syn::Error::new_spanned(
                    a,
                    "a list of numbers (class weights) is a constant expression in braces: \
                     `{[1.0, 4.0]}` or `{&CLASS_WEIGHTS}`",
                ))
            }
            other => {
                // Rust arithmetic on numbers (`d as f32`, `x.sqrt()` of a number) is the
                // usual cause: name the tokens, and say how to write the whole number.
                let text = tokens_text(&tokens);
                return Err(syn::Error::new_spanned(
                    other,
                    format!(
                        "unsupported expression `{text}`: a model expression combines names \
                         and numbers with `+ - * /`, unary `-`, methods such as `.dot(b)` \
                         and functions such as `sparse_categorical_crossentropy(a, b)`; a \
                         number computed by Rust code goes in braces, the whole number: \
                         `h * {{1.0 / (d as f32).sqrt()}}`, not `h * (1.0 / {{d as f32}}.sqrt())`"
                    ),
                ));
            }
        };
        Ok(Expr { kind, tokens })
    }

    /// Converts the operation given to `map`, `combine` or `apply` (see [`ExprKind::Op`]).
    fn op_from_syn(expr: syn::Expr) -> syn::Result<Expr> {
        let tokens = expr.to_token_stream();
        let ty = match &expr {
            syn::Expr::Path(p) if p.qself.is_none() => Some(p.path.clone()),
            syn::Expr::Struct(s) if s.qself.is_none() => Some(s.path.clone()),
            syn::Expr::Call(c) => match &*c.func {
                // A tuple struct, `Scale(2.0)`: the path is the type.
                syn::Expr::Path(p)
                    if p.qself.is_none()
                        && p.path.segments.last().is_some_and(|s| {
                            s.ident.to_string().starts_with(char::is_uppercase)
                        }) =>
                {
                    Some(p.path.clone())
                }
                // A constructor, `Pinball::new(0.9)`: the path without the function.
                syn::Expr::Path(p) if p.qself.is_none() && p.path.segments.len() > 1 => {
                    let mut path = p.path.clone();
                    path.segments.pop();
                    path.segments.pop_punct();
                    Some(path)
                }
                _ => None,
            },
            _ => None,
        };
        let Some(ty) = ty else {
            return Err(syn::Error::new_spanned(
                &expr,
                "the operation must name its type: a unit struct (`Softsign`), a tuple struct \
                 (`Scale(2.0)`), a constructor call (`Pinball::new(0.9)`) or a struct literal \
                 (`Pinball { tau: 0.9 }`)",
            ));
        };
        Ok(Expr {
            kind: ExprKind::Op {
                ty,
                value: Box::new(expr),
            },
            tokens,
        })
    }

    /// The span of the expression's first token.
    pub(crate) fn span(&self) -> Span {
        self.tokens
            .clone()
            .into_iter()
            .next()
            .map_or_else(Span::call_site, |t| t.span())
    }
}

impl std::fmt::Display for Expr {
    /// The expression in the model language, fully parenthesised where operators nest.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let list = |args: &[Expr]| {
            args.iter()
                .map(|a| a.to_string())
                .collect::<Vec<_>>()
                .join(", ")
        };
        // Operands of operators and receivers are parenthesised when they are operators.
        let operand = |e: &Expr| match e.kind {
            ExprKind::Binary { .. } | ExprKind::Neg { .. } => format!("({e})"),
            _ => e.to_string(),
        };
        match &self.kind {
            ExprKind::Name(n) => write!(f, "{n}"),
            ExprKind::Scalar(s) => match &s.constant {
                Some(c) => {
                    let sign = if s.value.is_sign_negative() { "-" } else { "" };
                    write!(f, "{sign}{{{}}}", tokens_text(&c.to_token_stream()))
                }
                // As written: an axis `1` is not `1.0`.
                None => write!(f, "{}", tokens_text(&self.tokens)),
            },
            ExprKind::Neg { operand: o, .. } => write!(f, "-{}", operand(o)),
            ExprKind::Binary { op, lhs, rhs, .. } => {
                write!(f, "{} {} {}", operand(lhs), op.symbol(), operand(rhs))
            }
            ExprKind::Method {
                receiver,
                method,
                args,
            } => write!(f, "{}.{method}({})", operand(receiver), list(args)),
            ExprKind::Call { function, args } if function == "concat" => {
                let (axis, nodes) = args.split_last().expect("parsed with an axis");
                write!(f, "concat(({}), {axis})", list(nodes))
            }
            ExprKind::Call { function, args } => write!(f, "{function}({})", list(args)),
            ExprKind::Op { value, .. } => {
                write!(f, "{}", tokens_text(&value.to_token_stream()))
            }
            ExprKind::Slice { inner, .. } => write!(f, "s![{}]", tokens_text(inner)),
            ExprKind::Invalid(_) => write!(f, "{}", tokens_text(&self.tokens)),
        }
    }
}

/// Converts call arguments, dropping a leading `&` (both `a.dot(b)` and `a.dot(&b)` work).
/// Rust tokens as a person writes them (`Pinball::new(0.9)`, `{ tau: 0.9 }`), for docs
/// and messages: `TokenStream`'s own `to_string` spaces every token (`Pinball :: new (0.9)`).
pub(crate) fn tokens_text(tokens: &TokenStream) -> String {
    use proc_macro2::{Delimiter, Spacing, TokenTree};
    let mut out = String::new();
    // Whether the next token goes right after the last one: after a path separator, a
    // `.`, an opening delimiter, a unary `&`/`-`/`!`, or at the start.
    let mut glued = true;
    let mut last_was_term = false;
    // Open turbofish angle brackets (`::<f32>`), whose contents are glued to them.
    let mut generics = 0usize;
    for token in tokens.clone() {
        let (text, glue_before, glue_after, term) = match &token {
            TokenTree::Group(g) => {
                let inner = tokens_text(&g.stream());
                let (text, call) = match g.delimiter() {
                    Delimiter::Parenthesis => (format!("({inner})"), true),
                    Delimiter::Bracket => (format!("[{inner}]"), true),
                    Delimiter::Brace if inner.is_empty() => ("{}".to_string(), false),
                    Delimiter::Brace => (format!("{{ {inner} }}"), false),
                    Delimiter::None => (inner, false),
                };
                // A call's or an index's parentheses follow their callee directly.
                (text, call && last_was_term, false, true)
            }
            TokenTree::Punct(p) => {
                let c = p.as_char();
                let joint = p.spacing() == Spacing::Joint;
                match c {
                    ':' if joint => (":".to_string(), true, true, false),
                    ':' if out.ends_with(':') && glued => (":".to_string(), true, true, false),
                    '<' if out.ends_with("::") && glued => {
                        generics += 1;
                        ("<".to_string(), true, true, false)
                    }
                    '>' if generics > 0 => {
                        generics -= 1;
                        (">".to_string(), true, false, true)
                    }
                    // A field access or method after a term; a range `..` after a comma.
                    '.' => (".".to_string(), last_was_term || glued, true, false),
                    ',' | ';' | ':' => (c.to_string(), true, false, false),
                    '&' | '!' | '-' if !last_was_term => (c.to_string(), false, true, false),
                    _ if joint => (c.to_string(), false, true, false),
                    _ => (c.to_string(), false, false, false),
                }
            }
            TokenTree::Ident(i) => (i.to_string(), false, false, true),
            TokenTree::Literal(l) => (l.to_string(), false, false, true),
        };
        if !out.is_empty() && !glued && !glue_before {
            out.push(' ');
        }
        out.push_str(&text);
        glued = glue_after;
        last_was_term = term;
    }
    out
}

fn convert_args(args: syn::punctuated::Punctuated<syn::Expr, Token![,]>) -> Vec<Expr> {
    args.into_iter()
        .map(|arg| match arg {
            syn::Expr::Reference(r) if r.mutability.is_none() => Expr::from_syn(*r.expr),
            other => Expr::from_syn(other),
        })
        .collect()
}

/// `slice`'s argument: `s![rows, columns]`, written in the call.
fn slice_args(
    method: &Ident,
    args: syn::punctuated::Punctuated<syn::Expr, Token![,]>,
) -> syn::Result<Vec<Expr>> {
    let usage = "`slice` takes `s![rows, columns]`, written in the call: `h.slice(s![.., 0..4])`";
    let mut args = args.into_iter();
    let (Some(arg), None) = (args.next(), args.next()) else {
        return Err(syn::Error::new(method.span(), usage));
    };
    match slice_of(&arg)? {
        Some((inner, axes)) => Ok(vec![Expr {
            kind: ExprKind::Slice { inner, axes },
            tokens: arg.to_token_stream(),
        }]),
        None => Err(syn::Error::new_spanned(arg, usage)),
    }
}

/// The most operands `concat` joins: the library's tuples go to 12.
const CONCAT_MAX: usize = 12;

/// `concat((a, b, ..), axis)`'s arguments, flattened: the tuple's nodes, then the axis.
fn concat_args(
    parens: Span,
    args: syn::punctuated::Punctuated<syn::Expr, Token![,]>,
) -> syn::Result<Vec<Expr>> {
    let usage = "`concat` takes a tuple of 2 to 12 nodes and an axis: `concat((a, b, c), 1)`";
    let mut args = args.into_iter();
    let (Some(first), Some(axis), None) = (args.next(), args.next(), args.next()) else {
        return Err(syn::Error::new(parens, usage));
    };
    let syn::Expr::Tuple(tuple) = first else {
        return Err(syn::Error::new_spanned(first, usage));
    };
    let count = tuple.elems.len();
    if !(2..=CONCAT_MAX).contains(&count) {
        let message = format!("{usage}; this tuple has {count}");
        return Err(syn::Error::new_spanned(tuple, message));
    }
    let mut flat = convert_args(tuple.elems);
    flat.push(Expr::from_syn(axis));
    Ok(flat)
}

/// The error for a call of something other than a bare name: a path to one of the
/// block's functions (`wyrm::concat`) gets told to drop the path.
fn not_a_function_name(callee: &syn::Expr) -> String {
    if let syn::Expr::Path(p) = callee {
        if p.qself.is_none() && p.path.leading_colon.is_none() && p.path.segments.len() == 1 {
            // `concat::<..>(..)`: a name, with type arguments.
            return "type arguments are not supported in a model".to_string();
        }
        if let Some(last) = p.path.segments.last() {
            let name = last.ident.to_string();
            if crate::ops::find_function(&name).is_some() {
                return format!(
                    "write `{name}` without a path: a model knows its functions by their \
                     bare names, and needs no `use` for them"
                );
            }
        }
    }
    "expected a function name such as `sparse_categorical_crossentropy`".to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::parse::testing::{assert_rejected, leaf, node, parse};

    /// Operations and constants read as written in field docs.
    #[test]
    fn displays_rust_tokens_as_written() {
        let model = parse(quote::quote! {
            struct M {
                a = x.map(ops::Pinball::new(0.9)).combine(Scale { k: -2.0, ..Default::default() }, y),
                b = x.apply(Centre).map(Scale(-{1.0 / batch as f32})) * {EPS - 1.0},
                c = x.map(Gen::<f32>::new(&[1.0, 2.0])),
                d = concat((x, &y.tanh(), x + y), Axis(1)),
                e = x.slice(s![.., 0..n;2])
            }
        })
        .unwrap();
        let shown: Vec<String> = (0..5).map(|i| node(&model.items[i]).to_string()).collect();
        assert_eq!(
            shown,
            [
                "x.map(ops::Pinball::new(0.9)).combine(Scale { k: -2.0, ..Default::default() }, y)",
                "x.apply(Centre).map(Scale(-{ 1.0 / batch as f32 })) * {EPS - 1.0}",
                "x.map(Gen::<f32>::new(&[1.0, 2.0]))",
                "concat((x, y.tanh(), x + y), Axis(1))",
                "x.slice(s![.., 0..n; 2])",
            ]
        );
    }

    #[test]
    fn rejects_unsupported_expressions() {
        assert_rejected([
            (
                quote::quote! { struct M { a = b.map(|v| v * 2.0) } },
                "the operation must name its type: a unit struct (`Softsign`)",
            ),
            (
                quote::quote! { struct M { a = b.apply(make_op()) } },
                "the operation must name its type",
            ),
            (
                quote::quote! { struct M { a = b % c } },
                "unsupported operator",
            ),
            (
                quote::quote! { struct M { a = wyrm::nn::losses::huber(b, c, 1.0) } },
                "write `huber` without a path: a model knows its functions by their bare names",
            ),
            (
                quote::quote! { struct M { a = my::loss(b, c) } },
                "expected a function name such as `sparse_categorical_crossentropy`",
            ),
            (
                quote::quote! { struct M { a = concat::<f32>((b, c), 1) } },
                "type arguments are not supported in a model",
            ),
            (
                quote::quote! { struct M { a = ::concat((b, c), 1) } },
                "write `concat` without a path",
            ),
            (
                quote::quote! { struct M { a = b.slice(0..4) } },
                "`slice` takes `s![rows, columns]`, written in the call: `h.slice(s![.., 0..4])`",
            ),
            (
                quote::quote! { struct M { a = b.slice(s![.., 0..4], 1) } },
                "`slice` takes `s![rows, columns]`",
            ),
            (
                quote::quote! { struct M { a = b.slice(s![0..4]) } },
                "a model's `slice` takes two elements, rows and columns",
            ),
            (
                quote::quote! { struct M { a = concat(b, c, 1) } },
                "`concat` takes a tuple of 2 to 12 nodes and an axis: `concat((a, b, c), 1)`",
            ),
            (
                quote::quote! { struct M { a = concat([b, c], 1) } },
                "`concat` takes a tuple of 2 to 12 nodes and an axis",
            ),
            (
                quote::quote! { struct M { a = concat((b,), 1) } },
                "`concat` takes a tuple of 2 to 12 nodes and an axis",
            ),
            (
                quote::quote! { struct M { a = concat((b, b, b, b, b, b, b, b, b, b, b, b, b), 1) } },
                "`concat` takes a tuple of 2 to 12 nodes and an axis: `concat((a, b, c), 1)`; this tuple has 13",
            ),
            (
                quote::quote! { struct M { a = concat((b, c)) } },
                "`concat` takes a tuple of 2 to 12 nodes and an axis",
            ),
            (
                quote::quote! { struct M { a = sparse_categorical_crossentropy_weighted(x, i, [1.0, 2.0]) } },
                "a list of numbers (class weights) is a constant expression in braces",
            ),
            (
                quote::quote! { struct M { a = b[0] } },
                "unsupported expression",
            ),
            (
                quote::quote! { struct M { a = b.f::<u8>() } },
                "type arguments are not supported",
            ),
        ]);
    }

    #[test]
    fn displays_expressions_and_declarations() {
        let model = parse(quote::quote! {
            struct M {
                w: Param<n, 3>,
                a = -(w * 2 + w).dot(&w.t()).square() - 1.5,
                b = sparse_categorical_crossentropy(a, i),
                v: Param<r#type, 2>,
            }
        })
        .unwrap();
        assert_eq!(leaf(&model.items[0]).declared(), "Param<n, 3>");
        // Messages name a raw dimension as Rust does, without its `r#`.
        assert_eq!(leaf(&model.items[3]).declared(), "Param<type, 2>");
        assert_eq!(
            node(&model.items[1]).to_string(),
            "(-((w * 2) + w).dot(w.t()).square()) - 1.5"
        );
        assert_eq!(
            node(&model.items[2]).to_string(),
            "sparse_categorical_crossentropy(a, i)"
        );
    }

    #[test]
    fn numbers_up_to_f32_max_are_kept() {
        let model = parse(quote::quote! {
            struct M { a = w * 3.4e38 - 1e-50, b = w.clip(-3.4028235e38, 1e38) }
        })
        .unwrap();
        match &node(&model.items[0]).kind {
            ExprKind::Binary { lhs, rhs, .. } => {
                match &lhs.kind {
                    ExprKind::Binary { rhs, .. } => {
                        assert!(matches!(&rhs.kind, ExprKind::Scalar(s) if s.value == 3.4e38))
                    }
                    _ => panic!("expected a product"),
                }
                // Too small for `f32` is zero, as in Rust.
                assert!(matches!(&rhs.kind, ExprKind::Scalar(s) if s.value == 0.0));
            }
            _ => panic!("expected a difference"),
        }
    }

    #[test]
    fn scalar_literals_are_f32() {
        let s = Scalar {
            value: 3.0,
            span: Span::call_site(),
            constant: None,
        };
        let k = quote::quote!(::wyrm);
        assert_eq!(s.literal(&k).to_string(), "3.0f32");
        let s = Scalar {
            value: -0.25,
            span: Span::call_site(),
            constant: None,
        };
        assert_eq!(s.literal(&k).to_string(), "- 0.25f32");
        let s = scalar_of(&syn::parse_quote!(-{ 1.0 - EPS })).unwrap();
        assert_eq!(s.literal_value(), None);
        assert_eq!(
            s.literal(&k).to_string(),
            "- :: wyrm :: __private :: Number :: to_f32 (1.0 - EPS)"
        );
        // Parentheses inside the braces go too (rustc's `unused_parens` would flag them).
        let s = scalar_of(&syn::parse_quote!({ (EPS) })).unwrap();
        assert_eq!(
            s.literal(&k).to_string(),
            ":: wyrm :: __private :: Number :: to_f32 (EPS)"
        );
    }
}
