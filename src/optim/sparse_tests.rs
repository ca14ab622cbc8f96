//! Optimizers on row-sparse gradients: only looked-up rows (and their optimizer state)
//! change, clearing is complete, clamp and L2 apply, and lazy updates agree with dense
//! ones when every row is touched.

use crate::nodes::ParameterNode;
use crate::optim::{Adagrad, Adam, Optimizer, RmsProp, SGD};
use crate::{HogwildParameter, IndexInputNode, InputNode, Variable};
use ndarray::Array2;
use std::sync::Arc;

fn matrix(rows: usize, cols: usize, seed: u64) -> Array2<f32> {
    crate::init::seeded(rows, cols, 1.0, seed)
}

type Make = fn(Vec<Variable<ParameterNode>>) -> Box<dyn Optimizer>;

/// Each optimizer with the number of state slots it uses.
fn optimizers() -> Vec<(&'static str, Make, usize)> {
    vec![
        ("sgd", |p| Box::new(SGD::new(0.1, p)), 0),
        (
            "sgd+momentum",
            |p| Box::new(SGD::new(0.1, p).momentum(0.9)),
            1,
        ),
        ("adagrad", |p| Box::new(Adagrad::new(0.1, p)), 1),
        ("rmsprop", |p| Box::new(RmsProp::new(0.01, p)), 1),
        ("adam", |p| Box::new(Adam::new(0.1, p)), 2),
    ]
}

/// The same optimizers with gradient clamping and an L2 penalty.
fn optimizers_with_options() -> Vec<(&'static str, Make)> {
    vec![
        ("sgd", |p| {
            Box::new(SGD::new(0.1, p).clamp(-0.1, 0.1).l2_penalty(0.5))
        }),
        ("sgd+momentum", |p| {
            Box::new(
                SGD::new(0.1, p)
                    .momentum(0.9)
                    .clamp(-0.1, 0.1)
                    .l2_penalty(0.5),
            )
        }),
        ("adagrad", |p| {
            Box::new(Adagrad::new(0.1, p).clamp(-0.1, 0.1).l2_penalty(0.5))
        }),
        ("rmsprop", |p| {
            Box::new(RmsProp::new(0.01, p).clamp(-0.1, 0.1).l2_penalty(0.5))
        }),
        ("adam", |p| {
            Box::new(Adam::new(0.1, p).clamp(-0.1, 0.1).l2_penalty(0.5))
        }),
        ("adamw", |p| {
            Box::new(Adam::new(0.1, p).clamp(-0.1, 0.1).weight_decay(0.5))
        }),
    ]
}

fn assert_close(a: &Array2<f32>, b: &Array2<f32>, tol: f32, what: &str) {
    assert_eq!(a.dim(), b.dim(), "{what}: shapes differ");
    for ((i, x), y) in a.indexed_iter().zip(b.iter()) {
        assert!((x - y).abs() <= tol, "{what}: element {i:?}: {x} vs {y}");
    }
}

/// A dense parameter holding `value` whose gradient is set to `gradient` (dense).
fn dense_reference(value: &Array2<f32>, gradient: &Array2<f32>) -> Variable<ParameterNode> {
    let p = ParameterNode::new(value.clone());
    crate::Node::backward(&**p.node(), gradient.as_slice().expect("standard layout"));
    p
}

