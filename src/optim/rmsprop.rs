//! RMSProp: per-element learning rates from a moving average of squared gradients.

use super::{update_with_options, zero_all, GradientOptions, Optimizer, Transform, UpdateRule};
use crate::nodes::ParameterNode;
use crate::Variable;

/// RMSProp: `s = decay * s + (1 - decay) * g²; w -= lr * g / (sqrt(s) + eps)`.
///
/// Adagrad's per-element scaling with a memory of about `1 / (1 - decay)` steps instead of
/// all of them, so the steps do not shrink for good; A3C's optimizer, with its average
/// shared across threads as [`ParameterNode::shared`] parameters share every optimizer's
/// state. The average starts at zero without a bias correction (as in PyTorch's
/// `RMSprop`): the first steps are larger than the learning rate, `lr / sqrt(1 - decay)`
/// for the very first (10x at the default decay of 0.99). Warm up with a smaller rate,
/// or use [`Adam`](crate::Adam), whose correction removes this.
///
/// With row-sparse gradients only the touched rows' averages change: a row's average
/// decays in the steps that use it, not in the others (the lazy updates of the
/// [module docs](crate::optim)).
///
/// ```
/// use wyrm::*;
/// use wyrm::optim::Optimizer;
///
/// let w = ParameterNode::new(ndarray::arr2(&[[1.0]]));
/// let loss = w.square();
/// let mut opt = RmsProp::new(0.01, loss.parameters()).decay(0.75);
/// loss.forward();
/// loss.backward(1.0);
/// opt.step();
/// // g = 2, s = 0.25 · 4 = 1: w = 1 - 0.01 · 2 / 1
/// assert!((w.value()[(0, 0)] - 0.98).abs() < 1e-6);
/// ```
#[derive(Clone, Debug)]
pub struct RmsProp {
    learning_rate: f32,
    decay: f32,
    eps: f32,
    options: GradientOptions,
    parameters: Vec<Variable<ParameterNode>>,
}

impl RmsProp {
    /// RMSProp over `parameters` with the given learning rate (`decay` defaults to 0.99
    /// and `eps` to 1e-8, as in PyTorch). Repeated parameters are kept once, as for
    /// [`SGD::new`](crate::SGD::new).
    ///
    /// ```
    /// use wyrm::*;
    ///
    /// let w = ParameterNode::new(ndarray::arr2(&[[1.0, 10.0]]));
    /// let loss = w.square();
    /// let mut opt = RmsProp::new(0.01, loss.parameters());
    /// loss.forward();
    /// loss.backward(1.0);
    /// opt.step();
    /// // Gradients 2 and 20: each element's first step is lr / sqrt(1 - 0.99) = 0.1.
    /// let moved = &ndarray::arr2(&[[1.0, 10.0]]) - &w.value();
    /// assert!(moved.iter().all(|d| (d - 0.1).abs() < 1e-5));
    /// ```
    ///
    /// # Panics
    /// As [`SGD::new`](crate::SGD::new).
    #[track_caller]
    pub fn new(learning_rate: f32, parameters: Vec<Variable<ParameterNode>>) -> Self {
        RmsProp {
            learning_rate: crate::checks::check_setting(
                "RmsProp::new: the learning rate",
                learning_rate,
                crate::checks::Range::NonNegative,
            ),
            decay: 0.99,
            eps: 1e-8,
            options: GradientOptions::NONE,
            parameters: super::unique(parameters),
        }
    }

    /// How much of the average of squared gradients each step keeps (the rest is the
    /// new `g²`); about `1 / (1 - decay)` steps count. 0.9 is Keras' default.
    ///
    /// ```
    /// use wyrm::*;
    ///
    /// let w = ParameterNode::new(ndarray::arr2(&[[1.0]]));
    /// let loss = w.square();
    /// let mut opt = RmsProp::new(0.1, loss.parameters()).decay(0.0);
    /// loss.forward();
    /// loss.backward(1.0);
    /// opt.step();
    /// // Decay 0: s = g², a step of exactly the learning rate (RMSProp's sign-like limit).
    /// assert!((w.value()[(0, 0)] - 0.9).abs() < 1e-6);
    /// ```
    ///
    /// # Panics
    /// If `decay` is not in `[0, 1)`.
    #[track_caller]
    pub fn decay(mut self, decay: f32) -> Self {
        self.decay =
            crate::checks::check_setting("RmsProp::decay", decay, crate::checks::Range::Fraction);
        self
    }

