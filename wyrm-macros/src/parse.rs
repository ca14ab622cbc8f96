//! The `model!` syntax: its own small AST and the `Parse` impls that build it.
//!
//! ```text
//! model! {
//!     #[attrs] vis struct Name {
//!         #[attrs] name: Param<R, C> [= zeros | ones | xavier | normal(mean, std)],
//!         #[attrs] name: Input<R, C>,
//!         #[attrs] name: Index<K>,
//!         #[attrs] name = expression,
//!     }
//! }
//! ```
//!
//! Expressions are parsed with `syn` (so precedence is Rust's) and then converted into
//! [`Expr`], which holds only what the macro supports.

use proc_macro2::{Span, TokenStream};
use quote::{quote, ToTokens};
use syn::ext::IdentExt;
use syn::parse::{Parse, ParseStream};
use syn::{braced, parenthesized, Attribute, Ident, LitFloat, LitInt, Token, Visibility};

/// The name under which the model's names are compared: `r#w` and `w` are the same name
/// in Rust (the same field, the same variable), so they must be the same name here too.
pub fn key(ident: &Ident) -> String {
    ident.unraw().to_string()
}

/// The whole macro input: one model struct.
pub struct Model {
    /// The path of the runtime crate that the generated code names: `$crate` as passed by
    /// the `wyrm::model!` wrapper (so a renamed dependency works), else `::wyrm`.
    pub krate: TokenStream,
    /// `#[static_shapes]`: literal dimensions become typenum (compile-time) dimensions.
    pub static_shapes: bool,
    pub attrs: Vec<Attribute>,
    pub vis: Visibility,
    pub name: Ident,
    pub items: Vec<Item>,
}

/// One line of the model: a leaf declaration or a node definition.
pub struct Item {
    pub attrs: Vec<Attribute>,
    pub name: Ident,
    pub kind: ItemKind,
}

/// What an item declares.
pub enum ItemKind {
    /// `name: Param<..>`, `name: Input<..>` or `name: Index<..>`.
    Leaf(Leaf),
    /// `name = expression`.
    Node(Expr),
}

/// The kinds of leaves.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LeafKind {
    Param,
    Input,
    Index,
}

impl LeafKind {
    /// How many dimensions the kind takes.
    pub fn arity(self) -> usize {
        match self {
            LeafKind::Param | LeafKind::Input => 2,
            LeafKind::Index => 1,
        }
    }

    /// The keyword, as written.
    pub fn keyword(self) -> &'static str {
        match self {
            LeafKind::Param => "Param",
            LeafKind::Input => "Input",
            LeafKind::Index => "Index",
        }
    }
}

/// A declared leaf.
pub struct Leaf {
    pub kind: LeafKind,
    /// The `Param`/`Input`/`Index` keyword (for spans).
    pub keyword: Ident,
    pub dims: Vec<Dim>,
    /// The tokens `Kind<..>`, for errors about the dimensions as a whole.
    pub dims_tokens: TokenStream,
    pub init: Option<Init>,
}

impl Leaf {
    /// The declaration as the user wrote it, normalised: `Param<num_items, 32>`.
    pub fn declared(&self) -> String {
        let dims: Vec<String> = self.dims.iter().map(Dim::text).collect();
        format!("{}<{}>", self.kind.keyword(), dims.join(", "))
    }
}

/// A dimension: a literal size, a name that becomes a constructor argument, or a
/// constant `usize` expression in braces (`{HIDDEN}`).
#[derive(Clone)]
pub enum Dim {
    Lit(usize, Span),
    Name(Ident),
    Const(Box<syn::Expr>),
}

impl Dim {
    /// The dimension as written, normalised (`32`, `num_items`, `{HIDDEN}`).
    pub fn text(&self) -> String {
        match self {
            Dim::Lit(n, _) => n.to_string(),
            Dim::Name(n) => n.to_string(),
            Dim::Const(e) => format!("{{{}}}", e.to_token_stream()),
        }
    }
}

