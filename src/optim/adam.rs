//! Adam: adaptive moment estimation.

use super::{update_all, zero_all, GradientOptions, Optimizer, Transform, Unchanged, UpdateRule};
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
/// optimizer's global step count. For a row touched in every step this is exactly dense
/// Adam.
///
/// # State
///
/// The moments live with the parameters; the step count lives in the optimizer
/// ([`steps`](Self::steps), [`set_steps`](Self::set_steps): a checkpoint saves it with the
/// parameters' [optimizer state](crate::optim::OptimizerState)). A new
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
    steps: i32,
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
            options: GradientOptions::NONE,
            parameters: super::unique(parameters),
        }
    }

    /// How many steps this optimizer has taken: the `t` of its bias correction.
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

    /// Sets the step count, to resume training from a checkpoint: with the parameters'
    /// moments put back too (see [`OptimizerState`](crate::optim::OptimizerState)), the
    /// next steps are the ones the saved optimizer would have taken. Counts past
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

impl Optimizer for Adam {
    fn step(&mut self) {
        self.steps = self.steps.saturating_add(1);
        let c1 = 1.0 - self.beta1.powi(self.steps);
        let c2 = (1.0 - self.beta2.powi(self.steps)).sqrt();
        let step_size = self.learning_rate * c2 / c1;
        let (beta1, beta2, eps) = (self.beta1, self.beta2, self.eps * c2);
        let keep = 1.0 - self.learning_rate * self.weight_decay;
        if self.options == GradientOptions::NONE {
            let options = Unchanged;
            let rule = Rule {
                beta1,
                beta2,
                step_size,
                eps,
                keep,
                options,
            };
            update_all(&self.parameters, &rule);
        } else {
            let options = self.options;
            let rule = Rule {
                beta1,
                beta2,
                step_size,
                eps,
                keep,
                options,
            };
            update_all(&self.parameters, &rule);
        }
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
