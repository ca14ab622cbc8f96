//! [`Synchronized`]: deterministic data-parallel training over shared parameters.

use super::Optimizer;
use crate::nodes::ParameterNode;
use crate::Variable;
use std::collections::{BTreeSet, VecDeque};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};

/// The meeting point of the threads of a synchronized training run; see
/// [`Synchronized`].
///
/// ```
/// use wyrm::optim::SynchronizationBarrier;
///
/// let barrier = SynchronizationBarrier::new();
/// let first = barrier.register();
/// let second = barrier.register();
/// assert_eq!(barrier.registered(), 2);
/// assert!(first.id() < second.id());
/// drop(first);
/// assert_eq!(barrier.registered(), 1);
/// ```
#[derive(Debug, Default)]
pub struct SynchronizationBarrier {
    state: Mutex<State>,
    changed: Condvar,
}

#[derive(Debug, Default)]
struct State {
    next_id: u64,
    /// Handles currently registered.
    registered: BTreeSet<u64>,
    /// Handles waiting for the current round to start.
    arrived: BTreeSet<u64>,
    /// While a round is being applied: the handles still to apply, in order (the front one
    /// is applying now).
    applying: Option<VecDeque<u64>>,
    /// Number of rounds completed.
    rounds: u64,
    /// Number of turns (updates) applied, over all rounds.
    turns: u64,
}

impl State {
    /// Starts applying a round if every registered handle has arrived.
    fn maybe_start(&mut self) -> bool {
        if self.applying.is_none()
            && !self.arrived.is_empty()
            && self.registered.is_subset(&self.arrived)
        {
            // `BTreeSet` iterates in ascending id order: registration order.
            self.applying = Some(std::mem::take(&mut self.arrived).into_iter().collect());
            true
        } else {
            false
        }
    }

    /// Marks `id` as done applying (if it is the one applying), ending the round after the
    /// last one.
    fn finish_turn(&mut self, id: u64) {
        if let Some(queue) = &mut self.applying {
            if queue.front() == Some(&id) {
                queue.pop_front();
                self.turns += 1;
            }
            if queue.is_empty() {
                self.applying = None;
                self.rounds += 1;
            }
        }
    }
}

impl SynchronizationBarrier {
    /// A barrier with nobody registered yet.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use wyrm::optim::SynchronizationBarrier;
    ///
    /// let barrier: Arc<SynchronizationBarrier> = SynchronizationBarrier::new();
    /// assert_eq!((barrier.registered(), barrier.rounds()), (0, 0));
    /// ```
    pub fn new() -> Arc<Self> {
        Arc::new(Self::default())
    }

    /// A barrier that counts on from `turns` updates applied before, to resume a run
    /// from a checkpoint, or to go on with a new barrier for the next epoch: [`Synchronized`] tells its optimizer the number of turns applied
    /// so far before each of its own ([`Optimizer::set_update_count`]), which replaces a
    /// step count set on the optimizer (`Adam::set_steps`). Save [`turns`](Self::turns)
    /// with the checkpoint and pass it here.
    ///
    /// ```
    /// use wyrm::optim::{Optimizer, SynchronizationBarrier, Synchronized};
    /// use wyrm::*;
    ///
    /// let w = ParameterNode::new(ndarray::arr2(&[[1.0]]));
    /// let loss = w.square();
    /// let saved_turns = 1000; // a checkpoint's `barrier.turns()`
    /// let barrier = SynchronizationBarrier::resuming(saved_turns);
    /// let adam = Adam::new(0.1, loss.parameters());
    /// let mut optimizer = Synchronized::new(adam, barrier.register(), 1);
    /// loss.forward();
    /// loss.backward(1.0);
    /// optimizer.step();
    /// // Adam's bias correction went on from the saved count.
    /// assert_eq!(optimizer.inner().steps(), 1001);
    /// assert_eq!(barrier.turns(), 1001);
    /// ```
    pub fn resuming(turns: u64) -> Arc<Self> {
        let barrier = Self::default();
        barrier.lock().turns = turns;
        Arc::new(barrier)
    }

