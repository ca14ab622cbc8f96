//! The hard and soft maxima of each bag's rows of any node: `gather_max_bags` (max
//! pooling: a graph network's neighbourhood maximum) and `gather_logsumexp_bags` (the
//! normaliser of a softmax within each group: a listwise ranking loss over queries of
//! several lengths in one graph, a mixture's likelihood per example). Both reduce each
//! column separately, as `gather_sum_bags` pools, and send the operand a dense gradient.

use super::bags::BagsInputNode;
use super::index::{Binding, Bound, IndexInputNode};
use super::logsumexp::logsumexp;
use super::single::{Single, SingleOp};
use crate::node::Node;
use crate::shape::{Dim, Dyn};
use crate::Variable;
use std::cell::RefCell;
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
    /// What the forward pass leaves for the backward pass, per bag and column.
    saved: RefCell<Saved>,
    /// Keeps the operand's row count limiting the bags' ids while this op lives.
    _binding: Binding,
}

/// Per bag and column (`B x cols`, row-major), from the forward pass: the backward pass
/// then reads each id's row once, in order, with no second maximum or sum.
#[derive(Default)]
struct Saved {
    /// The largest value (the log-sum-exp's shift).
    max: Vec<f32>,
    /// Log-sum-exp: `1 / Σ exp(v - max)`, each value's softmax being `exp(v - max)` times
    /// it.
    scale: Vec<f32>,
    /// Maximum: the position in the bag of the first id holding it (bags hold fewer than
    /// 2^32 ids: their ids index a node's rows, held in memory).
    at: Vec<u32>,
    /// Room for one column of a bag's values (see [`WIDE`]).
    values: Vec<f32>,
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

/// The node `x.gather_logsumexp_bags(&bags)` builds: the same node type as
/// [`GatherMaxBags`], whose op takes either maximum, named for what it computes here.
///
/// ```
/// use wyrm::*;
/// use wyrm::nodes::GatherLogSumExpBags;
/// let s = InputNode::new(ndarray::arr2(&[[0.0], [0.0]]));
/// let groups = BagsInputNode::new(1);
/// groups.set_value([vec![0, 1]]);
/// let lse: Variable<GatherLogSumExpBags<InputNode>> = s.gather_logsumexp_bags(&groups);
/// lse.forward();
/// assert!((lse.value()[(0, 0)] - 2f32.ln()).abs() < 1e-6);
/// ```
pub type GatherLogSumExpBags<T> = GatherMaxBags<T>;

impl GatherMaxBagsOp {
    /// The log-sum-exp of each bag, for another op built on it, over bags whose ids
    /// `binding` keeps in range.
    pub(super) fn log_sum_exp(bags: Rc<BagsInputNode>, binding: Binding) -> Self {
        GatherMaxBagsOp {
            bags,
            maximum: Maximum::Soft,
            saved: RefCell::default(),
            _binding: binding,
        }
    }

    /// Calls `split(shift, scale)` with each bag and column's log-sum-exp from the last
    /// forward pass split in two (`B x cols`, row-major): the shift (the maximum) and
    /// `1 / Σ exp(v - shift)`, for the log-sum-exp to be subtracted in two steps, keeping
    /// the digits that one rounded sum would lose. A non-finite shift has no scale.
    pub(super) fn with_shift_and_scale<R>(&self, split: impl FnOnce(&[f32], &[f32]) -> R) -> R {
        let saved = self.saved.borrow();
        split(&saved.max, &saved.scale)
    }

    /// Calls `each(bag, ids, weights)` for every bag, with its ids and their weights
    /// (`None` for unweighted bags), compiled for AVX2 where the CPU has it: the loops
    /// over a row's columns, exponentials included, then run 8 lanes wide.
    #[inline(always)]
    pub(super) fn for_each_bag(&self, mut each: impl FnMut(usize, &[usize], Option<&[f32]>)) {
        self.bags.with_contents(|ids, sizes, weights| {
            crate::kernels::simd::vectorized(|| {
                let mut at = 0;
                for (bag, &size) in sizes.iter().enumerate() {
                    each(bag, &ids[at..at + size], weights.get(at..at + size));
                    at += size;
                }
            })
        })
    }
}

/// The weight of the id at position `p` of a bag.
#[inline(always)]
pub(super) fn weight(weights: Option<&[f32]>, p: usize) -> f32 {
    weights.map_or(1.0, |w| w[p])
}

impl SingleOp for GatherMaxBagsOp {
    type Rows<R: Dim, C: Dim> = Dyn;
    type Cols<R: Dim, C: Dim> = C;

