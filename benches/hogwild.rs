//! `hogwild`: the sparse-mf workload (user table 10,000 x 32, item table 100,000 x 32,
//! prediction `U[u] · V[i]`, squared error, Adagrad 0.05, batch 1) trained over shared
//! parameters by 1 thread and by all available threads, reporting total steps per second.
//!
//! Variants:
//! - `unshared_1`: one thread, private parameters (`ParameterNode::new`): the baseline for
//!   what the sound shared storage costs;
//! - `shared_1`: one thread over `HogwildParameter`s (relaxed-atomic storage), on the
//!   calling thread like `unshared_1`;
//! - `hogwild_threads_N`: `N` persistent worker threads (1 and all available), each with its
//!   own graph over the same shared parameters, each doing the same number of steps;
//!   criterion's throughput is the total steps per second;
//! - `hand_1`: the same math written by hand on plain `Vec<f32>`s;
//! - `hand_atomic_threads_N`: hand-written, shared tables stored like `HogwildParameter`
//!   (pairs of `f32`s in relaxed `AtomicU64`s);
//! - `hand_rowlock_threads_N`: hand-written, shared tables with one `Mutex` per row: the
//!   fastest alternative without atomics that is sound in Rust and lets threads update in
//!   parallel.
//!
//! - `private_wyrm_threads_N`, `private_hand_threads_N`: a control sharing nothing, each
//!   thread training its own small tables (Wyrm unshared, and by hand): how much the
//!   machine itself speeds up work that stays in each core's caches.
//!
//! `hand_1` against `hand_atomic_threads_1` is what the sound storage costs in the
//! kernel itself, and `hand_rowlock_threads_*` what the lock-based alternative costs.

use criterion::{black_box, Criterion, Throughput};
use rand::SeedableRng;
use std::any::Any;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::mpsc::{channel, Receiver, Sender};
use std::sync::{Arc, Barrier, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};
use wyrm::*;

/// Rows of the user table.
pub const USERS: usize = 10_000;
/// Rows of the item table.
pub const ITEMS: usize = 100_000;
/// Columns of both tables.
pub const RANK: usize = 32;
/// Adagrad's learning rate.
pub const LEARNING_RATE: f32 = 0.05;
/// Adagrad's epsilon (Wyrm's default).
pub const EPS: f32 = 1e-8;

/// A fixed, repeating stream of `(user, item, rating)` examples, different per `seed`
/// (no RNG in the timed loop).
#[derive(Clone, Debug)]
pub struct Data {
    examples: Vec<(usize, usize, f32)>,
    at: usize,
}

impl Data {
    /// 65,536 pseudo-random examples over the full tables ([`USERS`], [`ITEMS`]).
    pub fn new(seed: u64) -> Self {
        Self::sized(seed, USERS, ITEMS)
    }

    /// 65,536 pseudo-random examples: users below `users`, items below `items` (uniform),
    /// ratings in `[-1, 1)`.
    pub fn sized(seed: u64, users: usize, items: usize) -> Self {
        let mut state = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
        let mut next = move || {
            // xorshift64*
            state ^= state >> 12;
            state ^= state << 25;
            state ^= state >> 27;
            state.wrapping_mul(0x2545_F491_4F6C_DD1D)
        };
        let examples = (0..1 << 16)
            .map(|_| {
                let u = (next() % users as u64) as usize;
                let i = (next() % items as u64) as usize;
                let r = (next() >> 40) as f32 / (1u64 << 23) as f32 - 1.0;
                (u, i, r)
            })
            .collect();
        Data { examples, at: 0 }
    }

    /// The next example.
    #[inline(always)]
    pub fn next_example(&mut self) -> (usize, usize, f32) {
        let e = self.examples[self.at];
        self.at = (self.at + 1) & 0xFFFF;
        e
    }
}

