//! Euclidean norms: `norm_rows` (`sqrt(Σ_j x_ij²)` for each row: `rows x 1`) and
//! `norm_columns` (for each column: `1 x cols`). TransE's distance `‖h + r - t‖`, a
//! prototype's distance, the length to normalise an embedding by. One node where
//! `square().sum_rows().sqrt()` takes three, with a gradient that stays finite at a zero
//! row (that composition's is NaN there, 0 times the square root's infinite slope, so
//! users add a guessed epsilon first).

use super::single::{Single, SingleOp};
use crate::node::Node;
use crate::shape::Dim;
use crate::Variable;
use typenum::U1;

/// Writes the gradient of one norm `y` of the `n` values `x[at(i)]` into `gx[at(i)]`:
/// `g x / y`, and 0 where `y` is 0 (the subgradient of least size, so that a zero row,
/// such as TransE's distance of a perfect triple, passes no NaN on).
#[inline]
fn norm_gradient(g: f32, y: f32, n: usize, x: &[f32], gx: &mut [f32], at: impl Fn(usize) -> usize) {
    let scale = if y == 0.0 { 0.0 } else { g / y };
    for i in 0..n {
        gx[at(i)] = scale * x[at(i)];
    }
}

/// `sqrt(Σ_j x_ij²)` of each row, `rows x 1`; node type [`NormRows`].
///
/// ```
/// use wyrm::*;
/// use wyrm::nodes::{NormRowsOp, Single};
/// let x = ParameterNode::new(ndarray::arr2(&[[3.0, 4.0], [0.0, 0.0]]));
/// let y: Variable<Single<NormRowsOp, ParameterNode>> = x.apply(NormRowsOp);
/// y.forward();
/// y.backward(1.0);
/// assert_eq!(y.value(), ndarray::arr2(&[[5.0], [0.0]]));
/// // x / ‖x‖, and 0 for the zero row.
/// assert_eq!(x.gradient(), ndarray::arr2(&[[0.6, 0.8], [0.0, 0.0]]));
/// ```
#[derive(Debug, Clone, Copy)]
pub struct NormRowsOp;

impl SingleOp for NormRowsOp {
    type Rows<R: Dim, C: Dim> = R;
    type Cols<R: Dim, C: Dim> = U1;

    fn output_shape(&self, shape: (usize, usize)) -> (usize, usize) {
        (shape.0, 1)
    }
    #[inline]
    fn forward(&self, x: &[f32], (rows, cols): (usize, usize), y: &mut [f32]) {
        if cols == 0 {
            return y[..rows].fill(0.0);
        }
        for (y, row) in y.iter_mut().zip(x.chunks_exact(cols)) {
            *y = crate::kernels::euclidean_norm(row) as f32;
        }
    }
    #[inline]
    fn backward(&self, g: &[f32], x: &[f32], y: &[f32], (_, cols): (usize, usize), gx: &mut [f32]) {
        if cols == 0 {
            return;
        }
        let rows = x.chunks_exact(cols).zip(gx.chunks_exact_mut(cols));
        for ((g, y), (x, gx)) in g.iter().zip(y).zip(rows) {
            norm_gradient(*g, *y, cols, x, gx, |i| i);
        }
    }
}

/// `sqrt(Σ_i x_ij²)` of each column, `1 x cols`; node type [`NormColumns`].
///
/// ```
/// use wyrm::*;
/// use wyrm::nodes::{NormColumnsOp, Single};
/// let x = InputNode::new(ndarray::arr2(&[[3.0, 1.0], [4.0, 0.0]]));
/// let y: Variable<Single<NormColumnsOp, InputNode>> = x.apply(NormColumnsOp);
/// y.forward();
/// assert_eq!(y.value(), ndarray::arr2(&[[5.0, 1.0]]));
/// ```
#[derive(Debug, Clone, Copy)]
pub struct NormColumnsOp;

impl SingleOp for NormColumnsOp {
    type Rows<R: Dim, C: Dim> = U1;
    type Cols<R: Dim, C: Dim> = C;

    fn output_shape(&self, shape: (usize, usize)) -> (usize, usize) {
        (1, shape.1)
    }
    #[inline]
    fn forward(&self, x: &[f32], (_, cols): (usize, usize), y: &mut [f32]) {
        // Strided, so summed in f64 directly: no overflow, and no SIMD to lose.
        for (c, y) in y.iter_mut().enumerate() {
            let column = x.get(c..).unwrap_or_default().iter().step_by(cols);
            let squares: f64 = column.map(|&v| f64::from(v).powi(2)).sum();
            *y = squares.sqrt() as f32;
        }
    }
    #[inline]
    fn backward(
        &self,
        g: &[f32],
        x: &[f32],
        y: &[f32],
        (rows, cols): (usize, usize),
        gx: &mut [f32],
    ) {
        for (c, (g, y)) in g.iter().zip(y).enumerate() {
            norm_gradient(*g, *y, rows, x, gx, |r| r * cols + c);
        }
    }
}

