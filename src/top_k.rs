//! The `k` largest values' positions, for serving: the top items of a recommender's
//! scores, the likeliest classes of a classifier; and one position's rank in that order,
//! for evaluation (MRR, Hits@k). Not operations of the graph (they have no gradient);
//! they read a value after a forward pass.

use crate::nodes::max::beats;
use crate::{Node, Variable};

/// The positions of the `k` largest of `values` into `out` (cleared first), largest first,
/// leaving out each position `i` for which `skip(i)` is true (the items a user has seen
/// already). Fewer than `k` when fewer values are left. Ties go to the lower position and
/// a NaN counts as larger than any number, as for
/// [`argmax_rows`](crate::Variable::argmax_rows).
///
/// One pass over `values`, keeping the best `k` so far and passing over blocks of values
/// that cannot enter: the top 10 of 20,000 scores took 8 µs on a 2-core machine, against
/// 140–220 µs for a `select_nth_unstable_by` over the positions (a new user's, which cost
/// two to three times the scoring itself). `skip` is asked only about positions that
/// would enter the best `k`, so an exclusion list can be slow to search. `out` keeps its
/// capacity, so a serving loop allocates nothing once it has grown.
///
/// ```
/// use wyrm::*;
///
/// let scores = [0.1, 0.9, 0.4, 0.9, 0.7, 0.2];
/// let mut top = Vec::new();
/// top_k(&scores, 3, |_| false, &mut top);
/// assert_eq!(top, vec![1, 3, 4]); // 0.9 at 1 before the tie at 3
/// // Leaving out positions the user has seen (a sorted list, searched only for the few
/// // that would enter the top 3).
/// let seen = [3, 4];
/// top_k(&scores, 3, |i| seen.binary_search(&i).is_ok(), &mut top);
/// assert_eq!(top, vec![1, 2, 5]);
/// ```
///
/// Over a score row of a graph, through [`with_value`](crate::Variable::with_value):
///
/// ```
/// use wyrm::*;
///
/// let user = ParameterNode::new(ndarray::arr2(&[[1.0, 0.0]]));
/// let items = ParameterNode::new(ndarray::arr2(&[[0.2, 1.0], [0.9, 0.0], [0.5, 0.5], [1.5, 2.0]]));
/// let scores = user.dot_t(&items); // 1 x 4
/// scores.forward();
/// let seen = [3];
/// let mut top = Vec::with_capacity(2);
/// scores.with_value(|v| {
///     let row = v.row(0);
///     top_k(row.as_slice().unwrap(), 2, |i| seen.contains(&i), &mut top)
/// });
/// assert_eq!(top, vec![1, 2]);
/// ```
pub fn top_k(values: &[f32], k: usize, skip: impl FnMut(usize) -> bool, out: &mut Vec<usize>) {
    out.clear();
    append_top_k(values, k, skip, out);
}

/// [`top_k`] appended to `out`, the best so far kept sorted in its tail.
fn append_top_k(
    values: &[f32],
    k: usize,
    mut skip: impl FnMut(usize) -> bool,
    out: &mut Vec<usize>,
) {
    if k == 0 {
        return;
    }
    let start = out.len();
    let mut i = 0;
    while i < values.len() {
        if out.len() - start == k {
            // Full: only a value beating the k-th best enters (a tie keeps the earlier
            // one). Blocks where none does are passed over a block at a time, in a loop
            // the compiler vectorises: nearly all of them, once the best are found.
            let threshold = values[out[start + k - 1]];
            if threshold.is_nan() {
                return; // k NaNs: nothing beats them.
            }
            let beaten = |block: &[f32]| {
                block
                    .iter()
                    .fold(false, |any, &x| any | (x > threshold) | x.is_nan())
            };
            while let Some(block) = values.get(i..i + BLOCK) {
                if beaten(block) {
                    break;
                }
                i += BLOCK;
            }
            if i == values.len() || !beats(values[i], threshold) || skip(i) {
                i += 1;
                continue;
            }
            out.pop();
        } else if skip(i) {
            i += 1;
            continue;
        }
        // After every kept value it does not beat: equal ones stay ahead.
        let x = values[i];
        let at = out[start..].partition_point(|&j| !beats(x, values[j]));
        out.insert(start + at, i);
        i += 1;
    }
}

/// How many values [`append_top_k`] passes over at a time once it has `k`.
const BLOCK: usize = 16;

