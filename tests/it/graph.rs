//! Graph semantics: shared subexpressions, recomputation, repeated passes, parameter
//! lists, value access, and the panics for bad shapes.

use ndarray::{arr2, Array2};
use std::cell::{Cell, Ref};
use std::rc::Rc;
use wyrm::*;

/// An identity node that counts how often it computes its value and how often it
/// propagates a gradient, to observe how the engine visits nodes.
struct Probe<T> {
    operand: Rc<T>,
    state: NodeState,
    computed: Cell<u32>,
    propagated: Cell<u32>,
}

impl<T: Node> Node for Probe<T> {
    type Rows = T::Rows;
    type Cols = T::Cols;

    fn shape(&self) -> (usize, usize) {
        self.state.shape()
    }

    fn forward(&self, pass: Pass) {
        if !self.state.visit(pass) {
            return;
        }
        self.operand.forward(pass);
        self.computed.set(self.computed.get() + 1);
        self.state
            .value_mut()
            .copy_from_slice(&self.operand.value());
    }

    fn backward(&self, gradient: &[f32]) {
        if !self.operand.needs_gradient() || !self.state.accumulate(gradient) {
            return;
        }
        self.propagated.set(self.propagated.get() + 1);
        // The identity's gradient is the gathered one, passed on as it is.
        self.operand.backward(&self.state.gradient());
    }

    fn value(&self) -> Ref<'_, [f32]> {
        self.state.value()
    }

    fn needs_gradient(&self) -> bool {
        self.operand.needs_gradient()
    }
}

fn probe<T: Node>(x: &Variable<T>) -> Variable<Probe<T>> {
    let node = Probe {
        operand: x.node().clone(),
        state: NodeState::new(x.shape()),
        computed: Cell::new(0),
        propagated: Cell::new(0),
    };
    Variable::new(node, x.parameters())
}

#[test]
fn variable_used_twice_accumulates_both_gradients() {
    let p = ParameterNode::new(arr2(&[[2.0, -1.0, 0.5]]));
    // y = p * p + p, dy/dp = 2p + 1
    let y = p.clone() * p.clone() + p.clone();
    y.forward();
    assert_eq!(y.value().to_owned(), arr2(&[[6.0, 0.0, 0.75]]));
    y.backward(1.0);
    assert_eq!(p.gradient(), arr2(&[[5.0, -1.0, 2.0]]));
}

/// Clones share their node, and so their latest pass: a backward pass from one clone after
/// a forward pass from another uses that pass (no second forward), and gets its gradients.
#[test]
fn a_clones_forward_pass_serves_the_backward_pass_of_another() {
    let w = ParameterNode::new(arr2(&[[2.0]]));
    let x = InputNode::new(arr2(&[[3.0]]));
    let h = probe(&(w.clone() * x));
    let loss = h.square();
    let copy = loss.clone();
    copy.forward();
    loss.backward(1.0);
    assert_eq!(h.node().computed.get(), 1, "one forward pass, the clone's");
    // d (w x)^2 / dw = 2 w x^2
    assert_eq!(w.gradient()[[0, 0]], 36.0);
    // Another graph's pass in between still sends the next backward through a forward.
    copy.forward();
    (w.clone() * 2.0).forward();
    loss.backward(1.0);
    assert_eq!(h.node().computed.get(), 3);
    assert_eq!(w.gradient()[[0, 0]], 72.0);
    // A boxed node boxed again is the same node, and shares the pass as a clone does.
    let boxed = loss.boxed();
    let again = boxed.boxed();
    boxed.forward();
    again.backward(1.0);
    assert_eq!(h.node().computed.get(), 4);
    assert_eq!(w.gradient()[[0, 0]], 108.0);
}

