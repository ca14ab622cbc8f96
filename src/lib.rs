//! Wyrm: low-overhead, typed, define-by-run reverse-mode automatic differentiation for small
//! and sparse models on the CPU.
//!
//! Build a graph by composing [`Variable`]s with operators and methods; every result has a
//! concrete type recording the structure, so `forward` and `backward` compile to static,
//! inlined calls with no allocation per step.
//!
//! # Quickstart
//!
//! Fit `y = 3x + 5` with SGD:
//!
//! ```
//! use wyrm::*;
//!
//! let num_epochs = 2000;
//! let slope = ParameterNode::new(random_matrix(1, 1));
//! let intercept = ParameterNode::new(random_matrix(1, 1));
//! let x = InputNode::new(random_matrix(1, 1));
//! let y = InputNode::new(random_matrix(1, 1));
//! let yhat = slope.clone() * x.clone() + intercept.clone();
//! let mut loss = (y.clone() - yhat).square();
//! let mut optimizer = SGD::new(0.1, vec![slope.clone(), intercept.clone()]);
//! for _ in 0..num_epochs {
//!     let x_value: f32 = rand::random();
//!     let y_value = 3.0 * x_value + 5.0;
//!     x.set_value(x_value);
//!     y.set_value(y_value);
//!     loss.forward();
//!     loss.backward(1.0);
//!     optimizer.step();
//!     optimizer.zero_gradients();
//! }
//! assert!((slope.value()[(0, 0)] - 3.0).abs() < 0.1);
//! assert!((intercept.value()[(0, 0)] - 5.0).abs() < 0.1);
//! ```
//!
//! # Tour
//!
//! - Leaves: [`ParameterNode`] (trainable), [`InputNode`] (data you set), and their
//!   statically shaped forms (`ParameterNode::<U1, U3>::new_static`), where a shape mismatch
//!   is a compile error.
//! - Operations: `+ - * /` (elementwise, with `f32` on either side and a 1 x n row
//!   broadcast over rows), `dot`, `vector_dot`, `square`, `exp`, `ln`, `tanh`, `sigmoid`,
//!   `relu`, `sqrt`, `abs`, `pow`, `clip`, row-wise `softmax`/`log_softmax`, `scalar_sum`,
//!   `sum_rows`, `sum_columns`, `mean`, `t`, `stack`, `slice`; see [`nodes`].
//! - [`Variable::boxed`] erases a node's type for data-dependent structure.
//! - Optimizers in [`optim`]: [`SGD`], [`Adagrad`], [`Adam`].
//! - [`gradcheck`] checks any graph's gradients against finite differences, including
//!   graphs with your own [`Node`] types.
//! - Runtime shape mismatches panic when the graph is built, naming the operation and
//!   both shapes.
#![doc(test(attr(deny(warnings))))]

pub mod gradcheck;
pub mod hogwild;
pub mod init;
pub mod kernels;
pub mod nn;
mod node;
pub mod nodes;
pub mod optim;
pub mod shape;
mod sparse;
mod variable;

pub use hogwild::HogwildParameter;
pub use init::random_matrix;
pub use node::{Node, NodeState, Pass, Scratch};
pub use nodes::{IndexInputNode, InputNode, ParameterNode};
pub use optim::{Adagrad, Adam, Optimizer, SGD};
pub use shape::{Dim, Dyn};
pub use variable::{ValueRef, Variable};

/// Re-export of the `ndarray` version Wyrm uses, for building inputs and reading values.
pub use ndarray;
/// Re-export of `typenum`, whose `U1`, `U2`, ... give nodes static shapes.
pub use typenum;

/// Everything a typical program needs: `use wyrm::prelude::*;`.
pub mod prelude {
    pub use crate::optim::Optimizer;
    pub use crate::{
        random_matrix, Adagrad, Adam, HogwildParameter, IndexInputNode, InputNode, Node,
        ParameterNode, Variable, SGD,
    };
}
