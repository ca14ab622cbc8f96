//! Inverse hyperbolic functions, elementwise: `asinh`, `acosh`, `atanh` (hyperbolic
//! geometry's distances, a signed log-like compression of heavy-tailed features, Fisher's
//! z-transform of a correlation).
//!
//! Values and slopes are computed in `f64` and rounded (`fast-math` has no approximation
//! of these): `f32`'s own `acosh` keeps only 3 or 4 digits just above 1, and a slope
//! taken in `f32` would overflow far out (`x²` of 1e20) or lose its digits next to a
//! pole (`x² − 1` near `x = 1`).

use super::unary::unary_op;

unary_op!(
    /// Inverse hyperbolic sine, elementwise: `ln(x + √(x² + 1))`, defined everywhere,
    /// about `x` near 0 and `±ln 2|x|` far out, so a signed compression of heavy-tailed
    /// values that keeps zero and the sign. The slope is `1 / √(x² + 1)`.
    ///
    /// ```
    /// use wyrm::*;
    /// let x = ParameterNode::new(ndarray::arr2(&[[0.0, 1.0, -1e20]]));
    /// let y = x.asinh();
    /// y.forward();
    /// y.backward(1.0);
    /// assert_eq!(y.value()[(0, 0)], 0.0);
    /// assert!((y.value()[(0, 1)] - 0.8813736).abs() < 1e-6);
    /// assert!((y.value()[(0, 2)] + 46.74).abs() < 1e-2); // -ln(2e20)
    /// assert_eq!(x.gradient()[(0, 0)], 1.0);
    /// assert!((x.gradient()[(0, 1)] - 0.5f32.sqrt()).abs() < 1e-6);
    /// assert!((x.gradient()[(0, 2)] / 1e-20 - 1.0).abs() < 1e-6); // not 0, as x² in f32
    /// ```
    AsinhOp, Asinh, asinh, "asinh",
    |x| (x as f64).asinh() as f32,
    |x, y| {
        let x = x as f64;
        (1.0 / (x * x + 1.0).sqrt()) as f32
    }
);
unary_op!(
    /// Inverse hyperbolic cosine, elementwise, for `x ≥ 1`: the Poincaré ball's distance is
    /// `acosh(1 + 2‖u − v‖² / ((1 − ‖u‖²)(1 − ‖v‖²)))`. The slope is `1 / √(x² − 1)`:
    /// `+inf` at 1, where the value is 0. Below 1 the value and the slope are NaN.
    ///
    /// ```
    /// use wyrm::*;
    /// let x = ParameterNode::new(ndarray::arr2(&[[1.0, 2.0, 0.5]]));
    /// let y = x.acosh();
    /// y.forward();
    /// y.backward(1.0);
    /// assert_eq!(y.value()[(0, 0)], 0.0);
    /// assert!((y.value()[(0, 1)] - 1.3169579).abs() < 1e-6);
    /// assert!(y.value()[(0, 2)].is_nan());
    /// assert_eq!(x.gradient()[(0, 0)], f32::INFINITY);
    /// assert!((x.gradient()[(0, 1)] - 1.0 / 3f32.sqrt()).abs() < 1e-6);
    /// assert!(x.gradient()[(0, 2)].is_nan());
    /// ```
    AcoshOp, Acosh, acosh, "acosh",
    |x| (x as f64).acosh() as f32,
    // (x - 1)(x + 1) rather than x² - 1, which cancels next to 1. Below -1 it is positive
    // again (and -0.0 at -1), so the domain is a select, as for atanh.
    |x, y| {
        let x = x as f64;
        if x >= 1.0 {
            (1.0 / ((x - 1.0) * (x + 1.0)).sqrt()) as f32
        } else {
            f32::NAN
        }
    },
    at 1.5, 4.0
);
unary_op!(
    /// Inverse hyperbolic tangent, elementwise, for `-1 ≤ x ≤ 1`: `½ ln((1 + x) / (1 − x))`,
    /// Fisher's z-transform of a correlation, or the inverse of a `tanh` squashing. The
    /// slope is `1 / (1 − x²)`: `+inf` at ±1, where the value is ±inf. Beyond ±1 the value
    /// and the slope are NaN.
    ///
    /// ```
    /// use wyrm::*;
    /// let x = ParameterNode::new(ndarray::arr2(&[[0.5, 1.0, 2.0]]));
    /// let y = x.atanh();
    /// y.forward();
    /// y.backward(1.0);
    /// assert!((y.value()[(0, 0)] - 0.54930615).abs() < 1e-6);
    /// assert_eq!(y.value()[(0, 1)], f32::INFINITY);
    /// assert!(y.value()[(0, 2)].is_nan());
    /// assert!((x.gradient()[(0, 0)] - 4.0 / 3.0).abs() < 1e-6);
    /// assert_eq!(x.gradient()[(0, 1)], f32::INFINITY);
    /// assert!(x.gradient()[(0, 2)].is_nan());
    /// ```
    AtanhOp, Atanh, atanh, "atanh",
    |x| (x as f64).atanh() as f32,
    // (1 - x)(1 + x) rather than 1 - x², which cancels next to ±1; its sign rules out
    // |x| > 1 (a select, so the loop stays vectorised).
    |x, y| {
        let x = x as f64;
        let d = (1.0 - x) * (1.0 + x);
        if d >= 0.0 {
            (1.0 / d) as f32
        } else {
            f32::NAN
        }
    },
    at 0.25, 0.5
);

