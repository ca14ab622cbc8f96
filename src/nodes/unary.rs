//! Elementwise unary operations. Each operation is a [`UnaryOp`] giving its value and its
//! derivative side by side (in `math.rs`, `activation.rs`, `scalar.rs`); [`Unary`] does the
//! caching and gradient bookkeeping once for all of them.

use crate::node::{Node, NodeState, Pass, Scratch};
use crate::shape::Dim;
use crate::Variable;
use std::cell::Ref;
use std::rc::Rc;

/// From this many elements on, the loops run in code compiled for AVX2 when available.
const VECTORIZE_FROM: usize = 32;

/// The math of an elementwise unary operation `y = f(x)`. The operation value may carry
/// parameters (an exponent, clip bounds, a scalar).
pub trait UnaryOp: 'static {
    /// Name used in messages.
    const NAME: &'static str;
    /// `f(x)`.
    fn apply(&self, x: f32) -> f32;
    /// `f'(x)`, given `x` and `y = f(x)` (whichever is cheaper to use).
    fn derivative(&self, x: f32, y: f32) -> f32;
}

/// Node applying a [`UnaryOp`] to every element of its operand.
pub struct Unary<Op, T> {
    op: Op,
    operand: Rc<T>,
    state: NodeState,
    operand_grad: Scratch,
    needs_gradient: bool,
}

impl<Op: UnaryOp, T: Node> Unary<Op, T> {
    /// Builds the node.
    pub fn new(op: Op, operand: Rc<T>) -> Self {
        let shape = operand.shape();
        Unary {
            op,
            needs_gradient: operand.needs_gradient(),
            state: NodeState::new(shape),
            operand_grad: Scratch::new(shape.0 * shape.1),
            operand,
        }
    }

    #[inline(always)]
    fn len(&self) -> usize {
        let (r, c) = self.state.shape();
        T::Rows::fold(r) * T::Cols::fold(c)
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
        let Some(g) = self.state.gather(gradient) else {
            return;
        };
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
    /// let mut y = x.map(Cube);
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
        #[doc = concat!("The `", $name, "` operation; node type [`", stringify!($alias), "`].")]
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
