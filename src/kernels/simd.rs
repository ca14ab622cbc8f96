//! The SIMD level in use, detected once at run time, and (crate-private) the two
//! implementations of the vector primitives the matrix products are built from: `portable`
//! (plain loops that LLVM vectorises for the baseline target) and `avx2` (x86_64 AVX2 +
//! FMA intrinsics). Their callers check the lengths; the public kernels in
//! [`kernels`](crate::kernels) are the checked entry points.

use std::sync::atomic::{AtomicU8, Ordering::Relaxed};

const UNKNOWN: u8 = 0;
const PORTABLE: u8 = 1;
const AVX2: u8 = 2;

/// The level in use: `UNKNOWN` until the first query, then `PORTABLE` or `AVX2`.
static LEVEL: AtomicU8 = AtomicU8::new(UNKNOWN);

/// Forces the portable (non-`std::arch`) kernels when `true`; `false` returns to run-time
/// detection. The environment variable `WYRM_FORCE_SCALAR=1` forces them from the start
/// (e.g. for a CI run of the whole test suite on the fallback path).
///
/// Affects every thread; meant for tests and for comparing the two paths.
///
/// ```
/// wyrm::kernels::force_scalar(true);
/// assert!(!wyrm::kernels::simd_enabled());
/// wyrm::kernels::force_scalar(false);
/// ```
pub fn force_scalar(force: bool) {
    LEVEL.store(if force { PORTABLE } else { UNKNOWN }, Relaxed);
}

/// Whether the `std::arch` (AVX2 + FMA) kernels are in use.
///
/// ```
/// let forced = std::env::var_os("WYRM_FORCE_SCALAR").is_some_and(|v| v != "0" && !v.is_empty());
/// #[cfg(target_arch = "x86_64")]
/// let available = is_x86_feature_detected!("avx2") && is_x86_feature_detected!("fma");
/// #[cfg(not(target_arch = "x86_64"))]
/// let available = false;
/// assert_eq!(wyrm::kernels::simd_enabled(), available && !forced);
/// ```
#[inline(always)]
pub fn simd_enabled() -> bool {
    match LEVEL.load(Relaxed) {
        AVX2 => true,
        PORTABLE => false,
        _ => detect(),
    }
}

#[cold]
fn detect() -> bool {
    let forced = std::env::var_os("WYRM_FORCE_SCALAR").is_some_and(|v| v != "0" && !v.is_empty());
    #[cfg(target_arch = "x86_64")]
    let avx2 = !forced && is_x86_feature_detected!("avx2") && is_x86_feature_detected!("fma");
    #[cfg(not(target_arch = "x86_64"))]
    let avx2 = {
        let _ = forced;
        false
    };
    LEVEL.store(if avx2 { AVX2 } else { PORTABLE }, Relaxed);
    avx2
}

/// Runs `f` inside a function compiled for AVX2 + FMA when the CPU has them (and
/// [`force_scalar`] is off), else as is. Loops in `f` that LLVM inlines there are
/// vectorised 8 lanes wide instead of the baseline target's 4; worth it for loops over a
/// few dozen elements or more.
///
/// ```
/// let mut v = vec![1.0f32; 100];
/// wyrm::kernels::simd::vectorized(|| v.iter_mut().for_each(|x| *x *= 2.0));
/// assert_eq!(v[99], 2.0);
/// ```
#[inline(always)]
pub fn vectorized<R>(f: impl FnOnce() -> R) -> R {
    #[cfg(target_arch = "x86_64")]
    if simd_enabled() {
        #[target_feature(enable = "avx2,fma")]
        fn run<R>(f: impl FnOnce() -> R) -> R {
            f()
        }
        // SAFETY: `simd_enabled` checked that the CPU has AVX2 and FMA.
        return unsafe { run(f) };
    }
    f()
}

