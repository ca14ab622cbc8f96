//! Loss functions: [`sparse_categorical_crossentropy`] for integer class targets (and
//! [`sparse_categorical_crossentropy_weighted`], with a weight per class),
//! [`binary_crossentropy_with_logits`] for yes/no targets (or probabilities) on logits,
//! and [`huber`] (smooth L1) for regression targets with outliers and for Q-learning.
//!
//! Squared error is a short expression of existing ops, written in place:
//! `(target - prediction).square()`. The binary cross-entropy and Huber losses are
//! elementwise; sum or average them (and squared error) with `scalar_sum` or `mean`.

mod binary_crossentropy;
mod categorical;
mod huber;

pub use binary_crossentropy::{
    binary_crossentropy_with_logits, BinaryCrossentropy, BinaryCrossentropyOp,
};
pub use categorical::{
    sparse_categorical_crossentropy, sparse_categorical_crossentropy_weighted,
    SparseCategoricalCrossentropy,
};
pub use huber::{huber, Huber, HuberOp};
