//! User-defined nodes, written here outside the crate through the public [`Node`] trait,
//! [`NodeState`] and [`Scratch`], wrapped with [`Variable::with_operands`] or
//! [`Variable::new`] and composed with built-in
//! operations; the gradient checker validates them (and catches a wrong backward).
//!
//! Also the quickstart from the crate docs, with a seeded generator.

use ndarray::arr2;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use std::cell::Ref;
use std::rc::Rc;
use wyrm::gradcheck::{self, CheckOptions};
use wyrm::nodes::{Add, Mul, Square, Sub};
use wyrm::optim::Optimizer;
use wyrm::shape::SameDim;
use wyrm::*;

/// `sqrt(a² + b²)`, elementwise: a custom node with two operands.
struct Hypot<L, R> {
    lhs: Rc<L>,
    rhs: Rc<R>,
    state: NodeState,
    lhs_grad: Scratch,
    rhs_grad: Scratch,
    needs_gradient: bool,
}

impl<L: Node, R: Node> Hypot<L, R> {
    fn new(lhs: Rc<L>, rhs: Rc<R>) -> Self {
        let shape = lhs.shape();
        assert_eq!(
            shape,
            rhs.shape(),
            "hypot: operands must have the same shape"
        );
        let len = shape.0 * shape.1;
        Hypot {
            needs_gradient: lhs.needs_gradient() || rhs.needs_gradient(),
            state: NodeState::new(shape),
            lhs_grad: Scratch::new(len),
            rhs_grad: Scratch::new(len),
            lhs,
            rhs,
        }
    }
}

// The static-shape traits of `wyrm::shape` are public, so a custom node can keep static
// dimensions (and their compile-time checks) too.
impl<L: Node, R: Node> Node for Hypot<L, R>
where
    L::Rows: SameDim<R::Rows>,
    L::Cols: SameDim<R::Cols>,
{
    type Rows = <L::Rows as SameDim<R::Rows>>::Out;
    type Cols = <L::Cols as SameDim<R::Cols>>::Out;

    fn shape(&self) -> (usize, usize) {
        self.state.shape()
    }

    fn forward(&self, pass: Pass) {
        if !self.state.visit(pass) {
            return;
        }
        self.lhs.forward(pass);
        self.rhs.forward(pass);
        let (a, b) = (self.lhs.value(), self.rhs.value());
        let mut y = self.state.value_mut();
        for ((y, a), b) in y.iter_mut().zip(a.iter()).zip(b.iter()) {
            *y = (a * a + b * b).sqrt();
        }
    }

    fn backward(&self, gradient: &[f32]) {
        if !self.needs_gradient || !self.state.accumulate(gradient) {
            return;
        }
        {
            let (g, y) = (self.state.gradient(), self.state.value());
            let (a, b) = (self.lhs.value(), self.rhs.value());
            let mut ga = self.lhs_grad.borrow_mut();
            let mut gb = self.rhs_grad.borrow_mut();
            for i in 0..y.len() {
                ga[i] = g[i] * a[i] / y[i];
                gb[i] = g[i] * b[i] / y[i];
            }
        }
        if self.lhs.needs_gradient() {
            self.lhs.backward(&self.lhs_grad.borrow_mut());
        }
        if self.rhs.needs_gradient() {
            self.rhs.backward(&self.rhs_grad.borrow_mut());
        }
    }

    fn value(&self) -> Ref<'_, [f32]> {
        self.state.value()
    }

    fn needs_gradient(&self) -> bool {
        self.needs_gradient
    }

    // Lets `backward` start from this node even when it also feeds other nodes.
    fn begin_backward(&self) {
        self.state.begin_backward();
    }
}

/// The user-facing function for the custom node.
fn hypot<L: Node, R: Node>(a: &Variable<L>, b: &Variable<R>) -> Variable<Hypot<L, R>>
where
    L::Rows: SameDim<R::Rows>,
    L::Cols: SameDim<R::Cols>,
{
    Variable::with_operands(
        Hypot::new(a.node().clone(), b.node().clone()),
        &[a.into(), b.into()],
    )
}

/// `x²` with a deliberately wrong derivative (`x` instead of `2x`).
struct BadSquare<T> {
    operand: Rc<T>,
    state: NodeState,
    operand_grad: Scratch,
}

