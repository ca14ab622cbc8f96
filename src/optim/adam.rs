//! Adam: adaptive moment estimation.

use super::{
    update_with_options, zero_all, GradientOptions, Optimizer, Rules, Transform, UpdateRule,
};
use crate::nodes::ParameterNode;
use crate::Variable;

/// Adam: `m = b1 m + (1 - b1) g`, `v = b2 v + (1 - b2) g²`,
/// `w -= lr * m̂ / (sqrt(v̂) + eps)` with bias-corrected `m̂`, `v̂`.
///
/// # Sparse gradients
///
/// For a parameter whose gradient is purely row-sparse, only the touched rows' moments
/// are updated ("lazy" Adam, as PyTorch's `SparseAdam`): rows not touched in a step keep
/// their moments unchanged rather than decaying them. Bias correction uses the
/// parameter's step count (the steps that updated it), not the row's. For a row touched
/// in every step this is exactly dense Adam.
///
/// # State
///
/// The moments live with the parameters; each parameter's step count (the `t` of its
/// bias correction, counting the steps that updated it, as PyTorch's do) lives in the
/// optimizer ([`step_counts`](Self::step_counts), [`set_step_counts`](Self::set_step_counts):
/// a checkpoint saves them with the parameters'
/// [optimizer state](crate::optim::OptimizerState)). A parameter that gets no gradient in
/// a step is left alone, count included: a task head that first trains after a thousand
/// steps of the others' starts with a first step. (Not under
/// [`Optimizer::set_update_count`](crate::optim::Optimizer::set_update_count), which
/// `Synchronized` and the Hogwild recipe call before each step: it sets every count to
/// the number of updates the shared moments have received, from all threads.) A new
/// `Adam` over parameters that an earlier one trained carries on with their moments but
/// counts its steps from zero, so its first steps are bias-corrected as if the moments
/// were new: once the moments are established, that makes them smaller than the earlier
/// optimizer's (by `sqrt(1 - beta2) / (1 - beta1)`, about 0.32x with the defaults, on the
/// first step). Moments left by another kind of optimizer are reset to zeros instead, but
/// an `Adam` that is used again after another kind's phase keeps its own step count, so
/// its first steps on the new zero moments are corrected as if they were old ones: after
/// thousands of earlier steps about 3x a fresh `Adam`'s first step, after a few dozen
/// smaller than it. So after another kind of optimizer's phase, create a new `Adam`; to
/// change the learning rate within a phase, keep this one and call
/// [`set_learning_rate`](Self::set_learning_rate).
///
/// ```
/// use wyrm::*;
/// use wyrm::optim::Optimizer;
///
/// let w = ParameterNode::new(ndarray::arr2(&[[1.0]]));
/// let loss = w.square();
/// let mut opt = Adam::new(0.1, loss.parameters()).beta1(0.9).beta2(0.999).eps(1e-8);
/// loss.forward();
/// loss.backward(1.0);
/// opt.step();
/// // The first bias-corrected step moves by the learning rate.
/// assert!((w.value()[(0, 0)] - 0.9).abs() < 1e-4);
/// ```
#[derive(Clone, Debug)]
pub struct Adam {
    learning_rate: f32,
    beta1: f32,
    beta2: f32,
    eps: f32,
    weight_decay: f32,
    /// The largest of `counts` (or the count last set): what [`steps`](Self::steps) says.
    steps: i32,
    /// Per parameter, in `parameters`' order: how many steps have updated it, the `t` of
    /// its bias correction. A parameter that got no gradient in a step is left alone, its
    /// count included (a head that trains only from step 1,000 on starts at `t = 1`).
    counts: Vec<i32>,
    options: GradientOptions,
    parameters: Vec<Variable<ParameterNode>>,
}

