//! Reductions: `scalar_sum` and `mean` over all elements (1x1 results), `sum_rows` and
//! `mean_rows` (of each row: `rows x 1`), `sum_columns` and `mean_columns` (of each
//! column: `1 x cols`).
//!
//! Each reduction is a [`SingleOp`] giving its output shape, forward and backward rule;
//! the shared [`Single`] node does the caching and gradient bookkeeping.

use super::single::{Single, SingleOp};
use crate::node::Node;
use crate::shape::{fmt_shape, Dim};
use crate::Variable;
use typenum::U1;

/// Checks that a reduction's operand has at least one element.
#[track_caller]
fn nonempty(name: &str, shape: (usize, usize)) {
    assert!(
        shape.0 * shape.1 > 0,
        "`{name}`: the operand is {}; it must have at least one element",
        fmt_shape(shape)
    );
}

/// Sum of all elements, `1 x 1`; node type [`ScalarSum`].
///
/// ```
/// use wyrm::*;
/// use wyrm::nodes::{ScalarSumOp, Single};
/// let x = ParameterNode::new(ndarray::arr2(&[[1.0, 2.0], [3.0, 4.0]]));
/// let y: Variable<Single<ScalarSumOp, ParameterNode>> = x.apply(ScalarSumOp);
/// y.forward();
/// y.backward(1.0);
/// assert_eq!(y.value()[(0, 0)], 10.0);
/// assert_eq!(x.gradient(), ndarray::arr2(&[[1.0, 1.0], [1.0, 1.0]]));
/// ```
#[derive(Debug, Clone, Copy)]
pub struct ScalarSumOp;

impl SingleOp for ScalarSumOp {
    type Rows<R: Dim, C: Dim> = U1;
    type Cols<R: Dim, C: Dim> = U1;

    #[track_caller]
    fn output_shape(&self, _: (usize, usize)) -> (usize, usize) {
        (1, 1)
    }
    #[inline]
    fn forward(&self, x: &[f32], _: (usize, usize), y: &mut [f32]) {
        y[0] = crate::kernels::sum(x);
    }
    #[inline]
    fn backward(&self, g: &[f32], _: &[f32], _: &[f32], _: (usize, usize), gx: &mut [f32]) {
        gx.fill(g[0]);
    }
}

/// Mean of all elements, `1 x 1`; node type [`Mean`]. Finite whenever the mean is, even
/// where the sum of the elements overflows.
///
/// ```
/// use wyrm::*;
/// use wyrm::nodes::{MeanOp, Single};
/// let x = ParameterNode::new(ndarray::arr2(&[[1.0, 2.0], [3.0, 6.0]]));
/// let y: Variable<Single<MeanOp, ParameterNode>> = x.apply(MeanOp);
/// y.forward();
/// y.backward(1.0);
/// assert_eq!(y.value()[(0, 0)], 3.0);
/// // Each element's share: 1 / 4.
/// assert_eq!(x.gradient(), ndarray::arr2(&[[0.25, 0.25], [0.25, 0.25]]));
/// ```
#[derive(Debug, Clone, Copy)]
pub struct MeanOp;

impl SingleOp for MeanOp {
    type Rows<R: Dim, C: Dim> = U1;
    type Cols<R: Dim, C: Dim> = U1;

    #[track_caller]
    fn output_shape(&self, shape: (usize, usize)) -> (usize, usize) {
        nonempty("mean", shape);
        (1, 1)
    }
    #[inline]
    fn forward(&self, x: &[f32], _: (usize, usize), y: &mut [f32]) {
        y[0] = mean_of(x);
    }
    #[inline]
    fn backward(&self, g: &[f32], _: &[f32], _: &[f32], _: (usize, usize), gx: &mut [f32]) {
        let share = g[0] / gx.len() as f32;
        gx.fill(share);
    }
}

/// The mean of `x` (at least one value).
#[inline]
fn mean_of(x: &[f32]) -> f32 {
    let n = x.len() as f32;
    let mean = crate::kernels::sum(x) / n;
    // The sum of large values can overflow (to infinity, or to NaN from partial sums
    // overflowing both ways) where their mean does not: then add up the values divided by
    // n. Only such inputs, and infinite or NaN ones (whose result stays as it is), take
    // this second pass.
    if mean.is_finite() {
        mean
    } else {
        x.iter().map(|x| x / n).sum()
    }
}

