//! Convergence of every optimizer on a small linear regression, and the effect of the
//! shared options (`l2_penalty`, `clamp`).
//!
//! The model is `yhat = X w + b` with three features, trained on minibatches drawn from
//! `y = X w* + b*` with fixed seeds. The loss is the sum of squared errors over the batch:
//! `(y - yhat).square()` seeded with `backward(1.0)`, which seeds every element.

use ndarray::{arr2, Array2};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use wyrm::optim::Optimizer;
use wyrm::*;

const TRUE_W: [f32; 3] = [1.5, -2.0, 0.5];
const TRUE_B: f32 = 0.7;
const BATCH: usize = 8;

/// A minibatch `(X, y)` from the true model, features uniform in [-1, 1).
fn batch(rng: &mut StdRng) -> (Array2<f32>, Array2<f32>) {
    let x = Array2::from_shape_simple_fn((BATCH, 3), || rng.gen_range(-1.0f32..1.0));
    let y = Array2::from_shape_fn((BATCH, 1), |(r, _)| {
        TRUE_B + (0..3).map(|c| x[(r, c)] * TRUE_W[c]).sum::<f32>()
    });
    (x, y)
}

/// What a training run ends with.
struct Trained {
    w: Array2<f32>,
    b: f32,
    /// Mean squared error on a held-out batch.
    test_mse: f32,
    /// Mean squared error on the same held-out batch before training.
    initial_mse: f32,
}

/// Builds the regression graph, hands `loss.parameters()` to `make_optimizer`, and trains
/// for `steps` minibatches.
fn train<O: Optimizer>(
    seed: u64,
    steps: usize,
    make_optimizer: impl FnOnce(Vec<Variable<ParameterNode>>) -> O,
) -> Trained {
    let mut rng = StdRng::seed_from_u64(seed);
    let w = ParameterNode::new(wyrm::init::normal(3, 1, 0.0, 0.5, &mut rng));
    let b = ParameterNode::new(Array2::zeros((1, 1)));
    let x = InputNode::new(Array2::zeros((BATCH, 3)));
    let y = InputNode::new(Array2::zeros((BATCH, 1)));
    // The 1x1 bias is broadcast over the batch rows.
    let yhat = x.dot(&w) + b.clone();
    let mut loss = (y.clone() - yhat).square();

    let parameters = loss.parameters();
    assert_eq!(parameters.len(), 2, "w and b, each once");
    let mut optimizer = make_optimizer(parameters);

    let (test_x, test_y) = batch(&mut StdRng::seed_from_u64(seed ^ 0xdead_beef));
    let mse = |loss: &mut Variable<_>| {
        x.set_value(&test_x);
        y.set_value(&test_y);
        loss.forward();
        loss.value().sum() / BATCH as f32
    };
    let initial_mse = mse(&mut loss);

    for _ in 0..steps {
        let (bx, by) = batch(&mut rng);
        x.set_value(&bx);
        y.set_value(&by);
        loss.forward();
        loss.backward(1.0);
        optimizer.step();
        optimizer.zero_gradients();
    }

    let test_mse = mse(&mut loss);
    let w = w.value().to_owned();
    let b = b.value()[(0, 0)];
    Trained {
        w,
        b,
        test_mse,
        initial_mse,
    }
}

fn assert_converged(name: &str, t: &Trained, tolerance: f32) {
    for (c, truth) in TRUE_W.iter().enumerate() {
        assert!(
            (t.w[(c, 0)] - truth).abs() < tolerance,
            "{name}: w[{c}] = {} but the truth is {truth}",
            t.w[(c, 0)]
        );
    }
    assert!(
        (t.b - TRUE_B).abs() < tolerance,
        "{name}: b = {} but the truth is {TRUE_B}",
        t.b
    );
    assert!(
        t.test_mse < 1e-3,
        "{name}: held-out MSE {} (was {} before training)",
        t.test_mse,
        t.initial_mse
    );
    assert!(t.initial_mse > 0.1, "{name}: the problem starts unsolved");
}

