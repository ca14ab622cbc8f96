//! Elementwise arithmetic functions: `square`, `exp`, `ln`, `exp_m1`, `ln_1p`, `sin`, `cos`,
//! `sqrt`, `abs`, `pow`.

use super::unary::{unary_op, Unary, UnaryOp};
use crate::{Node, Variable};

unary_op!(
    /// `x²`, elementwise.
    ///
    /// ```
    /// use wyrm::*;
    /// let x = ParameterNode::new(ndarray::arr2(&[[-2.0, 3.0]]));
    /// let y = x.square();
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
    /// let y = x.exp();
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
    /// let y = x.ln();
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
    /// `eˣ - 1`, elementwise, accurate where `x` is near 0 (where `x.exp() - 1.0` keeps
    /// only the first few digits): a rate `e^θ - 1`, a log-normal's mean and variance
    /// terms. [`f32::exp_m1`]'s value (to 3e-7, relatively, under `fast-math`, the
    /// default); the slope is `eˣ`.
    ///
    /// ```
    /// use wyrm::*;
    /// let x = ParameterNode::new(ndarray::arr2(&[[1e-6, 0.0]]));
    /// let y = x.exp_m1();
    /// y.forward();
    /// y.backward(1.0);
    /// assert!((y.value()[(0, 0)] - 1.0000005e-6).abs() < 1e-12);
    /// // The naive form loses it: e^1e-6 rounds to 1 + 9.5e-7 in f32.
    /// assert_ne!(1e-6f32.exp() - 1.0, 1e-6);
    /// assert_eq!(x.gradient()[(0, 1)], 1.0);
    /// ```
    ExpM1Op, ExpM1, exp_m1, "exp_m1",
    |x| crate::kernels::exp_m1(x),
    // From x, not from y + 1, which is 1 or 0 far from zero on either side.
    |x, y| crate::kernels::exp(x)
);
unary_op!(
    /// `ln(1 + x)`, elementwise, accurate where `x` is near 0 (where `(1.0 + x).ln()`
    /// has already rounded `1 + x`): the log-likelihood of a small probability's
    /// complement, `(-p).ln_1p()`, or a log-odds `ln(1 + e^z)` written out. Values and
    /// edge cases as [`f32::ln_1p`] (to 3e-7, relatively, under `fast-math`): `-inf` at
    /// -1 (with slope +inf) and NaN below -1.
    ///
    /// ```
    /// use wyrm::*;
    /// let p = ParameterNode::new(ndarray::arr2(&[[1e-7, 0.5]]));
    /// // ln(1 - p): the log-probability of "no event".
    /// let y = (-p.clone()).ln_1p();
    /// y.forward();
    /// y.backward(1.0);
    /// assert!((y.value()[(0, 0)] + 1e-7).abs() < 1e-13);
    /// assert_eq!((1.0f32 - 1e-7).ln(), -1.1920929e-7); // the naive form: 19% off
    /// assert!((p.gradient()[(0, 1)] + 2.0).abs() < 1e-6); // -1 / (1 - p)
    /// ```
    Ln1pOp, Ln1p, ln_1p, "ln_1p",
    |x| crate::kernels::ln_1p(x),
    // `1 + x` is exact enough for the slope: an error in `x` of one rounding is
    // relatively smaller in `1 + x` whenever `1 + x` is not near 0.
    |x, y| 1.0 / (1.0 + x)
);
unary_op!(
    /// Sine (of radians), elementwise: a pendulum's restoring force, a rotation, periodic
    /// features. The standard library's [`f32::sin`] (`fast-math` has no approximation of
    /// it); the slope is `cos x`.
    ///
    /// ```
    /// use wyrm::*;
    /// let angle = ParameterNode::new(ndarray::arr2(&[[0.0, std::f32::consts::FRAC_PI_2]]));
    /// let y = angle.sin();
    /// y.forward();
    /// y.backward(1.0);
    /// assert_eq!(y.value(), ndarray::arr2(&[[0.0, 1.0]]));
    /// assert_eq!(angle.gradient()[(0, 0)], 1.0); // cos 0
    /// ```
    SinOp, Sin, sin, "sin",
    |x| x.sin(),
    |x, y| x.cos()
);
unary_op!(
    /// Cosine (of radians), elementwise. The standard library's [`f32::cos`]; the slope
    /// is `-sin x`.
    ///
    /// ```
    /// use wyrm::*;
    /// let angle = ParameterNode::new(ndarray::arr2(&[[0.0, std::f32::consts::FRAC_PI_2]]));
    /// let y = angle.cos();
    /// y.forward();
    /// y.backward(1.0);
    /// assert_eq!(y.value()[(0, 0)], 1.0);
    /// assert_eq!(angle.gradient()[(0, 1)], -1.0); // -sin(π/2)
    /// ```
    CosOp, Cos, cos, "cos",
    |x| x.cos(),
    |x, y| -x.sin()
);
unary_op!(
    /// Square root, elementwise (slope +inf at 0, for either sign of zero; NaN below 0).
    ///
    /// ```
    /// use wyrm::*;
    /// let x = InputNode::new(ndarray::arr2(&[[4.0, 9.0]]));
    /// let y = x.sqrt();
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
    /// let y = x.abs();
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
/// let y: Variable<Unary<PowOp, ParameterNode>> = x.map(PowOp(3.0));
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
/// let y: Variable<Pow<InputNode>> = x.pow(0.5);
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
    /// let y = x.pow(1.5);
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

    fn value_of<T: Node>(v: Variable<T>) -> ndarray::Array2<f32> {
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
    fn sin_and_cos_values() {
        let x = InputNode::new(arr2(&[[0.5, -2.0, 10.0]]));
        let (s, c) = (value_of(x.sin()), value_of(x.cos()));
        for (j, v) in [0.5f32, -2.0, 10.0].into_iter().enumerate() {
            assert_eq!((s[(0, j)], c[(0, j)]), (v.sin(), v.cos()));
        }
    }

    #[test]
    fn exp_m1_and_ln_1p_keep_small_values() {
        let x = ParameterNode::new(arr2(&[[1e-8, -3e-7, 2.0, -30.0]]));
        let e = value_of(x.exp_m1());
        let want = [1e-8f64.exp_m1(), (-3e-7f64).exp_m1(), 2f64.exp_m1(), -1.0];
        for (got, want) in e.iter().zip(want) {
            assert!(
                ((*got as f64 - want) / want).abs() < 1e-6,
                "{got} vs {want}"
            );
        }
        let l = value_of(x.ln_1p());
        let want = [1e-8f64.ln_1p(), (-3e-7f64).ln_1p(), 2f64.ln_1p()];
        for (got, want) in l.iter().zip(want) {
            assert!(
                ((*got as f64 - want) / want).abs() < 1e-6,
                "{got} vs {want}"
            );
        }
        assert!(l[(0, 3)].is_nan(), "ln(1 + x) below x = -1 is NaN");
        // Inverse functions of each other.
        let back = value_of(x.exp_m1().ln_1p());
        assert!((back[(0, 0)] - 1e-8).abs() < 1e-14 && (back[(0, 2)] - 2.0).abs() < 1e-6);
    }

    #[test]
    fn exp_m1_slope_far_out_and_ln_1p_at_minus_one() {
        // The slope is e^x, not y + 1: at x = -20, y + 1 rounds to 0.
        let x = ParameterNode::new(arr2(&[[-20.0, 0.0]]));
        let y = x.exp_m1();
        y.forward();
        y.backward(1.0);
        assert!(((x.gradient()[(0, 0)] as f64) / (-20f64).exp() - 1.0).abs() < 1e-5);
        assert_eq!(x.gradient()[(0, 1)], 1.0);
        let x = ParameterNode::new(arr2(&[[-1.0]]));
        let y = x.ln_1p();
        y.forward();
        y.backward(1.0);
        assert_eq!(y.value()[(0, 0)], f32::NEG_INFINITY);
        assert_eq!(x.gradient()[(0, 0)], f32::INFINITY);
    }

    #[test]
    fn pow_zero_is_flat_even_at_zero() {
        // 0 * 0^-1 would be NaN.
        let x = ParameterNode::new(arr2(&[[0.0, 2.0]]));
        let y = x.pow(0.0);
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
            let y = x.sqrt();
            y.forward();
            y.backward(1.0);
            assert!(
                x.gradient().iter().all(|g| *g == f32::INFINITY),
                "sqrt: {}",
                x.gradient()
            );
            x.zero_gradient();
            let y = x.ln();
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
        let y = x.abs();
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
            gradcheck::assert_gradient(&x.square(), &x);
            gradcheck::assert_gradient(&x.exp(), &x);
            // Keep abs away from its kink at 0, where finite differences are meaningless.
            let away = ParameterNode::new(random_matrix(r, c).mapv(|v| v + 0.3 * v.signum()));
            gradcheck::assert_gradient(&away.abs(), &away);
            let pos = ParameterNode::new(random_matrix(r, c).mapv(|v| v.abs() + 0.5));
            gradcheck::assert_gradient(&pos.ln(), &pos);
            gradcheck::assert_gradient(&pos.sqrt(), &pos);
            gradcheck::assert_gradient(&pos.pow(2.5), &pos);
            gradcheck::assert_gradient(&pos.pow(-1.5), &pos);
        }
    }
}
