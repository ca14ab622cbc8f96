//! `vector_dot`: the row-wise dot product of two matrices of the same shape.

use super::Child;
use crate::kernels::dot;
use crate::node::{GradientWrite, Node, NodeState, Pass, Scratch};
use crate::shape::{fmt_shape, Dim, SameDim};
use crate::Variable;
use std::cell::Ref;
use std::rc::Rc;
use typenum::U1;

/// Node for the row-wise dot product: two `m x n` operands give an `m x 1` column whose
/// row `r` is `lhs[r] · rhs[r]`.
///
/// ```
/// use wyrm::*;
/// use wyrm::nodes::VectorDot;
/// let a = InputNode::new(ndarray::arr2(&[[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]]));
/// let b = ParameterNode::new(ndarray::arr2(&[[1.0, 1.0], [0.0, 1.0], [1.0, 0.0]]));
/// let y: Variable<VectorDot<InputNode, ParameterNode>> = a.vector_dot(&b);
/// assert_eq!(y.shape(), (3, 1));
/// y.forward();
/// assert_eq!(y.value(), ndarray::arr2(&[[3.0], [4.0], [5.0]]));
/// ```
pub struct VectorDot<L, R> {
    lhs: Child<L>,
    rhs: Child<R>,
    state: NodeState,
    lhs_grad: Scratch,
    rhs_grad: Scratch,
    needs_gradient: bool,
    /// See [`Node::discards_gradient`].
    discards: bool,
}

impl<L: Node, R: Node> VectorDot<L, R> {
    /// Builds the node; panics naming both shapes if they differ.
    ///
    /// ```
    /// use wyrm::*;
    /// use wyrm::nodes::VectorDot;
    /// let a = ParameterNode::new(ndarray::arr2(&[[1.0, 2.0]]));
    /// let b = InputNode::new(ndarray::arr2(&[[3.0, 4.0]]));
    /// // The node `a.vector_dot(&b)` builds, wrapped over its operands.
    /// let node = VectorDot::new(a.node().clone(), b.node().clone());
    /// let y = Variable::with_operands(node, &[(&a).into(), (&b).into()]);
    /// y.forward();
    /// y.backward(1.0);
    /// assert_eq!(y.value(), ndarray::arr2(&[[11.0]]));
    /// // d/da = b
    /// assert_eq!(a.gradient(), ndarray::arr2(&[[3.0, 4.0]]));
    /// ```
    #[track_caller]
    pub fn new(lhs: Rc<L>, rhs: Rc<R>) -> Self {
        let (ls, rs) = (lhs.shape(), rhs.shape());
        assert!(
            ls == rs,
            "shape mismatch in `vector_dot`: cannot take row-wise dot products of a {} (left) \
             and a {} (right); both operands must have the same shape",
            fmt_shape(ls),
            fmt_shape(rs)
        );
        VectorDot {
            needs_gradient: lhs.needs_gradient() || rhs.needs_gradient(),
            discards: crate::node::discards(&[
                (lhs.needs_gradient(), lhs.discards_gradient()),
                (rhs.needs_gradient(), rhs.discards_gradient()),
            ]),
            state: NodeState::new((ls.0, 1)),
            // Taken on first use: lookups and parameters take their gradient in place.
            lhs_grad: Scratch::new(0),
            rhs_grad: Scratch::new(0),
            lhs: Child::new(lhs),
            rhs: Child::new(rhs),
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

    /// Sends the complete gradient `g` of this node's value on to the operands.
    #[inline(always)]
    fn propagate(&self, g: &[f32]) {
        let (rows, cols) = self.dims();
        let len = rows * cols;
        if cols == 0 {
            // Nothing to compute, but each operand still waits for this consumer's
            // (empty) contribution before it propagates the others'.
            if self.lhs.needs_gradient() {
                self.lhs.backward(&[]);
            }
            if self.rhs.needs_gradient() {
                self.rhs.backward(&[]);
            }
            return;
        }
        let g = &g[..rows];
        if self.lhs.discards_gradient() {
            self.lhs.backward_nothing();
        } else if self.lhs.needs_gradient() {
            send_scaled(&*self.lhs, &self.lhs_grad, g, self.rhs.value(), len, cols);
        }
        if self.rhs.discards_gradient() {
            self.rhs.backward_nothing();
        } else if self.rhs.needs_gradient() {
            send_scaled(&*self.rhs, &self.rhs_grad, g, self.lhs.value(), len, cols);
        }
    }
}

/// `out[r*cols + j] = g[r] * other[r*cols + j]` (or `+=` when `accumulate`): the
/// gradient of one operand.
#[inline(always)]
fn scale_rows(out: &mut [f32], g: &[f32], other: &[f32], cols: usize, accumulate: bool) {
    if let [g] = g {
        // One row (a batch of one): no loop set-up around the kernel.
        return crate::kernels::scale(*g, &other[..cols], &mut out[..cols], accumulate);
    }
    let rows = g.len();
    let (out, other) = (&mut out[..rows * cols], &other[..rows * cols]);
    for (r, &g) in g.iter().enumerate() {
        let span = r * cols..(r + 1) * cols;
        crate::kernels::scale(g, &other[span.clone()], &mut out[span], accumulate);
    }
}

/// An operand's gradient `g[r] * x[r]`, written where the operand wants it.
struct ScaledRows<'a> {
    g: &'a [f32],
    x: &'a [f32],
    cols: usize,
}

impl GradientWrite for ScaledRows<'_> {
    #[inline(always)]
    fn write(self, buffer: &mut [f32], accumulate: bool) {
        scale_rows(buffer, self.g, self.x, self.cols, accumulate);
    }
}

