//! The checks of the declarations, before any expression: duplicate names, attributes
//! (no `cfg`), and dimensions (how many, and names that clash with an item's).

use super::Errors;
use crate::parse::{key, Dim, ItemKind, LeafKind, Model};
use proc_macro2::{Delimiter, TokenStream, TokenTree};
use quote::ToTokens;
use std::collections::HashMap;

/// Reports duplicate names; returns where each name is first declared (its position
/// among the items), by its unraw name.
pub(super) fn names(model: &Model, errors: &mut Errors) -> HashMap<String, usize> {
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
    position
}

/// Reports `cfg` on items. An item's attributes go to its field only, while the
/// constructors and the parameter list still set it, so a configured-out item would leave
/// them naming a missing field (rustc's E0560, far from the cause). A `cfg_attr` is fine
/// unless it can produce a `cfg`.
pub(super) fn attributes(model: &Model, errors: &mut Errors) {
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
}

/// Reports dimension counts that do not fit the leaf's kind, and dimension names that
/// clash with nodes.
pub(super) fn dimensions(model: &Model, position: &HashMap<String, usize>, errors: &mut Errors) {
    let dims: Vec<String> = model.dimension_names().iter().map(key).collect();
    for item in &model.items {
        let ItemKind::Leaf(leaf) = &item.kind else {
            continue;
        };
        let arity = leaf.kind.arity();
        // `Training<>`: no dimensions, but brackets that say otherwise.
        let brackets = arity == 0 && leaf.dims_tokens.clone().into_iter().count() > 1;
        if (leaf.dims.len() != arity || brackets) && !leaf.guessed {
            // The count and the keyword are the kind's; only what they mean is said here.
            let (meaning, example) = match leaf.kind {
                LeafKind::Index => ("the number of indices", "K"),
                LeafKind::Bags => ("the number of bags", "B"),
                LeafKind::Param | LeafKind::Input => ("rows, columns", "R, C"),
                LeafKind::Training => ("", ""),
            };
            let plural = if arity == 1 { "" } else { "s" };
            let keyword = leaf.kind.keyword();
            let message = if arity == 0 {
                format!(
                    "`{keyword}` takes no dimensions: it is a flag, declared as `name: {keyword}`"
                )
            } else {
                format!(
                    "wrong number of dimensions: `{keyword}` takes {arity} dimension{plural} \
                     ({meaning}), as in `{keyword}<{example}>`, found {}",
                    leaf.dims.len()
                )
            };
            errors.spanned(&leaf.dims_tokens, message);
        }
        for dim in &leaf.dims {
            if let Dim::Const(expr) = dim {
                undeclared_in_braces(expr.to_token_stream(), &dims, errors);
            }
            if let Dim::Name(ident) = dim {
                if position.contains_key(&key(ident)) {
                    errors.at(
                        ident.span(),
                        format!(
                            "dimension `{}` has the same name as a node of the model; rename one of them",
                            key(ident)
                        ),
                    );
                }
            }
        }
    }
}

/// Reports the names in a braced dimension (`{batch * slots}`) that read as variables but
/// are no dimension of the block, which rustc would report as unknown values without
/// saying why: braces compute from dimensions, but only a bare one declares a dimension
/// (a model reads each dimension back from a shape). Only plain arithmetic is looked at:
/// names, numbers, `+ - * / %`, parentheses, method calls, paths and casts. Anything else
/// (a block, a `match`, a macro, a closure, a comma-separated call...) may bind names of
/// its own, so it is left to rustc, as are names in capitals (constants) and names after
/// `.`, `::` or `as`, or before `(` or `::`.
fn undeclared_in_braces(tokens: TokenStream, dims: &[String], errors: &mut Errors) {
    let mut flat = Vec::new();
    flatten(tokens, &mut flat);
    let plain = flat.iter().all(|t| match t {
        TokenTree::Group(g) => g.delimiter() == Delimiter::Parenthesis,
        TokenTree::Punct(p) => "+-*/%.:<>".contains(p.as_char()),
        TokenTree::Ident(i) => !OPAQUE.contains(&key(i).as_str()),
        TokenTree::Literal(_) => true,
    });
    if !plain {
        return;
    }
    let punct =
        |t: Option<&TokenTree>, c: char| matches!(t, Some(TokenTree::Punct(p)) if p.as_char() == c);
    for (i, t) in flat.iter().enumerate() {
        let TokenTree::Ident(ident) = t else { continue };
        let name = key(ident);
        let (before, after) = (i.checked_sub(1).and_then(|b| flat.get(b)), flat.get(i + 1));
        let variable_like = name.starts_with(|c: char| c.is_ascii_lowercase())
            && !NOT_VARIABLES.contains(&name.as_str())
            && !punct(before, '.')
            && !punct(before, ':')
            && !matches!(before, Some(TokenTree::Ident(b)) if b == "as")
            && !punct(after, ':')
            && !matches!(after, Some(TokenTree::Group(g)) if g.delimiter() == Delimiter::Parenthesis);
        if variable_like && !dims.contains(&name) {
            errors.at(
                ident.span(),
                format!(
                    "`{name}` is not a dimension of this block: braces can compute from a \
                     dimension (`{{{name} + 1}}`) that some declaration names bare (as in \
                     `Param<{name}, 8>`), since a model reads each dimension back from a \
                     shape; otherwise give the whole size a dimension of its own \
                     (`Index<rows>`), or write a constant in capitals"
                ),
            );
        }
    }
}

