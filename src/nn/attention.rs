//! Scaled dot-product attention over groups of rows, as one node: a batch of sequences
//! (or of decoder steps, each against its own sequence's encoder states) attends in one
//! pass, where the graph of separate ops would need a product, a softmax and a product per
//! sequence, or slices and sums per key.

use crate::kernels::matmul::{gemm, Operand};
use crate::node::{Node, NodeState, Pass, Scratch};
use crate::nodes::index::{Binding, Bound};
use crate::nodes::{Boxed, IndexInputNode};
use crate::shape::{fmt_shape, Dyn};
use crate::Variable;
use std::cell::Ref;
use std::ops::Range;
use std::rc::Rc;

/// Scaled dot-product attention, batched in groups of rows: `queries` is
/// `(groups · m) x d`, `keys` `(groups · n) x d` and `values` `(groups · n) x e`, each
/// the rows of `groups` sequences one after the other; the result is `(groups · m) x e`.
/// Row `i` of group `g` is `Σⱼ aⱼ values[g·n + j]` over that group's `n` keys, with weights
/// `a = softmax(queries[g·m + i] · keys[g·n + j] / √d)`. With one group it is
/// `(queries.dot_t(keys) / √d).softmax().dot(values)`, in one node; with `groups` a batch
/// of sequences each attends only within itself. See [`causal_attention`] for a
/// sequence attending to its own past.
///
/// The node keeps the `groups · m · n` weights for the backward pass. Its operands are
/// boxed, so the node is compiled once, in Wyrm, whatever their types; the result is
/// boxed too. Scale the queries first for another temperature. A group's keys are all
/// attended to: for sequences of several lengths in one batch, pad them to one length
/// and use [`attention_padded`], or bucket them by length.
///
/// A decoder step over a batch of 2 source sequences of 3 encoder states each, 4 units:
///
/// ```
/// use wyrm::nn::attention;
/// use wyrm::prelude::*;
///
/// let decoder_state = ParameterNode::new(random_matrix(2, 4)); // one query per sequence
/// let encoder_states = InputNode::new(random_matrix(2 * 3, 4)); // sequence 0, then 1
/// let mut context = attention(&decoder_state, &encoder_states, &encoder_states, 2);
/// assert_eq!(context.shape(), (2, 4));
/// context.forward();
/// // Row 1 is a weighted mean of sequence 1's states (rows 3 to 5): within their range.
/// let states = encoder_states.value();
/// for j in 0..4 {
///     let column = (3..6).map(|r| states[(r, j)]);
///     let (low, high) = column.fold((f32::MAX, f32::MIN), |(l, h), v| (l.min(v), h.max(v)));
///     assert!(low - 1e-6 <= context.value()[(1, j)] && context.value()[(1, j)] <= high + 1e-6);
/// }
/// ```
///
/// # Panics
/// When the graph is built, naming the shapes: if `groups` is 0 or does not divide the
/// rows of `queries` and `keys`, if `queries` and `keys` differ in columns, if `keys` and
/// `values` differ in rows, or if a group has queries but no keys.
#[track_caller]
pub fn attention<Q, K, V>(
    queries: &Variable<Q>,
    keys: &Variable<K>,
    values: &Variable<V>,
    groups: usize,
) -> Variable<Boxed>
where
    Q: Node + 'static,
    K: Node + 'static,
    V: Node + 'static,
{
    build(
        [&queries.boxed(), &keys.boxed(), &values.boxed()],
        groups,
        false,
        None,
    )
}

