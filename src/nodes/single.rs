//! The node behind every operation that maps one operand to a new value as a whole
//! (reductions, row-wise normalisations, transpose, slice). The caching, buffers and
//! gradient bookkeeping live here once; each operation is a [`SingleOp`] giving its
//! output shape and dimensions, its forward rule and its backward rule, side by side.
//! (Elementwise operations have their own, more specialised node: [`Unary`](super::Unary).)

use super::Child;
use crate::node::{Node, NodeState, Pass, Scratch};
use crate::shape::Dim;
use crate::Variable;
use std::cell::Ref;
use std::rc::Rc;

/// The math of a one-operand operation. The operand has shape `shape` (row-major); the
/// output has shape [`output_shape`](SingleOp::output_shape).
///
/// ```
/// use wyrm::nodes::{SingleOp, TransposeOp};
/// assert_eq!(TransposeOp.output_shape((2, 3)), (3, 2));
/// // Values are row-major slices, read with the operand's shape.
/// let mut y = [0.0; 6];
/// TransposeOp.forward(&[1.0, 2.0, 3.0, 4.0, 5.0, 6.0], (2, 3), &mut y);
/// assert_eq!(y, [1.0, 4.0, 2.0, 5.0, 3.0, 6.0]);
/// ```
///
/// See [`Variable::apply`] for implementing your own.
pub trait SingleOp: 'static {
    /// Output row dimension, given the operand's row and column dimensions: `Dyn`, or a
    /// static size that must be the one [`output_shape`](Self::output_shape) gives (the
    /// node checks when it is built, since downstream code trusts static sizes).
    type Rows<R: Dim, C: Dim>: Dim;
    /// Output column dimension, given the operand's row and column dimensions; like
    /// `Rows`, it must agree with `output_shape`.
    type Cols<R: Dim, C: Dim>: Dim;

    /// The output shape for an operand of shape `shape`. Called once, when the node is
    /// built: panic here (naming the operation and the shape) if the operand does not fit.
    ///
    /// ```
    /// use wyrm::nodes::{SingleOp, SumColumnsOp, SumRowsOp};
    /// assert_eq!(SumRowsOp.output_shape((2, 3)), (2, 1));
    /// assert_eq!(SumColumnsOp.output_shape((2, 3)), (1, 3));
    /// ```
    ///
    /// ```should_panic
    /// use wyrm::nodes::{MeanOp, SingleOp};
    /// // Panics: "`mean`: the operand is 0x3; it must have at least one element".
    /// MeanOp.output_shape((0, 3));
    /// ```
    fn output_shape(&self, shape: (usize, usize)) -> (usize, usize);

    /// Writes the value for operand `x` into `y`.
    ///
    /// ```
    /// use wyrm::nodes::{SingleOp, SumRowsOp};
    /// let mut y = [0.0; 2];
    /// SumRowsOp.forward(&[1.0, 2.0, 3.0, 4.0, 5.0, 6.0], (2, 3), &mut y);
    /// assert_eq!(y, [6.0, 15.0]);
    /// ```
    fn forward(&self, x: &[f32], shape: (usize, usize), y: &mut [f32]);

    /// Overwrites `gx` (operand-shaped) with the gradient with respect to the operand,
    /// given the upstream gradient `g` of the output, the operand `x` and the output `y`.
    ///
    /// ```
    /// use wyrm::nodes::{SingleOp, SumColumnsOp};
    /// let x = [1.0, 2.0, 3.0, 4.0];
    /// let y = [4.0, 6.0]; // the column sums of the 2x2 operand
    /// let mut gx = [9.0; 4]; // overwritten, not added to
    /// SumColumnsOp.backward(&[1.0, -1.0], &x, &y, (2, 2), &mut gx);
    /// assert_eq!(gx, [1.0, -1.0, 1.0, -1.0]); // each row gets the upstream gradient
    /// ```
    fn backward(&self, g: &[f32], x: &[f32], y: &[f32], shape: (usize, usize), gx: &mut [f32]);
}

/// Node applying a [`SingleOp`] to its operand.
///
/// The reductions, `softmax`, `t` and `slice` build one; their aliases
/// ([`Mean`](super::Mean), [`Transpose`](super::Transpose), ...) name the operation:
///
/// ```
/// use wyrm::*;
/// use wyrm::nodes::{MeanOp, Single};
/// let x = InputNode::new(ndarray::arr2(&[[1.0, 2.0], [3.0, 6.0]]));
/// let y: Variable<Single<MeanOp, InputNode>> = x.mean();
/// y.forward();
/// assert_eq!(y.value(), ndarray::arr2(&[[3.0]]));
/// ```
pub struct Single<Op, T> {
    op: Op,
    operand: Child<T>,
    state: NodeState,
    operand_grad: Scratch,
    needs_gradient: bool,
    /// See [`Node::discards_gradient`].
    discards: bool,
}

