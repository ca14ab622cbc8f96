//! Running sums: `cumsum_rows` / `cumsum_columns` (the sums of each prefix, along each
//! row or down each column) and `logcumsumexp_rows` / `logcumsumexp_columns` (`ln Σ exp`
//! of each prefix, stably). A survival model's risk sets, running totals over a sequence
//! and prefix log-likelihoods are prefixes: one O(n) pass replaces an `n x n` mask and its
//! product.

use super::single::{Single, SingleOp};
use crate::node::Node;
use crate::shape::Dim;
use crate::Variable;
use std::cell::RefCell;

/// Along which axis a running sum (or a standardisation) runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Along {
    /// Along each row, across its columns.
    Rows,
    /// Down each column, across the rows.
    Columns,
}

impl Along {
    /// `(lines, length)`: how many running sums, and the length of each.
    #[inline(always)]
    fn lines(self, (rows, cols): (usize, usize)) -> (usize, usize) {
        match self {
            Along::Rows => (rows, cols),
            Along::Columns => (cols, rows),
        }
    }

    /// The position in the row-major buffer of element `p` of line `l`.
    #[inline(always)]
    fn at(self, (_, cols): (usize, usize), l: usize, p: usize) -> usize {
        match self {
            Along::Rows => l * cols + p,
            Along::Columns => p * cols + l,
        }
    }
}

/// Running sums `y_p = Σ_{q ≤ p} x_q` along each row or down each column, the shape kept;
/// node type [`CumSum`]. Built by [`cumsum_rows`](Variable::cumsum_rows) and
/// [`cumsum_columns`](Variable::cumsum_columns).
///
/// ```
/// use wyrm::nodes::CumSum;
/// use wyrm::*;
/// let x = ParameterNode::new(ndarray::arr2(&[[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]]));
/// let y: Variable<CumSum<ParameterNode>> = x.cumsum_rows();
/// y.forward();
/// y.backward(1.0);
/// assert_eq!(y.value(), ndarray::arr2(&[[1.0, 3.0, 6.0], [4.0, 9.0, 15.0]]));
/// // Element p of a row is in the sums at p and after it.
/// assert_eq!(x.gradient(), ndarray::arr2(&[[3.0, 2.0, 1.0], [3.0, 2.0, 1.0]]));
/// ```
#[derive(Debug, Clone, Copy)]
pub struct CumSumOp {
    along: Along,
}

impl SingleOp for CumSumOp {
    type Rows<R: Dim, C: Dim> = R;
    type Cols<R: Dim, C: Dim> = C;

    fn output_shape(&self, shape: (usize, usize)) -> (usize, usize) {
        shape
    }
    #[inline]
    fn forward(&self, x: &[f32], shape: (usize, usize), y: &mut [f32]) {
        let (lines, len) = self.along.lines(shape);
        for l in 0..lines {
            let mut total = 0.0;
            for p in 0..len {
                let at = self.along.at(shape, l, p);
                total += x[at];
                y[at] = total;
            }
        }
    }
    /// The running sums of the upstream gradient from the end: `gx_p = Σ_{q ≥ p} g_q`.
    #[inline]
    fn backward(&self, g: &[f32], _: &[f32], _: &[f32], shape: (usize, usize), gx: &mut [f32]) {
        let (lines, len) = self.along.lines(shape);
        for l in 0..lines {
            let mut total = 0.0;
            for p in (0..len).rev() {
                let at = self.along.at(shape, l, p);
                total += g[at];
                gx[at] = total;
            }
        }
    }
}

/// A running sum of exponentials, `Σ exp(x_q) = exp(max) · scaled`, with `scaled ≥ 1`
/// once any finite value is in; its log is `max + ln scaled`. In `f64`: a running total
/// in `f32` stops growing once each term's share rounds away (a column of 10,000 equal
/// values ended 1.6 low). The backward pass forms its ratios of sums from these: as
/// absolute totals `ln Σ exp(x_q)`, the increments (`ln 2`, `ln 1.5`, ...) rounded away
/// next to values of 1e13 and more, which put gradients up to 3x off.
#[derive(Clone, Copy, Debug)]
struct Shifted {
    max: f64,
    scaled: f64,
}

impl Shifted {
    /// `ln Σ exp(x_q)`: `-inf` for the sum of nothing, `+inf` from a `+inf` on.
    #[inline(always)]
    fn ln(self) -> f64 {
        self.max + self.scaled.ln()
    }

