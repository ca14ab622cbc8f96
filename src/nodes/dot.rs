//! `dot` and `dot_t`: the matrix products `a · b` and `a · bᵀ`, one node type with the
//! right operand's layout as a type parameter (`dot_t` reads `b` in place, where
//! `a.dot(&b.t())` would copy it into its transpose at every pass).

use super::Child;
use crate::kernels::matmul::{gemm, Operand};
use crate::node::{Node, NodeState, Pass, Scratch};
use crate::shape::{fmt_shape, Dim, SameDim};
use crate::Variable;
use std::cell::Ref;
use std::marker::PhantomData;
use std::rc::Rc;

mod sealed {
    /// Keeps the layouts to the two below.
    pub trait Sealed {}
}

/// How [`Dot`] uses its right operand: as it is ([`Plain`], from
/// [`dot`](crate::Variable::dot)) or transposed ([`RhsTransposed`], from
/// [`dot_t`](crate::Variable::dot_t)). Implemented by this crate only.
pub trait DotLayout: sealed::Sealed + 'static {
    /// Whether the product uses the right operand's transpose.
    const RHS_TRANSPOSED: bool;
    /// The right operand's dimension that meets the left's columns.
    type Inner<R: Node>: Dim;
    /// The right operand's dimension that gives the result's columns.
    type Cols<R: Node>: Dim;
}

/// `a · b`: the layout of [`dot`](crate::Variable::dot).
#[derive(Debug, Clone, Copy)]
pub struct Plain;

/// `a · bᵀ`: the layout of [`dot_t`](crate::Variable::dot_t).
#[derive(Debug, Clone, Copy)]
pub struct RhsTransposed;

impl sealed::Sealed for Plain {}
impl sealed::Sealed for RhsTransposed {}

impl DotLayout for Plain {
    const RHS_TRANSPOSED: bool = false;
    type Inner<R: Node> = R::Rows;
    type Cols<R: Node> = R::Cols;
}

impl DotLayout for RhsTransposed {
    const RHS_TRANSPOSED: bool = true;
    type Inner<R: Node> = R::Cols;
    type Cols<R: Node> = R::Rows;
}

/// Node for `lhs · rhsᵀ`, built by [`dot_t`](crate::Variable::dot_t): a [`Dot`] that reads
/// its right operand transposed, in place.
pub type DotT<L, R> = Dot<L, R, RhsTransposed>;

/// Node for the matrix product `lhs · rhs` (`m x k` times `k x n` gives `m x n`), or,
/// with the layout [`RhsTransposed`] ([`DotT`]), `lhs · rhsᵀ` (`m x k` times the
/// transpose of `n x k`).
///
/// ```
/// use wyrm::*;
/// use wyrm::nodes::Dot;
/// let x = InputNode::new(ndarray::arr2(&[[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]]));
/// let w = ParameterNode::new(ndarray::arr2(&[[1.0], [0.0], [-1.0]]));
/// let y: Variable<Dot<InputNode, ParameterNode>> = x.dot(&w);
/// assert_eq!(y.shape(), (2, 1));
/// y.forward();
/// assert_eq!(y.value(), ndarray::arr2(&[[-2.0], [-2.0]]));
/// ```
pub struct Dot<L, R, T: DotLayout = Plain> {
    lhs: Child<L>,
    rhs: Child<R>,
    state: NodeState,
    lhs_grad: Scratch,
    rhs_grad: Scratch,
    needs_gradient: bool,
    /// See [`Node::discards_gradient`].
    discards: bool,
    layout: PhantomData<T>,
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
    /// let y = Variable::with_operands(node, &[(&x).into(), (&w).into()]);
    /// y.forward();
    /// y.backward(1.0);
    /// assert_eq!(y.value(), ndarray::arr2(&[[11.0]]));
    /// // d/dw = xᵀ
    /// assert_eq!(w.gradient(), ndarray::arr2(&[[1.0], [2.0]]));
    /// ```
    #[track_caller]
    pub fn new(lhs: Rc<L>, rhs: Rc<R>) -> Self {
        Dot::build(lhs, rhs)
    }
}

impl<L: Node, R: Node> DotT<L, R> {
    /// Builds the node of [`dot_t`](Variable::dot_t); panics naming both shapes if the
    /// operands' column counts differ.
    ///
    /// ```
    /// use wyrm::*;
    /// use wyrm::nodes::DotT;
    /// let x = InputNode::new(ndarray::arr2(&[[1.0, 2.0]]));
    /// let table = ParameterNode::new(ndarray::arr2(&[[3.0, 4.0], [1.0, 0.0], [0.0, 1.0]]));
    /// // The node `x.dot_t(&table)` builds, wrapped over its operands.
    /// let node = DotT::new_t(x.node().clone(), table.node().clone());
    /// let y = Variable::with_operands(node, &[(&x).into(), (&table).into()]);
    /// y.forward();
    /// y.backward(1.0);
    /// assert_eq!(y.value(), ndarray::arr2(&[[11.0, 1.0, 2.0]]));
    /// // d/dtable = 1ᵀ · x: each row gets x.
    /// assert_eq!(table.gradient(), ndarray::arr2(&[[1.0, 2.0], [1.0, 2.0], [1.0, 2.0]]));
    /// ```
    #[track_caller]
    pub fn new_t(lhs: Rc<L>, rhs: Rc<R>) -> Self {
        Dot::build(lhs, rhs)
    }
}

