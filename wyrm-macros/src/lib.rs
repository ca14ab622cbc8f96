//! Procedural macros for Wyrm. The `model!` macro lands here (see the project issues).
