//! Cross-entropy of integer class targets under a row-wise softmax, optionally with a
//! weight per class (for imbalanced classes).

use crate::kernels::ln;
use crate::node::{Node, NodeState, Pass, Scratch};
use crate::nodes::index::{check_range, Binding, Bound};
use crate::nodes::Child;
use crate::nodes::IndexInputNode;
use crate::shape::Dim;
use crate::Variable;
use std::cell::{Ref, RefCell};
use std::rc::Rc;
use typenum::U1;

const NAME: &str = "sparse_categorical_crossentropy";
/// The name of the weighted form, for its messages.
const WEIGHTED: &str = "sparse_categorical_crossentropy_weighted";

/// Node for [`sparse_categorical_crossentropy`]: a `1 x 1` value, the summed negative
/// log-likelihood of the targets under the row-wise softmax of the logits.
///
/// ```
/// use wyrm::*;
/// use wyrm::nn::losses::{sparse_categorical_crossentropy, SparseCategoricalCrossentropy};
/// let logits = ParameterNode::new(ndarray::arr2(&[[0.0, 0.0], [0.0, 0.0]]));
/// let targets = IndexInputNode::new(&[1, 0]);
/// let loss: Variable<SparseCategoricalCrossentropy<ParameterNode>> =
///     sparse_categorical_crossentropy(&logits, &targets);
/// loss.forward();
/// // Two rows, each giving its target probability 1/2: the sum is 2 ln 2.
/// assert!((loss.value()[(0, 0)] - 2.0 * 2f32.ln()).abs() < 1e-6);
/// ```
pub struct SparseCategoricalCrossentropy<T> {
    logits: Child<T>,
    targets: Rc<IndexInputNode>,
    /// The targets of the latest forward pass.
    used: RefCell<Vec<usize>>,
    /// Row-wise softmax of the logits from the latest forward pass.
    probabilities: Scratch,
    /// The gradient handed to the logits: `weight * (softmax - onehot)`.
    logits_grad: Scratch,
    /// One factor per class for the rows of that target (empty: all 1).
    class_weights: Box<[f32]>,
    /// The function that built the node, for messages.
    name: &'static str,
    state: NodeState,
    /// Keeps the class count limiting the targets while this node lives.
    _binding: Binding,
}

impl<T: Node> SparseCategoricalCrossentropy<T> {
    /// Builds the node; panics if the number of targets differs from the number of rows
    /// of `logits`, or if a target is not a valid class.
    ///
    /// ```
    /// use wyrm::*;
    /// use wyrm::nn::losses::SparseCategoricalCrossentropy;
    /// let logits = ParameterNode::new(ndarray::arr2(&[[0.0, 0.0]]));
    /// let targets = IndexInputNode::new(&[1]);
    /// // The node `sparse_categorical_crossentropy(&logits, &targets)` builds.
    /// let node =
    ///     SparseCategoricalCrossentropy::new(logits.node().clone(), targets.node().clone());
    /// let loss = Variable::with_operands(node, &[(&logits).into()]);
    /// loss.forward();
    /// loss.backward(1.0);
    /// // softmax - onehot(target)
    /// assert_eq!(logits.gradient(), ndarray::arr2(&[[0.5, -0.5]]));
    /// ```
    #[track_caller]
    pub fn new(logits: Rc<T>, targets: Rc<IndexInputNode>) -> Self {
        Self::with_class_weights(logits, targets, &[])
    }

