//! `slice(s![..])`: selecting rows and columns with an `ndarray` slice.

use super::single::{Single, SingleOp};
use crate::node::Node;
use crate::shape::{fmt_shape, Dim, Dyn};
use crate::Variable;
use ndarray::{Dimension, Ix2, SliceInfo, SliceInfoElem};

/// Selecting a sub-matrix: the rows and columns picked by an `ndarray::s![rows, cols]`
/// slice, in the slice's order; node type [`Slice`].
///
/// Built by [`Variable::slice`]:
///
/// ```
/// use wyrm::*;
/// use wyrm::ndarray::{arr2, s};
/// use wyrm::nodes::{Single, SliceOp};
/// let x = ParameterNode::new(arr2(&[[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]]));
/// let y: Variable<Single<SliceOp, ParameterNode>> = x.slice(s![.., 1..]);
/// y.forward();
/// y.backward(1.0);
/// assert_eq!(y.value(), arr2(&[[2.0, 3.0], [5.0, 6.0]]));
/// // Elements not selected get no gradient.
/// assert_eq!(x.gradient(), arr2(&[[0.0, 1.0, 1.0], [0.0, 1.0, 1.0]]));
/// ```
#[derive(Debug, Clone)]
pub struct SliceOp {
    /// Selected operand rows, in output order.
    rows: Vec<usize>,
    /// Selected operand columns, in output order.
    cols: Vec<usize>,
}

/// The indices an `ndarray` slice element selects on an axis of length `len`, following
/// `ndarray`'s rules: negative `start`/`end` count from the back, an `end` before `start`
/// selects nothing, a negative step walks the range backwards from its last element. An
/// index selects one element and keeps the axis (with length 1).
#[track_caller]
fn axis_indices(elem: SliceInfoElem, len: usize, axis: &str, shape: (usize, usize)) -> Vec<usize> {
    // A function rather than a closure, so that a panic reports the caller's line.
    #[track_caller]
    fn absolute(i: isize, what: &str, len: usize, axis: &str, shape: (usize, usize)) -> usize {
        let abs = if i < 0 {
            len.checked_sub(i.unsigned_abs())
        } else {
            Some(i as usize)
        };
        match abs {
            Some(a) if a <= len => a,
            _ => panic!(
                "`slice`: {axis} {what} {i} is out of range for a {} operand ({len} {axis}s)",
                fmt_shape(shape)
            ),
        }
    }
    match elem {
        SliceInfoElem::Index(i) => {
            let a = absolute(i, "index", len, axis, shape);
            assert!(
                a < len,
                "`slice`: {axis} index {i} is out of range for a {} operand ({len} {axis}s)",
                fmt_shape(shape)
            );
            vec![a]
        }
        SliceInfoElem::Slice { start, end, step } => {
            assert!(step != 0, "`slice`: the {axis} step must not be zero");
            let first = absolute(start, "start", len, axis, shape);
            let last = match end {
                Some(e) => absolute(e, "end", len, axis, shape).max(first),
                None => len,
            };
            let stride = step.unsigned_abs();
            if step > 0 {
                (first..last).step_by(stride).collect()
            } else {
                (first..last).rev().step_by(stride).collect()
            }
        }
        SliceInfoElem::NewAxis => panic!(
            "`slice`: NewAxis is not supported; a slice of a 2-D variable takes one row range \
             and one column range, as in s![1..3, ..]"
        ),
    }
}

impl SliceOp {
    /// The selection of the given operand rows and columns, in output order, checked
    /// against the operand's shape.
    ///
    /// # Panics
    /// If an index is out of range for the operand.
    fn new(rows: Vec<usize>, cols: Vec<usize>, shape: (usize, usize)) -> Self {
        for (indices, len, axis) in [(&rows, shape.0, "row"), (&cols, shape.1, "column")] {
            if let Some(i) = indices.iter().find(|i| **i >= len) {
                panic!(
                    "`slice`: {axis} index {i} is out of range for a {} operand ({len} {axis}s)",
                    fmt_shape(shape)
                );
            }
        }
        SliceOp { rows, cols }
    }
}

