//! `mlp`: x 1x32 -> tanh(x W1 + b1) 64 -> tanh(. W2 + b2) 64 -> . w3 + b3, squared error,
//! SGD 0.01, batch size 1.
//!
//! Variants of one training step (set inputs, forward, backward, optimizer step, zero
//! gradients): Wyrm, and the same math written by hand on plain slices (vectorisable loops,
//! compiled for AVX2 when the CPU has it). Each `*_step` returns a closure running one step
//! and returning the step's loss.
//!
//! `wide_input` shows "no wasted work": the same network whose first layer also adds a large
//! input-only branch (`x2 · C`, both inputs, 1x256 times 256x64). That branch costs forward
//! work but no gradient work, since nothing in it needs a gradient; `wide_param` makes `C`
//! a parameter instead, so backward must compute its 256x64 gradient too.

use criterion::{black_box, Criterion};
use ndarray::{Array2, ArrayView2};
use wyrm::*;

/// Input width.
pub const IN: usize = 32;
/// Hidden width.
pub const HIDDEN: usize = 64;
/// Width of the extra branch in the `wide_*` variants.
pub const WIDE: usize = 256;
/// Learning rate.
pub const LEARNING_RATE: f32 = 0.01;
/// Number of distinct samples cycled through.
const SAMPLES: usize = 256;

/// Deterministic pseudo-random numbers in `[-1, 1)` (xorshift), so every variant starts
/// from the same weights and sees the same data.
fn uniform(seed: u64, n: usize) -> Vec<f32> {
    let mut s = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..n)
        .map(|_| {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            (s >> 40) as f32 / (1u64 << 23) as f32 - 1.0
        })
        .collect()
}

/// Initial weights, row-major (`w1` is 32x64, `w2` 64x64, `w3` 64x1).
#[derive(Clone, Debug)]
pub struct Weights {
    /// First layer, IN x HIDDEN.
    pub w1: Vec<f32>,
    /// First bias, 1 x HIDDEN.
    pub b1: Vec<f32>,
    /// Second layer, HIDDEN x HIDDEN.
    pub w2: Vec<f32>,
    /// Second bias.
    pub b2: Vec<f32>,
    /// Output layer, HIDDEN x 1.
    pub w3: Vec<f32>,
    /// Output bias, 1 x 1.
    pub b3: Vec<f32>,
}

impl Weights {
    /// Uniform in `±1/sqrt(fan_in)`, biases zero.
    pub fn new() -> Self {
        let scaled = |seed, n, fan_in: usize| {
            let s = 1.0 / (fan_in as f32).sqrt();
            uniform(seed, n).into_iter().map(|v| v * s).collect()
        };
        Weights {
            w1: scaled(1, IN * HIDDEN, IN),
            b1: vec![0.0; HIDDEN],
            w2: scaled(2, HIDDEN * HIDDEN, HIDDEN),
            b2: vec![0.0; HIDDEN],
            w3: scaled(3, HIDDEN, HIDDEN),
            b3: vec![0.0],
        }
    }
}

/// A fixed, repeating stream of samples: `x` uniform in `[-1, 1)^32`, `y = sin(sum of x / 4)`.
#[derive(Clone, Debug)]
pub struct Data {
    xs: Vec<f32>,
    ys: Vec<f32>,
    at: usize,
}

impl Data {
    /// [`SAMPLES`] samples.
    pub fn new() -> Self {
        let xs = uniform(4, SAMPLES * IN);
        let ys = xs
            .chunks_exact(IN)
            .map(|x| (x.iter().sum::<f32>() * 0.25).sin())
            .collect();
        Data { xs, ys, at: 0 }
    }

    /// The next sample `(x, y)`.
    #[inline(always)]
    pub fn next(&mut self) -> (&[f32], f32) {
        let at = self.at;
        self.at = (at + 1) % SAMPLES;
        (&self.xs[at * IN..(at + 1) * IN], self.ys[at])
    }
}

fn matrix(rows: usize, cols: usize, data: &[f32]) -> Array2<f32> {
    Array2::from_shape_vec((rows, cols), data.to_vec()).expect("weights shape")
}

/// The MLP's six parameters, `[w1, b1, w2, b2, w3, b3]`, from the shared initial weights.
fn parameters() -> [Variable<ParameterNode>; 6] {
    let w = Weights::new();
    [
        ParameterNode::new(matrix(IN, HIDDEN, &w.w1)),
        ParameterNode::new(matrix(1, HIDDEN, &w.b1)),
        ParameterNode::new(matrix(HIDDEN, HIDDEN, &w.w2)),
        ParameterNode::new(matrix(1, HIDDEN, &w.b2)),
        ParameterNode::new(matrix(HIDDEN, 1, &w.w3)),
        ParameterNode::new(matrix(1, 1, &w.b3)),
    ]
}