#[test]
fn sgd_converges() {
    let t = train(1, 600, |p| SGD::new(0.02, p));
    assert_converged("SGD", &t, 0.01);
}

#[test]
fn sgd_with_momentum_converges() {
    let t = train(2, 300, |p| SGD::new(0.01, p).momentum(0.9));
    assert_converged("SGD with momentum", &t, 0.01);
}

#[test]
fn adagrad_converges() {
    let t = train(3, 1500, |p| Adagrad::new(0.3, p));
    assert_converged("Adagrad", &t, 0.01);
}

#[test]
fn rmsprop_converges() {
    let t = train(5, 1500, |p| RmsProp::new(0.003, p));
    assert_converged("RMSProp", &t, 0.01);
}

#[test]
fn adam_converges() {
    // Adam's steps stay about the learning rate in size near the optimum (the moments
    // normalise the gradient), so the rate is kept below the tolerance.
    let t = train(4, 3000, |p| Adam::new(0.005, p));
    assert_converged("Adam", &t, 0.01);
}

#[test]
fn adam_with_custom_betas_converges() {
    let t = train(5, 3000, |p| {
        Adam::new(0.005, p).beta1(0.8).beta2(0.99).eps(1e-6)
    });
    assert_converged("Adam (custom betas)", &t, 0.01);
}

#[test]
fn optimizers_work_through_the_trait_object() {
    // `Optimizer` is dyn-compatible: a training loop can pick its optimizer at run time.
    let t = train(6, 600, |p| Dynamic(Box::new(SGD::new(0.02, p))));
    assert_converged("boxed SGD", &t, 0.01);
}

/// An optimizer chosen at run time.
struct Dynamic(Box<dyn Optimizer>);

impl Optimizer for Dynamic {
    fn step(&mut self) {
        self.0.step()
    }
    fn zero_gradients(&mut self) {
        self.0.zero_gradients()
    }
    fn parameters(&self) -> &[Variable<ParameterNode>] {
        self.0.parameters()
    }
}

fn weight_norm(t: &Trained) -> f32 {
    t.w.iter().map(|v| v * v).sum::<f32>().sqrt()
}

#[test]
fn l2_penalty_shrinks_weights() {
    let true_norm = TRUE_W.iter().map(|v| v * v).sum::<f32>().sqrt();
    let plain = weight_norm(&train(7, 600, |p| SGD::new(0.02, p)));
    let penalised = weight_norm(&train(7, 600, |p| SGD::new(0.02, p).l2_penalty(2.0)));
    assert!((plain - true_norm).abs() < 0.01, "unpenalised norm {plain}");
    assert!(
        penalised < plain - 0.1,
        "L2 penalty should shrink the weights: norm {penalised} vs {plain} without"
    );
    let adam_plain = weight_norm(&train(8, 1500, |p| Adam::new(0.02, p)));
    let adam_penalised = weight_norm(&train(8, 1500, |p| Adam::new(0.02, p).l2_penalty(2.0)));
    assert!(
        adam_penalised < adam_plain - 0.1,
        "Adam: norm {adam_penalised} with the penalty vs {adam_plain} without"
    );
    let ada_plain = weight_norm(&train(9, 1500, |p| Adagrad::new(0.3, p)));
    let ada_penalised = weight_norm(&train(9, 1500, |p| Adagrad::new(0.3, p).l2_penalty(2.0)));
    assert!(
        ada_penalised < ada_plain - 0.1,
        "Adagrad: norm {ada_penalised} with the penalty vs {ada_plain} without"
    );
}

