//! Integration tests, gathered in one binary so linking happens once.

mod model_macro;
mod ui_model;
