//! Bad settings and misuse outside the graph-building ops: each is rejected where it is
//! made, with a message naming it, or (setting a value between a forward and a backward
//! pass) gives the gradient of one consistent state. Shape and index errors of the ops
//! themselves are tested next to each op.

use ndarray::{arr2, Array2};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Arc;
use wyrm::optim::Optimizer;
use wyrm::*;

/// The message of the panic `f` must raise.
fn panic_message(f: impl FnOnce()) -> String {
    let payload = catch_unwind(AssertUnwindSafe(f)).expect_err("expected a panic");
    match payload.downcast::<String>() {
        Ok(message) => *message,
        Err(payload) => payload
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .unwrap_or_default(),
    }
}

fn assert_panics(f: impl FnOnce(), expected: &str) {
    let message = panic_message(f);
    assert!(
        message.contains(expected),
        "panic message {message:?} lacks {expected:?}"
    );
}

fn params() -> Vec<Variable<ParameterNode>> {
    vec![ParameterNode::new(arr2(&[[1.0, 0.0]]))]
}

#[test]
fn optimizer_settings_that_would_poison_the_weights_are_rejected() {
    // Each of these turned weights into NaN or infinities at the first step, or (a negative
    // rate) into gradient ascent, without a word.
    assert_panics(
        || drop(SGD::new(f32::NAN, params())),
        "SGD::new: the learning rate must be finite and at least 0, got NaN",
    );
    assert_panics(
        || drop(SGD::new(-0.1, params())),
        "SGD::new: the learning rate must be finite and at least 0, got -0.1",
    );
    assert_panics(
        || drop(SGD::new(0.1, params()).momentum(f32::NAN)),
        "SGD::momentum must be in [0, 1), got NaN",
    );
    assert_panics(
        || drop(SGD::new(0.1, params()).momentum(1.0)),
        "SGD::momentum must be in [0, 1), got 1",
    );
    assert_panics(
        || drop(SGD::new(0.1, params()).l2_penalty(f32::NAN)),
        "SGD::l2_penalty must be finite and at least 0, got NaN",
    );
    assert_panics(
        || drop(Adagrad::new(f32::INFINITY, params())),
        "Adagrad::new: the learning rate must be finite and at least 0, got inf",
    );
    assert_panics(
        || drop(Adagrad::new(0.1, params()).eps(0.0)),
        "Adagrad::eps must be finite and at least f32::MIN_POSITIVE (1.1754944e-38), got 0",
    );
    assert_panics(
        || drop(Adagrad::new(0.1, params()).eps(-2e-9)),
        "Adagrad::eps must be finite and at least f32::MIN_POSITIVE",
    );
    assert_panics(
        || drop(Adam::new(0.1, params()).beta1(1.0)),
        "Adam::beta1 must be in [0, 1), got 1",
    );
    assert_panics(
        || drop(Adam::new(0.1, params()).beta2(1.0)),
        "Adam::beta2 must be in [0, 1), got 1",
    );
    assert_panics(
        || drop(Adam::new(0.1, params()).eps(0.0)),
        "Adam::eps must be finite and at least f32::MIN_POSITIVE",
    );
    // Adam scales eps by sqrt(1 - beta2^t), which rounds a subnormal eps to 0.
    assert_panics(
        || drop(Adam::new(0.1, params()).eps(1e-45)),
        "Adam::eps must be finite and at least f32::MIN_POSITIVE (1.1754944e-38), got",
    );
    assert_panics(
        || drop(Adam::new(0.1, params()).l2_penalty(-1.0)),
        "Adam::l2_penalty must be finite and at least 0, got -1",
    );
    assert_panics(
        || drop(Adam::new(0.1, params()).weight_decay(f32::INFINITY)),
        "Adam::weight_decay must be finite and at least 0, got inf",
    );
    assert_panics(
        || drop(Adam::new(0.1, params()).clamp(f32::NAN, 1.0)),
        "clamp: the bounds must not be NaN, got min NaN and max 1",
    );
    assert_panics(
        || Adam::new(0.1, params()).set_learning_rate(f32::NAN),
        "Adam::set_learning_rate: the learning rate must be finite and at least 0, got NaN",
    );

    // The edges of the ranges are fine: a zero rate freezes, zero momentum is plain SGD.
    let mut sgd = SGD::new(0.0, params()).momentum(0.0).l2_penalty(0.0);
    sgd.set_learning_rate(0.5);
    assert_eq!(sgd.learning_rate(), 0.5);
    let _ = Adam::new(0.1, params()).beta1(0.0).beta2(0.0);
    // The smallest eps allowed keeps an element with a zero gradient finite, at the
    // largest beta2 allowed too.
    for beta2 in [0.999, 1.0 - f32::EPSILON / 2.0] {
        let w = ParameterNode::new(arr2(&[[1.0, 2.0]]));
        let loss = w.clone() * InputNode::new(arr2(&[[1.0, 0.0]]));
        let mut adam = Adam::new(0.1, loss.parameters())
            .beta2(beta2)
            .eps(f32::MIN_POSITIVE);
        loss.forward();
        loss.backward(1.0);
        adam.step();
        assert!(w.value().iter().all(|v| v.is_finite()), "{:?}", w.value());
    }
}