    /// How many turns (updates, one per participant and round) have been applied so far,
    /// counting from [`resuming`](Self::resuming)'s start: what a checkpoint saves.
    ///
    /// ```
    /// use wyrm::optim::SynchronizationBarrier;
    ///
    /// assert_eq!(SynchronizationBarrier::new().turns(), 0);
    /// assert_eq!(SynchronizationBarrier::resuming(7).turns(), 7);
    /// ```
    pub fn turns(&self) -> u64 {
        self.lock().turns
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A thread that panicked while applying its update leaves consistent state
        // behind (its handle's drop finishes its turn), so poisoning is ignored.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn wait<'a>(&self, guard: MutexGuard<'a, State>) -> MutexGuard<'a, State> {
        self.changed
            .wait(guard)
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// Registers a new participant. Handles registered earlier apply their updates
    /// earlier in every round. If a round is being applied, waits until it is over.
    ///
    /// ```
    /// use wyrm::optim::SynchronizationBarrier;
    ///
    /// let barrier = SynchronizationBarrier::new();
    /// // One handle per worker thread, registered here so that the order is fixed.
    /// let handles: Vec<_> = (0..3).map(|_| barrier.register()).collect();
    /// assert_eq!(barrier.registered(), 3);
    /// assert!(handles.windows(2).all(|pair| pair[0].id() < pair[1].id()));
    /// ```
    pub fn register(self: &Arc<Self>) -> SyncHandle {
        let mut state = self.lock();
        while state.applying.is_some() {
            state = self.wait(state);
        }
        let id = state.next_id;
        state.next_id += 1;
        state.registered.insert(id);
        SyncHandle {
            barrier: self.clone(),
            id,
        }
    }

    /// How many handles are registered now.
    ///
    /// ```
    /// use wyrm::optim::{SynchronizationBarrier, Synchronized};
    /// use wyrm::*;
    ///
    /// let w = ParameterNode::new(ndarray::arr2(&[[1.0]]));
    /// let barrier = SynchronizationBarrier::new();
    /// let optimizer = Synchronized::new(SGD::new(0.1, vec![w]), barrier.register(), 4);
    /// assert_eq!(barrier.registered(), 1);
    /// drop(optimizer); // its handle leaves the barrier
    /// assert_eq!(barrier.registered(), 0);
    /// ```
    pub fn registered(&self) -> usize {
        self.lock().registered.len()
    }

    /// How many rounds have been applied so far.
    ///
    /// ```
    /// use wyrm::optim::{SynchronizationBarrier, Synchronized};
    /// use wyrm::*;
    ///
    /// let w = ParameterNode::new(ndarray::arr2(&[[1.0]]));
    /// let loss = w.square();
    /// let barrier = SynchronizationBarrier::new();
    /// // A lone participant never waits: every round starts as soon as it arrives.
    /// let sgd = SGD::new(0.1, loss.parameters());
    /// let mut optimizer = Synchronized::new(sgd, barrier.register(), 2);
    /// for _ in 0..6 {
    ///     loss.forward();
    ///     loss.backward(1.0);
    ///     optimizer.step();
    ///     optimizer.zero_gradients();
    /// }
    /// assert_eq!(barrier.rounds(), 3);
    /// ```
    pub fn rounds(&self) -> u64 {
        self.lock().rounds
    }

    /// Waits until every registered handle has arrived, runs `apply` when it is `id`'s
    /// turn, and returns once every participant of the round has applied.
    /// Meets the others and applies `apply` in turn; `apply` gets the number of turns
    /// applied before this one, in all rounds.
    fn synchronize(&self, id: u64, apply: impl FnOnce(u64)) {
        let mut state = self.lock();
        while state.applying.is_some() {
            state = self.wait(state);
        }
        state.arrived.insert(id);
        if state.maybe_start() {
            self.changed.notify_all();
        }
        while state.applying.as_ref().and_then(|q| q.front()) != Some(&id) {
            state = self.wait(state);
        }
        let (round, turns) = (state.rounds, state.turns);
        drop(state);

        /// Ends the turn even if `apply` panics, so the others do not wait forever.
        struct Turn<'a>(&'a SynchronizationBarrier, u64);
        impl Drop for Turn<'_> {
            fn drop(&mut self) {
                self.0.lock().finish_turn(self.1);
                self.0.changed.notify_all();
            }
        }
        let turn = Turn(self, id);
        apply(turns);
        drop(turn);