/// The rank of `values[target]` (1 for the largest): one more than the number of
/// positions that [`top_k`] puts before it, leaving out each position `i` other than
/// `target` for which `skip(i)` is true (the other known answers, for the "filtered"
/// rank of knowledge-graph and recommender evaluation). So `rank_of(..) <= k` exactly
/// when `top_k` with `k` and `|i| i != target && skip(i)` lists `target`: Hits@k and the
/// top `k` served agree. Ties go to the lower position and a NaN counts as larger than any
/// number, as there; so a model that scores everything alike earns no rank 1 for it
/// (counting only strictly larger values would give every target rank 1).
///
/// One pass; `skip` is asked only about positions that would come before `target`.
///
/// ```
/// use wyrm::*;
///
/// let scores = [0.3, 0.9, 0.5, 0.5, 0.1];
/// assert_eq!(rank_of(&scores, 3, |_| false), 3); // after 0.9, and 0.5 at position 2
/// // Filtered: position 1 is another right answer, so it does not count against 3.
/// assert_eq!(rank_of(&scores, 3, |i| i == 1), 2);
/// // Mean reciprocal rank and Hits@2 over three queries' targets.
/// let ranks = [3, 1, 2].map(|target| rank_of(&scores, target, |_| false));
/// let mrr = ranks.iter().map(|&r| 1.0 / r as f32).sum::<f32>() / 3.0;
/// let hits_at_2 = ranks.iter().filter(|&&r| r <= 2).count();
/// assert_eq!((ranks, hits_at_2), ([3, 1, 2], 2));
/// assert!((mrr - (1.0 / 3.0 + 1.0 + 0.5) / 3.0).abs() < 1e-6);
/// ```
///
/// # Panics
/// If `target` is not a position of `values`, naming both.
#[track_caller]
pub fn rank_of(values: &[f32], target: usize, mut skip: impl FnMut(usize) -> bool) -> usize {
    assert!(
        target < values.len(),
        "rank_of: target position {target} is out of range for {} values",
        values.len()
    );
    let t = values[target];
    // Before the target: beating it, or tying it (neither beats the other) earlier on.
    let ahead = |i: usize, x: f32| beats(x, t) || (i < target && !beats(t, x));
    let mut rank = 1;
    for (i, &x) in values.iter().enumerate() {
        if ahead(i, x) && !skip(i) {
            rank += 1;
        }
    }
    rank
}

impl<T: Node> Variable<T> {
    /// The columns of each row's `k` largest values in the latest forward pass's value,
    /// largest first (all the columns, ordered, when a row has fewer than `k`): a
    /// classifier's likeliest classes, or a recommender's top items for each of a batch
    /// of users. Ties and NaN as for [`top_k`](crate::top_k);
    /// [`top_k_rows_skipping`](Self::top_k_rows_skipping) leaves out positions (items
    /// seen already). Allocates the result;
    /// [`top_k_rows_into`](Self::top_k_rows_into) reuses a buffer.
    ///
    /// ```
    /// use wyrm::*;
    /// let logits = InputNode::new(ndarray::arr2(&[[0.1, 2.0, -1.0, 0.5], [3.0, 3.0, 0.0, 4.0]]));
    /// let probabilities = logits.softmax();
    /// probabilities.forward();
    /// assert_eq!(probabilities.top_k_rows(2), vec![vec![1, 3], vec![3, 0]]);
    /// ```
    pub fn top_k_rows(&self, k: usize) -> Vec<Vec<usize>> {
        self.top_k_rows_skipping(k, |_, _| false)
    }

    /// [`top_k_rows`](Self::top_k_rows) leaving out each column `col` of row `row` for
    /// which `skip(row, col)` is true, so a row may have fewer than `k`: the items each
    /// user of a batch has seen, or each query itself among its nearest neighbours.
    /// `skip` is asked only about columns that would enter their row's best `k`, as for
    /// [`top_k`](crate::top_k).
    ///
    /// ```
    /// use wyrm::*;
    /// // Cosine similarities of three unit vectors with each other: every row's best
    /// // match is itself, so the nearest neighbour leaves the diagonal out.
    /// let unit = InputNode::new(ndarray::arr2(&[[1.0, 0.0], [0.6, 0.8], [0.0, 1.0]]));
    /// let similarities = unit.dot_t(&unit);
    /// similarities.forward();
    /// let nearest = similarities.top_k_rows_skipping(1, |row, col| row == col);
    /// assert_eq!(nearest, vec![vec![1], vec![2], vec![1]]);
    /// ```
    pub fn top_k_rows_skipping(
        &self,
        k: usize,
        mut skip: impl FnMut(usize, usize) -> bool,
    ) -> Vec<Vec<usize>> {
        let mut top = Vec::new();
        self.with_value(|v| {
            v.rows()
                .into_iter()
                .enumerate()
                .map(|(r, values)| {
                    let values = values.to_slice().expect("a node's value is row-major");
                    top_k(values, k, |c| skip(r, c), &mut top);
                    top.clone()
                })
                .collect()
        })
    }

