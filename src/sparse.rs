//! Row-sparse gradient accumulation for parameters.
//!
//! A parameter's gradient has a dense part (from operations that read the whole matrix,
//! such as `dot`) and a row-sparse part (from `index` lookups, which touch a few rows). Both
//! add up: optimizers see their sum. While only lookups contributed, an optimizer step and
//! the clearing afterwards touch only the looked-up rows, so a step costs the same for a
//! table of a thousand rows or ten million.

use ndarray::Array2;

/// The gradient of one parameter, dense and row-sparse parts together.
#[derive(Debug)]
pub(crate) struct ParamGradient {
    shape: (usize, usize),
    /// Dense part; allocated on the first dense contribution (large embedding tables used
    /// only through lookups never allocate it).
    dense: Vec<f32>,
    /// Whether `dense` holds a contribution since the last clear. The first contribution
    /// overwrites instead of adding, so clearing is O(1).
    dense_used: bool,
    /// Row of each sparse entry (duplicates allowed until coalesced).
    rows: Vec<usize>,
    /// Gradient rows, row-major: the first `rows.len() x cols` elements are in use. The
    /// buffer is not shrunk when cleared, so that adding rows in steady state neither
    /// allocates nor zero-fills.
    values: Vec<f32>,
    /// Whether `rows` is free of duplicates.
    ///
    /// Duplicates are always summed in the order they were recorded (merging keeps each
    /// row's entries in that order, and entries recorded later come after the merged
    /// ones), so
    /// the sums do not depend on when compactions happened, which depends on the buffer
    /// sizes left by earlier passes: gradients accumulated over several passes come out
    /// bit-identical whatever the parameter's history, as an exact resume from a
    /// checkpoint needs.
    coalesced: bool,
    /// Scratch for coalescing, kept to avoid allocating in steady state.
    slots: Vec<u32>,
    /// How many recorded rows make [`make_room`](Self::make_room) compact them: twice
    /// what the last merge started from (a step's worth of lookups, when the optimizer
    /// merged), or twice what the last compaction left.
    compact_at: usize,
}

/// Below this many recorded rows, growing is cheaper than compacting.
const COMPACT_FROM: usize = 64;

/// A free slot of [`ParamGradient::merge_duplicates`]' table.
const EMPTY_SLOT: u32 = u32::MAX;

/// The number of `row` among the distinct rows listed in `distinct`, or `next` (the
/// number a new row gets, `distinct.len()`) if it is not there, through `slots` (a power
/// of two, `1 << bits` of them, more than there will be distinct rows; each free or the
/// number of the row hashed there). `bits` is 1 to 63.
#[inline(always)]
fn number_row(row: usize, bits: u32, slots: &mut [u32], distinct: &[usize], next: u32) -> u32 {
    let mask = (1usize << bits) - 1;
    // Fibonacci hashing: the top bits of the product mix every bit of the row.
    let mut at = ((row as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15) >> (64 - bits)) as usize;
    loop {
        match slots[at] {
            EMPTY_SLOT => {
                slots[at] = next;
                return next;
            }
            d if distinct[d as usize] == row => return d,
            _ => at = (at + 1) & mask,
        }
    }
}

/// `dst += src` for rows of equal length, in blocks of eight: the plain loop, compiled
/// here without AVX2, took twice the instructions for rows of 8 or 16.
#[inline(always)]
fn add_row(dst: &mut [f32], src: &[f32]) {
    let mut dst8 = dst.chunks_exact_mut(8);
    let src8 = src.chunks_exact(8);
    let src_rest = src8.remainder();
    for (d, s) in (&mut dst8).zip(src8) {
        let (d, s): (&mut [f32; 8], &[f32; 8]) = (d.try_into().unwrap(), s.try_into().unwrap());
        *d = std::array::from_fn(|k| d[k] + s[k]);
    }
    crate::kernels::add_assign(dst8.into_remainder(), src_rest);
}

impl ParamGradient {
    pub(crate) fn new(shape: (usize, usize)) -> Self {
        ParamGradient {
            shape,
            dense: Vec::new(),
            dense_used: false,
            rows: Vec::new(),
            values: Vec::new(),
            coalesced: true,
            slots: Vec::new(),
            compact_at: COMPACT_FROM,
        }
    }

