//! [`ParameterNode`]: a trainable matrix, held locally or shared across threads through a
//! [`HogwildParameter`].

use crate::atomic_f32::{AtomicF32s, Group};
use crate::hogwild::{HogwildParameter, STATE_SLOTS};
use crate::node::{GradientWrite, Node, Pass};
use crate::optim::UpdateRule;
use crate::shape::{check_static, Dim, Dyn, Static};
use crate::sparse::ParamGradient;
use crate::Variable;
use ndarray::{Array2, ArrayBase, ArrayView2, Data, Ix2};
use std::cell::{Cell, Ref, RefCell};
use std::marker::PhantomData;
use std::rc::Rc;
use std::sync::Arc;

mod rows;
mod state;

/// A trainable parameter: a leaf node whose value optimizers update from its gradient.
///
/// The dimensions `R` and `C` default to [`Dyn`] (shape known at run time); statically
/// shaped parameters come from [`ParameterNode::new_static`].
///
/// ```
/// use wyrm::*;
///
/// let w = ParameterNode::new(ndarray::arr2(&[[2.0]]));
/// let x = InputNode::new(ndarray::arr2(&[[3.0]]));
/// let y = w.clone() * x.clone();
/// y.forward();
/// y.backward(1.0);
/// assert_eq!(w.gradient()[(0, 0)], 3.0);
/// ```
// `repr(C)` with the dimension types only in a trailing zero-sized field: every
// instantiation has the same layout, which `erase` relies on.
#[repr(C)]
pub struct ParameterNode<R: Dim = Dyn, C: Dim = Dyn> {
    shape: (usize, usize),
    storage: Storage,
    gradient: RefCell<ParamGradient>,
    /// The latest forward pass that reached this node.
    pass: Cell<u64>,
    /// The pass whose values the shared cache holds (0: none).
    cached: Cell<u64>,
    /// Set by `set_frozen`: backward passes record no gradient here, so optimizers leave
    /// the parameter alone.
    frozen: Cell<bool>,
    _dims: PhantomData<fn() -> (R, C)>,
}

enum Storage {
    /// Owned by this thread's graphs: plain `f32`s, read in place.
    Local {
        value: RefCell<Vec<f32>>,
        state: RefCell<[Vec<f32>; STATE_SLOTS]>,
        /// The kind of optimizer that wrote `state` (`optim::state_kind`).
        state_kind: Cell<u8>,
    },
    /// Shared with other threads: read through relaxed atomics into `cache` (empty until
    /// a dense consumer first reads the whole value).
    Shared {
        param: Arc<HogwildParameter>,
        cache: RefCell<Vec<f32>>,
    },
}

impl std::fmt::Debug for ParameterNode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ParameterNode")
            .field("shape", &self.shape)
            .field("shared", &matches!(self.storage, Storage::Shared { .. }))
            .finish()
    }
}

impl<R: Dim, C: Dim> ParameterNode<R, C> {
    #[track_caller]
    fn build(storage: Storage, shape: (usize, usize)) -> Variable<Self> {
        check_static::<R, C>("ParameterNode", shape);
        let node = Rc::new(ParameterNode {
            shape,
            storage,
            gradient: RefCell::new(ParamGradient::new(shape)),
            pass: Cell::new(0),
            cached: Cell::new(0),
            frozen: Cell::new(false),
            _dims: PhantomData,
        });
        let erased = erase(node.clone());
        Variable::from_parts(node, crate::variable::Links::parameters(Rc::from([erased])))
    }

    #[track_caller]
    pub(crate) fn local(value: Array2<f32>) -> Variable<Self> {
        let shape = value.dim();
        let data = value.as_standard_layout().iter().copied().collect();
        Self::build(
            Storage::Local {
                value: RefCell::new(data),
                state: RefCell::new(Default::default()),
                state_kind: Cell::new(crate::optim::state_kind::NONE),
            },
            shape,
        )
    }

    #[track_caller]
    pub(crate) fn over(param: Arc<HogwildParameter>) -> Variable<Self> {
        let shape = param.shape();
        let cache = RefCell::new(Vec::new());
        Self::build(Storage::Shared { param, cache }, shape)
    }

    /// Whether this node reads and writes a shared [`HogwildParameter`].
    ///
    /// ```
    /// use std::sync::Arc;
    /// use wyrm::*;
    ///
    /// let local = ParameterNode::new(random_matrix(2, 2));
    /// let shared = ParameterNode::shared(Arc::new(HogwildParameter::new(random_matrix(2, 2))));
    /// assert!(!local.node().is_shared());
    /// assert!(shared.node().is_shared());
    /// ```
    pub fn is_shared(&self) -> bool {
        matches!(self.storage, Storage::Shared { .. })
    }

    /// Copies the given rows of the current value into `out` (`indices.len() x cols`;
    /// `cols` is the parameter's column count, a constant when it is static).
    #[inline(always)]
    pub(crate) fn read_rows(&self, indices: &[usize], cols: usize, out: &mut [f32]) {
        match &self.storage {
            Storage::Local { value, .. } => {
                let value = value.borrow();
                for (j, &row) in indices.iter().enumerate() {
                    crate::kernels::copy(
                        &mut out[j * cols..(j + 1) * cols],
                        &value[row * cols..(row + 1) * cols],
                    );
                }
            }
            Storage::Shared { param, .. } => param.values().load_rows(indices, cols, out),
        }
    }

