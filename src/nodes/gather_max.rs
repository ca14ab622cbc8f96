//! The hard and soft maxima of each bag's rows of any node: `gather_max_bags` (max
//! pooling: a graph network's neighbourhood maximum) and `gather_logsumexp_bags` (the
//! normaliser of a softmax within each group: a listwise ranking loss over queries of
//! several lengths in one graph, a mixture's likelihood per example). Both reduce each
//! column separately, as `gather_sum_bags` pools, and send the operand a dense gradient.

use super::bags::BagsInputNode;
use super::index::{Binding, Bound, IndexInputNode};
use super::logsumexp::logsumexp;
use super::max::beats;
use super::single::{Single, SingleOp};
use crate::node::Node;
use crate::shape::{Dim, Dyn};
use crate::Variable;
use std::rc::Rc;

/// Which maximum a [`GatherMaxBagsOp`] takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Maximum {
    /// The largest value: the gradient goes to the first id that has it.
    Hard,
    /// `ln Σ exp`: the gradient is the softmax over the bag.
    Soft,
}

/// The maximum (or log-sum-exp) of each bag's rows of the operand, column by column:
/// `B x cols` for `B` bags, each id's row times its weight if the bags carry weights, and
/// zeros (with no gradient) for an empty bag; node type [`GatherMaxBags`].
pub struct GatherMaxBagsOp {
    bags: Rc<BagsInputNode>,
    maximum: Maximum,
    /// Keeps the operand's row count limiting the bags' ids while this op lives.
    _binding: Binding,
}

/// Node taking the maximum or log-sum-exp of each bag's rows of a node:
/// `x.gather_max_bags(&bags)` or `x.gather_logsumexp_bags(&bags)`.
///
/// ```
/// use wyrm::*;
/// use wyrm::nodes::GatherMaxBags;
/// let h = InputNode::new(ndarray::arr2(&[[1.0, 6.0], [3.0, 4.0], [5.0, 2.0]]));
/// let neighbours = BagsInputNode::new(2);
/// neighbours.set_value([vec![0, 1], vec![2]]);
/// let pooled: Variable<GatherMaxBags<InputNode>> = h.gather_max_bags(&neighbours);
/// pooled.forward();
/// assert_eq!(pooled.value(), ndarray::arr2(&[[3.0, 6.0], [5.0, 2.0]]));
/// ```
pub type GatherMaxBags<T> = Single<GatherMaxBagsOp, T>;

impl GatherMaxBagsOp {
    /// Calls `each(bag, ids, weight)` for every bag, with its ids and a function giving the
    /// weight of the id at a position in it (1 for unweighted bags).
    fn for_each_bag(&self, mut each: impl FnMut(usize, &[usize], &dyn Fn(usize) -> f32)) {
        self.bags.with_contents(|ids, sizes, weights| {
            let mut at = 0;
            for (bag, &size) in sizes.iter().enumerate() {
                let weight = |p: usize| weights.get(at + p).copied().unwrap_or(1.0);
                each(bag, &ids[at..at + size], &weight);
                at += size;
            }
        })
    }
}

impl SingleOp for GatherMaxBagsOp {
    type Rows<R: Dim, C: Dim> = Dyn;
    type Cols<R: Dim, C: Dim> = C;

    fn output_shape(&self, shape: (usize, usize)) -> (usize, usize) {
        (self.bags.bags(), shape.1)
    }

    fn forward(&self, x: &[f32], shape: (usize, usize), y: &mut [f32]) {
        let cols = shape.1;
        let maximum = self.maximum;
        self.for_each_bag(|bag, ids, weight| {
            let out = &mut y[bag * cols..(bag + 1) * cols];
            if ids.is_empty() {
                out.fill(0.0);
                return;
            }
            for (c, out) in out.iter_mut().enumerate() {
                let values = ids
                    .iter()
                    .enumerate()
                    .map(|(p, &id)| weight(p) * x[id * cols + c]);
                *out = match maximum {
                    Maximum::Hard => values.reduce(|best, v| if beats(v, best) { v } else { best }),
                    Maximum::Soft => Some(logsumexp(values)),
                }
                .unwrap_or(0.0);
            }
        });
    }