    /// Adds a gradient for the whole matrix.
    #[inline]
    pub(crate) fn add_dense(&mut self, gradient: &[f32]) {
        // The same comparison as the kernels' own length checks, which it lets the
        // compiler drop: the buffer, once allocated, has the parameter's size.
        if self.dense.len() != gradient.len() {
            self.allocate_dense(gradient.len());
        }
        if self.dense_used {
            crate::kernels::add_assign(&mut self.dense, gradient);
        } else {
            crate::kernels::copy(&mut self.dense, gradient);
            self.dense_used = true;
        }
    }

    /// Allocates the dense buffer for a first contribution of `len` elements, or panics
    /// if `len` is not the parameter's size (a custom node's gradient of another shape).
    #[cold]
    #[inline(never)]
    fn allocate_dense(&mut self, len: usize) {
        if !self.dense.is_empty() || len != self.shape.0 * self.shape.1 {
            crate::node::wrong_gradient_length("a parameter", len, self.shape);
        }
        self.dense = vec![0.0; len];
    }

    /// The dense buffer for a contribution written in place, and whether the writer must
    /// add to it (`true`) or overwrite it (`false`). Call [`commit_dense`](Self::commit_dense)
    /// once the contribution is written, so that a writer that panics records nothing.
    #[inline]
    pub(crate) fn dense_buffer(&mut self) -> (&mut [f32], bool) {
        if self.dense.is_empty() {
            self.dense = vec![0.0; self.shape.0 * self.shape.1];
        }
        (&mut self.dense, self.dense_used)
    }

    /// Records the contribution written into [`dense_buffer`](Self::dense_buffer).
    #[inline]
    pub(crate) fn commit_dense(&mut self) {
        self.dense_used = true;
    }

    /// Adds `gradient` (`indices.len() x cols`, row-major) to the given rows. Repeated
    /// indices sum.
    #[inline]
    pub(crate) fn add_rows(&mut self, indices: &[usize], gradient: &[f32]) {
        debug_assert_eq!(gradient.len(), indices.len() * self.shape.1);
        let cols = self.shape.1;
        crate::kernels::copy(self.row_buffer(indices.len(), cols), gradient);
        self.commit_rows(indices);
    }

    /// The `rows x cols` gradient rows that the next [`commit_rows`](Self::commit_rows)
    /// of `rows` indices will record, for the caller to overwrite (their contents are
    /// unspecified); `cols` must be the parameter's column count. Nothing is recorded
    /// until the commit, so a writer that panics leaves the gradient as it was.
    #[inline(always)]
    pub(crate) fn row_buffer(&mut self, rows: usize, cols: usize) -> &mut [f32] {
        debug_assert_eq!(cols, self.shape.1);
        let mut start = self.rows.len() * cols;
        if self.values.len() < start + rows * cols {
            self.make_room(rows);
            // Merging may have moved the end of the recorded rows.
            start = self.rows.len() * cols;
        }
        &mut self.values[start..start + rows * cols]
    }

    /// How many row entries are recorded (repeats included).
    #[cfg(test)]
    pub(crate) fn entries(&self) -> usize {
        self.rows.len()
    }

    /// Records gradient entries for `indices`, whose rows were written into
    /// [`row_buffer`](Self::row_buffer).
    #[inline(always)]
    pub(crate) fn commit_rows(&mut self, indices: &[usize]) {
        if !self.rows.is_empty() || indices.len() > 1 {
            self.coalesced = false;
        }
        if let [row] = indices {
            self.rows.push(*row);
        } else {
            self.rows.extend_from_slice(indices);
        }
    }