        let mut state = self.lock();
        while state.rounds == round {
            state = self.wait(state);
        }
    }

    fn deregister(&self, id: u64) {
        let mut state = self.lock();
        state.registered.remove(&id);
        state.arrived.remove(&id);
        if let Some(queue) = &mut state.applying {
            if queue.front() != Some(&id) {
                queue.retain(|&other| other != id);
            }
        }
        state.maybe_start();
        drop(state);
        self.changed.notify_all();
    }
}

/// A registration at a [`SynchronizationBarrier`]: give one to each thread's
/// [`Synchronized`] optimizer. Dropping it leaves the barrier.
///
/// Handles can be sent to other threads; register them on one thread to fix the order.
///
/// ```
/// use wyrm::optim::SynchronizationBarrier;
///
/// let barrier = SynchronizationBarrier::new();
/// let handle = barrier.register();
/// std::thread::spawn(move || {
///     assert_eq!(handle.barrier().registered(), 1);
///     // The handle is dropped here, when the thread ends.
/// })
/// .join()
/// .unwrap();
/// assert_eq!(barrier.registered(), 0);
/// ```
#[derive(Debug)]
pub struct SyncHandle {
    barrier: Arc<SynchronizationBarrier>,
    id: u64,
}

impl SyncHandle {
    /// The registration number; rounds apply updates in increasing order of it.
    ///
    /// ```
    /// use wyrm::optim::SynchronizationBarrier;
    ///
    /// let barrier = SynchronizationBarrier::new();
    /// let first = barrier.register();
    /// let first_id = first.id();
    /// drop(first);
    /// // Numbers are not reused: a handle registered later applies later.
    /// assert!(barrier.register().id() > first_id);
    /// ```
    pub fn id(&self) -> u64 {
        self.id
    }

    /// The barrier this handle is registered at.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use wyrm::optim::SynchronizationBarrier;
    ///
    /// let barrier = SynchronizationBarrier::new();
    /// let handle = barrier.register();
    /// assert!(Arc::ptr_eq(handle.barrier(), &barrier));
    /// ```
    pub fn barrier(&self) -> &Arc<SynchronizationBarrier> {
        &self.barrier
    }
}

impl Drop for SyncHandle {
    fn drop(&mut self) {
        self.barrier.deregister(self.id);
    }
}

