//! [`HogwildParameter`]: parameter storage shared by several threads that update it without
//! locks.
//!
//! # Soundness
//!
//! Hogwild training lets threads read and write the same parameter at once. In Rust's
//! memory model a plain `f32` written by one thread while another reads it is a data race,
//! which is undefined behaviour whatever the hardware does. So the elements are stored as
//! bit patterns in atomics, two `f32`s to an [`AtomicU64`]
//! (see `src/atomic_f32.rs`), and all shared accesses are `Relaxed` loads and stores of
//! whole words:
//!
//! - no data race exists, so there is no undefined behaviour;
//! - a load returns some value that was stored (never a torn mix of two `f32`s: an
//!   element is half of one word, which is read whole);
//! - nothing is ordered across elements, which is exactly Hogwild's contract: a reader may
//!   see a row half-updated, and concurrent read-modify-writes may lose an update.
//!
//! Writing a stretch of elements stores whole words; when the stretch starts or ends in
//! the middle of a word (odd column counts), that lone element is merged into its word by
//! a compare-and-swap that leaves the other half, which may belong to another row being
//! updated by another thread, as it is. Every access to a given word is a 64-bit atomic,
//! never a mixed-size one.
//!
//! On x86_64 and ARM64 relaxed loads and stores compile to plain moves, so the price is
//! only that they are not merged into vector accesses. Pairs halve their number. Graph
//! nodes copy what they read (a whole dense parameter, or just the looked-up rows) into
//! their own buffers once per forward pass and run the SIMD kernels on the copy; on AVX2
//! the words of a copy are gathered in a register and written with one 32-byte store, so
//! the consumer's 32-byte loads are forwarded from the store buffer instead of waiting for
//! eight narrow stores to reach the cache.
//!
//! Optimizer state (Adagrad accumulators, RMSProp averages, Adam moments) lives here too,
//! in the same atomic
//! form, so every thread's optimizer updates the same accumulators.
//!
//! # Cost
//!
//! Updates run in groups of eight elements: the value and state words are loaded (relaxed)
//! into registers, the same update function as for local storage runs on them (so one
//! thread's shared and local training give bit-identical results, as long as nothing
//! changes a table between a forward pass and its backward pass: a one-index lookup of a
//! local table reads the row live, of a shared one a copy taken in the forward pass), and
//! the words are stored back (relaxed).
//!
//! Callgrind counts, per sparse-mf step (10,000 x 32 users, 100,000 x 32 items, Adagrad,
//! batch 1): about 2,110 instructions over shared tables against 1,300 over local ones
//! (2,150 before the groups of a row shared one bounds check).
//! The difference is the copies of the two looked-up rows (a local table's single row is
//! read in place, with no copy at all), the relaxed loads and stores of the rows and their
//! accumulators in the update (one 64-bit access per two elements, which LLVM never merges
//! into vector accesses), and the groups' packing and unpacking: about 690 instructions in
//! `atomic_f32`. The floor is about 160 word accesses per step (16 words per row read in
//! the forward pass, and per row of value and of accumulator loaded and stored in the
//! update), each with a move between a general and a vector register: some 320
//! instructions, a quarter of the local step, so the 1.15x target is out of reach for
//! per-element atomics however tight the code around them.
//!
//! Measured with `examples/hogwild_scaling` on this project's 2-core machine (each run the
//! median of 7 repetitions of 200,000 steps): over nineteen runs on two days, one thread
//! over shared parameters takes 1.25x to 1.54x the time per step of one thread over
//! unshared ones, median 1.40x both days (target 1.15x). In the last eight runs, the
//! same math written by hand over the same pair-packed atomic tables took 1.69x to 1.96x
//! (median 1.84x) the time of the hand-written step on plain `Vec<f32>`s, interleaved on
//! the same thread: the storage costs the hand-written kernel more than it costs Wyrm, and
//! Wyrm's shared step ran faster than that hand-written one (its copies gather in vector
//! registers). Over twenty runs, two threads over shared parameters ran 1.6x to 2.1x the
//! steps per second of one, median 1.83x to 1.9x by day, with the hand-written variants
//! spread the same way by other work on the machine: sharing itself costs no scaling. On a
//! quiet 16-core Xeon (two runs, medians of 15 repetitions of 200,000 steps per thread),
//! total steps per second over 1 thread were 1.95x–1.99x with 2 threads, 3.55x–3.60x with
//! 4, 6.5x with 8 and 11.0x with 16 (the hand-written atomic step 12.0x–12.3x with 16, from
//! a slower single thread; in absolute throughput the two are within 8%), and one thread
//! over shared parameters took 1.34x–1.37x the time per step of one over unshared ones.
//! Another machine of that kind, with faster single threads, gave medians of 1.64x, 2.67x,
//! 4.69x and 8.04x over four runs (26.7 million steps per second with 16 threads; the
//! hand-written atomic step 30.2 million, a mutex per row 44.3 million), and 1.47x for one
//! shared thread. A fourth gave medians of 1.95x with 2 threads and 11.4x with 16 over
//! five runs (the hand-written atomic step 12.0x, at about the same absolute rate), where
//! threads sharing nothing at all, each over its own small tables, speed up 11.5x: the
//! machine's own limit. `benches/README.md` has the tables.
//!
//! The fastest sound alternative we measured is a `Mutex` per row (hand-written, in the
//! same benchmark): rows are then copied and updated with vector instructions under an
//! uncontended lock, and a step costs about what the plain single-thread one does (0.9x
//! to 1.2x measured), with the same or better scaling (1.66x Wyrm's total rate with 16
//! threads on the third machine above). It would serialise threads
//! on the rows of small dense parameters, though, which every step touches, so the
//! storage here stays lock-free.
//!
//! Fewer, wider atomic accesses were tried too (not kept). Intel and AMD document an
//! aligned 16-byte `movaps` as one atomic access on CPUs with AVX, which inline assembly
//! could use for half the accesses of the 8-byte words. In a scratch hand-written AVX2 step
//! it took the time over plain tables from 2.25x (pairs) to 1.32x with 1,000 items, and
//! from 2.7x to 1.65x with 100,000; inside this crate's update path, and in the portable
//! hand-written step of `benches/hogwild.rs`, it gained nothing measurable. It would also
//! rest the soundness argument on vendor manuals and assembly rather than Rust's memory
//! model.
//!
//! # Sharing rules
//!
//! - **What is shared.** Values and optimizer state are shared; gradients are not. Each
//!   thread's [`ParameterNode::shared`](crate::ParameterNode::shared) node keeps its own
//!   gradient, and its own optimizer applies it to the shared values.
//! - **One snapshot per pass.** A shared node copies the values once per forward pass, the
//!   first time a dense consumer (such as `dot` or `+`) asks for them, and every dense
//!   consumer in that pass (including the backward pass that follows) sees that same copy.
//!   Row lookups (`index`) read their rows straight from the shared storage instead, so in
//!   one pass a lookup and a dense use of the same table may see different versions of a
//!   row, which Hogwild tolerates like any other stale read. The copy is refreshed by the
//!   next forward pass, or after an update made through that node. Its buffer is
//!   allocated the first time it is needed, so a node over a table that is only looked up
//!   holds no copy of it (building a graph over 1.1 million shared parameters took 500 µs
//!   while every node reserved one, 6 µs since). Consequently
//!   `Variable::value()` on a shared node returns that snapshot, not necessarily what
//!   other threads wrote since:
//!   read [`HogwildParameter::value`] for the current values. A graph that only runs
//!   forward many times between updates (an actor-critic worker choosing actions over a
//!   rollout) pays that copy at every pass: build it over a private copy instead
//!   (`from_parameter_values` in a `model!` block) and refresh the copy from the shared
//!   storage before each rollout with `set_parameter_values` (A3C's "sync the local
//!   network"). A new user's 1-row acting pass took 590–630 ns over shared storage and
//!   280 ns over the refreshed copy.
//! - **Lost updates.** An update is a relaxed load, a computation and a relaxed store, per
//!   element. Two threads updating the same element at once may each overwrite the
//!   other's store, so one of the two updates is lost. Hogwild accepts this: with sparse
//!   models collisions are rare, and dense ones converge anyway at small learning rates.
//!   The same holds for optimizer state (an Adagrad accumulator may miss a `g²`).
//! - **One optimizer kind per parameter.** The state slots are shared by position: SGD
//!   with momentum and Adagrad both use slot 0. Let all threads train a parameter with the
//!   same kind of optimizer. Per-optimizer counters (Adam's step count for its bias
//!   correction) stay with each thread's optimizer. So with `n` threads the shared moments
//!   have seen about `n` times as many steps as each thread's count says, and the first
//!   steps, bias-corrected as if the moments were younger, are larger than one thread's
//!   (a new user's two alternating Adams at 0.1 moved a weight from 1.0 to 0.305 in six
//!   steps, where one Adam's six steps reach about 0.4); after some hundreds of steps the
//!   corrections are 1 either way. A lower learning rate or a warm-up at the start
//!   covers it, or a count shared by all threads' optimizers: an `AtomicU64` of the
//!   updates so far, `opt.set_update_count(count.fetch_add(1, Relaxed))` before each
//!   `opt.step()` ([`Optimizer::set_update_count`](crate::Optimizer::set_update_count)),
//!   which also serves a thread with one optimizer per graph (one graph per list
//!   length).
//! - **Copies start fresh.** `Variable::hogwild_parameter` on a local (unshared) parameter
//!   copies its values, not its optimizer state (copy that with
//!   [`HogwildParameter::set_optimizer_state`] and `Variable::optimizer_state`).
//! - **Feed every thread the same distribution.** Hogwild converges like sequential SGD
//!   when, at every moment, all threads draw examples from the same distribution. For an
//!   epoch shared by `k` threads, shuffle the data set once per epoch and deal it out:
//!   thread `w` takes every `k`-th example of that order from the `w`-th on
//!   (`order.iter().skip(w).step_by(k)`), so each thread's share is a random sample of the
//!   whole and the epoch covers every example once. (Where each thread makes whole passes
//!   of its own, its own shuffled order per pass works as well. Taking a `1 / k` slice of
//!   a thread's *own* shuffle does not: the threads' slices overlap, so one epoch on 2
//!   threads misses about a quarter of the examples and sees another quarter twice; a
//!   new user's click model lost 0.03 of AUC to that in one epoch.) Giving each thread a
//!   fixed shard works worse than it looks: the threads do not run in lockstep (more
//!   threads than cores, or uneven speeds), so for stretches of time the updates come from
//!   a few shards only, and whichever threads finish last pull the model towards their
//!   shards. (Measured on the sparse-mf test, 4 threads on 2 cores, 10 passes, Adagrad
//!   0.3: with shards, 6 of 6 runs ended 3x to 130x above the one-thread held-out error,
//!   and 2x to 95x when a lock serialised the steps, so it is the ordering and not the
//!   races; with whole-set shuffles, 1 run of 6 (60x). With 20 passes and whole-set
//!   shuffles, 24 of 24 runs ended within 2.2x of one thread, all at the noise floor, and
//!   200 of 200 on a loaded machine within 1.6x; one run ended at 14x. That tail is the
//!   model's, not the races': one thread over 200 shuffle seeds ended up to 8x above its
//!   best, and a thread stalled for seconds between loading a row and storing it back,
//!   which undoes what other threads did to that row meanwhile, cost a run at most 2.7x.
//!   The test therefore compares the median of three runs.)
//! - **Deterministic alternative.** For reproducible data-parallel training, wrap each
//!   thread's optimizer in [`Synchronized`](crate::optim::Synchronized): threads then take
//!   turns to apply their updates at a barrier instead of racing.

