//! `detach`: an expression's value with no gradient flowing back into it (a stop-gradient),
//! for targets computed by the model itself (temporal-difference targets, the teacher side
//! of a distillation or siamese loss) and straight-through estimators.

use super::Child;
use crate::node::{GradientWrite, Node, NodeState, Pass};
use crate::nodes::ParameterNode;
use crate::Variable;
use std::cell::{Cell, Ref};
use std::rc::Rc;

/// Node passing its operand's value through unchanged and sending no gradient back; see
/// [`Variable::detach`].
///
/// It keeps no buffer of its own: its value is the operand's. Its consumers still count it
/// as an operand that needs a gradient whenever the operand does, because it must tell the
/// operand, once per backward sweep, that no gradient comes from it (see
/// [`Node::backward_nothing`]); the operand then propagates what its other consumers
/// sent, or, with no other consumer, nothing, and no parameter below records a gradient
/// through it.
///
/// ```
/// use wyrm::*;
/// use wyrm::nodes::{Detach, Tanh};
///
/// let w = ParameterNode::new(ndarray::arr2(&[[0.5]]));
/// let frozen: Variable<Detach<Tanh<ParameterNode>>> = w.tanh().detach();
/// assert!(frozen.node().needs_gradient() && frozen.node().discards_gradient());
/// ```
pub struct Detach<T> {
    operand: Child<T>,
    needs_gradient: bool,
    /// Only the counters: a `0 x 0` state, whose empty buffers are never written, since
    /// every contribution is taken as "no gradient" (`gather_nothing`).
    state: NodeState,
    /// The addresses of the parameter nodes below, for the gradient checker's question
    /// whether a failure is this node's doing; `None` (built by `new`): unknown.
    below: Option<Rc<[usize]>>,
}

thread_local! {
    /// While a gradient check's first forward pass runs: the checked parameter's address
    /// (0 for an input, which a `detach` cannot tell from others), and whether the pass
    /// went through a `detach` that cuts its gradient (where finite differences see
    /// through the cut, so the check fails whatever the step).
    static WATCH: Cell<Option<(usize, bool)>> = const { Cell::new(None) };
}

/// A parameter node's address, which identifies it (its typed node and run-time-shaped
/// view share one allocation): what `below` holds and the gradient checker watches for.
pub(crate) fn node_address(p: &Variable<ParameterNode>) -> usize {
    Rc::as_ptr(p.node()) as *const () as usize
}

/// Starts watching for a `detach` over the parameter at `target` (0: over anything).
pub(crate) fn watch_cuts(target: usize) {
    WATCH.with(|w| w.set(Some((target, false))));
}

/// Stops watching; whether a `detach` over the target cut its gradient meanwhile.
pub(crate) fn cut_seen() -> bool {
    WATCH.with(|w| w.take()).is_some_and(|(_, seen)| seen)
}

impl<T: Node> Detach<T> {
    /// Builds the node over `operand`.
    ///
    /// ```
    /// use wyrm::*;
    /// use wyrm::nodes::Detach;
    ///
    /// let w = ParameterNode::new(ndarray::arr2(&[[2.0]]));
    /// let node = Detach::new(w.node().clone());
    /// let y = Variable::with_operands(node, &[(&w).into()]) * w.clone();
    /// y.forward();
    /// y.backward(1.0);
    /// assert_eq!(y.value()[(0, 0)], 4.0);
    /// assert_eq!(w.gradient()[(0, 0)], 2.0); // only through the right-hand `w`
    /// ```
    pub fn new(operand: Rc<T>) -> Self {
        Detach {
            needs_gradient: operand.needs_gradient(),
            operand: Child::new(operand),
            state: NodeState::new((0, 0)),
            below: None,
        }
    }

    /// Counts one consumer's report as "no gradient"; after the last one of the sweep,
    /// tells the operand that no gradient comes from here.
    #[inline]
    fn receive(&self) {
        if self.needs_gradient {
            let unreachable = |_: &[f32]| unreachable!("every contribution is nothing");
            self.state
                .gather_nothing(unreachable, || self.operand.backward_nothing());
        }
    }
}