    /// Makes room for `rows` more gradient rows. Gradients accumulated over many passes
    /// without a step would otherwise keep a row per lookup: so once twice as many rows
    /// are recorded as a step recorded when the optimizer last merged them (or as the last
    /// compaction left), the buffer is compacted before it grows (the rows summed per
    /// distinct row; not into the dense part, which would make the order of the sums
    /// depend on when this happens), and after a compaction it grows to hold the rows up to
    /// the next one. Accumulated gradients then stay within about twice the rows they
    /// touch (and the merge's slots, two to four `u32`s per entry), and the merging costs
    /// O(1) amortised per lookup. A training loop that steps every pass never compacts:
    /// its rows are merged once, by the optimizer.
    #[cold]
    #[inline(never)]
    fn make_room(&mut self, rows: usize) {
        let cols = self.shape.1;
        let compact = self.rows.len() >= self.compact_at;
        if compact {
            if !self.coalesced {
                self.merge_duplicates();
            }
            self.compact_at = (2 * self.rows.len()).max(COMPACT_FROM);
        }
        let needed = (self.rows.len() + rows) * cols;
        // After compacting, make room up to the next compaction, so that the rows in
        // between do not grow the buffer one lookup at a time; otherwise grow to just what
        // is needed (`resize` zero-fills what it adds, and `Vec` doubles its capacity
        // anyway).
        let len = if compact {
            needed.max(self.compact_at * cols)
        } else {
            needed
        };
        if self.values.len() < len {
            self.values.resize(len, 0.0);
        }
    }

    /// Adds the sparse rows into the dense part, each distinct row's sum at once, and
    /// forgets them.
    #[inline(always)]
    fn fold_rows_into_dense(&mut self) {
        if self.rows.is_empty() {
            return;
        }
        self.coalesce();
        let cols = self.shape.1;
        for (i, &row) in self.rows.iter().enumerate() {
            crate::kernels::add_assign(
                &mut self.dense[row * cols..(row + 1) * cols],
                &self.values[i * cols..(i + 1) * cols],
            );
        }
        self.rows.clear();
        self.coalesced = true;
    }

    /// Whether nothing was accumulated since the last clear.
    pub(crate) fn is_empty(&self) -> bool {
        !self.dense_used && self.rows.is_empty()
    }

    /// Whether the gradient is purely row-sparse (no dense contribution).
    #[cfg(test)]
    pub(crate) fn is_sparse(&self) -> bool {
        !self.dense_used
    }

    /// Sums duplicate sparse rows (see [`merge_duplicates`](Self::merge_duplicates)), without
    /// allocating in steady state.
    #[inline(always)]
    fn coalesce(&mut self) {
        if !self.coalesced {
            self.merge_duplicates();
        }
    }

    /// Sums each row's entries into one, in the order the entries were recorded; the
    /// distinct rows keep the order of their first entries. Each entry is numbered by its
    /// row through a small open-addressing table (two to four times as many slots as
    /// entries; or a slot per table row, when the table has no more rows than that), so a
    /// merge costs O(entries), not a sort.
    ///
    /// The merge runs in place: the `d`-th distinct row goes to position `d` of `rows`
    /// and `values`, and an entry's number is never more than its position, so every
    /// entry is read before anything is written over it. The only scratch is the slots.
    #[inline(never)]
    fn merge_duplicates(&mut self) {
        let cols = self.shape.1;
        let n = self.rows.len();
        self.compact_at = (2 * n).max(COMPACT_FROM);
        // A few rows (one small lookup): comparing them pairwise is cheaper than hashing.
        let rows = &self.rows;
        if n <= 8 && (1..n).all(|i| !rows[..i].contains(&rows[i])) {
            self.coalesced = true;
            return;
        }
        // Row numbers are `u32`s below `EMPTY_SLOT`.
        debug_assert!(n < EMPTY_SLOT as usize, "{n} gradient rows to merge");
        let bits = (2 * n).next_power_of_two().trailing_zeros();
        let table_rows = self.shape.0;
        // A table no larger than the hash table would be (many lookups of a small table,
        // such as a full batch of ids): a slot per table row, found without hashing.
        let direct = table_rows <= 1 << bits;
        let ParamGradient {
            rows,
            values,
            slots,
            ..
        } = self;
        slots.clear();
        slots.resize(if direct { table_rows } else { 1 << bits }, EMPTY_SLOT);
        let mut distinct = 0;
        for e in 0..n {
            let row = rows[e];
            let d = if direct {
                let slot = &mut slots[row];
                if *slot == EMPTY_SLOT {
                    *slot = distinct as u32;
                }
                *slot as usize
            } else {
                number_row(row, bits, slots, &rows[..distinct], distinct as u32) as usize
            };
            if d == distinct {
                // A new row: moved down to its place (where it already is while no row
                // has repeated).
                distinct += 1;
                if d != e {
                    rows[d] = row;
                    values.copy_within(e * cols..(e + 1) * cols, d * cols);
                }
            } else if cols == 1 {
                // (No loop set-up for a row of one: a table of biases.)
                values[d] += values[e];
            } else {
                let (merged, entry) = values.split_at_mut(e * cols);
                add_row(&mut merged[d * cols..(d + 1) * cols], &entry[..cols]);
            }
        }
        rows.truncate(distinct);
        self.coalesced = true;
    }