/// An optimizer wrapper for deterministic data-parallel training.
///
/// Hogwild training is fast but not reproducible: which update lands first, and which
/// values a forward pass reads, depend on the scheduler. In synchronized mode every thread
/// still trains its own graph over [`shared`](crate::ParameterNode::shared) parameters, but
/// its optimizer is wrapped in [`Synchronized`]:
///
/// 1. for `k` steps the thread only accumulates gradients (its `step` calls are counted,
///    its `zero_gradients` calls deferred), reading parameters nobody writes meanwhile;
/// 2. then it waits at a [`SynchronizationBarrier`] until every registered thread has
///    arrived;
/// 3. the threads apply their accumulated updates one after another, in the order in which
///    their handles were [registered](SynchronizationBarrier::register), and clear their
///    gradients;
/// 4. once all have applied, all go on with the next `k` steps.
///
/// Nothing is read while anything is written, and the writes happen in a fixed order, so
/// two runs with the same data per thread give bit-identical parameters — provided the
/// handles are registered in the same order (register them on one thread before spawning
/// the workers, as below), and that anything random in the threads' graphs is seeded:
/// seed each thread's dropout through its [`TrainingFlag::seed`](crate::TrainingFlag::seed)
/// (a `model!` graph built by `from_parameters` has a random one).
///
/// Threads can join and leave at any time. A new handle joins from the next round on (if a
/// round is being applied, [`register`](SynchronizationBarrier::register) waits for it to
/// finish); dropping a handle (or the `Synchronized` owning it) leaves, and the others no
/// longer wait for it. Where threads join or leave depends on timing, the result of
/// course does too. A round waits for every registered handle, so a handle that is
/// registered but never used (say, kept by the spawning thread) blocks the others: give
/// each handle to a thread that trains, or drop it.
///
/// For the same reason every handle needs a thread of its own that runs at the same time
/// as the others, such as `std::thread::scope` gives (below). A rayon `par_iter` over more
/// handles than the pool has threads hangs: the tasks that run wait at the barrier for
/// tasks that never get a thread. So does one thread taking turns with two handles.
///
/// **End with [`finish`](Synchronized::finish).** A thread whose step count is not a
/// multiple of `k` ends with up to `k - 1` steps not yet applied: `finish` applies them in
/// a last round, while dropping the wrapper discards them (so that they cannot leak into
/// whatever trains the parameters next). A new user's loop of 500,000 steps per epoch at
/// `k = 64` lost 32 steps per thread and epoch that way.
///
/// The accumulated gradient is the *sum* over the `k` steps (no averaging): scale the
/// learning rate to suit.
///
/// Each turn is a full step of the thread's optimizer on the shared state, so a round of
/// `n` threads takes `n` steps. With SGD that adds the threads' gradients; an adaptive
/// optimizer normalises each thread's sum on its own. With Adam a round moves a
/// parameter about `n` times as far as one thread's step would: divide its learning rate
/// by `n` for one thread's pace. Adagrad's shared sums of squares grow `n` times as fast
/// too, which takes back part of that: about `√n` times as far, so divide by `√n`.
/// Before each turn the wrapper tells its optimizer how many turns all threads have
/// applied so far ([`Optimizer::set_update_count`]), so that Adam's bias correction
/// counts every update the shared moments received, not only its own thread's. That
/// replaces a step count set with `Adam::set_steps`: to resume from a checkpoint, save
/// the barrier's [`turns`](SynchronizationBarrier::turns) and start again on
/// [`SynchronizationBarrier::resuming`] with it.
///
/// Choosing `k`: each round costs a barrier (a few microseconds of waiting and waking)
/// plus the turns of the updates, so it pays when `k` steps take much longer than that.
/// With steps of about a microsecond (small sparse models), two threads gained nothing at
/// `k = 8` and ran about 1.7x to 1.9x one thread's speed at `k = 64` to `512`; larger
/// steps allow a smaller `k`. But a round is one update per thread whatever `k` is, and
/// an adaptive optimizer normalises it: `k` steps' worth of data make one Adam or Adagrad
/// step of about the usual size, so a large `k` trains like a large batch with few
/// updates. A new user's 1,124 steps at `k = 64` made about 18 Adam updates, and
/// the held-out AUC fell from about 0.75 to 0.64; raise the learning rate or lower `k`.
///
/// The turns are taken one thread after another, so the updates do not run in parallel:
/// if the optimizer's step is a share `s` of a thread's step, `n` threads run at most
/// `1 / (s + (1 - s) / n)` times one thread's speed. A new user's two-tower model at
/// batch 256, whose Adam step over shared parameters took about a third of the step (a
/// step over shared parameters costs about 2x one over local ones), ran 0.74x to 1.36x
/// one thread's speed on 2 threads at `k = 1`; larger batches or a larger `k` raise that.
///
/// A run that goes on with a new barrier (one per epoch, say, with a thread scope per
/// epoch) must build it with [`SynchronizationBarrier::resuming`] from the last one's
/// [`turns`](SynchronizationBarrier::turns): a new barrier counts from 0, and Adam's bias
/// correction would start over each time (a new user's loss after three epochs was
/// 4.39 against 4.31 with one barrier).
///
/// ```
/// use std::sync::Arc;
/// use rand::{Rng, SeedableRng};
/// use wyrm::optim::{Optimizer, Synchronized, SynchronizationBarrier};
/// use wyrm::*;
///
/// let slope = Arc::new(HogwildParameter::new(ndarray::arr2(&[[0.0]])));
/// let intercept = Arc::new(HogwildParameter::new(ndarray::arr2(&[[0.0]])));
/// let barrier = SynchronizationBarrier::new();
/// // Register on this thread, in a fixed order, so that the update order is reproducible.
/// let handles: Vec<_> = (0..2).map(|_| barrier.register()).collect();
/// std::thread::scope(|scope| {
///     for (seed, handle) in handles.into_iter().enumerate() {
///         let (slope, intercept) = (slope.clone(), intercept.clone());
///         scope.spawn(move || {
///             let mut rng = rand::rngs::StdRng::seed_from_u64(seed as u64);
///             let slope = ParameterNode::shared(slope);
///             let intercept = ParameterNode::shared(intercept);
///             let x = InputNode::new(ndarray::arr2(&[[0.0]]));
///             let y = InputNode::new(ndarray::arr2(&[[0.0]]));
///             let loss = (y.clone() - (slope * x.clone() + intercept)).square();
///             // Apply the summed gradient of every 4 steps, in turn with the other thread.
///             let sgd = SGD::new(0.02, loss.parameters());
///             let mut optimizer = Synchronized::new(sgd, handle, 4);
///             for _ in 0..2001 {
///                 let x_value: f32 = rng.gen();
///                 x.set_value(x_value);
///                 y.set_value(3.0 * x_value + 5.0);
///                 loss.forward();
///                 loss.backward(1.0);
///                 optimizer.step();
///                 optimizer.zero_gradients();
///             }
///             // Applies the last step (2001 is not a multiple of 4), and leaves.
///             optimizer.finish();
///         });
///     }
/// });
/// assert!((slope.value()[(0, 0)] - 3.0).abs() < 0.1);
/// assert!((intercept.value()[(0, 0)] - 5.0).abs() < 0.1);
/// ```
///
/// Use it over [`shared`](crate::ParameterNode::shared) parameters; with private ones
/// there is nothing to synchronize.
#[derive(Debug)]
pub struct Synchronized<O: Optimizer> {
    /// Always `Some`, except inside [`finish`](Self::finish), which takes it out.
    inner: Option<O>,
    handle: SyncHandle,
    every: usize,
    pending: usize,
}

