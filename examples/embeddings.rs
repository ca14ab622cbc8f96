//! Matrix factorisation with embedding lookups.
//!
//! Ratings are generated from hidden rank-4 user and item factors plus noise; a model with
//! one 8-dimensional embedding per user and per item learns them from a training split
//! with minibatches of lookups (`index`), row-wise dot products (`vector_dot`) and Adagrad,
//! whose updates touch only the looked-up rows. It prints the training error per epoch
//! and, at the end, the held-out error next to two baselines.
//!
//! Run with `cargo run --release --example embeddings`.

use ndarray::Array2;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use wyrm::prelude::*;

const USERS: usize = 1_000;
const ITEMS: usize = 2_000;
const TRUE_RANK: usize = 4;
const NOISE: f32 = 0.1;
const OBSERVED: usize = 100_000;
const DIM: usize = 8;
const BATCH: usize = 16;
const EPOCHS: usize = 15;

/// One observed rating.
#[derive(Clone, Copy)]
struct Rating {
    user: usize,
    item: usize,
    value: f32,
}

fn main() {
    let mut rng = StdRng::seed_from_u64(42);

    // Hidden low-rank structure: rating = <user factor, item factor> + noise.
    let scale = 1.0 / (TRUE_RANK as f32).sqrt();
    let user_factors = wyrm::init::normal(USERS, TRUE_RANK, 0.0, 1.0, &mut rng);
    let item_factors = wyrm::init::normal(ITEMS, TRUE_RANK, 0.0, 1.0, &mut rng);
    let mut ratings: Vec<Rating> = (0..OBSERVED)
        .map(|_| {
            let (user, item) = (rng.gen_range(0..USERS), rng.gen_range(0..ITEMS));
            let clean = scale * user_factors.row(user).dot(&item_factors.row(item));
            let noise = NOISE * (rng.gen::<f32>() * 2.0 - 1.0) * 3f32.sqrt();
            Rating {
                user,
                item,
                value: clean + noise,
            }
        })
        .collect();
    let test = ratings.split_off(OBSERVED * 9 / 10);
    let mut train = ratings;
    println!(
        "{USERS} users x {ITEMS} items, rank {TRUE_RANK}, {} training and {} held-out ratings",
        train.len(),
        test.len()
    );

    // The model: predictions for a minibatch of (user, item) pairs.
    let users = ParameterNode::new(wyrm::init::normal(USERS, DIM, 0.0, 0.1, &mut rng));
    let items = ParameterNode::new(wyrm::init::normal(ITEMS, DIM, 0.0, 0.1, &mut rng));
    let user_idx = IndexInputNode::new(&[0; BATCH]);
    let item_idx = IndexInputNode::new(&[0; BATCH]);
    let target = InputNode::new(Array2::zeros((BATCH, 1)));
    let prediction = users.index(&user_idx).vector_dot(&items.index(&item_idx));
    let loss = (prediction.clone() - target.clone()).square();
    let mut optimizer = Adagrad::new(0.1, loss.parameters());

    let mut batch_users = [0usize; BATCH];
    let mut batch_items = [0usize; BATCH];
    let mut batch_targets = Array2::zeros((BATCH, 1));
    for epoch in 1..=EPOCHS {
        train.shuffle(&mut rng);
        let mut total = 0.0f64;
        for batch in train.chunks_exact(BATCH) {
            for (k, r) in batch.iter().enumerate() {
                batch_users[k] = r.user;
                batch_items[k] = r.item;
                batch_targets[(k, 0)] = r.value;
            }
            user_idx.set_value(&batch_users);
            item_idx.set_value(&batch_items);
            target.set_value(&batch_targets);
            loss.forward();
            total += loss.value().iter().map(|&e| e as f64).sum::<f64>();
            // Seed each example's squared error with 1/BATCH: the minibatch mean.
            loss.backward(1.0 / BATCH as f32);
            optimizer.step();
            optimizer.zero_gradients();
        }
        let batches = train.len() / BATCH;
        println!(
            "epoch {epoch:2}: training MSE {:.4}",
            total / (batches * BATCH) as f64
        );
    }

    // Held-out error, against predicting the training mean and against the true factors.
    let mut squared_error = 0.0f64;
    let mut evaluated = 0;
    for batch in test.chunks_exact(BATCH) {
        for (k, r) in batch.iter().enumerate() {
            batch_users[k] = r.user;
            batch_items[k] = r.item;
        }
        user_idx.set_value(&batch_users);
        item_idx.set_value(&batch_items);
        prediction.forward();
        for (r, &yhat) in batch.iter().zip(prediction.value().iter()) {
            squared_error += ((yhat - r.value) as f64).powi(2);
        }
        evaluated += BATCH;
    }
    let mean = train.iter().map(|r| r.value as f64).sum::<f64>() / train.len() as f64;
    let baseline = test[..evaluated]
        .iter()
        .map(|r| (r.value as f64 - mean).powi(2))
        .sum::<f64>()
        / evaluated as f64;
    println!(
        "held-out RMSE {:.4} (predicting the mean: {:.4}; noise floor: {NOISE:.4})",
        (squared_error / evaluated as f64).sqrt(),
        baseline.sqrt()
    );
}
