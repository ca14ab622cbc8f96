//! Maxima: `max_rows` (the largest value of each row: `rows x 1`) and `max_columns` (of
//! each column: `1 x cols`), for targets such as Q-learning's `max_a Q(s', a)` and for
//! max-pooling; and `argmax_rows`, where each row's largest value is (predictions). The gradient goes to the element picked: the first largest one, so ties
//! send it to one element, not split. A NaN is picked over any number, so it shows in the
//! result instead of being skipped.

use super::single::{Single, SingleOp};
use crate::node::Node;
use crate::shape::Dim;
use crate::Variable;
use typenum::U1;

/// Whether `x` replaces `best` as the maximum so far: larger, or the first NaN.
#[inline(always)]
pub(crate) fn beats(x: f32, best: f32) -> bool {
    x > best || (x.is_nan() && !best.is_nan())
}

/// The position of the first largest of `xs` (at least one value).
#[inline]
fn argmax(xs: &[f32]) -> usize {
    let mut best = 0;
    for (i, &x) in xs.iter().enumerate().skip(1) {
        if beats(x, xs[best]) {
            best = i;
        }
    }
    best
}

/// Maximum of each row (across its columns), `rows x 1`; node type [`MaxRows`]. Rows of
/// no columns give 0 (as they do for `sum_rows` and `mean_rows`), not `-inf`.
///
/// ```
/// use wyrm::*;
/// use wyrm::nodes::{MaxRowsOp, Single};
/// let x = ParameterNode::new(ndarray::arr2(&[[1.0, 4.0, 2.0], [3.0, 0.0, 3.0]]));
/// let y: Variable<Single<MaxRowsOp, ParameterNode>> = x.apply(MaxRowsOp);
/// y.forward();
/// y.backward(2.0);
/// assert_eq!(y.value(), ndarray::arr2(&[[4.0], [3.0]]));
/// // Each row's gradient goes to its first largest element.
/// assert_eq!(x.gradient(), ndarray::arr2(&[[0.0, 2.0, 0.0], [2.0, 0.0, 0.0]]));
/// ```
#[derive(Debug, Clone, Copy)]
pub struct MaxRowsOp;

impl SingleOp for MaxRowsOp {
    type Rows<R: Dim, C: Dim> = R;
    type Cols<R: Dim, C: Dim> = U1;

    #[track_caller]
    fn output_shape(&self, shape: (usize, usize)) -> (usize, usize) {
        (shape.0, 1)
    }
    #[inline]
    fn forward(&self, x: &[f32], shape: (usize, usize), y: &mut [f32]) {
        super::reduce::reduce_rows(x, shape.1, y, |row| row[argmax(row)]);
    }
    #[inline]
    fn backward(&self, g: &[f32], x: &[f32], _: &[f32], shape: (usize, usize), gx: &mut [f32]) {
        if shape.1 == 0 {
            return;
        }
        for ((g, row), gx) in g
            .iter()
            .zip(x.chunks_exact(shape.1))
            .zip(gx.chunks_exact_mut(shape.1))
        {
            gx.fill(0.0);
            gx[argmax(row)] = *g;
        }
    }
}

/// Maximum of each column (down its rows), `1 x cols`; node type [`MaxColumns`]. With no
/// rows (an empty lookup) the maxima are 0 (as the sums and means of `sum_columns` and
/// `mean_columns` are), not `-inf`.
///
/// ```
/// use wyrm::*;
/// use wyrm::nodes::{MaxColumnsOp, Single};
/// let x = ParameterNode::new(ndarray::arr2(&[[1.0, 5.0], [3.0, 2.0]]));
/// let y: Variable<Single<MaxColumnsOp, ParameterNode>> = x.apply(MaxColumnsOp);
/// y.forward();
/// y.backward(1.0);
/// assert_eq!(y.value(), ndarray::arr2(&[[3.0, 5.0]]));
/// assert_eq!(x.gradient(), ndarray::arr2(&[[0.0, 1.0], [1.0, 0.0]]));
/// ```
#[derive(Debug, Clone, Copy)]
pub struct MaxColumnsOp;

