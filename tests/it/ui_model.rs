//! Tests of the `model!` macro through the compiler: each `tests/ui/model_*.rs` must fail
//! to compile with exactly the errors in its `.stderr` (regenerate with
//! `TRYBUILD=overwrite`), and each `tests/ui/pass/model_*.rs` must compile without
//! warnings where it denies them, and run (cases that only a whole crate can show: no
//! prelude, crate-level lint levels).

#[test]
fn model_macro_errors_point_at_the_users_tokens() {
    let t = trybuild::TestCases::new();
    t.compile_fail("tests/ui/model_*.rs");
    t.pass("tests/ui/pass/model_*.rs");
}
