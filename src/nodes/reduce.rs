//! Reductions: `scalar_sum` and `mean` over all elements (1x1 results), `sum_rows` (the
//! sum of each row: `rows x 1`) and `sum_columns` (the sum of each column: `1 x cols`).
//!
//! Each reduction is a [`Reduction`] giving its output shape, forward and backward rule;
//! [`Reduce`] does the caching and gradient bookkeeping once for all of them.

use crate::node::{Node, NodeState, Pass, Scratch};
use crate::shape::Dim;
use crate::Variable;
use std::cell::Ref;
use std::marker::PhantomData;
use std::rc::Rc;
use typenum::U1;

/// The math of a reduction of a `rows x cols` operand.
pub trait Reduction: 'static {
    /// Name used in messages.
    const NAME: &'static str;
    /// Output row dimension, given the operand's.
    type Rows<R: Dim>: Dim;
    /// Output column dimension, given the operand's.
    type Cols<C: Dim>: Dim;
    /// Output shape for an operand of shape `(rows, cols)`.
    fn output_shape(shape: (usize, usize)) -> (usize, usize);
    /// Writes the reduction of `x` (shape `(rows, cols)`, row-major) into `y`.
    fn forward(x: &[f32], shape: (usize, usize), y: &mut [f32]);
    /// Writes the gradient with respect to the operand into `gx`, given the upstream
    /// gradient `g` of the output.
    fn backward(g: &[f32], shape: (usize, usize), gx: &mut [f32]);
}

/// Sum of all elements, `1 x 1`; node type [`ScalarSum`].
#[derive(Debug, Clone, Copy)]
pub struct ScalarSumOp;

impl Reduction for ScalarSumOp {
    const NAME: &'static str = "scalar_sum";
    type Rows<R: Dim> = U1;
    type Cols<C: Dim> = U1;

    fn output_shape(_: (usize, usize)) -> (usize, usize) {
        (1, 1)
    }
    #[inline]
    fn forward(x: &[f32], _: (usize, usize), y: &mut [f32]) {
        y[0] = crate::kernels::sum(x);
    }
    #[inline]
    fn backward(g: &[f32], _: (usize, usize), gx: &mut [f32]) {
        gx.fill(g[0]);
    }
}

/// Mean of all elements, `1 x 1`; node type [`Mean`].
#[derive(Debug, Clone, Copy)]
pub struct MeanOp;

impl Reduction for MeanOp {
    const NAME: &'static str = "mean";
    type Rows<R: Dim> = U1;
    type Cols<C: Dim> = U1;

    fn output_shape(_: (usize, usize)) -> (usize, usize) {
        (1, 1)
    }
    #[inline]
    fn forward(x: &[f32], _: (usize, usize), y: &mut [f32]) {
        y[0] = crate::kernels::sum(x) / x.len() as f32;
    }
    #[inline]
    fn backward(g: &[f32], _: (usize, usize), gx: &mut [f32]) {
        let share = g[0] / gx.len() as f32;
        gx.fill(share);
    }
}

/// Sum of each row (summing across the columns), `rows x 1`; node type [`SumRows`].
#[derive(Debug, Clone, Copy)]
pub struct SumRowsOp;

impl Reduction for SumRowsOp {
    const NAME: &'static str = "sum_rows";
    type Rows<R: Dim> = R;
    type Cols<C: Dim> = U1;

    fn output_shape(shape: (usize, usize)) -> (usize, usize) {
        (shape.0, 1)
    }
    #[inline]
    fn forward(x: &[f32], shape: (usize, usize), y: &mut [f32]) {
        for (y, row) in y.iter_mut().zip(x.chunks_exact(shape.1)) {
            *y = crate::kernels::sum(row);
        }
    }
    #[inline]
    fn backward(g: &[f32], shape: (usize, usize), gx: &mut [f32]) {
        for (g, row) in g.iter().zip(gx.chunks_exact_mut(shape.1)) {
            row.fill(*g);
        }
    }
}

/// Sum of each column (summing down the rows), `1 x cols`; node type [`SumColumns`].
#[derive(Debug, Clone, Copy)]
pub struct SumColumnsOp;

impl Reduction for SumColumnsOp {
    const NAME: &'static str = "sum_columns";
    type Rows<R: Dim> = U1;
    type Cols<C: Dim> = C;

    fn output_shape(shape: (usize, usize)) -> (usize, usize) {
        (1, shape.1)
    }
    #[inline]
    fn forward(x: &[f32], shape: (usize, usize), y: &mut [f32]) {
        y.fill(0.0);
        for row in x.chunks_exact(shape.1) {
            crate::kernels::add_assign(y, row);
        }
    }
    #[inline]
    fn backward(g: &[f32], shape: (usize, usize), gx: &mut [f32]) {
        for row in gx.chunks_exact_mut(shape.1) {
            row.copy_from_slice(g);
        }
    }
}

