//! Integration tests, gathered in one binary so linking happens once.

mod bad_input;
#[cfg(feature = "serde")]
mod checkpoint;
mod custom_node;
mod deep_graph;
mod detach_random;
mod gradients;
mod graph;
mod hogwild;
mod model_custom_ops;
mod model_dropout;
mod model_macro;
mod optimizers;
mod panic_location;
mod recurrent;
#[cfg(feature = "serde")]
mod save;
mod trainers;
mod ui;
mod ui_model;