/// The initial tables (normal, standard deviation 0.1, fixed seed).
pub fn initial_tables() -> (ndarray::Array2<f32>, ndarray::Array2<f32>) {
    sized_tables(USERS, ITEMS)
}

/// Initial tables of `users` and `items` rows, drawn like [`initial_tables`].
pub fn sized_tables(users: usize, items: usize) -> (ndarray::Array2<f32>, ndarray::Array2<f32>) {
    let mut rng = rand::rngs::StdRng::seed_from_u64(1);
    (
        init::normal(users, RANK, 0.0, 0.1, &mut rng),
        init::normal(items, RANK, 0.0, 0.1, &mut rng),
    )
}

/// The user and item tables as shared parameters.
pub type SharedTables = (Arc<HogwildParameter>, Arc<HogwildParameter>);

/// The tables as shared parameters.
pub fn shared_tables() -> SharedTables {
    let (u, i) = initial_tables();
    (
        Arc::new(HogwildParameter::new(u)),
        Arc::new(HogwildParameter::new(i)),
    )
}

/// One Wyrm training step of sparse-mf over the given tables (shared or not), as a
/// closure returning the step's loss.
pub fn wyrm_step(
    users: Variable<ParameterNode>,
    items: Variable<ParameterNode>,
    seed: u64,
) -> impl FnMut() -> f32 {
    wyrm_step_over(users, items, Data::new(seed))
}

/// [`wyrm_step`] on a given example stream.
pub fn wyrm_step_over(
    users: Variable<ParameterNode>,
    items: Variable<ParameterNode>,
    mut data: Data,
) -> impl FnMut() -> f32 {
    let (u, i) = (IndexInputNode::new(&[0]), IndexInputNode::new(&[0]));
    let y = InputNode::new(ndarray::arr2(&[[0.0]]));
    let score = users.index(&u).vector_dot(&items.index(&i));
    let loss = (y.clone() - score).square();
    let mut optimizer = Adagrad::new(LEARNING_RATE, loss.parameters());
    move || {
        let (user, item, rating) = data.next_example();
        u.set_value(black_box(user));
        i.set_value(black_box(item));
        y.set_value(black_box(rating));
        loss.forward();
        loss.backward(1.0);
        optimizer.step();
        optimizer.zero_gradients();
        loss.node().value()[0]
    }
}

/// A step over private (unshared) tables.
pub fn unshared_step(seed: u64) -> impl FnMut() -> f32 {
    let (u, i) = initial_tables();
    wyrm_step(ParameterNode::new(u), ParameterNode::new(i), seed)
}

/// Worker threads, each holding its own step closure (a graph over shared tables, or any
/// other), that run a given number of steps together on demand.
pub struct Trainers {
    commands: Vec<Sender<u64>>,
    /// Each worker's start and end time of its latest run, or why it failed.
    times: Receiver<Result<(Instant, Instant), String>>,
    workers: Vec<JoinHandle<()>>,
    start: Arc<Barrier>,
}

impl Trainers {
    /// Starts `threads` workers; worker `t` builds its step with `make(t)`.
    pub fn new<S: FnMut() -> f32>(
        threads: usize,
        make: impl Fn(u64) -> S + Send + Sync + Clone + 'static,
    ) -> Self {
        let start = Arc::new(Barrier::new(threads + 1));
        let (times_send, times) = channel();
        let mut commands = Vec::new();
        let mut workers = Vec::new();
        for t in 0..threads {
            let (send, receive) = channel::<u64>();
            let (start, times, make) = (start.clone(), times_send.clone(), make.clone());
            workers.push(std::thread::spawn(move || {
                // A panic is caught and reported at the next run, which then panics on the
                // calling thread; left to unwind, it would leave the others waiting at the
                // barrier, or `run` waiting for a time, forever.
                let mut step = catch_unwind(AssertUnwindSafe(|| make(t as u64)))
                    .map_err(|e| format!("building its step panicked: {}", message(&*e)));
                while let Ok(steps) = receive.recv() {
                    start.wait();
                    let outcome = match &mut step {
                        Ok(step) => catch_unwind(AssertUnwindSafe(|| {
                            let began = Instant::now();
                            for _ in 0..steps {
                                black_box(step());
                            }
                            (began, Instant::now())
                        }))
                        .map_err(|e| format!("its step panicked: {}", message(&*e))),
                        Err(e) => Err(e.clone()),
                    };
                    if let Err(e) = &outcome {
                        step = Err(e.clone());
                    }
                    times.send(outcome).expect("trainers alive");
                }
            }));
            commands.push(send);
        }
        Trainers {
            commands,
            times,
            workers,
            start,
        }
    }

