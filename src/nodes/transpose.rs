//! `t()`: the transpose.

use crate::node::{Node, NodeState, Pass, Scratch};
use crate::shape::Dim;
use crate::Variable;
use std::cell::Ref;
use std::rc::Rc;

/// Node for the transpose of its operand: a `rows x cols` operand gives `cols x rows`.
pub struct Transpose<T> {
    operand: Rc<T>,
    state: NodeState,
    operand_grad: Scratch,
    needs_gradient: bool,
}

impl<T: Node> Transpose<T> {
    /// Builds the node.
    pub fn new(operand: Rc<T>) -> Self {
        let (rows, cols) = operand.shape();
        Transpose {
            needs_gradient: operand.needs_gradient(),
            state: NodeState::new((cols, rows)),
            operand_grad: Scratch::new(rows * cols),
            operand,
        }
    }
}

/// Writes the transpose of `src` (`rows x cols`, row-major) into `dst` (`cols x rows`).
#[inline]
fn transpose_into(src: &[f32], rows: usize, cols: usize, dst: &mut [f32]) {
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

impl<T: Node> Node for Transpose<T> {
    type Rows = T::Cols;
    type Cols = T::Rows;

    #[inline(always)]
    fn shape(&self) -> (usize, usize) {
        self.state.shape()
    }

    #[inline]
    fn forward(&self, pass: Pass) {
        if !self.state.visit(pass) {
            return;
        }
        self.operand.forward(pass);
        let (rows, cols) = self.operand.shape();
        let (rows, cols) = (T::Rows::fold(rows), T::Cols::fold(cols));
        transpose_into(
            &self.operand.value(),
            rows,
            cols,
            &mut self.state.value_mut(),
        );
    }

    #[inline]
    fn backward(&self, gradient: &[f32]) {
        if !self.needs_gradient || !self.state.accumulate(gradient) {
            return;
        }
        // The gradient is `cols x rows`; transposing it back gives the operand's.
        let (rows, cols) = self.state.shape();
        let (rows, cols) = (T::Cols::fold(rows), T::Rows::fold(cols));
        transpose_into(
            &self.state.gradient(),
            rows,
            cols,
            &mut self.operand_grad.borrow_mut(),
        );
        self.operand.backward(&self.operand_grad.borrow_mut());
    }

    #[inline(always)]
    fn value(&self) -> Ref<'_, [f32]> {
        self.state.value()
    }

    #[inline(always)]
    fn begin_backward(&self) {
        self.state.begin_backward();
    }

    #[inline(always)]
    fn needs_gradient(&self) -> bool {
        self.needs_gradient
    }
}

impl<T: Node> Variable<T> {
    /// The transpose: a `rows x cols` variable gives `cols x rows` (static dimensions are
    /// swapped too).
    ///
    /// ```
    /// use wyrm::*;
    /// let x = InputNode::new(ndarray::arr2(&[[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]]));
    /// let mut y = x.t();
    /// y.forward();
    /// assert_eq!(y.value().to_owned(), ndarray::arr2(&[[1.0, 4.0], [2.0, 5.0], [3.0, 6.0]]));
    /// ```
    pub fn t(&self) -> Variable<Transpose<T>> {
        Variable::with_params(Transpose::new(self.node().clone()), &[self.param_list()])
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
            let mut y = InputNode::new(m.clone()).t();
            y.forward();
            assert_eq!(y.value().to_owned(), m.t());
            assert_eq!(y.shape(), (c, r));
        }
    }

    #[test]
    fn gradients() {
        for (r, c) in [(1, 1), (1, 4), (4, 1), (3, 5)] {
            let x = ParameterNode::new(random_matrix(r, c));
            gradcheck::assert_gradient(&mut x.t(), &x);
            gradcheck::assert_gradient(&mut x.t().tanh(), &x);
            // x · xᵀ uses x twice.
            gradcheck::assert_gradient(&mut x.dot(&x.t()), &x);
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
        let mut z = x.dot(&y);
        z.forward();
        assert_eq!(z.shape(), (3, 3));
    }

    type Transpose2 = nodes::Transpose<InputNode<U3, U2>>;
}