impl<O: Optimizer> Synchronized<O> {
    /// Wraps `inner`: every `every`-th call of [`step`](Optimizer::step) meets the other
    /// threads registered at `handle`'s barrier and applies the gradients accumulated
    /// since the previous one.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use wyrm::optim::{SynchronizationBarrier, Synchronized};
    /// use wyrm::*;
    ///
    /// let shared = Arc::new(HogwildParameter::new(ndarray::arr2(&[[1.0]])));
    /// let w = ParameterNode::shared(shared.clone());
    /// let loss = w.square();
    /// let barrier = SynchronizationBarrier::new();
    /// let sgd = SGD::new(0.125, loss.parameters());
    /// let mut optimizer = Synchronized::new(sgd, barrier.register(), 2);
    /// for step in 1..=2 {
    ///     loss.forward();
    ///     loss.backward(1.0);
    ///     optimizer.step();
    ///     optimizer.zero_gradients();
    ///     if step == 1 {
    ///         assert_eq!(shared.value()[(0, 0)], 1.0, "no update yet");
    ///     }
    /// }
    /// // The second step applies both gradients (2 + 2) at once: 1 - 0.125 * 4.
    /// assert_eq!(shared.value()[(0, 0)], 0.5);
    /// ```
    ///
    /// # Panics
    /// If `every` is 0.
    #[track_caller]
    pub fn new(inner: O, handle: SyncHandle, every: usize) -> Self {
        assert!(every > 0, "Synchronized::new: `every` must be at least 1");
        Synchronized {
            inner: Some(inner),
            handle,
            every,
            pending: 0,
        }
    }

