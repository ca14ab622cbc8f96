//! Row-wise `softmax` and `log_softmax`: each row of a minibatch is normalised on its own
//! (wyrm 0.9 normalised the whole matrix). Both subtract the row maximum first, so large
//! inputs do not overflow.
//!
//! Each is a [`SingleOp`] applying its row rule to every row; the shared [`Single`] node
//! does the caching and gradient bookkeeping.

use super::single::{Single, SingleOp};
use crate::node::Node;
use crate::shape::{fmt_shape, Dim};
use crate::Variable;

/// Checks that rows have at least one column (a row of nothing cannot be normalised).
#[track_caller]
fn row_shape(name: &str, shape: (usize, usize)) -> (usize, usize) {
    assert!(
        shape.1 > 0,
        "`{name}`: the operand is {}; rows must have at least one column",
        fmt_shape(shape)
    );
    shape
}

/// `softmax(x)_i = exp(x_i - max x) / sum_j exp(x_j - max x)` on each row; node type
/// [`Softmax`].
///
/// ```
/// use wyrm::*;
/// use wyrm::nodes::{Single, SoftmaxOp};
/// let x = ParameterNode::new(ndarray::arr2(&[[1.0, 1.0]]));
/// let y: Variable<Single<SoftmaxOp, ParameterNode>> = x.apply(SoftmaxOp);
/// y.forward();
/// y.backward(1.0);
/// assert_eq!(y.value(), ndarray::arr2(&[[0.5, 0.5]]));
/// // A row always sums to 1, so the gradient of that sum is 0.
/// assert_eq!(x.gradient(), ndarray::arr2(&[[0.0, 0.0]]));
/// ```
#[derive(Debug, Clone, Copy)]
pub struct SoftmaxOp;

impl SingleOp for SoftmaxOp {
    type Rows<R: Dim, C: Dim> = R;
    type Cols<R: Dim, C: Dim> = C;

    #[track_caller]
    fn output_shape(&self, shape: (usize, usize)) -> (usize, usize) {
        row_shape("softmax", shape)
    }

    #[inline]
    fn forward(&self, x: &[f32], shape: (usize, usize), y: &mut [f32]) {
        let apply = || {
            for (y, x) in y.chunks_exact_mut(shape.1).zip(x.chunks_exact(shape.1)) {
                let total = crate::kernels::exp_shifted(x, row_max(x), y);
                let inv = 1.0 / total;
                y.iter_mut().for_each(|y| *y *= inv);
            }
        };
        vectorized_if_large(shape, apply)
    }

    /// Per row, `gx_i = y_i (g_i - sum_j g_j y_j)`.
    #[inline]
    fn backward(&self, g: &[f32], _: &[f32], y: &[f32], shape: (usize, usize), gx: &mut [f32]) {
        for ((gx, g), y) in rows(gx, g, y, shape.1) {
            let gy = crate::kernels::dot(g, y);
            for ((gx, g), y) in gx.iter_mut().zip(g).zip(y) {
                *gx = *y * (*g - gy);
            }
        }
    }
}

/// `log_softmax(x)_i = x_i - max x - ln(sum_j exp(x_j - max x))` on each row; node type
/// [`LogSoftmax`].
///
/// ```
/// use wyrm::*;
/// use wyrm::nodes::{LogSoftmaxOp, Single};
/// let x = ParameterNode::new(ndarray::arr2(&[[0.0, 0.0]]));
/// let y: Variable<Single<LogSoftmaxOp, ParameterNode>> = x.apply(LogSoftmaxOp);
/// y.forward();
/// y.backward(1.0);
/// assert!((y.value()[(0, 0)] - 0.5f32.ln()).abs() < 1e-6);
/// // d/dx_i of the row's total is 1 - n softmax(x)_i (n = 2 columns) = 0 here.
/// assert!(x.gradient().iter().all(|g| g.abs() < 1e-6));
/// ```
#[derive(Debug, Clone, Copy)]
pub struct LogSoftmaxOp;

