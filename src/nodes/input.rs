//! [`InputNode`]: a leaf whose value the user sets before each forward pass.

use crate::node::{Node, Pass};
use crate::shape::{check_static, fmt_shape, Dim, Dyn, Static};
use crate::Variable;
use ndarray::{Array2, ArrayBase, ArrayView2, Data, Ix2};
use std::cell::{Ref, RefCell};
use std::marker::PhantomData;
use std::rc::Rc;

/// An input: a leaf node holding data that is set with
/// [`set_value`](Variable::<InputNode>::set_value) before each forward pass.
///
/// Inputs get no gradient unless built with [`InputNode::with_gradient`] (useful for
/// gradient checks and for optimising inputs).
///
/// ```
/// use wyrm::*;
///
/// let x = InputNode::new(ndarray::Array2::zeros((1, 2)));
/// x.set_value(&ndarray::arr2(&[[1.0, 2.0]]));
/// assert_eq!(x.value()[(0, 1)], 2.0);
/// ```
pub struct InputNode<R: Dim = Dyn, C: Dim = Dyn> {
    shape: (usize, usize),
    value: RefCell<Vec<f32>>,
    /// Present when the input tracks its gradient; accumulates like a parameter's.
    gradient: Option<RefCell<Vec<f32>>>,
    _dims: PhantomData<fn() -> (R, C)>,
}

impl<R: Dim, C: Dim> InputNode<R, C> {
    #[track_caller]
    fn build(value: Array2<f32>, track: bool) -> Variable<Self> {
        let shape = value.dim();
        check_static::<R, C>("InputNode", shape);
        let data: Vec<f32> = value.as_standard_layout().iter().copied().collect();
        let gradient = track.then(|| RefCell::new(vec![0.0; data.len()]));
        Variable::from_parts(
            Rc::new(InputNode {
                shape,
                value: RefCell::new(data),
                gradient,
                _dims: PhantomData,
            }),
            crate::variable::Links::parameters(Rc::from(Vec::new())),
        )
    }

    /// Element `i` (row-major), for the gradient checker.
    pub(crate) fn element(&self, i: usize) -> f32 {
        self.value.borrow()[i]
    }

    /// Sets element `i` (row-major), for the gradient checker: one element, where
    /// `set_value` would copy the whole input.
    pub(crate) fn set_element(&self, i: usize, value: f32) {
        let mut buffer = (self.value.try_borrow_mut())
            .unwrap_or_else(|_| crate::node::value_in_use("InputNode::set_value", "`Node::value`"));
        buffer[i] = value;
        Pass::next();
    }
}

impl InputNode {
    /// An input with run-time shape holding `value`.
    ///
    /// ```
    /// use wyrm::*;
    ///
    /// let x = InputNode::new(ndarray::arr2(&[[1.0, 2.0, 3.0]]));
    /// assert_eq!(x.shape(), (1, 3));
    /// assert_eq!(x.value()[(0, 2)], 3.0);
    /// assert!(!x.needs_gradient()); // data, not trained
    /// ```
    pub fn new(value: Array2<f32>) -> Variable<InputNode> {
        Self::build(value, false)
    }

    /// An input that also accumulates its gradient (read it with
    /// [`gradient`](Variable::<InputNode>::gradient)).
    ///
    /// ```
    /// use wyrm::*;
    ///
    /// let x = InputNode::with_gradient(ndarray::arr2(&[[1.0, -2.0]]));
    /// let y = x.square().scalar_sum();
    /// y.forward();
    /// y.backward(1.0);
    /// assert_eq!(x.gradient(), ndarray::arr2(&[[2.0, -4.0]])); // d(x^2)/dx = 2x
    /// ```
    ///
    /// A saliency map of a trained classifier: the gradient of each row's predicted
    /// class's logit with respect to that row's features. Over detached weights, no
    /// weight gradient is computed, and none accumulates in the weights between calls;
    /// the input's does, so clear it before each backward pass.
    ///
    /// ```
    /// use wyrm::*;
    ///
    /// let w = ParameterNode::new(ndarray::arr2(&[[1.0, -1.0], [0.0, 3.0]])); // trained
    /// let x = InputNode::with_gradient(ndarray::arr2(&[[1.0, 1.0], [2.0, -1.0]]));
    /// let logits = x.dot(&w.detach());
    /// logits.forward();
    /// let predicted: Vec<usize> = logits.argmax_rows();
    /// assert_eq!(predicted, [1, 0]);
    /// let top = logits.pick(&IndexInputNode::new(&predicted)).scalar_sum();
    /// x.zero_gradient();
    /// top.forward();
    /// top.backward(1.0);
    /// // Row 0's logit 1 is x·(-1, 3); row 1's logit 0 is x·(1, 0).
    /// assert_eq!(x.gradient(), ndarray::arr2(&[[-1.0, 3.0], [1.0, 0.0]]));
    /// assert!(!w.has_gradient());
    /// ```
    pub fn with_gradient(value: Array2<f32>) -> Variable<InputNode> {
        Self::build(value, true)
    }
}

