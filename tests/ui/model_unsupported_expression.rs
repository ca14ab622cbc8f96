// Rust arithmetic outside braces is reported with the block's other mistakes, and the
// code using the model adds no errors of its own.
use wyrm::model;

model! {
    struct Attention {
        q: Param<4, 4>,
        k: Param<4, 4>,
        x: Input<n, 4>,
        scores = x.dot(q).dot_t(x.dot(k)) * (1.0 / (4 as f32).sqrt()),
        weights = scores.sofmax(),
    }
}

fn main() {
    let model = Attention::new(3);
    let _ = model.weights.value();
}