use crate::atomic_f32::AtomicF32s;
use crate::optim::OptimizerState;
use ndarray::{Array2, ArrayBase, Data, Ix2};
use std::sync::atomic::{
    fence, AtomicU64, AtomicU8,
    Ordering::{Acquire, Relaxed, Release},
};
use std::sync::OnceLock;

/// `HogwildParameter::state_kind` while a thread zeroes the state for a new kind.
const RESETTING: u8 = u8::MAX;

/// Number of per-element optimizer state slots a parameter keeps (Adam needs two).
pub(crate) const STATE_SLOTS: usize = 2;

/// A parameter matrix that several threads share and update without locks.
///
/// Build graphs over it with [`ParameterNode::shared`](crate::ParameterNode::shared), one
/// graph per thread. With the `serde` feature it implements `Serialize` (its current
/// values, as an `ndarray` array) and `Deserialize` (see the `save` module).
///
/// ```
/// use std::sync::Arc;
/// use wyrm::*;
///
/// let shared = Arc::new(HogwildParameter::new(ndarray::arr2(&[[1.0, 2.0]])));
/// let a = ParameterNode::shared(shared.clone());
/// let b = ParameterNode::shared(shared.clone());
/// assert_eq!(a.value()[(0, 1)], 2.0);
/// assert_eq!(b.shape(), (1, 2));
/// assert_eq!(shared.value(), ndarray::arr2(&[[1.0, 2.0]]));
/// ```
#[derive(Debug)]
pub struct HogwildParameter {
    shape: (usize, usize),
    values: AtomicF32s,
    state: [OnceLock<AtomicF32s>; STATE_SLOTS],
    /// The kind of optimizer that writes `state` (`optim::state_kind`).
    state_kind: AtomicU8,
    /// How many times the state has been reset or overwritten, so that a snapshot can
    /// tell that it raced with one (even one that ended in the same kind).
    state_epoch: AtomicU64,
}

