//! Elementwise arithmetic functions: `square`, `exp`, `ln`, `sqrt`, `abs`, `pow`.

use super::unary::{unary_op, Unary, UnaryOp};
use crate::{Node, Variable};

unary_op!(
    /// `x²`, elementwise.
    ///
    /// ```
    /// use wyrm::*;
    /// let x = ParameterNode::new(ndarray::arr2(&[[-2.0, 3.0]]));
    /// let mut y = x.square();
    /// y.forward();
    /// y.backward(1.0);
    /// assert_eq!(y.value(), ndarray::arr2(&[[4.0, 9.0]]));
    /// assert_eq!(x.gradient(), ndarray::arr2(&[[-4.0, 6.0]]));
    /// ```
    SquareOp, Square, square, "square",
    |x| x * x,
    |x, y| 2.0 * x
);
unary_op!(
    /// `eˣ`, elementwise.
    ///
    /// ```
    /// use wyrm::*;
    /// let x = InputNode::new(ndarray::arr2(&[[0.0, 1.0]]));
    /// let mut y = x.exp();
    /// y.forward();
    /// assert_eq!(y.value()[(0, 0)], 1.0);
    /// assert!((y.value()[(0, 1)] - std::f32::consts::E).abs() < 1e-6);
    /// ```
    ExpOp, Exp, exp, "exp",
    |x| crate::kernels::exp(x),
    |x, y| y
);
unary_op!(
    /// Natural logarithm, elementwise (`ln 0 = -inf` with slope +inf, for either sign of
    /// zero; NaN below 0).
    ///
    /// ```
    /// use wyrm::*;
    /// let x = InputNode::new(ndarray::arr2(&[[1.0, std::f32::consts::E]]));
    /// let mut y = x.ln();
    /// y.forward();
    /// assert_eq!(y.value()[(0, 0)], 0.0);
    /// assert!((y.value()[(0, 1)] - 1.0).abs() < 1e-6);
    /// ```
    LnOp, Ln, ln, "ln",
    |x| crate::kernels::ln(x),
    // `+ 0.0` turns -0.0 into +0.0 (and nothing else): ln(-0.0) is ln(0) = -inf, whose
    // slope is +inf, not 1 / -0.0 = -inf.
    |x, y| 1.0 / (x + 0.0)
);
unary_op!(
    /// Square root, elementwise (slope +inf at 0, for either sign of zero; NaN below 0).
    ///
    /// ```
    /// use wyrm::*;
    /// let x = InputNode::new(ndarray::arr2(&[[4.0, 9.0]]));
    /// let mut y = x.sqrt();
    /// y.forward();
    /// assert_eq!(y.value(), ndarray::arr2(&[[2.0, 3.0]]));
    /// ```
    SqrtOp, Sqrt, sqrt, "sqrt",
    |x| x.sqrt(),
    // sqrt(-0.0) is -0.0: `+ 0.0` makes it +0.0, so the slope at zero is +inf whatever
    // its sign (0.5 / -0.0 would be -inf).
    |x, y| 0.5 / (y + 0.0)
);
unary_op!(
    /// Absolute value, elementwise (derivative 0 at 0, NaN at NaN).
    ///
    /// ```
    /// use wyrm::*;
    /// let x = ParameterNode::new(ndarray::arr2(&[[-2.0, 0.0, 3.0]]));
    /// let mut y = x.abs();
    /// y.forward();
    /// y.backward(1.0);
    /// assert_eq!(y.value(), ndarray::arr2(&[[2.0, 0.0, 3.0]]));
    /// assert_eq!(x.gradient(), ndarray::arr2(&[[-1.0, 0.0, 1.0]]));
    /// ```
    AbsOp, Abs, abs, "abs",
    |x| x.abs(),
    // `signum` is NaN at NaN, so a NaN input is not hidden behind a zero slope.
    |x, y| if x == 0.0 { 0.0 } else { x.signum() }
);

/// `x^p` for a fixed exponent `p`; node type [`Pow`].
///
/// ```
/// use wyrm::*;
/// use wyrm::nodes::{PowOp, Unary};
/// let x = ParameterNode::new(ndarray::arr2(&[[2.0]]));
/// let mut y: Variable<Unary<PowOp, ParameterNode>> = x.map(PowOp(3.0));
/// y.forward();
/// y.backward(1.0);
/// // 2³, and d/dx = 3 x² = 12
/// assert_eq!((y.value()[(0, 0)], x.gradient()[(0, 0)]), (8.0, 12.0));
/// ```
#[derive(Debug, Clone, Copy)]
pub struct PowOp(pub f32);

impl UnaryOp for PowOp {
    const NAME: &'static str = "pow";
    #[inline(always)]
    fn apply(&self, x: f32) -> f32 {
        x.powf(self.0)
    }
    #[inline(always)]
    fn derivative(&self, x: f32, _y: f32) -> f32 {
        if self.0 == 0.0 {
            0.0
        } else {
            self.0 * x.powf(self.0 - 1.0)
        }
    }
}

/// Node computing `x^p` elementwise.
///
/// ```
/// use wyrm::*;
/// use wyrm::nodes::Pow;
/// let x = InputNode::new(ndarray::arr2(&[[4.0, 9.0]]));
/// let mut y: Variable<Pow<InputNode>> = x.pow(0.5);
/// y.forward();
/// assert_eq!(y.value(), ndarray::arr2(&[[2.0, 3.0]]));
/// ```
pub type Pow<T> = Unary<PowOp, T>;