    /// The whole value, borrowed in place, if this thread holds it (`None` if shared).
    #[inline(always)]
    pub(crate) fn local_value(&self) -> Option<Ref<'_, [f32]>> {
        match &self.storage {
            Storage::Local { value, .. } => Some(Ref::map(value.borrow(), |v| v.as_slice())),
            Storage::Shared { .. } => None,
        }
    }

    /// Row `row` (of `cols` elements) of a value held by this thread, borrowed in place.
    ///
    /// # Panics
    /// If the value is shared (a [`HogwildParameter`] must be read through copies).
    #[inline(always)]
    pub(crate) fn local_row(&self, row: usize, cols: usize) -> Ref<'_, [f32]> {
        match &self.storage {
            Storage::Local { value, .. } => Ref::map(value.borrow(), |v| &v[row * cols..][..cols]),
            Storage::Shared { .. } => shared_has_no_rows_in_place(),
        }
    }

    /// Hints the CPU to start loading the given rows of the value and of the optimizer
    /// state (state only once an update has created it; a no-op on targets without a
    /// prefetch instruction, and for indices past the table, which the caller rejects).
    #[inline(always)]
    pub(crate) fn prefetch_rows(&self, indices: &[usize]) {
        let cols = self.shape.1;
        match &self.storage {
            Storage::Local { value, state, .. } => {
                // SAFETY: the references live only within this arm, which runs no code
                // that could borrow `value` or `state` mutably. (Unguarded borrows skip a
                // count increment and decrement; a mutable borrow in progress skips the
                // prefetch, which is only a hint.)
                let borrowed =
                    unsafe { (value.try_borrow_unguarded(), state.try_borrow_unguarded()) };
                let (Ok(value), Ok(state)) = borrowed else {
                    return;
                };
                for &row in indices {
                    crate::kernels::prefetch(value, row * cols, cols);
                    for slot in state.iter() {
                        crate::kernels::prefetch(slot, row * cols, cols);
                    }
                }
            }
            // A prefetch is no access in the memory model, so it cannot race with other
            // threads' updates of these rows.
            Storage::Shared { param, .. } => {
                for &row in indices {
                    param.values().prefetch(row * cols, cols);
                    for slot in (0..STATE_SLOTS).filter_map(|s| param.allocated_state(s)) {
                        slot.prefetch(row * cols, cols);
                    }
                }
            }
        }
    }

    /// Adds a row-sparse gradient contribution.
    pub(crate) fn accumulate_rows(&self, indices: &[usize], gradient: &[f32]) {
        if !self.frozen.get() {
            self.gradient.borrow_mut().add_rows(indices, gradient);
        }
    }

    /// Adds a row-sparse gradient contribution for `indices` that `write(buffer, false)`
    /// computes in place (`indices.len() x cols`, overwritten).
    #[inline(always)]
    pub(crate) fn accumulate_rows_with(
        &self,
        indices: &[usize],
        cols: usize,
        write: impl GradientWrite,
    ) {
        if self.frozen.get() {
            return;
        }
        let mut gradient = self.gradient.borrow_mut();
        write.write(gradient.row_buffer(indices.len(), cols), false);
        gradient.commit_rows(indices);
    }

    /// How many row entries the sparse gradient holds (repeats included).
    #[cfg(test)]
    pub(crate) fn gradient_entries(&self) -> usize {
        self.gradient.borrow().entries()
    }

    /// The total gradient accumulated since the last [`zero_gradient`](Self::zero_gradient).
    pub(crate) fn dense_gradient(&self) -> Array2<f32> {
        self.gradient.borrow().to_dense()
    }

    /// The sum of the squares of the gradient's elements (see `optim::clip_gradient_norm`).
    pub(crate) fn gradient_squared_norm(&self) -> f64 {
        self.gradient.borrow_mut().squared_norm()
    }

    /// Multiplies the gradient by `factor` (cost proportional to the rows touched when
    /// sparse).
    pub(crate) fn scale_gradient(&self, factor: f64) {
        self.gradient.borrow_mut().scale(factor);
    }

    /// Clears the gradient (cost proportional to the rows touched when sparse).
    pub(crate) fn zero_gradient(&self) {
        self.gradient.borrow_mut().clear();
    }

    /// Whether nothing has recorded a gradient since the last zeroing.
    pub(crate) fn gradient_is_empty(&self) -> bool {
        self.gradient.borrow().is_empty()
    }

    /// Whether the gradient is purely row-sparse (only lookups contributed).
    #[cfg(test)]
    pub(crate) fn gradient_is_sparse(&self) -> bool {
        self.gradient.borrow().is_sparse()
    }

    /// Updates every element that has a gradient with `rule`: all of them when a dense
    /// contribution exists, else only the touched rows. Inlined into `optim::update_all`,
    /// which compiles it for AVX2 when the CPU has it.
    #[inline(always)]
    pub(crate) fn apply_update<U: UpdateRule>(&self, rule: &U) {
        let mut gradient = self.gradient.borrow_mut();
        if gradient.is_empty() {
            return;
        }
        let len = self.shape.0 * self.shape.1;
        match &self.storage {
            Storage::Local {
                value,
                state,
                state_kind,
            } => {
                let mut value = (value.try_borrow_mut()).unwrap_or_else(|_| {
                    crate::node::value_in_use("optimizer step", "`Node::value`")
                });
                let mut state = state.borrow_mut();
                if state_kind.get() != U::KIND {
                    // Another kind of optimizer's state: start this one's from zeros (plain
                    // SGD, without state, claims it too, so that the kind before it does
                    // not find its old state afterwards).
                    state.iter_mut().for_each(Vec::clear);
                    state_kind.set(U::KIND);
                }
                for slot in state.iter_mut().take(U::SLOTS) {
                    if slot.len() != len {
                        *slot = vec![0.0; len];
                    }
                }
                let [s0, s1] = &mut *state;
                gradient.for_each_touched(|offset, g| {
                    let end = offset + g.len();
                    let a = if U::SLOTS > 0 {
                        &mut s0[offset..end]
                    } else {
                        &mut [][..]
                    };
                    let b = if U::SLOTS > 1 {
                        &mut s1[offset..end]
                    } else {
                        &mut [][..]
                    };
                    update_slices(rule, &mut value[offset..end], g, a, b);
                });
            }
            Storage::Shared { param, .. } => {
                // Concurrent updates of the same elements may overwrite each other, as
                // Hogwild allows; see `hogwild` for why this is sound.
                let values = param.values();
                param.claim_state(U::KIND);
                // Slots the rule does not use stand in as `values` and are never touched
                // (the slot count is a constant, so those branches compile away).
                let s0 = if U::SLOTS > 0 { param.state(0) } else { values };
                let s1 = if U::SLOTS > 1 { param.state(1) } else { values };
                gradient.for_each_touched(|offset, g| {
                    update_shared(rule, values, [s0, s1], offset, g);
                });
                self.cached.set(0);
            }
        }
    }

    /// Element `i` (row-major), for the gradient checker.
    pub(crate) fn element(&self, i: usize) -> f32 {
        match &self.storage {
            Storage::Local { value, .. } => value.borrow()[i],
            Storage::Shared { param, .. } => {
                let mut out = [0.0];
                param.values().load_into(i, &mut out);
                out[0]
            }
        }
    }

    /// Sets element `i` (row-major), for the gradient checker: one element, where
    /// `set_value` would copy the whole table (which made checking a large table take
    /// time quadratic in its size).
    pub(crate) fn set_element(&self, i: usize, x: f32) {
        match &self.storage {
            Storage::Local { value, .. } => {
                let mut v = (value.try_borrow_mut()).unwrap_or_else(|_| {
                    crate::node::value_in_use("ParameterNode::set_value", "`Node::value`")
                });
                v[i] = x;
            }
            Storage::Shared { param, .. } => {
                param.values().store_from(i, &[x]);
                self.cached.set(0);
            }
        }
        Pass::next();
    }

    /// Overwrites the value.
    #[track_caller]
    fn set(&self, value: ArrayView2<'_, f32>) {
        assert!(
            value.dim() == self.shape,
            "ParameterNode::set_value: the array is {}x{} but the parameter is {}x{}",
            value.nrows(),
            value.ncols(),
            self.shape.0,
            self.shape.1
        );
        match &self.storage {
            Storage::Local { value: v, .. } => {
                let mut v = (v.try_borrow_mut()).unwrap_or_else(|_| {
                    crate::node::value_in_use("ParameterNode::set_value", "`Node::value`")
                });
                // One `memcpy` for a standard-layout array: the element iterator took
                // 2.3 ms for a 2^18 x 9 table, several times the copy.
                match value.as_slice() {
                    Some(source) => v.copy_from_slice(source),
                    None => v.iter_mut().zip(value.iter()).for_each(|(d, s)| *d = *s),
                }
            }
            Storage::Shared { param, .. } => {
                param.set_value(&value);
                self.cached.set(0);
            }
        }
    }
}