impl HogwildParameter {
    /// Shared storage initialised with `value`.
    ///
    /// ```
    /// use wyrm::HogwildParameter;
    ///
    /// let p = HogwildParameter::new(ndarray::arr2(&[[1.0, 2.0], [3.0, 4.0]]));
    /// assert_eq!(p.value()[(1, 0)], 3.0);
    /// ```
    pub fn new(value: Array2<f32>) -> Self {
        let shape = value.dim();
        let values = AtomicF32s::new(value.iter().copied());
        HogwildParameter {
            shape,
            values,
            state: Default::default(),
            state_kind: AtomicU8::new(crate::optim::state_kind::NONE),
            state_epoch: AtomicU64::new(0),
        }
    }

    /// The shape `(rows, cols)`.
    ///
    /// ```
    /// use wyrm::HogwildParameter;
    ///
    /// let p = HogwildParameter::new(ndarray::Array2::zeros((3, 4)));
    /// assert_eq!(p.shape(), (3, 4));
    /// ```
    pub fn shape(&self) -> (usize, usize) {
        self.shape
    }

    /// A snapshot of the current values. Safe to call while other threads train; rows
    /// being updated at that moment may be seen half-updated.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use wyrm::*;
    ///
    /// let shared = Arc::new(HogwildParameter::new(ndarray::arr2(&[[1.0]])));
    /// let param = shared.clone();
    /// std::thread::spawn(move || {
    ///     let w = ParameterNode::shared(param);
    ///     let loss = w.square();
    ///     let mut opt = SGD::new(0.25, loss.parameters());
    ///     loss.forward();
    ///     loss.backward(1.0);
    ///     opt.step(); // w -= 0.25 * 2w
    /// })
    /// .join()
    /// .unwrap();
    /// assert_eq!(shared.value(), ndarray::arr2(&[[0.5]]));
    /// ```
    pub fn value(&self) -> Array2<f32> {
        let mut data = vec![0.0; self.values.len()];
        self.values.load_into(0, &mut data);
        Array2::from_shape_vec(self.shape, data).expect("shape matches storage")
    }