    fn output_shape(&self, shape: (usize, usize)) -> (usize, usize) {
        (self.bags.bags(), shape.1)
    }

    fn forward(&self, x: &[f32], shape: (usize, usize), y: &mut [f32]) {
        let cols = shape.1;
        let mut saved = self.saved.borrow_mut();
        let Saved {
            max,
            scale,
            at,
            values,
        } = &mut *saved;
        // Sized once: the bag count and the width are fixed when the node is built.
        max.resize(y.len(), 0.0);
        match self.maximum {
            Maximum::Hard => at.resize(y.len(), 0),
            Maximum::Soft => scale.resize(y.len(), 0.0),
        }
        let row = |id: usize| &x[id * cols..(id + 1) * cols];
        self.for_each_bag(|bag, ids, weights| {
            let span = bag * cols..(bag + 1) * cols;
            let (out, max) = (&mut y[span.clone()], &mut max[span.clone()]);
            let Some((&first, rest)) = ids.split_first() else {
                out.fill(0.0);
                return;
            };
            if self.maximum == Maximum::Soft && cols < WIDE {
                // Column by column, over the bag's values gathered in a row of their own.
                for (c, ((out, max), scale)) in out
                    .iter_mut()
                    .zip(max)
                    .zip(&mut scale[span.clone()])
                    .enumerate()
                {
                    let v = gather(values, ids, weights, x, cols, c);
                    *max = crate::kernels::max(v);
                    (*out, *scale) = log_sum_exp_of(v, *max);
                }
                return;
            }
            // Row after row, each read once and in order.
            let w = weight(weights, 0);
            max.iter_mut().zip(row(first)).for_each(|(m, v)| *m = w * v);
            if self.maximum == Maximum::Hard {
                let at = &mut at[span];
                at.fill(0);
                for (p, &id) in rest.iter().enumerate() {
                    let (w, p) = (weight(weights, p + 1), p as u32 + 1);
                    // Selects, not a branch (a branch on random data took 8x the time of
                    // `gather_mean_bags` over 2,000 bags of 9 rows of 32; this, 5x).
                    for ((m, a), v) in max.iter_mut().zip(at.iter_mut()).zip(row(id)) {
                        // `beats`, without short-circuits (which would be branches).
                        let v = w * v;
                        let better = (v > *m) | (v.is_nan() & !m.is_nan());
                        *m = if better { v } else { *m };
                        *a = if better { p } else { *a };
                    }
                }
                out.copy_from_slice(max);
                return;
            }
            // The log-sum-exp: the largest first (NaNs skipped: they reach the sum), then
            // the sum of exponentials, kept in `out`.
            for (p, &id) in rest.iter().enumerate() {
                let w = weight(weights, p + 1);
                max.iter_mut()
                    .zip(row(id))
                    .for_each(|(m, v)| *m = m.max(w * v));
            }
            out.fill(0.0);
            for (p, &id) in ids.iter().enumerate() {
                let w = weight(weights, p);
                for ((total, m), v) in out.iter_mut().zip(&*max).zip(row(id)) {
                    *total += crate::kernels::exp(w * v - m);
                }
            }
            let scale = &mut scale[span];
            for (c, ((y, s), m)) in out.iter_mut().zip(scale).zip(&*max).enumerate() {
                if m.is_finite() {
                    (*y, *s) = (m + crate::kernels::ln(*y), 1.0 / *y);
                } else {
                    let v = gather(values, ids, weights, x, cols, c);
                    (*y, *s) = log_sum_exp_of(v, *m);
                }
            }
        });
    }

