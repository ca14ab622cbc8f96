//! [`Variable`]: the user-facing handle to a node, with the graph-level operations
//! (`forward`, `backward`, `value`, `parameters`, `boxed`).
//!
//! Each operation's method lives in the operation's own file under [`crate::nodes`].

use crate::node::{Node, Pass};
use crate::nodes::{enter_sweep, Boxed, ParameterNode};
use ndarray::{Array2, ArrayView2};
use std::cell::{Cell, RefCell};
use std::rc::Rc;

/// A handle to a node of the graph. Cloning is cheap and shares the node.
///
/// Operators and methods build new nodes whose types record the structure, so `forward`
/// and `backward` on the result are static calls:
///
/// ```
/// use wyrm::*;
///
/// let a = ParameterNode::new(ndarray::arr2(&[[1.0, 2.0]]));
/// let b = InputNode::new(ndarray::arr2(&[[3.0, 4.0]]));
/// let c = (a.clone() * b.clone() + 1.0).scalar_sum();
/// c.forward();
/// assert_eq!(c.value()[(0, 0)], 1.0 * 3.0 + 2.0 * 4.0 + 2.0);
/// c.backward(1.0);
/// assert_eq!(a.gradient(), ndarray::arr2(&[[3.0, 4.0]]));
/// ```
///
/// A graph belongs to the thread that built it: variables are neither `Send` nor `Sync`
/// (the compiler's complaint names `Rc`s inside). For several threads, share the
/// parameters instead ([`HogwildParameter`](crate::HogwildParameter) in an `Arc`) and let
/// each thread build its own graph over them with
/// [`ParameterNode::shared`](crate::ParameterNode::shared), or with a `model!`'s
/// `from_parameters`.
pub struct Variable<T: Node> {
    node: Rc<T>,
    links: Links,
    /// The latest forward pass run from this variable or a clone of it ([`NEVER`] before
    /// the first); clones share the node, so a pass of one is a pass of all. A `Cell`, so
    /// that `forward` and `backward` take `&self` (a model's fields run without `mut`),
    /// behind an `Rc` so that `&Variable` holds no `UnsafeCell` itself: the compiler may
    /// then keep its fields in registers across the inlined passes (inline, the `Cell`
    /// cost the sparse-mf step 42 instructions; behind the `Rc`, 8). The price is an
    /// allocation per node built: about 5% of the time to build a small graph.
    pass: Rc<Cell<u64>>,
}

/// What a variable's node depends on, gathered as the graph is built (so that nothing has
/// to walk the graph later): its parameters, and the boxed nodes nearest to it (those
/// reached without passing through another boxed node).
#[derive(Clone)]
pub(crate) struct Links {
    parameters: Rc<[Rc<ParameterNode>]>,
    /// `None` when there are none, which saves an allocation for every typed-only node.
    boxed: Option<Rc<[Rc<Boxed>]>>,
}

impl Links {
    /// Links of a node that depends on `parameters` and on no boxed node.
    pub(crate) fn parameters(parameters: Rc<[Rc<ParameterNode>]>) -> Self {
        Links {
            parameters,
            boxed: None,
        }
    }

    /// Links of a boxed node over a node with links `self`: the same parameters, and the
    /// boxed node itself as the only nearest one.
    pub(crate) fn boxed_by(&self, node: Rc<Boxed>) -> Self {
        Links {
            parameters: self.parameters.clone(),
            boxed: Some(Rc::from([node])),
        }
    }

    /// The nearest boxed nodes.
    pub(crate) fn boxed_nodes(&self) -> &[Rc<Boxed>] {
        self.boxed.as_deref().unwrap_or(&[])
    }

    /// The nearest boxed nodes, shared (`None` when there are none).
    pub(crate) fn boxed_shared(&self) -> Option<Rc<[Rc<Boxed>]>> {
        self.boxed.clone()
    }