    /// New storage holding a snapshot of the current values, without optimizer state:
    /// what `HogwildParameter::new(self.value())` builds, copied in one pass (a 2^18 x 9
    /// table in about a third of the time). Safe to call while other threads train, with
    /// the caveat of [`value`](Self::value). A `model!` companion's `snapshot()` calls it
    /// for each parameter.
    ///
    /// ```
    /// use wyrm::HogwildParameter;
    ///
    /// let shared = HogwildParameter::new(ndarray::arr2(&[[1.0, 2.0]]));
    /// let best = shared.snapshot();
    /// shared.set_value(&ndarray::arr2(&[[0.0, 0.0]]));
    /// assert_eq!(best.value(), ndarray::arr2(&[[1.0, 2.0]]));
    /// ```
    pub fn snapshot(&self) -> HogwildParameter {
        HogwildParameter {
            shape: self.shape,
            values: self.values.snapshot(),
            state: Default::default(),
            state_kind: AtomicU8::new(crate::optim::state_kind::NONE),
            state_epoch: AtomicU64::new(0),
        }
    }

    /// A snapshot of the given rows (`indices.len() x cols`), without copying the rest of
    /// the table: one user's embedding, say. Safe to call while other threads train, with
    /// the caveat of [`value`](Self::value).
    ///
    /// ```
    /// use wyrm::HogwildParameter;
    ///
    /// let table = HogwildParameter::new(ndarray::arr2(&[[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]]));
    /// assert_eq!(table.rows(&[2, 0]), ndarray::arr2(&[[5.0, 6.0], [1.0, 2.0]]));
    /// ```
    ///
    /// # Panics
    /// If an index is past the last row, naming it and the row count.
    #[track_caller]
    pub fn rows(&self, indices: &[usize]) -> Array2<f32> {
        let (rows, cols) = self.shape;
        check_row_indices("HogwildParameter::rows", indices, rows);
        let mut out = Array2::zeros((indices.len(), cols));
        let to = out
            .as_slice_mut()
            .expect("a new array is in standard layout");
        self.values.load_rows(indices, cols, to);
        out
    }