    /// Calls `f(offset, gradient)` for every stretch of elements that has a gradient:
    /// the whole matrix once when any dense contribution exists (with the sparse rows
    /// added in), otherwise each distinct touched row once (duplicates summed).
    ///
    /// Inlined into the optimizers' update, which runs compiled for AVX2 when the CPU has
    /// it (see `optim::update_all`), so that `f`'s loops run 8 lanes wide.
    #[inline(always)]
    pub(crate) fn for_each_touched(&mut self, mut f: impl FnMut(usize, &[f32])) {
        let cols = self.shape.1;
        if self.dense_used {
            self.fold_rows_into_dense();
            f(0, &self.dense);
        } else {
            self.coalesce();
            // One row (a batch of one): no loop set-up.
            if let [row] = self.rows[..] {
                f(row * cols, &self.values[..cols]);
                return;
            }
            for (i, &row) in self.rows.iter().enumerate() {
                f(row * cols, &self.values[i * cols..(i + 1) * cols]);
            }
        }
    }

    /// The sum of the squares of the gradient's elements, each element once (repeated
    /// rows are summed first).
    pub(crate) fn squared_norm(&mut self) -> f64 {
        let squares = |xs: &[f32]| xs.iter().map(|&x| f64::from(x) * f64::from(x)).sum();
        if self.dense_used {
            self.fold_rows_into_dense();
            squares(&self.dense)
        } else {
            self.coalesce();
            squares(&self.values[..self.rows.len() * self.shape.1])
        }
    }

    /// Multiplies the gradient by `factor`, after summing repeated rows: scaling each
    /// entry before summing would round differently depending on when compactions had
    /// merged some of them.
    pub(crate) fn scale(&mut self, factor: f64) {
        self.coalesce();
        let sparse = self.rows.len() * self.shape.1;
        // Each product in `f64`, rounded once: a factor rounded to `f32` first is
        // subnormal, or 0, for ratios below 1.2e-38 (gradients of 3e38 clipped to 1e-7).
        let scale = |v: &mut f32| *v = (f64::from(*v) * factor) as f32;
        self.values[..sparse].iter_mut().for_each(scale);
        if self.dense_used {
            self.dense.iter_mut().for_each(scale);
        }
    }

    /// The total gradient as a dense matrix: the dense part plus each row's sum of sparse
    /// entries, added up as [`for_each_touched`](Self::for_each_touched) does.
    pub(crate) fn to_dense(&self) -> Array2<f32> {
        let cols = self.shape.1;
        let mut out = Array2::zeros(self.shape);
        let slice = out.as_slice_mut().expect("standard layout");
        for (i, &row) in self.rows.iter().enumerate() {
            crate::kernels::add_assign(
                &mut slice[row * cols..(row + 1) * cols],
                &self.values[i * cols..(i + 1) * cols],
            );
        }
        if self.dense_used {
            for (out, &dense) in slice.iter_mut().zip(&self.dense) {
                *out += dense;
            }
        }
        out
    }

