//! Criterion benchmarks, one module per workload family; each times Wyrm and a
//! hand-written Rust version of the same math in the same run.
//!
//! Run with `cargo bench --bench main -- FILTER`, e.g. `-- sparse`.

mod sparse_mf;

criterion::criterion_main!(sparse_mf::benches);