/// [`attention`] over sequences padded to one length: group `g` has `n` key rows, of
/// which the first `lengths[g]` are real and the rest padding, given weight 0 (as a mask
/// of `-inf` scores would). `lengths` holds one length per group (its count is the number
/// of groups), each at most `n`, and may change between passes like any index input. A
/// group of length 0 attends to nothing: its output rows are 0. Padded query rows still
/// get an output; leave them out of the loss (a weight of 0 per row).
///
/// A batch of 2 encoded sentences padded to 4 tokens, of lengths 4 and 2, each summarised
/// by one learned query:
///
/// ```
/// use wyrm::nn::attention_padded;
/// use wyrm::prelude::*;
///
/// let tokens = InputNode::new(random_matrix(2 * 4, 3));
/// let query = ParameterNode::new(random_matrix(2, 3));
/// let lengths = IndexInputNode::new(&[4, 2]);
/// let mut summary = attention_padded(&query, &tokens, &tokens, &lengths);
/// summary.forward();
/// let first = summary.value();
/// // Padding does not matter: new values there leave the summaries as they were.
/// let mut padded = tokens.value();
/// padded.slice_mut(wyrm::ndarray::s![6..8, ..]).fill(0.5);
/// tokens.set_value(&padded);
/// summary.forward();
/// assert_eq!(summary.value(), first);
/// lengths.set_value(&[4, 4]); // a new batch, with other lengths
/// summary.forward();
/// assert_ne!(summary.value(), first);
/// ```
///
/// # Panics
/// As [`attention`] with `lengths.len()` groups (a length of 0 groups when `lengths` is
/// empty); if a length is more than `n`, here or at a later `set_value`, naming it.
#[track_caller]
pub fn attention_padded<Q, K, V>(
    queries: &Variable<Q>,
    keys: &Variable<K>,
    values: &Variable<V>,
    lengths: &Variable<IndexInputNode>,
) -> Variable<Boxed>
where
    Q: Node + 'static,
    K: Node + 'static,
    V: Node + 'static,
{
    build(
        [&queries.boxed(), &keys.boxed(), &values.boxed()],
        lengths.node().len(),
        false,
        Some(lengths.node()),
    )
}

/// [`attention`] in which each query sees only the keys up to its own position in its
/// group: row `i` of a group attends to that group's keys `0..=i`. A decoder-only
/// transformer's self-attention over a batch of `groups` sequences of `m` tokens, where
/// `queries`, `keys` and `values` are all `(groups · m)` rows (projections of the same
/// tokens): no token sees a later one. Sequences padded at the end need no lengths:
/// their real tokens never see the padding after them.
///
/// ```
/// use wyrm::nn::causal_attention;
/// use wyrm::prelude::*;
///
/// let tokens = InputNode::new(random_matrix(2 * 5, 8)); // 2 sequences of 5 tokens
/// let (wq, wk, wv) = (
///     ParameterNode::new(random_matrix(8, 4)),
///     ParameterNode::new(random_matrix(8, 4)),
///     ParameterNode::new(random_matrix(8, 4)),
/// );
/// let mut mixed = causal_attention(&tokens.dot(&wq), &tokens.dot(&wk), &tokens.dot(&wv), 2);
/// mixed.forward();
/// // The first token of each sequence sees only itself: its own value row.
/// let own = tokens.value().dot(&wv.value());
/// for (row, first) in [(0, 0), (5, 5)] {
///     for j in 0..4 {
///         assert!((mixed.value()[(row, j)] - own[(first, j)]).abs() < 1e-5);
///     }
/// }
/// ```
///
/// # Panics
/// As [`attention`], and if a group's query and key counts differ.
#[track_caller]
pub fn causal_attention<Q, K, V>(
    queries: &Variable<Q>,
    keys: &Variable<K>,
    values: &Variable<V>,
    groups: usize,
) -> Variable<Boxed>
where
    Q: Node + 'static,
    K: Node + 'static,
    V: Node + 'static,
{
    build(
        [&queries.boxed(), &keys.boxed(), &values.boxed()],
        groups,
        true,
        None,
    )
}

/// The sizes of one attention node.
#[derive(Clone, Copy)]
struct Sizes {
    groups: usize,
    /// Queries per group.
    m: usize,
    /// Keys per group.
    n: usize,
    /// Columns of queries and keys.
    d: usize,
    /// Columns of values.
    e: usize,
    causal: bool,
    /// `1 / √d`.
    scale: f32,
}

impl Sizes {
    /// The keys query `i` of a group of `length` real keys attends to: `0..keys`.
    #[inline]
    fn keys(&self, i: usize, length: usize) -> usize {
        if self.causal {
            (i + 1).min(length)
        } else {
            length
        }
    }
}