/// Writes `f(row)` for each row of `x` (of `cols` columns) into `y`; rows of no columns
/// give 0 (and a chunk size of zero would panic).
#[inline(always)]
pub(super) fn reduce_rows(x: &[f32], cols: usize, y: &mut [f32], f: impl Fn(&[f32]) -> f32) {
    if cols == 0 {
        y.fill(0.0);
        return;
    }
    for (y, row) in y.iter_mut().zip(x.chunks_exact(cols)) {
        *y = f(row);
    }
}

/// Fills each row of `gx` (of `cols` columns) with its upstream gradient times `scale`.
#[inline(always)]
fn spread_rows(g: &[f32], cols: usize, scale: f32, gx: &mut [f32]) {
    // `max(1)`: with no columns there is nothing to write.
    for (g, row) in g.iter().zip(gx.chunks_exact_mut(cols.max(1))) {
        row.fill(g * scale);
    }
}

/// Sum of each row (summing across the columns), `rows x 1`; node type [`SumRows`].
///
/// ```
/// use wyrm::*;
/// use wyrm::nodes::{Single, SumRowsOp};
/// let x = ParameterNode::new(ndarray::arr2(&[[1.0, 2.0], [3.0, 4.0]]));
/// let y: Variable<Single<SumRowsOp, ParameterNode>> = x.apply(SumRowsOp);
/// y.forward();
/// y.backward(2.0);
/// assert_eq!(y.value(), ndarray::arr2(&[[3.0], [7.0]]));
/// assert_eq!(x.gradient(), ndarray::arr2(&[[2.0, 2.0], [2.0, 2.0]]));
/// ```
#[derive(Debug, Clone, Copy)]
pub struct SumRowsOp;

impl SingleOp for SumRowsOp {
    type Rows<R: Dim, C: Dim> = R;
    type Cols<R: Dim, C: Dim> = U1;

    #[track_caller]
    fn output_shape(&self, shape: (usize, usize)) -> (usize, usize) {
        (shape.0, 1)
    }
    #[inline]
    fn forward(&self, x: &[f32], shape: (usize, usize), y: &mut [f32]) {
        reduce_rows(x, shape.1, y, crate::kernels::sum);
    }
    #[inline]
    fn backward(&self, g: &[f32], _: &[f32], _: &[f32], shape: (usize, usize), gx: &mut [f32]) {
        spread_rows(g, shape.1, 1.0, gx);
    }
}

/// Sum of each column (summing down the rows), `1 x cols`; node type [`SumColumns`].
///
/// ```
/// use wyrm::*;
/// use wyrm::nodes::{Single, SumColumnsOp};
/// let x = ParameterNode::new(ndarray::arr2(&[[1.0, 2.0], [3.0, 4.0]]));
/// let y: Variable<Single<SumColumnsOp, ParameterNode>> = x.apply(SumColumnsOp);
/// y.forward();
/// y.backward(2.0);
/// assert_eq!(y.value(), ndarray::arr2(&[[4.0, 6.0]]));
/// assert_eq!(x.gradient(), ndarray::arr2(&[[2.0, 2.0], [2.0, 2.0]]));
/// ```
#[derive(Debug, Clone, Copy)]
pub struct SumColumnsOp;

impl SingleOp for SumColumnsOp {
    type Rows<R: Dim, C: Dim> = U1;
    type Cols<R: Dim, C: Dim> = C;

    #[track_caller]
    fn output_shape(&self, shape: (usize, usize)) -> (usize, usize) {
        (1, shape.1)
    }
    #[inline]
    fn forward(&self, x: &[f32], shape: (usize, usize), y: &mut [f32]) {
        y.fill(0.0);
        // `max(1)`: with no columns there is nothing to add (and no chunk).
        for row in x.chunks_exact(shape.1.max(1)) {
            crate::kernels::add_assign(y, row);
        }
    }
    #[inline]
    fn backward(&self, g: &[f32], _: &[f32], _: &[f32], shape: (usize, usize), gx: &mut [f32]) {
        for row in gx.chunks_exact_mut(shape.1.max(1)) {
            row.copy_from_slice(g);
        }
    }
}