/// A parameter initialiser.
pub enum Init {
    Zeros(Ident),
    Ones(Ident),
    Xavier(Ident),
    Normal {
        keyword: Ident,
        mean: Scalar,
        std: Scalar,
    },
}

impl Init {
    /// The keyword's token.
    pub fn keyword(&self) -> &Ident {
        match self {
            Init::Zeros(k) | Init::Ones(k) | Init::Xavier(k) => k,
            Init::Normal { keyword, .. } => keyword,
        }
    }
}

/// A numeric literal (possibly negated), as an `f32`: infinite when the number is out of
/// range, an error that `check` reports.
#[derive(Clone, Copy)]
pub struct Scalar {
    pub value: f32,
    pub span: Span,
}

/// Binary operators.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BinOp {
    Add,
    Sub,
    Mul,
    Div,
}

impl BinOp {
    /// The verb used in shape error messages.
    pub fn verb(self) -> &'static str {
        match self {
            BinOp::Add => "add",
            BinOp::Sub => "subtract",
            BinOp::Mul => "multiply",
            BinOp::Div => "divide",
        }
    }
}

/// An expression of the model language.
pub struct Expr {
    pub kind: ExprKind,
    /// The user's tokens for the whole expression, for spanned errors.
    pub tokens: TokenStream,
}

/// The forms an expression can take.
pub enum ExprKind {
    /// A declared or defined name.
    Name(Ident),
    /// A numeric literal (only as an operand of `+ - * /`, or a method's `f32` argument).
    Scalar(Scalar),
    /// `lhs op rhs`.
    Binary {
        op: BinOp,
        op_span: Span,
        lhs: Box<Expr>,
        rhs: Box<Expr>,
    },
    /// `-operand`.
    Neg { span: Span, operand: Box<Expr> },
    /// `receiver.method(args)`; `&` on arguments is dropped.
    Method {
        receiver: Box<Expr>,
        method: Ident,
        args: Vec<Expr>,
    },
    /// `function(args)`.
    Call { function: Ident, args: Vec<Expr> },
}

impl Model {
    /// The run-time dimension names, unraw-distinct, in order of first appearance; a name
    /// that is also an item's is left out (`check` reports it), here and in the error
    /// stand-in alike.
    pub fn run_time_dims(&self) -> Vec<Ident> {
        let items: Vec<String> = self.items.iter().map(|item| key(&item.name)).collect();
        let mut dims: Vec<Ident> = Vec::new();
        for item in &self.items {
            let ItemKind::Leaf(leaf) = &item.kind else {
                continue;
            };
            for dim in &leaf.dims {
                if let Dim::Name(ident) = dim {
                    let name = key(ident);
                    if !items.contains(&name) && !dims.iter().any(|d| key(d) == name) {
                        dims.push(ident.clone());
                    }
                }
            }
        }
        dims
    }
}

impl Parse for Model {
    fn parse(input: ParseStream) -> syn::Result<Self> {
        // `wyrm::model!` forwards to this macro as `$crate; <the user's tokens>`. A user
        // cannot write the identifier `$crate`, so its presence is an unambiguous marker;
        // without it (this crate used directly), the runtime crate is `::wyrm`.
        let krate = match input.cursor().ident() {
            Some((ident, rest))
                if ident == "$crate" && rest.punct().is_some_and(|(p, _)| p.as_char() == ';') =>
            {
                let ident = input.call(Ident::parse_any)?;
                input.parse::<Token![;]>()?;
                ident.to_token_stream()
            }
            _ => quote!(::wyrm),
        };
        let mut attrs = input.call(Attribute::parse_outer)?;
        let mut static_shapes = false;
        for attr in attrs.iter().filter(|a| a.path().is_ident("static_shapes")) {
            attr.meta.require_path_only()?;
            static_shapes = true;
        }
        attrs.retain(|a| !a.path().is_ident("static_shapes"));
        let vis: Visibility = input.parse()?;
        input.parse::<Token![struct]>()?;
        let name: Ident = input.parse()?;
        let content;
        braced!(content in input);
        let mut items = Vec::new();
        while !content.is_empty() {
            items.push(content.parse()?);
            if content.is_empty() {
                break;
            }
            content.parse::<Token![,]>()?;
        }
        if !input.is_empty() {
            return Err(input.error("unexpected tokens after the model struct"));
        }
        Ok(Model {
            krate,
            static_shapes,
            attrs,
            vis,
            name,
            items,
        })
    }
}