    /// Hogwild workers over the given shared tables.
    pub fn hogwild(threads: usize, tables: &SharedTables) -> Self {
        let tables = tables.clone();
        Self::new(threads, move |t| {
            wyrm_step(
                ParameterNode::shared(tables.0.clone()),
                ParameterNode::shared(tables.1.clone()),
                100 + t,
            )
        })
    }

    /// Number of workers.
    pub fn threads(&self) -> usize {
        self.commands.len()
    }

    /// Every worker runs `steps` steps, all starting together; returns the wall time from
    /// the first worker's start to the last one's end. Panics, naming the cause, if a
    /// worker's step (or the building of it) panicked, then or in an earlier run. The workers read the clock
    /// themselves: with as many workers as cores, the calling thread may get no core to
    /// read it on until a worker has finished.
    pub fn run(&self, steps: u64) -> Duration {
        for c in &self.commands {
            c.send(steps).expect("worker alive");
        }
        self.start.wait();
        // Every worker's report is taken before any failure is raised, so that none is
        // left for the next run to read.
        let reports: Vec<_> = (0..self.commands.len())
            .map(|_| self.times.recv().expect("worker alive"))
            .collect();
        let times: Vec<_> = reports
            .into_iter()
            .map(|report| {
                report.unwrap_or_else(|why| panic!("Trainers::run: a worker failed: {why}"))
            })
            .collect();
        let first = times.iter().map(|t| t.0).min().expect("a worker");
        let last = times.iter().map(|t| t.1).max().expect("a worker");
        last - first
    }
}

impl Drop for Trainers {
    fn drop(&mut self) {
        self.commands.clear();
        for w in self.workers.drain(..) {
            // Workers catch their steps' panics; `run` has reported them.
            let _ = w.join();
        }
    }
}

/// A panic's message, where it is a string.
fn message(payload: &(dyn Any + Send)) -> &str {
    (payload.downcast_ref::<&str>().copied())
        .or_else(|| payload.downcast_ref::<String>().map(String::as_str))
        .unwrap_or("(not a string)")
}

/// Hand-written sparse-mf on plain `Vec<f32>` tables with Adagrad (gradients by hand).
#[derive(Debug)]
pub struct Hand {
    users: Vec<f32>,
    items: Vec<f32>,
    users_acc: Vec<f32>,
    items_acc: Vec<f32>,
}

impl Hand {
    /// Starts from [`initial_tables`].
    #[allow(clippy::new_without_default)]
    pub fn new() -> Self {
        Self::over(initial_tables())
    }

    /// Starts from the given tables (standard layout, `RANK` columns).
    pub fn over((u, i): (ndarray::Array2<f32>, ndarray::Array2<f32>)) -> Self {
        // One accumulator per element of each table.
        let (user_elements, item_elements) = (u.len(), i.len());
        Hand {
            users: u.into_raw_vec_and_offset().0,
            items: i.into_raw_vec_and_offset().0,
            users_acc: vec![0.0; user_elements],
            items_acc: vec![0.0; item_elements],
        }
    }