/// Mean of each row (averaging across the columns), `rows x 1`; node type [`MeanRows`].
/// Rows of no columns average to 0, as an empty bag of embeddings does.
///
/// ```
/// use wyrm::*;
/// use wyrm::nodes::{MeanRowsOp, Single};
/// let x = ParameterNode::new(ndarray::arr2(&[[1.0, 2.0], [3.0, 5.0]]));
/// let y: Variable<Single<MeanRowsOp, ParameterNode>> = x.apply(MeanRowsOp);
/// y.forward();
/// y.backward(2.0);
/// assert_eq!(y.value(), ndarray::arr2(&[[1.5], [4.0]]));
/// // Each element's share of its row's gradient: 2 / 2.
/// assert_eq!(x.gradient(), ndarray::arr2(&[[1.0, 1.0], [1.0, 1.0]]));
/// ```
#[derive(Debug, Clone, Copy)]
pub struct MeanRowsOp;

impl SingleOp for MeanRowsOp {
    type Rows<R: Dim, C: Dim> = R;
    type Cols<R: Dim, C: Dim> = U1;

    #[track_caller]
    fn output_shape(&self, shape: (usize, usize)) -> (usize, usize) {
        (shape.0, 1)
    }
    #[inline]
    fn forward(&self, x: &[f32], shape: (usize, usize), y: &mut [f32]) {
        reduce_rows(x, shape.1, y, mean_of);
    }
    #[inline]
    fn backward(&self, g: &[f32], _: &[f32], _: &[f32], shape: (usize, usize), gx: &mut [f32]) {
        spread_rows(g, shape.1, 1.0 / shape.1.max(1) as f32, gx);
    }
}

/// Mean of each column (averaging down the rows), `1 x cols`; node type [`MeanColumns`].
/// With no rows (the rows of an empty lookup) the means are 0, as an empty bag of
/// embeddings gives.
///
/// ```
/// use wyrm::*;
/// use wyrm::nodes::{MeanColumnsOp, Single};
/// let x = ParameterNode::new(ndarray::arr2(&[[1.0, 2.0], [3.0, 6.0]]));
/// let y: Variable<Single<MeanColumnsOp, ParameterNode>> = x.apply(MeanColumnsOp);
/// y.forward();
/// y.backward(2.0);
/// assert_eq!(y.value(), ndarray::arr2(&[[2.0, 4.0]]));
/// assert_eq!(x.gradient(), ndarray::arr2(&[[1.0, 1.0], [1.0, 1.0]]));
/// ```
#[derive(Debug, Clone, Copy)]
pub struct MeanColumnsOp;

impl SingleOp for MeanColumnsOp {
    type Rows<R: Dim, C: Dim> = U1;
    type Cols<R: Dim, C: Dim> = C;

    #[track_caller]
    fn output_shape(&self, shape: (usize, usize)) -> (usize, usize) {
        (1, shape.1)
    }
    #[inline]
    fn forward(&self, x: &[f32], shape: (usize, usize), y: &mut [f32]) {
        SumColumnsOp.forward(x, shape, y);
        let n = shape.0.max(1) as f32;
        for y in y.iter_mut() {
            *y /= n;
        }
        // As for `mean`: a column whose sum overflowed is added up again, divided first.
        if !y.iter().all(|y| y.is_finite()) {
            y.fill(0.0);
            for row in x.chunks_exact(shape.1.max(1)) {
                for (y, x) in y.iter_mut().zip(row) {
                    *y += x / n;
                }
            }
        }
    }
    #[inline]
    fn backward(&self, g: &[f32], _: &[f32], _: &[f32], shape: (usize, usize), gx: &mut [f32]) {
        let share = 1.0 / shape.0.max(1) as f32;
        for row in gx.chunks_exact_mut(shape.1.max(1)) {
            crate::kernels::scale(share, g, row, false);
        }
    }
}