#[test]
fn only_touched_rows_and_their_state_change() {
    for (name, make, slots) in optimizers() {
        let start = matrix(6, 3, 1);
        let table = ParameterNode::new(start.clone());
        let idx = IndexInputNode::new(&[1, 4, 1]);
        let out = table.index(&idx).tanh();
        let mut opt = make(vec![table.clone()]);
        out.forward();
        out.backward(1.0);
        assert!(table.node().gradient_is_sparse(), "{name}");

        // First step: the lazy update equals a dense update with the same gradient.
        let gradient = table.gradient();
        let reference = dense_reference(&start, &gradient);
        make(vec![reference.clone()]).step();
        opt.step();
        assert_close(
            &table.value().to_owned(),
            &reference.value().to_owned(),
            1e-6,
            name,
        );

        // Later steps touch rows 0 and 4; rows 2, 3, 5 are never touched.
        opt.zero_gradients();
        assert_eq!(table.gradient(), Array2::zeros((6, 3)), "{name}: cleared");
        for _ in 0..3 {
            idx.set_value(&[0, 4, 0]);
            out.forward();
            out.backward(1.0);
            opt.step();
            opt.zero_gradients();
        }
        let value = table.value().to_owned();
        for row in [2, 3, 5] {
            assert_eq!(value.row(row), start.row(row), "{name}: row {row} moved");
            for slot in 0..slots {
                let state = table.node().optimizer_state_slot(slot);
                assert!(
                    state[row * 3..row * 3 + 3].iter().all(|&s| s == 0.0),
                    "{name}: state {slot} of row {row} changed"
                );
            }
        }
        for row in [0, 1, 4] {
            assert_ne!(
                value.row(row),
                start.row(row),
                "{name}: row {row} did not move"
            );
        }
    }
}

#[test]
fn zero_gradients_clears_sparse_rows() {
    for (name, make, _) in optimizers() {
        let table = ParameterNode::new(matrix(5, 2, 2));
        let idx = IndexInputNode::new(&[3, 3]);
        let out = table.index(&idx);
        let mut opt = make(vec![table.clone()]);
        out.forward();
        out.backward(1.0);
        assert_eq!(table.gradient().row(3).to_vec(), vec![2.0, 2.0], "{name}");
        opt.step();
        opt.zero_gradients();
        assert_eq!(table.gradient(), Array2::zeros((5, 2)), "{name}");
        // With nothing accumulated, a step changes nothing.
        let before = table.value().to_owned();
        opt.step();
        assert_eq!(table.value().to_owned(), before, "{name}");
        // The next backward pass starts from zero.
        idx.set_value(&[1, 2]);
        out.forward();
        out.backward(1.0);
        let g = table.gradient();
        assert_eq!(g.row(3).to_vec(), vec![0.0, 0.0], "{name}");
        assert_eq!(g.row(1).to_vec(), vec![1.0, 1.0], "{name}");
    }
}

#[test]
fn clamp_and_l2_apply_to_sparse_gradients() {
    // wyrm 0.9 panicked with `unimplemented!` on sparse clamp.
    for (name, make) in optimizers_with_options() {
        let start = matrix(4, 3, 3);
        let table = ParameterNode::new(start.clone());
        let idx = IndexInputNode::new(&[2, 0]);
        // Gradients of 3 * rows are 3: well outside the clamp range.
        let out = table.index(&idx) * 3.0;
        out.forward();
        out.backward(1.0);
        let reference = dense_reference(&start, &table.gradient());
        make(vec![reference.clone()]).step();
        make(vec![table.clone()]).step();
        let (value, expected) = (table.value().to_owned(), reference.value().to_owned());
        for row in [0, 2] {
            for c in 0..3 {
                let (v, e) = (value[(row, c)], expected[(row, c)]);
                assert!((v - e).abs() < 1e-6, "{name}: ({row}, {c}): {v} vs {e}");
            }
        }
        // The L2 term is lazy: rows without a gradient are not decayed.
        for row in [1, 3] {
            assert_eq!(value.row(row), start.row(row), "{name}: row {row}");
        }
    }
    // By hand for SGD: w - lr * (clamp(g) + l2 * w).
    let start = matrix(3, 2, 4);
    let table = ParameterNode::new(start.clone());
    let out = table.index(&IndexInputNode::new(&[1])) * -5.0;
    out.forward();
    out.backward(1.0);
    SGD::new(0.1, vec![table.clone()])
        .clamp(-0.1, 0.1)
        .l2_penalty(0.5)
        .step();
    for c in 0..2 {
        let w = start[(1, c)];
        let expected = w - 0.1 * (-0.1 + 0.5 * w);
        assert!((table.value()[(1, c)] - expected).abs() < 1e-6);
    }
}

