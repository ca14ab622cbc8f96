//! Layers and losses built from nodes.
//!
//! - [`losses`] — [`sparse_categorical_crossentropy`](losses::sparse_categorical_crossentropy)
//!   for classification with integer targets; its docs also give binary cross-entropy and
//!   squared error, which are written with ordinary ops; [`huber`](losses::huber) for
//!   regression with outliers and Q-learning.

pub mod losses;