#[test]
fn diamond_accumulates_all_gradients_and_propagates_once() {
    let p = ParameterNode::new(arr2(&[[2.0], [-1.0]]));
    // s = p + 1 is shared by two branches: out = s² + s * p.
    // d out / dp = 2s + (p + s) = 3s + p.
    let s = probe(&(p.clone() + 1.0));
    let out = s.square() + s.clone() * p.clone();
    out.forward();
    assert_eq!(
        s.node().computed.get(),
        1,
        "the shared node is computed once"
    );
    // s = [3, 0]: out = [9 + 6, 0 + 0]
    assert_eq!(out.value().to_owned(), arr2(&[[15.0], [0.0]]));
    out.backward(0.5);
    assert_eq!(
        s.node().propagated.get(),
        1,
        "the shared node propagates once, after both consumers reported"
    );
    // 0.5 * (3s + p) = 0.5 * [9 + 2, 0 - 1]
    assert_eq!(p.gradient(), arr2(&[[5.5], [-0.5]]));
}

#[test]
fn deep_diamonds_visit_each_node_once_per_pass() {
    let p = ParameterNode::new(arr2(&[[0.3]]));
    // Each level uses the previous one twice: without caching the work would double per
    // level.
    let base = probe(&p);
    let mut level = (base.clone() * base.clone()).boxed();
    for _ in 0..20 {
        level = (level.clone() + level.clone() * 0.5).boxed();
    }
    let out = level;
    out.forward();
    out.backward(1.0);
    assert_eq!(base.node().computed.get(), 1);
    assert_eq!(base.node().propagated.get(), 1);
    // out = 1.5^20 * p²
    let expected = 1.5f32.powi(20) * 2.0 * 0.3;
    let g = p.gradient()[(0, 0)];
    assert!((g - expected).abs() < 1e-3 * expected, "{g} vs {expected}");
}

#[test]
fn new_input_values_recompute_everything_downstream() {
    let w = ParameterNode::new(arr2(&[[1.0, 2.0], [3.0, 4.0]]));
    let x = InputNode::new(arr2(&[[1.0, 0.0]]));
    let hidden = probe(&x.dot(&w));
    let y = hidden.clone() + x.clone();
    y.forward();
    assert_eq!(y.value().to_owned(), arr2(&[[2.0, 2.0]]));
    x.set_value(arr2(&[[0.0, 1.0]]));
    y.forward();
    assert_eq!(y.value().to_owned(), arr2(&[[3.0, 5.0]]));
    assert_eq!(hidden.value().to_owned(), arr2(&[[3.0, 4.0]]));
    // A parameter change is picked up the same way.
    w.set_value(&arr2(&[[0.0, 0.0], [1.0, -1.0]]));
    y.forward();
    assert_eq!(y.value().to_owned(), arr2(&[[1.0, 0.0]]));
    assert_eq!(hidden.node().computed.get(), 3);
}

/// `d/dw sum(tanh(x · w) * x)` computed on a freshly built graph.
fn fresh_gradient(w: &Array2<f32>, x: &Array2<f32>) -> Array2<f32> {
    let w = ParameterNode::new(w.clone());
    let x = InputNode::new(x.clone());
    let y = x.dot(&w).tanh() * x.clone();
    y.forward();
    y.backward(1.0);
    w.gradient()
}

#[test]
fn forward_only_pass_leaves_no_stale_cache() {
    let w0 = arr2(&[[0.5, -0.2], [0.1, 0.3]]);
    let x1 = arr2(&[[1.0, 2.0]]);
    let x2 = arr2(&[[-3.0, 0.5]]);
    let w = ParameterNode::new(w0.clone());
    let x = InputNode::new(x1.clone());
    let y = x.dot(&w).tanh() * x.clone();

    // Forward only (say, an evaluation), then a training step on other data.
    y.forward();
    x.set_value(&x2);
    y.forward();
    y.backward(1.0);
    assert_eq!(w.gradient(), fresh_gradient(&w0, &x2));

    // Backward, then forward only, then forward + backward again.
    w.zero_gradient();
    x.set_value(&x1);
    y.forward();
    x.set_value(&x2);
    y.forward();
    y.forward();
    y.backward(1.0);
    assert_eq!(w.gradient(), fresh_gradient(&w0, &x2));
}

