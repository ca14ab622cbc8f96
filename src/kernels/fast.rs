//! Fast approximations of `exp`, `exp_m1`, `ln`, `ln_1p`, `tanh`, `sigmoid` and `softplus`,
//! used by the elementwise operations when the `fast-math` feature is on.
//!
//! They are branch-free polynomial or rational approximations (Cephes-style range
//! reduction for `exp` and `ln`, a 13/6 rational for `tanh`), so the loops that call them
//! vectorise, while the standard library's versions are calls into libm, one element at a
//! time. Maximum errors, measured by this module's tests against `f64` references over a
//! dense sweep of the stated ranges:
//!
//! | function | range | max error |
//! |---|---|---|
//! | [`exp`] | `[-87, 88.72]` | relative 3e-7 |
//! | [`ln`] | `(0, f32::MAX]` | 2e-7 absolute near 1, relative beyond (`err / max(1, |ln x|)`) |
//! | [`tanh`] | all `f32` | absolute 5e-7 |
//! | [`sigmoid`] | all `f32` | absolute 2e-7 |
//! | [`softplus`] | `[-87, ∞)` | relative 3e-7 |
//! | [`ln_1p`] | `(-1, ∞)` | relative 3e-7 |
//! | [`exp_m1`] | `[-87, 88.72]` | relative 3e-7 |
//!
//! Out of range: `exp` gives infinity from the first float whose exponential overflows
//! (88.72284, just above `ln(f32::MAX)`), as `f32::exp` does, but 0 below -87.3, where
//! `f32::exp` still gives subnormal numbers (all below 1.2e-38); `ln` gives what `f32::ln`
//! gives at zero, infinity and for negative inputs, and handles subnormal ones; NaN
//! propagates.

// The coefficients are quoted as published (Cephes, Eigen), digits beyond f32 included.
#![allow(clippy::excessive_precision)]

const LOG2E: f32 = std::f32::consts::LOG2_E;
/// `ln 2` split into a part exact in few bits and a correction (Cephes).
const LN2_HI: f32 = 0.693_359_4;
const LN2_LO: f32 = -2.121_944_4e-4;
/// The largest float whose exponential is finite: `ln(f32::MAX)` = 88.7228390 rounded down.
const EXP_MAX: f32 = 88.722_83;
/// Below this, [`exp`] gives 0 rather than a subnormal number.
const EXP_MIN: f32 = -87.3;
/// Adding and subtracting `1.5 * 2^23` rounds an `f32` of magnitude below `2^22` to the
/// nearest integer without a call to `roundf` (which the baseline x86_64 target lacks).
const ROUND: f32 = 12_582_912.0;

/// `e^x`, relative error below 3e-7 on `[-87, 88.72]` (up to `ln(f32::MAX)`).
///
/// ```
/// let e = wyrm::kernels::fast::exp(1.0);
/// assert!((e - std::f32::consts::E).abs() < 1e-6);
/// ```
#[inline(always)]
pub fn exp(x: f32) -> f32 {
    let xc = x.clamp(EXP_MIN, EXP_MAX);
    // x = n ln2 + r, |r| <= ln2 / 2
    let shifted = xc * LOG2E + ROUND;
    let n = shifted - ROUND;
    let r = xc - n * LN2_HI - n * LN2_LO;
    let r2 = r * r;
    let p = ((((1.987_569_1e-4 * r + 1.398_199_9e-3) * r + 8.333_452e-3) * r + 4.166_579_6e-2) * r
        + 1.666_666_5e-1)
        * r
        + 5.000_000_1e-1;
    let y = p * r2 + r + 1.0;
    // Two factors: 2^n alone overflows for n = 128 (x above 88.376); e^r < 1 there, so
    // the product stays finite up to EXP_MAX.
    // n as an integer, from the low bits of `shifted`'s mantissa (`1.5 * 2^23 + n`, exact):
    // integer arithmetic that vectorises, where `n as i32`'s saturating conversion kept
    // the loops around this function scalar.
    let n = shifted.to_bits() as i32 - ROUND.to_bits() as i32;
    let (n1, n2) = (n >> 1, n - (n >> 1));
    let y =
        y * f32::from_bits(((n1 + 127) as u32) << 23) * f32::from_bits(((n2 + 127) as u32) << 23);
    if x < EXP_MIN {
        0.0
    } else if x > EXP_MAX {
        f32::INFINITY
    } else {
        y
    }
}