    /// Builds the node with one weight per class, each row's loss scaled by its target's
    /// weight (no weights, `&[]`: all 1). Panics as [`new`](Self::new) does, and if there
    /// is not one finite, non-negative weight per class.
    ///
    /// ```
    /// use wyrm::*;
    /// use wyrm::nn::losses::SparseCategoricalCrossentropy;
    /// let logits = ParameterNode::new(ndarray::arr2(&[[0.0, 0.0]]));
    /// let targets = IndexInputNode::new(&[1]);
    /// let node = SparseCategoricalCrossentropy::with_class_weights(
    ///     logits.node().clone(),
    ///     targets.node().clone(),
    ///     &[1.0, 3.0],
    /// );
    /// let loss = Variable::with_operands(node, &[(&logits).into()]);
    /// loss.forward();
    /// loss.backward(1.0);
    /// assert!((loss.value()[(0, 0)] - 3.0 * 2f32.ln()).abs() < 1e-6);
    /// assert_eq!(logits.gradient(), ndarray::arr2(&[[1.5, -1.5]]));
    /// ```
    #[track_caller]
    pub fn with_class_weights(
        logits: Rc<T>,
        targets: Rc<IndexInputNode>,
        class_weights: &[f32],
    ) -> Self {
        let (rows, classes) = logits.shape();
        let name = if class_weights.is_empty() {
            NAME
        } else {
            WEIGHTED
        };
        assert!(
            class_weights.is_empty() || class_weights.len() == classes,
            "{name}: {} class weights for {classes} classes (the logits are {rows}x{classes}); \
             give one weight per class",
            class_weights.len()
        );
        if let Some((class, w)) =
            (class_weights.iter().enumerate()).find(|(_, w)| !(w.is_finite() && **w >= 0.0))
        {
            panic!("{name}: the weight of class {class} is {w}; weights must be finite and non-negative");
        }
        assert!(
            targets.len() == rows,
            "{name}: the logits are {rows}x{classes} (one row per example) but there are {} \
             targets; give one target class per row",
            targets.len()
        );
        let binding = IndexInputNode::bind(&targets, classes, Bound::Classes, name);
        SparseCategoricalCrossentropy {
            used: RefCell::new(vec![0; rows]),
            probabilities: Scratch::new(rows * classes),
            logits_grad: Scratch::new(rows * classes),
            class_weights: class_weights.into(),
            name,
            state: NodeState::new((1, 1)),
            logits: Child::new(logits),
            targets,
            _binding: binding,
        }
    }

    /// The factor of rows whose target is `class`.
    #[inline(always)]
    fn class_weight(&self, class: usize) -> f32 {
        self.class_weights.get(class).copied().unwrap_or(1.0)
    }

    /// Sends the complete gradient `g` of this node's value on to the operands.
    #[inline(always)]
    fn propagate(&self, g: &[f32]) {
        let weight = g[0];
        let (_, classes) = self.logits.shape();
        let classes = T::Cols::fold(classes);
        {
            let probabilities = self.probabilities.borrow_mut();
            let mut g = self.logits_grad.borrow_mut();
            if classes > 0 {
                for ((g, p), &target) in g
                    .chunks_exact_mut(classes)
                    .zip(probabilities.chunks_exact(classes))
                    .zip(self.used.borrow().iter())
                {
                    let weight = weight * self.class_weight(target);
                    for (g, p) in g.iter_mut().zip(p) {
                        *g = weight * *p;
                    }
                    g[target] -= weight;
                }
            }
        }
        self.logits.backward(&self.logits_grad.borrow_mut());
    }
}

impl<T: Node> Node for SparseCategoricalCrossentropy<T> {
    type Rows = U1;
    type Cols = U1;

    #[inline(always)]
    fn shape(&self) -> (usize, usize) {
        (1, 1)
    }

    fn forward(&self, pass: Pass) {
        if !self.state.visit(pass) {
            return;
        }
        self.logits.forward(pass);
        let (rows, classes) = self.logits.shape();
        let classes = T::Cols::fold(classes);
        let mut used = self.used.borrow_mut();
        used.copy_from_slice(&self.targets.current());
        check_range(&used, classes, Bound::Classes, self.name);
        let logits = self.logits.value();
        let mut probabilities = self.probabilities.borrow_mut();
        let mut total = 0.0f32;
        if classes > 0 {
            let mut apply = || {
                for ((x, p), &target) in logits[..rows * classes]
                    .chunks_exact(classes)
                    .zip(probabilities.chunks_exact_mut(classes))
                    .zip(used.iter())
                {
                    // log-sum-exp shifted by the row maximum: no overflow, and the sum is
                    // >= 1.
                    let max = crate::kernels::max(x);
                    let sum = crate::kernels::exp_shifted(x, max, p);
                    let inv = 1.0 / sum;
                    p.iter_mut().for_each(|p| *p *= inv);
                    // -log softmax(x)[t] = log(sum) - (x[t] - max)
                    total += self.class_weight(target) * (ln(sum) - (x[target] - max));
                }
            };
            // In AVX2 for rows long enough to fill its lanes (as `softmax` does).
            if classes >= 16 {
                crate::kernels::simd::vectorized(apply)
            } else {
                apply()
            }
        }
        self.state.value_mut()[0] = total;
    }

