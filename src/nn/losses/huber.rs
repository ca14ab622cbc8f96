//! The Huber loss: quadratic for small errors, linear for large ones, so that outliers
//! (or Q-learning's early, wild targets) pull with a bounded gradient.

use crate::node::Node;
use crate::nodes::{Binary, BinaryOp};
use crate::shape::Broadcast;
use crate::Variable;

/// The Huber loss of a prediction `a` against a target `b`, elementwise, with threshold
/// `delta`: `0.5 r²` where `|r| ≤ delta`, `delta (|r| - 0.5 delta)` beyond, for
/// `r = a - b`. Its partial with respect to `a` is `r` clamped to `[-delta, delta]`.
///
/// ```
/// use wyrm::nn::losses::HuberOp;
/// use wyrm::nodes::BinaryOp;
///
/// let op = HuberOp::new(1.0);
/// assert_eq!(op.apply(1.5, 1.0), 0.125); // 0.5 · 0.5²
/// assert_eq!(op.apply(4.0, 1.0), 2.5); // 1 · (3 - 0.5)
/// assert_eq!(op.partials(4.0, 1.0, 2.5), (1.0, -1.0));
/// ```
#[derive(Debug, Clone, Copy)]
pub struct HuberOp {
    delta: f32,
}

impl HuberOp {
    /// The operation with threshold `delta`.
    ///
    /// ```
    /// use wyrm::nn::losses::HuberOp;
    /// assert_eq!(HuberOp::new(0.5).delta(), 0.5);
    /// ```
    ///
    /// # Panics
    /// If `delta` is not finite and positive.
    #[track_caller]
    pub fn new(delta: f32) -> Self {
        assert!(
            delta.is_finite() && delta > 0.0,
            "huber: delta must be finite and positive, got {delta}"
        );
        HuberOp { delta }
    }

    /// The threshold between the quadratic and the linear part.
    ///
    /// ```
    /// use wyrm::nn::losses::HuberOp;
    /// assert_eq!(HuberOp::new(2.0).delta(), 2.0);
    /// ```
    pub fn delta(&self) -> f32 {
        self.delta
    }
}

impl BinaryOp for HuberOp {
    const NAME: &'static str = "huber";
    const READS_OUTPUT: bool = false;

    #[inline(always)]
    fn apply(&self, a: f32, b: f32) -> f32 {
        let r = (a - b).abs();
        if r <= self.delta {
            0.5 * r * r
        } else {
            self.delta * (r - 0.5 * self.delta)
        }
    }

    #[inline(always)]
    fn partials(&self, a: f32, b: f32, _: f32) -> (f32, f32) {
        let d = (a - b).clamp(-self.delta, self.delta);
        (d, -d)
    }
}

/// Node for [`huber`].
///
/// ```
/// use wyrm::*;
/// use wyrm::nn::losses::{huber, Huber};
/// let prediction = ParameterNode::new(ndarray::arr2(&[[1.0, 2.0]]));
/// let target = InputNode::new(ndarray::arr2(&[[1.5, 0.0]]));
/// let loss: Variable<Huber<ParameterNode, InputNode>> = huber(&prediction, &target, 1.0);
/// loss.forward();
/// assert_eq!(loss.value(), ndarray::arr2(&[[0.125, 1.5]]));
/// ```
pub type Huber<L, R> = Binary<HuberOp, L, R>;