#[test]
fn backward_twice_adds_gradients_twice() {
    let w = ParameterNode::new(arr2(&[[0.5, -0.2], [0.1, 0.3]]));
    let x = InputNode::new(arr2(&[[1.0, 2.0]]));
    // A shared subexpression, so the consumer counting is exercised too.
    let h = x.dot(&w);
    let y = h.clone() * h.clone() + h;
    y.forward();
    y.backward(1.0);
    let once = w.gradient();
    y.backward(1.0);
    assert_eq!(w.gradient(), &once * 2.0);
    y.backward(-2.0);
    assert_eq!(w.gradient(), Array2::<f32>::zeros((2, 2)));
}

#[test]
fn parameters_are_deduplicated_in_order_of_first_use() {
    let a = ParameterNode::new(arr2(&[[1.0]]));
    let b = ParameterNode::new(arr2(&[[2.0]]));
    let x = InputNode::new(arr2(&[[3.0]]));
    let y = (a.clone() * x.clone() + b.clone()) * a.clone() + (b.clone() - a.clone());
    let params = y.parameters();
    assert_eq!(params.len(), 2);
    assert_eq!(params[0].value()[(0, 0)], 1.0);
    assert_eq!(params[1].value()[(0, 0)], 2.0);
    // The returned handles share the nodes: an update through them is seen by `a`.
    params[0].set_value(&arr2(&[[7.0]]));
    assert_eq!(a.value()[(0, 0)], 7.0);
    // Inputs are not parameters.
    assert!((x.clone() * 2.0).parameters().is_empty());
}

#[test]
fn value_supports_ndarray_access() {
    let p = ParameterNode::new(arr2(&[[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]]));
    let y = p.clone() * 2.0;
    y.forward();
    let v = y.value();
    assert_eq!(v.shape(), &[2, 3]);
    assert_eq!(v[(1, 2)], 12.0);
    let view: ndarray::ArrayView2<f32> = v.view();
    assert_eq!(view.row(0).to_vec(), vec![2.0, 4.0, 6.0]);
    assert_eq!(v.sum(), 42.0);
    drop(v);
    y.backward(1.0);
    let g = p.gradient();
    assert_eq!(g.shape(), &[2, 3]);
    assert_eq!(g[(0, 1)], 2.0);
    assert_eq!(g.view().column(2).to_vec(), vec![2.0, 2.0]);
}

#[test]
#[should_panic(expected = "set_value: the array is 3x2 but the input is 2x3")]
fn input_set_value_with_wrong_shape_panics() {
    let x = InputNode::new(Array2::zeros((2, 3)));
    x.set_value(Array2::zeros((3, 2)));
}

#[test]
#[should_panic(expected = "set_value: an f32 can only be set on a 1x1 input, this input is 2x3")]
fn input_set_scalar_on_matrix_panics() {
    let x = InputNode::new(Array2::zeros((2, 3)));
    x.set_value(1.0);
}

#[test]
#[should_panic(expected = "backward_with: the gradient is 3x2 but the variable is 2x3")]
fn backward_with_a_gradient_of_the_wrong_shape_panics() {
    let x = ParameterNode::new(Array2::zeros((2, 3)));
    let y = x * 2.0;
    y.forward();
    y.backward_with(Array2::zeros((3, 2)).view());
}

#[test]
#[should_panic(expected = "ParameterNode::set_value: the array is 1x3 but the parameter is 2x2")]
fn parameter_set_value_with_wrong_shape_panics() {
    let p = ParameterNode::new(Array2::zeros((2, 2)));
    p.set_value(&Array2::zeros((1, 3)));
}

// Shape mismatches panic while the graph is built: none of these tests runs a pass.

#[test]
#[should_panic(
    expected = "shape mismatch in `add`: cannot combine a 2x3 (left) with a 3x2 (right)"
)]
fn add_mismatch_panics_at_construction() {
    let _ = InputNode::new(Array2::zeros((2, 3))) + ParameterNode::new(Array2::zeros((3, 2)));
}

#[test]
#[should_panic(
    expected = "shape mismatch in `div`: cannot combine a 4x3 (left) with a 2x3 (right)"
)]
fn broadcast_needs_a_single_row() {
    let _ = InputNode::new(Array2::zeros((4, 3))) / ParameterNode::new(Array2::ones((2, 3)));
}

