//! The [`Node`] trait every graph node implements, the forward-[`Pass`] identity that makes
//! caching safe, and [`NodeState`], the buffers and counters an operation node owns.
//!
//! # How a pass works
//!
//! [`Variable::forward`](crate::Variable::forward) draws a fresh [`Pass`] and calls
//! [`Node::forward`] on the root. A node that sees a pass for the first time computes its
//! value (after forwarding its operands); a node reached again in the same pass, because it
//! has several consumers, only counts one more consumer. Values are therefore computed once
//! per pass and are never stale: a new pass recomputes everything.
//!
//! [`Node::backward`] delivers one gradient contribution per consumer. A node adds the
//! contributions up and propagates to its operands once the last one has arrived, so each
//! node is visited once per backward pass, at O(1) cost per edge.
//!
//! The consumer counts are those of the latest forward pass that reached the node. So
//! [`Variable::backward`](crate::Variable::backward) first checks that the latest pass on
//! the thread is its variable's own, and runs that forward pass again if any other was
//! drawn since (another head sharing nodes with it, one of its subexpressions, or any
//! other graph on the thread). Setting an input's or a parameter's value and an
//! optimizer step also draw a pass, so that a backward pass after them does not mix the
//! old forward values with the new ones.

use std::cell::{Cell, Ref, RefCell, RefMut};
use std::ops::Deref;

/// The identity of one forward pass. Every call of
/// [`Variable::forward`](crate::Variable::forward) uses a new one; `set_value` on inputs
/// and parameters and optimizer steps draw one too, to mark the latest forward pass
/// stale.
///
/// ```
/// use wyrm::Pass;
///
/// let first = Pass::next();
/// let second = Pass::next();
/// assert_ne!(first, second);
/// assert_eq!(first, first.clone());
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Pass(u64);

thread_local! {
    /// The next pass identity, in the low [`ID_BITS`] bits, and in the bits above them the
    /// number of boxed levels the thread's backward sweep is inside of (see
    /// `nodes::boxed::depth`). Sharing the cell makes the check that
    /// `Variable::backward` does anyway (is the latest pass mine?) fail inside a boxed
    /// level too, which sends a sweep nested there to the slow path at no cost to others.
    static NEXT_PASS: Cell<u64> = const { Cell::new(1) };
}

/// Bits of [`NEXT_PASS`] that count passes: enough for a billion passes a second for
/// two years.
const ID_BITS: u32 = 56;
const ID_MASK: u64 = (1 << ID_BITS) - 1;

impl Pass {
    /// A pass identity never handed out before on this thread. Graphs hold `Rc`s and so
    /// never leave the thread they were built on, which makes a per-thread counter enough.
    ///
    /// ```
    /// use wyrm::{NodeState, Pass};
    ///
    /// let state = NodeState::new((1, 1));
    /// let pass = Pass::next();
    /// assert!(state.visit(pass)); // first visit in this pass: compute the value
    /// assert!(!state.visit(pass)); // same pass: the value is cached
    /// assert!(state.visit(Pass::next())); // a new pass computes it again
    /// ```
    #[inline]
    pub fn next() -> Pass {
        NEXT_PASS.with(|n| {
            let raw = n.get();
            n.set(raw + 1);
            Pass(raw & ID_MASK)
        })
    }

    /// The raw identity (pass 0 is never used, so it can mark "not yet run").
    ///
    /// ```
    /// use wyrm::Pass;
    ///
    /// let pass = Pass::next();
    /// assert_ne!(pass.id(), 0);
    /// assert_ne!(Pass::next().id(), pass.id());
    /// ```
    pub fn id(self) -> u64 {
        self.0
    }

    /// The identity of the latest pass handed out on this thread (0 before the first).
    #[inline(always)]
    pub(crate) fn latest_id() -> u64 {
        NEXT_PASS.with(|n| (n.get() & ID_MASK) - 1)
    }

    /// [`latest_id`](Self::latest_id) outside boxed levels of a backward sweep; inside
    /// one, a number that is no pass's identity.
    #[inline(always)]
    pub(crate) fn latest_id_outside_boxed() -> u64 {
        NEXT_PASS.with(|n| n.get() - 1)
    }

    /// How many boxed levels the thread's backward sweep is inside of.
    #[inline(always)]
    pub(crate) fn boxed_nesting() -> usize {
        NEXT_PASS.with(|n| (n.get() >> ID_BITS) as usize)
    }

    /// Sets [`boxed_nesting`](Self::boxed_nesting) (below 256).
    #[inline(always)]
    pub(crate) fn set_boxed_nesting(nesting: usize) {
        NEXT_PASS.with(|n| n.set((n.get() & ID_MASK) | ((nesting as u64) << ID_BITS)));
    }
}

