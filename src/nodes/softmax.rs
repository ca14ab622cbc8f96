//! Row-wise `softmax` and `log_softmax`: each row of a minibatch is normalised on its own
//! (wyrm 0.9 normalised the whole matrix). Both subtract the row maximum first, so large
//! inputs do not overflow.
//!
//! Each operation is a [`RowNormalization`] giving the forward and backward rule for one
//! row; [`RowNormalize`] does the caching and gradient bookkeeping for both.

use crate::node::{Node, NodeState, Pass, Scratch};
use crate::Variable;
use std::cell::Ref;
use std::marker::PhantomData;
use std::rc::Rc;

/// The math of an operation applied to each row independently, with output rows of the
/// same length as input rows.
pub trait RowNormalization: 'static {
    /// Name used in messages.
    const NAME: &'static str;
    /// Writes `f(x)` for one row `x` into `y`.
    fn forward_row(x: &[f32], y: &mut [f32]);
    /// Writes the gradient with respect to one input row into `gx`, given the upstream
    /// gradient `g` of that row and the row's output `y`.
    fn backward_row(g: &[f32], y: &[f32], gx: &mut [f32]);
}

/// `softmax(x)_i = exp(x_i - max x) / sum_j exp(x_j - max x)` on each row; node type
/// [`Softmax`].
#[derive(Debug, Clone, Copy)]
pub struct SoftmaxOp;

impl RowNormalization for SoftmaxOp {
    const NAME: &'static str = "softmax";

    #[inline]
    fn forward_row(x: &[f32], y: &mut [f32]) {
        let max = row_max(x);
        let mut total = 0.0;
        for (y, x) in y.iter_mut().zip(x) {
            *y = crate::kernels::exp(*x - max);
            total += *y;
        }
        let inv = 1.0 / total;
        y.iter_mut().for_each(|y| *y *= inv);
    }

    /// `gx_i = y_i (g_i - sum_j g_j y_j)`.
    #[inline]
    fn backward_row(g: &[f32], y: &[f32], gx: &mut [f32]) {
        let gy = crate::kernels::dot(g, y);
        for ((gx, g), y) in gx.iter_mut().zip(g).zip(y) {
            *gx = *y * (*g - gy);
        }
    }
}

/// `log_softmax(x)_i = x_i - max x - ln(sum_j exp(x_j - max x))` on each row; node type
/// [`LogSoftmax`].
#[derive(Debug, Clone, Copy)]
pub struct LogSoftmaxOp;

impl RowNormalization for LogSoftmaxOp {
    const NAME: &'static str = "log_softmax";

    #[inline]
    fn forward_row(x: &[f32], y: &mut [f32]) {
        let max = row_max(x);
        let mut total = 0.0;
        for x in x {
            total += crate::kernels::exp(*x - max);
        }
        let shift = max + crate::kernels::ln(total);
        for (y, x) in y.iter_mut().zip(x) {
            *y = *x - shift;
        }
    }

    /// `gx_i = g_i - softmax(x)_i sum_j g_j`, with `softmax(x)_i = exp(y_i)`.
    #[inline]
    fn backward_row(g: &[f32], y: &[f32], gx: &mut [f32]) {
        let total = crate::kernels::sum(g);
        for ((gx, g), y) in gx.iter_mut().zip(g).zip(y) {
            *gx = *g - crate::kernels::exp(*y) * total;
        }
    }
}

/// The largest element of a non-empty row.
#[inline]
fn row_max(x: &[f32]) -> f32 {
    x.iter().copied().fold(f32::NEG_INFINITY, f32::max)
}

/// Node applying a [`RowNormalization`] to every row of its operand; see the aliases
/// [`Softmax`] and [`LogSoftmax`].
pub struct RowNormalize<Op, T> {
    operand: Rc<T>,
    state: NodeState,
    operand_grad: Scratch,
    needs_gradient: bool,
    _op: PhantomData<Op>,
}

/// Node for the row-wise softmax.
pub type Softmax<T> = RowNormalize<SoftmaxOp, T>;
/// Node for the row-wise log-softmax.
pub type LogSoftmax<T> = RowNormalize<LogSoftmaxOp, T>;

impl<Op: RowNormalization, T: Node> RowNormalize<Op, T> {
    /// Builds the node.
    ///
    /// # Panics
    /// If the operand has no columns (a row of nothing cannot be normalised).
    pub fn new(operand: Rc<T>) -> Self {
        let shape = operand.shape();
        assert!(
            shape.1 > 0,
            "`{}`: the operand is {}; rows must have at least one column",
            Op::NAME,
            crate::shape::fmt_shape(shape)
        );
        RowNormalize {
            needs_gradient: operand.needs_gradient(),
            state: NodeState::new(shape),
            operand_grad: Scratch::new(shape.0 * shape.1),
            operand,
            _op: PhantomData,
        }
    }
}

impl<Op: RowNormalization, T: Node> Node for RowNormalize<Op, T> {
    type Rows = T::Rows;
    type Cols = T::Cols;

    #[inline(always)]
    fn shape(&self) -> (usize, usize) {
        self.state.shape()
    }

    fn forward(&self, pass: Pass) {
        if !self.state.visit(pass) {
            return;
        }
        self.operand.forward(pass);
        let cols = self.state.shape().1;
        let x = self.operand.value();
        let mut y = self.state.value_mut();
        for (yr, xr) in y.chunks_exact_mut(cols).zip(x.chunks_exact(cols)) {
            Op::forward_row(xr, yr);
        }
    }

