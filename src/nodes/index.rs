//! Embedding lookups: [`IndexInputNode`] holds row indices, and
//! [`index`](Variable::index) selects those rows of a parameter.
//!
//! The lookup's backward pass records a row-sparse gradient on the parameter (only the
//! looked-up rows), so optimizers update only those rows and a step costs the same for a
//! table of a thousand rows or of ten million.

use crate::node::{GradientWrite, Node, NodeState, Pass};
use crate::nodes::ParameterNode;
use crate::shape::{Dim, Dyn};
use crate::Variable;
use std::cell::{Cell, Ref, RefCell};
use std::rc::{Rc, Weak};
use typenum::U1;

/// An input holding row indices for [`index`](Variable::index)
/// lookups, set with [`set_value`](Variable::<IndexInputNode>::set_value) before each
/// forward pass.
///
/// The number of indices is fixed when the node is built: every lookup built from it
/// has that many rows. The exact indices are read with
/// [`indices`](Variable::<IndexInputNode>::indices); as a node, its
/// [`value`](Variable::value) is the `k x 1` column of the indices converted to `f32`
/// (exact up to 2^24).
///
/// ```
/// use wyrm::*;
///
/// let table = ParameterNode::new(ndarray::arr2(&[[0.0, 0.5], [1.0, 1.5], [2.0, 2.5]]));
/// let idx = IndexInputNode::new(&[2, 0]);
/// let rows = table.index(&idx);
/// rows.forward();
/// assert_eq!(rows.value().to_owned(), ndarray::arr2(&[[2.0, 2.5], [0.0, 0.5]]));
/// idx.set_value(&[1, 1]);
/// rows.forward();
/// assert_eq!(rows.value()[(1, 1)], 1.5);
/// ```
#[derive(Debug)]
pub struct IndexInputNode {
    indices: RefCell<Vec<usize>>,
    /// The first index, kept apart so that a lookup with one index reads it without a
    /// borrow check.
    first: Cell<usize>,
    /// The indices as a `k x 1` `f32` column, refreshed from `indices` when read after
    /// a change (lookups never read it, so the training loop does not pay for it).
    value: RefCell<Vec<f32>>,
    /// Whether `value` is out of date.
    stale: Cell<bool>,
    /// The smallest bound (table row count or class count) of the nodes using this input
    /// (`usize::MAX`: none yet), so that `set_value` rejects an out-of-range index at once.
    /// Recomputed when such a node is dropped (see [`Binding`]).
    limit: Cell<(usize, Bound)>,
    /// The bound of each node using this input, under an identity its [`Binding`] holds.
    bounds: RefCell<Vec<(u64, usize, Bound)>>,
    /// The identity of the next binding.
    next_binding: Cell<u64>,
    /// The tables looked up with these indices, so that `set_value` can ask the CPU to
    /// fetch the named rows (the first few) and their optimizer state while the rest of
    /// the step runs up to the lookups. Weak, so that an input outliving its graphs keeps
    /// no table alive (dropped tables are pruned when another is added).
    tables: RefCell<Vec<Weak<ParameterNode>>>,
    /// Whether the number of indices may change: only for the ids inside a
    /// [`BagsInputNode`](super::BagsInputNode), which is never handed out as a node
    /// (a lookup's shape depends on the count; a bag lookup's does not).
    variable: bool,
}

impl IndexInputNode {
    /// An index input holding `indices`; every later value must have the same length.
    ///
    /// ```
    /// use wyrm::*;
    ///
    /// let idx = IndexInputNode::new(&[4, 1]);
    /// let table = ParameterNode::new(random_matrix(5, 3));
    /// assert_eq!(table.index(&idx).shape(), (2, 3)); // one row per index
    /// assert_eq!(idx.shape(), (2, 1));
    /// ```
    #[allow(clippy::new_ret_no_self)]
    pub fn new(indices: &[usize]) -> Variable<IndexInputNode> {
        Variable::from_parts(
            Rc::new(IndexInputNode::build(indices, false)),
            crate::variable::Links::parameters(Rc::from(Vec::new())),
        )
    }

    /// The node, with a fixed number of indices or (`variable`) not.
    fn build(indices: &[usize], variable: bool) -> Self {
        IndexInputNode {
            indices: RefCell::new(indices.to_vec()),
            first: Cell::new(indices.first().copied().unwrap_or(0)),
            value: RefCell::new(indices.iter().map(|&i| i as f32).collect()),
            stale: Cell::new(false),
            limit: Cell::new((usize::MAX, Bound::Rows)),
            bounds: RefCell::new(Vec::new()),
            next_binding: Cell::new(0),
            tables: RefCell::new(Vec::new()),
            variable,
        }
    }

    /// Indices whose number may change with each `set_checked`: the ids of bags.
    pub(crate) fn variable(indices: &[usize]) -> Rc<Self> {
        Rc::new(IndexInputNode::build(indices, true))
    }

    /// The number of indices.
    ///
    /// ```
    /// use wyrm::*;
    ///
    /// let idx = IndexInputNode::new(&[7, 7, 3]);
    /// assert_eq!(idx.node().len(), 3);
    /// ```
    pub fn len(&self) -> usize {
        self.indices.borrow().len()
    }

    /// Whether the input holds no index.
    ///
    /// ```
    /// use wyrm::*;
    ///
    /// assert!(IndexInputNode::new(&[]).node().is_empty());
    /// assert!(!IndexInputNode::new(&[0]).node().is_empty());
    /// ```
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Records that a node named `what` uses the indices of `input` with the given bound,
    /// after checking the current indices against it. The node keeps the returned
    /// [`Binding`]: once the node is dropped, its bound no longer limits the input.
    #[track_caller]
    pub(crate) fn bind(input: &Rc<Self>, bound: usize, kind: Bound, what: &str) -> Binding {
        check_range(&input.indices.borrow(), bound, kind, what);
        if bound < input.limit.get().0 {
            input.limit.set((bound, kind));
        }
        let id = input.next_binding.get();
        input.next_binding.set(id + 1);
        input.bounds.borrow_mut().push((id, bound, kind));
        Binding {
            input: input.clone(),
            id,
        }
    }

