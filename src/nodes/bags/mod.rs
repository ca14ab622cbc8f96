//! Bag lookups ("embedding bags"): the sum or mean of a varying number of table rows per
//! example, for multi-hot features (a user's recent items, a document's words, hashed
//! feature crosses) without padding. [`BagsInputNode`] holds the bags' ids, each with an
//! optional weight; [`sum_bags`](Variable::sum_bags) and [`mean_bags`](Variable::mean_bags)
//! pool the rows. The gradient is row-sparse, like a lookup's.

mod input;

pub use input::BagsInputNode;

use super::index::{check_range, Binding, Bound, IndexInputNode};
use crate::node::{Node, NodeState, Pass};
use crate::nodes::ParameterNode;
use crate::shape::{Dim, Dyn};
use crate::Variable;
use std::cell::{Ref, RefCell};
use std::rc::Rc;

/// Node pooling the rows of a table named by each bag of a [`BagsInputNode`]: the
/// `bags x cols` matrix whose row `b` is the sum (or mean) of the rows of bag `b`'s ids,
/// each times its weight if the bags carry weights, zeros for an empty bag. Built by
/// [`sum_bags`](Variable::sum_bags) and [`mean_bags`](Variable::mean_bags). Its gradient
/// is recorded for the named rows only (each id once per occurrence; repeated ids sum).
///
/// ```
/// use wyrm::nodes::Bags;
/// use wyrm::*;
///
/// let table = ParameterNode::new(ndarray::arr2(&[[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]]));
/// let bags = BagsInputNode::new(2);
/// let pooled: Variable<Bags> = table.sum_bags(&bags);
/// bags.set_value([vec![0, 2], vec![1, 1]]);
/// pooled.forward();
/// pooled.backward(1.0);
/// assert_eq!(pooled.value(), ndarray::arr2(&[[6.0, 8.0], [6.0, 8.0]]));
/// // Row 1 was named twice: its gradient is twice the upstream one.
/// assert_eq!(table.gradient(), ndarray::arr2(&[[1.0, 1.0], [2.0, 2.0], [1.0, 1.0]]));
/// ```
pub struct Bags<R: Dim = Dyn, C: Dim = Dyn> {
    table: Rc<ParameterNode<R, C>>,
    bags: Rc<BagsInputNode>,
    mean: bool,
    /// The ids, sizes and weights (none if unweighted) that the latest forward pass read,
    /// so that the backward pass records the rows that pass pooled, as it weighted them.
    ids: RefCell<Vec<usize>>,
    sizes: RefCell<Vec<usize>>,
    weights: RefCell<Vec<f32>>,
    /// A shared table's looked-up rows (`ids x cols`), summed per bag into the value.
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
    /// let mean = Variable::with_operands(node, &[(&table).into()]);
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
            weights: RefCell::new(Vec::new()),
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