    /// Forgets the gradient: O(1) for the dense part, O(touched rows) for the sparse part.
    pub(crate) fn clear(&mut self) {
        self.dense_used = false;
        self.rows.clear();
        self.coalesced = true;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Gradients accumulated over several passes are bit-identical whatever the
    /// parameter's history. Compactions happen where the buffer sizes left by earlier
    /// passes put them, and used to change the order of the sums: a resumed run's
    /// gradients differed in the last bit from an uninterrupted one's.
    #[test]
    fn accumulated_sums_do_not_depend_on_history() {
        use rand::{Rng, SeedableRng};
        let (rows, cols) = (50, 4);
        let mut rng = rand::rngs::StdRng::seed_from_u64(3);
        let passes: Vec<(Vec<usize>, Vec<f32>)> = (0..6)
            .map(|_| {
                let ids = (0..64).map(|_| rng.gen_range(0..rows)).collect();
                let g = (0..64 * cols).map(|_| rng.gen_range(-1.0..1.0)).collect();
                (ids, g)
            })
            .collect();
        let dense: Vec<f32> = (0..rows * cols).map(|_| rng.gen_range(-1.0..1.0)).collect();
        let bits = |xs: &[f32]| xs.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
        for mixed in [false, true] {
            let run = |g: &mut ParamGradient| {
                for (k, (ids, grad)) in passes.iter().enumerate() {
                    g.add_rows(ids, grad);
                    if mixed && k % 2 == 1 {
                        g.add_dense(&dense);
                    }
                }
                let whole = bits(g.to_dense().as_slice().unwrap());
                let each: Vec<(usize, Vec<u32>)> = touched(g)
                    .into_iter()
                    .map(|(at, v)| (at, bits(&v)))
                    .collect();
                (whole, each)
            };
            let mut fresh = ParamGradient::new((rows, cols));
            // A history: a long accumulation merged by a step, then cleared.
            let mut used = ParamGradient::new((rows, cols));
            let ids: Vec<usize> = (0..rows).cycle().take(500).collect();
            used.add_rows(&ids, &vec![0.5; 500 * cols]);
            touched(&mut used);
            used.clear();
            assert_eq!(run(&mut fresh), run(&mut used), "mixed: {mixed}");
        }
    }

    /// A merge of many entries sums each row's entries in the order recorded, whatever
    /// the rows' numbers: rows far apart, rows that hash to the same slot of the merge's
    /// table, rows repeated many times, and small tables numbered without hashing.
    #[test]
    fn merging_sums_each_row_in_order() {
        use rand::{Rng, SeedableRng};
        let mut rng = rand::rngs::StdRng::seed_from_u64(5);
        let cols = 3;
        // The last two tables are small enough for a slot per table row.
        let cases = [
            (1 << 22, 40, 700_usize),
            (100, 100, 9),
            (1 << 22, 3, 50),
            (50, 30, 400),
            (1000, 600, 600),
        ];
        for (table, distinct, n) in cases {
            // Half the rows spread over the table, half hashing to the merge table's first
            // slot, so that they probe past each other.
            let bits = (2 * n).next_power_of_two().trailing_zeros();
            let mut colliding = (0..table)
                .filter(|&r| (r as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15) >> (64 - bits) == 0);
            let pool: Vec<usize> = (0..distinct)
                .map(|k| match k % 2 {
                    0 => rng.gen_range(0..table),
                    // (A small table has few such rows.)
                    _ => colliding.next().unwrap_or_else(|| rng.gen_range(0..table)),
                })
                .collect();
            let ids: Vec<usize> = (0..n).map(|_| pool[rng.gen_range(0..distinct)]).collect();
            let grad: Vec<f32> = (0..n * cols).map(|_| rng.gen_range(-1.0..1.0)).collect();
            let mut g = ParamGradient::new((table, cols));
            g.add_rows(&ids, &grad);
            // Each distinct row once, in order of first appearance, with its entries'
            // sum taken in order.
            let mut want: Vec<(usize, Vec<f32>)> = Vec::new();
            for (e, &row) in ids.iter().enumerate() {
                let src = &grad[e * cols..(e + 1) * cols];
                match want.iter_mut().find(|(at, _)| *at == row * cols) {
                    Some((_, sum)) => sum.iter_mut().zip(src).for_each(|(s, x)| *s += x),
                    None => want.push((row * cols, src.to_vec())),
                }
            }
            assert_eq!(touched(&mut g), want, "table {table}, {n} entries");
        }
    }

    /// A step over rows that repeat (a minibatch of lookups) neither grows nor zero-fills
    /// the gradient's buffers once the first steps have sized them: merging used to leave
    /// a buffer just long enough for the merged rows, so every step refilled it.
    #[test]
    fn steady_steps_keep_their_buffers() {
        let mut g = ParamGradient::new((1000, 8));
        let ids: Vec<usize> = (0..600).map(|k| (k * 7) % 250).collect();
        let grad = vec![0.25; 600 * 8];
        let mut lengths = Vec::new();
        for step in 0..4 {
            // From the second step on, the step's rows fit without growing the buffer.
            if step > 0 {
                assert!(g.values.len() >= 600 * 8, "step {step}: {}", g.values.len());
            }
            g.add_rows(&ids, &grad);
            assert_eq!(touched(&mut g).len(), 250);
            g.clear();
            lengths.push((g.values.len(), g.slots.len()));
        }
        assert_eq!(lengths[1..], [lengths[1]; 3], "{lengths:?}");
    }

    /// What an optimizer would be handed: `(offset, gradient)` per stretch, in order.
    fn touched(g: &mut ParamGradient) -> Vec<(usize, Vec<f32>)> {
        let mut seen = Vec::new();
        g.for_each_touched(|offset, grad| seen.push((offset, grad.to_vec())));
        seen
    }

    #[test]
    fn distinct_rows_are_used_in_place() {
        let mut g = ParamGradient::new((6, 2));
        g.add_rows(&[4, 1], &[1.0, 2.0, 3.0, 4.0]);
        g.add_rows(&[5], &[5.0, 6.0]);
        // Each row once, in the order added.
        let first = vec![
            (8, vec![1.0, 2.0]),
            (2, vec![3.0, 4.0]),
            (10, vec![5.0, 6.0]),
        ];
        assert_eq!(touched(&mut g), first);
        // A duplicate added later is still merged with the row already there, which keeps
        // its place.
        g.add_rows(&[1], &[10.0, 10.0]);
        let merged = vec![
            (8, vec![1.0, 2.0]),
            (2, vec![13.0, 14.0]),
            (10, vec![5.0, 6.0]),
        ];
        assert_eq!(touched(&mut g), merged);
    }

    #[test]
    fn accumulating_without_a_step_stays_within_the_rows_touched() {
        // Many passes over 10 rows of a large table, gradients accumulated.
        let (rows, cols) = (100_000, 4);
        let mut g = ParamGradient::new((rows, cols));
        let mut want = vec![0.0; rows * cols];
        for i in 0..100_000 {
            let row = (i * 7) % 10;
            let value = (i % 13) as f32;
            g.add_rows(&[row], &[value; 4]);
            want[row * cols..(row + 1) * cols]
                .iter_mut()
                .for_each(|w| *w += value);
        }
        let bound = 2 * 2 * COMPACT_FROM * cols;
        assert!(
            g.values.len() <= bound && g.slots.len() <= bound,
            "{} floats and {} slots kept for 10 rows",
            g.values.len(),
            g.slots.len()
        );
        assert_eq!(g.to_dense().as_slice().unwrap(), &want[..]);
        assert_eq!(touched(&mut g).len(), 10);
        // With a dense part, the rows are added into it.
        g.add_dense(&vec![1.0; rows * cols]);
        for i in 0..100_000 {
            g.add_rows(&[i % 100], &[1.0; 4]);
        }
        assert!(g.values.len() <= bound, "{} floats", g.values.len());
        let dense = g.to_dense();
        assert_eq!(dense[(0, 0)], want[0] + 1.0 + 1000.0);
        assert_eq!(dense[(99, 3)], 1.0 + 1000.0);
        assert_eq!(dense[(100, 0)], 1.0);
    }

    #[test]
    fn repeated_rows_sum_and_dense_adds() {
        let mut g = ParamGradient::new((4, 2));
        g.add_rows(&[2, 0, 2], &[1.0, 1.0, 5.0, 5.0, 2.0, 3.0]);
        assert_eq!(
            touched(&mut g),
            vec![(4, vec![3.0, 4.0]), (0, vec![5.0, 5.0])]
        );
        g.add_dense(&[1.0; 8]);
        let dense = g.to_dense();
        assert_eq!(dense.row(2).to_vec(), vec![4.0, 5.0]);
        assert_eq!(dense.row(1).to_vec(), vec![1.0, 1.0]);
        assert!(!g.is_sparse());
        g.clear();
        assert!(g.is_empty());
        g.add_dense(&[2.0; 8]);
        assert_eq!(
            g.to_dense()[(3, 1)],
            2.0,
            "first dense add after clear overwrites"
        );
    }
}