    /// Forgets binding `id` and recomputes the limit from the remaining ones.
    fn unbind(&self, id: u64) {
        let mut bounds = self.bounds.borrow_mut();
        bounds.retain(|&(b, _, _)| b != id);
        let limit = bounds
            .iter()
            .map(|&(_, bound, kind)| (bound, kind))
            .min_by_key(|&(bound, _)| bound)
            .unwrap_or((usize::MAX, Bound::Rows));
        self.limit.set(limit);
    }

    /// Records that `table` is looked up with these indices (see `tables`).
    pub(crate) fn watch(&self, table: &Rc<ParameterNode>) {
        let mut tables = self.tables.borrow_mut();
        tables.retain(|t| t.strong_count() > 0);
        let table = Rc::downgrade(table);
        if !tables.iter().any(|t| t.ptr_eq(&table)) {
            tables.push(table);
        }
    }

    /// The current indices.
    pub(crate) fn current(&self) -> Ref<'_, [usize]> {
        Ref::map(self.indices.borrow(), |v| v.as_slice())
    }

    /// Checks `new` (its length, unless the input is variable, and the bound of every node
    /// using the input) and, if it passes, stores it and starts fetching the named rows.
    #[inline(always)]
    #[track_caller]
    pub(crate) fn set_checked(
        &self,
        new: &[usize],
        what: &'static str,
        readers: &'static str,
    ) -> Result<(), IndexError> {
        let mut indices = (self.indices.try_borrow_mut())
            .unwrap_or_else(|_| crate::node::value_in_use(what, readers));
        // Check before writing, so a rejected value leaves the previous one in place.
        let (bound, kind) = self.limit.get();
        let in_range = || match first_out_of_range(new, bound) {
            Some(index) => Err(IndexError::out_of_range(index, bound, kind)),
            None => Ok(()),
        };
        if new.len() == indices.len() {
            in_range()?;
            // Kept apart from the resizing below, so that the compiler knows the lengths
            // match here (a lookup's `set_value` is on every training step's path).
            indices.copy_from_slice(new);
        } else if self.variable {
            in_range()?;
            indices.clear();
            indices.extend_from_slice(new);
        } else {
            return Err(IndexError::WrongLength {
                given: new.len(),
                expected: indices.len(),
            });
        }
        if let Some(&first) = new.first() {
            self.first.set(first);
        }
        self.stale.set(true);
        Pass::next();
        // The rows are read by the lookups in the coming forward pass and updated after
        // the backward pass: start fetching them now, so that the cache misses of random
        // rows of large tables overlap with the work in between.
        // SAFETY: only `watch` borrows `tables` mutably, and nothing below calls it (or
        // any code outside this crate) while the reference lives.
        let Ok(tables) = (unsafe { self.tables.try_borrow_unguarded() }) else {
            return Ok(());
        };
        // The first rows only: a large batch's own loads overlap their misses anyway, and
        // prefetching every row of it cost more than it saved (a third of the
        // instructions of scoring 100 candidates).
        let new = &new[..new.len().min(PREFETCH_ROWS)];
        for table in tables {
            // Checked without upgrading, which would pay a count increment and decrement.
            if table.strong_count() > 0 {
                // SAFETY: a strong count above zero means the node is alive, and
                // `prefetch_rows` drops no `Rc`, so it stays alive while borrowed here
                // (no other thread can drop one: `Rc` is neither `Send` nor `Sync`).
                unsafe { &*table.as_ptr() }.prefetch_rows(new);
            }
        }
        Ok(())
    }
}

/// Held by each node that uses an [`IndexInputNode`] (see `IndexInputNode::bind`): while
/// it lives, the node's bound limits the input's indices; dropping it lifts that limit.
pub(crate) struct Binding {
    input: Rc<IndexInputNode>,
    id: u64,
}

impl Drop for Binding {
    fn drop(&mut self) {
        self.input.unbind(self.id);
    }
}

/// What an index bound counts, for messages.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Bound {
    /// Rows of a parameter table.
    Rows,
    /// Classes of a loss.
    Classes,
    /// Columns of a node that `pick` picks from.
    Columns,
    /// Rows of a computed node that `gather_rows` or a `gather_*_bags` gathers from.
    NodeRows,
    /// Sequence lengths of `attention_padded`, up to the keys per group (the bound is one
    /// more).
    Lengths,
}

/// How many of the rows that `set_value` names it prefetches, per table.
const PREFETCH_ROWS: usize = 8;

/// The first index that is not below `bound`.
#[inline(always)]
fn first_out_of_range(indices: &[usize], bound: usize) -> Option<usize> {
    if let [index] = indices {
        // One index (batch of one): a single comparison, no iterator.
        (*index >= bound).then_some(*index)
    } else if indices.iter().fold(false, |bad, &i| bad | (i >= bound)) {
        indices.iter().copied().find(|&i| i >= bound)
    } else {
        // A loop with no early exit, which vectorises: a batch's check costs about one
        // instruction per index instead of several.
        None
    }
}

/// Panics, naming the index and the bound, if an index is not below `bound`.
#[inline(always)]
#[track_caller]
pub(crate) fn check_range(indices: &[usize], bound: usize, kind: Bound, what: &str) {
    if let Some(index) = first_out_of_range(indices, bound) {
        rejected(IndexError::out_of_range(index, bound, kind), what);
    }
}

#[cold]
#[inline(never)]
#[track_caller]
pub(crate) fn rejected(error: IndexError, what: &str) -> ! {
    panic!("{what}: {error}")
}