/// Node applying a [`Reduction`] to its operand; see the aliases [`ScalarSum`], [`Mean`],
/// [`SumRows`] and [`SumColumns`].
pub struct Reduce<Op, T> {
    operand: Rc<T>,
    state: NodeState,
    operand_grad: Scratch,
    needs_gradient: bool,
    _op: PhantomData<Op>,
}

/// Node for the sum of all elements (`1 x 1`).
pub type ScalarSum<T> = Reduce<ScalarSumOp, T>;
/// Node for the mean of all elements (`1 x 1`).
pub type Mean<T> = Reduce<MeanOp, T>;
/// Node for the sum of each row (`rows x 1`).
pub type SumRows<T> = Reduce<SumRowsOp, T>;
/// Node for the sum of each column (`1 x cols`).
pub type SumColumns<T> = Reduce<SumColumnsOp, T>;

impl<Op: Reduction, T: Node> Reduce<Op, T> {
    /// Builds the node.
    ///
    /// # Panics
    /// If the operand has no elements.
    pub fn new(operand: Rc<T>) -> Self {
        let shape = operand.shape();
        assert!(
            shape.0 * shape.1 > 0,
            "`{}`: the operand is {}; it must have at least one element",
            Op::NAME,
            crate::shape::fmt_shape(shape)
        );
        Reduce {
            needs_gradient: operand.needs_gradient(),
            state: NodeState::new(Op::output_shape(shape)),
            operand_grad: Scratch::new(shape.0 * shape.1),
            operand,
            _op: PhantomData,
        }
    }

    #[inline(always)]
    fn operand_shape(&self) -> (usize, usize) {
        let (r, c) = self.operand.shape();
        (T::Rows::fold(r), T::Cols::fold(c))
    }
}

impl<Op: Reduction, T: Node> Node for Reduce<Op, T> {
    type Rows = Op::Rows<T::Rows>;
    type Cols = Op::Cols<T::Cols>;

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
        Op::forward(&x[..shape.0 * shape.1], shape, &mut self.state.value_mut());
    }

    #[inline]
    fn backward(&self, gradient: &[f32]) {
        if !self.needs_gradient || !self.state.accumulate(gradient) {
            return;
        }
        let shape = self.operand_shape();
        {
            let g = self.state.gradient();
            let mut gx = self.operand_grad.borrow_mut();
            Op::backward(&g, shape, &mut gx[..shape.0 * shape.1]);
        }
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
    /// The sum of all elements, as a `1 x 1` variable.
    ///
    /// ```
    /// use wyrm::*;
    /// let x = InputNode::new(ndarray::arr2(&[[1.0, 2.0], [3.0, 4.0]]));
    /// let mut s = x.scalar_sum();
    /// s.forward();
    /// assert_eq!(s.value().to_owned(), ndarray::arr2(&[[10.0]]));
    /// ```
    ///
    /// # Panics
    /// If `self` has no elements (at construction).
    pub fn scalar_sum(&self) -> Variable<ScalarSum<T>> {
        Variable::with_params(Reduce::new(self.node().clone()), &[self.param_list()])
    }

    /// The mean of all elements, as a `1 x 1` variable.
    ///
    /// ```
    /// use wyrm::*;
    /// let x = InputNode::new(ndarray::arr2(&[[1.0, 2.0], [3.0, 6.0]]));
    /// let mut m = x.mean();
    /// m.forward();
    /// assert_eq!(m.value()[(0, 0)], 3.0);
    /// ```
    ///
    /// # Panics
    /// If `self` has no elements (at construction).
    pub fn mean(&self) -> Variable<Mean<T>> {
        Variable::with_params(Reduce::new(self.node().clone()), &[self.param_list()])
    }

    /// The sum of each row (adding up the columns of that row): a `rows x 1` column.
    ///
    /// ```
    /// use wyrm::*;
    /// let x = InputNode::new(ndarray::arr2(&[[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]]));
    /// let mut s = x.sum_rows();
    /// s.forward();
    /// assert_eq!(s.value().to_owned(), ndarray::arr2(&[[3.0], [7.0], [11.0]]));
    /// ```
    ///
    /// # Panics
    /// If `self` has no elements (at construction).
    pub fn sum_rows(&self) -> Variable<SumRows<T>> {
        Variable::with_params(Reduce::new(self.node().clone()), &[self.param_list()])
    }

    /// The sum of each column (adding up the rows): a `1 x cols` row.
    ///
    /// ```
    /// use wyrm::*;
    /// let x = InputNode::new(ndarray::arr2(&[[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]]));
    /// let mut s = x.sum_columns();
    /// s.forward();
    /// assert_eq!(s.value().to_owned(), ndarray::arr2(&[[9.0, 12.0]]));
    /// ```
    ///
    /// # Panics
    /// If `self` has no elements (at construction).
    pub fn sum_columns(&self) -> Variable<SumColumns<T>> {
        Variable::with_params(Reduce::new(self.node().clone()), &[self.param_list()])
    }
}