/// Hands `operand` its gradient `g[r] * other[r]`, and the node its scratch buffer for it.
/// The gradient is written straight into the operand's own storage when it keeps some (a
/// parameter, or a lookup's row-sparse gradient); otherwise it goes through `scratch`,
/// and `other`'s borrow ends before the operand's backward pass starts.
#[inline(always)]
fn send_scaled<N: Node>(
    operand: &N,
    scratch: &Scratch,
    g: &[f32],
    other: Ref<'_, [f32]>,
    len: usize,
    cols: usize,
) {
    let x = &other[..len];
    if operand.backward_into(ScaledRows { g, x, cols }).is_none() {
        return;
    }
    scale_rows(&mut scratch.borrow_sized(len), g, x, cols, false);
    drop(other);
    operand.backward(&scratch.borrow_mut());
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
        let (a, b) = (&a[..len], &b[..len]);
        if rows == 1 {
            y[0] = dot(a, b);
            return;
        }
        for (r, y) in y[..rows].iter_mut().enumerate() {
            *y = dot(&a[r * cols..(r + 1) * cols], &b[r * cols..(r + 1) * cols]);
        }
    }

    #[inline(always)]
    fn backward(&self, gradient: &[f32]) {
        if !self.needs_gradient {
            return;
        }
        if let Some(g) = self.state.gather(gradient) {
            self.propagate(&g);
        }
    }

    #[inline]
    fn backward_nothing(&self) {
        if self.needs_gradient {
            crate::node::gather_nothing_for_both(
                &self.state,
                |g| self.propagate(g),
                (&*self.lhs, &*self.rhs),
            );
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

    #[inline(always)]
    fn discards_gradient(&self) -> bool {
        self.discards
    }
}

impl<L: Node> Variable<L> {
    /// The row-wise dot product: for two `m x n` variables, the `m x 1` column whose row
    /// `r` is the dot product of row `r` of `self` with row `r` of `other`. Both must have
    /// the same shape (neither is broadcast): to score one query row against every row
    /// of a table, `query.dot_t(&table)` gives the `1 x rows` scores, reading the table in
    /// place.
    ///
    /// ```
    /// use wyrm::*;
    /// let a = InputNode::new(ndarray::arr2(&[[1.0, 2.0], [3.0, 4.0]]));
    /// let b = ParameterNode::new(ndarray::arr2(&[[5.0, 6.0], [7.0, 8.0]]));
    /// let c = a.vector_dot(&b);
    /// c.forward();
    /// assert_eq!(c.value().to_owned(), ndarray::arr2(&[[17.0], [53.0]]));
    /// ```
    ///
    /// # Panics
    /// If the two shapes differ (at construction).
    #[track_caller]
    pub fn vector_dot<R: Node>(&self, other: &Variable<R>) -> Variable<VectorDot<L, R>>
    where
        L::Rows: SameDim<R::Rows>,
        L::Cols: SameDim<R::Cols>,
    {
        let node = VectorDot::new(self.node().clone(), other.node().clone());
        Variable::with_links(node, &[self.links(), other.links()])
    }
}

#[cfg(test)]
mod tests {
    use crate::*;
    use typenum::{U2, U3};

    fn matrix(rows: usize, cols: usize, seed: u64) -> ndarray::Array2<f32> {
        crate::init::seeded(rows, cols, 1.0, seed)
    }

    #[test]
    fn value_matches_naive() {
        let a = matrix(4, 7, 1);
        let b = matrix(4, 7, 2);
        let c = InputNode::new(a.clone()).vector_dot(&InputNode::new(b.clone()));
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
            gradcheck::assert_gradient(&a.vector_dot(&b), &a);
            gradcheck::assert_gradient(&a.vector_dot(&b), &b);
        }
    }

    #[test]
    fn gradient_with_one_side_constant() {
        let a = InputNode::new(matrix(3, 4, 5));
        let b = ParameterNode::new(matrix(3, 4, 6));
        gradcheck::assert_gradient(&a.vector_dot(&b), &b);
    }

    #[test]
    fn shared_operand_gradient() {
        // a · a row-wise: the squared norm of each row.
        let a = ParameterNode::new(matrix(3, 5, 7));
        gradcheck::assert_gradient(&a.vector_dot(&a), &a);
    }

    #[test]
    fn static_shapes() {
        let a = ParameterNode::<U2, U3>::new_static(matrix(2, 3, 8));
        let b = InputNode::new(matrix(2, 3, 9));
        let c = a.vector_dot(&b);
        c.forward();
        assert_eq!(c.shape(), (2, 1));
        gradcheck::assert_gradient(&c, &a);
    }

    #[test]
    #[should_panic(
        expected = "shape mismatch in `vector_dot`: cannot take row-wise dot products of a 2x3 (left) and a 2x4 (right)"
    )]
    fn mismatch_panics() {
        let _ = InputNode::new(matrix(2, 3, 10)).vector_dot(&InputNode::new(matrix(2, 4, 11)));
    }

    #[test]
    fn zero_columns_still_report_to_shared_operands() {
        // `h` has two consumers: the empty slice (through `vector_dot`) and the sum. The
        // empty branch must still report, or `h` never propagates the sum's gradient.
        let p = ParameterNode::new(ndarray::arr2(&[[1.0, 2.0], [3.0, 4.0]]));
        let h = p.clone() * 2.0;
        let empty = h.slice(ndarray::s![.., 0..0]);
        let loss = empty.vector_dot(&empty).scalar_sum() + h.scalar_sum();
        loss.forward();
        loss.backward(1.0);
        assert_eq!(p.gradient(), ndarray::arr2(&[[2.0, 2.0], [2.0, 2.0]]));
    }
}
