//! `.boxed()`: erasing a node's type behind one dynamic call, for structure that depends on
//! data (sequences of varying length, trees).

mod depth;

use crate::node::{GradientWrite, Node, Pass};
use crate::shape::Dyn;
use crate::Variable;
use std::cell::{Cell, Ref};
use std::mem::ManuallyDrop;
use std::rc::Rc;

pub(crate) use depth::enter_sweep;

/// The object-safe core of [`Node`], implemented for every node.
trait DynNode {
    fn shape(&self) -> (usize, usize);
    fn forward(&self, pass: Pass);
    fn backward(&self, gradient: &[f32]);
    fn value(&self) -> Ref<'_, [f32]>;
    fn needs_gradient(&self) -> bool;
    fn begin_backward(&self);
    fn backward_nothing(&self);
    fn discards_gradient(&self) -> bool;
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
    fn backward_nothing(&self) {
        Node::backward_nothing(self)
    }
    fn discards_gradient(&self) -> bool {
        Node::discards_gradient(self)
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
///
/// ```
/// use wyrm::nodes::Boxed;
/// use wyrm::*;
///
/// let x = InputNode::new(ndarray::arr2(&[[1.0, -2.0]]));
/// // Nodes of three different types, stored together.
/// let terms: Vec<Variable<Boxed>> = vec![x.relu().boxed(), x.square().boxed(), x.boxed()];
/// let total = terms.into_iter().reduce(|a, b| (a + b).boxed()).unwrap();
/// total.forward();
/// assert_eq!(total.value(), ndarray::arr2(&[[3.0, 2.0]]));
/// ```
pub struct Boxed {
    /// Dropped in `Drop`, through `depth::release`, so that dropping a long chain does not
    /// recurse once per link.
    inner: ManuallyDrop<Rc<dyn DynNode>>,
    /// The boxed nodes nearest below this one (reached without passing through another
    /// boxed node, as far as the graph's construction recorded them), and the length of
    /// the longest chain of boxed nodes down from here, this one included. They let a
    /// forward pass over a deep graph start from the bottom (see `depth`).
    below: Option<Rc<[Rc<Boxed>]>>,
    height: usize,
    /// The latest pass that reached this node, from above or from the bottom-up pre-pass.
    reached: Cell<u64>,
    /// The pass in which the pre-pass forwarded the inner node, counting one consumer that
    /// the first consumer to arrive must not count again (0 once claimed).
    claim: Cell<u64>,
}

impl Boxed {
    fn below(&self) -> &[Rc<Boxed>] {
        self.below.as_deref().unwrap_or(&[])
    }
}

impl Drop for Boxed {
    fn drop(&mut self) {
        // Every node in `below` is also held inside `inner`, so this releases no node.
        self.below = None;
        // SAFETY: `inner` is taken once, here, and `self` is not used afterwards.
        let inner = unsafe { ManuallyDrop::take(&mut self.inner) };
        depth::release(inner);
    }
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
        let id = pass.id();
        if self.claim.get() == id {
            // The pre-pass computed the value and counted this consumer.
            self.claim.set(0);
            return;
        }
        if self.reached.get() != id {
            self.reached.set(id);
            if self.height > depth::MAX_NESTING {
                depth::forward_below(self, pass);
            }
        }
        self.inner.forward(pass)
    }
    #[inline]
    fn backward(&self, gradient: &[f32]) {
        if depth::descend(|| self.inner.backward(gradient)).is_none() {
            depth::defer(&self.inner, gradient);
        }
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
    fn discards_gradient(&self) -> bool {
        self.inner.discards_gradient()
    }
    #[inline]
    fn backward_nothing(&self) {
        if depth::descend(|| self.inner.backward_nothing()).is_none() {
            depth::defer_nothing(&self.inner);
        }
    }
    #[inline]
    fn backward_into<W: GradientWrite>(&self, write: W) -> Option<W> {
        let mut write = Some(write);
        let written = depth::descend(|| {
            self.inner.backward_into_dyn(&mut |buffer, accumulate| {
                if let Some(write) = write.take() {
                    write.write(buffer, accumulate)
                }
            })
        });
        // Too deep (`None`), the caller computes into a buffer and calls `backward`, which
        // defers it.
        if written == Some(true) {
            None
        } else {
            write
        }
    }
}

impl<T: Node + 'static> Variable<T> {
    /// Erases this variable's node type (one dynamic call per boxed node and pass).
    ///
    /// Graphs of any depth are fine: forward and backward passes, and dropping a graph,
    /// recurse through at most 16 boxed nodes at a time, 4 in debug builds (so the stack
    /// holds at most that many boxed steps' worth of typed nodes: in a debug build, about
    /// 600 KiB for a GRU step of six `dot`s typed as one expression, within the 2 MiB of a
    /// spawned thread). A graph deeper than that is
    /// forwarded from the bottom up, with a work list, and its backward pass queues a
    /// gradient every 16 (or 4) boxed levels (the list and the buffers are reused from one pass
    /// to the next, so passes over a graph that was run before allocate nothing). Custom nodes in such chains should be built with
    /// [`Variable::with_operands`]: a forward pass does not see through one built with
    /// [`Variable::new`], which records parameters only, so a chain that goes through such
    /// a node at every step recurses once per step.
    ///
    /// Boxing also bounds a typed graph's nesting: one typed expression can nest about
    /// 120 operations under the compiler's default recursion limit, past which rustc
    /// stops with "overflow evaluating the requirement ..." or "reached the recursion
    /// limit while instantiating `<... as Node>::forward`" (raising `recursion_limit`
    /// works too); a boxed node starts the count again.
    ///
    /// And it bounds build times: each typed layer is a type of its own, optimised in
    /// release builds as part of one inlined function, while layers boxed one by one
    /// share a type and are compiled once. Measured on a 2-core machine: 25 layers of
    /// `tanh(h · w + b)`, 8 wide, took 31 s to build in release typed and 1.7 s boxed after
    /// each layer, for 9% more instructions per training step (README, "Compile times").
    ///
    /// Building costs more than running: a new user's Elman step (a lookup, two `dot`s,
    /// `tanh`, a softmax loss) took about 6 µs to build against 4.5 µs for its forward and
    /// backward passes. Where the structure takes few shapes (sequence lengths), build one
    /// graph per shape and reuse it with `set_value`, which halved that user's epoch time.
    /// For truncated backpropagation, start each chunk's graph from an
    /// [`InputNode`](crate::InputNode) holding the state, and set it from the previous
    /// chunk's last state (`last.with_value(|v| state.set_value(v))`) *after* that chunk's
    /// backward pass: no gradient crosses the cut. Set between its forward and backward
    /// passes, the new state makes `backward` forward the chunk again from it (see
    /// [`backward`](Variable::backward)), so the gradients are those of another window
    /// (a new user's held-out loss rose from 0.415 to 0.472 bits per character).
    ///
    /// Boxing a variable that is already boxed returns a handle to the same node.
    ///
    /// The node type must be `'static` (it becomes a trait object): a generic helper that
    /// boxes a `Variable<T>` declares `T: Node + 'static`, else rustc reports E0310, "the
    /// parameter type `T` may not live long enough".
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
    /// let loss = state.scalar_sum();
    /// loss.forward();
    /// loss.backward(1.0);
    /// assert_eq!(w.gradient().shape(), &[3, 3]);
    /// ```
    pub fn boxed(&self) -> Variable<Boxed> {
        // A boxed node boxed again is itself: another level would only add a dynamic call
        // to every pass, and a level to recurse through.
        let any: Rc<dyn std::any::Any> = self.node().clone();
        if let Ok(node) = any.downcast::<Boxed>() {
            // The same node: a pass of either handle is a pass of both, as for a clone.
            return Variable::from_parts(node, self.links().clone()).with_pass_of(self);
        }
        let inner: Rc<dyn DynNode> = self.node().clone();
        let below = self.links().boxed_shared();
        let height = 1 + self
            .links()
            .boxed_nodes()
            .iter()
            .map(|b| b.height)
            .max()
            .unwrap_or(0);
        let node = Rc::new(Boxed {
            inner: ManuallyDrop::new(inner),
            below,
            height,
            reached: Cell::new(0),
            claim: Cell::new(0),
        });
        Variable::from_parts(node.clone(), self.links().boxed_by(node))
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
        let typed_outer = boxed_inner.clone() + a.clone();
        gradcheck::assert_gradient(&typed_outer, &a);
        let boxed_outer = (typed_outer.clone().tanh() - b.clone()).boxed();
        gradcheck::assert_gradient(&boxed_outer, &b);
        assert_eq!(boxed_outer.parameters().len(), 2);
    }

    #[test]
    fn gradients_written_in_place_pass_through_boxes() {
        // `dot` and `vector_dot` write straight into a parameter's or a lookup's gradient
        // storage; behind a box that goes through the `dyn` path.
        let w = ParameterNode::new(random_matrix(3, 2));
        let x = InputNode::new(random_matrix(2, 3));
        let y = x.dot(&w.boxed()).scalar_sum();
        gradcheck::assert_gradient(&y, &w);
        let table = ParameterNode::new(random_matrix(5, 4));
        let idx = IndexInputNode::new(&[3]);
        let other = ParameterNode::new(random_matrix(1, 4));
        let z = table.index(&idx).boxed().vector_dot(&other);
        gradcheck::assert_gradient(&z, &table);
        gradcheck::assert_gradient(&z, &other);
        z.forward();
        z.backward(1.0);
        assert!(
            table.node().gradient_is_sparse(),
            "written as rows, not densely"
        );
    }
}
