//! Standardisation: `standardize_rows(eps)` scales each row to mean 0 and variance 1,
//! `(x - mean) / sqrt(variance + eps)`, and `standardize_columns(eps)` each column. The
//! first is layer normalisation without its gain and bias (multiply and add those after),
//! the second batch normalisation's training-time transform. One node does what a mean,
//! a difference, a square, a second mean, a square root and a division would.

use super::cumulative::Along;
use super::single::{Single, SingleOp};
use crate::node::Node;
use crate::shape::Dim;
use crate::Variable;

/// `Σ f(x)` with eight partial sums (vectorisable, as [`kernels::sum`]).
///
/// [`kernels::sum`]: crate::kernels::sum
#[inline(always)]
fn sum_of(x: &[f32], f: impl Fn(f32) -> f32) -> f32 {
    let mut acc = [0.0f32; 8];
    let chunks = x.chunks_exact(8);
    let rest = chunks.remainder();
    for c in chunks {
        for (a, v) in acc.iter_mut().zip(c) {
            *a += f(*v);
        }
    }
    acc.iter().sum::<f32>() + rest.iter().map(|v| f(*v)).sum::<f32>()
}

/// How one contiguous run of values standardises: `y = (x · unit − center) · inverse`, and
/// `slope = 1 / sqrt(variance + eps)` in the values' own units, for the gradient.
struct Moments {
    unit: f32,
    center: f32,
    inverse: f32,
    slope: f32,
}

/// The mean and spread of a contiguous run of values. The mean is refined by a second
/// pass over the differences from a first estimate, whose rounding (relative to the
/// values, not to their spread) would otherwise shift every output of large values with a
/// small spread; the variance is summed from centred values.
///
/// Finite values whose sum or squared deviations overflow (a deviation past 1.8e19) are
/// measured again in a power-of-two unit of their largest magnitude: standardising does
/// not depend on the scale, and the overflow had turned such rows into zeros or NaNs.
#[inline]
fn moments(eps: f32, x: &[f32]) -> Moments {
    let n = x.len() as f32;
    let rough = crate::kernels::sum(x) / n;
    let mean = rough + sum_of(x, |v| v - rough) / n;
    let variance = sum_of(x, |v| (v - mean) * (v - mean)) / n;
    let unscaled = || {
        let inverse = 1.0 / (variance + eps).sqrt();
        Moments {
            unit: 1.0,
            center: mean,
            inverse,
            slope: inverse,
        }
    };
    if mean.is_finite() && variance.is_finite() {
        return unscaled();
    }
    let largest = x.iter().fold(0f32, |m, v| m.max(v.abs()));
    if !largest.is_finite() || largest == 0.0 {
        // An infinity: the NaNs it leads to are the honest answer (a NaN, which `max`
        // skips, stays one in the scaled sums below). Or no values at all.
        return unscaled();
    }
    // A power of two (exact to multiply by) that brings the largest magnitude to [1, 2),
    // or to [1, 2] at f32::MAX, whose log2 rounds to 128 (and 2^-128 to 0).
    let unit = 2f32.powi(-(largest.log2().floor().min(127.0) as i32));
    let rough = sum_of(x, |v| v * unit) / n;
    let center = rough + sum_of(x, |v| v * unit - rough) / n;
    let variance = sum_of(x, |v| (v * unit - center) * (v * unit - center)) / n;
    // In `f64`: `eps · unit²` is below `f32`'s range, and a row of equal values needs it.
    let scaled = f64::from(variance) + f64::from(eps) * f64::from(unit).powi(2);
    let inverse = 1.0 / scaled.sqrt();
    Moments {
        unit,
        center,
        // Capped: a row of equal values has no deviation to multiply, and 0 · inf is NaN.
        inverse: inverse.min(f64::from(f32::MAX)) as f32,
        slope: (inverse * f64::from(unit)) as f32,
    }
}

/// Standardises one contiguous row `x` into `y`.
#[inline]
fn standardize(eps: f32, x: &[f32], y: &mut [f32]) {
    let Moments {
        unit,
        center,
        inverse,
        ..
    } = moments(eps, x);
    if unit == 1.0 {
        // The usual case, without the multiplication.
        crate::kernels::map_into(y, x, |v| (v - center) * inverse);
    } else {
        crate::kernels::map_into(y, x, |v| (v * unit - center) * inverse);
    }
}