impl<T: Node> Node for Detach<T> {
    type Rows = T::Rows;
    type Cols = T::Cols;

    #[inline(always)]
    fn shape(&self) -> (usize, usize) {
        self.operand.shape()
    }

    #[inline]
    fn forward(&self, pass: Pass) {
        if self.state.visit(pass) {
            if self.needs_gradient {
                WATCH.with(|w| {
                    if let Some((target, false)) = w.get() {
                        let over = |below: &Rc<[usize]>| target == 0 || below.contains(&target);
                        if self.below.as_ref().is_none_or(over) {
                            w.set(Some((target, true)));
                        }
                    }
                });
            }
            self.operand.forward(pass);
        }
    }

    /// Discards the gradient.
    #[inline]
    fn backward(&self, _gradient: &[f32]) {
        self.receive();
    }

    #[inline]
    fn backward_nothing(&self) {
        self.receive();
    }

    /// Takes the contribution without computing it: it would be discarded.
    #[inline]
    fn backward_into<W: GradientWrite>(&self, _write: W) -> Option<W> {
        self.receive();
        None
    }

    #[inline(always)]
    fn value(&self) -> Ref<'_, [f32]> {
        self.operand.value()
    }

    #[inline]
    fn begin_backward(&self) {
        self.state.begin_backward();
    }

    #[inline(always)]
    fn needs_gradient(&self) -> bool {
        self.needs_gradient
    }

    /// Always, when it needs a gradient at all: consumers send nothing instead.
    #[inline(always)]
    fn discards_gradient(&self) -> bool {
        self.needs_gradient
    }
}

impl<T: Node> Variable<T> {
    /// The same value, with no gradient flowing back through it: a stop-gradient
    /// (PyTorch's `detach`, TensorFlow's `stop_gradient`). The forward pass computes the
    /// operand as usual; the backward pass treats the result as a constant, so parameters
    /// reached only through it record no gradient at all (optimizers leave them alone, see
    /// [`has_gradient`](Variable::<ParameterNode>::has_gradient)), and those also reached
    /// another way get only that way's gradient. Nodes above the `detach` compute no
    /// gradient for it either. The result's [`parameters`](Variable::parameters) still
    /// list the detached expression's, which costs an optimizer built from them nothing.
    ///
    /// A custom node below a `detach` that does not implement
    /// [`Node::backward_nothing`] gets zeros instead of the word that nothing comes (the
    /// trait's default): the gradients are the same, but parameters below it then record
    /// those zeros, which momentum and Adam still act on. Built-in nodes all implement it.
    ///
    /// A parameter detached in place, as in `x.dot(&w.detach())`, is a frozen weight: the
    /// gradient flows on to `x` and `w` records none (a GAN's discriminator in the
    /// generator's step; see [`optim`](crate::optim#two-optimizers-over-one-graph)).
    ///
    /// A temporal-difference target, computed by the same network that is trained:
    ///
    /// ```
    /// use wyrm::*;
    /// use ndarray::arr2;
    ///
    /// let w = ParameterNode::new(arr2(&[[0.5]]));
    /// let (state, next_state) = (InputNode::new(arr2(&[[1.0]])), InputNode::new(arr2(&[[2.0]])));
    /// let q = state.dot(&w);
    /// let target = next_state.dot(&w).detach() * 0.9 + 1.0; // reward 1, discount 0.9
    /// let loss = (target - q).square();
    /// loss.forward();
    /// loss.backward(1.0);
    /// // d/dw (1.9 - w)² at w = 0.5, with the target held constant: -2 · 1.4 = -2.8
    /// // (differentiating through the target too would give -2 · 1.4 · (1 - 1.8) = 2.24).
    /// assert!((w.gradient()[(0, 0)] + 2.8).abs() < 1e-5);
    /// ```
    ///
    /// A straight-through estimator: the forward pass rounds, the backward pass treats the
    /// rounding as the identity.
    ///
    /// ```
    /// use wyrm::*;
    /// use wyrm::nodes::UnaryOp;
    /// use ndarray::arr2;
    ///
    /// struct Round;
    /// impl UnaryOp for Round {
    ///     const NAME: &'static str = "round";
    ///     fn apply(&self, x: f32) -> f32 { x.round() }
    ///     fn derivative(&self, _x: f32, _y: f32) -> f32 { 0.0 }
    /// }
    ///
    /// let w = ParameterNode::new(arr2(&[[0.3, 1.6]]));
    /// let rounded = w.clone() + (w.map(Round) - w.clone()).detach();
    /// let y = (rounded * InputNode::new(arr2(&[[2.0, 3.0]]))).scalar_sum();
    /// y.forward();
    /// y.backward(1.0);
    /// assert_eq!(y.value()[(0, 0)], 6.0); // 2 · 0 + 3 · 2
    /// assert_eq!(w.gradient(), arr2(&[[2.0, 3.0]]));
    /// ```
    ///
    /// Finite differences see through `detach` (it is the identity in the forward pass),
    /// so a [gradient check](crate::gradcheck) of an expression that depends on the
    /// checked variable through a `detach` reports a mismatch by design.
    pub fn detach(&self) -> Variable<Detach<T>> {
        let mut node = Detach::new(self.node().clone());
        node.below = Some(self.parameters().iter().map(node_address).collect());
        Variable::with_links(node, &[self.links()])
    }
}

