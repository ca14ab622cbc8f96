//! `dot`: the matrix product.

use super::Child;
use crate::kernels::matmul::{gemm, Operand};
use crate::node::{Node, NodeState, Pass, Scratch};
use crate::shape::{fmt_shape, SameDim};
use crate::Variable;
use std::cell::Ref;
use std::rc::Rc;

/// Node for the matrix product `lhs · rhs` (`m x k` times `k x n` gives `m x n`).
///
/// ```
/// use wyrm::*;
/// use wyrm::nodes::Dot;
/// let x = InputNode::new(ndarray::arr2(&[[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]]));
/// let w = ParameterNode::new(ndarray::arr2(&[[1.0], [0.0], [-1.0]]));
/// let mut y: Variable<Dot<InputNode, ParameterNode>> = x.dot(&w);
/// assert_eq!(y.shape(), (2, 1));
/// y.forward();
/// assert_eq!(y.value(), ndarray::arr2(&[[-2.0], [-2.0]]));
/// ```
pub struct Dot<L, R> {
    lhs: Child<L>,
    rhs: Child<R>,
    state: NodeState,
    lhs_grad: Scratch,
    rhs_grad: Scratch,
    needs_gradient: bool,
    /// See [`Node::discards_gradient`].
    discards: bool,
}

impl<L: Node, R: Node> Dot<L, R> {
    /// Builds the node; panics naming both shapes if the inner dimensions differ.
    ///
    /// ```
    /// use wyrm::*;
    /// use wyrm::nodes::Dot;
    /// let x = InputNode::new(ndarray::arr2(&[[1.0, 2.0]]));
    /// let w = ParameterNode::new(ndarray::arr2(&[[3.0], [4.0]]));
    /// // The node `x.dot(&w)` builds, wrapped over its operands.
    /// let node = Dot::new(x.node().clone(), w.node().clone());
    /// let mut y = Variable::with_operands(node, &[(&x).into(), (&w).into()]);
    /// y.forward();
    /// y.backward(1.0);
    /// assert_eq!(y.value(), ndarray::arr2(&[[11.0]]));
    /// // d/dw = xᵀ
    /// assert_eq!(w.gradient(), ndarray::arr2(&[[1.0], [2.0]]));
    /// ```
    #[track_caller]
    pub fn new(lhs: Rc<L>, rhs: Rc<R>) -> Self {
        let (ls, rs) = (lhs.shape(), rhs.shape());
        assert!(
            ls.1 == rs.0,
            "shape mismatch in `dot`: cannot multiply a {} (left) by a {} (right); \
             the left's column count ({}) must equal the right's row count ({})",
            fmt_shape(ls),
            fmt_shape(rs),
            ls.1,
            rs.0
        );
        Dot {
            needs_gradient: lhs.needs_gradient() || rhs.needs_gradient(),
            discards: crate::node::discards(&[
                (lhs.needs_gradient(), lhs.discards_gradient()),
                (rhs.needs_gradient(), rhs.discards_gradient()),
            ]),
            state: NodeState::new((ls.0, rs.1)),
            // Taken on first use: a parameter's gradient is written in place instead.
            lhs_grad: Scratch::new(0),
            rhs_grad: Scratch::new(0),
            lhs: Child::new(lhs),
            rhs: Child::new(rhs),
        }
    }

    /// Sends the complete gradient `g` of this node's value on to the operands.
    #[inline(always)]
    fn propagate(&self, g: &[f32]) {
        let g = Operand {
            data: g,
            shape: self.state.shape(),
            transposed: false,
        };
        if self.lhs.discards_gradient() {
            self.lhs.backward_nothing();
        } else if self.lhs.needs_gradient() {
            // dL/dA = G · Bᵀ, straight into the operand's gradient storage when it has one
            // (parameters), else into the scratch buffer handed to its `backward`.
            let in_place = {
                let b = self.rhs.value();
                let b = Operand {
                    data: &b,
                    shape: self.rhs.shape(),
                    transposed: true,
                };
                let unwritten = self
                    .lhs
                    .backward_into(|out: &mut [f32], accumulate: bool| gemm(g, b, out, accumulate));
                if unwritten.is_some() {
                    let (rows, cols) = self.lhs.shape();
                    gemm(g, b, &mut self.lhs_grad.borrow_sized(rows * cols), false);
                }
                unwritten.is_none()
            };
            if !in_place {
                self.lhs.backward(&self.lhs_grad.borrow_mut());
            }
        }
        if self.rhs.discards_gradient() {
            self.rhs.backward_nothing();
        } else if self.rhs.needs_gradient() {
            // dL/dB = Aᵀ · G
            let in_place = {
                let a = self.lhs.value();
                let a = Operand {
                    data: &a,
                    shape: self.lhs.shape(),
                    transposed: true,
                };
                let unwritten = self
                    .rhs
                    .backward_into(|out: &mut [f32], accumulate: bool| gemm(a, g, out, accumulate));
                if unwritten.is_some() {
                    let (rows, cols) = self.rhs.shape();
                    gemm(a, g, &mut self.rhs_grad.borrow_sized(rows * cols), false);
                }
                unwritten.is_none()
            };
            if !in_place {
                self.rhs.backward(&self.rhs_grad.borrow_mut());
            }
        }
    }
}

