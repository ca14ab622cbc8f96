//! Models declared with `wyrm::model!`, trained in parallel Hogwild style: every rayon
//! worker builds its own graph over the same shared parameters with `from_parameters` and
//! updates them without locks.
//!
//! 1. The quickstart regression, `y = 3x + 5`.
//! 2. A small embedding model: matrix factorisation of synthetic ratings, whose lookups
//!    update only the rows they touch.
//!
//! Run with `cargo run --release --example model_macro`.

use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rayon::prelude::*;
use std::time::Instant;
use wyrm::model;
use wyrm::prelude::*;

model! {
    /// Univariate linear regression.
    pub struct LinearRegression {
        slope: Param<1, 1>,
        intercept: Param<1, 1>,
        x: Input<1, 1>,
        y: Input<1, 1>,
        yhat = slope * x + intercept,
        loss = (y - yhat).square(),
    }
}

model! {
    /// Matrix factorisation: a rating is the dot product of a user and an item embedding.
    pub struct Factorisation {
        users: Param<num_users, 16>,
        items: Param<num_items, 16>,
        user: Index<1>,
        item: Index<1>,
        rating: Input<1, 1>,
        prediction = users.index(user).vector_dot(items.index(item)),
        loss = (prediction - rating).square(),
    }
}

const WORKERS: u64 = 4;

fn regression() {
    let shared = LinearRegression::new_with_rng(&mut StdRng::seed_from_u64(0)).shared_parameters();
    (0..WORKERS).into_par_iter().for_each(|worker| {
        let model = LinearRegression::from_parameters(&shared);
        let mut optimizer = SGD::new(0.05, model.parameters());
        let mut rng = StdRng::seed_from_u64(worker);
        for _ in 0..5_000 {
            let x: f32 = rng.gen();
            model.x.set_value(x);
            model.y.set_value(3.0 * x + 5.0);
            model.loss.forward();
            model.loss.backward(1.0);
            optimizer.step();
            optimizer.zero_gradients();
        }
    });
    println!(
        "regression, {WORKERS} Hogwild workers: slope {:.4} (true 3), intercept {:.4} (true 5)",
        shared.slope.value()[(0, 0)],
        shared.intercept.value()[(0, 0)]
    );
}

/// Synthetic ratings: dot products of hidden rank-4 user and item factors.
struct Ratings {
    train: Vec<(usize, usize, f32)>,
    test: Vec<(usize, usize, f32)>,
}

fn ratings(num_users: usize, num_items: usize, count: usize) -> Ratings {
    let mut rng = StdRng::seed_from_u64(42);
    let u = wyrm::init::normal(num_users, 4, 0.0, 0.7, &mut rng);
    let v = wyrm::init::normal(num_items, 4, 0.0, 0.7, &mut rng);
    let mut all: Vec<(usize, usize, f32)> = (0..count)
        .map(|_| {
            let (i, j) = (rng.gen_range(0..num_users), rng.gen_range(0..num_items));
            (i, j, u.row(i).dot(&v.row(j)))
        })
        .collect();
    let test = all.split_off(count * 9 / 10);
    Ratings { train: all, test }
}

/// Root mean squared error of a model over `data`, with a serving graph over `params`.
fn rmse(params: &FactorisationParameters, data: &[(usize, usize, f32)]) -> f32 {
    let model = Factorisation::from_parameters(params);
    let total: f32 = data
        .iter()
        .map(|&(u, i, r)| {
            model.user.set_value(u);
            model.item.set_value(i);
            model.prediction.forward();
            let e = model.prediction.value()[(0, 0)] - r;
            e * e
        })
        .sum();
    (total / data.len() as f32).sqrt()
}

fn factorisation() {
    let (num_users, num_items) = (1_000, 2_000);
    let data = ratings(num_users, num_items, 200_000);
    // By name: positional dimensions (`new_with_rng(rng, num_users, num_items)`) are easy
    // to swap.
    let dims = FactorisationDims {
        num_users,
        num_items,
    };
    let model = Factorisation::from_dims_with_rng(&mut StdRng::seed_from_u64(1), dims);
    let shared = model.shared_parameters();
    println!(
        "factorisation: {} users x {} items, {} training ratings; test RMSE before training {:.4}",
        num_users,
        num_items,
        data.train.len(),
        rmse(&shared, &data.test)
    );
    let start = Instant::now();
    for epoch in 1..=10u64 {
        // One shuffle of the training set per epoch, dealt out: each worker takes every
        // WORKERS-th example of it, a random sample of the whole rather than a fixed shard,
        // and together they cover every example once (see the `hogwild` module's docs:
        // "Feed every thread the same distribution").
        let mut order: Vec<usize> = (0..data.train.len()).collect();
        order.shuffle(&mut StdRng::seed_from_u64(epoch));
        let order = &order;
        (0..WORKERS).into_par_iter().for_each(|worker| {
            let model = Factorisation::from_parameters(&shared);
            let mut optimizer = Adagrad::new(0.1, model.parameters());
            for &at in order.iter().skip(worker as usize).step_by(WORKERS as usize) {
                let (u, i, r) = data.train[at];
                model.user.set_value(u);
                model.item.set_value(i);
                model.rating.set_value(r);
                model.loss.forward();
                model.loss.backward(1.0);
                optimizer.step();
                optimizer.zero_gradients();
            }
        });
        println!(
            "  epoch {epoch}: test RMSE {:.4} ({:.2?} so far)",
            rmse(&shared, &data.test),
            start.elapsed()
        );
    }
}

fn main() {
    regression();
    factorisation();
}