#[test]
fn two_shared_nodes_over_one_storage_in_one_optimizer_are_rejected() {
    // Each node would update the shared Adagrad accumulator once per step: g1² + g2²
    // instead of (g1 + g2)² for one node used twice.
    let storage = Arc::new(HogwildParameter::new(arr2(&[[1.0]])));
    let (x, y) = (
        InputNode::new(arr2(&[[1.0]])),
        InputNode::new(arr2(&[[3.0]])),
    );
    let loss = ParameterNode::shared(storage.clone()) * x.clone()
        + ParameterNode::shared(storage.clone()) * y.clone();
    assert_panics(
        || drop(Adagrad::new(0.1, loss.parameters())),
        "two different ParameterNode::shared nodes over the same HogwildParameter (1x1)",
    );

    // One shared node used twice trains like a local parameter used twice.
    let shared = ParameterNode::shared(storage.clone());
    let local = ParameterNode::new(arr2(&[[1.0]]));
    for p in [&shared, &local] {
        let loss = p.clone() * x.clone() + p.clone() * y.clone();
        let mut opt = Adagrad::new(0.1, loss.parameters());
        loss.forward();
        loss.backward(1.0);
        opt.step();
    }
    assert_eq!(storage.value(), local.value());
}

#[test]
fn a_value_set_between_forward_and_backward_gives_the_gradient_of_the_new_one() {
    // d tanh(w x)/dw = (1 - tanh²(w x)) x. Before, backward combined tanh' at the old x
    // with the new x: a gradient of neither state.
    let expected = |w: f32, x: f32| (1.0 - (w * x).tanh().powi(2)) * x;
    let w = ParameterNode::new(arr2(&[[0.5]]));
    let x = InputNode::new(arr2(&[[2.0]]));
    let y = (w.clone() * x.clone()).tanh();
    y.forward();
    x.set_value(5.0);
    y.backward(1.0);
    assert!((w.gradient()[(0, 0)] - expected(0.5, 5.0)).abs() < 1e-6);
    assert!((y.value()[(0, 0)] - 2.5f32.tanh()).abs() < 1e-6);

    // The same for an index input used as a number (its value is its indices) ...
    let (v, idx) = (
        ParameterNode::new(arr2(&[[0.5]])),
        IndexInputNode::new(&[2]),
    );
    let z = (v.clone() * idx.clone()).tanh();
    z.forward();
    idx.set_value(5);
    z.backward(1.0);
    assert!((v.gradient()[(0, 0)] - expected(0.5, 5.0)).abs() < 1e-6);

    // The same for a parameter set directly ...
    w.zero_gradient();
    y.forward();
    w.set_value(&arr2(&[[0.1]]));
    y.backward(1.0);
    assert!((w.gradient()[(0, 0)] - expected(0.1, 5.0)).abs() < 1e-6);

    // ... and for one an optimizer updated.
    let mut sgd = SGD::new(0.5, y.parameters());
    sgd.step();
    let stepped = w.value()[(0, 0)];
    assert_ne!(stepped, 0.1);
    sgd.zero_gradients();
    y.backward(1.0);
    assert!((w.gradient()[(0, 0)] - expected(stepped, 5.0)).abs() < 1e-6);
}

