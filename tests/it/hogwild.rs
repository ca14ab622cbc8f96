//! Hogwild training over shared parameters: convergence with several threads, reading and
//! building graphs while training runs, and shared optimizer state.

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use rayon::prelude::*;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use wyrm::ndarray::arr2;
use wyrm::prelude::*;

fn pool(threads: usize) -> rayon::ThreadPool {
    rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .expect("thread pool")
}

/// Fits `y = 3x + 5` on one thread's own seeded data, over the shared parameters, until
/// `steps` steps are done and `keep_going` returns false.
fn train_linreg(
    slope: &Arc<HogwildParameter>,
    intercept: &Arc<HogwildParameter>,
    seed: u64,
    steps: usize,
    keep_going: impl Fn() -> bool,
) -> usize {
    let mut rng = StdRng::seed_from_u64(seed);
    let slope = ParameterNode::shared(slope.clone());
    let intercept = ParameterNode::shared(intercept.clone());
    let x = InputNode::new(arr2(&[[0.0]]));
    let y = InputNode::new(arr2(&[[0.0]]));
    let yhat = slope.clone() * x.clone() + intercept.clone();
    let mut loss = (y.clone() - yhat).square();
    let mut optimizer = SGD::new(0.05, loss.parameters());
    let mut done = 0;
    while done < steps || keep_going() {
        let x_value: f32 = rng.gen();
        x.set_value(x_value);
        y.set_value(3.0 * x_value + 5.0);
        loss.forward();
        loss.backward(1.0);
        optimizer.step();
        optimizer.zero_gradients();
        done += 1;
    }
    done
}

#[test]
fn linreg_trained_by_four_threads_converges() {
    let slope = Arc::new(HogwildParameter::new(arr2(&[[-1.0]])));
    let intercept = Arc::new(HogwildParameter::new(arr2(&[[0.5]])));
    let steps: usize = pool(4).install(|| {
        (0..4u64)
            .into_par_iter()
            .map(|seed| train_linreg(&slope, &intercept, seed, 5_000, || false))
            .sum()
    });
    assert_eq!(steps, 20_000);
    let (s, b) = (slope.value()[(0, 0)], intercept.value()[(0, 0)]);
    assert!((s - 3.0).abs() < 0.05, "slope {s}");
    assert!((b - 5.0).abs() < 0.05, "intercept {b}");
}

#[test]
fn values_can_be_read_and_graphs_built_while_training_runs() {
    let slope = Arc::new(HogwildParameter::new(arr2(&[[0.0]])));
    let intercept = Arc::new(HogwildParameter::new(arr2(&[[0.0]])));
    let training = AtomicBool::new(true);
    let reads = AtomicUsize::new(0);
    // Training goes on until the reader has taken this many snapshots, so the two
    // genuinely overlap whatever the scheduling.
    const READS: usize = 200;

    std::thread::scope(|scope| {
        let reader = scope.spawn(|| {
            let mut predictions = Vec::new();
            while training.load(Ordering::Relaxed) || predictions.is_empty() {
                // A snapshot through the shared storage ...
                let (s, b) = (slope.value()[(0, 0)], intercept.value()[(0, 0)]);
                assert!(s.is_finite() && b.is_finite());
                // ... and a fresh graph over the same parameters, evaluated at x = 1.
                let x = InputNode::new(arr2(&[[1.0]]));
                let mut yhat = ParameterNode::shared(slope.clone()) * x
                    + ParameterNode::shared(intercept.clone());
                yhat.forward();
                let y = yhat.value()[(0, 0)];
                assert!(y.is_finite());
                predictions.push(y);
                reads.fetch_add(1, Ordering::Relaxed);
            }
            predictions
        });
        // Start training only after the reader's first snapshot of the initial values.
        while reads.load(Ordering::Relaxed) == 0 {
            std::thread::yield_now();
        }
        let steps: usize = pool(2).install(|| {
            (0..2u64)
                .into_par_iter()
                .map(|seed| {
                    train_linreg(&slope, &intercept, 100 + seed, 2_000, || {
                        reads.load(Ordering::Relaxed) < READS
                    })
                })
                .sum()
        });
        training.store(false, Ordering::Relaxed);
        let predictions = reader.join().expect("reader thread");
        assert!(steps >= 4_000);
        assert!(predictions.len() >= READS);
        // The reader saw training progress: from 0 at the start to near 3 + 5 = 8.
        let last = *predictions.last().unwrap();
        assert_eq!(predictions[0], 0.0);
        assert!(last > 7.0, "{last}");
    });

    // A graph built after training predicts with the trained values.
    let x = InputNode::new(arr2(&[[2.0]]));
    let mut yhat = ParameterNode::shared(slope.clone()) * x + ParameterNode::shared(intercept);
    yhat.forward();
    assert!((yhat.value()[(0, 0)] - 11.0).abs() < 0.1);
}

#[test]
fn adagrad_accumulators_are_shared_between_nodes() {
    // Two graphs (as two threads would have) over one parameter, each with its own
    // optimizer. The loss is w * 1, so every gradient is 1.
    let shared = Arc::new(HogwildParameter::new(arr2(&[[0.0]])));
    let graph = || {
        let w = ParameterNode::shared(shared.clone());
        let loss = w * InputNode::new(arr2(&[[1.0]]));
        let optimizer = Adagrad::new(1.0, loss.parameters());
        (loss, optimizer)
    };
    let (mut loss_a, mut opt_a) = graph();
    let (mut loss_b, mut opt_b) = graph();
    let step = |loss: &mut Variable<_>, opt: &mut Adagrad| {
        let before = shared.value()[(0, 0)];
        loss.forward();
        loss.backward(1.0);
        opt.step();
        opt.zero_gradients();
        before - shared.value()[(0, 0)]
    };
    // First step through `a`: accumulator 1, update 1 / sqrt(1).
    let first = step(&mut loss_a, &mut opt_a);
    assert!((first - 1.0).abs() < 1e-6, "{first}");
    // First step through `b` sees the accumulator `a` left: 2, update 1 / sqrt(2). With
    // private state it would be 1 again.
    let second = step(&mut loss_b, &mut opt_b);
    assert!((second - 0.5f32.sqrt()).abs() < 1e-6, "{second}");
    // And `a` sees what `b` added: accumulator 3.
    let third = step(&mut loss_a, &mut opt_a);
    assert!((third - (1.0f32 / 3.0).sqrt()).abs() < 1e-6, "{third}");
}