#[cfg(test)]
mod tests {
    use crate::*;
    use ndarray::arr2;

    /// `x` reached through a detached and a plain path gets the plain path's gradient
    /// only, in every order of the two consumers and from either side.
    #[test]
    fn a_shared_operand_gets_the_other_consumers_gradient() {
        let w = ParameterNode::new(arr2(&[[1.0, -2.0], [0.5, 3.0]]));
        let h = w.tanh();
        let weights = arr2(&[[0.3, -1.2], [2.0, 0.7]]);
        let c = InputNode::new(weights.clone());
        for detached_first in [true, false] {
            w.zero_gradient();
            let y = if detached_first {
                ((h.detach() * h.clone()) * c.clone()).scalar_sum().boxed()
            } else {
                ((h.clone() * h.detach()) * c.clone()).scalar_sum().boxed()
            };
            y.forward();
            y.backward(1.0);
            // d/dw sum(c · t · tanh(w)) with t = tanh(w) held constant: c · t · (1 - t²).
            let t = w.value().mapv(f32::tanh);
            let want = &weights * &t * t.mapv(|t| 1.0 - t * t);
            let got = w.gradient();
            for (g, e) in got.iter().zip(want.iter()) {
                assert!((g - e).abs() < 1e-5, "{got} != {want}");
            }
        }
    }

    /// Parameters reached only through `detach` record no gradient (not even zeros), so
    /// an optimizer with momentum leaves them alone, and lookups record no rows.
    #[test]
    fn parameters_reached_only_through_detach_record_nothing() {
        let table = ParameterNode::new(arr2(&[[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]]));
        let dense = ParameterNode::new(arr2(&[[0.5, 0.5]]));
        let idx = IndexInputNode::new(&[2]);
        let row = table.index(&idx);
        // The lookup has two consumers, both detached; `dense` is trained.
        let target = (row.detach() + row.detach() * 2.0) * dense.detach();
        let loss = (dense.clone() - target).square().scalar_sum();
        assert_eq!(loss.parameters().len(), 2);
        let mut sgd = SGD::new(0.1, vec![dense.clone(), table.clone()]).momentum(0.9);
        loss.forward();
        loss.backward(1.0);
        assert!(!table.has_gradient());
        // d/dd (d - 7.5)² + (d - 9)² at d = 0.5 for each column: 2 (0.5 - 3 · 5 · 0.5), ...
        assert_eq!(
            dense.gradient(),
            arr2(&[[2.0 * (0.5 - 7.5), 2.0 * (0.5 - 9.0)]])
        );
        sgd.step();
        assert_eq!(table.value(), arr2(&[[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]]));
    }