/// Doubles; panics on negative inputs, which the check's perturbation reaches.
struct NonNegative;

impl nodes::UnaryOp for NonNegative {
    const NAME: &'static str = "non-negative";
    fn apply(&self, x: f32) -> f32 {
        assert!(x >= 0.0, "negative input");
        2.0 * x
    }
    fn derivative(&self, _x: f32, _y: f32) -> f32 {
        2.0
    }
}

#[test]
fn gradient_checks_that_cannot_check_anything_are_rejected() {
    let w = ParameterNode::new(arr2(&[[1.0, 2.0]]));
    let unrelated = ParameterNode::new(arr2(&[[5.0, 6.0]]));
    assert_panics(
        || gradcheck::assert_gradient(&w.square(), &unrelated),
        "`wrt` is a 1x2 parameter that is not among the output's parameters() (output type \
         Unary<SquareOp, ParameterNode>)",
    );
    // A whole model's type is elided past three levels, without module paths.
    let x = InputNode::new(arr2(&[[1.0], [2.0]]));
    let deep = (x.dot(&w).tanh() * 2.0 - 1.0).square().scalar_sum();
    assert_panics(
        || gradcheck::assert_gradient(&deep, &unrelated),
        "(output type Single<ScalarSumOp, Unary<SquareOp, Unary<SubScalarOp, Unary<..>>>>)",
    );
    // Every gradient within the absolute tolerance of 0: the check compares nothing.
    assert_panics(
        || gradcheck::assert_gradient(&(w.square() * 1e-4), &w),
        "gradient check passed (2 elements), but vacuously",
    );
    let with = |change: fn(&mut gradcheck::CheckOptions)| {
        let mut options = gradcheck::CheckOptions::default();
        change(&mut options);
        let w = w.clone();
        move || drop(gradcheck::check_gradient(&w.square(), &w, &options))
    };
    assert_panics(
        with(|o| o.absolute_tolerance = f32::NAN),
        "absolute_tolerance must be finite and at least 0, got NaN",
    );
    assert_panics(
        with(|o| o.relative_tolerance = -1.0),
        "relative_tolerance must be finite and at least 0, got -1",
    );
    assert_panics(
        with(|o| o.epsilon = 0.0),
        "check_gradient: epsilon must be finite and at least f32::MIN_POSITIVE (1.1754944e-38), got 0",
    );
    assert_panics(
        with(|o| o.epsilon = f32::NAN),
        "check_gradient: epsilon must be finite and at least f32::MIN_POSITIVE (1.1754944e-38), got NaN",
    );
    // A typed parameter is found among the erased ones of the graph.
    let typed =
        ParameterNode::<wyrm::typenum::U1, wyrm::typenum::U2>::new_static(arr2(&[[1.0, 2.0]]));
    gradcheck::assert_gradient(&typed.square(), &typed);
}

#[test]
fn a_gradient_check_that_panics_leaves_the_graph_as_it_was() {
    // The output panics at the check's perturbed value 0.005 - 0.01.
    let x = ParameterNode::new(arr2(&[[0.005, 1.0]]));
    let y = x.map(NonNegative);
    assert_panics(|| gradcheck::assert_gradient(&y, &x), "negative input");
    assert_eq!(x.value(), arr2(&[[0.005, 1.0]]));

    // An input that tracks no gradient is refused before anything is computed.
    let w = ParameterNode::new(arr2(&[[1.0, 2.0]]));
    let input = InputNode::new(arr2(&[[3.0, 4.0]]));
    let y = w.clone() * input.clone();
    assert_panics(
        || gradcheck::assert_gradient(&y, &input),
        "this input does not track gradients",
    );
    assert_eq!(w.gradient(), Array2::<f32>::zeros((1, 2)));
}

