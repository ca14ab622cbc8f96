//! [`HogwildParameter`]: parameter storage shared by several threads that update it without
//! locks.
//!
//! # Soundness
//!
//! Hogwild training lets threads read and write the same parameter at once. In Rust's
//! memory model a plain `f32` written by one thread while another reads it is a data race,
//! which is undefined behaviour whatever the hardware does. So every element is an
//! [`AtomicU32`] holding the bit pattern of an `f32`, and all shared accesses are `Relaxed`
//! loads and stores:
//!
//! - no data race exists, so there is no undefined behaviour;
//! - a load returns some value that was stored (never a torn mix of two `f32`s);
//! - nothing is ordered across elements, which is exactly Hogwild's contract: a reader may
//!   see a row half-updated, and concurrent read-modify-writes may lose an update.
//!
//! On x86_64 and ARM64 relaxed 32-bit loads and stores compile to plain moves, so the
//! price is only that such loops are not vectorised. Graph nodes therefore copy what they
//! read (a whole dense parameter, or just the looked-up rows) into their own buffers once
//! per forward pass and run the SIMD kernels on the copy.
//!
//! Optimizer state (Adagrad accumulators, Adam moments) lives here too, in the same atomic
//! form, so every thread's optimizer updates the same accumulators.
//!
//! # Cost
//!
//! Per element, a relaxed access is as cheap as a plain one, but it cannot be merged into
//! vector loads and stores, and on a memory-bound step the many scalar accesses keep the
//! CPU from overlapping cache misses. Hand-written sparse-mf (`benches/hogwild.rs`) runs
//! 2x to 2.5x slower on atomic tables than on plain `Vec<f32>`s; in an experiment, the
//! same code with plain but scalar (`read_volatile`) accesses was just as slow, so it is
//! the scalar access pattern, not atomicity, that costs. Shared updates copy each stretch
//! to the stack, run the same vectorised loop as local storage on the copy (so both give
//! bit-identical results) and store it back. Callgrind counts about 1,150 more
//! instructions per sparse-mf step over shared tables than over local ones (about 3,500
//! against 2,300), nearly all in those scalar copies and in copying the looked-up rows;
//! the copies are unrolled by eight, which is all a compiler may do with atomics.
//! Wyrm prefetches (on x86_64) the optimizer state of looked-up rows, which the update
//! reads next, for shared as for local tables. Measured with `examples/hogwild_scaling`
//! on a 2-core machine (sparse-mf, Adagrad): one thread over shared parameters takes
//! 1.3x to 1.8x the time per step of one thread over unshared ones (2.1x without the
//! prefetch); the difference, 100 to 200 ns a step, is the roughly 320 scalar atomic loads
//! and stores of the two 32-wide rows and their accumulators. Two threads over shared
//! parameters run 2.1x to 2.5x the steps per second of one (when the machine is otherwise
//! idle), as do two threads over separate tables: sharing itself costs no scaling. On a
//! 16-core Xeon (same example, medians of 7 runs of 200,000 steps per thread), total
//! steps per second over 1 thread were 2.78x with 2 threads, 3.75x with 4, 6.81x with 8
//! and 12.2x with 16; there one shared thread took 1.44x the unshared time per step.
//!
//! The fastest sound alternative we measured is a `Mutex` per row (hand-written, in the
//! same benchmark): rows are then copied and updated with vector instructions under an
//! uncontended lock, and a step costs about 1.3x the plain single-thread one against
//! 2.8x for hand-written relaxed atomics, with the same 2x from two threads. It would
//! serialise threads on the rows of small dense parameters, though, which every step
//! touches, so the storage here stays lock-free.
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
//!   next forward pass, or after an update made through that node. Consequently
//!   `Variable::value()` on a shared node returns that snapshot, not necessarily what
//!   other threads wrote since:
//!   read [`HogwildParameter::value`] for the current values.
//! - **Lost updates.** An update is a relaxed load, a computation and a relaxed store, per
//!   element. Two threads updating the same element at once may each overwrite the
//!   other's store, so one of the two updates is lost. Hogwild accepts this: with sparse
//!   models collisions are rare, and dense ones converge anyway at small learning rates.
//!   The same holds for optimizer state (an Adagrad accumulator may miss a `g²`).
//! - **One optimizer kind per parameter.** The state slots are shared by position: SGD
//!   with momentum and Adagrad both use slot 0. Let all threads train a parameter with the
//!   same kind of optimizer. Per-optimizer counters (Adam's step count for its bias
//!   correction) stay with each thread's optimizer.
//! - **Copies start fresh.** `Variable::hogwild_parameter` on a local (unshared) parameter
//!   copies its values, not its optimizer state.
//! - **Feed every thread the same distribution.** Hogwild converges like sequential SGD
//!   when, at every moment, all threads draw examples from the same distribution: let each
//!   thread go through the whole data set in its own shuffled order. Giving each thread a
//!   fixed shard works worse than it looks: the threads do not run in lockstep (more
//!   threads than cores, or uneven speeds), so for stretches of time the updates come from
//!   a few shards only, and whichever threads finish last pull the model towards their
//!   shards. (Measured on the sparse-mf test, 4 threads on 2 cores, 10 passes, Adagrad
//!   0.3: with shards, 6 of 6 runs ended 3x to 130x above the one-thread held-out error,
//!   and 2x to 95x when a lock serialised the steps, so it is the ordering and not the
//!   races; with whole-set shuffles, 1 run of 6 (60x). With 20 passes and whole-set shuffles, 24 of 24 runs
//!   ended within 2.2x of one thread, all at the noise floor.)
//! - **Deterministic alternative.** For reproducible data-parallel training, wrap each
//!   thread's optimizer in [`Synchronized`](crate::optim::Synchronized): threads then take
//!   turns to apply their updates at a barrier instead of racing.