    /// The constant added to the denominator for stability (outside the square root, as
    /// in PyTorch's `RMSprop`; some papers add it inside, to the average).
    ///
    /// ```
    /// use wyrm::*;
    ///
    /// let w = ParameterNode::new(ndarray::arr2(&[[1.0]]));
    /// let loss = w.square();
    /// let mut opt = RmsProp::new(0.5, loss.parameters()).decay(0.0).eps(2.0);
    /// loss.forward();
    /// loss.backward(1.0);
    /// opt.step();
    /// // g = 2, s = 4: w = 1 - 0.5 * 2 / (2 + 2)
    /// assert!((w.value()[(0, 0)] - 0.75).abs() < 1e-6);
    /// ```
    ///
    /// # Panics
    /// If `eps` is below `f32::MIN_POSITIVE` (the smallest normal `f32`) or not finite.
    #[track_caller]
    pub fn eps(mut self, eps: f32) -> Self {
        self.eps =
            crate::checks::check_setting("RmsProp::eps", eps, crate::checks::Range::Positive);
        self
    }
}

// Decay 0: a first step of the learning rate, as the other optimizers' first steps.
super::common_options!(RmsProp, ".decay(0.0)");

#[derive(Clone, Copy)]
struct Rule<O> {
    lr: f32,
    decay: f32,
    eps: f32,
    options: O,
}

impl<O: Transform> UpdateRule for Rule<O> {
    const SLOTS: usize = 1;
    const KIND: u8 = super::state_kind::RMSPROP;
    #[inline(always)]
    fn update(&self, w: f32, g: f32, state: &mut [f32; 2]) -> f32 {
        let g = self.options.apply(w, g);
        let s = self.decay * state[0] + (1.0 - self.decay) * (g * g);
        state[0] = s;
        w - self.lr * g / (s.sqrt() + self.eps)
    }
}

impl Optimizer for RmsProp {
    fn step(&mut self) {
        let (lr, decay, eps) = (self.learning_rate, self.decay, self.eps);
        update_with_options!(&self.parameters, self.options, |options| Rule {
            lr,
            decay,
            eps,
            options
        });
    }

    fn zero_gradients(&mut self) {
        zero_all(&self.parameters);
    }

    fn parameters(&self) -> &[Variable<ParameterNode>] {
        &self.parameters
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::arr2;

    /// Three steps against the formula written out in `f64`, with a clamp and a penalty.
    #[test]
    fn steps_follow_the_formula() {
        let start = [[1.5f32, -0.2, 3.0]];
        let w = ParameterNode::new(arr2(&start));
        let loss = (w.clone() * w.clone() * w.clone()).scalar_sum(); // g = 3w²
        let (lr, decay, eps) = (0.05, 0.9, 1e-3);
        let mut opt = RmsProp::new(lr, loss.parameters())
            .decay(decay)
            .eps(eps)
            .clamp(-5.0, 5.0)
            .l2_penalty(0.1);
        let mut expected = start[0].map(f64::from);
        let mut average = [0.0f64; 3];
        for _ in 0..3 {
            loss.forward();
            loss.backward(1.0);
            opt.step();
            opt.zero_gradients();
            for (w, s) in expected.iter_mut().zip(&mut average) {
                let g = (3.0 * *w * *w).clamp(-5.0, 5.0) + 0.1 * *w;
                *s = f64::from(decay) * *s + (1.0 - f64::from(decay)) * g * g;
                *w -= f64::from(lr) * g / (s.sqrt() + f64::from(eps));
            }
        }
        for (got, want) in w.value().iter().zip(expected) {
            assert!((f64::from(*got) - want).abs() < 1e-5, "{got} vs {want}");
        }
        let state = w.optimizer_state();
        assert_eq!(state.kind(), crate::optim::OptimizerKind::RmsProp);
    }

    #[test]
    #[should_panic(expected = "RmsProp::decay")]
    fn decay_must_be_below_one() {
        let w = ParameterNode::new(arr2(&[[1.0]]));
        let _ = RmsProp::new(0.1, vec![w]).decay(1.0);
    }
}
