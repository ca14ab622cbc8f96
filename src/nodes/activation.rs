//! Activation functions: `tanh`, `sigmoid`, `relu`, and `clip`.

use super::unary::{unary_op, Unary, UnaryOp};
use crate::{Node, Variable};

unary_op!(
    /// Hyperbolic tangent, elementwise.
    ///
    /// ```
    /// use wyrm::*;
    /// let x = InputNode::new(ndarray::arr2(&[[0.0, 1.0]]));
    /// let mut y = x.tanh();
    /// y.forward();
    /// assert_eq!(y.value()[(0, 0)], 0.0);
    /// assert!((y.value()[(0, 1)] - 1f32.tanh()).abs() < 1e-6);
    /// ```
    TanhOp, Tanh, tanh, "tanh",
    |x| crate::kernels::tanh(x),
    |x, y| 1.0 - y * y
);
unary_op!(
    /// Logistic sigmoid `1 / (1 + e^-x)`, elementwise.
    ///
    /// ```
    /// use wyrm::*;
    /// let x = InputNode::new(ndarray::arr2(&[[0.0, 2.0]]));
    /// let mut y = x.sigmoid();
    /// y.forward();
    /// assert_eq!(y.value()[(0, 0)], 0.5);
    /// assert!((y.value()[(0, 1)] - 1.0 / (1.0 + (-2f32).exp())).abs() < 1e-6);
    /// ```
    SigmoidOp, Sigmoid, sigmoid, "sigmoid",
    |x| crate::kernels::sigmoid(x),
    |x, y| y * (1.0 - y)
);
unary_op!(
    /// Rectified linear unit `max(x, 0)`, elementwise (derivative 0 at 0). NaN stays NaN,
    /// value and slope, so that a diverging model shows it.
    ///
    /// ```
    /// use wyrm::*;
    /// let x = ParameterNode::new(ndarray::arr2(&[[-1.0, 0.0, 2.0]]));
    /// let mut y = x.relu();
    /// y.forward();
    /// y.backward(1.0);
    /// assert_eq!(y.value(), ndarray::arr2(&[[0.0, 0.0, 2.0]]));
    /// assert_eq!(x.gradient(), ndarray::arr2(&[[0.0, 0.0, 1.0]]));
    /// ```
    ReluOp, Relu, relu, "relu",
    // `f32::max` would turn NaN into 0.
    |x| if x < 0.0 { 0.0 } else { x },
    |x, y| if x > 0.0 { 1.0 } else if x <= 0.0 { 0.0 } else { x }
);

/// Clamps each element to `[min, max]`; node type [`Clip`]. The gradient passes through
/// where the input is strictly inside the interval and is 0 where it was clipped. NaN
/// stays NaN, value and slope.
///
/// Built by [`Variable::clip`], or by [`ClipOp::new`] for [`Variable::map`]: both check
/// the bounds when the graph is built.
///
/// ```
/// use wyrm::*;
/// use wyrm::nodes::{ClipOp, Unary};
/// let x = ParameterNode::new(ndarray::arr2(&[[-3.0, 0.5, 3.0]]));
/// let mut y: Variable<Unary<ClipOp, ParameterNode>> = x.map(ClipOp::new(-1.0, 1.0));
/// y.forward();
/// y.backward(1.0);
/// assert_eq!(y.value(), ndarray::arr2(&[[-1.0, 0.5, 1.0]]));
/// assert_eq!(x.gradient(), ndarray::arr2(&[[0.0, 1.0, 0.0]]));
/// ```
#[derive(Debug, Clone, Copy)]
pub struct ClipOp {
    min: f32,
    max: f32,
}

impl ClipOp {
    /// Clamping to `[min, max]`.
    ///
    /// ```
    /// use wyrm::nodes::ClipOp;
    /// let op = ClipOp::new(-1.0, 1.0);
    /// assert_eq!((op.min(), op.max()), (-1.0, 1.0));
    /// ```
    ///
    /// # Panics
    /// If `min > max` or either bound is NaN.
    #[track_caller]
    pub fn new(min: f32, max: f32) -> Self {
        crate::checks::check_bounds("clip", min, max);
        ClipOp { min, max }
    }

    /// The lower bound.
    ///
    /// ```
    /// use wyrm::nodes::ClipOp;
    /// assert_eq!(ClipOp::new(-0.5, 2.0).min(), -0.5);
    /// ```
    pub fn min(&self) -> f32 {
        self.min
    }

    /// The upper bound.
    ///
    /// ```
    /// use wyrm::nodes::ClipOp;
    /// assert_eq!(ClipOp::new(-0.5, 2.0).max(), 2.0);
    /// ```
    pub fn max(&self) -> f32 {
        self.max
    }
}