    /// The union of several operands' links, without duplicates.
    fn union(all: &[&Links]) -> Self {
        match all {
            [] => Links::parameters(Rc::from(Vec::new())),
            [one] => (*one).clone(),
            _ => {
                // Most often one operand's list already is the union (an input or a number
                // on the other side, or parameters the first side lists first, as in each
                // step of a recurrent graph): share it rather than build a new one, which
                // saves a few allocations per node when graphs are built often.
                let parameters = covering(all.iter().map(|l| &*l.parameters))
                    .map(|i| all[i].parameters.clone())
                    .unwrap_or_else(|| {
                        let mut parameters: Vec<Rc<ParameterNode>> = Vec::new();
                        for p in all.iter().flat_map(|l| l.parameters.iter()) {
                            push_unique(&mut parameters, p);
                        }
                        Rc::from(parameters)
                    });
                let boxed = match covering(all.iter().map(|l| l.boxed_nodes())) {
                    Some(i) => all[i].boxed.clone(),
                    None => {
                        let mut boxed: Vec<Rc<Boxed>> = Vec::new();
                        for b in all.iter().flat_map(|l| l.boxed_nodes()) {
                            push_unique(&mut boxed, b);
                        }
                        Some(Rc::from(boxed))
                    }
                };
                Links { parameters, boxed }
            }
        }
    }
}

/// A variable as an operand of a custom node, for
/// [`Variable::with_operands`]: `(&x).into()` for any variable `x`.
///
/// ```
/// use ndarray::arr2;
/// use wyrm::nodes::Dot;
/// use wyrm::*;
///
/// let x = InputNode::new(arr2(&[[3.0, 4.0]]));
/// let w = ParameterNode::new(arr2(&[[1.0], [2.0]]));
/// // Any node over `x` and `w` (here a built-in one, built by hand).
/// let node = Dot::new(x.node().clone(), w.node().clone());
/// let operands: [Operand<'_>; 2] = [(&x).into(), (&w).into()];
/// let y = Variable::with_operands(node, &operands);
/// assert_eq!(y.parameters().len(), 1); // `w`, found through its operand
/// ```
#[derive(Clone, Copy)]
pub struct Operand<'a>(&'a Links);

impl<'a, U: Node> From<&'a Variable<U>> for Operand<'a> {
    fn from(variable: &'a Variable<U>) -> Self {
        Operand(&variable.links)
    }
}

impl<T: Node> Clone for Variable<T> {
    fn clone(&self) -> Self {
        Variable {
            node: self.node.clone(),
            links: self.links.clone(),
            pass: self.pass.clone(),
        }
    }
}

impl<T: Node> std::fmt::Debug for Variable<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Variable")
            .field("node", &std::any::type_name::<T>())
            .field("shape", &self.node.shape())
            .finish()
    }
}

/// The pass of a variable never forwarded: no pass has this identity.
const NEVER: u64 = u64::MAX;

/// Held during a backward sweep and forgotten when it completes. Dropped only when the
/// sweep panics: it then draws a fresh pass, so that every variable on the thread (clones
/// of the one that panicked included) runs its forward pass again before its next
/// backward, instead of building on the partial sums the sweep left in nodes with several
/// consumers (a forward pass resets them).
struct StaleOnUnwind;

impl Drop for StaleOnUnwind {
    fn drop(&mut self) {
        Pass::next();
    }
}

thread_local! {
    /// Seed buffer for `backward` on large roots, reused so that steps do not allocate.
    static SEED: RefCell<Vec<f32>> = const { RefCell::new(Vec::new()) };
}