impl SingleOp for LogSoftmaxOp {
    type Rows<R: Dim, C: Dim> = R;
    type Cols<R: Dim, C: Dim> = C;

    #[track_caller]
    fn output_shape(&self, shape: (usize, usize)) -> (usize, usize) {
        row_shape("log_softmax", shape)
    }

    #[inline]
    fn forward(&self, x: &[f32], shape: (usize, usize), y: &mut [f32]) {
        let apply = || {
            for (y, x) in y.chunks_exact_mut(shape.1).zip(x.chunks_exact(shape.1)) {
                let max = row_max(x);
                // The exponentials in `y` first, overwritten below.
                let log_total = crate::kernels::ln(crate::kernels::exp_shifted(x, max, y));
                for (y, x) in y.iter_mut().zip(x) {
                    *y = (*x - max) - log_total;
                }
            }
        };
        vectorized_if_large(shape, apply)
    }

    /// Per row, `gx_i = g_i - softmax(x)_i sum_j g_j`, with `softmax(x)_i = exp(y_i)`.
    #[inline]
    fn backward(&self, g: &[f32], _: &[f32], y: &[f32], shape: (usize, usize), gx: &mut [f32]) {
        let apply = || {
            for ((gx, g), y) in rows(gx, g, y, shape.1) {
                let total = crate::kernels::sum(g);
                for ((gx, g), y) in gx.iter_mut().zip(g).zip(y) {
                    *gx = *g - crate::kernels::exp(*y) * total;
                }
            }
        };
        vectorized_if_large(shape, apply)
    }
}

/// The rows of the operand gradient, upstream gradient and output, side by side.
#[inline]
fn rows<'a>(
    gx: &'a mut [f32],
    g: &'a [f32],
    y: &'a [f32],
    cols: usize,
) -> impl Iterator<Item = ((&'a mut [f32], &'a [f32]), &'a [f32])> {
    gx.chunks_exact_mut(cols)
        .zip(g.chunks_exact(cols))
        .zip(y.chunks_exact(cols))
}

/// Runs `apply` compiled for AVX2 (see [`vectorized`](crate::kernels::simd::vectorized))
/// where rows are long enough to fill its lanes, else as is: a few classes' rows (a
/// serving request's 4) gain nothing from it but the call.
#[inline(always)]
fn vectorized_if_large(shape: (usize, usize), apply: impl FnOnce()) {
    if shape.1 >= 16 {
        crate::kernels::simd::vectorized(apply)
    } else {
        apply()
    }
}

/// The largest element of a non-empty row.
#[inline]
fn row_max(x: &[f32]) -> f32 {
    crate::kernels::max(x)
}

/// Node for the row-wise softmax.
///
/// ```
/// use wyrm::*;
/// use wyrm::nodes::Softmax;
/// let x = InputNode::new(ndarray::arr2(&[[1.0, 2.0, 3.0]]));
/// let p: Variable<Softmax<InputNode>> = x.softmax();
/// p.forward();
/// assert!((p.value().sum() - 1.0).abs() < 1e-6);
/// ```
pub type Softmax<T> = Single<SoftmaxOp, T>;
/// Node for the row-wise log-softmax.
///
/// ```
/// use wyrm::*;
/// use wyrm::nodes::LogSoftmax;
/// let x = InputNode::new(ndarray::arr2(&[[1.0, 2.0, 3.0]]));
/// let l: Variable<LogSoftmax<InputNode>> = x.log_softmax();
/// l.forward();
/// // The log-probabilities of a row: their exponentials sum to 1.
/// assert!((l.value().mapv(f32::exp).sum() - 1.0).abs() < 1e-6);
/// ```
pub type LogSoftmax<T> = Single<LogSoftmaxOp, T>;

