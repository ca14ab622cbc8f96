//! `.boxed()`: erasing a node's type behind one dynamic call, for structure that depends on
//! data (sequences of varying length, trees).

use crate::node::{GradientWrite, Node, Pass};
use crate::shape::Dyn;
use crate::Variable;
use std::cell::Ref;
use std::rc::Rc;

/// The object-safe core of [`Node`], implemented for every node.
trait DynNode {
    fn shape(&self) -> (usize, usize);
    fn forward(&self, pass: Pass);
    fn backward(&self, gradient: &[f32]);
    fn value(&self) -> Ref<'_, [f32]>;
    fn needs_gradient(&self) -> bool;
    fn begin_backward(&self);
    /// [`Node::backward_into`] through a `dyn` closure: whether `write` was called.
    fn backward_into_dyn(&self, write: &mut dyn FnMut(&mut [f32], bool)) -> bool;
}

impl<T: Node> DynNode for T {
    fn shape(&self) -> (usize, usize) {
        Node::shape(self)
    }
    fn forward(&self, pass: Pass) {
        Node::forward(self, pass)
    }
    fn backward(&self, gradient: &[f32]) {
        Node::backward(self, gradient)
    }
    fn value(&self) -> Ref<'_, [f32]> {
        Node::value(self)
    }
    fn needs_gradient(&self) -> bool {
        Node::needs_gradient(self)
    }
    fn begin_backward(&self) {
        Node::begin_backward(self)
    }
    fn backward_into_dyn(&self, write: &mut dyn FnMut(&mut [f32], bool)) -> bool {
        Node::backward_into(self, |buffer: &mut [f32], accumulate: bool| {
            write(buffer, accumulate)
        })
        .is_none()
    }
}

/// A node whose concrete type is erased: every boxed node has this one type, so graphs
/// built in loops can be stored in `Vec`s and combined freely with typed nodes.
pub struct Boxed {
    inner: Rc<dyn DynNode>,
}

impl Node for Boxed {
    type Rows = Dyn;
    type Cols = Dyn;

    #[inline]
    fn shape(&self) -> (usize, usize) {
        self.inner.shape()
    }
    #[inline]
    fn forward(&self, pass: Pass) {
        self.inner.forward(pass)
    }
    #[inline]
    fn backward(&self, gradient: &[f32]) {
        self.inner.backward(gradient)
    }
    #[inline]
    fn value(&self) -> Ref<'_, [f32]> {
        self.inner.value()
    }
    #[inline]
    fn needs_gradient(&self) -> bool {
        self.inner.needs_gradient()
    }
    #[inline]
    fn begin_backward(&self) {
        self.inner.begin_backward()
    }
    #[inline]
    fn backward_into<W: GradientWrite>(&self, write: W) -> Option<W> {
        let mut write = Some(write);
        let written = self.inner.backward_into_dyn(&mut |buffer, accumulate| {
            if let Some(write) = write.take() {
                write.write(buffer, accumulate)
            }
        });
        if written {
            None
        } else {
            write
        }
    }
}

impl<T: Node + 'static> Variable<T> {
    /// Erases this variable's node type (one dynamic call per boxed node and pass).
    ///
    /// Forward and backward passes, and dropping a graph, recurse from a node into its
    /// operands, so a chain thousands of nodes deep (a loop of that many iterations, each
    /// feeding the next) can overflow the thread's stack, which aborts the process. The
    /// example's chain (`dot`, `tanh`, `boxed` per step) ran 15,000 steps in a release
    /// build on an 8 MiB stack (Linux's main thread) but not 20,000; debug builds overflow
    /// far sooner (about 1,000 steps on 8 MiB, a few hundred on the 2 MiB of a test
    /// thread), and longer steps sooner still. Sum many terms as a balanced tree rather
    /// than a running total, or run the training on a thread with a larger stack
    /// (`std::thread::Builder::stack_size`).
    ///
    /// ```
    /// use wyrm::*;
    ///
    /// let w = ParameterNode::new(random_matrix(3, 3));
    /// let mut state = InputNode::new(random_matrix(1, 3)).boxed();
    /// for _ in 0..4 {
    ///     // A loop of data-dependent length: each step has the same type.
    ///     state = state.dot(&w).tanh().boxed();
    /// }
    /// let mut loss = state.scalar_sum();
    /// loss.forward();
    /// loss.backward(1.0);
    /// assert_eq!(w.gradient().shape(), &[3, 3]);
    /// ```
    pub fn boxed(&self) -> Variable<Boxed> {
        let inner: Rc<dyn DynNode> = self.node().clone();
        Variable::with_params(Boxed { inner }, &[self.param_list()])
    }
}

#[cfg(test)]
mod tests {
    use crate::*;

    #[test]
    fn boxed_and_typed_interoperate_both_ways() {
        let a = ParameterNode::new(random_matrix(2, 3));
        let b = ParameterNode::new(random_matrix(2, 3));
        let boxed_inner = (a.clone() * b.clone()).boxed();
        let mut typed_outer = boxed_inner.clone() + a.clone();
        gradcheck::assert_gradient(&mut typed_outer, &a);
        let mut boxed_outer = (typed_outer.clone().tanh() - b.clone()).boxed();
        gradcheck::assert_gradient(&mut boxed_outer, &b);
        assert_eq!(boxed_outer.parameters().len(), 2);
    }

    #[test]
    fn gradients_written_in_place_pass_through_boxes() {
        // `dot` and `vector_dot` write straight into a parameter's or a lookup's gradient
        // storage; behind a box that goes through the `dyn` path.
        let w = ParameterNode::new(random_matrix(3, 2));
        let x = InputNode::new(random_matrix(2, 3));
        let mut y = x.dot(&w.boxed()).scalar_sum();
        gradcheck::assert_gradient(&mut y, &w);
        let table = ParameterNode::new(random_matrix(5, 4));
        let idx = IndexInputNode::new(&[3]);
        let other = ParameterNode::new(random_matrix(1, 4));
        let mut z = table.index(&idx).boxed().vector_dot(&other);
        gradcheck::assert_gradient(&mut z, &table);
        gradcheck::assert_gradient(&mut z, &other);
        z.forward();
        z.backward(1.0);
        assert!(
            table.node().gradient_is_sparse(),
            "written as rows, not densely"
        );
    }
}