    /// The sum of nothing (`max` `-inf`, `scaled` 0).
    const EMPTY: Shifted = Shifted {
        max: f64::NEG_INFINITY,
        scaled: 0.0,
    };

    /// The sum with `exp(x)` added.
    #[inline(always)]
    fn add(self, x: f64) -> Shifted {
        if x == f64::NEG_INFINITY {
            // Adds nothing (and `x - max` would be NaN on an empty sum).
            self
        } else if x.is_nan() {
            // NaN from here on; `max` too, so that the sum is not taken for an empty one
            // (whose gradient is 0).
            Shifted {
                max: f64::NAN,
                scaled: f64::NAN,
            }
        } else if x == self.max {
            // (Also two `+inf`s, where `x - max` would be NaN.)
            Shifted {
                max: self.max,
                scaled: self.scaled + 1.0,
            }
        } else if x > self.max {
            Shifted {
                max: x,
                scaled: self.scaled * (self.max - x).exp() + 1.0,
            }
        } else {
            Shifted {
                max: self.max,
                scaled: self.scaled + (x - self.max).exp(),
            }
        }
    }
}

/// Running log-sum-exps `y_p = ln Σ_{q ≤ p} exp(x_q)` along each row or down each column,
/// the shape kept; node type [`LogCumSumExp`]. Built by
/// [`logcumsumexp_rows`](Variable::logcumsumexp_rows) and
/// [`logcumsumexp_columns`](Variable::logcumsumexp_columns).
///
/// ```
/// use wyrm::nodes::LogCumSumExp;
/// use wyrm::*;
/// let x = InputNode::new(ndarray::arr2(&[[0.0], [0.0], [1000.0]]));
/// let y: Variable<LogCumSumExp<InputNode>> = x.logcumsumexp_columns();
/// y.forward();
/// let ln = |v: f32| v.ln();
/// assert_eq!(y.value()[(0, 0)], 0.0);
/// assert!((y.value()[(1, 0)] - ln(2.0)).abs() < 1e-6);
/// assert_eq!(y.value()[(2, 0)], 1000.0); // no overflow; exp(0) is lost next to exp(1000)
/// ```
#[derive(Debug)]
pub struct LogCumSumExpOp {
    along: Along,
    /// The forward pass's running sums, one per element where `x` has it, which the
    /// backward pass reads instead of summing again.
    sums: RefCell<Vec<Shifted>>,
}

impl LogCumSumExpOp {
    fn new(along: Along) -> Self {
        LogCumSumExpOp {
            along,
            sums: RefCell::new(Vec::new()),
        }
    }
}

impl SingleOp for LogCumSumExpOp {
    type Rows<R: Dim, C: Dim> = R;
    type Cols<R: Dim, C: Dim> = C;

    fn output_shape(&self, shape: (usize, usize)) -> (usize, usize) {
        shape
    }
    #[inline]
    fn forward(&self, x: &[f32], shape: (usize, usize), y: &mut [f32]) {
        let (lines, len) = self.along.lines(shape);
        let mut sums = self.sums.borrow_mut();
        sums.clear();
        // Sized once: the operand's shape is fixed when the node is built.
        sums.resize(x.len(), Shifted::EMPTY);
        for l in 0..lines {
            let mut total = Shifted::EMPTY;
            for p in 0..len {
                let at = self.along.at(shape, l, p);
                total = total.add(f64::from(x[at]));
                sums[at] = total;
                y[at] = total.ln() as f32;
            }
        }
    }
    /// `gx_p = Σ_{q ≥ p} g_q exp(x_p - y_q) = exp(x_p - y_p) t_p`, with
    /// `t_p = g_p + exp(y_p - y_{p+1}) t_{p+1}` summed from the end, over the forward
    /// pass's running sums in `f64` (`y` rounded to `f32` put a gradient of values near
    /// -1e6 64% off): `exp(y_p - y_{p+1})` is `exp(m_p - m_{p+1}) s_p / s_{p+1}` and
    /// `exp(x_p - y_p)` is `exp(x_p - m_p) / s_p`, exact to rounding at any magnitude.
    /// Every exponent is at most 0 and each ratio at most 1, so nothing overflows.
    #[inline]
    fn backward(&self, g: &[f32], x: &[f32], _: &[f32], shape: (usize, usize), gx: &mut [f32]) {
        let (lines, len) = self.along.lines(shape);
        let sums = self.sums.borrow();
        for l in 0..lines {
            let mut t = 0.0;
            for p in (0..len).rev() {
                let at = self.along.at(shape, l, p);
                let y = sums[at];
                // A prefix of `-inf`s sends nothing back (nothing moves its sums).
                if y.max == f64::NEG_INFINITY {
                    gx[at] = 0.0;
                    t = 0.0;
                    continue;
                }
                let carried = if p + 1 < len {
                    let next = sums[self.along.at(shape, l, p + 1)];
                    // The largest value so far rarely changes: no exponential then.
                    let shift = if next.max == y.max {
                        1.0
                    } else {
                        (y.max - next.max).exp()
                    };
                    shift * (y.scaled / next.scaled) * t
                } else {
                    0.0
                };
                t = f64::from(g[at]) + carried;
                gx[at] = ((f64::from(x[at]) - y.max).exp() / y.scaled * t) as f32;
            }
        }
    }
}

