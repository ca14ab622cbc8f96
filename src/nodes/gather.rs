//! Rows of any node picked by index inputs: `gather_rows` (one row per index) and
//! `gather_sum_bags` / `gather_mean_bags` (each bag's rows pooled). A parameter table's
//! `index`, `sum_bags` and `mean_bags` record row-sparse gradients for the optimizers;
//! these take a computed node (a layer's output: a graph network's second layer pools
//! its neighbours' first-layer representations) and send it a dense gradient.

use super::bags::BagsInputNode;
use super::index::{Binding, Bound, IndexInputNode};
use super::single::{Single, SingleOp};
use crate::node::Node;
use crate::shape::{Dim, Dyn};
use crate::Variable;
use std::rc::Rc;

/// Picking rows of the operand by an [`IndexInputNode`]'s indices (repeats allowed):
/// `K x cols` for `K` indices; node type [`GatherRows`]. The operand's gradient is the
/// upstream rows added back at their indices.
pub struct GatherRowsOp {
    ids: Rc<IndexInputNode>,
    /// Keeps the operand's row count limiting the indices while this op lives.
    _binding: Binding,
}

/// Node picking rows of a node by index: `x.gather_rows(&idx)`.
///
/// ```
/// use wyrm::*;
/// use wyrm::nodes::GatherRows;
/// let x = InputNode::new(ndarray::arr2(&[[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]]));
/// let idx = IndexInputNode::new(&[2, 0]);
/// let rows: Variable<GatherRows<InputNode>> = x.gather_rows(&idx);
/// rows.forward();
/// assert_eq!(rows.value(), ndarray::arr2(&[[5.0, 6.0], [1.0, 2.0]]));
/// ```
pub type GatherRows<T> = Single<GatherRowsOp, T>;

impl SingleOp for GatherRowsOp {
    type Rows<R: Dim, C: Dim> = Dyn;
    type Cols<R: Dim, C: Dim> = C;

    fn output_shape(&self, shape: (usize, usize)) -> (usize, usize) {
        (self.ids.len(), shape.1)
    }

    fn forward(&self, x: &[f32], shape: (usize, usize), y: &mut [f32]) {
        let cols = shape.1;
        for (out, &i) in y
            .chunks_exact_mut(cols.max(1))
            .zip(self.ids.current().iter())
        {
            out.copy_from_slice(&x[i * cols..(i + 1) * cols]);
        }
    }

    fn backward(&self, g: &[f32], _x: &[f32], _y: &[f32], shape: (usize, usize), gx: &mut [f32]) {
        let cols = shape.1;
        gx.fill(0.0);
        for (g, &i) in g.chunks_exact(cols.max(1)).zip(self.ids.current().iter()) {
            gx[i * cols..(i + 1) * cols]
                .iter_mut()
                .zip(g)
                .for_each(|(o, g)| *o += g);
        }
    }
}

/// Pooling the operand's rows named by each bag of a [`BagsInputNode`]: `B x cols` for
/// `B` bags, each row the sum (or mean) of its bag's rows, times their weights if the
/// bags carry weights, zeros for an empty bag; node type [`GatherBags`].
pub struct GatherBagsOp {
    bags: Rc<BagsInputNode>,
    mean: bool,
    /// Keeps the operand's row count limiting the bags' ids while this op lives.
    _binding: Binding,
}

/// Node pooling rows of a node by bags: `x.gather_sum_bags(&bags)` or
/// `x.gather_mean_bags(&bags)`.
///
/// ```
/// use wyrm::*;
/// use wyrm::nodes::GatherBags;
/// let h = InputNode::new(ndarray::arr2(&[[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]]));
/// let neighbours = BagsInputNode::new(2);
/// neighbours.set_value([vec![1, 2], vec![0]]);
/// let pooled: Variable<GatherBags<InputNode>> = h.gather_mean_bags(&neighbours);
/// pooled.forward();
/// assert_eq!(pooled.value(), ndarray::arr2(&[[4.0, 5.0], [1.0, 2.0]]));
/// ```
pub type GatherBags<T> = Single<GatherBagsOp, T>;

impl GatherBagsOp {
    /// Calls `each(bag, size, id, weight)` for every id of every bag, with its bag's size
    /// and its weight (1 for unweighted bags).
    fn for_each(&self, mut each: impl FnMut(usize, usize, usize, f32)) {
        self.bags.with_contents(|ids, sizes, weights| {
            let mut at = 0;
            for (bag, &size) in sizes.iter().enumerate() {
                for (p, &id) in ids[at..at + size].iter().enumerate() {
                    each(bag, size, id, weights.get(at + p).copied().unwrap_or(1.0));
                }
                at += size;
            }
        })
    }

