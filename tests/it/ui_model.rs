//! Compile-fail tests of the `model!` macro: each `tests/ui/model_*.rs` must fail to
//! compile with exactly the errors in its `.stderr` (regenerate with `TRYBUILD=overwrite`).

#[test]
fn model_macro_errors_point_at_the_users_tokens() {
    trybuild::TestCases::new().compile_fail("tests/ui/model_*.rs");
}
