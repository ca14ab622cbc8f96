//! The KL divergence of a diagonal Gaussian from the standard normal: a VAE encoder's
//! regulariser, in one node.

use crate::node::Node;
use crate::nodes::{Binary, BinaryOp};
use crate::shape::Broadcast;
use crate::Variable;

/// `KL(N(μ, e^v) ‖ N(0, 1)) = ½ (μ² + e^v − v − 1)` of a mean `μ` and a log-variance
/// `v`, elementwise. Its partials are `μ` and `½ (e^v − 1)`.
///
/// ```
/// use wyrm::nn::losses::GaussianKlOp;
/// use wyrm::nodes::BinaryOp;
///
/// assert_eq!(GaussianKlOp.apply(0.0, 0.0), 0.0); // the standard normal itself
/// assert_eq!(GaussianKlOp.apply(2.0, 0.0), 2.0); // ½ μ²
/// assert_eq!(GaussianKlOp.partials(2.0, 0.0, 2.0), (2.0, 0.0));
/// ```
#[derive(Debug, Clone, Copy)]
pub struct GaussianKlOp;

impl BinaryOp for GaussianKlOp {
    const NAME: &'static str = "gaussian_kl";
    const READS_OUTPUT: bool = false;

    #[inline(always)]
    fn apply(&self, mean: f32, log_variance: f32) -> f32 {
        0.5 * (mean * mean + exp_m1_minus(log_variance))
    }

    #[inline(always)]
    fn partials(&self, mean: f32, log_variance: f32, _: f32) -> (f32, f32) {
        (mean, 0.5 * crate::kernels::exp_m1(log_variance))
    }
}

/// `e^v − 1 − v`, to a few `f32` roundings. Near `v = 0` (a posterior close to the prior)
/// the terms cancel: `e^v − 1` rounded first keeps none of their difference, and
/// `exp_m1(v) − v` three digits at `v = 1e-4`. So the series `Σ_{n ≥ 2} vⁿ / n!` below
/// `|v| = 1` (to `v¹²`: the rest is below 1e-9 of the sum), and `exp_m1(v) − v` beyond,
/// where it keeps its digits; both computed and one selected, so the loop stays
/// vectorised.
#[inline(always)]
fn exp_m1_minus(v: f32) -> f32 {
    const INVERSE_FACTORIALS: [f32; 11] = [
        1.0 / 2.0,
        1.0 / 6.0,
        1.0 / 24.0,
        1.0 / 120.0,
        1.0 / 720.0,
        1.0 / 5_040.0,
        1.0 / 40_320.0,
        1.0 / 362_880.0,
        1.0 / 3_628_800.0,
        1.0 / 39_916_800.0,
        1.0 / 479_001_600.0,
    ];
    let series = v
        * v
        * INVERSE_FACTORIALS
            .iter()
            .rev()
            .fold(0.0, |sum, c| c + v * sum);
    let direct = crate::kernels::exp_m1(v) - v;
    if v.abs() < 1.0 {
        series
    } else if v == f32::INFINITY {
        // `inf - inf` would be NaN.
        v
    } else {
        direct
    }
}

/// Node for [`gaussian_kl`].
///
/// ```
/// use wyrm::*;
/// use wyrm::nn::losses::{gaussian_kl, GaussianKl};
/// let mean = ParameterNode::new(ndarray::arr2(&[[1.0, 0.0]]));
/// let log_variance = ParameterNode::new(ndarray::arr2(&[[0.0, 0.0]]));
/// let kl: Variable<GaussianKl<ParameterNode, ParameterNode>> = gaussian_kl(&mean, &log_variance);
/// kl.forward();
/// assert_eq!(kl.value(), ndarray::arr2(&[[0.5, 0.0]]));
/// ```
pub type GaussianKl<L, R> = Binary<GaussianKlOp, L, R>;