    fn backward(&self, g: &[f32], x: &[f32], y: &[f32], shape: (usize, usize), gx: &mut [f32]) {
        let cols = shape.1;
        gx.fill(0.0);
        let maximum = self.maximum;
        self.for_each_bag(|bag, ids, weight| {
            for c in 0..cols {
                let g = g[bag * cols + c];
                let value = |p: usize| weight(p) * x[ids[p] * cols + c];
                let mut add = |p: usize, share: f32| gx[ids[p] * cols + c] += share * weight(p);
                match maximum {
                    Maximum::Hard => {
                        // The first id whose value is the result: the one the forward pass
                        // picked (a NaN picked matches no value, and gets the gradient too).
                        let best = y[bag * cols + c];
                        if let Some(p) = (0..ids.len())
                            .find(|&p| value(p) == best || (best.is_nan() && value(p).is_nan()))
                        {
                            add(p, g);
                        }
                    }
                    Maximum::Soft => softmax_shares(g, ids.len(), value, add),
                }
            }
        });
    }
}

/// Calls `add(p, share)` with each of the `n` values' share of `g` in the gradient of
/// their log-sum-exp: `g` times their softmax, computed from their largest as the forward
/// pass does. All `-inf`: no gradient; some `+inf`: `g` shared between them; a NaN: NaN.
fn softmax_shares(g: f32, n: usize, value: impl Fn(usize) -> f32, mut add: impl FnMut(usize, f32)) {
    let max = (0..n).map(&value).fold(f32::NEG_INFINITY, f32::max);
    if max.is_infinite() {
        let infinities = (0..n).filter(|&p| value(p) == max).count() as f32;
        for p in 0..n {
            let v = value(p);
            if v.is_nan() {
                add(p, f32::NAN);
            } else if max == f32::INFINITY && v == max {
                add(p, g / infinities);
            }
        }
        return;
    }
    let total: f32 = (0..n).map(|p| crate::kernels::exp(value(p) - max)).sum();
    let scale = g / total;
    for p in 0..n {
        add(p, crate::kernels::exp(value(p) - max) * scale);
    }
}

impl<T: Node> Variable<T> {
    /// The largest value of each bag's rows of this node, column by column (times their
    /// weights if the bags carry weights): `B x cols` for `B` bags, zeros for an empty
    /// bag. Max pooling over groups of rows of any size, in one node: a graph network's
    /// neighbourhood maximum, a sentence's strongest feature. The gradient goes to the
    /// first id of the bag that has the maximum, so ties send it to one row, as
    /// [`max_columns`](Variable::max_columns) does; the operand gets a dense gradient. A
    /// NaN is picked over any number, so it shows in the result.
    ///
    /// ```
    /// use wyrm::*;
    /// // Three nodes' representations; node 0's neighbours are 1 and 2, node 1's is 0.
    /// let h = ParameterNode::new(ndarray::arr2(&[[1.0, 0.0], [0.0, 1.0], [2.0, -1.0]]));
    /// let neighbours = BagsInputNode::new(2);
    /// neighbours.set_value([vec![1, 2], vec![0]]);
    /// let pooled = h.gather_max_bags(&neighbours);
    /// pooled.forward();
    /// pooled.backward(1.0);
    /// assert_eq!(pooled.value(), ndarray::arr2(&[[2.0, 1.0], [1.0, 0.0]]));
    /// // Each column's maximum got its gradient: row 2's first entry, row 1's second.
    /// assert_eq!(h.gradient(), ndarray::arr2(&[[1.0, 1.0], [0.0, 1.0], [1.0, 0.0]]));
    /// ```
    ///
    /// # Panics
    /// If a current id is out of range for this node's rows.
    #[track_caller]
    pub fn gather_max_bags(&self, bags: &Variable<BagsInputNode>) -> Variable<GatherMaxBags<T>> {
        self.gather_maximum(bags, Maximum::Hard)
    }

