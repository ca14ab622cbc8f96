//! The expressions in generated code: the node type each builds, and the code computing
//! it, with the user's spans.

use super::leaf::{scalar_tokens, with_dim_locals};
use crate::ops::{axis_of, find_function, find_method, Arg, Rule};
use crate::parse::{key, BinOp, Expr, ExprKind};
use proc_macro2::{Punct, Spacing, TokenStream};
use quote::{quote, quote_spanned, ToTokens};
use std::collections::HashMap;
use syn::Ident;

/// The node type of an expression.
pub(super) fn node_type(
    k: &TokenStream,
    expr: &Expr,
    types: &HashMap<String, TokenStream>,
    param_dims: &HashMap<String, TokenStream>,
) -> TokenStream {
    let ty = |e: &Expr| node_type(k, e, types, param_dims);
    match &expr.kind {
        ExprKind::Name(n) => types
            .get(&key(n))
            .cloned()
            .expect("names are checked before expansion"),
        ExprKind::Scalar(_) => unreachable!("a number has no node type; checked"),
        ExprKind::Invalid(_) => unreachable!("a block with errors is not expanded"),
        ExprKind::Op { .. } | ExprKind::Slice { .. } => {
            unreachable!("a method's argument, not a node; checked")
        }
        ExprKind::Neg { span, operand } => {
            let t = ty(operand);
            quote_spanned!(*span=> #k::nodes::Neg<#t>)
        }
        ExprKind::Binary {
            op,
            op_span,
            lhs,
            rhs,
        } => {
            let span = *op_span;
            // Which side is a number decides the node (`x - 1` and `1 - x` differ).
            let (scalar_lhs, scalar_rhs) = (
                matches!(lhs.kind, ExprKind::Scalar(_)),
                matches!(rhs.kind, ExprKind::Scalar(_)),
            );
            let alias = match (op, scalar_lhs, scalar_rhs) {
                (BinOp::Add, false, false) => "Add",
                (BinOp::Sub, false, false) => "Sub",
                (BinOp::Mul, false, false) => "Mul",
                (BinOp::Div, false, false) => "Div",
                (BinOp::Add, _, _) => "AddScalar",
                (BinOp::Mul, _, _) => "MulScalar",
                (BinOp::Sub, true, _) => "ScalarSub",
                (BinOp::Div, true, _) => "ScalarDiv",
                (BinOp::Sub, _, _) => "SubScalar",
                (BinOp::Div, _, _) => "DivScalar",
            };
            let alias = Ident::new(alias, span);
            match (scalar_lhs, scalar_rhs) {
                (true, _) => {
                    let t = ty(rhs);
                    quote_spanned!(span=> #k::nodes::#alias<#t>)
                }
                (_, true) => {
                    let t = ty(lhs);
                    quote_spanned!(span=> #k::nodes::#alias<#t>)
                }
                _ => {
                    let (l, r) = (ty(lhs), ty(rhs));
                    quote_spanned!(span=> #k::nodes::#alias<#l, #r>)
                }
            }
        }
        ExprKind::Method {
            receiver,
            method,
            args,
        } => {
            let spec = find_method(&method.to_string()).expect("methods are checked");
            let span = method.span();
            let alias = Ident::new(spec.node, span);
            let recv = ty(receiver);
            // `map`, `combine` and `apply`: the user's operation type comes first.
            if let Some(ExprKind::Op { ty: op, .. }) = args.first().map(|a| &a.kind) {
                return match args.get(1) {
                    Some(other) => {
                        let other = ty(other);
                        quote_spanned!(span=> #k::nodes::#alias<#op, #recv, #other>)
                    }
                    None => quote_spanned!(span=> #k::nodes::#alias<#op, #recv>),
                };
            }
            match spec.rule {
                Rule::Dot | Rule::DotT | Rule::VectorDot | Rule::Stack => {
                    let other = ty(&args[0]);
                    quote_spanned!(span=> #k::nodes::#alias<#recv, #other>)
                }
                // The receiver is a parameter's name: `Index` has its dimensions.
                Rule::Index | Rule::Bags => {
                    let dims = match &receiver.kind {
                        ExprKind::Name(n) => param_dims.get(&key(n)).cloned(),
                        _ => None,
                    };
                    quote_spanned!(span=> #k::nodes::#alias #dims)
                }
                _ => quote_spanned!(span=> #k::nodes::#alias<#recv>),
            }
        }
        ExprKind::Call { function, args } => {
            let spec = find_function(&function.to_string()).expect("functions are checked");
            let alias = Ident::new(spec.node, function.span());
            if spec.rule == Rule::Concat {
                let nodes = args[..args.len() - 1].iter().map(ty);
                return quote_spanned!(function.span()=> #k::nodes::#alias<(#(#nodes,)*)>);
            }
            let first = ty(&args[0]);
            if spec.rule == Rule::Elementwise {
                let second = ty(&args[1]);
                quote_spanned!(function.span()=> #k::nn::losses::#alias<#first, #second>)
            } else {
                quote_spanned!(function.span()=> #k::nn::losses::#alias<#first>)
            }
        }
    }
}

/// How an expression's value is used where it appears.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Use {
    /// The whole right-hand side of a definition.
    Top,
    /// By value (operands of operators): names are cloned.
    Owned,
    /// As a method receiver: names are used as they are.
    Receiver,
    /// As a method argument: borrowed.
    Argument,
}

/// The code computing an expression from the leaves and earlier definitions; `dims` are
/// the model's run-time dimensions, which constants in braces may read.
pub(super) fn build(k: &TokenStream, expr: &Expr, usage: Use, dims: &[Ident]) -> TokenStream {
    let value =
        match &expr.kind {
            ExprKind::Name(n) => {
                return match usage {
                    Use::Owned | Use::Top => {
                        quote_spanned!(n.span()=> ::core::clone::Clone::clone(&#n))
                    }
                    Use::Receiver => n.to_token_stream(),
                    Use::Argument => quote_spanned!(n.span()=> &#n),
                };
            }
            ExprKind::Scalar(s) => return scalar_tokens(k, s, dims),
            ExprKind::Op { .. } => unreachable!("built by `op_tokens`, as a method argument"),
            ExprKind::Slice { .. } => unreachable!("built as `slice`'s argument"),
            ExprKind::Invalid(_) => unreachable!("a block with errors is not expanded"),
            ExprKind::Neg { span, operand } => {
                let x = build(k, operand, Use::Owned, dims);
                quote_spanned!(*span=> -#x)
            }
            ExprKind::Binary {
                op,
                op_span,
                lhs,
                rhs,
            } => {
                let (l, r) = (
                    build(k, lhs, Use::Owned, dims),
                    build(k, rhs, Use::Owned, dims),
                );
                // The operator token carries the user's span.
                let mut op = Punct::new(op.symbol(), Spacing::Alone);
                op.set_span(*op_span);
                quote!(#l #op #r)
            }
            ExprKind::Method {
                receiver,
                method,
                args,
            } => {
                if method == "neg" {
                    let x = build(k, receiver, Use::Owned, dims);
                    quote_spanned!(method.span()=> -#x)
                } else {
                    let recv = build(k, receiver, Use::Receiver, dims);
                    let spec = find_method(&method.to_string()).expect("methods are checked");
                    let args = args.iter().zip(spec.args).map(|(a, kind)| match kind {
                        Arg::Axis => axis_tokens(k, a),
                        Arg::Op => op_tokens(k, a, method, dims),
                        Arg::Slice => {
                            let ExprKind::Slice { inner, .. } = &a.kind else {
                                unreachable!("parsed as `s![..]`")
                            };
                            let inner = with_dim_locals(inner.clone(), dims);
                            quote_spanned!(a.span()=> #k::ndarray::s![#inner])
                        }
                        Arg::Size => size_tokens(a, dims),
                        _ => build(k, a, Use::Argument, dims),
                    });
                    quote_spanned!(method.span()=> #recv.#method(#(#args),*))
                }
            }
            ExprKind::Call { function, args } if function == "concat" => {
                let (axis, nodes) = args.split_last().expect("parsed with an axis");
                let nodes = nodes.iter().map(|a| build(k, a, Use::Argument, dims));
                let axis = axis_tokens(k, axis);
                quote_spanned!(function.span()=> #k::concat((#(#nodes,)*), #axis))
            }
            ExprKind::Call { function, args } => {
                let spec = find_function(&function.to_string()).expect("functions are checked");
                let args = args.iter().zip(spec.args).map(|(a, kind)| match (kind, &a.kind) {
                // A list of numbers, as a slice.
                (Arg::Numbers, ExprKind::Scalar(s)) => {
                    let list = s.constant.as_ref().expect("checked");
                    let list = with_dim_locals(list.to_token_stream(), dims);
                    quote_spanned!(s.span=> ::core::convert::AsRef::<[f32]>::as_ref(&(#list)))
                }
                _ => build(k, a, Use::Argument, dims),
            });
                quote_spanned!(function.span()=> #k::nn::losses::#function(#(#args),*))
            }
        };
    // Parentheses only where precedence needs them (no `unused_parens` warnings).
    let span = expr.span();
    let operator = matches!(expr.kind, ExprKind::Binary { .. } | ExprKind::Neg { .. })
        || matches!(&expr.kind, ExprKind::Method { method, .. } if method == "neg");
    match usage {
        Use::Top => value,
        Use::Owned | Use::Receiver if operator => quote_spanned!(span=> (#value)),
        Use::Owned | Use::Receiver => value,
        Use::Argument if operator => quote_spanned!(span=> &(#value)),
        Use::Argument => quote_spanned!(span=> &#value),
    }
}

/// A size argument (checked): a literal as a `usize`, a dimension's name or a braced
/// constant, read with the run-time dimensions' locals.
fn size_tokens(size: &Expr, dims: &[Ident]) -> TokenStream {
    match &size.kind {
        ExprKind::Scalar(s) => match &s.constant {
            Some(constant) => {
                // Through a function of `usize`, which says so at the user's tokens if the
                // constant is of another type (parentheses would draw `unused_parens`).
                let constant = with_dim_locals(constant.to_token_stream(), dims);
                quote_spanned!(s.span=> ::core::convert::identity::<usize>(#constant))
            }
            // The integer as written (checked), not the `f32` it was also read as.
            None => {
                let written: syn::LitInt =
                    syn::parse2(size.tokens.clone()).expect("sizes are checked");
                let n = syn::LitInt::new(&format!("{}usize", written.base10_digits()), s.span);
                quote!(#n)
            }
        },
        _ => with_dim_locals(size.tokens.clone(), dims),
    }
}

/// An axis argument (checked), as `ndarray::Axis(n)`.
fn axis_tokens(k: &TokenStream, axis: &Expr) -> TokenStream {
    let n = axis_of(axis).expect("axes are checked");
    let n = syn::LitInt::new(&format!("{n}usize"), axis.span());
    quote_spanned!(axis.span()=> #k::ndarray::Axis(#n))
}

/// The operation given to `map`, `combine` or `apply`, as written (a constructor's or
/// tuple struct's arguments may read the run-time dimensions), passed through a function
/// that takes only an operation of the kind `method` needs and of the type the node type
/// names: a mistake (not an operation; a constructor returning another type) is then
/// reported at the user's tokens.
fn op_tokens(k: &TokenStream, op: &Expr, method: &Ident, dims: &[Ident]) -> TokenStream {
    let ExprKind::Op { ty, value } = &op.kind else {
        unreachable!("the first argument of `{method}` is parsed as an operation")
    };
    let check = match method.to_string().as_str() {
        "map" => "unary_op",
        "combine" => "binary_op",
        _ => "single_op",
    };
    let check = Ident::new(check, op.span());
    // A struct literal's field names are not the dimensions' names.
    let value = match &**value {
        syn::Expr::Struct(_) => value.to_token_stream(),
        _ => with_dim_locals(value.to_token_stream(), dims),
    };
    quote_spanned!(op.span()=> #k::__private::#check::<#ty>(#value))
}