impl<T: Node> Node for BadSquare<T> {
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
        let x = self.operand.value();
        for (y, x) in self.state.value_mut().iter_mut().zip(x.iter()) {
            *y = x * x;
        }
    }

    fn backward(&self, gradient: &[f32]) {
        if !self.operand.needs_gradient() || !self.state.accumulate(gradient) {
            return;
        }
        {
            let (g, x) = (self.state.gradient(), self.operand.value());
            let mut gx = self.operand_grad.borrow_mut();
            for i in 0..gx.len() {
                gx[i] = g[i] * x[i]; // wrong: should be 2 * x
            }
        }
        self.operand.backward(&self.operand_grad.borrow_mut());
    }

    fn value(&self) -> Ref<'_, [f32]> {
        self.state.value()
    }

    fn needs_gradient(&self) -> bool {
        self.operand.needs_gradient()
    }
}

fn bad_square<T: Node>(x: &Variable<T>) -> Variable<BadSquare<T>> {
    let shape = x.shape();
    let node = BadSquare {
        operand: x.node().clone(),
        state: NodeState::new(shape),
        operand_grad: Scratch::new(shape.0 * shape.1),
    };
    Variable::new(node, x.parameters())
}

#[test]
fn custom_node_values() {
    let a = ParameterNode::new(arr2(&[[3.0, 5.0]]));
    let b = InputNode::new(arr2(&[[4.0, 12.0]]));
    let h = hypot(&a, &b);
    h.forward();
    assert_eq!(h.value().to_owned(), arr2(&[[5.0, 13.0]]));
    h.backward(1.0);
    // d/da sqrt(a² + b²) = a / y
    assert_eq!(a.gradient(), arr2(&[[3.0 / 5.0, 5.0 / 13.0]]));
}

/// A custom node that does not implement `backward_nothing` gets zeros through its
/// `backward` from a `detach` above it (the default): its operands' other consumers still
/// propagate, with the right sums.
#[test]
fn detach_above_a_custom_node_uses_the_default_backward_nothing() {
    let a = ParameterNode::new(arr2(&[[3.0, 5.0]]));
    let b = InputNode::new(arr2(&[[4.0, 12.0]]));
    let h = hypot(&a, &b);
    let y = (h.detach() * h.clone()).scalar_sum();
    y.forward();
    y.backward(1.0);
    // d/da y · sqrt(a² + b²) with y held constant: y · a / y = a.
    assert_eq!(a.gradient(), arr2(&[[3.0, 5.0]]));
}

#[test]
fn custom_node_composes_with_builtin_ops_and_passes_gradcheck() {
    let mut rng = StdRng::seed_from_u64(11);
    let w = ParameterNode::new(wyrm::init::normal(3, 2, 0.0, 1.0, &mut rng));
    let bias = ParameterNode::new(wyrm::init::normal(1, 2, 0.0, 1.0, &mut rng));
    let x = InputNode::new(wyrm::init::normal(4, 3, 0.0, 1.0, &mut rng));
    let other = ParameterNode::new(wyrm::init::normal(4, 2, 0.0, 1.0, &mut rng));
    // Built-in ops feed the custom node, whose result feeds built-in ops again; `other`
    // reaches the output both through the custom node and directly.
    let h = hypot(&(x.dot(&w) + bias.clone()), &other);
    let out = (h.tanh() * other.clone()).boxed() - bias.clone();

    assert_eq!(out.parameters().len(), 3, "w, bias, other, deduplicated");
    gradcheck::assert_gradient(&out, &w);
    gradcheck::assert_gradient(&out, &bias);
    gradcheck::assert_gradient(&out, &other);

    // Gradients with respect to an input work too.
    let xin = InputNode::with_gradient(wyrm::init::normal(4, 2, 0.0, 1.0, &mut rng));
    let on_input = hypot(&xin, &other).square();
    gradcheck::assert_gradient(&on_input, &xin);
}

#[test]
fn a_deep_chain_through_a_custom_node_at_every_step_stays_on_a_small_stack() {
    // Built with `with_operands`, the custom node lets the boxed nodes below it be seen,
    // so passes stay bounded however long the chain.
    let run = || {
        let w = ParameterNode::new(arr2(&[[0.5]]));
        let x = InputNode::new(arr2(&[[1.0]]));
        let mut s = w.boxed();
        for _ in 0..20_000 {
            s = (hypot(&s, &x) * 0.5 + w.clone()).boxed();
        }
        s.forward();
        s.backward(1.0);
        // s' = sqrt(s² + x²) / 2 + w, and its derivative by w, in f64.
        let (mut value, mut slope) = (0.5f64, 1.0f64);
        for _ in 0..20_000 {
            let root = (value * value + 1.0).sqrt();
            slope = 0.5 * value / root * slope + 1.0;
            value = 0.5 * root + 0.5;
        }
        let got = (
            f64::from(s.value()[(0, 0)]),
            f64::from(w.gradient()[(0, 0)]),
        );
        assert!((got.0 - value).abs() < 1e-4, "value {} vs {value}", got.0);
        assert!((got.1 - slope).abs() < 1e-3, "d/dw {} vs {slope}", got.1);
    };
    let thread = std::thread::Builder::new().stack_size(1 << 20).spawn(run);
    thread.expect("spawn").join().expect("no panic");
}