    /// One step; returns the loss.
    #[inline]
    pub fn step(&mut self, user: usize, item: usize, rating: f32) -> f32 {
        let (ur, ir) = (
            user * RANK..(user + 1) * RANK,
            item * RANK..(item + 1) * RANK,
        );
        let (u, v) = (&mut self.users[ur.clone()], &mut self.items[ir.clone()]);
        let score: f32 = u.iter().zip(v.iter()).map(|(a, b)| a * b).sum();
        let r = score - rating;
        let d = 2.0 * r;
        let (su, sv) = (&mut self.users_acc[ur], &mut self.items_acc[ir]);
        for k in 0..RANK {
            let (gu, gv) = (d * v[k], d * u[k]);
            su[k] += gu * gu;
            sv[k] += gv * gv;
            u[k] -= LEARNING_RATE * gu / (su[k].sqrt() + EPS);
            v[k] -= LEARNING_RATE * gv / (sv[k].sqrt() + EPS);
        }
        r * r
    }
}

/// The hand-written step as a closure.
pub fn hand_step(seed: u64) -> impl FnMut() -> f32 {
    hand_step_over(Hand::new(), Data::new(seed))
}

/// The hand-written step over given tables and examples, as a closure.
pub fn hand_step_over(mut hand: Hand, mut data: Data) -> impl FnMut() -> f32 {
    move || {
        let (u, i, r) = data.next_example();
        hand.step(black_box(u), black_box(i), black_box(r))
    }
}

/// Hand-written shared tables in the same sound form as `HogwildParameter` (two `f32`
/// bit patterns per relaxed `AtomicU64`; rows of `RANK` = 32 start on a word): rows are
/// loaded into stack arrays, updated there, and stored back, with no framework around it.
#[derive(Debug)]
pub struct HandAtomic {
    users: Vec<AtomicU64>,
    items: Vec<AtomicU64>,
    users_acc: Vec<AtomicU64>,
    items_acc: Vec<AtomicU64>,
}

impl HandAtomic {
    /// Starts from [`initial_tables`].
    pub fn new() -> Arc<Self> {
        let (u, i) = initial_tables();
        let cells = |m: ndarray::Array2<f32>| -> Vec<AtomicU64> {
            let v: Vec<f32> = m.iter().copied().collect();
            v.chunks_exact(2)
                .map(|p| AtomicU64::new(p[0].to_bits() as u64 | (p[1].to_bits() as u64) << 32))
                .collect()
        };
        let zeros =
            |n: usize| -> Vec<AtomicU64> { (0..n / 2).map(|_| AtomicU64::new(0)).collect() };
        Arc::new(HandAtomic {
            users: cells(u),
            items: cells(i),
            users_acc: zeros(USERS * RANK),
            items_acc: zeros(ITEMS * RANK),
        })
    }

    fn load(words: &[AtomicU64]) -> [f32; RANK] {
        let mut out = [0.0; RANK];
        for (o, w) in out.chunks_exact_mut(2).zip(words) {
            let w = w.load(Relaxed);
            o[0] = f32::from_bits(w as u32);
            o[1] = f32::from_bits((w >> 32) as u32);
        }
        out
    }

    fn store(values: &[f32; RANK], words: &[AtomicU64]) {
        for (v, w) in values.chunks_exact(2).zip(words) {
            w.store(
                v[0].to_bits() as u64 | (v[1].to_bits() as u64) << 32,
                Relaxed,
            );
        }
    }

    /// One step; returns the loss.
    #[inline]
    pub fn step(&self, user: usize, item: usize, rating: f32) -> f32 {
        // Word ranges: two elements per word.
        let words = |row: usize| row * RANK / 2..(row + 1) * RANK / 2;
        let tables = [&self.users, &self.items, &self.users_acc, &self.items_acc];
        shared_rows_step(
            [user, item],
            rating,
            |t, row| Self::load(&tables[t][words(row)]),
            |t, row, values| Self::store(values, &tables[t][words(row)]),
        )
    }
}