/// A node of the computation graph.
///
/// Implemented by every operation in [`crate::nodes`]; implement it yourself to add an
/// operation and wrap the node with
/// [`Variable::with_operands`](crate::Variable::with_operands) (or, for a node without
/// operand variables, [`Variable::new`](crate::Variable::new)). Values and
/// gradients are row-major `f32` slices of the node's [`shape`](Node::shape).
///
/// [`NodeState`] does the caching and gradient bookkeeping for you; see the custom node in
/// the crate's integration tests (`tests/it/custom_node.rs`) for a complete example.
///
/// # Contract
///
/// An operand counts one consumer each time a node forwards it in a pass, and propagates
/// only once that many gradient contributions have arrived. So:
///
/// - once a node has its complete gradient, it must call `backward` exactly once on
///   every operand whose [`needs_gradient`](Node::needs_gradient) is true, even when that
///   operand's gradient is zero (send zeros), or call
///   [`backward_nothing`](Node::backward_nothing) on it instead to send no gradient (a
///   stop-gradient node does). Skipping one leaves the operand waiting, and the gradient
///   that reaches it through its other consumers is lost too;
/// - a node's `backward_nothing` must likewise report to each such operand exactly once
///   per sweep, with `backward` (what its other consumers sent) or with
///   `backward_nothing` (if none sent anything);
/// - `needs_gradient` must be true whenever any operand's is. Zeros sent to a parameter
///   count as its gradient: an optimizer then steps it (momentum and Adam move it; a
///   lookup's rows count as touched), where a parameter with no gradient at all is left
///   alone;
/// - a node's `forward` and `backward` must not run a forward pass of a graph that shares
///   nodes with the one being swept (it would reset their consumer counts mid-sweep);
///   passes over unrelated graphs are fine;
/// - a node's `forward` should not call `set_value` on an input or parameter (to feed a
///   random mask, say): that draws a pass, so every `backward` of the graph would run the
///   forward pass again, side effects and fresh randomness included. Keep such state in
///   the node itself.
///
/// # Example
///
/// A leaf node holding a constant: no operands, so `forward` has nothing to compute and
/// `backward` nothing to propagate. (A node with operands forwards them and sends them
/// their gradients: see [`Variable::with_operands`](crate::Variable::with_operands).)
///
/// ```
/// use std::cell::Ref;
/// use wyrm::*;
///
/// struct Constant(NodeState);
///
/// impl Node for Constant {
///     type Rows = Dyn;
///     type Cols = Dyn;
///     fn shape(&self) -> (usize, usize) {
///         self.0.shape()
///     }
///     fn forward(&self, _pass: Pass) {}
///     fn backward(&self, _gradient: &[f32]) {}
///     fn value(&self) -> Ref<'_, [f32]> {
///         self.0.value()
///     }
///     fn needs_gradient(&self) -> bool {
///         false
///     }
/// }
///
/// let state = NodeState::new((1, 2));
/// state.value_mut().copy_from_slice(&[1.0, 2.0]);
/// let c = Variable::new(Constant(state), Vec::new());
/// let w = ParameterNode::new(ndarray::arr2(&[[3.0, 3.0]]));
/// let y = (w.clone() * c).scalar_sum();
/// y.forward();
/// y.backward(1.0);
/// assert_eq!(y.value()[(0, 0)], 9.0);
/// assert_eq!(w.gradient(), ndarray::arr2(&[[1.0, 2.0]]));
/// ```
pub trait Node {
    /// Row dimension: [`Dyn`](crate::Dyn) or a typenum size such as `typenum::U1`, which
    /// must then be the node's row count: code downstream trusts static sizes
    /// ([`Variable::new`](crate::Variable::new) and
    /// [`Variable::with_operands`](crate::Variable::with_operands) check).
    type Rows: crate::Dim;
    /// Column dimension: [`Dyn`](crate::Dyn) or a typenum size, which must then be the
    /// node's column count.
    type Cols: crate::Dim;

    /// The shape `(rows, cols)` of the node's value, fixed when the node is built.
    ///
    /// ```
    /// use wyrm::*;
    ///
    /// let x = InputNode::new(random_matrix(2, 3));
    /// let w = ParameterNode::new(random_matrix(3, 4));
    /// let y = x.dot(&w).sum_columns();
    /// assert_eq!(y.node().shape(), (1, 4)); // before any forward pass
    /// ```
    fn shape(&self) -> (usize, usize);

    /// Computes the value for `pass`, unless it was already computed in that pass (then it
    /// records one more consumer). Must forward the operands first.
    ///
    /// ```
    /// use wyrm::*;
    ///
    /// let x = InputNode::new(ndarray::arr2(&[[1.0, 2.0]]));
    /// let y = x.square();
    /// let pass = Pass::next();
    /// y.node().forward(pass);
    /// assert_eq!(&*y.node().value(), &[1.0, 4.0]);
    /// x.set_value(&ndarray::arr2(&[[3.0, 4.0]]));
    /// y.node().forward(pass); // same pass: one more consumer, the value is kept
    /// assert_eq!(&*y.node().value(), &[1.0, 4.0]);
    /// y.node().forward(Pass::next()); // a new pass recomputes from the new input
    /// assert_eq!(&*y.node().value(), &[9.0, 16.0]);
    /// ```
    fn forward(&self, pass: Pass);