/// The KL divergence of each diagonal Gaussian `N(mean, exp(log_variance))` from the
/// standard normal, elementwise: `½ (mean² + e^log_variance − log_variance − 1)`, the
/// regulariser of a VAE's encoder (sum it over the latent columns, average it over the
/// batch). One node for what
/// `(mean.square() + log_variance.exp() - log_variance - 1.0) * 0.5` builds in six, and
/// accurate where the posterior is close to the prior (a log-variance near 0, where
/// `e^v − 1 − v` cancels). It is `+inf` from a log-variance of about 88.7 on, where
/// `e^v` overflows `f32`. The shapes broadcast as for `-`
/// (a single row, column or `1 x 1` on either side, such as one learned log-variance row
/// for every example); only one side may be repeated.
///
/// ```
/// use wyrm::*;
/// use wyrm::nn::losses::gaussian_kl;
///
/// // A batch of two examples with a 2-dimensional latent.
/// let mean = ParameterNode::new(ndarray::arr2(&[[0.5, -1.0], [0.0, 2.0]]));
/// let log_variance = ParameterNode::new(ndarray::arr2(&[[0.0, -1.0], [1e-4, 0.5]]));
/// let kl = gaussian_kl(&mean, &log_variance).sum_rows().mean();
/// kl.forward();
/// kl.backward(1.0);
/// let term = |m: f64, v: f64| 0.5 * (m * m + v.exp() - v - 1.0);
/// let expected = (term(0.5, 0.0) + term(-1.0, -1.0) + term(0.0, 1e-4) + term(2.0, 0.5)) / 2.0;
/// assert!((kl.value()[(0, 0)] as f64 - expected).abs() < 1e-6);
/// // d/d mean = mean / 2 (the batch mean), d/d log-variance = (e^v - 1) / 4.
/// assert_eq!(mean.gradient()[(1, 1)], 1.0);
/// assert!((log_variance.gradient()[(1, 1)] as f64 - (0.5f64.exp() - 1.0) / 4.0).abs() < 1e-7);
/// ```
///
/// # Panics
/// If the shapes do not broadcast or both would be repeated (naming `gaussian_kl` and
/// both shapes).
#[track_caller]
pub fn gaussian_kl<L: Node, R: Node>(
    mean: &Variable<L>,
    log_variance: &Variable<R>,
) -> Variable<GaussianKl<L, R>>
where
    L::Rows: Broadcast<R::Rows>,
    L::Cols: Broadcast<R::Cols>,
{
    super::elementwise_loss(GaussianKlOp, ("means", "log-variances"), mean, log_variance)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::*;

    /// Values against the formula in `f64`, including log-variances near 0 (where the
    /// six-node expression cancels) and far from it.
    #[test]
    fn values_against_f64() {
        for (m, v) in [
            (0.0f32, 1e-4f32),
            (0.0, -3e-4),
            (1e-3, 2e-3),
            (0.0, 0.3),
            (0.0, -0.9),
            (0.0, 0.999),
            (0.0, 1.0),
            (0.0, -1.0),
            (0.0, 1.5),
            (0.7, -2.0),
            (-1.5, 3.0),
            (4.0, -20.0),
        ] {
            let (m64, v64) = (f64::from(m), f64::from(v));
            let want = 0.5 * (m64 * m64 + v64.exp_m1() - v64);
            let got = f64::from(GaussianKlOp.apply(m, v));
            assert!(
                (got - want).abs() <= 1e-6 * want.abs(),
                "({m}, {v}): {got} vs {want}"
            );
        }
        // Blown up: +inf, not inf - inf.
        assert_eq!(GaussianKlOp.apply(0.0, f32::INFINITY), f32::INFINITY);
        assert_eq!(GaussianKlOp.apply(1.0, f32::NEG_INFINITY), f32::INFINITY);
        // The six-node expression keeps few digits next to the prior; this keeps them.
        let naive = 0.5 * ((1e-4f32).exp() - 1e-4 - 1.0);
        let exact = 0.5 * (1e-4f64.exp_m1() - 1e-4);
        assert!(((f64::from(naive) - exact) / exact).abs() > 1e-2);
    }

    /// Finite differences with respect to both sides, on several shapes and a broadcast
    /// log-variance row.
    #[test]
    fn gradients() {
        for (shape, variance) in [((1, 1), (1, 1)), ((3, 4), (3, 4)), ((3, 4), (1, 4))] {
            let m = ParameterNode::new(random_matrix(shape.0, shape.1));
            let v = ParameterNode::new(random_matrix(variance.0, variance.1));
            let loss = gaussian_kl(&m, &v).tanh().scalar_sum();
            gradcheck::assert_gradient(&loss, &m);
            gradcheck::assert_gradient(&loss, &v);
        }
    }

    #[test]
    #[should_panic(expected = "gaussian_kl: the means are 5x1 and the log-variances 1x5")]
    fn only_one_side_may_be_repeated() {
        let m = InputNode::new(random_matrix(5, 1));
        let v = InputNode::new(random_matrix(1, 5));
        let _ = gaussian_kl(&m, &v);
    }
}