    /// Overwrites the values with an array or a view of the parameter's shape, by
    /// reference (e.g. when loading a saved model). The optimizer state stays
    /// as it was (see [`set_optimizer_state`](Self::set_optimizer_state)).
    ///
    /// The elements are stored one after another, as any update's are: a graph reading
    /// the parameter meanwhile, on another thread, may see some old and some new values,
    /// and with several parameters swapped one by one, a request may see old and new
    /// parameters together. To switch a serving model over at once, build the new graphs
    /// over new storage (a newly loaded `model!` companion) and hand requests to them.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use wyrm::*;
    ///
    /// let shared = Arc::new(HogwildParameter::new(ndarray::Array2::zeros((1, 2))));
    /// let w = ParameterNode::shared(shared.clone());
    /// shared.set_value(&ndarray::arr2(&[[1.0, 2.0]]));
    /// // Nodes over the storage read the new values from their next forward pass on.
    /// let total = w.scalar_sum();
    /// total.forward();
    /// assert_eq!(total.value()[(0, 0)], 3.0);
    /// ```
    ///
    /// # Panics
    /// If `value` does not have this parameter's shape.
    #[track_caller]
    pub fn set_value<S: Data<Elem = f32>>(&self, value: &ArrayBase<S, Ix2>) {
        assert!(
            value.dim() == self.shape,
            "HogwildParameter::set_value: the array is {}x{} but the parameter is {}x{}",
            value.nrows(),
            value.ncols(),
            self.shape.0,
            self.shape.1
        );
        let data: Vec<f32> = value.iter().copied().collect();
        self.values.store_from(0, &data);
    }

    /// Overwrites the given rows with `values` (`indices.len() x cols`, an array or a
    /// view, by reference), leaving the other rows and the optimizer state as they are: to
    /// renormalise the rows a step touched while other threads train, where
    /// [`set_value`](Self::set_value) would also overwrite every row they had just
    /// updated. Each element is stored as any update's is (see
    /// [`set_value`](Self::set_value)); a repeated index takes its last row.
    ///
    /// ```
    /// use wyrm::HogwildParameter;
    ///
    /// let table = HogwildParameter::new(ndarray::arr2(&[[1.0, 2.0], [3.0, 4.0]]));
    /// table.set_rows(&[1], &ndarray::arr2(&[[0.0, 1.0]]));
    /// assert_eq!(table.value(), ndarray::arr2(&[[1.0, 2.0], [0.0, 1.0]]));
    /// ```
    ///
    /// # Panics
    /// If an index is past the last row (naming it and the row count), or `values` does
    /// not have one row of the table's width per index; nothing is written then.
    #[track_caller]
    pub fn set_rows<S: Data<Elem = f32>>(&self, indices: &[usize], values: &ArrayBase<S, Ix2>) {
        let (rows, cols) = self.shape;
        check_row_indices("HogwildParameter::set_rows", indices, rows);
        check_row_values(
            "HogwildParameter::set_rows",
            values.dim(),
            indices.len(),
            cols,
        );
        let mut row = Vec::new();
        for (&i, new) in indices.iter().zip(values.rows()) {
            let new = match new.as_slice() {
                Some(new) => new,
                // A view with strided rows (a transpose, a column slice): copied first.
                None => {
                    row.clear();
                    row.extend(new.iter().copied());
                    &row
                }
            };
            self.values.store_from(i * cols, new);
        }
    }

    /// Scales each given row whose Euclidean norm is above `max_norm` down to that norm
    /// (see [`ParameterNode::clip_row_norms`](crate::Variable::clip_row_norms)): each row
    /// is read, and written back only if it was clipped, as [`set_rows`](Self::set_rows)
    /// writes, so a thread's update of the row in between is overwritten, as Hogwild
    /// allows.
    ///
    /// ```
    /// use wyrm::HogwildParameter;
    ///
    /// let table = HogwildParameter::new(ndarray::arr2(&[[3.0, 4.0], [0.0, 0.5]]));
    /// table.clip_row_norms(&[0, 1], 1.0);
    /// let clipped = table.value();
    /// // Row 0 at norm 1 (at most, and within 4e-7: 0.6 and 0.8 round up in `f32`).
    /// assert!((clipped[(0, 0)] - 0.6).abs() < 1e-6 && (clipped[(0, 1)] - 0.8).abs() < 1e-6);
    /// assert_eq!(clipped.row(1), ndarray::arr1(&[0.0, 0.5]));
    /// ```
    ///
    /// # Panics
    /// If an index is past the last row (naming it and the row count; nothing is written
    /// then), or `max_norm` is negative or not finite.
    #[track_caller]
    pub fn clip_row_norms(&self, indices: &[usize], max_norm: f32) {
        let (rows, cols) = self.shape;
        let max_norm = crate::checks::check_setting(
            "HogwildParameter::clip_row_norms: max_norm",
            max_norm,
            crate::checks::Range::NonNegative,
        );
        check_row_indices("HogwildParameter::clip_row_norms", indices, rows);
        let mut row = vec![0.0; cols];
        for &i in indices {
            self.values.load_into(i * cols, &mut row);
            if crate::kernels::clip_norm(&mut row, max_norm) {
                self.values.store_from(i * cols, &row);
            }
        }
    }

