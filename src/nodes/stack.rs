//! `stack(&other, Axis)`: concatenation of two variables along rows or columns.

use super::Child;
use crate::node::{Node, NodeState, Pass, Scratch};
use crate::shape::{fmt_shape, Dyn};
use crate::Variable;
use ndarray::Axis;
use std::cell::Ref;
use std::rc::Rc;

/// Node concatenating two operands: along `Axis(0)` the rows of `rhs` go below those of
/// `lhs` (column counts must match); along `Axis(1)` the columns of `rhs` go to the right
/// of those of `lhs` (row counts must match).
///
/// ```
/// use wyrm::*;
/// use wyrm::ndarray::{arr2, Axis};
/// use wyrm::nodes::Stack;
/// let a = InputNode::new(arr2(&[[1.0], [2.0]]));
/// let b = ParameterNode::new(arr2(&[[3.0, 4.0], [5.0, 6.0]]));
/// let mut y: Variable<Stack<InputNode, ParameterNode>> = a.stack(&b, Axis(1));
/// assert_eq!(y.shape(), (2, 3));
/// y.forward();
/// assert_eq!(y.value(), arr2(&[[1.0, 3.0, 4.0], [2.0, 5.0, 6.0]]));
/// ```
pub struct Stack<L, R> {
    lhs: Child<L>,
    rhs: Child<R>,
    /// `true` for `Axis(0)` (stacking rows), `false` for `Axis(1)` (stacking columns).
    rows: bool,
    state: NodeState,
    lhs_grad: Scratch,
    rhs_grad: Scratch,
    needs_gradient: bool,
    /// See [`Node::discards_gradient`].
    discards: bool,
}

impl<L: Node, R: Node> Stack<L, R> {
    /// Builds the node.
    ///
    /// ```
    /// use wyrm::*;
    /// use wyrm::ndarray::{arr2, Axis};
    /// use wyrm::nodes::Stack;
    /// let a = ParameterNode::new(arr2(&[[1.0, 2.0]]));
    /// let b = InputNode::new(arr2(&[[3.0, 4.0]]));
    /// // The node `a.stack(&b, Axis(0))` builds, wrapped over its operands.
    /// let node = Stack::new(a.node().clone(), b.node().clone(), Axis(0));
    /// let mut y = Variable::with_operands(node, &[(&a).into(), (&b).into()]);
    /// y.forward();
    /// y.backward(1.0);
    /// assert_eq!(y.value(), arr2(&[[1.0, 2.0], [3.0, 4.0]]));
    /// assert_eq!(a.gradient(), arr2(&[[1.0, 1.0]]));
    /// ```
    ///
    /// # Panics
    /// If `axis` is neither `Axis(0)` nor `Axis(1)`, or the operands' other dimension
    /// differs; the message names the op, the axis and both shapes.
    #[track_caller]
    pub fn new(lhs: Rc<L>, rhs: Rc<R>, axis: Axis) -> Self {
        let (ls, rs) = (lhs.shape(), rhs.shape());
        let shape = match axis.index() {
            0 => {
                assert!(
                    ls.1 == rs.1,
                    "shape mismatch in `stack` along Axis(0): cannot stack a {} (top) on a {} \
                     (bottom); stacking rows needs equal column counts",
                    fmt_shape(ls),
                    fmt_shape(rs)
                );
                (ls.0 + rs.0, ls.1)
            }
            1 => {
                assert!(
                    ls.0 == rs.0,
                    "shape mismatch in `stack` along Axis(1): cannot stack a {} (left) beside a \
                     {} (right); stacking columns needs equal row counts",
                    fmt_shape(ls),
                    fmt_shape(rs)
                );
                (ls.0, ls.1 + rs.1)
            }
            n => panic!(
                "`stack`: Axis({n}) does not exist for 2-D operands ({} and {}); use Axis(0) \
                 to stack rows or Axis(1) to stack columns",
                fmt_shape(ls),
                fmt_shape(rs)
            ),
        };
        Stack {
            needs_gradient: lhs.needs_gradient() || rhs.needs_gradient(),
            discards: crate::node::discards(&[
                (lhs.needs_gradient(), lhs.discards_gradient()),
                (rhs.needs_gradient(), rhs.discards_gradient()),
            ]),
            rows: axis.index() == 0,
            state: NodeState::new(shape),
            lhs_grad: Scratch::new(ls.0 * ls.1),
            rhs_grad: Scratch::new(rs.0 * rs.1),
            lhs: Child::new(lhs),
            rhs: Child::new(rhs),
        }
    }