/// Node for the Euclidean norm of each row (`rows x 1`).
///
/// ```
/// use wyrm::*;
/// use wyrm::nodes::NormRows;
/// let x = InputNode::new(ndarray::arr2(&[[3e30, 4e30]]));
/// let y: Variable<NormRows<InputNode>> = x.norm_rows();
/// y.forward();
/// assert_eq!(y.value()[(0, 0)], 5e30); // the squares overflow f32; the norm does not
/// ```
pub type NormRows<T> = Single<NormRowsOp, T>;
/// Node for the Euclidean norm of each column (`1 x cols`).
///
/// ```
/// use wyrm::*;
/// use wyrm::nodes::NormColumns;
/// let x = InputNode::new(ndarray::arr2(&[[1.0], [2.0], [2.0]]));
/// let y: Variable<NormColumns<InputNode>> = x.norm_columns();
/// y.forward();
/// assert_eq!(y.value()[(0, 0)], 3.0);
/// ```
pub type NormColumns<T> = Single<NormColumnsOp, T>;

impl<T: Node> Variable<T> {
    /// The Euclidean norm `sqrt(Σ_j x_ij²)` of each row: a `rows x 1` column. Its gradient
    /// is `x / ‖x‖` times the upstream gradient, and 0 for a row of zeros (where
    /// `square().sum_rows().sqrt()` divides by zero). Squares too large or too small for
    /// `f32` are summed in `f64`, so the norm is right wherever it fits in an `f32`.
    ///
    /// TransE scores a triple `(head, relation, tail)` by the distance `‖e_h + w_r - e_t‖`,
    /// trained with a margin against a corrupted triple:
    ///
    /// ```
    /// use wyrm::*;
    /// let entities = ParameterNode::new(random_matrix(10, 4));
    /// let relations = ParameterNode::new(random_matrix(3, 4));
    /// let (head, relation, tail) =
    ///     (IndexInputNode::new(&[0, 5]), IndexInputNode::new(&[1, 2]), IndexInputNode::new(&[7, 3]));
    /// let corrupted = IndexInputNode::new(&[4, 9]);
    /// let translated = entities.index(&head) + relations.index(&relation);
    /// let positive = (translated.clone() - entities.index(&tail)).norm_rows(); // 2 x 1
    /// let negative = (translated - entities.index(&corrupted)).norm_rows();
    /// let loss = (positive - negative + 1.0).relu().scalar_sum();
    /// loss.forward();
    /// loss.backward(1.0);
    /// assert_eq!(entities.gradient().shape(), &[10, 4]);
    /// ```
    ///
    /// Rows scaled to unit length (PyTorch's `F.normalize`, for cosine similarities and
    /// contrastive losses): divide by the norm held away from 0, `h / h.norm_rows().clip(1e-12,
    /// f32::MAX)`. A zero row then stays zero, with a finite gradient, where `h /
    /// h.norm_rows()` gives 0/0.
    ///
    /// ```
    /// use wyrm::*;
    /// let h = ParameterNode::new(ndarray::arr2(&[[3.0, 4.0], [0.0, 0.0]]));
    /// let unit = h.clone() / h.norm_rows().clip(1e-12, f32::MAX);
    /// let loss = (unit.clone() * 2.0).scalar_sum();
    /// loss.forward();
    /// loss.backward(1.0);
    /// assert_eq!(unit.value(), ndarray::arr2(&[[0.6, 0.8], [0.0, 0.0]]));
    /// assert!(h.gradient().iter().all(|g| g.is_finite()));
    /// ```
    ///
    /// To score queries against every row of a table by distance (TransE's evaluation, a
    /// nearest prototype), expand `‖q - e‖² = ‖q‖² - 2 q·e + ‖e‖²`: one matrix product,
    /// as [`dot_t`](Self::dot_t) scores by dot product, with the squared norms (sums of
    /// squares, exact where a norm squared again is rounded twice) broadcast as a column
    /// and a row.
    ///
    /// ```
    /// use wyrm::*;
    /// let table = ParameterNode::new(ndarray::arr2(&[[0.0, 0.0], [3.0, 4.0], [1.0, 0.0]]));
    /// let queries = InputNode::new(ndarray::arr2(&[[1.0, 1.0], [3.0, 3.0]]));
    /// let squared = queries.square().sum_rows() - queries.dot_t(&table) * 2.0
    ///     + table.square().sum_rows().t(); // 2 x 3
    /// squared.forward();
    /// assert_eq!(squared.value(), ndarray::arr2(&[[2.0, 13.0, 1.0], [18.0, 1.0, 13.0]]));
    /// assert_eq!(squared.argmax_rows(), [1, 0]); // the farthest row of each
    /// ```
    #[track_caller]
    pub fn norm_rows(&self) -> Variable<NormRows<T>> {
        self.apply(NormRowsOp)
    }

