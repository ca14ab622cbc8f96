//! `log_softmax_bags`: the log-softmax of a node's rows within groups of rows of any size
//! (the documents of each query of a listwise ranking loss, in one graph), each group a
//! bag of a [`BagsInputNode`]. The result keeps the operand's shape: each row's
//! log-probability within its group, so that no second index of each row's group is
//! needed to bring the groups' normalisers back to their rows.

use super::bags::BagsInputNode;
use super::gather_max::{weight, GatherMaxBagsOp};
use super::index::{Bound, IndexInputNode};
use super::single::{Single, SingleOp};
use crate::node::Node;
use crate::shape::Dim;
use crate::Variable;
use std::cell::RefCell;

/// The log-softmax of each bag's rows of the operand, column by column, written back to
/// those rows (operand-shaped; rows in no bag are 0, with no gradient); node type
/// [`LogSoftmaxBags`].
pub struct LogSoftmaxBagsOp {
    /// Each bag's log-sum-exp, per column: the normaliser.
    normaliser: GatherMaxBagsOp,
    scratch: RefCell<Scratch>,
}

/// Room the passes reuse from one step to the next.
#[derive(Default)]
struct Scratch {
    /// Each bag's log-sum-exp (`B x cols`, row-major).
    log_sum_exp: Vec<f32>,
    /// Each bag's log-sum-exp as a shift and a remainder (`B x cols` pairs): `x - shift -
    /// rest` keeps digits that `x - lse` loses (`1000 - 1000.6931` is `-0.69318` in `f32`).
    split: Vec<(f32, f32)>,
    /// Per row, the bag that holds it ([`NO_BAG`] if none), to reject a row held twice.
    bag_of: Vec<u32>,
    /// One bag's upstream gradient summed over its rows (`cols`).
    sums: Vec<f32>,
    /// `exp(y)`, the softmax (operand-shaped), in one pass over contiguous memory: in
    /// SIMD lanes, where a column of scores taken bag by bag would take one exponential
    /// at a time.
    softmax: Vec<f32>,
}

/// [`Scratch::bag_of`]'s mark for a row no bag holds.
const NO_BAG: u32 = u32::MAX;

/// Node taking the log-softmax of a node's rows within each bag:
/// `s.log_softmax_bags(&groups)`.
///
/// ```
/// use wyrm::*;
/// use wyrm::nodes::LogSoftmaxBags;
/// let s = InputNode::new(ndarray::arr2(&[[0.0], [0.0], [5.0]]));
/// let groups = BagsInputNode::new(2);
/// groups.set_value([vec![0, 1], vec![2]]);
/// let logp: Variable<LogSoftmaxBags<InputNode>> = s.log_softmax_bags(&groups);
/// logp.forward();
/// let half = 0.5f32.ln();
/// assert_eq!(logp.value(), ndarray::arr2(&[[half], [half], [0.0]]));
/// ```
pub type LogSoftmaxBags<T> = Single<LogSoftmaxBagsOp, T>;

impl SingleOp for LogSoftmaxBagsOp {
    type Rows<R: Dim, C: Dim> = R;
    type Cols<R: Dim, C: Dim> = C;

    fn output_shape(&self, shape: (usize, usize)) -> (usize, usize) {
        shape
    }