#[test]
fn adam_weight_decay_is_decoupled_adamw() {
    // AdamW by hand (PyTorch's order): w *= 1 - lr * wd, then the bias-corrected Adam
    // step on the raw gradient. The loss sum((w - 3)^2 * x) changes its gradient's
    // scale each step, so a decay folded into the gradient (l2_penalty) would differ.
    let (lr, wd, b1, b2, eps) = (0.05f32, 0.4f32, 0.9f32, 0.999f32, 1e-8f32);
    for shared in [false, true] {
        let start = arr2(&[[1.0f32, -2.0, 5.0]]);
        let w = parameter(start.clone(), shared);
        let x = InputNode::new(arr2(&[[1.0f32, 1.0, 1.0]]));
        let target = InputNode::new(arr2(&[[3.0f32, 3.0, 3.0]]));
        let loss = ((w.clone() - target).square() * x.clone()).scalar_sum();
        let mut opt = Adam::new(lr, loss.parameters()).weight_decay(wd);
        let (mut expected, mut m, mut v) = (start.clone(), [0.0f32; 3], [0.0f32; 3]);
        for (t, scale) in [1.0f32, 10.0, 0.1, 3.0].into_iter().enumerate() {
            x.set_value(arr2(&[[scale, scale, scale]]));
            loss.forward();
            loss.backward(1.0);
            opt.step();
            opt.zero_gradients();
            let t = t as i32 + 1;
            for c in 0..3 {
                let g = 2.0 * (expected[(0, c)] - 3.0) * scale;
                m[c] = b1 * m[c] + (1.0 - b1) * g;
                v[c] = b2 * v[c] + (1.0 - b2) * g * g;
                let (m_hat, v_hat) = (m[c] / (1.0 - b1.powi(t)), v[c] / (1.0 - b2.powi(t)));
                expected[(0, c)] =
                    expected[(0, c)] * (1.0 - lr * wd) - lr * m_hat / (v_hat.sqrt() + eps);
            }
            let got = w.value();
            for c in 0..3 {
                let (a, e) = (got[(0, c)], expected[(0, c)]);
                assert!(
                    (a - e).abs() < 1e-5,
                    "shared {shared}, step {t}, element {c}: {a} vs AdamW {e}"
                );
            }
        }
    }
    // Weight decay pulls the regression's weights below the truth's norm, as the
    // penalty does, while Adam without it reaches the truth.
    let plain = weight_norm(&train(8, 1500, |p| Adam::new(0.02, p)));
    let decayed = weight_norm(&train(8, 1500, |p| Adam::new(0.02, p).weight_decay(5.0)));
    assert!(
        decayed < plain - 0.1,
        "Adam: norm {decayed} with weight decay vs {plain} without"
    );
}

/// One SGD step (learning rate 1) on a loss whose gradient is `[-100, 0.05, 100]`.
fn one_clamped_step(clamp: Option<(f32, f32)>) -> Array2<f32> {
    let w = ParameterNode::new(arr2(&[[0.0, 0.0, 0.0]]));
    let x = InputNode::new(arr2(&[[-100.0, 0.05, 100.0]]));
    let loss = w.clone() * x.clone();
    let mut opt = SGD::new(1.0, loss.parameters());
    if let Some((lo, hi)) = clamp {
        opt = opt.clamp(lo, hi);
    }
    loss.forward();
    loss.backward(1.0);
    opt.step();

    w.value().to_owned()
}

#[test]
fn clamp_bounds_the_step() {
    let free = one_clamped_step(None);
    assert_eq!(free, arr2(&[[100.0, -0.05, -100.0]]));
    let clamped = one_clamped_step(Some((-0.1, 0.1)));
    // Large gradients are cut to the bound; small ones pass unchanged.
    assert_eq!(clamped, arr2(&[[0.1, -0.05, -0.1]]));
}

#[test]
fn clamp_keeps_training_stable_with_a_large_learning_rate() {
    // Without clamping, SGD at this rate diverges on this problem; with the gradient
    // clamped it still reaches the truth.
    let diverged = train(10, 200, |p| SGD::new(0.3, p));
    assert!(
        diverged.test_mse.is_nan() || diverged.test_mse > 1.0,
        "expected divergence without clamp, got MSE {}",
        diverged.test_mse
    );
    let t = train(10, 3000, |p| SGD::new(0.3, p).clamp(-0.01, 0.01));
    assert_converged("clamped SGD", &t, 0.02);
}

