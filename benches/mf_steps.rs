//! The `sparse-mf` training step as closures returning the loss, for `examples/bench_table`
//! and the zero-allocation test. The same model and hand-written baseline as the criterion
//! module `sparse_mf.rs`: user table 10,000 x 32, item table `items` x 32, prediction
//! `U[u] · V[i]`, squared error, Adagrad 0.05.

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use std::hint::black_box;
use wyrm::prelude::*;

/// Embedding width.
pub const DIM: usize = 32;
/// User table rows.
pub const USERS: usize = 10_000;
const LEARNING_RATE: f32 = 0.05;
const EPS: f32 = 1e-8;
const SAMPLES: usize = 1 << 16;

fn samples(items: usize) -> Vec<(usize, usize, f32)> {
    let mut rng = StdRng::seed_from_u64(17);
    (0..SAMPLES)
        .map(|_| {
            (
                rng.gen_range(0..USERS),
                rng.gen_range(0..items),
                rng.gen_range(-1.0..1.0),
            )
        })
        .collect()
}

fn table(rows: usize, seed: u64) -> ndarray::Array2<f32> {
    wyrm::init::normal(rows, DIM, 0.0, 0.1, &mut StdRng::seed_from_u64(seed))
}

/// Wyrm: two lookups, `vector_dot`, squared error, Adagrad.
pub fn wyrm_step(items: usize) -> impl FnMut() -> f32 {
    wyrm_step_over(
        ParameterNode::new(table(USERS, 1)),
        ParameterNode::new(table(items, 2)),
        items,
    )
}

/// The same step over tables held in [`HogwildParameter`]s (one thread), for profiling
/// what the shared storage costs.
pub fn wyrm_shared_step(items: usize) -> impl FnMut() -> f32 {
    let shared = |t| ParameterNode::shared(std::sync::Arc::new(HogwildParameter::new(t)));
    wyrm_step_over(shared(table(USERS, 1)), shared(table(items, 2)), items)
}

fn wyrm_step_over(
    users: Variable<ParameterNode>,
    item_table: Variable<ParameterNode>,
    items: usize,
) -> impl FnMut() -> f32 {
    let u = IndexInputNode::new(&[0]);
    let i = IndexInputNode::new(&[0]);
    let target = InputNode::new(ndarray::Array2::zeros((1, 1)));
    let prediction = users.index(&u).vector_dot(&item_table.index(&i));
    let loss = (prediction - target.clone()).square();
    let mut optimizer = Adagrad::new(LEARNING_RATE, loss.parameters()).eps(EPS);
    let samples = samples(items);
    let mut at = 0;
    move || {
        let (user, item, y) = samples[at];
        at = (at + 1) % SAMPLES;
        u.set_value(black_box(user));
        i.set_value(black_box(item));
        target.set_value(black_box(y));
        loss.forward();
        loss.backward(1.0);
        optimizer.step();
        optimizer.zero_gradients();
        loss.node().value()[0]
    }
}

/// Hand-written: plain tables and Adagrad accumulators, gradients by hand, only the two
/// touched rows updated, vectorised for AVX2 where available.
pub fn hand_step(items: usize) -> impl FnMut() -> f32 {
    let mut users: Vec<f32> = table(USERS, 1).iter().copied().collect();
    let mut item_table: Vec<f32> = table(items, 2).iter().copied().collect();
    let mut user_acc = vec![0.0f32; users.len()];
    let mut item_acc = vec![0.0f32; item_table.len()];
    let samples = samples(items);
    let mut at = 0;
    move || {
        let (user, item, y) = samples[at];
        at = (at + 1) % SAMPLES;
        let (user, item, y) = (black_box(user), black_box(item), black_box(y));
        // Compiled for AVX2 when the CPU has it, like Wyrm's kernels (the portable
        // version of this step takes about 1.25x as long).
        wyrm::kernels::simd::vectorized(|| {
            let ur = user * DIM..(user + 1) * DIM;
            let ir = item * DIM..(item + 1) * DIM;
            let uw: &mut [f32; DIM] = (&mut users[ur.clone()]).try_into().unwrap();
            let iw: &mut [f32; DIM] = (&mut item_table[ir.clone()]).try_into().unwrap();
            let mut acc = [0.0f32; 8];
            for k in 0..DIM {
                acc[k % 8] += uw[k] * iw[k];
            }
            let error = acc.iter().sum::<f32>() - y;
            let d = 2.0 * error;
            let mut gu = [0.0f32; DIM];
            let mut gi = [0.0f32; DIM];
            for k in 0..DIM {
                gu[k] = d * iw[k];
                gi[k] = d * uw[k];
            }
            let adagrad = |w: &mut [f32; DIM], s: &mut [f32], g: &[f32; DIM]| {
                for ((w, s), g) in w.iter_mut().zip(s).zip(g) {
                    *s += g * g;
                    *w -= LEARNING_RATE * g / (s.sqrt() + EPS);
                }
            };
            adagrad(uw, &mut user_acc[ur], &gu);
            adagrad(iw, &mut item_acc[ir], &gi);
            error * error
        })
    }
}
