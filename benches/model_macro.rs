//! `model_macro`: the graphs that `wyrm::model!` generates against the same graphs composed
//! by hand with Wyrm, on the `linreg` and `mlp` workloads (one training step: set inputs,
//! forward, backward, SGD step, zero gradients). The expansion has exactly the
//! hand-composed node types, so the ratio should be 1 within noise.
//!
//! Benchmarks: `model_macro/linreg_macro`, `model_macro/linreg_by_hand`,
//! `model_macro/linreg_static_macro`, `model_macro/linreg_static_by_hand` (with
//! `#[static_shapes]`), `model_macro/mlp_macro`, `model_macro/mlp_by_hand`.

use criterion::{black_box, Criterion};
use wyrm::ndarray::{Array2, ArrayView2};
use wyrm::prelude::*;

wyrm::model! {
    /// The quickstart regression.
    struct LinearRegression {
        slope: Param<1, 1>,
        intercept: Param<1, 1>,
        x: Input<1, 1>,
        y: Input<1, 1>,
        yhat = slope * x + intercept,
        loss = (y - yhat).square(),
    }
}

wyrm::model! {
    /// The quickstart regression with compile-time (`U1 x U1`) leaves.
    #[static_shapes]
    struct StaticLinearRegression {
        slope: Param<1, 1>,
        intercept: Param<1, 1>,
        x: Input<1, 1>,
        y: Input<1, 1>,
        yhat = slope * x + intercept,
        loss = (y - yhat).square(),
    }
}

/// Input width of the MLP.
const IN: usize = 32;
/// Hidden width of the MLP.
const HIDDEN: usize = 64;

wyrm::model! {
    /// x 1x32 -> tanh(x W1 + b1) 64 -> tanh(. W2 + b2) 64 -> . w3 + b3, squared error.
    struct Mlp {
        w1: Param<{ IN }, { HIDDEN }>,
        b1: Param<1, { HIDDEN }>,
        w2: Param<{ HIDDEN }, { HIDDEN }>,
        b2: Param<1, { HIDDEN }>,
        w3: Param<{ HIDDEN }, 1>,
        b3: Param<1, 1>,
        x: Input<1, { IN }>,
        y: Input<1, 1>,
        h1 = (x.dot(w1) + b1).tanh(),
        h2 = (h1.dot(w2) + b2).tanh(),
        yhat = h2.dot(w3) + b3,
        loss = (y - yhat).square(),
    }
}

/// Deterministic values in `[-scale, scale)` (xorshift), so both variants start equal.
fn uniform(seed: u64, rows: usize, cols: usize, scale: f32) -> Array2<f32> {
    let mut s = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    Array2::from_shape_simple_fn((rows, cols), || {
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        ((s >> 40) as f32 / (1u64 << 23) as f32 - 1.0) * scale
    })
}

/// A repeating stream of linreg inputs and targets `3x + 5`.
fn linreg_data() -> impl FnMut() -> (f32, f32) {
    let xs = uniform(1, 1, 1024, 1.0);
    let mut at = 0;
    move || {
        let x = xs[(0, at)];
        at = (at + 1) % 1024;
        (x, 3.0 * x + 5.0)
    }
}

/// One linreg step on the macro's model.
fn linreg_macro() -> impl FnMut() -> f32 {
    let model = LinearRegression::new();
    model.slope.set_value(&wyrm::ndarray::arr2(&[[0.5]]));
    model.intercept.set_value(&wyrm::ndarray::arr2(&[[-0.25]]));
    let mut optimizer = SGD::new(0.1, model.parameters());
    let mut data = linreg_data();
    move || {
        let (x, y) = data();
        model.x.set_value(black_box(x));
        model.y.set_value(black_box(y));
        model.loss.forward();
        model.loss.backward(1.0);
        optimizer.step();
        optimizer.zero_gradients();
        model.loss.node().value()[0]
    }
}

/// One linreg step on the same graph composed by hand.
fn linreg_by_hand() -> impl FnMut() -> f32 {
    let slope = ParameterNode::new(wyrm::ndarray::arr2(&[[0.5]]));
    let intercept = ParameterNode::new(wyrm::ndarray::arr2(&[[-0.25]]));
    let x = InputNode::new(Array2::zeros((1, 1)));
    let y = InputNode::new(Array2::zeros((1, 1)));
    let yhat = slope.clone() * x.clone() + intercept.clone();
    let loss = (y.clone() - yhat).square();
    let mut optimizer = SGD::new(0.1, vec![slope, intercept]);
    let mut data = linreg_data();
    move || {
        let (xv, yv) = data();
        x.set_value(black_box(xv));
        y.set_value(black_box(yv));
        loss.forward();
        loss.backward(1.0);
        optimizer.step();
        optimizer.zero_gradients();
        loss.node().value()[0]
    }
}

/// One linreg step on the macro's model with static shapes.
fn linreg_static_macro() -> impl FnMut() -> f32 {
    let model = StaticLinearRegression::new();
    model.slope.set_value(&wyrm::ndarray::arr2(&[[0.5]]));
    model.intercept.set_value(&wyrm::ndarray::arr2(&[[-0.25]]));
    let mut optimizer = SGD::new(0.1, model.parameters());
    let mut data = linreg_data();
    move || {
        let (x, y) = data();
        model.x.set_value(black_box(x));
        model.y.set_value(black_box(y));
        model.loss.forward();
        model.loss.backward(1.0);
        optimizer.step();
        optimizer.zero_gradients();
        model.loss.node().value()[0]
    }
}