/// Why [`try_set_value`](Variable::<IndexInputNode>::try_set_value) refused indices; its
/// `Display` is the message [`set_value`](Variable::<IndexInputNode>::set_value) panics
/// with.
///
/// ```
/// use wyrm::nodes::IndexError;
/// use wyrm::*;
///
/// let table = ParameterNode::new(random_matrix(10, 4));
/// let ids = IndexInputNode::new(&[0, 1]);
/// let _rows = table.index(&ids);
/// assert_eq!(
///     ids.try_set_value(&[3, 10]),
///     Err(IndexError::OutOfRange { index: 10, rows: 10 })
/// );
/// assert_eq!(
///     ids.try_set_value(&[3]).unwrap_err().to_string(),
///     "got 1 indices but this input holds 2; the graph's lookup size is fixed at \
///      construction (build a new IndexInputNode and graph for a different length; in a \
///      `model!` whose count is a run-time dimension, `with_dimensions` does)"
/// );
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum IndexError {
    /// Another number of indices than the input holds.
    WrongLength {
        /// The number given.
        given: usize,
        /// The number the input holds.
        expected: usize,
    },
    /// An index past the last row of a table the input is looked up in.
    OutOfRange {
        /// The first such index.
        index: usize,
        /// The table's row count.
        rows: usize,
    },
    /// A target index past the last class of a loss the input gives targets to.
    TargetOutOfRange {
        /// The first such index.
        index: usize,
        /// The loss's class count.
        classes: usize,
    },
    /// A column index past the last column of a node it picks entries from
    /// ([`pick`](crate::Variable::pick)).
    ColumnOutOfRange {
        /// The first such index.
        index: usize,
        /// The node's column count.
        columns: usize,
    },
    /// A row index past the last row of a node it gathers rows from
    /// ([`gather_rows`](crate::Variable::gather_rows),
    /// [`gather_sum_bags`](crate::Variable::gather_sum_bags),
    /// [`gather_mean_bags`](crate::Variable::gather_mean_bags)).
    NodeRowOutOfRange {
        /// The first such index.
        index: usize,
        /// The node's row count.
        rows: usize,
    },
    /// A sequence length longer than the keys of a group of
    /// [`attention_padded`](crate::nn::attention_padded).
    LengthOutOfRange {
        /// The first such length.
        length: usize,
        /// The keys per group.
        keys: usize,
    },
    /// Another number of bags than a [`BagsInputNode`](super::BagsInputNode) holds.
    WrongBagCount {
        /// The number given.
        given: usize,
        /// The number the input holds.
        expected: usize,
    },
    /// Bag sizes that do not add up to the number of ids given with them.
    BagSizesMismatch {
        /// The sum of the sizes.
        total: usize,
        /// The number of ids.
        ids: usize,
    },
    /// Another number of weights than of ids given with them.
    WeightCountMismatch {
        /// The number of weights.
        weights: usize,
        /// The number of ids.
        ids: usize,
    },
}

impl IndexError {
    fn out_of_range(index: usize, bound: usize, kind: Bound) -> Self {
        match kind {
            Bound::Rows => IndexError::OutOfRange { index, rows: bound },
            Bound::Classes => IndexError::TargetOutOfRange {
                index,
                classes: bound,
            },
            Bound::Columns => IndexError::ColumnOutOfRange {
                index,
                columns: bound,
            },
            Bound::NodeRows => IndexError::NodeRowOutOfRange { index, rows: bound },
            Bound::Lengths => IndexError::LengthOutOfRange {
                length: index,
                keys: bound - 1,
            },
        }
    }
}

impl std::fmt::Display for IndexError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match *self {
            IndexError::WrongLength { given, expected } => write!(
                f,
                "got {given} indices but this input holds {expected}; the graph's lookup size \
                 is fixed at construction (build a new IndexInputNode and graph for a \
                 different length; in a `model!` whose count is a run-time dimension, \
                 `with_dimensions` does)"
            ),
            IndexError::OutOfRange { index, rows } => {
                write!(
                    f,
                    "index {index} is out of range for a table of {rows} rows"
                )
            }
            IndexError::TargetOutOfRange { index, classes } => write!(
                f,
                "target index {index} is out of range for {classes} classes"
            ),
            IndexError::ColumnOutOfRange { index, columns } => write!(
                f,
                "column index {index} is out of range for {columns} columns"
            ),
            IndexError::NodeRowOutOfRange { index, rows } => write!(
                f,
                "index {index} is out of range for the {rows} rows of the node it gathers from"
            ),
            IndexError::LengthOutOfRange { length, keys } => {
                write!(f, "length {length} is more than the {keys} keys per group")
            }
            IndexError::WrongBagCount { given, expected } => write!(
                f,
                "got {given} bags but this input holds {expected}; the number of bags is \
                 fixed at construction (the ids in each bag may vary)"
            ),
            IndexError::BagSizesMismatch { total, ids } => write!(
                f,
                "the bag sizes add up to {total} but {ids} ids were given"
            ),
            IndexError::WeightCountMismatch { weights, ids } => {
                write!(f, "got {weights} weights for {ids} ids; each id needs one")
            }
        }
    }
}

impl std::error::Error for IndexError {}

