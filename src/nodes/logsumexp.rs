//! Log-sum-exp reductions: `logsumexp_rows` (`ln Σ_j exp(x_ij)` for each row: `rows x 1`)
//! and `logsumexp_columns` (for each column: `1 x cols`), computed stably by taking the
//! largest value out first. They are the soft maxima of a linear-chain CRF's forward
//! algorithm, a mixture's log-likelihood and a softmax loss's normaliser. The gradient is
//! the softmax of the reduced values, so one node does what `max`, `-`, `exp`, a sum,
//! `ln` and `+` would (with one exponential per element in each pass, where those nodes'
//! backward pass reuses the forward pass's).

use super::single::{Single, SingleOp};
use crate::node::Node;
use crate::shape::{fmt_shape, Dim};
use crate::Variable;
use typenum::U1;

/// `ln Σ exp(x)` over `xs`, as `m + ln Σ exp(x - m)` with `m` the largest: `-inf` when
/// all are `-inf`, `+inf` when one is `+inf`, NaN when one is NaN.
#[inline]
pub(super) fn logsumexp(xs: impl Iterator<Item = f32> + Clone) -> f32 {
    let max = xs.clone().fold(f32::NEG_INFINITY, f32::max);
    if max.is_infinite() {
        // All -inf: the sum is 0. A +inf: so is the result. (`x - max` would be NaN.)
        // A NaN among them is skipped by `f32::max`, so it still reaches the sum below.
        return if xs.clone().any(f32::is_nan) {
            f32::NAN
        } else {
            max
        };
    }
    let total: f32 = xs.map(|x| crate::kernels::exp(x - max)).sum();
    max + crate::kernels::ln(total)
}

/// Writes the gradient of one log-sum-exp, `g` times the softmax of the `n` values
/// `x[at(i)]`, into `gx[at(i)]`. From the values' largest, as the forward pass takes it,
/// and not from the rounded result `y`: `exp(x - y)` is off by 0.2% at values near 1e5,
/// where `y`'s `ln Σ` part is rounded to the spacing of `f32`s there. All `-inf`: no
/// gradient (nothing moves the result). Some `+inf`: `g` shared between them.
#[inline]
fn softmax_gradient(g: f32, n: usize, x: &[f32], gx: &mut [f32], at: impl Fn(usize) -> usize) {
    let max = (0..n).map(|i| x[at(i)]).fold(f32::NEG_INFINITY, f32::max);
    if max.is_infinite() {
        let infinities = (0..n).filter(|&i| x[at(i)] == max).count() as f32;
        for i in 0..n {
            let x = x[at(i)];
            gx[at(i)] = if x.is_nan() {
                f32::NAN
            } else if max == f32::INFINITY && x == max {
                g / infinities
            } else {
                0.0
            };
        }
        return;
    }
    let mut total = 0.0;
    for i in 0..n {
        let e = crate::kernels::exp(x[at(i)] - max);
        gx[at(i)] = e;
        total += e;
    }
    let scale = g / total;
    for i in 0..n {
        gx[at(i)] *= scale;
    }
}

/// Panics unless the reduced dimension is non-empty: the log-sum-exp of nothing is
/// `-inf`, which would turn the rest of a loss into NaN far from its cause.
#[track_caller]
fn reduced(name: &str, shape: (usize, usize), len: usize, what: &str) {
    assert!(
        len > 0,
        "`{name}`: the operand is {}; {what} must have at least one element",
        fmt_shape(shape)
    );
}

/// `ln Σ_j exp(x_ij)` of each row, `rows x 1`; node type [`LogSumExpRows`].
///
/// ```
/// use wyrm::*;
/// use wyrm::nodes::{LogSumExpRowsOp, Single};
/// let x = ParameterNode::new(ndarray::arr2(&[[0.0, 0.0], [1.0, 1.0]]));
/// let y: Variable<Single<LogSumExpRowsOp, ParameterNode>> = x.apply(LogSumExpRowsOp);
/// y.forward();
/// y.backward(1.0);
/// let ln2 = 2f32.ln();
/// assert!((y.value()[(0, 0)] - ln2).abs() < 1e-6 && (y.value()[(1, 0)] - 1.0 - ln2).abs() < 1e-6);
/// // The gradient is each row's softmax.
/// assert!(x.gradient().iter().all(|g| (g - 0.5).abs() < 1e-6));
/// ```
#[derive(Debug, Clone, Copy)]
pub struct LogSumExpRowsOp;

impl SingleOp for LogSumExpRowsOp {
    type Rows<R: Dim, C: Dim> = R;
    type Cols<R: Dim, C: Dim> = U1;