impl<T: Node> Variable<T> {
    /// Wraps a node, e.g. one of your own [`Node`] implementations. `parameters` are the
    /// parameters the node depends on: usually the union of its operands'
    /// [`parameters`](Self::parameters). They are what [`parameters`](Self::parameters)
    /// returns, and so what an optimizer built from it updates: the backward pass reaches
    /// every parameter below the node either way, but one left out of the list keeps its
    /// gradient and is never stepped.
    ///
    /// Prefer [`with_operands`](Self::with_operands) where the node's operands are
    /// variables: a forward pass does not see through a node built with `new` to the boxed
    /// nodes below it (a chain of boxed nodes that goes through such a node at every step
    /// recurses once per step).
    ///
    /// See `tests/it/custom_node.rs` for a complete custom operation.
    ///
    /// ```
    /// use ndarray::arr2;
    /// use wyrm::nodes::Dot;
    /// use wyrm::*;
    ///
    /// let x = InputNode::new(arr2(&[[3.0, 4.0]]));
    /// let w = ParameterNode::new(arr2(&[[1.0], [2.0]]));
    /// let node = Dot::new(x.node().clone(), w.node().clone());
    /// let y = Variable::new(node, w.parameters());
    /// y.forward();
    /// y.backward(1.0);
    /// assert_eq!(y.value(), arr2(&[[11.0]]));
    /// assert_eq!(w.gradient(), arr2(&[[3.0], [4.0]]));
    /// assert_eq!(y.parameters().len(), 1); // what an optimizer will update
    /// ```
    #[track_caller]
    pub fn new(node: T, parameters: Vec<Variable<ParameterNode>>) -> Self {
        crate::shape::check_node_dims::<T::Rows, T::Cols>("Variable::new", node.shape());
        let mut list: Vec<Rc<ParameterNode>> = Vec::new();
        for p in parameters {
            push_unique(&mut list, &p.node);
        }
        Variable::from_parts(Rc::new(node), Links::parameters(Rc::from(list)))
    }