/// The gradient of one contiguous row's standardisation: with `y` the standardised
/// values and `σ = sqrt(variance + eps)`, `(g - mean(g) - y · mean(g · y)) / σ`.
#[inline]
fn gradient(eps: f32, (g, x, y): (&[f32], &[f32], &[f32]), gx: &mut [f32]) {
    let slope = moments(eps, x).slope;
    let n = x.len() as f32;
    let mean_g = crate::kernels::sum(g) / n;
    let mean_gy = crate::kernels::dot(g, y) / n;
    for ((gx, g), y) in gx.iter_mut().zip(g).zip(y) {
        *gx = (g - mean_g - y * mean_gy) * slope;
    }
}

/// Applies `row_op` to each column as a contiguous row: copies the columns of the
/// `(rows, cols)` operands in `inputs` into rows of a thread-local buffer, and the
/// results back into `out`'s columns.
fn by_columns<const N: usize>(
    (rows, cols): (usize, usize),
    inputs: [&[f32]; N],
    out: &mut [f32],
    mut row_op: impl FnMut([&[f32]; N], &mut [f32]),
) {
    thread_local! {
        static COLUMNS: std::cell::RefCell<Vec<f32>> = const { std::cell::RefCell::new(Vec::new()) };
    }
    COLUMNS.with(|buffer| {
        let mut buffer = buffer.borrow_mut();
        buffer.clear();
        buffer.resize((N + 1) * rows, 0.0);
        for c in 0..cols {
            let (columns, result) = buffer.split_at_mut(N * rows);
            for (k, input) in inputs.iter().enumerate() {
                for r in 0..rows {
                    columns[k * rows + r] = input[r * cols + c];
                }
            }
            let columns: [&[f32]; N] = std::array::from_fn(|k| &columns[k * rows..(k + 1) * rows]);
            row_op(columns, result);
            for r in 0..rows {
                out[r * cols + c] = result[r];
            }
        }
    });
}

/// Panics unless `eps` is finite and positive (a row of equal values would divide by 0).
#[track_caller]
fn check_eps(name: &str, eps: f32) {
    crate::checks::check_setting(name, eps, crate::checks::Range::Positive);
}

/// Each row (or each column) to mean 0 and variance 1; node type [`Standardize`]. Built
/// by [`standardize_rows`](Variable::standardize_rows) and
/// [`standardize_columns`](Variable::standardize_columns).
///
/// ```
/// use wyrm::nodes::{SingleOp, StandardizeOp};
/// let mut y = [0.0; 3];
/// StandardizeOp::rows(1e-6).forward(&[1.0, 2.0, 3.0], (1, 3), &mut y);
/// let scale = (2.0f32 / 3.0).sqrt(); // the row's standard deviation
/// assert!((y[0] + 1.0 / scale).abs() < 1e-5 && y[1] == 0.0 && (y[2] - 1.0 / scale).abs() < 1e-5);
/// let mut y = [0.0; 4];
/// StandardizeOp::columns(1e-6).forward(&[1.0, 10.0, 3.0, 10.0], (2, 2), &mut y);
/// assert!((y[0] + 1.0).abs() < 1e-5 && (y[2] - 1.0).abs() < 1e-5);
/// assert_eq!((y[1], y[3]), (0.0, 0.0)); // a constant column
/// ```
#[derive(Debug, Clone, Copy)]
pub struct StandardizeOp {
    eps: f32,
    along: Along,
}

impl StandardizeOp {
    /// Standardises each row, with `eps` added to each variance.
    ///
    /// ```
    /// use wyrm::nodes::StandardizeOp;
    /// let _ = StandardizeOp::rows(1e-5);
    /// ```
    ///
    /// # Panics
    /// If `eps` is not finite and positive.
    #[track_caller]
    pub fn rows(eps: f32) -> Self {
        check_eps("standardize_rows: eps", eps);
        StandardizeOp {
            eps,
            along: Along::Rows,
        }
    }

    /// Standardises each column, with `eps` added to each variance.
    ///
    /// ```
    /// use wyrm::nodes::StandardizeOp;
    /// let _ = StandardizeOp::columns(1e-5);
    /// ```
    ///
    /// # Panics
    /// If `eps` is not finite and positive.
    #[track_caller]
    pub fn columns(eps: f32) -> Self {
        check_eps("standardize_columns: eps", eps);
        StandardizeOp {
            eps,
            along: Along::Columns,
        }
    }
}

impl SingleOp for StandardizeOp {
    type Rows<R: Dim, C: Dim> = R;
    type Cols<R: Dim, C: Dim> = C;