impl Parse for Item {
    fn parse(input: ParseStream) -> syn::Result<Self> {
        let attrs = input.call(Attribute::parse_outer)?;
        let name: Ident = input.parse()?;
        let lookahead = input.lookahead1();
        let kind = if lookahead.peek(Token![:]) {
            input.parse::<Token![:]>()?;
            ItemKind::Leaf(input.parse()?)
        } else if lookahead.peek(Token![=]) {
            input.parse::<Token![=]>()?;
            let expr: syn::Expr = input.parse()?;
            ItemKind::Node(Expr::from_syn(expr)?)
        } else {
            return Err(lookahead.error());
        };
        Ok(Item { attrs, name, kind })
    }
}

impl Parse for Leaf {
    fn parse(input: ParseStream) -> syn::Result<Self> {
        let keyword: Ident = input.parse()?;
        let kind = match keyword.to_string().as_str() {
            "Param" => LeafKind::Param,
            "Input" => LeafKind::Input,
            "Index" => LeafKind::Index,
            other => {
                return Err(syn::Error::new(
                    keyword.span(),
                    format!("unknown declaration `{other}`: expected `Param<R, C>`, `Input<R, C>` or `Index<K>`"),
                ))
            }
        };
        let mut dims_tokens = keyword.to_token_stream();
        let open: Token![<] = input.parse()?;
        open.to_tokens(&mut dims_tokens);
        let mut dims = Vec::new();
        loop {
            if input.peek(Token![>]) {
                break;
            }
            let dim: Dim = input.parse()?;
            dim.to_tokens(&mut dims_tokens);
            dims.push(dim);
            if input.peek(Token![,]) {
                input.parse::<Token![,]>()?.to_tokens(&mut dims_tokens);
            } else if !input.peek(Token![>]) {
                return Err(input.error("expected `,` or `>` after a dimension"));
            }
        }
        input.parse::<Token![>]>()?.to_tokens(&mut dims_tokens);
        let init = if input.peek(Token![=]) {
            let eq: Token![=] = input.parse()?;
            if kind != LeafKind::Param {
                return Err(syn::Error::new(
                    eq.span,
                    format!(
                        "only parameters take an initialiser; `{}` values are set with `set_value`",
                        kind.keyword()
                    ),
                ));
            }
            Some(input.parse()?)
        } else {
            None
        };
        Ok(Leaf {
            kind,
            keyword,
            dims,
            dims_tokens,
            init,
        })
    }
}

impl Parse for Dim {
    fn parse(input: ParseStream) -> syn::Result<Self> {
        let lookahead = input.lookahead1();
        if lookahead.peek(LitInt) {
            let lit: LitInt = input.parse()?;
            // Signed, so that `-1` gets the message below rather than "invalid digit".
            let n: i128 = lit.base10_parse()?;
            if n < 1 {
                return Err(syn::Error::new(
                    lit.span(),
                    "a dimension must be at least 1",
                ));
            }
            let n = usize::try_from(n)
                .map_err(|_| syn::Error::new(lit.span(), "a dimension must fit in a `usize`"))?;
            Ok(Dim::Lit(n, lit.span()))
        } else if lookahead.peek(Ident) {
            Ok(Dim::Name(input.parse()?))
        } else if lookahead.peek(syn::token::Brace) {
            let content;
            braced!(content in input);
            Ok(Dim::Const(Box::new(content.parse()?)))
        } else {
            Err(lookahead.error())
        }
    }
}

