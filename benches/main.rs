//! Criterion benchmarks, one module per workload family; each times Wyrm and a
//! hand-written Rust version of the same math in the same run.
//!
//! Run with `cargo bench --bench main -- FILTER`, e.g. `-- sparse`.

mod hogwild;
mod linreg;
mod mlp;
mod model_macro;
mod serving;
mod sparse_mf;

criterion::criterion_main!(
    hogwild::benches,
    linreg::benches,
    mlp::benches,
    model_macro::benches,
    serving::benches,
    sparse_mf::benches
);