#[test]
#[should_panic(expected = "shape mismatch in `dot`: cannot multiply a 2x3 (left) by a 2x3 (right)")]
fn dot_mismatch_panics_at_construction() {
    let a = ParameterNode::new(Array2::zeros((2, 3)));
    let _ = a.dot(&a);
}

#[test]
#[should_panic(expected = "the array is 2x2 but the node's static shape is 1x3")]
fn static_leaf_with_wrong_array_panics() {
    use wyrm::typenum::{U1, U3};
    let _ = InputNode::<U1, U3>::new_static(Array2::zeros((2, 2)));
}

/// The two-layer network of the graph-sharing tests: parameters and the hidden layer.
fn two_layer() -> (
    Variable<ParameterNode>,
    Variable<ParameterNode>,
    Variable<impl Node<Rows = Dyn, Cols = Dyn>>,
) {
    let w1 = ParameterNode::new(arr2(&[[0.5, -0.3], [0.2, 0.8]]));
    let w2 = ParameterNode::new(arr2(&[[1.0], [-1.0]]));
    let x = InputNode::new(arr2(&[[1.0, 2.0]]));
    let h = x.dot(&w1).tanh();
    (w1, w2, h)
}

/// `w`'s gradient after `run`, starting from zero.
fn gradient_after(w: &Variable<ParameterNode>, run: impl FnOnce()) -> Array2<f32> {
    w.zero_gradient();
    run();
    w.gradient()
}

#[test]
fn another_head_forwarded_in_between_does_not_change_the_gradients() {
    let (w1, w2, h) = two_layer();
    let y = InputNode::new(arr2(&[[0.5]]));
    let loss = (h.dot(&w2) - y).square();
    let norm = h.vector_dot(&h);
    let alone = gradient_after(&w1, || {
        loss.forward();
        loss.backward(1.0);
    });
    assert!(alone.iter().all(|g| g.abs() > 1e-3), "{alone}");
    // The second forward pass counted `h`'s consumers in `norm`'s graph (two, both in
    // `vector_dot`), where `loss` delivers one: unless `backward` runs `loss`'s forward
    // pass again, `h` waits for a second contribution and `w1` gets nothing.
    let interleaved = gradient_after(&w1, || {
        loss.forward();
        norm.forward();
        loss.backward(1.0);
    });
    assert_eq!(interleaved, alone);
    assert_eq!(loss.value()[[0, 0]], {
        loss.forward();
        loss.value()[[0, 0]]
    });
}

#[test]
fn two_heads_backward_one_after_the_other_sum_like_their_sum() {
    let (w1, w2, h) = two_layer();
    let head1 = h.dot(&w2).square();
    let head2 = (h.clone() + h.clone()).scalar_sum();
    let both = head1.clone() + head2.clone();
    let summed = gradient_after(&w1, || {
        both.forward();
        both.backward(1.0);
    });
    let one_by_one = gradient_after(&w1, || {
        head1.forward();
        head2.forward();
        head1.backward(1.0);
        head2.backward(1.0);
    });
    for (a, b) in one_by_one.iter().zip(&summed) {
        assert!((a - b).abs() <= 1e-6, "{one_by_one} against {summed}");
    }
}

/// Two heads forwarded together compute their shared trunk once, give the values of
/// separate passes, and a backward on either afterwards gives its own gradients.
#[test]
fn forward_with_computes_a_shared_trunk_once() {
    let (w1, w2, h) = two_layer();
    let trunk = probe(&h);
    let head1 = trunk.dot(&w2).square();
    let head2 = (trunk.clone() * 2.0).scalar_sum();
    head1.forward_with(&head2);
    assert_eq!(trunk.node().computed.get(), 1);
    let (value1, value2) = (head1.value(), head2.value());
    head1.forward();
    head2.forward();
    assert_eq!(trunk.node().computed.get(), 3);
    assert_eq!((head1.value(), head2.value()), (value1, value2));

    let alone = gradient_after(&w1, || {
        head1.forward();
        head1.backward(1.0);
    });
    let after_joint = gradient_after(&w1, || {
        head1.forward_with(&head2);
        head1.backward(1.0);
    });
    assert_eq!(after_joint, alone);
}

