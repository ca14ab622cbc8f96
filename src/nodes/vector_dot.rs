//! `vector_dot`: the row-wise dot product of two matrices of the same shape.

use crate::kernels::dot;
use crate::node::{Node, NodeState, Pass, Scratch};
use crate::shape::{fmt_shape, Dim, SameDim};
use crate::Variable;
use std::cell::Ref;
use std::rc::Rc;
use typenum::U1;

/// Node for the row-wise dot product: two `m x n` operands give an `m x 1` column whose
/// row `r` is `lhs[r] · rhs[r]`.
pub struct VectorDot<L, R> {
    lhs: Rc<L>,
    rhs: Rc<R>,
    state: NodeState,
    lhs_grad: Scratch,
    rhs_grad: Scratch,
    needs_gradient: bool,
}

impl<L: Node, R: Node> VectorDot<L, R> {
    /// Builds the node; panics naming both shapes if they differ.
    pub fn new(lhs: Rc<L>, rhs: Rc<R>) -> Self {
        let (ls, rs) = (lhs.shape(), rhs.shape());
        assert!(
            ls == rs,
            "shape mismatch in `vector_dot`: cannot take row-wise dot products of a {} (left) \
             and a {} (right); both operands must have the same shape",
            fmt_shape(ls),
            fmt_shape(rs)
        );
        let len = ls.0 * ls.1;
        VectorDot {
            needs_gradient: lhs.needs_gradient() || rhs.needs_gradient(),
            state: NodeState::new((ls.0, 1)),
            lhs_grad: Scratch::new(len),
            rhs_grad: Scratch::new(len),
            lhs,
            rhs,
        }
    }
}

impl<L: Node, R: Node> VectorDot<L, R>
where
    L::Rows: SameDim<R::Rows>,
    L::Cols: SameDim<R::Cols>,
{
    /// `(rows, cols)` of the operands, constant when the dimensions are static.
    #[inline(always)]
    fn dims(&self) -> (usize, usize) {
        let (rows, cols) = self.lhs.shape();
        (
            <L::Rows as SameDim<R::Rows>>::Out::fold(rows),
            <L::Cols as SameDim<R::Cols>>::Out::fold(cols),
        )
    }
}

/// `out[i*cols + j] = g[i] * other[i*cols + j]`: the gradient of one operand.
#[inline(always)]
fn scale_rows(out: &mut [f32], g: &[f32], other: &[f32], cols: usize) {
    for ((o, x), g) in out
        .chunks_exact_mut(cols)
        .zip(other.chunks_exact(cols))
        .zip(g)
    {
        for (o, x) in o.iter_mut().zip(x) {
            *o = *g * *x;
        }
    }
}

