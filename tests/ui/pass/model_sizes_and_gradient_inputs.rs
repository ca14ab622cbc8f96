//! `reshape`'s sizes (a literal, a dimension, a braced constant) and a `#[gradient]`
//! input expand to code that draws no warning.
#![deny(warnings)]

wyrm::model! {
    struct M {
        w: Param<2, 1>,
        #[gradient]
        x: Input<batch, {len * 2}>,
        target: Input<batch, len>,
        scores = x.reshape({batch * len}, 2).dot(w).reshape(batch, len),
        loss = (scores - target).reshape(1, {batch * len}).square().scalar_sum(),
    }
}

fn main() {
    let model = M::new(3, 4);
    model.loss.forward();
    model.loss.backward(1.0);
    assert_eq!(model.x.gradient().dim(), (3, 8));
}