/// The hand-written Adagrad step over shared rows, given how to copy a row of table `t`
/// (0 users, 1 items, 2 and 3 their accumulators) in and out: both rows and both
/// accumulators are copied in, updated on the stack and copied back.
#[inline(always)]
fn shared_rows_step(
    [user, item]: [usize; 2],
    rating: f32,
    load: impl Fn(usize, usize) -> [f32; RANK],
    store: impl Fn(usize, usize, &[f32; RANK]),
) -> f32 {
    let (mut u, mut v) = (load(0, user), load(1, item));
    let score: f32 = u.iter().zip(v.iter()).map(|(a, b)| a * b).sum();
    let r = score - rating;
    let d = 2.0 * r;
    let (mut su, mut sv) = (load(2, user), load(3, item));
    let (u0, v0) = (u, v);
    for k in 0..RANK {
        let (gu, gv) = (d * v0[k], d * u0[k]);
        su[k] += gu * gu;
        sv[k] += gv * gv;
        u[k] -= LEARNING_RATE * gu / (su[k].sqrt() + EPS);
        v[k] -= LEARNING_RATE * gv / (sv[k].sqrt() + EPS);
    }
    store(0, user, &u);
    store(1, item, &v);
    store(2, user, &su);
    store(3, item, &sv);
    r * r
}

/// Workers running the hand-written atomic step over one shared table pair.
pub fn hand_atomic_trainers(threads: usize) -> Trainers {
    let tables = HandAtomic::new();
    Trainers::new(threads, move |t| {
        tables_step(tables.clone(), 100 + t, HandAtomic::step)
    })
}

/// A hand-written step over shared `tables` (`step` is the tables' step method) on the
/// example stream `seed`, as a closure returning the step's loss.
pub fn tables_step<T>(
    tables: Arc<T>,
    seed: u64,
    step: fn(&T, usize, usize, f32) -> f32,
) -> impl FnMut() -> f32 {
    let mut data = Data::new(seed);
    move || {
        let (u, i, r) = data.next_example();
        step(&tables, black_box(u), black_box(i), black_box(r))
    }
}

/// One row of a [`RowLocked`] table: values and Adagrad accumulators.
type Row = Mutex<([f32; RANK], [f32; RANK])>;

/// Hand-written shared tables with one lock per row: sound without atomics, and threads
/// touching different rows do not wait for each other.
#[derive(Debug)]
pub struct RowLocked {
    users: Vec<Row>,
    items: Vec<Row>,
}

impl RowLocked {
    /// Starts from [`initial_tables`].
    pub fn new() -> Arc<Self> {
        let (u, i) = initial_tables();
        let rows = |m: ndarray::Array2<f32>| -> Vec<Row> {
            m.rows()
                .into_iter()
                .map(|r| {
                    let mut row = [0.0; RANK];
                    row.iter_mut().zip(r.iter()).for_each(|(d, s)| *d = *s);
                    Mutex::new((row, [0.0; RANK]))
                })
                .collect()
        };
        Arc::new(RowLocked {
            users: rows(u),
            items: rows(i),
        })
    }

    /// One step: copy both rows out under their locks, compute, then update each row
    /// under its lock (Hogwild semantics: the rows may have changed in between).
    #[inline]
    pub fn step(&self, user: usize, item: usize, rating: f32) -> f32 {
        let u = self.users[user].lock().expect("row lock").0;
        let v = self.items[item].lock().expect("row lock").0;
        let score: f32 = u.iter().zip(v.iter()).map(|(a, b)| a * b).sum();
        let r = score - rating;
        let d = 2.0 * r;
        let update = |row: &Row, other: &[f32; RANK]| {
            let mut guard = row.lock().expect("row lock");
            let (w, s) = &mut *guard;
            for k in 0..RANK {
                let g = d * other[k];
                s[k] += g * g;
                w[k] -= LEARNING_RATE * g / (s[k].sqrt() + EPS);
            }
        };
        update(&self.users[user], &v);
        update(&self.items[item], &u);
        r * r
    }
}