/// Plain-loop kernels: the fallback on every CPU, vectorised by LLVM for the baseline
/// target (SSE2 on x86_64, NEON on aarch64).
pub(crate) mod portable {
    /// Dot product with eight independent partial sums, so that LLVM can vectorise it
    /// without reassociating a single sum.
    #[inline(always)]
    pub fn dot(a: &[f32], b: &[f32]) -> f32 {
        let n = a.len().min(b.len());
        let (a, b) = (&a[..n], &b[..n]);
        let mut acc = [0.0f32; 8];
        let (ca, cb) = (a.chunks_exact(8), b.chunks_exact(8));
        let tail: f32 = ca
            .remainder()
            .iter()
            .zip(cb.remainder())
            .map(|(x, y)| x * y)
            .sum();
        for (x, y) in ca.zip(cb) {
            for i in 0..8 {
                acc[i] += x[i] * y[i];
            }
        }
        ((acc[0] + acc[4]) + (acc[1] + acc[5])) + ((acc[2] + acc[6]) + (acc[3] + acc[7])) + tail
    }

    /// `y += alpha * x`.
    #[inline(always)]
    pub fn axpy(alpha: f32, x: &[f32], y: &mut [f32]) {
        for (y, x) in y.iter_mut().zip(x) {
            *y += alpha * x;
        }
    }

    /// `out = alpha * x`, or `out += alpha * x` when `accumulate` (multiply, then add:
    /// no fused multiply-add, so both kernels round alike).
    #[inline(always)]
    pub fn scale(alpha: f32, x: &[f32], out: &mut [f32], accumulate: bool) {
        if accumulate {
            out.iter_mut().zip(x).for_each(|(o, x)| *o += alpha * x);
        } else {
            out.iter_mut().zip(x).for_each(|(o, x)| *o = alpha * x);
        }
    }

    /// `out = Σ_p w_p · table[offset(p)..][..n]` for `p` in `0..count` and `n =
    /// out.len()`, `w_p = weights[p]` (1 if `weights` is empty), summed in order of `p`.
    ///
    /// # Panics
    /// If a row runs past `table`, or `weights` is shorter than `count` and not empty.
    #[inline(always)]
    pub fn pool_rows(
        table: &[f32],
        count: usize,
        offset: impl Fn(usize) -> usize,
        weights: &[f32],
        out: &mut [f32],
    ) {
        let n = out.len();
        assert!(
            weights.is_empty() || weights.len() >= count,
            "pool_rows: too few weights"
        );
        out.iter_mut().for_each(|o| *o = 0.0);
        for p in 0..count {
            let row = &table[offset(p)..][..n];
            match weights.get(p) {
                None => out.iter_mut().zip(row).for_each(|(o, x)| *o += x),
                Some(&w) => scale(w, row, out, true),
            }
        }
    }

    /// `out (+)= Σ_p x[p * stride] * mat[p, :]` for a row-major `k x n` matrix `mat`,
    /// `k = mat.len() / out.len()`.
    #[inline(always)]
    pub fn gemv_rows(x: &[f32], stride: usize, mat: &[f32], out: &mut [f32], accumulate: bool) {
        let n = out.len();
        if !accumulate {
            out.iter_mut().for_each(|o| *o = 0.0);
        }
        for (p, row) in mat.chunks_exact(n).enumerate() {
            axpy(x[p * stride], row, out);
        }
    }

    /// [`gemv_rows`] for four rows at once: `out[r, :] (+)= Σ_p x[r * row_step + p *
    /// stride] * mat[p, :]` for `r` in `0..4`, `out` row-major `4 x n`.
    #[inline(always)]
    pub fn gemv_rows4(
        x: &[f32],
        row_step: usize,
        stride: usize,
        mat: &[f32],
        out: &mut [f32],
        accumulate: bool,
    ) {
        let n = out.len() / 4;
        for (r, out) in out.chunks_exact_mut(n.max(1)).enumerate() {
            gemv_rows(&x[r * row_step..], stride, mat, out, accumulate);
        }
    }