/// The attention node over boxed queries, keys and values.
struct Attention {
    operands: [Rc<Boxed>; 3],
    sizes: Sizes,
    state: NodeState,
    /// The weights, `n` per query row (those past a causal query's position stay 0).
    weights: Scratch,
    /// The gradients of the queries, keys and values.
    grads: [Scratch; 3],
    /// One group's gradient with respect to its weights, then to its scores (`m x n`).
    group_grad: Scratch,
    /// Each group's count of real keys (`attention_padded`); with the binding that
    /// makes `set_value` reject a length past the keys.
    lengths: Option<(Rc<IndexInputNode>, Binding)>,
    needs_gradient: bool,
    discards: bool,
}

#[track_caller]
fn build(
    operands: [&Variable<Boxed>; 3],
    groups: usize,
    causal: bool,
    lengths: Option<&Rc<IndexInputNode>>,
) -> Variable<Boxed> {
    let op = match (causal, lengths.is_some()) {
        (true, _) => "causal_attention",
        (false, true) => "attention_padded",
        (false, false) => "attention",
    };
    let [q, k, v] = operands.map(|o| o.shape());
    assert!(groups > 0, "`{op}` needs at least one group, got 0");
    assert!(
        q.0 % groups == 0 && k.0 % groups == 0,
        "shape mismatch in `{op}`: {groups} groups do not divide the rows of the queries \
         ({}) and the keys ({}); each group's rows must follow one another",
        fmt_shape(q),
        fmt_shape(k)
    );
    assert!(
        q.1 == k.1,
        "shape mismatch in `{op}`: the queries ({}) and the keys ({}) must have the same \
         number of columns",
        fmt_shape(q),
        fmt_shape(k)
    );
    assert!(
        k.0 == v.0,
        "shape mismatch in `{op}`: the keys ({}) and the values ({}) must have the same \
         number of rows, one value per key",
        fmt_shape(k),
        fmt_shape(v)
    );
    let (m, n) = (q.0 / groups, k.0 / groups);
    assert!(
        m == 0 || n > 0,
        "`{op}`: the queries ({}) have no keys to attend to (keys {})",
        fmt_shape(q),
        fmt_shape(k)
    );
    assert!(
        !causal || m == n,
        "shape mismatch in `{op}`: each of the {groups} groups has {m} queries but {n} keys; \
         causal attention needs one key per query (queries {}, keys {})",
        fmt_shape(q),
        fmt_shape(k)
    );
    let sizes = Sizes {
        groups,
        m,
        n,
        d: q.1,
        e: v.1,
        causal,
        scale: 1.0 / (q.1.max(1) as f32).sqrt(),
    };
    let lengths = lengths.map(|l| {
        (
            l.clone(),
            IndexInputNode::bind(l, n + 1, Bound::Lengths, op),
        )
    });
    let nodes = operands.map(|o| o.node().clone());
    let node = Attention {
        lengths,
        sizes,
        state: NodeState::new((q.0, v.1)),
        weights: Scratch::new(groups * m * n),
        grads: [q, k, v].map(|s| Scratch::new(s.0 * s.1)),
        group_grad: Scratch::new(m * n),
        needs_gradient: nodes.iter().any(|n| n.needs_gradient()),
        discards: crate::node::discards(
            &nodes
                .each_ref()
                .map(|n| (n.needs_gradient(), n.discards_gradient())),
        ),
        operands: nodes,
    };
    Variable::with_operands(node, &operands.map(crate::Operand::from)).boxed()
}

/// `row = softmax(row * scale)`, shifted by the largest score so that no exponential
/// overflows.
fn softmax_scaled(row: &mut [f32], scale: f32) {
    let largest = row.iter().fold(f32::NEG_INFINITY, |l, &x| l.max(x));
    let mut total = 0.0;
    for x in row.iter_mut() {
        *x = crate::kernels::exp((*x - largest) * scale);
        total += *x;
    }
    for x in row.iter_mut() {
        *x /= total;
    }
}

