//! A mistake in building a graph or feeding it panics at the user's line, not somewhere in
//! Wyrm's source: with several `dot`s in a graph, the location says which one failed.

use ndarray::Array2;
use std::cell::RefCell;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::{Arc, Once};
use wyrm::nn::losses::sparse_categorical_crossentropy;
use wyrm::optim::{SynchronizationBarrier, Synchronized};
use wyrm::typenum::{U1, U2};
use wyrm::*;

thread_local! {
    /// Where the latest panic on this thread was raised.
    static PLACE: RefCell<String> = const { RefCell::new(String::new()) };
}

/// Runs `f`, which must panic, and returns the place (`file:line`) the panic reports.
fn panic_place(f: impl FnOnce()) -> String {
    static HOOK: Once = Once::new();
    HOOK.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let place = info
                .location()
                .map(|l| format!("{}:{}", l.file(), l.line()));
            PLACE.with(|p| *p.borrow_mut() = place.unwrap_or_default());
            previous(info);
        }));
    });
    catch_unwind(AssertUnwindSafe(f)).expect_err("expected a panic");
    PLACE.with(|p| p.take())
}

/// Checks that `$e` panics, reporting the line it is on; adds it to `$wrong` if not.
macro_rules! panics_here {
    ($wrong:ident, $e:expr) => {{
        let expected = format!("{}:{}", file!(), line!());
        let got = panic_place(|| {
            let _ = $e;
        });
        if got != expected {
            $wrong.push(format!("{} panics at {got}", stringify!($e)));
        }
    }};
}

fn m(rows: usize, cols: usize) -> Array2<f32> {
    Array2::zeros((rows, cols))
}

#[test]
fn graph_building_mistakes_point_at_the_callers_line() {
    let a = InputNode::new(m(2, 3));
    let b = ParameterNode::new(m(4, 5));
    let row = ParameterNode::new(m(1, 5));
    let idx = IndexInputNode::new(&[0, 1]);
    let one = IndexInputNode::new(&[0]);
    let mut wrong = Vec::new();

    panics_here!(wrong, a.dot(&b));
    panics_here!(wrong, a.vector_dot(&b));
    panics_here!(wrong, a.clone() + b.clone());
    panics_here!(wrong, a.clone() - b.clone());
    panics_here!(wrong, a.clone() * b.clone());
    panics_here!(wrong, a.clone() / b.clone());
    panics_here!(wrong, a.stack(&b, ndarray::Axis(0)));
    panics_here!(wrong, a.slice(ndarray::s![0..5, ..]));
    panics_here!(wrong, a.clip(1.0, 0.0));
    panics_here!(wrong, row.index(&IndexInputNode::new(&[1])));
    panics_here!(wrong, sparse_categorical_crossentropy(&a, &one));
    panics_here!(wrong, ParameterNode::<U1, U2>::new_static(m(2, 2)));
    panics_here!(wrong, InputNode::<U1, U2>::new_static(m(2, 2)));
    let _ = idx;
    assert!(wrong.is_empty(), "these report another place: {wrong:#?}");
}

#[test]
fn feeding_mistakes_point_at_the_callers_line() {
    let x = InputNode::new(m(2, 3));
    let w = ParameterNode::new(m(3, 1));
    let table = ParameterNode::new(m(10, 2));
    let idx = IndexInputNode::new(&[0, 1]);
    let _lookup = table.index(&idx);
    let shared = Arc::new(HogwildParameter::new(m(1, 2)));
    let mut wrong = Vec::new();

    panics_here!(wrong, x.set_value(m(1, 3)));
    panics_here!(wrong, w.set_value(&m(1, 3)));
    panics_here!(wrong, shared.set_value(&m(2, 2)));
    panics_here!(wrong, idx.set_value(&[0, 1, 2][..]));
    panics_here!(wrong, idx.set_value(&[0, 10][..]));
    panics_here!(wrong, table.index(&IndexInputNode::new(&[11])));
    panics_here!(wrong, w.set_optimizer_state(&table.optimizer_state()));
    assert!(wrong.is_empty(), "these report another place: {wrong:#?}");
}

