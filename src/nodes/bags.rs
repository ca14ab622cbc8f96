//! Bag lookups ("embedding bags"): the sum or mean of a varying number of table rows per
//! example, for multi-hot features (a user's recent items, a document's words, hashed
//! feature crosses) without padding. [`BagsInputNode`] holds the bags' ids;
//! [`sum_bags`](Variable::sum_bags) and [`mean_bags`](Variable::mean_bags) pool the rows.
//! The gradient is row-sparse, like a lookup's.

use super::index::{check_range, rejected, Binding, Bound, IndexError, IndexInputNode};
use crate::node::{Node, NodeState, Pass};
use crate::nodes::ParameterNode;
use crate::shape::{Dim, Dyn};
use crate::Variable;
use std::cell::{Ref, RefCell};
use std::rc::Rc;
use typenum::U1;

/// An input holding bags of row ids, for [`sum_bags`](Variable::sum_bags) and
/// [`mean_bags`](Variable::mean_bags): a fixed number of bags, each with any number of
/// ids (none included), set with [`set_value`](Variable::<BagsInputNode>::set_value)
/// before each forward pass. An id out of range for a table pooled with these bags is
/// rejected there, naming the id and the table's row count.
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
/// let mut pooled = pooled;
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
    ids: Rc<IndexInputNode>,
    /// The number of ids in each bag.
    sizes: RefCell<Vec<usize>>,
    /// `sizes` as an `f32` column, the node's value.
    value: RefCell<Vec<f32>>,
    /// Where `set_value` flattens the bags before checking them (kept, so that setting
    /// bags allocates nothing once the buffers have grown).
    staging: RefCell<(Vec<usize>, Vec<usize>)>,
}

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
                value: RefCell::new(vec![0.0; bags]),
                staging: RefCell::new((Vec::new(), Vec::new())),
            }),
            crate::variable::Links::parameters(Rc::from(Vec::new())),
        )
    }

    /// The number of bags.
    fn bags(&self) -> usize {
        self.value.borrow().len()
    }

    /// Checks and stores bags given flat: `ids` one bag after the other, `sizes` the
    /// number of ids in each.
    #[track_caller]
    fn set_checked(
        &self,
        ids: &[usize],
        sizes: &[usize],
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
        // Borrowed first, so that ids and sizes change together or not at all.
        let mut stored = self
            .sizes
            .try_borrow_mut()
            .unwrap_or_else(|_| crate::node::value_in_use(what));
        // Checks the ids against every table pooled with them and draws a pass.
        self.ids.set_checked(ids, what)?;
        stored.copy_from_slice(sizes);
        for (v, &n) in self.value.borrow_mut().iter_mut().zip(sizes) {
            *v = n as f32;
        }
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
    /// pooled with these bags by a node that still exists. The input keeps its previous
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
    /// bags then.
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

    #[track_caller]
    fn try_set<B: AsRef<[usize]>>(
        &self,
        bags: impl IntoIterator<Item = B>,
        what: &'static str,
    ) -> Result<(), IndexError> {
        let node = self.node();
        let mut staging = node.staging.borrow_mut();
        let (ids, sizes) = &mut *staging;
        ids.clear();
        sizes.clear();
        for bag in bags {
            ids.extend_from_slice(bag.as_ref());
            sizes.push(bag.as_ref().len());
        }
        node.set_checked(ids, sizes, what)
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
        if let Err(error) = self.node().set_checked(ids, sizes, NAME) {
            rejected(error, NAME);
        }
    }

    /// [`set_flat`](Self::set_flat), returning an error instead of panicking; the input
    /// keeps its previous bags then.
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
            .set_checked(ids, sizes, "BagsInputNode::try_set_flat")
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

/// Node pooling the rows of a table named by each bag of a [`BagsInputNode`]: the
/// `bags x cols` matrix whose row `b` is the sum (or mean) of the rows of bag `b`'s ids,
/// zeros for an empty bag. Built by [`sum_bags`](Variable::sum_bags) and
/// [`mean_bags`](Variable::mean_bags). Its gradient is recorded for the named rows only
/// (each id once per occurrence; repeated ids sum).
pub struct Bags<R: Dim = Dyn, C: Dim = Dyn> {
    table: Rc<ParameterNode<R, C>>,
    bags: Rc<BagsInputNode>,
    mean: bool,
    /// The ids and sizes that the latest forward pass read, so that the backward pass
    /// records the rows that pass pooled.
    ids: RefCell<Vec<usize>>,
    sizes: RefCell<Vec<usize>>,
    /// The looked-up rows (`ids x cols`), summed per bag into the value.
    rows: RefCell<Vec<f32>>,
    state: NodeState,
    /// Keeps the table's row count limiting the bags' ids while this node lives.
    _binding: Binding,
}

impl<R: Dim, C: Dim> Bags<R, C> {
    /// Builds the node; panics if a current id is out of range for the table.
    ///
    /// ```
    /// use wyrm::nodes::Bags;
    /// use wyrm::*;
    ///
    /// let table = ParameterNode::new(ndarray::arr2(&[[1.0, 2.0], [3.0, 4.0]]));
    /// let bags = BagsInputNode::new(1);
    /// bags.set_value([vec![0, 1]]);
    /// let node = Bags::new(table.node().clone(), bags.node().clone(), true);
    /// // What `table.mean_bags(&bags)` builds.
    /// let mut mean = Variable::with_operands(node, &[(&table).into()]);
    /// mean.forward();
    /// assert_eq!(mean.value(), ndarray::arr2(&[[2.0, 3.0]]));
    /// ```
    #[track_caller]
    pub fn new(table: Rc<ParameterNode<R, C>>, bags: Rc<BagsInputNode>, mean: bool) -> Self {
        let (rows, cols) = table.shape();
        let what = Self::name(mean);
        let binding = IndexInputNode::bind(&bags.ids, rows, Bound::Rows, what);
        bags.ids
            .watch(&crate::nodes::parameter::erase(table.clone()));
        Bags {
            state: NodeState::new((bags.bags(), cols)),
            table,
            bags,
            mean,
            ids: RefCell::new(Vec::new()),
            sizes: RefCell::new(Vec::new()),
            rows: RefCell::new(Vec::new()),
            _binding: binding,
        }
    }

    /// The method that builds the node, for messages.
    fn name(mean: bool) -> &'static str {
        if mean {
            "mean_bags"
        } else {
            "sum_bags"
        }
    }

    /// The factor each row of bag `size` is pooled with.
    #[inline(always)]
    fn weight(&self, size: usize) -> f32 {
        if self.mean && size > 0 {
            1.0 / size as f32
        } else {
            1.0
        }
    }

    /// Adds the complete gradient `g` (`bags x cols`) to the named rows' gradient: each
    /// id's row gets its bag's row of `g`, weighted as in the forward pass.
    #[inline]
    fn record(&self, g: &[f32]) {
        let ids = self.ids.borrow();
        if ids.is_empty() {
            return;
        }
        let cols = C::fold(self.state.shape().1);
        let sizes = self.sizes.borrow();
        let write = |buffer: &mut [f32], _accumulate: bool| {
            let mut at = 0;
            for (b, &size) in sizes.iter().enumerate() {
                let g = &g[b * cols..(b + 1) * cols];
                let weight = self.weight(size);
                for out in buffer[at * cols..(at + size) * cols].chunks_exact_mut(cols.max(1)) {
                    crate::kernels::scale(weight, g, out, false);
                }
                at += size;
            }
        };
        self.table.accumulate_rows_with(&ids, cols, write);
    }
}

