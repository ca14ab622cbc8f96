//! Loss functions: [`sparse_categorical_crossentropy`] for integer class targets (and
//! [`sparse_categorical_crossentropy_weighted`], with a weight per class),
//! [`binary_crossentropy_with_logits`] for yes/no targets (or probabilities) on logits
//! (and [`binary_crossentropy_with_logits_weighted`], with a weight for the positives),
//! [`huber`] (smooth L1) for regression targets with outliers and for Q-learning, and
//! [`gaussian_kl`], a VAE encoder's KL divergence from the standard normal.
//!
//! Squared error is a short expression of existing ops, written in place:
//! `(target - prediction).square()`. The binary cross-entropy and Huber losses are
//! elementwise; sum or average them (and squared error) with `scalar_sum` or `mean`.
//!
//! The negative log-likelihoods of the other common distributions are short expressions
//! too (each up to a constant that does not depend on the parameters):
//!
//! - Poisson counts `y` with a log-rate `eta` (a GLM's linear predictor):
//!   `eta.exp() - y * eta`;
//! - Gaussian targets `y` with a predicted mean `mu` and log-variance `log_var`
//!   (heteroscedastic regression, a VAE's decoder): `(log_var + (y - mu).square() *
//!   (-log_var).exp()) * 0.5`;
//! - the KL divergence of a diagonal Gaussian `N(mu, exp(log_var))` from `N(0, 1)` (a
//!   VAE's encoder) is [`gaussian_kl`]`(&mu, &log_var)`, summed over the latent columns
//!   (the expression `(mu.square() + log_var.exp() - log_var - 1.0) * 0.5` takes six
//!   nodes and loses its digits where `log_var` is near 0);
//! - quantiles (pinball loss) with a `τ` per column (one output column per quantile):
//!   `let e = target - prediction; e.clone() * taus + (-e).relu()`, with `taus` a
//!   `1 x k` input row broadcast over the batch (and a `B x 1` target over the `k`
//!   columns): `τ e` above the target's quantile, `(τ − 1) e` below;
//! - mixtures: `-(log_weights + log_densities).logsumexp_rows()` per row, with
//!   `log_weights` normalised (a `log_softmax` of the mixing logits) and each
//!   component's log-density in a column.
//!
//! ```
//! use wyrm::*;
//!
//! let eta = ParameterNode::new(ndarray::arr2(&[[0.5, -1.0]]));
//! let y = InputNode::new(ndarray::arr2(&[[2.0, 0.0]]));
//! let poisson = (eta.exp() - y * eta.clone()).scalar_sum();
//! poisson.forward();
//! poisson.backward(1.0);
//! // d/d eta = exp(eta) - y
//! let expected = [0.5f32.exp() - 2.0, (-1.0f32).exp()];
//! for (g, e) in eta.gradient().iter().zip(expected) {
//!     assert!((g - e).abs() < 1e-6);
//! }
//!
//! let (mu, log_var) = (
//!     ParameterNode::new(ndarray::arr2(&[[0.0]])),
//!     ParameterNode::new(ndarray::arr2(&[[0.0]])),
//! );
//! let target = InputNode::new(ndarray::arr2(&[[2.0]]));
//! let gaussian = (log_var.clone() + (target - mu.clone()).square() * (-log_var.clone()).exp()) * 0.5;
//! gaussian.forward();
//! assert_eq!(gaussian.value()[(0, 0)], 2.0); // 0.5 · (0 + 4 · 1)
//! gradcheck::assert_gradients(&gaussian);
//!
//! // Quantiles 0.1, 0.5 and 0.9 of two targets, one column each.
//! let prediction = ParameterNode::new(ndarray::arr2(&[[0.0, 1.0, 2.0], [1.0, 1.0, 1.0]]));
//! let target = InputNode::new(ndarray::arr2(&[[1.0], [0.0]]));
//! let taus = InputNode::new(ndarray::arr2(&[[0.1, 0.5, 0.9]]));
//! let e = target - prediction.clone();
//! let pinball = (e.clone() * taus + (-e).relu()).mean();
//! pinball.forward();
//! pinball.backward(1.0);
//! // Row 0: errors 1, 0, -1: 0.1 · 1, 0, 0.1 · 1. Row 1: -1 each: 0.9, 0.5, 0.1.
//! assert!((pinball.value()[(0, 0)] - 1.7 / 6.0).abs() < 1e-6);
//! // d/d prediction: -τ above the target, 1 - τ below (over the 6 elements).
//! assert!((prediction.gradient()[(0, 0)] + 0.1 / 6.0).abs() < 1e-6);
//! assert!((prediction.gradient()[(1, 0)] - 0.9 / 6.0).abs() < 1e-6);
//! ```

mod binary_crossentropy;
mod categorical;
mod gaussian_kl;
mod huber;

pub use binary_crossentropy::{
    binary_crossentropy_with_logits, binary_crossentropy_with_logits_weighted, BinaryCrossentropy,
    BinaryCrossentropyOp, WeightedBinaryCrossentropy, WeightedBinaryCrossentropyOp,
};
pub use categorical::{
    sparse_categorical_crossentropy, sparse_categorical_crossentropy_weighted,
    SparseCategoricalCrossentropy,
};
pub use gaussian_kl::{gaussian_kl, GaussianKl, GaussianKlOp};
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
