//! Layers and losses built from nodes.
//!
//! - [`losses`] — [`sparse_categorical_crossentropy`](losses::sparse_categorical_crossentropy)
//!   for classification with integer targets.

pub mod losses;
