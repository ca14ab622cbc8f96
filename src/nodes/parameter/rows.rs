//! Reading and writing some rows of a parameter in place, local or shared: an embedding's
//! touched rows renormalised after each step (TransE keeps entity vectors at unit
//! length), where `set_value` would copy the whole table and, over shared storage,
//! overwrite the rows other threads had just updated.

use super::{ParameterNode, Storage};
use crate::checks::{check_setting, Range};
use crate::hogwild::{check_row_indices, check_row_values};
use crate::kernels::clip_norm;
use crate::node::Pass;
use crate::shape::Dim;
use crate::Variable;
use ndarray::{Array2, ArrayBase, Data, Ix2};

impl<R: Dim, C: Dim> Variable<ParameterNode<R, C>> {
    /// A copy of the given rows (`indices.len() x cols`), in order, without copying the
    /// rest of the table; for a shared parameter, read from its
    /// [`HogwildParameter`](crate::HogwildParameter) as
    /// [`rows`](crate::HogwildParameter::rows) does.
    ///
    /// ```
    /// use wyrm::*;
    ///
    /// let table = ParameterNode::new(ndarray::arr2(&[[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]]));
    /// assert_eq!(table.rows(&[2, 0]), ndarray::arr2(&[[5.0, 6.0], [1.0, 2.0]]));
    /// ```
    ///
    /// # Panics
    /// If an index is past the last row, naming it and the row count.
    #[track_caller]
    pub fn rows(&self, indices: &[usize]) -> Array2<f32> {
        let node = self.node();
        let (rows, cols) = node.shape;
        check_row_indices("ParameterNode::rows", indices, rows);
        match &node.storage {
            Storage::Local { value, .. } => {
                let value = value.borrow();
                // Row by row: a whole-row copy each, not an indexed read per element.
                let mut out = Vec::with_capacity(indices.len() * cols);
                for &row in indices {
                    out.extend_from_slice(&value[row * cols..(row + 1) * cols]);
                }
                Array2::from_shape_vec((indices.len(), cols), out).expect("rows x cols values")
            }
            Storage::Shared { param, .. } => param.rows(indices),
        }
    }

    /// Overwrites the given rows with `values` (`indices.len() x cols`, an array or a
    /// view, by reference), leaving the other rows and the optimizer state as they are.
    /// For a shared parameter the rows are written to its
    /// [`HogwildParameter`](crate::HogwildParameter) (see
    /// [`set_rows`](crate::HogwildParameter::set_rows)). A repeated index takes its last
    /// row. As after [`set_value`](Self::set_value), a
    /// [`backward`](Variable::backward) without a forward pass in between forwards again
    /// first. Another node over the same shared storage that has run a pass shows its
    /// copy of that pass in [`value`](Variable::value) until its next one (its
    /// [`rows`](Self::rows) read the storage).
    ///
    /// Renormalising the rows a step touched to unit length, as the TransE paper does for
    /// its entities ([`clip_row_norms`](Self::clip_row_norms) scales only the rows above a
    /// norm down, in place, and takes repeated ids):
    ///
    /// ```
    /// use wyrm::*;
    ///
    /// let entities = ParameterNode::new(ndarray::arr2(&[[3.0, 4.0], [1.0, 0.0], [0.0, 2.0]]));
    /// let touched = [0, 2];
    /// let mut rows = entities.rows(&touched);
    /// for mut row in rows.rows_mut() {
    ///     let norm = row.dot(&row).sqrt();
    ///     row /= norm;
    /// }
    /// entities.set_rows(&touched, &rows);
    /// assert_eq!(entities.value(), ndarray::arr2(&[[0.6, 0.8], [1.0, 0.0], [0.0, 1.0]]));
    /// ```
    ///
    /// # Panics
    /// If an index is past the last row (naming it and the row count), or `values` does
    /// not have one row of the parameter's width per index; nothing is written then.
    #[track_caller]
    pub fn set_rows<S: Data<Elem = f32>>(&self, indices: &[usize], values: &ArrayBase<S, Ix2>) {
        let node = self.node();
        let (rows, cols) = node.shape;
        check_row_indices("ParameterNode::set_rows", indices, rows);
        check_row_values("ParameterNode::set_rows", values.dim(), indices.len(), cols);
        match &node.storage {
            Storage::Local { value, .. } => {
                let mut value = value.try_borrow_mut().unwrap_or_else(|_| {
                    crate::node::value_in_use("ParameterNode::set_rows", "`Node::value`")
                });
                for (&row, new) in indices.iter().zip(values.rows()) {
                    let to = &mut value[row * cols..(row + 1) * cols];
                    match new.as_slice() {
                        Some(new) => to.copy_from_slice(new),
                        // A view with strided rows (a transpose, a column slice).
                        None => to.iter_mut().zip(new).for_each(|(to, from)| *to = *from),
                    }
                }
            }
            Storage::Shared { param, .. } => {
                param.set_rows(indices, values);
                node.cached.set(0);
            }
        }
        Pass::next();
    }