/// Node for the sum of all elements (`1 x 1`).
///
/// ```
/// use wyrm::*;
/// use wyrm::nodes::{ScalarSum, Square};
/// let x = InputNode::new(ndarray::arr2(&[[1.0, 2.0], [3.0, 4.0]]));
/// // The sum of squares: the operand's type is part of the node's.
/// let y: Variable<ScalarSum<Square<InputNode>>> = x.square().scalar_sum();
/// y.forward();
/// assert_eq!(y.value()[(0, 0)], 30.0);
/// ```
pub type ScalarSum<T> = Single<ScalarSumOp, T>;
/// Node for the mean of all elements (`1 x 1`).
///
/// ```
/// use wyrm::*;
/// use wyrm::nodes::{Abs, Mean};
/// let x = InputNode::new(ndarray::arr2(&[[-1.0, 3.0]]));
/// // The mean absolute value.
/// let y: Variable<Mean<Abs<InputNode>>> = x.abs().mean();
/// y.forward();
/// assert_eq!(y.value()[(0, 0)], 2.0);
/// ```
pub type Mean<T> = Single<MeanOp, T>;
/// Node for the sum of each row (`rows x 1`).
///
/// ```
/// use wyrm::*;
/// use wyrm::nodes::SumRows;
/// let x = InputNode::new(ndarray::arr2(&[[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]]));
/// let y: Variable<SumRows<InputNode>> = x.sum_rows();
/// assert_eq!(y.shape(), (2, 1));
/// y.forward();
/// assert_eq!(y.value(), ndarray::arr2(&[[6.0], [15.0]]));
/// ```
pub type SumRows<T> = Single<SumRowsOp, T>;
/// Node for the sum of each column (`1 x cols`).
///
/// ```
/// use wyrm::*;
/// use wyrm::nodes::SumColumns;
/// let x = InputNode::new(ndarray::arr2(&[[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]]));
/// let y: Variable<SumColumns<InputNode>> = x.sum_columns();
/// assert_eq!(y.shape(), (1, 3));
/// y.forward();
/// assert_eq!(y.value(), ndarray::arr2(&[[5.0, 7.0, 9.0]]));
/// ```
pub type SumColumns<T> = Single<SumColumnsOp, T>;
/// Node for the mean of each row (`rows x 1`).
///
/// ```
/// use wyrm::*;
/// use wyrm::nodes::MeanRows;
/// let x = InputNode::new(ndarray::arr2(&[[1.0, 2.0, 3.0], [4.0, 5.0, 9.0]]));
/// let y: Variable<MeanRows<InputNode>> = x.mean_rows();
/// y.forward();
/// assert_eq!(y.value(), ndarray::arr2(&[[2.0], [6.0]]));
/// ```
pub type MeanRows<T> = Single<MeanRowsOp, T>;
/// Node for the mean of each column (`1 x cols`).
///
/// ```
/// use wyrm::*;
/// use wyrm::nodes::MeanColumns;
/// let x = InputNode::new(ndarray::arr2(&[[1.0, 2.0, 3.0], [5.0, 6.0, 9.0]]));
/// let y: Variable<MeanColumns<InputNode>> = x.mean_columns();
/// y.forward();
/// assert_eq!(y.value(), ndarray::arr2(&[[3.0, 4.0, 6.0]]));
/// ```
pub type MeanColumns<T> = Single<MeanColumnsOp, T>;

impl<T: Node> Variable<T> {
    /// The sum of all elements, as a `1 x 1` variable.
    ///
    /// ```
    /// use wyrm::*;
    /// let x = InputNode::new(ndarray::arr2(&[[1.0, 2.0], [3.0, 4.0]]));
    /// let s = x.scalar_sum();
    /// s.forward();
    /// assert_eq!(s.value().to_owned(), ndarray::arr2(&[[10.0]]));
    /// ```
    ///
    /// An empty operand sums to 0.
    #[track_caller]
    pub fn scalar_sum(&self) -> Variable<ScalarSum<T>> {
        self.apply(ScalarSumOp)
    }