/// Workers running the row-locked hand-written step over one shared table pair.
pub fn rowlock_trainers(threads: usize) -> Trainers {
    let tables = RowLocked::new();
    Trainers::new(threads, move |t| {
        tables_step(tables.clone(), 100 + t, RowLocked::step)
    })
}

/// Rows of each table in [`private_trainers`]: small enough for a core's own caches.
pub const PRIVATE_ROWS: usize = 1_000;

/// Workers that share nothing, each training its own small tables ([`PRIVATE_ROWS`] rows
/// each) with Wyrm's unshared step. With [`private_hand_trainers`], a control for the
/// scaling figures: how much more work the machine itself does with more threads busy,
/// when no cache line is shared and the data stay in each core's caches.
pub fn private_wyrm_trainers(threads: usize) -> Trainers {
    Trainers::new(threads, move |t| {
        let (u, i) = sized_tables(PRIVATE_ROWS, PRIVATE_ROWS);
        let data = Data::sized(100 + t, PRIVATE_ROWS, PRIVATE_ROWS);
        wyrm_step_over(ParameterNode::new(u), ParameterNode::new(i), data)
    })
}

/// [`private_wyrm_trainers`] with the hand-written step.
pub fn private_hand_trainers(threads: usize) -> Trainers {
    Trainers::new(threads, move |t| {
        let tables = sized_tables(PRIVATE_ROWS, PRIVATE_ROWS);
        let data = Data::sized(100 + t, PRIVATE_ROWS, PRIVATE_ROWS);
        hand_step_over(Hand::over(tables), data)
    })
}

/// The thread counts benchmarked: 1 and all available.
pub fn thread_counts() -> Vec<usize> {
    let all = std::thread::available_parallelism().map_or(1, |n| n.get());
    if all > 1 {
        vec![1, all]
    } else {
        vec![1]
    }
}

/// Criterion benchmarks `hogwild/*` (see the module docs). Throughput is in steps (all
/// threads together), so criterion reports total steps per second.
pub fn bench(c: &mut Criterion) {
    let mut group = c.benchmark_group("hogwild");
    group.throughput(Throughput::Elements(1));
    let mut step = unshared_step(100);
    group.bench_function("unshared_1", |b| b.iter(&mut step));
    drop(step);
    let tables = shared_tables();
    let mut step = wyrm_step(
        ParameterNode::shared(tables.0.clone()),
        ParameterNode::shared(tables.1.clone()),
        100,
    );
    group.bench_function("shared_1", |b| b.iter(&mut step));
    drop(step);
    let mut step = hand_step(100);
    group.bench_function("hand_1", |b| b.iter(&mut step));
    drop(step);
    for threads in thread_counts() {
        let trainers = Trainers::hogwild(threads, &tables);
        group.throughput(Throughput::Elements(trainers.threads() as u64));
        group.bench_function(format!("hogwild_threads_{threads}"), |b| {
            b.iter_custom(|iters| trainers.run(iters))
        });
        drop(trainers);
        let trainers = rowlock_trainers(threads);
        group.bench_function(format!("hand_rowlock_threads_{threads}"), |b| {
            b.iter_custom(|iters| trainers.run(iters))
        });
        drop(trainers);
        let trainers = hand_atomic_trainers(threads);
        group.bench_function(format!("hand_atomic_threads_{threads}"), |b| {
            b.iter_custom(|iters| trainers.run(iters))
        });
        drop(trainers);
        for (name, trainers) in [
            ("private_wyrm", private_wyrm_trainers(threads)),
            ("private_hand", private_hand_trainers(threads)),
        ] {
            group.bench_function(format!("{name}_threads_{threads}"), |b| {
                b.iter_custom(|iters| trainers.run(iters))
            });
        }
    }
    group.finish();
}

criterion::criterion_group!(
    name = benches;
    config = Criterion::default();
    targets = bench
);
