//! Numeric kernels on contiguous row-major `f32` slices.
//!
//! - Elementwise loops are zipped iterators over equal-length slices, so LLVM drops the
//!   bounds checks and vectorises them for the baseline target; when node dimensions are
//!   static (typenum) the lengths are constants and small loops unroll completely.
//! - Reductions and the matrix products of [`matmul`] use AVX2 + FMA intrinsics when the
//!   CPU has them (detected once at run time, see [`simd_enabled`]) and portable loops
//!   otherwise; [`force_scalar`] or `WYRM_FORCE_SCALAR=1` forces the portable path.
//! - [`exp`], [`ln`], [`tanh`], [`sigmoid`], [`softplus`] are the approximations of
//!   [`fast`] when the `fast-math` feature is on (the default), and the standard
//!   library's functions without it.

pub mod fast;
pub mod matmul;
pub mod simd;

pub use simd::{force_scalar, simd_enabled};

/// `dst[i] += src[i]`.
///
/// ```
/// let mut dst = [1.0, 2.0];
/// wyrm::kernels::add_assign(&mut dst, &[0.5, -2.0]);
/// assert_eq!(dst, [1.5, 0.0]);
/// ```
///
/// # Panics
/// If the slices' lengths differ.
#[inline(always)]
pub fn add_assign(dst: &mut [f32], src: &[f32]) {
    assert_eq!(dst.len(), src.len(), "add_assign: length mismatch");
    for (d, s) in dst.iter_mut().zip(src) {
        *d += *s;
    }
}

/// `dst[i] = src[i]`. Unlike `copy_from_slice`, a one-element copy is a plain move rather
/// than a call to `memcpy` (which matters for 1x1 nodes).
///
/// ```
/// let mut dst = [0.0; 3];
/// wyrm::kernels::copy(&mut dst, &[1.0, 2.0, 3.0]);
/// assert_eq!(dst, [1.0, 2.0, 3.0]);
/// ```
///
/// # Panics
/// If the slices' lengths differ.
#[inline(always)]
pub fn copy(dst: &mut [f32], src: &[f32]) {
    assert_eq!(dst.len(), src.len(), "copy: length mismatch");
    if dst.len() == 1 {
        dst[0] = src[0];
    } else {
        dst.copy_from_slice(src);
    }
}

/// `dst[i] = f(src[i])`.
///
/// ```
/// let mut dst = [0.0; 3];
/// wyrm::kernels::map_into(&mut dst, &[-1.0, 0.5, 2.0], |x| x.max(0.0));
/// assert_eq!(dst, [0.0, 0.5, 2.0]);
/// ```
///
/// # Panics
/// If the slices' lengths differ.
#[inline(always)]
pub fn map_into(dst: &mut [f32], src: &[f32], f: impl Fn(f32) -> f32) {
    assert_eq!(dst.len(), src.len(), "map_into: length mismatch");
    for (d, s) in dst.iter_mut().zip(src) {
        *d = f(*s);
    }
}

/// Sum of a slice, accumulated in `f32` with eight partial sums (vectorisable).
///
/// ```
/// let xs: Vec<f32> = (1..=10).map(|i| i as f32).collect();
/// assert_eq!(wyrm::kernels::sum(&xs), 55.0);
/// assert_eq!(wyrm::kernels::sum(&[]), 0.0);
/// ```
#[inline]
pub fn sum(xs: &[f32]) -> f32 {
    let mut acc = [0.0f32; 8];
    let chunks = xs.chunks_exact(8);
    let rest = chunks.remainder();
    for c in chunks {
        for (a, x) in acc.iter_mut().zip(c) {
            *a += *x;
        }
    }
    let mut total: f32 = acc.iter().sum();
    for x in rest {
        total += *x;
    }
    total
}