    /// The Euclidean norm `sqrt(Σ_i x_ij²)` of each column: a `1 x cols` row; see
    /// [`norm_rows`](Self::norm_rows).
    ///
    /// ```
    /// use wyrm::*;
    /// let w = ParameterNode::new(ndarray::arr2(&[[3.0, 0.0], [4.0, 0.0]]));
    /// let y = w.norm_columns();
    /// y.forward();
    /// y.backward(1.0);
    /// assert_eq!(y.value(), ndarray::arr2(&[[5.0, 0.0]]));
    /// assert_eq!(w.gradient(), ndarray::arr2(&[[0.6, 0.0], [0.8, 0.0]]));
    /// ```
    #[track_caller]
    pub fn norm_columns(&self) -> Variable<NormColumns<T>> {
        self.apply(NormColumnsOp)
    }
}

#[cfg(test)]
mod tests {
    use crate::*;
    use ndarray::{arr2, Array2, Axis};

    /// The norm of each row (axis 1) or column (axis 0), naively in f64.
    fn reference(x: &Array2<f32>, axis: Axis) -> Array2<f32> {
        let norms = x
            .map(|&v| f64::from(v).powi(2))
            .sum_axis(axis)
            .mapv(|s| s.sqrt() as f32);
        match axis {
            Axis(1) => norms.insert_axis(Axis(1)),
            _ => norms.insert_axis(Axis(0)),
        }
    }

    /// Values and gradients against the f64 reference, on shapes long enough for the SIMD
    /// sum of squares and short ones, with a non-trivial upstream gradient.
    #[test]
    fn norms_match_the_reference_and_the_gradient_is_x_over_the_norm() {
        for (rows, cols) in [(1, 1), (3, 2), (2, 17), (4, 40), (1, 0), (0, 3)] {
            let x = crate::init::seeded(rows, cols, 2.0, 1 + rows as u64 * 100 + cols as u64);
            for axis in [Axis(1), Axis(0)] {
                let p = ParameterNode::new(x.clone());
                let y = if axis == Axis(1) {
                    p.norm_rows().boxed()
                } else {
                    p.norm_columns().boxed()
                };
                let want = reference(&x, axis);
                let upstream = crate::init::seeded(want.nrows(), want.ncols(), 1.0, 7);
                y.forward();
                y.backward_with(upstream.view());
                let value = y.value();
                assert_eq!(value.dim(), want.dim(), "{rows}x{cols} {axis:?}");
                for (got, want) in value.iter().zip(&want) {
                    assert!(
                        (got - want).abs() <= 1e-5 * want.max(1.0),
                        "{got} against {want}"
                    );
                }
                for ((r, c), g) in p.gradient().indexed_iter() {
                    let (at, n) = if axis == Axis(1) {
                        ((r, 0), want[(r, 0)])
                    } else {
                        ((0, c), want[(0, c)])
                    };
                    let expected = if n == 0.0 {
                        0.0
                    } else {
                        upstream[at] * x[(r, c)] / n
                    };
                    assert!(
                        (g - expected).abs() < 1e-5,
                        "{rows}x{cols} {axis:?} at ({r}, {c}): {g} against {expected}"
                    );
                }
            }
        }
    }

    /// A zero row has norm 0 and passes a zero gradient on (not NaN), where the
    /// composition `square().sum_rows().sqrt()` passes NaN.
    #[test]
    fn a_zero_row_passes_a_zero_gradient() {
        let x = ParameterNode::new(arr2(&[[0.0, 0.0, 0.0], [1.0, 2.0, 2.0]]));
        let y = x.norm_rows().scalar_sum();
        y.forward();
        y.backward(2.0);
        assert_eq!(y.value()[(0, 0)], 3.0);
        let third = 2.0 / 3.0;
        assert_eq!(
            x.gradient(),
            arr2(&[[0.0, 0.0, 0.0], [third, 2.0 * third, 2.0 * third]])
        );
        x.zero_gradient();
        let composed = x.square().sum_rows().sqrt().scalar_sum();
        composed.forward();
        composed.backward(1.0);
        assert!(x.gradient().row(0).iter().all(|g| g.is_nan()));
    }

    /// Squares beyond `f32`'s range either way: the norm is still right.
    #[test]
    fn norms_of_huge_and_tiny_values_do_not_overflow_or_vanish() {
        for cols in [2, 33] {
            for scale in [1e30f32, 1e-30] {
                let x = Array2::from_shape_fn((2, cols), |(r, c)| {
                    scale * (1.0 + (r * cols + c) as f32)
                });
                let want = reference(&x, Axis(1));
                let y = InputNode::new(x).norm_rows();
                y.forward();
                for (got, want) in y.value().iter().zip(&want) {
                    assert!(
                        *want > 0.0 && (got / want - 1.0).abs() < 1e-5,
                        "{got} against {want}"
                    );
                }
            }
        }
    }
}