impl MaxColumnsOp {
    /// Calls `pick(column, row)` with the row of each column's first largest value.
    #[inline]
    fn for_each_argmax(
        x: &[f32],
        (rows, cols): (usize, usize),
        mut pick: impl FnMut(usize, usize),
    ) {
        if rows == 0 {
            return;
        }
        for c in 0..cols {
            let mut best = 0;
            for r in 1..rows {
                if beats(x[r * cols + c], x[best * cols + c]) {
                    best = r;
                }
            }
            pick(c, best);
        }
    }
}

impl SingleOp for MaxColumnsOp {
    type Rows<R: Dim, C: Dim> = U1;
    type Cols<R: Dim, C: Dim> = C;

    #[track_caller]
    fn output_shape(&self, shape: (usize, usize)) -> (usize, usize) {
        (1, shape.1)
    }
    #[inline]
    fn forward(&self, x: &[f32], shape: (usize, usize), y: &mut [f32]) {
        y.fill(0.0);
        Self::for_each_argmax(x, shape, |c, r| y[c] = x[r * shape.1 + c]);
    }
    #[inline]
    fn backward(&self, g: &[f32], x: &[f32], _: &[f32], shape: (usize, usize), gx: &mut [f32]) {
        gx.fill(0.0);
        Self::for_each_argmax(x, shape, |c, r| gx[r * shape.1 + c] = g[c]);
    }
}

/// Node for the maximum of each row (`rows x 1`).
///
/// ```
/// use wyrm::*;
/// use wyrm::nodes::MaxRows;
/// let q = InputNode::new(ndarray::arr2(&[[0.5, 2.0, -1.0], [3.0, 1.0, 0.0]]));
/// let best: Variable<MaxRows<InputNode>> = q.max_rows();
/// best.forward();
/// assert_eq!(best.value(), ndarray::arr2(&[[2.0], [3.0]]));
/// ```
pub type MaxRows<T> = Single<MaxRowsOp, T>;
/// Node for the maximum of each column (`1 x cols`).
///
/// ```
/// use wyrm::*;
/// use wyrm::nodes::MaxColumns;
/// let x = InputNode::new(ndarray::arr2(&[[0.5, 2.0], [3.0, 1.0]]));
/// let pooled: Variable<MaxColumns<InputNode>> = x.max_columns();
/// pooled.forward();
/// assert_eq!(pooled.value(), ndarray::arr2(&[[3.0, 2.0]]));
/// ```
pub type MaxColumns<T> = Single<MaxColumnsOp, T>;

impl<T: Node> Variable<T> {
    /// The largest value of each row: a `rows x 1` column. The gradient goes to each row's
    /// first largest element (not split between ties); a NaN counts as the largest.
    ///
    /// A Q-learning target, `r + γ max_a Q(s', a)`, with no gradient through the target:
    ///
    /// ```
    /// use wyrm::*;
    /// let next_q = InputNode::new(ndarray::arr2(&[[0.5, 2.0, -1.0], [3.0, 1.0, 0.0]]));
    /// let reward = InputNode::new(ndarray::arr2(&[[1.0], [0.0]]));
    /// let target = reward + next_q.max_rows().detach() * 0.5;
    /// target.forward();
    /// assert_eq!(target.value(), ndarray::arr2(&[[2.0], [1.5]]));
    /// ```
    ///
    /// Rows of no columns give 0.
    #[track_caller]
    pub fn max_rows(&self) -> Variable<MaxRows<T>> {
        self.apply(MaxRowsOp)
    }

    /// The largest value of each column: a `1 x cols` row, e.g. max-pooling the rows of a
    /// lookup. The gradient goes to each column's first largest element; a NaN counts as
    /// the largest.
    ///
    /// ```
    /// use wyrm::*;
    /// let table = ParameterNode::new(ndarray::arr2(&[[1.0, 9.0], [4.0, 2.0], [0.0, 0.0]]));
    /// let ids = IndexInputNode::new(&[0, 1]);
    /// let pooled = table.index(&ids).max_columns();
    /// pooled.forward();
    /// pooled.backward(1.0);
    /// assert_eq!(pooled.value(), ndarray::arr2(&[[4.0, 9.0]]));
    /// // Only the rows that were picked receive a gradient.
    /// assert_eq!(table.gradient(), ndarray::arr2(&[[0.0, 1.0], [1.0, 0.0], [0.0, 0.0]]));
    /// ```
    ///
    /// With no rows (an empty lookup) the maxima are 0.
    #[track_caller]
    pub fn max_columns(&self) -> Variable<MaxColumns<T>> {
        self.apply(MaxColumnsOp)
    }
}