impl Adam {
    /// Adam over `parameters` with the given learning rate and the usual defaults
    /// (`beta1 = 0.9`, `beta2 = 0.999`, `eps = 1e-8`).
    /// Repeated parameters are kept once, as for [`SGD::new`](crate::SGD::new).
    ///
    /// ```
    /// use wyrm::*;
    ///
    /// let w = ParameterNode::new(ndarray::arr2(&[[1.0, -10.0]]));
    /// let loss = w.square();
    /// let mut opt = Adam::new(0.1, loss.parameters());
    /// loss.forward();
    /// loss.backward(1.0);
    /// opt.step();
    /// // Whatever the gradient's scale (2 and -20), the first step is the learning rate.
    /// let v = w.value();
    /// assert!((v[(0, 0)] - 0.9).abs() < 1e-5 && (v[(0, 1)] + 9.9).abs() < 1e-5);
    /// ```
    ///
    /// # Panics
    /// As [`SGD::new`](crate::SGD::new).
    #[track_caller]
    pub fn new(learning_rate: f32, parameters: Vec<Variable<ParameterNode>>) -> Self {
        let parameters = super::unique(parameters);
        Adam {
            learning_rate: crate::checks::check_setting(
                "Adam::new: the learning rate",
                learning_rate,
                crate::checks::Range::NonNegative,
            ),
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-8,
            weight_decay: 0.0,
            steps: 0,
            counts: vec![0; parameters.len()],
            options: GradientOptions::NONE,
            parameters,
        }
    }

    /// How many steps this optimizer has taken: the largest of its parameters' step
    /// counts, each the `t` of that parameter's bias correction (a parameter's count goes
    /// up with each step that updates it).
    ///
    /// ```
    /// use wyrm::*;
    ///
    /// let w = ParameterNode::new(ndarray::arr2(&[[1.0]]));
    /// let loss = w.square();
    /// let mut opt = Adam::new(0.1, loss.parameters());
    /// assert_eq!(opt.steps(), 0);
    /// loss.forward();
    /// loss.backward(1.0);
    /// opt.step();
    /// assert_eq!(opt.steps(), 1);
    /// ```
    pub fn steps(&self) -> u64 {
        u64::from(self.steps.unsigned_abs())
    }

    /// Sets every parameter's step count: to resume training from a checkpoint whose
    /// parameters all trained at every step (otherwise save
    /// [`step_counts`](Self::step_counts) and restore them with
    /// [`set_step_counts`](Self::set_step_counts)). With the parameters' moments put back
    /// too (see [`OptimizerState`](crate::optim::OptimizerState)), the next steps are the
    /// ones the saved optimizer would have taken. Counts past
    /// `i32::MAX` are taken as `i32::MAX`, where the bias corrections are 1 anyway. A
    /// `u64`, as [`Optimizer::set_update_count`](crate::optim::Optimizer::set_update_count)
    /// takes.
    ///
    /// ```
    /// use wyrm::*;
    ///
    /// let w = ParameterNode::new(ndarray::arr2(&[[1.0]]));
    /// let loss = w.clone() * 2.0; // gradient 2
    /// let mut opt = Adam::new(0.1, loss.parameters());
    /// opt.set_steps(1_000_000);
    /// loss.forward();
    /// loss.backward(1.0);
    /// opt.step();
    /// // Without bias correction the first step on zero moments is
    /// // 0.1 * (0.1 * 2) / sqrt(0.001 * 2²), about 0.32 of the corrected one.
    /// assert!((w.value()[(0, 0)] - (1.0 - 0.1 * 0.2 / 0.004f32.sqrt())).abs() < 1e-4);
    /// assert_eq!(opt.steps(), 1_000_001);
    /// ```
    pub fn set_steps(&mut self, steps: u64) {
        self.steps = i32::try_from(steps).unwrap_or(i32::MAX);
        self.counts.fill(self.steps);
    }