    fn backward(&self, gradient: &[f32]) {
        if !self.needs_gradient || !self.state.accumulate(gradient) {
            return;
        }
        let cols = self.state.shape().1;
        {
            let (g, y) = (self.state.gradient(), self.state.value());
            let mut gx = self.operand_grad.borrow_mut();
            for ((gxr, gr), yr) in gx
                .chunks_exact_mut(cols)
                .zip(g.chunks_exact(cols))
                .zip(y.chunks_exact(cols))
            {
                Op::backward_row(gr, yr, gxr);
            }
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
    /// Softmax of each row on its own: every row of the result is positive and sums to 1.
    /// Numerically stable (the row maximum is subtracted first).
    ///
    /// ```
    /// use wyrm::*;
    /// let x = InputNode::new(ndarray::arr2(&[[0.0, 0.0], [1000.0, 1000.0]]));
    /// let mut p = x.softmax();
    /// p.forward();
    /// // Rows are normalised separately, and large values do not overflow.
    /// assert_eq!(p.value().to_owned(), ndarray::arr2(&[[0.5, 0.5], [0.5, 0.5]]));
    /// ```
    ///
    /// # Panics
    /// If `self` has no columns (at construction).
    pub fn softmax(&self) -> Variable<Softmax<T>> {
        Variable::with_params(RowNormalize::new(self.node().clone()), &[self.param_list()])
    }

    /// Logarithm of the softmax of each row on its own, computed stably as
    /// `x - max(row) - ln(sum(exp(row - max(row))))`.
    ///
    /// ```
    /// use wyrm::*;
    /// let x = InputNode::new(ndarray::arr2(&[[1.0, 1.0, 1.0, 1.0]]));
    /// let mut l = x.log_softmax();
    /// l.forward();
    /// assert!((l.value()[(0, 2)] - 0.25f32.ln()).abs() < 1e-5);
    /// ```
    ///
    /// # Panics
    /// If `self` has no columns (at construction).
    pub fn log_softmax(&self) -> Variable<LogSoftmax<T>> {
        Variable::with_params(RowNormalize::new(self.node().clone()), &[self.param_list()])
    }
}

#[cfg(test)]
mod tests {
    use crate::*;
    use ndarray::{arr2, Array2};

    /// Row-wise softmax computed naively in f64.
    fn reference(x: &Array2<f32>) -> Array2<f64> {
        let mut out = Array2::zeros(x.dim());
        for (i, row) in x.rows().into_iter().enumerate() {
            let total: f64 = row.iter().map(|v| (*v as f64).exp()).sum();
            for (j, v) in row.iter().enumerate() {
                out[(i, j)] = (*v as f64).exp() / total;
            }
        }
        out
    }

    #[test]
    fn values_are_row_wise() {
        let x = arr2(&[[1.0, 2.0, 3.0], [-1.0, 0.5, 0.0]]);
        let input = InputNode::new(x.clone());
        let (mut p, mut l) = (input.softmax(), input.log_softmax());
        p.forward();
        l.forward();
        let expected = reference(&x);
        for ((p, l), e) in p.value().iter().zip(l.value().iter()).zip(expected.iter()) {
            assert!((*p as f64 - e).abs() < 1e-5, "softmax {p} vs {e}");
            assert!(
                (*l as f64 - e.ln()).abs() < 1e-5,
                "log_softmax {l} vs {}",
                e.ln()
            );
        }
        for row in p.value().rows() {
            assert!((row.sum() - 1.0).abs() < 1e-5);
        }
    }

    #[test]
    fn stable_for_large_inputs() {
        let input = InputNode::new(arr2(&[[1000.0, 1001.0], [-1000.0, -1001.0]]));
        let (mut p, mut l) = (input.softmax(), input.log_softmax());
        p.forward();
        l.forward();
        assert!(p.value().iter().all(|v| v.is_finite()));
        assert!((p.value()[(0, 1)] - 0.731_058_6).abs() < 1e-5);
        assert!((p.value()[(1, 0)] - 0.731_058_6).abs() < 1e-5);
        assert!((l.value()[(0, 0)] - (-1.313_261_7)).abs() < 1e-4);
    }

    #[test]
    fn recomputed_on_every_pass() {
        let input = InputNode::new(arr2(&[[0.0, 0.0]]));
        let mut p = input.softmax();
        p.forward();
        input.set_value(arr2(&[[0.0, 2f32.ln()]]));
        p.forward();
        assert!((p.value()[(0, 1)] - 2.0 / 3.0).abs() < 1e-6);
    }

    #[test]
    fn gradients() {
        for (r, c) in [(1, 1), (1, 5), (3, 4), (5, 2)] {
            let x = ParameterNode::new(random_matrix(r, c));
            gradcheck::assert_gradient(&mut x.softmax(), &x);
            gradcheck::assert_gradient(&mut x.log_softmax(), &x);
            // Inside a larger graph, with the operand shared.
            gradcheck::assert_gradient(&mut (x.softmax() * x.clone()), &x);
        }
    }

    #[test]
    fn no_gradient_work_without_parameters() {
        let mut p = InputNode::new(random_matrix(2, 3)).softmax();
        assert!(!p.needs_gradient());
        p.forward();
        p.backward(1.0);
    }

    #[test]
    #[should_panic(expected = "`softmax`: the operand is 3x0")]
    fn empty_rows_panic() {
        let _ = InputNode::new(Array2::zeros((3, 0))).softmax();
    }
}