    /// Sends the complete gradient `g` of this node's value on to the operands.
    #[inline(always)]
    fn propagate(&self, g: &[f32]) {
        // A side whose gradient would be discarded is sent nothing instead.
        let want_a = self.lhs.needs_gradient() && !self.lhs.discards_gradient();
        let want_b = self.rhs.needs_gradient() && !self.rhs.discards_gradient();
        if self.lhs.discards_gradient() {
            self.lhs.backward_nothing();
        }
        if self.rhs.discards_gradient() {
            self.rhs.backward_nothing();
        }
        {
            let mut ga = self.lhs_grad.borrow_mut();
            let mut gb = self.rhs_grad.borrow_mut();
            if self.rows {
                let (top, bottom) = g.split_at(ga.len());
                ga.copy_from_slice(top);
                gb.copy_from_slice(bottom);
            } else {
                let (lc, rc) = (self.lhs.shape().1, self.rhs.shape().1);
                for (i, gr) in g.chunks_exact((lc + rc).max(1)).enumerate() {
                    let (left, right) = gr.split_at(lc);
                    ga[i * lc..(i + 1) * lc].copy_from_slice(left);
                    gb[i * rc..(i + 1) * rc].copy_from_slice(right);
                }
            }
        }
        if want_a {
            self.lhs.backward(&self.lhs_grad.borrow_mut());
        }
        if want_b {
            self.rhs.backward(&self.rhs_grad.borrow_mut());
        }
    }
}

impl<L: Node, R: Node> Node for Stack<L, R> {
    type Rows = Dyn;
    type Cols = Dyn;

    #[inline(always)]
    fn shape(&self) -> (usize, usize) {
        self.state.shape()
    }

    fn forward(&self, pass: Pass) {
        if !self.state.visit(pass) {
            return;
        }
        self.lhs.forward(pass);
        self.rhs.forward(pass);
        let (a, b) = (self.lhs.value(), self.rhs.value());
        let mut y = self.state.value_mut();
        if self.rows {
            let (top, bottom) = y.split_at_mut(a.len());
            top.copy_from_slice(&a);
            bottom.copy_from_slice(&b);
        } else {
            let (lc, rc) = (self.lhs.shape().1, self.rhs.shape().1);
            // `max(1)`: with no columns at all there are no chunks to copy (and a chunk
            // size of zero would panic).
            for (i, yr) in y.chunks_exact_mut((lc + rc).max(1)).enumerate() {
                let (left, right) = yr.split_at_mut(lc);
                left.copy_from_slice(&a[i * lc..(i + 1) * lc]);
                right.copy_from_slice(&b[i * rc..(i + 1) * rc]);
            }
        }
    }

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
    /// Concatenates `self` and `other`: `Axis(0)` puts the rows of `other` below those of
    /// `self` (column counts must match), `Axis(1)` puts the columns of `other` to the
    /// right of those of `self` (row counts must match). The result has run-time shape.
    ///
    /// ```
    /// use wyrm::*;
    /// use wyrm::ndarray::{arr2, Axis};
    /// let a = InputNode::new(arr2(&[[1.0, 2.0]]));
    /// let b = InputNode::new(arr2(&[[3.0, 4.0]]));
    /// let mut rows = a.stack(&b, Axis(0));
    /// let mut cols = a.stack(&b, Axis(1));
    /// rows.forward();
    /// cols.forward();
    /// assert_eq!(rows.value().to_owned(), arr2(&[[1.0, 2.0], [3.0, 4.0]]));
    /// assert_eq!(cols.value().to_owned(), arr2(&[[1.0, 2.0, 3.0, 4.0]]));
    /// ```
    ///
    /// # Panics
    /// At construction, if the shapes do not fit along `axis` or `axis` is not 0 or 1; the
    /// message names `stack`, the axis and both shapes.
    #[track_caller]
    pub fn stack<R: Node>(&self, other: &Variable<R>, axis: Axis) -> Variable<Stack<L, R>> {
        let node = Stack::new(self.node().clone(), other.node().clone(), axis);
        Variable::with_links(node, &[self.links(), other.links()])
    }
}