    /// A second backward sweep after one forward pass, and a sweep started at the detach
    /// node itself, behave like the first.
    #[test]
    fn repeated_sweeps_and_a_sweep_from_the_detach_node() {
        let w = ParameterNode::new(arr2(&[[2.0]]));
        let h = w.clone() * 3.0;
        let y = h.clone() * h.detach();
        y.forward();
        y.backward(1.0);
        y.backward(1.0);
        assert_eq!(w.gradient(), arr2(&[[2.0 * 3.0 * 6.0]]));
        w.zero_gradient();
        let d = h.detach();
        d.forward();
        d.backward(1.0);
        assert!(!w.has_gradient());
    }

    /// A detached expression with several consumers tells its operand once per sweep.
    #[test]
    fn a_detach_node_with_several_consumers_reports_once() {
        let w = ParameterNode::new(arr2(&[[1.5]]));
        let h = w.square();
        let d = h.detach();
        let y = d.clone() * d.clone() + d.clone() + h.clone();
        y.forward();
        y.backward(1.0);
        assert_eq!(w.gradient(), arr2(&[[3.0]])); // d(w²)/dw through `+ h` only
    }

    /// `dot` and `vector_dot` hand their gradient through `backward_into`, which the
    /// detach node takes without computing it.
    #[test]
    fn products_that_write_in_place_skip_the_detached_side() {
        let a = ParameterNode::new(arr2(&[[1.0, 2.0]]));
        let b = ParameterNode::new(arr2(&[[3.0], [4.0]]));
        let y = a.detach().dot(&b) + a.vector_dot(&b.t().detach());
        y.forward();
        y.backward(1.0);
        assert_eq!(b.gradient(), arr2(&[[1.0], [2.0]]));
        assert_eq!(a.gradient(), arr2(&[[3.0, 4.0]]));
    }

    /// Nodes above a detach compute no gradient for it: their consumers send nothing
    /// instead (the derivative of an op over a detached value is never evaluated), while
    /// the other side still gets its gradient.
    #[test]
    fn nodes_above_a_detach_compute_no_gradient_for_it() {
        use crate::nodes::UnaryOp;
        use std::cell::Cell;
        thread_local!(static CALLS: Cell<usize> = const { Cell::new(0) });
        struct Counted;
        impl UnaryOp for Counted {
            const NAME: &'static str = "counted";
            fn apply(&self, x: f32) -> f32 {
                x.tanh()
            }
            fn derivative(&self, _x: f32, y: f32) -> f32 {
                CALLS.with(|c| c.set(c.get() + 1));
                1.0 - y * y
            }
        }
        let w = ParameterNode::new(arr2(&[[0.5, -1.0], [2.0, 0.25]]));
        let teacher = w.map(Counted).detach().map(Counted).softmax();
        assert!(teacher.node().discards_gradient());
        let student = w.log_softmax();
        let y = (student * teacher.clone() + w.map(Counted))
            .scalar_sum()
            .boxed();
        y.forward();
        y.backward(1.0);
        // Only the last term's derivative ran: once per element.
        assert_eq!(CALLS.with(Cell::get), 4);
        // The gradient is the one with the teacher as a constant.
        let constant = InputNode::new(teacher.value());
        let reference = (w.log_softmax() * constant + w.tanh()).scalar_sum();
        let got = w.gradient();
        w.zero_gradient();
        reference.forward();
        reference.backward(1.0);
        let want = w.gradient();
        for (g, e) in got.iter().zip(want.iter()) {
            assert!((g - e).abs() < 1e-6, "{got} != {want}");
        }
    }

    /// Deep boxed chains pass the word down without recursing once per level.
    #[test]
    fn nothing_passes_down_a_deep_boxed_chain() {
        let w = ParameterNode::new(arr2(&[[0.5]]));
        let mut h = w.boxed();
        for _ in 0..20_000 {
            h = (h * 1.0).boxed();
        }
        let y = h.detach() + w.clone();
        y.forward();
        y.backward(1.0);
        assert_eq!(w.gradient(), arr2(&[[1.0]]));
    }
}
