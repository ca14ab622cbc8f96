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
//! - [`Gru`] and [`Lstm`] — recurrent cells (a gated recurrent unit, a long short-term
//!   memory): one boxed step per call, unrolled over a sequence as the data dictates;
//!   [`Recurrent`] steps either, for code written once for both.
//! - [`attention`], [`attention_padded`] and [`causal_attention`] — scaled dot-product
//!   attention over a batch of sequences in one node (a decoder's steps over its
//!   encoder's states, with sequences of several lengths padded to one; a transformer's
//!   self-attention); [`Attention`] adds heads and queries shared by every group.

mod attention;
mod cell;
mod fused;
mod gru;
pub mod losses;
mod lstm;
mod recurrent;

pub use attention::{attention, attention_padded, causal_attention, Attention};
pub use cell::{Cell, Gates, GruGates, LstmGates};
pub use gru::Gru;
pub use lstm::Lstm;
pub use recurrent::Recurrent;