/// The training step (next sample into `x` and `y`, forward, backward, SGD, zero the
/// gradients) around a built `loss`, returning the loss.
fn training_step<N: Node>(
    x: Variable<InputNode>,
    y: Variable<InputNode>,
    loss: Variable<N>,
) -> impl FnMut() -> f32 {
    let mut optimizer = SGD::new(LEARNING_RATE, loss.parameters());
    let mut data = Data::new();
    move || {
        let (xv, yv) = data.next();
        x.set_value(ArrayView2::from_shape((1, IN), black_box(xv)).expect("1 x IN"));
        y.set_value(black_box(yv));
        loss.forward();
        loss.backward(1.0);
        optimizer.step();
        optimizer.zero_gradients();
        loss.node().value()[0]
    }
}

/// The MLP in Wyrm.
pub fn wyrm_step() -> impl FnMut() -> f32 {
    let x = InputNode::new(Array2::zeros((1, IN)));
    let y = InputNode::new(Array2::zeros((1, 1)));
    let [w1, b1, w2, b2, w3, b3] = parameters();
    let h1 = (x.dot(&w1) + b1).tanh();
    let h2 = (h1.dot(&w2) + b2).tanh();
    let yhat = h2.dot(&w3) + b3;
    let loss = (y.clone() - yhat).square();
    training_step(x, y, loss)
}

/// The MLP whose first layer adds an extra branch `x2 · C` (1x256 times 256x64); `C` is an
/// input (`c_is_param == false`: the branch needs no gradient) or a parameter.
pub fn wyrm_wide_step(c_is_param: bool) -> impl FnMut() -> f32 {
    let x = InputNode::new(Array2::zeros((1, IN)));
    let x2 = InputNode::new(matrix(1, WIDE, &uniform(5, WIDE)));
    let y = InputNode::new(Array2::zeros((1, 1)));
    let c_value = matrix(WIDE, HIDDEN, &uniform(6, WIDE * HIDDEN)) * 0.01;
    let [w1, b1, w2, b2, w3, b3] = parameters();
    // Both variants have the same type: a parameter is erased into the input's place by
    // boxing the branch.
    let branch = if c_is_param {
        x2.dot(&ParameterNode::new(c_value)).boxed()
    } else {
        x2.dot(&InputNode::new(c_value)).boxed()
    };
    let h1 = (x.dot(&w1) + branch + b1).tanh();
    let h2 = (h1.dot(&w2) + b2).tanh();
    let yhat = h2.dot(&w3) + b3;
    let loss = (y.clone() - yhat).square();
    training_step(x, y, loss)
}

/// Hand-written MLP: weights, activations and gradients in plain `Vec`s, gradients derived
/// by hand, loops shaped so that LLVM vectorises them. `tanh` is `wyrm::kernels::tanh`, the
/// function Wyrm's `tanh` node uses: `f32::tanh`, or the approximation under `fast-math`,
/// so both sides always compute the same math.
#[derive(Debug)]
pub struct Hand {
    /// Current weights.
    pub w: Weights,
    g: Weights,
    x: Vec<f32>,
    h1: Vec<f32>,
    h2: Vec<f32>,
    g1: Vec<f32>,
    g2: Vec<f32>,
    avx2: bool,
}

/// `out = b + x · W` for row-major `W` (`x.len() x out.len()`): one axpy per input.
#[inline(always)]
fn affine(x: &[f32], w: &[f32], b: &[f32], out: &mut [f32]) {
    let n = out.len();
    out.copy_from_slice(b);
    for (xi, row) in x.iter().zip(w.chunks_exact(n)) {
        for (o, w) in out.iter_mut().zip(row) {
            *o += xi * w;
        }
    }
}

/// Dot product with eight partial sums (vectorisable).
#[inline(always)]
fn dot(a: &[f32], b: &[f32]) -> f32 {
    let mut acc = [0.0f32; 8];
    let (ca, cb) = (a.chunks_exact(8), b.chunks_exact(8));
    let tail: f32 = ca
        .remainder()
        .iter()
        .zip(cb.remainder())
        .map(|(x, y)| x * y)
        .sum();
    for (x, y) in ca.zip(cb) {
        for i in 0..8 {
            acc[i] += x[i] * y[i];
        }
    }
    acc.iter().sum::<f32>() + tail
}

