//! [`BagsInputNode`]: the bags of ids (and optionally a weight per id) that
//! [`sum_bags`](Variable::sum_bags) and [`mean_bags`](Variable::mean_bags) pool, set
//! before each forward pass.

use crate::node::{Node, Pass};
use crate::nodes::index::{rejected, IndexError, IndexInputNode};
use crate::shape::Dyn;
use crate::Variable;
use std::cell::{Cell, Ref, RefCell, RefMut};
use std::rc::Rc;
use typenum::U1;

/// An input holding bags of row ids, for a parameter table's
/// [`sum_bags`](Variable::sum_bags) and [`mean_bags`](Variable::mean_bags) (row-sparse
/// gradients), and for any node's [`gather_sum_bags`](Variable::gather_sum_bags),
/// [`gather_mean_bags`](Variable::gather_mean_bags),
/// [`gather_max_bags`](Variable::gather_max_bags) and
/// [`gather_logsumexp_bags`](Variable::gather_logsumexp_bags) (a graph network's
/// neighbour lists, a ranking loss's queries): a fixed number of bags, each with any
/// number of ids (none included), set with
/// [`set_value`](Variable::<BagsInputNode>::set_value) before each forward pass. An id out
/// of range for a table or node pooled with these bags is rejected there, naming the id
/// and the row count.
///
/// Each id may carry a weight (TF-IDF, a rating, a recency decay) that multiplies its row
/// in the pooling: set the bags with [`set_weighted`](Variable::<BagsInputNode>::set_weighted)
/// or [`set_weighted_flat`](Variable::<BagsInputNode>::set_weighted_flat) instead.
///
/// Two uses beyond pooling features:
///
/// - **Padding for free.** Groups of different sizes packed into a graph of fixed
///   capacity (a ranking batch's queries, a batch of documents) can leave the unused
///   slots an empty bag each: it pools to zeros, reads no row and records no gradient,
///   whereas a padding id is a row looked up (the optimizer counts it as used, see
///   [`optim`](crate::optim)).
/// - **Differences.** A weighted bag `[(i, 1.0), (j, -1.0)]` pooled by
///   [`gather_sum_bags`](Variable::gather_sum_bags) is `s_i − s_j`: one bag per pair
///   gives a pairwise ranking loss (RankNet's `softplus(−(s_i − s_j))`) over any list of
///   pairs, with empty bags for unused pair slots.
///
/// ```
/// use wyrm::*;
///
/// // Scores of four documents; pairs (0 above 2) and (3 above 1), and one unused slot.
/// let scores = ParameterNode::new(ndarray::arr2(&[[2.0], [0.5], [1.0], [0.0]]));
/// let pairs = BagsInputNode::new(3);
/// pairs.set_weighted([vec![(0, 1.0), (2, -1.0)], vec![(3, 1.0), (1, -1.0)], vec![]]);
/// let margins = scores.gather_sum_bags(&pairs);
/// let loss = (-margins).softplus().scalar_sum();
/// loss.forward();
/// loss.backward(1.0);
/// // softplus(-1) + softplus(0.5) + softplus(0)
/// let expected = (-1f32).exp().ln_1p() + 0.5f32.exp().ln_1p() + 2f32.ln();
/// assert!((loss.value()[(0, 0)] - expected).abs() < 1e-6);
/// // d/ds_0 = -sigmoid(-1): the better-ranked document is pushed up.
/// assert!((scores.gradient()[(0, 0)] + 1.0 / (1.0 + 1f32.exp())).abs() < 1e-6);
/// ```
///
/// (The unused slot still costs `softplus(0) = ln 2` here; weight the pairs' losses by an
/// input of ones and zeros to take it out.)
///
/// As a node, its value is the `bags x 1` column of the bag sizes (as `f32`).
///
/// ```
/// use wyrm::*;
///
/// let words = ParameterNode::new(ndarray::arr2(&[[1.0, 0.0], [0.0, 1.0], [2.0, 2.0]]));
/// let documents = BagsInputNode::new(2); // two documents per step
/// let pooled = words.sum_bags(&documents);
/// documents.set_value([vec![0, 2, 2], vec![1]]);
/// let pooled = pooled;
/// pooled.forward();
/// assert_eq!(pooled.value(), ndarray::arr2(&[[5.0, 4.0], [0.0, 1.0]]));
/// documents.set_value([vec![], vec![0, 1]]); // an empty bag pools to zeros
/// pooled.forward();
/// assert_eq!(pooled.value(), ndarray::arr2(&[[0.0, 0.0], [1.0, 1.0]]));
/// ```
#[derive(Debug)]
pub struct BagsInputNode {
    /// Every bag's ids, one bag after the other. Never handed out as a node: its length
    /// varies.
    pub(crate) ids: Rc<IndexInputNode>,
    /// The number of ids in each bag.
    pub(super) sizes: RefCell<Vec<usize>>,
    /// One weight per id, or none at all for unweighted bags (every weight 1).
    pub(super) weights: RefCell<Vec<f32>>,
    /// Whether the bags were set with weights (also when they hold no ids).
    weighted: Cell<bool>,
    /// `sizes` as an `f32` column, the node's value.
    value: RefCell<Vec<f32>>,
    /// Where `set_value` and `set_weighted` flatten the bags before checking them (kept,
    /// so that setting bags allocates nothing once the buffers have grown).
    staging: RefCell<Staging>,
}