#[test]
fn backward_from_an_intermediate_whose_operands_feed_the_rest_of_the_graph() {
    let w = ParameterNode::new(arr2(&[[0.5, -0.3], [0.2, 0.8]]));
    let x = InputNode::new(arr2(&[[1.0, 2.0]]));
    let a = x.dot(&w);
    let h = a.tanh();
    // `a` has two consumers in `loss`'s pass, but only one (`tanh`) below `h`.
    let loss = (h.clone() + a.clone()).scalar_sum();
    let alone = gradient_after(&w, || {
        h.forward();
        h.backward(1.0);
    });
    assert!(alone.iter().all(|g| g.abs() > 1e-3), "{alone}");
    let after_loss = gradient_after(&w, || {
        loss.forward();
        h.backward(1.0);
    });
    assert_eq!(after_loss, alone);
}

#[test]
fn backward_without_forward_runs_the_forward_pass() {
    let w = ParameterNode::new(arr2(&[[2.0]]));
    let x = InputNode::new(arr2(&[[3.0]]));
    let y = (w.clone() * x).exp();
    y.backward(1.0);
    // d exp(3w)/dw = 3 exp(6)
    let expected = 3.0 * 6.0f32.exp();
    assert!((w.gradient()[[0, 0]] - expected).abs() <= 1e-3 * expected);
    assert!((y.value()[[0, 0]] - 6.0f32.exp()).abs() <= 1e-3 * expected);
}

/// Backward from an intermediate variable that also feeds other nodes is exact (it runs its
/// own forward pass first, since `loss`'s is the latest), and a later backward from the
/// root is still exact (an earlier review found the seed was swallowed and then corrupted
/// the root's pass).
#[test]
fn backward_from_an_intermediate_variable() {
    let x = ParameterNode::new(arr2(&[[1.5]]));
    let h = x.clone() * 2.0;
    let loss = h.clone() * h.clone() + h.clone();
    loss.forward();
    h.backward(5.0);
    // dh/dx = 2
    assert_eq!(x.gradient()[(0, 0)], 10.0);
    x.zero_gradient();
    loss.backward(1.0);
    // d(h² + h)/dx = (2h + 1) * 2 with h = 3
    assert_eq!(x.gradient()[(0, 0)], 14.0);
    x.zero_gradient();
    loss.forward();
    loss.backward(1.0);
    assert_eq!(x.gradient()[(0, 0)], 14.0);
}

/// The identity, except that it panics while `EXPLODE` is set.
struct Explodes;

static EXPLODE: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

impl nodes::UnaryOp for Explodes {
    const NAME: &'static str = "explodes";
    fn apply(&self, x: f32) -> f32 {
        assert!(!EXPLODE.load(std::sync::atomic::Ordering::Relaxed), "boom");
        x
    }
    fn derivative(&self, _x: f32, _y: f32) -> f32 {
        1.0
    }
}

#[test]
fn a_forward_pass_that_panicked_is_run_again_by_backward() {
    use std::sync::atomic::Ordering::Relaxed;
    let w = ParameterNode::new(arr2(&[[1.0]]));
    let x = InputNode::new(arr2(&[[1.0]]));
    let v = InputNode::new(arr2(&[[2.0]]));
    let loss = (w.clone() * x.clone()) * v.map(Explodes);
    loss.forward();
    x.set_value(5.0);
    v.set_value(3.0);
    EXPLODE.store(true, Relaxed);
    let failed = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| loss.forward()));
    EXPLODE.store(false, Relaxed);
    assert!(failed.is_err());
    // `w * x` was recomputed before the panic, `explodes(v)` was not: the half-done pass
    // must not count as the variable's, or the gradient would be 5 x 2.
    loss.backward(1.0);
    assert_eq!(w.gradient()[[0, 0]], 15.0);
    assert_eq!(loss.value()[[0, 0]], 15.0);
}

/// The identity, except that its derivative panics while `EXPLODE_BACKWARD` is set.
struct ExplodesBackward;

static EXPLODE_BACKWARD: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