impl SingleOp for SliceOp {
    type Rows<R: Dim, C: Dim> = Dyn;
    type Cols<R: Dim, C: Dim> = Dyn;

    fn output_shape(&self, _: (usize, usize)) -> (usize, usize) {
        (self.rows.len(), self.cols.len())
    }

    fn forward(&self, x: &[f32], (_, width): (usize, usize), y: &mut [f32]) {
        let out_cols = self.cols.len();
        if out_cols == 0 {
            return;
        }
        for (yr, r) in y.chunks_exact_mut(out_cols).zip(&self.rows) {
            let xr = &x[r * width..(r + 1) * width];
            for (y, c) in yr.iter_mut().zip(&self.cols) {
                *y = xr[*c];
            }
        }
    }

    fn backward(
        &self,
        g: &[f32],
        _: &[f32],
        _: &[f32],
        (_, width): (usize, usize),
        gx: &mut [f32],
    ) {
        gx.fill(0.0);
        let out_cols = self.cols.len();
        if out_cols == 0 {
            return;
        }
        for (gr, r) in g.chunks_exact(out_cols).zip(&self.rows) {
            let xr = &mut gx[r * width..(r + 1) * width];
            for (g, c) in gr.iter().zip(&self.cols) {
                xr[*c] += *g;
            }
        }
    }
}

/// Node selecting a sub-matrix of its operand.
///
/// ```
/// use wyrm::*;
/// use wyrm::ndarray::{arr2, s};
/// use wyrm::nodes::Slice;
/// let x = InputNode::new(arr2(&[[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]]));
/// // An index keeps the axis: row 1 as a `1 x 3` matrix.
/// let y: Variable<Slice<InputNode>> = x.slice(s![1, ..]);
/// y.forward();
/// assert_eq!(y.value(), arr2(&[[4.0, 5.0, 6.0]]));
/// ```
pub type Slice<T> = Single<SliceOp, T>;

impl<T: Node> Variable<T> {
    /// A sub-matrix selected with `ndarray::s![rows, cols]`, e.g. `s![1..3, ..]` (rows 1
    /// and 2, all columns) or `s![.., 0..;2]` (every other column). Ranges follow
    /// `ndarray`'s rules, including negative indices (counted from the back) and negative
    /// steps (reversed order). A single index such as `s![0, ..]` selects one row but,
    /// unlike in `ndarray`, keeps it 2-D (`1 x cols`). The result has run-time shape; the
    /// selected positions are computed once, here.
    ///
    /// ```
    /// use wyrm::*;
    /// use wyrm::ndarray::{arr2, s};
    /// let x = InputNode::new(arr2(&[[1.0, 2.0, 3.0], [4.0, 5.0, 6.0], [7.0, 8.0, 9.0]]));
    /// let rows = x.slice(s![1..3, ..]);
    /// let cols = x.slice(s![.., 0..;2]);
    /// rows.forward();
    /// cols.forward();
    /// assert_eq!(rows.value().to_owned(), arr2(&[[4.0, 5.0, 6.0], [7.0, 8.0, 9.0]]));
    /// assert_eq!(cols.value().to_owned(), arr2(&[[1.0, 3.0], [4.0, 6.0], [7.0, 9.0]]));
    /// ```
    ///
    /// # Panics
    /// At construction, if a range or index lies outside the variable's shape (the message
    /// names `slice`, the axis, the index and the shape), a step is zero, or the slice
    /// contains `NewAxis`.
    #[track_caller]
    pub fn slice<D: Dimension>(
        &self,
        info: SliceInfo<[SliceInfoElem; 2], Ix2, D>,
    ) -> Variable<Slice<T>> {
        let shape = self.shape();
        let [r, c] = *info;
        let rows = axis_indices(r, shape.0, "row", shape);
        let cols = axis_indices(c, shape.1, "column", shape);
        self.apply(SliceOp::new(rows, cols, shape))
    }
}