    /// The mean of all elements, as a `1 x 1` variable.
    ///
    /// ```
    /// use wyrm::*;
    /// let x = InputNode::new(ndarray::arr2(&[[1.0, 2.0], [3.0, 6.0]]));
    /// let m = x.mean();
    /// m.forward();
    /// assert_eq!(m.value()[(0, 0)], 3.0);
    /// ```
    ///
    /// # Panics
    /// If `self` has no elements (at construction).
    #[track_caller]
    pub fn mean(&self) -> Variable<Mean<T>> {
        self.apply(MeanOp)
    }

    /// The sum of each row (adding up the columns of that row): a `rows x 1` column.
    ///
    /// ```
    /// use wyrm::*;
    /// let x = InputNode::new(ndarray::arr2(&[[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]]));
    /// let s = x.sum_rows();
    /// s.forward();
    /// assert_eq!(s.value().to_owned(), ndarray::arr2(&[[3.0], [7.0], [11.0]]));
    /// ```
    ///
    /// An empty operand sums to zeros: an `m x 0` operand gives an `m x 1` column of zeros.
    #[track_caller]
    pub fn sum_rows(&self) -> Variable<SumRows<T>> {
        self.apply(SumRowsOp)
    }

    /// The sum of each column (adding up the rows): a `1 x cols` row.
    ///
    /// ```
    /// use wyrm::*;
    /// let x = InputNode::new(ndarray::arr2(&[[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]]));
    /// let s = x.sum_columns();
    /// s.forward();
    /// assert_eq!(s.value().to_owned(), ndarray::arr2(&[[9.0, 12.0]]));
    /// ```
    ///
    /// An empty operand sums to zeros: the rows of an empty lookup (a bag of no ids) give
    /// a row of zeros, as an embedding bag would.
    #[track_caller]
    pub fn sum_columns(&self) -> Variable<SumColumns<T>> {
        self.apply(SumColumnsOp)
    }

    /// The mean of each row (averaging its columns): a `rows x 1` column, e.g. the
    /// per-example mean that layer normalisation subtracts.
    ///
    /// ```
    /// use wyrm::*;
    /// let x = InputNode::new(ndarray::arr2(&[[1.0, 3.0], [2.0, 6.0]]));
    /// // Each row centred on its mean (the column broadcasts across the row).
    /// let centred = x.clone() - x.mean_rows();
    /// centred.forward();
    /// assert_eq!(centred.value(), ndarray::arr2(&[[-1.0, 1.0], [-2.0, 2.0]]));
    /// ```
    ///
    /// Rows of no columns average to 0, as an empty bag of embeddings does (not NaN).
    #[track_caller]
    pub fn mean_rows(&self) -> Variable<MeanRows<T>> {
        self.apply(MeanRowsOp)
    }

    /// The mean of each column (averaging the rows): a `1 x cols` row, e.g. a batch mean
    /// or the average of looked-up embeddings.
    ///
    /// ```
    /// use wyrm::*;
    /// let table = ParameterNode::new(ndarray::arr2(&[[1.0, 2.0], [3.0, 4.0], [5.0, 9.0]]));
    /// let ids = IndexInputNode::new(&[0, 2]);
    /// let average = table.index(&ids).mean_columns();
    /// average.forward();
    /// assert_eq!(average.value(), ndarray::arr2(&[[3.0, 5.5]]));
    /// ```
    ///
    /// With no rows (an empty lookup) the means are 0, as for an empty bag of embeddings
    /// (not NaN).
    #[track_caller]
    pub fn mean_columns(&self) -> Variable<MeanColumns<T>> {
        self.apply(MeanColumnsOp)
    }
}

#[cfg(test)]
mod tests {
    use crate::typenum::{U2, U3};
    use crate::*;
    use ndarray::{arr2, Array2, Axis};

    fn eval<T: Node>(v: Variable<T>) -> Array2<f32> {
        v.forward();

        v.value().to_owned()
    }