/// An entry of a bag as the setters take it: an id, or an `(id, weight)` pair.
trait BagEntry {
    /// Whether entries carry weights.
    const WEIGHTED: bool;
    /// The id.
    fn id(&self) -> usize;
    /// The weight, if entries carry one.
    fn weight(&self) -> Option<f32>;
}

impl BagEntry for usize {
    const WEIGHTED: bool = false;
    fn id(&self) -> usize {
        *self
    }
    fn weight(&self) -> Option<f32> {
        None
    }
}

impl BagEntry for (usize, f32) {
    const WEIGHTED: bool = true;
    fn id(&self) -> usize {
        self.0
    }
    fn weight(&self) -> Option<f32> {
        Some(self.1)
    }
}

/// Flattened bags: ids, sizes and weights.
type Staging = (Vec<usize>, Vec<usize>, Vec<f32>);

impl BagsInputNode {
    /// An input of `bags` bags, all empty until set.
    ///
    /// ```
    /// use wyrm::*;
    ///
    /// let bags = BagsInputNode::new(3);
    /// assert_eq!(bags.shape(), (3, 1));
    /// assert_eq!(&*bags.sizes(), &[0, 0, 0]);
    /// ```
    #[allow(clippy::new_ret_no_self)]
    pub fn new(bags: usize) -> Variable<BagsInputNode> {
        Variable::from_parts(
            Rc::new(BagsInputNode {
                ids: IndexInputNode::variable(&[]),
                sizes: RefCell::new(vec![0; bags]),
                weights: RefCell::new(Vec::new()),
                weighted: Cell::new(false),
                value: RefCell::new(vec![0.0; bags]),
                staging: RefCell::new((Vec::new(), Vec::new(), Vec::new())),
            }),
            crate::variable::Links::parameters(Rc::from(Vec::new())),
        )
    }

    /// The number of bags.
    pub(crate) fn bags(&self) -> usize {
        self.value.borrow().len()
    }

    /// Calls `f` with every bag's ids one bag after the other, the bags' sizes, and one
    /// weight per id (empty for unweighted bags).
    pub(crate) fn with_contents<T>(&self, f: impl FnOnce(&[usize], &[usize], &[f32]) -> T) -> T {
        f(
            &self.ids.current(),
            &self.sizes.borrow(),
            &self.weights.borrow(),
        )
    }

    /// Checks and stores bags given flat: `ids` one bag after the other, `sizes` the
    /// number of ids in each, and `weights` one per id (or `None`: unweighted).
    #[track_caller]
    fn set_checked(
        &self,
        ids: &[usize],
        sizes: &[usize],
        weights: Option<&[f32]>,
        what: &'static str,
    ) -> Result<(), IndexError> {
        if sizes.len() != self.bags() {
            return Err(IndexError::WrongBagCount {
                given: sizes.len(),
                expected: self.bags(),
            });
        }
        let total: usize = sizes.iter().sum();
        if total != ids.len() {
            return Err(IndexError::BagSizesMismatch {
                total,
                ids: ids.len(),
            });
        }
        if let Some(weights) = weights.filter(|w| w.len() != ids.len()) {
            return Err(IndexError::WeightCountMismatch {
                weights: weights.len(),
                ids: ids.len(),
            });
        }
        // Everything borrowed before anything changes, so that ids, sizes and weights
        // change together or not at all.
        const READERS: &str = "`ids()`, `sizes()`, `weights()` or `Node::value`";
        #[track_caller]
        fn borrow<'a, T>(cell: &'a RefCell<T>, what: &str) -> RefMut<'a, T> {
            (cell.try_borrow_mut()).unwrap_or_else(|_| crate::node::value_in_use(what, READERS))
        }
        let mut stored_sizes = borrow(&self.sizes, what);
        let mut stored_weights = borrow(&self.weights, what);
        let mut value = borrow(&self.value, what);
        // Checks the ids against every table pooled with them and draws a pass.
        self.ids.set_checked(ids, what, READERS)?;
        stored_sizes.copy_from_slice(sizes);
        for (v, &n) in value.iter_mut().zip(sizes) {
            *v = n as f32;
        }
        stored_weights.clear();
        stored_weights.extend_from_slice(weights.unwrap_or_default());
        self.weighted.set(weights.is_some());
        Ok(())
    }
}