#[test]
fn a_clip_built_by_hand_checks_its_bounds_too() {
    assert_panics(
        || {
            let _ = nodes::ClipOp::new(2.0, 1.0);
        },
        "clip: min (2) must not exceed max (1)",
    );
    let x = InputNode::new(arr2(&[[0.5]]));
    assert_panics(
        || drop(x.clip(f32::NAN, 1.0)),
        "clip: the bounds must not be NaN, got min NaN and max 1",
    );
}

#[test]
fn the_portable_product_checks_shapes_like_the_dispatching_one() {
    use wyrm::kernels::matmul::{gemm_portable, Operand};
    let mut out = [0.0f32; 1];
    let a = Operand {
        data: &[1.0, 2.0],
        shape: (1, 2),
        transposed: false,
    };
    let b = Operand {
        data: &[10.0, 20.0, 30.0],
        shape: (3, 1),
        transposed: false,
    };
    assert_panics(
        || gemm_portable(a, b, &mut out, false),
        "gemm_portable: inner dimensions differ (1x2 times 3x1",
    );
}

#[test]
fn a_normal_initialiser_needs_a_finite_spread() {
    let mut rng = <wyrm::rand::rngs::StdRng as wyrm::rand::SeedableRng>::seed_from_u64(1);
    assert_panics(
        || drop(init::normal(2, 2, 0.0, f32::NAN, &mut rng)),
        "init::normal: the mean must be finite and the standard deviation finite and at \
         least 0, got mean 0 and std NaN",
    );
    assert_panics(
        || drop(init::normal(2, 2, 0.0, -1.0, &mut rng)),
        "got mean 0 and std -1",
    );
    assert_panics(
        || drop(init::normal(2, 2, f32::INFINITY, 1.0, &mut rng)),
        "got mean inf and std 1",
    );
}

#[test]
fn setting_a_value_that_is_being_read_says_so() {
    let x = InputNode::new(arr2(&[[1.0]]));
    assert_panics(
        || x.with_value(|_| x.set_value(2.0)),
        "InputNode::set_value: the value is being read",
    );
    assert_eq!(x.value()[(0, 0)], 1.0);
    let idx = IndexInputNode::new(&[0]);
    let held = idx.indices();
    assert_panics(
        || idx.set_value(1),
        "IndexInputNode::set_value: the value is being read",
    );
    drop(held);
    idx.set_value(1);
    assert_eq!(idx.indices()[0], 1);
    let w = ParameterNode::new(arr2(&[[1.0]]));
    assert_panics(
        || w.with_value(|_| w.set_value(&arr2(&[[2.0]]))),
        "ParameterNode::set_value: the value is being read",
    );
    assert_eq!(w.value()[(0, 0)], 1.0);
    // An optimizer step, and an index input's refreshed value, inside `with_value`: bare
    // "already borrowed" panics before.
    let loss = w.square();
    loss.forward();
    loss.backward(1.0);
    let mut sgd = SGD::new(0.1, loss.parameters());
    assert_panics(
        || w.with_value(|_| sgd.step()),
        "optimizer step: the value is being read (a call inside `with_value`, or a `Ref` \
         from `Node::value` still alive)",
    );
    assert_eq!(w.value()[(0, 0)], 1.0);
    let idx = IndexInputNode::new(&[0, 1]);
    assert_panics(
        || {
            idx.with_value(|_| {
                idx.set_value(&[1, 0]);
                let _ = idx.value();
            })
        },
        "IndexInputNode: its indices changed while its value was being read",
    );
    // A gradient check whose first perturbation panics: a catchable panic (restoring the
    // element while unwinding would panic again, and abort the process).
    let x = InputNode::with_gradient(arr2(&[[1.0, 2.0]]));
    let y = x.square();
    assert_panics(
        || x.with_value(|_| gradcheck::assert_gradient(&y, &x)),
        "InputNode::set_value: the value is being read",
    );
    assert_eq!(x.value(), arr2(&[[1.0, 2.0]]));
}