    fn backward(&self, gradient: &[f32]) {
        if !self.logits.needs_gradient() {
            return;
        }
        if let Some(g) = self.state.gather(gradient) {
            self.propagate(&g);
        }
    }

    #[inline]
    fn backward_nothing(&self) {
        if self.logits.needs_gradient() {
            self.state
                .gather_nothing(|g| self.propagate(g), || self.logits.backward_nothing());
        }
    }

    #[inline(always)]
    fn value(&self) -> Ref<'_, [f32]> {
        self.state.value()
    }

    #[inline(always)]
    fn begin_backward(&self) {
        self.state.begin_backward();
    }

    #[inline(always)]
    fn needs_gradient(&self) -> bool {
        self.logits.needs_gradient()
    }

    #[inline(always)]
    fn discards_gradient(&self) -> bool {
        self.logits.discards_gradient()
    }
}

/// Cross-entropy of integer class targets under the row-wise softmax of `logits`.
///
/// `logits` is `m x classes` (one row of unnormalised scores per example) and `targets`
/// holds `m` class indices, one per row. The result is `1 x 1`: the **sum** over rows of
/// `-log softmax(logits[row])[targets[row]]` (divide by `m` for the mean). It is computed
/// with the log-sum-exp shift, so large logits do not overflow. The gradient with respect
/// to the logits is `weight * (softmax - onehot(targets))` for the upstream `weight`.
///
/// ```
/// use wyrm::*;
/// use wyrm::nn::losses::sparse_categorical_crossentropy;
///
/// let logits = ParameterNode::new(ndarray::arr2(&[[2.0, 0.0, 0.0], [0.0, 0.0, 0.0]]));
/// let targets = IndexInputNode::new(&[0, 2]);
/// let loss = sparse_categorical_crossentropy(&logits, &targets);
/// loss.forward();
/// let e2 = 2.0f32.exp();
/// let expected = (e2 + 2.0).ln() - 2.0 + 3.0f32.ln();
/// assert!((loss.value()[(0, 0)] - expected).abs() < 1e-5);
/// loss.backward(1.0);
/// // Row 1: softmax is uniform, minus one at the target.
/// let g = logits.gradient();
/// assert!((g[(1, 2)] - (1.0 / 3.0 - 1.0)).abs() < 1e-6);
/// ```
///
/// For a weight per row rather than per class (a padding mask over a batch of sequences,
/// an importance weight per example), pick each row's target log-probability and weight
/// it; a row of weight 0 adds nothing and gets no gradient:
///
/// ```
/// use wyrm::*;
/// use wyrm::nn::losses::sparse_categorical_crossentropy;
///
/// let logits = ParameterNode::new(ndarray::arr2(&[[2.0, 0.0], [0.0, 1.0], [5.0, -5.0]]));
/// let targets = IndexInputNode::new(&[0, 1, 1]);
/// let mask = InputNode::new(ndarray::arr2(&[[1.0], [1.0], [0.0]])); // row 2 is padding
/// let masked = -(logits.log_softmax().pick(&targets) * mask).scalar_sum();
/// masked.forward();
/// masked.backward(1.0);
/// assert_eq!(logits.gradient().row(2).to_vec(), [0.0, 0.0]);
/// // The same as the loss of the real rows alone.
/// let real = ParameterNode::new(ndarray::arr2(&[[2.0, 0.0], [0.0, 1.0]]));
/// let unmasked = sparse_categorical_crossentropy(&real, &IndexInputNode::new(&[0, 1]));
/// unmasked.forward();
/// assert!((masked.scalar() - unmasked.scalar()).abs() < 1e-6);
/// ```
///
/// # Panics
/// If the number of targets differs from the number of rows of `logits` (when the loss is
/// built), or if a target is not below the number of classes (when the loss is built, in
/// [`set_value`](Variable::<IndexInputNode>::set_value), or at the forward pass).
#[track_caller]
pub fn sparse_categorical_crossentropy<T: Node>(
    logits: &Variable<T>,
    targets: &Variable<IndexInputNode>,
) -> Variable<SparseCategoricalCrossentropy<T>> {
    let node = SparseCategoricalCrossentropy::new(logits.node().clone(), targets.node().clone());
    Variable::with_links(node, &[logits.links()])
}