impl Variable<BagsInputNode> {
    /// Sets the bags for the next forward pass, one collection of ids per bag (slices,
    /// arrays or `Vec`s, e.g. a `&Vec<Vec<usize>>`). As after an index input's
    /// `set_value`, a [`backward`](Variable::backward) without a forward pass in between
    /// runs the forward pass again first, so its gradients are those of the new bags.
    ///
    /// ```
    /// use wyrm::*;
    ///
    /// let bags = BagsInputNode::new(2);
    /// bags.set_value([&[3, 1][..], &[]]);
    /// assert_eq!(&*bags.ids(), &[3, 1]);
    /// let history: Vec<Vec<usize>> = vec![vec![4], vec![5, 6, 7]];
    /// bags.set_value(&history);
    /// assert_eq!(&*bags.sizes(), &[1, 3]);
    /// ```
    ///
    /// # Panics
    /// If the number of bags is not the input's, or an id is out of range for a table
    /// (or, for `gather_sum_bags` and `gather_mean_bags`, a node) pooled with these bags
    /// by a node that still exists. The input keeps its previous
    /// bags then. [`try_set_value`](Self::try_set_value) returns these cases as errors.
    #[track_caller]
    pub fn set_value<B: AsRef<[usize]>>(&self, bags: impl IntoIterator<Item = B>) {
        const NAME: &str = "BagsInputNode::set_value";
        if let Err(error) = self.try_set(bags, NAME) {
            rejected(error, NAME);
        }
    }

    /// [`set_value`](Self::set_value), returning an error instead of panicking when the
    /// number of bags is wrong or an id is out of range; the input keeps its previous
    /// bags then. It still panics where no setter can run: while the bags are being read
    /// (inside `with_value`, or a guard from `ids()`, `sizes()` or `weights()` alive).
    ///
    /// ```
    /// use wyrm::nodes::IndexError;
    /// use wyrm::*;
    ///
    /// let items = ParameterNode::new(random_matrix(10, 4));
    /// let recent = BagsInputNode::new(1);
    /// let _pooled = items.mean_bags(&recent);
    /// assert_eq!(
    ///     recent.try_set_value([vec![3, 10]]),
    ///     Err(IndexError::OutOfRange { index: 10, rows: 10 })
    /// );
    /// assert_eq!(
    ///     recent.try_set_value([vec![1], vec![2]]),
    ///     Err(IndexError::WrongBagCount { given: 2, expected: 1 })
    /// );
    /// ```
    #[track_caller]
    pub fn try_set_value<B: AsRef<[usize]>>(
        &self,
        bags: impl IntoIterator<Item = B>,
    ) -> Result<(), IndexError> {
        self.try_set(bags, "BagsInputNode::try_set_value")
    }

    /// Flattens `bags` into the staging buffers, then checks and stores them.
    #[track_caller]
    fn try_set<E: BagEntry, B: AsRef<[E]>>(
        &self,
        bags: impl IntoIterator<Item = B>,
        what: &'static str,
    ) -> Result<(), IndexError> {
        let node = self.node();
        let mut staging = node.staging.borrow_mut();
        let (ids, sizes, weights) = &mut *staging;
        ids.clear();
        sizes.clear();
        weights.clear();
        for bag in bags {
            let bag = bag.as_ref();
            ids.extend(bag.iter().map(E::id));
            weights.extend(bag.iter().filter_map(E::weight));
            sizes.push(bag.len());
        }
        node.set_checked(ids, sizes, E::WEIGHTED.then_some(&weights[..]), what)
    }

