//! Criterion benchmarks of the reference workloads, each against hand-written Rust.

mod linreg;
mod mlp;

criterion::criterion_main!(linreg::benches, mlp::benches);