    #[track_caller]
    fn output_shape(&self, shape: (usize, usize)) -> (usize, usize) {
        reduced("logsumexp_rows", shape, shape.1, "rows");
        (shape.0, 1)
    }
    #[inline]
    fn forward(&self, x: &[f32], shape: (usize, usize), y: &mut [f32]) {
        for (y, row) in y.iter_mut().zip(x.chunks_exact(shape.1)) {
            *y = logsumexp(row.iter().copied());
        }
    }
    #[inline]
    fn backward(&self, g: &[f32], x: &[f32], _: &[f32], shape: (usize, usize), gx: &mut [f32]) {
        let rows = x.chunks_exact(shape.1).zip(gx.chunks_exact_mut(shape.1));
        for (g, (x, gx)) in g.iter().zip(rows) {
            softmax_gradient(*g, shape.1, x, gx, |i| i);
        }
    }
}

/// `ln Σ_i exp(x_ij)` of each column, `1 x cols`; node type [`LogSumExpColumns`].
///
/// ```
/// use wyrm::*;
/// use wyrm::nodes::{LogSumExpColumnsOp, Single};
/// let x = InputNode::new(ndarray::arr2(&[[0.0, 5.0], [0.0, f32::NEG_INFINITY]]));
/// let y: Variable<Single<LogSumExpColumnsOp, InputNode>> = x.apply(LogSumExpColumnsOp);
/// y.forward();
/// assert!((y.value()[(0, 0)] - 2f32.ln()).abs() < 1e-6);
/// assert_eq!(y.value()[(0, 1)], 5.0); // exp(-inf) adds nothing
/// ```
#[derive(Debug, Clone, Copy)]
pub struct LogSumExpColumnsOp;

impl SingleOp for LogSumExpColumnsOp {
    type Rows<R: Dim, C: Dim> = U1;
    type Cols<R: Dim, C: Dim> = C;

    #[track_caller]
    fn output_shape(&self, shape: (usize, usize)) -> (usize, usize) {
        reduced("logsumexp_columns", shape, shape.0, "columns");
        (1, shape.1)
    }
    #[inline]
    fn forward(&self, x: &[f32], (_, cols): (usize, usize), y: &mut [f32]) {
        for (c, y) in y.iter_mut().enumerate() {
            *y = logsumexp(x[c..].iter().step_by(cols).copied());
        }
    }
    #[inline]
    fn backward(
        &self,
        g: &[f32],
        x: &[f32],
        _: &[f32],
        (rows, cols): (usize, usize),
        gx: &mut [f32],
    ) {
        for (c, g) in g.iter().enumerate() {
            softmax_gradient(*g, rows, x, gx, |r| r * cols + c);
        }
    }
}

/// Node for the log-sum-exp of each row (`rows x 1`).
///
/// ```
/// use wyrm::*;
/// use wyrm::nodes::LogSumExpRows;
/// let x = InputNode::new(ndarray::arr2(&[[1000.0, 1000.0]]));
/// let y: Variable<LogSumExpRows<InputNode>> = x.logsumexp_rows();
/// y.forward();
/// assert!((y.value()[(0, 0)] - (1000.0 + 2f32.ln())).abs() < 1e-3); // no overflow
/// ```
pub type LogSumExpRows<T> = Single<LogSumExpRowsOp, T>;
/// Node for the log-sum-exp of each column (`1 x cols`).
///
/// ```
/// use wyrm::*;
/// use wyrm::nodes::LogSumExpColumns;
/// let x = InputNode::new(ndarray::arr2(&[[0.0], [0.0], [0.0]]));
/// let y: Variable<LogSumExpColumns<InputNode>> = x.logsumexp_columns();
/// y.forward();
/// assert!((y.value()[(0, 0)] - 3f32.ln()).abs() < 1e-6);
/// ```
pub type LogSumExpColumns<T> = Single<LogSumExpColumnsOp, T>;

impl<T: Node> Variable<T> {
    /// `ln Σ_j exp(x_ij)` of each row: a `rows x 1` column, computed stably (each row's
    /// largest value is taken out first, so large values do not overflow). Its gradient
    /// is each row's softmax times the upstream gradient. A row of `-inf` gives `-inf`
    /// and no gradient; one holding `+inf` gives `+inf`, its gradient shared by the
    /// infinite entries; one holding NaN gives NaN.
    ///
    /// A mixture's log-likelihood, `ln Σ_k π_k N(y | μ_k, σ_k)`, is the log-sum-exp of
    /// each row of `ln π + ln N`, one column per component:
    ///
    /// ```
    /// use wyrm::*;
    /// // Two examples, three components: log mixture weights plus component log-densities.
    /// let logits = ParameterNode::new(ndarray::arr2(&[[0.5, -1.0, 2.0], [0.0, 0.0, 0.0]]));
    /// let log_density = InputNode::new(ndarray::arr2(&[[-3.0, -0.5, -9.0], [-1.0, -2.0, -1.5]]));
    /// let nll = -(logits.log_softmax() + log_density).logsumexp_rows().mean();
    /// nll.forward();
    /// nll.backward(1.0);
    /// assert!(nll.value()[(0, 0)].is_finite());
    /// assert_eq!(logits.gradient().shape(), &[2, 3]);
    /// ```
    ///
    /// # Panics
    /// If `self` has no columns (at construction): the log-sum-exp of nothing is `-inf`.
    #[track_caller]
    pub fn logsumexp_rows(&self) -> Variable<LogSumExpRows<T>> {
        self.apply(LogSumExpRowsOp)
    }