    /// Each row's [`rank_of`](crate::rank_of) its target column `targets[row]` in the
    /// latest forward pass's value, leaving out each column `col` other than the target
    /// for which `skip(row, col)` is true: the ranks of a batch of test queries' right
    /// answers, for MRR and Hits@k. `skip` is asked only about columns that would come
    /// before the target.
    ///
    /// ```
    /// use wyrm::*;
    /// // Two queries scored against four candidates; the right answers are 2 and 0.
    /// let scores = InputNode::new(ndarray::arr2(&[[0.1, 0.7, 0.5, 0.9], [0.4, 0.2, 0.6, 0.1]]));
    /// assert_eq!(scores.rank_rows(&[2, 0], |_, _| false), vec![3, 2]);
    /// // Filtered: candidate 3 is also a right answer to query 0.
    /// assert_eq!(scores.rank_rows(&[2, 0], |row, col| row == 0 && col == 3), vec![2, 2]);
    /// ```
    ///
    /// # Panics
    /// If `targets` does not hold one column per row, or names a column out of range,
    /// naming the numbers.
    #[track_caller]
    pub fn rank_rows(
        &self,
        targets: &[usize],
        mut skip: impl FnMut(usize, usize) -> bool,
    ) -> Vec<usize> {
        let (rows, cols) = self.shape();
        assert!(
            targets.len() == rows,
            "rank_rows: got {} targets for a value of {rows} rows; each row needs one",
            targets.len()
        );
        if let Some((row, &col)) = targets.iter().enumerate().find(|(_, &c)| c >= cols) {
            panic!("rank_rows: row {row}'s target column {col} is out of range for {cols} columns");
        }
        self.with_value(|v| {
            (v.rows().into_iter().zip(targets).enumerate())
                .map(|(r, (values, &target))| {
                    let values = values.to_slice().expect("a node's value is row-major");
                    rank_of(values, target, |c| skip(r, c))
                })
                .collect()
        })
    }

