//! Prints a table of median nanoseconds per training step, Wyrm against hand-written Rust,
//! for the reference workloads (the same code as the criterion benchmarks in `benches/`).
//!
//! Run with `cargo run --release --example bench_table` (add `--no-default-features` to
//! time the standard library's `exp` and `tanh` instead of the fast approximations). Pass a number to change the repetitions (default 15).
//!
//! `bench_table profile WORKLOAD [SECONDS]` instead runs one variant alone in a loop (for
//! `perf record` or `valgrind --tool=callgrind`); WORKLOAD is one of `linreg`,
//! `linreg_static`, `linreg_hand`, `mlp`, `mlp_hand`, `wide_input`, `wide_param`, `sparse_mf`,
//! `sparse_mf_hand` (100,000 items), `sparse_mf_1k`, `sparse_mf_1k_hand` (1,000 items: the
//! rows stay in cache, so the profile shows the per-step overhead rather than misses),
//! `sparse_mf_shared`, `sparse_mf_1k_shared` (the same over `HogwildParameter`s),
//! `serving`, `serving_hand` (one batch-1 request, forward only).
//!
//! Each repetition times many steps with `std::time::Instant`; the variants of a workload
//! alternate repetition by repetition so that machine noise hits them alike, and the table
//! reports medians.

#[allow(dead_code)]
#[path = "../benches/linreg.rs"]
mod linreg;
#[allow(dead_code)]
#[path = "../benches/mf_steps.rs"]
mod mf_steps;
#[allow(dead_code)]
#[path = "../benches/mlp.rs"]
mod mlp;
#[allow(dead_code)]
#[path = "../benches/serving.rs"]
mod serving;

use std::hint::black_box;
use std::time::{Duration, Instant};

/// Steps per repetition so that one repetition takes about `target`.
fn calibrate(step: &mut dyn FnMut() -> f32, target: Duration) -> usize {
    let mut n = 16;
    loop {
        let start = Instant::now();
        for _ in 0..n {
            black_box(step());
        }
        let t = start.elapsed();
        if t >= target / 4 {
            let per = t.as_secs_f64() / n as f64;
            return ((target.as_secs_f64() / per) as usize).max(16);
        }
        n *= 4;
    }
}

fn median(mut xs: Vec<f64>) -> f64 {
    xs.sort_by(|a, b| a.partial_cmp(b).expect("no NaN timings"));
    xs[xs.len() / 2]
}

/// Times each variant `reps` times, alternating; returns the median ns/step of each.
fn measure(variants: &mut [&mut dyn FnMut() -> f32], reps: usize) -> Vec<f64> {
    let target = Duration::from_millis(20);
    let counts: Vec<usize> = variants
        .iter_mut()
        .map(|s| {
            calibrate(*s, target); // warm-up
            calibrate(*s, target)
        })
        .collect();
    let mut samples = vec![Vec::with_capacity(reps); variants.len()];
    for _ in 0..reps {
        for ((step, &n), out) in variants.iter_mut().zip(&counts).zip(&mut samples) {
            let start = Instant::now();
            for _ in 0..n {
                black_box(step());
            }
            out.push(start.elapsed().as_nanos() as f64 / n as f64);
        }
    }
    samples.into_iter().map(median).collect()
}

/// Runs one variant for `seconds`.
fn profile(name: &str, seconds: f64) {
    let mut step: Box<dyn FnMut() -> f32> = match name {
        "linreg" => Box::new(linreg::wyrm_step()),
        "linreg_static" => Box::new(linreg::wyrm_static_step()),
        "linreg_hand" => Box::new(linreg::hand_step()),
        "mlp" => Box::new(mlp::wyrm_step()),
        "mlp_hand" => Box::new(mlp::hand_step()),
        "wide_input" => Box::new(mlp::wyrm_wide_step(false)),
        "wide_param" => Box::new(mlp::wyrm_wide_step(true)),
        "sparse_mf" => Box::new(mf_steps::wyrm_step(100_000)),
        "sparse_mf_hand" => Box::new(mf_steps::hand_step(100_000)),
        "sparse_mf_1k" => Box::new(mf_steps::wyrm_step(1_000)),
        "sparse_mf_1k_hand" => Box::new(mf_steps::hand_step(1_000)),
        "sparse_mf_shared" => Box::new(mf_steps::wyrm_shared_step(100_000)),
        "sparse_mf_1k_shared" => Box::new(mf_steps::wyrm_shared_step(1_000)),
        "serving" => Box::new(serving::wyrm_request()),
        "serving_hand" => Box::new(serving::hand_request()),
        other => panic!("unknown workload `{other}`"),
    };
    let start = Instant::now();
    let mut steps = 0u64;
    while start.elapsed().as_secs_f64() < seconds {
        for _ in 0..1000 {
            black_box(step());
        }
        steps += 1000;
    }
    let ns = start.elapsed().as_nanos() as f64 / steps as f64;
    println!("{name}: {steps} steps, {ns:.1} ns/step");
}

fn main() {
    let mut args = std::env::args().skip(1);
    if std::env::args().nth(1).as_deref() == Some("profile") {
        args.next();
        let name = args.next().expect("profile needs a workload name");
        let seconds = args.next().map_or(5.0, |s| s.parse().expect("seconds"));
        profile(&name, seconds);
        return;
    }
    let reps: usize = std::env::args()
        .nth(1)
        .map(|a| a.parse().expect("repetitions must be a number"))
        .unwrap_or(15);
    let features = if cfg!(feature = "fast-math") {
        " (fast-math, the default)"
    } else {
        " (standard library exp and tanh: --no-default-features)"
    };
    println!("median ns per training step, {reps} repetitions{features}\n");
    println!("| workload | Wyrm ns/step | hand-written ns/step | ratio |");
    println!("|---|---:|---:|---:|");
    let row = |name: &str, wyrm: f64, hand: f64| {
        println!("| {name} | {wyrm:.1} | {hand:.1} | {:.2}x |", wyrm / hand);
    };

    let (mut w, mut s, mut h) = (
        linreg::wyrm_step(),
        linreg::wyrm_static_step(),
        linreg::hand_step(),
    );
    let m = measure(&mut [&mut w, &mut s, &mut h], reps);
    row("linreg", m[0], m[2]);
    row("linreg (static shapes)", m[1], m[2]);

    let (mut w, mut h) = (mlp::wyrm_step(), mlp::hand_step());
    let m = measure(&mut [&mut w, &mut h], reps);
    row("mlp", m[0], m[1]);

    for items in [1_000, 100_000, 1_000_000] {
        let (mut w, mut h) = (mf_steps::wyrm_step(items), mf_steps::hand_step(items));
        let m = measure(&mut [&mut w, &mut h], reps);
        row(&format!("sparse-mf ({items} items)"), m[0], m[1]);
    }

    let (mut w, mut h) = (serving::wyrm_request(), serving::hand_request());
    let m = measure(&mut [&mut w, &mut h], reps);
    row("serving: one request (forward only)", m[0], m[1]);

    let (mut input, mut param) = (mlp::wyrm_wide_step(false), mlp::wyrm_wide_step(true));
    let m = measure(&mut [&mut input, &mut param], reps);
    println!(
        "\nno wasted work: mlp + a 1x256 · 256x64 branch; branch of inputs {:.1} ns/step, \
         same branch with a parameter {:.1} ns/step ({:.2}x)",
        m[0],
        m[1],
        m[1] / m[0]
    );
}