/// Applies `rule` to each element of `w` with gradient `g` and the rule's state slots
/// `s0`, `s1` (only the first `U::SLOTS` are used; unused ones may be empty). Indexed loops
/// over slices cut to one length, so that they vectorise without bounds checks and with
/// less set-up than zipped iterators.
#[inline(always)]
fn update_slices<U: UpdateRule>(
    rule: &U,
    w: &mut [f32],
    g: &[f32],
    s0: &mut [f32],
    s1: &mut [f32],
) {
    let n = w.len();
    let g = &g[..n];
    match U::SLOTS {
        0 => {
            for i in 0..n {
                w[i] = rule.update(w[i], g[i], &mut [0.0; 2]);
            }
        }
        1 => {
            let s0 = &mut s0[..n];
            for i in 0..n {
                let mut st = [s0[i], 0.0];
                w[i] = rule.update(w[i], g[i], &mut st);
                s0[i] = st[0];
            }
        }
        _ => {
            let (s0, s1) = (&mut s0[..n], &mut s1[..n]);
            for i in 0..n {
                let mut st = [s0[i], s1[i]];
                w[i] = rule.update(w[i], g[i], &mut st);
                s0[i] = st[0];
                s1[i] = st[1];
            }
        }
    }
}

/// [`update_slices`] on shared storage, for the elements `offset..offset + g.len()`:
/// eight at a time, each group copied in (relaxed loads), updated by the same loop as
/// local storage (the same arithmetic, so both give bit-identical results from the same
/// values) and copied back (relaxed stores).
/// Groups that start on a word boundary of the pair-packed storage move as whole words and,
/// compiled for AVX2, never leave registers.
#[inline(always)]
fn update_shared<U: UpdateRule>(
    rule: &U,
    values: &AtomicF32s,
    slots: [&AtomicF32s; 2],
    offset: usize,
    g: &[f32],
) {
    #[cfg(target_arch = "x86_64")]
    if crate::kernels::simd_enabled() {
        // A function of its own rather than `simd::vectorized`: LLVM will not inline a
        // closure this large into that one's AVX2 context.
        #[target_feature(enable = "avx2,fma")]
        fn avx2<U: UpdateRule>(
            rule: &U,
            values: &AtomicF32s,
            slots: [&AtomicF32s; 2],
            offset: usize,
            g: &[f32],
        ) {
            update_shared_groups::<U, GatherAvx2>(rule, values, slots, offset, g)
        }
        // SAFETY: `simd_enabled` checked that the CPU has AVX2 and FMA.
        return unsafe { avx2(rule, values, slots, offset, g) };
    }
    update_shared_groups::<U, Gather>(rule, values, slots, offset, g)
}

/// How [`update_shared_groups`] copies a group of eight elements in.
trait Load8 {
    fn load8(group: &Group, out: &mut [f32; 8]);
}