/// One linreg step on the same statically shaped graph composed by hand.
fn linreg_static_by_hand() -> impl FnMut() -> f32 {
    use wyrm::typenum::U1;
    let slope = ParameterNode::<U1, U1>::new_static(wyrm::ndarray::arr2(&[[0.5]]));
    let intercept = ParameterNode::<U1, U1>::new_static(wyrm::ndarray::arr2(&[[-0.25]]));
    let x = InputNode::<U1, U1>::new_static(Array2::zeros((1, 1)));
    let y = InputNode::<U1, U1>::new_static(Array2::zeros((1, 1)));
    let yhat = slope.clone() * x.clone() + intercept.clone();
    let loss = (y.clone() - yhat).square();
    let mut optimizer = SGD::new(0.1, vec![slope.erased(), intercept.erased()]);
    let mut data = linreg_data();
    move || {
        let (xv, yv) = data();
        x.set_value(black_box(xv));
        y.set_value(black_box(yv));
        loss.forward();
        loss.backward(1.0);
        optimizer.step();
        optimizer.zero_gradients();
        loss.node().value()[0]
    }
}

/// The MLP's initial weights: `(w1, b1, w2, b2, w3, b3)`.
fn mlp_weights() -> [Array2<f32>; 6] {
    let scale = |fan_in: usize| 1.0 / (fan_in as f32).sqrt();
    [
        uniform(2, IN, HIDDEN, scale(IN)),
        Array2::zeros((1, HIDDEN)),
        uniform(3, HIDDEN, HIDDEN, scale(HIDDEN)),
        Array2::zeros((1, HIDDEN)),
        uniform(4, HIDDEN, 1, scale(HIDDEN)),
        Array2::zeros((1, 1)),
    ]
}

/// A repeating stream of 256 MLP samples: `x` in `[-1, 1)^32`, `y = sin(sum(x) / 4)`.
fn mlp_data() -> impl FnMut() -> (Array2<f32>, f32) {
    let xs = uniform(5, 256, IN, 1.0);
    let mut at = 0;
    move || {
        let x = xs
            .row(at)
            .to_owned()
            .into_shape_with_order((1, IN))
            .expect("1 x IN");
        at = (at + 1) % 256;
        let y = (x.sum() * 0.25).sin();
        (x, y)
    }
}

/// Samples are precomputed so that the timed step only copies them in.
fn mlp_samples() -> Vec<(Array2<f32>, f32)> {
    let mut data = mlp_data();
    (0..256).map(|_| data()).collect()
}

/// One MLP step on the macro's model.
fn mlp_macro() -> impl FnMut() -> f32 {
    let model = Mlp::new();
    let params = model.parameters();
    for (p, w) in params.iter().zip(mlp_weights()) {
        p.set_value(&w);
    }
    let mut optimizer = SGD::new(0.01, params);
    let samples = mlp_samples();
    let mut at = 0;
    move || {
        let (xv, yv) = &samples[at];
        at = (at + 1) % samples.len();
        model.x.set_value(black_box(xv.view()));
        model.y.set_value(black_box(*yv));
        model.loss.forward();
        model.loss.backward(1.0);
        optimizer.step();
        optimizer.zero_gradients();
        model.loss.node().value()[0]
    }
}

/// One MLP step on the same graph composed by hand.
fn mlp_by_hand() -> impl FnMut() -> f32 {
    let [w1, b1, w2, b2, w3, b3] = mlp_weights().map(ParameterNode::new);
    let x = InputNode::new(Array2::zeros((1, IN)));
    let y = InputNode::new(Array2::zeros((1, 1)));
    let h1 = (x.dot(&w1) + b1.clone()).tanh();
    let h2 = (h1.dot(&w2) + b2.clone()).tanh();
    let yhat = h2.dot(&w3) + b3.clone();
    let loss = (y.clone() - yhat).square();
    let mut optimizer = SGD::new(0.01, vec![w1, b1, w2, b2, w3, b3]);
    let samples = mlp_samples();
    let mut at = 0;
    move || {
        let (xv, yv): &(Array2<f32>, f32) = &samples[at];
        at = (at + 1) % samples.len();
        let view: ArrayView2<'_, f32> = xv.view();
        x.set_value(black_box(view));
        y.set_value(black_box(*yv));
        loss.forward();
        loss.backward(1.0);
        optimizer.step();
        optimizer.zero_gradients();
        loss.node().value()[0]
    }
}

/// Criterion benchmarks: `model_macro/{linreg,linreg_static,mlp}_{macro,by_hand}`.
pub fn bench(c: &mut Criterion) {
    let mut group = c.benchmark_group("model_macro");
    let mut step = linreg_macro();
    group.bench_function("linreg_macro", |b| b.iter(&mut step));
    let mut step = linreg_by_hand();
    group.bench_function("linreg_by_hand", |b| b.iter(&mut step));
    let mut step = linreg_static_macro();
    group.bench_function("linreg_static_macro", |b| b.iter(&mut step));
    let mut step = linreg_static_by_hand();
    group.bench_function("linreg_static_by_hand", |b| b.iter(&mut step));
    let mut step = mlp_macro();
    group.bench_function("mlp_macro", |b| b.iter(&mut step));
    let mut step = mlp_by_hand();
    group.bench_function("mlp_by_hand", |b| b.iter(&mut step));
    group.finish();
}

criterion::criterion_group!(
    name = benches;
    config = Criterion::default();
    targets = bench
);