/// `w` after `steps` steps of `optimizer` on `loss = sum((w - 3)^2)` (a gradient that keeps
/// its sign, so every state slot grows).
fn run_steps(
    w: &Variable<ParameterNode>,
    optimizer: &mut dyn Optimizer,
    steps: usize,
) -> Array2<f32> {
    let target = InputNode::new(arr2(&[[3.0, 3.0]]));
    let loss = (w.clone() - target).square().scalar_sum();
    for _ in 0..steps {
        loss.forward();
        loss.backward(1.0);
        optimizer.step();
        optimizer.zero_gradients();
    }
    w.value()
}

/// A parameter starting at `value`, local or over a `HogwildParameter`.
fn parameter(value: Array2<f32>, shared: bool) -> Variable<ParameterNode> {
    if shared {
        ParameterNode::shared(std::sync::Arc::new(HogwildParameter::new(value)))
    } else {
        ParameterNode::new(value)
    }
}

/// Optimizer `kind` over `w`, one of those whose state kinds differ: 0 SGD with
/// momentum, 1 Adagrad, 2 RMSProp (one slot, as the two before it), 3 Adam.
fn stateful(kind: usize, w: &Variable<ParameterNode>) -> Box<dyn Optimizer> {
    let params = vec![w.clone()];
    match kind {
        0 => Box::new(SGD::new(0.01, params).momentum(0.9)),
        1 => Box::new(Adagrad::new(0.1, params)),
        2 => Box::new(RmsProp::new(0.01, params)),
        _ => Box::new(Adam::new(0.05, params)),
    }
}

#[test]
fn another_kind_of_optimizer_starts_from_fresh_state() {
    for shared in [false, true] {
        for first in 0..4 {
            for second in (0..4).filter(|&k| k != first) {
                let w = parameter(arr2(&[[-1.0, 0.5]]), shared);
                let before = run_steps(&w, &mut stateful(first, &w), 10);
                let switched = run_steps(&w, &mut stateful(second, &w), 3);
                // The same three steps from the same values with untouched state.
                let fresh = parameter(before, shared);
                let expected = run_steps(&fresh, &mut stateful(second, &fresh), 3);
                assert_eq!(
                    switched, expected,
                    "optimizer {second} after optimizer {first} (shared: {shared})"
                );
            }
        }
    }
}

#[test]
fn a_new_optimizer_of_the_same_kind_carries_on_with_the_state() {
    for shared in [false, true] {
        for kind in 0..3 {
            // SGD with momentum, Adagrad and RMSProp keep no step count in the optimizer, so two
            // optimizers one after the other do what one does over all the steps.
            let w = parameter(arr2(&[[-1.0, 0.5]]), shared);
            run_steps(&w, &mut stateful(kind, &w), 4);
            let continued = run_steps(&w, &mut stateful(kind, &w), 3);
            let once = parameter(arr2(&[[-1.0, 0.5]]), shared);
            let expected = run_steps(&once, &mut stateful(kind, &once), 7);
            assert_eq!(continued, expected, "optimizer {kind} (shared: {shared})");
        }
    }
}

#[test]
fn a_plain_sgd_phase_in_between_counts_as_another_kind() {
    for shared in [false, true] {
        for kind in 0..4 {
            let w = parameter(arr2(&[[-1.0, 0.5]]), shared);
            run_steps(&w, &mut stateful(kind, &w), 5);
            let before = run_steps(&w, &mut SGD::new(0.01, vec![w.clone()]), 3);
            let resumed = run_steps(&w, &mut stateful(kind, &w), 3);
            let fresh = parameter(before, shared);
            let expected = run_steps(&fresh, &mut stateful(kind, &fresh), 3);
            assert_eq!(
                resumed, expected,
                "optimizer {kind} after plain SGD (shared: {shared})"
            );
        }
    }
}