    #[test]
    fn values_match_ndarray() {
        let m = random_matrix(3, 5);
        let x = InputNode::new(m.clone());
        let close = |a: &Array2<f32>, b: &Array2<f32>| {
            assert_eq!(a.dim(), b.dim());
            for (a, b) in a.iter().zip(b.iter()) {
                assert!((a - b).abs() < 1e-5, "{a} vs {b}");
            }
        };
        close(&eval(x.scalar_sum()), &arr2(&[[m.sum()]]));
        close(&eval(x.mean()), &arr2(&[[m.mean().unwrap()]]));
        close(
            &eval(x.sum_rows()),
            &m.sum_axis(Axis(1)).insert_axis(Axis(1)),
        );
        close(
            &eval(x.sum_columns()),
            &m.sum_axis(Axis(0)).insert_axis(Axis(0)),
        );
        close(
            &eval(x.mean_rows()),
            &m.mean_axis(Axis(1)).unwrap().insert_axis(Axis(1)),
        );
        close(
            &eval(x.mean_columns()),
            &m.mean_axis(Axis(0)).unwrap().insert_axis(Axis(0)),
        );
    }

    #[test]
    fn gradient_values() {
        let x = ParameterNode::new(Array2::zeros((2, 3)));
        let m = x.mean();
        m.forward();
        m.backward(6.0);
        assert_eq!(x.gradient(), Array2::from_elem((2, 3), 1.0));
        x.zero_gradient();
        let s = x.sum_columns();
        s.forward();
        s.backward_with(arr2(&[[1.0, 2.0, 3.0]]).view());
        assert_eq!(x.gradient(), arr2(&[[1.0, 2.0, 3.0], [1.0, 2.0, 3.0]]));
        x.zero_gradient();
        let s = x.sum_rows();
        s.forward();
        s.backward_with(arr2(&[[1.0], [2.0]]).view());
        assert_eq!(x.gradient(), arr2(&[[1.0, 1.0, 1.0], [2.0, 2.0, 2.0]]));
        x.zero_gradient();
        let s = x.mean_rows();
        s.forward();
        s.backward_with(arr2(&[[3.0], [6.0]]).view());
        assert_eq!(x.gradient(), arr2(&[[1.0, 1.0, 1.0], [2.0, 2.0, 2.0]]));
        x.zero_gradient();
        let s = x.mean_columns();
        s.forward();
        s.backward_with(arr2(&[[2.0, 4.0, 6.0]]).view());
        assert_eq!(x.gradient(), arr2(&[[1.0, 2.0, 3.0], [1.0, 2.0, 3.0]]));
    }

    #[test]
    fn gradients() {
        for (r, c) in [(1, 1), (1, 4), (4, 1), (3, 5)] {
            let x = ParameterNode::new(random_matrix(r, c));
            gradcheck::assert_gradient(&x.scalar_sum(), &x);
            gradcheck::assert_gradient(&x.mean(), &x);
            gradcheck::assert_gradient(&x.sum_rows(), &x);
            gradcheck::assert_gradient(&x.sum_columns(), &x);
            gradcheck::assert_gradient(&x.mean_rows().square(), &x);
            gradcheck::assert_gradient(&(x.clone() * x.mean_columns()).scalar_sum(), &x);
            // Nonlinear consumers, so the upstream gradient is not constant.
            gradcheck::assert_gradient(&x.sum_rows().square(), &x);
            gradcheck::assert_gradient(&(x.clone() * x.sum_columns()).mean(), &x);
        }
    }