/// Index values accepted by [`set_value`](Variable::<IndexInputNode>::set_value): a
/// single `usize` (for an input of one index), or a reference to a slice, array or `Vec`
/// of them (`&[usize]`, `&[usize; N]`, `&Vec<usize>`).
///
/// ```
/// use wyrm::nodes::IndexValue;
/// use wyrm::*;
///
/// let idx = IndexInputNode::new(&[0, 0]);
/// idx.set_value(&[2, 1]);
/// idx.set_value(&vec![3, 4]);
/// assert_eq!(&*idx.indices(), &[3, 4]);
/// IndexInputNode::new(&[0]).set_value(5); // a single index
/// assert_eq!(5usize.as_indices(), &[5]);
/// ```
pub trait IndexValue {
    /// The indices as a slice.
    ///
    /// ```
    /// use wyrm::nodes::IndexValue;
    ///
    /// /// How many rows a lookup with these indices reads.
    /// fn rows_read(indices: impl IndexValue) -> usize {
    ///     indices.as_indices().len()
    /// }
    /// assert_eq!(rows_read(7), 1);
    /// assert_eq!(rows_read(&[3, 1, 3]), 3);
    /// assert_eq!((&vec![2, 7]).as_indices(), &[2, 7]);
    /// ```
    fn as_indices(&self) -> &[usize];
}

impl IndexValue for usize {
    #[inline(always)]
    fn as_indices(&self) -> &[usize] {
        std::slice::from_ref(self)
    }
}

impl IndexValue for &[usize] {
    #[inline(always)]
    fn as_indices(&self) -> &[usize] {
        self
    }
}

impl<const N: usize> IndexValue for &[usize; N] {
    #[inline(always)]
    fn as_indices(&self) -> &[usize] {
        &self[..]
    }
}

impl IndexValue for &Vec<usize> {
    #[inline(always)]
    fn as_indices(&self) -> &[usize] {
        self
    }
}

impl Variable<IndexInputNode> {
    /// Sets the indices for the next forward pass. As after an
    /// [`InputNode`](crate::InputNode)'s `set_value`, a [`backward`](Variable::backward)
    /// without a forward pass in between runs the forward pass again first, so that its
    /// gradients are those of the new indices (for lookups, the rows they name; for the
    /// input used as a number, its new value).
    ///
    /// ```
    /// use wyrm::*;
    /// let idx = IndexInputNode::new(&[0, 0]);
    /// idx.set_value(&[3, 1]);
    /// assert_eq!(&*idx.indices(), &[3, 1]);
    /// let one = IndexInputNode::new(&[0]);
    /// one.set_value(7);
    /// assert_eq!(one.indices()[0], 7);
    /// ```
    ///
    /// # Panics
    /// If the number of indices differs from the one the input was built with, or if an
    /// index is out of range for a table looked up with this input (or, as targets, for
    /// the class count of a loss; for the rows a `gather_rows` gathers from; for the
    /// columns a `pick` picks from) by a node that still exists. The input keeps its
    /// previous indices then. [`try_set_value`](Self::try_set_value) returns these cases
    /// as errors instead.
    #[inline(always)]
    #[track_caller]
    pub fn set_value(&self, value: impl IndexValue) {
        const NAME: &str = "IndexInputNode::set_value";
        if let Err(error) = self.set_checked(value.as_indices(), NAME) {
            rejected(error, NAME);
        }
    }

    /// [`set_value`](Self::set_value), returning an error instead of panicking when the
    /// number of indices is not the input's or an index is out of range (say, an id from
    /// a request that no table row has); the input keeps its previous indices then.
    /// It still panics where `set_value` cannot run at all: while the indices are
    /// borrowed (an [`indices`](Self::indices) guard alive).
    ///
    /// ```
    /// use wyrm::nodes::IndexError;
    /// use wyrm::*;
    ///
    /// let users = ParameterNode::new(random_matrix(100, 8));
    /// let user = IndexInputNode::new(&[0]);
    /// let embedding = users.index(&user);
    /// assert_eq!(user.try_set_value(7), Ok(()));
    /// assert_eq!(user.try_set_value(100), Err(IndexError::OutOfRange { index: 100, rows: 100 }));
    /// assert_eq!(user.indices()[0], 7);
    /// # let _ = embedding;
    /// ```
    #[inline(always)]
    #[track_caller]
    pub fn try_set_value(&self, value: impl IndexValue) -> Result<(), IndexError> {
        self.set_checked(value.as_indices(), "IndexInputNode::try_set_value")
    }

    #[inline(always)]
    #[track_caller]
    fn set_checked(&self, new: &[usize], what: &'static str) -> Result<(), IndexError> {
        self.node().set_checked(new, what, "`indices()`")
    }

    /// The current indices.
    ///
    /// ```
    /// use wyrm::*;
    ///
    /// let idx = IndexInputNode::new(&[2, 0, 1]);
    /// assert_eq!(&*idx.indices(), &[2, 0, 1]);
    /// // As a node, its value is the same indices as an `f32` column.
    /// assert_eq!(idx.value(), ndarray::arr2(&[[2.0], [0.0], [1.0]]));
    /// ```
    pub fn indices(&self) -> Ref<'_, [usize]> {
        Ref::map(self.node().indices.borrow(), |v| v.as_slice())
    }
}

impl Node for IndexInputNode {
    type Rows = Dyn;
    type Cols = U1;

    #[inline(always)]
    fn shape(&self) -> (usize, usize) {
        (self.len(), 1)
    }

    #[inline(always)]
    fn forward(&self, _pass: Pass) {}

    #[inline(always)]
    fn backward(&self, _gradient: &[f32]) {}

    #[inline(always)]
    fn backward_nothing(&self) {}

    #[inline(always)]
    fn value(&self) -> Ref<'_, [f32]> {
        if self.stale.get() {
            let indices = self.indices.borrow();
            let mut value = (self.value.try_borrow_mut()).unwrap_or_else(|_| {
                panic!(
                    "IndexInputNode: its indices changed while its value was being read (a \
                     `set_value` inside `with_value`); finish reading before setting"
                )
            });
            value.resize(indices.len(), 0.0); // a variable input's count changes
            for (v, &i) in value.iter_mut().zip(indices.iter()) {
                *v = i as f32;
            }
            self.stale.set(false);
        }
        Ref::map(self.value.borrow(), |v| v.as_slice())
    }

    #[inline(always)]
    fn needs_gradient(&self) -> bool {
        false
    }
}