use crate::atomic_f32::AtomicF32s;
use ndarray::Array2;
use std::sync::OnceLock;

/// Number of per-element optimizer state slots a parameter keeps (Adam needs two).
pub(crate) const STATE_SLOTS: usize = 2;

/// A parameter matrix that several threads share and update without locks.
///
/// Build graphs over it with [`ParameterNode::shared`](crate::ParameterNode::shared), one
/// graph per thread.
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
}

impl HogwildParameter {
    /// Shared storage initialised with `value`.
    pub fn new(value: Array2<f32>) -> Self {
        let shape = value.dim();
        let values = AtomicF32s::new(value.iter().copied());
        HogwildParameter {
            shape,
            values,
            state: Default::default(),
        }
    }

    /// The shape `(rows, cols)`.
    pub fn shape(&self) -> (usize, usize) {
        self.shape
    }

    /// A snapshot of the current values. Safe to call while other threads train; rows
    /// being updated at that moment may be seen half-updated.
    pub fn value(&self) -> Array2<f32> {
        let mut data = vec![0.0; self.values.len()];
        self.values.load_into(0, &mut data);
        Array2::from_shape_vec(self.shape, data).expect("shape matches storage")
    }

    /// Overwrites the values (e.g. when loading a saved model).
    ///
    /// # Panics
    /// If `value` does not have this parameter's shape.
    pub fn set_value(&self, value: &Array2<f32>) {
        assert_eq!(
            value.dim(),
            self.shape,
            "HogwildParameter::set_value: the array is {}x{} but the parameter is {}x{}",
            value.nrows(),
            value.ncols(),
            self.shape.0,
            self.shape.1
        );
        let data: Vec<f32> = value.iter().copied().collect();
        self.values.store_from(0, &data);
    }

    /// The values, for relaxed copies in and out.
    pub(crate) fn values(&self) -> &AtomicF32s {
        &self.values
    }

    /// Optimizer state slot `slot`, created zeroed on first use.
    pub(crate) fn state(&self, slot: usize) -> &AtomicF32s {
        self.state[slot].get_or_init(|| AtomicF32s::zeros(self.values.len()))
    }

    /// Optimizer state slot `slot` if an update has created it (never allocates).
    #[inline]
    pub(crate) fn allocated_state(&self, slot: usize) -> Option<&AtomicF32s> {
        self.state[slot].get()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

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
}
