//! `x.slice(s![rows, columns])` in a model: the `s!` argument, read far enough to know
//! the result's shape where its ranges are literals.

use proc_macro2::{TokenStream, TokenTree};
use syn::spanned::Spanned;

/// What one element of `s![rows, columns]` selects along its axis, as far as the block
/// can tell.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum SliceAxis {
    /// `..`: the whole axis.
    All,
    /// `start..end`, `..end`, `start..=end`, `..=end` (literals, not negative, no step):
    /// `end - start` elements (one more when inclusive), none if `end` comes first.
    Range {
        /// The first selected position (0 when not written).
        start: usize,
        /// The end as written.
        end: usize,
        /// Whether the end is selected too (`..=`).
        inclusive: bool,
    },
    /// `start..` (a literal, not negative, no step): all but the first `start`.
    From(usize),
    /// A single index (a literal, not negative): one row or column, kept 2-D.
    Index(usize),
    /// Anything else (a negative position, a step, a constant or a dimension): known when
    /// the graph is built.
    Unknown,
}

/// The argument of `slice`: `s![rows, columns]` with exactly two elements. `None` if
/// the expression is not an `s!` invocation; an error if it has another number of
/// elements.
pub(super) fn slice_of(expr: &syn::Expr) -> syn::Result<Option<(TokenStream, [SliceAxis; 2])>> {
    let syn::Expr::Macro(m) = expr else {
        return Ok(None);
    };
    if !m.mac.path.is_ident("s") {
        return Ok(None);
    }
    let mut elements = vec![TokenStream::new()];
    for token in m.mac.tokens.clone() {
        match &token {
            TokenTree::Punct(p) if p.as_char() == ',' => elements.push(TokenStream::new()),
            _ => elements.last_mut().expect("one to start").extend([token]),
        }
    }
    if elements.last().is_some_and(|e| e.is_empty()) && elements.len() > 1 {
        elements.pop();
    }
    let [rows, cols] = &elements[..] else {
        return Err(syn::Error::new(
            m.mac.span(),
            format!(
                "a model's `slice` takes two elements, rows and columns: `s![.., 0..4]`; this \
                 has {}",
                elements.len()
            ),
        ));
    };
    Ok(Some((m.mac.tokens.clone(), [axis_of(rows), axis_of(cols)])))
}

/// What one element selects.
fn axis_of(element: &TokenStream) -> SliceAxis {
    // A step (`a..b;2`) reorders or thins the axis: left to the run-time check.
    if element
        .clone()
        .into_iter()
        .any(|t| matches!(&t, TokenTree::Punct(p) if p.as_char() == ';'))
    {
        return SliceAxis::Unknown;
    }
    let Ok(expr) = syn::parse2::<syn::Expr>(element.clone()) else {
        return SliceAxis::Unknown;
    };
    let literal = |e: &Option<Box<syn::Expr>>| match e.as_deref() {
        Some(syn::Expr::Lit(syn::ExprLit {
            lit: syn::Lit::Int(i),
            ..
        })) => i.base10_parse::<usize>().ok().map(Some),
        None => Some(None),
        _ => None,
    };
    match &expr {
        syn::Expr::Range(r) => match (literal(&r.start), literal(&r.end), &r.limits) {
            (Some(None), Some(None), syn::RangeLimits::HalfOpen(_)) => SliceAxis::All,
            (Some(start), Some(Some(end)), limits) => SliceAxis::Range {
                start: start.unwrap_or(0),
                end,
                inclusive: matches!(limits, syn::RangeLimits::Closed(_)),
            },
            (Some(Some(start)), Some(None), syn::RangeLimits::HalfOpen(_)) => {
                SliceAxis::From(start)
            }
            _ => SliceAxis::Unknown,
        },
        syn::Expr::Lit(syn::ExprLit {
            lit: syn::Lit::Int(i),
            ..
        }) => i
            .base10_parse::<usize>()
            .map_or(SliceAxis::Unknown, SliceAxis::Index),
        _ => SliceAxis::Unknown,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn axes(tokens: TokenStream) -> [SliceAxis; 2] {
        let expr: syn::Expr = syn::parse2(tokens).unwrap();
        slice_of(&expr).unwrap().expect("an s! invocation").1
    }

    #[test]
    fn reads_literal_elements() {
        use SliceAxis::*;
        let range = |start, end, inclusive| Range {
            start,
            end,
            inclusive,
        };
        assert_eq!(axes(quote::quote!(s![.., 0..4])), [All, range(0, 4, false)]);
        assert_eq!(
            axes(quote::quote!(s![..=2, 3..])),
            [range(0, 2, true), From(3)]
        );
        assert_eq!(
            axes(quote::quote!(s![1, 2..5,])),
            [Index(1), range(2, 5, false)]
        );
        assert_eq!(axes(quote::quote!(s![-1, ..;2])), [Unknown, Unknown]);
        assert_eq!(axes(quote::quote!(s![0..n, { H }..])), [Unknown, Unknown]);
        assert_eq!(
            axes(quote::quote!(s![..-1, 4..2])),
            [Unknown, range(4, 2, false)]
        );
    }

    #[test]
    fn needs_two_elements() {
        for tokens in [quote::quote!(s![..]), quote::quote!(s![.., .., ..])] {
            let expr: syn::Expr = syn::parse2(tokens).unwrap();
            let message = slice_of(&expr).expect_err("an error").to_string();
            assert!(
                message.contains("takes two elements, rows and columns"),
                "{message}"
            );
        }
        let expr: syn::Expr = syn::parse2(quote::quote!(t![.., ..])).unwrap();
        assert!(slice_of(&expr).unwrap().is_none());
    }
}
