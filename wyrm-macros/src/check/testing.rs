//! Helpers shared by the checker's tests.

use super::check;
use crate::parse::Model;

/// The messages of the errors reported for a model, in order: those the parser stepped
/// over, then the checker's (as the macro reports them).
pub(super) fn errors(tokens: proc_macro2::TokenStream) -> Vec<String> {
    let model: Model = syn::parse2(tokens).expect("parses");
    let parsed = model.parse_errors().map(|e| e.to_string());
    let checked = check(&model)
        .err()
        .into_iter()
        .flatten()
        .map(|e| e.to_string());
    parsed.chain(checked).collect()
}

/// Asserts that the errors are the expected ones, in order (each containing its text).
pub(super) fn assert_errors(errors: &[String], expected: &[&str]) {
    assert_eq!(errors.len(), expected.len(), "{errors:?}");
    for (e, x) in errors.iter().zip(expected) {
        assert!(e.contains(x), "{e:?} does not contain {x:?}");
    }
}