    /// Receives the gradient of the objective with respect to this node's value from one
    /// consumer. Once every consumer of the current pass has reported, propagates to the
    /// operands that [need a gradient](Node::needs_gradient).
    ///
    /// ```
    /// use wyrm::*;
    ///
    /// let w = ParameterNode::new(ndarray::arr2(&[[2.0]]));
    /// let h = w.clone() * 3.0;
    /// let y = h.clone() + h.clone(); // `h` has two consumers
    /// y.node().forward(Pass::next());
    /// h.node().backward(&[1.0]);
    /// assert_eq!(w.gradient()[(0, 0)], 0.0); // waiting for the second consumer
    /// h.node().backward(&[1.0]);
    /// assert_eq!(w.gradient()[(0, 0)], 6.0); // both in: (1 + 1) * 3 reaches `w`
    /// ```
    fn backward(&self, gradient: &[f32]);

    /// The value computed by the latest forward pass (row-major).
    ///
    /// ```
    /// use wyrm::*;
    ///
    /// let x = InputNode::new(ndarray::arr2(&[[1.0, 2.0], [3.0, 4.0]]));
    /// let y = x.t();
    /// y.forward();
    /// assert_eq!(&*y.node().value(), &[1.0, 3.0, 2.0, 4.0]); // rows of the transpose
    /// ```
    fn value(&self) -> Ref<'_, [f32]>;

    /// Whether any parameter (or gradient-tracking input) is reachable from this node.
    /// Backward work is skipped for nodes that answer `false`.
    ///
    /// ```
    /// use wyrm::*;
    ///
    /// let x = InputNode::new(random_matrix(1, 2));
    /// let w = ParameterNode::new(random_matrix(1, 2));
    /// let features = x.exp(); // only an input below: no gradient to compute here
    /// let y = features.clone() * w.clone();
    /// assert!(!features.node().needs_gradient());
    /// assert!(w.node().needs_gradient() && y.node().needs_gradient());
    /// ```
    fn needs_gradient(&self) -> bool;

    /// Called by [`Variable::backward`](crate::Variable::backward) on the node a backward
    /// pass starts from, just before it receives the seed gradient. A node that counts its
    /// consumers must treat the seed as its only contribution, so that it propagates at
    /// once even when the node also feeds other nodes of the pass (backward from an
    /// intermediate variable). Nodes built on [`NodeState`] call
    /// [`NodeState::begin_backward`]; the default does nothing.
    ///
    /// ```
    /// use wyrm::*;
    ///
    /// let w = ParameterNode::new(ndarray::arr2(&[[2.0]]));
    /// let h = w.clone() * 3.0;
    /// let y = h.clone() + h.clone(); // `h` has two consumers
    /// y.node().forward(Pass::next());
    /// h.node().begin_backward(); // a sweep from `h`: the seed is its only contribution
    /// h.node().backward(&[1.0]);
    /// assert_eq!(w.gradient()[(0, 0)], 3.0); // propagated at once
    /// ```
    #[inline(always)]
    fn begin_backward(&self) {}

    /// Receives word from one consumer that it sends no gradient in this sweep (a
    /// [`detach`](crate::Variable::detach) node above this one): it counts as that
    /// consumer's contribution, adding nothing. Once every consumer has reported, the node
    /// propagates what the others sent, or, if none sent a gradient, passes the word on to
    /// its operands, so that no parameter below records a gradient (not even zeros, which
    /// would count as a gradient for the optimizer).
    ///
    /// Nodes built on [`NodeState`] call [`NodeState::gather_nothing`]. The default, for
    /// nodes that do not implement it, sends zeros through [`backward`](Node::backward):
    /// the same gradients, but parameters below then record zeros.
    ///
    /// ```
    /// use wyrm::*;
    ///
    /// let w = ParameterNode::new(ndarray::arr2(&[[2.0]]));
    /// let h = w.clone() * 3.0;
    /// let y = h.clone() + h.clone(); // `h` has two consumers
    /// y.node().forward(Pass::next());
    /// h.node().backward(&[1.0]);
    /// h.node().backward_nothing(); // the second consumer sends no gradient
    /// assert_eq!(w.gradient()[(0, 0)], 3.0); // the first one's reaches `w`
    /// ```
    fn backward_nothing(&self) {
        let (rows, cols) = self.shape();
        self.backward(&vec![0.0; rows * cols]);
    }

