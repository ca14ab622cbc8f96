//! Activation functions: `tanh`, `sigmoid`, `softplus`, `relu`, and `clip`.

use super::unary::{unary_op, Unary, UnaryOp};
use crate::{Node, Variable};

unary_op!(
    /// Hyperbolic tangent, elementwise.
    ///
    /// ```
    /// use wyrm::*;
    /// let x = InputNode::new(ndarray::arr2(&[[0.0, 1.0]]));
    /// let y = x.tanh();
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
    /// For its logarithm (a logistic or pairwise ranking loss, BPR's `-ln sigmoid(x_ui -
    /// x_uj)`), write `-(-x).softplus()` ([`softplus`](Self::softplus)):
    /// `x.sigmoid().ln()` is `-inf` with a NaN gradient once the sigmoid rounds to 0 (a new
    /// user's BPR loss at `x = -200`).
    ///
    /// ```
    /// use wyrm::*;
    /// let x = InputNode::new(ndarray::arr2(&[[0.0, 2.0]]));
    /// let y = x.sigmoid();
    /// y.forward();
    /// assert_eq!(y.value()[(0, 0)], 0.5);
    /// assert!((y.value()[(0, 1)] - 1.0 / (1.0 + (-2f32).exp())).abs() < 1e-6);
    /// ```
    SigmoidOp, Sigmoid, sigmoid, "sigmoid",
    |x| crate::kernels::sigmoid(x),
    |x, y| y * (1.0 - y)
);
unary_op!(
    /// Softplus `ln(1 + e^x)`, elementwise: a smooth relu whose slope is the sigmoid.
    /// Computed as `max(x, 0) + ln(1 + e^-|x|)`, so it neither overflows for large `x` nor
    /// rounds to 0 too early for very negative `x`.
    ///
    /// It gives the stable forms of two common terms, where the textbook ones give NaN
    /// once the sigmoid rounds to 0 or 1 (from |x| of about 17 in `f32`):
    /// - `ln(sigmoid(x)) = -(-x).softplus()`;
    /// - binary cross-entropy on logits `z` with 0/1 targets `y`:
    ///   `-(y ln sigmoid(z) + (1 - y) ln(1 - sigmoid(z))) = z.softplus() - y * z`
    ///   (in one node:
    ///   [`binary_crossentropy_with_logits`](crate::nn::losses::binary_crossentropy_with_logits)).
    ///
    /// ```
    /// use wyrm::*;
    /// let z = ParameterNode::new(ndarray::arr2(&[[0.0, 40.0, -40.0]]));
    /// let y = InputNode::new(ndarray::arr2(&[[1.0, 0.0, 0.0]]));
    /// // Binary cross-entropy, summed over the examples.
    /// let loss = (z.softplus() - y.clone() * z.clone()).scalar_sum();
    /// loss.forward();
    /// loss.backward(1.0);
    /// // ln 2 for the undecided example, 40 for the confidently wrong one, ~0 for the last.
    /// assert!((loss.value()[(0, 0)] - (2f32.ln() + 40.0)).abs() < 1e-5);
    /// // The gradient is sigmoid(z) - y: finite everywhere.
    /// let g = z.gradient();
    /// assert!((g[(0, 0)] + 0.5).abs() < 1e-6 && (g[(0, 1)] - 1.0).abs() < 1e-6);
    /// assert!(g[(0, 2)].abs() < 1e-6);
    /// ```
    SoftplusOp, Softplus, softplus, "softplus",
    |x| crate::kernels::softplus(x),
    |x, y| crate::kernels::sigmoid(x)
);
unary_op!(
    /// Rectified linear unit `max(x, 0)`, elementwise (derivative 0 at 0). NaN stays NaN,
    /// value and slope, so that a diverging model shows it.
    ///
    /// ```
    /// use wyrm::*;
    /// let x = ParameterNode::new(ndarray::arr2(&[[-1.0, 0.0, 2.0]]));
    /// let y = x.relu();
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
/// let y: Variable<Unary<ClipOp, ParameterNode>> = x.map(ClipOp::new(-1.0, 1.0));
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
/// let y: Variable<Clip<InputNode>> = x.clip(0.0, 1.0);
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
    /// let y = x.clip(-1.0, 1.0);
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
        let r = x.relu();
        r.forward();
        assert_eq!(r.value().to_owned(), arr2(&[[0.0, 0.0, 2.0]]));
        let s = x.sigmoid();
        s.forward();
        assert!((s.value()[(0, 1)] - 0.5).abs() < 1e-6);
        let t = x.tanh();
        t.forward();
        assert!((t.value()[(0, 2)] - 2f32.tanh()).abs() < 1e-3);
    }

    /// Softplus against `ln(1 + e^x)` in f64, over the whole range: no overflow for large
    /// `x`, no early 0 for very negative `x`, NaN kept.
    #[test]
    fn softplus_values() {
        let xs = [
            -200.0, -90.0, -30.0, -1.0, -1e-3, 0.0, 1e-3, 2.5, 30.0, 90.0, 1e30,
        ];
        let x =
            InputNode::new(ndarray::Array2::from_shape_vec((1, xs.len()), xs.to_vec()).unwrap());
        let y = x.softplus();
        y.forward();
        for (&x, &y) in xs.iter().zip(y.value().iter()) {
            let exact = (x as f64).exp().ln_1p();
            let exact = if exact.is_finite() { exact } else { x as f64 };
            // Relative error, with an absolute floor of two of f32's smallest subnormals
            // (`fast-math` gives 0 below -87.3, where the result is under 1.2e-38).
            let floor = if cfg!(feature = "fast-math") {
                1.2e-38
            } else {
                3e-45
            };
            let error = (y as f64 - exact).abs();
            assert!(
                error <= 1e-6 * exact + floor,
                "softplus({x}) = {y}, not {exact}"
            );
        }
        let nan = InputNode::new(arr2(&[[f32::NAN, f32::INFINITY, f32::NEG_INFINITY]]));
        let y = nan.softplus();
        y.forward();
        let v = y.value();
        assert!(
            v[(0, 0)].is_nan() && v[(0, 1)] == f32::INFINITY && v[(0, 2)] == 0.0,
            "{v}"
        );
    }

    #[test]
    fn gradients() {
        for (r, c) in [(1, 1), (3, 2), (2, 7)] {
            let x = ParameterNode::new(random_matrix(r, c));
            gradcheck::assert_gradient(&x.tanh(), &x);
            gradcheck::assert_gradient(&x.sigmoid(), &x);
            gradcheck::assert_gradient(&x.softplus(), &x);
            // Keep inputs away from the kink so finite differences are meaningful, with
            // signs alternating from positive, so every shape (1x1 too) has a slope to check.
            let magnitudes = random_matrix(r, c);
            let away = ParameterNode::new(ndarray::Array2::from_shape_fn((r, c), |(i, j)| {
                let sign = if (i * c + j) % 2 == 0 { 1.0 } else { -1.0 };
                sign * (magnitudes[(i, j)].abs() + 0.1)
            }));
            gradcheck::assert_gradient(&away.relu(), &away);
            // Values inside and outside [-0.5, 0.5], none within a step of the bounds; the
            // first inside, so that the 1x1 case has a gradient to check.
            let pattern = [-0.2, 0.1, 0.3, 0.8, -0.35, 1.4, -0.9];
            let clip_in = ParameterNode::new(ndarray::Array2::from_shape_fn((r, c), |(i, j)| {
                pattern[(i * c + j) % pattern.len()]
            }));
            gradcheck::assert_gradient(&clip_in.clip(-0.5, 0.5), &clip_in);
        }
    }

    #[test]
    fn clip_gradient_is_zero_outside() {
        let x = ParameterNode::new(arr2(&[[-3.0, 0.25, 3.0]]));
        let y = x.clip(-1.0, 1.0);
        y.forward();
        y.backward(2.0);
        assert_eq!(x.gradient(), arr2(&[[0.0, 2.0, 0.0]]));
    }

    /// A NaN input stays NaN through relu and clip, value and gradient, so that a
    /// diverging model shows it instead of training on zeros where NaNs were.
    #[test]
    fn relu_and_clip_propagate_nan() {
        let x = ParameterNode::new(arr2(&[[f32::NAN, -2.0, 0.5, 3.0]]));
        let y = x.relu() + x.clip(-1.0, 1.0);
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