/// Node selecting rows of a parameter: the `k x cols` matrix of the rows named by an
/// [`IndexInputNode`] of `k` indices. Its gradient is recorded row-sparse, written by its
/// consumers straight into the table's gradient. With one index into a table held by this
/// thread, its value is the table's row itself rather than a copy (see
/// [`Node::value`](#method.value)).
///
/// ```
/// use wyrm::nodes::Index;
/// use wyrm::*;
///
/// let table = ParameterNode::new(ndarray::arr2(&[[1.0, 2.0], [3.0, 4.0]]));
/// let idx = IndexInputNode::new(&[1]);
/// let rows: Variable<Index> = table.index(&idx);
/// rows.forward();
/// assert_eq!(rows.value(), ndarray::arr2(&[[3.0, 4.0]]));
/// ```
pub struct Index<R: Dim = Dyn, C: Dim = Dyn> {
    table: Rc<ParameterNode<R, C>>,
    indices: Rc<IndexInputNode>,
    /// The indices used by the latest forward pass, so that backward uses the same rows
    /// even if the input was set in between (with one index, in `row` instead).
    rows: RefCell<Vec<usize>>,
    /// The index used by the latest forward pass when there is one index.
    row: Cell<usize>,
    /// Whether the input holds one index (the batch of one that the training loops of
    /// embeddings run most); then `row` stands in for `rows`, without borrow checks.
    single: bool,
    /// One index into a table stored in this thread: the value is the table's row itself,
    /// borrowed in place rather than copied (see [`Node::value`] below).
    view: bool,
    state: NodeState,
    /// Keeps the table's row count limiting the input's indices while this node lives.
    _binding: Binding,
}

impl<R: Dim, C: Dim> Index<R, C> {
    /// Builds the node; panics if a current index is out of range for the table.
    ///
    /// ```
    /// use wyrm::nodes::Index;
    /// use wyrm::*;
    ///
    /// let table = ParameterNode::new(ndarray::arr2(&[[1.0, 2.0], [3.0, 4.0]]));
    /// let idx = IndexInputNode::new(&[1, 0, 1]);
    /// let node = Index::new(table.node().clone(), idx.node().clone());
    /// assert_eq!(node.shape(), (3, 2));
    /// // What `table.index(&idx)` builds.
    /// let rows = Variable::with_operands(node, &[(&table).into()]);
    /// rows.forward();
    /// assert_eq!(rows.value()[(2, 0)], 3.0);
    /// ```
    #[track_caller]
    pub fn new(table: Rc<ParameterNode<R, C>>, indices: Rc<IndexInputNode>) -> Self {
        let (rows, cols) = table.shape();
        let binding = IndexInputNode::bind(&indices, rows, Bound::Rows, "index");
        indices.watch(&crate::nodes::parameter::erase(table.clone()));
        let k = indices.len();
        let current = indices.current().to_vec();
        Index {
            row: Cell::new(current.first().copied().unwrap_or(0)),
            rows: RefCell::new(current),
            single: k == 1,
            view: k == 1 && !table.is_shared(),
            state: NodeState::new((k, cols)),
            table,
            indices,
            _binding: binding,
        }
    }

    /// Forward work after the first visit of a pass: latch the indices and copy the rows
    /// unless the value is a view.
    #[inline(always)]
    fn forward_rows(&self, pass: Pass) {
        self.table.forward(pass);
        let cols = C::fold(self.state.shape().1);
        if self.single {
            let row = self.indices.first.get();
            // `set_value` already checked against every table; this catches only a table
            // that shrank, which cannot happen, and costs one comparison.
            check_range(&[row], self.table.shape().0, Bound::Rows, "index");
            self.row.set(row);
            if !self.view {
                self.table
                    .read_rows(&[row], cols, &mut self.state.value_mut());
            }
        } else {
            let mut rows = self.rows.borrow_mut();
            rows.copy_from_slice(&self.indices.indices.borrow());
            check_range(&rows, self.table.shape().0, Bound::Rows, "index");
            self.table
                .read_rows(&rows, cols, &mut self.state.value_mut());
        }
    }

    /// Adds the lookup's complete gradient `g` to the looked-up rows' gradient.
    #[inline(always)]
    fn record(&self, g: &[f32]) {
        let (k, cols) = self.state.shape();
        let g = &g[..k * C::fold(cols)];
        self.with_rows(|rows| self.table.accumulate_rows(rows, g));
    }

    /// Calls `f` with the indices of the latest forward pass.
    #[inline(always)]
    fn with_rows<T>(&self, f: impl FnOnce(&[usize]) -> T) -> T {
        if self.single {
            f(&[self.row.get()])
        } else {
            f(&self.rows.borrow())
        }
    }
}

impl<R: Dim, C: Dim> Node for Index<R, C> {
    type Rows = Dyn;
    type Cols = C;

    #[inline(always)]
    fn shape(&self) -> (usize, usize) {
        self.state.shape()
    }

    #[inline(always)]
    fn forward(&self, pass: Pass) {
        if !self.state.visit(pass) {
            return;
        }
        self.forward_rows(pass);
    }

    /// With a single consumer, its contribution goes straight into the table's row-sparse
    /// gradient (usually through `backward_into`); with several, they are summed here
    /// first, so that the rows are recorded once.
    #[inline(always)]
    fn backward(&self, gradient: &[f32]) {
        if let Some(gradient) = self.state.gather(gradient) {
            self.record(&gradient);
        }
    }

    /// If no consumer sends a gradient, no row is recorded.
    #[inline]
    fn backward_nothing(&self) {
        self.state.gather_nothing(|g| self.record(g), || {});
    }