    /// Whether every gradient sent to this node is thrown away: it
    /// [needs one](Node::needs_gradient) only because a [`detach`](crate::Variable::detach)
    /// below it must tell its own operand, once per sweep, that nothing comes. Consumers
    /// then call [`backward_nothing`](Node::backward_nothing) instead of computing the
    /// gradient. The default, `false`, is always correct (the gradient is computed and
    /// discarded further down).
    ///
    /// ```
    /// use wyrm::*;
    ///
    /// let w = ParameterNode::new(random_matrix(2, 3));
    /// let teacher = w.tanh().detach().softmax(); // nothing sent here reaches `w`
    /// assert!(teacher.node().discards_gradient());
    /// assert!(!w.softmax().node().discards_gradient());
    /// ```
    #[inline(always)]
    fn discards_gradient(&self) -> bool {
        false
    }

    /// Receives a gradient contribution that `write` computes straight into the node's
    /// own gradient storage, saving the intermediate buffer and copy of
    /// [`backward`](Node::backward). `write(buffer, accumulate)` must add its gradient to
    /// `buffer` (of this node's shape) when `accumulate` is `true` and overwrite `buffer`
    /// otherwise.
    ///
    /// Returns `write` unused when the node keeps no such storage (the default; then the
    /// caller computes into its own buffer and calls `backward`), `None` once written.
    /// Parameters implement it, so that e.g. `dot` writes weight gradients in place, and
    /// so do embedding lookups, whose consumers then write the looked-up rows' gradient
    /// into the table's row-sparse gradient. Generic rather than `dyn`, so that the
    /// caller's computation inlines into the node's.
    ///
    /// ```
    /// use wyrm::*;
    ///
    /// // Writes the gradient [1, 2]; a capture-free closure, so it can be used twice.
    /// let write = |buffer: &mut [f32], accumulate: bool| {
    ///     for (b, g) in buffer.iter_mut().zip([1.0, 2.0]) {
    ///         *b = if accumulate { *b + g } else { g };
    ///     }
    /// };
    /// let w = ParameterNode::new(ndarray::arr2(&[[0.0, 0.0]]));
    /// assert!(w.node().backward_into(write).is_none()); // written into w's gradient
    /// assert_eq!(w.gradient(), ndarray::arr2(&[[1.0, 2.0]]));
    /// // A computed node keeps no such storage: the write comes back unused.
    /// assert!(w.square().node().backward_into(write).is_some());
    /// ```
    #[inline(always)]
    fn backward_into<W: GradientWrite>(&self, write: W) -> Option<W>
    where
        Self: Sized,
    {
        Some(write)
    }
}

/// A gradient contribution that a consumer computes straight into an operand's storage;
/// see [`Node::backward_into`]. Closures `FnOnce(&mut [f32], bool)` implement it; a
/// struct implementing it lets the caller mark the computation `#[inline(always)]`, which
/// a closure cannot be on stable Rust.
///
/// ```
/// use wyrm::*;
///
/// /// `scale * gradient`, written into the operand's buffer.
/// struct Scaled<'a>(f32, &'a [f32]);
///
/// impl GradientWrite for Scaled<'_> {
///     #[inline(always)]
///     fn write(self, buffer: &mut [f32], accumulate: bool) {
///         for (b, g) in buffer.iter_mut().zip(self.1) {
///             *b = if accumulate { *b + self.0 * g } else { self.0 * g };
///         }
///     }
/// }
///
/// // A parameter keeps gradient storage, so it takes the write (and returns `None`).
/// let w = ParameterNode::new(ndarray::arr2(&[[0.0, 0.0]]));
/// assert!(w.node().backward_into(Scaled(2.0, &[1.0, 3.0])).is_none());
/// assert!(w.node().backward_into(Scaled(1.0, &[1.0, 1.0])).is_none());
/// assert_eq!(w.gradient(), ndarray::arr2(&[[3.0, 7.0]]));
/// ```
pub trait GradientWrite {
    /// Adds the contribution to `buffer` when `accumulate` is `true`, else overwrites it.
    ///
    /// ```
    /// use wyrm::GradientWrite;
    ///
    /// // A closure is a `GradientWrite`; this one contributes [2, 3].
    /// let contribution = |buffer: &mut [f32], accumulate: bool| {
    ///     for (b, g) in buffer.iter_mut().zip([2.0, 3.0]) {
    ///         *b = if accumulate { *b + g } else { g };
    ///     }
    /// };
    /// let mut buffer = [1.0, 1.0];
    /// contribution.write(&mut buffer, true);
    /// assert_eq!(buffer, [3.0, 4.0]);
    /// contribution.write(&mut buffer, false);
    /// assert_eq!(buffer, [2.0, 3.0]);
    /// ```
    fn write(self, buffer: &mut [f32], accumulate: bool);
}