    fn output_shape(&self, shape: (usize, usize)) -> (usize, usize) {
        shape
    }
    #[inline]
    fn forward(&self, x: &[f32], shape: (usize, usize), y: &mut [f32]) {
        let eps = self.eps;
        match self.along {
            Along::Rows => {
                // `max(1)`: a row of no columns is nothing to standardise (and a chunk
                // size of 0 would panic).
                let cols = shape.1.max(1);
                for (x, y) in x.chunks_exact(cols).zip(y.chunks_exact_mut(cols)) {
                    standardize(eps, x, y);
                }
            }
            Along::Columns => by_columns(shape, [x], y, |[x], y| standardize(eps, x, y)),
        }
    }
    #[inline]
    fn backward(&self, g: &[f32], x: &[f32], y: &[f32], shape: (usize, usize), gx: &mut [f32]) {
        let eps = self.eps;
        match self.along {
            Along::Rows => {
                let cols = shape.1.max(1);
                let rows = g.chunks_exact(cols).zip(x.chunks_exact(cols));
                let rows = rows.zip(y.chunks_exact(cols).zip(gx.chunks_exact_mut(cols)));
                for ((g, x), (y, gx)) in rows {
                    gradient(eps, (g, x, y), gx);
                }
            }
            Along::Columns => by_columns(shape, [g, x, y], gx, |[g, x, y], gx| {
                gradient(eps, (g, x, y), gx)
            }),
        }
    }
}

/// Node for [`Variable::standardize_rows`] and [`Variable::standardize_columns`].
///
/// ```
/// use wyrm::*;
/// use wyrm::nodes::Standardize;
/// let x = InputNode::new(ndarray::arr2(&[[1.0, 3.0]]));
/// let y: Variable<Standardize<InputNode>> = x.standardize_rows(1e-6);
/// y.forward();
/// assert!((y.value()[(0, 1)] - 1.0).abs() < 1e-5);
/// ```
pub type Standardize<T> = Single<StandardizeOp, T>;

impl<T: Node> Variable<T> {
    /// Each row scaled to mean 0 and variance 1: `(x - mean) / sqrt(variance + eps)`, the
    /// variance over the row's `n` values (divided by `n`). Layer normalisation is this
    /// times a gain plus a bias, both `1 x cols` parameters:
    ///
    /// ```
    /// use wyrm::rand::{rngs::StdRng, SeedableRng};
    /// use wyrm::*;
    ///
    /// // 4 tokens, 8 features; seeded, as gradient checks should be (see `gradcheck`)
    /// let x = ParameterNode::new(init::normal(4, 8, 0.0, 1.0, &mut StdRng::seed_from_u64(1)));
    /// let gain = ParameterNode::new(ndarray::Array2::ones((1, 8)));
    /// let bias = ParameterNode::new(ndarray::Array2::zeros((1, 8)));
    /// let normalised = x.standardize_rows(1e-5) * gain.clone() + bias.clone();
    /// normalised.forward();
    /// for row in normalised.value().rows() {
    ///     let mean = row.mean().unwrap();
    ///     let variance = row.mapv(|v| (v - mean).powi(2)).mean().unwrap();
    ///     assert!(mean.abs() < 1e-5 && (variance - 1.0).abs() < 1e-3);
    /// }
    /// gradcheck::assert_gradients(&(normalised.tanh() * 3.0));
    /// ```
    ///
    /// A row of equal values becomes zeros, with the gradient of a mean removed (`eps`
    /// keeps it finite).
    ///
    /// # Panics
    /// If `eps` is not finite and positive (at construction).
    #[track_caller]
    pub fn standardize_rows(&self, eps: f32) -> Variable<Standardize<T>> {
        self.apply(StandardizeOp::rows(eps))
    }

    /// Each column scaled to mean 0 and variance 1 over the rows (a batch):
    /// `(x - mean) / sqrt(variance + eps)`, batch normalisation's transform while
    /// training; see [`standardize_rows`](Self::standardize_rows).
    ///
    /// ```
    /// use wyrm::*;
    ///
    /// let features = InputNode::new(ndarray::arr2(&[[1.0, 100.0], [3.0, 300.0]]));
    /// let y = features.standardize_columns(1e-5);
    /// y.forward();
    /// // Both columns become about [-1, 1], whatever their scale.
    /// assert!((y.value()[(0, 1)] + 1.0).abs() < 1e-4 && (y.value()[(1, 0)] - 1.0).abs() < 1e-4);
    /// ```
    ///
    /// # Panics
    /// If `eps` is not finite and positive (at construction).
    #[track_caller]
    pub fn standardize_columns(&self, eps: f32) -> Variable<Standardize<T>> {
        self.apply(StandardizeOp::columns(eps))
    }
}