#[cfg(test)]
mod tests {
    use crate::*;
    use ndarray::{s, Array2};

    fn numbered(r: usize, c: usize) -> Array2<f32> {
        Array2::from_shape_fn((r, c), |(i, j)| (i * 10 + j) as f32)
    }

    #[test]
    // `2..1` is deliberately empty: ndarray selects nothing, and so must `slice`.
    #[allow(clippy::reversed_empty_ranges)]
    fn values_match_ndarray() {
        let m = numbered(4, 5);
        let x = InputNode::new(m.clone());
        macro_rules! same {
            ($($idx:tt)*) => {{
                let y = x.slice(s![$($idx)*]);
                y.forward();
                assert_eq!(y.value().to_owned(), m.slice(s![$($idx)*]), "s![{}]", stringify!($($idx)*));
            }};
        }
        same!(1..3, ..);
        same!(.., 0..2);
        same!(1..4, 2..5);
        same!(..;2, 1..;3);
        same!(-2.., ..-1);
        same!(..;-1, ..);
        same!(1..4;-2, ..;-3);
        same!(2..1, ..);
        // An index keeps the axis.
        let row = x.slice(s![2, ..]);
        row.forward();
        assert_eq!(row.value().to_owned(), m.slice(s![2..3, ..]));
        let col = x.slice(s![.., -1]);
        col.forward();
        assert_eq!(col.value().to_owned(), m.slice(s![.., 4..5]));
    }

    #[test]
    fn gradients() {
        for (r, c) in [(1, 1), (1, 6), (5, 3)] {
            let x = ParameterNode::new(random_matrix(r, c));
            gradcheck::assert_gradient(&x.slice(s![.., ..]).tanh(), &x);
            gradcheck::assert_gradient(&x.slice(s![0..1, ..]), &x);
            gradcheck::assert_gradient(&x.slice(s![.., ..;2]).square(), &x);
            gradcheck::assert_gradient(&x.slice(s![..;-1, -1..]).exp(), &x);
        }
        let x = ParameterNode::new(random_matrix(5, 3));
        gradcheck::assert_gradient(&x.slice(s![1..4, 1..]).sigmoid(), &x);
        // Overlapping slices of the same variable.
        let y = x.slice(s![0..3, ..]) * x.slice(s![2..5, ..]);
        gradcheck::assert_gradient(&y, &x);
    }

    #[test]
    fn gradient_lands_on_selected_elements() {
        let x = ParameterNode::new(Array2::zeros((3, 3)));
        let y = x.slice(s![1.., ..;2]);
        y.forward();
        y.backward(1.0);
        assert_eq!(
            x.gradient(),
            ndarray::arr2(&[[0.0, 0.0, 0.0], [1.0, 0.0, 1.0], [1.0, 0.0, 1.0]])
        );
    }

    #[test]
    #[should_panic(expected = "`slice`: row end 5 is out of range for a 3x4 operand (3 rows)")]
    fn row_range_out_of_range() {
        let _ = InputNode::new(numbered(3, 4)).slice(s![1..5, ..]);
    }

    #[test]
    #[should_panic(
        expected = "`slice`: column index 4 is out of range for a 3x4 operand (4 columns)"
    )]
    fn column_index_out_of_range() {
        let _ = InputNode::new(numbered(3, 4)).slice(s![.., 4]);
    }

    #[test]
    #[should_panic(
        expected = "`slice`: column start -5 is out of range for a 3x4 operand (4 columns)"
    )]
    fn negative_start_out_of_range() {
        let _ = InputNode::new(numbered(3, 4)).slice(s![.., -5..]);
    }
}