    /// `ln Σ_i exp(x_ij)` of each column: a `1 x cols` row, computed stably; see
    /// [`logsumexp_rows`](Self::logsumexp_rows).
    ///
    /// One step of a linear-chain CRF's forward algorithm: `alpha` holds the log-scores of
    /// all tag paths ending in each tag (`1 x tags`), `transitions[i][j]` scores tag `i`
    /// followed by tag `j`, and the next position's emission scores are added after the
    /// sum over the previous tag (a column `alpha.t()` broadcasts across the columns):
    ///
    /// ```
    /// use wyrm::*;
    /// let transitions = ParameterNode::new(random_matrix(3, 3)); // tags x tags
    /// let emissions = ParameterNode::new(random_matrix(2, 3)); // positions x tags
    /// let alpha = emissions.slice(ndarray::s![0..1, ..]);
    /// let alpha = (transitions.clone() + alpha.t()).logsumexp_columns()
    ///     + emissions.slice(ndarray::s![1..2, ..]);
    /// // ln Z, the log of the summed scores of all 9 tag paths of length 2.
    /// let log_partition = alpha.logsumexp_rows();
    /// log_partition.forward();
    /// log_partition.backward(1.0);
    /// let (e, t) = (emissions.value(), transitions.value());
    /// let mut z = 0.0;
    /// for i in 0..3 {
    ///     for j in 0..3 {
    ///         z += (e[(0, i)] + t[(i, j)] + e[(1, j)]).exp();
    ///     }
    /// }
    /// assert!((log_partition.value()[(0, 0)] - z.ln()).abs() < 1e-5);
    /// ```
    ///
    /// For longer sentences, repeat the step per position; a graph per sentence length
    /// (or [`boxed`](Self::boxed) steps) keeps the types small.
    ///
    /// # Panics
    /// If `self` has no rows (at construction).
    #[track_caller]
    pub fn logsumexp_columns(&self) -> Variable<LogSumExpColumns<T>> {
        self.apply(LogSumExpColumnsOp)
    }
}

#[cfg(test)]
mod tests {
    use crate::*;
    use ndarray::{arr2, Array2, Axis};

    /// Log-sum-exp of each row (axis 1) or column (axis 0), naively in f64.
    fn reference(x: &Array2<f32>, axis: usize) -> Array2<f64> {
        x.mapv(|v| (v as f64).exp())
            .sum_axis(Axis(axis))
            .mapv(f64::ln)
            .insert_axis(Axis(axis))
    }

    #[test]
    fn values_match_a_naive_sum() {
        for (r, c) in [(1, 1), (1, 5), (4, 1), (3, 7)] {
            let m = random_matrix(r, c) * 3.0;
            let x = InputNode::new(m.clone());
            for (axis, y) in [
                (1, x.logsumexp_rows().boxed()),
                (0, x.logsumexp_columns().boxed()),
            ] {
                y.forward();
                let expected = reference(&m, axis);
                assert_eq!(y.value().dim(), expected.dim());
                for (y, e) in y.value().iter().zip(&expected) {
                    assert!((*y as f64 - e).abs() < 1e-5, "{y} vs {e}");
                }
            }
        }
    }

    #[test]
    fn large_and_infinite_values() {
        let inf = f32::INFINITY;
        let x = InputNode::new(arr2(&[
            [1000.0, 1000.0, -1000.0],
            [-inf, -inf, -inf],
            [-inf, 2.0, -inf],
            [1.0, inf, 3.0],
            [1.0, f32::NAN, -inf],
        ]));
        let y = x.logsumexp_rows();
        y.forward();
        let y = y.value();
        assert!((y[(0, 0)] - (1000.0 + 2f32.ln())).abs() < 1e-3);
        assert_eq!(y[(1, 0)], -inf);
        assert_eq!(y[(2, 0)], 2.0);
        assert_eq!(y[(3, 0)], inf);
        assert!(y[(4, 0)].is_nan());
        let columns = InputNode::new(arr2(&[[-inf, f32::NAN], [-inf, inf]])).logsumexp_columns();
        columns.forward();
        assert_eq!(columns.value()[(0, 0)], -inf);
        assert!(columns.value()[(0, 1)].is_nan());
    }