/// The largest of `xs`, NaNs skipped as [`f32::max`] skips them (`-inf` for none): in
/// eight lanes, so that the loop runs in SIMD registers (a single running maximum would
/// be one comparison after another).
#[inline(always)]
pub(crate) fn max(xs: &[f32]) -> f32 {
    if xs.len() < 16 {
        return xs.iter().fold(f32::NEG_INFINITY, |m, &x| m.max(x));
    }
    let mut lanes = [f32::NEG_INFINITY; 8];
    let chunks = xs.chunks_exact(8);
    let rest = chunks
        .remainder()
        .iter()
        .fold(f32::NEG_INFINITY, |m, &x| m.max(x));
    for chunk in chunks {
        for (lane, x) in lanes.iter_mut().zip(chunk) {
            *lane = lane.max(*x);
        }
    }
    lanes.iter().fold(rest, |m, &lane| m.max(lane))
}

/// Writes `exp(x - shift)` of each of `xs` into `out` (as long) and returns their sum: a
/// softmax's numerators and denominator. Two plain passes, each of which runs in SIMD
/// registers under `fast-math` (one pass adding as it goes would add one term after
/// another: a 256-class row took 4x as long).
#[inline(always)]
pub(crate) fn exp_shifted(xs: &[f32], shift: f32, out: &mut [f32]) -> f32 {
    if xs.len() < 16 {
        // A few classes: one pass, without the lanes' set-up.
        let mut total = 0.0;
        for (o, x) in out.iter_mut().zip(xs) {
            *o = exp(x - shift);
            total += *o;
        }
        return total;
    }
    for (o, x) in out.iter_mut().zip(xs) {
        *o = exp(x - shift);
    }
    sum(&out[..xs.len()])
}

/// Dot product of two equal-length slices (AVX2 + FMA for longer slices when available).
///
/// ```
/// use wyrm::kernels::dot;
///
/// assert_eq!(dot(&[1.0, 2.0, 3.0], &[4.0, 5.0, 6.0]), 32.0);
/// assert_eq!(dot(&[0.5; 64], &[2.0; 64]), 64.0); // long enough for AVX2
/// ```
///
/// # Panics
/// If the slices' lengths differ.
#[inline(always)]
pub fn dot(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len(), "dot: length mismatch");
    #[cfg(target_arch = "x86_64")]
    if a.len() >= 16 && simd_enabled() {
        // SAFETY: `simd_enabled` checked that the CPU has AVX2 and FMA.
        return unsafe { simd::avx2::dot(a, b) };
    }
    simd::portable::dot(a, b)
}

/// `out[i] = alpha * x[i]`, or `out[i] += alpha * x[i]` when `accumulate`.
///
/// ```
/// let mut out = [1.0, 1.0];
/// wyrm::kernels::scale(2.0, &[3.0, 4.0], &mut out, true);
/// assert_eq!(out, [7.0, 9.0]);
/// ```
///
/// # Panics
/// If the slices' lengths differ.
#[inline(always)]
pub fn scale(alpha: f32, x: &[f32], out: &mut [f32], accumulate: bool) {
    assert_eq!(x.len(), out.len(), "scale: length mismatch");
    #[cfg(target_arch = "x86_64")]
    if out.len() >= 16 && simd_enabled() {
        // SAFETY: `simd_enabled` checked that the CPU has AVX2 and FMA.
        return unsafe { simd::avx2::scale(alpha, x, out, accumulate) };
    }
    simd::portable::scale(alpha, x, out, accumulate)
}

/// `out = Σ_p w_p · table[offset(p)..][..out.len()]` for `p` in `0..count`, with `w_p =
/// weights[p]`, or 1 when `weights` is empty: a bag of table rows, pooled. Summed in order
/// of `p` with each weighted row rounded before it is added, as `add_assign` and
/// `scale(.., true)` would, on every path.
///
/// # Panics
/// If a row runs past `table`, or `weights` is shorter than `count` and not empty.
#[inline(always)]
pub(crate) fn pool_rows(
    table: &[f32],
    count: usize,
    offset: impl Fn(usize) -> usize,
    weights: &[f32],
    out: &mut [f32],
) {
    #[cfg(target_arch = "x86_64")]
    if out.len() >= 8 && simd_enabled() {
        // SAFETY: `simd_enabled` checked that the CPU has AVX2 and FMA.
        return unsafe { simd::avx2::pool_rows(table, count, offset, weights, out) };
    }
    simd::portable::pool_rows(table, count, offset, weights, out)
}

