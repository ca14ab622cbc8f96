//! Numeric kernels on contiguous row-major `f32` slices.
//!
//! Loops are written as zipped iterators over equal-length slices so that LLVM drops the
//! bounds checks and vectorises them; the matrix products go through ndarray's GEMM.

pub mod matmul;

/// `dst[i] += src[i]`.
#[inline(always)]
pub fn add_assign(dst: &mut [f32], src: &[f32]) {
    assert_eq!(dst.len(), src.len(), "add_assign: length mismatch");
    for (d, s) in dst.iter_mut().zip(src) {
        *d += *s;
    }
}

/// `dst[i] = f(src[i])`.
#[inline(always)]
pub fn map_into(dst: &mut [f32], src: &[f32], f: impl Fn(f32) -> f32) {
    assert_eq!(dst.len(), src.len(), "map_into: length mismatch");
    for (d, s) in dst.iter_mut().zip(src) {
        *d = f(*s);
    }
}

/// Sum of a slice, accumulated in `f32` with four partial sums (vectorisable).
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

/// Dot product of two equal-length slices.
#[inline]
pub fn dot(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len(), "dot: length mismatch");
    let mut acc = [0.0f32; 8];
    let ca = a.chunks_exact(8);
    let cb = b.chunks_exact(8);
    let (ra, rb) = (ca.remainder(), cb.remainder());
    for (x, y) in ca.zip(cb) {
        for i in 0..8 {
            acc[i] += x[i] * y[i];
        }
    }
    let mut total: f32 = acc.iter().sum();
    for (x, y) in ra.iter().zip(rb) {
        total += x * y;
    }
    total
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sum_and_dot_match_naive() {
        let a: Vec<f32> = (0..21).map(|i| i as f32 * 0.5 - 3.0).collect();
        let b: Vec<f32> = (0..21).map(|i| (i as f32).sin()).collect();
        let naive_sum: f32 = a.iter().sum();
        let naive_dot: f32 = a.iter().zip(&b).map(|(x, y)| x * y).sum();
        assert!((sum(&a) - naive_sum).abs() < 1e-4);
        assert!((dot(&a, &b) - naive_dot).abs() < 1e-4);
    }

    #[test]
    fn add_and_map() {
        let mut d = vec![1.0, 2.0];
        add_assign(&mut d, &[0.5, 0.5]);
        assert_eq!(d, vec![1.5, 2.5]);
        let mut e = vec![0.0; 2];
        map_into(&mut e, &d, |x| x * 2.0);
        assert_eq!(e, vec![3.0, 5.0]);
    }
}

/// `e^x`.
#[inline(always)]
pub fn exp(x: f32) -> f32 {
    x.exp()
}

/// Natural logarithm.
#[inline(always)]
pub fn ln(x: f32) -> f32 {
    x.ln()
}

/// Hyperbolic tangent.
#[inline(always)]
pub fn tanh(x: f32) -> f32 {
    x.tanh()
}

/// Logistic sigmoid, computed without overflow for large `|x|`.
#[inline(always)]
pub fn sigmoid(x: f32) -> f32 {
    if x >= 0.0 {
        1.0 / (1.0 + exp(-x))
    } else {
        let e = exp(x);
        e / (1.0 + e)
    }
}
