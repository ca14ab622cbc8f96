//! The leaves in generated code: their node types (typenum-shaped under
//! `#[static_shapes]`), their dimensions as values, and the code building fresh ones.

use crate::parse::{key, Dim, Init, Leaf, LeafKind, Scalar};
use proc_macro2::{Group, Spacing, Span, TokenStream, TokenTree};
use quote::{format_ident, quote, quote_spanned, ToTokens};
use syn::Ident;

/// The name of the generator argument of `new_with_rng`.
pub(super) fn rng_ident() -> Ident {
    Ident::new("__wyrm_rng", proc_macro2::Span::call_site())
}

/// The typenum dimensions `<R, C>` of a parameter or input, when the model asks for static
/// shapes and both dimensions are literals.
pub(super) fn static_dims(k: &TokenStream, leaf: &Leaf, statics: bool) -> Option<TokenStream> {
    if !statics || matches!(leaf.kind, LeafKind::Index | LeafKind::Bags) {
        return None;
    }
    match leaf.dims.as_slice() {
        [Dim::Lit(r, _), Dim::Lit(c, _)] => {
            let (r, c) = (typenum(k, *r), typenum(k, *c));
            Some(quote!(<#r, #c>))
        }
        _ => None,
    }
}

/// The typenum type of `n`: `U7` up to 1024, else spelled out in binary.
fn typenum(k: &TokenStream, n: usize) -> TokenStream {
    if n <= 1024 {
        let name = format_ident!("U{}", n);
        return quote!(#k::typenum::#name);
    }
    let mut ty = quote!(#k::typenum::UTerm);
    for bit in (0..usize::BITS - n.leading_zeros()).rev() {
        let b = if (n >> bit) & 1 == 1 {
            quote!(#k::typenum::B1)
        } else {
            quote!(#k::typenum::B0)
        };
        ty = quote!(#k::typenum::UInt<#ty, #b>);
    }
    ty
}

/// The node type of a leaf: run-time shaped, or static under `#[static_shapes]` (for a
/// `Training` flag, which is no node, the flag's type).
pub(super) fn leaf_type(k: &TokenStream, leaf: &Leaf, statics: bool) -> TokenStream {
    let span = leaf.keyword.span();
    let dims = static_dims(k, leaf, statics).unwrap_or_default();
    match leaf.kind {
        LeafKind::Param => quote_spanned!(span=> #k::ParameterNode #dims),
        LeafKind::Input => quote_spanned!(span=> #k::InputNode #dims),
        LeafKind::Index => quote_spanned!(span=> #k::nodes::IndexInputNode),
        LeafKind::Bags => quote_spanned!(span=> #k::nodes::BagsInputNode),
        LeafKind::Training => quote_spanned!(span=> #k::TrainingFlag),
    }
}

/// The type of a leaf's field: a variable over its node, or the flag itself.
pub(super) fn field_type(k: &TokenStream, leaf: &Leaf, statics: bool) -> TokenStream {
    let ty = leaf_type(k, leaf, statics);
    match leaf.kind {
        LeafKind::Training => ty,
        _ => quote!(#k::Variable<#ty>),
    }
}

/// A dimension of a leaf as a `usize` expression (a literal, a constant, or the local
/// that holds a run-time dimension: see [`dim_local`]); `dims` are the model's run-time
/// dimensions.
pub(super) fn dim_tokens(leaf: &Leaf, k: usize, dims: &[Ident]) -> TokenStream {
    match leaf.dims.get(k) {
        Some(Dim::Lit(n, span)) => {
            let lit = syn::LitInt::new(&format!("{n}usize"), *span);
            quote!(#lit)
        }
        Some(Dim::Name(ident)) => {
            let local = dim_local(ident);
            quote!(#local)
        }
        Some(Dim::Const(expr)) => with_dim_locals(expr.to_token_stream(), dims),
        None => quote!(1usize),
    }
}

/// A number's `f32` tokens (see `Scalar::literal`), with the run-time dimensions in a
/// constant expression read from their locals, so that `{1.0 / batch}` computes from the
/// model's batch size.
pub(super) fn scalar_tokens(k: &TokenStream, scalar: &Scalar, dims: &[Ident]) -> TokenStream {
    let Some(constant) = &scalar.constant else {
        return scalar.literal(k);
    };
    let rewritten = with_dim_locals(constant.to_token_stream(), dims);
    // Renaming identifiers keeps an expression an expression.
    let constant = syn::parse2(rewritten).expect("renamed identifiers still parse");
    Scalar {
        constant: Some(Box::new(constant)),
        ..scalar.clone()
    }
    .literal(k)
}

/// `tokens` with every run-time dimension's name in them read from its local instead
/// (see [`dim_local`]), so that a braced dimension can compute from one (`{n + 1}`). A
/// name after `.` or `::` is a field or a path segment, left alone; one after a range's
/// `..` is not.
pub(super) fn with_dim_locals(tokens: TokenStream, dims: &[Ident]) -> TokenStream {
    let mut out = TokenStream::new();
    let mut after_path = false;
    // Whether the last token was a `.` joined to the next (the start of `..` or `..=`).
    let mut joined_dot = false;
    for token in tokens {
        let next_after_path = match &token {
            TokenTree::Punct(p) if p.as_char() == ':' => true,
            TokenTree::Punct(p) if p.as_char() == '.' => {
                !joined_dot && p.spacing() == Spacing::Alone
            }
            _ => false,
        };
        joined_dot = matches!(&token, TokenTree::Punct(p) if p.as_char() == '.' && p.spacing() == Spacing::Joint);
        let token = match token {
            TokenTree::Ident(ident)
                if !after_path && dims.iter().any(|d| key(d) == key(&ident)) =>
            {
                TokenTree::Ident(dim_local(&ident))
            }
            TokenTree::Group(group) => {
                let mut inner =
                    Group::new(group.delimiter(), with_dim_locals(group.stream(), dims));
                inner.set_span(group.span());
                TokenTree::Group(inner)
            }
            other => other,
        };
        after_path = next_after_path;
        out.extend([token]);
    }
    out
}

/// The local that holds a run-time dimension inside the generated methods. The user's
/// name is bound only as a constructor argument (see `bind`): bound as a local too, a
/// name that a constant in scope shares would bring a second error. Located at the
/// user's token, so that a type error in a braced constant that reads it (`{n as i64}`
/// where a `usize` goes) points there, not at the whole block.
pub(crate) fn dim_local(d: &Ident) -> Ident {
    let span = Span::mixed_site().located_at(d.span());
    format_ident!("__wyrm_dim_{}", key(d), span = span)
}

/// The expression building a fresh leaf, inside `new_with_rng` (the generator is
/// `__wyrm_rng`) and, for inputs and index inputs (every leaf but parameters),
/// `from_parameters`.
pub(super) fn fresh_leaf(
    k: &TokenStream,
    leaf: &Leaf,
    statics: bool,
    run_time_dims: &[Ident],
) -> TokenStream {
    let (rows, cols) = (
        dim_tokens(leaf, 0, run_time_dims),
        dim_tokens(leaf, 1, run_time_dims),
    );
    let span = leaf.keyword.span();
    let dims = static_dims(k, leaf, statics);
    match leaf.kind {
        LeafKind::Param => {
            let rng = rng_ident();
            // The initialiser's code carries the span of its keyword.
            let init_span = leaf.init.as_ref().map_or(span, |i| i.keyword().span());
            let value = match &leaf.init {
                None => quote!(#k::init::normal(#rows, #cols, 0.0, 0.1, #rng)),
                Some(Init::Normal { mean, std, .. }) => {
                    let (mean, std) = (
                        scalar_tokens(k, mean, run_time_dims),
                        scalar_tokens(k, std, run_time_dims),
                    );
                    quote_spanned!(init_span=> #k::init::normal(#rows, #cols, #mean, #std, #rng))
                }
                Some(Init::Xavier(_)) => {
                    quote_spanned!(init_span=> #k::init::xavier(#rows, #cols, #rng))
                }
                Some(Init::Zeros(_)) => {
                    quote_spanned!(init_span=> #k::ndarray::Array2::zeros((#rows, #cols)))
                }
                Some(Init::Ones(_)) => {
                    quote_spanned!(init_span=> #k::ndarray::Array2::ones((#rows, #cols)))
                }
            };
            match dims {
                Some(dims) => {
                    quote_spanned!(span=> #k::ParameterNode::#dims::new_static(#value))
                }
                None => quote_spanned!(span=> #k::ParameterNode::new(#value)),
            }
        }
        LeafKind::Input => {
            let value = quote!(#k::ndarray::Array2::zeros((#rows, #cols)));
            let (new, new_static) = if leaf.gradient {
                (quote!(with_gradient), quote!(with_gradient_static))
            } else {
                (quote!(new), quote!(new_static))
            };
            match dims {
                Some(dims) => quote_spanned!(span=> #k::InputNode::#dims::#new_static(#value)),
                None => quote_spanned!(span=> #k::InputNode::#new(#value)),
            }
        }
        LeafKind::Index => {
            quote_spanned!(span=> #k::nodes::IndexInputNode::new(&::std::vec![0usize; #rows]))
        }
        LeafKind::Bags => quote_spanned!(span=> #k::nodes::BagsInputNode::new(#rows)),
        LeafKind::Training => quote_spanned!(span=> #k::TrainingFlag::new()),
    }
}