    /// What a bag of `size` ids is divided by: its size for a mean, else 1.
    fn divisor(&self, size: usize) -> f32 {
        if self.mean && size > 1 {
            size as f32
        } else {
            1.0
        }
    }
}

impl SingleOp for GatherBagsOp {
    type Rows<R: Dim, C: Dim> = Dyn;
    type Cols<R: Dim, C: Dim> = C;

    fn output_shape(&self, shape: (usize, usize)) -> (usize, usize) {
        (self.bags.bags(), shape.1)
    }

    fn forward(&self, x: &[f32], shape: (usize, usize), y: &mut [f32]) {
        let cols = shape.1;
        // Each bag with the kernel that pools a table's bags (unweighted rows are added,
        // not multiplied by 1).
        self.bags.with_contents(|ids, sizes, weights| {
            let mut at = 0;
            for (out, &size) in y.chunks_exact_mut(cols.max(1)).zip(sizes) {
                let weights = weights.get(at..at + size).unwrap_or_default();
                crate::kernels::pool_rows(x, size, |p| ids[at + p] * cols, weights, out);
                // Divided rather than scaled by the reciprocal, as `mean_bags` does: the
                // mean of three 7s is then 7 exactly.
                let divisor = self.divisor(size);
                if divisor != 1.0 {
                    out.iter_mut().for_each(|v| *v /= divisor);
                }
                at += size;
            }
        });
    }

    fn backward(&self, g: &[f32], _x: &[f32], _y: &[f32], shape: (usize, usize), gx: &mut [f32]) {
        let cols = shape.1;
        gx.fill(0.0);
        self.for_each(|bag, size, id, w| {
            let g = &g[bag * cols..(bag + 1) * cols];
            let w = w / self.divisor(size);
            crate::kernels::scale(w, g, &mut gx[id * cols..(id + 1) * cols], true);
        });
    }
}

impl<T: Node> Variable<T> {
    /// The rows of this node's value at `idx`'s indices, in order (repeats allowed):
    /// `K x cols` for `K` indices. For any node; for a parameter table, prefer
    /// [`index`](Variable::index), whose gradient is row-sparse for the optimizers. Here
    /// the operand gets a dense gradient: each picked row's upstream gradient added back
    /// at its position (a repeated index gets the sum).
    ///
    /// An index out of range for this node's rows is rejected by `idx.set_value`, and
    /// here if `idx` holds one already, naming the index and the row count.
    ///
    /// A **frozen table** (pretrained embeddings kept fixed) is an [`InputNode`](crate::InputNode)
    /// whose rows are gathered: nothing records a gradient for it and no optimizer sees
    /// it, where a parameter left out of the optimizer would still record one per step.
    ///
    /// ```
    /// use wyrm::*;
    /// let pretrained = InputNode::new(ndarray::arr2(&[[0.1, 0.2], [0.3, 0.4], [0.5, 0.6]]));
    /// let words = IndexInputNode::new(&[2, 0]);
    /// let w = ParameterNode::new(ndarray::arr2(&[[1.0], [1.0]]));
    /// let score = pretrained.gather_rows(&words).dot(&w).scalar_sum();
    /// score.forward();
    /// score.backward(1.0);
    /// assert!((score.value()[(0, 0)] - 1.4).abs() < 1e-6);
    /// assert_eq!(score.parameters().len(), 1); // only `w` trains
    /// ```
    ///
    /// ```
    /// use wyrm::*;
    /// // A layer's output for 3 nodes of a graph; each edge reads its source's row.
    /// let w = ParameterNode::new(ndarray::arr2(&[[1.0, -1.0]]));
    /// let x = InputNode::new(ndarray::arr2(&[[1.0], [2.0], [3.0]]));
    /// let h = x.dot(&w).tanh(); // 3 x 2
    /// let sources = IndexInputNode::new(&[2, 0, 2]);
    /// let messages = h.gather_rows(&sources); // 3 x 2
    /// messages.forward();
    /// messages.backward(1.0);
    /// assert_eq!(messages.value().row(0), h.value().row(2));
    /// assert_eq!(w.gradient().shape(), &[1, 2]);
    /// ```
    ///
    /// # Panics
    /// If a current index is out of range for this node's rows.
    #[track_caller]
    pub fn gather_rows(&self, idx: &Variable<IndexInputNode>) -> Variable<GatherRows<T>> {
        let rows = self.shape().0;
        let binding = IndexInputNode::bind(idx.node(), rows, Bound::NodeRows, "gather_rows");
        self.apply(GatherRowsOp {
            ids: idx.node().clone(),
            _binding: binding,
        })
    }

