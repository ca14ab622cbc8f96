//! Stochastic gradient descent, with optional momentum.

use super::{update_with_options, zero_all, GradientOptions, Optimizer, Transform, UpdateRule};
use crate::nodes::ParameterNode;
use crate::Variable;

/// Stochastic gradient descent: `w -= lr * g`, or with momentum `m`:
/// `v = m * v + g; w -= lr * v`.
///
/// ```
/// use wyrm::*;
/// use wyrm::optim::Optimizer;
///
/// let w = ParameterNode::new(ndarray::arr2(&[[1.0]]));
/// let loss = w.square();
/// let mut opt = SGD::new(0.25, loss.parameters()).momentum(0.5).l2_penalty(0.0);
/// loss.forward();
/// loss.backward(1.0);
/// opt.step();
/// opt.zero_gradients();
/// assert_eq!(w.value()[(0, 0)], 0.5);
/// ```
#[derive(Clone, Debug)]
pub struct SGD {
    learning_rate: f32,
    momentum: f32,
    options: GradientOptions,
    parameters: Vec<Variable<ParameterNode>>,
}

impl SGD {
    /// Plain SGD over `parameters` with the given learning rate. A node listed more than
    /// once (say, in two concatenated parameter lists) is kept once, so that it is updated
    /// once per step; [`parameters`](Optimizer::parameters) returns the shorter list.
    ///
    /// ```
    /// use wyrm::*;
    ///
    /// let w = ParameterNode::new(ndarray::arr2(&[[1.0, -2.0]]));
    /// let loss = w.square();
    /// let mut opt = SGD::new(0.25, loss.parameters());
    /// loss.forward();
    /// loss.backward(1.0);
    /// opt.step(); // w -= 0.25 * 2w
    /// assert_eq!(w.value(), ndarray::arr2(&[[0.5, -1.0]]));
    /// ```
    ///
    /// # Panics
    /// If `learning_rate` is negative or not finite, or if two of `parameters` are
    /// different shared nodes over one [`HogwildParameter`](crate::HogwildParameter).
    #[track_caller]
    pub fn new(learning_rate: f32, parameters: Vec<Variable<ParameterNode>>) -> Self {
        SGD {
            learning_rate: crate::checks::check_setting(
                "SGD::new: the learning rate",
                learning_rate,
                crate::checks::Range::NonNegative,
            ),
            momentum: 0.0,
            options: GradientOptions::NONE,
            parameters: super::unique(parameters),
        }
    }

    /// Uses momentum `m` (0 disables it).
    ///
    /// ```
    /// use wyrm::*;
    ///
    /// let w = ParameterNode::new(ndarray::arr2(&[[0.0]]));
    /// let loss = w.scalar_sum(); // gradient 1 at every step
    /// let mut opt = SGD::new(1.0, loss.parameters()).momentum(0.5);
    /// for _ in 0..2 {
    ///     loss.forward();
    ///     loss.backward(1.0);
    ///     opt.step();
    ///     opt.zero_gradients();
    /// }
    /// // Velocity 1, then 0.5 * 1 + 1: w moves by 2.5 rather than plain SGD's 2.
    /// assert_eq!(w.value()[(0, 0)], -2.5);
    /// ```
    ///
    /// # Panics
    /// If `m` is not in `[0, 1)`.
    #[track_caller]
    pub fn momentum(mut self, m: f32) -> Self {
        self.momentum =
            crate::checks::check_setting("SGD::momentum", m, crate::checks::Range::Fraction);
        self
    }
}

super::common_options!(SGD);

#[derive(Clone, Copy)]
struct Plain<O> {
    lr: f32,
    options: O,
}

impl<O: Transform> UpdateRule for Plain<O> {
    const SLOTS: usize = 0;
    const KIND: u8 = super::state_kind::NONE;
    #[inline(always)]
    fn update(&self, w: f32, g: f32, _state: &mut [f32; 2]) -> f32 {
        w - self.lr * self.options.apply(w, g)
    }
}

#[derive(Clone, Copy)]
struct Momentum<O> {
    lr: f32,
    momentum: f32,
    options: O,
}

impl<O: Transform> UpdateRule for Momentum<O> {
    const SLOTS: usize = 1;
    const KIND: u8 = super::state_kind::MOMENTUM;
    #[inline(always)]
    fn update(&self, w: f32, g: f32, state: &mut [f32; 2]) -> f32 {
        let v = self.momentum * state[0] + self.options.apply(w, g);
        state[0] = v;
        w - self.lr * v
    }
}

impl Optimizer for SGD {
    fn step(&mut self) {
        let (lr, momentum, params) = (self.learning_rate, self.momentum, &self.parameters);
        if momentum == 0.0 {
            update_with_options!(params, self.options, |options| Plain { lr, options });
        } else {
            update_with_options!(params, self.options, |options| Momentum {
                lr,
                momentum,
                options
            });
        }
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
    use crate::InputNode;
    use ndarray::arr2;

    #[test]
    fn plain_step_and_options() {
        let w = ParameterNode::new(arr2(&[[2.0, -2.0]]));
        let loss = w.square();
        let mut opt = SGD::new(0.1, loss.parameters())
            .l2_penalty(1.0)
            .clamp(-1.0, 1.0);
        loss.forward();
        loss.backward(1.0);
        opt.step();
        // g = clamp(2w) + 1.0 * w = ±1 ± 2 = ±3
        let v = w.value().to_owned();
        assert!((v[(0, 0)] - 1.7).abs() < 1e-6 && (v[(0, 1)] + 1.7).abs() < 1e-6);
        opt.zero_gradients();
        assert_eq!(w.gradient(), arr2(&[[0.0, 0.0]]));
    }

    #[test]
    fn momentum_accumulates_velocity() {
        let w = ParameterNode::new(arr2(&[[0.0]]));
        let x = InputNode::new(arr2(&[[1.0]]));
        let loss = w.clone() * x.clone(); // gradient 1 every step
        let mut opt = SGD::new(1.0, loss.parameters()).momentum(0.5);
        for _ in 0..2 {
            loss.forward();
            loss.backward(1.0);
            opt.step();
            opt.zero_gradients();
        }
        // v1 = 1, w = -1; v2 = 0.5 + 1 = 1.5, w = -2.5
        assert_eq!(w.value()[(0, 0)], -2.5);
    }

    #[test]
    fn a_parameter_listed_twice_is_updated_once() {
        let w = ParameterNode::new(arr2(&[[1.0]]));
        let loss = w.square();
        let mut opt = SGD::new(0.25, vec![w.clone(), w.clone()]);
        assert_eq!(opt.parameters().len(), 1);
        loss.forward();
        loss.backward(1.0);
        opt.step();
        assert_eq!(w.value()[(0, 0)], 0.5);
    }
}