    /// The values, for relaxed copies in and out.
    pub(crate) fn values(&self) -> &AtomicF32s {
        &self.values
    }

    /// Optimizer state slot `slot`, created zeroed on first use.
    pub(crate) fn state(&self, slot: usize) -> &AtomicF32s {
        self.state[slot].get_or_init(|| AtomicF32s::zeros(self.values.len()))
    }

    /// Makes the optimizer state `kind`'s: if another kind of optimizer wrote it, it is
    /// reset to zeros first. One thread zeroes while the others switching to `kind` wait
    /// for it (they would otherwise read the old kind's state as theirs: SGD's negative
    /// momentum as an Adagrad accumulator gives NaN), so threads that switch kinds
    /// together, between two phases of training, start from zeros. Two kinds of optimizer
    /// on one parameter at the same time are not supported: each keeps resetting the
    /// other's state, and their values collide (no undefined behaviour, but NaN is likely).
    #[inline(always)]
    pub(crate) fn claim_state(&self, kind: u8) {
        // Acquire: seeing `kind` means seeing the zeros stored before it was published.
        if self.state_kind.load(Acquire) != kind {
            self.switch_state(kind);
        }
    }

    #[cold]
    #[inline(never)]
    fn switch_state(&self, kind: u8) {
        if self.take_state(Some(kind)) {
            for slot in self.state.iter().filter_map(OnceLock::get) {
                slot.fill_zero();
            }
            self.state_kind.store(kind, Release);
        }
    }

    /// Marks the state as being reset, once no other thread is resetting it, and returns
    /// true; the caller must then publish a kind. Returns false instead, taking nothing, if
    /// the state already is `unless`'s kind.
    ///
    /// Snapshots read the state as a sequence lock's readers do: the epoch is bumped here,
    /// and the release fence keeps the caller's later state stores from being seen before
    /// it, so a snapshot that copied any of them sees a new epoch when it checks after its
    /// acquire fence, and tries again.
    fn take_state(&self, unless: Option<u8>) -> bool {
        loop {
            let current = self.state_kind.load(Acquire);
            if Some(current) == unless {
                return false;
            }
            let claimed = current != RESETTING
                && self
                    .state_kind
                    .compare_exchange(current, RESETTING, Acquire, Relaxed)
                    .is_ok();
            if claimed {
                self.state_epoch.fetch_add(1, Relaxed);
                fence(Release);
                return true;
            }
            // Another thread is resetting the state (a one-off wait at a switch of kinds).
            std::thread::yield_now();
        }
    }

    /// A copy of the optimizer state (see [`OptimizerState`]), for a checkpoint.
    ///
    /// Taken with relaxed loads, so it works while other threads train, with the same
    /// caveat as [`value`](Self::value): a row being updated at that moment may be copied
    /// half-updated. A copy that overlaps a switch of optimizer kind (or a
    /// [`set_optimizer_state`](Self::set_optimizer_state)) is taken again, so the state is
    /// never labelled with a kind whose numbers it does not hold.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use wyrm::*;
    ///
    /// let shared = Arc::new(HogwildParameter::new(ndarray::arr2(&[[1.0]])));
    /// let w = ParameterNode::shared(shared.clone());
    /// let loss = w.clone() * 2.0; // gradient 2
    /// let mut opt = Adagrad::new(0.1, loss.parameters());
    /// loss.forward();
    /// loss.backward(1.0);
    /// opt.step();
    /// assert_eq!(shared.optimizer_state().slots()[0][(0, 0)], 4.0); // 2²
    /// ```
    pub fn optimizer_state(&self) -> OptimizerState {
        self.snapshot_state(|| {})
    }