    /// Outer product `out[i, j] (+)= x[i] * y[j]`, `out` row-major `x.len() x y.len()`.
    #[inline(always)]
    pub fn outer(x: &[f32], y: &[f32], out: &mut [f32], accumulate: bool) {
        for (xi, row) in x.iter().zip(out.chunks_exact_mut(y.len())) {
            if accumulate {
                axpy(*xi, y, row);
            } else {
                row.iter_mut().zip(y).for_each(|(o, y)| *o = xi * y);
            }
        }
    }

    /// [`gemv_t`] for two vectors: `out[v * n + r] (+)= dot(x[v * k..][..k], mat[r, :])`
    /// for `v` in `0..2`, `out` `2 x n`.
    #[inline(always)]
    pub fn gemv_t2(x: &[f32], mat: &[f32], out: &mut [f32], accumulate: bool) {
        let (k, n) = (x.len() / 2, out.len() / 2);
        for (x, out) in x.chunks_exact(k.max(1)).zip(out.chunks_exact_mut(n.max(1))) {
            gemv_t(x, mat, out, accumulate);
        }
    }

    /// `out[r] (+)= dot(x, mat[r, :])` for a row-major `out.len() x x.len()` matrix.
    #[inline(always)]
    pub fn gemv_t(x: &[f32], mat: &[f32], out: &mut [f32], accumulate: bool) {
        for (o, row) in out.iter_mut().zip(mat.chunks_exact(x.len())) {
            let d = dot(x, row);
            *o = if accumulate { *o + d } else { d };
        }
    }
}

/// AVX2 + FMA kernels. Every function requires the CPU to support both (callers check
/// [`simd_enabled`]).
#[cfg(target_arch = "x86_64")]
pub(crate) mod avx2 {
    use std::arch::x86_64::*;

    #[inline]
    #[target_feature(enable = "avx2,fma")]
    fn hsum(v: __m256) -> f32 {
        let lo = _mm256_castps256_ps128(v);
        let hi = _mm256_extractf128_ps::<1>(v);
        let s = _mm_add_ps(lo, hi);
        let s = _mm_add_ps(s, _mm_movehl_ps(s, s));
        let s = _mm_add_ss(s, _mm_movehdup_ps(s));
        _mm_cvtss_f32(s)
    }

    /// A mask selecting lanes `0..rem`, for the loads and stores of a row's last `rem < 8`
    /// columns: masked-off lanes are neither read nor written (nor can they fault), so a
    /// narrow matrix (a 4-class output layer) runs 8-wide instead of element by element.
    #[inline]
    #[target_feature(enable = "avx2,fma")]
    fn tail_mask(rem: usize) -> __m256i {
        const LANES: [i32; 16] = [-1, -1, -1, -1, -1, -1, -1, -1, 0, 0, 0, 0, 0, 0, 0, 0];
        let lanes = &LANES[8 - rem..][..8];
        // SAFETY: `lanes` holds the eight `i32`s the unaligned load reads.
        unsafe { _mm256_loadu_si256(lanes.as_ptr().cast()) }
    }

    /// Dot product (four 8-wide FMA accumulators).
    ///
    /// # Safety
    /// The CPU must support AVX2 and FMA.
    #[inline]
    #[target_feature(enable = "avx2,fma")]
    pub fn dot(a: &[f32], b: &[f32]) -> f32 {
        let n = a.len().min(b.len());
        let (pa, pb) = (a.as_ptr(), b.as_ptr());
        let mut acc = [_mm256_setzero_ps(); 4];
        let mut i = 0;
        // SAFETY: every load reads 8 floats at offsets i..i+8 <= n of both slices.
        unsafe {
            while i + 32 <= n {
                for (q, acc) in acc.iter_mut().enumerate() {
                    let at = i + 8 * q;
                    *acc = _mm256_fmadd_ps(
                        _mm256_loadu_ps(pa.add(at)),
                        _mm256_loadu_ps(pb.add(at)),
                        *acc,
                    );
                }
                i += 32;
            }
            while i + 8 <= n {
                acc[0] = _mm256_fmadd_ps(
                    _mm256_loadu_ps(pa.add(i)),
                    _mm256_loadu_ps(pb.add(i)),
                    acc[0],
                );
                i += 8;
            }
            if i < n {
                let mask = tail_mask(n - i);
                // SAFETY: offsets i..n are in both slices; the masked lanes are not read.
                acc[1] = _mm256_fmadd_ps(
                    _mm256_maskload_ps(pa.add(i), mask),
                    _mm256_maskload_ps(pb.add(i), mask),
                    acc[1],
                );
            }
        }
        hsum(_mm256_add_ps(
            _mm256_add_ps(acc[0], acc[1]),
            _mm256_add_ps(acc[2], acc[3]),
        ))
    }

