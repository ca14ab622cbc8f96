//! Binary cross-entropy on logits, in one node and in the stable form, for yes/no targets
//! (clicks, positive against negative samples) and for soft targets in `[0, 1]`.

use crate::kernels::{sigmoid, softplus};
use crate::node::Node;
use crate::nodes::{Binary, BinaryOp};
use crate::shape::Broadcast;
use crate::Variable;

/// The binary cross-entropy of a logit `z` against a target probability `t`:
/// `softplus(z) - t z`, which is `-(t ln σ(z) + (1 - t) ln(1 - σ(z)))` without the NaN
/// that form gives once `σ(z)` rounds to 0 or 1. Its partials are `σ(z) - t` for the
/// logit and `-z` for the target.
///
/// ```
/// use wyrm::nn::losses::BinaryCrossentropyOp;
/// use wyrm::nodes::BinaryOp;
///
/// let op = BinaryCrossentropyOp;
/// assert!((op.apply(0.0, 1.0) - 2f32.ln()).abs() < 1e-6);
/// assert_eq!(op.apply(-40.0, 1.0), 40.0); // confidently wrong: finite
/// assert_eq!(op.partials(0.0, 1.0, 2f32.ln()), (-0.5, -0.0));
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct BinaryCrossentropyOp;

impl BinaryOp for BinaryCrossentropyOp {
    const NAME: &'static str = "binary_crossentropy_with_logits";
    const READS_OUTPUT: bool = false;

    #[inline(always)]
    fn apply(&self, z: f32, t: f32) -> f32 {
        softplus(z) - t * z
    }

    #[inline(always)]
    fn partials(&self, z: f32, t: f32, _: f32) -> (f32, f32) {
        (sigmoid(z) - t, -z)
    }
}

/// Node for [`binary_crossentropy_with_logits`].
///
/// ```
/// use wyrm::*;
/// use wyrm::nn::losses::{binary_crossentropy_with_logits, BinaryCrossentropy};
/// let logits = ParameterNode::new(ndarray::arr2(&[[0.0, 0.0]]));
/// let targets = InputNode::new(ndarray::arr2(&[[1.0, 0.0]]));
/// let loss: Variable<BinaryCrossentropy<ParameterNode, InputNode>> =
///     binary_crossentropy_with_logits(&logits, &targets);
/// loss.forward();
/// assert!((loss.value()[(0, 1)] - 2f32.ln()).abs() < 1e-6);
/// ```
pub type BinaryCrossentropy<L, R> = Binary<BinaryCrossentropyOp, L, R>;