    /// `ln Σ exp` of each bag's rows of this node, column by column (each row times its
    /// weight if the bags carry weights), computed stably: `B x cols` for `B` bags, zeros
    /// (not `-inf`) for an empty bag, so that unused bag slots of a fixed-size graph add
    /// nothing to a loss. The gradient is the softmax within each bag.
    ///
    /// This is a softmax within groups of rows of any size, in one graph: a score per row,
    /// and a bag of rows per group, give each group's normaliser. A listwise ranking loss
    /// (ListNet: the cross-entropy between each query's label distribution and the softmax
    /// of its documents' scores) over queries of several lengths is
    /// `Σ_q lse_q − Σ_i p_i s_i`, with `p` the label distribution of each row's query; the
    /// log-probability of each row within its group is
    /// `s - s.gather_logsumexp_bags(&groups).gather_rows(&group_of_row)`.
    ///
    /// ```
    /// use wyrm::*;
    /// // Scores of 5 documents: query 0 has documents 0..3, query 1 documents 3..5.
    /// let features = InputNode::new(ndarray::arr2(&[[1.0], [0.0], [2.0], [0.5], [1.5]]));
    /// let w = ParameterNode::new(ndarray::arr2(&[[1.0]]));
    /// let scores = features.dot(&w);
    /// let queries = BagsInputNode::new(2);
    /// queries.set_value([vec![0, 1, 2], vec![3, 4]]);
    /// // Each query's labels as a distribution over its documents.
    /// let targets = InputNode::new(ndarray::arr2(&[[0.2], [0.0], [0.8], [0.0], [1.0]]));
    /// let loss = scores.gather_logsumexp_bags(&queries).scalar_sum()
    ///     - (scores.clone() * targets).scalar_sum();
    /// loss.forward();
    /// let lse = |s: &[f32]| s.iter().map(|v| v.exp()).sum::<f32>().ln();
    /// let expected = lse(&[1.0, 0.0, 2.0]) - (0.2 + 1.6) + lse(&[0.5, 1.5]) - 1.5;
    /// assert!((loss.value()[(0, 0)] - expected).abs() < 1e-5);
    /// loss.backward(1.0);
    /// assert!(w.gradient()[(0, 0)].is_finite());
    /// ```
    ///
    /// # Panics
    /// If a current id is out of range for this node's rows.
    #[track_caller]
    pub fn gather_logsumexp_bags(
        &self,
        bags: &Variable<BagsInputNode>,
    ) -> Variable<GatherMaxBags<T>> {
        self.gather_maximum(bags, Maximum::Soft)
    }

    #[track_caller]
    fn gather_maximum(
        &self,
        bags: &Variable<BagsInputNode>,
        maximum: Maximum,
    ) -> Variable<GatherMaxBags<T>> {
        let what = match maximum {
            Maximum::Hard => "gather_max_bags",
            Maximum::Soft => "gather_logsumexp_bags",
        };
        let rows = self.shape().0;
        let binding = IndexInputNode::bind(&bags.node().ids, rows, Bound::NodeRows, what);
        self.apply(GatherMaxBagsOp {
            bags: bags.node().clone(),
            maximum,
            _binding: binding,
        })
    }
}

#[cfg(test)]
mod tests {
    use crate::*;
    use ndarray::Array2;

    /// Each bag's column maxima and log-sum-exps, by plain loops in `f64`.
    fn reference(x: &Array2<f32>, bags: &[Vec<(usize, f32)>], soft: bool) -> Array2<f32> {
        Array2::from_shape_fn((bags.len(), x.ncols()), |(b, c)| {
            let values: Vec<f64> = bags[b]
                .iter()
                .map(|&(id, w)| f64::from(w) * f64::from(x[(id, c)]))
                .collect();
            if values.is_empty() {
                0.0
            } else if soft {
                values.iter().map(|v| v.exp()).sum::<f64>().ln() as f32
            } else {
                values.iter().cloned().fold(f64::NEG_INFINITY, f64::max) as f32
            }
        })
    }

    fn bags_input(bags: &[Vec<(usize, f32)>], weighted: bool) -> Variable<BagsInputNode> {
        let input = BagsInputNode::new(bags.len());
        if weighted {
            input.set_weighted(bags.iter().cloned());
        } else {
            input.set_value(
                bags.iter()
                    .map(|b| b.iter().map(|p| p.0).collect::<Vec<_>>()),
            );
        }
        input
    }