    /// Consumers write their gradient straight into the table's row-sparse gradient.
    #[inline(always)]
    fn backward_into<W: GradientWrite>(&self, write: W) -> Option<W> {
        let cols = C::fold(self.state.shape().1);
        if self.state.consumers() > 1 {
            // Several consumers: their contributions are summed in `backward` first, so
            // that the rows are recorded once (not once per consumer, which would leave
            // duplicates for the optimizer to sort and merge every step).
            return Some(write);
        }
        // Not through `with_rows`: LLVM would keep that closure out of line.
        if self.single {
            self.table
                .accumulate_rows_with(&[self.row.get()], cols, write);
        } else {
            self.table
                .accumulate_rows_with(&self.rows.borrow(), cols, write);
        }
        None
    }

    /// The looked-up rows. A single row of a table held by this thread is not copied:
    /// the value is that row of the table, borrowed in place, which saves a copy per
    /// lookup and lets the consumer's reads of several tables miss the cache together.
    /// Like a parameter's own value, read through the node it therefore shows changes
    /// made to the row after the forward pass; the row itself is the one chosen then.
    /// Lookups of several indices, and of shared tables, hold a copy taken in the
    /// forward pass instead. (`Variable::backward` hides the difference for changes made
    /// through this thread's nodes: an optimizer step or a `set_value` draws a new pass,
    /// so the backward pass first runs the forward pass again. Only a write to shared
    /// storage itself, by another thread or `HogwildParameter::set_value`, is then seen
    /// by a one-row view of a local table but not by a copy.)
    #[inline(always)]
    fn value(&self) -> Ref<'_, [f32]> {
        if self.view {
            let cols = C::fold(self.state.shape().1);
            self.table.local_row(self.row.get(), cols)
        } else {
            self.state.value()
        }
    }

    #[inline(always)]
    fn begin_backward(&self) {
        self.state.begin_backward();
    }

    #[inline(always)]
    fn needs_gradient(&self) -> bool {
        true
    }
}

impl<R: Dim, C: Dim> Variable<ParameterNode<R, C>> {
    /// Looks up rows of this parameter (an embedding table): the `k x cols` matrix whose
    /// row `j` is row `idx[j]` of the parameter. Repeated indices are allowed; their
    /// gradients sum. The gradient is recorded for the looked-up rows only. Setting `idx`
    /// also asks the CPU to start fetching the named rows (the first 8 of them) and their
    /// optimizer state, so that lookups in large tables overlap their cache misses with
    /// the rest of the step. Rows of a computed node (a layer's output) are picked by
    /// [`gather_rows`](Variable::gather_rows).
    ///
    /// The optimizer sums repeated rows before updating each once, in time linear in the
    /// lookups. When a step looks up many more ids than the table has rows (full-batch
    /// training of a small table: 50,000 ids into 5,000 rows), `table.gather_rows(&idx)`
    /// records a dense gradient instead, which is cheaper to sum (a forward, backward and
    /// Adam step of 50,000 ids into 5,000 x 8 rows took about 0.35 ms through
    /// `gather_rows` and 0.75 ms through `index` on a 2-core machine); but then every row
    /// is updated at every step, so rows not looked up still move under Adam and SGD with
    /// momentum, and decay under an L2 penalty or weight decay (see [`optim`](crate::optim)
    /// on lazy updates).
    ///
    /// ```
    /// use wyrm::*;
    ///
    /// let users = ParameterNode::new(random_matrix(100, 8));
    /// let items = ParameterNode::new(random_matrix(1000, 8));
    /// let (u, i) = (IndexInputNode::new(&[0]), IndexInputNode::new(&[0]));
    /// let score = users.index(&u).vector_dot(&items.index(&i));
    /// u.set_value(42);
    /// i.set_value(512);
    /// score.forward();
    /// score.backward(1.0);
    /// let g = items.gradient();
    /// assert_eq!(g.row(512).to_vec(), users.value().row(42).to_vec());
    /// ```
    ///
    /// # Panics
    /// If an index in `idx` is out of range for this parameter (here, and later in
    /// [`set_value`](Variable::<IndexInputNode>::set_value)).
    #[track_caller]
    pub fn index(&self, idx: &Variable<IndexInputNode>) -> Variable<Index<R, C>> {
        let node = Index::new(self.node().clone(), idx.node().clone());
        Variable::with_links(node, &[self.links()])
    }
}

#[cfg(test)]
mod tests {
    use crate::*;
    use ndarray::{arr2, Array2};
    use std::sync::Arc;

    fn matrix(rows: usize, cols: usize, seed: u64) -> Array2<f32> {
        crate::init::seeded(rows, cols, 1.0, seed)
    }

    #[test]
    fn forward_copies_rows() {
        let t = matrix(5, 3, 1);
        let table = ParameterNode::new(t.clone());
        let idx = IndexInputNode::new(&[4, 1, 4]);
        let rows = table.index(&idx);
        rows.forward();
        assert_eq!(rows.shape(), (3, 3));
        for (j, &i) in [4, 1, 4].iter().enumerate() {
            assert_eq!(rows.value().row(j), t.row(i));
        }
        assert_eq!(idx.value().to_owned(), arr2(&[[4.0], [1.0], [4.0]]));
        idx.set_value(&[0, 2, 3]);
        assert_eq!(idx.value().to_owned(), arr2(&[[0.0], [2.0], [3.0]]));
        assert_eq!(&*idx.indices(), &[0, 2, 3]);
        assert_eq!(idx.shape(), (3, 1));
        assert!(!idx.needs_gradient());
    }

    #[test]
    fn repeated_indices_sum() {
        let table = ParameterNode::new(matrix(4, 2, 2));
        let idx = IndexInputNode::new(&[3, 0, 3, 3]);
        let out = table.index(&idx);
        out.forward();
        out.backward_with(arr2(&[[1.0, 2.0], [3.0, 4.0], [5.0, 6.0], [7.0, 8.0]]).view());
        let g = table.gradient();
        assert_eq!(g.row(3).to_vec(), vec![13.0, 16.0]);
        assert_eq!(g.row(0).to_vec(), vec![3.0, 4.0]);
        assert_eq!(g.row(1).to_vec(), vec![0.0, 0.0]);
        assert!(table.node().gradient_is_sparse());
        gradcheck::assert_gradient(&out, &table);
    }