/// The binary cross-entropy of `logits` against `targets` (0/1 labels or probabilities),
/// elementwise: `softplus(z) - t z` for logit `z` and target `t`, the stable form of
/// `-(t ln σ(z) + (1 - t) ln(1 - σ(z)))`. It is the logistic loss of a click model or of
/// word2vec's positive and negative samples; the gradient with respect to the logits is
/// `σ(z) - t`, finite for any logit. One node, where the same expression written out
/// (`z.softplus() - t * z`) takes three. The targets are not checked (that would cost a
/// pass over them each step): a target outside `[0, 1]`, such as a label of 2, gives a
/// finite value that means nothing, and a loss with no minimum (training drives its logit
/// to infinity).
///
/// The shapes broadcast as for `-` (a single row, column or `1 x 1` on either side is
/// repeated along the other), and the result has the broadcast shape; sum or average it
/// with `scalar_sum` or `mean`. Only one side may be repeated: a row of labels against a
/// column of logits (which `-` would turn into a table of every pair) panics.
///
/// ```
/// use wyrm::*;
/// use wyrm::nn::losses::binary_crossentropy_with_logits;
///
/// let logits = ParameterNode::new(ndarray::arr2(&[[0.0], [40.0], [-40.0]]));
/// let labels = InputNode::new(ndarray::arr2(&[[1.0], [0.0], [0.0]]));
/// let loss = binary_crossentropy_with_logits(&logits, &labels).scalar_sum();
/// loss.forward();
/// loss.backward(1.0);
/// // ln 2 for the undecided example, 40 for the confidently wrong one, ~0 for the last.
/// assert!((loss.value()[(0, 0)] - (2f32.ln() + 40.0)).abs() < 1e-5);
/// let g = logits.gradient(); // sigmoid(z) - t
/// assert!((g[(0, 0)] + 0.5).abs() < 1e-6 && (g[(1, 0)] - 1.0).abs() < 1e-6);
/// assert!(g[(2, 0)].abs() < 1e-6);
/// ```
///
/// Skip-gram with negative sampling (word2vec): each center word of a batch is scored
/// against its context word (label 1) and `k` sampled words (label 0). Look each center
/// up once and repeat its row `1 + k` times with `gather_rows`, then take one dot product
/// per (center, target) pair; both tables get row-sparse gradients, so a step touches
/// only the rows looked up. (Repeating the center's id `1 + k` times in the lookup itself
/// gives the same gradients, with more rows for the optimizer to merge.)
///
/// ```
/// use wyrm::*;
/// use wyrm::nn::losses::binary_crossentropy_with_logits;
///
/// let (vocab, dim) = (50, 8);
/// let words_in = ParameterNode::new(random_matrix(vocab, dim));
/// let words_out = ParameterNode::new(random_matrix(vocab, dim));
/// // Two centers with k = 2: each one's context word, then its two negatives.
/// let centers = IndexInputNode::new(&[3, 17]);
/// let repeat = IndexInputNode::new(&[0, 0, 0, 1, 1, 1]);
/// let targets = IndexInputNode::new(&[4, 30, 9, 16, 2, 41]);
/// let labels = InputNode::new(ndarray::arr2(&[[1.0], [0.0], [0.0], [1.0], [0.0], [0.0]]));
/// let logits = (words_in.index(&centers).gather_rows(&repeat))
///     .vector_dot(&words_out.index(&targets)); // 6 x 1
/// let loss = binary_crossentropy_with_logits(&logits, &labels).scalar_sum();
/// let mut optimizer = SGD::new(0.1, loss.parameters());
/// let mut losses = Vec::new();
/// for _ in 0..20 {
///     loss.forward();
///     losses.push(loss.value()[(0, 0)]);
///     loss.backward(1.0);
///     optimizer.step();
///     optimizer.zero_gradients();
/// }
/// assert!(losses[19] < losses[0]);
/// ```
///
/// # Panics
/// If the shapes do not broadcast, or both would be repeated (naming
/// `binary_crossentropy_with_logits` and both shapes).
#[track_caller]
pub fn binary_crossentropy_with_logits<L: Node, R: Node>(
    logits: &Variable<L>,
    targets: &Variable<R>,
) -> Variable<BinaryCrossentropy<L, R>>
where
    L::Rows: Broadcast<R::Rows>,
    L::Cols: Broadcast<R::Cols>,
{
    super::elementwise_loss(BinaryCrossentropyOp, ("logits", "targets"), logits, targets)
}

/// The binary cross-entropy of a logit `z` against a target `t` with the positive term
/// weighted by `pos_weight` (PyTorch's `pos_weight`):
/// `-(pos_weight · t ln σ(z) + (1 - t) ln(1 - σ(z)))`, computed as
/// `(1 - t) softplus(z) + pos_weight · t softplus(-z)`: finite for any logit, and
/// without cancellation, so that a confident negative's small loss and gradient keep
/// their precision.
///
/// ```
/// use wyrm::nn::losses::WeightedBinaryCrossentropyOp;
/// use wyrm::nodes::BinaryOp;
///
/// let op = WeightedBinaryCrossentropyOp::new(3.0);
/// // A positive counts 3 times; a negative as without the weight.
/// assert!((op.apply(0.0, 1.0) - 3.0 * 2f32.ln()).abs() < 1e-6);
/// assert!((op.apply(0.0, 0.0) - 2f32.ln()).abs() < 1e-6);
/// assert_eq!(op.partials(0.0, 1.0, 3.0 * 2f32.ln()).0, -1.5); // 3 (σ(0) - 1)
/// ```
#[derive(Debug, Clone, Copy)]
pub struct WeightedBinaryCrossentropyOp {
    pos_weight: f32,
}