impl ToTokens for Dim {
    fn to_tokens(&self, tokens: &mut TokenStream) {
        match self {
            Dim::Lit(n, span) => LitInt::new(&n.to_string(), *span).to_tokens(tokens),
            Dim::Name(ident) => ident.to_tokens(tokens),
            Dim::Const(expr) => {
                syn::token::Brace::default().surround(tokens, |t| expr.to_tokens(t))
            }
        }
    }
}

impl Parse for Init {
    fn parse(input: ParseStream) -> syn::Result<Self> {
        let keyword: Ident = input.parse()?;
        match keyword.to_string().as_str() {
            "zeros" => Ok(Init::Zeros(keyword)),
            "ones" => Ok(Init::Ones(keyword)),
            "xavier" => Ok(Init::Xavier(keyword)),
            "normal" => {
                let content;
                let parens = parenthesized!(content in input);
                let args = content.parse_terminated(syn::Expr::parse, Token![,])?;
                if args.len() != 2 {
                    return Err(syn::Error::new(
                        parens.span.join(),
                        format!("`normal` takes 2 arguments (mean, std), found {}", args.len()),
                    ));
                }
                let mut args = args.into_iter().map(|a| scalar_of(&a));
                let mean = args.next().expect("two arguments")?;
                let std = args.next().expect("two arguments")?;
                if std.value < 0.0 {
                    return Err(syn::Error::new(
                        std.span,
                        "the standard deviation of `normal` must not be negative",
                    ));
                }
                Ok(Init::Normal { keyword, mean, std })
            }
            other => Err(syn::Error::new(
                keyword.span(),
                format!(
                    "unknown initialiser `{other}`: expected `zeros`, `ones`, `xavier` or `normal(mean, std)`"
                ),
            )),
        }
    }
}

/// A numeric literal, optionally negated, as a [`Scalar`].
fn scalar_of(expr: &syn::Expr) -> syn::Result<Scalar> {
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
            })
        }
        syn::Expr::Unary(syn::ExprUnary {
            op: syn::UnOp::Neg(_),
            expr,
            ..
        }) => {
            let inner = scalar_of(expr)?;
            Ok(Scalar {
                value: -inner.value,
                span: inner.span,
            })
        }
        syn::Expr::Paren(p) => scalar_of(&p.expr),
        syn::Expr::Group(g) => scalar_of(&g.expr),
        other => Err(syn::Error::new_spanned(other, "expected a number")),
    }
}