    /// Each parameter's step count, in the order of [`parameters`](Optimizer::parameters):
    /// how many steps have updated it, the `t` of its bias correction. For a checkpoint
    /// of a model whose parameters did not all train at every step (a task head added
    /// late, a frozen body), where [`steps`](Self::steps) keeps only the largest.
    ///
    /// ```
    /// use wyrm::*;
    ///
    /// let (a, b) = (ParameterNode::new(ndarray::arr2(&[[1.0]])), ParameterNode::new(ndarray::arr2(&[[1.0]])));
    /// let only_a = a.square().scalar_sum();
    /// let mut opt = Adam::new(0.1, vec![a, b]);
    /// only_a.forward();
    /// only_a.backward(1.0);
    /// opt.step();
    /// assert_eq!(opt.step_counts(), [1, 0]);
    /// let mut resumed = Adam::new(0.1, opt.parameters().to_vec());
    /// resumed.set_step_counts(&opt.step_counts());
    /// assert_eq!(resumed.step_counts(), [1, 0]);
    /// ```
    pub fn step_counts(&self) -> Vec<u64> {
        self.counts
            .iter()
            .map(|&c| u64::from(c.unsigned_abs()))
            .collect()
    }

    /// Sets each parameter's step count, in the order of
    /// [`parameters`](Optimizer::parameters) (see [`step_counts`](Self::step_counts)).
    ///
    /// # Panics
    /// If `counts` does not hold one count per parameter, naming both numbers.
    #[track_caller]
    pub fn set_step_counts(&mut self, counts: &[u64]) {
        assert!(
            counts.len() == self.counts.len(),
            "Adam::set_step_counts: {} counts for {} parameters",
            counts.len(),
            self.counts.len()
        );
        for (count, &c) in self.counts.iter_mut().zip(counts) {
            *count = i32::try_from(c).unwrap_or(i32::MAX);
        }
        self.steps = self.counts.iter().copied().max().unwrap_or(0);
    }

    /// Decay rate of the first moment.
    ///
    /// ```
    /// use wyrm::*;
    ///
    /// let w = ParameterNode::new(ndarray::arr2(&[[0.0]]));
    /// let x = InputNode::new(ndarray::arr2(&[[0.0]]));
    /// let loss = w.clone() * x.clone(); // gradient x
    /// // With beta1 = 0 (no momentum) each step follows the latest gradient only.
    /// let mut opt = Adam::new(0.1, loss.parameters()).beta1(0.0);
    /// for x_value in [1.0, -1.0] {
    ///     x.set_value(x_value);
    ///     loss.forward();
    ///     loss.backward(1.0);
    ///     opt.step();
    ///     opt.zero_gradients();
    /// }
    /// // The second step undoes the first (with the default 0.9 it would undo a nineteenth).
    /// assert!(w.value()[(0, 0)].abs() < 1e-4);
    /// ```
    ///
    /// # Panics
    /// If `beta1` is not in `[0, 1)`.
    #[track_caller]
    pub fn beta1(mut self, beta1: f32) -> Self {
        self.beta1 =
            crate::checks::check_setting("Adam::beta1", beta1, crate::checks::Range::Fraction);
        self
    }

    /// Decay rate of the second moment.
    ///
    /// ```
    /// use wyrm::*;
    ///
    /// let w = ParameterNode::new(ndarray::arr2(&[[0.0]]));
    /// let x = InputNode::new(ndarray::arr2(&[[0.0]]));
    /// let loss = w.clone() * x.clone(); // gradient x
    /// // With beta2 = 0 the second moment is the latest squared gradient only, so (with
    /// // beta1 = 0 too) every step is the learning rate, however the gradients' scale changes.
    /// let mut opt = Adam::new(0.1, loss.parameters()).beta1(0.0).beta2(0.0);
    /// for x_value in [10.0, 1.0] {
    ///     x.set_value(x_value);
    ///     loss.forward();
    ///     loss.backward(1.0);
    ///     opt.step();
    ///     opt.zero_gradients();
    /// }
    /// // (With the default 0.999 the second step would be about a seventh of the first.)
    /// assert!((w.value()[(0, 0)] + 0.2).abs() < 1e-5);
    /// ```
    ///
    /// # Panics
    /// If `beta2` is not in `[0, 1)`.
    #[track_caller]
    pub fn beta2(mut self, beta2: f32) -> Self {
        self.beta2 =
            crate::checks::check_setting("Adam::beta2", beta2, crate::checks::Range::Fraction);
        self
    }