    fn backward(&self, g: &[f32], x: &[f32], _y: &[f32], shape: (usize, usize), gx: &mut [f32]) {
        let cols = shape.1;
        gx.fill(0.0);
        let mut saved = self.saved.borrow_mut();
        let Saved {
            max,
            scale,
            at,
            values,
        } = &mut *saved;
        self.for_each_bag(|bag, ids, weights| {
            let span = bag * cols..(bag + 1) * cols;
            let g = &g[span.clone()];
            if self.maximum == Maximum::Hard {
                for (c, (&p, g)) in at[span].iter().zip(g).enumerate() {
                    let p = p as usize;
                    if let Some(&id) = ids.get(p) {
                        gx[id * cols + c] += g * weight(weights, p);
                    }
                }
                return;
            }
            let (max, scale) = (&max[span.clone()], &scale[span]);
            if cols >= WIDE && max.iter().all(|m| m.is_finite()) {
                // Each value's share, `g · softmax · w`, from the forward pass's shift and
                // sum: one exponential per element, row after row.
                for (p, &id) in ids.iter().enumerate() {
                    let w = weight(weights, p);
                    let (x, gx) = (
                        &x[id * cols..(id + 1) * cols],
                        &mut gx[id * cols..(id + 1) * cols],
                    );
                    for ((((gx, x), m), s), g) in gx.iter_mut().zip(x).zip(max).zip(scale).zip(g) {
                        *gx += g * s * w * crate::kernels::exp(w * x - m);
                    }
                }
                return;
            }
            // Column by column, over the bag's values gathered in a row of their own.
            for (c, ((&g, &m), &s)) in g.iter().zip(max).zip(scale).enumerate() {
                let v = gather(values, ids, weights, x, cols, c);
                if m.is_finite() {
                    v.iter_mut().for_each(|v| *v = crate::kernels::exp(*v - m));
                    for (p, (&id, v)) in ids.iter().zip(&*v).enumerate() {
                        gx[id * cols + c] += g * s * weight(weights, p) * v;
                    }
                } else {
                    let add =
                        |p: usize, share: f32| gx[ids[p] * cols + c] += share * weight(weights, p);
                    softmax_shares(g, v, add);
                }
            }
        });
    }
}

/// Columns from this many on are reduced row after row, each row's columns in SIMD lanes;
/// narrower ones column by column, each column's values in the lanes (a column of scores,
/// a listwise ranking loss's case, would otherwise take one exponential at a time).
const WIDE: usize = 8;

/// Column `c` of a bag's rows, each times its weight, in `buffer` (grown as needed, once).
#[inline(always)]
fn gather<'a>(
    buffer: &'a mut Vec<f32>,
    ids: &[usize],
    weights: Option<&[f32]>,
    x: &[f32],
    cols: usize,
    c: usize,
) -> &'a mut [f32] {
    if buffer.len() < ids.len() {
        buffer.resize(ids.len(), 0.0);
    }
    let v = &mut buffer[..ids.len()];
    for (p, (v, &id)) in v.iter_mut().zip(ids).enumerate() {
        *v = weight(weights, p) * x[id * cols + c];
    }
    v
}

/// The log-sum-exp of `v` (at least one value, whose largest, NaNs skipped, is `max`) and
/// the reciprocal of `Σ exp(v - max)` that the backward pass scales by; `v`, a scratch
/// copy, is overwritten. An infinite maximum (all `-inf`, or a `+inf`) goes to
/// [`logsumexp`], which handles those.
#[inline(always)]
fn log_sum_exp_of(v: &mut [f32], max: f32) -> (f32, f32) {
    if !max.is_finite() {
        return (logsumexp(v.iter().copied()), 0.0);
    }
    // In place, then summed in the kernel's lanes: both passes run in SIMD registers.
    v.iter_mut()
        .for_each(|v| *v = crate::kernels::exp(*v - max));
    let total = crate::kernels::sum(v);
    (max + crate::kernels::ln(total), 1.0 / total)
}