    /// Each bag's rows of this node's value, summed (times their weights if the bags
    /// carry weights): `B x cols` for `B` bags, zeros for an empty bag. For any node; for
    /// a parameter table, prefer [`sum_bags`](Variable::sum_bags), whose gradient is
    /// row-sparse. A graph network pools its neighbours' representations this way, one
    /// bag of neighbour ids per node:
    ///
    /// ```
    /// use wyrm::*;
    /// // Three nodes' first-layer representations; node 0's neighbours are 1 and 2.
    /// let h = ParameterNode::new(ndarray::arr2(&[[1.0, 0.0], [0.0, 1.0], [2.0, 2.0]]));
    /// let neighbours = BagsInputNode::new(3);
    /// neighbours.set_value([vec![1, 2], vec![0], vec![0, 1]]);
    /// let messages = h.tanh().gather_sum_bags(&neighbours);
    /// messages.forward();
    /// messages.backward(1.0);
    /// let t = |v: f32| v.tanh();
    /// assert!((messages.value()[(0, 0)] - (t(0.0) + t(2.0))).abs() < 1e-6);
    /// // Node 0 is in two bags: its row's gradient counts both.
    /// assert!((h.gradient()[(0, 0)] - 2.0 * (1.0 - t(1.0).powi(2))).abs() < 1e-6);
    /// ```
    ///
    /// # Panics
    /// If a current id is out of range for this node's rows.
    #[track_caller]
    pub fn gather_sum_bags(&self, bags: &Variable<BagsInputNode>) -> Variable<GatherBags<T>> {
        self.gather_bags(bags, false)
    }

    /// [`gather_sum_bags`](Variable::gather_sum_bags) with each bag's sum divided by its
    /// number of ids (zeros for an empty bag), as [`mean_bags`](Variable::mean_bags) does
    /// for a parameter table: with weighted bags, the weighted sum is divided by the number
    /// of ids, not by the sum of the weights.
    ///
    /// ```
    /// use wyrm::*;
    /// let h = InputNode::new(ndarray::arr2(&[[1.0, 0.0], [0.0, 1.0], [2.0, 2.0]]));
    /// let neighbours = BagsInputNode::new(2);
    /// neighbours.set_value([vec![0, 1, 2], vec![]]);
    /// let mean = h.gather_mean_bags(&neighbours);
    /// mean.forward();
    /// assert_eq!(mean.value(), ndarray::arr2(&[[1.0, 1.0], [0.0, 0.0]]));
    /// ```
    ///
    /// # Panics
    /// If a current id is out of range for this node's rows.
    #[track_caller]
    pub fn gather_mean_bags(&self, bags: &Variable<BagsInputNode>) -> Variable<GatherBags<T>> {
        self.gather_bags(bags, true)
    }

    #[track_caller]
    fn gather_bags(&self, bags: &Variable<BagsInputNode>, mean: bool) -> Variable<GatherBags<T>> {
        let what = if mean {
            "gather_mean_bags"
        } else {
            "gather_sum_bags"
        };
        let rows = self.shape().0;
        let binding = IndexInputNode::bind(&bags.node().ids, rows, Bound::NodeRows, what);
        self.apply(GatherBagsOp {
            bags: bags.node().clone(),
            mean,
            _binding: binding,
        })
    }
}

#[cfg(test)]
mod tests {
    use crate::*;
    use ndarray::Array2;

    /// The gathered rows equal a parameter table's lookup of the same indices, and their
    /// gradients equal its (dense) gradient, on several shapes with repeats.
    #[test]
    fn gathers_as_a_lookup_does() {
        for (rows, cols, ids) in [(1, 1, vec![0, 0]), (4, 3, vec![3, 1, 3]), (6, 5, vec![])] {
            let value = random_matrix(rows, cols);
            let table = ParameterNode::new(value.clone());
            let x = ParameterNode::new(value);
            let idx = IndexInputNode::new(&ids);
            let upstream = random_matrix(ids.len(), cols);
            let mut looked_up = table.index(&idx).boxed();
            let mut gathered = x.gather_rows(&idx).boxed();
            for y in [&mut looked_up, &mut gathered] {
                y.forward();
                y.backward_with(upstream.view());
            }
            assert_eq!(gathered.value(), looked_up.value());
            assert_eq!(x.gradient(), table.gradient());
        }
    }