impl WeightedBinaryCrossentropyOp {
    /// The operation with weight `pos_weight` on the positive term.
    ///
    /// ```
    /// use wyrm::nn::losses::WeightedBinaryCrossentropyOp;
    /// assert_eq!(WeightedBinaryCrossentropyOp::new(4.0).pos_weight(), 4.0);
    /// ```
    ///
    /// # Panics
    /// If `pos_weight` is negative or not finite.
    #[track_caller]
    pub fn new(pos_weight: f32) -> Self {
        WeightedBinaryCrossentropyOp {
            pos_weight: crate::checks::check_setting(
                "binary_crossentropy_with_logits_weighted: pos_weight",
                pos_weight,
                crate::checks::Range::NonNegative,
            ),
        }
    }

    /// The weight of the positive term.
    ///
    /// ```
    /// use wyrm::nn::losses::WeightedBinaryCrossentropyOp;
    /// assert_eq!(WeightedBinaryCrossentropyOp::new(0.5).pos_weight(), 0.5);
    /// ```
    pub fn pos_weight(&self) -> f32 {
        self.pos_weight
    }
}

impl BinaryOp for WeightedBinaryCrossentropyOp {
    const NAME: &'static str = "binary_crossentropy_with_logits_weighted";
    const READS_OUTPUT: bool = false;

    #[inline(always)]
    fn apply(&self, z: f32, t: f32) -> f32 {
        (1.0 - t) * softplus(z) + self.pos_weight * t * softplus(-z)
    }

    #[inline(always)]
    fn partials(&self, z: f32, t: f32, _: f32) -> (f32, f32) {
        (
            (1.0 - t) * sigmoid(z) - self.pos_weight * t * sigmoid(-z),
            self.pos_weight * softplus(-z) - softplus(z),
        )
    }
}

/// Node for [`binary_crossentropy_with_logits_weighted`].
///
/// ```
/// use wyrm::*;
/// use wyrm::nn::losses::{binary_crossentropy_with_logits_weighted, WeightedBinaryCrossentropy};
/// let logits = ParameterNode::new(ndarray::arr2(&[[0.0, 0.0]]));
/// let targets = InputNode::new(ndarray::arr2(&[[1.0, 0.0]]));
/// let loss: Variable<WeightedBinaryCrossentropy<ParameterNode, InputNode>> =
///     binary_crossentropy_with_logits_weighted(&logits, &targets, 2.0);
/// loss.forward();
/// assert!((loss.value()[(0, 0)] - 2.0 * 2f32.ln()).abs() < 1e-6);
/// ```
pub type WeightedBinaryCrossentropy<L, R> = Binary<WeightedBinaryCrossentropyOp, L, R>;