impl Scalar {
    /// The value as `f32` literal tokens with the user's span (a negative value is `-x`,
    /// since a literal token cannot carry the sign). The value is finite: `check` rejects
    /// the rest before expansion.
    pub fn literal(&self) -> TokenStream {
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
    /// Converts a `syn` expression, rejecting what the model language does not support.
    pub fn from_syn(expr: syn::Expr) -> syn::Result<Expr> {
        let tokens = expr.to_token_stream();
        let kind = match expr {
            syn::Expr::Path(p) if p.qself.is_none() && p.path.get_ident().is_some() => {
                ExprKind::Name(p.path.get_ident().expect("checked").clone())
            }
            syn::Expr::Lit(_) => ExprKind::Scalar(scalar_of(&expr)?),
            syn::Expr::Paren(p) => return Expr::from_syn(*p.expr),
            syn::Expr::Group(g) => return Expr::from_syn(*g.expr),
            syn::Expr::Unary(syn::ExprUnary {
                op: syn::UnOp::Neg(minus),
                expr: operand,
                ..
            }) => {
                let operand = Expr::from_syn(*operand)?;
                match operand.kind {
                    ExprKind::Scalar(s) => ExprKind::Scalar(Scalar {
                        value: -s.value,
                        span: s.span,
                    }),
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
                    lhs: Box::new(Expr::from_syn(*b.left)?),
                    rhs: Box::new(Expr::from_syn(*b.right)?),
                }
            }
            syn::Expr::MethodCall(m) => {
                if let Some(turbofish) = &m.turbofish {
                    return Err(syn::Error::new_spanned(
                        turbofish,
                        "type arguments are not supported in a model",
                    ));
                }
                ExprKind::Method {
                    receiver: Box::new(Expr::from_syn(*m.receiver)?),
                    method: m.method,
                    args: convert_args(m.args)?,
                }
            }
            syn::Expr::Call(c) => {
                let function =
                    match &*c.func {
                        syn::Expr::Path(p) if p.qself.is_none() && p.path.get_ident().is_some() => {
                            p.path.get_ident().expect("checked").clone()
                        }
                        other => return Err(syn::Error::new_spanned(
                            other,
                            "expected a function name such as `sparse_categorical_crossentropy`",
                        )),
                    };
                ExprKind::Call {
                    function,
                    args: convert_args(c.args)?,
                }
            }
            other => {
                return Err(syn::Error::new_spanned(
                    other,
                    "unsupported expression: a model expression combines names and numbers \
                     with `+ - * /`, unary `-`, methods such as `.dot(b)`, and \
                     `sparse_categorical_crossentropy(a, b)`",
                ))
            }
        };
        Ok(Expr { kind, tokens })
    }

    /// The span of the expression's first token.
    pub fn span(&self) -> Span {
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
            ExprKind::Scalar(s) => write!(f, "{:?}", s.value),
            ExprKind::Neg { operand: o, .. } => write!(f, "-{}", operand(o)),
            ExprKind::Binary { op, lhs, rhs, .. } => {
                let symbol = match op {
                    BinOp::Add => "+",
                    BinOp::Sub => "-",
                    BinOp::Mul => "*",
                    BinOp::Div => "/",
                };
                write!(f, "{} {symbol} {}", operand(lhs), operand(rhs))
            }
            ExprKind::Method {
                receiver,
                method,
                args,
            } => write!(f, "{}.{method}({})", operand(receiver), list(args)),
            ExprKind::Call { function, args } => write!(f, "{function}({})", list(args)),
        }
    }
}