/// Any CPU.
struct Gather;

impl Load8 for Gather {
    #[inline(always)]
    fn load8(group: &Group, out: &mut [f32; 8]) {
        group.load(out);
    }
}

/// Only inside `update_shared`'s AVX2 function, after the CPU check.
#[cfg(target_arch = "x86_64")]
struct GatherAvx2;

#[cfg(target_arch = "x86_64")]
impl Load8 for GatherAvx2 {
    #[inline(always)]
    fn load8(group: &Group, out: &mut [f32; 8]) {
        // SAFETY: this loader is only used by `update_shared` after `simd_enabled`
        // confirmed AVX2.
        unsafe { group.load_avx2(out) }
    }
}

/// The body of [`update_shared`].
#[inline(always)]
fn update_shared_groups<U: UpdateRule, L: Load8>(
    rule: &U,
    values: &AtomicF32s,
    [s0, s1]: [&AtomicF32s; 2],
    offset: usize,
    g: &[f32],
) {
    let (mut w, mut a, mut b) = ([0.0f32; 8], [0.0f32; 8], [0.0f32; 8]);
    // A stretch that starts in the middle of a word (odd column counts): its first element
    // alone through the general copies, so that the groups start on a word boundary.
    let (first, g) = g.split_at((offset % 2).min(g.len()));
    update_shared_general(rule, values, [s0, s1], offset, first);
    let at = offset + first.len();
    let count = g.len() / 8;
    let (whole, rest) = g.split_at(8 * count);
    // The words of every group, bounds-checked once; a rule without state slots walks the
    // values' words in their place (never read).
    let vw = values.groups(at, count);
    let aw = if U::SLOTS > 0 {
        s0.groups(at, count)
    } else {
        vw
    };
    let bw = if U::SLOTS > 1 {
        s1.groups(at, count)
    } else {
        vw
    };
    let words = vw
        .chunks_exact(4)
        .zip(aw.chunks_exact(4))
        .zip(bw.chunks_exact(4));
    for (head, ((v, sa), sb)) in whole.chunks_exact(8).zip(words) {
        let head: &[f32; 8] = head.try_into().expect("chunks of eight");
        let (v, sa, sb) = (Group(v), Group(sa), Group(sb));
        L::load8(&v, &mut w);
        if U::SLOTS > 0 {
            L::load8(&sa, &mut a);
        }
        if U::SLOTS > 1 {
            L::load8(&sb, &mut b);
        }
        update_slices(rule, &mut w, head, &mut a, &mut b);
        v.store(&w);
        if U::SLOTS > 0 {
            sa.store(&a);
        }
        if U::SLOTS > 1 {
            sb.store(&b);
        }
    }
    // The last few elements.
    update_shared_general(rule, values, [s0, s1], at + whole.len(), rest);
}

/// [`update_slices`] on shared storage for at most eight elements at any offset, through
/// the general copies (which merge a lone edge element into its word).
#[inline(always)]
fn update_shared_general<U: UpdateRule>(
    rule: &U,
    values: &AtomicF32s,
    [s0, s1]: [&AtomicF32s; 2],
    at: usize,
    g: &[f32],
) {
    if g.is_empty() {
        return;
    }
    let n = g.len();
    let (mut w, mut a, mut b) = ([0.0f32; 8], [0.0f32; 8], [0.0f32; 8]);
    let (w, a, b) = (&mut w[..n], &mut a[..n], &mut b[..n]);
    values.load_into(at, w);
    if U::SLOTS > 0 {
        s0.load_into(at, a);
    }
    if U::SLOTS > 1 {
        s1.load_into(at, b);
    }
    update_slices(rule, w, g, a, b);
    values.store_from(at, w);
    if U::SLOTS > 0 {
        s0.store_from(at, a);
    }
    if U::SLOTS > 1 {
        s1.store_from(at, b);
    }
}

#[cold]
#[inline(never)]
fn shared_has_no_rows_in_place() -> ! {
    panic!("internal error: a row of a shared parameter was read in place")
}

/// Views a parameter node of any static shape as the run-time-shaped `ParameterNode`.
pub(crate) fn erase<R: Dim, C: Dim>(node: Rc<ParameterNode<R, C>>) -> Rc<ParameterNode> {
    // SAFETY: `ParameterNode` is `repr(C)` and its type parameters appear only in the last,
    // zero-sized, alignment-1 `PhantomData` field, so every instantiation has the same size,
    // alignment and field offsets. `Rc::from_raw` accepts a pointer from `Rc<U>::into_raw`
    // when `U` and the target have the same size and alignment, and reading the fields
    // through the run-time-shaped type is valid because the field types are identical.
    unsafe { Rc::from_raw(Rc::into_raw(node) as *const ParameterNode) }
}

impl ParameterNode {
    /// The address of the shared storage of a [`shared`](Self::shared) node (`None` for a
    /// local one), to tell two nodes over the same storage.
    pub(crate) fn shared_storage(&self) -> Option<*const HogwildParameter> {
        match &self.storage {
            Storage::Shared { param, .. } => Some(Arc::as_ptr(param)),
            Storage::Local { .. } => None,
        }
    }

    /// A parameter with run-time shape, initialised to `value`.
    ///
    /// ```
    /// use wyrm::*;
    ///
    /// let w = ParameterNode::new(ndarray::arr2(&[[1.0, 2.0]]));
    /// assert_eq!(w.value(), ndarray::arr2(&[[1.0, 2.0]]));
    /// assert!(w.needs_gradient());
    /// assert_eq!(w.gradient(), ndarray::arr2(&[[0.0, 0.0]]));
    /// ```
    pub fn new(value: Array2<f32>) -> Variable<ParameterNode> {
        Self::local(value)
    }