/// Node for running sums along rows or down columns.
///
/// ```
/// use wyrm::nodes::CumSum;
/// use wyrm::*;
/// let x = InputNode::new(ndarray::arr2(&[[1.0, 2.0], [3.0, 4.0]]));
/// let y: Variable<CumSum<InputNode>> = x.cumsum_columns();
/// y.forward();
/// assert_eq!(y.value(), ndarray::arr2(&[[1.0, 2.0], [4.0, 6.0]]));
/// ```
pub type CumSum<T> = Single<CumSumOp, T>;
/// Node for running log-sum-exps along rows or down columns.
///
/// ```
/// use wyrm::nodes::LogCumSumExp;
/// use wyrm::*;
/// let x = InputNode::new(ndarray::arr2(&[[0.0, 0.0]]));
/// let y: Variable<LogCumSumExp<InputNode>> = x.logcumsumexp_rows();
/// y.forward();
/// assert!((y.value()[(0, 1)] - 2f32.ln()).abs() < 1e-6);
/// ```
pub type LogCumSumExp<T> = Single<LogCumSumExpOp, T>;

impl<T: Node> Variable<T> {
    /// The running sums along each row: element `(i, j)` of the result is
    /// `Σ_{k ≤ j} x[i, k]`. The gradient of element `(i, k)` is the sum of the upstream
    /// gradients from column `k` on.
    ///
    /// ```
    /// use wyrm::*;
    /// // Cumulative rewards along each episode (one per row).
    /// let rewards = InputNode::new(ndarray::arr2(&[[1.0, 0.0, 2.0], [0.5, 0.5, 0.5]]));
    /// let totals = rewards.cumsum_rows();
    /// totals.forward();
    /// assert_eq!(totals.value(), ndarray::arr2(&[[1.0, 1.0, 3.0], [0.5, 1.0, 1.5]]));
    /// ```
    #[track_caller]
    pub fn cumsum_rows(&self) -> Variable<CumSum<T>> {
        self.apply(CumSumOp { along: Along::Rows })
    }

    /// The running sums down each column: element `(i, j)` of the result is
    /// `Σ_{k ≤ i} x[k, j]`; see [`cumsum_rows`](Self::cumsum_rows).
    ///
    /// ```
    /// use wyrm::*;
    /// let x = InputNode::new(ndarray::arr2(&[[1.0], [2.0], [3.0]]));
    /// let y = x.cumsum_columns();
    /// y.forward();
    /// assert_eq!(y.value(), ndarray::arr2(&[[1.0], [3.0], [6.0]]));
    /// ```
    #[track_caller]
    pub fn cumsum_columns(&self) -> Variable<CumSum<T>> {
        self.apply(CumSumOp {
            along: Along::Columns,
        })
    }

