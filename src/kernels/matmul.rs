//! Matrix products on row-major slices, with either operand optionally transposed, as
//! needed by `dot` and its backward pass.

use ndarray::linalg::general_mat_mul;
use ndarray::ArrayView2;

/// An operand of [`gemm`]: a row-major buffer of `rows x cols`, used as is or transposed.
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
    fn view(&self) -> ArrayView2<'_, f32> {
        let v = ArrayView2::from_shape(self.shape, self.data).expect("operand shape");
        if self.transposed {
            v.reversed_axes()
        } else {
            v
        }
    }
}

/// `out = a · b` (or `out += a · b` when `accumulate`), with `out` row-major of shape
/// `(rows of a, cols of b)` after transposition.
pub fn gemm(a: Operand<'_>, b: Operand<'_>, out: &mut [f32], accumulate: bool) {
    let av = a.view();
    let bv = b.view();
    let (m, k) = av.dim();
    let (k2, n) = bv.dim();
    assert_eq!(k, k2, "gemm: inner dimensions differ");
    let mut ov = ndarray::ArrayViewMut2::from_shape((m, n), out).expect("gemm: output shape");
    let beta = if accumulate { 1.0 } else { 0.0 };
    general_mat_mul(1.0, &av, &bv, beta, &mut ov);
}

#[cfg(test)]
mod tests {
    use super::*;

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
        let mut out = [0.0; 4];
        gemm(op(&a, false), op(&b, false), &mut out, false);
        assert_eq!(out, [19.0, 22.0, 43.0, 50.0]);
        gemm(op(&a, true), op(&b, false), &mut out, false);
        assert_eq!(out, [26.0, 30.0, 38.0, 44.0]);
        gemm(op(&a, false), op(&b, true), &mut out, true);
        assert_eq!(out, [26.0 + 17.0, 30.0 + 23.0, 38.0 + 39.0, 44.0 + 53.0]);
    }
}