/// A custom node's `backward` that sends a parameter or an input a gradient of the wrong
/// length is stopped there, naming both lengths; a parameter used to take a short first
/// gradient as its size and step part of its elements in release builds.
#[test]
fn a_gradient_of_the_wrong_length_is_rejected_where_it_arrives() {
    let w = ParameterNode::new(arr2(&[[1.0, 1.0, 1.0]]));
    assert_panics(
        || w.node().backward(&[1.0, 1.0]),
        "a gradient of length 2 was sent to a parameter of shape 1x3 (length 3)",
    );
    assert_panics(
        || w.node().backward(&[1.0; 4]),
        "a gradient of length 4 was sent to a parameter of shape 1x3",
    );
    // Nothing was recorded: the optimizer leaves `w` alone.
    let mut sgd = SGD::new(0.1, vec![w.clone()]);
    sgd.step();
    assert_eq!(w.value(), arr2(&[[1.0, 1.0, 1.0]]));
    let x = InputNode::with_gradient(arr2(&[[1.0, 2.0]]));
    assert_panics(
        || x.node().backward(&[1.0]),
        "a gradient of length 1 was sent to an input of shape 1x2",
    );
    // Computed nodes check in debug builds.
    if cfg!(debug_assertions) {
        let h = w.square();
        h.node().forward(Pass::next());
        assert_panics(
            || h.node().backward(&[1.0]),
            "a gradient of length 1 was sent to a node of shape 1x3",
        );
    }
}

/// A custom node or `SingleOp` whose static dimensions disagree with its shape is
/// rejected when it is built: code downstream sizes its loops by the static ones.
#[test]
fn static_dimensions_that_disagree_with_the_shape_are_rejected() {
    use std::cell::Ref;
    use typenum::U1;
    use wyrm::nodes::SingleOp;

    /// Claims a single row, whatever its operand's shape.
    struct OneRow;
    impl SingleOp for OneRow {
        type Rows<R: Dim, C: Dim> = U1;
        type Cols<R: Dim, C: Dim> = C;
        fn output_shape(&self, shape: (usize, usize)) -> (usize, usize) {
            shape
        }
        fn forward(&self, x: &[f32], _: (usize, usize), y: &mut [f32]) {
            y.copy_from_slice(x)
        }
        fn backward(&self, g: &[f32], _: &[f32], _: &[f32], _: (usize, usize), gx: &mut [f32]) {
            gx.copy_from_slice(g)
        }
    }
    let a = ParameterNode::new(arr2(&[[0.0, 0.0], [1.0, 1.0], [2.0, 2.0]]));
    assert_panics(
        || drop(a.apply(OneRow)),
        "apply (SingleOp::output_shape): the node's shape is 3x2 but its static dimensions \
         (`Rows`, `Cols`) say 1x?",
    );

    /// A leaf node whose type says 1 x 1.
    struct Liar(NodeState);
    impl Node for Liar {
        type Rows = U1;
        type Cols = U1;
        fn shape(&self) -> (usize, usize) {
            self.0.shape()
        }
        fn forward(&self, _: Pass) {}
        fn backward(&self, _: &[f32]) {}
        fn value(&self) -> Ref<'_, [f32]> {
            self.0.value()
        }
        fn needs_gradient(&self) -> bool {
            false
        }
    }
    assert_panics(
        || drop(Variable::new(Liar(NodeState::new((2, 1))), Vec::new())),
        "Variable::new: the node's shape is 2x1 but its static dimensions",
    );
    assert_panics(
        || {
            drop(Variable::with_operands(
                Liar(NodeState::new((1, 3))),
                &[(&a).into()],
            ))
        },
        "Variable::with_operands: the node's shape is 1x3",
    );
}