/// The elements of `rows` in a row-major buffer `cols` wide.
fn elements(rows: &Range<usize>, cols: usize) -> Range<usize> {
    rows.start * cols..rows.end * cols
}

/// `rows x cols` row-major `data`, used as is or transposed, for [`gemm`].
fn operand(data: &[f32], shape: (usize, usize), transposed: bool) -> Operand<'_> {
    Operand {
        data,
        shape,
        transposed,
    }
}

impl Attention {
    /// Sends the complete gradient `g` of this node's value on to the operands.
    fn propagate(&self, g: &[f32]) {
        let Sizes { m, n, d, e, .. } = self.sizes;
        let needs = self.operands.each_ref().map(|o| o.needs_gradient());
        {
            let [q, k, v] = self.operands.each_ref().map(|o| o.value());
            let weights = self.weights.borrow_mut();
            let mut ds = self.group_grad.borrow_mut();
            let [mut dq, mut dk, mut dv] = self.grads.each_ref().map(|b| b.borrow_mut());
            for group in 0..self.sizes.groups {
                let (queries, keys) = (group * m..(group + 1) * m, group * n..(group + 1) * n);
                let qs = elements(&queries, d);
                let ks = elements(&keys, d);
                let vs = elements(&keys, e);
                let gs = elements(&queries, e);
                let a = &weights[group * m * n..(group + 1) * m * n];
                let (g_group, v_group) = (&g[gs], &v[vs.clone()]);
                if needs[2] {
                    // dL/dV = Aᵀ G
                    gemm(
                        operand(a, (m, n), true),
                        operand(g_group, (m, e), false),
                        &mut dv[vs],
                        false,
                    );
                }
                if !(needs[0] || needs[1]) {
                    continue;
                }
                // dL/dA = G Vᵀ; through each row's softmax, dL/dS = A ∘ (dL/dA - Σ A ∘
                // dL/dA), scaled as the scores were. Weights past a causal query's
                // position are 0, and so are their scores' gradients.
                let ds = &mut ds[..m * n];
                gemm(
                    operand(g_group, (m, e), false),
                    operand(v_group, (n, e), true),
                    ds,
                    false,
                );
                for (ds, a) in ds.chunks_exact_mut(n).zip(a.chunks_exact(n)) {
                    let mean: f32 = ds.iter().zip(a).map(|(d, a)| d * a).sum();
                    for (ds, a) in ds.iter_mut().zip(a) {
                        *ds = a * (*ds - mean) * self.sizes.scale;
                    }
                }
                if needs[0] {
                    // dL/dQ = dS K
                    gemm(
                        operand(ds, (m, n), false),
                        operand(&k[ks.clone()], (n, d), false),
                        &mut dq[qs.clone()],
                        false,
                    );
                }
                if needs[1] {
                    // dL/dK = dSᵀ Q
                    gemm(
                        operand(ds, (m, n), true),
                        operand(&q[qs], (m, d), false),
                        &mut dk[ks],
                        false,
                    );
                }
            }
        }
        for ((operand, grad), needs) in self.operands.iter().zip(&self.grads).zip(needs) {
            if needs {
                operand.backward(&grad.borrow_mut());
            }
        }
    }
}

impl Node for Attention {
    type Rows = Dyn;
    type Cols = Dyn;

    fn shape(&self) -> (usize, usize) {
        self.state.shape()
    }

    fn forward(&self, pass: Pass) {
        if !self.state.visit(pass) {
            return;
        }
        for operand in &self.operands {
            operand.forward(pass);
        }
        let Sizes { m, n, d, e, .. } = self.sizes;
        let lengths = self.lengths.as_ref().map(|(l, _)| l.current());
        let [q, k, v] = self.operands.each_ref().map(|o| o.value());
        let mut weights = self.weights.borrow_mut();
        let mut out = self.state.value_mut();
        for group in 0..self.sizes.groups {
            let (queries, keys) = (group * m..(group + 1) * m, group * n..(group + 1) * n);
            let a = &mut weights[group * m * n..(group + 1) * m * n];
            // Scores Q Kᵀ, then each row's softmax over the keys it sees.
            gemm(
                operand(&q[elements(&queries, d)], (m, d), false),
                operand(&k[elements(&keys, d)], (n, d), true),
                a,
                false,
            );
            let length = lengths.as_ref().map_or(n, |l| l[group]);
            for (i, row) in a.chunks_exact_mut(n).enumerate() {
                let (seen, unseen) = row.split_at_mut(self.sizes.keys(i, length));
                unseen.fill(0.0);
                softmax_scaled(seen, self.sizes.scale);
            }
            // Out = A V
            gemm(
                operand(a, (m, n), false),
                operand(&v[elements(&keys, e)], (n, e), false),
                &mut out[elements(&queries, e)],
                false,
            );
        }
    }

