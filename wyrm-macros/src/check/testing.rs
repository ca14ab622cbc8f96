//! Helpers shared by the checker's tests.

use super::check;
use crate::parse::Model;

/// The messages of the errors that `check` reports for a model, in order.
pub(super) fn errors(tokens: proc_macro2::TokenStream) -> Vec<String> {
    let model: Model = syn::parse2(tokens).expect("parses");
    match check(&model) {
        Ok(_) => Vec::new(),
        Err(e) => e.into_iter().map(|e| e.to_string()).collect(),
    }
}

/// Asserts that the errors are the expected ones, in order (each containing its text).
pub(super) fn assert_errors(errors: &[String], expected: &[&str]) {
    assert_eq!(errors.len(), expected.len(), "{errors:?}");
    for (e, x) in errors.iter().zip(expected) {
        assert!(e.contains(x), "{e:?} does not contain {x:?}");
    }
}