    /// A parameter node over storage shared with other threads (Hogwild training). Build
    /// one such node per thread from clones of the same `Arc`.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use wyrm::*;
    ///
    /// let storage = Arc::new(HogwildParameter::new(ndarray::arr2(&[[1.0]])));
    /// let w = ParameterNode::shared(storage.clone());
    /// let loss = (w.clone() * 2.0).scalar_sum();
    /// let mut optimizer = SGD::new(0.25, loss.parameters());
    /// loss.forward();
    /// loss.backward(1.0);
    /// optimizer.step(); // w -= 0.25 * 2, in the shared storage
    /// assert_eq!(storage.value()[(0, 0)], 0.5);
    /// ```
    pub fn shared(param: Arc<HogwildParameter>) -> Variable<ParameterNode> {
        Self::over(param)
    }
}

impl<R: Static, C: Static> ParameterNode<R, C> {
    /// A parameter with compile-time shape `R x C` (typenum sizes), initialised to `value`.
    ///
    /// ```
    /// use wyrm::*;
    /// use wyrm::typenum::{U1, U2};
    ///
    /// let w = ParameterNode::<U1, U2>::new_static(ndarray::arr2(&[[1.0, 2.0]]));
    /// assert_eq!(w.shape(), (1, 2));
    /// ```
    ///
    /// # Panics
    /// If `value` is not `R x C`.
    #[track_caller]
    pub fn new_static(value: Array2<f32>) -> Variable<Self> {
        Self::local(value)
    }

    /// A statically shaped node over shared storage; see [`ParameterNode::shared`].
    ///
    /// ```
    /// use std::sync::Arc;
    /// use wyrm::typenum::{U1, U2};
    /// use wyrm::*;
    ///
    /// let storage = Arc::new(HogwildParameter::new(ndarray::arr2(&[[1.0, 2.0]])));
    /// let w: Variable<ParameterNode<U1, U2>> = ParameterNode::shared_static(storage);
    /// assert!(w.node().is_shared());
    /// assert_eq!(w.value(), ndarray::arr2(&[[1.0, 2.0]]));
    /// ```
    ///
    /// # Panics
    /// If the shared parameter is not `R x C`.
    #[track_caller]
    pub fn shared_static(param: Arc<HogwildParameter>) -> Variable<Self> {
        Self::over(param)
    }
}

impl<R: Dim, C: Dim> Node for ParameterNode<R, C> {
    type Rows = R;
    type Cols = C;

    #[inline(always)]
    fn shape(&self) -> (usize, usize) {
        self.shape
    }

    #[inline(always)]
    fn forward(&self, pass: Pass) {
        self.pass.set(pass.id());
    }

    #[inline(always)]
    fn backward(&self, gradient: &[f32]) {
        if !self.frozen.get() {
            self.gradient.borrow_mut().add_dense(gradient);
        }
    }

    /// Records nothing: a parameter with no gradient is left alone by optimizers.
    #[inline(always)]
    fn backward_nothing(&self) {}

    #[inline(always)]
    fn backward_into<W: GradientWrite>(&self, write: W) -> Option<W> {
        if self.frozen.get() {
            // Taken, and not computed: a frozen weight's product is skipped.
            return None;
        }
        let mut gradient = self.gradient.borrow_mut();
        let (buffer, accumulate) = gradient.dense_buffer();
        write.write(buffer, accumulate);
        gradient.commit_dense();
        None
    }

    #[inline(always)]
    fn value(&self) -> Ref<'_, [f32]> {
        match &self.storage {
            Storage::Local { value, .. } => Ref::map(value.borrow(), |v| v.as_slice()),
            Storage::Shared { param, cache } => {
                // Copy the shared values once per pass: re-read before the node's first
                // pass, after an update through this node, and at each new pass; between
                // passes, the copy of the latest one (what another node or thread wrote
                // meanwhile shows from the next pass on).
                let pass = self.pass.get();
                if self.cached.get() != pass || pass == 0 {
                    // While an earlier borrow of the copy is still alive, keep serving that
                    // copy (a stale read, which Hogwild allows) instead of panicking.
                    if let Ok(mut cache) = cache.try_borrow_mut() {
                        // Allocated on first use: a table only looked up by rows never
                        // needs a copy (a graph per serving thread or request stays small).
                        let len = self.shape.0 * self.shape.1;
                        if cache.len() != len {
                            cache.resize(len, 0.0);
                        }
                        param.values().load_into(0, &mut cache);
                        self.cached.set(pass);
                    }
                }
                Ref::map(cache.borrow(), |v| v.as_slice())
            }
        }
    }

    #[inline(always)]
    fn needs_gradient(&self) -> bool {
        true
    }
}

impl<R: Dim, C: Dim> Variable<ParameterNode<R, C>> {
    /// The gradient accumulated since the last zeroing, as a dense matrix (sparse rows
    /// from lookups included).
    ///
    /// ```
    /// use ndarray::arr2;
    /// use wyrm::*;
    ///
    /// let table = ParameterNode::new(arr2(&[[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]]));
    /// let idx = IndexInputNode::new(&[2]);
    /// let y = table.index(&idx).scalar_sum();
    /// y.forward();
    /// y.backward(1.0);
    /// // Only row 2 was looked up; the other rows read as zeros.
    /// assert_eq!(table.gradient(), arr2(&[[0.0, 0.0], [0.0, 0.0], [1.0, 1.0]]));
    /// ```
    pub fn gradient(&self) -> Array2<f32> {
        self.node().dense_gradient()
    }