    /// [`top_k_rows`](Self::top_k_rows) into one buffer (cleared first), row after row:
    /// row `r`'s columns are `out[r * n..(r + 1) * n]` with `n` the smaller of `k` and the
    /// number of columns. A serving loop allocates nothing once `out` has grown.
    ///
    /// ```
    /// use wyrm::*;
    /// let scores = InputNode::new(ndarray::arr2(&[[0.5, 0.25, 0.75], [1.0, 3.0, 2.0]]));
    /// let mut top = Vec::with_capacity(4);
    /// scores.top_k_rows_into(2, &mut top);
    /// assert_eq!(top, vec![2, 0, 1, 2]);
    /// ```
    pub fn top_k_rows_into(&self, k: usize, out: &mut Vec<usize>) {
        out.clear();
        self.with_value(|v| {
            let values = v.as_slice().expect("a node's value is row-major");
            for row in values.chunks_exact(v.ncols().max(1)) {
                append_top_k(row, k, |_| false, out);
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::{rank_of, top_k};
    use crate::*;
    use rand::{Rng, SeedableRng};

    /// The positions by a full stable sort: largest first, NaN first, ties in order.
    fn by_sorting(values: &[f32], k: usize, skip: &[usize]) -> Vec<usize> {
        let mut order: Vec<usize> = (0..values.len()).filter(|i| !skip.contains(i)).collect();
        order.sort_by(|&a, &b| {
            let (x, y) = (values[a], values[b]);
            match (x.is_nan(), y.is_nan()) {
                (true, true) => std::cmp::Ordering::Equal,
                (true, false) => std::cmp::Ordering::Less,
                (false, true) => std::cmp::Ordering::Greater,
                (false, false) => y.partial_cmp(&x).expect("numbers"),
            }
        });
        order.truncate(k);
        order
    }

    /// `len` values of few distinct numbers, so ties are common; now and then a NaN or
    /// `-inf`.
    fn tied_values(rng: &mut impl Rng, len: usize) -> Vec<f32> {
        (0..len)
            .map(|_| match rng.gen_range(0..20) {
                0 => f32::NAN,
                1 => f32::NEG_INFINITY,
                v => (v % 7) as f32 - 3.0,
            })
            .collect()
    }

    #[test]
    fn matches_a_full_sort_with_ties_nan_and_exclusions() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(11);
        let mut out = Vec::new();
        for len in [0, 1, 2, 5, 40, 300, 2000] {
            for k in [0, 1, 3, 10, 500] {
                let values = tied_values(&mut rng, len);
                let skip: Vec<usize> = (0..len).filter(|_| rng.gen_bool(0.2)).collect();
                top_k(&values, k, |i| skip.contains(&i), &mut out);
                assert_eq!(out, by_sorting(&values, k, &skip), "{values:?}, k {k}");
                top_k(&values, k, |_| false, &mut out);
                assert_eq!(out, by_sorting(&values, k, &[]), "{values:?}, k {k}");
            }
        }
    }

    #[test]
    fn skip_is_asked_only_about_entrants() {
        let values: Vec<f32> = (0..1000).map(|i| i as f32).collect();
        let mut asked = 0;
        let mut out = Vec::new();
        top_k(
            &values,
            5,
            |_| {
                asked += 1;
                false
            },
            &mut out,
        );
        // Increasing values: every one enters, so every one is asked about.
        assert_eq!(asked, 1000);
        let reversed: Vec<f32> = values.iter().rev().copied().collect();
        asked = 0;
        top_k(
            &reversed,
            5,
            |_| {
                asked += 1;
                false
            },
            &mut out,
        );
        assert_eq!(asked, 5);
        assert_eq!(out, vec![0, 1, 2, 3, 4]);
    }

    #[test]
    fn ranks_agree_with_top_k() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(12);
        let mut out = Vec::new();
        for len in [1, 2, 5, 40, 300] {
            let values = tied_values(&mut rng, len);
            let skip: Vec<usize> = (0..len).filter(|_| rng.gen_bool(0.2)).collect();
            for target in 0..len {
                let others = |i: usize| i != target && skip.contains(&i);
                let rank = rank_of(&values, target, |i| skip.contains(&i));
                let order = by_sorting(
                    &values,
                    len,
                    &(0..len).filter(|&i| others(i)).collect::<Vec<_>>(),
                );
                let at = order
                    .iter()
                    .position(|&i| i == target)
                    .expect("never skipped");
                assert_eq!(rank, at + 1, "{values:?}, target {target}, skip {skip:?}");
                for k in [1, 3, 10] {
                    top_k(&values, k, others, &mut out);
                    assert_eq!(rank <= k, out.contains(&target), "k {k}, {values:?}");
                }
            }
        }
        // The target's own skip is ignored; a skip is asked only about those ahead.
        let mut asked = Vec::new();
        let rank = rank_of(&[1.0, 5.0, 3.0, 4.0], 2, |i| {
            asked.push(i);
            true
        });
        assert_eq!((rank, asked), (1, vec![1, 3]));
    }

    #[test]
    fn ranks_of_rows() {
        let x = InputNode::new(random_matrix(3, 6));
        let value = x.value();
        let targets = [5, 0, 2];
        let skipped = |r: usize, c: usize| c == (r + 1) % 6;
        let ranks = x.rank_rows(&targets, skipped);
        for (r, row) in value.rows().into_iter().enumerate() {
            let row = row.to_slice().expect("row-major");
            assert_eq!(ranks[r], rank_of(row, targets[r], |c| skipped(r, c)));
        }
    }

    #[test]
    #[should_panic(expected = "rank_rows: got 2 targets for a value of 3 rows")]
    fn rank_rows_needs_a_target_per_row() {
        InputNode::new(random_matrix(3, 6)).rank_rows(&[0, 1], |_, _| false);
    }

    #[test]
    #[should_panic(expected = "rank_rows: row 1's target column 6 is out of range for 6 columns")]
    fn rank_rows_target_in_range() {
        InputNode::new(random_matrix(3, 6)).rank_rows(&[0, 6, 1], |_, _| false);
    }

    #[test]
    #[should_panic(expected = "rank_of: target position 4 is out of range for 4 values")]
    fn rank_of_target_in_range() {
        rank_of(&[0.0; 4], 4, |_| false);
    }

    #[test]
    fn rows_of_a_value() {
        let x = InputNode::new(random_matrix(4, 9));
        let mut flat = Vec::new();
        for k in [0, 1, 4, 9, 12] {
            let rows = x.top_k_rows(k);
            x.top_k_rows_into(k, &mut flat);
            let value = x.value();
            let expected: Vec<Vec<usize>> = value
                .rows()
                .into_iter()
                .map(|r| by_sorting(r.to_slice().expect("row-major"), k, &[]))
                .collect();
            assert_eq!(rows, expected, "k {k}");
            assert_eq!(flat, expected.concat(), "k {k}");
        }
        // Each row leaving out its own column and, in row 2, columns 5 and 7.
        let skipped = |r: usize| if r == 2 { vec![2, 5, 7] } else { vec![r] };
        for k in [1, 4, 9] {
            let rows = x.top_k_rows_skipping(k, |r, c| skipped(r).contains(&c));
            let value = x.value();
            let expected: Vec<Vec<usize>> = (value.rows().into_iter().enumerate())
                .map(|(r, row)| by_sorting(row.to_slice().expect("row-major"), k, &skipped(r)))
                .collect();
            assert_eq!(rows, expected, "k {k}");
        }
        let empty = InputNode::new(ndarray::Array2::zeros((3, 0)));
        assert_eq!(empty.top_k_rows(2), vec![Vec::<usize>::new(); 3]);
        empty.top_k_rows_into(2, &mut flat);
        assert!(flat.is_empty());
    }
}