/// [`sparse_categorical_crossentropy`] with a weight per class: each row's loss (and its
/// gradient) is scaled by the weight of its target class, so that rare classes count for
/// more. The result is the weighted **sum** `Σ w[t_r] · -log softmax(logits[r])[t_r]`;
/// divide by the number of rows for Keras's `class_weight` mean, or by the rows' total
/// weight `Σ w[t_r]` (computed with the batch) for PyTorch's `CrossEntropyLoss(weight)`.
///
/// Inverse class frequencies, `n / (classes · count[c])`, are a common choice.
///
/// ```
/// use wyrm::*;
/// use wyrm::nn::losses::sparse_categorical_crossentropy_weighted;
///
/// // Class 1 is five times rarer than class 0: its examples count five times as much.
/// let logits = ParameterNode::new(ndarray::arr2(&[[0.0, 0.0], [0.0, 0.0]]));
/// let targets = IndexInputNode::new(&[0, 1]);
/// let loss = sparse_categorical_crossentropy_weighted(&logits, &targets, &[1.0, 5.0]);
/// loss.forward();
/// loss.backward(1.0);
/// assert!((loss.value()[(0, 0)] - 6.0 * 2f32.ln()).abs() < 1e-5);
/// // Each row's gradient is its weight times softmax - onehot.
/// assert_eq!(logits.gradient(), ndarray::arr2(&[[-0.5, 0.5], [2.5, -2.5]]));
/// ```
///
/// # Panics
/// As [`sparse_categorical_crossentropy`], and if `class_weights` does not hold one
/// finite, non-negative weight per class (the logits' column count).
#[track_caller]
pub fn sparse_categorical_crossentropy_weighted<T: Node>(
    logits: &Variable<T>,
    targets: &Variable<IndexInputNode>,
    class_weights: &[f32],
) -> Variable<SparseCategoricalCrossentropy<T>> {
    let node = SparseCategoricalCrossentropy::with_class_weights(
        logits.node().clone(),
        targets.node().clone(),
        class_weights,
    );
    Variable::with_links(node, &[logits.links()])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::*;
    use ndarray::Array2;

    fn matrix(rows: usize, cols: usize, seed: u64) -> Array2<f32> {
        crate::init::seeded(rows, cols, 2.0, seed)
    }

    /// The loss computed naively in f64.
    fn naive(logits: &Array2<f32>, targets: &[usize]) -> f64 {
        logits
            .rows()
            .into_iter()
            .zip(targets)
            .map(|(row, &t)| {
                let sum: f64 = row.iter().map(|&x| (x as f64).exp()).sum();
                sum.ln() - row[t] as f64
            })
            .sum()
    }

    #[test]
    fn value_matches_naive_sum() {
        let x = matrix(4, 5, 1);
        let targets = [4, 0, 2, 2];
        let loss = sparse_categorical_crossentropy(
            &InputNode::new(x.clone()),
            &IndexInputNode::new(&targets),
        );
        loss.forward();
        assert_eq!(loss.shape(), (1, 1));
        assert!((loss.value()[(0, 0)] as f64 - naive(&x, &targets)).abs() < 1e-4);
    }

    #[test]
    fn gradients_on_several_minibatch_shapes() {
        // gradcheck's upstream weight is random (never 1), so scaling is checked too.
        for (m, classes, seed) in [(1, 2, 2), (1, 7, 3), (3, 4, 4), (8, 3, 5), (5, 10, 6)] {
            let logits = ParameterNode::new(matrix(m, classes, seed));
            let targets: Vec<usize> = (0..m).map(|r| (r * 7 + 3) % classes).collect();
            let targets = IndexInputNode::new(&targets);
            let loss = sparse_categorical_crossentropy(&logits, &targets);
            gradcheck::assert_gradient(&loss, &logits);
            // Through another op, so that the loss's gradient feeds a node's backward.
            let loss = sparse_categorical_crossentropy(&(logits.clone() * 0.5).tanh(), &targets);
            gradcheck::assert_gradient(&loss, &logits);
        }
    }

    #[test]
    fn backward_honours_the_weight() {
        // wyrm 0.9 ignored the upstream gradient of its cross-entropy.
        let logits = ParameterNode::new(matrix(3, 4, 7));
        let targets = IndexInputNode::new(&[1, 3, 0]);
        let loss = sparse_categorical_crossentropy(&logits, &targets);
        loss.forward();
        loss.backward(1.0);
        let unit = logits.gradient();
        logits.zero_gradient();
        loss.forward();
        loss.backward(-2.5);
        let scaled = logits.gradient();
        for (a, b) in unit.iter().zip(scaled.iter()) {
            assert!((a * -2.5 - b).abs() < 1e-6);
        }
        // Rows of softmax - onehot sum to zero.
        for row in unit.rows() {
            assert!(row.sum().abs() < 1e-6);
        }
    }

    #[test]
    fn second_backward_after_one_forward_adds_again() {
        let logits = ParameterNode::new(matrix(2, 3, 8));
        let targets = IndexInputNode::new(&[2, 1]);
        let loss = sparse_categorical_crossentropy(&logits, &targets);
        loss.forward();
        loss.backward(0.5);
        let once = logits.gradient();
        loss.backward(0.5);
        let twice = logits.gradient();
        for (a, b) in once.iter().zip(twice.iter()) {
            assert!((2.0 * a - b).abs() < 1e-6);
        }
    }

    /// The weighted sum against a naive one, finite differences with a non-trivial
    /// upstream weight, and a class of weight 0 sending no gradient from its rows.
    #[test]
    fn class_weights_scale_each_rows_loss_and_gradient() {
        let x = matrix(5, 4, 20);
        let targets = [3, 0, 3, 1, 2];
        let weights = [0.5, 2.0, 0.0, 4.0];
        let logits = ParameterNode::new(x.clone());
        let index = IndexInputNode::new(&targets);
        let loss = sparse_categorical_crossentropy_weighted(&logits, &index, &weights);
        loss.forward();
        let naive: f64 = (0..5)
            .map(|r| {
                let row = x.row(r).to_owned().into_shape_with_order((1, 4)).unwrap();
                weights[targets[r]] as f64 * naive(&row, &targets[r..r + 1])
            })
            .sum();
        assert!((loss.value()[(0, 0)] as f64 - naive).abs() < 1e-4);
        gradcheck::assert_gradient(&loss, &logits);
        logits.zero_gradient();
        loss.forward();
        loss.backward(1.0);
        // Row 4's target has weight 0: no gradient at all.
        assert!(logits.gradient().row(4).iter().all(|&g| g == 0.0));
        // Through another op too.
        let loss = sparse_categorical_crossentropy_weighted(
            &(logits.clone() * 0.5).tanh(),
            &index,
            &weights,
        );
        gradcheck::assert_gradient(&loss, &logits);
    }

    /// Weights of 1 give the unweighted loss and gradient exactly.
    #[test]
    fn unit_class_weights_change_nothing() {
        let logits = ParameterNode::new(matrix(3, 3, 21));
        let targets = IndexInputNode::new(&[2, 0, 2]);
        let plain = sparse_categorical_crossentropy(&logits, &targets);
        let weighted = sparse_categorical_crossentropy_weighted(&logits, &targets, &[1.0; 3]);
        plain.forward();
        plain.backward(0.7);
        let g = logits.gradient();
        logits.zero_gradient();
        weighted.forward();
        weighted.backward(0.7);
        assert_eq!(plain.value(), weighted.value());
        assert_eq!(g, logits.gradient());
    }

    #[test]
    #[should_panic(
        expected = "sparse_categorical_crossentropy_weighted: 3 class weights for 4 classes \
                    (the logits are 2x4); give one weight per class"
    )]
    fn one_class_weight_per_class() {
        let logits = InputNode::new(matrix(2, 4, 22));
        let targets = IndexInputNode::new(&[0, 3]);
        let _ = sparse_categorical_crossentropy_weighted(&logits, &targets, &[1.0; 3]);
    }

    #[test]
    #[should_panic(
        expected = "sparse_categorical_crossentropy_weighted: the weight of class 1 is -1; \
                    weights must be finite and non-negative"
    )]
    fn class_weights_are_non_negative() {
        let logits = InputNode::new(matrix(2, 2, 23));
        let targets = IndexInputNode::new(&[0, 1]);
        let _ = sparse_categorical_crossentropy_weighted(&logits, &targets, &[1.0, -1.0]);
    }

    #[test]
    fn large_logits_are_stable() {
        let x = ndarray::arr2(&[[1000.0, 0.0, -1000.0], [-500.0, 500.0, 499.0]]);
        let logits = ParameterNode::new(x);
        let loss = sparse_categorical_crossentropy(&logits, &IndexInputNode::new(&[0, 2]));
        loss.forward();
        let value = loss.value()[(0, 0)];
        // Row 0: ~0; row 1: log(1 + e^-1) + 1.
        let expected = (1.0f32 + (-1.0f32).exp()).ln() + 1.0;
        assert!((value - expected).abs() < 1e-4, "{value} vs {expected}");
        loss.backward(1.0);
        assert!(logits.gradient().iter().all(|g| g.is_finite()));
    }

    #[test]
    fn composes_with_embedding_lookups() {
        // A text-classifier shape: embeddings of tokens, projected to class scores.
        let embeddings = ParameterNode::new(matrix(10, 4, 9));
        let projection = ParameterNode::new(matrix(4, 3, 10));
        let tokens = IndexInputNode::new(&[7, 2, 7]);
        let labels = IndexInputNode::new(&[0, 2, 1]);
        let loss =
            sparse_categorical_crossentropy(&embeddings.index(&tokens).dot(&projection), &labels);
        gradcheck::assert_gradient(&loss, &embeddings);
        gradcheck::assert_gradient(&loss, &projection);
    }

    #[test]
    #[should_panic(
        expected = "sparse_categorical_crossentropy: target index 3 is out of range for 3 classes"
    )]
    fn target_out_of_range_at_construction() {
        let logits = InputNode::new(matrix(2, 3, 11));
        let _ = sparse_categorical_crossentropy(&logits, &IndexInputNode::new(&[0, 3]));
    }

    #[test]
    #[should_panic(
        expected = "IndexInputNode::set_value: target index 5 is out of range for 4 classes"
    )]
    fn target_out_of_range_at_set_value() {
        let logits = InputNode::new(matrix(2, 4, 12));
        let targets = IndexInputNode::new(&[0, 3]);
        let _loss = sparse_categorical_crossentropy(&logits, &targets);
        targets.set_value(&[5, 0]);
    }

    #[test]
    fn a_dropped_loss_no_longer_limits_its_targets() {
        let targets = IndexInputNode::new(&[0, 1]);
        drop(sparse_categorical_crossentropy(
            &InputNode::new(matrix(2, 3, 14)),
            &targets,
        ));
        // Past the dropped loss's 3 classes, within the new one's 6.
        let logits = matrix(2, 6, 15);
        let loss = sparse_categorical_crossentropy(&InputNode::new(logits.clone()), &targets);
        targets.set_value(&[5, 4]);
        loss.forward();
        assert!((loss.value()[(0, 0)] as f64 - naive(&logits, &[5, 4])).abs() < 1e-4);
    }

    #[test]
    #[should_panic(expected = "the logits are 3x4 (one row per example) but there are 2 targets")]
    fn target_count_must_match_rows() {
        let logits = InputNode::new(matrix(3, 4, 13));
        let _ = sparse_categorical_crossentropy(&logits, &IndexInputNode::new(&[0, 1]));
    }
}