    /// Whether anything has recorded a gradient since the last zeroing, zeros included.
    /// [`gradient`](Self::gradient) reads zeros either way; optimizers step only a
    /// parameter that has one (so momentum and Adam leave the others alone).
    ///
    /// ```
    /// use wyrm::*;
    ///
    /// let w = ParameterNode::new(ndarray::arr2(&[[3.0]]));
    /// let (live, frozen) = ((w.clone() * 0.0).scalar_sum(), w.detach().scalar_sum());
    /// frozen.forward();
    /// frozen.backward(1.0);
    /// assert!(!w.has_gradient()); // nothing flows through `detach`
    /// live.forward();
    /// live.backward(1.0);
    /// assert!(w.has_gradient()); // a zero gradient is still one
    /// assert_eq!(w.gradient()[(0, 0)], 0.0);
    /// ```
    pub fn has_gradient(&self) -> bool {
        !self.node().gradient_is_empty()
    }

    /// Freezes the parameter (`true`) or unfreezes it (`false`): while frozen, backward
    /// passes record no gradient for it (its gradient is cleared when it is frozen), so
    /// every optimizer leaves it as it is, momentum and Adam's moments included, and its
    /// own gradient's product is not computed (a frozen weight's `xᵀ·g` in
    /// [`dot`](Variable::dot)). Fine-tuning a model's head over a frozen body, or
    /// optimising inputs over a trained model, is then a switch on the graph already
    /// built, with the optimizer over all the parameters as before.
    ///
    /// Gradients still flow *through* the parameter's consumers to the nodes below them:
    /// freezing a network's lower layers saves their weights' products, not the backward
    /// pass through them. When nothing below them trains (a whole body frozen), build
    /// the head over the body's [`detach`](Variable::detach)ed output instead, a second
    /// graph that skips that pass: in the federated trial's multi-task model, a round
    /// with the body frozen took 8.8 ms this way and 4.7 ms over `detach` (10.5 with the
    /// body only left out of the optimizer). Freezing is this node's: other graphs
    /// over the same [`HogwildParameter`](crate::HogwildParameter) keep training it.
    ///
    /// ```
    /// use wyrm::*;
    ///
    /// let body = ParameterNode::new(ndarray::arr2(&[[1.0]]));
    /// let head = ParameterNode::new(ndarray::arr2(&[[1.0]]));
    /// let x = InputNode::new(ndarray::arr2(&[[2.0]]));
    /// let loss = (x.dot(&body).tanh().dot(&head) - 3.0).square().scalar_sum();
    /// let mut optimizer = Adam::new(0.1, loss.parameters());
    /// body.set_frozen(true);
    /// for _ in 0..20 {
    ///     loss.forward();
    ///     loss.backward(1.0);
    ///     optimizer.step();
    ///     optimizer.zero_gradients();
    /// }
    /// assert_eq!(body.value()[(0, 0)], 1.0); // untouched
    /// assert!(head.value()[(0, 0)] > 1.5); // trained
    /// assert!(body.is_frozen() && !body.has_gradient());
    /// body.set_frozen(false); // and trained again from the next backward pass on
    /// ```
    pub fn set_frozen(&self, frozen: bool) {
        let node = self.node();
        node.frozen.set(frozen);
        if frozen {
            node.zero_gradient();
        }
    }

    /// Whether the parameter is frozen (see [`set_frozen`](Self::set_frozen)).
    ///
    /// ```
    /// use wyrm::*;
    ///
    /// let w = ParameterNode::new(ndarray::arr2(&[[1.0]]));
    /// assert!(!w.is_frozen());
    /// w.set_frozen(true);
    /// assert!(w.is_frozen());
    /// ```
    pub fn is_frozen(&self) -> bool {
        self.node().frozen.get()
    }

    /// Clears the accumulated gradient.
    ///
    /// ```
    /// use wyrm::*;
    ///
    /// let w = ParameterNode::new(ndarray::arr2(&[[3.0]]));
    /// let y = w.square();
    /// for _ in 0..2 {
    ///     y.forward();
    ///     y.backward(1.0);
    /// }
    /// assert_eq!(w.gradient()[(0, 0)], 12.0); // two passes of 2w, added up
    /// w.zero_gradient();
    /// assert_eq!(w.gradient()[(0, 0)], 0.0);
    /// ```
    pub fn zero_gradient(&self) {
        self.node().zero_gradient();
    }

    /// Overwrites the parameter's value with an array or a view of the parameter's shape,
    /// by reference (e.g. a row range of a saved matrix, or a transposed one). As
    /// after an input's `set_value`, a [`backward`](Variable::backward) without a forward
    /// pass in between forwards again first.
    ///
    /// ```
    /// use wyrm::*;
    ///
    /// let w = ParameterNode::new(ndarray::arr2(&[[1.0]]));
    /// let y = w.square();
    /// y.forward();
    /// w.set_value(&ndarray::arr2(&[[3.0]]));
    /// y.backward(1.0); // forwards again at w = 3 first
    /// assert_eq!(y.value()[(0, 0)], 9.0);
    /// assert_eq!(w.gradient()[(0, 0)], 6.0);
    ///
    /// // A view: the first row of a saved table, as a column.
    /// let saved = ndarray::arr2(&[[1.0, 2.0], [3.0, 4.0]]);
    /// let column = ParameterNode::new(ndarray::Array2::zeros((2, 1)));
    /// column.set_value(&saved.slice(ndarray::s![..1, ..]).t());
    /// assert_eq!(column.value(), ndarray::arr2(&[[1.0], [2.0]]));
    /// ```
    ///
    /// # Panics
    /// If `value` does not have the parameter's shape.
    #[track_caller]
    pub fn set_value<S: Data<Elem = f32>>(&self, value: &ArrayBase<S, Ix2>) {
        self.node().set(value.view());
        Pass::next();
    }