/// Converts call arguments, dropping a leading `&` (both `a.dot(b)` and `a.dot(&b)` work).
fn convert_args(args: syn::punctuated::Punctuated<syn::Expr, Token![,]>) -> syn::Result<Vec<Expr>> {
    args.into_iter()
        .map(|arg| match arg {
            syn::Expr::Reference(r) if r.mutability.is_none() => Expr::from_syn(*r.expr),
            other => Expr::from_syn(other),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(tokens: TokenStream) -> syn::Result<Model> {
        syn::parse2(tokens)
    }

    fn leaf(item: &Item) -> &Leaf {
        match &item.kind {
            ItemKind::Leaf(l) => l,
            ItemKind::Node(_) => panic!("expected a leaf"),
        }
    }

    fn node(item: &Item) -> &Expr {
        match &item.kind {
            ItemKind::Node(e) => e,
            ItemKind::Leaf(_) => panic!("expected a node"),
        }
    }

    #[test]
    fn parses_linear_regression() {
        let model = parse(quote::quote! {
            /// Docs.
            pub struct LinearRegression {
                slope: Param<1, 1>,
                intercept: Param<1, 1> = zeros,
                x: Input<1, 1>,
                y: Input<1, 1>,
                yhat = slope * x + intercept,
                loss = (y - yhat).square(),
            }
        })
        .unwrap();
        assert_eq!(model.name, "LinearRegression");
        assert_eq!(model.attrs.len(), 1);
        assert!(matches!(model.vis, Visibility::Public(_)));
        let names: Vec<String> = model.items.iter().map(|i| i.name.to_string()).collect();
        assert_eq!(names, ["slope", "intercept", "x", "y", "yhat", "loss"]);
        assert_eq!(leaf(&model.items[0]).kind, LeafKind::Param);
        assert!(leaf(&model.items[0]).init.is_none());
        assert!(matches!(leaf(&model.items[1]).init, Some(Init::Zeros(_))));
        assert_eq!(leaf(&model.items[2]).kind, LeafKind::Input);
        // `slope * x + intercept` is `(slope * x) + intercept`.
        match &node(&model.items[4]).kind {
            ExprKind::Binary {
                op: BinOp::Add,
                lhs,
                rhs,
                ..
            } => {
                assert!(matches!(lhs.kind, ExprKind::Binary { op: BinOp::Mul, .. }));
                assert!(matches!(&rhs.kind, ExprKind::Name(n) if n == "intercept"));
            }
            _ => panic!("expected an addition"),
        }
        match &node(&model.items[5]).kind {
            ExprKind::Method {
                receiver,
                method,
                args,
            } => {
                assert_eq!(method, "square");
                assert!(args.is_empty());
                assert!(matches!(
                    receiver.kind,
                    ExprKind::Binary { op: BinOp::Sub, .. }
                ));
            }
            _ => panic!("expected a method call"),
        }
    }

    #[test]
    fn parses_dims_inits_and_references() {
        let model = parse(quote::quote! {
            struct Mf {
                users: Param<num_users, 32> = normal(0, -0.5 * 0),
            }
        });
        // `normal`'s arguments must be plain numbers.
        assert!(model.is_err());

        let model = parse(quote::quote! {
            struct Mf {
                users: Param<num_users, 32> = normal(0, 0.1),
                items: Param<num_items, 32> = xavier,
                u: Index<1>,
                i: Index<1>,
                pred = users.index(u).vector_dot(&items.index(&i)),
                scaled = -2 * pred + 1.5,
            }
        })
        .unwrap();
        let users = leaf(&model.items[0]);
        assert!(matches!(&users.dims[0], Dim::Name(n) if n == "num_users"));
        assert!(matches!(users.dims[1], Dim::Lit(32, _)));
        let consts = parse(quote::quote! {
            struct M { w: Param<{ HIDDEN * 2 }, 1> }
        })
        .unwrap();
        let w = leaf(&consts.items[0]);
        assert!(matches!(&w.dims[0], Dim::Const(_)));
        assert_eq!(w.declared(), "Param<{HIDDEN * 2}, 1>");
        match &users.init {
            Some(Init::Normal { mean, std, .. }) => {
                assert_eq!(mean.value, 0.0);
                assert_eq!(std.value, 0.1);
            }
            _ => panic!("expected normal"),
        }
        assert_eq!(leaf(&model.items[2]).kind, LeafKind::Index);
        assert_eq!(leaf(&model.items[2]).dims.len(), 1);
        match &node(&model.items[4]).kind {
            ExprKind::Method { method, args, .. } => {
                assert_eq!(method, "vector_dot");
                // The `&` is dropped.
                assert!(matches!(args[0].kind, ExprKind::Method { .. }));
            }
            _ => panic!("expected a method call"),
        }
        match &node(&model.items[5]).kind {
            ExprKind::Binary { lhs, .. } => match &lhs.kind {
                ExprKind::Binary { lhs, .. } => {
                    assert!(matches!(lhs.kind, ExprKind::Scalar(s) if s.value == -2.0))
                }
                _ => panic!("expected a product"),
            },
            _ => panic!("expected a sum"),
        }
    }

    #[test]
    fn parses_calls_and_trailing_comma_free_end() {
        let model = parse(quote::quote! {
            struct Classifier {
                w: Param<4, 3>,
                x: Input<1, 4>,
                target: Index<1>,
                loss = sparse_categorical_crossentropy(x.dot(w), target)
            }
        })
        .unwrap();
        match &node(&model.items[3]).kind {
            ExprKind::Call { function, args } => {
                assert_eq!(function, "sparse_categorical_crossentropy");
                assert_eq!(args.len(), 2);
            }
            _ => panic!("expected a call"),
        }
    }

    #[test]
    fn static_shapes_attribute_is_taken_out() {
        let model = parse(quote::quote! {
            /// Docs.
            #[static_shapes]
            struct M { w: Param<1, 1> }
        })
        .unwrap();
        assert!(model.static_shapes);
        assert_eq!(model.attrs.len(), 1);
        let model = parse(quote::quote! { struct M { w: Param<1, 1> } }).unwrap();
        assert!(!model.static_shapes);
        assert!(parse(quote::quote! { #[static_shapes(yes)] struct M {} }).is_err());
    }

    #[test]
    fn keeps_any_number_of_dims_for_the_checker() {
        let model = parse(quote::quote! {
            struct M { w: Param<1, 2, 3>, i: Index<> }
        })
        .unwrap();
        assert_eq!(leaf(&model.items[0]).dims.len(), 3);
        assert_eq!(leaf(&model.items[1]).dims.len(), 0);
    }

    #[test]
    fn rejects_malformed_input() {
        let cases = [
            (
                quote::quote! { struct M { w: Weight<1, 1> } },
                "unknown declaration `Weight`",
            ),
            (
                quote::quote! { struct M { w: Param<1, 1> = uniform } },
                "unknown initialiser `uniform`",
            ),
            (
                quote::quote! { struct M { x: Input<1, 1> = zeros } },
                "only parameters take an initialiser",
            ),
            (
                quote::quote! { struct M { w: Param<0, 1> } },
                "a dimension must be at least 1",
            ),
            (
                quote::quote! { struct M { w: Param<-1, 2> } },
                "a dimension must be at least 1",
            ),
            (
                quote::quote! { struct M { a = b % c } },
                "unsupported operator",
            ),
            (
                quote::quote! { struct M { a = b[0] } },
                "unsupported expression",
            ),
            (
                quote::quote! { struct M { w: Param<1, 1> = normal(1.0) } },
                "`normal` takes 2 arguments",
            ),
            (
                quote::quote! { struct M { a = b.f::<u8>() } },
                "type arguments are not supported",
            ),
        ];
        for (tokens, expected) in cases {
            let message = match parse(tokens) {
                Ok(_) => panic!("expected an error containing {expected:?}"),
                Err(e) => e.to_string(),
            };
            assert!(
                message.contains(expected),
                "{message:?} does not contain {expected:?}"
            );
        }
    }

    #[test]
    fn displays_expressions_and_declarations() {
        let model = parse(quote::quote! {
            struct M {
                w: Param<n, 3>,
                a = -(w * 2 + w).dot(&w.t()).square() - 1.5,
                b = sparse_categorical_crossentropy(a, i),
            }
        })
        .unwrap();
        assert_eq!(leaf(&model.items[0]).declared(), "Param<n, 3>");
        assert_eq!(
            node(&model.items[1]).to_string(),
            "(-((w * 2.0) + w).dot(w.t()).square()) - 1.5"
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
                        assert!(matches!(rhs.kind, ExprKind::Scalar(s) if s.value == 3.4e38))
                    }
                    _ => panic!("expected a product"),
                }
                // Too small for `f32` is zero, as in Rust.
                assert!(matches!(rhs.kind, ExprKind::Scalar(s) if s.value == 0.0));
            }
            _ => panic!("expected a difference"),
        }
    }

    #[test]
    fn scalar_literals_are_f32() {
        let s = Scalar {
            value: 3.0,
            span: Span::call_site(),
        };
        assert_eq!(s.literal().to_string(), "3.0f32");
        let s = Scalar {
            value: -0.25,
            span: Span::call_site(),
        };
        assert_eq!(s.literal().to_string(), "- 0.25f32");
    }
}
