//! `sparse-mf` and `sparse-mf-scale`: matrix factorisation with embedding lookups.
//!
//! User table 10,000 x 32; item tables of 1,000, 100,000 and 1,000,000 rows x 32;
//! prediction `U[u] · V[i]` (`vector_dot` of two lookups), squared error against a target,
//! Adagrad 0.05, batch 1. One step = set `u`, `i` and the target, forward, backward,
//! optimizer step, zero gradients. The hand-written version keeps plain `Vec<f32>` tables,
//! derives the gradients by hand and runs Adagrad on the two touched rows, compiled for
//! AVX2 when the CPU has it.
//!
//! Besides criterion's own figures, each table size ends with an interleaved comparison
//! (Wyrm and hand-written alternating in rounds, medians of the per-step times) that
//! prints the ratio, since these machines are noisy.

use criterion::{black_box, BenchmarkId, Criterion};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use std::time::Instant;
use wyrm::prelude::*;

const DIM: usize = 32;
const USERS: usize = 10_000;
const ITEM_SIZES: [usize; 3] = [1_000, 100_000, 1_000_000];
const LEARNING_RATE: f32 = 0.05;
const EPS: f32 = 1e-8;
const SAMPLES: usize = 1 << 16;

/// One training example: user row, item row, target rating.
#[derive(Clone, Copy)]
struct Sample {
    user: usize,
    item: usize,
    target: f32,
}

fn samples(items: usize) -> Vec<Sample> {
    let mut rng = StdRng::seed_from_u64(17);
    (0..SAMPLES)
        .map(|_| Sample {
            user: rng.gen_range(0..USERS),
            item: rng.gen_range(0..items),
            target: rng.gen_range(-1.0..1.0),
        })
        .collect()
}

fn table(rows: usize, seed: u64) -> ndarray::Array2<f32> {
    wyrm::init::normal(rows, DIM, 0.0, 0.1, &mut StdRng::seed_from_u64(seed))
}

/// The Wyrm model: returns a closure running one training step.
fn wyrm_model(users: ndarray::Array2<f32>, items: ndarray::Array2<f32>) -> impl FnMut(Sample) {
    let users = ParameterNode::new(users);
    let items = ParameterNode::new(items);
    let u = IndexInputNode::new(&[0]);
    let i = IndexInputNode::new(&[0]);
    let target = InputNode::new(ndarray::Array2::zeros((1, 1)));
    let prediction = users.index(&u).vector_dot(&items.index(&i));
    let loss = (prediction - target.clone()).square();
    let mut optimizer = Adagrad::new(LEARNING_RATE, loss.parameters()).eps(EPS);
    move |s: Sample| {
        u.set_value(s.user);
        i.set_value(s.item);
        target.set_value(s.target);
        loss.forward();
        loss.backward(1.0);
        optimizer.step();
        optimizer.zero_gradients();
    }
}

/// The hand-written model: plain tables and Adagrad accumulators.
struct Hand {
    users: Vec<f32>,
    items: Vec<f32>,
    user_acc: Vec<f32>,
    item_acc: Vec<f32>,
}

impl Hand {
    fn new(users: &ndarray::Array2<f32>, items: &ndarray::Array2<f32>) -> Self {
        Hand {
            users: users.iter().copied().collect(),
            items: items.iter().copied().collect(),
            user_acc: vec![0.0; users.len()],
            item_acc: vec![0.0; items.len()],
        }
    }

    /// One step, compiled for AVX2 when the CPU has it, like Wyrm's kernels.
    #[inline(never)]
    fn step(&mut self, s: Sample) {
        wyrm::kernels::simd::vectorized(|| self.step_inline(s))
    }