/// Trains two copies of a table for `steps` steps: one through a lookup of every row
/// (a purely sparse gradient), one through the same rows selected by a permutation
/// matrix (a dense gradient). Returns both final values.
fn sparse_and_dense_runs(make: Make, steps: usize) -> (Array2<f32>, Array2<f32>) {
    let start = matrix(4, 3, 5);
    let order = [2, 0, 3, 1];
    let mut permutation = Array2::zeros((4, 4));
    for (r, &c) in order.iter().enumerate() {
        permutation[(r, c)] = 1.0;
    }
    let target = InputNode::new(matrix(4, 3, 6));

    let sparse = ParameterNode::new(start.clone());
    let sparse_loss = (sparse.index(&IndexInputNode::new(&order)) - target.clone()).square();
    let dense = ParameterNode::new(start);
    let dense_loss = (InputNode::new(permutation).dot(&dense) - target.clone()).square();
    let mut sparse_opt = make(vec![sparse.clone()]);
    let mut dense_opt = make(vec![dense.clone()]);
    for step in 0..steps {
        target.set_value(matrix(4, 3, 100 + step as u64));
        sparse_loss.forward();
        sparse_loss.backward(0.5);
        sparse_opt.step();
        sparse_opt.zero_gradients();
        dense_loss.forward();
        dense_loss.backward(0.5);
        dense_opt.step();
        dense_opt.zero_gradients();
    }
    assert!(sparse.node().gradient_is_sparse());
    let sparse_value = sparse.value().to_owned();
    let dense_value = dense.value().to_owned();
    (sparse_value, dense_value)
}

#[test]
fn lazy_updates_agree_with_dense_when_every_row_is_touched() {
    for (name, make, _) in optimizers() {
        let (sparse, dense) = sparse_and_dense_runs(make, 10);
        assert_close(&sparse, &dense, 1e-5, name);
    }
    for (name, make) in optimizers_with_options() {
        let (sparse, dense) = sparse_and_dense_runs(make, 10);
        assert_close(&sparse, &dense, 1e-5, name);
    }
}

#[test]
fn adam_is_lazy_for_untouched_rows() {
    // Documented in adam.rs: untouched rows keep their moments (no decay) and do not
    // move; bias correction uses the optimizer's global step count.
    let (lr, b1, b2, eps) = (0.1f32, 0.9f32, 0.999f32, 1e-8f32);
    let start = matrix(3, 2, 7);
    let table = ParameterNode::new(start.clone());
    let idx = IndexInputNode::new(&[0]);
    let out = table.index(&idx) * 2.0; // gradient 2 on the looked-up row
    let mut opt = Adam::new(lr, vec![table.clone()])
        .beta1(b1)
        .beta2(b2)
        .eps(eps);
    out.forward();
    out.backward(1.0);
    opt.step();
    opt.zero_gradients();
    let after_first = table.value().to_owned();
    let moments = (
        table.node().optimizer_state_slot(0),
        table.node().optimizer_state_slot(1),
    );

    idx.set_value(1);
    out.forward();
    out.backward(1.0);
    opt.step();
    opt.zero_gradients();
    let value = table.value().to_owned();
    // Row 0 was not touched in step 2: same value, same moments.
    assert_eq!(value.row(0), after_first.row(0));
    assert_eq!(table.node().optimizer_state_slot(0)[..2], moments.0[..2]);
    assert_eq!(table.node().optimizer_state_slot(1)[..2], moments.1[..2]);
    // Row 1's first update happens at global step 2.
    let g = 2.0f32;
    let (m, v) = ((1.0 - b1) * g, (1.0 - b2) * g * g);
    let (m_hat, v_hat) = (m / (1.0 - b1.powi(2)), v / (1.0 - b2.powi(2)));
    for c in 0..2 {
        let expected = start[(1, c)] - lr * m_hat / (v_hat.sqrt() + eps);
        assert!(
            (value[(1, c)] - expected).abs() < 1e-5,
            "{} vs {expected}",
            value[(1, c)]
        );
    }
    assert_eq!(value.row(2), start.row(2));
}