impl<R: Dim, C: Dim> Node for Bags<R, C> {
    type Rows = Dyn;
    type Cols = C;

    #[inline(always)]
    fn shape(&self) -> (usize, usize) {
        self.state.shape()
    }

    fn forward(&self, pass: Pass) {
        if !self.state.visit(pass) {
            return;
        }
        self.table.forward(pass);
        let cols = C::fold(self.state.shape().1);
        let (mut ids, mut sizes) = (self.ids.borrow_mut(), self.sizes.borrow_mut());
        ids.clear();
        ids.extend_from_slice(&self.bags.ids.current());
        sizes.clear();
        sizes.extend_from_slice(&self.bags.sizes.borrow());
        // `set_value` already checked against every table; this costs a comparison per id.
        check_range(
            &ids,
            self.table.shape().0,
            Bound::Rows,
            Self::name(self.mean),
        );
        let mut rows = self.rows.borrow_mut();
        rows.resize(ids.len() * cols, 0.0);
        self.table.read_rows(&ids, cols, &mut rows);
        let mut value = self.state.value_mut();
        let mut at = 0;
        for (b, &size) in sizes.iter().enumerate() {
            let out = &mut value[b * cols..(b + 1) * cols];
            out.iter_mut().for_each(|v| *v = 0.0);
            for row in rows[at * cols..(at + size) * cols].chunks_exact(cols.max(1)) {
                crate::kernels::add_assign(out, row);
            }
            if self.mean && size > 1 {
                // Divided rather than scaled by `weight`: the mean of 7 is then 7 / 3 exactly.
                out.iter_mut().for_each(|v| *v /= size as f32);
            }
            at += size;
        }
    }

    fn backward(&self, gradient: &[f32]) {
        if let Some(g) = self.state.gather(gradient) {
            self.record(&g);
        }
    }