    fn forward(&self, x: &[f32], shape: (usize, usize), y: &mut [f32]) {
        let (rows, cols) = shape;
        let mut scratch = self.scratch.borrow_mut();
        let Scratch {
            log_sum_exp,
            split,
            bag_of,
            ..
        } = &mut *scratch;
        bag_of.clear();
        bag_of.resize(rows, NO_BAG);
        self.normaliser.for_each_bag(|bag, ids, _| {
            for &id in ids {
                let held = std::mem::replace(&mut bag_of[id], bag as u32);
                assert!(
                    held == NO_BAG,
                    "log_softmax_bags: row {id} is {}; each row may be in one bag at most \
                     (its log-probability is written back to that row)",
                    if held == bag as u32 {
                        format!("in bag {bag} twice")
                    } else {
                        format!("in bags {held} and {bag}")
                    }
                );
            }
        });
        log_sum_exp.resize(self.normaliser.output_shape(shape).0 * cols, 0.0);
        self.normaliser.forward(x, shape, log_sum_exp);
        self.normaliser.with_shift_and_scale(|shift, scale| {
            split.clear();
            split.extend(
                log_sum_exp
                    .iter()
                    .zip(shift)
                    .zip(scale)
                    .map(|((&l, &m), &s)| {
                        if m.is_finite() {
                            (m, -crate::kernels::ln(s))
                        } else {
                            (l, 0.0)
                        }
                    }),
            );
        });
        y.fill(0.0);
        self.normaliser.for_each_bag(|bag, ids, weights| {
            let split = &split[bag * cols..(bag + 1) * cols];
            for (p, &id) in ids.iter().enumerate() {
                let w = weight(weights, p);
                let span = id * cols..(id + 1) * cols;
                for ((y, x), (shift, rest)) in y[span.clone()].iter_mut().zip(&x[span]).zip(split) {
                    *y = (w * x - shift) - rest;
                }
            }
        });
    }

    fn backward(&self, g: &[f32], _x: &[f32], y: &[f32], shape: (usize, usize), gx: &mut [f32]) {
        let cols = shape.1;
        let mut scratch = self.scratch.borrow_mut();
        let Scratch { sums, softmax, .. } = &mut *scratch;
        sums.resize(cols, 0.0);
        softmax.resize(y.len(), 0.0);
        crate::kernels::simd::vectorized(|| {
            crate::kernels::map_into(softmax, y, crate::kernels::exp);
        });
        gx.fill(0.0);
        // `y = v - lse(v)` for `v = w·x`: `∂/∂v_q = g_q - softmax_q Σ_p g_p`; each row is
        // in one bag, so it is written once.
        self.normaliser.for_each_bag(|_, ids, weights| {
            sums.fill(0.0);
            for &id in ids {
                let g = &g[id * cols..(id + 1) * cols];
                sums.iter_mut().zip(g).for_each(|(s, g)| *s += g);
            }
            for (p, &id) in ids.iter().enumerate() {
                let w = weight(weights, p);
                let span = id * cols..(id + 1) * cols;
                for (((gx, g), p), s) in gx[span.clone()]
                    .iter_mut()
                    .zip(&g[span.clone()])
                    .zip(&softmax[span])
                    .zip(&*sums)
                {
                    *gx = w * (g - p * s);
                }
            }
        });
    }
}

impl<T: Node> Variable<T> {
    /// The log-softmax of this node's rows within each bag, column by column: each row
    /// held by a bag gets its log-probability within that bag, `x − ln Σ_bag exp(x)`
    /// (stable, shifted by each bag's maximum; a `-inf` row gets `-inf`, and a bag whose
    /// rows are all `-inf` NaN, as PyTorch's `log_softmax` gives); the result has this
    /// node's shape. Rows in no bag are 0, with no gradient (padding that adds nothing to a loss weighted by
    /// zero targets). Weights scale the values first, as for
    /// [`gather_logsumexp_bags`](Variable::gather_logsumexp_bags): `w·x − ln Σ exp(w·x)`.
    ///
    /// This is a softmax over groups of rows of any size in one graph: with a score per
    /// document and a bag of documents per query, a listwise ranking loss (ListNet) over
    /// queries of several lengths is `-(logp * targets).scalar_sum()`, with `targets` each
    /// query's label distribution over its documents. Each row may be in one bag at most;
    /// a row in two bags, or twice in one, panics at the forward pass, naming the row and
    /// the bags. Over a parameter table the gradient is dense.
    ///
    /// ```
    /// use wyrm::*;
    /// // Scores of 5 documents: query 0 has documents 0..3, query 1 documents 3..5.
    /// let features = InputNode::new(ndarray::arr2(&[[1.0], [0.0], [2.0], [0.5], [1.5]]));
    /// let w = ParameterNode::new(ndarray::arr2(&[[1.0]]));
    /// let queries = BagsInputNode::new(2);
    /// queries.set_value([vec![0, 1, 2], vec![3, 4]]);
    /// let logp = features.dot(&w).log_softmax_bags(&queries);
    /// // Each query's labels as a distribution over its documents.
    /// let targets = InputNode::new(ndarray::arr2(&[[0.2], [0.0], [0.8], [0.0], [1.0]]));
    /// let loss = -(logp.clone() * targets).scalar_sum();
    /// loss.forward();
    /// let lse = |s: &[f32]| s.iter().map(|v| v.exp()).sum::<f32>().ln();
    /// let expected = lse(&[1.0, 0.0, 2.0]) - (0.2 + 1.6) + lse(&[0.5, 1.5]) - 1.5;
    /// assert!((loss.value()[(0, 0)] - expected).abs() < 1e-5);
    /// // Each query's probabilities sum to 1.
    /// let p = logp.value().mapv(f32::exp);
    /// assert!((p[(0, 0)] + p[(1, 0)] + p[(2, 0)] - 1.0).abs() < 1e-6);
    /// loss.backward(1.0);
    /// assert!(w.gradient()[(0, 0)].is_finite());
    /// ```
    ///
    /// # Panics
    /// When built, if a current id is out of range for this node's rows; at the forward
    /// pass, if a row is in more than one bag or twice in one.
    #[track_caller]
    pub fn log_softmax_bags(&self, bags: &Variable<BagsInputNode>) -> Variable<LogSoftmaxBags<T>> {
        let rows = self.shape().0;
        let binding =
            IndexInputNode::bind(&bags.node().ids, rows, Bound::NodeRows, "log_softmax_bags");
        self.apply(LogSoftmaxBagsOp {
            normaliser: GatherMaxBagsOp::log_sum_exp(bags.node().clone(), binding),
            scratch: RefCell::default(),
        })
    }
}

