//! `reshape(rows, cols)`: the same elements, read row after row, in another shape.

use super::single::{Single, SingleOp};
use crate::node::Node;
use crate::shape::{fmt_shape, Dim, Dyn};
use crate::Variable;

/// The operand's elements, in row-major order, as a `rows x cols` matrix; node type
/// [`Reshape`]. Its gradient is the upstream gradient read back in the operand's shape.
///
/// ```
/// use wyrm::*;
/// use wyrm::nodes::{ReshapeOp, Single};
/// let x = ParameterNode::new(ndarray::arr2(&[[1.0, 2.0, 3.0, 4.0]]));
/// let y: Variable<Single<ReshapeOp, ParameterNode>> = x.apply(ReshapeOp::new(2, 2));
/// y.forward();
/// assert_eq!(y.value(), ndarray::arr2(&[[1.0, 2.0], [3.0, 4.0]]));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReshapeOp {
    rows: usize,
    cols: usize,
}

impl ReshapeOp {
    /// A reshape to `rows x cols`; the operand must have `rows * cols` elements (checked
    /// when the node is built).
    ///
    /// ```
    /// use wyrm::nodes::{ReshapeOp, SingleOp};
    /// assert_eq!(ReshapeOp::new(3, 2).output_shape((1, 6)), (3, 2));
    /// ```
    pub fn new(rows: usize, cols: usize) -> Self {
        ReshapeOp { rows, cols }
    }
}

impl SingleOp for ReshapeOp {
    type Rows<R: Dim, C: Dim> = Dyn;
    type Cols<R: Dim, C: Dim> = Dyn;

    #[track_caller]
    fn output_shape(&self, shape: (usize, usize)) -> (usize, usize) {
        let (from, to) = (shape.0 * shape.1, self.rows * self.cols);
        assert!(
            from == to,
            "`reshape`: cannot reshape the {} operand ({from} elements) into {} ({to} \
             elements)",
            fmt_shape(shape),
            fmt_shape((self.rows, self.cols))
        );
        (self.rows, self.cols)
    }
    #[inline]
    fn forward(&self, x: &[f32], _: (usize, usize), y: &mut [f32]) {
        y.copy_from_slice(x);
    }
    #[inline]
    fn backward(&self, g: &[f32], _: &[f32], _: &[f32], _: (usize, usize), gx: &mut [f32]) {
        gx.copy_from_slice(g);
    }
}

/// Node for a reshape of its operand: `x.reshape(rows, cols)`.
///
/// ```
/// use wyrm::*;
/// use wyrm::nodes::Reshape;
/// let x = InputNode::new(ndarray::arr2(&[[1.0], [2.0], [3.0], [4.0]]));
/// let y: Variable<Reshape<InputNode>> = x.reshape(1, 4);
/// y.forward();
/// assert_eq!(y.value(), ndarray::arr2(&[[1.0, 2.0, 3.0, 4.0]]));
/// ```
pub type Reshape<T> = Single<ReshapeOp, T>;

impl<T: Node> Variable<T> {
    /// The same elements, read row after row, as a `rows x cols` matrix (NumPy's
    /// `reshape` of a C-ordered array): a stacked column of scores as one row per query
    /// of equal length, a batch of sequences' `batch x (length · width)` rows as one row
    /// per position (`(batch · length) x width`) for a layer applied to every position,
    /// and back. The node holds a copy, written at every forward pass.
    ///
    /// ```
    /// use wyrm::*;
    /// // 2 sequences of 3 positions, 2 features each, one row per sequence.
    /// let x = InputNode::new(ndarray::arr2(&[
    ///     [1.0, 2.0, 3.0, 4.0, 5.0, 6.0],
    ///     [7.0, 8.0, 9.0, 10.0, 11.0, 12.0],
    /// ]));
    /// let w = ParameterNode::new(ndarray::arr2(&[[1.0], [-1.0]]));
    /// // The same weights at every position, then back to one row per sequence.
    /// let per_position = x.reshape(6, 2).dot(&w).reshape(2, 3);
    /// per_position.forward();
    /// assert_eq!(per_position.value(), ndarray::arr2(&[[-1.0; 3], [-1.0; 3]]));
    /// ```
    ///
    /// # Panics
    /// If `rows * cols` is not this node's number of elements, naming both shapes (when
    /// the graph is built).
    #[track_caller]
    pub fn reshape(&self, rows: usize, cols: usize) -> Variable<Reshape<T>> {
        self.apply(ReshapeOp::new(rows, cols))
    }
}

#[cfg(test)]
mod tests {
    use crate::typenum::{U2, U3};
    use crate::*;

    #[test]
    fn values_follow_row_major_order() {
        for ((r, c), (rows, cols)) in [((1, 1), (1, 1)), ((2, 3), (3, 2)), ((4, 3), (1, 12))] {
            let m = random_matrix(r, c);
            let y = InputNode::new(m.clone()).reshape(rows, cols);
            y.forward();
            assert_eq!(y.value(), m.into_shape_with_order((rows, cols)).unwrap());
        }
    }

    #[test]
    fn gradients() {
        for ((r, c), (rows, cols)) in [((1, 1), (1, 1)), ((2, 3), (3, 2)), ((4, 3), (6, 2))] {
            let x = ParameterNode::new(crate::init::seeded(r, c, 1.0, 5));
            let upstream = InputNode::new(crate::init::seeded(rows, cols, 1.0, 6));
            gradcheck::assert_gradient(&(x.reshape(rows, cols).tanh() * upstream).scalar_sum(), &x);
            // A product across the new shape, reading `x` twice.
            gradcheck::assert_gradient(&x.reshape(rows, cols).dot(&x.reshape(cols, rows)), &x);
        }
    }

    /// A statically shaped operand reshapes to a run-time shape.
    #[test]
    fn a_static_operand_reshapes() {
        let x = InputNode::<U2, U3>::new_static(random_matrix(2, 3));
        let y = x.reshape(3, 2);
        y.forward();
        assert_eq!(y.shape(), (3, 2));
    }

    #[test]
    #[should_panic(
        expected = "`reshape`: cannot reshape the 2x3 operand (6 elements) into 4x2 (8 elements)"
    )]
    fn a_wrong_element_count_names_both_shapes() {
        InputNode::new(random_matrix(2, 3)).reshape(4, 2);
    }
}