#[test]
fn custom_node_keeps_static_shapes() {
    use wyrm::typenum::{U1, U2};
    let a = ParameterNode::<U1, U2>::new_static(arr2(&[[3.0, 0.0]]));
    let b = InputNode::new(arr2(&[[4.0, 1.0]]));
    let h = hypot(&a, &b);
    // A static operand makes the result static (checked by the compiler).
    fn is_1x2<T: Node<Rows = U1, Cols = U2>>(_: &Variable<T>) {}
    is_1x2(&h);
    h.forward();
    assert_eq!(h.value()[(0, 0)], 5.0);
}

#[test]
fn gradcheck_catches_a_wrong_backward() {
    let mut rng = StdRng::seed_from_u64(12);
    let w = ParameterNode::new(wyrm::init::normal(2, 3, 0.0, 1.0, &mut rng));
    let wrong = bad_square(&w).tanh();
    let report = gradcheck::check_gradient(&wrong, &w, &CheckOptions::default());
    assert!(
        !report.passed(),
        "the checker must reject the wrong derivative: {report}"
    );
    assert!(!report.failures.is_empty());
    // The analytic gradient is about half the numeric one wherever it is not tiny.
    for &(_, analytic, numeric) in &report.failures {
        assert!(
            (analytic * 2.0 - numeric).abs() < 0.05 * numeric.abs().max(1e-2),
            "analytic {analytic}, numeric {numeric}"
        );
    }
    assert!(report.to_string().contains("gradient check failed"));

    // The same graph with the built-in square passes.
    let right = w.square().tanh();
    assert!(gradcheck::check_gradient(&right, &w, &CheckOptions::default()).passed());
}

#[test]
#[should_panic(expected = "gradient check failed")]
fn assert_gradient_panics_on_a_wrong_backward() {
    let w = ParameterNode::new(arr2(&[[1.0, -2.0]]));
    let wrong = bad_square(&w);
    gradcheck::assert_gradient(&wrong, &w);
}

/// The loss node type of the quickstart.
type QuickstartLoss = Square<Sub<InputNode, Add<Mul<ParameterNode, InputNode>, ParameterNode>>>;

/// The crate-level quickstart, with the data drawn from a seeded generator.
#[test]
fn quickstart_converges() {
    let mut rng = StdRng::seed_from_u64(42);
    let num_epochs = 2000;
    let slope = ParameterNode::new(wyrm::init::normal(1, 1, 0.0, 1.0, &mut rng));
    let intercept = ParameterNode::new(wyrm::init::normal(1, 1, 0.0, 1.0, &mut rng));
    let x = InputNode::new(random_matrix(1, 1));
    let y = InputNode::new(random_matrix(1, 1));
    let yhat = slope.clone() * x.clone() + intercept.clone();
    // The type records the structure of the graph.
    let loss: Variable<QuickstartLoss> = (y.clone() - yhat).square();
    let mut optimizer = SGD::new(0.1, vec![slope.clone(), intercept.clone()]);
    for _ in 0..num_epochs {
        let x_value: f32 = rng.gen();
        let y_value = 3.0 * x_value + 5.0;
        x.set_value(x_value);
        y.set_value(y_value);
        loss.forward();
        loss.backward(1.0);
        optimizer.step();
        optimizer.zero_gradients();
    }
    let (s, i) = (slope.value()[(0, 0)], intercept.value()[(0, 0)]);
    assert!((s - 3.0).abs() < 0.05, "slope {s}");
    assert!((i - 5.0).abs() < 0.05, "intercept {i}");
    // Squared error on a fresh point.
    x.set_value(0.25);
    y.set_value(5.75);
    loss.forward();
    assert!(loss.value()[(0, 0)] < 1e-3, "loss {}", loss.value()[(0, 0)]);
}