impl<Op: SingleOp, T: Node> Single<Op, T> {
    /// Builds the node; [`SingleOp::output_shape`] checks the operand.
    ///
    /// ```
    /// use wyrm::*;
    /// use wyrm::nodes::{Single, SumColumnsOp};
    /// let x = ParameterNode::new(ndarray::arr2(&[[1.0, 2.0], [3.0, 4.0]]));
    /// // The node `x.sum_columns()` builds, wrapped over its operand.
    /// let node = Single::new(SumColumnsOp, x.node().clone());
    /// let y = Variable::with_operands(node, &[(&x).into()]);
    /// y.forward();
    /// y.backward(1.0);
    /// assert_eq!(y.value(), ndarray::arr2(&[[4.0, 6.0]]));
    /// assert_eq!(x.gradient(), ndarray::arr2(&[[1.0, 1.0], [1.0, 1.0]]));
    /// ```
    #[track_caller]
    pub fn new(op: Op, operand: Rc<T>) -> Self {
        let shape = operand.shape();
        let output = op.output_shape(shape);
        crate::shape::check_node_dims::<Op::Rows<T::Rows, T::Cols>, Op::Cols<T::Rows, T::Cols>>(
            "apply (SingleOp::output_shape)",
            output,
        );
        Single {
            needs_gradient: operand.needs_gradient(),
            discards: crate::node::discards(&[(
                operand.needs_gradient(),
                operand.discards_gradient(),
            )]),
            state: NodeState::new(output),
            operand_grad: Scratch::new(shape.0 * shape.1),
            op,
            operand: Child::new(operand),
        }
    }

    /// The operand's shape, folded to constants where its dimensions are static.
    #[inline(always)]
    fn operand_shape(&self) -> (usize, usize) {
        let (r, c) = self.operand.shape();
        (T::Rows::fold(r), T::Cols::fold(c))
    }

    /// Sends the complete gradient `g` of this node's value on to the operands.
    #[inline(always)]
    fn propagate(&self, g: &[f32]) {
        let shape = self.operand_shape();
        {
            let (g, x, y) = (g, self.operand.value(), self.state.value());
            let mut gx = self.operand_grad.borrow_mut();
            let len = shape.0 * shape.1;
            self.op.backward(g, &x[..len], &y, shape, &mut gx[..len]);
        }
        self.operand.backward(&self.operand_grad.borrow_mut());
    }
}

impl<Op: SingleOp, T: Node> Node for Single<Op, T> {
    type Rows = Op::Rows<T::Rows, T::Cols>;
    type Cols = Op::Cols<T::Rows, T::Cols>;

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
        let shape = self.operand_shape();
        let x = self.operand.value();
        self.op
            .forward(&x[..shape.0 * shape.1], shape, &mut self.state.value_mut());
    }

    #[inline]
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
            self.state
                .gather_nothing(|g| self.propagate(g), || self.operand.backward_nothing());
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

impl<T: Node> Variable<T> {
    /// Applies a one-operand operation: the building block of `scalar_sum`, `softmax`,
    /// `t`, `slice`, ... and of your own whole-matrix functions.
    ///
    /// ```
    /// use wyrm::*;
    /// use wyrm::nodes::SingleOp;
    ///
    /// /// The sum of squares of all elements, as 1x1.
    /// struct SumOfSquares;
    /// impl SingleOp for SumOfSquares {
    ///     type Rows<R: Dim, C: Dim> = Dyn;
    ///     type Cols<R: Dim, C: Dim> = Dyn;
    ///     fn output_shape(&self, _: (usize, usize)) -> (usize, usize) { (1, 1) }
    ///     fn forward(&self, x: &[f32], _: (usize, usize), y: &mut [f32]) {
    ///         y[0] = x.iter().map(|v| v * v).sum();
    ///     }
    ///     fn backward(&self, g: &[f32], x: &[f32], _: &[f32], _: (usize, usize), gx: &mut [f32]) {
    ///         for (gx, x) in gx.iter_mut().zip(x) { *gx = 2.0 * x * g[0]; }
    ///     }
    /// }
    ///
    /// let x = ParameterNode::new(ndarray::arr2(&[[1.0, 2.0]]));
    /// let y = x.apply(SumOfSquares);
    /// y.forward();
    /// assert_eq!(y.value()[(0, 0)], 5.0);
    /// gradcheck::assert_gradient(&y, &x);
    /// ```
    #[track_caller]
    pub fn apply<Op: SingleOp>(&self, op: Op) -> Variable<Single<Op, T>> {
        Variable::with_links(Single::new(op, self.node().clone()), &[self.links()])
    }
}