    /// The constant added to the denominator for stability.
    ///
    /// ```
    /// use wyrm::*;
    ///
    /// let w = ParameterNode::new(ndarray::arr2(&[[1.0]]));
    /// let loss = w.square();
    /// let mut opt = Adam::new(0.1, loss.parameters()).eps(1.0);
    /// loss.forward();
    /// loss.backward(1.0);
    /// opt.step();
    /// // eps applies to the bias-corrected moments: m̂ = 2, v̂ = 4, step 0.1 * 2 / (2 + 1).
    /// assert!((w.value()[(0, 0)] - (1.0 - 0.2 / 3.0)).abs() < 1e-5);
    /// ```
    ///
    /// # Panics
    /// If `eps` is below `f32::MIN_POSITIVE` (the smallest normal `f32`) or not finite.
    #[track_caller]
    pub fn eps(mut self, eps: f32) -> Self {
        self.eps = crate::checks::check_setting("Adam::eps", eps, crate::checks::Range::Positive);
        self
    }

    /// Decoupled weight decay (AdamW, Loshchilov and Hutter): each step first shrinks the
    /// weights by `learning_rate * weight_decay` of themselves, then takes the Adam step,
    /// as PyTorch's `AdamW` does. Unlike [`l2_penalty`](Self::l2_penalty), which adds
    /// `penalty * w` to the gradient and so is rescaled by the moments like any gradient
    /// (large weights with large gradients barely decay), this decay is the same fraction
    /// for every weight. The default is 0 (plain Adam). The fraction follows
    /// [`set_learning_rate`](Self::set_learning_rate), so a schedule decays less as it
    /// anneals.
    ///
    /// Rows of a row-sparse gradient decay only in the steps that touch them, as their
    /// moments update only then (see the type's docs): decaying every row of a large
    /// embedding table each step would cost work proportional to the table. A parameter
    /// no backward pass reached in a step is not updated, so it does not decay either.
    ///
    /// ```
    /// use wyrm::*;
    /// use wyrm::optim::Optimizer;
    ///
    /// let w = ParameterNode::new(ndarray::arr2(&[[2.0, -4.0]]));
    /// // A loss whose gradient is 0: only the decay moves the weights.
    /// let loss = w.clone() * 0.0;
    /// let mut opt = Adam::new(0.1, loss.parameters()).weight_decay(0.5);
    /// loss.forward();
    /// loss.backward(1.0);
    /// opt.step();
    /// // Each weight shrinks by 0.1 * 0.5 = 5% of itself, whatever its size.
    /// let v = w.value();
    /// assert!((v[(0, 0)] - 1.9).abs() < 1e-6 && (v[(0, 1)] + 3.8).abs() < 1e-6);
    /// ```
    ///
    /// # Panics
    /// If `weight_decay` is negative or not finite.
    #[track_caller]
    pub fn weight_decay(mut self, weight_decay: f32) -> Self {
        self.weight_decay = crate::checks::check_setting(
            "Adam::weight_decay",
            weight_decay,
            crate::checks::Range::NonNegative,
        );
        self
    }
}

super::common_options!(Adam);

#[derive(Clone, Copy)]
struct Rule<O> {
    beta1: f32,
    beta2: f32,
    /// Learning rate with both bias corrections folded in.
    step_size: f32,
    /// `eps * sqrt(1 - beta2^t)`, so that `eps` applies to the corrected `v̂`.
    eps: f32,
    /// `1 - learning_rate * weight_decay`: what each weight is multiplied by before the
    /// step (1 without weight decay).
    keep: f32,
    options: O,
}