impl<F: FnOnce(&mut [f32], bool)> GradientWrite for F {
    #[inline(always)]
    fn write(self, buffer: &mut [f32], accumulate: bool) {
        self(buffer, accumulate)
    }
}

/// Value and gradient buffers of one node, sized once when the node is built, plus the
/// counters that cache the forward value per [`Pass`] and gather gradients from all
/// consumers before propagating.
///
/// ```
/// use wyrm::{NodeState, Pass};
///
/// let state = NodeState::new((1, 2));
/// let pass = Pass::next();
/// if state.visit(pass) {
///     state.value_mut().copy_from_slice(&[1.0, 2.0]); // compute once per pass
/// }
/// assert!(!state.visit(pass)); // a second consumer reads the cached value
/// assert_eq!(&*state.value(), &[1.0, 2.0]);
/// assert!(!state.accumulate(&[1.0, 1.0])); // one consumer's gradient still missing
/// assert!(state.accumulate(&[0.5, 0.5])); // all in: propagate
/// assert_eq!(&*state.gradient(), &[1.5, 1.5]);
/// ```
#[derive(Debug)]
pub struct NodeState {
    shape: (usize, usize),
    value: RefCell<Vec<f32>>,
    gradient: RefCell<Vec<f32>>,
    pass: Cell<u64>,
    consumers: Cell<u32>,
    /// Contributions received in the current backward sweep (low 32 bits), and how many
    /// of them were "no gradient" (high 32 bits; see
    /// [`gather_nothing`](Self::gather_nothing)): while all were, the buffer holds nothing
    /// of this sweep and the next real contribution overwrites it. One cell, so that a
    /// forward pass resets both with one store.
    received: Cell<u64>,
}

impl NodeState {
    /// Buffers for a node of the given shape.
    ///
    /// ```
    /// use wyrm::NodeState;
    ///
    /// let state = NodeState::new((2, 3));
    /// assert_eq!(state.value().len(), 6);
    /// assert!(state.value().iter().all(|&v| v == 0.0));
    /// assert_eq!(state.gradient().len(), 6);
    /// ```
    pub fn new(shape: (usize, usize)) -> Self {
        let len = shape.0 * shape.1;
        NodeState {
            shape,
            value: RefCell::new(vec![0.0; len]),
            gradient: RefCell::new(vec![0.0; len]),
            pass: Cell::new(0),
            consumers: Cell::new(0),
            received: Cell::new(0),
        }
    }

    /// The node's shape.
    ///
    /// ```
    /// use wyrm::NodeState;
    ///
    /// assert_eq!(NodeState::new((2, 3)).shape(), (2, 3));
    /// ```
    #[inline(always)]
    pub fn shape(&self) -> (usize, usize) {
        self.shape
    }

    /// Registers a visit in `pass`. Returns `true` on the first visit, when the caller must
    /// compute the value; later visits only count a consumer and return `false`.
    ///
    /// ```
    /// use wyrm::{NodeState, Pass};
    ///
    /// let state = NodeState::new((1, 1));
    /// let pass = Pass::next();
    /// assert!(state.visit(pass));
    /// assert!(!state.visit(pass)); // second consumer
    /// // Both consumers' gradients are awaited before propagating.
    /// assert!(!state.accumulate(&[1.0]));
    /// assert!(state.accumulate(&[1.0]));
    /// ```
    #[inline(always)]
    pub fn visit(&self, pass: Pass) -> bool {
        if self.pass.get() == pass.0 {
            self.consumers.set(self.consumers.get() + 1);
            false
        } else {
            self.pass.set(pass.0);
            self.consumers.set(1);
            self.received.set(0);
            true
        }
    }

    /// How many consumers visited the node in the latest forward pass (1 for the root of
    /// a backward pass).
    #[inline(always)]
    pub(crate) fn consumers(&self) -> u32 {
        self.consumers.get()
    }

    /// Makes the next gradient contribution the only one expected, so that it propagates
    /// at once; see [`Node::begin_backward`]. Later contributions from the node's
    /// consumers then also propagate one by one, which gives the same sums.
    ///
    /// ```
    /// use wyrm::{NodeState, Pass};
    ///
    /// let state = NodeState::new((1, 1));
    /// let pass = Pass::next();
    /// state.visit(pass);
    /// state.visit(pass); // two consumers
    /// state.begin_backward(); // but the backward pass starts here
    /// assert!(state.accumulate(&[1.0])); // the seed propagates at once
    /// ```
    #[inline(always)]
    pub fn begin_backward(&self) {
        self.consumers.set(1);
        self.received.set(0);
    }