impl<L: Node, R: Node> Node for VectorDot<L, R>
where
    L::Rows: SameDim<R::Rows>,
    L::Cols: SameDim<R::Cols>,
{
    type Rows = <L::Rows as SameDim<R::Rows>>::Out;
    type Cols = U1;

    #[inline(always)]
    fn shape(&self) -> (usize, usize) {
        self.state.shape()
    }

    #[inline(always)]
    fn forward(&self, pass: Pass) {
        if !self.state.visit(pass) {
            return;
        }
        self.lhs.forward(pass);
        self.rhs.forward(pass);
        let (rows, cols) = self.dims();
        let len = rows * cols;
        let (a, b) = (self.lhs.value(), self.rhs.value());
        let mut y = self.state.value_mut();
        if cols == 0 {
            y.iter_mut().for_each(|y| *y = 0.0);
            return;
        }
        for ((y, a), b) in y[..rows]
            .iter_mut()
            .zip(a[..len].chunks_exact(cols))
            .zip(b[..len].chunks_exact(cols))
        {
            *y = dot(a, b);
        }
    }

    #[inline(always)]
    fn backward(&self, gradient: &[f32]) {
        if !self.needs_gradient || !self.state.accumulate(gradient) {
            return;
        }
        let (rows, cols) = self.dims();
        let len = rows * cols;
        if cols == 0 {
            return;
        }
        if self.lhs.needs_gradient() {
            {
                let (g, b) = (self.state.gradient(), self.rhs.value());
                let mut ga = self.lhs_grad.borrow_mut();
                scale_rows(&mut ga[..len], &g[..rows], &b[..len], cols);
            }
            self.lhs.backward(&self.lhs_grad.borrow_mut());
        }
        if self.rhs.needs_gradient() {
            {
                let (g, a) = (self.state.gradient(), self.lhs.value());
                let mut gb = self.rhs_grad.borrow_mut();
                scale_rows(&mut gb[..len], &g[..rows], &a[..len], cols);
            }
            self.rhs.backward(&self.rhs_grad.borrow_mut());
        }
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

impl<L: Node> Variable<L> {
    /// The row-wise dot product: for two `m x n` variables, the `m x 1` column whose row
    /// `r` is the dot product of row `r` of `self` with row `r` of `other`.
    ///
    /// ```
    /// use wyrm::*;
    /// let a = InputNode::new(ndarray::arr2(&[[1.0, 2.0], [3.0, 4.0]]));
    /// let b = ParameterNode::new(ndarray::arr2(&[[5.0, 6.0], [7.0, 8.0]]));
    /// let mut c = a.vector_dot(&b);
    /// c.forward();
    /// assert_eq!(c.value().to_owned(), ndarray::arr2(&[[17.0], [53.0]]));
    /// ```
    ///
    /// # Panics
    /// If the two shapes differ (at construction).
    pub fn vector_dot<R: Node>(&self, other: &Variable<R>) -> Variable<VectorDot<L, R>>
    where
        L::Rows: SameDim<R::Rows>,
        L::Cols: SameDim<R::Cols>,
    {
        let node = VectorDot::new(self.node().clone(), other.node().clone());
        Variable::with_params(node, &[self.param_list(), other.param_list()])
    }
}

#[cfg(test)]
mod tests {
    use crate::*;
    use rand::SeedableRng;
    use typenum::{U2, U3};

    /// A seeded standard normal matrix, so that failures reproduce.
    fn matrix(rows: usize, cols: usize, seed: u64) -> ndarray::Array2<f32> {
        init::normal(
            rows,
            cols,
            0.0,
            1.0,
            &mut rand::rngs::StdRng::seed_from_u64(seed),
        )
    }

    #[test]
    fn value_matches_naive() {
        let a = matrix(4, 7, 1);
        let b = matrix(4, 7, 2);
        let mut c = InputNode::new(a.clone()).vector_dot(&InputNode::new(b.clone()));
        c.forward();
        assert_eq!(c.shape(), (4, 1));
        for r in 0..4 {
            let expected: f32 = a.row(r).iter().zip(b.row(r)).map(|(x, y)| x * y).sum();
            assert!((c.value()[(r, 0)] - expected).abs() < 1e-5);
        }
    }

    #[test]
    fn gradients() {
        for (m, n) in [(1, 1), (1, 5), (3, 4), (2, 33)] {
            let a = ParameterNode::new(matrix(m, n, 3));
            let b = ParameterNode::new(matrix(m, n, 4));
            gradcheck::assert_gradient(&mut a.vector_dot(&b), &a);
            gradcheck::assert_gradient(&mut a.vector_dot(&b), &b);
        }
    }

    #[test]
    fn gradient_with_one_side_constant() {
        let a = InputNode::new(matrix(3, 4, 5));
        let b = ParameterNode::new(matrix(3, 4, 6));
        gradcheck::assert_gradient(&mut a.vector_dot(&b), &b);
    }

    #[test]
    fn shared_operand_gradient() {
        // a · a row-wise: the squared norm of each row.
        let a = ParameterNode::new(matrix(3, 5, 7));
        gradcheck::assert_gradient(&mut a.vector_dot(&a), &a);
    }

    #[test]
    fn static_shapes() {
        let a = ParameterNode::<U2, U3>::new_static(matrix(2, 3, 8));
        let b = InputNode::new(matrix(2, 3, 9));
        let mut c = a.vector_dot(&b);
        c.forward();
        assert_eq!(c.shape(), (2, 1));
        gradcheck::assert_gradient(&mut c, &a);
    }

    #[test]
    #[should_panic(
        expected = "shape mismatch in `vector_dot`: cannot take row-wise dot products of a 2x3 (left) and a 2x4 (right)"
    )]
    fn mismatch_panics() {
        let _ = InputNode::new(matrix(2, 3, 10)).vector_dot(&InputNode::new(matrix(2, 4, 11)));
    }
}