    /// `out = alpha * x`, or `out += alpha * x` when `accumulate`; rounds like
    /// [`portable::scale`](super::portable::scale).
    ///
    /// # Safety
    /// The CPU must support AVX2 and FMA.
    #[inline]
    #[target_feature(enable = "avx2,fma")]
    pub fn scale(alpha: f32, x: &[f32], out: &mut [f32], accumulate: bool) {
        let n = x.len().min(out.len());
        let (px, po) = (x.as_ptr(), out.as_mut_ptr());
        let va = _mm256_set1_ps(alpha);
        let mut i = 0;
        // SAFETY: loads and stores cover offsets i..i+8 <= n of both slices.
        unsafe {
            if accumulate {
                while i + 8 <= n {
                    let v = _mm256_mul_ps(va, _mm256_loadu_ps(px.add(i)));
                    let v = _mm256_add_ps(_mm256_loadu_ps(po.add(i)), v);
                    _mm256_storeu_ps(po.add(i), v);
                    i += 8;
                }
            } else {
                while i + 8 <= n {
                    _mm256_storeu_ps(po.add(i), _mm256_mul_ps(va, _mm256_loadu_ps(px.add(i))));
                    i += 8;
                }
            }
        }
        if i == n {
            return;
        }
        super::portable::scale(alpha, &x[i..n], &mut out[i..n], accumulate);
    }

    /// `out = Σ_p w_p · table[offset(p)..][..n]` as
    /// [`portable::pool_rows`](super::portable::pool_rows) computes it, with the same
    /// rounding (adds in order of `p`; a weight's product rounded before it is added).
    /// Blocks of up to 64 columns stay in registers while every row is added.
    ///
    /// # Safety
    /// The CPU must support AVX2 and FMA.
    ///
    /// # Panics
    /// If a row runs past `table`, or `weights` is shorter than `count` and not empty.
    #[inline]
    #[target_feature(enable = "avx2,fma")]
    pub fn pool_rows(
        table: &[f32],
        count: usize,
        offset: impl Fn(usize) -> usize,
        weights: &[f32],
        out: &mut [f32],
    ) {
        let n = out.len();
        assert!(
            weights.is_empty() || weights.len() >= count,
            "pool_rows: too few weights"
        );
        let (pw, po) = (weights.as_ptr(), out.as_mut_ptr());
        let weighted = !weights.is_empty();
        // One column block's sum over every row: `$load(at)` reads the 8 (or masked)
        // floats at `at`.
        macro_rules! pool {
            ($acc:ident, $j:expr, $load:expr) => {
                for p in 0..count {
                    // Sliced where it is used: `offset` is the caller's closure and need
                    // not return the same twice.
                    let row = table[offset(p)..][..n].as_ptr().add($j);
                    if weighted {
                        let w = _mm256_set1_ps(*pw.add(p));
                        for (q, a) in $acc.iter_mut().enumerate() {
                            *a = _mm256_add_ps(*a, _mm256_mul_ps(w, $load(row.add(8 * q))));
                        }
                    } else {
                        for (q, a) in $acc.iter_mut().enumerate() {
                            *a = _mm256_add_ps(*a, $load(row.add(8 * q)));
                        }
                    }
                }
            };
        }
        let mut j = 0;
        // SAFETY: each row is a checked slice of `n` columns of `table`, and the blocks read
        // columns j..j+8*B <= n of it and of `out`; weights p < count are in `weights`
        // when it is not empty (asserted).
        unsafe {
            macro_rules! block {
                ($b:literal) => {
                    while j + 8 * $b <= n {
                        let mut acc = [_mm256_setzero_ps(); $b];
                        pool!(acc, j, |at| _mm256_loadu_ps(at));
                        for (q, a) in acc.iter().enumerate() {
                            _mm256_storeu_ps(po.add(j + 8 * q), *a);
                        }
                        j += 8 * $b;
                    }
                };
            }
            block!(8);
            block!(4);
            block!(2);
            block!(1);
            if j < n {
                let mask = tail_mask(n - j);
                let mut acc = [_mm256_setzero_ps(); 1];
                // SAFETY: as above for columns j..n; the masked lanes (columns n..j+8)
                // are not accessed.
                pool!(acc, j, |at| _mm256_maskload_ps(at, mask));
                _mm256_maskstore_ps(po.add(j), mask, acc[0]);
            }
        }
    }