    /// [`optimizer_state`](Self::optimizer_state), calling `during_copy` after each copy
    /// (tests use it to switch kinds at the worst moment).
    fn snapshot_state(&self, mut during_copy: impl FnMut()) -> OptimizerState {
        loop {
            // Acquire: the published kind's epoch, and the state stored before it.
            let kind = self.state_kind.load(Acquire);
            if kind == RESETTING {
                std::thread::yield_now();
                continue;
            }
            let epoch = self.state_epoch.load(Relaxed);
            let slots = (0..STATE_SLOTS)
                .map(|s| {
                    let mut out = vec![0.0; self.values.len()];
                    if let Some(stored) = self.allocated_state(s) {
                        stored.load_into(0, &mut out);
                    }
                    out
                })
                .collect();
            during_copy();
            // A reset or overwrite that began during the copy may have put another kind's
            // numbers (or zeros) in it: copy again rather than mislabel them.
            fence(Acquire);
            if self.state_epoch.load(Relaxed) == epoch && self.state_kind.load(Relaxed) == kind {
                return OptimizerState::from_flat(kind, self.shape, slots);
            }
        }
    }

    /// Overwrites the optimizer state with `state` (taken from a parameter of the same
    /// shape, perhaps saved and loaded), for every thread: the next update by an
    /// optimizer of `state`'s kind carries on from it. Meant for between phases of
    /// training, such as resuming from a checkpoint; while other threads update the
    /// parameter, their updates and the copied state may mix, as Hogwild's updates do.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use wyrm::*;
    ///
    /// let trained = Arc::new(HogwildParameter::new(ndarray::arr2(&[[1.0]])));
    /// let w = ParameterNode::shared(trained.clone());
    /// let loss = w.clone() * 2.0;
    /// let mut opt = Adagrad::new(0.1, loss.parameters());
    /// loss.forward();
    /// loss.backward(1.0);
    /// opt.step();
    ///
    /// let resumed = HogwildParameter::new(trained.value());
    /// resumed.set_optimizer_state(&trained.optimizer_state());
    /// assert_eq!(resumed.optimizer_state(), trained.optimizer_state());
    /// ```
    ///
    /// # Panics
    /// If `state` is for a parameter of another shape.
    #[track_caller]
    pub fn set_optimizer_state(&self, state: &OptimizerState) {
        state.check_shape("HogwildParameter::set_optimizer_state", self.shape);
        self.take_state(None);
        for slot in 0..STATE_SLOTS {
            if slot < state.kind().slots() {
                self.state(slot).store_from(0, &state.flat_slot(slot));
            } else if let Some(stored) = self.allocated_state(slot) {
                stored.fill_zero();
            }
        }
        // Release: a thread that sees the kind sees the state stored before it.
        self.state_kind.store(state.kind().code(), Release);
    }

    /// Optimizer state slot `slot` if an update has created it (never allocates).
    #[inline]
    pub(crate) fn allocated_state(&self, slot: usize) -> Option<&AtomicF32s> {
        self.state[slot].get()
    }
}

/// Panics unless every index is a row of a `rows`-row table; `call` names the method.
#[track_caller]
pub(crate) fn check_row_indices(call: &str, indices: &[usize], rows: usize) {
    if let Some(&bad) = indices.iter().find(|&&i| i >= rows) {
        panic!("{call}: index {bad} is out of range for a table of {rows} rows");
    }
}