#[test]
fn shared_tables_update_only_touched_rows() {
    let start = matrix(5, 2, 8);
    let shared = Arc::new(HogwildParameter::new(start.clone()));
    let table = ParameterNode::shared(shared.clone());
    let idx = IndexInputNode::new(&[3]);
    let out = table.index(&idx).square();
    let mut opt = Adagrad::new(0.1, vec![table.clone()]);
    out.forward();
    out.backward(1.0);
    opt.step();
    opt.zero_gradients();
    let value = shared.value();
    for row in [0, 1, 2, 4] {
        assert_eq!(value.row(row), start.row(row));
    }
    assert_ne!(value.row(3), start.row(3));
    let state = table.node().optimizer_state_slot(0);
    assert!(state[..6].iter().chain(&state[8..]).all(|&s| s == 0.0));
    assert!(state[6..8].iter().all(|&s| s > 0.0));
    assert_eq!(table.gradient(), Array2::zeros((5, 2)));
}

#[test]
fn dense_and_sparse_gradient_updates_every_row() {
    let start = matrix(3, 2, 9);
    let table = ParameterNode::new(start.clone());
    let x = InputNode::new(matrix(1, 3, 10));
    let out = x.dot(&table) + table.index(&IndexInputNode::new(&[2]));
    out.forward();
    out.backward(1.0);
    let gradient = table.gradient();
    let mut opt = SGD::new(0.5, vec![table.clone()]);
    opt.step();
    assert_close(
        &table.value().to_owned(),
        &(&start - &(gradient * 0.5)),
        1e-6,
        "sgd",
    );
    opt.zero_gradients();
    assert_eq!(table.gradient(), Array2::zeros((3, 2)));
}

#[test]
fn a_row_with_several_gradient_entries_is_updated_once_with_their_sum() {
    // One lookup with two consumers records two gradient entries for the same row. The
    // optimizers must sum them before updating (Adagrad and Adam are not linear in the
    // gradient), as a dense gradient through a one-hot product does.
    for (name, make, _) in optimizers() {
        let start = matrix(4, 3, 21);
        let (a, b) = (
            InputNode::new(matrix(1, 3, 22)),
            InputNode::new(matrix(1, 3, 23)),
        );

        let sparse = ParameterNode::new(start.clone());
        let row = sparse.index(&IndexInputNode::new(&[2]));
        let sparse_loss = (row.vector_dot(&a) + row.vector_dot(&b)).square();
        let dense = ParameterNode::new(start);
        let mut one_hot = Array2::zeros((1, 4));
        one_hot[(0, 2)] = 1.0;
        let row = InputNode::new(one_hot).dot(&dense);
        let dense_loss = (row.vector_dot(&a) + row.vector_dot(&b)).square();

        let (mut sparse_opt, mut dense_opt) =
            (make(vec![sparse.clone()]), make(vec![dense.clone()]));
        for step in 0..5 {
            a.set_value(matrix(1, 3, 30 + step));
            b.set_value(matrix(1, 3, 40 + step));
            sparse_loss.forward();
            sparse_loss.backward(1.0);
            sparse_opt.step();
            sparse_opt.zero_gradients();
            dense_loss.forward();
            dense_loss.backward(1.0);
            dense_opt.step();
            dense_opt.zero_gradients();
        }
        // Only row 2 ever has a gradient, so lazy and dense updates must agree.
        assert_close(&sparse.value(), &dense.value(), 1e-5, name);
    }
}