    /// Writes each bag's pooled row into `value`: the rows at `offset(p)` in `table` for
    /// the bag's ids `p`, weighted, summed (and divided for a mean).
    #[inline(always)]
    fn pool(
        &self,
        value: &mut [f32],
        sizes: &[usize],
        weights: &[f32],
        table: &[f32],
        offset: impl Fn(usize) -> usize,
    ) {
        let cols = C::fold(self.state.shape().1);
        let mut at = 0;
        for (b, &size) in sizes.iter().enumerate() {
            let out = &mut value[b * cols..(b + 1) * cols];
            let weights = if weights.is_empty() {
                &[][..]
            } else {
                &weights[at..at + size]
            };
            crate::kernels::pool_rows(table, size, |p| offset(at + p), weights, out);
            if self.mean && size > 1 {
                // Divided rather than scaled by `weight`: the mean of 7 is then 7 / 3 exactly.
                out.iter_mut().for_each(|v| *v /= size as f32);
            }
            at += size;
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
        let (sizes, weights) = (self.sizes.borrow(), self.weights.borrow());
        let write = |buffer: &mut [f32], _accumulate: bool| {
            let mut at = 0;
            for (b, &size) in sizes.iter().enumerate() {
                let g = &g[b * cols..(b + 1) * cols];
                let weight = self.weight(size);
                let rows = buffer[at * cols..(at + size) * cols].chunks_exact_mut(cols.max(1));
                for (k, out) in rows.enumerate() {
                    let w = weights.get(at + k).map_or(weight, |w| w * weight);
                    crate::kernels::scale(w, g, out, false);
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
        let mut weights = self.weights.borrow_mut();
        weights.clear();
        weights.extend_from_slice(&self.bags.weights.borrow());
        // `set_value` already checked against every table; this costs a comparison per id.
        check_range(
            &ids,
            self.table.shape().0,
            Bound::Rows,
            Self::name(self.mean),
        );
        let mut value = self.state.value_mut();
        // Rows of a table this thread holds are pooled in place; a shared table's are
        // copied out first (through its atomics), in the order of `ids`.
        if let Some(table) = self.table.local_value() {
            self.pool(&mut value, &sizes, &weights, &table, |p| ids[p] * cols);
        } else {
            let mut rows = self.rows.borrow_mut();
            rows.resize(ids.len() * cols, 0.0);
            self.table.read_rows(&ids, cols, &mut rows);
            self.pool(&mut value, &sizes, &weights, &rows, |p| p * cols);
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
    /// only, so optimizers update only those. Bags set with weights
    /// ([`set_weighted`](Variable::<BagsInputNode>::set_weighted)) sum each row times its
    /// id's weight.
    ///
    /// ```
    /// use wyrm::*;
    ///
    /// let items = ParameterNode::new(random_matrix(1000, 8));
    /// let user = ParameterNode::new(random_matrix(1, 8));
    /// let history = BagsInputNode::new(1);
    /// // A user's taste: their own vector plus the items they interacted with.
    /// let taste = (user.clone() + items.sum_bags(&history)).square().scalar_sum();
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
    /// ids (an empty bag still gives zeros). With weighted bags, the weighted sum is
    /// divided by the number of ids, not by the sum of the weights.
    ///
    /// ```
    /// use wyrm::*;
    ///
    /// let words = ParameterNode::new(ndarray::arr2(&[[1.0, 0.0], [0.0, 1.0], [3.0, 3.0]]));
    /// let sentences = BagsInputNode::new(2);
    /// sentences.set_value([vec![0, 1], vec![2, 2, 0]]);
    /// let mean = words.mean_bags(&sentences);
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
            let (sum, mean) = (sum.clone(), mean.clone());
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
                let out = (pooled.tanh() * weights.clone()).boxed();
                for value in [
                    vec![vec![0, 6, 6], vec![], vec![3]],
                    vec![vec![2], vec![4, 5], vec![1, 2, 3, 4]],
                ] {
                    bags.set_value(&value);
                    gradcheck::assert_gradient(&out, &table);
                }
            }
        }
    }

    /// Wide rows (the vector kernel's blocks and a masked tail of 5 columns): a table this
    /// thread holds, pooled in place, and a shared one, pooled from copies, give the
    /// sums of the rows added in order, to the bit, weighted or not.
    #[test]
    fn wide_rows_pool_alike_in_place_and_shared() {
        let t = matrix(9, 77, 12);
        let shared = Arc::new(HogwildParameter::new(t.clone()));
        let (local, shared) = (ParameterNode::new(t.clone()), ParameterNode::shared(shared));
        let bags = BagsInputNode::new(3);
        let value = [vec![(8, 0.5), (0, -2.0), (8, 1.0)], vec![], vec![(3, 0.25)]];
        for weighted in [false, true] {
            if weighted {
                bags.set_weighted(&value);
            } else {
                bags.set_value(
                    value
                        .iter()
                        .map(|b| b.iter().map(|&(i, _)| i).collect::<Vec<_>>()),
                );
            }
            for mean in [false, true] {
                let pool = |table: &Variable<ParameterNode>| {
                    let pooled = if mean {
                        table.mean_bags(&bags)
                    } else {
                        table.sum_bags(&bags)
                    };
                    pooled.forward();
                    pooled.value()
                };
                let (in_place, copied) = (pool(&local), pool(&shared));
                for (b, bag) in value.iter().enumerate() {
                    let mut want = vec![0f32; 77];
                    for &(i, w) in bag {
                        for (o, x) in want.iter_mut().zip(t.row(i)) {
                            *o += if weighted { w * x } else { *x };
                        }
                    }
                    if mean && bag.len() > 1 {
                        want.iter_mut().for_each(|o| *o /= bag.len() as f32);
                    }
                    assert_eq!(in_place.row(b).to_vec(), want, "bag {b} {weighted} {mean}");
                    assert_eq!(copied.row(b).to_vec(), want, "bag {b} {weighted} {mean}");
                }
            }
        }
    }

    /// Weighted bags, sums and means, against the rows weighted by hand; an unweighted
    /// setter sets every weight back to 1, and finite differences agree.
    #[test]
    fn weighted_bags_scale_each_row() {
        let t = matrix(6, 3, 9);
        let table = ParameterNode::new(t.clone());
        let bags = BagsInputNode::new(2);
        let (sum, mean) = (table.sum_bags(&bags), table.mean_bags(&bags));
        let value = [vec![(5, 0.5), (0, -2.0), (5, 1.0)], vec![(3, 4.0)]];
        bags.set_weighted(&value);
        sum.forward();
        mean.forward();
        for (b, bag) in value.iter().enumerate() {
            let mut want = ndarray::Array1::<f32>::zeros(3);
            for &(i, w) in bag {
                want.scaled_add(w, &t.row(i));
            }
            let n = bag.len() as f32;
            for c in 0..3 {
                assert!((sum.value()[(b, c)] - want[c]).abs() < 1e-6, "bag {b}");
                assert!((mean.value()[(b, c)] - want[c] / n).abs() < 1e-6, "bag {b}");
            }
        }
        // The backward pass weights each row's gradient the same way: row 5 gets
        // (0.5 + 1) times bag 0's, row 0 gets -2 times it.
        sum.backward_with(ndarray::arr2(&[[1.0, 2.0, 3.0], [1.0, 1.0, 1.0]]).view());
        let g = table.gradient();
        assert_eq!(g.row(5).to_vec(), vec![1.5, 3.0, 4.5]);
        assert_eq!(g.row(0).to_vec(), vec![-2.0, -4.0, -6.0]);
        assert_eq!(g.row(3).to_vec(), vec![4.0, 4.0, 4.0]);
        let weights = InputNode::new(matrix(2, 3, 10));
        let out = (table.mean_bags(&bags).tanh() * weights).scalar_sum();
        gradcheck::assert_gradient(&out, &table);

        bags.set_value([vec![5, 0, 5], vec![3]]);
        assert!(bags.weights().is_none());
        sum.forward();
        for c in 0..3 {
            let unweighted = 2.0 * t[(5, c)] + t[(0, c)];
            assert!((sum.value()[(0, c)] - unweighted).abs() < 1e-6);
        }
    }

    #[test]
    fn weights_must_match_the_ids() {
        let table = ParameterNode::new(matrix(5, 2, 11));
        let bags = BagsInputNode::new(1);
        let _pooled = table.sum_bags(&bags);
        bags.set_weighted_flat(&[1, 2], &[0.5, 2.0], &[2]);
        assert_eq!(
            bags.try_set_weighted_flat(&[1, 2, 3], &[1.0, 1.0], &[3])
                .unwrap_err()
                .to_string(),
            "got 2 weights for 3 ids; each id needs one"
        );
        assert_eq!(
            bags.try_set_weighted([vec![(1, 1.0), (7, 1.0)]]),
            Err(nodes::IndexError::OutOfRange { index: 7, rows: 5 })
        );
        // Rejected settings keep the previous bags and weights.
        assert_eq!(&*bags.ids(), &[1, 2]);
        assert_eq!(bags.weights().as_deref(), Some(&[0.5, 2.0][..]));
        // Weighted bags with no ids are still weighted ones.
        bags.set_weighted_flat(&[], &[], &[0]);
        assert_eq!(bags.weights().as_deref(), Some(&[][..]));
    }

    /// Setting bags while any of the input's values is being read panics naming the call
    /// and the readers, and changes nothing: ids, sizes, weights and the sizes column
    /// stay as they were (a held `weights()` used to let ids and sizes change and leave
    /// two weights for one id).
    #[test]
    fn setting_bags_that_are_being_read_changes_nothing() {
        let table = ParameterNode::new(ndarray::arr2(&[[1.0], [10.0], [100.0], [1000.0]]));
        let bags = BagsInputNode::new(1);
        let pooled = table.sum_bags(&bags);
        bags.set_weighted([vec![(0, 2.0), (1, 3.0)]]);
        let message = |f: &dyn Fn()| {
            let e = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)).unwrap_err();
            *e.downcast::<String>().unwrap()
        };
        let held_weights = message(&|| {
            let _w = bags.weights();
            bags.set_weighted([vec![(3, 0.5)]]);
        });
        let held_ids = message(&|| {
            let _ids = bags.ids();
            bags.set_value([vec![3]]);
        });
        let in_with_value = message(&|| bags.with_value(|_| bags.set_flat(&[3], &[1])));
        for (m, call) in [
            (held_weights, "set_weighted"),
            (held_ids, "set_value"),
            (in_with_value, "set_flat"),
        ] {
            assert_eq!(
                m,
                format!(
                    "BagsInputNode::{call}: the value is being read (a call inside \
                     `with_value`, or a `Ref` from `ids()`, `sizes()`, `weights()` or \
                     `Node::value` still alive); finish reading first"
                )
            );
        }
        assert_eq!((&*bags.ids(), &*bags.sizes()), (&[0, 1][..], &[2][..]));
        assert_eq!(bags.weights().as_deref(), Some(&[2.0, 3.0][..]));
        assert_eq!(bags.value(), ndarray::arr2(&[[2.0]]));
        pooled.forward();
        assert_eq!(pooled.value(), ndarray::arr2(&[[32.0]]));
    }

    /// Only the named rows get a gradient, so the optimizer touches only them.
    #[test]
    fn the_gradient_is_row_sparse() {
        let table = ParameterNode::new(matrix(1000, 4, 4));
        let bags = BagsInputNode::new(2);
        let loss = table.sum_bags(&bags).square().scalar_sum();
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
        let pooled = table.sum_bags(&bags);
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
        let y = (pooled.detach() * pooled.clone()).scalar_sum();
        y.forward();
        y.backward(1.0);
        let p = pooled.value();
        let g = table.gradient();
        for r in [0, 4] {
            assert_eq!(g.row(r), p.row(0));
        }
        table.zero_gradient();
        let z = pooled.detach().scalar_sum();
        z.forward();
        z.backward(1.0);
        assert!(!table.has_gradient());
    }
}