    /// Scales each given row whose Euclidean norm is above `max_norm` down to that norm,
    /// in place, leaving the other rows and the optimizer state as they are: a max-norm
    /// constraint on an embedding's looked-up rows (PyTorch's `Embedding(max_norm=..)`),
    /// such as TransE's on its entities, applied after each step to the ids of the batch.
    /// A clipped row's norm (exact, of its `f32` values) is at most `max_norm` and within
    /// 4e-7 of it, relatively, so the limit holds as a hard constraint (a Poincaré ball's
    /// edge at `1 - 1e-6`), and a repeated index is harmless (a clipped row is not clipped
    /// again): the batch's ids can be passed as they are. See
    /// [`kernels::clip_norm`](crate::kernels::clip_norm), which clips each row, for
    /// limits among subnormal numbers and rows holding NaN or infinities. For a shared parameter the rows are read and written
    /// through its [`HogwildParameter`](crate::HogwildParameter) (see
    /// [`clip_row_norms`](crate::HogwildParameter::clip_row_norms)). As after
    /// [`set_rows`](Self::set_rows), a [`backward`](Variable::backward) without a forward
    /// pass in between forwards again first.
    ///
    /// ```
    /// use wyrm::*;
    ///
    /// let entities = ParameterNode::new(ndarray::arr2(&[[3.0, 4.0], [0.6, 0.0], [0.0, 2.0]]));
    /// let batch = [0, 1, 0];
    /// entities.clip_row_norms(&batch, 1.0);
    /// // Row 0 (norm 5) is scaled to norm 1 (at most, and within 4e-7: 0.6 and 0.8 round
    /// // up in `f32`); row 1 (0.6) is within; row 2 was not named.
    /// let value = entities.value();
    /// assert!((value[(0, 0)] - 0.6).abs() < 1e-6 && (value[(0, 1)] - 0.8).abs() < 1e-6);
    /// let norm = value.row(0).iter().map(|&x| f64::from(x).powi(2)).sum::<f64>().sqrt();
    /// assert!(norm <= 1.0);
    /// assert_eq!(value.slice(ndarray::s![1.., ..]), ndarray::arr2(&[[0.6, 0.0], [0.0, 2.0]]));
    /// ```
    ///
    /// # Panics
    /// If an index is past the last row (naming it and the row count; nothing is written
    /// then), or `max_norm` is negative or not finite.
    #[track_caller]
    pub fn clip_row_norms(&self, indices: &[usize], max_norm: f32) {
        let node = self.node();
        let (rows, cols) = node.shape;
        let max_norm = check_setting(
            "ParameterNode::clip_row_norms: max_norm",
            max_norm,
            Range::NonNegative,
        );
        check_row_indices("ParameterNode::clip_row_norms", indices, rows);
        match &node.storage {
            Storage::Local { value, .. } => {
                let mut value = value.try_borrow_mut().unwrap_or_else(|_| {
                    crate::node::value_in_use("ParameterNode::clip_row_norms", "`Node::value`")
                });
                for &row in indices {
                    clip_norm(&mut value[row * cols..(row + 1) * cols], max_norm);
                }
            }
            Storage::Shared { param, .. } => {
                param.clip_row_norms(indices, max_norm);
                node.cached.set(0);
            }
        }
        Pass::next();
    }
}