    /// Sets weighted bags for the next forward pass: each bag a collection of
    /// `(id, weight)` pairs. Pooling multiplies each id's row by its weight:
    /// [`sum_bags`](Variable::sum_bags) gives `Σ wᵢ rowᵢ` and
    /// [`mean_bags`](Variable::mean_bags) that sum divided by the bag's number of ids
    /// (for a mean weighted by `Σ wᵢ` instead, give weights that add up to 1 and use
    /// `sum_bags`). The weights are constants: no gradient flows to them. They are not
    /// checked: a NaN or infinite weight gives NaN or infinite sums, as an input value
    /// would. An unweighted
    /// setter ([`set_value`](Self::set_value), [`set_flat`](Self::set_flat)) sets every
    /// weight back to 1.
    ///
    /// ```
    /// use wyrm::*;
    ///
    /// let words = ParameterNode::new(ndarray::arr2(&[[1.0, 0.0], [0.0, 1.0], [2.0, 2.0]]));
    /// let documents = BagsInputNode::new(2);
    /// let pooled = words.sum_bags(&documents);
    /// // TF-IDF weights: a rare word counts more than a common one.
    /// documents.set_weighted([vec![(0, 0.5), (2, 2.0)], vec![(1, 3.0)]]);
    /// pooled.forward();
    /// pooled.backward(1.0);
    /// assert_eq!(pooled.value(), ndarray::arr2(&[[4.5, 4.0], [0.0, 3.0]]));
    /// // Each row's gradient is its weight times its bag's.
    /// assert_eq!(words.gradient(), ndarray::arr2(&[[0.5, 0.5], [3.0, 3.0], [2.0, 2.0]]));
    /// ```
    ///
    /// # Panics
    /// As [`set_value`](Self::set_value). [`try_set_weighted`](Self::try_set_weighted)
    /// returns errors instead.
    #[track_caller]
    pub fn set_weighted<B: AsRef<[(usize, f32)]>>(&self, bags: impl IntoIterator<Item = B>) {
        const NAME: &str = "BagsInputNode::set_weighted";
        if let Err(error) = self.try_set(bags, NAME) {
            rejected(error, NAME);
        }
    }

    /// [`set_weighted`](Self::set_weighted), returning an error instead of panicking; the
    /// input keeps its previous bags and weights then. It still panics while the bags are
    /// being read, as [`try_set_value`](Self::try_set_value) does.
    ///
    /// ```
    /// use wyrm::nodes::IndexError;
    /// use wyrm::*;
    ///
    /// let items = ParameterNode::new(random_matrix(10, 4));
    /// let rated = BagsInputNode::new(1);
    /// let _pooled = items.sum_bags(&rated);
    /// assert_eq!(
    ///     rated.try_set_weighted([vec![(3, 1.0), (12, 0.5)]]),
    ///     Err(IndexError::OutOfRange { index: 12, rows: 10 })
    /// );
    /// ```
    #[track_caller]
    pub fn try_set_weighted<B: AsRef<[(usize, f32)]>>(
        &self,
        bags: impl IntoIterator<Item = B>,
    ) -> Result<(), IndexError> {
        self.try_set(bags, "BagsInputNode::try_set_weighted")
    }

    /// [`set_weighted`](Self::set_weighted) from flat arrays, as
    /// [`set_flat`](Self::set_flat): `ids` one bag after the other, `weights` one per id
    /// (PyTorch's `per_sample_weights`), `sizes` how many ids belong to each bag.
    ///
    /// ```
    /// use wyrm::*;
    ///
    /// let table = ParameterNode::new(ndarray::arr2(&[[1.0], [10.0], [100.0]]));
    /// let bags = BagsInputNode::new(2);
    /// let mean = table.mean_bags(&bags);
    /// bags.set_weighted_flat(&[0, 1, 2], &[2.0, 0.5, 0.01], &[2, 1]);
    /// mean.forward();
    /// // (2 · 1 + 0.5 · 10) / 2 and 0.01 · 100 / 1.
    /// assert_eq!(mean.value(), ndarray::arr2(&[[3.5], [1.0]]));
    /// assert_eq!(bags.weights().as_deref(), Some(&[2.0, 0.5, 0.01][..]));
    /// ```
    ///
    /// # Panics
    /// As [`set_flat`](Self::set_flat), and if there are not as many weights as ids.
    #[track_caller]
    pub fn set_weighted_flat(&self, ids: &[usize], weights: &[f32], sizes: &[usize]) {
        const NAME: &str = "BagsInputNode::set_weighted_flat";
        if let Err(error) = self.node().set_checked(ids, sizes, Some(weights), NAME) {
            rejected(error, NAME);
        }
    }

    /// [`set_weighted_flat`](Self::set_weighted_flat), returning an error instead of
    /// panicking; the input keeps its previous bags and weights then. It still panics
    /// while the bags are being read, as [`try_set_value`](Self::try_set_value) does.
    ///
    /// ```
    /// use wyrm::nodes::IndexError;
    /// use wyrm::*;
    ///
    /// let bags = BagsInputNode::new(1);
    /// assert_eq!(
    ///     bags.try_set_weighted_flat(&[4, 5], &[1.0], &[2]),
    ///     Err(IndexError::WeightCountMismatch { weights: 1, ids: 2 })
    /// );
    /// ```
    #[track_caller]
    pub fn try_set_weighted_flat(
        &self,
        ids: &[usize],
        weights: &[f32],
        sizes: &[usize],
    ) -> Result<(), IndexError> {
        self.node().set_checked(
            ids,
            sizes,
            Some(weights),
            "BagsInputNode::try_set_weighted_flat",
        )
    }