    fn backward(&self, gradient: &[f32]) {
        if !self.needs_gradient {
            return;
        }
        if let Some(g) = self.state.gather(gradient) {
            self.propagate(&g);
        }
    }

    fn backward_nothing(&self) {
        if self.needs_gradient {
            self.state.gather_nothing(
                |g| self.propagate(g),
                || {
                    for operand in self.operands.iter().filter(|o| o.needs_gradient()) {
                        operand.backward_nothing();
                    }
                },
            );
        }
    }

    fn value(&self) -> Ref<'_, [f32]> {
        self.state.value()
    }

    fn begin_backward(&self) {
        self.state.begin_backward();
    }

    fn needs_gradient(&self) -> bool {
        self.needs_gradient
    }

    fn discards_gradient(&self) -> bool {
        self.discards
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gradcheck::{check_gradient, CheckOptions};
    use crate::init::seeded;
    use crate::{IndexInputNode, InputNode, ParameterNode};
    use ndarray::{s, Array2};

    /// The attention of one group, in `f64` over plain arrays.
    fn reference(q: &Array2<f32>, k: &Array2<f32>, v: &Array2<f32>, causal: bool) -> Array2<f64> {
        let (q, k, v) = (q.mapv(f64::from), k.mapv(f64::from), v.mapv(f64::from));
        let scale = 1.0 / (q.ncols().max(1) as f64).sqrt();
        let mut out = Array2::zeros((q.nrows(), v.ncols()));
        for i in 0..q.nrows() {
            let keys = if causal { i + 1 } else { k.nrows() };
            let scores: Vec<f64> = (0..keys).map(|j| q.row(i).dot(&k.row(j)) * scale).collect();
            let largest = scores.iter().cloned().fold(f64::MIN, f64::max);
            let exps: Vec<f64> = scores.iter().map(|s| (s - largest).exp()).collect();
            let total: f64 = exps.iter().sum();
            for (j, e) in exps.iter().enumerate() {
                let row = &v.row(j) * (e / total);
                let mut o = out.row_mut(i);
                o += &row;
            }
        }
        out
    }

    /// Each group of the node's output against the reference of that group alone.
    fn assert_matches_reference(groups: usize, m: usize, n: usize, d: usize, e: usize) {
        for causal in [false, true] {
            let n = if causal { m } else { n };
            let seed = (groups * 1000 + m * 100 + n * 10 + d) as u64;
            let (q, k, v) = (
                seeded(groups * m, d, 1.0, seed),
                seeded(groups * n, d, 1.0, seed + 1),
                seeded(groups * n, e, 1.0, seed + 2),
            );
            let (qn, kn, vn) = (
                InputNode::new(q.clone()),
                InputNode::new(k.clone()),
                InputNode::new(v.clone()),
            );
            let mut out = if causal {
                causal_attention(&qn, &kn, &vn, groups)
            } else {
                attention(&qn, &kn, &vn, groups)
            };
            out.forward();
            let out = out.value();
            for g in 0..groups {
                let want = reference(
                    &q.slice(s![g * m..(g + 1) * m, ..]).to_owned(),
                    &k.slice(s![g * n..(g + 1) * n, ..]).to_owned(),
                    &v.slice(s![g * n..(g + 1) * n, ..]).to_owned(),
                    causal,
                );
                let got = out.slice(s![g * m..(g + 1) * m, ..]);
                for (a, b) in got.iter().zip(want.iter()) {
                    assert!((*a as f64 - b).abs() < 1e-5, "{a} against {b}");
                }
            }
        }
    }

    #[test]
    fn matches_the_equations_per_group() {
        assert_matches_reference(1, 1, 1, 1, 1);
        assert_matches_reference(1, 4, 6, 3, 2);
        assert_matches_reference(3, 2, 5, 4, 3);
        assert_matches_reference(2, 5, 3, 8, 1);
    }

    #[test]
    fn padded_groups_attend_to_their_real_keys_only() {
        let (groups, m, n, d, e) = (3, 2, 4, 3, 2);
        let (q, k, v) = (
            seeded(groups * m, d, 1.0, 21),
            seeded(groups * n, d, 1.0, 22),
            seeded(groups * n, e, 1.0, 23),
        );
        let lengths = IndexInputNode::new(&[4, 1, 3]);
        let (qn, kn, vn) = (
            InputNode::new(q.clone()),
            InputNode::new(k.clone()),
            InputNode::new(v.clone()),
        );
        let mut out = attention_padded(&qn, &kn, &vn, &lengths);
        for lengths_now in [[4, 1, 3], [2, 4, 0]] {
            lengths.set_value(&lengths_now);
            out.forward();
            let out = out.value();
            for (g, &length) in lengths_now.iter().enumerate() {
                let got = out.slice(s![g * m..(g + 1) * m, ..]);
                if length == 0 {
                    assert!(got.iter().all(|&x| x == 0.0), "no keys: zeros, got {got}");
                    continue;
                }
                let want = reference(
                    &q.slice(s![g * m..(g + 1) * m, ..]).to_owned(),
                    &k.slice(s![g * n..g * n + length, ..]).to_owned(),
                    &v.slice(s![g * n..g * n + length, ..]).to_owned(),
                    false,
                );
                for (a, b) in got.iter().zip(want.iter()) {
                    assert!((*a as f64 - b).abs() < 1e-5, "{a} against {b}");
                }
            }
        }
    }

    #[test]
    fn padded_gradients() {
        let (groups, m, n, d, e) = (3, 2, 3, 2, 3);
        let q = ParameterNode::new(seeded(groups * m, d, 1.0, 31));
        let k = ParameterNode::new(seeded(groups * n, d, 1.0, 32));
        let v = ParameterNode::new(seeded(groups * n, e, 1.0, 33));
        let lengths = IndexInputNode::new(&[2, 3, 0]);
        let mut out = attention_padded(&q, &k, &v, &lengths);
        for (i, wrt) in [&q, &k, &v].into_iter().enumerate() {
            let options = CheckOptions {
                seed: 40 + i as u64,
                ..CheckOptions::default()
            };
            let report = check_gradient(&mut out, wrt, &options);
            assert!(report.passed(), "operand {i}: {report}");
        }
        // Padding gets no gradient: keys 2 of group 0, and all of group 2.
        out.forward();
        out.backward(1.0);
        let (dk, dv) = (k.gradient(), v.gradient());
        for row in [2, 6, 7, 8] {
            assert!(dk.row(row).iter().chain(dv.row(row)).all(|&g| g == 0.0));
        }
        assert!(dv.row(0).iter().any(|&g| g != 0.0));
    }

    #[test]
    #[should_panic(
        expected = "IndexInputNode::set_value: length 5 is more than the 4 keys per group"
    )]
    fn a_length_past_the_keys_is_refused() {
        let x = |r, c| InputNode::new(Array2::zeros((r, c)));
        let lengths = IndexInputNode::new(&[4, 4]);
        let _out = attention_padded(&x(2, 3), &x(8, 3), &x(8, 2), &lengths);
        lengths.set_value(&[1, 5]);
    }

    #[test]
    fn one_group_is_the_composition_of_ops() {
        let q = ParameterNode::new(seeded(3, 4, 1.0, 1));
        let k = ParameterNode::new(seeded(5, 4, 1.0, 2));
        let v = ParameterNode::new(seeded(5, 2, 1.0, 3));
        let mut fused = attention(&q, &k, &v, 1);
        let mut composed = (q.dot_t(&k) * 0.5).softmax().dot(&v);
        fused.forward();
        composed.forward();
        for (a, b) in fused.value().iter().zip(composed.value().iter()) {
            assert!((a - b).abs() < 1e-6);
        }
    }

    #[test]
    fn large_scores_do_not_overflow() {
        let q = InputNode::new(Array2::from_elem((1, 1), 100.0));
        let k = InputNode::new(ndarray::arr2(&[[100.0], [99.0]]));
        let v = InputNode::new(ndarray::arr2(&[[1.0], [-1.0]]));
        let mut out = attention(&q, &k, &v, 1);
        out.forward();
        // Weights softmax(10000, 9900): all on the first key.
        assert_eq!(out.value()[(0, 0)], 1.0);
    }

    /// Central differences for each operand, on shapes with several groups, and with the
    /// same node as keys and values (self-attention's usual form).
    #[test]
    fn gradients() {
        for (groups, m, n, d, e) in [
            (1, 1, 1, 1, 1),
            (1, 3, 4, 2, 3),
            (2, 3, 3, 4, 2),
            (3, 1, 4, 3, 3),
        ] {
            for causal in [false, true] {
                if causal && m != n {
                    continue;
                }
                let seed = (groups * 100 + m * 10 + n) as u64;
                let q = ParameterNode::new(seeded(groups * m, d, 1.0, seed));
                let k = ParameterNode::new(seeded(groups * n, d, 1.0, seed + 1));
                let v = ParameterNode::new(seeded(groups * n, e, 1.0, seed + 2));
                let build = |k: &Variable<ParameterNode>, v: &Variable<ParameterNode>| {
                    if causal {
                        causal_attention(&q, k, v, groups)
                    } else {
                        attention(&q, k, v, groups)
                    }
                };
                let mut out = build(&k, &v);
                for (i, wrt) in [&q, &k, &v].into_iter().enumerate() {
                    let options = CheckOptions {
                        seed: seed + i as u64,
                        ..CheckOptions::default()
                    };
                    let report = check_gradient(&mut out, wrt, &options);
                    assert!(report.passed(), "operand {i}, causal {causal}: {report}");
                }
                if d == e {
                    let mut shared = build(&k, &k);
                    let report = check_gradient(&mut shared, &k, &CheckOptions::default());
                    assert!(report.passed(), "keys as values, causal {causal}: {report}");
                }
            }
        }
    }

    fn panic_message(f: impl FnOnce()) -> String {
        let e = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)).unwrap_err();
        (e.downcast_ref::<String>().cloned()).unwrap_or_default()
    }

    #[test]
    fn shape_mismatches_name_the_shapes() {
        let x = |r, c| InputNode::new(Array2::zeros((r, c)));
        let message = panic_message(|| {
            attention(&x(4, 3), &x(6, 2), &x(6, 2), 2);
        });
        assert!(
            message.contains("4x3") && message.contains("6x2"),
            "{message}"
        );
        let message = panic_message(|| {
            attention(&x(4, 3), &x(6, 3), &x(5, 2), 2);
        });
        assert!(
            message.contains("6x3") && message.contains("5x2"),
            "{message}"
        );
        let message = panic_message(|| {
            attention(&x(4, 3), &x(6, 3), &x(6, 2), 4);
        });
        assert!(message.contains("4 groups do not divide"), "{message}");
        let message = panic_message(|| {
            causal_attention(&x(4, 3), &x(6, 3), &x(6, 2), 2);
        });
        assert!(message.contains("2 queries but 3 keys"), "{message}");
        let message = panic_message(|| {
            attention(&x(4, 3), &x(0, 3), &x(0, 2), 2);
        });
        assert!(message.contains("no keys"), "{message}");
        let message = panic_message(|| {
            attention_padded(&x(4, 3), &x(6, 3), &x(6, 2), &IndexInputNode::new(&[1, 4]));
        });
        assert!(
            message.contains("attention_padded") && message.contains("index 4 is out of range")
                || message.contains("length 4 is more than the 3 keys per group"),
            "{message}"
        );
    }
}
