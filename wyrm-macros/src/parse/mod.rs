//! The `model!` syntax: its own small AST and the `Parse` impls that build it.
//!
//! ```text
//! model! {
//!     #[attrs] vis struct Name {
//!         #[attrs] name: Param<R, C> [= zeros | ones | xavier | normal(mean, std)],
//!         #[attrs] name: Input<R, C>,
//!         #[attrs] name: Index<K>,
//!         #[attrs] name: Bags<B>,
//!         #[attrs] name: Training,
//!         #[attrs] name = expression,
//!     }
//! }
//! ```
//!
//! Expressions are parsed with `syn` (so precedence is Rust's) and then converted into
//! [`Expr`], which holds only what the macro supports.
//!
//! Each part of the syntax is parsed where its types are: this file the model and its
//! items, `leaf` the leaf declarations (dimensions and initialisers), `expr` the
//! expressions and the numbers in them.

mod expr;
mod leaf;
mod slice;
#[cfg(test)]
mod testing;

pub(crate) use expr::{BinOp, Expr, ExprKind, Scalar};
pub(crate) use leaf::{edit_distance, Dim, Init, Leaf, LeafKind};
pub(crate) use slice::SliceAxis;

use proc_macro2::TokenStream;
use quote::{quote, ToTokens};
use syn::ext::IdentExt;
use syn::parse::{Parse, ParseStream};
use syn::{braced, Attribute, Ident, Token, Visibility};

/// The name under which the model's names are compared: `r#w` and `w` are the same name
/// in Rust (the same field, the same variable), so they must be the same name here too.
pub(crate) fn key(ident: &Ident) -> String {
    ident.unraw().to_string()
}

/// The whole macro input: one model struct.
pub(crate) struct Model {
    /// The path of the runtime crate that the generated code names: `$crate` as passed by
    /// the `wyrm::model!` wrapper (so a renamed dependency works), else `::wyrm`.
    pub(crate) krate: TokenStream,
    /// `#[static_shapes]`: literal dimensions become typenum (compile-time) dimensions.
    pub(crate) static_shapes: bool,
    /// The struct's attributes (`#[static_shapes]` taken out), for the generated struct.
    pub(crate) attrs: Vec<Attribute>,
    /// The struct's visibility, which the companion struct shares.
    pub(crate) vis: Visibility,
    /// The struct's name.
    pub(crate) name: Ident,
    /// The leaves and nodes, in the order written (a definition uses only those above).
    pub(crate) items: Vec<Item>,
}

/// One line of the model: a leaf declaration or a node definition.
pub(crate) struct Item {
    /// The item's attributes, which go to its field.
    pub(crate) attrs: Vec<Attribute>,
    /// The name: the field's, and the local variable's in the generated code.
    pub(crate) name: Ident,
    /// What the item declares.
    pub(crate) kind: ItemKind,
}

/// What an item declares.
pub(crate) enum ItemKind {
    /// `name: Param<..>`, `name: Input<..>` or `name: Index<..>`.
    Leaf(Leaf),
    /// `name = expression`.
    Node(Expr),
}

impl Model {
    /// The mistakes found while parsing that did not stop it (see `Leaf::errors` and
    /// `ExprKind::Invalid`).
    pub(crate) fn parse_errors(&self) -> impl Iterator<Item = &syn::Error> {
        self.items.iter().flat_map(|item| match &item.kind {
            ItemKind::Leaf(leaf) => leaf.errors.iter().collect(),
            ItemKind::Node(expr) => expr.errors(),
        })
    }

    /// The run-time dimension names, unraw-distinct, in order of first appearance; a name
    /// that is also an item's is left out (`check` reports it), here and in the error
    /// stand-in's companion alike.
    pub(crate) fn run_time_dims(&self) -> Vec<Ident> {
        let items: Vec<String> = self.items.iter().map(|item| key(&item.name)).collect();
        self.dimension_names()
            .into_iter()
            .filter(|d| !items.contains(&key(d)))
            .collect()
    }