#[cfg(test)]
mod tests {
    use crate::*;
    use ndarray::Array2;

    /// Each row's log-probability within its bag, by plain loops in `f64`.
    fn reference(x: &Array2<f32>, bags: &[Vec<(usize, f32)>]) -> Array2<f32> {
        let mut y = Array2::zeros(x.dim());
        for bag in bags {
            for c in 0..x.ncols() {
                let v = |&(id, w): &(usize, f32)| f64::from(w) * f64::from(x[(id, c)]);
                let lse = bag.iter().map(|e| v(e).exp()).sum::<f64>().ln();
                for e in bag {
                    y[(e.0, c)] = (v(e) - lse) as f32;
                }
            }
        }
        y
    }

    /// Narrow and wide columns, weighted and not, with an empty bag and a row in none.
    #[test]
    fn values_match_plain_loops() {
        let bags = [
            vec![(2, 0.5), (0, 1.0)],
            vec![],
            vec![(4, -1.0)],
            vec![(1, 2.0), (5, 1.0)],
        ];
        for cols in [1, 3, 11] {
            let x = crate::init::seeded(6, cols, 3.0, cols as u64);
            for weighted in [false, true] {
                let input = BagsInputNode::new(bags.len());
                let used: Vec<Vec<(usize, f32)>> = bags
                    .iter()
                    .map(|b| {
                        b.iter()
                            .map(|&(i, w)| (i, if weighted { w } else { 1.0 }))
                            .collect()
                    })
                    .collect();
                input.set_weighted(used.iter().cloned());
                let y = InputNode::new(x.clone()).log_softmax_bags(&input);
                y.forward();
                let expected = reference(&x, &used);
                for (a, b) in y.value().iter().zip(&expected) {
                    assert!(
                        (a - b).abs() < 1e-5,
                        "{cols} columns, weighted {weighted}: {a} vs {b}"
                    );
                }
                assert!(
                    y.value().row(3).iter().all(|v| *v == 0.0),
                    "row 3 is in no bag"
                );
            }
        }
    }