impl<R: Dim, C: Dim> Variable<ParameterNode<R, C>> {
    /// Calls `update(row, values, gradient)` for every row that has a gradient, with the
    /// row's values to change in place and its gradient (repeated lookups summed): the
    /// touched rows only while the gradient is row-sparse, every row once any dense
    /// contribution exists. A custom optimizer's step, or a projection of the updated
    /// rows, at a cost proportional to the rows touched: Riemannian SGD on a Poincaré
    /// ball, which scales each row's gradient by a function of the row's own norm;
    /// non-negativity kept on the rows that moved. The gradient is left as it is (zero it
    /// after, with [`zero_gradient`](Self::zero_gradient)), and so is the built-in
    /// optimizers' state.
    ///
    /// For a shared parameter each row is read from its
    /// [`HogwildParameter`](crate::HogwildParameter), updated, and written back, as
    /// [`set_rows`](Self::set_rows) writes, so another thread's update of the row in
    /// between is overwritten, as Hogwild allows. As after `set_rows`, a
    /// [`backward`](Variable::backward) without a forward pass in between forwards again
    /// first.
    ///
    /// `update` gets what it needs of this parameter as arguments: do not call the
    /// parameter's other methods from inside it. Its gradient, and a local parameter's
    /// values, are held for the visit, so reading them there (`gradient`, `value`, `rows`)
    /// panics.
    ///
    /// ```
    /// use wyrm::*;
    ///
    /// // Riemannian SGD on the Poincaré ball: each row's step scaled by (1 - |θ|²)² / 4,
    /// // then projected back inside the ball.
    /// let table = ParameterNode::new(ndarray::arr2(&[[0.5, 0.0], [0.0, 0.1], [0.9, 0.0]]));
    /// let loss = table.index(&IndexInputNode::new(&[0, 2, 0])).scalar_sum();
    /// loss.forward();
    /// loss.backward(1.0);
    /// let (rate, edge) = (0.1, 1.0 - 1e-5);
    /// let mut visited = Vec::new();
    /// table.update_rows(|row, values, gradient| {
    ///     visited.push(row);
    ///     let squared: f32 = values.iter().map(|x| x * x).sum();
    ///     let scale = rate * (1.0 - squared).powi(2) / 4.0;
    ///     values.iter_mut().zip(gradient).for_each(|(x, g)| *x -= scale * g);
    ///     // Exactly within the edge (`*x *= edge / norm` can leave a row an ulp outside).
    ///     wyrm::kernels::clip_norm(values, edge);
    /// });
    /// table.zero_gradient();
    /// visited.sort();
    /// assert_eq!(visited, [0, 2]); // row 1 had no gradient: not visited
    /// let value = table.value();
    /// // Row 0's gradient was 2 (looked up twice), its scale 0.1 · (1 - 0.5²)² / 4.
    /// assert!((value[(0, 0)] - (0.5 - 0.1 * 0.5625 / 4.0 * 2.0)).abs() < 1e-6);
    /// assert_eq!(value[(1, 1)], 0.1);
    /// ```
    pub fn update_rows(&self, mut update: impl FnMut(usize, &mut [f32], &[f32])) {
        let node = self.node();
        let cols = node.shape.1;
        if cols == 0 {
            return;
        }
        let mut gradient = node.gradient.borrow_mut();
        // Before any row changes, so that a panic in `update` leaves no graph taking its
        // last pass, or a shared node's copy, for current.
        Pass::next();
        match &node.storage {
            Storage::Local { value, .. } => {
                let mut value = value.try_borrow_mut().unwrap_or_else(|_| {
                    crate::node::value_in_use("ParameterNode::update_rows", "`Node::value`")
                });
                gradient.for_each_touched(|offset, g| {
                    let values = &mut value[offset..offset + g.len()];
                    for (r, (values, g)) in values
                        .chunks_exact_mut(cols)
                        .zip(g.chunks_exact(cols))
                        .enumerate()
                    {
                        update(offset / cols + r, values, g);
                    }
                });
            }
            Storage::Shared { param, .. } => {
                node.cached.set(0);
                // A row's copy on the stack up to 64 columns: no allocation per call (a
                // custom optimizer's step runs at every training step).
                let mut stack = [0.0; 64];
                let mut heap = Vec::new();
                let row = if cols <= stack.len() {
                    &mut stack[..cols]
                } else {
                    heap.resize(cols, 0.0);
                    &mut heap[..]
                };
                gradient.for_each_touched(|offset, g| {
                    for (r, g) in g.chunks_exact(cols).enumerate() {
                        let start = offset + r * cols;
                        param.values().load_into(start, row);
                        update(start / cols, row, g);
                        param.values().store_from(start, row);
                    }
                });
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::*;
    use std::sync::Arc;

    /// Local and shared storage read and write the same rows; a graph over the table sees
    /// the new rows at its next pass, and gradients follow them.
    #[test]
    fn rows_are_read_and_written_in_place() {
        let start = ndarray::arr2(&[[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]]);
        let shared = Arc::new(HogwildParameter::new(start.clone()));
        for table in [
            ParameterNode::new(start.clone()),
            ParameterNode::shared(shared.clone()),
        ] {
            let index = IndexInputNode::new(&[1]);
            let y = table.index(&index).square().scalar_sum();
            y.forward();
            assert_eq!(y.value()[(0, 0)], 25.0);
            assert_eq!(
                table.rows(&[1, 1, 0]),
                ndarray::arr2(&[[3.0, 4.0], [3.0, 4.0], [1.0, 2.0]])
            );
            table.set_rows(
                &[1, 2, 1],
                &ndarray::arr2(&[[9.0, 9.0], [7.0, 8.0], [0.5, 1.0]]),
            );
            assert_eq!(
                table.value(),
                ndarray::arr2(&[[1.0, 2.0], [0.5, 1.0], [7.0, 8.0]])
            );
            // A backward pass without a fresh forward one forwards again first.
            y.backward(1.0);
            assert_eq!(y.value()[(0, 0)], 1.25);
            assert_eq!(
                table.gradient(),
                ndarray::arr2(&[[0.0, 0.0], [1.0, 2.0], [0.0, 0.0]])
            );
            // A view of another layout.
            table.set_rows(&[0], &ndarray::arr2(&[[3.0], [4.0]]).t());
            assert_eq!(table.rows(&[0]), ndarray::arr2(&[[3.0, 4.0]]));
        }
        assert_eq!(
            shared.rows(&[0, 1]),
            ndarray::arr2(&[[3.0, 4.0], [0.5, 1.0]])
        );
    }

    /// Rows written through one node over shared storage: another node over it that has
    /// run a pass keeps that pass's copy as its value until its next pass, while its
    /// `rows` read the storage.
    #[test]
    fn another_node_over_the_storage_sees_the_rows_from_its_next_pass() {
        let shared = Arc::new(HogwildParameter::new(ndarray::arr2(&[
            [1.0, 2.0],
            [3.0, 4.0],
        ])));
        let (a, b) = (
            ParameterNode::shared(shared.clone()),
            ParameterNode::shared(shared),
        );
        let total = b.scalar_sum();
        total.forward();
        a.set_rows(&[0], &ndarray::arr2(&[[0.0, 0.0]]));
        assert_eq!(b.value(), ndarray::arr2(&[[1.0, 2.0], [3.0, 4.0]]));
        assert_eq!(b.rows(&[0]), ndarray::arr2(&[[0.0, 0.0]]));
        total.forward();
        assert_eq!(total.value()[(0, 0)], 7.0);
        assert_eq!(b.value(), ndarray::arr2(&[[0.0, 0.0], [3.0, 4.0]]));
    }

    #[test]
    #[should_panic(
        expected = "ParameterNode::set_rows: index 3 is out of range for a table of 3 rows"
    )]
    fn set_rows_names_an_index_out_of_range() {
        let table = ParameterNode::new(random_matrix(3, 2));
        table.set_rows(&[0, 3], &random_matrix(2, 2));
    }

    #[test]
    #[should_panic(
        expected = "ParameterNode::set_rows: the values are 2x3 but 2 indices into a table of 2 columns need 2x2"
    )]
    fn set_rows_checks_the_values_shape() {
        let table = ParameterNode::new(random_matrix(3, 2));
        table.set_rows(&[0, 1], &random_matrix(2, 3));
    }

    /// Local and shared storage clip the same rows alike: only rows named and above the
    /// norm change, repeats change nothing more, large values do not overflow, and a
    /// graph over the table sees the clipped rows at its next pass.
    #[test]
    fn clip_row_norms_scales_down_only_the_named_rows_above_the_norm() {
        let start = ndarray::arr2(&[[3.0, 4.0], [0.3, 0.4], [6.0, 8.0], [3e30, 4e30]]);
        let want = ndarray::arr2(&[[0.6, 0.8], [0.3, 0.4], [6.0, 8.0], [0.6, 0.8]]);
        let shared = Arc::new(HogwildParameter::new(start.clone()));
        for table in [
            ParameterNode::new(start.clone()),
            ParameterNode::shared(shared.clone()),
        ] {
            let index = IndexInputNode::new(&[0]);
            let y = table.index(&index).scalar_sum();
            y.forward();
            assert_eq!(y.value()[(0, 0)], 7.0);
            table.clip_row_norms(&[0, 1, 3, 0, 3], 1.0);
            let value = table.value();
            for (got, want) in value.iter().zip(&want) {
                assert!((got - want).abs() < 1e-6, "{value} against {want}");
            }
            // A backward pass without a fresh forward one forwards again first.
            y.backward(1.0);
            assert!((y.value()[(0, 0)] - 1.4).abs() < 1e-6);
        }
        let value = shared.value();
        assert!((value[(3, 1)] - 0.8).abs() < 1e-6 && value[(2, 0)] == 6.0);
    }

    /// A clipped row's norm is at most the limit, to the last bit, and within rounding of
    /// it, so a second call writes nothing; a row just above the limit is still clipped
    /// (the Poincaré trial's row at 1.0000005 stayed outside a limit of `1 - 1e-6`).
    #[test]
    fn clipping_twice_changes_nothing_more() {
        let norm = |r: ndarray::ArrayView1<f32>| {
            r.iter().map(|&x| f64::from(x).powi(2)).sum::<f64>().sqrt()
        };
        for (cols, limit) in [(2, 1.0), (32, 1.0), (100, 1.0), (10, 1.0 - 1e-6)] {
            let start = crate::init::seeded(2000, cols, 3.0, cols as u64);
            let table = ParameterNode::new(start.clone());
            let all: Vec<usize> = (0..2000).collect();
            table.clip_row_norms(&all, limit);
            let once = table.value();
            for (row, before) in once.rows().into_iter().zip(start.rows()) {
                if norm(before) <= f64::from(limit) {
                    assert_eq!(row, before);
                    continue;
                }
                let n = norm(row);
                assert!(
                    n <= f64::from(limit),
                    "{cols} columns: norm {n} above {limit}"
                );
                assert!(n > f64::from(limit) * (1.0 - 4e-7), "{cols} columns: {n}");
            }
            table.clip_row_norms(&all, limit);
            assert_eq!(table.value(), once, "{cols} columns");
        }
        // Rows just above the limit (the Poincaré trial's at 1.0000005 stayed outside
        // 1 - 1e-6), and huge rows clipped to a small limit: their scale, 1e-40, is below
        // f32's normal range (rounded to `f32` first, it kept few digits and missed the
        // limit by 1e-5).
        for (row, limit) in [
            ([0.6 * 1.00001, 0.8 * 1.00001], 1.0),
            ([1.000_000_5, 0.0], 1.0 - 1e-6),
            ([1.00017e37, 0.500085e37], 1e-3),
            ([3e38, 3e38], 1e-3),
        ] {
            let table = ParameterNode::new(ndarray::arr2(&[row]));
            table.clip_row_norms(&[0], limit);
            let n = norm(table.value().row(0));
            assert!(
                n <= f64::from(limit) && n > f64::from(limit) * (1.0 - 4e-7),
                "{n}"
            );
        }
        // A row holding a NaN is left as it is: its other elements are not made NaN. One
        // holding infinities is clipped to its direction (it was all NaN: inf times 0).
        let table = ParameterNode::new(ndarray::arr2(&[
            [f32::NAN, 5.0, 0.0],
            [f32::INFINITY, 1.0, f32::NEG_INFINITY],
        ]));
        table.clip_row_norms(&[0, 1], 2.0);
        assert_eq!(table.value()[(0, 1)], 5.0);
        let share = 2.0 / 2f32.sqrt();
        assert_eq!(table.value().row(1), ndarray::arr1(&[share, 0.0, -share]));
    }

    /// Local and shared storage visit the same rows with the same gradients, each once
    /// (repeated lookups summed), touched rows only while the gradient is sparse and
    /// every row once a dense contribution exists; the writes land, and a graph over the
    /// table sees them at its next pass. Rows of 3 and of 70 columns (a shared row's
    /// copy is on the stack up to 64).
    #[test]
    fn update_rows_visits_each_row_with_a_gradient_once() {
        for cols in [3, 70] {
            let start = crate::init::seeded(5, cols, 1.0, 4);
            let shared = Arc::new(HogwildParameter::new(start.clone()));
            for table in [
                ParameterNode::new(start.clone()),
                ParameterNode::shared(shared.clone()),
            ] {
                update_rows_of(&table, &start);
            }
        }
    }

    /// One table's part of `update_rows_visits_each_row_with_a_gradient_once`.
    fn update_rows_of(table: &Variable<ParameterNode>, start: &ndarray::Array2<f32>) {
        let cols = start.ncols() as f32;
        let lookups = IndexInputNode::new(&[3, 1, 3]);
        let sparse = table.index(&lookups).square().scalar_sum();
        let dense = sparse.clone() + table.scalar_sum();
        for (loss, expected) in [
            (sparse.clone().boxed(), vec![1, 3]),
            (dense.boxed(), vec![0, 1, 2, 3, 4]),
        ] {
            loss.forward();
            loss.backward(1.0);
            let gradient = table.gradient();
            let mut visited = Vec::new();
            table.update_rows(|row, values, g| {
                assert_eq!(g, gradient.row(row).as_slice().unwrap(), "row {row}");
                visited.push(row);
                values.iter_mut().for_each(|x| *x = row as f32);
            });
            table.zero_gradient();
            visited.sort();
            assert_eq!(visited, expected);
            let value = table.value();
            for row in expected {
                assert!(value.row(row).iter().all(|&x| x == row as f32));
            }
            // The graph reads the new rows at its next pass: rows 3, 1, 3 squared.
            sparse.forward();
            assert_eq!(sparse.value()[(0, 0)], cols * (9.0 + 1.0 + 9.0));
            table.set_value(start);
        }
    }

    /// A panic inside the visit leaves the rows written so far in place and the graphs
    /// over the table reading them at their next pass (local and shared alike).
    #[test]
    fn a_panic_in_update_rows_leaves_no_stale_pass() {
        let start = ndarray::arr2(&[[1.0], [1.0]]);
        let shared = Arc::new(HogwildParameter::new(start.clone()));
        for table in [
            ParameterNode::new(start.clone()),
            ParameterNode::shared(shared),
        ] {
            let loss = table.exp().scalar_sum();
            loss.forward();
            loss.backward(1.0);
            let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                table.update_rows(|row, values, _| {
                    assert!(row == 0, "the user's update fails at row {row}");
                    values[0] = 10.0;
                })
            }));
            assert!(result.is_err());
            assert_eq!(table.value()[(0, 0)], 10.0);
            table.zero_gradient();
            loss.backward(1.0); // forwards again first
            assert!((table.gradient()[(0, 0)] - 10f32.exp()).abs() < 1.0);
        }
    }

    /// Rows long enough for the SIMD sum of squares clip as the short ones do, at the edges
    /// of `f32`'s range too: large values (whose squares overflow), tiny ones (whose
    /// squares underflow) against a limit of 0, and zeros.
    #[test]
    fn clip_row_norms_of_long_rows_at_the_edges_of_the_range() {
        let cols = 37;
        let row = |scale: f32| (0..cols).map(move |j| scale * (j as f32 - 11.5));
        let mut start = ndarray::Array2::zeros((4, cols));
        for (r, scale) in [1.0, 1e30, 1e-30].into_iter().enumerate() {
            start
                .row_mut(r)
                .assign(&ndarray::Array1::from_iter(row(scale)));
        }
        let norm = |r: ndarray::ArrayView1<f32>| {
            r.iter().map(|&x| f64::from(x).powi(2)).sum::<f64>().sqrt()
        };
        let shared = Arc::new(HogwildParameter::new(start.clone()));
        for table in [
            ParameterNode::new(start.clone()),
            ParameterNode::shared(shared.clone()),
        ] {
            table.clip_row_norms(&[0, 1, 3], 2.0);
            table.clip_row_norms(&[2], 0.0);
            let value = table.value();
            for (r, want) in [(0, 2.0), (1, 2.0), (2, 0.0), (3, 0.0)] {
                let got = norm(value.row(r));
                assert!(
                    (got - want).abs() < 1e-5,
                    "row {r}: norm {got}, want {want}"
                );
            }
            // Clipped to a limit of 0, the tiny row is zeros (it was not left as it was).
            assert!(value.row(2).iter().all(|&x| x == 0.0), "{}", value.row(2));
            // Row 0 keeps its direction: each element scaled by the same factor.
            let factor = 2.0 / norm(start.row(0)) as f32;
            for (got, x) in value.row(0).iter().zip(start.row(0)) {
                assert!((got - factor * x).abs() < 1e-6);
            }
        }
    }

    #[test]
    #[should_panic(
        expected = "ParameterNode::clip_row_norms: index 4 is out of range for a table of 3 rows"
    )]
    fn clip_row_norms_names_an_index_out_of_range() {
        ParameterNode::new(random_matrix(3, 2)).clip_row_norms(&[0, 4], 1.0);
    }

    #[test]
    #[should_panic(expected = "ParameterNode::clip_row_norms: max_norm")]
    fn clip_row_norms_rejects_a_negative_norm() {
        ParameterNode::new(random_matrix(3, 2)).clip_row_norms(&[0], -1.0);
    }

    #[test]
    #[should_panic(expected = "ParameterNode::rows: index 5 is out of range for a table of 3 rows")]
    fn rows_names_an_index_out_of_range() {
        let _ = ParameterNode::new(random_matrix(3, 2)).rows(&[5]);
    }
}