    /// The running log-sum-exps along each row: element `(i, j)` of the result is
    /// `ln Σ_{k ≤ j} exp(x[i, k])`, computed stably (a running largest value and the sum
    /// of exponentials below it, in `f64`, so large values do not overflow and long runs
    /// do not stall; about 19 ns an element forward and backward).
    /// `-inf` adds nothing; a prefix of `-inf`s gives `-inf` and no gradient. From a
    /// `+inf` on the totals are `+inf`: the `+inf`s get a NaN gradient, the values after
    /// the first get 0 and those before it their usual share. From a NaN on the totals
    /// are NaN, and so is the line's gradient (but for a `-inf` prefix's zeros).
    ///
    /// ```
    /// use wyrm::*;
    /// let x = InputNode::new(ndarray::arr2(&[[f32::NEG_INFINITY, 0.0, 0.0]]));
    /// let y = x.logcumsumexp_rows();
    /// y.forward();
    /// assert_eq!(y.value()[(0, 0)], f32::NEG_INFINITY);
    /// assert_eq!(y.value()[(0, 1)], 0.0);
    /// assert!((y.value()[(0, 2)] - 2f32.ln()).abs() < 1e-6);
    /// ```
    #[track_caller]
    pub fn logcumsumexp_rows(&self) -> Variable<LogCumSumExp<T>> {
        self.apply(LogCumSumExpOp::new(Along::Rows))
    }

    /// The running log-sum-exps down each column: element `(i, j)` of the result is
    /// `ln Σ_{k ≤ i} exp(x[k, j])`; see [`logcumsumexp_rows`](Self::logcumsumexp_rows).
    ///
    /// The partial likelihood of a Cox proportional-hazards model, with subjects sorted
    /// by time, latest first, so that each one's risk set (everyone still at risk at its
    /// time) is a prefix: `loss = -Σ_i event_i (η_i - ln Σ_{j ≤ i} exp(η_j))`, in O(n)
    /// instead of an `n x n` mask. With tied times, every subject of a tie group is in
    /// each one's risk set (Breslow): use the total at the group's last subject for all of
    /// them, through [`gather_rows`](Variable::gather_rows) with each subject's group's
    /// last position (second example).
    ///
    /// ```
    /// use wyrm::*;
    /// // Three subjects' covariates, sorted by time, latest first; the first is censored.
    /// let x = InputNode::new(ndarray::arr2(&[[0.5, 1.0], [-1.0, 0.2], [0.3, -0.4]]));
    /// let event = InputNode::new(ndarray::arr2(&[[0.0], [1.0], [1.0]]));
    /// let beta = ParameterNode::new(ndarray::arr2(&[[0.1], [-0.2]]));
    /// let eta = x.dot(&beta); // 3 x 1
    /// let loss = -((eta.clone() - eta.logcumsumexp_columns()) * event).scalar_sum();
    /// loss.forward();
    /// loss.backward(1.0);
    /// assert!(loss.value()[(0, 0)] > 0.0);
    /// assert_eq!(beta.gradient().shape(), &[2, 1]);
    /// ```
    ///
    /// With ties: subjects 1 and 2 fail at the same time, so each one's risk set holds
    /// both, and both take the total at position 2.
    ///
    /// ```
    /// use wyrm::*;
    /// let eta = ParameterNode::new(ndarray::arr2(&[[0.3], [-0.1], [0.4]]));
    /// let event = InputNode::new(ndarray::arr2(&[[0.0], [1.0], [1.0]]));
    /// let last_of_group = IndexInputNode::new(&[0, 2, 2]);
    /// let totals = eta.logcumsumexp_columns().gather_rows(&last_of_group);
    /// let loss = -((eta.clone() - totals) * event).scalar_sum();
    /// loss.forward();
    /// let all = (0.3f32.exp() + (-0.1f32).exp() + 0.4f32.exp()).ln();
    /// assert!((loss.value()[(0, 0)] - (2.0 * all - (-0.1 + 0.4))).abs() < 1e-6);
    /// ```
    #[track_caller]
    pub fn logcumsumexp_columns(&self) -> Variable<LogCumSumExp<T>> {
        self.apply(LogCumSumExpOp::new(Along::Columns))
    }
}

#[cfg(test)]
mod tests {
    use crate::*;
    use ndarray::{arr2, Array2};

    /// Running sums (or log-sum-exps, in f64) of each row, naively; `x` transposed first
    /// and the result back for columns.
    fn reference(x: &Array2<f32>, log: bool, columns: bool) -> Array2<f64> {
        let x = if columns { x.t().to_owned() } else { x.clone() };
        let mut out = Array2::zeros(x.dim());
        for (i, row) in x.rows().into_iter().enumerate() {
            for j in 0..row.len() {
                let prefix = row.iter().take(j + 1).map(|&v| v as f64);
                out[(i, j)] = if log {
                    prefix.map(f64::exp).sum::<f64>().ln()
                } else {
                    prefix.sum()
                };
            }
        }
        if columns {
            out.t().to_owned()
        } else {
            out
        }
    }