    /// `out (+)= Σ_p x[p * stride] * mat[p, :]` for a row-major `k x n` matrix `mat`,
    /// `k = mat.len() / out.len()`. Blocks of 64 columns stay in eight registers for the
    /// whole sum, so `mat` is only read and `out` written once.
    ///
    /// # Safety
    /// The CPU must support AVX2 and FMA.
    #[inline]
    #[target_feature(enable = "avx2,fma")]
    pub fn gemv_rows(x: &[f32], stride: usize, mat: &[f32], out: &mut [f32], accumulate: bool) {
        let n = out.len();
        if n == 0 {
            return;
        }
        let k = mat.len() / n;
        // Checked: a wrapped product would pass the check and let the loads below
        // read past `x`.
        assert!(
            k == 0
                || (k - 1)
                    .checked_mul(stride)
                    .is_some_and(|last| last < x.len()),
            "gemv_rows: x too short"
        );
        let (px, pm, po) = (x.as_ptr(), mat.as_ptr(), out.as_mut_ptr());
        let mut j = 0;
        // SAFETY: column blocks j..j+8*B <= n, rows p < k, so every load of `mat` reads
        // within p*n + j .. p*n + j + 8*B <= k*n = mat.len(); `x` reads p*stride < x.len()
        // (asserted); `out` accesses j..j+8*B <= n.
        unsafe {
            macro_rules! block {
                ($b:literal) => {
                    while j + 8 * $b <= n {
                        let mut acc = [_mm256_setzero_ps(); $b];
                        if accumulate {
                            for (q, a) in acc.iter_mut().enumerate() {
                                *a = _mm256_loadu_ps(po.add(j + 8 * q));
                            }
                        }
                        for p in 0..k {
                            let xv = _mm256_set1_ps(*px.add(p * stride));
                            let row = pm.add(p * n + j);
                            for (q, a) in acc.iter_mut().enumerate() {
                                *a = _mm256_fmadd_ps(xv, _mm256_loadu_ps(row.add(8 * q)), *a);
                            }
                        }
                        for (q, a) in acc.iter().enumerate() {
                            _mm256_storeu_ps(po.add(j + 8 * q), *a);
                        }
                        j += 8 * $b;
                    }
                };
            }
            block!(8);
            block!(2);
            block!(1);
            if j < n {
                let mask = tail_mask(n - j);
                // SAFETY: as for the blocks, for the unmasked columns j..n; the masked
                // lanes (columns n..j+8, possibly past the slices) are not accessed.
                let mut acc = if accumulate {
                    _mm256_maskload_ps(po.add(j), mask)
                } else {
                    _mm256_setzero_ps()
                };
                for p in 0..k {
                    let xv = _mm256_set1_ps(*px.add(p * stride));
                    acc = _mm256_fmadd_ps(xv, _mm256_maskload_ps(pm.add(p * n + j), mask), acc);
                }
                _mm256_maskstore_ps(po.add(j), mask, acc);
            }
        }
    }

