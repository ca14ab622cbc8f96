//! Integration tests, gathered in one binary so linking happens once.

mod custom_node;
mod gradients;
mod graph;
mod optimizers;
mod ui;