    #[test]
    fn values_match_naive_sums() {
        for (r, c) in [(1, 1), (1, 5), (4, 1), (3, 7)] {
            let m = random_matrix(r, c) * 3.0;
            let x = InputNode::new(m.clone());
            let graphs = [
                (false, false, x.cumsum_rows().boxed()),
                (false, true, x.cumsum_columns().boxed()),
                (true, false, x.logcumsumexp_rows().boxed()),
                (true, true, x.logcumsumexp_columns().boxed()),
            ];
            for (log, columns, y) in graphs {
                y.forward();
                let expected = reference(&m, log, columns);
                for (y, e) in y.value().iter().zip(&expected) {
                    assert!(
                        (*y as f64 - e).abs() < 1e-5,
                        "{y} vs {e} ({log}, {columns})"
                    );
                }
            }
        }
    }

    #[test]
    fn gradients() {
        for (r, c) in [(1, 1), (1, 4), (4, 1), (3, 5)] {
            let x = ParameterNode::new(random_matrix(r, c));
            gradcheck::assert_gradient(&x.cumsum_rows(), &x);
            gradcheck::assert_gradient(&x.cumsum_columns(), &x);
            gradcheck::assert_gradient(&x.logcumsumexp_rows(), &x);
            gradcheck::assert_gradient(&x.logcumsumexp_columns(), &x);
            // Inside a larger graph, the operand used twice.
            gradcheck::assert_gradient(&(x.clone() * x.logcumsumexp_columns()), &x);
        }
    }

    #[test]
    fn large_and_infinite_values() {
        let low = f32::NEG_INFINITY;
        let x = ParameterNode::new(arr2(&[[low, low, 1e4, 1e4, low, 0.0]]));
        let y = x.logcumsumexp_rows();
        y.forward();
        let v = y.value();
        assert_eq!(v.row(0).to_vec()[..3], [low, low, 1e4]);
        let ln2 = 2f32.ln();
        assert!((v[(0, 3)] - (1e4 + ln2)).abs() < 1e-3 && v[(0, 4)] == v[(0, 3)]);
        y.backward(1.0);
        let g = x.gradient();
        // The -inf prefix and the later -inf get nothing; the two large values share the
        // sums from position 3 on equally, and position 2 alone has its own sum's too.
        assert_eq!(g.row(0).to_vec()[..2], [0.0, 0.0]);
        assert_eq!(g[(0, 4)], 0.0);
        assert!(
            (g[(0, 2)] - 2.5).abs() < 5e-3 && (g[(0, 3)] - 1.5).abs() < 5e-3,
            "{g}"
        );
        assert!(g.iter().all(|v| v.is_finite()));
    }

    /// Long runs and large values stay exact: totals and gradients in `f32` drifted
    /// (10,000 equal values of 1e4 ended 1.6 low, with the last gradient 4.9x too large;
    /// values near -1e6 put a gradient 64% off).
    #[test]
    fn long_runs_and_large_values_keep_their_precision() {
        let n = 10_000;
        let x = ParameterNode::new(Array2::from_elem((n, 1), 1e4));
        let y = x.logcumsumexp_columns();
        y.forward();
        y.backward(1.0);
        let last = y.value()[(n - 1, 0)];
        assert!((last - (1e4 + (n as f32).ln())).abs() < 2e-3, "{last}");
        assert!((x.gradient()[(n - 1, 0)] - 1e-4).abs() < 1e-7);
        let zeros = InputNode::new(Array2::zeros((1, 100_000)));
        let z = zeros.logcumsumexp_rows();
        z.forward();
        assert!((z.value()[(0, 99_999)] - 100_000f32.ln()).abs() < 2e-6);

        // Equal values at any magnitude (the sums were kept as totals in `f64` until their
        // increments rounded away: 3% off at 1e15, 3x at 1e17), and a `-inf` prefix.
        for m in [-1e6, 1e13, -1e15, 1e17, -1e30, 3e38, -3e38] {
            let x = ParameterNode::new(arr2(&[[f32::NEG_INFINITY, m, m, m]]));
            let y = x.logcumsumexp_rows();
            y.forward();
            y.backward_with(arr2(&[[5.0, 1.0, -0.7, 1.0]]).view());
            // Σ_{q ≥ p} g_q / q: the q-th total holds q equal terms.
            let expected = [0.0, 1.0 - 0.35 + 1.0 / 3.0, -0.35 + 1.0 / 3.0, 1.0 / 3.0];
            for (g, e) in x.gradient().iter().zip(expected) {
                assert!((g - e).abs() < 1e-6, "at {m}: {g} vs {e}");
            }
        }
        // Unequal neighbours at 3e38: exp(-1e38) counts for nothing.
        let x = ParameterNode::new(arr2(&[[3e38, 2e38, 3e38]]));
        let y = x.logcumsumexp_rows();
        y.forward();
        y.backward_with(arr2(&[[1.0, 1.0, 1.5]]).view());
        assert_eq!(x.gradient(), arr2(&[[2.75, 0.0, 0.75]]));
    }

