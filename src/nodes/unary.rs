//! Elementwise unary operations. Each operation is a [`UnaryOp`] giving its value and its
//! derivative side by side (in `math.rs`, `activation.rs`, `scalar.rs`); [`Unary`] does the
//! caching and gradient bookkeeping once for all of them.

use super::Child;
use crate::node::{Node, NodeState, Pass, Scratch};
use crate::shape::Dim;
use crate::Variable;
use std::cell::Ref;
use std::rc::Rc;

/// From this many elements on, the loops run in code compiled for AVX2 when available.
const VECTORIZE_FROM: usize = 32;

/// The math of an elementwise unary operation `y = f(x)`. The operation value may carry
/// parameters (an exponent, clip bounds, a scalar).
///
/// ```
/// use wyrm::nodes::{PowOp, SqrtOp, UnaryOp};
/// assert_eq!(SqrtOp.apply(9.0), 3.0);
/// // The derivative gets `y` too: `sqrt` uses it, `0.5 / y`.
/// assert_eq!(SqrtOp.derivative(9.0, 3.0), 0.5 / 3.0);
/// // A parametrised operation: `x^3`.
/// assert_eq!(PowOp(3.0).apply(2.0), 8.0);
/// assert_eq!(PowOp(3.0).derivative(2.0, 8.0), 12.0);
/// ```
///
/// See [`Variable::map`] for implementing your own.
pub trait UnaryOp: 'static {
    /// The operation's name, e.g. `"gelu"`. An elementwise function of one operand fits
    /// any shape, so no check of the library's names it today; it is there for your own
    /// messages, and for future ones.
    const NAME: &'static str;
    /// `f(x)`.
    ///
    /// ```
    /// use wyrm::nodes::{ReluOp, UnaryOp};
    /// assert_eq!(ReluOp.apply(-2.0), 0.0);
    /// assert_eq!(ReluOp.apply(3.0), 3.0);
    /// ```
    fn apply(&self, x: f32) -> f32;
    /// `f'(x)`, given `x` and `y = f(x)` (whichever is cheaper to use).
    ///
    /// ```
    /// use wyrm::nodes::{ExpOp, UnaryOp};
    /// let y = ExpOp.apply(1.0);
    /// assert_eq!(ExpOp.derivative(1.0, y), y); // (eˣ)' = eˣ, read from `y`
    /// ```
    fn derivative(&self, x: f32, y: f32) -> f32;
}

/// Node applying a [`UnaryOp`] to every element of its operand.
///
/// Every elementwise method builds one; its aliases ([`Square`](super::Square),
/// [`Tanh`](super::Tanh), ...) name the operation:
///
/// ```
/// use wyrm::*;
/// use wyrm::nodes::{SquareOp, Unary};
/// let x = InputNode::new(ndarray::arr2(&[[3.0, -2.0]]));
/// let y: Variable<Unary<SquareOp, InputNode>> = x.square();
/// y.forward();
/// assert_eq!(y.value(), ndarray::arr2(&[[9.0, 4.0]]));
/// ```
pub struct Unary<Op, T> {
    op: Op,
    operand: Child<T>,
    state: NodeState,
    operand_grad: Scratch,
    needs_gradient: bool,
    /// See [`Node::discards_gradient`].
    discards: bool,
}

impl<Op: UnaryOp, T: Node> Unary<Op, T> {
    /// Builds the node.
    ///
    /// ```
    /// use wyrm::*;
    /// use wyrm::nodes::{SquareOp, Unary};
    /// let x = ParameterNode::new(ndarray::arr2(&[[3.0]]));
    /// // The node `x.square()` builds, wrapped over its operand.
    /// let node = Unary::new(SquareOp, x.node().clone());
    /// let y = Variable::with_operands(node, &[(&x).into()]);
    /// y.forward();
    /// y.backward(1.0);
    /// assert_eq!((y.value()[(0, 0)], x.gradient()[(0, 0)]), (9.0, 6.0));
    /// ```
    pub fn new(op: Op, operand: Rc<T>) -> Self {
        let shape = operand.shape();
        Unary {
            op,
            needs_gradient: operand.needs_gradient(),
            discards: crate::node::discards(&[(
                operand.needs_gradient(),
                operand.discards_gradient(),
            )]),
            state: NodeState::new(shape),
            operand_grad: Scratch::new(shape.0 * shape.1),
            operand: Child::new(operand),
        }
    }