    #[test]
    fn gradients() {
        for (r, c) in [(1, 1), (1, 4), (4, 1), (3, 5)] {
            let x = ParameterNode::new(random_matrix(r, c));
            gradcheck::assert_gradient(&x.logsumexp_rows(), &x);
            gradcheck::assert_gradient(&x.logsumexp_columns(), &x);
            // Inside a larger graph, the operand used twice.
            gradcheck::assert_gradient(&(x.clone() * x.logsumexp_columns()), &x);
        }
    }

    #[test]
    fn masked_entries_get_no_gradient() {
        let inf = f32::INFINITY;
        let x = ParameterNode::new(arr2(&[[0.0, -inf, 0.0], [-inf, -inf, -inf]]));
        let y = x.logsumexp_rows();
        y.forward();
        y.backward_with(arr2(&[[2.0], [5.0]]).view());
        assert_eq!(x.gradient(), arr2(&[[1.0, 0.0, 1.0], [0.0, 0.0, 0.0]]));
        x.zero_gradient();
        let columns = x.logsumexp_columns();
        columns.forward();
        columns.backward_with(arr2(&[[1.0, 3.0, -1.0]]).view());
        assert_eq!(x.gradient(), arr2(&[[1.0, 0.0, -1.0], [0.0, 0.0, 0.0]]));
    }

    #[test]
    fn gradients_at_large_and_infinite_values() {
        let inf = f32::INFINITY;
        // Equal values share the gradient exactly, however large (from the rounded result
        // instead of the values' largest, [1e5, 1e5] gave 0.4989 each).
        let x = ParameterNode::new(arr2(&[
            [1e5, 1e5],
            [-1e6, -1e6],
            [inf, 1.0],
            [inf, inf],
            [f32::NAN, f32::NAN],
        ]));
        let y = x.logsumexp_rows();
        y.forward();
        y.backward_with(arr2(&[[1.0], [2.0], [3.0], [4.0], [1.0]]).view());
        let g = x.gradient();
        let finite = arr2(&[[0.5, 0.5], [1.0, 1.0], [3.0, 0.0], [2.0, 2.0]]);
        assert_eq!(g.slice(ndarray::s![..4, ..]), finite);
        assert!(g.row(4).iter().all(|v| v.is_nan()));
        x.zero_gradient();
        let columns = x.slice(ndarray::s![..4, ..]).logsumexp_columns();
        columns.forward();
        columns.backward(1.0);
        // Each column holds a +inf, which takes its whole gradient.
        assert_eq!(x.gradient().column(0).to_vec(), [0.0, 0.0, 0.5, 0.5, 0.0]);
        assert_eq!(x.gradient().column(1).to_vec(), [0.0, 0.0, 0.0, 1.0, 0.0]);
    }

    /// Columns of a value with no columns: nothing to reduce, nothing to send back.
    #[test]
    fn no_columns() {
        let x = ParameterNode::new(Array2::zeros((3, 0)));
        let y = x.logsumexp_columns();
        y.forward();
        assert_eq!(y.value().dim(), (1, 0));
        y.backward(1.0);
        assert_eq!(x.gradient().dim(), (3, 0));
    }

    #[test]
    #[should_panic(
        expected = "`logsumexp_rows`: the operand is 2x0; rows must have at least one element"
    )]
    fn rows_of_nothing_panic() {
        let _ = InputNode::new(Array2::zeros((2, 0))).logsumexp_rows();
    }

    #[test]
    #[should_panic(
        expected = "`logsumexp_columns`: the operand is 0x3; columns must have at least one element"
    )]
    fn columns_of_nothing_panic() {
        let _ = InputNode::new(Array2::zeros((0, 3))).logsumexp_columns();
    }

    #[test]
    fn static_output_dims() {
        use crate::shape::Dim;
        use crate::typenum::{U2, U3};
        fn dims<T: Node>(_: &Variable<T>) -> (Option<usize>, Option<usize>) {
            (<T::Rows as Dim>::FIXED, <T::Cols as Dim>::FIXED)
        }
        let x = InputNode::<U3, U2>::new_static(Array2::zeros((3, 2)));
        assert_eq!(dims(&x.logsumexp_rows()), (Some(3), Some(1)));
        assert_eq!(dims(&x.logsumexp_columns()), (Some(1), Some(2)));
    }
}