impl<R: Static, C: Static> InputNode<R, C> {
    /// An input with compile-time shape `R x C` (typenum sizes).
    ///
    /// ```
    /// use wyrm::*;
    /// use wyrm::typenum::U3;
    ///
    /// let x = InputNode::<U3, U3>::new_static(ndarray::Array2::eye(3));
    /// assert_eq!(x.value()[(2, 2)], 1.0);
    /// ```
    ///
    /// # Panics
    /// If `value` is not `R x C`.
    #[track_caller]
    pub fn new_static(value: Array2<f32>) -> Variable<Self> {
        Self::build(value, false)
    }

    /// An input with compile-time shape `R x C` that also accumulates its gradient, as
    /// [`with_gradient`](InputNode::with_gradient) does.
    ///
    /// ```
    /// use wyrm::*;
    /// use wyrm::typenum::{U1, U2};
    ///
    /// let x = InputNode::<U1, U2>::with_gradient_static(ndarray::arr2(&[[3.0, 4.0]]));
    /// let y = x.square().scalar_sum();
    /// y.forward();
    /// y.backward(1.0);
    /// assert_eq!(x.gradient(), ndarray::arr2(&[[6.0, 8.0]]));
    /// ```
    ///
    /// # Panics
    /// If `value` is not `R x C`.
    #[track_caller]
    pub fn with_gradient_static(value: Array2<f32>) -> Variable<Self> {
        Self::build(value, true)
    }
}

/// Values accepted by [`set_value`](Variable::<InputNode>::set_value): an `f32` (for a 1x1
/// input), a 2-D array or view of the input's shape, or a slice (or a reference to a
/// `Vec` or an array) of all its values, row after row.
///
/// ```
/// use ndarray::{arr2, Array2};
/// use wyrm::*;
///
/// let scalar = InputNode::new(Array2::zeros((1, 1)));
/// scalar.set_value(0.5); // an f32, for a 1x1 input
/// assert_eq!(scalar.value()[(0, 0)], 0.5);
/// let x = InputNode::new(Array2::zeros((2, 2)));
/// let a = arr2(&[[1.0, 2.0], [3.0, 4.0]]);
/// x.set_value(&a); // a reference to an array
/// x.set_value(a.t()); // a view, here transposed
/// assert_eq!(x.value(), arr2(&[[1.0, 3.0], [2.0, 4.0]]));
/// x.set_value(&[5.0, 6.0, 7.0, 8.0]); // the values row after row: a request's features
/// assert_eq!(x.value(), arr2(&[[5.0, 6.0], [7.0, 8.0]]));
/// let features: Vec<f32> = vec![0.0; 4];
/// x.set_value(&features);
/// x.set_value(&[[1.0, 2.0], [3.0, 4.0]]); // rows of a fixed size
/// assert_eq!(x.value(), arr2(&[[1.0, 2.0], [3.0, 4.0]]));
/// let buffer: Vec<[f32; 2]> = vec![[0.5, 1.5], [2.5, 3.5]]; // or a slice of them
/// x.set_value(&buffer);
/// x.set_value(&buffer[..]);
/// assert_eq!(x.value(), arr2(&[[0.5, 1.5], [2.5, 3.5]]));
/// ```
pub trait InputValue {
    /// Writes the value into `out`, a row-major buffer of shape `shape`.
    ///
    /// ```
    /// use wyrm::nodes::InputValue;
    ///
    /// let a = ndarray::arr2(&[[1.0, 2.0], [3.0, 4.0]]);
    /// let mut out = [0.0; 4];
    /// a.t().write_into((2, 2), &mut out); // a transposed view, written row by row
    /// assert_eq!(out, [1.0, 3.0, 2.0, 4.0]);
    /// ```
    ///
    /// # Panics
    /// If the value's shape differs from `shape`.
    fn write_into(self, shape: (usize, usize), out: &mut [f32]);
}