    /// Against finite differences through a computed operand, with a non-trivial
    /// upstream gradient, weights, an empty bag and a row in no bag, on several shapes.
    #[test]
    fn gradients_through_a_computed_operand() {
        for (rows, cols) in [(4, 1), (5, 2), (6, 4), (7, 9)] {
            let w = ParameterNode::new(crate::init::seeded(cols, cols, 1.0, rows as u64));
            let x = InputNode::new(crate::init::seeded(rows, cols, 1.0, 7 + rows as u64));
            let h = x.dot(&w).tanh();
            let bags = BagsInputNode::new(3);
            let first: Vec<(usize, f32)> =
                (0..rows.div_ceil(2)).map(|i| (i, 0.5 + i as f32)).collect();
            let rest: Vec<(usize, f32)> = (rows.div_ceil(2)..rows - 1).map(|i| (i, -1.5)).collect();
            bags.set_weighted([first, vec![], rest]);
            let upstream = InputNode::new(crate::init::seeded(rows, cols, 1.0, 3));
            gradcheck::assert_gradient(&(h.log_softmax_bags(&bags) * upstream).scalar_sum(), &w);
        }
    }

    /// Large values neither overflow nor lose the softmax; a `-inf` row is `-inf`, and
    /// takes its own upstream gradient (the log-probability's identity part).
    #[test]
    fn stable_for_large_and_infinite_values() {
        let h = ParameterNode::new(ndarray::arr2(&[[1000.0], [1000.0], [f32::NEG_INFINITY]]));
        let bags = BagsInputNode::new(1);
        bags.set_value([vec![0, 1, 2]]);
        let y = h.log_softmax_bags(&bags);
        y.forward();
        let half = 0.5f32.ln();
        assert_eq!(
            y.value(),
            ndarray::arr2(&[[half], [half], [f32::NEG_INFINITY]])
        );
        y.backward(1.0);
        // Σ g = 3: each finite row gets 1 − ½·3; the `-inf` row, with probability 0, 1.
        assert_eq!(h.gradient(), ndarray::arr2(&[[-0.5], [-0.5], [1.0]]));
    }

    /// Against the same loss written with `gather_logsumexp_bags` and `gather_rows`.
    #[test]
    fn matches_the_chain_it_replaces() {
        let s = ParameterNode::new(crate::init::seeded(7, 2, 2.0, 5));
        let groups = BagsInputNode::new(3);
        groups.set_value([vec![0, 1, 2], vec![3], vec![4, 5, 6]]);
        let group_of_row = IndexInputNode::new(&[0, 0, 0, 1, 2, 2, 2]);
        let targets = InputNode::new(crate::init::seeded(7, 2, 1.0, 6));
        let fused = -(s.log_softmax_bags(&groups) * targets.clone()).scalar_sum();
        let chain = -((s.clone() - s.gather_logsumexp_bags(&groups).gather_rows(&group_of_row))
            * targets)
            .scalar_sum();
        let mut gradients = Vec::new();
        for loss in [fused.boxed(), chain.boxed()] {
            s.zero_gradient();
            loss.forward();
            loss.backward(1.0);
            gradients.push((loss.value()[(0, 0)], s.gradient()));
        }
        assert!((gradients[0].0 - gradients[1].0).abs() < 1e-5);
        for (a, b) in gradients[0].1.iter().zip(&gradients[1].1) {
            assert!((a - b).abs() < 1e-5, "{a} vs {b}");
        }
    }

    #[test]
    fn a_row_in_two_bags_names_the_row_and_the_bags() {
        let s = InputNode::new(Array2::zeros((4, 1)));
        for (bags, expected) in [
            (vec![vec![0, 2], vec![1, 2]], "row 2 is in bags 0 and 1"),
            (vec![vec![3, 1, 3], vec![]], "row 3 is in bag 0 twice"),
        ] {
            let input = BagsInputNode::new(2);
            input.set_value(bags);
            let y = s.log_softmax_bags(&input);
            let message = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| y.forward()))
                .map_err(|p| p.downcast::<String>().map(|s| *s).unwrap_or_default())
                .expect_err("a row in two bags");
            assert!(
                message.contains(&format!("log_softmax_bags: {expected}")),
                "{message}"
            );
        }
        let input = BagsInputNode::new(1);
        input.set_value([vec![4]]);
        let message = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            drop(s.log_softmax_bags(&input))
        }))
        .map_err(|p| p.downcast::<String>().map(|s| *s).unwrap_or_default())
        .expect_err("out of range");
        assert!(
            message.contains("log_softmax_bags: index 4 is out of range for the 4 rows"),
            "{message}"
        );
    }
}
