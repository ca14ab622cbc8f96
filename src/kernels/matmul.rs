//! Matrix products on row-major slices, with either operand optionally transposed, as
//! needed by `dot` and its backward pass.
//!
//! Batch-1 models spend their time in vector-matrix products (`1 x k` times `k x n`), in
//! their transposes and in outer products; these run on the SIMD primitives of
//! [`super::simd`] (AVX2 + FMA when available, else portable loops) with no
//! allocation; in a batch, four rows (two, with the right-hand matrix transposed) share
//! each load of the right-hand matrix. Products whose right-hand matrix no longer fits in
//! the L2 cache, with more than a few rows on the left, go to ndarray's blocked GEMM
//! (`matrixmultiply`), which is faster there but allocates its packing buffers.

use super::simd::{self, portable};
use ndarray::linalg::general_mat_mul;
use ndarray::ArrayView2;

/// An operand of [`gemm`]: a row-major buffer of `rows x cols`, used as is or transposed.
///
/// ```
/// use wyrm::kernels::matmul::{gemm, Operand};
///
/// let x = [1.0, 2.0, 3.0];
/// let y = [10.0, 20.0];
/// // The outer product x^T y: a 1x3 row used transposed, as a 3x1 column.
/// let column = Operand { data: &x, shape: (1, 3), transposed: true };
/// let row = Operand { data: &y, shape: (1, 2), transposed: false };
/// let mut out = [0.0; 6];
/// gemm(column, row, &mut out, false);
/// assert_eq!(out, [10.0, 20.0, 20.0, 40.0, 30.0, 60.0]);
/// ```
#[derive(Clone, Copy, Debug)]
pub struct Operand<'a> {
    /// The row-major data.
    pub data: &'a [f32],
    /// Stored shape `(rows, cols)`, before any transposition.
    pub shape: (usize, usize),
    /// Whether the product uses the transpose.
    pub transposed: bool,
}

impl Operand<'_> {
    /// Shape after transposition.
    #[inline(always)]
    fn dim(&self) -> (usize, usize) {
        if self.transposed {
            (self.shape.1, self.shape.0)
        } else {
            self.shape
        }
    }

    fn view(&self) -> ArrayView2<'_, f32> {
        let v = ArrayView2::from_shape(self.shape, self.data).expect("operand shape");
        if self.transposed {
            v.reversed_axes()
        } else {
            v
        }
    }
}

/// Above this many left-hand rows *and* this many bytes in the right-hand matrix, use the
/// blocked GEMM.
const BLOCKED_MIN_ROWS: usize = 8;
const BLOCKED_MIN_BYTES: usize = 256 * 1024;

/// `out = a · b` (or `out += a · b` when `accumulate`), with `out` row-major of shape
/// `(rows of a, cols of b)` after transposition.
///
/// ```
/// use wyrm::kernels::matmul::{gemm, Operand};
///
/// let a = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0]; // 2x3
/// let b = [1.0, 0.0, 0.0, 1.0, 1.0, 1.0]; // 3x2
/// let a = Operand { data: &a, shape: (2, 3), transposed: false };
/// let b = Operand { data: &b, shape: (3, 2), transposed: false };
/// let mut out = [0.0; 4];
/// gemm(a, b, &mut out, false);
/// assert_eq!(out, [4.0, 5.0, 10.0, 11.0]);
/// gemm(a, b, &mut out, true); // adds a second product
/// assert_eq!(out, [8.0, 10.0, 20.0, 22.0]);
/// ```
///
/// # Panics
/// If the inner dimensions differ or a buffer is shorter than its shape.
pub fn gemm(a: Operand<'_>, b: Operand<'_>, out: &mut [f32], accumulate: bool) {
    let (m, k, n) = check("gemm", &a, &b, out);
    let out = &mut out[..m * n];
    if (a.transposed && b.transposed) || (m >= BLOCKED_MIN_ROWS && k * n * 4 >= BLOCKED_MIN_BYTES) {
        blocked(a, b, out, accumulate);
        return;
    }
    #[cfg(target_arch = "x86_64")]
    if simd::simd_enabled() {
        // SAFETY: `simd_enabled` checked that the CPU has AVX2 and FMA.
        unsafe { gemm_avx2(a, b, out, accumulate) };
        return;
    }
    small::<Portable>(a, b, out, accumulate);
}