#[cfg(test)]
mod tests {
    use crate::typenum::{U2, U3};
    use crate::*;
    use ndarray::{arr2, Array2, Axis};

    fn eval<T: Node>(mut v: Variable<T>) -> Array2<f32> {
        v.forward();

        v.value().to_owned()
    }

    #[test]
    fn values_match_ndarray() {
        let m = random_matrix(3, 5);
        let x = InputNode::new(m.clone());
        let close = |a: &Array2<f32>, b: &Array2<f32>| {
            assert_eq!(a.dim(), b.dim());
            for (a, b) in a.iter().zip(b.iter()) {
                assert!((a - b).abs() < 1e-5, "{a} vs {b}");
            }
        };
        close(&eval(x.scalar_sum()), &arr2(&[[m.sum()]]));
        close(&eval(x.mean()), &arr2(&[[m.mean().unwrap()]]));
        close(
            &eval(x.sum_rows()),
            &m.sum_axis(Axis(1)).insert_axis(Axis(1)),
        );
        close(
            &eval(x.sum_columns()),
            &m.sum_axis(Axis(0)).insert_axis(Axis(0)),
        );
    }

    #[test]
    fn gradient_values() {
        let x = ParameterNode::new(Array2::zeros((2, 3)));
        let mut m = x.mean();
        m.forward();
        m.backward(6.0);
        assert_eq!(x.gradient(), Array2::from_elem((2, 3), 1.0));
        x.zero_gradient();
        let mut s = x.sum_columns();
        s.forward();
        s.backward_with(arr2(&[[1.0, 2.0, 3.0]]).view());
        assert_eq!(x.gradient(), arr2(&[[1.0, 2.0, 3.0], [1.0, 2.0, 3.0]]));
        x.zero_gradient();
        let mut s = x.sum_rows();
        s.forward();
        s.backward_with(arr2(&[[1.0], [2.0]]).view());
        assert_eq!(x.gradient(), arr2(&[[1.0, 1.0, 1.0], [2.0, 2.0, 2.0]]));
    }

    #[test]
    fn gradients() {
        for (r, c) in [(1, 1), (1, 4), (4, 1), (3, 5)] {
            let x = ParameterNode::new(random_matrix(r, c));
            gradcheck::assert_gradient(&mut x.scalar_sum(), &x);
            gradcheck::assert_gradient(&mut x.mean(), &x);
            gradcheck::assert_gradient(&mut x.sum_rows(), &x);
            gradcheck::assert_gradient(&mut x.sum_columns(), &x);
            // Nonlinear consumers, so the upstream gradient is not constant.
            gradcheck::assert_gradient(&mut x.sum_rows().square(), &x);
            gradcheck::assert_gradient(&mut (x.clone() * x.sum_columns()).mean(), &x);
        }
    }

    #[test]
    fn static_output_dims() {
        fn dims<T: Node>(_: &Variable<T>) -> (Option<usize>, Option<usize>) {
            (<T::Rows as Dim>::FIXED, <T::Cols as Dim>::FIXED)
        }
        let x = InputNode::<U3, U2>::new_static(Array2::zeros((3, 2)));
        assert_eq!(dims(&x.scalar_sum()), (Some(1), Some(1)));
        assert_eq!(dims(&x.mean()), (Some(1), Some(1)));
        assert_eq!(dims(&x.sum_rows()), (Some(3), Some(1)));
        assert_eq!(dims(&x.sum_columns()), (Some(1), Some(2)));
        // A runtime-shaped operand still gives static 1x1 scalars.
        let d = InputNode::new(Array2::zeros((3, 2)));
        assert_eq!(dims(&d.scalar_sum()), (Some(1), Some(1)));
        assert_eq!(dims(&d.sum_rows()), (None, Some(1)));
    }

    #[test]
    #[should_panic(expected = "`mean`: the operand is 0x3; it must have at least one element")]
    fn empty_operand_panics() {
        let _ = InputNode::new(Array2::zeros((0, 3))).mean();
    }
}