    #[test]
    fn two_lookups_of_one_table_sum() {
        let table = ParameterNode::new(matrix(6, 3, 3));
        let a = IndexInputNode::new(&[1, 2]);
        let b = IndexInputNode::new(&[2, 5]);
        let out = table.index(&a).vector_dot(&table.index(&b));
        out.forward();
        out.backward(1.0);
        let t = table.value().to_owned();
        let g = table.gradient();
        // d/dT of T1·T2 + T2·T5.
        assert_eq!(g.row(1), t.row(2));
        for c in 0..3 {
            assert!((g[(2, c)] - (t[(1, c)] + t[(5, c)])).abs() < 1e-6);
        }
        assert_eq!(g.row(5), t.row(2));
        assert_eq!(g.row(0).to_vec(), vec![0.0; 3]);
        table.zero_gradient();
        gradcheck::assert_gradient(&out, &table);
    }

    #[test]
    fn gradients_on_several_shapes() {
        for (rows, cols, idx) in [
            (1, 1, vec![0]),
            (7, 4, vec![6]),
            (10, 5, vec![2, 9, 2]),
            (3, 17, vec![0, 1, 2, 1, 0]),
        ] {
            let table = ParameterNode::new(matrix(rows, cols, rows as u64));
            let idx = IndexInputNode::new(&idx);
            gradcheck::assert_gradient(&table.index(&idx).tanh(), &table);
        }
    }

    #[test]
    fn dense_and_sparse_use_of_one_table_matches_finite_differences() {
        // wyrm 0.9: the dense and the sparse contribution overwrote each other.
        let table = ParameterNode::new(matrix(4, 3, 4));
        let x = InputNode::new(matrix(2, 4, 5));
        let idx = IndexInputNode::new(&[3, 1]);
        // x · T is 2x3 (dense use), T[idx] is 2x3 (sparse use).
        let out = (x.dot(&table) + table.index(&idx)).tanh();
        gradcheck::assert_gradient(&out, &table);
        // Same, with the sparse term first and a second lookup.
        let idx2 = IndexInputNode::new(&[1, 1]);
        let out2 = table.index(&idx) * table.index(&idx2) + x.dot(&table);
        gradcheck::assert_gradient(&out2, &table);
    }

    #[test]
    fn gradient_returns_dense_sum() {
        let table = ParameterNode::new(matrix(3, 2, 6));
        let x = InputNode::new(arr2(&[[1.0, 2.0, 3.0]]));
        let idx = IndexInputNode::new(&[2]);
        let out = x.dot(&table) + table.index(&idx);
        out.forward();
        out.backward(1.0);
        // Dense part: xᵀ · 1 = [[1, 1], [2, 2], [3, 3]]; sparse part: +1 on row 2.
        assert_eq!(
            table.gradient(),
            arr2(&[[1.0, 1.0], [2.0, 2.0], [4.0, 4.0]])
        );
        assert!(!table.node().gradient_is_sparse());
    }

    #[test]
    fn a_backward_after_new_indices_forwards_them_first() {
        let table = ParameterNode::new(arr2(&[[0.0], [10.0], [20.0], [30.0]]));
        let idx = IndexInputNode::new(&[1]);
        let out = table.index(&idx);
        out.forward();
        assert_eq!(out.value(), arr2(&[[10.0]]));
        idx.set_value(3);
        out.backward(1.0);
        assert_eq!(table.gradient(), arr2(&[[0.0], [0.0], [0.0], [1.0]]));
        assert_eq!(out.value(), arr2(&[[30.0]]));
    }

    #[test]
    fn single_row_of_a_local_table_is_read_in_place() {
        let t = matrix(5, 3, 11);
        let table = ParameterNode::new(t.clone());
        let idx = IndexInputNode::new(&[2]);
        let row = table.index(&idx);
        // Before any forward pass: the row the input named when the node was built.
        assert_eq!(row.value().row(0), t.row(2));
        idx.set_value(4);
        row.forward();
        assert_eq!(row.value().row(0), t.row(4));
        // The index stays latched until the next pass, while the table row is read live,
        // as a parameter's own value is.
        idx.set_value(0);
        let new = arr2(&[[1.0, 2.0, 3.0]; 5]);
        table.set_value(&new);
        assert_eq!(row.value().row(0), new.row(4));
        let loss = row.vector_dot(&InputNode::new(arr2(&[[1.0, -1.0, 2.0]])));
        gradcheck::assert_gradient(&loss, &table);
    }

    #[test]
    fn a_gradient_writer_that_panics_records_nothing() {
        use crate::optim::Optimizer;
        use std::panic::{catch_unwind, AssertUnwindSafe};
        let start = matrix(4, 3, 14);
        let table = ParameterNode::new(start.clone());
        let idx = IndexInputNode::new(&[2]);
        let rows = table.index(&idx);
        let failed = |buffer: &mut [f32], _: bool| {
            buffer.iter_mut().for_each(|b| *b = 1.0);
            panic!("writer failed halfway");
        };
        let panicked = catch_unwind(AssertUnwindSafe(|| {
            rows.node().backward_into(failed);
        }));
        assert!(panicked.is_err());
        let panicked = catch_unwind(AssertUnwindSafe(|| {
            table.node().backward_into(failed);
        }));
        assert!(panicked.is_err());
        assert_eq!(table.gradient(), Array2::zeros((4, 3)));
        let mut sgd = SGD::new(0.1, vec![table.clone()]);
        sgd.step();
        assert_eq!(table.value(), start, "nothing to apply");
    }