/// The same product on the portable kernels whatever the CPU (for tests and comparisons).
///
/// ```
/// use wyrm::kernels::matmul::{gemm, gemm_portable, Operand};
///
/// let (a, b) = (wyrm::random_matrix(4, 32), wyrm::random_matrix(32, 16));
/// let a = Operand { data: a.as_slice().unwrap(), shape: (4, 32), transposed: false };
/// let b = Operand { data: b.as_slice().unwrap(), shape: (32, 16), transposed: false };
/// let (mut fast, mut portable) = ([0.0; 64], [0.0; 64]);
/// gemm(a, b, &mut fast, false);
/// gemm_portable(a, b, &mut portable, false);
/// // Equal up to rounding (the SIMD kernels sum in another order).
/// assert!(fast.iter().zip(&portable).all(|(f, p)| (f - p).abs() < 1e-4));
/// ```
///
/// # Panics
/// As [`gemm`].
pub fn gemm_portable(a: Operand<'_>, b: Operand<'_>, out: &mut [f32], accumulate: bool) {
    let (m, _, n) = check("gemm_portable", &a, &b, out);
    if a.transposed && b.transposed {
        blocked(a, b, out, accumulate);
    } else {
        small::<Portable>(a, b, &mut out[..m * n], accumulate);
    }
}

/// `(m, k, n)` of the product `a · b` into `out`, after checking that the shapes agree
/// and the buffers hold them (the kernels below index by the shapes alone).
#[track_caller]
fn check(name: &str, a: &Operand<'_>, b: &Operand<'_>, out: &[f32]) -> (usize, usize, usize) {
    let (m, k) = a.dim();
    let (k2, n) = b.dim();
    assert_eq!(
        k, k2,
        "{name}: inner dimensions differ ({m}x{k} times {k2}x{n}, after transposition)"
    );
    // Checked products: a wrapped one would let a short buffer through to the kernels'
    // unchecked loads (a shape that big cannot fit in memory, so it is too short).
    let holds = |len: usize, rows: usize, cols: usize| {
        rows.checked_mul(cols).is_some_and(|need| len >= need)
    };
    assert!(
        holds(a.data.len(), m, k) && holds(b.data.len(), k, n) && holds(out.len(), m, n),
        "{name}: a buffer is shorter than its shape ({} elements for {m}x{k}, {} for {k}x{n}, \
         {} for the {m}x{n} output)",
        a.data.len(),
        b.data.len(),
        out.len()
    );
    (m, k, n)
}