    /// [`gemv_rows`] for four rows at once: `out[r, :] (+)= Σ_p x[r * row_step + p *
    /// stride] * mat[p, :]` for `r` in `0..4`, `out` row-major `4 x n`, `k = mat.len() /
    /// n`. Each load of `mat` serves four rows, so a matrix that only fits in L2 is read a
    /// quarter as often as by four `gemv_rows` (64 x 64 times 64 x 192: 18 µs instead
    /// of 39 on a 2-core machine, against 20 µs for ndarray's blocked GEMM).
    /// Each element is summed in the same order as by `gemv_rows`, so the results are
    /// identical.
    ///
    /// # Safety
    /// The CPU must support AVX2 and FMA.
    #[inline]
    #[target_feature(enable = "avx2,fma")]
    pub fn gemv_rows4(
        x: &[f32],
        row_step: usize,
        stride: usize,
        mat: &[f32],
        out: &mut [f32],
        accumulate: bool,
    ) {
        let n = out.len() / 4;
        if n == 0 {
            return;
        }
        let k = mat.len() / n;
        // Checked: a wrapped product would pass the check and let the loads below read
        // past `x`.
        assert!(
            k == 0
                || (k - 1)
                    .checked_mul(stride)
                    .and_then(|last| last.checked_add(3usize.checked_mul(row_step)?))
                    .is_some_and(|last| last < x.len()),
            "gemv_rows4: x too short"
        );
        let (px, pm, po) = (x.as_ptr(), mat.as_ptr(), out.as_mut_ptr());
        let mut j = 0;
        // SAFETY: column blocks j..j+8*B <= n, rows p < k, so every load of `mat` reads
        // within p*n + j .. p*n + j + 8*B <= k*n <= mat.len(); `x` reads r*row_step +
        // p*stride <= 3*row_step + (k-1)*stride < x.len() (asserted); `out` accesses
        // r*n + j .. r*n + j + 8*B <= 4*n = out.len().
        unsafe {
            macro_rules! block {
                ($b:literal) => {
                    while j + 8 * $b <= n {
                        let mut acc = [[_mm256_setzero_ps(); $b]; 4];
                        if accumulate {
                            for (r, acc) in acc.iter_mut().enumerate() {
                                for (q, a) in acc.iter_mut().enumerate() {
                                    *a = _mm256_loadu_ps(po.add(r * n + j + 8 * q));
                                }
                            }
                        }
                        for p in 0..k {
                            let row = pm.add(p * n + j);
                            let m: [__m256; $b] =
                                std::array::from_fn(|q| _mm256_loadu_ps(row.add(8 * q)));
                            for (r, acc) in acc.iter_mut().enumerate() {
                                let xv = _mm256_set1_ps(*px.add(r * row_step + p * stride));
                                for (a, m) in acc.iter_mut().zip(&m) {
                                    *a = _mm256_fmadd_ps(xv, *m, *a);
                                }
                            }
                        }
                        for (r, acc) in acc.iter().enumerate() {
                            for (q, a) in acc.iter().enumerate() {
                                _mm256_storeu_ps(po.add(r * n + j + 8 * q), *a);
                            }
                        }
                        j += 8 * $b;
                    }
                };
            }
            block!(2);
            block!(1);
            if j < n {
                let mask = tail_mask(n - j);
                // SAFETY: as for the blocks, for the unmasked columns j..n of each row;
                // the masked lanes (columns n..j+8) are not accessed.
                let mut acc = [_mm256_setzero_ps(); 4];
                if accumulate {
                    for (r, a) in acc.iter_mut().enumerate() {
                        *a = _mm256_maskload_ps(po.add(r * n + j), mask);
                    }
                }
                for p in 0..k {
                    let m = _mm256_maskload_ps(pm.add(p * n + j), mask);
                    for (r, a) in acc.iter_mut().enumerate() {
                        let xv = _mm256_set1_ps(*px.add(r * row_step + p * stride));
                        *a = _mm256_fmadd_ps(xv, m, *a);
                    }
                }
                for (r, a) in acc.iter().enumerate() {
                    _mm256_maskstore_ps(po.add(r * n + j), mask, *a);
                }
            }
        }
    }