    #[test]
    fn an_index_input_keeps_no_dropped_table_alive() {
        let idx = IndexInputNode::new(&[1]);
        let table = ParameterNode::new(matrix(4, 3, 12));
        let weak = std::rc::Rc::downgrade(table.node());
        drop(table.index(&idx));
        drop(table);
        assert!(weak.upgrade().is_none(), "the input must not own the table");
        // Setting the input afterwards skips the dropped table, and a new table in its
        // place is watched instead.
        idx.set_value(3);
        let other = ParameterNode::new(matrix(5, 3, 13));
        let row = other.index(&idx);
        assert_eq!(idx.node().tables.borrow().len(), 1);
        idx.set_value(2);
        row.forward();
        assert_eq!(row.value().row(0), other.value().row(2));
    }

    #[test]
    fn a_dropped_lookup_no_longer_limits_the_input() {
        let idx = IndexInputNode::new(&[0]);
        let big = ParameterNode::new(matrix(10, 2, 14));
        let kept = big.index(&idx);
        let small = ParameterNode::new(matrix(3, 2, 15));
        let short_lived = small.index(&idx);
        let too_far = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| idx.set_value(7)));
        let message = too_far.expect_err("7 is past the small table while its lookup lives");
        assert_eq!(
            message.downcast_ref::<String>().map(String::as_str),
            Some("IndexInputNode::set_value: index 7 is out of range for a table of 3 rows")
        );
        drop(short_lived);
        // The small table's lookup is gone: only the big table limits the input now.
        idx.set_value(7);
        kept.forward();
        assert_eq!(kept.value().row(0), big.value().row(7));
        let too_far = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| idx.set_value(10)));
        assert!(too_far.is_err(), "10 is still past the big table");
        assert_eq!(
            idx.indices()[0],
            7,
            "a rejected value keeps the previous one"
        );
    }

    #[test]
    fn shared_tables_are_looked_up_through_atomics() {
        let shared = Arc::new(HogwildParameter::new(matrix(5, 2, 7)));
        let table = ParameterNode::shared(shared.clone());
        let idx = IndexInputNode::new(&[4]);
        let out = table.index(&idx);
        out.forward();
        assert_eq!(out.value().row(0), shared.value().row(4));
        gradcheck::assert_gradient(&out, &table);
    }

    #[test]
    fn static_table_keeps_its_column_type() {
        use typenum::{U2, U3};
        let table = ParameterNode::<U3, U2>::new_static(matrix(3, 2, 8));
        let idx = IndexInputNode::new(&[2, 0]);
        let other = InputNode::<typenum::U2, U2>::new_static(matrix(2, 2, 9));
        // Cols = U2 composes with a statically shaped operand.
        let out = table.index(&idx) * other;
        gradcheck::assert_gradient(&out, &table);
    }

    #[test]
    #[should_panic(expected = "index: index 5 is out of range for a table of 5 rows")]
    fn out_of_range_at_construction() {
        let table = ParameterNode::new(matrix(5, 2, 10));
        let _ = table.index(&IndexInputNode::new(&[0, 5]));
    }

    #[test]
    #[should_panic(
        expected = "IndexInputNode::set_value: index 9 is out of range for a table of 3 rows"
    )]
    fn out_of_range_at_set_value() {
        let small = ParameterNode::new(matrix(3, 2, 11));
        let large = ParameterNode::new(matrix(10, 2, 12));
        let idx = IndexInputNode::new(&[0]);
        let _a = large.index(&idx);
        let _b = small.index(&idx);
        idx.set_value(2);
        idx.set_value(9);
    }

    #[test]
    #[should_panic(
        expected = "got 3 indices but this input holds 2; the graph's lookup size is fixed at construction"
    )]
    fn length_change_panics() {
        IndexInputNode::new(&[0, 1]).set_value(&[0, 1, 2]);
    }

    #[test]
    #[should_panic(expected = "got 1 indices but this input holds 2")]
    fn single_index_on_longer_input_panics() {
        IndexInputNode::new(&[0, 1]).set_value(1);
    }

    #[test]
    fn rejected_value_keeps_the_previous_indices() {
        let table = ParameterNode::new(matrix(3, 2, 13));
        let idx = IndexInputNode::new(&[1, 2]);
        let rows = table.index(&idx);
        let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            idx.set_value(&[0, 7]);
        }));
        assert!(result.is_err(), "an out-of-range index must be rejected");
        assert_eq!(&*idx.indices(), &[1, 2]);
        rows.forward();
        assert_eq!(rows.value().row(0).to_vec(), table.value().row(1).to_vec());
    }

    /// A lookup read by several consumers (a factorisation machine's
    /// `(Σv)² - Σv²`, an embedding that feeds two heads) records its rows once per pass
    /// in the table's gradient, their contributions summed first: no duplicates for the
    /// optimizer to sort and merge every step. (`tanh` hands its gradient to `backward`,
    /// the others write through `backward_into`.)
    #[test]
    fn several_consumers_of_a_lookup_share_its_gradient_rows() {
        let table = ParameterNode::new(matrix(6, 3, 10));
        for k in [1, 3] {
            let idx = IndexInputNode::new(&[4, 1, 2][..k]);
            let rows = table.index(&idx);
            let w = ParameterNode::new(matrix(3, 1, 11));
            let interaction = rows.sum_columns().square().scalar_sum() - rows.square().scalar_sum();
            let out = interaction + rows.dot(&w).scalar_sum() + rows.tanh().scalar_sum();
            for _ in 0..2 {
                table.zero_gradient();
                out.forward();
                out.backward(1.0);
                assert_eq!(table.node().gradient_entries(), k, "{k} rows");
            }
            gradcheck::assert_gradient(&out, &table);
        }
    }
}