    #[inline(always)]
    fn len(&self) -> usize {
        let (r, c) = self.state.shape();
        T::Rows::fold(r) * T::Cols::fold(c)
    }

    /// Sends the complete gradient `g` of this node's value on to the operands.
    #[inline(always)]
    fn propagate(&self, g: &[f32]) {
        let len = self.len();
        {
            let (x, y) = (self.operand.value(), self.state.value());
            let mut gx = self.operand_grad.borrow_mut();
            let (gx, g, x, y) = (&mut gx[..len], &g[..len], &x[..len], &y[..len]);
            if len == 1 {
                gx[0] = g[0] * self.op.derivative(x[0], y[0]);
            } else {
                let mut apply = || {
                    for (((gx, g), x), y) in gx.iter_mut().zip(g).zip(x).zip(y) {
                        *gx = *g * self.op.derivative(*x, *y);
                    }
                };
                if len >= VECTORIZE_FROM {
                    crate::kernels::simd::vectorized(apply);
                } else {
                    apply();
                }
            }
        }
        self.operand.backward(&self.operand_grad.borrow_mut());
    }
}

impl<Op: UnaryOp, T: Node> Node for Unary<Op, T> {
    type Rows = T::Rows;
    type Cols = T::Cols;

    #[inline(always)]
    fn shape(&self) -> (usize, usize) {
        self.state.shape()
    }

    #[inline(always)]
    fn forward(&self, pass: Pass) {
        if !self.state.visit(pass) {
            return;
        }
        self.operand.forward(pass);
        let len = self.len();
        let x = self.operand.value();
        let mut y = self.state.value_mut();
        let (x, y) = (&x[..len], &mut y[..len]);
        if len == 1 {
            // 1x1 (losses, scalars): no loop set-up.
            y[0] = self.op.apply(x[0]);
            return;
        }
        let mut apply = || {
            for (y, x) in y.iter_mut().zip(x) {
                *y = self.op.apply(*x);
            }
        };
        if len >= VECTORIZE_FROM {
            crate::kernels::simd::vectorized(apply);
        } else {
            apply();
        }
    }

    #[inline(always)]
    fn backward(&self, gradient: &[f32]) {
        if !self.needs_gradient {
            return;
        }
        if let Some(g) = self.state.gather(gradient) {
            self.propagate(&g);
        }
    }