wyrm::model! {
    /// Two run-time dimensions that must be equal for `out`.
    struct Mismatched {
        x: Input<1, width>,
        w: Param<inner, 1>,
        out = x.dot(w),
    }
}

#[test]
fn a_model_built_with_dimensions_that_do_not_fit_points_at_the_expression() {
    let place = panic_place(|| drop(Mismatched::new(3, 4)));
    let line = include_str!("panic_location.rs")
        .lines()
        .position(|l| l.trim() == "out = x.dot(w),")
        .expect("the model's expression")
        + 1;
    assert_eq!(place, format!("{}:{line}", file!()));
}

const NEGATIVE_STD: f32 = -0.5;

wyrm::model! {
    struct BadSpread {
        w: Param<2, 2> = normal(0, {NEGATIVE_STD}),
        x: Input<1, 2>,
        y = x.dot(w),
    }
}

wyrm::model! {
    struct Shared {
        w: Param<n, 2>,
        x: Input<1, 2>,
        y = x.dot(w.t()),
    }
}

#[test]
fn reductions_optimizers_checks_and_initialisers_point_at_the_callers_line() {
    let empty_rows = InputNode::new(m(0, 3));
    let empty_cols = InputNode::new(m(3, 0));
    let w = ParameterNode::new(m(2, 2));
    let unused = ParameterNode::new(m(1, 1));
    let mut rng = rand::thread_rng();
    let wrong_shape = Shared::new(3).shared_parameters();
    let wrong_shape = SharedParameters {
        n: 4,
        ..wrong_shape
    };
    let mut wrong = Vec::new();

    // Graph building: empty operands of the mean and softmax (sums of nothing are 0).
    panics_here!(wrong, empty_rows.mean());
    panics_here!(wrong, empty_cols.softmax());
    panics_here!(wrong, empty_cols.log_softmax());
    panics_here!(wrong, empty_cols.logsumexp_rows());
    // Optimizer construction with a bad setting.
    let (sgd, handle) = (
        SGD::new(0.1, vec![w.clone()]),
        SynchronizationBarrier::new().register(),
    );
    #[rustfmt::skip]
    panics_here!(wrong, Synchronized::new(sgd, handle, 0));
    // gradcheck's own checks and its assertion.
    panics_here!(wrong, gradcheck::assert_gradient(&w.square(), &unused));
    // Initialisers, directly and from a `model!` constant (no longer a compile error).
    panics_here!(wrong, init::normal(2, 2, 0.0, -1.0, &mut rng));
    // (the model's `normal` line or the caller's: anywhere but Wyrm's source)
    let place = panic_place(|| drop(BadSpread::new()));
    if !place.starts_with(file!()) {
        wrong.push(format!("BadSpread::new() panics at {place}"));
    }
    // A companion whose dimension does not fit its parameters.
    panics_here!(wrong, Shared::from_parameters(&wrong_shape));
    // Feeding a gradient of the wrong shape.
    panics_here!(wrong, w.square().backward_with(m(1, 1).view()));
    assert!(wrong.is_empty(), "these report another place: {wrong:#?}");
}

#[test]
fn with_dimensions_points_at_the_callers_line() {
    let model = Shared::new(3);
    let expected = format!("{}:{}", file!(), line!() + 1);
    let got = panic_place(|| drop(model.with_dimensions(4)));
    assert_eq!(got, expected);
}

#[test]
fn with_dims_points_at_the_callers_line() {
    let model = Shared::new(3);
    let expected = format!("{}:{}", file!(), line!() + 1);
    let got = panic_place(|| drop(model.with_dims(SharedDims { n: 4 })));
    assert_eq!(got, expected);
}