    #[test]
    fn pools_as_a_bag_lookup_does() {
        let bags = [vec![(2, 0.5), (0, 1.0), (2, 2.0)], vec![], vec![(1, -1.0)]];
        for weighted in [false, true] {
            for mean in [false, true] {
                let value = random_matrix(3, 4);
                let table = ParameterNode::new(value.clone());
                let x = ParameterNode::new(value);
                let input = BagsInputNode::new(3);
                if weighted {
                    input.set_weighted(bags.clone());
                } else {
                    input.set_value(
                        bags.iter()
                            .map(|b| b.iter().map(|p| p.0).collect::<Vec<_>>()),
                    );
                }
                let (mut pooled, mut gathered) = if mean {
                    (
                        table.mean_bags(&input).boxed(),
                        x.gather_mean_bags(&input).boxed(),
                    )
                } else {
                    (
                        table.sum_bags(&input).boxed(),
                        x.gather_sum_bags(&input).boxed(),
                    )
                };
                let upstream = random_matrix(3, 4);
                for y in [&mut pooled, &mut gathered] {
                    y.forward();
                    y.backward_with(upstream.view());
                }
                let close = |a: &Array2<f32>, b: &Array2<f32>| {
                    a.iter().zip(b).all(|(a, b)| (a - b).abs() < 1e-6)
                };
                // The values as `mean_bags` computes them: divided, exactly.
                assert_eq!(
                    gathered.value(),
                    pooled.value(),
                    "mean {mean}, weighted {weighted}"
                );
                assert!(
                    close(&gathered.value(), &pooled.value()),
                    "mean {mean}, weighted {weighted}"
                );
                assert!(
                    close(&x.gradient(), &table.gradient()),
                    "mean {mean}, weighted {weighted}"
                );
            }
        }
    }

    /// The mean of equal rows is that row exactly (divided, not scaled by a reciprocal).
    #[test]
    fn the_mean_of_equal_rows_is_exact() {
        let h = InputNode::new(ndarray::arr2(&[[7.0, 0.1], [7.0, 0.1], [7.0, 0.1]]));
        let bags = BagsInputNode::new(1);
        bags.set_value([vec![0, 1, 2]]);
        let mean = h.gather_mean_bags(&bags);
        mean.forward();
        assert_eq!(mean.value(), ndarray::arr2(&[[7.0, 0.1]]));
    }

    #[test]
    fn gradients_through_a_computed_operand() {
        for (rows, cols) in [(1, 1), (3, 2), (5, 4)] {
            let w = ParameterNode::new(random_matrix(cols, cols));
            let x = InputNode::new(random_matrix(rows, cols));
            let h = x.dot(&w).tanh();
            let ids: Vec<usize> = (0..rows + 2).map(|i| (i * 7) % rows).collect();
            let idx = IndexInputNode::new(&ids);
            gradcheck::assert_gradient(&h.gather_rows(&idx), &w);
            let bags = BagsInputNode::new(2);
            bags.set_weighted([
                ids.iter().map(|&i| (i, 0.5 + i as f32)).collect(),
                vec![(0, 2.0)],
            ]);
            gradcheck::assert_gradient(&h.gather_sum_bags(&bags), &w);
            gradcheck::assert_gradient(&(h.gather_mean_bags(&bags) * h.clone().sum_columns()), &w);
        }
    }

    #[test]
    fn indices_out_of_range_name_the_index_and_the_row_count() {
        let h = InputNode::new(Array2::zeros((3, 2)));
        let idx = IndexInputNode::new(&[0, 2]);
        let rows = h.gather_rows(&idx);
        let message =
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| idx.set_value(&[0, 3])))
                .map_err(|p| p.downcast::<String>().map(|s| *s).unwrap_or_default())
                .expect_err("out of range");
        assert!(
            message.contains("index 3 is out of range for the 3 rows of the node it gathers from"),
            "{message}"
        );
        drop(rows);
        let bags = BagsInputNode::new(1);
        bags.set_value([vec![5]]);
        let message = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            drop(h.gather_sum_bags(&bags));
        }))
        .map_err(|p| p.downcast::<String>().map(|s| *s).unwrap_or_default())
        .expect_err("out of range");
        assert!(
            message.contains(
                "gather_sum_bags: index 5 is out of range for the 3 rows of the node it gathers from"
            ),
            "{message}"
        );
    }
}