fn blocked(a: Operand<'_>, b: Operand<'_>, out: &mut [f32], accumulate: bool) {
    let (m, n) = (a.dim().0, b.dim().1);
    let mut ov =
        ndarray::ArrayViewMut2::from_shape((m, n), &mut out[..m * n]).expect("gemm: output");
    let beta = if accumulate { 1.0 } else { 0.0 };
    general_mat_mul(1.0, &a.view(), &b.view(), beta, &mut ov);
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
fn gemm_avx2(a: Operand<'_>, b: Operand<'_>, out: &mut [f32], accumulate: bool) {
    small::<Avx2>(a, b, out, accumulate)
}

/// The primitives the small products are built from.
trait Kernels {
    fn gemv_rows(x: &[f32], stride: usize, mat: &[f32], out: &mut [f32], accumulate: bool);
    fn gemv_rows4(x: &[f32], step: usize, stride: usize, mat: &[f32], out: &mut [f32], acc: bool);
    fn gemv_t(x: &[f32], mat: &[f32], out: &mut [f32], accumulate: bool);
    fn gemv_t2(x: &[f32], mat: &[f32], out: &mut [f32], accumulate: bool);
    fn outer(x: &[f32], y: &[f32], out: &mut [f32], accumulate: bool);
}

struct Portable;

impl Kernels for Portable {
    #[inline(always)]
    fn gemv_rows(x: &[f32], stride: usize, mat: &[f32], out: &mut [f32], accumulate: bool) {
        portable::gemv_rows(x, stride, mat, out, accumulate)
    }
    #[inline(always)]
    fn gemv_rows4(x: &[f32], step: usize, stride: usize, mat: &[f32], out: &mut [f32], acc: bool) {
        portable::gemv_rows4(x, step, stride, mat, out, acc)
    }
    #[inline(always)]
    fn gemv_t(x: &[f32], mat: &[f32], out: &mut [f32], accumulate: bool) {
        portable::gemv_t(x, mat, out, accumulate)
    }
    #[inline(always)]
    fn gemv_t2(x: &[f32], mat: &[f32], out: &mut [f32], accumulate: bool) {
        portable::gemv_t2(x, mat, out, accumulate)
    }
    #[inline(always)]
    fn outer(x: &[f32], y: &[f32], out: &mut [f32], accumulate: bool) {
        portable::outer(x, y, out, accumulate)
    }
}

#[cfg(target_arch = "x86_64")]
struct Avx2;

#[cfg(target_arch = "x86_64")]
impl Kernels for Avx2 {
    #[inline(always)]
    fn gemv_rows(x: &[f32], stride: usize, mat: &[f32], out: &mut [f32], accumulate: bool) {
        // SAFETY: `Avx2` is private to this module and used only as `small::<Avx2>` inside
        // `gemm_avx2`, which is only called after `is_x86_feature_detected!` found AVX2+FMA.
        unsafe { simd::avx2::gemv_rows(x, stride, mat, out, accumulate) }
    }
    #[inline(always)]
    fn gemv_rows4(x: &[f32], step: usize, stride: usize, mat: &[f32], out: &mut [f32], acc: bool) {
        // SAFETY: `Avx2` is private to this module and used only as `small::<Avx2>` inside
        // `gemm_avx2`, which is only called after `is_x86_feature_detected!` found AVX2+FMA.
        unsafe { simd::avx2::gemv_rows4(x, step, stride, mat, out, acc) }
    }
    #[inline(always)]
    fn gemv_t(x: &[f32], mat: &[f32], out: &mut [f32], accumulate: bool) {
        // SAFETY: `Avx2` is private to this module and used only as `small::<Avx2>` inside
        // `gemm_avx2`, which is only called after `is_x86_feature_detected!` found AVX2+FMA.
        unsafe { simd::avx2::gemv_t(x, mat, out, accumulate) }
    }
    #[inline(always)]
    fn gemv_t2(x: &[f32], mat: &[f32], out: &mut [f32], accumulate: bool) {
        // SAFETY: `Avx2` is private to this module and used only as `small::<Avx2>` inside
        // `gemm_avx2`, which is only called after `is_x86_feature_detected!` found AVX2+FMA.
        unsafe { simd::avx2::gemv_t2(x, mat, out, accumulate) }
    }
    #[inline(always)]
    fn outer(x: &[f32], y: &[f32], out: &mut [f32], accumulate: bool) {
        // SAFETY: `Avx2` is private to this module and used only as `small::<Avx2>` inside
        // `gemm_avx2`, which is only called after `is_x86_feature_detected!` found AVX2+FMA.
        unsafe { simd::avx2::outer(x, y, out, accumulate) }
    }
}

/// Row-by-row products for small matrices (not both operands transposed).
#[inline(always)]
fn small<K: Kernels>(a: Operand<'_>, b: Operand<'_>, out: &mut [f32], accumulate: bool) {
    let (m, k) = a.dim();
    let n = b.dim().1;
    if m == 0 || n == 0 {
        return;
    }
    if k == 0 {
        if !accumulate {
            out.iter_mut().for_each(|o| *o = 0.0);
        }
        return;
    }
    let (ad, bd) = (&a.data[..m * k], &b.data[..k * n]);
    if k == 1 {
        // An outer product (e.g. a batch-1 weight gradient); with one inner element both
        // operands are contiguous vectors whatever their transposition.
        K::outer(ad, bd, out, accumulate);
        return;
    }
    match (a.transposed, b.transposed) {
        (false, false) => {
            if n == 1 {
                // out[i] = dot(a[i, :], b[:, 0]); b's single column is contiguous.
                K::gemv_t(bd, ad, out, accumulate);
            } else if m < 4 {
                // (Batch 1 first: no set-up for blocks of rows.)
                for (row, o) in ad.chunks_exact(k).zip(out.chunks_exact_mut(n)) {
                    K::gemv_rows(row, 1, bd, o, accumulate);
                }
            } else {
                // Four rows at a time share the loads of b; then one by one.
                let quads = m / 4;
                for q in 0..quads {
                    let o = &mut out[4 * q * n..4 * (q + 1) * n];
                    K::gemv_rows4(&ad[4 * q * k..], k, 1, bd, o, accumulate);
                }
                let rest = ad[4 * quads * k..].chunks_exact(k);
                for (row, o) in rest.zip(out[4 * quads * n..].chunks_exact_mut(n)) {
                    K::gemv_rows(row, 1, bd, o, accumulate);
                }
            }
        }
        (false, true) => {
            // b is stored n x k: out[i, j] = dot(a[i, :], b_stored[j, :]); two rows of a
            // at a time share the loads of b.
            if m == 1 {
                K::gemv_t(ad, bd, out, accumulate);
                return;
            }
            let pairs = m / 2;
            for (rows, o) in ad.chunks_exact(2 * k).zip(out.chunks_exact_mut(2 * n)) {
                K::gemv_t2(rows, bd, o, accumulate);
            }
            if m % 2 == 1 {
                K::gemv_t(
                    &ad[2 * pairs * k..],
                    bd,
                    &mut out[2 * pairs * n..],
                    accumulate,
                );
            }
        }
        (true, false) => {
            // a is stored k x m: out[i, :] = Σ_p a_stored[p, i] * b[p, :].
            if n == 1 {
                K::gemv_rows(bd, 1, ad, out, accumulate);
            } else if m < 4 {
                for (i, o) in out.chunks_exact_mut(n).enumerate() {
                    K::gemv_rows(&ad[i..], m, bd, o, accumulate);
                }
            } else {
                let quads = m / 4;
                for q in 0..quads {
                    let o = &mut out[4 * q * n..4 * (q + 1) * n];
                    K::gemv_rows4(&ad[4 * q..], 1, m, bd, o, accumulate);
                }
                for (i, o) in out.chunks_exact_mut(n).enumerate().skip(4 * quads) {
                    K::gemv_rows(&ad[i..], m, bd, o, accumulate);
                }
            }
        }
        (true, true) => unreachable!("handled by the blocked GEMM"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A shape whose element count overflows `usize` is too long for any buffer. It used
    /// to wrap to a small count in release builds and pass the check: with a transposed
    /// `b` of 2^32 x 2^32 and a real 1 x 2^32 `a`, the AVX2 kernel then read an empty `b`
    /// out of bounds.
    #[test]
    #[should_panic(expected = "gemm: a buffer is shorter than its shape")]
    fn shapes_whose_size_overflows_are_rejected() {
        let big = 1usize << 32;
        let a = Operand {
            data: &[],
            shape: (0, big),
            transposed: false,
        };
        let b = Operand {
            data: &[],
            shape: (big, big),
            transposed: true,
        };
        gemm(a, b, &mut [], false);
    }

    #[test]
    fn transposes_and_accumulates() {
        // a = [[1,2],[3,4]], b = [[5,6],[7,8]]
        let a = [1.0, 2.0, 3.0, 4.0];
        let b = [5.0, 6.0, 7.0, 8.0];
        let op = |d, t| Operand {
            data: d,
            shape: (2, 2),
            transposed: t,
        };
        for f in [gemm, gemm_portable] {
            let mut out = [0.0; 4];
            f(op(&a, false), op(&b, false), &mut out, false);
            assert_eq!(out, [19.0, 22.0, 43.0, 50.0]);
            f(op(&a, true), op(&b, false), &mut out, false);
            assert_eq!(out, [26.0, 30.0, 38.0, 44.0]);
            f(op(&a, false), op(&b, true), &mut out, true);
            assert_eq!(out, [26.0 + 17.0, 30.0 + 23.0, 38.0 + 39.0, 44.0 + 53.0]);
            f(op(&a, true), op(&b, true), &mut out, false);
            assert_eq!(out, [23.0, 31.0, 34.0, 46.0]);
        }
    }

    fn naive(a: Operand<'_>, b: Operand<'_>, out: &mut [f32], accumulate: bool) {
        let (m, k) = a.dim();
        let n = b.dim().1;
        let at = |o: &Operand<'_>, i: usize, j: usize| {
            if o.transposed {
                o.data[j * o.shape.1 + i]
            } else {
                o.data[i * o.shape.1 + j]
            }
        };
        for i in 0..m {
            for j in 0..n {
                let s: f32 = (0..k).map(|p| at(&a, i, p) * at(&b, p, j)).sum();
                out[i * n + j] = if accumulate { out[i * n + j] + s } else { s };
            }
        }
    }

    /// Every path (SIMD when the CPU has it, portable, blocked) against a naive triple
    /// loop, over shapes that hit every block size and remainder.
    /// A batch's rows come out bit-identical to the same rows multiplied one at a time:
    /// the kernels that share loads across rows sum each element in the same order. (Not
    /// for a product with one column, whose rows `gemv_t` takes four at a time with one
    /// accumulator each, where a lone row gets `dot`'s four: its last bits may differ.)
    #[test]
    fn batched_rows_match_single_rows_exactly() {
        let a = crate::random_matrix(7, 37);
        let a_t = a.t().as_standard_layout().to_owned();
        let b = crate::random_matrix(37, 45);
        let b_t = b.t().as_standard_layout().to_owned();
        fn operand(m: &ndarray::Array2<f32>, transposed: bool) -> Operand<'_> {
            Operand {
                data: m.as_slice().expect("standard layout"),
                shape: m.dim(),
                transposed,
            }
        }
        for accumulate in [false, true] {
            for (a_transposed, b_transposed) in [(false, false), (false, true), (true, false)] {
                let (a_op, b_op) = (
                    if a_transposed {
                        operand(&a_t, true)
                    } else {
                        operand(&a, false)
                    },
                    if b_transposed {
                        operand(&b_t, true)
                    } else {
                        operand(&b, false)
                    },
                );
                let start: Vec<f32> = (0..7 * 45).map(|i| i as f32 * 0.01).collect();
                let mut batched = start.clone();
                gemm(a_op, b_op, &mut batched, accumulate);
                for i in 0..7 {
                    let row = a.row(i).to_owned().insert_axis(ndarray::Axis(0));
                    let mut single = start[i * 45..(i + 1) * 45].to_vec();
                    gemm(operand(&row, false), b_op, &mut single, accumulate);
                    assert_eq!(
                        batched[i * 45..(i + 1) * 45],
                        single[..],
                        "row {i}, t=({a_transposed},{b_transposed}), acc={accumulate}"
                    );
                }
            }
        }
    }

    #[test]
    fn all_paths_match_naive() {
        let mut seed = 1u32;
        let mut rand = |n: usize| -> Vec<f32> {
            (0..n)
                .map(|_| {
                    seed = seed.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
                    (seed >> 8) as f32 / (1 << 24) as f32 - 0.5
                })
                .collect()
        };
        let shapes = [
            (1, 1, 1),
            (1, 32, 64),
            (1, 64, 64),
            (1, 64, 1),
            (1, 7, 83),
            (3, 5, 17),
            (2, 19, 1),
            (5, 1, 9),
            (9, 70, 1000),
            // Several rows at a time (four, or two with a transposed b), with rows left
            // over, column blocks of 16 and 8, and masked tails.
            (4, 3, 5),
            (6, 9, 24),
            (7, 33, 40),
            (5, 17, 83),
            (8, 64, 192),
        ];
        for &(m, k, n) in &shapes {
            for (ta, tb) in [(false, false), (false, true), (true, false), (true, true)] {
                let ad = rand(m * k);
                let bd = rand(k * n);
                let a = Operand {
                    data: &ad,
                    shape: if ta { (k, m) } else { (m, k) },
                    transposed: ta,
                };
                let b = Operand {
                    data: &bd,
                    shape: if tb { (n, k) } else { (k, n) },
                    transposed: tb,
                };
                for accumulate in [false, true] {
                    let start = rand(m * n);
                    let mut expected = start.clone();
                    naive(a, b, &mut expected, accumulate);
                    for (name, f) in [
                        ("gemm", gemm as fn(_, _, &mut [f32], bool)),
                        ("portable", gemm_portable),
                    ] {
                        let mut out = start.clone();
                        f(a, b, &mut out, accumulate);
                        for (x, y) in out.iter().zip(&expected) {
                            assert!(
                                (x - y).abs() <= 1e-4 * (1.0 + y.abs()),
                                "{name} {m}x{k}x{n} t=({ta},{tb}) acc={accumulate}: {x} vs {y}"
                            );
                        }
                    }
                }
            }
        }
    }
}