    /// Outer product `out[i, j] (+)= x[i] * y[j]`, `out` row-major `x.len() x y.len()`.
    ///
    /// # Safety
    /// The CPU must support AVX2 and FMA.
    #[inline]
    #[target_feature(enable = "avx2,fma")]
    pub fn outer(x: &[f32], y: &[f32], out: &mut [f32], accumulate: bool) {
        let n = y.len();
        if n == 0 {
            return;
        }
        assert!(
            x.len().checked_mul(n).is_some_and(|need| out.len() >= need),
            "outer: output too short"
        );
        let (py, po) = (y.as_ptr(), out.as_mut_ptr());
        for (i, &xi) in x.iter().enumerate() {
            let xv = _mm256_set1_ps(xi);
            let row = i * n;
            let mut j = 0;
            // SAFETY: j + 8 <= n, so `y` reads stay in y[..n] and `out` accesses in
            // out[row..row + n], inside the asserted x.len() * n.
            unsafe {
                while j + 8 <= n {
                    let yv = _mm256_loadu_ps(py.add(j));
                    let o = po.add(row + j);
                    let v = if accumulate {
                        _mm256_fmadd_ps(xv, yv, _mm256_loadu_ps(o))
                    } else {
                        _mm256_mul_ps(xv, yv)
                    };
                    _mm256_storeu_ps(o, v);
                    j += 8;
                }
                if j < n {
                    let mask = tail_mask(n - j);
                    // SAFETY: as above for columns j..n; the masked lanes (columns n..j+8)
                    // are not accessed.
                    let (yv, o) = (_mm256_maskload_ps(py.add(j), mask), po.add(row + j));
                    let v = if accumulate {
                        _mm256_fmadd_ps(xv, yv, _mm256_maskload_ps(o, mask))
                    } else {
                        _mm256_mul_ps(xv, yv)
                    };
                    _mm256_maskstore_ps(o, mask, v);
                }
            }
        }
    }