    /// If no consumer sends a gradient, no row is recorded.
    fn backward_nothing(&self) {
        self.state.gather_nothing(|g| self.record(g), || {});
    }

    #[inline(always)]
    fn value(&self) -> Ref<'_, [f32]> {
        self.state.value()
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
    /// Sums the rows of this parameter (an embedding table) named by each bag: the
    /// `bags x cols` matrix whose row `b` is the sum of the rows of bag `b`'s ids (zeros
    /// for an empty bag). Bags may hold any number of ids from one step to the next, so
    /// multi-hot features need no padding. The gradient is recorded for the named rows
    /// only, so optimizers update only those.
    ///
    /// ```
    /// use wyrm::*;
    ///
    /// let items = ParameterNode::new(random_matrix(1000, 8));
    /// let user = ParameterNode::new(random_matrix(1, 8));
    /// let history = BagsInputNode::new(1);
    /// // A user's taste: their own vector plus the items they interacted with.
    /// let mut taste = (user.clone() + items.sum_bags(&history)).square().scalar_sum();
    /// for bag in [vec![3, 17, 256], vec![42]] {
    ///     history.set_value([bag]);
    ///     taste.forward();
    ///     taste.backward(1.0);
    /// }
    /// let g = items.gradient();
    /// assert!(g.row(42).iter().any(|&v| v != 0.0));
    /// assert!(g.row(4).iter().all(|&v| v == 0.0)); // never named
    /// ```
    ///
    /// # Panics
    /// If an id in `bags` is out of range for this parameter (here, and later in
    /// [`set_value`](Variable::<BagsInputNode>::set_value)).
    #[track_caller]
    pub fn sum_bags(&self, bags: &Variable<BagsInputNode>) -> Variable<Bags<R, C>> {
        let node = Bags::new(self.node().clone(), bags.node().clone(), false);
        Variable::with_links(node, &[self.links()])
    }

    /// Like [`sum_bags`](Self::sum_bags), with each bag's sum divided by its number of
    /// ids (an empty bag still gives zeros).
    ///
    /// ```
    /// use wyrm::*;
    ///
    /// let words = ParameterNode::new(ndarray::arr2(&[[1.0, 0.0], [0.0, 1.0], [3.0, 3.0]]));
    /// let sentences = BagsInputNode::new(2);
    /// sentences.set_value([vec![0, 1], vec![2, 2, 0]]);
    /// let mut mean = words.mean_bags(&sentences);
    /// mean.forward();
    /// assert_eq!(mean.value(), ndarray::arr2(&[[0.5, 0.5], [7.0 / 3.0, 2.0]]));
    /// ```
    ///
    /// # Panics
    /// As [`sum_bags`](Self::sum_bags).
    #[track_caller]
    pub fn mean_bags(&self, bags: &Variable<BagsInputNode>) -> Variable<Bags<R, C>> {
        let node = Bags::new(self.node().clone(), bags.node().clone(), true);
        Variable::with_links(node, &[self.links()])
    }
}

#[cfg(test)]
mod tests {
    use crate::*;
    use ndarray::Array2;
    use std::sync::Arc;

    fn matrix(rows: usize, cols: usize, seed: u64) -> Array2<f32> {
        crate::init::seeded(rows, cols, 1.0, seed)
    }

    /// Sums and means, empty bags and repeated ids, against the same rows looked up one
    /// by one.
    #[test]
    fn values_match_the_rows_summed_by_hand() {
        let t = matrix(6, 3, 1);
        let table = ParameterNode::new(t.clone());
        let bags = BagsInputNode::new(3);
        let (sum, mean) = (table.sum_bags(&bags), table.mean_bags(&bags));
        for value in [
            vec![vec![5, 0, 5], vec![], vec![2]],
            vec![vec![1], vec![1, 1], vec![]],
        ] {
            bags.set_value(&value);
            let (mut sum, mut mean) = (sum.clone(), mean.clone());
            sum.forward();
            mean.forward();
            for (b, bag) in value.iter().enumerate() {
                let mut want = ndarray::Array1::<f32>::zeros(3);
                for &i in bag {
                    want += &t.row(i);
                }
                assert_eq!(sum.value().row(b), want, "bag {b} of {value:?}");
                let n = bag.len().max(1) as f32;
                let got = mean.value().row(b).to_owned();
                for (g, w) in got.iter().zip(want.iter()) {
                    assert!(
                        (g - w / n).abs() < 1e-6,
                        "mean of bag {b}: {got} != {want} / {n}"
                    );
                }
            }
        }
    }