    /// Joins the next round now with the gradients accumulated so far (possibly none),
    /// whatever the step count.
    ///
    /// ```
    /// # use std::sync::Arc;
    /// # use wyrm::optim::{SynchronizationBarrier, Synchronized};
    /// # use wyrm::*;
    /// let shared = Arc::new(HogwildParameter::new(ndarray::arr2(&[[1.0]])));
    /// let w = ParameterNode::shared(shared.clone());
    /// let loss = w.square(); // gradient 2 while w = 1
    /// let barrier = SynchronizationBarrier::new();
    /// let mut optimizer =
    ///     Synchronized::new(SGD::new(0.125, loss.parameters()), barrier.register(), 100);
    /// loss.forward();
    /// loss.backward(1.0);
    /// optimizer.step();
    /// optimizer.synchronize(); // e.g. at the end of an epoch
    /// assert_eq!(optimizer.pending_steps(), 0);
    /// assert_eq!(shared.value()[(0, 0)], 0.75);
    /// ```
    pub fn synchronize(&mut self) {
        let inner = self.inner.as_mut().expect("present until finish");
        self.handle.barrier.synchronize(self.handle.id, |turns| {
            inner.set_update_count(turns);
            inner.step();
        });
        inner.zero_gradients();
        self.pending = 0;
    }

    /// Applies any pending steps at a last round, then leaves the barrier. That round
    /// applies every gradient accumulated since the previous one: a backward pass with no
    /// `step` after it is applied along with the pending steps (gradients carry no record
    /// of which step they belong to). With no step pending, there is no round, and such a
    /// gradient is cleared, as on drop. (Dropping the wrapper also leaves, but discards the
    /// pending steps' gradients too.)
    ///
    /// ```
    /// # use std::sync::Arc;
    /// # use wyrm::optim::{SynchronizationBarrier, Synchronized};
    /// # use wyrm::*;
    /// let shared = Arc::new(HogwildParameter::new(ndarray::arr2(&[[1.0]])));
    /// let w = ParameterNode::shared(shared.clone());
    /// let loss = w.square(); // gradient 2 while w = 1
    /// let barrier = SynchronizationBarrier::new();
    /// let mut optimizer =
    ///     Synchronized::new(SGD::new(0.125, loss.parameters()), barrier.register(), 100);
    /// loss.forward();
    /// loss.backward(1.0);
    /// optimizer.step();
    /// let sgd: SGD = optimizer.finish();
    /// assert_eq!(shared.value()[(0, 0)], 0.75, "the pending step was applied");
    /// assert_eq!(barrier.registered(), 0);
    /// assert_eq!(sgd.learning_rate(), 0.125);
    /// ```
    pub fn finish(mut self) -> O {
        if self.pending > 0 {
            self.synchronize();
        }
        let mut inner = self.inner.take().expect("present until finish");
        inner.zero_gradients();
        inner
    }

    /// Steps taken since the last round.
    ///
    /// ```
    /// # use std::sync::Arc;
    /// # use wyrm::optim::{SynchronizationBarrier, Synchronized};
    /// # use wyrm::*;
    /// let shared = Arc::new(HogwildParameter::new(ndarray::arr2(&[[1.0]])));
    /// let w = ParameterNode::shared(shared.clone());
    /// let loss = w.square(); // gradient 2 while w = 1
    /// let barrier = SynchronizationBarrier::new();
    /// let mut optimizer =
    ///     Synchronized::new(SGD::new(0.125, loss.parameters()), barrier.register(), 3);
    /// for _ in 0..2 {
    ///     loss.forward();
    ///     loss.backward(1.0);
    ///     optimizer.step();
    /// }
    /// assert_eq!(optimizer.pending_steps(), 2);
    /// optimizer.step(); // the third step synchronizes
    /// assert_eq!(optimizer.pending_steps(), 0);
    /// ```
    pub fn pending_steps(&self) -> usize {
        self.pending
    }