/// Natural logarithm: error below `2e-7 * max(1, |ln x|)` for positive inputs, subnormal
/// ones included; `-inf` at 0, `inf` at infinity, NaN for negative inputs and NaN.
///
/// ```
/// let l = wyrm::kernels::fast::ln(std::f32::consts::E);
/// assert!((l - 1.0).abs() < 1e-6);
/// ```
#[inline(always)]
pub fn ln(x: f32) -> f32 {
    // Every case by selects, none by a call into `f32::ln`, which kept every loop over
    // `ln` scalar: a subnormal input is scaled into the normal range first (`ln x =
    // ln(x 2^25) - 25 ln 2`), and the edge cases are picked at the end.
    let subnormal = x < f32::MIN_POSITIVE;
    let scaled = if subnormal { x * SUBNORMAL_SCALE } else { x };
    let offset = if subnormal { SUBNORMAL_LN } else { 0.0 };
    let y = ln_normal(scaled) - offset;
    if x > 0.0 && x < f32::INFINITY {
        y
    } else if x == 0.0 {
        f32::NEG_INFINITY
    } else if x == f32::INFINITY {
        x
    } else {
        f32::NAN
    }
}

/// `e^x - 1`, relative error below 3e-7 up to `ln(f32::MAX)` (infinity beyond; -1 below
/// -87.3, as [`exp`] gives 0 there).
///
/// ```
/// let e = wyrm::kernels::fast::exp_m1(1e-7);
/// assert!((e - 1e-7).abs() < 1e-13);
/// ```
#[inline(always)]
pub fn exp_m1(x: f32) -> f32 {
    // Near 0, where e^x - 1 would cancel, the Taylor series up to x^11 / 11! (the rest is
    // below 3e-9 of the sum on |x| < 1); beyond, e^x - 1 loses at most a factor e / (e - 1)
    // of exp's relative error.
    let c = |k: f32, rest: f32| 1.0 / k + x * rest;
    let series = x + x
        * x
        * c(
            2.0,
            c(
                6.0,
                c(
                    24.0,
                    c(
                        120.0,
                        c(
                            720.0,
                            c(
                                5040.0,
                                c(40320.0, c(362_880.0, c(3_628_800.0, 1.0 / 39_916_800.0))),
                            ),
                        ),
                    ),
                ),
            ),
        );
    let y = if x.abs() < 1.0 { series } else { exp(x) - 1.0 };
    // ±0 as they are (the series turns -0 into +0).
    if x == 0.0 {
        x
    } else {
        y
    }
}

/// `ln(1 + x)`, relative error below 3e-7 for `x` above -1 (`-inf` at -1, NaN below, as
/// `f32::ln_1p`).
///
/// ```
/// let l = wyrm::kernels::fast::ln_1p(1e-7);
/// assert!((l - 1e-7).abs() < 1e-13);
/// ```
#[inline(always)]
pub fn ln_1p(x: f32) -> f32 {
    // ln(u) x / (u - 1) for the rounded sum u = 1 + x: the ratio puts back the digits of
    // x that the sum rounded away (u - 1 is exact); u == 1 (|x| below ε/2) leaves
    // ln(1 + x) = x to float precision.
    let u = 1.0 + x;
    let d = u - 1.0;
    let y = if d == 0.0 { x } else { ln(u) * (x / d) };
    // At infinity the ratio is NaN.
    if x == f32::INFINITY {
        x
    } else {
        y
    }
}

/// `2^25`: scales every positive subnormal float into the normal range.
const SUBNORMAL_SCALE: f32 = 33_554_432.0;
/// `ln 2^25`, subtracted back.
const SUBNORMAL_LN: f32 = 25.0 * std::f32::consts::LN_2;