/// Calls `add(p, share)` with each value's share of `g` in the gradient of the
/// log-sum-exp of `values`, whose maximum is infinite: all `-inf`, no gradient; some
/// `+inf`, `g` shared between them; a NaN among them, NaN.
fn softmax_shares(g: f32, values: &[f32], mut add: impl FnMut(usize, f32)) {
    let max = crate::kernels::max(values);
    let infinities = values.iter().filter(|&&v| v == max).count() as f32;
    for (p, &v) in values.iter().enumerate() {
        if v.is_nan() {
            add(p, f32::NAN);
        } else if max == f32::INFINITY && v == max {
            add(p, g / infinities);
        }
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
    /// Its forward pass takes about 5 times `gather_mean_bags`' (2,000 bags of 9 rows of
    /// 32: 440 µs against 80, release build, this project's 2-core machine): the maximum
    /// keeps each column's position for the backward pass. Features of very different
    /// scales make the maximum pick the largest-scaled ones: standardise them first
    /// ([`standardize_columns`](Variable::standardize_columns)).
    ///
    /// Weights scale the values before the maximum is taken, as they scale them before
    /// [`gather_sum_bags`](Variable::gather_sum_bags) adds them: a weight of 0 does not
    /// leave an id out (its value takes part as 0). Leave padding out of the bags instead.
    ///
    /// Over a parameter table, the gradient is dense: every backward pass fills the whole
    /// table's, and the optimizer updates every row. To keep it row-sparse, look the rows
    /// up first and pool the lookup's rows: `table.index(&ids).gather_max_bags(&bags)`,
    /// with `ids` every id of every bag, one after the other (a lookup's count is fixed:
    /// pad with any id to a fixed total, left out of the bags), and the bags numbering
    /// positions in it (`0..n` split into bags).
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
    /// Weights scale the values before the exponential, as they scale them before
    /// [`gather_sum_bags`](Variable::gather_sum_bags) adds them: `ln Σ exp(w·x)`, not
    /// `ln Σ w·exp(x)`, and a weight of 0 does not leave an id out (it adds `exp(0)`).
    /// Over a parameter table the gradient is dense, as for
    /// [`gather_max_bags`](Variable::gather_max_bags), which says how to keep it sparse.
    ///
    /// Costs about what the log-sum-exp written out as nodes costs (subtracting a shift,
    /// `exp`, `gather_sum_bags`, `ln`), or less: over 320 scores in 16 bags, a forward and
    /// backward pass took 3.7 µs against 6.3 (medians of three runs, release build, on
    /// this project's 2-core machine); 8 columns, 16 µs against 13; 32,000 scores, 308 µs
    /// against 450. That chain shifts every bag by one maximum, though, and loses a bag
    /// whose values lie some 87 below it (`exp` gives 0 there); this node shifts each bag
    /// and column by its own.
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
    ) -> Variable<GatherLogSumExpBags<T>> {
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
            saved: RefCell::default(),
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
        // Narrow columns (gathered, one column at a time) and wide ones (row after row).
        for (x, weighted) in [3, 11]
            .map(|cols| crate::init::seeded(4, cols, 2.0, 9))
            .into_iter()
            .flat_map(|x| [(x.clone(), false), (x, true)])
        {
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
                assert!(y.value().row(1).iter().all(|v| *v == 0.0));
            }
        }
    }

    /// Against finite differences, through a computed operand, with repeated ids,
    /// overlapping bags, an empty bag and weights, on several shapes.
    #[test]
    fn gradients_through_a_computed_operand() {
        for (rows, cols) in [(1, 1), (3, 2), (5, 4), (4, 9)] {
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

        // `+inf` values share the gradient; a NaN makes the value and the gradient NaN;
        // the other columns (finite, narrow and wide layouts alike) are as usual.
        for cols in [3, 10] {
            let mut x = Array2::from_elem((3, cols), 1.0);
            x.column_mut(0)
                .assign(&ndarray::arr1(&[f32::INFINITY, 1.0, f32::INFINITY]));
            x[(1, 1)] = f32::NAN;
            let h = ParameterNode::new(x);
            let bags = BagsInputNode::new(1);
            bags.set_value([vec![0, 1, 2]]);
            let y = h.gather_logsumexp_bags(&bags);
            y.forward();
            y.backward(1.0);
            assert_eq!(y.value()[(0, 0)], f32::INFINITY);
            assert!(y.value()[(0, 1)].is_nan());
            assert!((y.value()[(0, 2)] - (1.0 + 3f32.ln())).abs() < 1e-6);
            let gradient = h.gradient();
            assert_eq!(gradient.column(0), ndarray::arr1(&[0.5, 0.0, 0.5]));
            assert!(gradient.column(1).iter().all(|g| g.is_nan()));
            assert!(gradient
                .column(2)
                .iter()
                .all(|g| (g - 1.0 / 3.0).abs() < 1e-6));
        }
    }

    /// The maximum picks a NaN over any number (the first one), and `+inf` as any value;
    /// the gradient goes to the row picked.
    #[test]
    fn the_maximum_of_nan_and_infinities() {
        for cols in [1, 9] {
            let mut x = Array2::from_elem((3, cols), 0.0);
            x.column_mut(0)
                .assign(&ndarray::arr1(&[1.0, f32::NAN, f32::NAN]));
            if cols > 1 {
                x.column_mut(1)
                    .assign(&ndarray::arr1(&[f32::INFINITY, 2.0, f32::INFINITY]));
            }
            let h = ParameterNode::new(x);
            let bags = BagsInputNode::new(1);
            bags.set_value([vec![0, 1, 2]]);
            let y = h.gather_max_bags(&bags);
            y.forward();
            y.backward(1.0);
            assert!(y.value()[(0, 0)].is_nan());
            assert_eq!(h.gradient().column(0), ndarray::arr1(&[0.0, 1.0, 0.0]));
            if cols > 1 {
                assert_eq!(y.value()[(0, 1)], f32::INFINITY);
                assert_eq!(h.gradient().column(1), ndarray::arr1(&[1.0, 0.0, 0.0]));
            }
        }
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