    #[inline]
    fn backward_nothing(&self) {
        if self.needs_gradient {
            self.state
                .gather_nothing(|g| self.propagate(g), || self.operand.backward_nothing());
        }
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

    #[inline(always)]
    fn discards_gradient(&self) -> bool {
        self.discards
    }
}

impl<T: Node> Variable<T> {
    /// Applies an elementwise operation; the building block of `tanh`, `exp`, ... and of
    /// your own elementwise functions.
    ///
    /// ```
    /// use wyrm::*;
    /// use wyrm::nodes::UnaryOp;
    ///
    /// struct Cube;
    /// impl UnaryOp for Cube {
    ///     const NAME: &'static str = "cube";
    ///     fn apply(&self, x: f32) -> f32 { x * x * x }
    ///     fn derivative(&self, x: f32, _y: f32) -> f32 { 3.0 * x * x }
    /// }
    ///
    /// let x = ParameterNode::new(ndarray::arr2(&[[2.0]]));
    /// let y = x.map(Cube);
    /// y.forward();
    /// assert_eq!(y.value()[(0, 0)], 8.0);
    /// ```
    pub fn map<Op: UnaryOp>(&self, op: Op) -> Variable<Unary<Op, T>> {
        Variable::with_links(Unary::new(op, self.node().clone()), &[self.links()])
    }
}

/// Defines a unary operation marker with no parameters, its node alias and its method.
macro_rules! unary_op {
    ($(#[$doc:meta])* $marker:ident, $alias:ident, $method:ident, $name:literal,
     |$x:ident| $apply:expr, |$dx:ident, $dy:ident| $derivative:expr) => {
        $crate::nodes::unary::unary_op!(
            $(#[$doc])* $marker, $alias, $method, $name,
            |$x| $apply, |$dx, $dy| $derivative, at 0.25, 4.0
        );
    };
    // `at a, b`: the points of the generated docs' examples, for functions whose value
    // at the default points is NaN (which `assert_eq!` cannot compare).
    ($(#[$doc:meta])* $marker:ident, $alias:ident, $method:ident, $name:literal,
     |$x:ident| $apply:expr, |$dx:ident, $dy:ident| $derivative:expr,
     at $a:literal, $b:literal) => {
        #[doc = concat!("The `", $name, "` operation; node type [`", stringify!($alias), "`].")]
        ///
        #[doc = concat!(
            "`x.map(", stringify!($marker), ")` is the node `x.", stringify!($method),
            "()` builds: its value is [`apply`](crate::nodes::UnaryOp::apply) of each element, ",
            "and the gradient it passes back is the upstream gradient times ",
            "[`derivative`](crate::nodes::UnaryOp::derivative)."
        )]
        ///
        /// ```
        /// use wyrm::*;
        #[doc = concat!("use wyrm::nodes::{", stringify!($marker), ", Unary, UnaryOp};")]
        #[doc = concat!("let x = ParameterNode::new(ndarray::arr2(&[[", stringify!($a), "]]));")]
        #[doc = concat!("let y: Variable<Unary<", stringify!($marker), ", ParameterNode>> = x.map(", stringify!($marker), ");")]
        /// y.forward();
        /// y.backward(1.0);
        #[doc = concat!("let value = ", stringify!($marker), ".apply(", stringify!($a), ");")]
        /// assert_eq!(y.value()[(0, 0)], value);
        #[doc = concat!("assert_eq!(x.gradient()[(0, 0)], ", stringify!($marker), ".derivative(", stringify!($a), ", value));")]
        /// ```
        #[derive(Debug, Clone, Copy)]
        pub struct $marker;

        impl $crate::nodes::UnaryOp for $marker {
            const NAME: &'static str = $name;
            #[inline(always)]
            fn apply(&self, $x: f32) -> f32 {
                $apply
            }
            #[inline(always)]
            #[allow(unused_variables)]
            fn derivative(&self, $dx: f32, $dy: f32) -> f32 {
                $derivative
            }
        }

        #[doc = concat!("Node computing `", $name, "` elementwise.")]
        ///
        /// ```
        /// use wyrm::*;
        #[doc = concat!("use wyrm::nodes::{", stringify!($alias), ", ", stringify!($marker), ", UnaryOp};")]
        #[doc = concat!("let x = InputNode::new(ndarray::arr2(&[[", stringify!($b), "]]));")]
        #[doc = concat!("let y: Variable<", stringify!($alias), "<InputNode>> = x.", stringify!($method), "();")]
        /// y.forward();
        #[doc = concat!("assert_eq!(y.value()[(0, 0)], ", stringify!($marker), ".apply(", stringify!($b), "));")]
        /// ```
        pub type $alias<T> = $crate::nodes::Unary<$marker, T>;

        impl<T: $crate::Node> $crate::Variable<T> {
            $(#[$doc])*
            pub fn $method(&self) -> $crate::Variable<$alias<T>> {
                self.map($marker)
            }
        }
    };
}
pub(crate) use unary_op;