/// Panics unless `values` holds one row of `cols` for each of `count` indices.
#[track_caller]
pub(crate) fn check_row_values(call: &str, values: (usize, usize), count: usize, cols: usize) {
    assert!(
        values == (count, cols),
        "{call}: the values are {}x{} but {count} indices into a table of {cols} columns \
         need {count}x{cols}",
        values.0,
        values.1
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn rows_copies_just_the_named_rows() {
        // Three columns: rows start in the middle of the storage's two-element words.
        let values = ndarray::Array2::from_shape_fn((5, 3), |(r, c)| (10 * r + c) as f32);
        let table = HogwildParameter::new(values.clone());
        assert_eq!(
            table.rows(&[1, 4, 1, 0]),
            ndarray::stack![
                ndarray::Axis(0),
                values.row(1),
                values.row(4),
                values.row(1),
                values.row(0)
            ]
        );
        assert_eq!(table.rows(&[]).dim(), (0, 3));
    }

    #[test]
    #[should_panic(
        expected = "HogwildParameter::rows: index 5 is out of range for a table of 5 rows"
    )]
    fn rows_past_the_table_panic() {
        HogwildParameter::new(ndarray::Array2::zeros((5, 3))).rows(&[0, 5]);
    }

    #[test]
    fn is_send_and_sync() {
        fn check<T: Send + Sync>() {}
        check::<HogwildParameter>();
        check::<Arc<HogwildParameter>>();
    }

    #[test]
    fn round_trips_values() {
        let p = HogwildParameter::new(ndarray::arr2(&[[1.5, -2.0], [3.0, 0.25]]));
        assert_eq!(p.value(), ndarray::arr2(&[[1.5, -2.0], [3.0, 0.25]]));
        p.set_value(&ndarray::arr2(&[[0.0, 1.0], [2.0, 3.0]]));
        assert_eq!(p.value()[(1, 1)], 3.0);
        assert_eq!(p.state(1).len(), 4);
    }

    #[test]
    #[should_panic(expected = "the array is 1x2 but the parameter is 2x2")]
    fn set_value_checks_shape() {
        let p = HogwildParameter::new(Array2::zeros((2, 2)));
        p.set_value(&Array2::zeros((1, 2)));
    }

    #[test]
    fn a_new_kind_of_optimizer_zeroes_the_state_once() {
        use crate::optim::state_kind::{ADAGRAD, MOMENTUM};
        let p = HogwildParameter::new(ndarray::arr2(&[[1.0, 2.0, 3.0]]));
        p.claim_state(MOMENTUM);
        p.state(0).store_from(0, &[-1.0, -2.0, -3.0]);
        p.claim_state(MOMENTUM);
        let mut out = [0.0; 3];
        p.state(0).load_into(0, &mut out);
        assert_eq!(out, [-1.0, -2.0, -3.0], "the same kind keeps its state");
        p.claim_state(ADAGRAD);
        p.state(0).load_into(0, &mut out);
        assert_eq!(out, [0.0; 3]);
        assert_eq!(p.state_kind.load(Relaxed), ADAGRAD);
    }

    /// A snapshot that a switch of kinds overlapped copies again: one labelled Adagrad
    /// holding SGD momentum's negative velocities would give NaN once put back.
    #[test]
    fn a_snapshot_overlapping_a_switch_of_kinds_is_taken_again() {
        use crate::optim::state_kind::{ADAGRAD, MOMENTUM};
        use crate::optim::OptimizerKind;
        let p = HogwildParameter::new(ndarray::arr2(&[[1.0, 2.0]]));
        p.claim_state(ADAGRAD);
        p.state(0).store_from(0, &[4.0, 9.0]);
        let mut copies = 0;
        let state = p.snapshot_state(|| {
            copies += 1;
            if copies == 1 {
                // Another thread switches to momentum and updates, then back to Adagrad.
                p.claim_state(MOMENTUM);
                p.state(0).store_from(0, &[-1.0, -1.0]);
                p.claim_state(ADAGRAD);
                p.state(0).store_from(0, &[0.5, 0.25]);
            }
        });
        assert_eq!(copies, 2);
        assert_eq!(state.kind(), OptimizerKind::Adagrad);
        assert_eq!(state.slots()[0], ndarray::arr2(&[[0.5, 0.25]]));

        let mut copies = 0;
        let state = p.snapshot_state(|| {
            copies += 1;
            if copies == 1 {
                p.set_optimizer_state(
                    &HogwildParameter::new(ndarray::Array2::zeros((1, 2))).optimizer_state(),
                );
            }
        });
        assert_eq!((copies, state.kind()), (2, OptimizerKind::Stateless));
    }

    #[test]
    fn a_thread_switching_kinds_waits_while_another_zeroes_the_state() {
        use crate::optim::state_kind::ADAGRAD;
        let p = Arc::new(HogwildParameter::new(ndarray::arr2(&[[1.0]])));
        // As if another thread had started zeroing for Adagrad.
        p.state_kind.store(RESETTING, Relaxed);
        let done = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let waiter = {
            let (p, done) = (p.clone(), done.clone());
            std::thread::spawn(move || {
                p.claim_state(ADAGRAD);
                done.store(true, Relaxed);
            })
        };
        // Returning now would mean using the state before the zeros are in: a bug however
        // slow the machine, so this can only miss the bug, never report a false one.
        std::thread::sleep(std::time::Duration::from_millis(50));
        assert!(
            !done.load(Relaxed),
            "claimed the state while it was being reset"
        );
        p.state_kind.store(ADAGRAD, Release);
        waiter.join().expect("waiter");
        assert!(done.load(Relaxed));
    }
}