    /// [`gemv_t`] for two vectors at once: `out[v * n + r] (+)= dot(x[v * k..][..k],
    /// mat[r, :])` for `v` in `0..2`, `mat` row-major `n x k` and `out` `2 x n`. Each load
    /// of `mat` serves both vectors (the backward pass's `g · Wᵀ` of a batch reads `W`
    /// half as often as by two `gemv_t`s: 64 x 64 times (192 x 64)ᵀ took 29 µs instead of
    /// 42). Each element is summed in the same order as by
    /// `gemv_t`, so the results are identical.
    ///
    /// # Safety
    /// The CPU must support AVX2 and FMA.
    #[inline]
    #[target_feature(enable = "avx2,fma")]
    pub fn gemv_t2(x: &[f32], mat: &[f32], out: &mut [f32], accumulate: bool) {
        let (k, n) = (x.len() / 2, out.len() / 2);
        assert!(
            n.checked_mul(k).is_some_and(|need| mat.len() >= need),
            "gemv_t2: matrix too short"
        );
        let (px, pm) = (x.as_ptr(), mat.as_ptr());
        let mut r = 0;
        while r + 4 <= n {
            let mut acc = [[_mm256_setzero_ps(); 4]; 2];
            let mut i = 0;
            // SAFETY: rows r..r+4 <= n and columns i..i+8 <= k lie inside `mat` (asserted
            // n*k <= len) and each of the two vectors `x[v*k..][..k]` (2k <= x.len()).
            unsafe {
                while i + 8 <= k {
                    let xv = [_mm256_loadu_ps(px.add(i)), _mm256_loadu_ps(px.add(k + i))];
                    for q in 0..4 {
                        let m = _mm256_loadu_ps(pm.add((r + q) * k + i));
                        for (acc, xv) in acc.iter_mut().zip(&xv) {
                            acc[q] = _mm256_fmadd_ps(*xv, m, acc[q]);
                        }
                    }
                    i += 8;
                }
                if i < k {
                    let mask = tail_mask(k - i);
                    // SAFETY: as above for columns i..k; the masked lanes are not read.
                    let xv = [
                        _mm256_maskload_ps(px.add(i), mask),
                        _mm256_maskload_ps(px.add(k + i), mask),
                    ];
                    for q in 0..4 {
                        let m = _mm256_maskload_ps(pm.add((r + q) * k + i), mask);
                        for (acc, xv) in acc.iter_mut().zip(&xv) {
                            acc[q] = _mm256_fmadd_ps(*xv, m, acc[q]);
                        }
                    }
                }
            }
            for (v, acc) in acc.iter().enumerate() {
                for (q, a) in acc.iter().enumerate() {
                    let (d, o) = (hsum(*a), &mut out[v * n + r + q]);
                    *o = if accumulate { *o + d } else { d };
                }
            }
            r += 4;
        }
        for v in 0..2 {
            let x = &x[v * k..(v + 1) * k];
            for r in r..n {
                let (d, o) = (dot(x, &mat[r * k..(r + 1) * k]), &mut out[v * n + r]);
                *o = if accumulate { *o + d } else { d };
            }
        }
    }

    /// `out[r] (+)= dot(x, mat[r, :])` for a row-major `out.len() x x.len()` matrix; four
    /// rows at a time share the loads of `x`.
    ///
    /// # Safety
    /// The CPU must support AVX2 and FMA.
    #[inline]
    #[target_feature(enable = "avx2,fma")]
    pub fn gemv_t(x: &[f32], mat: &[f32], out: &mut [f32], accumulate: bool) {
        let k = x.len();
        let rows = out.len();
        assert!(
            rows.checked_mul(k).is_some_and(|need| mat.len() >= need),
            "gemv_t: matrix too short"
        );
        let (px, pm) = (x.as_ptr(), mat.as_ptr());
        let mut r = 0;
        while r + 4 <= rows {
            let mut acc = [_mm256_setzero_ps(); 4];
            let mut i = 0;
            // SAFETY: rows r..r+4 <= rows and columns i..i+8 <= k lie inside `mat`
            // (asserted rows*k <= len) and `x`.
            unsafe {
                while i + 8 <= k {
                    let xv = _mm256_loadu_ps(px.add(i));
                    for (q, a) in acc.iter_mut().enumerate() {
                        *a = _mm256_fmadd_ps(xv, _mm256_loadu_ps(pm.add((r + q) * k + i)), *a);
                    }
                    i += 8;
                }
                if i < k {
                    let mask = tail_mask(k - i);
                    // SAFETY: as above for columns i..k; the masked lanes are not read.
                    let xv = _mm256_maskload_ps(px.add(i), mask);
                    for (q, a) in acc.iter_mut().enumerate() {
                        let row = pm.add((r + q) * k + i);
                        *a = _mm256_fmadd_ps(xv, _mm256_maskload_ps(row, mask), *a);
                    }
                }
            }
            for (q, a) in acc.iter().enumerate() {
                let d = hsum(*a);
                out[r + q] = if accumulate { out[r + q] + d } else { d };
            }
            r += 4;
        }
        while r < rows {
            let d = dot(x, &mat[r * k..(r + 1) * k]);
            out[r] = if accumulate { out[r] + d } else { d };
            r += 1;
        }
    }
}