impl<O: Transform> UpdateRule for Rule<O> {
    const SLOTS: usize = 2;
    const KIND: u8 = super::state_kind::ADAM;
    #[inline(always)]
    fn update(&self, w: f32, g: f32, state: &mut [f32; 2]) -> f32 {
        let g = self.options.apply(w, g);
        let m = self.beta1 * state[0] + (1.0 - self.beta1) * g;
        let v = self.beta2 * state[1] + (1.0 - self.beta2) * g * g;
        state[0] = m;
        state[1] = v;
        w * self.keep - self.step_size * m / (v.sqrt() + self.eps)
    }
}

/// Each parameter's rule, bias-corrected by its own step count.
struct PerParameter<'a, O> {
    adam: &'a Adam,
    options: O,
}

impl<O: Transform + Copy> Rules for PerParameter<'_, O> {
    type Rule = Rule<O>;
    #[inline(always)]
    fn rule(&self, index: usize) -> Rule<O> {
        let adam = self.adam;
        let t = adam.counts[index];
        let c1 = 1.0 - adam.beta1.powi(t);
        let c2 = (1.0 - adam.beta2.powi(t)).sqrt();
        Rule {
            beta1: adam.beta1,
            beta2: adam.beta2,
            step_size: adam.learning_rate * c2 / c1,
            eps: adam.eps * c2,
            keep: 1.0 - adam.learning_rate * adam.weight_decay,
            options: self.options,
        }
    }
}

impl Optimizer for Adam {
    fn step(&mut self) {
        // Each parameter's own count: one that got no gradient is left alone, count
        // included, so that its first real step is bias-corrected as a first step.
        for (count, p) in self.counts.iter_mut().zip(&self.parameters) {
            if p.has_gradient() {
                *count = count.saturating_add(1);
            }
        }
        self.steps = self.counts.iter().copied().fold(self.steps, i32::max);
        update_with_options!(&self.parameters, self.options, |options| PerParameter {
            adam: self,
            options
        });
    }

    fn zero_gradients(&mut self) {
        zero_all(&self.parameters);
    }

    fn parameters(&self) -> &[Variable<ParameterNode>] {
        &self.parameters
    }

    /// Sets the step count (see [`set_steps`](Adam::set_steps)), so that the bias
    /// correction counts every update the shared moments received.
    fn set_update_count(&mut self, count: u64) {
        self.set_steps(count);
    }
}

#[cfg(test)]
mod tests {
    use crate::*;

    /// A parameter's bias correction counts the steps that updated it: a step without a
    /// gradient (zeroed, then stepped) counts for nobody, and a head that gets its first
    /// gradient after a thousand steps of another parameter's moves by the learning rate,
    /// as a first step does (it moved by 2.5x that, corrected as a 1,001st step).
    #[test]
    fn each_parameter_counts_its_own_steps() {
        let w = ParameterNode::new(ndarray::arr2(&[[1.0]]));
        let loss = w.clone() * 2.0;
        let mut opt = Adam::new(0.1, loss.parameters());
        opt.step();
        assert_eq!(opt.steps(), 0);
        loss.forward();
        loss.backward(1.0);
        opt.step();
        assert!((w.value()[(0, 0)] - 0.9).abs() < 1e-6, "{}", w.value());

        let (a, b) = (
            ParameterNode::new(ndarray::arr2(&[[1.0]])),
            ParameterNode::new(ndarray::arr2(&[[1.0]])),
        );
        let (only_a, both) = (
            a.square().scalar_sum(),
            (a.clone() + b.clone()).scalar_sum(),
        );
        let mut opt = Adam::new(0.01, vec![a.clone(), b.clone()]);
        for _ in 0..1000 {
            only_a.forward();
            only_a.backward(1.0);
            opt.step();
            opt.zero_gradients();
        }
        assert_eq!((opt.steps(), b.value()[(0, 0)]), (1000, 1.0));
        both.forward();
        both.backward(1.0);
        opt.step();
        assert!((b.value()[(0, 0)] - 0.99).abs() < 1e-6, "{}", b.value());
        assert_eq!(opt.steps(), 1001);
        // A checkpoint's count is every parameter's.
        opt.set_steps(5);
        assert_eq!(opt.steps(), 5);
    }
}