    /// Adds one consumer's gradient. Returns `true` when it was the last one expected in
    /// this pass, i.e. when the caller should propagate [`gradient`](Self::gradient).
    ///
    /// The first contribution of a sweep overwrites the buffer, so it never needs zeroing
    /// (contributions counted by [`gather_nothing`](Self::gather_nothing) leave it as it
    /// is: the first real one overwrites it). A second
    /// backward sweep after one forward pass starts over and propagates again. A node no
    /// forward pass has visited expects no consumer, so it never returns `true` (nothing
    /// to propagate to).
    ///
    /// ```
    /// use wyrm::{NodeState, Pass};
    ///
    /// let state = NodeState::new((1, 2));
    /// let pass = Pass::next();
    /// state.visit(pass);
    /// state.visit(pass); // two consumers
    /// assert!(!state.accumulate(&[1.0, 2.0]));
    /// assert!(state.accumulate(&[3.0, 4.0]));
    /// assert_eq!(&*state.gradient(), &[4.0, 6.0]);
    /// // A second sweep starts over rather than adding to the first.
    /// assert!(!state.accumulate(&[1.0, 1.0]));
    /// assert!(state.accumulate(&[1.0, 1.0]));
    /// assert_eq!(&*state.gradient(), &[2.0, 2.0]);
    /// ```
    #[inline(always)]
    pub fn accumulate(&self, incoming: &[f32]) -> bool {
        debug_check_gradient(incoming, self.shape);
        let (received, nothing) = self.count_contribution(0);
        let mut gradient = self.gradient.borrow_mut();
        if received == nothing + 1 {
            // The first real contribution of this sweep.
            crate::kernels::copy(&mut gradient, incoming);
        } else {
            crate::kernels::add_assign(&mut gradient, incoming);
        }
        received == self.consumers.get()
    }

    /// Counts one contribution (`nothing` is 1 for a "no gradient" one, else 0), starting
    /// over after a complete sweep, and returns how many this sweep has received and how
    /// many of those were "no gradient".
    #[inline(always)]
    fn count_contribution(&self, nothing: u64) -> (u32, u32) {
        let mut received = self.received.get();
        if received as u32 >= self.consumers.get() {
            received = 0;
        }
        received += 1 + (nothing << 32);
        self.received.set(received);
        (received as u32, (received >> 32) as u32)
    }

    /// Counts a consumer's word that it sends no gradient this sweep (see
    /// [`Node::backward_nothing`]), and once the last consumer has reported, finishes the
    /// node's sweep: with the sum of the real contributions, `propagate(gradient)`; if every
    /// consumer sent nothing, `nothing()`, which should pass the word on to the operands
    /// that [need a gradient](Node::needs_gradient) (their `backward_nothing`), so that no
    /// parameter below records a gradient, not even zeros.
    ///
    /// ```
    /// use wyrm::{NodeState, Pass};
    ///
    /// let state = NodeState::new((1, 2));
    /// let pass = Pass::next();
    /// state.visit(pass);
    /// state.visit(pass); // two consumers
    /// let report = |state: &NodeState| {
    ///     let got = std::cell::RefCell::new(String::from("waiting"));
    ///     state.gather_nothing(
    ///         |g| *got.borrow_mut() = format!("{g:?}"),
    ///         || *got.borrow_mut() = "nothing".into(),
    ///     );
    ///     got.into_inner()
    /// };
    /// assert!(!state.accumulate(&[1.0, 2.0]));
    /// assert_eq!(report(&state), "[1.0, 2.0]"); // the other consumer sent nothing
    /// assert_eq!(report(&state), "waiting"); // a new sweep: one of two so far
    /// assert_eq!(report(&state), "nothing");
    /// ```
    #[inline]
    pub fn gather_nothing(&self, propagate: impl FnOnce(&[f32]), nothing: impl FnOnce()) {
        if self.consumers.get() == 1 {
            return nothing();
        }
        let (received, nothings) = self.count_contribution(1);
        if received != self.consumers.get() {
            return;
        }
        if nothings == received {
            nothing()
        } else {
            propagate(&self.gradient())
        }
    }

    /// Like [`accumulate`](Self::accumulate), but hands back the gradient to propagate
    /// once it is complete, and skips the copy into the node's buffer when the node has
    /// a single consumer in this pass (the common case): then the incoming slice itself is
    /// the gradient. Returns `None` while contributions are still missing.
    ///
    /// With a single consumer the node's [`gradient`](Self::gradient) buffer is left as
    /// it was; read the returned value instead.
    ///
    /// ```
    /// use wyrm::{NodeState, Pass};
    /// let state = NodeState::new((1, 2));
    /// let pass = Pass::next();
    /// state.visit(pass);
    /// state.visit(pass); // two consumers
    /// assert!(state.gather(&[1.0, 2.0]).is_none());
    /// assert_eq!(&*state.gather(&[3.0, 4.0]).unwrap(), &[4.0, 6.0]);
    /// ```
    #[inline(always)]
    pub fn gather<'a>(&'a self, incoming: &'a [f32]) -> Option<impl Deref<Target = [f32]> + 'a> {
        if self.consumers.get() == 1 {
            debug_check_gradient(incoming, self.shape);
            Some(Gathered::Incoming(incoming))
        } else if self.accumulate(incoming) {
            Some(Gathered::Summed(self.gradient()))
        } else {
            None
        }
    }