    /// Bags of varying size checked against finite differences, with a non-trivial
    /// upstream gradient, for sums and means, local and shared tables.
    #[test]
    fn gradients_match_finite_differences() {
        let shared = Arc::new(HogwildParameter::new(matrix(7, 4, 2)));
        for table in [
            ParameterNode::new(matrix(7, 4, 2)),
            ParameterNode::shared(shared),
        ] {
            let bags = BagsInputNode::new(3);
            let weights = InputNode::new(matrix(3, 4, 3));
            for mean in [false, true] {
                let pooled = if mean {
                    table.mean_bags(&bags)
                } else {
                    table.sum_bags(&bags)
                };
                let mut out = (pooled.tanh() * weights.clone()).boxed();
                for value in [
                    vec![vec![0, 6, 6], vec![], vec![3]],
                    vec![vec![2], vec![4, 5], vec![1, 2, 3, 4]],
                ] {
                    bags.set_value(&value);
                    gradcheck::assert_gradient(&mut out, &table);
                }
            }
        }
    }

    /// Only the named rows get a gradient, so the optimizer touches only them.
    #[test]
    fn the_gradient_is_row_sparse() {
        let table = ParameterNode::new(matrix(1000, 4, 4));
        let bags = BagsInputNode::new(2);
        let mut loss = table.sum_bags(&bags).square().scalar_sum();
        bags.set_value([vec![10, 999], vec![10]]);
        loss.forward();
        loss.backward(1.0);
        assert!(table.node().gradient_is_sparse());
        let before = table.value();
        let mut sgd = SGD::new(0.1, loss.parameters());
        sgd.step();
        let after = table.value();
        let changed: Vec<usize> = (0..1000)
            .filter(|&r| before.row(r) != after.row(r))
            .collect();
        assert_eq!(changed, vec![10, 999]);
    }

    /// The bags can change size every step: the same graph takes them all.
    #[test]
    fn bag_sizes_may_change_every_step() {
        let table = ParameterNode::new(matrix(50, 2, 5));
        let bags = BagsInputNode::new(1);
        let mut pooled = table.sum_bags(&bags);
        for n in [0, 3, 1, 40, 2] {
            let bag: Vec<usize> = (0..n).collect();
            bags.set_value([&bag]);
            pooled.forward();
            pooled.backward(1.0);
            let want: f32 = bag.iter().map(|&i| table.value()[(i, 0)]).sum();
            assert!((pooled.value()[(0, 0)] - want).abs() < 1e-5);
        }
    }

    #[test]
    fn bad_bags_are_rejected_and_the_previous_ones_kept() {
        let table = ParameterNode::new(matrix(5, 2, 6));
        let bags = BagsInputNode::new(2);
        let _pooled = table.sum_bags(&bags);
        bags.set_value([vec![1], vec![2, 3]]);
        assert_eq!(
            bags.try_set_value([vec![1], vec![5]])
                .unwrap_err()
                .to_string(),
            "index 5 is out of range for a table of 5 rows"
        );
        assert_eq!(
            bags.try_set_value([vec![1]]).unwrap_err().to_string(),
            "got 1 bags but this input holds 2; the number of bags is fixed at construction \
             (the ids in each bag may vary)"
        );
        assert_eq!(&*bags.ids(), &[1, 2, 3]);
        assert_eq!(&*bags.sizes(), &[1, 2]);
        let mismatch = std::panic::catch_unwind(|| {
            let bags = BagsInputNode::new(2);
            bags.set_flat(&[1, 2], &[1, 2]);
        });
        let message = *mismatch.unwrap_err().downcast::<String>().unwrap();
        assert_eq!(
            message,
            "BagsInputNode::set_flat: the bag sizes add up to 3 but 2 ids were given"
        );
    }

    #[test]
    #[should_panic(expected = "sum_bags: index 9 is out of range for a table of 4 rows")]
    fn out_of_range_at_construction() {
        let bags = BagsInputNode::new(1);
        bags.set_value([vec![9]]);
        let _ = ParameterNode::new(matrix(4, 2, 7)).sum_bags(&bags);
    }

    /// A bag lookup behind a detach records nothing; with two consumers, one detached,
    /// the other's gradient only.
    #[test]
    fn detached_bags_record_no_rows() {
        let table = ParameterNode::new(matrix(5, 2, 8));
        let bags = BagsInputNode::new(1);
        bags.set_value([vec![0, 4]]);
        let pooled = table.sum_bags(&bags);
        let mut y = (pooled.detach() * pooled.clone()).scalar_sum();
        y.forward();
        y.backward(1.0);
        let p = pooled.value();
        let g = table.gradient();
        for r in [0, 4] {
            assert_eq!(g.row(r), p.row(0));
        }
        table.zero_gradient();
        let mut z = pooled.detach().scalar_sum();
        z.forward();
        z.backward(1.0);
        assert!(!table.has_gradient());
    }
}