/// Clipping by global norm scales all gradients by one factor, counts a repeated row once
/// (summed), reads dense and sparse parts together, and keeps a sparse gradient sparse.
#[test]
fn clipping_by_global_norm() {
    let norm = |gs: &[Array2<f32>]| {
        gs.iter()
            .flat_map(|g| g.iter())
            .map(|v| f64::from(*v) * f64::from(*v))
            .sum::<f64>()
            .sqrt()
    };
    let table = ParameterNode::new(Array2::from_shape_fn((5, 2), |(r, c)| (r * 2 + c) as f32));
    let w = ParameterNode::new(arr2(&[[1.5, -2.0]]));
    // Row 1 twice: its gradient is the sum of both lookups'.
    let rows = table.index(&IndexInputNode::new(&[1, 1, 3]));
    let sparse_loss = (rows * w.clone()).square().scalar_sum();
    for dense in [false, true] {
        let loss = if dense {
            (sparse_loss.clone() + table.scalar_sum() * 0.5).boxed()
        } else {
            sparse_loss.clone().boxed()
        };
        let mut opt = SGD::new(0.01, loss.parameters());
        opt.zero_gradients();
        loss.forward();
        loss.backward(1.0);
        let before = [table.gradient(), w.gradient()];
        let total = norm(&before);
        // Within the bound: nothing changes.
        let twice = (total * 2.0) as f32;
        assert!((opt.clip_gradient_norm(twice) - total).abs() < 1e-3 * total);
        assert_eq!([table.gradient(), w.gradient()], before);
        // Above it: one factor for everything, to a norm of `max`.
        let max = (total / 4.0) as f32;
        assert!((opt.clip_gradient_norm(max) - total).abs() < 1e-3 * total);
        let after = [table.gradient(), w.gradient()];
        let max = f64::from(max);
        assert!(
            (norm(&after) - max).abs() < 1e-3 * max,
            "dense part: {dense}"
        );
        for (a, b) in after.iter().zip(&before) {
            for (x, y) in a.iter().zip(b) {
                assert!((x * 4.0 - y).abs() < 1e-3 * y.abs().max(1.0));
            }
        }
        // A purely sparse gradient still moves only the looked-up rows.
        let values = table.value();
        opt.step();
        let moved: Vec<usize> = (0..5)
            .filter(|&r| table.value().row(r) != values.row(r))
            .collect();
        assert_eq!(
            moved,
            if dense {
                vec![0, 1, 2, 3, 4]
            } else {
                vec![1, 3]
            }
        );
    }
}

/// Elements near `f32::MAX` have a norm beyond it: still clipped, and the norm returned
/// finite (in `f64`).
#[test]
fn clipping_a_norm_beyond_f32() {
    let w = ParameterNode::new(arr2(&[[3.0, 4.0]]));
    let x = InputNode::new(arr2(&[[3e38, 3e38]]));
    let loss = (w.clone() * x).scalar_sum();
    let mut opt = SGD::new(1.0, loss.parameters());
    loss.forward();
    loss.backward(1.0);
    let norm = opt.clip_gradient_norm(1.0);
    assert!((norm / (3e38 * 2f64.sqrt()) - 1.0).abs() < 1e-6, "{norm}");
    let g = w.gradient();
    assert!((g[(0, 0)] - 0.5f32.sqrt()).abs() < 1e-6 && g[(0, 0)] == g[(0, 1)]);
    // To a small norm: the ratio, about 2e-39 and 2e-45, is below f32's normal range
    // (rounded to f32 first, it kept few digits, or was 0 and zeroed the gradient).
    for max_norm in [1e-3f32, 1e-7] {
        loss.forward();
        opt.zero_gradients();
        loss.backward(1.0);
        opt.clip_gradient_norm(max_norm);
        let g = w.gradient();
        let norm = g.iter().map(|&x| f64::from(x).powi(2)).sum::<f64>().sqrt();
        assert!(
            (norm / f64::from(max_norm) - 1.0).abs() < 2e-7,
            "{max_norm}: {norm}"
        );
    }
}

#[test]
#[should_panic(expected = "clip_gradient_norm: the largest norm must be 0 or more, not -1")]
fn clipping_to_a_negative_norm_panics() {
    let w = ParameterNode::new(arr2(&[[1.0]]));
    SGD::new(0.1, vec![w]).clip_gradient_norm(-1.0);
}
