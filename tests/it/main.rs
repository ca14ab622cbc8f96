//! Integration tests, gathered in one binary so linking happens once.

mod optimizers;