    /// The mean of large values is finite even where their sum overflows: it was infinity
    /// (`sum / n` with the sum already infinite), or NaN where partial sums overflowed both
    /// ways. Infinite or NaN inputs still give an infinite or NaN mean.
    #[test]
    fn mean_of_large_values_does_not_overflow() {
        let big = f32::MAX;
        let mean = |values: Vec<f32>| {
            let n = values.len();
            eval(InputNode::new(Array2::from_shape_vec((1, n), values).unwrap()).mean())[(0, 0)]
        };
        assert_eq!(mean(vec![big, big]), big);
        assert_eq!(mean(vec![3e38, 3e38, 0.0]), 2e38);
        let halves: Vec<f32> = (0..16)
            .map(|i| if i < 8 { big } else { -big * 0.5 })
            .collect();
        assert!((mean(halves) - big * 0.25).abs() <= big * 1e-6);
        // The eight partial sums overflow both ways: inf - inf was NaN. (0 up to rounding at
        // the scale of the values.)
        let both: Vec<f32> = (0..16)
            .map(|i| if i % 8 < 4 { big } else { -big })
            .collect();
        assert!(mean(both).abs() <= big * 1e-6);
        assert_eq!(mean(vec![f32::INFINITY, 1.0]), f32::INFINITY);
        assert!(mean(vec![f32::INFINITY, f32::NEG_INFINITY]).is_nan());
        assert!(mean(vec![f32::NAN, big, big]).is_nan());
        // Per row and per column too.
        let rows = InputNode::new(arr2(&[[big, big], [big, -big]]));
        assert_eq!(eval(rows.mean_rows()), arr2(&[[big], [0.0]]));
        assert_eq!(eval(rows.mean_columns()), arr2(&[[big, 0.0]]));
    }

    #[test]
    fn static_output_dims() {
        fn dims<T: Node>(_: &Variable<T>) -> (Option<usize>, Option<usize>) {
            (<T::Rows as Dim>::FIXED, <T::Cols as Dim>::FIXED)
        }
        let x = InputNode::<U3, U2>::new_static(Array2::zeros((3, 2)));
        assert_eq!(dims(&x.scalar_sum()), (Some(1), Some(1)));
        assert_eq!(dims(&x.mean()), (Some(1), Some(1)));
        assert_eq!(dims(&x.sum_rows()), (Some(3), Some(1)));
        assert_eq!(dims(&x.sum_columns()), (Some(1), Some(2)));
        assert_eq!(dims(&x.mean_rows()), (Some(3), Some(1)));
        assert_eq!(dims(&x.mean_columns()), (Some(1), Some(2)));
        // A runtime-shaped operand still gives static 1x1 scalars.
        let d = InputNode::new(Array2::zeros((3, 2)));
        assert_eq!(dims(&d.scalar_sum()), (Some(1), Some(1)));
        assert_eq!(dims(&d.sum_rows()), (None, Some(1)));
    }

    #[test]
    #[should_panic(expected = "`mean`: the operand is 0x3; it must have at least one element")]
    fn the_mean_of_nothing_panics() {
        let _ = InputNode::new(Array2::zeros((0, 3))).mean();
    }

    #[test]
    fn sums_of_nothing_are_zeros() {
        // An empty bag of embeddings: no rows looked up.
        let table = ParameterNode::new(Array2::ones((5, 3)));
        let bag = table.index(&IndexInputNode::new(&[]));
        let pooled = bag.sum_columns();
        let total = bag.scalar_sum();
        let per_row = ParameterNode::new(Array2::ones((2, 0))).sum_rows();
        let none = bag.sum_rows();
        let averaged = bag.mean_columns();
        let row_means = ParameterNode::new(Array2::ones((2, 0))).mean_rows();
        for _ in 0..2 {
            pooled.forward();
            total.forward();
            per_row.forward();
            none.forward();
            averaged.forward();
            row_means.forward();
            assert_eq!(pooled.value(), Array2::<f32>::zeros((1, 3)));
            assert_eq!(total.value()[(0, 0)], 0.0);
            assert_eq!(per_row.value(), Array2::<f32>::zeros((2, 1)));
            assert_eq!(none.shape(), (0, 1));
            assert_eq!(averaged.value(), Array2::<f32>::zeros((1, 3)));
            assert_eq!(row_means.value(), Array2::<f32>::zeros((2, 1)));
        }
        averaged.backward(1.0);
        row_means.backward(1.0);
        // Gradients flow to nothing, and the table is left untouched.
        let loss = (pooled + ParameterNode::new(Array2::ones((1, 3)))).scalar_sum();
        loss.forward();
        loss.backward(1.0);
        assert_eq!(table.gradient(), Array2::<f32>::zeros((5, 3)));
        // Rows of no columns take their (empty) gradient without a zero-sized chunk.
        per_row.backward(1.0);
    }
}
