//! Adagrad: per-element learning rates from accumulated squared gradients.

use super::{update_with_options, zero_all, GradientOptions, Optimizer, Transform, UpdateRule};
use crate::nodes::ParameterNode;
use crate::Variable;

/// Adagrad: `s += g²; w -= lr * g / (sqrt(s) + eps)`.
///
/// With row-sparse gradients only the touched rows' accumulators change, which is the
/// usual choice for embeddings.
///
/// ```
/// use wyrm::*;
/// use wyrm::optim::Optimizer;
///
/// let w = ParameterNode::new(ndarray::arr2(&[[1.0]]));
/// let loss = w.square();
/// let mut opt = Adagrad::new(0.5, loss.parameters());
/// loss.forward();
/// loss.backward(1.0);
/// opt.step();
/// // g = 2, s = 4: w = 1 - 0.5 * 2 / 2
/// assert!((w.value()[(0, 0)] - 0.5).abs() < 1e-6);
/// ```
#[derive(Clone, Debug)]
pub struct Adagrad {
    learning_rate: f32,
    eps: f32,
    options: GradientOptions,
    parameters: Vec<Variable<ParameterNode>>,
}

impl Adagrad {
    /// Adagrad over `parameters` with the given learning rate (`eps` defaults to 1e-8).
    /// Repeated parameters are kept once, as for [`SGD::new`](crate::SGD::new).
    ///
    /// ```
    /// use wyrm::*;
    ///
    /// let w = ParameterNode::new(ndarray::arr2(&[[1.0, 10.0]]));
    /// let loss = w.square();
    /// let mut opt = Adagrad::new(0.5, loss.parameters());
    /// loss.forward();
    /// loss.backward(1.0);
    /// opt.step();
    /// // Gradients 2 and 20: each element's first step is the learning rate.
    /// assert_eq!(w.value(), ndarray::arr2(&[[0.5, 9.5]]));
    /// ```
    ///
    /// # Panics
    /// As [`SGD::new`](crate::SGD::new).
    #[track_caller]
    pub fn new(learning_rate: f32, parameters: Vec<Variable<ParameterNode>>) -> Self {
        Adagrad {
            learning_rate: crate::checks::check_setting(
                "Adagrad::new: the learning rate",
                learning_rate,
                crate::checks::Range::NonNegative,
            ),
            eps: 1e-8,
            options: GradientOptions::NONE,
            parameters: super::unique(parameters),
        }
    }

    /// The constant added to the denominator for stability.
    ///
    /// ```
    /// use wyrm::*;
    ///
    /// let w = ParameterNode::new(ndarray::arr2(&[[1.0]]));
    /// let loss = w.square();
    /// let mut opt = Adagrad::new(0.5, loss.parameters()).eps(1.0);
    /// loss.forward();
    /// loss.backward(1.0);
    /// opt.step();
    /// // g = 2, s = 4: w = 1 - 0.5 * 2 / (2 + 1)
    /// assert!((w.value()[(0, 0)] - 2.0 / 3.0).abs() < 1e-6);
    /// ```
    ///
    /// # Panics
    /// If `eps` is below `f32::MIN_POSITIVE` (the smallest normal `f32`) or not finite.
    #[track_caller]
    pub fn eps(mut self, eps: f32) -> Self {
        self.eps =
            crate::checks::check_setting("Adagrad::eps", eps, crate::checks::Range::Positive);
        self
    }
}

super::common_options!(Adagrad);

#[derive(Clone, Copy)]
struct Rule<O> {
    lr: f32,
    eps: f32,
    options: O,
}

impl<O: Transform> UpdateRule for Rule<O> {
    const SLOTS: usize = 1;
    const KIND: u8 = super::state_kind::ADAGRAD;
    #[inline(always)]
    fn update(&self, w: f32, g: f32, state: &mut [f32; 2]) -> f32 {
        let g = self.options.apply(w, g);
        let s = state[0] + g * g;
        state[0] = s;
        w - self.lr * g / (s.sqrt() + self.eps)
    }
}

impl Optimizer for Adagrad {
    fn step(&mut self) {
        let (lr, eps) = (self.learning_rate, self.eps);
        update_with_options!(&self.parameters, self.options, |options| Rule {
            lr,
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