impl<L: Node, R: Node> Node for Dot<L, R>
where
    L::Cols: SameDim<R::Rows>,
{
    type Rows = L::Rows;
    type Cols = R::Cols;

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
        gemm(
            Operand {
                data: &a,
                shape: self.lhs.shape(),
                transposed: false,
            },
            Operand {
                data: &b,
                shape: self.rhs.shape(),
                transposed: false,
            },
            &mut self.state.value_mut(),
            false,
        );
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

    fn value(&self) -> Ref<'_, [f32]> {
        self.state.value()
    }

    #[inline(always)]
    fn begin_backward(&self) {
        self.state.begin_backward();
    }

    fn needs_gradient(&self) -> bool {
        self.needs_gradient
    }

    #[inline(always)]
    fn discards_gradient(&self) -> bool {
        self.discards
    }
}

impl<L: Node> Variable<L> {
    /// The matrix product `self · other`.
    ///
    /// Both operands are read in place. To score a query against every row of a large
    /// table, write `table.dot(&query.t())` (a column of scores), not
    /// `query.dot(&table.t())`, which copies the table into its transpose each pass (see
    /// [`t`](Variable::t)).
    ///
    /// ```
    /// use wyrm::*;
    /// let a = InputNode::new(ndarray::arr2(&[[1.0, 2.0]]));
    /// let b = ParameterNode::new(ndarray::arr2(&[[3.0], [4.0]]));
    /// let mut c = a.dot(&b);
    /// c.forward();
    /// assert_eq!(c.value()[(0, 0)], 11.0);
    /// ```
    ///
    /// # Panics
    /// If `self`'s column count differs from `other`'s row count (at construction).
    #[track_caller]
    pub fn dot<R: Node>(&self, other: &Variable<R>) -> Variable<Dot<L, R>>
    where
        L::Cols: SameDim<R::Rows>,
    {
        let node = Dot::new(self.node().clone(), other.node().clone());
        Variable::with_links(node, &[self.links(), other.links()])
    }
}

#[cfg(test)]
mod tests {
    use crate::*;

    #[test]
    fn value_matches_ndarray() {
        let a = random_matrix(3, 4);
        let b = random_matrix(4, 2);
        let mut c = InputNode::new(a.clone()).dot(&InputNode::new(b.clone()));
        c.forward();
        let expected = a.dot(&b);
        for (x, y) in c.value().iter().zip(expected.iter()) {
            assert!((x - y).abs() < 1e-5);
        }
    }

    #[test]
    fn gradients() {
        for (m, k, n) in [(1, 1, 1), (1, 5, 3), (4, 3, 2), (3, 6, 1)] {
            let a = ParameterNode::new(random_matrix(m, k));
            let b = ParameterNode::new(random_matrix(k, n));
            gradcheck::assert_gradient(&mut a.dot(&b), &a);
            gradcheck::assert_gradient(&mut a.dot(&b), &b);
        }
    }

    #[test]
    fn shared_operand_gradient() {
        // a · a for a square matrix uses `a` on both sides.
        let a = ParameterNode::new(random_matrix(3, 3));
        gradcheck::assert_gradient(&mut a.dot(&a), &a);
    }

    #[test]
    #[should_panic(
        expected = "shape mismatch in `dot`: cannot multiply a 1x3 (left) by a 4x1 (right)"
    )]
    fn mismatch_panics() {
        let _ = InputNode::new(random_matrix(1, 3)).dot(&InputNode::new(random_matrix(4, 1)));
    }
}