impl<L: Node, R: Node, T: DotLayout> Dot<L, R, T> {
    /// The right operand as the product uses it.
    #[inline(always)]
    fn rhs_operand<'a>(&self, data: &'a [f32]) -> Operand<'a> {
        Operand {
            data,
            shape: self.rhs.shape(),
            transposed: T::RHS_TRANSPOSED,
        }
    }

    /// Builds the node, checking the operands' shapes for the layout `T`.
    #[track_caller]
    fn build(lhs: Rc<L>, rhs: Rc<R>) -> Self {
        let (ls, rs) = (lhs.shape(), rhs.shape());
        let out = if T::RHS_TRANSPOSED {
            assert!(
                ls.1 == rs.1,
                "shape mismatch in `dot_t`: cannot multiply a {} (left) by the transpose of a \
                 {} (right); the left's column count ({}) must equal the right's column \
                 count ({})",
                fmt_shape(ls),
                fmt_shape(rs),
                ls.1,
                rs.1
            );
            (ls.0, rs.0)
        } else {
            assert!(
                ls.1 == rs.0,
                "shape mismatch in `dot`: cannot multiply a {} (left) by a {} (right); \
                 the left's column count ({}) must equal the right's row count ({})",
                fmt_shape(ls),
                fmt_shape(rs),
                ls.1,
                rs.0
            );
            (ls.0, rs.1)
        };
        Dot {
            needs_gradient: lhs.needs_gradient() || rhs.needs_gradient(),
            discards: crate::node::discards(&[
                (lhs.needs_gradient(), lhs.discards_gradient()),
                (rhs.needs_gradient(), rhs.discards_gradient()),
            ]),
            state: NodeState::new(out),
            // Taken on first use: a parameter's gradient is written in place instead.
            lhs_grad: Scratch::new(0),
            rhs_grad: Scratch::new(0),
            lhs: Child::new(lhs),
            rhs: Child::new(rhs),
            layout: PhantomData,
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
            // dL/dA = G · Bᵀ (for A · Bᵀ: G · B), straight into the operand's gradient
            // storage when it has one (parameters), else into the scratch buffer handed to
            // its `backward`.
            let in_place = {
                let b = self.rhs.value();
                let b = Operand {
                    data: &b,
                    shape: self.rhs.shape(),
                    transposed: !T::RHS_TRANSPOSED,
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
            // dL/dB = Aᵀ · G (for A · Bᵀ: Gᵀ · A)
            let in_place = {
                let a = self.lhs.value();
                let a = Operand {
                    data: &a,
                    shape: self.lhs.shape(),
                    transposed: !T::RHS_TRANSPOSED,
                };
                let (x, y) = if T::RHS_TRANSPOSED {
                    let gt = Operand {
                        transposed: true,
                        ..g
                    };
                    (gt, a)
                } else {
                    (a, g)
                };
                let unwritten = self
                    .rhs
                    .backward_into(|out: &mut [f32], accumulate: bool| gemm(x, y, out, accumulate));
                if unwritten.is_some() {
                    let (rows, cols) = self.rhs.shape();
                    gemm(x, y, &mut self.rhs_grad.borrow_sized(rows * cols), false);
                }
                unwritten.is_none()
            };
            if !in_place {
                self.rhs.backward(&self.rhs_grad.borrow_mut());
            }
        }
    }
}

impl<L: Node, R: Node, T: DotLayout> Node for Dot<L, R, T>
where
    L::Cols: SameDim<T::Inner<R>>,
{
    type Rows = L::Rows;
    type Cols = T::Cols<R>;

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
            self.rhs_operand(&b),
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
    /// table, write `query.dot_t(&table)` ([`dot_t`](Variable::dot_t)), not
    /// `query.dot(&table.t())`, which copies the table into its transpose each pass (see
    /// [`t`](Variable::t)).
    ///
    /// ```
    /// use wyrm::*;
    /// let a = InputNode::new(ndarray::arr2(&[[1.0, 2.0]]));
    /// let b = ParameterNode::new(ndarray::arr2(&[[3.0], [4.0]]));
    /// let c = a.dot(&b);
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

    /// The matrix product with `other`'s transpose, `self · otherᵀ`, reading `other` in
    /// place: `m x k` times the transpose of `n x k` gives `m x n`. The same value as
    /// `self.dot(&other.t())`, which copies `other` into its transpose at every forward
    /// pass; against a large table (scores of a query against every row) that copy is
    /// most of the work.
    ///
    /// ```
    /// use wyrm::*;
    /// // Scores of two queries against three entities.
    /// let entities = ParameterNode::new(ndarray::arr2(&[[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]]));
    /// let queries = InputNode::new(ndarray::arr2(&[[2.0, 3.0], [-1.0, 1.0]]));
    /// let scores = queries.dot_t(&entities);
    /// scores.forward();
    /// assert_eq!(scores.value(), ndarray::arr2(&[[2.0, 3.0, 5.0], [-1.0, 1.0, 0.0]]));
    /// ```
    ///
    /// # Panics
    /// If `self`'s column count differs from `other`'s column count (at construction).
    #[track_caller]
    pub fn dot_t<R: Node>(&self, other: &Variable<R>) -> Variable<DotT<L, R>>
    where
        L::Cols: SameDim<R::Cols>,
    {
        let node = DotT::new_t(self.node().clone(), other.node().clone());
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
        let c = InputNode::new(a.clone()).dot(&InputNode::new(b.clone()));
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
            gradcheck::assert_gradient(&a.dot(&b), &a);
            gradcheck::assert_gradient(&a.dot(&b), &b);
        }
    }

    /// `a.dot_t(&b)` is `a.dot(&b.t())`, in value and in both gradients.
    #[test]
    fn dot_t_matches_dot_of_the_transpose() {
        // The last is large enough for the blocked product.
        for (m, k, n) in [
            (1, 1, 1),
            (1, 5, 3),
            (4, 3, 2),
            (3, 6, 1),
            (2, 4, 300),
            (16, 64, 1100),
        ] {
            let a = ParameterNode::new(random_matrix(m, k));
            let b = ParameterNode::new(random_matrix(n, k));
            let weights = InputNode::new(random_matrix(m, n));
            let fused = (a.dot_t(&b) * weights.clone()).scalar_sum();
            let copied = (a.dot(&b.t()) * weights.clone()).scalar_sum();
            fused.forward();
            fused.backward(1.0);
            let (ga, gb) = (a.gradient(), b.gradient());
            a.zero_gradient();
            b.zero_gradient();
            copied.forward();
            copied.backward(1.0);
            let close = |x: f32, y: f32| (x - y).abs() < 1e-4 * (1.0 + y.abs());
            assert!(close(fused.value()[(0, 0)], copied.value()[(0, 0)]));
            assert!(ga
                .iter()
                .zip(a.gradient().iter())
                .all(|(x, y)| close(*x, *y)));
            assert!(gb
                .iter()
                .zip(b.gradient().iter())
                .all(|(x, y)| close(*x, *y)));
            if n < 1000 {
                gradcheck::assert_gradient(&a.dot_t(&b).tanh(), &a);
                gradcheck::assert_gradient(&a.dot_t(&b).tanh(), &b);
            }
        }
        // The same operand on both sides: a Gram matrix.
        let a = ParameterNode::new(random_matrix(3, 4));
        gradcheck::assert_gradient(&a.dot_t(&a).tanh(), &a);
    }

    /// A product with a transpose keeps static dimensions: rows from the left, columns from
    /// the right's rows.
    #[test]
    fn dot_t_keeps_static_dimensions() {
        use crate::typenum::{U2, U3, U4};
        fn dims<T: Node<Rows = U2, Cols = U4>>(_: &Variable<T>) {}
        let a = ParameterNode::<U2, U3>::new_static(random_matrix(2, 3));
        let b = ParameterNode::<U4, U3>::new_static(random_matrix(4, 3));
        let y = a.dot_t(&b);
        dims(&y);
        y.forward();
        assert_eq!(y.shape(), (2, 4));
    }

    #[test]
    #[should_panic(
        expected = "shape mismatch in `dot_t`: cannot multiply a 1x3 (left) by the transpose of a 3x4 (right); the left's column count (3) must equal the right's column count (4)"
    )]
    fn dot_t_mismatch_panics() {
        let _ = InputNode::new(random_matrix(1, 3)).dot_t(&InputNode::new(random_matrix(3, 4)));
    }

    #[test]
    fn shared_operand_gradient() {
        // a · a for a square matrix uses `a` on both sides.
        let a = ParameterNode::new(random_matrix(3, 3));
        gradcheck::assert_gradient(&a.dot(&a), &a);
    }

    #[test]
    #[should_panic(
        expected = "shape mismatch in `dot`: cannot multiply a 1x3 (left) by a 4x1 (right)"
    )]
    fn mismatch_panics() {
        let _ = InputNode::new(random_matrix(1, 3)).dot(&InputNode::new(random_matrix(4, 1)));
    }
}