/// The Huber (smooth L1) loss of `prediction` against `target`, elementwise, with
/// threshold `delta`: `0.5 r²` for `|r| ≤ delta` and `delta (|r| - 0.5 delta)` beyond,
/// for `r = prediction - target`. So the gradient is the error itself near the target
/// and never larger than `delta` in size. The shapes broadcast as for `-` (a single row,
/// column or `1 x 1` on either side is repeated along the other), and the result has the
/// broadcast shape; sum or average it with `scalar_sum` or `mean`. Only one side may be
/// repeated: a row of targets against a column of predictions (which `-` would turn into
/// a table of every pair) panics.
///
/// A Q-learning loss against a target computed from the next state's values:
///
/// ```
/// use wyrm::*;
/// use wyrm::nn::losses::huber;
///
/// let q = ParameterNode::new(ndarray::arr2(&[[0.5], [2.0], [-4.0]]));
/// let next_q = InputNode::new(ndarray::arr2(&[[1.0, 0.0], [1.0, 3.0], [0.0, 0.5]]));
/// let reward = InputNode::new(ndarray::arr2(&[[0.0], [-1.0], [1.0]]));
/// let target = (reward + next_q.max_rows() * 0.5).detach();
/// let loss = huber(&q, &target, 1.0).mean();
/// loss.forward();
/// loss.backward(1.0);
/// // Errors 0, 1.5 and -5.25: the quadratic part, then the linear part on both sides.
/// let expected = (0.0 + (1.5 - 0.5) + (5.25 - 0.5)) / 3.0;
/// assert!((loss.value()[(0, 0)] - expected).abs() < 1e-6);
/// assert_eq!(q.gradient(), ndarray::arr2(&[[0.0], [1.0 / 3.0], [-1.0 / 3.0]]));
/// ```
///
/// # Panics
/// If `delta` is not finite and positive, or the shapes do not broadcast or both would be
/// repeated (naming `huber` and both shapes).
#[track_caller]
pub fn huber<L: Node, R: Node>(
    prediction: &Variable<L>,
    target: &Variable<R>,
    delta: f32,
) -> Variable<Huber<L, R>>
where
    L::Rows: Broadcast<R::Rows>,
    L::Cols: Broadcast<R::Cols>,
{
    let op = HuberOp::new(delta);
    super::elementwise_loss(op, ("predictions", "targets"), prediction, target)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::*;

    /// Values and partials on both sides of the threshold, at it, and either sign.
    #[test]
    fn values_and_partials() {
        let op = HuberOp::new(0.5);
        for (a, b, value, partial) in [
            (0.0, 0.0, 0.0, 0.0),
            (0.3, 0.0, 0.045, 0.3),
            (0.0, 0.3, 0.045, -0.3),
            (0.5, 0.0, 0.125, 0.5),
            (2.0, 0.0, 0.875, 0.5),
            (-2.0, 1.0, 1.375, -0.5),
        ] {
            assert!((op.apply(a, b) - value).abs() < 1e-6, "{a} {b}");
            assert_eq!(op.partials(a, b, value), (partial, -partial), "{a} {b}");
        }
    }

    /// Finite differences with respect to both sides, on several shapes and broadcasts,
    /// with deltas that put elements on both sides of the threshold.
    #[test]
    fn gradients() {
        for (shape, target) in [
            ((1, 1), (1, 1)),
            ((3, 4), (3, 4)),
            ((3, 4), (1, 4)),
            ((4, 2), (4, 1)),
        ] {
            let p = ParameterNode::new(random_matrix(shape.0, shape.1) * 3.0);
            let t = ParameterNode::new(random_matrix(target.0, target.1));
            for delta in [0.25, 1.0] {
                let loss = huber(&p, &t, delta).tanh().scalar_sum();
                gradcheck::assert_gradient(&loss, &p);
                gradcheck::assert_gradient(&loss, &t);
            }
        }
    }

    #[test]
    #[should_panic(expected = "huber: delta must be finite and positive, got 0")]
    fn delta_must_be_positive() {
        let x = InputNode::new(random_matrix(1, 1));
        let _ = huber(&x, &x, 0.0);
    }

    /// A single prediction against many targets (a robust location estimate) is one side
    /// repeated, and fine; a column against a row is not.
    #[test]
    fn only_one_side_may_be_repeated() {
        let mu = ParameterNode::new(random_matrix(1, 1));
        let ys = InputNode::new(random_matrix(5, 1));
        assert_eq!(huber(&mu, &ys, 1.0).shape(), (5, 1));
        let row = InputNode::new(random_matrix(1, 5));
        let caught = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            huber(&ys, &row, 1.0);
        }));
        let message = *caught.unwrap_err().downcast::<String>().unwrap();
        // Before the node is built: a 100,000 x 100,000 table would not fit in memory.
        let (tall, wide) = (
            InputNode::new(ndarray::Array2::zeros((100_000, 1))),
            InputNode::new(ndarray::Array2::zeros((1, 100_000))),
        );
        let caught = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            huber(&tall, &wide, 1.0);
        }));
        assert!(caught.is_err());
        assert_eq!(
            message,
            "huber: the predictions are 5x1 and the targets 1x5: both would be repeated, giving \
             a 5x5 table of every pair; give the targets the shape of the predictions (or a \
             single row, column or 1x1 to repeat along it)"
        );
    }

    #[test]
    #[should_panic(expected = "huber")]
    fn shapes_must_broadcast() {
        let _ = huber(
            &InputNode::new(random_matrix(2, 3)),
            &InputNode::new(random_matrix(3, 2)),
            1.0,
        );
    }
}