/// [`binary_crossentropy_with_logits`] with the positive examples' term weighted by
/// `pos_weight`: `-(pos_weight · t ln σ(z) + (1 - t) ln(1 - σ(z)))`, as PyTorch's
/// `BCEWithLogitsLoss(pos_weight=..)` with one weight for every column. For rare
/// positives (clicks, churn, fraud), a `pos_weight` of about negatives / positives makes
/// both classes pull alike; the predicted probabilities are then no longer calibrated
/// (they overstate the positive rate by about that factor in odds). `pos_weight = 1` is
/// the unweighted loss. A weight per example is an ordinary product instead:
/// `binary_crossentropy_with_logits(&z, &t) * weights`.
///
/// Shapes broadcast as for [`binary_crossentropy_with_logits`]; the gradient with respect
/// to the logits is `(1 - t) σ(z) - pos_weight · t σ(-z)`: `pos_weight (σ(z) - 1)` for a
/// positive and `σ(z)` for a negative.
///
/// ```
/// use wyrm::*;
/// use wyrm::nn::losses::binary_crossentropy_with_logits_weighted;
///
/// let logits = ParameterNode::new(ndarray::arr2(&[[0.0], [0.0], [0.0], [0.0]]));
/// // One positive among four examples.
/// let labels = InputNode::new(ndarray::arr2(&[[1.0], [0.0], [0.0], [0.0]]));
/// let loss = binary_crossentropy_with_logits_weighted(&logits, &labels, 3.0).sum_columns();
/// loss.forward();
/// loss.backward(1.0);
/// // The positive pulls up as hard as the three negatives pull down together.
/// let g = logits.gradient();
/// assert!((g[(0, 0)] + 1.5).abs() < 1e-6);
/// assert!((g[(1, 0)] + g[(2, 0)] + g[(3, 0)] - 1.5).abs() < 1e-6);
/// ```
///
/// # Panics
/// If `pos_weight` is negative or not finite, or as
/// [`binary_crossentropy_with_logits`] for the shapes.
#[track_caller]
pub fn binary_crossentropy_with_logits_weighted<L: Node, R: Node>(
    logits: &Variable<L>,
    targets: &Variable<R>,
    pos_weight: f32,
) -> Variable<WeightedBinaryCrossentropy<L, R>>
where
    L::Rows: Broadcast<R::Rows>,
    L::Cols: Broadcast<R::Cols>,
{
    super::elementwise_loss(
        WeightedBinaryCrossentropyOp::new(pos_weight),
        ("logits", "targets"),
        logits,
        targets,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::*;

    /// Against the textbook form in f64, over logits where it is still finite, for hard
    /// and soft targets.
    #[test]
    fn values_and_partials() {
        let op = BinaryCrossentropyOp;
        for z in [-15.0f32, -2.0, -0.3, 0.0, 0.7, 3.0, 15.0] {
            for t in [0.0f32, 0.25, 1.0] {
                let s = 1.0 / (1.0 + (-(z as f64)).exp());
                let t64 = t as f64;
                let exact = -(t64 * s.ln() + (1.0 - t64) * (1.0 - s).ln());
                let value = op.apply(z, t);
                assert!(
                    (value as f64 - exact).abs() < 1e-5 * exact.max(1.0),
                    "{z} {t}: {value} against {exact}"
                );
                let (dz, dt) = op.partials(z, t, value);
                assert!((dz as f64 - (s - t64)).abs() < 1e-6, "{z} {t}");
                assert_eq!(dt, -z);
            }
        }
        // Far past where σ rounds to 0 or 1, the loss and its slope stay exact.
        assert_eq!(op.apply(100.0, 0.0), 100.0);
        assert_eq!(op.apply(-100.0, 1.0), 100.0);
        assert_eq!(op.partials(-100.0, 1.0, 100.0).0, -1.0);
    }

    /// The weighted form against the textbook one in f64, and equal to the unweighted
    /// op (values and partials) at weight 1.
    #[test]
    fn weighted_values_and_partials() {
        for p in [0.0f32, 0.5, 1.0, 7.0] {
            let op = WeightedBinaryCrossentropyOp::new(p);
            for z in [-15.0f32, -2.0, -0.3, 0.0, 0.7, 3.0, 15.0] {
                for t in [0.0f32, 0.25, 1.0] {
                    let (z64, t64, p64) = (z as f64, t as f64, p as f64);
                    let s = 1.0 / (1.0 + (-z64).exp());
                    let exact = -(p64 * t64 * s.ln() + (1.0 - t64) * (1.0 - s).ln());
                    let value = op.apply(z, t);
                    assert!(
                        (value as f64 - exact).abs() < 1e-5 * exact.max(1.0),
                        "{p} {z} {t}: {value} against {exact}"
                    );
                    // d/dz = -p t (1 - s) + (1 - t) s; d/dt = -p ln s + ln(1 - s).
                    let (dz, dt) = op.partials(z, t, value);
                    let exact_dz = -p64 * t64 * (1.0 - s) + (1.0 - t64) * s;
                    let exact_dt = -p64 * s.ln() + (1.0 - s).ln();
                    assert!((dz as f64 - exact_dz).abs() < 1e-5, "{p} {z} {t}: dz {dz}");
                    assert!(
                        (dt as f64 - exact_dt).abs() < 1e-5 * exact_dt.abs().max(1.0),
                        "{p} {z} {t}: dt {dt} against {exact_dt}"
                    );
                    if p == 1.0 {
                        let plain = BinaryCrossentropyOp;
                        assert!((value - plain.apply(z, t)).abs() < 1e-6);
                        let (pz, pt) = plain.partials(z, t, value);
                        assert!((dz - pz).abs() < 1e-6 && (dt - pt).abs() < 1e-5);
                    }
                }
            }
        }
        // Far past where σ rounds to 0 or 1 the weighted loss stays finite and exact.
        let op = WeightedBinaryCrossentropyOp::new(5.0);
        assert_eq!(op.apply(-100.0, 1.0), 500.0);
        assert_eq!(op.apply(100.0, 0.0), 100.0);
        assert_eq!(op.partials(-100.0, 1.0, 500.0).0, -5.0);
        // A confident negative (or positive) keeps its tiny loss and gradient to full
        // relative precision: e^-20 ≈ 2.06e-9, not 0.
        let exact = (-20f64).exp().ln_1p();
        for (z, t) in [(-20.0f32, 0.0f32), (20.0, 1.0)] {
            let value = op.apply(z, t) as f64;
            let scale = if t == 1.0 { 5.0 } else { 1.0 };
            assert!(
                (value - scale * exact).abs() < 1e-6 * scale * exact,
                "{z}: {value}"
            );
            let dz = op.partials(z, t, value as f32).0 as f64;
            assert!(
                (dz.abs() - scale * exact).abs() < 1e-6 * scale * exact,
                "{z}: {dz}"
            );
        }
    }

    /// Finite differences with respect to both sides, on several shapes and broadcasts.
    #[test]
    fn gradients() {
        for (shape, target) in [
            ((1, 1), (1, 1)),
            ((3, 4), (3, 4)),
            ((3, 4), (1, 4)),
            ((4, 2), (4, 1)),
        ] {
            let z = ParameterNode::new(random_matrix(shape.0, shape.1) * 3.0);
            let t = ParameterNode::new(random_matrix(target.0, target.1));
            let loss = binary_crossentropy_with_logits(&z, &t).tanh().scalar_sum();
            gradcheck::assert_gradient(&loss, &z);
            gradcheck::assert_gradient(&loss, &t);
            let weighted = (binary_crossentropy_with_logits_weighted(&z, &t, 2.5) * 0.3)
                .tanh()
                .scalar_sum();
            gradcheck::assert_gradient(&weighted, &z);
            gradcheck::assert_gradient(&weighted, &t);
        }
    }

    /// The same values and gradient as the expression written out.
    #[test]
    fn matches_the_written_out_form() {
        let z = ParameterNode::new(random_matrix(5, 3) * 4.0);
        let t = InputNode::new(random_matrix(5, 3).mapv(|x| (x + 1.0) / 2.0));
        let fused = binary_crossentropy_with_logits(&z, &t).scalar_sum();
        fused.forward();
        fused.backward(1.0);
        let fused_gradient = z.gradient();
        z.zero_gradient();
        let written = (z.softplus() - t.clone() * z.clone()).scalar_sum();
        written.forward();
        written.backward(1.0);
        assert!((fused.value()[(0, 0)] - written.value()[(0, 0)]).abs() < 1e-5);
        for (a, b) in fused_gradient.iter().zip(z.gradient().iter()) {
            assert!((a - b).abs() < 1e-6, "{a} against {b}");
        }
    }

    /// A row of labels against a column of logits: the classic silent outer product.
    #[test]
    #[should_panic(
        expected = "binary_crossentropy_with_logits: the logits are 4x1 and the \
                               targets 1x4: both would be repeated, giving a 4x4 table"
    )]
    fn a_row_of_targets_against_a_column_of_logits_panics() {
        let _ = binary_crossentropy_with_logits(
            &InputNode::new(random_matrix(4, 1)),
            &InputNode::new(random_matrix(1, 4)),
        );
    }

    #[test]
    #[should_panic(
        expected = "binary_crossentropy_with_logits_weighted: the logits are 1x3 and the \
                               targets 3x1: both would be repeated"
    )]
    fn weighted_refuses_an_outer_table_too() {
        let _ = binary_crossentropy_with_logits_weighted(
            &InputNode::new(random_matrix(1, 3)),
            &InputNode::new(random_matrix(3, 1)),
            2.0,
        );
    }

    #[test]
    #[should_panic(
        expected = "binary_crossentropy_with_logits_weighted: pos_weight must be finite and at \
                    least 0, got -1"
    )]
    fn a_negative_pos_weight_panics() {
        let _ = binary_crossentropy_with_logits_weighted(
            &InputNode::new(random_matrix(2, 1)),
            &InputNode::new(random_matrix(2, 1)),
            -1.0,
        );
    }

    #[test]
    #[should_panic(expected = "binary_crossentropy_with_logits")]
    fn shapes_must_broadcast() {
        let _ = binary_crossentropy_with_logits(
            &InputNode::new(random_matrix(2, 3)),
            &InputNode::new(random_matrix(3, 2)),
        );
    }
}