    /// The value buffer.
    ///
    /// ```
    /// use wyrm::NodeState;
    ///
    /// let state = NodeState::new((1, 3));
    /// assert_eq!(&*state.value(), &[0.0, 0.0, 0.0]); // until a forward pass writes it
    /// state.value_mut()[1] = 5.0;
    /// assert_eq!(state.value()[1], 5.0);
    /// ```
    #[inline(always)]
    pub fn value(&self) -> Ref<'_, [f32]> {
        Ref::map(self.value.borrow(), |v| v.as_slice())
    }

    /// The value buffer, for writing the forward result.
    ///
    /// ```
    /// use wyrm::NodeState;
    ///
    /// let state = NodeState::new((1, 2));
    /// for (y, x) in state.value_mut().iter_mut().zip([3.0f32, 4.0]) {
    ///     *y = x * x;
    /// }
    /// assert_eq!(&*state.value(), &[9.0, 16.0]);
    /// ```
    #[inline(always)]
    pub fn value_mut(&self) -> RefMut<'_, [f32]> {
        RefMut::map(self.value.borrow_mut(), |v| v.as_mut_slice())
    }

    /// The gradient gathered from all consumers in the latest backward pass.
    ///
    /// ```
    /// use wyrm::{NodeState, Pass};
    ///
    /// let state = NodeState::new((1, 2));
    /// state.visit(Pass::next());
    /// assert!(state.accumulate(&[0.5, -1.0])); // the only consumer
    /// assert_eq!(&*state.gradient(), &[0.5, -1.0]);
    /// ```
    #[inline(always)]
    pub fn gradient(&self) -> Ref<'_, [f32]> {
        Ref::map(self.gradient.borrow(), |v| v.as_slice())
    }
}

/// A complete gradient returned by [`NodeState::gather`]: the single consumer's own slice,
/// or the sum of several consumers' contributions in the node's buffer.
enum Gathered<'a> {
    /// The only consumer's gradient, used in place.
    Incoming(&'a [f32]),
    /// The sum over consumers, in the node's gradient buffer.
    Summed(Ref<'a, [f32]>),
}

impl Deref for Gathered<'_> {
    type Target = [f32];
    #[inline(always)]
    fn deref(&self) -> &[f32] {
        match self {
            Gathered::Incoming(g) => g,
            Gathered::Summed(g) => g,
        }
    }
}

/// A scratch buffer a node uses to hand a gradient to one operand, allocated once.
///
/// ```
/// use wyrm::Scratch;
///
/// let operand_gradient = Scratch::new(2);
/// let upstream = [1.0, 2.0];
/// for (g, u) in operand_gradient.borrow_mut().iter_mut().zip(upstream) {
///     *g = 3.0 * u; // d(3x)/dx times the upstream gradient
/// }
/// assert_eq!(*operand_gradient.borrow_mut(), vec![3.0, 6.0]);
/// ```
#[derive(Debug)]
pub struct Scratch(RefCell<Vec<f32>>);

impl Scratch {
    /// A zeroed buffer of `len` elements.
    ///
    /// ```
    /// use wyrm::Scratch;
    ///
    /// assert_eq!(*Scratch::new(3).borrow_mut(), vec![0.0; 3]);
    /// ```
    pub fn new(len: usize) -> Self {
        Scratch(RefCell::new(vec![0.0; len]))
    }

    /// Borrows the buffer for writing.
    ///
    /// ```
    /// use wyrm::Scratch;
    ///
    /// let scratch = Scratch::new(2);
    /// scratch.borrow_mut().copy_from_slice(&[1.0, -1.0]);
    /// assert_eq!(scratch.borrow_mut()[1], -1.0);
    /// ```
    #[inline(always)]
    pub fn borrow_mut(&self) -> RefMut<'_, Vec<f32>> {
        self.0.borrow_mut()
    }

    /// Borrows the buffer for writing, first growing it to `len` zeroed elements if it is
    /// shorter. For a buffer that may never be needed (an operand's gradient that usually
    /// goes straight into the operand's storage), build it with `Scratch::new(0)`: the
    /// memory is then taken on first use only.
    ///
    /// ```
    /// use wyrm::Scratch;
    ///
    /// let scratch = Scratch::new(0);
    /// assert_eq!(scratch.borrow_sized(3).len(), 3);
    /// assert_eq!(scratch.borrow_mut().len(), 3);
    /// ```
    #[inline(always)]
    pub fn borrow_sized(&self, len: usize) -> RefMut<'_, Vec<f32>> {
        let mut buffer = self.0.borrow_mut();
        if buffer.len() < len {
            buffer.resize(len, 0.0);
        }
        buffer
    }
}

