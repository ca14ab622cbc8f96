//! Variants of the rectifier for deeper networks: `leaky_relu`, whose negative side keeps
//! a small slope so that units do not die, and `gelu`, a smooth rectifier.

use super::unary::{unary_op, Unary, UnaryOp};
use crate::{Node, Variable};

/// `√(2/π)`, in GELU's tanh form.
const GELU_SCALE: f32 = 0.797_884_6;
/// The cubic term's coefficient in GELU's tanh form.
const GELU_CUBIC: f32 = 0.044_715;
/// Beyond this size GELU is `x` (or 0) to f32 precision: taken as such, so that infinite
/// or huge inputs give no `0 · ∞` (NaN) in the value or the slope.
const GELU_FLAT: f32 = 10.0;

unary_op!(
    /// Gaussian error linear unit, elementwise, in its tanh form (PyTorch's
    /// `gelu(approximate="tanh")`, GPT-2's): `0.5 x (1 + tanh(√(2/π) (x + 0.044715 x³)))`,
    /// within about 5e-4 of the exact `x Φ(x)`. A smooth rectifier: near 0 for large negative
    /// `x`, near `x` for large positive `x`, with a small dip below 0 in between.
    ///
    /// ```
    /// use wyrm::*;
    /// let x = ParameterNode::new(ndarray::arr2(&[[-4.0, 0.0, 1.0, 4.0]]));
    /// let y = x.gelu();
    /// y.forward();
    /// y.backward(1.0);
    /// let v = y.value();
    /// assert!(v[(0, 0)].abs() < 1e-3 && v[(0, 1)] == 0.0 && (v[(0, 3)] - 4.0).abs() < 1e-3);
    /// assert!((v[(0, 2)] - 0.8412).abs() < 1e-3); // Φ(1) = 0.8413
    /// assert!((x.gradient()[(0, 1)] - 0.5).abs() < 1e-6); // slope 1/2 at 0
    /// ```
    GeluOp, Gelu, gelu, "gelu",
    |x| if x > GELU_FLAT {
        x
    } else if x < -GELU_FLAT {
        0.0
    } else {
        0.5 * x * (1.0 + crate::kernels::tanh(GELU_SCALE * (x + GELU_CUBIC * x * x * x)))
    },
    |x, y| if x > GELU_FLAT {
        1.0
    } else if x < -GELU_FLAT {
        0.0
    } else {
        let t = crate::kernels::tanh(GELU_SCALE * (x + GELU_CUBIC * x * x * x));
        0.5 * (1.0 + t) + 0.5 * x * (1.0 - t * t) * GELU_SCALE * (1.0 + 3.0 * GELU_CUBIC * x * x)
    }
);

/// Leaky rectified linear unit, `x` for `x > 0` and `slope · x` otherwise; node type
/// [`LeakyRelu`]. The derivative is `slope` at 0, as on the negative side. NaN stays NaN,
/// value and slope.
///
/// Built by [`Variable::leaky_relu`], or by [`LeakyReluOp::new`] for [`Variable::map`]:
/// both check the slope when the graph is built.
///
/// ```
/// use wyrm::*;
/// use wyrm::nodes::{LeakyReluOp, Unary};
/// let x = ParameterNode::new(ndarray::arr2(&[[-2.0, 0.0, 3.0]]));
/// let y: Variable<Unary<LeakyReluOp, ParameterNode>> = x.map(LeakyReluOp::new(0.1));
/// y.forward();
/// y.backward(1.0);
/// assert_eq!(y.value(), ndarray::arr2(&[[-0.2, 0.0, 3.0]]));
/// assert_eq!(x.gradient(), ndarray::arr2(&[[0.1, 0.1, 1.0]]));
/// ```
#[derive(Debug, Clone, Copy)]
pub struct LeakyReluOp {
    slope: f32,
}

impl LeakyReluOp {
    /// The rectifier with `slope` on the negative side (0.01 is common; 0 gives `relu`).
    ///
    /// ```
    /// use wyrm::nodes::LeakyReluOp;
    /// assert_eq!(LeakyReluOp::new(0.01).slope(), 0.01);
    /// ```
    ///
    /// # Panics
    /// If `slope` is not finite.
    #[track_caller]
    pub fn new(slope: f32) -> Self {
        assert!(
            slope.is_finite(),
            "leaky_relu: the slope must be finite, got {slope}"
        );
        LeakyReluOp { slope }
    }

    /// The slope on the negative side.
    ///
    /// ```
    /// use wyrm::nodes::LeakyReluOp;
    /// assert_eq!(LeakyReluOp::new(0.2).slope(), 0.2);
    /// ```
    pub fn slope(&self) -> f32 {
        self.slope
    }
}

