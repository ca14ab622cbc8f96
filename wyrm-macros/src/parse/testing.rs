//! Helpers shared by the parser's tests.

use super::{Expr, Item, ItemKind, Leaf, Model};
use proc_macro2::TokenStream;

/// Parses a model.
pub(super) fn parse(tokens: TokenStream) -> syn::Result<Model> {
    syn::parse2(tokens)
}

/// The leaf an item declares.
pub(super) fn leaf(item: &Item) -> &Leaf {
    match &item.kind {
        ItemKind::Leaf(l) => l,
        ItemKind::Node(_) => panic!("expected a leaf"),
    }
}

/// The expression an item defines.
pub(super) fn node(item: &Item) -> &Expr {
    match &item.kind {
        ItemKind::Node(e) => e,
        ItemKind::Leaf(_) => panic!("expected a node"),
    }
}

/// Asserts that each model fails to parse, or parses with a mistake it stepped over,
/// with an error containing its text.
pub(super) fn assert_rejected<const N: usize>(cases: [(TokenStream, &str); N]) {
    for (tokens, expected) in cases {
        let message = match parse(tokens) {
            Ok(model) => match model.parse_errors().next() {
                Some(e) => e.to_string(),
                None => panic!("expected an error containing {expected:?}"),
            },
            Err(e) => e.to_string(),
        };
        assert!(
            message.contains(expected),
            "{message:?} does not contain {expected:?}"
        );
    }
}