impl<T: Node> Variable<T> {
    /// Softmax of each row on its own: every row of the result is non-negative and sums to
    /// 1 (an entry whose logit is about 100 or more below its row's largest underflows to 0).
    /// Numerically stable (the row maximum is subtracted first).
    ///
    /// ```
    /// use wyrm::*;
    /// let x = InputNode::new(ndarray::arr2(&[[0.0, 0.0], [1000.0, 1000.0]]));
    /// let p = x.softmax();
    /// p.forward();
    /// // Rows are normalised separately, and large values do not overflow.
    /// assert_eq!(p.value().to_owned(), ndarray::arr2(&[[0.5, 0.5], [0.5, 0.5]]));
    /// ```
    ///
    /// **Masking** (padded sequences in attention, causal attention): add an input holding
    /// 0 where a column is allowed and a large negative number where it is not. Masked
    /// entries get probability 0 and send no gradient, so one graph built for the longest
    /// sequence serves shorter ones padded. Use a finite number such as `-1e9` rather than
    /// `f32::NEG_INFINITY`: a row masked entirely then stays finite, where with infinities
    /// it would be NaN. Its probabilities then come from its scores rounded at the mask's
    /// scale (`f32` steps are 64 apart near `-1e9`: about uniform for scores within a few
    /// units of each other, but not in general), so multiply such a row's output by 0 if
    /// it must not count.
    ///
    /// ```
    /// use wyrm::*;
    /// let scores = ParameterNode::new(ndarray::arr2(&[[0.5, 1.0, 2.0], [0.5, 1.0, 2.0]]));
    /// // The first row's sequence has two tokens, the second's three.
    /// let mask = InputNode::new(ndarray::arr2(&[[0.0, 0.0, -1e9], [0.0, 0.0, 0.0]]));
    /// let p = (scores.clone() + mask).softmax();
    /// p.forward();
    /// assert_eq!(p.value()[(0, 2)], 0.0);
    /// assert!((p.value()[(0, 0)] + p.value()[(0, 1)] - 1.0).abs() < 1e-6);
    /// p.backward_with(ndarray::arr2(&[[1.0, -2.0, 3.0], [1.0, -2.0, 3.0]]).view());
    /// assert_eq!(scores.gradient()[(0, 2)], 0.0);
    /// ```
    ///
    /// # Panics
    /// If `self` has no columns (at construction).
    #[track_caller]
    pub fn softmax(&self) -> Variable<Softmax<T>> {
        self.apply(SoftmaxOp)
    }

    /// Logarithm of the softmax of each row on its own, computed stably as
    /// `x - max(row) - ln(sum(exp(row - max(row))))`.
    ///
    /// ```
    /// use wyrm::*;
    /// let x = InputNode::new(ndarray::arr2(&[[1.0, 1.0, 1.0, 1.0]]));
    /// let l = x.log_softmax();
    /// l.forward();
    /// assert!((l.value()[(0, 2)] - 0.25f32.ln()).abs() < 1e-5);
    /// ```
    ///
    /// # Panics
    /// If `self` has no columns (at construction).
    #[track_caller]
    pub fn log_softmax(&self) -> Variable<LogSoftmax<T>> {
        self.apply(LogSoftmaxOp)
    }
}

#[cfg(test)]
mod tests {
    use crate::*;
    use ndarray::{arr2, Array2};

    /// Row-wise softmax computed naively in f64.
    fn reference(x: &Array2<f32>) -> Array2<f64> {
        let mut out = Array2::zeros(x.dim());
        for (i, row) in x.rows().into_iter().enumerate() {
            let total: f64 = row.iter().map(|v| (*v as f64).exp()).sum();
            for (j, v) in row.iter().enumerate() {
                out[(i, j)] = (*v as f64).exp() / total;
            }
        }
        out
    }