    /// Every distinct dimension name, in order of first use, those named like an item
    /// included: what the user means the constructors to take, which the stand-in of a
    /// block with errors (one of which is that clash) takes too. A `Training` item's
    /// (which takes none, so they are an error) are not meant for the constructors.
    pub(crate) fn dimension_names(&self) -> Vec<Ident> {
        let mut dims: Vec<Ident> = Vec::new();
        for item in &self.items {
            let ItemKind::Leaf(leaf) = &item.kind else {
                continue;
            };
            if leaf.kind == LeafKind::Training {
                continue;
            }
            for dim in &leaf.dims {
                if let Dim::Name(ident) = dim {
                    let name = key(ident);
                    if !dims.iter().any(|d| key(d) == name) {
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
        let mut attrs = input.call(Attribute::parse_outer)?;
        let name: Ident = input.parse()?;
        let lookahead = input.lookahead1();
        let mut kind = if lookahead.peek(Token![:]) {
            input.parse::<Token![:]>()?;
            ItemKind::Leaf(input.parse()?)
        } else if lookahead.peek(Token![=]) {
            input.parse::<Token![=]>()?;
            let expr: syn::Expr = input.parse()?;
            ItemKind::Node(Expr::from_syn(expr))
        } else {
            return Err(lookahead.error());
        };
        take_gradient_attribute(&mut attrs, &mut kind);
        Ok(Item { attrs, name, kind })
    }
}

/// Takes `#[gradient]` out of an item's attributes: on an `Input` it makes the input
/// record its gradient; anywhere else, or with arguments, it is an error at the attribute,
/// kept with the item (with a leaf's errors, or as a node's expression) so that the
/// block's other errors still show.
fn take_gradient_attribute(attrs: &mut Vec<Attribute>, kind: &mut ItemKind) {
    let Some(at) = attrs.iter().position(|a| a.path().is_ident("gradient")) else {
        return;
    };
    let attr = attrs.remove(at);
    let misplaced = |what: &str| {
        syn::Error::new_spanned(
            &attr,
            format!(
                "`#[gradient]` applies to `Input` declarations (an input that records its \
                 gradient, for saliency or adversarial examples); {what}"
            ),
        )
    };
    let leaf = match kind {
        ItemKind::Leaf(leaf) => leaf,
        ItemKind::Node(expr) => {
            let error =
                misplaced("a node's gradient is not kept: read an input's or a parameter's");
            let tokens = std::mem::take(&mut expr.tokens);
            *expr = Expr {
                kind: ExprKind::Invalid(error),
                tokens,
            };
            return;
        }
    };
    let error = match leaf.kind {
        _ if !matches!(attr.meta, syn::Meta::Path(_)) => Some(syn::Error::new_spanned(
            &attr,
            "`#[gradient]` takes no arguments",
        )),
        LeafKind::Input => None,
        LeafKind::Param => Some(misplaced("a `Param` records its gradient already")),
        LeafKind::Index | LeafKind::Bags | LeafKind::Training => {
            Some(misplaced("ids and flags have no gradient"))
        }
    };
    match error {
        Some(error) => leaf.errors.push(error),
        None => leaf.gradient = true,
    }
    if let Some(again) = attrs.iter().find(|a| a.path().is_ident("gradient")) {
        leaf.errors.push(syn::Error::new_spanned(
            again,
            "`#[gradient]` is given twice",
        ));
    }
}

#[cfg(test)]
mod tests {
    use super::testing::{leaf, node, parse};
    use super::*;

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
        })
        .unwrap();
        // `normal`'s arguments must be plain numbers.
        let errors: Vec<String> = model.parse_errors().map(|e| e.to_string()).collect();
        assert_eq!(errors.len(), 1, "{errors:?}");

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
                    assert!(matches!(&lhs.kind, ExprKind::Scalar(s) if s.value == -2.0))
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
}
