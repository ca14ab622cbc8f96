//! Compile-time shapes: mismatched static shapes fail to compile with a readable message
//! (`tests/ui/static_*.rs` with `.stderr` snapshots; regenerate with `TRYBUILD=overwrite`), and
//! statically and run-time shaped nodes combine.

use ndarray::arr2;
use wyrm::typenum::{U1, U2, U3};
use wyrm::*;

#[test]
fn static_shape_mismatches_do_not_compile() {
    trybuild::TestCases::new().compile_fail("tests/ui/static_*.rs");
}

/// What `concat` does not take is reported with the forms it does take.
#[test]
fn concat_of_something_else_does_not_compile() {
    trybuild::TestCases::new().compile_fail("tests/ui/concat_*.rs");
}

/// Accepts only variables whose node has the given static dimensions.
fn has_dims<R: Dim, C: Dim, T: Node<Rows = R, Cols = C>>(_: &Variable<T>) {}

#[test]
fn static_and_runtime_shapes_combine() {
    let w = ParameterNode::<U3, U2>::new_static(arr2(&[[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]]));
    let bias = ParameterNode::<U1, U2>::new_static(arr2(&[[0.5, -0.5]]));
    // A batch of run-time size, with a run-time-shaped input.
    let x = InputNode::new(arr2(&[[1.0, 2.0, 3.0], [0.0, 0.0, 1.0]]));
    let hidden = x.dot(&w);
    // The static column count survives the product; the row count stays run-time.
    has_dims::<Dyn, U2, _>(&hidden);
    let y = (hidden + bias.clone()).tanh();
    has_dims::<Dyn, U2, _>(&y);
    y.forward();
    assert_eq!(y.value().shape(), &[2, 2]);
    assert!((y.value()[(0, 0)] - (4.5f32).tanh()).abs() < 1e-6);
    assert!((y.value()[(1, 1)] - (0.5f32).tanh()).abs() < 1e-6);
    gradcheck::assert_gradient(&y, &w);
    gradcheck::assert_gradient(&y, &bias);

    // Run-time shaped on the left, static on the right: the static size wins.
    let row = InputNode::new(arr2(&[[1.0, 2.0]]));
    let sum = row + bias.clone();
    has_dims::<Dyn, U2, _>(&sum);

    // Fully static graphs keep both dimensions.
    let s = InputNode::<U1, U3>::new_static(arr2(&[[1.0, 2.0, 3.0]]));
    let z = s.dot(&w) * bias.clone();
    has_dims::<U1, U2, _>(&z);
    z.forward();
    assert_eq!(z.value().to_owned(), arr2(&[[2.0, -2.5]]));

    // Static parameters are ordinary parameters for optimizers.
    let params = z.parameters();
    assert_eq!(params.len(), 2);
    let mut opt = SGD::new(0.1, params);
    z.backward(1.0);
    optim::Optimizer::step(&mut opt);
    assert_eq!(bias.value()[(0, 0)], 0.5 - 0.1 * 4.0);
}

#[test]
#[should_panic(
    expected = "shape mismatch in `add`: cannot combine a 1x3 (left) with a 1x4 (right)"
)]
fn static_and_runtime_mismatch_panics_at_construction() {
    let a = ParameterNode::<U1, U3>::new_static(arr2(&[[1.0, 2.0, 3.0]]));
    let b = InputNode::new(arr2(&[[1.0, 2.0, 3.0, 4.0]]));
    let _ = a + b;
}