    /// Wraps a node (e.g. one of your own [`Node`] implementations) over the variables it
    /// computes from: it depends on their parameters, and on the boxed nodes below them, so
    /// that passes through deep chains of boxed nodes stay bounded (see
    /// [`boxed`](Self::boxed)).
    ///
    /// List every variable the node reads. The list is all that [`parameters`](Self::parameters)
    /// knows of, and nothing compares it with the node's fields: a parameter read only
    /// through a variable left out still receives its gradient, but is missing from
    /// `parameters()`, so an optimizer built from it never updates it.
    ///
    /// Panics if the node's static dimensions (`Node::Rows`, `Node::Cols`) disagree with
    /// its [`shape`](Node::shape).
    ///
    /// A typed expression nests custom nodes that hold their operands as `Rc<T>` less
    /// deeply than built-in ones (about 64 levels against 120, a user measured): past
    /// that, rustc stops with E0320, "overflow while adding drop-check rules". Box every
    /// few dozen levels ([`boxed`](Self::boxed)), or raise the crate's
    /// `#![recursion_limit]`.
    ///
    /// ```
    /// use std::cell::Ref;
    /// use std::rc::Rc;
    /// use wyrm::*;
    ///
    /// /// `x / 2`, as a custom node.
    /// struct Halve<T> {
    ///     operand: Rc<T>,
    ///     state: NodeState,
    ///     operand_gradient: Scratch,
    /// }
    ///
    /// impl<T: Node> Node for Halve<T> {
    ///     type Rows = T::Rows;
    ///     type Cols = T::Cols;
    ///     fn shape(&self) -> (usize, usize) {
    ///         self.state.shape()
    ///     }
    ///     fn forward(&self, pass: Pass) {
    ///         if !self.state.visit(pass) {
    ///             return;
    ///         }
    ///         self.operand.forward(pass);
    ///         let x = self.operand.value();
    ///         for (y, x) in self.state.value_mut().iter_mut().zip(x.iter()) {
    ///             *y = x / 2.0;
    ///         }
    ///     }
    ///     fn backward(&self, gradient: &[f32]) {
    ///         if self.operand.needs_gradient() && self.state.accumulate(gradient) {
    ///             self.propagate(&self.state.gradient());
    ///         }
    ///     }
    ///     // Word from a `detach` above that no gradient comes: counted like a
    ///     // contribution; if no consumer sent one, the word goes on down.
    ///     fn backward_nothing(&self) {
    ///         if self.operand.needs_gradient() {
    ///             self.state.gather_nothing(
    ///                 |g| self.propagate(g),
    ///                 || self.operand.backward_nothing(),
    ///             );
    ///         }
    ///     }
    ///     fn value(&self) -> Ref<'_, [f32]> {
    ///         self.state.value()
    ///     }
    ///     fn needs_gradient(&self) -> bool {
    ///         self.operand.needs_gradient()
    ///     }
    ///     fn begin_backward(&self) {
    ///         self.state.begin_backward();
    ///     }
    /// }
    ///
    /// impl<T: Node> Halve<T> {
    ///     /// Sends the complete gradient `g` on to the operand.
    ///     fn propagate(&self, g: &[f32]) {
    ///         let mut out = self.operand_gradient.borrow_mut();
    ///         for (out, upstream) in out.iter_mut().zip(g) {
    ///             *out = upstream / 2.0;
    ///         }
    ///         self.operand.backward(&out);
    ///     }
    /// }
    ///
    /// fn halve<T: Node>(x: &Variable<T>) -> Variable<Halve<T>> {
    ///     let (rows, cols) = x.shape();
    ///     let node = Halve {
    ///         operand: x.node().clone(),
    ///         state: NodeState::new((rows, cols)),
    ///         operand_gradient: Scratch::new(rows * cols),
    ///     };
    ///     Variable::with_operands(node, &[x.into()])
    /// }
    ///
    /// // A chain through the custom node at every step, as long as the data makes it.
    /// let w = ParameterNode::new(ndarray::arr2(&[[4.0]]));
    /// let mut s = w.boxed();
    /// for _ in 0..3 {
    ///     s = (halve(&s) + w.clone()).boxed();
    /// }
    /// assert_eq!(s.parameters().len(), 1);
    /// s.forward();
    /// s.backward(1.0);
    /// // s = w/8 + w/4 + w/2 + w
    /// assert_eq!(s.value()[(0, 0)], 7.5);
    /// assert_eq!(w.gradient()[(0, 0)], 1.875);
    /// ```
    #[track_caller]
    pub fn with_operands(node: T, operands: &[Operand<'_>]) -> Self {
        crate::shape::check_node_dims::<T::Rows, T::Cols>("Variable::with_operands", node.shape());
        let links: Vec<&Links> = operands.iter().map(|o| o.0).collect();
        Variable::with_links(node, &links)
    }

    pub(crate) fn from_parts(node: Rc<T>, links: Links) -> Self {
        Variable {
            node,
            links,
            pass: Rc::new(Cell::new(NEVER)),
        }
    }

    /// Builds a variable for a new node whose operands have the given links (the union is
    /// taken, without duplicates).
    pub(crate) fn with_links(node: T, operands: &[&Links]) -> Self {
        Variable::from_parts(Rc::new(node), Links::union(operands))
    }

    pub(crate) fn links(&self) -> &Links {
        &self.links
    }

    /// The node behind this variable; custom nodes hold their operands' nodes.
    ///
    /// ```
    /// use std::rc::Rc;
    /// use wyrm::*;
    ///
    /// let x = InputNode::new(ndarray::arr2(&[[1.0, 2.0]]));
    /// let node: &Rc<InputNode> = x.node();
    /// assert_eq!(node.shape(), (1, 2));
    /// assert!(Rc::ptr_eq(node, x.clone().node())); // clones share the node
    /// ```
    #[inline(always)]
    pub fn node(&self) -> &Rc<T> {
        &self.node
    }

    /// The shape `(rows, cols)` of the value.
    ///
    /// ```
    /// use wyrm::*;
    ///
    /// let x = InputNode::new(random_matrix(2, 3));
    /// let w = ParameterNode::new(random_matrix(3, 4));
    /// assert_eq!(x.dot(&w).shape(), (2, 4)); // known when the graph is built
    /// assert_eq!(x.t().shape(), (3, 2));
    /// ```
    pub fn shape(&self) -> (usize, usize) {
        self.node.shape()
    }

    /// Whether gradients flow through this variable (it depends on a parameter or a
    /// gradient-tracking input).
    ///
    /// ```
    /// use wyrm::*;
    ///
    /// let x = InputNode::new(random_matrix(1, 2));
    /// let w = ParameterNode::new(random_matrix(1, 2));
    /// assert!(!x.square().needs_gradient());
    /// assert!((x.clone() * w.clone()).needs_gradient());
    /// assert!(InputNode::with_gradient(random_matrix(1, 2)).needs_gradient());
    /// ```
    pub fn needs_gradient(&self) -> bool {
        self.node.needs_gradient()
    }

    /// This handle, sharing `other`'s record of the latest pass: for a handle built
    /// anew over `other`'s node (a boxed node boxed again), as a clone of it would.
    pub(crate) fn with_pass_of<U: Node>(mut self, other: &Variable<U>) -> Self {
        self.pass = other.pass.clone();
        self
    }

    /// Runs a forward pass: recomputes every node this variable depends on, each once,
    /// from the current values of inputs and parameters.
    ///
    /// Takes `&self`, as [`backward`](Self::backward) does: a graph behind a shared
    /// reference (a `model!` struct's field, a function's `&Model` argument) runs as it
    /// is, without `mut` or a clone.
    ///
    /// ```
    /// use wyrm::*;
    ///
    /// let x = InputNode::new(ndarray::arr2(&[[1.0]]));
    /// let y = (x.clone() + 1.0).square();
    /// y.forward();
    /// assert_eq!(y.value()[(0, 0)], 4.0);
    /// x.set_value(2.0);
    /// y.forward(); // every node is recomputed from the new input
    /// assert_eq!(y.value()[(0, 0)], 9.0);
    /// ```
    #[inline]
    pub fn forward(&self) {
        let pass = Pass::next();
        self.node.forward(pass);
        // Only a pass that completed counts as this variable's (a panicking one does not).
        self.pass.set(pass.id());
    }

    /// Runs one forward pass for this variable and `other` together: the nodes they share
    /// (a trunk under two heads) are computed once, where a `forward` of each computes
    /// them twice. For serving two outputs of one model, such as a click probability and
    /// a dwell time over one representation, or a loss and the probabilities it is
    /// computed from.
    ///
    /// The pass belongs to neither variable alone (their shared nodes count consumers from
    /// both), so a [`backward`](Self::backward) on either runs its own forward pass first.
    /// To train on both heads, backpropagate one loss that combines them
    /// (`loss_a + loss_b`).
    ///
    /// ```
    /// use wyrm::*;
    /// let x = InputNode::new(random_matrix(1, 8));
    /// let w = ParameterNode::new(random_matrix(8, 16));
    /// let trunk = x.dot(&w).relu();
    /// let click = trunk.sum_rows().sigmoid();
    /// let dwell = trunk.mean_rows().exp();
    /// click.forward_with(&dwell); // `x · w` and the relu once
    /// let together = dwell.value();
    /// dwell.forward(); // the same value on its own, computing the trunk again
    /// assert_eq!(dwell.value(), together);
    /// ```
    pub fn forward_with<U: Node>(&self, other: &Variable<U>) {
        let pass = Pass::next();
        self.node.forward(pass);
        other.node.forward(pass);
    }

    /// Whether the latest forward pass on this thread is this variable's own. A backward
    /// pass relies on the consumer counts of the latest forward pass: after a forward pass
    /// from another variable that shares nodes with this one (another head, or one of its
    /// own subexpressions), they would be that graph's, and gradients would be lost. Any
    /// other pass counts, shared nodes or not: telling would take a walk over the graph on
    /// every step.
    ///
    /// Also false inside a boxed level of a backward sweep, which sends a sweep nested in
    /// another to the slow path, which resets the nesting for it.
    #[inline(always)]
    fn owns_latest_pass(&self) -> bool {
        self.pass.get() == Pass::latest_id_outside_boxed()
    }

    /// [`backward`](Self::backward) when [`owns_latest_pass`](Self::owns_latest_pass)
    /// fails: runs the forward pass again if it is not the latest, and runs the sweep with
    /// the boxed nesting reset. Out of line and ending the backward pass itself, so that
    /// the usual path does not reload what the forward pass could have changed.
    #[cold]
    #[inline(never)]
    fn forward_and_backward(&self, weight: f32) {
        if self.pass.get() != Pass::latest_id() {
            self.forward();
        }
        let _sweep = enter_sweep();
        self.backward_from_own_pass(weight);
    }

    /// Runs a backward pass, seeding every element of this variable's gradient with
    /// `weight`. Adds `weight * d(value)/d(p)` to each parameter's gradient.
    ///
    /// Call after [`forward`](Self::forward). Calling it twice after one forward pass adds
    /// the gradients twice. A backward pass that panics (in a custom node, say) may have
    /// added part of its gradients to the parameters already: zero them before going on.
    ///
    /// Nodes count their consumers in the latest forward pass that reached them, and the
    /// backward pass relies on those counts. So if any other forward pass ran on this
    /// thread since this variable's (from another head sharing nodes with it, one of its
    /// subexpressions, or an unrelated graph: the check does not tell them apart; a
    /// clone's pass is this variable's own, as they share the node), or an input or
    /// parameter was set or an optimizer stepped since, or a
    /// backward sweep on the thread panicked, or it was never forwarded, this first runs
    /// its forward pass again. Its value and the gradients are then those of the current
    /// inputs and parameters. To avoid the extra pass, run one graph's forward and
    /// backward before forwarding another.
    ///
    /// ```
    /// use ndarray::arr2;
    /// use wyrm::{InputNode, ParameterNode};
    ///
    /// let w = ParameterNode::new(arr2(&[[2.0]]));
    /// let x = InputNode::new(arr2(&[[3.0]]));
    /// let hidden = w.clone() * x.clone();
    /// let loss = hidden.square();
    /// let monitor = hidden.clone() + hidden.clone();
    /// loss.forward();
    /// monitor.forward(); // shares `hidden` with `loss`
    /// loss.backward(1.0);
    /// // d(w x)^2 / dw = 2 w x^2
    /// assert_eq!(w.gradient()[[0, 0]], 36.0);
    /// ```
    // `always`: inlined into the caller, as before the check (out of line it cost the
    // sparse-mf step 70 instructions).
    #[inline(always)]
    pub fn backward(&self, weight: f32) {
        if !self.owns_latest_pass() {
            return self.forward_and_backward(weight);
        }
        self.backward_from_own_pass(weight);
    }

    /// [`backward`](Self::backward) once the latest forward pass is this variable's.
    #[inline(always)]
    fn backward_from_own_pass(&self, weight: f32) {
        let guard = StaleOnUnwind;
        self.node.begin_backward();
        let (rows, cols) = self.node.shape();
        let len = T::Rows::fold(rows) * T::Cols::fold(cols);
        if len == 1 {
            self.node.backward(&[weight]);
        } else if len <= 16 {
            let seed = [weight; 16];
            self.node.backward(&seed[..len]);
        } else {
            // Taken out for the sweep, so that a nested backward (from a custom node) finds
            // an empty buffer instead of a borrowed one.
            // (`try_with`: from a thread-local destructor, after the buffer's own, a fresh
            // one.)
            let mut seed = SEED.try_with(RefCell::take).unwrap_or_default();
            seed.clear();
            seed.resize(len, weight);
            self.node.backward(&seed);
            let _ = SEED.try_with(|s| *s.borrow_mut() = seed);
        }
        std::mem::forget(guard);
    }

    /// Runs a backward pass with a full upstream gradient (one weight per element of the
    /// value) instead of a single weight. Like [`backward`](Self::backward), it first runs
    /// this variable's forward pass again if that is not the latest one on this thread.
    ///
    /// ```
    /// use ndarray::arr2;
    /// use wyrm::*;
    ///
    /// let w = ParameterNode::new(arr2(&[[1.0, 2.0]]));
    /// let x = InputNode::new(arr2(&[[3.0, 4.0]]));
    /// let y = w.clone() * x.clone();
    /// y.forward();
    /// y.backward_with(arr2(&[[1.0, 0.5]]).view()); // one weight per element
    /// assert_eq!(w.gradient(), arr2(&[[3.0, 2.0]]));
    /// ```
    ///
    /// # Panics
    /// If `gradient` does not have this variable's shape.
    #[track_caller]
    pub fn backward_with(&self, gradient: ArrayView2<'_, f32>) {
        let (given, own) = (gradient.dim(), self.node.shape());
        assert!(
            given == own,
            "backward_with: the gradient is {}x{} but the variable is {}x{}",
            given.0,
            given.1,
            own.0,
            own.1
        );
        if self.pass.get() != Pass::latest_id() {
            self.forward();
        }
        let owned = gradient.as_standard_layout();
        let _sweep = enter_sweep();
        let guard = StaleOnUnwind;
        self.node.begin_backward();
        self.node
            .backward(owned.as_slice().expect("standard layout"));
        std::mem::forget(guard);
    }

    /// A copy of the value computed by the latest forward pass (for inputs and local
    /// parameters: the current value; for a [`shared`](crate::ParameterNode::shared)
    /// parameter: the copy its latest forward pass took, or the current values after an
    /// update made through it, see
    /// [`HogwildParameter::value`](crate::HogwildParameter::value) for the current one), as
    /// an `Array2` (`.view()`, `.shape()`, `[(r, c)]`, ...). A computed node that no
    /// forward pass has reached yet holds zeros (a one-row lookup of a local table: its
    /// row), not a value of its operation.
    ///
    /// This allocates; to read a value without allocating (e.g. in a serving loop), use
    /// [`with_value`](Self::with_value).
    ///
    /// ```
    /// use ndarray::arr2;
    /// use wyrm::*;
    ///
    /// let x = InputNode::new(arr2(&[[1.0, 2.0]]));
    /// let y = x.clone() * 10.0;
    /// assert_eq!(x.value(), arr2(&[[1.0, 2.0]])); // an input: its current value
    /// assert_eq!(y.value(), arr2(&[[0.0, 0.0]])); // not forwarded yet
    /// y.forward();
    /// assert_eq!(y.value(), arr2(&[[10.0, 20.0]]));
    /// ```
    ///
    /// # Panics
    /// If the node's value buffer does not hold `rows * cols` elements (a broken custom
    /// [`Node`] implementation).
    pub fn value(&self) -> Array2<f32> {
        self.with_value(|view| view.to_owned())
    }

    /// Calls `f` with a view of the current value, without copying or allocating.
    ///
    /// ```
    /// use wyrm::*;
    /// let x = InputNode::new(ndarray::arr2(&[[1.0, 2.0]]));
    /// let y = x.square();
    /// y.forward();
    /// let total: f32 = y.with_value(|v| v.sum());
    /// assert_eq!(total, 5.0);
    /// ```
    ///
    /// # Panics
    /// As [`value`](Self::value).
    pub fn with_value<R>(&self, f: impl FnOnce(ArrayView2<'_, f32>) -> R) -> R {
        let guard = self.node.value();
        let shape = self.node.shape();
        let view = ArrayView2::from_shape(shape, &guard).unwrap_or_else(|_| {
            panic!(
                "value: the node {} reports shape {}x{} but its value holds {} elements",
                std::any::type_name::<T>(),
                shape.0,
                shape.1,
                guard.len()
            )
        });
        f(view)
    }

    /// The value of a `1 x 1` node (a loss) as an `f32`, without copying an array: what
    /// `value()[(0, 0)]` reads, from the latest forward pass (it runs nothing).
    ///
    /// ```
    /// use wyrm::*;
    /// let x = InputNode::new(ndarray::arr2(&[[1.0, 2.0]]));
    /// let loss = x.square().scalar_sum();
    /// loss.forward();
    /// assert_eq!(loss.scalar(), 5.0);
    /// ```
    ///
    /// # Panics
    /// If the node is not `1 x 1`, naming its shape.
    #[track_caller]
    pub fn scalar(&self) -> f32 {
        let shape = self.node.shape();
        assert!(
            shape == (1, 1),
            "scalar: the node is {}x{}, not 1x1; read a larger value with `value()` or \
             `with_value(..)`",
            shape.0,
            shape.1
        );
        self.node.value()[0]
    }

    /// The parameters this variable depends on, without duplicates, in the order they
    /// were first used. Pass them to an optimizer. All of them, those behind a
    /// [`detach`](Self::detach) included: for an optimizer over a part of the graph (a
    /// GAN's generator, whose loss runs through the discriminator), list that part's
    /// parameters instead (see [`optim`](crate::optim#two-optimizers-over-one-graph)).
    ///
    /// ```
    /// use std::rc::Rc;
    /// use wyrm::*;
    ///
    /// let w = ParameterNode::new(random_matrix(1, 2));
    /// let b = ParameterNode::new(random_matrix(1, 2));
    /// let x = InputNode::new(random_matrix(1, 2));
    /// let y = (w.clone() * x.clone() + b.clone()) * w.clone();
    /// let parameters = y.parameters();
    /// assert_eq!(parameters.len(), 2); // `w` once, then `b`
    /// assert!(Rc::ptr_eq(parameters[0].node(), w.node()));
    /// assert!(Rc::ptr_eq(parameters[1].node(), b.node()));
    /// ```
    pub fn parameters(&self) -> Vec<Variable<ParameterNode>> {
        self.links
            .parameters
            .iter()
            .map(|p| Variable::from_parts(p.clone(), Links::parameters(Rc::from([p.clone()]))))
            .collect()
    }
}

use crate::shape::Dim;

/// The index of the longest of `lists` if it equals their union in order of first
/// appearance (elements compared by pointer), so that it can stand for the union; `None`
/// otherwise.
fn covering<'a, N: 'a>(lists: impl Iterator<Item = &'a [Rc<N>]> + Clone) -> Option<usize> {
    let (longest, list) = lists.clone().enumerate().max_by_key(|(_, l)| l.len())?;
    // Walk the union in order: each element is either one already met (in `list` before
    // `next`) or must be `list`'s next one.
    let mut next = 0;
    for p in lists.flatten() {
        if list[..next].iter().any(|q| Rc::ptr_eq(q, p)) {
            continue;
        }
        if next == list.len() || !Rc::ptr_eq(&list[next], p) {
            return None;
        }
        next += 1;
    }
    (next == list.len()).then_some(longest)
}

fn push_unique<N>(list: &mut Vec<Rc<N>>, p: &Rc<N>) {
    if !list.iter().any(|q| Rc::ptr_eq(q, p)) {
        list.push(p.clone());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    type List = Vec<Rc<u8>>;

    #[test]
    #[should_panic(expected = "scalar: the node is 1x2, not 1x1; read a larger value")]
    fn scalar_of_a_larger_node_panics_naming_its_shape() {
        crate::InputNode::new(ndarray::arr2(&[[1.0, 2.0]])).scalar();
    }

    /// The union in order of first appearance, built the plain way.
    fn naive(lists: &[List]) -> List {
        let mut union = Vec::new();
        for p in lists.iter().flatten() {
            push_unique(&mut union, p);
        }
        union
    }

    /// Whenever `covering` picks a list, that list is the union, in the same order; and it
    /// picks one in the cases that matter (an empty side, a side that lists the other's
    /// elements first).
    #[test]
    fn a_covering_list_is_the_union_in_order() {
        let pool: Vec<Rc<u8>> = (0..4).map(Rc::new).collect();
        let mut state = 7u64;
        let mut random = |n: u64| {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (state >> 33) % n
        };
        let mut picked = 0;
        for _ in 0..5000 {
            let lists: Vec<List> = (0..2 + random(2))
                .map(|_| {
                    let mut list = Vec::new();
                    for _ in 0..random(5) {
                        push_unique(&mut list, &pool[random(4) as usize]);
                    }
                    list
                })
                .collect();
            let union = naive(&lists);
            if let Some(i) = covering(lists.iter().map(Vec::as_slice)) {
                picked += 1;
                let same = lists[i].len() == union.len()
                    && lists[i].iter().zip(&union).all(|(a, b)| Rc::ptr_eq(a, b));
                assert!(same, "{lists:?} picked {i}, union {union:?}");
            }
        }
        assert!(
            picked > 1000,
            "covering picked a list {picked} times of 5000"
        );
        let (a, b) = (pool[0].clone(), pool[1].clone());
        let cases: [(Vec<List>, Option<usize>); 4] = [
            (vec![vec![], vec![a.clone()]], Some(1)),
            (vec![vec![a.clone(), b.clone()], vec![b.clone()]], Some(0)),
            (vec![vec![a.clone()], vec![a.clone(), b.clone()]], Some(1)),
            (vec![vec![b.clone()], vec![a.clone(), b.clone()]], None),
        ];
        for (lists, expected) in cases {
            assert_eq!(
                covering(lists.iter().map(Vec::as_slice)),
                expected,
                "{lists:?}"
            );
        }
    }
}