impl<T: Node> Variable<T> {
    /// The column of each row's largest value in the latest forward pass's value: a
    /// classifier's predictions from its logits or probabilities. The first largest wins
    /// ties and a NaN counts as largest, as for [`max_rows`](Self::max_rows). Allocates the
    /// result; [`argmax_rows_into`](Self::argmax_rows_into) reuses a buffer.
    ///
    /// ```
    /// use wyrm::*;
    /// let logits = InputNode::new(ndarray::arr2(&[[0.1, 2.0, -1.0], [3.0, 3.0, 0.0]]));
    /// let probabilities = logits.softmax();
    /// probabilities.forward();
    /// assert_eq!(probabilities.argmax_rows(), vec![1, 0]);
    /// ```
    ///
    /// # Panics
    /// If the value's rows have no columns (there is no largest value).
    #[track_caller]
    pub fn argmax_rows(&self) -> Vec<usize> {
        let mut out = Vec::new();
        self.argmax_rows_into(&mut out);
        out
    }

    /// [`argmax_rows`](Self::argmax_rows) into `out` (cleared first), so that a serving
    /// loop allocates nothing once `out` has grown.
    ///
    /// ```
    /// use wyrm::*;
    /// let scores = InputNode::new(ndarray::arr2(&[[0.5, 0.25]]));
    /// let mut predicted = Vec::with_capacity(1);
    /// for value in [[0.5, 0.25], [0.0, 4.0]] {
    ///     scores.set_value(ndarray::arr2(&[value]).view());
    ///     scores.argmax_rows_into(&mut predicted);
    /// }
    /// assert_eq!(predicted, vec![1]);
    /// ```
    ///
    /// # Panics
    /// As [`argmax_rows`](Self::argmax_rows).
    #[track_caller]
    pub fn argmax_rows_into(&self, out: &mut Vec<usize>) {
        out.clear();
        self.with_value(|v| {
            let (rows, cols) = v.dim();
            assert!(
                cols > 0 || rows == 0,
                "argmax_rows: the value is {rows}x0; a row of no columns has no largest value"
            );
            let values = v.as_slice().expect("a node's value is row-major");
            out.extend(values.chunks_exact(cols.max(1)).map(argmax));
        });
    }
}

#[cfg(test)]
mod tests {
    use crate::*;
    use ndarray::{arr2, Array2, Axis};

    fn eval<T: Node>(v: &Variable<T>) -> Array2<f32> {
        v.forward();
        v.value().to_owned()
    }

    #[test]
    fn values_match_ndarray() {
        for (r, c) in [(1, 1), (1, 5), (4, 1), (3, 7)] {
            let m = random_matrix(r, c);
            let x = InputNode::new(m.clone());
            let fold = |axis| {
                m.fold_axis(Axis(axis), f32::NEG_INFINITY, |a, &b| a.max(b))
                    .insert_axis(Axis(axis))
            };
            assert_eq!(eval(&x.max_rows()), fold(1));
            assert_eq!(eval(&x.max_columns()), fold(0));
        }
    }

    #[test]
    fn gradients() {
        // Random values are distinct, so finite differences do not cross a tie.
        for (r, c) in [(1, 1), (1, 4), (4, 1), (3, 5)] {
            let x = ParameterNode::new(random_matrix(r, c));
            gradcheck::assert_gradient(&x.max_rows().square(), &x);
            gradcheck::assert_gradient(&(x.clone() * x.max_columns()).scalar_sum(), &x);
        }
    }