impl InputValue for f32 {
    #[inline(always)]
    #[track_caller]
    fn write_into(self, shape: (usize, usize), out: &mut [f32]) {
        assert!(
            shape == (1, 1),
            "set_value: an f32 can only be set on a 1x1 input, this input is {}",
            fmt_shape(shape)
        );
        out[0] = self;
    }
}

impl<S: Data<Elem = f32>> InputValue for &ArrayBase<S, Ix2> {
    #[track_caller]
    fn write_into(self, shape: (usize, usize), out: &mut [f32]) {
        check_shape("the array is", self.dim(), shape);
        match self.as_slice() {
            Some(s) => out.copy_from_slice(s),
            None => out.iter_mut().zip(self.iter()).for_each(|(d, s)| *d = *s),
        }
    }
}

impl InputValue for &[f32] {
    #[track_caller]
    fn write_into(self, shape: (usize, usize), out: &mut [f32]) {
        assert!(
            self.len() == out.len(),
            "set_value: got {} values but the input is {} ({} values, row after row)",
            self.len(),
            fmt_shape(shape),
            out.len()
        );
        out.copy_from_slice(self);
    }
}

impl InputValue for &Vec<f32> {
    #[track_caller]
    fn write_into(self, shape: (usize, usize), out: &mut [f32]) {
        self[..].write_into(shape, out)
    }
}

impl<const N: usize> InputValue for &[f32; N] {
    #[track_caller]
    fn write_into(self, shape: (usize, usize), out: &mut [f32]) {
        self[..].write_into(shape, out)
    }
}

/// Panics unless a value of shape `got` fits an input of shape `shape`; `what` starts
/// the message ("the array is").
#[track_caller]
fn check_shape(what: &str, got: (usize, usize), shape: (usize, usize)) {
    if got != shape {
        // Advice on batch sizes only where the row count is what differs.
        let advice = if got.1 == shape.1 {
            ": for another batch size, build another graph over the same parameters; in a \
             `model!` whose batch size is a run-time dimension, `with_dimensions` does"
        } else {
            ""
        };
        panic!(
            "set_value: {what} {} but the input is {} (an input's shape is fixed when the \
             graph is built{advice})",
            fmt_shape(got),
            fmt_shape(shape)
        );
    }
}

/// Rows of a fixed size: `&[[1.0, 2.0], [3.0, 4.0]]` is a 2x2 value.
impl<const R: usize, const C: usize> InputValue for &[[f32; C]; R] {
    #[track_caller]
    fn write_into(self, shape: (usize, usize), out: &mut [f32]) {
        self[..].write_into(shape, out)
    }
}

/// Any number of rows of a fixed size (a rollout buffer of observations): one value
/// row per element.
impl<const C: usize> InputValue for &[[f32; C]] {
    #[track_caller]
    fn write_into(self, shape: (usize, usize), out: &mut [f32]) {
        check_shape("the rows are", (self.len(), C), shape);
        out.copy_from_slice(self.as_flattened());
    }
}

/// As for a slice of rows.
impl<const C: usize> InputValue for &Vec<[f32; C]> {
    #[track_caller]
    fn write_into(self, shape: (usize, usize), out: &mut [f32]) {
        self[..].write_into(shape, out)
    }
}

impl InputValue for ArrayView2<'_, f32> {
    #[track_caller]
    fn write_into(self, shape: (usize, usize), out: &mut [f32]) {
        (&self).write_into(shape, out)
    }
}

