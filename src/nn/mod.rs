//! Layers and losses built from nodes.
//!
//! - [`losses`] — [`sparse_categorical_crossentropy`](losses::sparse_categorical_crossentropy)
//!   for classification with integer targets (with class weights:
//!   [`sparse_categorical_crossentropy_weighted`](losses::sparse_categorical_crossentropy_weighted));
//!   [`binary_crossentropy_with_logits`](losses::binary_crossentropy_with_logits) for yes/no
//!   targets (with a weight for the positives:
//!   [`binary_crossentropy_with_logits_weighted`](losses::binary_crossentropy_with_logits_weighted));
//!   [`huber`](losses::huber) for regression with outliers and Q-learning; its
//!   docs also give squared error, which is written with ordinary ops.
//! - [`Linear`] — a fully connected layer, `x·W + b`, applied to any node as a typed
//!   node: networks built in code (a depth from a configuration, one network's output
//!   fed to another) where a `model!` block does not reach.
//! - [`Gru`] and [`Lstm`] — recurrent cells (a gated recurrent unit, a long short-term
//!   memory): one boxed step per call, unrolled over a sequence as the data dictates;
//!   [`Recurrent`] steps either, for code written once for both.
//! - [`attention`], [`attention_padded`] and [`causal_attention`] — scaled dot-product
//!   attention over a batch of sequences in one node (a decoder's steps over its
//!   encoder's states, with sequences of several lengths padded to one; a transformer's
//!   self-attention); [`Attention`] adds heads and queries shared by every group.

/// `Node` for a node of this module over boxed operands: fields `state` (a
/// [`NodeState`](crate::NodeState)), `operands` (of `Rc<Boxed>`), `needs_gradient` and
/// `discards`, and inherent methods `compute(&self)` (the value, from the operands' values)
/// and `propagate(&self, g)` (the operands' gradients from the complete gradient `g`).
/// The bookkeeping around them (caching per pass, gathering consumers' gradients, passing
/// on "no gradient") is the same for all.
macro_rules! node_over_boxed_operands {
    (impl[$($generics:tt)*] $node:ty) => {
        impl<$($generics)*> crate::Node for $node {
            type Rows = crate::Dyn;
            type Cols = crate::Dyn;

            fn shape(&self) -> (usize, usize) {
                self.state.shape()
            }

            fn forward(&self, pass: crate::Pass) {
                if !self.state.visit(pass) {
                    return;
                }
                for operand in &self.operands {
                    operand.forward(pass);
                }
                self.compute();
            }

            fn backward(&self, gradient: &[f32]) {
                if !self.needs_gradient {
                    return;
                }
                if let Some(g) = self.state.gather(gradient) {
                    self.propagate(&g);
                }
            }

            fn backward_nothing(&self) {
                if self.needs_gradient {
                    self.state.gather_nothing(
                        |g| self.propagate(g),
                        || {
                            for operand in self.operands.iter().filter(|o| o.needs_gradient()) {
                                operand.backward_nothing();
                            }
                        },
                    );
                }
            }

            fn value(&self) -> std::cell::Ref<'_, [f32]> {
                self.state.value()
            }

            fn begin_backward(&self) {
                self.state.begin_backward();
            }

            fn needs_gradient(&self) -> bool {
                self.needs_gradient
            }

            fn discards_gradient(&self) -> bool {
                self.discards
            }
        }
    };
}

mod attention;
mod cell;
mod fused;
mod gru;
mod linear;
pub mod losses;
mod lstm;
mod recurrent;

pub use attention::{attention, attention_padded, causal_attention, Attention};
pub use cell::{Cell, Gates, GruGates, LstmGates};
pub use gru::Gru;
pub use linear::{Linear, LinearOutput};
pub use lstm::Lstm;
pub use recurrent::Recurrent;

/// A parameter's current value for saving: the shared storage's, for a node over
/// [`HogwildParameter`](crate::HogwildParameter) storage, whose `value()` is its latest
/// pass's copy.
#[cfg(feature = "serde")]
fn current_value(p: &crate::Variable<crate::ParameterNode>) -> ndarray::Array2<f32> {
    match p.node().shared_storage() {
        Some(_) => p.hogwild_parameter().value(),
        None => p.value(),
    }
}
