use wyrm::model;
use wyrm::nodes::UnaryOp;

/// Not an operation.
struct NotAnOp;

struct Softsign;

impl UnaryOp for Softsign {
    const NAME: &'static str = "softsign";
    fn apply(&self, x: f32) -> f32 {
        x / (1.0 + x.abs())
    }
    fn derivative(&self, x: f32, _: f32) -> f32 {
        1.0 / ((1.0 + x.abs()) * (1.0 + x.abs()))
    }
}

/// A constructor that returns another type than its own.
struct Maker;

impl Maker {
    fn softsign() -> Softsign {
        Softsign
    }
}

// Each mistake is reported at the operation the user wrote.
model! {
    struct Wrong {
        w: Param<2, 2>,
        x: Input<1, 2>,
        a = x.dot(w).map(NotAnOp),
        b = x.dot(w).map(Maker::softsign()),
    }
}

fn main() {}