impl InputValue for Array2<f32> {
    #[track_caller]
    fn write_into(self, shape: (usize, usize), out: &mut [f32]) {
        (&self).write_into(shape, out)
    }
}

impl<R: Dim, C: Dim> Variable<InputNode<R, C>> {
    /// Sets the input's value for the next forward pass.
    ///
    /// The latest forward pass no longer counts as any variable's own: a
    /// [`backward`](Variable::backward) that follows without a forward pass runs the
    /// forward pass again first, so its gradients are those of the new value rather than a
    /// mix of the two. (The same holds for index inputs and parameters.)
    ///
    /// ```
    /// use ndarray::arr2;
    /// use wyrm::*;
    ///
    /// let w = ParameterNode::new(arr2(&[[0.5]]));
    /// let x = InputNode::new(arr2(&[[2.0]]));
    /// let y = (w.clone() * x.clone()).square();
    /// y.forward();
    /// x.set_value(4.0);
    /// y.backward(1.0); // forwards again at x = 4: d(w x)^2/dw = 2 w x^2
    /// assert_eq!(w.gradient()[(0, 0)], 16.0);
    /// ```
    ///
    /// # Panics
    /// If the value's shape differs from the input's (an `f32` needs a 1x1 input); the
    /// value is then unchanged.
    #[inline(always)]
    #[track_caller]
    pub fn set_value(&self, value: impl InputValue) {
        let node = self.node();
        let mut buffer = (node.value.try_borrow_mut())
            .unwrap_or_else(|_| crate::node::value_in_use("InputNode::set_value", "`Node::value`"));
        value.write_into(node.shape, &mut buffer);
        Pass::next();
    }

    /// The gradient accumulated since the last [`zero_gradient`](Self::zero_gradient).
    ///
    /// ```
    /// use wyrm::*;
    ///
    /// let x = InputNode::with_gradient(ndarray::arr2(&[[3.0]]));
    /// let y = x.clone() * 2.0;
    /// y.forward();
    /// y.backward(1.0);
    /// y.backward(1.0); // adds to the first
    /// assert_eq!(x.gradient()[(0, 0)], 4.0);
    /// ```
    ///
    /// # Panics
    /// If the input was not built with [`InputNode::with_gradient`].
    pub fn gradient(&self) -> Array2<f32> {
        let node = self.node();
        let g = node
            .gradient
            .as_ref()
            .expect("InputNode::gradient: this input does not track gradients; build it with InputNode::with_gradient");
        Array2::from_shape_vec(node.shape, g.borrow().clone()).expect("shape matches buffer")
    }

    /// Clears the accumulated gradient (no effect on inputs without one).
    ///
    /// ```
    /// use wyrm::*;
    ///
    /// let x = InputNode::with_gradient(ndarray::arr2(&[[3.0]]));
    /// let y = x.square();
    /// y.forward();
    /// y.backward(1.0);
    /// assert_eq!(x.gradient()[(0, 0)], 6.0);
    /// x.zero_gradient();
    /// assert_eq!(x.gradient()[(0, 0)], 0.0);
    /// InputNode::new(ndarray::arr2(&[[3.0]])).zero_gradient(); // no gradient: no effect
    /// ```
    pub fn zero_gradient(&self) {
        if let Some(g) = &self.node().gradient {
            g.borrow_mut().iter_mut().for_each(|x| *x = 0.0);
        }
    }
}

impl<R: Dim, C: Dim> Node for InputNode<R, C> {
    type Rows = R;
    type Cols = C;

    #[inline(always)]
    fn shape(&self) -> (usize, usize) {
        self.shape
    }

    #[inline(always)]
    fn forward(&self, _pass: Pass) {}

    #[inline(always)]
    fn backward(&self, gradient: &[f32]) {
        if let Some(g) = &self.gradient {
            if gradient.len() != self.shape.0 * self.shape.1 {
                crate::node::wrong_gradient_length("an input", gradient.len(), self.shape);
            }
            crate::kernels::add_assign(&mut g.borrow_mut(), gradient);
        }
    }

