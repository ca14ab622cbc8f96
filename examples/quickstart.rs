//! The quickstart: fit `y = 3x + 5` with SGD and print the learned slope and intercept.
//!
//! Run with `cargo run --release --example quickstart`.

use wyrm::*;

fn main() {
    let num_epochs = 10_000;

    let slope = ParameterNode::new(random_matrix(1, 1));
    let intercept = ParameterNode::new(random_matrix(1, 1));
    let x = InputNode::new(random_matrix(1, 1));
    let y = InputNode::new(random_matrix(1, 1));
    let yhat = slope.clone() * x.clone() + intercept.clone();
    let loss = (y.clone() - yhat).square();
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

    println!(
        "learned slope {:.4} (true 3), intercept {:.4} (true 5)",
        slope.value()[(0, 0)],
        intercept.value()[(0, 0)]
    );
    println!(
        "type of the loss node: {}",
        std::any::type_name_of_val(&**loss.node())
    );
}