    /// Overwrites the value with `source`'s current values, read straight from the
    /// shared storage into this parameter's: what `set_value(&source.value())` does,
    /// without the array in between (and for a node over `source` itself, nothing but
    /// reading the storage anew). A serving model's local copy of parameters that
    /// other threads train is refreshed this way (a `model!` model's
    /// `set_parameter_values` calls it for each parameter): a 2^18 x 9 table in about a
    /// third of the time.
    ///
    /// ```
    /// use wyrm::*;
    ///
    /// let trained = HogwildParameter::new(ndarray::arr2(&[[1.0, 2.0]]));
    /// let local = ParameterNode::new(ndarray::Array2::zeros((1, 2)));
    /// local.set_value_from(&trained);
    /// assert_eq!(local.value(), ndarray::arr2(&[[1.0, 2.0]]));
    /// ```
    ///
    /// # Panics
    /// If `source` does not have the parameter's shape, naming both.
    #[track_caller]
    pub fn set_value_from(&self, source: &HogwildParameter) {
        let node = self.node();
        let (shape, from) = (node.shape, source.shape());
        assert!(
            shape == from,
            "ParameterNode::set_value_from: the source is {}x{} but the parameter is {}x{}",
            from.0,
            from.1,
            shape.0,
            shape.1
        );
        match &node.storage {
            Storage::Local { value, .. } => {
                let mut value = (value.try_borrow_mut()).unwrap_or_else(|_| {
                    crate::node::value_in_use("ParameterNode::set_value_from", "`Node::value`")
                });
                source.values().load_into(0, &mut value);
            }
            // Storage of its own: nothing to copy, but the node's copy of the latest
            // pass's values may be older than the storage.
            Storage::Shared { param, .. } if std::ptr::eq(&**param, source) => node.cached.set(0),
            Storage::Shared { param, .. } => {
                param.values().copy_words_from(source.values());
                node.cached.set(0);
            }
        }
        Pass::next();
    }

    /// The parameter in shared form: the same `Arc` for a shared node, else a new
    /// [`HogwildParameter`] holding a copy of the current value (e.g. to serve or keep
    /// training a model in several threads).
    ///
    /// ```
    /// use std::sync::Arc;
    /// use wyrm::*;
    ///
    /// let local = ParameterNode::new(ndarray::arr2(&[[1.0, 2.0]]));
    /// let copy = local.hogwild_parameter();
    /// copy.set_value(&ndarray::arr2(&[[0.0, 0.0]]));
    /// assert_eq!(local.value()[(0, 1)], 2.0); // a copy: the local value is unchanged
    ///
    /// let shared = ParameterNode::shared(copy.clone());
    /// assert!(Arc::ptr_eq(&shared.hogwild_parameter(), &copy)); // the same storage
    /// ```
    pub fn hogwild_parameter(&self) -> Arc<HogwildParameter> {
        match &self.node().storage {
            Storage::Shared { param, .. } => param.clone(),
            Storage::Local { .. } => Arc::new(HogwildParameter::new(self.value().to_owned())),
        }
    }