/// [`ln`] of a normal, positive, finite `x` (anything else gives garbage), without the
/// check that sends other inputs to `f32::ln`.
#[inline(always)]
fn ln_normal(x: f32) -> f32 {
    let bits = x.to_bits();
    // x = m * 2^e with m in [0.5, 1)
    let mut e = ((bits >> 23) & 0xff) as i32 - 126;
    let mut m = f32::from_bits((bits & 0x807f_ffff) | 0x3f00_0000);
    if m < std::f32::consts::FRAC_1_SQRT_2 {
        e -= 1;
        m = m + m - 1.0;
    } else {
        m -= 1.0;
    }
    let e = e as f32;
    let z = m * m;
    let p = ((((((((7.037_683_6e-2 * m - 1.151_461e-1) * m + 1.167_699_9e-1) * m
        - 1.242_014_1e-1)
        * m
        + 1.424_932_3e-1)
        * m
        - 1.666_805_8e-1)
        * m
        + 2.000_071_4e-1)
        * m
        - 2.499_999_4e-1)
        * m
        + 3.333_333_1e-1)
        * m
        * z;
    let y = p + LN2_LO * e - 0.5 * z;
    m + y + LN2_HI * e
}

/// Hyperbolic tangent, absolute error below 5e-7.
///
/// ```
/// let t = wyrm::kernels::fast::tanh(0.5);
/// assert!((t - 0.5f32.tanh()).abs() < 1e-6);
/// ```
#[inline(always)]
pub fn tanh(x: f32) -> f32 {
    // Eigen's rational approximation (numerator odd of degree 13, denominator even of
    // degree 6), exact to float rounding on [-9, 9]; beyond, tanh is 1 in f32.
    let x = x.clamp(-9.0, 9.0);
    let x2 = x * x;
    let p = ((((((-2.760_768_5e-16 * x2 + 2.000_187_9e-13) * x2 - 8.604_671_5e-11) * x2
        + 5.122_297e-8)
        * x2
        + 1.485_722_4e-5)
        * x2
        + 6.372_619_3e-4)
        * x2
        + 4.893_524_6e-3)
        * x;
    let q = ((1.198_258_4e-6 * x2 + 1.185_347_1e-4) * x2 + 2.268_434_6e-3) * x2 + 4.893_525e-3;
    // The rational slightly overshoots 1 near the clamp.
    (p / q).clamp(-1.0, 1.0)
}

/// Logistic sigmoid `1 / (1 + e^-x)`, absolute error below 2e-7.
///
/// ```
/// let s = wyrm::kernels::fast::sigmoid(0.0);
/// assert!((s - 0.5).abs() < 1e-6);
/// ```
#[inline(always)]
pub fn sigmoid(x: f32) -> f32 {
    1.0 / (1.0 + exp(-x))
}