    #[test]
    fn values_are_row_wise() {
        let x = arr2(&[[1.0, 2.0, 3.0], [-1.0, 0.5, 0.0]]);
        let input = InputNode::new(x.clone());
        let (p, l) = (input.softmax(), input.log_softmax());
        p.forward();
        l.forward();
        let expected = reference(&x);
        for ((p, l), e) in p.value().iter().zip(l.value().iter()).zip(expected.iter()) {
            assert!((*p as f64 - e).abs() < 1e-5, "softmax {p} vs {e}");
            assert!(
                (*l as f64 - e.ln()).abs() < 1e-5,
                "log_softmax {l} vs {}",
                e.ln()
            );
        }
        for row in p.value().rows() {
            assert!((row.sum() - 1.0).abs() < 1e-5);
        }
    }

    #[test]
    fn stable_for_large_inputs() {
        let input = InputNode::new(arr2(&[[1000.0, 1001.0], [-1000.0, -1001.0]]));
        let (p, l) = (input.softmax(), input.log_softmax());
        p.forward();
        l.forward();
        assert!(p.value().iter().all(|v| v.is_finite()));
        assert!((p.value()[(0, 1)] - 0.731_058_6).abs() < 1e-5);
        assert!((p.value()[(1, 0)] - 0.731_058_6).abs() < 1e-5);
        assert!((l.value()[(0, 0)] - (-1.313_261_7)).abs() < 1e-4);
    }

    #[test]
    fn log_softmax_keeps_its_precision_for_very_large_inputs() {
        // Subtracting max + ln(sum) at once rounds ln(sum) away next to a large max.
        let x = ParameterNode::new(arr2(&[[1e7, 1e7], [1e4, 9999.0]]));
        let l = x.log_softmax();
        l.forward();
        let ln2 = std::f32::consts::LN_2;
        let near = |a: f32, b: f32| (a - b).abs() < 1e-6;
        assert!(near(l.value()[(0, 0)], -ln2) && near(l.value()[(0, 1)], -ln2));
        assert!(near(l.value()[(1, 0)], -0.313_261_7), "{}", l.value());
        l.backward_with(arr2(&[[1.0, 0.0], [0.0, 0.0]]).view());
        assert!(near(x.gradient()[(0, 0)], 0.5) && near(x.gradient()[(0, 1)], -0.5));
    }

    #[test]
    fn recomputed_on_every_pass() {
        let input = InputNode::new(arr2(&[[0.0, 0.0]]));
        let p = input.softmax();
        p.forward();
        input.set_value(arr2(&[[0.0, 2f32.ln()]]));
        p.forward();
        assert!((p.value()[(0, 1)] - 2.0 / 3.0).abs() < 1e-6);
    }

    #[test]
    fn gradients() {
        for (r, c) in [(1, 1), (1, 5), (3, 4), (5, 2)] {
            let x = ParameterNode::new(random_matrix(r, c));
            if c == 1 {
                // Each row is the constant 1 (or 0 in logs): the gradient is 0, which a
                // gradient check could not tell from a small wrong one.
                for y in [x.softmax().boxed(), x.log_softmax().boxed()] {
                    y.forward();
                    y.backward_with(random_matrix(r, c).view());
                    assert_eq!(x.gradient(), ndarray::Array2::zeros((r, c)));
                }
            } else {
                gradcheck::assert_gradient(&x.softmax(), &x);
                gradcheck::assert_gradient(&x.log_softmax(), &x);
            }
            // Inside a larger graph, with the operand shared.
            gradcheck::assert_gradient(&(x.softmax() * x.clone()), &x);
        }
    }

    #[test]
    fn no_gradient_work_without_parameters() {
        let p = InputNode::new(random_matrix(2, 3)).softmax();
        assert!(!p.needs_gradient());
        p.forward();
        p.backward(1.0);
    }

    #[test]
    #[should_panic(expected = "`softmax`: the operand is 3x0")]
    fn empty_rows_panic() {
        let _ = InputNode::new(Array2::zeros((3, 0))).softmax();
    }
}
