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
//!
//! Split by what is checked: `declarations` the names, attributes and dimensions of the
//! items, before any expression; `infer` what each expression denotes (names, methods,
//! arguments, numbers); `shape` the shapes, and what each operation makes of its
//! operands'. This file runs them in order over the model.

mod declarations;
mod infer;
mod shape;
#[cfg(test)]
mod testing;

use crate::parse::{key, Dim, Init, ItemKind, LeafKind, Model};
use infer::{Checker, Value};
use proc_macro2::Span;
use quote::ToTokens;
use shape::{Shape, D};
use std::collections::{HashMap, HashSet};
use std::fmt;
use syn::Ident;

/// Collects errors, combining them into one.
#[derive(Default)]
struct Errors(Option<syn::Error>);

impl Errors {
    /// Adds an error.
    fn push(&mut self, error: syn::Error) {
        match &mut self.0 {
            Some(e) => e.combine(error),
            None => self.0 = Some(error),
        }
    }

    /// Adds an error at a span.
    fn at(&mut self, span: Span, message: impl fmt::Display) {
        self.push(syn::Error::new(span, message));
    }

    /// Adds an error spanning the given tokens (from the first to the last).
    fn spanned(&mut self, tokens: impl ToTokens, message: impl fmt::Display) {
        self.push(syn::Error::new_spanned(tokens, message));
    }
}

/// The result of a successful check: the run-time dimension names, in order of first use.
pub(crate) struct Checked {
    /// The run-time dimension names, which the constructors take in this order.
    pub(crate) dims: Vec<Ident>,
}

/// Checks the model; returns every problem found, combined.
pub(crate) fn check(model: &Model) -> Result<Checked, syn::Error> {
    let mut errors = Errors::default();
    let position = declarations::names(model, &mut errors);
    declarations::attributes(model, &mut errors);
    declarations::dimensions(model, &position, &mut errors);
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
                    LeafKind::Bags => Some(Value::Bags { count: dim(0) }),
                    LeafKind::Training => Some(Value::Training),
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
                Some(Value::Bags { .. }) => {
                    checker.errors.spanned(
                        &expr.tokens,
                        "a bags input cannot be renamed; use it directly, as in `table.sum_bags(b)`",
                    );
                    None
                }
                Some(Value::Training) => {
                    checker.errors.spanned(
                        &expr.tokens,
                        "a training flag cannot be renamed; use it directly, as in `h.dropout(0.5, training)`",
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
            && !allows_unused(&item.attrs)
        {
            checker.errors.at(
                item.name.span(),
                format!(
                    "parameter `{}` is never used: no node depends on it, so it would never be \
                     trained (for one used outside the block, by your own ops, mark it \
                     `#[allow(unused)]`)",
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

/// Whether the attributes allow an item to be unused: `#[allow(unused)]` (or
/// `dead_code`), for a parameter that only code outside the block uses.
fn allows_unused(attrs: &[syn::Attribute]) -> bool {
    use syn::punctuated::Punctuated;
    attrs
        .iter()
        .filter(|a| a.path().is_ident("allow"))
        .any(|a| {
            a.parse_args_with(Punctuated::<syn::Path, syn::Token![,]>::parse_terminated)
                .is_ok_and(|lints| {
                    lints
                        .iter()
                        .any(|l| l.is_ident("unused") || l.is_ident("dead_code"))
                })
        })
}

#[cfg(test)]
mod tests {
    use super::testing::{assert_errors, errors};
    use super::*;

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
                d = w * EPS + {EPS},
                c = c + w,
                later = w.frobnicate(),
            }
        });
        let expected = [
            "duplicate name `x`",
            "`x` is first declared here",
            "`later` is used before it is defined",
            "unknown name `nowhere`",
            "unknown name `EPS`; for a constant, write `{EPS}`",
            "`c` is used in its own definition",
            "unknown method `frobnicate`",
            "parameter `unused` is never used",
        ];
        assert_errors(&e, &expected);
    }

    /// What the parser cannot take does not hide the block's other mistakes, and the
    /// names in it are not also reported as never used.
    #[test]
    fn unsupported_expressions_are_reported_with_the_other_errors() {
        let e = errors(quote::quote! {
            struct M {
                w: Param<2, 2>,
                v: Param<2, 2>,
                u: Param<2, 2>,
                x: Input<2, 2>,
                a = concat(w, v, 1),
                f = concat((w, v), axis[1]),
                g = x.stack(w, Axis(d as usize)),
                b = x.frobnicate(),
                c = x * (1.0 / (d as f32).sqrt()) + u[0],
                e = x.dot(w) + nowhere,
            }
        });
        let expected = [
            "`concat` takes a tuple of 2 to 12 nodes and an axis",
            "unsupported expression `axis[1]`",
            "unsupported expression `d as usize`",
            "unsupported expression `d as f32`",
            "unsupported expression `u[0]`",
            "unknown method `frobnicate`",
            "unknown name `nowhere`",
        ];
        assert_errors(&e, &expected);
        assert!(
            e[3].contains("goes in braces, the whole number: `h * {1.0 / (d as f32).sqrt()}`"),
            "{}",
            e[3]
        );
    }

    #[test]
    fn a_parameter_marked_allow_unused_may_be_used_outside_the_block() {
        let e = errors(quote::quote! {
            struct M {
                #[allow(unused)]
                outside: Param<4, 1>,
                /// Docs, then the allowance among other lints.
                #[allow(clippy::all, dead_code)]
                also: Param<1, 1>,
                #[allow(clippy::all)]
                forgotten: Param<1, 1>,
                x: Input<1, 4>,
                y = x.square(),
            }
        });
        assert_errors(&e, &["parameter `forgotten` is never used"]);
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
}