#[cfg(test)]
mod tests {
    use crate::*;
    use ndarray::{arr2, Array2, Axis};

    /// Standardised along `axis` (1: each row, 0: each column), naively in f64.
    fn reference(x: &Array2<f32>, axis: usize, eps: f64) -> Array2<f64> {
        let x = x.mapv(f64::from);
        let n = x.len_of(Axis(axis)) as f64;
        let mean = x.sum_axis(Axis(axis)).insert_axis(Axis(axis)) / n;
        let centred = &x - &mean;
        let variance = centred
            .mapv(|v| v * v)
            .sum_axis(Axis(axis))
            .insert_axis(Axis(axis))
            / n;
        centred / variance.mapv(|v| (v + eps).sqrt())
    }

    #[test]
    fn values_match_a_naive_computation() {
        for (r, c) in [(1, 1), (1, 5), (4, 1), (3, 7)] {
            let m = random_matrix(r, c) * 3.0 + 10.0;
            let x = InputNode::new(m.clone());
            for (axis, y) in [
                (1, x.standardize_rows(1e-3).boxed()),
                (0, x.standardize_columns(1e-3).boxed()),
            ] {
                y.forward();
                let expected = reference(&m, axis, 1e-3);
                for (y, e) in y.value().iter().zip(&expected) {
                    assert!((*y as f64 - e).abs() < 1e-5, "{y} vs {e}");
                }
            }
        }
    }

    /// Large values with a small spread: the refined mean and the variance summed from
    /// centred values keep it (with the mean of one f32 sum, alternating 1e4 and
    /// 1e4 + 0.01 came out as -0.784 and 1.176 instead of about ±1).
    #[test]
    fn large_values_keep_their_spread() {
        let alternating = Array2::from_shape_fn((1, 64), |(_, j)| 1e4 + (j % 2) as f32 * 0.01);
        for (axis, y) in [
            (
                1,
                InputNode::new(alternating.clone())
                    .standardize_rows(1e-8)
                    .boxed(),
            ),
            (
                0,
                InputNode::new(alternating.t().to_owned())
                    .standardize_columns(1e-8)
                    .boxed(),
            ),
        ] {
            y.forward();
            let x = if axis == 1 {
                alternating.clone()
            } else {
                alternating.t().to_owned()
            };
            let expected = reference(&x, axis, 1e-8);
            for (y, e) in y.value().iter().zip(&expected) {
                assert!((*y as f64 - e).abs() < 1e-3, "{y} vs {e}");
            }
        }
        let x = InputNode::new(arr2(&[[1e6, 1e6 + 1.0, 1e6 + 2.0, 1e6 + 3.0]]));
        let y = x.standardize_rows(1e-6);
        y.forward();
        let expected = reference(&x.value(), 1, 1e-6);
        for (y, e) in y.value().iter().zip(&expected) {
            assert!((*y as f64 - e).abs() < 1e-5, "{y} vs {e}");
        }
    }