    /// The wrapped optimizer.
    ///
    /// ```
    /// use wyrm::optim::{SynchronizationBarrier, Synchronized};
    /// use wyrm::*;
    ///
    /// let w = ParameterNode::new(ndarray::arr2(&[[1.0]]));
    /// let barrier = SynchronizationBarrier::new();
    /// let optimizer = Synchronized::new(Adam::new(0.01, vec![w]), barrier.register(), 4);
    /// assert_eq!(optimizer.inner().learning_rate(), 0.01);
    /// assert_eq!(optimizer.inner().parameters().len(), 1);
    /// ```
    pub fn inner(&self) -> &O {
        self.inner.as_ref().expect("present until finish")
    }

    /// The wrapped optimizer, e.g. to change its learning rate.
    ///
    /// ```
    /// use wyrm::optim::{SynchronizationBarrier, Synchronized};
    /// use wyrm::*;
    ///
    /// let w = ParameterNode::new(ndarray::arr2(&[[1.0]]));
    /// let barrier = SynchronizationBarrier::new();
    /// let mut optimizer = Synchronized::new(SGD::new(0.1, vec![w]), barrier.register(), 4);
    /// optimizer.inner_mut().set_learning_rate(0.01);
    /// assert_eq!(optimizer.inner().learning_rate(), 0.01);
    /// ```
    pub fn inner_mut(&mut self) -> &mut O {
        self.inner.as_mut().expect("present until finish")
    }
}

impl<O: Optimizer> Drop for Synchronized<O> {
    /// Clears the gradients not yet applied (of counted steps, or of a backward pass with
    /// no `step` after it), so that they do not leak into whatever trains the parameters
    /// next; the handle then leaves the barrier.
    fn drop(&mut self) {
        if let Some(inner) = &mut self.inner {
            inner.zero_gradients();
        }
    }
}

impl<O: Optimizer> Optimizer for Synchronized<O> {
    /// Counts a step; every `k`-th one synchronizes (waits for the other threads, applies
    /// this thread's summed gradient in turn, clears it).
    fn step(&mut self) {
        self.pending += 1;
        if self.pending >= self.every {
            self.synchronize();
        }
    }

    /// Does nothing: gradients keep accumulating until the synchronizing step, which
    /// clears them.
    fn zero_gradients(&mut self) {}

    /// Applies the pending steps at a round, as [`synchronize`](Self::synchronize) does;
    /// with none pending, joins no round.
    fn flush(&mut self) {
        if self.pending > 0 {
            self.synchronize();
        }
    }

