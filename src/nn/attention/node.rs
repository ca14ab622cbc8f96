//! The attention node: per group and head, three matrix products over the group's rows
//! (only the real keys of a padded group) and a softmax per query row.

use crate::kernels::matmul::{gemm, Operand};
use crate::kernels::{add_assign, dot};
use crate::node::{Node, NodeState, Scratch};
use crate::nodes::index::{Binding, Bound};
use crate::nodes::{Boxed, IndexInputNode};
use crate::Variable;
use std::cell::RefCell;
use std::ops::Range;
use std::rc::Rc;

/// The sizes and options of one attention node.
#[derive(Clone, Copy, Debug)]
pub(super) struct Sizes {
    /// The form's name in messages.
    pub op: &'static str,
    pub groups: usize,
    /// Queries per group.
    pub m: usize,
    /// Keys per group (real and padding).
    pub n: usize,
    /// Columns of queries and keys.
    pub d: usize,
    /// Columns of values.
    pub e: usize,
    pub heads: usize,
    pub causal: bool,
    /// The same `m` query rows for every group.
    pub shared_queries: bool,
    /// `1 / √(d / heads)`.
    pub scale: f32,
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

    /// The query rows of group `g`.
    fn queries(&self, g: usize) -> Range<usize> {
        if self.shared_queries {
            0..self.m
        } else {
            g * self.m..(g + 1) * self.m
        }
    }

    /// The first `length` key (and value) rows of group `g`.
    fn keys_of(&self, g: usize, length: usize) -> Range<usize> {
        g * self.n..g * self.n + length
    }

    /// The columns of head `h` in a matrix `width` wide.
    fn head(&self, h: usize, width: usize) -> Range<usize> {
        let w = width / self.heads;
        h * w..(h + 1) * w
    }

    /// Where group `g`'s head `h` keeps its weights (`m x length`, row-major, at the
    /// start of an `m x n` block).
    fn weights(&self, g: usize, h: usize, length: usize) -> Range<usize> {
        let start = (g * self.heads + h) * self.m * self.n;
        start..start + self.m * length
    }
}

/// The attention node over boxed queries, keys and values.
struct AttentionNode {
    operands: [Rc<Boxed>; 3],
    sizes: Sizes,
    state: NodeState,
    /// The weights of each group and head.
    weights: Scratch,
    /// The lengths the latest forward pass used, one per group.
    used: RefCell<Vec<usize>>,
    /// The gradients of the queries, keys and values.
    grads: [Scratch; 3],
    /// One head's block of the queries, keys, values and of the output's gradient, copied
    /// out when there are several heads.
    blocks: [Scratch; 4],
    /// One product's result before it goes to its block of the output or a gradient.
    product: Scratch,
    /// One group and head's gradient with respect to its weights, then its scores.
    scores_grad: Scratch,
    /// Each group's count of real keys (padded attention); with the binding that makes
    /// `set_value` reject a length past the keys.
    lengths: Option<(Rc<IndexInputNode>, Binding)>,
    needs_gradient: bool,
    discards: bool,
}

/// Builds the node over `operands` (shapes checked into `sizes`), boxed.
#[track_caller]
pub(super) fn build(
    operands: [&Variable<Boxed>; 3],
    sizes: Sizes,
    lengths: Option<&Rc<IndexInputNode>>,
) -> Variable<Boxed> {
    let Sizes {
        groups,
        m,
        n,
        d,
        e,
        heads,
        ..
    } = sizes;
    let lengths = lengths.map(|l| {
        let binding = IndexInputNode::bind(l, n + 1, Bound::Lengths, sizes.op);
        (l.clone(), binding)
    });
    let nodes = operands.map(|o| o.node().clone());
    let (dh, eh) = (d / heads, e / heads);
    let node = AttentionNode {
        lengths,
        state: NodeState::new((groups * m, e)),
        weights: Scratch::new(groups * heads * m * n),
        used: RefCell::new(vec![n; groups]),
        grads: nodes.each_ref().map(|o| {
            let (rows, cols) = o.shape();
            Scratch::new(rows * cols)
        }),
        blocks: [m * dh, n * dh, n * eh, m * eh]
            .map(|len| Scratch::new(if heads > 1 { len } else { 0 })),
        product: Scratch::new(m.max(n) * dh.max(eh)),
        scores_grad: Scratch::new(m * n),
        needs_gradient: nodes.iter().any(|o| o.needs_gradient()),
        discards: crate::node::discards(
            &nodes
                .each_ref()
                .map(|o| (o.needs_gradient(), o.discards_gradient())),
        ),
        operands: nodes,
        sizes,
    };
    Variable::with_operands(node, &operands.map(crate::Operand::from)).boxed()
}

