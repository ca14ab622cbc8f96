//! Hogwild training: every rayon worker builds its own graph over the same shared
//! parameters and updates them without locks. Fits `y = 3x + 5` and prints the learned
//! values read from the shared parameters.
//!
//! Run with `cargo run --release --example hogwild`.

// The seed's code declares `let mut loss`; `forward` and `backward` now take `&self`.
#![allow(unused_mut)]

use rayon::prelude::*;
use std::sync::Arc;
use wyrm::*;

fn main() {
    // The seed's parallel example, verbatim except for the number of epochs (per thread).
    let slope_param = Arc::new(HogwildParameter::new(random_matrix(1, 1)));
    let intercept_param = Arc::new(HogwildParameter::new(random_matrix(1, 1)));
    let num_epochs = 10_000;
    (0..rayon::current_num_threads())
        .into_par_iter()
        .for_each(|_| {
            let slope = ParameterNode::shared(slope_param.clone());
            let intercept = ParameterNode::shared(intercept_param.clone());
            let x = InputNode::new(random_matrix(1, 1));
            let y = InputNode::new(random_matrix(1, 1));
            let yhat = slope.clone() * x.clone() + intercept.clone();
            let mut loss = (y.clone() - yhat).square();
            let mut optimizer = SGD::new(0.1, vec![slope.clone(), intercept.clone()]);
            for _ in 0..num_epochs {
                let x_value: f32 = rand::random();
                let y_value = 3.0 * x_value + 5.0;
                x.set_value(x_value);
                y.set_value(y_value);
                loss.forward();
                loss.backward(1.0);
                optimizer.step();
                optimizer.zero_gradients();
            }
        });

    println!(
        "{} threads: learned slope {:.4} (true 3), intercept {:.4} (true 5)",
        rayon::current_num_threads(),
        slope_param.value()[(0, 0)],
        intercept_param.value()[(0, 0)]
    );
}