    /// Sets the bags from flat arrays, without building one collection per bag: `ids`
    /// holds every bag's ids one bag after the other, and `sizes` how many belong to each
    /// bag (the compressed layout of sparse rows, or PyTorch's `EmbeddingBag` with the
    /// offsets' differences).
    ///
    /// ```
    /// use wyrm::*;
    ///
    /// let bags = BagsInputNode::new(3);
    /// bags.set_flat(&[7, 8, 9], &[2, 0, 1]);
    /// assert_eq!(&*bags.sizes(), &[2, 0, 1]);
    /// ```
    ///
    /// # Panics
    /// As [`set_value`](Self::set_value), and if the sizes do not add up to the number of
    /// ids.
    #[track_caller]
    pub fn set_flat(&self, ids: &[usize], sizes: &[usize]) {
        const NAME: &str = "BagsInputNode::set_flat";
        if let Err(error) = self.node().set_checked(ids, sizes, None, NAME) {
            rejected(error, NAME);
        }
    }

    /// [`set_flat`](Self::set_flat), returning an error instead of panicking; the input
    /// keeps its previous bags then. It still panics while the bags are being read, as
    /// [`try_set_value`](Self::try_set_value) does.
    ///
    /// ```
    /// use wyrm::nodes::IndexError;
    /// use wyrm::*;
    ///
    /// let bags = BagsInputNode::new(2);
    /// // Offsets (0, 2) passed where sizes belong: they add up to 2, not 3.
    /// assert_eq!(
    ///     bags.try_set_flat(&[4, 5, 6], &[0, 2]),
    ///     Err(IndexError::BagSizesMismatch { total: 2, ids: 3 })
    /// );
    /// ```
    #[track_caller]
    pub fn try_set_flat(&self, ids: &[usize], sizes: &[usize]) -> Result<(), IndexError> {
        self.node()
            .set_checked(ids, sizes, None, "BagsInputNode::try_set_flat")
    }

    /// The current ids, one bag after the other.
    ///
    /// ```
    /// use wyrm::*;
    ///
    /// let bags = BagsInputNode::new(2);
    /// bags.set_value([vec![1, 2], vec![3]]);
    /// assert_eq!(&*bags.ids(), &[1, 2, 3]);
    /// ```
    pub fn ids(&self) -> Ref<'_, [usize]> {
        self.node().ids.current()
    }

    /// The current number of ids in each bag.
    ///
    /// ```
    /// use wyrm::*;
    ///
    /// let bags = BagsInputNode::new(2);
    /// bags.set_value([vec![1, 2], vec![3]]);
    /// assert_eq!(&*bags.sizes(), &[2, 1]);
    /// ```
    pub fn sizes(&self) -> Ref<'_, [usize]> {
        Ref::map(self.node().sizes.borrow(), |v| v.as_slice())
    }

    /// The current weights, one per id (one bag after the other), or `None` if the bags
    /// were set unweighted.
    ///
    /// ```
    /// use wyrm::*;
    ///
    /// let bags = BagsInputNode::new(1);
    /// bags.set_weighted([vec![(1, 0.5), (2, 2.0)]]);
    /// assert_eq!(bags.weights().as_deref(), Some(&[0.5, 2.0][..]));
    /// bags.set_value([vec![1, 2]]);
    /// assert!(bags.weights().is_none());
    /// ```
    pub fn weights(&self) -> Option<Ref<'_, [f32]>> {
        let node = self.node();
        node.weighted
            .get()
            .then(|| Ref::map(node.weights.borrow(), |v| v.as_slice()))
    }
}

impl Node for BagsInputNode {
    type Rows = Dyn;
    type Cols = U1;

    #[inline(always)]
    fn shape(&self) -> (usize, usize) {
        (self.bags(), 1)
    }

    #[inline(always)]
    fn forward(&self, _pass: Pass) {}

    #[inline(always)]
    fn backward(&self, _gradient: &[f32]) {}

    #[inline(always)]
    fn backward_nothing(&self) {}

    #[inline(always)]
    fn value(&self) -> Ref<'_, [f32]> {
        Ref::map(self.value.borrow(), |v| v.as_slice())
    }

    #[inline(always)]
    fn needs_gradient(&self) -> bool {
        false
    }
}