/// Rows `rows` and columns `cols` of the row-major `data`, `width` wide: the slice itself
/// when the columns are all of them, else a copy in `buffer`.
fn block<'b>(
    data: &'b [f32],
    width: usize,
    rows: Range<usize>,
    cols: Range<usize>,
    buffer: &'b mut [f32],
) -> &'b [f32] {
    if cols.len() == width {
        return &data[rows.start * width..rows.end * width];
    }
    let w = cols.len();
    let buffer = &mut buffer[..rows.len() * w];
    if w > 0 {
        for (r, out) in rows.zip(buffer.chunks_exact_mut(w)) {
            out.copy_from_slice(&data[r * width + cols.start..r * width + cols.end]);
        }
    }
    buffer
}

/// Adds the row-major `src` (`rows.len() x cols.len()`) to rows `rows` and columns `cols`
/// of `data`, `width` wide.
fn add_block(data: &mut [f32], width: usize, rows: Range<usize>, cols: Range<usize>, src: &[f32]) {
    let w = cols.len();
    if w == 0 {
        return;
    }
    for (r, src) in rows.zip(src.chunks_exact(w)) {
        add_assign(&mut data[r * width + cols.start..r * width + cols.end], src);
    }
}

/// A row-major `rows x cols` operand of [`gemm`], used as is or transposed.
fn operand(data: &[f32], shape: (usize, usize), transposed: bool) -> Operand<'_> {
    Operand {
        data,
        shape,
        transposed,
    }
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

impl AttentionNode {
    /// Computes the value from the operands' values.
    fn compute(&self) {
        let s = self.sizes;
        let (dh, eh) = (s.d / s.heads, s.e / s.heads);
        let mut used = self.used.borrow_mut();
        if let Some((lengths, _)) = &self.lengths {
            used.copy_from_slice(&lengths.current());
        }
        let [q, k, v] = self.operands.each_ref().map(|o| o.value());
        let mut weights = self.weights.borrow_mut();
        let mut product = self.product.borrow_mut();
        let [mut qb, mut kb, mut vb, _] = self.blocks.each_ref().map(|b| b.borrow_mut());
        let mut out = self.state.value_mut();
        out.fill(0.0);
        for group in 0..s.groups {
            let (queries, keys) = (s.queries(group), s.keys_of(group, used[group]));
            let (m, len) = (s.m, keys.len());
            if len == 0 {
                continue; // attends to nothing: rows of 0
            }
            let output_rows = group * s.m..(group + 1) * s.m;
            for h in 0..s.heads {
                let (qc, vc) = (s.head(h, s.d), s.head(h, s.e));
                let qh = block(&q, s.d, queries.clone(), qc.clone(), &mut qb);
                let kh = block(&k, s.d, keys.clone(), qc, &mut kb);
                let vh = block(&v, s.e, keys.clone(), vc.clone(), &mut vb);
                let a = &mut weights[s.weights(group, h, len)];
                // Scores Q Kᵀ, then each row's softmax over the keys it sees.
                gemm(
                    operand(qh, (m, dh), false),
                    operand(kh, (len, dh), true),
                    a,
                    false,
                );
                for (i, row) in a.chunks_exact_mut(len).enumerate() {
                    let (seen, unseen) = row.split_at_mut(s.keys(i, len));
                    unseen.fill(0.0);
                    softmax_scaled(seen, s.scale);
                }
                // Out = A V
                let result = &mut product[..m * eh];
                gemm(
                    operand(a, (m, len), false),
                    operand(vh, (len, eh), false),
                    result,
                    false,
                );
                add_block(&mut out, s.e, output_rows.clone(), vc, result);
            }
        }
    }