    #[inline(always)]
    fn step_inline(&mut self, s: Sample) {
        let ur = s.user * DIM..(s.user + 1) * DIM;
        let ir = s.item * DIM..(s.item + 1) * DIM;
        let user: &mut [f32; DIM] = (&mut self.users[ur.clone()]).try_into().unwrap();
        let item: &mut [f32; DIM] = (&mut self.items[ir.clone()]).try_into().unwrap();
        // Forward: prediction and squared error.
        let mut acc = [0.0f32; 8];
        for k in 0..DIM {
            acc[k % 8] += user[k] * item[k];
        }
        let prediction: f32 = acc.iter().sum();
        let error = prediction - s.target;
        black_box(error * error);
        // Backward: d(loss)/d(prediction) = 2 error.
        let d = 2.0 * error;
        let mut gu = [0.0f32; DIM];
        let mut gi = [0.0f32; DIM];
        for k in 0..DIM {
            gu[k] = d * item[k];
            gi[k] = d * user[k];
        }
        // Adagrad on the two touched rows.
        let adagrad = |w: &mut [f32; DIM], s: &mut [f32], g: &[f32; DIM]| {
            for ((w, s), g) in w.iter_mut().zip(s).zip(g) {
                *s += g * g;
                *w -= LEARNING_RATE * g / (s.sqrt() + EPS);
            }
        };
        adagrad(user, &mut self.user_acc[ur], &gu);
        adagrad(item, &mut self.item_acc[ir], &gi);
    }
}

/// Median nanoseconds per step of each runner over `rounds` rounds of `steps` steps,
/// the two runners alternating round by round (`samples` holds `SAMPLES` entries).
fn interleaved(
    samples: &[Sample],
    wyrm: &mut impl FnMut(Sample),
    hand: &mut Hand,
    rounds: usize,
    steps: usize,
) -> (f64, f64) {
    let mut times = (Vec::new(), Vec::new());
    let mut at = 0;
    for _ in 0..rounds {
        let start = Instant::now();
        for k in 0..steps {
            wyrm(samples[(at + k) % SAMPLES]);
        }
        times
            .0
            .push(start.elapsed().as_nanos() as f64 / steps as f64);
        let start = Instant::now();
        for k in 0..steps {
            hand.step(samples[(at + k) % SAMPLES]);
        }
        times
            .1
            .push(start.elapsed().as_nanos() as f64 / steps as f64);
        at += steps;
    }
    (median(&mut times.0), median(&mut times.1))
}

fn median(xs: &mut [f64]) -> f64 {
    xs.sort_by(|a, b| a.partial_cmp(b).expect("finite times"));
    xs[xs.len() / 2]
}

fn sparse_mf(c: &mut Criterion) {
    // `cargo bench` passes `--bench`; without it (e.g. `cargo test --benches`) criterion
    // only runs each benchmark once, and the ratio is not measured; nor under a profiler
    // (`--profile-time`).
    let args: Vec<String> = std::env::args().collect();
    let measuring =
        args.iter().any(|a| a == "--bench") && !args.iter().any(|a| a == "--profile-time");
    let users = table(USERS, 1);
    for items in ITEM_SIZES {
        let samples = samples(items);
        // Built on first use, so that a filter that skips this size skips building its
        // (up to 1,000,000-row) tables too.
        let mut models = None;
        let mut build = || {
            let item_table = table(items, 2);
            let hand = Hand::new(&users, &item_table);
            (wyrm_model(users.clone(), item_table), hand)
        };
        let mut group = c.benchmark_group("sparse-mf");
        let mut next = 0;
        group.bench_function(BenchmarkId::new("wyrm", items), |b| {
            let (wyrm, _) = models.get_or_insert_with(&mut build);
            b.iter(|| {
                wyrm(samples[next % SAMPLES]);
                next += 1;
            })
        });
        group.bench_function(BenchmarkId::new("hand-written", items), |b| {
            let (_, hand) = models.get_or_insert_with(&mut build);
            b.iter(|| {
                hand.step(samples[next % SAMPLES]);
                next += 1;
            })
        });
        group.finish();
        if let (true, Some((wyrm, hand))) = (measuring, models.as_mut()) {
            let (w, h) = interleaved(&samples, wyrm, hand, 21, 20_000);
            println!(
                "sparse-mf items={items}: wyrm {w:.1} ns/step, hand-written {h:.1} ns/step, \
                 ratio {:.2} (medians of 21 interleaved rounds of 20,000 steps)",
                w / h
            );
        }
    }
}

criterion::criterion_group!(benches, sparse_mf);