    /// This parameter seen as a run-time-shaped `Variable<ParameterNode>` (the type
    /// optimizers and [`Variable::parameters`] use). Both share the same node.
    ///
    /// ```
    /// use wyrm::typenum::{U1, U2};
    /// use wyrm::*;
    ///
    /// let w = ParameterNode::<U1, U2>::new_static(ndarray::arr2(&[[1.0, 2.0]]));
    /// let erased: Variable<ParameterNode> = w.erased();
    /// erased.set_value(&ndarray::arr2(&[[3.0, 4.0]]));
    /// assert_eq!(w.value()[(0, 1)], 4.0); // the same node
    /// let _optimizer = SGD::new(0.1, vec![w.erased()]);
    /// ```
    pub fn erased(&self) -> Variable<ParameterNode> {
        let node = erase(self.node().clone());
        Variable::from_parts(
            node.clone(),
            crate::variable::Links::parameters(Rc::from([node])),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use typenum::{U1, U2};

    /// A frozen parameter records no gradient on any path (dense, written in place by
    /// `dot`, row-sparse from lookups and bags), so an optimizer with momentum leaves it
    /// as it is mid-training; other graphs over its shared storage keep training it; and
    /// unfrozen, it trains again.
    #[test]
    fn a_frozen_parameter_records_no_gradient_and_is_not_updated() {
        use crate::{Adam, BagsInputNode, IndexInputNode, InputNode, Optimizer};
        let storage = Arc::new(HogwildParameter::new(crate::init::seeded(4, 3, 1.0, 1)));
        for table in [
            ParameterNode::new(crate::init::seeded(4, 3, 1.0, 1)),
            ParameterNode::shared(storage.clone()),
        ] {
            let x = InputNode::new(crate::init::seeded(2, 4, 1.0, 2));
            let bags = BagsInputNode::new(1);
            bags.set_value([vec![0, 3]]);
            let loss = (x.dot(&table).square().scalar_sum()
                + table.index(&IndexInputNode::new(&[1, 1])).scalar_sum()
                + table.sum_bags(&bags).tanh().scalar_sum()
                + table.exp().scalar_sum())
                * 0.1;
            let mut optimizer = Adam::new(0.1, loss.parameters());
            let step = |optimizer: &mut Adam| {
                loss.forward();
                loss.backward(1.0);
                optimizer.step();
                optimizer.zero_gradients();
            };
            step(&mut optimizer); // momentum built up
            loss.forward();
            loss.backward(1.0);
            assert!(table.has_gradient());
            table.set_frozen(true); // clears the gradient just recorded
            assert!(!table.has_gradient());
            let before = table.value();
            for _ in 0..3 {
                step(&mut optimizer);
            }
            assert_eq!(table.value(), before);
            // Another graph over the same shared storage trains it meanwhile.
            if table.node().is_shared() {
                let other = ParameterNode::shared(storage.clone());
                let mut sgd = crate::SGD::new(0.1, vec![other.clone()]);
                let y = other.square().scalar_sum();
                y.forward();
                y.backward(1.0);
                sgd.step();
                assert_ne!(storage.value(), before);
            }
            table.set_frozen(false);
            let before = table.value();
            step(&mut optimizer);
            assert_ne!(table.value(), before);
        }
    }

    #[test]
    fn dense_and_sparse_gradients_add() {
        let p = ParameterNode::new(Array2::zeros((3, 2)));
        p.node().backward(&[1.0; 6]);
        p.node().accumulate_rows(&[1, 1], &[1.0, 2.0, 3.0, 4.0]);
        let g = p.gradient();
        assert_eq!(g.row(1).to_vec(), vec![5.0, 7.0]);
        assert_eq!(g.row(0).to_vec(), vec![1.0, 1.0]);
        p.zero_gradient();
        assert_eq!(p.gradient(), Array2::<f32>::zeros((3, 2)));
    }

    #[test]
    fn erased_shares_the_node() {
        let p = ParameterNode::<U1, U2>::new_static(ndarray::arr2(&[[1.0, 2.0]]));
        let e = p.erased();
        e.set_value(&ndarray::arr2(&[[3.0, 4.0]]));
        assert_eq!(p.value()[(0, 1)], 4.0);
        assert_eq!(e.parameters().len(), 1);
    }

    /// Local and shared parameters take another storage's values; their own storage is
    /// left as it is; a wrong shape names both, and a forward pass after the copy sees it.
    #[test]
    fn set_value_from_copies_shared_storage() {
        let source = HogwildParameter::new(ndarray::arr2(&[[1.0, 2.0], [3.0, 4.0]]));
        let local = ParameterNode::new(Array2::zeros((2, 2)));
        let y = local.scalar_sum();
        y.forward();
        local.set_value_from(&source);
        y.forward();
        assert_eq!(y.value()[(0, 0)], 10.0);
        let other = ParameterNode::shared(Arc::new(HogwildParameter::new(Array2::zeros((2, 2)))));
        other.set_value_from(&source);
        assert_eq!(other.hogwild_parameter().value(), source.value());
        let source = Arc::new(source);
        let own = ParameterNode::shared(source.clone());
        own.scalar_sum().forward();
        source.set_value(&ndarray::arr2(&[[5.0, 5.0], [5.0, 5.0]]));
        own.set_value_from(&source);
        assert_eq!(own.value(), ndarray::arr2(&[[5.0, 5.0], [5.0, 5.0]]));
        other.scalar_sum().forward();
        other.set_value_from(&source);
        assert_eq!(other.value(), ndarray::arr2(&[[5.0, 5.0], [5.0, 5.0]]));
        let message = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            ParameterNode::new(Array2::zeros((1, 2))).set_value_from(&source)
        }))
        .map_err(|p| p.downcast::<String>().map(|s| *s).unwrap_or_default())
        .expect_err("a shape mismatch");
        assert_eq!(
            message,
            "ParameterNode::set_value_from: the source is 2x2 but the parameter is 1x2"
        );
    }

    #[test]
    #[should_panic(expected = "the array is 2x2 but the node's static shape is 1x2")]
    fn static_shape_is_checked() {
        ParameterNode::<U1, U2>::new_static(Array2::zeros((2, 2)));
    }

    /// Views are stored in their logical order, locally and shared alike.
    #[test]
    fn set_value_takes_views() {
        let saved = ndarray::arr2(&[[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]]);
        let shared = Arc::new(HogwildParameter::new(Array2::zeros((3, 2))));
        for p in [
            ParameterNode::new(Array2::zeros((3, 2))),
            ParameterNode::shared(shared.clone()),
        ] {
            p.set_value(&saved.t());
            assert_eq!(p.value(), saved.t());
            // Rows 1.. and columns ..2 of a larger table: not contiguous.
            let table = Array2::from_shape_fn((4, 3), |(i, j)| (10 * i + j) as f32);
            p.set_value(&table.slice(ndarray::s![1.., ..2]));
            assert_eq!(
                p.value(),
                ndarray::arr2(&[[10.0, 11.0], [20.0, 21.0], [30.0, 31.0]])
            );
            // References to references and mutable references coerce, as they did when
            // the argument was `&Array2<f32>`.
            let mut owned = Array2::from_elem((3, 2), 7.0);
            let r = &owned;
            #[allow(clippy::needless_borrow)]
            p.set_value(&r);
            #[allow(clippy::unnecessary_mut_passed)]
            p.set_value(&mut owned);
            assert_eq!(p.value(), owned);
        }
    }

    #[test]
    fn shared_nodes_see_each_others_updates() {
        let shared = Arc::new(HogwildParameter::new(ndarray::arr2(&[[1.0]])));
        let a = ParameterNode::shared(shared.clone());
        let b = ParameterNode::shared(shared);
        a.set_value(&ndarray::arr2(&[[5.0]]));
        assert_eq!(b.value()[(0, 0)], 5.0);
        assert!(a.node().is_shared());
        assert!(Arc::ptr_eq(&a.hogwild_parameter(), &b.hogwild_parameter()));
    }

    #[test]
    fn shared_values_can_be_borrowed_twice() {
        let shared = Arc::new(HogwildParameter::new(ndarray::arr2(&[[1.0, 2.0]])));
        let p = ParameterNode::shared(shared.clone());
        let a = p.node().value();
        shared.set_value(&ndarray::arr2(&[[3.0, 4.0]]));
        let b = p.node().value();
        assert_eq!(&*a, &[1.0, 2.0]);
        assert_eq!(&*b, &[1.0, 2.0], "the copy in use is kept while borrowed");
        drop((a, b));
        assert_eq!(&*p.node().value(), &[3.0, 4.0]);
    }
}