    #[test]
    fn ties_send_the_gradient_to_the_first() {
        let x = ParameterNode::new(arr2(&[[2.0, 2.0, 1.0], [0.0, 5.0, 5.0]]));
        let rows = x.max_rows();
        rows.forward();
        rows.backward_with(arr2(&[[1.0], [3.0]]).view());
        assert_eq!(x.gradient(), arr2(&[[1.0, 0.0, 0.0], [0.0, 3.0, 0.0]]));
        x.zero_gradient();
        let y = ParameterNode::new(arr2(&[[1.0, 4.0], [1.0, 4.0]]));
        let columns = y.max_columns();
        columns.forward();
        columns.backward_with(arr2(&[[2.0, 3.0]]).view());
        assert_eq!(y.gradient(), arr2(&[[2.0, 3.0], [0.0, 0.0]]));
    }

    #[test]
    fn nan_is_picked_and_infinities_compare() {
        let x = InputNode::new(arr2(&[
            [1.0, f32::NAN, 3.0],
            [f32::NEG_INFINITY, f32::NEG_INFINITY, -1.0],
        ]));
        let rows = eval(&x.max_rows());
        assert!(rows[(0, 0)].is_nan());
        assert_eq!(rows[(1, 0)], -1.0);
        let columns = eval(&x.max_columns());
        assert_eq!(columns[(0, 0)], 1.0);
        assert!(columns[(0, 1)].is_nan());
        assert_eq!(columns[(0, 2)], 3.0);
        let all_low = InputNode::new(arr2(&[[f32::NEG_INFINITY, f32::NEG_INFINITY]]));
        assert_eq!(eval(&all_low.max_rows())[(0, 0)], f32::NEG_INFINITY);
    }

    #[test]
    fn maxima_of_nothing_are_zeros() {
        let table = ParameterNode::new(Array2::ones((4, 3)));
        let ids = IndexInputNode::new(&[]);
        let pooled = table.index(&ids).max_columns();
        let empty_rows = ParameterNode::new(Array2::zeros((2, 0)));
        let per_row = empty_rows.max_rows();
        assert_eq!(eval(&pooled), Array2::<f32>::zeros((1, 3)));
        assert_eq!(eval(&per_row), Array2::<f32>::zeros((2, 1)));
        pooled.backward(1.0);
        per_row.backward(1.0);
        assert_eq!(table.gradient(), Array2::<f32>::zeros((4, 3)));
    }

    /// Predictions agree with `max_rows`: the first largest, NaN first of all.
    #[test]
    fn argmax_rows_picks_what_max_rows_picks() {
        let x = InputNode::new(arr2(&[
            [1.0, 3.0, 3.0],
            [f32::NEG_INFINITY, -1.0, -2.0],
            [0.0, f32::NAN, 5.0],
        ]));
        assert_eq!(x.argmax_rows(), vec![1, 1, 1]);
        let maxima = x.max_rows();
        maxima.forward();
        let picked: Vec<f32> = (0..3).map(|r| x.value()[(r, x.argmax_rows()[r])]).collect();
        assert_eq!(
            picked[..2],
            [maxima.value()[(0, 0)], maxima.value()[(1, 0)]]
        );
        assert!(picked[2].is_nan() && maxima.value()[(2, 0)].is_nan());
        let none = InputNode::new(Array2::zeros((0, 3)));
        assert!(none.argmax_rows().is_empty());
    }

    #[test]
    #[should_panic(expected = "argmax_rows: the value is 2x0; a row of no columns has no largest")]
    fn argmax_of_no_columns_panics() {
        InputNode::new(Array2::zeros((2, 0))).argmax_rows();
    }

    #[test]
    fn static_output_dims() {
        use crate::shape::Dim;
        use crate::typenum::{U2, U3};
        fn dims<T: Node>(_: &Variable<T>) -> (Option<usize>, Option<usize>) {
            (<T::Rows as Dim>::FIXED, <T::Cols as Dim>::FIXED)
        }
        let x = InputNode::<U3, U2>::new_static(Array2::zeros((3, 2)));
        assert_eq!(dims(&x.max_rows()), (Some(3), Some(1)));
        assert_eq!(dims(&x.max_columns()), (Some(1), Some(2)));
    }
}