    /// NaN gradients up to and from a NaN, also at the start of a row or after a `-inf`
    /// prefix (where it had been taken for part of the prefix, whose gradient is 0).
    #[test]
    fn nan_gradients_stay_nan() {
        let (low, nan) = (f32::NEG_INFINITY, f32::NAN);
        for (row, nans) in [
            (vec![nan], vec![true]),
            (vec![nan, 1.0], vec![true, true]),
            (vec![nan, nan], vec![true, true]),
            (vec![low, nan, 2.0], vec![false, true, true]),
            (vec![1.0, nan, 2.0], vec![true, true, true]),
        ] {
            let x =
                ParameterNode::new(Array2::from_shape_vec((1, row.len()), row.clone()).unwrap());
            let y = x.logcumsumexp_rows();
            y.forward();
            y.backward(1.0);
            let g = x.gradient();
            let got: Vec<bool> = g.iter().map(|g| g.is_nan()).collect();
            assert_eq!(got, nans, "{row:?}: {g}");
            assert!(g.iter().all(|g| g.is_nan() || *g == 0.0), "{row:?}: {g}");
        }
    }

    /// After a `+inf`, every total is `+inf`: the values before it keep their share of the
    /// sums before it, those after it get nothing, and each `+inf` a NaN.
    #[test]
    fn infinite_values_take_every_later_total() {
        let inf = f32::INFINITY;
        let x = ParameterNode::new(arr2(&[[1.0, 1.0, inf, 2.0, inf]]));
        let y = x.logcumsumexp_rows();
        y.forward();
        y.backward_with(arr2(&[[2.0, 1.0, 1.0, 1.0, 1.0]]).view());
        assert_eq!(y.value().row(0).to_vec()[2..], [inf; 3]);
        let g = x.gradient();
        // 2 · 1 + 1 · ½ for the first, 1 · ½ for the second.
        assert_eq!(g.row(0).to_vec()[..2], [2.5, 0.5]);
        assert!(g[(0, 2)].is_nan() && g[(0, 4)].is_nan(), "{g}");
        assert_eq!(g[(0, 3)], 0.0);
    }

    #[test]
    fn nan_and_infinity_carry_on() {
        let x = InputNode::new(arr2(&[[f32::NAN, f32::INFINITY], [1.0, f32::INFINITY]]));
        let y = x.logcumsumexp_rows();
        y.forward();
        assert!(y.value()[(0, 0)].is_nan() && y.value()[(0, 1)].is_nan());
        assert_eq!(y.value().row(1).to_vec(), [1.0, f32::INFINITY]);
    }

    #[test]
    fn static_output_dims() {
        use crate::shape::Dim;
        use crate::typenum::{U2, U3};
        fn dims<T: Node>(_: &Variable<T>) -> (Option<usize>, Option<usize>) {
            (<T::Rows as Dim>::FIXED, <T::Cols as Dim>::FIXED)
        }
        let x = InputNode::<U3, U2>::new_static(Array2::zeros((3, 2)));
        assert_eq!(dims(&x.cumsum_rows()), (Some(3), Some(2)));
        assert_eq!(dims(&x.logcumsumexp_columns()), (Some(3), Some(2)));
    }

    #[test]
    fn empty_operands() {
        for shape in [(0, 3), (3, 0)] {
            let x = ParameterNode::new(Array2::zeros(shape));
            let y = x.cumsum_rows() + x.logcumsumexp_columns();
            y.forward();
            y.backward(1.0);
            assert_eq!(x.gradient().dim(), shape);
        }
    }
}