#[cfg(test)]
mod tests {
    use crate::*;
    use ndarray::{arr2, Array2};

    /// Values and slopes against `f64` references, to `f32` rounding, across each domain,
    /// both signs, the far ends and next to the poles (where `f32::acosh(1.000001)` is 4e-4
    /// off, relatively).
    #[test]
    fn values_and_slopes_against_f64() {
        type Case = (&'static str, fn(f64) -> f64, fn(f64) -> f64, Vec<f32>);
        let cases: [Case; 3] = [
            (
                "asinh",
                f64::asinh,
                |x| 1.0 / (x * x + 1.0).sqrt(),
                vec![-1e30, -3e4, -2.0, -1e-8, 0.0, 1e-3, 0.7, 5.0, 1e19],
            ),
            (
                "acosh",
                f64::acosh,
                |x| 1.0 / (x * x - 1.0).sqrt(),
                vec![1.0 + 1e-6, 1.001, 1.5, 2.0, 30.0, 1e5, 1e25],
            ),
            (
                "atanh",
                f64::atanh,
                |x| 1.0 / (1.0 - x * x),
                vec![-0.999_999, -0.9, -0.3, -1e-7, 0.0, 0.5, 0.99, 0.999_99],
            ),
        ];
        for (name, value, slope, xs) in cases {
            let x = ParameterNode::new(Array2::from_shape_vec((1, xs.len()), xs.clone()).unwrap());
            let y = match name {
                "asinh" => x.asinh().boxed(),
                "acosh" => x.acosh().boxed(),
                _ => x.atanh().boxed(),
            };
            y.forward();
            y.backward(1.0);
            for (j, &v) in xs.iter().enumerate() {
                let v = v as f64;
                let (got, want) = (y.value()[(0, j)] as f64, value(v));
                assert!(
                    (got - want).abs() <= 1.2e-7 * want.abs(),
                    "{name}({v}) = {got}, want {want}"
                );
                let (got, want) = (x.gradient()[(0, j)] as f64, slope(v));
                assert!(
                    (got - want).abs() <= 1.2e-7 * want.abs(),
                    "{name}'s slope at {v} = {got}, want {want}"
                );
            }
        }
    }

    #[test]
    fn edges_of_the_domains() {
        let x = ParameterNode::new(arr2(&[[1.0, f32::INFINITY, 0.999, -1.0, -2.0, -1e30]]));
        let y = x.acosh();
        y.forward();
        y.backward(1.0);
        let (v, g) = (y.value().to_owned(), x.gradient());
        assert_eq!((v[(0, 0)], g[(0, 0)]), (0.0, f32::INFINITY));
        assert_eq!((v[(0, 1)], g[(0, 1)]), (f32::INFINITY, 0.0));
        // Below 1, -1 and beyond included (where (x - 1)(x + 1) is positive again).
        assert!(v.iter().skip(2).all(|v| v.is_nan()), "below 1: {v}");
        assert!(g.iter().skip(2).all(|g| g.is_nan()), "below 1: {g}");

        let x = ParameterNode::new(arr2(&[[1.0, -1.0, 1.5, -2.0, f32::NAN]]));
        let y = x.atanh();
        y.forward();
        y.backward(1.0);
        let (v, g) = (y.value().to_owned(), x.gradient());
        assert_eq!(
            v.slice(ndarray::s![.., ..2]),
            arr2(&[[f32::INFINITY, f32::NEG_INFINITY]])
        );
        assert_eq!(
            g.slice(ndarray::s![.., ..2]),
            arr2(&[[f32::INFINITY, f32::INFINITY]])
        );
        assert!(v.iter().skip(2).all(|v| v.is_nan()), "{v}");
        assert!(g.iter().skip(2).all(|g| g.is_nan()), "beyond ±1: {g}");

        let x = ParameterNode::new(arr2(&[[f32::INFINITY, f32::NEG_INFINITY]]));
        let y = x.asinh();
        y.forward();
        y.backward(1.0);
        assert_eq!(y.value(), arr2(&[[f32::INFINITY, f32::NEG_INFINITY]]));
        assert_eq!(x.gradient(), arr2(&[[0.0, 0.0]]));
    }

    #[test]
    fn gradients() {
        for (r, c) in [(1, 1), (2, 3), (4, 5), (3, 17)] {
            let any = ParameterNode::new(random_matrix(r, c) * 3.0);
            gradcheck::assert_gradient(&any.asinh(), &any);
            let above_one = ParameterNode::new(random_matrix(r, c).mapv(|v| 1.5 + v.abs()));
            gradcheck::assert_gradient(&above_one.acosh(), &above_one);
            let inside = ParameterNode::new(random_matrix(r, c).mapv(|v| 0.8 * v.tanh()));
            gradcheck::assert_gradient(&inside.atanh(), &inside);
        }
    }
}