/// Softplus `ln(1 + e^x)`, relative error below 3e-7 for `x` above -87 (below -87.3,
/// where the result is under 1.2e-38, it gives 0, as [`exp`] does).
///
/// ```
/// let s = wyrm::kernels::fast::softplus(0.0);
/// assert!((s - 2f32.ln()).abs() < 1e-6);
/// ```
#[inline(always)]
pub fn softplus(x: f32) -> f32 {
    // max(x, 0) + ln(1 + t), t = e^-|x| in (0, 1]: no overflow. ln(1 + t) = 2 atanh(s)
    // for s = t / (2 + t) in (0, 1/3]: an odd series in s, whose terms from s^15 on are
    // below 3e-8 of the sum, and which keeps a small t's digits (`ln(1 + t)` rounds them
    // away in 1 + t). A division and a short polynomial, where the logarithm's range
    // reduction took twice the time.
    let t = exp(-x.abs());
    let s = t / (2.0 + t);
    let s2 = s * s;
    let p = (((((s2 * (1.0 / 13.0) + 1.0 / 11.0) * s2 + 1.0 / 9.0) * s2 + 1.0 / 7.0) * s2 + 0.2)
        * s2
        + 1.0 / 3.0)
        * s2;
    let l = 2.0 * s + 2.0 * s * p;
    let y = if x > 0.0 { x + l } else { l };
    // NaN stays NaN.
    if x.is_nan() {
        x
    } else {
        y
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `n + 1` points evenly spread over `[lo, hi]`.
    fn sweep(lo: f64, hi: f64, n: usize) -> impl Iterator<Item = f32> {
        (0..=n).map(move |i| (lo + (hi - lo) * i as f64 / n as f64) as f32)
    }

    fn max_error(
        xs: impl Iterator<Item = f32>,
        f: impl Fn(f32) -> f32,
        reference: impl Fn(f64) -> f64,
        relative: bool,
    ) -> f64 {
        xs.map(|x| {
            let (y, r) = (f(x) as f64, reference(x as f64));
            let e = (y - r).abs();
            if relative {
                e / r.abs()
            } else {
                e
            }
        })
        .fold(0.0, f64::max)
    }

    #[test]
    fn exp_error() {
        let e = max_error(sweep(-87.0, 88.0, 2_000_000), exp, f64::exp, true);
        assert!(e < 3e-7, "exp: max relative error {e:e}");
        // Up to ln(f32::MAX), as documented: 2^128 does not fit a float, so the scale is
        // applied in two halves.
        let e = max_error(sweep(88.0, 88.722_83, 100_000), exp, f64::exp, true);
        assert!(e < 3e-7, "exp: max relative error on [88, 88.7228]: {e:e}");
        assert_eq!(exp(-100.0), 0.0);
        assert_eq!(exp(100.0), f32::INFINITY);
        assert!(exp(f32::NEG_INFINITY) == 0.0 && exp(f32::INFINITY) == f32::INFINITY);
        assert!(exp(f32::NAN).is_nan());
        assert_eq!(exp(0.0), 1.0);
    }

    /// Every float from 88.7 up to ln(f32::MAX) has a finite exponential; the cut-off at
    /// 88.7 gave infinity for the last few thousand of them (`exp(88.71)`, 3.36e38).
    #[test]
    fn exp_is_finite_up_to_ln_max() {
        let mut x = 88.7f32;
        let mut worst = 0.0f64;
        while x.exp().is_finite() {
            let (y, r) = (exp(x), (x as f64).exp());
            assert!(
                y.is_finite(),
                "exp({x}) = {y}, but e^x = {r:e} is below f32::MAX"
            );
            worst = worst.max((y as f64 - r).abs() / r);
            x = f32::from_bits(x.to_bits() + 1);
        }
        assert!(
            worst < 3e-7,
            "exp: max relative error up to ln(f32::MAX): {worst:e}"
        );
        // The first float whose exponential overflows overflows here too.
        assert_eq!((x, exp(x)), (88.722_84, f32::INFINITY));
    }

    #[test]
    fn ln_error() {
        // Error scaled by max(1, |ln x|): absolute near x = 1, relative far from it.
        let e = sweep(-30.0, 30.0, 2_000_000)
            .map(|t| 10f32.powf(t))
            .map(|x| {
                let r = (x as f64).ln();
                (ln(x) as f64 - r).abs() / r.abs().max(1.0)
            })
            .fold(0.0, f64::max);
        assert!(e < 2e-7, "ln: max scaled error {e:e}");
        let far = sweep(2.0, 1e6, 1_000_000).chain(sweep(1e-6, 0.5, 1_000_000));
        let e = max_error(far, ln, f64::ln, true);
        assert!(e < 3e-7, "ln: max relative error away from 1: {e:e}");
        assert_eq!(ln(1.0), 0.0);
        assert_eq!(ln(0.0), f32::NEG_INFINITY);
        assert!(ln(-1.0).is_nan());
        assert_eq!(ln(f32::INFINITY), f32::INFINITY);
        assert!(ln(f32::NAN).is_nan() && ln(f32::NEG_INFINITY).is_nan() && ln(-0.0) < 0.0);
        // Subnormal inputs, scaled into the normal range first.
        let tiny = (1..=23)
            .map(|k| f32::from_bits(1 << (k - 1)))
            .chain([f32::from_bits(0x7f_ffff), f32::MIN_POSITIVE]);
        let e = max_error(tiny, ln, f64::ln, true);
        assert!(
            e < 2e-7,
            "ln: max relative error over subnormal inputs: {e:e}"
        );
    }

    #[test]
    fn exp_m1_error() {
        let near = sweep(-1.5, 1.5, 3_000_000).chain(sweep(-1e-3, 1e-3, 1_000_000));
        let e = max_error(
            near.chain(sweep(-87.0, 88.72, 2_000_000)),
            exp_m1,
            f64::exp_m1,
            true,
        );
        assert!(e < 3e-7, "exp_m1: max relative error {e:e}");
        assert_eq!((exp_m1(0.0), exp_m1(1e-30)), (0.0, 1e-30));
        assert!(exp_m1(-0.0) == 0.0 && exp_m1(-0.0).is_sign_negative());
        assert_eq!(exp_m1(-100.0), -1.0);
        assert_eq!(exp_m1(f32::NEG_INFINITY), -1.0);
        assert_eq!(exp_m1(100.0), f32::INFINITY);
        assert!(exp_m1(f32::NAN).is_nan());
    }

    #[test]
    fn ln_1p_error() {
        let near = sweep(-0.999_999, 1.0, 4_000_000).chain(sweep(-1e-3, 1e-3, 1_000_000));
        let far = sweep(-30.0, 30.0, 1_000_000).map(|t| 10f32.powf(t));
        let e = max_error(near.chain(far), ln_1p, f64::ln_1p, true);
        assert!(e < 3e-7, "ln_1p: max relative error {e:e}");
        assert_eq!(ln_1p(-1.0), f32::NEG_INFINITY);
        assert!(ln_1p(-1.5).is_nan() && ln_1p(f32::NAN).is_nan());
        assert_eq!(ln_1p(f32::INFINITY), f32::INFINITY);
        assert_eq!((ln_1p(0.0), ln_1p(1e-30)), (0.0, 1e-30));
    }

    #[test]
    fn tanh_error() {
        let e = max_error(sweep(-12.0, 12.0, 4_000_000), tanh, f64::tanh, false);
        assert!(e < 5e-7, "tanh: max absolute error {e:e}");
        let e = max_error(sweep(-0.01, 0.01, 100_000), tanh, f64::tanh, true);
        assert!(e < 1e-6, "tanh: max relative error near 0: {e:e}");
        assert_eq!(tanh(1e30), 1.0);
        assert_eq!(tanh(-1e30), -1.0);
        assert!(tanh(f32::NAN).is_nan());
    }

    #[test]
    fn softplus_error() {
        let reference = |x: f64| x.max(0.0) + (-x.abs()).exp().ln_1p();
        let e = max_error(sweep(-87.0, 100.0, 4_000_000), softplus, reference, true);
        assert!(e < 3e-7, "softplus: max relative error {e:e}");
        let e = max_error(sweep(-1e-3, 1e-3, 100_000), softplus, reference, true);
        assert!(e < 3e-7, "softplus: max relative error near 0: {e:e}");
        assert_eq!(softplus(-100.0), 0.0);
        assert_eq!(softplus(1e30), 1e30);
        assert_eq!(softplus(f32::INFINITY), f32::INFINITY);
        assert_eq!(softplus(f32::NEG_INFINITY), 0.0);
        assert!(softplus(f32::NAN).is_nan());
    }

    #[test]
    fn sigmoid_error() {
        let reference = |x: f64| 1.0 / (1.0 + (-x).exp());
        let e = max_error(sweep(-100.0, 100.0, 4_000_000), sigmoid, reference, false);
        assert!(e < 2e-7, "sigmoid: max absolute error {e:e}");
        assert_eq!(sigmoid(-200.0), 0.0);
        assert_eq!(sigmoid(200.0), 1.0);
    }
}