/// Lowercase words that may appear in plain arithmetic but are no variables.
const NOT_VARIABLES: &[&str] = &[
    "as", "true", "false", "self", "crate", "super", "usize", "isize", "u8", "u16", "u32", "u64",
    "u128", "i8", "i16", "i32", "i64", "i128", "f32", "f64", "bool", "char", "str",
];

/// Words that make an expression more than plain arithmetic (see `undeclared_in_braces`).
const OPAQUE: &[&str] = &[
    "_", "if", "else", "match", "loop", "while", "for", "in", "break", "continue", "return", "let",
    "fn", "use", "static", "const", "struct", "enum", "impl", "trait", "type", "mod", "pub", "mut",
    "ref", "move", "dyn", "where", "async", "await", "unsafe",
];

/// The tokens of `tokens` with every group's contents in place of it, each after an empty
/// group with the same delimiters, so that a call (`f(..)`) can be told from a variable
/// and a block (`{..}`) seen.
fn flatten(tokens: TokenStream, out: &mut Vec<TokenTree>) {
    for t in tokens {
        match t {
            TokenTree::Group(g) => {
                out.push(TokenTree::Group(proc_macro2::Group::new(
                    g.delimiter(),
                    TokenStream::new(),
                )));
                flatten(g.stream(), out);
            }
            other => out.push(other),
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

#[cfg(test)]
mod tests {
    use crate::check::testing::errors;

    #[test]
    fn wrong_dimension_counts_say_what_each_kind_takes() {
        let e = errors(quote::quote! {
            struct M { w: Param<1>, x: Input<1, 2, 3>, i: Index<1, 1>, y = w.index(i) * 2 }
        });
        assert_eq!(
            e,
            [
                "wrong number of dimensions: `Param` takes 2 dimensions (rows, columns), as in `Param<R, C>`, found 1",
                "wrong number of dimensions: `Input` takes 2 dimensions (rows, columns), as in `Input<R, C>`, found 3",
                "wrong number of dimensions: `Index` takes 1 dimension (the number of indices), as in `Index<K>`, found 2",
            ]
        );
    }

    #[test]
    fn a_misspelt_kind_is_guessed_by_its_dimension_count_too() {
        // `Indet` is one edit from `Index` and two from `Input`: with two dimensions it
        // is read as `Input`, and no count error follows.
        let e = errors(quote::quote! {
            struct M { x: Indet<1, 2>, w: Param<2, 1>, y = x.dot(w) }
        });
        assert_eq!(e.len(), 1, "{e:?}");
        assert!(e[0].ends_with("(did you mean `Input`?)"), "{e:?}");
        // A guess whose count does not fit says what it takes, once.
        let e = errors(quote::quote! {
            struct M { i: Indx<1, 2>, w: Param<3, 1>, y = w.index(i) }
        });
        assert_eq!(e.len(), 1, "{e:?}");
        assert!(e[0].ends_with("(did you mean `Index<K>`?)"), "{e:?}");
        // A dimension clashing with a node is named without its `r#`.
        let e = errors(quote::quote! {
            struct M { r#n: Param<n, 1>, x = n.square() }
        });
        assert!(e[0].contains("dimension `n` has the same name"), "{e:?}");
    }

    #[test]
    fn a_braced_dimension_names_only_declared_dimensions() {
        let e = errors(quote::quote! {
            struct M { v: Param<rows, k>, idx: Index<{batch * slots}>, y = v.index(idx) }
        });
        assert_eq!(e.len(), 2, "{e:?}");
        assert!(
            e[0].starts_with("`batch` is not a dimension of this block"),
            "{e:?}"
        );
        assert!(
            e[1].starts_with("`slots` is not a dimension of this block"),
            "{e:?}"
        );
        assert!(e[1].contains("`Param<slots, 8>`"), "{e:?}");
        // Dimensions declared bare (before or after), constants, calls, paths, casts,
        // methods, and expressions with their own variables are all fine.
        let e = errors(quote::quote! {
            struct M {
                x: Input<{len - 1}, {WIDTH * 2}>,
                i: Index<{twice(len).max(1)}>,
                j: Index<{std::mem::size_of::<f32>() + (len as u32) as usize}>,
                k: Index<{(0..len).map(|i| i + 1).sum::<usize>()}>,
                a: Input<{match len { 0 => 1, _ => len }}, {'outer: loop { break 'outer len }}>,
                b: Input<{if cfg!(debug_assertions) { len } else { len + 1 }}, {stringify!(abc).len()}>,
                c: Input<{{ fn half(x: usize) -> usize { x / 2 } half(len) }}, {max(len, 2)}>,
                d: Input<{{ use std::cmp::min; min(len, 2) }}, {{ const S: &'static str = "ab"; S.len() }}>,
                w: Param<len, r#n>,
                y = x.square() + a.sum_rows().scalar_sum() + b.scalar_sum() + c.scalar_sum()
                    + d.scalar_sum(),
                z = w.index(i) + w.index(j) + w.index(k),
            }
        });
        assert_eq!(e, Vec::<String>::new());
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