impl UnaryOp for LeakyReluOp {
    const NAME: &'static str = "leaky_relu";
    #[inline(always)]
    fn apply(&self, x: f32) -> f32 {
        // A comparison rather than `max`, which would turn NaN into a number.
        if x > 0.0 {
            x
        } else {
            self.slope * x
        }
    }
    #[inline(always)]
    fn derivative(&self, x: f32, _y: f32) -> f32 {
        if x > 0.0 {
            1.0
        } else if x <= 0.0 {
            self.slope
        } else {
            x
        }
    }
}

/// Node applying a leaky rectifier elementwise.
///
/// ```
/// use wyrm::*;
/// use wyrm::nodes::LeakyRelu;
/// let x = InputNode::new(ndarray::arr2(&[[-1.0, 2.0]]));
/// let y: Variable<LeakyRelu<InputNode>> = x.leaky_relu(0.5);
/// y.forward();
/// assert_eq!(y.value(), ndarray::arr2(&[[-0.5, 2.0]]));
/// ```
pub type LeakyRelu<T> = Unary<LeakyReluOp, T>;

impl<T: Node> Variable<T> {
    /// Leaky rectified linear unit: `x` where positive, `slope · x` elsewhere (see
    /// [`LeakyReluOp`]).
    ///
    /// ```
    /// use wyrm::*;
    /// let x = ParameterNode::new(ndarray::arr2(&[[-3.0, 0.5]]));
    /// let y = x.leaky_relu(0.01);
    /// y.forward();
    /// assert_eq!(y.value().to_owned(), ndarray::arr2(&[[-0.03, 0.5]]));
    /// ```
    ///
    /// # Panics
    /// If `slope` is not finite.
    #[track_caller]
    pub fn leaky_relu(&self, slope: f32) -> Variable<LeakyRelu<T>> {
        self.map(LeakyReluOp::new(slope))
    }
}

#[cfg(test)]
mod tests {
    use crate::*;
    use ndarray::arr2;

    /// GELU's tanh form against `x Φ(x)` (Φ from standard normal tables), within the
    /// documented 5e-4.
    #[test]
    fn gelu_is_close_to_x_times_phi() {
        // x Φ(x) for x = -3, -1, -0.5, 0.5, 1, 2, 3 (Φ from standard normal tables).
        let table = [
            (-3.0f32, -0.004_049_7),
            (-1.0, -0.158_655_3),
            (-0.5, -0.154_268_7),
            (0.5, 0.345_731_3),
            (1.0, 0.841_344_7),
            (2.0, 1.954_5),
            (3.0, 2.995_950_3),
        ];
        let x = InputNode::new(ndarray::Array2::from_shape_fn((1, 7), |(_, j)| table[j].0));
        let y = x.gelu();
        y.forward();
        for (&(_, exact), &got) in table.iter().zip(y.value().iter()) {
            assert!((got - exact).abs() < 5e-4, "{got} against {exact}");
        }
    }

    /// Finite differences on both sides of 0 and through the dip.
    #[test]
    fn gradients() {
        let x = ParameterNode::new(arr2(&[[-3.0, -1.2, -0.4, 0.3, 0.9, 2.5]]));
        let y = x.gelu().scalar_sum();
        gradcheck::assert_gradient(&y, &x);
        let y = (x.leaky_relu(0.1) * 1.5).scalar_sum();
        gradcheck::assert_gradient(&y, &x);
    }

    /// Huge and infinite inputs: `x` or 0, slope 1 or 0, never NaN; NaN stays NaN.
    #[test]
    fn gelu_is_finite_far_out() {
        let xs = [f32::NEG_INFINITY, -1e20, -11.0, 11.0, 1e20, f32::INFINITY];
        let x = ParameterNode::new(ndarray::Array2::from_shape_fn((1, 6), |(_, j)| xs[j]));
        let y = x.gelu();
        y.forward();
        y.backward(1.0);
        assert_eq!(
            y.value(),
            arr2(&[[0.0, 0.0, 0.0, 11.0, 1e20, f32::INFINITY]])
        );
        assert_eq!(x.gradient(), arr2(&[[0.0, 0.0, 0.0, 1.0, 1.0, 1.0]]));
        let nan = InputNode::new(arr2(&[[f32::NAN]]));
        let y = nan.gelu();
        y.forward();
        assert!(y.value()[(0, 0)].is_nan());
    }

    #[test]
    fn leaky_relu_propagates_nan() {
        let x = ParameterNode::new(arr2(&[[f32::NAN, -2.0]]));
        let y = x.leaky_relu(0.25);
        y.forward();
        y.backward(1.0);
        assert!(y.value()[(0, 0)].is_nan() && x.gradient()[(0, 0)].is_nan());
        assert_eq!((y.value()[(0, 1)], x.gradient()[(0, 1)]), (-0.5, 0.25));
    }

    #[test]
    #[should_panic(expected = "leaky_relu: the slope must be finite, got NaN")]
    fn slope_must_be_finite() {
        let _ = InputNode::new(arr2(&[[1.0]])).leaky_relu(f32::NAN);
    }
}