    /// Values whose sum or squared deviations overflow `f32`: standardising does not
    /// depend on the scale, so a row scaled by a power of two standardises to the same
    /// values, with the gradient scaled back (the overflow had given zeros and NaNs).
    #[test]
    fn huge_values_standardise_as_small_ones() {
        let x = ParameterNode::new(arr2(&[[2e19, -2e19, 0.0]]));
        let y = x.standardize_rows(1e-5);
        y.forward();
        let s = 1.5f32.sqrt();
        assert!(
            (y.value()[(0, 0)] - s).abs() < 1e-6 && y.value()[(0, 2)] == 0.0,
            "{}",
            y.value()
        );
        let max = f32::MAX;
        let x = ParameterNode::new(arr2(&[
            [3e38, 3e38, 2e38],
            [3e38, 3e38, 3e38],
            [max, -max, 0.0],
        ]));
        let y = x.standardize_rows(1e-5);
        y.forward();
        let upstream = arr2(&[[1.0, 2.0, 0.5], [1.0, -1.0, 3.0], [0.5, 1.0, 2.0]]);
        y.backward_with(upstream.view());
        let expected = reference(&x.value(), 1, 1e-5);
        for (y, e) in y.value().iter().zip(&expected) {
            assert!((*y as f64 - e).abs() < 1e-5, "{y} vs {e}");
        }
        // The constant row's gradient is the upstream less its mean, over sqrt(eps); the
        // others' are finite (at f32::MAX, `unit` had become 0 and the slope NaN).
        let g = x.gradient();
        assert!(g.iter().all(|g| g.is_finite()), "{g}");
        let constant = [0.0f32, -2.0, 2.0].map(|d| d / 1e-5f32.sqrt());
        for (got, want) in g.row(1).iter().zip(constant) {
            assert!(
                (got - want).abs() < 1e-3 * want.abs().max(1.0),
                "{got} vs {want}"
            );
        }

        let small = random_matrix(4, 5);
        let upstream = random_matrix(4, 5);
        let run = |scale: f32, rows: bool| {
            let x = ParameterNode::new(small.mapv(|v| v * scale));
            let y = if rows {
                x.standardize_rows(1e-12).boxed()
            } else {
                x.standardize_columns(1e-12).boxed()
            };
            y.forward();
            y.backward_with(upstream.view());
            (y.value().to_owned(), x.gradient() * scale)
        };
        for rows in [true, false] {
            let (value, gradient) = run(1.0, rows);
            // (An `eps` that counts at neither scale; and not down, where it would.)
            for scale in [2f32.powi(70), 2f32.powi(100), 2f32.powi(120)] {
                let (v, g) = run(scale, rows);
                for (a, b) in v.iter().zip(&value).chain(g.iter().zip(&gradient)) {
                    assert!(
                        (a - b).abs() < 1e-4 * b.abs().max(1.0),
                        "{a} vs {b} at {scale}"
                    );
                }
            }
        }
    }

    #[test]
    fn gradients() {
        for (r, c) in [(1, 3), (1, 5), (4, 1), (3, 6), (5, 3)] {
            // Spread out: a few values close together have a small variance, and
            // curvature beyond what a step of 0.01 can follow.
            let spread = Array2::from_shape_fn((r, c), |(i, j)| (i * c + j) as f32 * 0.4);
            let x = ParameterNode::new(random_matrix(r, c) * 0.3 + spread);
            for eps in [1e-5, 0.5] {
                // One value standardises to 0 and two to about ±1, whatever they are:
                // nothing to check there.
                if c > 2 {
                    // The sum of standardised values is constant: weight them unevenly.
                    gradcheck::assert_gradient(&(x.standardize_rows(eps) * x.clone()), &x);
                    gradcheck::assert_gradient(&x.standardize_rows(eps).sigmoid(), &x);
                }
                if r > 2 {
                    gradcheck::assert_gradient(&(x.standardize_columns(eps) * x.clone()), &x);
                    gradcheck::assert_gradient(&x.standardize_columns(eps).sigmoid(), &x);
                }
            }
        }
    }

    /// A row of equal values (or a row of one) becomes zeros; its gradient is the
    /// upstream gradient less its mean, over `sqrt(eps)`.
    #[test]
    fn equal_values() {
        let x = ParameterNode::new(arr2(&[[2.0, 2.0, 2.0], [5.0, 5.0, 5.0]]));
        let y = x.standardize_rows(0.25);
        y.forward();
        assert_eq!(y.value(), Array2::<f32>::zeros((2, 3)));
        y.backward_with(arr2(&[[1.0, 2.0, 3.0], [0.0, 0.0, 3.0]]).view());
        assert_eq!(x.gradient(), arr2(&[[-2.0, 0.0, 2.0], [-2.0, -2.0, 4.0]]));
    }

    /// Rows of no columns (and no rows at all) standardise to nothing, without a panic.
    #[test]
    fn empty_operands() {
        for shape in [(3, 0), (0, 3), (0, 0)] {
            let x = ParameterNode::new(Array2::zeros(shape));
            for y in [
                x.standardize_rows(1e-5).boxed(),
                x.standardize_columns(1e-5).boxed(),
            ] {
                y.forward();
                y.backward(1.0);
                assert_eq!(y.value().dim(), shape);
                assert_eq!(x.gradient().dim(), shape);
            }
        }
    }

    #[test]
    #[should_panic(expected = "standardize_rows: eps")]
    fn eps_must_be_positive() {
        let _ = InputNode::new(random_matrix(2, 2)).standardize_rows(0.0);
    }

    #[test]
    #[should_panic(expected = "standardize_columns: eps")]
    fn eps_must_be_finite() {
        let _ = InputNode::new(random_matrix(2, 2)).standardize_columns(f32::NAN);
    }
}
