//! `linreg`: the quickstart model (`y = 3x + 5`, slope and intercept 1x1, squared error,
//! SGD 0.1). Nothing but framework overhead: pass counting, cache checks, buffer handling.
//!
//! Three variants of one training step (set inputs, forward, backward, optimizer step, zero
//! gradients): Wyrm with run-time shapes, Wyrm with typenum (static) shapes, and the same
//! math written by hand. Each `*_step` returns a closure running one step and returning the
//! step's loss.

use criterion::{black_box, Criterion};
use wyrm::typenum::U1;
use wyrm::*;

/// Learning rate of the workload.
pub const LEARNING_RATE: f32 = 0.1;

/// Initial slope and intercept (fixed so that all variants follow the same trajectory).
pub const INIT: (f32, f32) = (0.5, -0.25);

/// A fixed, repeating stream of training inputs in `[0, 1)` (no RNG in the timed loop).
#[derive(Clone, Debug)]
pub struct Data {
    xs: Vec<f32>,
    at: usize,
}

impl Data {
    /// 1024 pseudo-random inputs.
    pub fn new() -> Self {
        let xs = (0..1024u32)
            .map(|i| (i.wrapping_mul(2_654_435_761) >> 8) as f32 / (1u32 << 24) as f32)
            .collect();
        Data { xs, at: 0 }
    }

    /// The next input `x` and its target `3x + 5`.
    #[inline(always)]
    pub fn next(&mut self) -> (f32, f32) {
        let x = self.xs[self.at];
        self.at = (self.at + 1) & 1023;
        (x, 3.0 * x + 5.0)
    }
}

fn scalar(v: f32) -> ndarray::Array2<f32> {
    ndarray::arr2(&[[v]])
}

/// The quickstart, with run-time shapes.
pub fn wyrm_step() -> impl FnMut() -> f32 {
    let slope = ParameterNode::new(scalar(INIT.0));
    let intercept = ParameterNode::new(scalar(INIT.1));
    let x = InputNode::new(scalar(0.0));
    let y = InputNode::new(scalar(0.0));
    let yhat = slope.clone() * x.clone() + intercept.clone();
    let loss = (y.clone() - yhat).square();
    let mut optimizer = SGD::new(LEARNING_RATE, vec![slope, intercept]);
    let mut data = Data::new();
    move || {
        let (xv, yv) = data.next();
        x.set_value(black_box(xv));
        y.set_value(black_box(yv));
        loss.forward();
        loss.backward(1.0);
        optimizer.step();
        optimizer.zero_gradients();
        loss.node().value()[0]
    }
}

/// The quickstart with statically shaped (`U1 x U1`) leaves.
pub fn wyrm_static_step() -> impl FnMut() -> f32 {
    let slope = ParameterNode::<U1, U1>::new_static(scalar(INIT.0));
    let intercept = ParameterNode::<U1, U1>::new_static(scalar(INIT.1));
    let x = InputNode::<U1, U1>::new_static(scalar(0.0));
    let y = InputNode::<U1, U1>::new_static(scalar(0.0));
    let yhat = slope.clone() * x.clone() + intercept.clone();
    let loss = (y.clone() - yhat).square();
    let mut optimizer = SGD::new(LEARNING_RATE, vec![slope.erased(), intercept.erased()]);
    let mut data = Data::new();
    move || {
        let (xv, yv) = data.next();
        x.set_value(black_box(xv));
        y.set_value(black_box(yv));
        loss.forward();
        loss.backward(1.0);
        optimizer.step();
        optimizer.zero_gradients();
        loss.node().value()[0]
    }
}

/// Hand-written linear regression: parameters and gradients in plain fields, gradients
/// derived by hand.
#[derive(Debug)]
pub struct Hand {
    /// Slope.
    pub slope: f32,
    /// Intercept.
    pub intercept: f32,
    grad_slope: f32,
    grad_intercept: f32,
}

impl Hand {
    /// Starts from [`INIT`].
    pub fn new() -> Self {
        Hand {
            slope: INIT.0,
            intercept: INIT.1,
            grad_slope: 0.0,
            grad_intercept: 0.0,
        }
    }

    /// One step on `(x, y)`; returns the loss.
    #[inline]
    pub fn step(&mut self, x: f32, y: f32) -> f32 {
        // forward
        let yhat = self.slope * x + self.intercept;
        let r = y - yhat;
        let loss = r * r;
        // backward: dloss/dyhat = -2r
        let d = -2.0 * r;
        self.grad_slope += d * x;
        self.grad_intercept += d;
        // SGD, then zero gradients
        self.slope -= LEARNING_RATE * self.grad_slope;
        self.intercept -= LEARNING_RATE * self.grad_intercept;
        self.grad_slope = 0.0;
        self.grad_intercept = 0.0;
        loss
    }
}

/// The hand-written step as a closure like the others.
pub fn hand_step() -> impl FnMut() -> f32 {
    let mut hand = Hand::new();
    let mut data = Data::new();
    move || {
        let (x, y) = data.next();
        hand.step(black_box(x), black_box(y))
    }
}

/// Criterion benchmarks: `linreg/wyrm`, `linreg/wyrm_static`, `linreg/hand`.
pub fn bench(c: &mut Criterion) {
    let mut group = c.benchmark_group("linreg");
    let mut step = wyrm_step();
    group.bench_function("wyrm", |b| b.iter(&mut step));
    let mut step = wyrm_static_step();
    group.bench_function("wyrm_static", |b| b.iter(&mut step));
    let mut step = hand_step();
    group.bench_function("hand", |b| b.iter(&mut step));
    group.finish();
}

criterion::criterion_group!(
    name = benches;
    config = Criterion::default();
    targets = bench
);