    #[test]
    fn values_match_plain_loops() {
        let bags = vec![
            vec![(2, 0.5), (0, 1.0), (2, 2.0)],
            vec![],
            vec![(1, -1.0)],
            vec![(0, 1.5), (1, 0.25), (3, 1.0)],
        ];
        let x = crate::init::seeded(4, 3, 2.0, 9);
        for weighted in [false, true] {
            let plain: Vec<Vec<(usize, f32)>> = bags
                .iter()
                .map(|b| {
                    b.iter()
                        .map(|&(id, w)| (id, if weighted { w } else { 1.0 }))
                        .collect()
                })
                .collect();
            let input = bags_input(&bags, weighted);
            for soft in [false, true] {
                let h = InputNode::new(x.clone());
                let y = if soft {
                    h.gather_logsumexp_bags(&input)
                } else {
                    h.gather_max_bags(&input)
                };
                y.forward();
                let expected = reference(&x, &plain, soft);
                for (a, b) in y.value().iter().zip(&expected) {
                    assert!(
                        (a - b).abs() < 1e-5,
                        "soft {soft}, weighted {weighted}: {a} vs {b}"
                    );
                }
                assert_eq!(y.value().row(1), ndarray::arr1(&[0.0, 0.0, 0.0]));
            }
        }
    }

    /// Against finite differences, through a computed operand, with repeated ids,
    /// overlapping bags, an empty bag and weights, on several shapes.
    #[test]
    fn gradients_through_a_computed_operand() {
        for (rows, cols) in [(1, 1), (3, 2), (5, 4)] {
            let w = ParameterNode::new(crate::init::seeded(cols, cols, 1.0, rows as u64));
            let x = InputNode::new(crate::init::seeded(rows, cols, 1.0, 7 + rows as u64));
            let h = x.dot(&w).tanh();
            let ids: Vec<usize> = (0..rows + 2).map(|i| (i * 7) % rows).collect();
            let bags = BagsInputNode::new(3);
            bags.set_weighted([
                ids.iter().map(|&i| (i, 0.5 + i as f32)).collect(),
                vec![],
                vec![(0, 2.0), (rows - 1, -1.0)],
            ]);
            let upstream = InputNode::new(crate::init::seeded(3, cols, 1.0, 3));
            gradcheck::assert_gradient(
                &(h.gather_logsumexp_bags(&bags) * upstream.clone()).scalar_sum(),
                &w,
            );
            gradcheck::assert_gradient(&(h.gather_max_bags(&bags) * upstream).scalar_sum(), &w);
        }
    }

    /// The maximum's gradient goes to the first id holding it (ties: one row), and an
    /// empty bag's zeros send nothing back.
    #[test]
    fn the_maximum_picks_the_first_tied_id() {
        let h = ParameterNode::new(ndarray::arr2(&[[3.0], [3.0], [1.0]]));
        let bags = BagsInputNode::new(2);
        bags.set_value([vec![2, 1, 0], vec![]]);
        let y = h.gather_max_bags(&bags);
        y.forward();
        y.backward(2.0);
        assert_eq!(h.gradient(), ndarray::arr2(&[[0.0], [2.0], [0.0]]));
    }

    /// Large values neither overflow nor lose the softmax; `-inf` rows add nothing, and a
    /// bag of only `-inf` is `-inf` with no gradient.
    #[test]
    fn the_log_sum_exp_is_stable() {
        let h = ParameterNode::new(ndarray::arr2(&[[1000.0], [1000.0], [f32::NEG_INFINITY]]));
        let bags = BagsInputNode::new(2);
        bags.set_value([vec![0, 1, 2], vec![2]]);
        let y = h.gather_logsumexp_bags(&bags);
        y.forward();
        y.backward(1.0);
        assert!((y.value()[(0, 0)] - (1000.0 + 2f32.ln())).abs() < 1e-3);
        assert_eq!(y.value()[(1, 0)], f32::NEG_INFINITY);
        assert_eq!(h.gradient(), ndarray::arr2(&[[0.5], [0.5], [0.0]]));
    }

    #[test]
    fn ids_out_of_range_name_the_id_and_the_row_count() {
        let h = InputNode::new(Array2::zeros((3, 2)));
        let bags = BagsInputNode::new(1);
        bags.set_value([vec![4]]);
        for max in [true, false] {
            let message = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                if max {
                    drop(h.gather_max_bags(&bags));
                } else {
                    drop(h.gather_logsumexp_bags(&bags));
                }
            }))
            .map_err(|p| p.downcast::<String>().map(|s| *s).unwrap_or_default())
            .expect_err("out of range");
            let name = if max {
                "gather_max_bags"
            } else {
                "gather_logsumexp_bags"
            };
            assert!(
                message.contains(&format!(
                    "{name}: index 4 is out of range for the 3 rows of the node it gathers from"
                )),
                "{message}"
            );
        }
    }
}