/// The Euclidean norm of `x`, in `f64`. Squares are summed in `f32` SIMD lanes ([`dot`]):
/// a 32-wide row in a few ns, where one `f64` sum after another took 40-50. Outside
/// `f32`'s normal range they are summed again in `f64`, so that large values do not
/// overflow to infinity nor tiny ones underflow to 0. NaN for a NaN element.
#[inline]
pub(crate) fn euclidean_norm(x: &[f32]) -> f64 {
    let squares = dot(x, x);
    if squares.is_finite() && squares >= f32::MIN_POSITIVE {
        f64::from(squares).sqrt()
    } else {
        exact_norm(x)
    }
}

/// The Euclidean norm of `x`, its squares summed in `f64`: exact but for the last
/// rounding of the sum and the square root, where [`euclidean_norm`]'s `f32` sum is within
/// about `(len + 8) ε` of it.
#[inline]
pub(crate) fn exact_norm(x: &[f32]) -> f64 {
    // Eight partial sums, in SIMD lanes: one sum after another took 40-50 ns a 32-wide row.
    let square = |v: &f32| f64::from(*v) * f64::from(*v);
    let mut lanes = [0.0f64; 8];
    let chunks = x.chunks_exact(8);
    let tail: f64 = chunks.remainder().iter().map(square).sum();
    for chunk in chunks {
        for (lane, v) in lanes.iter_mut().zip(chunk) {
            *lane += square(v);
        }
    }
    (lanes.iter().sum::<f64>() + tail).sqrt()
}

/// Scales `row` down to a Euclidean norm of at most `max_norm` if its norm is above it,
/// and returns whether it did: the clipped norm (exact, of the `f32` values) is at most
/// `max_norm` and within 4e-7 of it, relatively, so the limit holds as a hard
/// constraint, and a row clipped once is not clipped again. That holds while the clipped
/// elements are normal numbers (roughly `max_norm / √len` above `f32::MIN_POSITIVE`,
/// 1.2e-38); among subnormal ones, only to their rounding. A row holding a NaN is left as
/// it is; one holding infinities is clipped to its direction's limit, the infinite
/// elements sharing the norm.
///
/// It is what [`clip_row_norms`](crate::Variable::clip_row_norms) does to each row, for
/// a projection inside a custom step ([`update_rows`](crate::Variable::update_rows)),
/// where `*x *= max / norm` in `f32` leaves about half the rows an ulp or two outside.
///
/// ```
/// let mut row = [0.6, 0.8000001];
/// assert!(wyrm::kernels::clip_norm(&mut row, 1.0 - 1e-6));
/// let norm = row.iter().map(|&x| f64::from(x).powi(2)).sum::<f64>().sqrt();
/// assert!(norm <= f64::from(1.0f32 - 1e-6));
/// assert!(!wyrm::kernels::clip_norm(&mut row, 1.0 - 1e-6)); // already within
/// ```
///
/// # Panics
/// If `max_norm` is negative or not finite.
pub fn clip_norm(row: &mut [f32], max_norm: f32) -> bool {
    assert!(
        max_norm >= 0.0 && max_norm.is_finite(),
        "clip_norm: max_norm must be finite and at least 0, got {max_norm}"
    );
    // Overflow-safe: a row of large values must not be scaled to zeros, nor a tiny one
    // stay above a limit of 0.
    let limit = f64::from(max_norm);
    // The fast norm settles rows clearly within the limit (its `f32` sum is within
    // `(len + 8) ε` of the exact one); those near it, or above, are measured again in
    // `f64`, so that the limit holds as a hard constraint (a Poincaré ball's edge at
    // 1 - 1e-6, which a slack of 2e-6 had let a row at 1.0000005 stay outside) and a
    // clipped row is not clipped again.
    let slack = (row.len() as f64 + 8.0) * f64::from(f32::EPSILON);
    if crate::kernels::euclidean_norm(row) <= limit * (1.0 - slack) {
        return false;
    }
    let norm = crate::kernels::exact_norm(row);
    // Within the limit, or NaN (a NaN row is left as it is, not spread to the whole row).
    if norm <= limit || norm.is_nan() {
        return false;
    }
    if norm.is_infinite() {
        // The limit of scaling down: the infinite elements share the norm, the rest are 0.
        let infinite = row.iter().filter(|x| x.is_infinite()).count() as f64;
        let share = (limit / infinite.sqrt()) as f32;
        row.iter_mut().for_each(|x| {
            *x = if x.is_infinite() {
                share.copysign(*x)
            } else {
                0.0
            }
        });
    } else {
        // Each product in `f64`, rounded once: a scale rounded to `f32` first is subnormal
        // for ratios below 1.2e-38 (a row of 1e37 clipped to 1e-3) and keeps few digits.
        let scale = limit / norm;
        row.iter_mut()
            .for_each(|x| *x = (f64::from(*x) * scale) as f32);
    }
    // The scaled row's rounding may leave its norm an ulp or two above the limit: take
    // every element an ulp or two lower (`x (1 - ε)` is below `x` for every normal `x`)
    // until it is not. Bounded, for subnormal elements, which this may not move.
    for _ in 0..4 {
        if crate::kernels::exact_norm(row) <= limit {
            break;
        }
        row.iter_mut().for_each(|x| *x *= 1.0 - f32::EPSILON);
    }
    true
}

