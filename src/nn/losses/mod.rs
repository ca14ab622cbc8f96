//! Loss functions: [`sparse_categorical_crossentropy`] for integer class targets (and
//! [`sparse_categorical_crossentropy_weighted`], with a weight per class),
//! [`binary_crossentropy_with_logits`] for yes/no targets (or probabilities) on logits
//! (and [`binary_crossentropy_with_logits_weighted`], with a weight for the positives),
//! and [`huber`] (smooth L1) for regression targets with outliers and for Q-learning.
//!
//! Squared error is a short expression of existing ops, written in place:
//! `(target - prediction).square()`. The binary cross-entropy and Huber losses are
//! elementwise; sum or average them (and squared error) with `scalar_sum` or `mean`.

mod binary_crossentropy;
mod categorical;
mod huber;

pub use binary_crossentropy::{
    binary_crossentropy_with_logits, binary_crossentropy_with_logits_weighted, BinaryCrossentropy,
    BinaryCrossentropyOp, WeightedBinaryCrossentropy, WeightedBinaryCrossentropyOp,
};
pub use categorical::{
    sparse_categorical_crossentropy, sparse_categorical_crossentropy_weighted,
    SparseCategoricalCrossentropy,
};
pub use huber::{huber, Huber, HuberOp};

use crate::node::Node;
use crate::nodes::{Binary, BinaryOp};
use crate::shape::{fmt_shape, Broadcast};
use crate::Variable;

/// The elementwise loss `op` of `prediction` against `target`, after checking that at
/// most one side is repeated along the other; `names` name the two sides in messages.
#[track_caller]
fn elementwise_loss<Op: BinaryOp, L: Node, R: Node>(
    op: Op,
    names: (&str, &str),
    prediction: &Variable<L>,
    target: &Variable<R>,
) -> Variable<Binary<Op, L, R>>
where
    L::Rows: Broadcast<R::Rows>,
    L::Cols: Broadcast<R::Cols>,
{
    check_one_side_broadcasts(Op::NAME, names, (prediction.shape(), target.shape()));
    prediction.combine(op, target)
}

/// Panics if an elementwise loss would broadcast both operands (a row of targets against
/// a column of predictions, or the reverse): the result would be an outer table of every
/// prediction against every target, which is almost always a mistake. One side repeated
/// along the other (a 1x1 target, a row of per-column targets) is fine. Called before the
/// node is built, which would allocate that table. Shapes that do not broadcast at all
/// are left to the node's own check.
#[track_caller]
fn check_one_side_broadcasts(
    name: &str,
    (prediction, target): (&str, &str),
    (p, t): ((usize, usize), (usize, usize)),
) {
    let dim = |a: usize, b: usize| match (a, b) {
        _ if a == b => Some(a),
        (1, _) => Some(b),
        (_, 1) => Some(a),
        _ => None,
    };
    let (Some(rows), Some(cols)) = (dim(p.0, t.0), dim(p.1, t.1)) else {
        return;
    };
    let result = (rows, cols);
    assert!(
        result == p || result == t,
        "{name}: the {prediction} are {} and the {target} {}: both would be repeated, giving \
         a {} table of every pair; give the {target} the shape of the {prediction} (or a \
         single row, column or 1x1 to repeat along it)",
        fmt_shape(p),
        fmt_shape(t),
        fmt_shape(result)
    );
}