impl UnaryOp for ClipOp {
    const NAME: &'static str = "clip";
    #[inline(always)]
    fn apply(&self, x: f32) -> f32 {
        x.clamp(self.min, self.max)
    }
    #[inline(always)]
    fn derivative(&self, x: f32, _y: f32) -> f32 {
        if x > self.min && x < self.max {
            1.0
        } else if x.is_nan() {
            x
        } else {
            0.0
        }
    }
}

/// Node clamping its operand elementwise.
///
/// ```
/// use wyrm::*;
/// use wyrm::nodes::Clip;
/// let x = InputNode::new(ndarray::arr2(&[[-0.5, 4.0]]));
/// let mut y: Variable<Clip<InputNode>> = x.clip(0.0, 1.0);
/// y.forward();
/// assert_eq!(y.value(), ndarray::arr2(&[[0.0, 1.0]]));
/// ```
pub type Clip<T> = Unary<ClipOp, T>;

impl<T: Node> Variable<T> {
    /// Clamps every element to `[min, max]`.
    ///
    /// ```
    /// use wyrm::*;
    /// let x = ParameterNode::new(ndarray::arr2(&[[-3.0, 0.5, 3.0]]));
    /// let mut y = x.clip(-1.0, 1.0);
    /// y.forward();
    /// assert_eq!(y.value().to_owned(), ndarray::arr2(&[[-1.0, 0.5, 1.0]]));
    /// ```
    ///
    /// # Panics
    /// If `min > max` or either bound is NaN.
    #[track_caller]
    pub fn clip(&self, min: f32, max: f32) -> Variable<Clip<T>> {
        self.map(ClipOp::new(min, max))
    }
}

#[cfg(test)]
mod tests {
    use crate::*;
    use ndarray::arr2;

    #[test]
    fn values() {
        let x = InputNode::new(arr2(&[[-1.0, 0.0, 2.0]]));
        let mut r = x.relu();
        r.forward();
        assert_eq!(r.value().to_owned(), arr2(&[[0.0, 0.0, 2.0]]));
        let mut s = x.sigmoid();
        s.forward();
        assert!((s.value()[(0, 1)] - 0.5).abs() < 1e-6);
        let mut t = x.tanh();
        t.forward();
        assert!((t.value()[(0, 2)] - 2f32.tanh()).abs() < 1e-3);
    }

    #[test]
    fn gradients() {
        for (r, c) in [(1, 1), (3, 2), (2, 7)] {
            let x = ParameterNode::new(random_matrix(r, c));
            gradcheck::assert_gradient(&mut x.tanh(), &x);
            gradcheck::assert_gradient(&mut x.sigmoid(), &x);
            // Keep inputs away from the kinks so finite differences are meaningful.
            let away = ParameterNode::new(random_matrix(r, c).mapv(|v| {
                if v.abs() < 0.1 {
                    v + 0.3
                } else {
                    v
                }
            }));
            gradcheck::assert_gradient(&mut away.relu(), &away);
            // Values inside and outside [-0.5, 0.5], none within a step of the bounds.
            let pattern = [-0.9, -0.2, 0.1, 0.3, 0.8, -0.35, 1.4];
            let clip_in = ParameterNode::new(ndarray::Array2::from_shape_fn((r, c), |(i, j)| {
                pattern[(i * c + j) % pattern.len()]
            }));
            gradcheck::assert_gradient(&mut clip_in.clip(-0.5, 0.5), &clip_in);
        }
    }

    #[test]
    fn clip_gradient_is_zero_outside() {
        let x = ParameterNode::new(arr2(&[[-3.0, 0.25, 3.0]]));
        let mut y = x.clip(-1.0, 1.0);
        y.forward();
        y.backward(2.0);
        assert_eq!(x.gradient(), arr2(&[[0.0, 2.0, 0.0]]));
    }

    /// A NaN input stays NaN through relu and clip, value and gradient, so that a
    /// diverging model shows it instead of training on zeros where NaNs were.
    #[test]
    fn relu_and_clip_propagate_nan() {
        let x = ParameterNode::new(arr2(&[[f32::NAN, -2.0, 0.5, 3.0]]));
        let mut y = x.relu() + x.clip(-1.0, 1.0);
        y.forward();
        y.backward(1.0);
        let (v, g) = (y.value().to_owned(), x.gradient());
        assert!(v[(0, 0)].is_nan() && g[(0, 0)].is_nan(), "{v} {g}");
        let rest = ndarray::s![.., 1..];
        assert_eq!(v.slice(rest), arr2(&[[-1.0, 1.0, 4.0]]));
        assert_eq!(g.slice(rest), arr2(&[[0.0, 2.0, 1.0]]));
    }

    #[test]
    #[should_panic(expected = "clip: min (2) must not exceed max (1)")]
    fn clip_checks_bounds() {
        let _ = InputNode::new(arr2(&[[0.0]])).clip(2.0, 1.0);
    }
}