    /// Sends the complete gradient `g` of this node's value on to the operands.
    fn propagate(&self, g: &[f32]) {
        let s = self.sizes;
        let (dh, eh) = (s.d / s.heads, s.e / s.heads);
        let needs = self.operands.each_ref().map(|o| o.needs_gradient());
        {
            let [q, k, v] = self.operands.each_ref().map(|o| o.value());
            let weights = self.weights.borrow_mut();
            let used = self.used.borrow();
            let mut product = self.product.borrow_mut();
            let mut scores_grad = self.scores_grad.borrow_mut();
            let [mut qb, mut kb, mut vb, mut gb] = self.blocks.each_ref().map(|b| b.borrow_mut());
            let mut grads = self.grads.each_ref().map(|b| b.borrow_mut());
            for grad in &mut grads {
                grad.fill(0.0);
            }
            let [dq, dk, dv] = &mut grads;
            for group in 0..s.groups {
                let (queries, keys) = (s.queries(group), s.keys_of(group, used[group]));
                let (m, len) = (s.m, keys.len());
                if len == 0 {
                    continue; // attends to nothing: no gradient
                }
                let output_rows = group * s.m..(group + 1) * s.m;
                for h in 0..s.heads {
                    let (qc, vc) = (s.head(h, s.d), s.head(h, s.e));
                    let a = &weights[s.weights(group, h, len)];
                    let gh = block(g, s.e, output_rows.clone(), vc.clone(), &mut gb);
                    let vh = block(&v, s.e, keys.clone(), vc.clone(), &mut vb);
                    if needs[2] {
                        // dL/dV = Aᵀ G
                        let out = &mut product[..len * eh];
                        gemm(
                            operand(a, (m, len), true),
                            operand(gh, (m, eh), false),
                            out,
                            false,
                        );
                        add_block(dv, s.e, keys.clone(), vc, out);
                    }
                    if !(needs[0] || needs[1]) {
                        continue;
                    }
                    // dL/dA = G Vᵀ; through each row's softmax, dL/dS = A ∘ (dL/dA - Σ A ∘
                    // dL/dA), scaled as the scores were. Weights a causal query does not
                    // see are 0, and so are their scores' gradients.
                    let ds = &mut scores_grad[..m * len];
                    gemm(
                        operand(gh, (m, eh), false),
                        operand(vh, (len, eh), true),
                        ds,
                        false,
                    );
                    for (ds, a) in ds.chunks_exact_mut(len).zip(a.chunks_exact(len)) {
                        let mean = dot(ds, a);
                        for (ds, a) in ds.iter_mut().zip(a) {
                            *ds = a * (*ds - mean) * s.scale;
                        }
                    }
                    let qh = block(&q, s.d, queries.clone(), qc.clone(), &mut qb);
                    let kh = block(&k, s.d, keys.clone(), qc.clone(), &mut kb);
                    if needs[0] {
                        // dL/dQ = dS K (summed over the groups for shared queries)
                        let out = &mut product[..m * dh];
                        gemm(
                            operand(ds, (m, len), false),
                            operand(kh, (len, dh), false),
                            out,
                            false,
                        );
                        add_block(dq, s.d, queries.clone(), qc.clone(), out);
                    }
                    if needs[1] {
                        // dL/dK = dSᵀ Q
                        let out = &mut product[..len * dh];
                        gemm(
                            operand(ds, (m, len), true),
                            operand(qh, (m, dh), false),
                            out,
                            false,
                        );
                        add_block(dk, s.d, keys.clone(), qc, out);
                    }
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

node_over_boxed_operands!(impl[] AttentionNode);
