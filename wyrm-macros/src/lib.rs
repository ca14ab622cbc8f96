//! The `model!` macro of [Wyrm](https://docs.rs/wyrm): declare a model's parameters,
//! inputs and the expressions connecting them in one block, and get a struct holding the
//! typed graph, its constructors, its parameter list and its shared (Hogwild) form.
//!
//! Use it as `wyrm::model!`, whose documentation describes the syntax and the expansion
//! with runnable examples. That is a `macro_rules!` wrapper which calls this macro with
//! `$crate;` before the model, so that the generated code names the `wyrm` crate by a path
//! that works wherever the invocation is (even where the dependency is renamed); called
//! directly, without that prefix, this macro names it `::wyrm`.
//!
//! The crate is split like the macro's work: `parse` (syntax into our own AST), `check`
//! (names, methods, dimensions, numbers, attributes, literal shapes; every error at once)
//! and `expand` (code generation), with `ops`, the methods and functions the model
//! language knows, shared by the last two. Each of the three is a directory split by
//! concern: `parse` into the model and its items, the leaf declarations, and the
//! expressions; `check` into the declarations, what each expression denotes, and shapes;
//! `expand` into the model's struct and methods, the companion struct, the stand-in for a
//! block with errors, and the code of leaves and of expressions.

mod check;
mod expand;
mod ops;
mod parse;

use proc_macro::TokenStream;

/// Declares a model; see `wyrm::model!` for the syntax and the expansion. The input may
/// start with `$crate;`, the path of the `wyrm` crate (as `wyrm::model!` passes it).
#[proc_macro]
pub fn model(input: TokenStream) -> TokenStream {
    let model = match syn::parse::<parse::Model>(input) {
        Ok(model) => model,
        Err(e) => return e.into_compile_error().into(),
    };
    // Mistakes the parser could step over come first, then the checker's: all at once.
    let mut errors = model.parse_errors().cloned();
    let first = errors.next();
    let errors = match (first, check::check(&model)) {
        (None, Ok(checked)) => return expand::expand(&model, &checked).into(),
        (None, Err(checker)) => checker,
        (Some(mut all), checked) => {
            errors.chain(checked.err()).for_each(|e| all.combine(e));
            all
        }
    };
    // Emit the errors and a stand-in for the model (its struct, companion and methods,
    // with bodies that panic), so that code using it does not add a cascade of "cannot
    // find type" or "no field" errors.
    let mut out = errors.into_compile_error();
    out.extend(expand::fallback(&model));
    out.into()
}