/// `g[i*n + j] = a[i] * d[j]`.
#[inline(always)]
fn outer(a: &[f32], d: &[f32], g: &mut [f32]) {
    for (ai, row) in a.iter().zip(g.chunks_exact_mut(d.len())) {
        for (g, d) in row.iter_mut().zip(d) {
            *g = ai * d;
        }
    }
}

#[inline(always)]
fn sgd(w: &mut [f32], g: &[f32]) {
    for (w, g) in w.iter_mut().zip(g) {
        *w -= LEARNING_RATE * g;
    }
}

impl Hand {
    /// Starts from [`Weights::new`].
    pub fn new() -> Self {
        let w = Weights::new();
        #[cfg(target_arch = "x86_64")]
        let avx2 = is_x86_feature_detected!("avx2") && is_x86_feature_detected!("fma");
        #[cfg(not(target_arch = "x86_64"))]
        let avx2 = false;
        Hand {
            g: w.clone(),
            w,
            x: vec![0.0; IN],
            h1: vec![0.0; HIDDEN],
            h2: vec![0.0; HIDDEN],
            g1: vec![0.0; HIDDEN],
            g2: vec![0.0; HIDDEN],
            avx2,
        }
    }

    /// One step on `(x, y)`; returns the loss.
    #[inline]
    pub fn step(&mut self, x: &[f32], y: f32) -> f32 {
        #[cfg(target_arch = "x86_64")]
        if self.avx2 {
            // SAFETY: the CPU supports AVX2 and FMA (checked in `new`).
            return unsafe { self.step_avx2(x, y) };
        }
        self.step_impl(x, y)
    }

    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2,fma")]
    unsafe fn step_avx2(&mut self, x: &[f32], y: f32) -> f32 {
        self.step_impl(x, y)
    }

    #[inline(always)]
    fn step_impl(&mut self, x: &[f32], y: f32) -> f32 {
        let (w, g) = (&mut self.w, &mut self.g);
        // set input
        self.x.copy_from_slice(x);
        // forward
        affine(&self.x, &w.w1, &w.b1, &mut self.h1);
        self.h1
            .iter_mut()
            .for_each(|v| *v = wyrm::kernels::tanh(*v));
        affine(&self.h1, &w.w2, &w.b2, &mut self.h2);
        self.h2
            .iter_mut()
            .for_each(|v| *v = wyrm::kernels::tanh(*v));
        let yhat = dot(&self.h2, &w.w3) + w.b3[0];
        let r = y - yhat;
        let loss = r * r;
        // backward
        let d = -2.0 * r;
        g.b3[0] = d;
        for ((gw, h), (g2, w3)) in
            g.w3.iter_mut()
                .zip(&self.h2)
                .zip(self.g2.iter_mut().zip(&w.w3))
        {
            *gw = h * d;
            *g2 = w3 * d * (1.0 - h * h);
        }
        g.b2.copy_from_slice(&self.g2);
        outer(&self.h1, &self.g2, &mut g.w2);
        for ((g1, row), h) in self
            .g1
            .iter_mut()
            .zip(w.w2.chunks_exact(HIDDEN))
            .zip(&self.h1)
        {
            *g1 = dot(row, &self.g2) * (1.0 - h * h);
        }
        g.b1.copy_from_slice(&self.g1);
        outer(&self.x, &self.g1, &mut g.w1);
        // SGD; every gradient buffer is overwritten next step, so zeroing is free.
        sgd(&mut w.w1, &g.w1);
        sgd(&mut w.b1, &g.b1);
        sgd(&mut w.w2, &g.w2);
        sgd(&mut w.b2, &g.b2);
        sgd(&mut w.w3, &g.w3);
        sgd(&mut w.b3, &g.b3);
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

/// Criterion benchmarks: `mlp/wyrm`, `mlp/hand`, and the no-wasted-work pair
/// `mlp/wide_input`, `mlp/wide_param`.
pub fn bench(c: &mut Criterion) {
    let mut group = c.benchmark_group("mlp");
    let mut step = wyrm_step();
    group.bench_function("wyrm", |b| b.iter(&mut step));
    let mut step = hand_step();
    group.bench_function("hand", |b| b.iter(&mut step));
    let mut step = wyrm_wide_step(false);
    group.bench_function("wide_input", |b| b.iter(&mut step));
    let mut step = wyrm_wide_step(true);
    group.bench_function("wide_param", |b| b.iter(&mut step));
    group.finish();
}

criterion::criterion_group!(
    name = benches;
    config = Criterion::default();
    targets = bench
);