/// Asks the CPU to bring the cache lines of `data[start..start + len]` closer (x86_64
/// only); does nothing when that range is not inside `data` (e.g. optimizer state not
/// allocated yet).
#[inline(always)]
pub(crate) fn prefetch<T>(data: &[T], start: usize, len: usize) {
    let Some(span) = data.get(start..start.saturating_add(len)) else {
        return;
    };
    #[cfg(target_arch = "x86_64")]
    {
        use std::arch::x86_64::{_mm_prefetch, _MM_HINT_T0};
        // Every 64-byte line the span touches, from the line holding its first byte.
        let first = span.as_ptr().cast::<i8>();
        let lead = first as usize % 64;
        let mut offset = 0;
        while offset < lead + std::mem::size_of_val(span) {
            let line = first.wrapping_sub(lead).wrapping_add(offset);
            // SAFETY: `_mm_prefetch` is an SSE instruction, always present on x86_64; it is
            // only a hint: it never faults and does not access memory architecturally.
            unsafe { _mm_prefetch::<_MM_HINT_T0>(line) };
            offset += 64;
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = span;
}

/// `e^x` (see [`fast::exp`] for the `fast-math` version).
///
/// ```
/// let e = wyrm::kernels::exp(1.0);
/// assert!((e - std::f32::consts::E).abs() < 1e-6);
/// ```
#[inline(always)]
pub fn exp(x: f32) -> f32 {
    #[cfg(feature = "fast-math")]
    return fast::exp(x);
    #[cfg(not(feature = "fast-math"))]
    x.exp()
}

/// Natural logarithm (see [`fast::ln`] for the `fast-math` version).
///
/// ```
/// let l = wyrm::kernels::ln(std::f32::consts::E);
/// assert!((l - 1.0).abs() < 1e-6);
/// ```
#[inline(always)]
pub fn ln(x: f32) -> f32 {
    #[cfg(feature = "fast-math")]
    return fast::ln(x);
    #[cfg(not(feature = "fast-math"))]
    x.ln()
}

/// `e^x - 1`, accurate near 0 (see [`fast::exp_m1`] for the `fast-math` version).
///
/// ```
/// assert!((wyrm::kernels::exp_m1(1e-7) - 1e-7).abs() < 1e-13);
/// assert_eq!(wyrm::kernels::exp_m1(-100.0), -1.0);
/// ```
#[inline(always)]
pub fn exp_m1(x: f32) -> f32 {
    #[cfg(feature = "fast-math")]
    return fast::exp_m1(x);
    #[cfg(not(feature = "fast-math"))]
    x.exp_m1()
}

/// `ln(1 + x)`, accurate near 0 (see [`fast::ln_1p`] for the `fast-math` version).
///
/// ```
/// assert!((wyrm::kernels::ln_1p(1e-7) - 1e-7).abs() < 1e-13);
/// assert_eq!(wyrm::kernels::ln_1p(-1.0), f32::NEG_INFINITY);
/// ```
#[inline(always)]
pub fn ln_1p(x: f32) -> f32 {
    #[cfg(feature = "fast-math")]
    return fast::ln_1p(x);
    #[cfg(not(feature = "fast-math"))]
    x.ln_1p()
}

/// Hyperbolic tangent (see [`fast::tanh`] for the `fast-math` version).
///
/// ```
/// use wyrm::kernels::tanh;
///
/// assert!((tanh(0.5) - 0.462_117_16).abs() < 1e-6);
/// assert!((tanh(20.0) - 1.0).abs() < 1e-6); // saturates
/// ```
#[inline(always)]
pub fn tanh(x: f32) -> f32 {
    #[cfg(feature = "fast-math")]
    return fast::tanh(x);
    #[cfg(not(feature = "fast-math"))]
    x.tanh()
}

/// Softplus `ln(1 + e^x)`, computed without overflow for large `|x|` (see
/// [`fast::softplus`] for the `fast-math` version).
///
/// ```
/// assert_eq!(wyrm::kernels::softplus(100.0), 100.0);
/// assert!(wyrm::kernels::softplus(-30.0) > 0.0); // e^-30, not rounded to 0
/// ```
#[inline(always)]
pub fn softplus(x: f32) -> f32 {
    #[cfg(feature = "fast-math")]
    return fast::softplus(x);
    #[cfg(not(feature = "fast-math"))]
    {
        x.max(0.0) + (-x.abs()).exp().ln_1p()
    }
}

/// Logistic sigmoid, computed without overflow for large `|x|` (see [`fast::sigmoid`] for
/// the `fast-math` version).
///
/// ```
/// use wyrm::kernels::sigmoid;
///
/// assert!((sigmoid(0.0) - 0.5).abs() < 1e-6);
/// assert_eq!(sigmoid(-1000.0), 0.0); // no overflow, no NaN
/// assert_eq!(sigmoid(1000.0), 1.0);
/// ```
#[inline(always)]
pub fn sigmoid(x: f32) -> f32 {
    #[cfg(feature = "fast-math")]
    return fast::sigmoid(x);
    #[cfg(not(feature = "fast-math"))]
    if x >= 0.0 {
        1.0 / (1.0 + (-x).exp())
    } else {
        let e = x.exp();
        e / (1.0 + e)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The lanes give what one running maximum and one running sum give, on both sides of
    /// the lengths where they start, NaNs skipped by the maximum as `f32::max` skips them.
    #[test]
    fn max_and_exp_shifted_agree_with_plain_loops() {
        for n in [0, 1, 7, 15, 16, 17, 33, 64, 100] {
            let mut x: Vec<f32> = (0..n).map(|i| ((i * 7) % 13) as f32 * 0.5 - 3.0).collect();
            let plain_max = x.iter().fold(f32::NEG_INFINITY, |m, &v| m.max(v));
            assert_eq!(max(&x), plain_max, "length {n}");
            let mut out = vec![0.0; n];
            let total = exp_shifted(&x, 1.0, &mut out);
            let expected: Vec<f32> = x.iter().map(|v| exp(v - 1.0)).collect();
            assert_eq!(out, expected, "length {n}");
            let plain: f32 = expected.iter().sum();
            assert!((total - plain).abs() <= 1e-5 * plain.max(1.0), "length {n}");
            if n > 3 {
                x[n / 2] = f32::NAN;
                let without = x.iter().fold(f32::NEG_INFINITY, |m, &v| m.max(v));
                assert!(!without.is_nan());
                assert_eq!(max(&x), without, "length {n}, a NaN");
            }
        }
    }

    #[test]
    fn scale_overwrites_or_accumulates_alike_on_every_path() {
        for n in [0, 1, 7, 16, 33, 64] {
            let x: Vec<f32> = (0..n).map(|i| i as f32 * 0.25 - 2.0).collect();
            let start: Vec<f32> = (0..n).map(|i| (i as f32).cos()).collect();
            for accumulate in [false, true] {
                let expected: Vec<f32> = x
                    .iter()
                    .zip(&start)
                    .map(|(x, s)| if accumulate { s + 1.5 * x } else { 1.5 * x })
                    .collect();
                let mut out = start.clone();
                scale(1.5, &x, &mut out, accumulate);
                assert_eq!(out, expected, "n {n}, accumulate {accumulate}");
                let mut out = start.clone();
                simd::portable::scale(1.5, &x, &mut out, accumulate);
                assert_eq!(out, expected, "portable, n {n}, accumulate {accumulate}");
            }
        }
    }

    #[test]
    fn sum_and_dot_match_naive() {
        for n in [0, 1, 7, 21, 64, 100] {
            let a: Vec<f32> = (0..n).map(|i| i as f32 * 0.5 - 3.0).collect();
            let b: Vec<f32> = (0..n).map(|i| (i as f32).sin()).collect();
            let naive_sum: f32 = a.iter().sum();
            let naive_dot: f32 = a.iter().zip(&b).map(|(x, y)| x * y).sum();
            assert!((sum(&a) - naive_sum).abs() < 1e-3);
            assert!((dot(&a, &b) - naive_dot).abs() < 1e-3);
            assert!((simd::portable::dot(&a, &b) - naive_dot).abs() < 1e-3);
        }
    }

    /// A row offset closure that answers differently on a second call (in range, then far
    /// past the table) gets a panic from the slicing, never a read out of bounds (which
    /// would crash this test's process): each answer is checked where it is used.
    #[cfg(target_arch = "x86_64")]
    #[test]
    fn pool_rows_checks_each_offset_where_it_is_used() {
        if !(is_x86_feature_detected!("avx2") && is_x86_feature_detected!("fma")) {
            return;
        }
        let table = vec![1.0f32; 13];
        let calls = std::cell::Cell::new(0);
        let offset = |_| {
            calls.set(calls.get() + 1);
            if calls.get() == 1 {
                0
            } else {
                1 << 20
            }
        };
        // 13 columns: a block of 8, then a masked tail of 5, each asking for the offset.
        let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            let mut out = [0.0f32; 13];
            // SAFETY: AVX2 and FMA are present (checked above).
            unsafe { simd::avx2::pool_rows(&table, 1, offset, &[], &mut out) };
        }));
        assert!(result.is_err());
        assert_eq!(calls.get(), 2);
    }

    /// The `std::arch` kernels and the portable fallback agree (run wherever AVX2 exists;
    /// the portable path is also what every other test runs under `WYRM_FORCE_SCALAR=1`).
    #[cfg(target_arch = "x86_64")]
    #[test]
    fn simd_and_portable_kernels_agree() {
        if !(is_x86_feature_detected!("avx2") && is_x86_feature_detected!("fma")) {
            return;
        }
        let data: Vec<f32> = (0..4000)
            .map(|i| ((i * 37 % 101) as f32 - 50.0) / 25.0)
            .collect();
        for n in [1, 3, 4, 7, 8, 13, 32, 64, 77] {
            let (a, b) = (&data[..n], &data[100..100 + n]);
            // SAFETY: AVX2 and FMA are present (checked above).
            let d = unsafe { simd::avx2::dot(a, b) };
            assert!((d - simd::portable::dot(a, b)).abs() <= 1e-4 * (1.0 + d.abs()));
            let y = &data[3000..3000 + 9];
            for accumulate in [false, true] {
                let mut o1 = data[..n * 9].to_vec();
                let mut o2 = o1.clone();
                // SAFETY: as above.
                unsafe { simd::avx2::outer(a, y, &mut o1, accumulate) };
                simd::portable::outer(a, y, &mut o2, accumulate);
                for (p, q) in o1.iter().zip(&o2) {
                    assert!((p - q).abs() <= 1e-5 * (1.0 + q.abs()), "outer {n}");
                }
            }
            // Bags of rows, unweighted and weighted: the same sums to the bit.
            let ids = [7, 0, 7, 31, 2];
            let weights = [0.5, -1.25, 3.0, 0.1, 2.0];
            for w in [&[][..], &weights[..]] {
                for count in [0, 1, 5] {
                    let mut o1 = data[..n].to_vec();
                    let mut o2 = data[50..50 + n].to_vec();
                    let offset = |p: usize| ids[p] * n;
                    // SAFETY: as above.
                    unsafe { simd::avx2::pool_rows(&data, count, offset, w, &mut o1) };
                    simd::portable::pool_rows(&data, count, offset, w, &mut o2);
                    assert_eq!(o1, o2, "pool_rows {n} {count} {}", w.len());
                }
            }
            for k in [1, 3, 32] {
                for accumulate in [false, true] {
                    let mat = &data[300..300 + k * n];
                    let mut o1 = data[..n].to_vec();
                    let mut o2 = o1.clone();
                    // SAFETY: as above.
                    unsafe { simd::avx2::gemv_rows(&data[1000..], 2, mat, &mut o1, accumulate) };
                    simd::portable::gemv_rows(&data[1000..], 2, mat, &mut o2, accumulate);
                    for (p, q) in o1.iter().zip(&o2) {
                        assert!((p - q).abs() <= 1e-4 * (1.0 + q.abs()), "gemv_rows {n} {k}");
                    }
                    let x = &data[2000..2000 + n];
                    let mat = &data[500..500 + k * n];
                    let mut o1 = data[..k].to_vec();
                    let mut o2 = o1.clone();
                    // SAFETY: as above.
                    unsafe { simd::avx2::gemv_t(x, mat, &mut o1, accumulate) };
                    simd::portable::gemv_t(x, mat, &mut o2, accumulate);
                    for (p, q) in o1.iter().zip(&o2) {
                        assert!((p - q).abs() <= 1e-4 * (1.0 + q.abs()), "gemv_t {n} {k}");
                    }
                }
            }
        }
    }

    /// A whole layer's forward and backward under `force_scalar` matches the dispatched
    /// run (on AVX2 machines: the portable fallback against the `std::arch` kernels).
    #[test]
    fn forced_scalar_layer_matches_dispatched() {
        use crate::*;
        let run = |scalar: bool| {
            force_scalar(scalar);
            let x = InputNode::new(random_matrix(1, 37));
            x.set_value(ndarray::Array2::from_shape_fn((1, 37), |(_, j)| {
                j as f32 * 0.1 - 1.0
            }));
            let w = ParameterNode::new(ndarray::Array2::from_shape_fn((37, 70), |(i, j)| {
                ((i * 7 + j * 3) % 11) as f32 * 0.05 - 0.25
            }));
            let y = x.dot(&w).tanh().dot(&w.t()).square();
            y.forward();
            y.backward(1.0);
            let out = (y.value().to_owned(), w.gradient());
            force_scalar(false);
            out
        };
        let (scalar, simd) = (run(true), run(false));
        for (a, b) in scalar.0.iter().zip(simd.0.iter()) {
            assert!((a - b).abs() <= 1e-4 * (1.0 + b.abs()), "value {a} vs {b}");
        }
        for (a, b) in scalar.1.iter().zip(simd.1.iter()) {
            assert!(
                (a - b).abs() <= 1e-4 * (1.0 + b.abs()),
                "gradient {a} vs {b}"
            );
        }
    }

    #[test]
    fn add_copy_and_map() {
        let mut d = vec![1.0, 2.0];
        add_assign(&mut d, &[0.5, 0.5]);
        assert_eq!(d, vec![1.5, 2.5]);
        let mut e = vec![0.0; 2];
        map_into(&mut e, &d, |x| x * 2.0);
        assert_eq!(e, vec![3.0, 5.0]);
        let mut one = [0.0];
        copy(&mut one, &[4.0]);
        copy(&mut e, &d);
        assert_eq!((one, e), ([4.0], vec![1.5, 2.5]));
    }

    #[test]
    fn sigmoid_is_stable() {
        assert_eq!(sigmoid(-200.0), 0.0);
        assert_eq!(sigmoid(200.0), 1.0);
        assert!((sigmoid(0.0) - 0.5).abs() < 1e-6);
    }
}