    fn parameters(&self) -> &[Variable<ParameterNode>] {
        self.inner().parameters()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    /// `flush` through `dyn Optimizer`: pending steps are applied at a round and the
    /// handle stays registered; with none pending, no round is joined.
    #[test]
    fn flush_applies_pending_steps_through_dyn_optimizer() {
        use crate::{HogwildParameter, SGD};
        let shared = std::sync::Arc::new(HogwildParameter::new(ndarray::arr2(&[[1.0]])));
        let w = ParameterNode::shared(shared.clone());
        let loss = w.square();
        let barrier = SynchronizationBarrier::new();
        let mut optimizer: Box<dyn Optimizer> = Box::new(Synchronized::new(
            SGD::new(0.125, loss.parameters()),
            barrier.register(),
            10,
        ));
        optimizer.flush();
        assert_eq!(barrier.rounds(), 0, "nothing pending: no round");
        for _ in 0..2 {
            loss.forward();
            loss.backward(1.0);
            optimizer.step();
        }
        optimizer.flush();
        // Both steps' gradients (2 each, at w = 1), summed and applied at one round.
        assert_eq!(shared.value()[(0, 0)], 0.5);
        assert_eq!((barrier.rounds(), barrier.registered()), (1, 1));
        optimizer.flush();
        assert_eq!(barrier.rounds(), 1);
    }

    #[test]
    fn rounds_apply_in_registration_order() {
        let barrier = SynchronizationBarrier::new();
        let handles: Vec<_> = (0..4).map(|_| barrier.register()).collect();
        let order = Mutex::new(Vec::new());
        std::thread::scope(|scope| {
            // Spawn in reverse so arrival order differs from registration order.
            for handle in handles.into_iter().rev() {
                let order = &order;
                scope.spawn(move || {
                    for round in 0..3 {
                        handle.barrier().synchronize(handle.id(), |_| {
                            order.lock().unwrap().push((round, handle.id()))
                        });
                    }
                });
            }
        });
        let expected: Vec<_> = (0..3).flat_map(|r| (0..4).map(move |i| (r, i))).collect();
        assert_eq!(*order.lock().unwrap(), expected);
        assert_eq!(barrier.rounds(), 3);
        assert_eq!(barrier.registered(), 0);
    }

    #[test]
    fn a_panicking_participant_does_not_block_the_others() {
        let barrier = SynchronizationBarrier::new();
        let (a, b) = (barrier.register(), barrier.register());
        let applied = AtomicUsize::new(0);
        std::thread::scope(|scope| {
            let bad = scope.spawn(move || {
                a.barrier().synchronize(a.id(), |_| panic!("update failed"));
            });
            let applied = &applied;
            scope.spawn(move || {
                for _ in 0..3 {
                    b.barrier().synchronize(b.id(), |_| {
                        applied.fetch_add(1, Ordering::Relaxed);
                    });
                }
            });
            assert!(bad.join().is_err());
        });
        assert_eq!(applied.load(Ordering::Relaxed), 3);
    }

    #[test]
    fn dropping_the_wrapper_clears_the_steps_it_did_not_apply() {
        use crate::{HogwildParameter, ParameterNode, SGD};
        let shared = Arc::new(HogwildParameter::new(ndarray::arr2(&[[1.0]])));
        let w = ParameterNode::shared(shared.clone());
        let loss = w.square();
        let barrier = SynchronizationBarrier::new();
        // A boxed optimizer can be wrapped too.
        let inner: Box<dyn Optimizer> = Box::new(SGD::new(0.1, loss.parameters()));
        let mut optimizer = Synchronized::new(inner, barrier.register(), 10);
        for _ in 0..3 {
            loss.forward();
            loss.backward(1.0);
            optimizer.step();
            optimizer.zero_gradients();
        }
        assert_eq!(w.gradient()[(0, 0)], 6.0, "three steps' gradients pending");
        drop(optimizer);
        assert_eq!(w.gradient()[(0, 0)], 0.0);
        // Also a backward pass with no step after it, when no step is pending.
        let optimizer = Synchronized::new(SGD::new(0.1, loss.parameters()), barrier.register(), 1);
        loss.forward();
        loss.backward(1.0);
        assert_eq!(optimizer.pending_steps(), 0);
        drop(optimizer);
        assert_eq!(w.gradient()[(0, 0)], 0.0);
        // And `finish`, likewise.
        let optimizer = Synchronized::new(SGD::new(0.1, loss.parameters()), barrier.register(), 1);
        loss.forward();
        loss.backward(1.0);
        drop(optimizer.finish());
        assert_eq!(w.gradient()[(0, 0)], 0.0);
        assert_eq!(barrier.registered(), 0);
        assert_eq!(shared.value()[(0, 0)], 1.0, "nothing applied");
        // With steps pending, `finish`'s round applies such a gradient along with them.
        let x = crate::InputNode::new(ndarray::arr2(&[[1.0]]));
        let linear = w.clone() * x; // gradient 1 per backward pass
        let sgd = SGD::new(0.1, linear.parameters());
        let mut optimizer = Synchronized::new(sgd, barrier.register(), 10);
        for _ in 0..3 {
            linear.forward();
            linear.backward(1.0);
            optimizer.step();
        }
        linear.forward();
        linear.backward(1.0);
        drop(optimizer.finish());
        assert!(
            (shared.value()[(0, 0)] - 0.6).abs() < 1e-6,
            "four gradients applied"
        );
        shared.set_value(&ndarray::arr2(&[[1.0]]));
        // The next optimizer applies only its own step's gradient.
        let mut plain = SGD::new(0.1, loss.parameters());
        loss.forward();
        loss.backward(1.0);
        plain.step();
        assert_eq!(shared.value()[(0, 0)], 0.8);
    }
}