impl nodes::UnaryOp for ExplodesBackward {
    const NAME: &'static str = "explodes_backward";
    fn apply(&self, x: f32) -> f32 {
        x
    }
    fn derivative(&self, _x: f32, _y: f32) -> f32 {
        assert!(
            !EXPLODE_BACKWARD.load(std::sync::atomic::Ordering::Relaxed),
            "boom"
        );
        1.0
    }
}

#[test]
fn a_backward_pass_that_panicked_leaves_no_partial_sums_behind() {
    use std::sync::atomic::Ordering::Relaxed;
    let w = ParameterNode::new(arr2(&[[1.0]]));
    let x = InputNode::new(arr2(&[[3.0]]));
    let h = w.clone() * x;
    // `h` has two consumers; the sweep panics after the first has reported.
    let loss = h.clone() + h.map(ExplodesBackward);
    // The next backward after the panic, from the variable itself or from a clone of it.
    for from_clone in [false, true] {
        loss.forward();
        let copy = loss.clone();
        EXPLODE_BACKWARD.store(true, Relaxed);
        let failed = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| loss.backward(1.0)));
        EXPLODE_BACKWARD.store(false, Relaxed);
        assert!(failed.is_err());
        w.zero_gradient();
        if from_clone {
            copy.backward(2.0);
        } else {
            loss.backward(2.0);
        }
        // d(2 (h + h)) / dw = 4 x
        assert_eq!(w.gradient()[[0, 0]], 12.0, "from a clone: {from_clone}");
    }
}

thread_local! {
    /// What `Nested`'s derivative runs: a backward pass of another graph.
    static NESTED: std::cell::RefCell<Option<Box<dyn FnMut()>>> = const { std::cell::RefCell::new(None) };
}

/// The identity, whose derivative runs `NESTED` first.
struct Nested;

impl nodes::UnaryOp for Nested {
    const NAME: &'static str = "nested";
    fn apply(&self, x: f32) -> f32 {
        x
    }
    fn derivative(&self, _x: f32, _y: f32) -> f32 {
        NESTED.with(|f| f.borrow_mut().as_mut().map(|f| f()));
        1.0
    }
}

#[test]
fn a_backward_pass_can_run_inside_another_with_large_roots() {
    // Both roots have more than 16 elements, so both seed from the thread's seed buffer.
    let p = ParameterNode::new(Array2::ones((5, 5)));
    let inner = p.clone() * 2.0;
    inner.forward();
    NESTED.with(|f| *f.borrow_mut() = Some(Box::new(move || inner.backward(1.0))));
    let x = ParameterNode::new(Array2::ones((5, 5)));
    let outer = x.map(Nested);
    outer.forward();
    outer.backward(1.0);
    NESTED.with(|f| *f.borrow_mut() = None);
    assert_eq!(x.gradient(), Array2::<f32>::ones((5, 5)));
    // One inner pass per element of `outer`, each adding 2.
    assert_eq!(p.gradient(), Array2::from_elem((5, 5), 50.0));
}

#[test]
fn a_backward_pass_inside_a_deep_boxed_one_completes_before_it_returns() {
    // Deep boxed graphs queue gradients every few levels and deliver them before the
    // outermost boxed level returns; a sweep nested inside one must deliver its own.
    let p = ParameterNode::new(arr2(&[[1.0]]));
    let mut inner = p.boxed();
    for _ in 0..40 {
        inner = (inner + p.clone()).boxed();
    }
    inner.forward();
    let seen = Rc::new(Cell::new(0.0));
    let seen_inside = seen.clone();
    let p_inside = p.clone();
    NESTED.with(|f| {
        *f.borrow_mut() = Some(Box::new(move || {
            p_inside.zero_gradient();
            inner.backward(1.0);
            seen_inside.set(p_inside.gradient()[[0, 0]]);
        }))
    });
    let x = ParameterNode::new(arr2(&[[1.0]]));
    let mut outer = x.map(Nested).boxed();
    for _ in 0..40 {
        outer = (outer * 1.0).boxed();
    }
    outer.forward();
    outer.backward(1.0);
    NESTED.with(|f| *f.borrow_mut() = None);
    assert_eq!(x.gradient()[[0, 0]], 1.0);
    assert_eq!(
        seen.get(),
        41.0,
        "the nested pass had its whole gradient when it returned"
    );
}
