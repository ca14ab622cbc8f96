//! How Hogwild training scales with threads: the sparse-mf workload (users 10,000 x 32,
//! items 100,000 x 32, Adagrad 0.05, batch 1) over shared parameters, on 1, 2, 4, 8 and 16
//! threads (up to the available cores), printing total steps per second and the speed-up
//! over one thread. Also prints single-thread training with unshared parameters (the cost
//! of the sound atomic storage), the same math written by hand, and hand-written
//! shared versions: with the same relaxed-atomic storage, and behind one mutex per row.
//! Last, a control: threads that share nothing, each training its own small tables, show
//! how much the machine itself speeds up work that stays in each core's caches.
//!
//! Run with `cargo run --release --example hogwild_scaling`. Optional arguments: steps per
//! thread per repetition (default 200000) and repetitions (default 7); medians are shown.
//! Within each repetition every variant and thread count runs once in turn, so that noise
//! from other work on the machine hits them alike.

#[allow(dead_code)]
#[path = "../benches/hogwild.rs"]
mod hogwild;

use hogwild::{
    hand_atomic_trainers, hand_step, private_hand_trainers, private_wyrm_trainers,
    rowlock_trainers, shared_tables, tables_step, unshared_step, wyrm_step, HandAtomic,
    SharedTables, Trainers,
};
use std::hint::black_box;
use std::time::Instant;
use wyrm::ParameterNode;

fn median(mut xs: Vec<f64>) -> f64 {
    xs.sort_by(|a, b| a.partial_cmp(b).expect("no NaN timings"));
    xs[xs.len() / 2]
}

/// Median total steps per second of each trainer set, over `reps` runs of `steps` steps
/// per worker; the sets take turns, so that machine noise hits them alike.
fn trainers_rates(trainers: &[&Trainers], steps: u64, reps: usize) -> Vec<f64> {
    let mut rates = vec![Vec::new(); trainers.len()];
    for t in trainers {
        t.run(steps / 4); // warm-up
    }
    for _ in 0..reps {
        for (t, r) in trainers.iter().zip(&mut rates) {
            let total = (steps * t.threads() as u64) as f64;
            r.push(total / t.run(steps).as_secs_f64());
        }
    }
    rates.into_iter().map(median).collect()
}

/// Median steps per second of each step closure run on the calling thread, taking turns.
fn local_rates(steps_fns: &mut [&mut dyn FnMut() -> f32], steps: u64, reps: usize) -> Vec<f64> {
    let mut rates = vec![Vec::new(); steps_fns.len()];
    for step in steps_fns.iter_mut() {
        for _ in 0..steps / 4 {
            black_box(step());
        }
    }
    for _ in 0..reps {
        for (step, r) in steps_fns.iter_mut().zip(&mut rates) {
            let t = Instant::now();
            for _ in 0..steps {
                black_box(step());
            }
            r.push(steps as f64 / t.elapsed().as_secs_f64());
        }
    }
    rates.into_iter().map(median).collect()
}

fn main() {
    let mut args = std::env::args().skip(1);
    let steps: u64 = args.next().map_or(200_000, |a| a.parse().expect("steps"));
    let reps: usize = args.next().map_or(7, |a| a.parse().expect("repetitions"));
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    println!(
        "sparse-mf: users {} x {}, items {} x {}, Adagrad {}, batch 1; {cores} cores; \
         {steps} steps per thread, median of {reps}",
        hogwild::USERS,
        hogwild::RANK,
        hogwild::ITEMS,
        hogwild::RANK,
        hogwild::LEARNING_RATE
    );

    let tables = shared_tables();
    single_thread(&tables, steps, reps);
    scaling(&tables, steps, reps, cores);
}

/// Single-thread rates on the calling thread: Wyrm unshared and shared, and hand-written.
fn single_thread(tables: &SharedTables, steps: u64, reps: usize) {
    println!("\nsingle thread, on the calling thread:");
    let mut shared_step = wyrm_step(
        ParameterNode::shared(tables.0.clone()),
        ParameterNode::shared(tables.1.clone()),
        100,
    );
    let mut unshared = unshared_step(100);
    let mut hand = hand_step(100);
    let mut atomic = tables_step(HandAtomic::new(), 100, HandAtomic::step);
    let rates = local_rates(
        &mut [&mut unshared, &mut shared_step, &mut hand, &mut atomic],
        steps,
        reps,
    );
    let (unshared, shared, hand) = (rates[0], rates[1], rates[2]);
    println!(
        "  {:<40} {:>10.0} steps/s",
        "wyrm, unshared (ParameterNode::new)", unshared
    );
    println!(
        "  {:<40} {:>10.0} steps/s  ({:.3}x the unshared time per step)",
        "wyrm, shared (HogwildParameter)",
        shared,
        unshared / shared
    );
    println!(
        "  {:<40} {:>10.0} steps/s  (wyrm unshared takes {:.2}x its time)",
        "hand-written, plain Vec<f32>",
        hand,
        hand / unshared
    );
    println!(
        "  {:<40} {:>10.0} steps/s  ({:.3}x the plain hand-written time)",
        "hand-written, relaxed-atomic pairs",
        rates[3],
        hand / rates[3]
    );
}

/// Total rates of Wyrm Hogwild and the hand-written shared variants, by thread count; then
/// the same for threads that share nothing (a control: see `private_wyrm_trainers`).
fn scaling(tables: &SharedTables, steps: u64, reps: usize, cores: usize) {
    let counts: Vec<usize> = [1, 2, 4, 8, 16]
        .into_iter()
        .filter(|&t| t <= cores)
        .chain((cores > 16).then_some(cores))
        .collect();
    println!("\nover shared tables:");
    speed_ups(
        &counts,
        &["wyrm hogwild", "hand atomic", "hand row-mutex"],
        |t| {
            vec![
                Trainers::hogwild(t, tables),
                hand_atomic_trainers(t),
                rowlock_trainers(t),
            ]
        },
        steps,
        reps,
    );
    println!(
        "\ncontrol, sharing nothing: each thread trains its own {0} x {1} tables \
         (in its caches)",
        hogwild::PRIVATE_ROWS,
        hogwild::RANK
    );
    speed_ups(
        &counts,
        &["wyrm private", "hand private"],
        |t| vec![private_wyrm_trainers(t), private_hand_trainers(t)],
        steps,
        reps,
    );
}

/// Prints each variant's total rate and speed-up over one thread, by thread count.
/// `make(t)` starts one trainer set per name, with `t` threads each.
fn speed_ups(
    counts: &[usize],
    names: &[&str],
    make: impl Fn(usize) -> Vec<Trainers>,
    steps: u64,
    reps: usize,
) {
    // Every thread count's trainers take turns within each repetition, so that a burst of
    // other work on the machine slows all counts alike instead of skewing one speed-up.
    let sets: Vec<Vec<Trainers>> = counts.iter().map(|&t| make(t)).collect();
    print!("{:>7}", "threads");
    for name in names {
        print!("  {:>16} {:>9}", format!("{name}/s"), "speed-up");
    }
    println!();
    let all: Vec<&Trainers> = sets.iter().flatten().collect();
    let rates = trainers_rates(&all, steps, reps);
    for (threads, row) in counts.iter().zip(rates.chunks(names.len())) {
        print!("{threads:>7}");
        for (rate, base) in row.iter().zip(&rates[..names.len()]) {
            print!("  {rate:>16.0} {:>8.2}x", rate / base);
        }
        println!();
    }
}