#[cfg(test)]
mod tests {
    use crate::*;
    use ndarray::{concatenate, Axis};

    #[test]
    fn values_match_ndarray() {
        for (axis, ls, rs) in [
            (0, (1, 1), (1, 1)),
            (0, (2, 3), (4, 3)),
            (1, (1, 1), (1, 1)),
            (1, (3, 2), (3, 4)),
        ] {
            let (a, b) = (random_matrix(ls.0, ls.1), random_matrix(rs.0, rs.1));
            let mut y = InputNode::new(a.clone()).stack(&InputNode::new(b.clone()), Axis(axis));
            y.forward();
            let expected = concatenate(Axis(axis), &[a.view(), b.view()]).unwrap();
            assert_eq!(y.value().to_owned(), expected);
        }
    }

    #[test]
    fn gradients() {
        for (axis, ls, rs) in [
            (0, (1, 1), (1, 1)),
            (0, (1, 4), (3, 4)),
            (0, (2, 3), (4, 3)),
            (1, (1, 1), (1, 1)),
            (1, (4, 1), (4, 3)),
            (1, (3, 2), (3, 5)),
        ] {
            let a = ParameterNode::new(random_matrix(ls.0, ls.1));
            let b = ParameterNode::new(random_matrix(rs.0, rs.1));
            let mut y = a.stack(&b, Axis(axis)).tanh();
            gradcheck::assert_gradient(&mut y, &a);
            gradcheck::assert_gradient(&mut y, &b);
        }
    }

    #[test]
    fn same_operand_twice() {
        let a = ParameterNode::new(random_matrix(2, 3));
        gradcheck::assert_gradient(&mut a.stack(&a, Axis(0)).square(), &a);
        gradcheck::assert_gradient(&mut a.stack(&a.exp(), Axis(1)), &a);
    }

    #[test]
    fn only_one_side_needs_gradient() {
        let a = ParameterNode::new(random_matrix(2, 3));
        let x = InputNode::new(random_matrix(2, 2));
        let mut y = x.stack(&a, Axis(1));
        y.forward();
        y.backward(1.0);
        assert_eq!(a.gradient(), ndarray::Array2::<f32>::ones((2, 3)));
    }

    #[test]
    #[should_panic(
        expected = "shape mismatch in `stack` along Axis(0): cannot stack a 2x3 (top) on a 2x4"
    )]
    fn row_mismatch_panics() {
        let _ = InputNode::new(random_matrix(2, 3))
            .stack(&InputNode::new(random_matrix(2, 4)), Axis(0));
    }

    #[test]
    #[should_panic(
        expected = "shape mismatch in `stack` along Axis(1): cannot stack a 2x3 (left) beside a 3x3"
    )]
    fn column_mismatch_panics() {
        let _ = InputNode::new(random_matrix(2, 3))
            .stack(&InputNode::new(random_matrix(3, 3)), Axis(1));
    }

    #[test]
    #[should_panic(expected = "`stack`: Axis(2) does not exist")]
    fn bad_axis_panics() {
        let _ = InputNode::new(random_matrix(2, 3))
            .stack(&InputNode::new(random_matrix(2, 3)), Axis(2));
    }

    #[test]
    fn operands_without_columns_stack_side_by_side() {
        // `q` feeds both the empty stack (through a slice) and the sum: the empty branch
        // must neither panic nor keep `q` from propagating.
        let q = ParameterNode::new(ndarray::arr2(&[[1.0], [2.0]]));
        let empty = q.slice(ndarray::s![.., 0..0]);
        let y = empty.stack(&empty, Axis(1));
        assert_eq!(y.shape(), (2, 0));
        let mut loss = (y.vector_dot(&y) + q.clone()).scalar_sum();
        loss.forward();
        loss.backward(1.0);
        assert_eq!(q.gradient(), ndarray::arr2(&[[1.0], [1.0]]));
    }
}