/// Panics for a `set_value` on a value that is being read: a bare "already borrowed"
/// would not say which call or why. `readers` names what hands out the borrows that may
/// still be alive.
#[cold]
#[track_caller]
pub(crate) fn value_in_use(call: &str, readers: &str) -> ! {
    panic!(
        "{call}: the value is being read (a call inside `with_value`, or a `Ref` from \
         {readers} still alive); finish reading first"
    )
}

/// [`NodeState::gather_nothing`] for a node over two operands: once every consumer has
/// reported, `propagate` what they sent, or if none sent anything, pass the word on to
/// each operand that needs a gradient.
#[inline]
pub(crate) fn gather_nothing_for_both<L: Node + ?Sized, R: Node + ?Sized>(
    state: &NodeState,
    propagate: impl FnOnce(&[f32]),
    (lhs, rhs): (&L, &R),
) {
    state.gather_nothing(propagate, || {
        if lhs.needs_gradient() {
            lhs.backward_nothing();
        }
        if rhs.needs_gradient() {
            rhs.backward_nothing();
        }
    });
}

/// Whether a node over operands with these `(needs_gradient, discards_gradient)` pairs
/// discards every gradient sent to it (see [`Node::discards_gradient`]): some operand
/// needs a gradient, and each that does discards it.
pub(crate) fn discards(operands: &[(bool, bool)]) -> bool {
    operands.iter().any(|&(needs, _)| needs)
        && operands.iter().all(|&(needs, discards)| !needs || discards)
}

/// Panics for a gradient whose length does not fit the node it was sent to: a custom
/// node's `backward` sent an operand a gradient of another shape.
#[cold]
#[inline(never)]
pub(crate) fn wrong_gradient_length(receiver: &str, got: usize, shape: (usize, usize)) -> ! {
    panic!(
        "backward: a gradient of length {got} was sent to {receiver} of shape {}x{} (length \
         {}); a node's backward must send each operand a gradient of the operand's shape",
        shape.0,
        shape.1,
        shape.0 * shape.1
    )
}

/// Checks, in debug builds, that a gradient sent to a computed node fits its shape (release
/// builds leave the check to the slicing in each node).
#[inline(always)]
fn debug_check_gradient(incoming: &[f32], shape: (usize, usize)) {
    if cfg!(debug_assertions) && incoming.len() != shape.0 * shape.1 {
        wrong_gradient_length("a node", incoming.len(), shape);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passes_are_unique() {
        let a = Pass::next();
        let b = Pass::next();
        assert_ne!(a, b);
        assert_ne!(a.id(), 0);
    }

    #[test]
    fn visit_counts_consumers_and_accumulate_waits_for_all() {
        let state = NodeState::new((1, 2));
        let pass = Pass::next();
        assert!(state.visit(pass));
        assert!(!state.visit(pass));
        assert!(!state.accumulate(&[1.0, 2.0]));
        assert!(state.accumulate(&[3.0, 4.0]));
        assert_eq!(&*state.gradient(), &[4.0, 6.0]);
        // A second sweep starts over instead of adding to the first.
        assert!(!state.accumulate(&[1.0, 1.0]));
        assert!(state.accumulate(&[1.0, 1.0]));
        assert_eq!(&*state.gradient(), &[2.0, 2.0]);
        // A new pass resets the consumer count.
        assert!(state.visit(Pass::next()));
        assert!(state.accumulate(&[5.0, 5.0]));
        assert_eq!(&*state.gradient(), &[5.0, 5.0]);
    }

    #[test]
    fn gather_passes_single_gradients_through_and_sums_several() {
        let state = NodeState::new((1, 2));
        let pass = Pass::next();
        assert!(state.visit(pass));
        let incoming = [1.0, 2.0];
        let g = state
            .gather(&incoming)
            .expect("single consumer propagates at once");
        assert!(
            std::ptr::eq(&*g, &incoming[..]),
            "used in place, not copied"
        );
        drop(g);
        // A second sweep propagates again.
        assert_eq!(&*state.gather(&[3.0, 3.0]).unwrap(), &[3.0, 3.0]);
        let pass = Pass::next();
        state.visit(pass);
        state.visit(pass);
        state.visit(pass);
        assert!(state.gather(&[1.0, 1.0]).is_none());
        assert!(state.gather(&[1.0, 2.0]).is_none());
        assert_eq!(&*state.gather(&[1.0, 3.0]).unwrap(), &[3.0, 6.0]);
        // Never forwarded: nothing to propagate to.
        let fresh = NodeState::new((1, 1));
        assert!(fresh.gather(&[1.0]).is_none());
    }
}