impl<T: Node> Variable<T> {
    /// `x^exponent`, elementwise, as [`f32::powf`] computes it: a negative `x` with a
    /// non-integer exponent has no real power and gives NaN (value and gradient), and
    /// `x^0` is 1 for every `x`, 0 and NaN included, with slope 0.
    ///
    /// ```
    /// use wyrm::*;
    /// let x = ParameterNode::new(ndarray::arr2(&[[4.0, -8.0]]));
    /// let mut y = x.pow(1.5);
    /// y.forward();
    /// y.backward(1.0);
    /// assert_eq!(y.value()[(0, 0)], 8.0);
    /// // (-8)^1.5 is not a real number.
    /// assert!(y.value()[(0, 1)].is_nan() && x.gradient()[(0, 1)].is_nan());
    /// ```
    pub fn pow(&self, exponent: f32) -> Variable<Pow<T>> {
        self.map(PowOp(exponent))
    }
}

#[cfg(test)]
mod tests {
    use crate::*;
    use ndarray::arr2;

    fn value_of<T: Node>(mut v: Variable<T>) -> ndarray::Array2<f32> {
        v.forward();
        v.value().to_owned()
    }

    #[test]
    fn values() {
        let x = InputNode::new(arr2(&[[-2.0, 4.0]]));
        assert_eq!(value_of(x.square()), arr2(&[[4.0, 16.0]]));
        assert_eq!(value_of(x.abs()), arr2(&[[2.0, 4.0]]));
        let p = InputNode::new(arr2(&[[4.0, 9.0]]));
        assert_eq!(value_of(p.sqrt()), arr2(&[[2.0, 3.0]]));
        assert_eq!(value_of(p.pow(2.0)), arr2(&[[16.0, 81.0]]));
        let e = value_of(p.ln().exp());
        assert!((e[(0, 1)] - 9.0).abs() < 1e-3);
    }

    #[test]
    fn pow_zero_is_flat_even_at_zero() {
        // 0 * 0^-1 would be NaN.
        let x = ParameterNode::new(arr2(&[[0.0, 2.0]]));
        let mut y = x.pow(0.0);
        y.forward();
        y.backward(1.0);
        assert_eq!(y.value(), arr2(&[[1.0, 1.0]]));
        assert_eq!(x.gradient(), arr2(&[[0.0, 0.0]]));
    }

    /// Zero has one slope whatever its sign: sqrt and ln gave -inf at -0.0 (`0.5 / -0.0`,
    /// `1 / -0.0`) and +inf at +0.0, so a step went the wrong way from a negative zero
    /// (`x * -1.0` with `x` zero). On one element and on a vectorised row.
    #[test]
    fn sqrt_and_ln_slopes_at_negative_zero() {
        for n in [1, 40] {
            let zeros = ndarray::Array2::from_shape_fn(
                (1, n),
                |(_, j)| if j % 2 == 0 { -0.0 } else { 0.0 },
            );
            let x = ParameterNode::new(zeros);
            let mut y = x.sqrt();
            y.forward();
            y.backward(1.0);
            assert!(
                x.gradient().iter().all(|g| *g == f32::INFINITY),
                "sqrt: {}",
                x.gradient()
            );
            x.zero_gradient();
            let mut y = x.ln();
            y.forward();
            y.backward(1.0);
            assert!(y.value().iter().all(|v| *v == f32::NEG_INFINITY));
            assert!(
                x.gradient().iter().all(|g| *g == f32::INFINITY),
                "ln: {}",
                x.gradient()
            );
        }
    }

    /// abs passes NaN back where its input was NaN; its slope there was 0, which hid it.
    #[test]
    fn abs_slope_propagates_nan() {
        let x = ParameterNode::new(arr2(&[[f32::NAN, 0.0, -0.0, -2.0, 3.0]]));
        let mut y = x.abs();
        y.forward();
        y.backward(1.0);
        let g = x.gradient();
        assert!(g[(0, 0)].is_nan(), "{g}");
        assert_eq!(
            g.slice(ndarray::s![.., 1..]),
            arr2(&[[0.0, 0.0, -1.0, 1.0]])
        );
    }

    #[test]
    fn gradients() {
        for (r, c) in [(1, 1), (2, 3), (4, 5)] {
            let x = ParameterNode::new(random_matrix(r, c));
            gradcheck::assert_gradient(&mut x.square(), &x);
            gradcheck::assert_gradient(&mut x.exp(), &x);
            // Keep abs away from its kink at 0, where finite differences are meaningless.
            let away = ParameterNode::new(random_matrix(r, c).mapv(|v| v + 0.3 * v.signum()));
            gradcheck::assert_gradient(&mut away.abs(), &away);
            let pos = ParameterNode::new(random_matrix(r, c).mapv(|v| v.abs() + 0.5));
            gradcheck::assert_gradient(&mut pos.ln(), &pos);
            gradcheck::assert_gradient(&mut pos.sqrt(), &pos);
            gradcheck::assert_gradient(&mut pos.pow(2.5), &pos);
            gradcheck::assert_gradient(&mut pos.pow(-1.5), &pos);
        }
    }
}