    #[inline(always)]
    fn backward_nothing(&self) {}

    #[inline(always)]
    fn value(&self) -> Ref<'_, [f32]> {
        Ref::map(self.value.borrow(), |v| v.as_slice())
    }

    #[inline(always)]
    fn needs_gradient(&self) -> bool {
        self.gradient.is_some()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::arr2;

    #[test]
    fn set_value_accepts_scalars_arrays_and_views() {
        let x = InputNode::new(Array2::zeros((1, 1)));
        x.set_value(4.0);
        assert_eq!(x.value()[(0, 0)], 4.0);
        let m = InputNode::new(Array2::zeros((2, 2)));
        let a = arr2(&[[1.0, 2.0], [3.0, 4.0]]);
        m.set_value(&a);
        assert_eq!(m.value()[(1, 0)], 3.0);
        m.set_value(a.t());
        assert_eq!(
            m.value()[(1, 0)],
            2.0,
            "transposed views are copied element by element"
        );
        m.set_value(a.view());
        assert_eq!(m.value()[(0, 1)], 2.0);
        m.set_value(&[5.0, 6.0, 7.0, 8.0]);
        assert_eq!(m.value(), arr2(&[[5.0, 6.0], [7.0, 8.0]]));
        m.set_value(&vec![1.0, 0.0, 0.0, 1.0]);
        assert_eq!(m.value(), arr2(&[[1.0, 0.0], [0.0, 1.0]]));
    }

    #[test]
    #[should_panic(
        expected = "set_value: got 3 values but the input is 2x2 (4 values, row after row)"
    )]
    fn a_slice_of_the_wrong_length_panics() {
        InputNode::new(Array2::zeros((2, 2))).set_value(&[1.0, 2.0, 3.0]);
    }

    #[test]
    #[should_panic(expected = "set_value: the rows are 2x3 but the input is 3x2")]
    fn rows_of_the_wrong_shape_panic() {
        InputNode::new(Array2::zeros((3, 2))).set_value(&[[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]]);
    }

    /// Rows in a `Vec` (a rollout buffer) of another count than the input's: the advice on
    /// batch sizes, as for arrays (a new user's fixed-size rows gave none).
    #[test]
    #[should_panic(
        expected = "set_value: the rows are 31x4 but the input is 32x4 (an input's shape is \
                    fixed when the graph is built: for another batch size"
    )]
    fn a_vec_of_rows_of_another_count_panics_with_advice() {
        let buffer: Vec<[f32; 4]> = vec![[0.0; 4]; 31];
        InputNode::new(Array2::zeros((32, 4))).set_value(&buffer);
    }

    #[test]
    #[should_panic(
        expected = "set_value: the array is 1x2 but the input is 2x2 (an input's \
                               shape is fixed when the graph is built: for another batch size"
    )]
    fn wrong_shape_panics() {
        let m = InputNode::new(Array2::zeros((2, 2)));
        m.set_value(Array2::zeros((1, 2)));
    }

    /// A wrong feature count is not a batch size: no advice about those.
    #[test]
    fn a_wrong_column_count_gets_no_batch_size_advice() {
        let m = InputNode::new(Array2::zeros((64, 20)));
        let set = std::panic::AssertUnwindSafe(|| m.set_value(Array2::zeros((64, 19))));
        let caught = std::panic::catch_unwind(set);
        let message = *caught.unwrap_err().downcast::<String>().unwrap();
        assert_eq!(
            message,
            "set_value: the array is 64x19 but the input is 64x20 (an input's shape is fixed \
             when the graph is built)"
        );
    }

    #[test]
    #[should_panic(expected = "an f32 can only be set on a 1x1 input, this input is 2x2")]
    fn scalar_on_matrix_panics() {
        InputNode::new(Array2::zeros((2, 2))).set_value(1.0);
    }

    #[test]
    fn inputs_without_tracking_need_no_gradient() {
        assert!(!InputNode::new(Array2::zeros((1, 1))).needs_gradient());
        assert!(InputNode::with_gradient(Array2::zeros((1, 1))).needs_gradient());
    }
}
