//! The elementwise part of a recurrent cell's step, its gates, as one node: what would be
//! a dozen nodes of slices, sigmoids and products (each with its value and gradient
//! buffers, about 2,200 floats per row and step for a GRU of 32 units) is one, which keeps
//! the few values its backward pass needs. The matrix products stay ordinary nodes.

use crate::kernels::{sigmoid, tanh};
use crate::node::{Node, NodeState, Scratch};
use crate::nodes::Boxed;
use crate::Variable;
use std::rc::Rc;

/// The row math of a fused step over three operands (the input product, the recurrent
/// product and a state), for `hidden` units.
pub(super) trait Fusion: 'static {
    /// The operands' widths, in units of `hidden`.
    const WIDTHS: [usize; 3];
    /// The output's width, in units of `hidden`.
    const OUTPUT: usize;
    /// How many values per row and unit the forward pass keeps for the backward pass.
    const SAVED: usize;

    /// Writes one row's output and saved values from the operands' rows.
    fn forward(hidden: usize, operands: [&[f32]; 3], out: &mut [f32], saved: &mut [f32]);

    /// Writes one row's gradients with respect to the operands, from the output's
    /// gradient `g`, the operands' rows and the saved values.
    fn backward(
        hidden: usize,
        g: &[f32],
        operands: [&[f32]; 3],
        saved: &[f32],
        grads: [&mut [f32]; 3],
    );
}

/// A node applying a [`Fusion`] row by row to three boxed operands.
pub(super) struct Fused<F> {
    operands: [Rc<Boxed>; 3],
    hidden: usize,
    state: NodeState,
    saved: Scratch,
    grads: [Scratch; 3],
    needs_gradient: bool,
    discards: bool,
    fusion: std::marker::PhantomData<F>,
}

/// Builds the fused node over `operands` (rows of the widths `F` declares, checked by the
/// caller), boxed.
pub(super) fn fused<F: Fusion>(hidden: usize, operands: [&Variable<Boxed>; 3]) -> Variable<Boxed> {
    let rows = operands[0].shape().0;
    let nodes = operands.map(|o| o.node().clone());
    let node = Fused::<F> {
        hidden,
        state: NodeState::new((rows, F::OUTPUT * hidden)),
        saved: Scratch::new(rows * F::SAVED * hidden),
        grads: nodes
            .each_ref()
            .map(|n| Scratch::new(n.shape().0 * n.shape().1)),
        needs_gradient: nodes.iter().any(|n| n.needs_gradient()),
        discards: crate::node::discards(
            &nodes
                .each_ref()
                .map(|n| (n.needs_gradient(), n.discards_gradient())),
        ),
        operands: nodes,
        fusion: std::marker::PhantomData,
    };
    Variable::with_operands(node, &operands.map(crate::Operand::from)).boxed()
}

impl<F: Fusion> Fused<F> {
    /// Computes the value from the operands' values.
    fn compute(&self) {
        let values = self.operands.each_ref().map(|o| o.value());
        let mut saved = self.saved.borrow_mut();
        let mut out = self.state.value_mut();
        let (widths, h) = (self.widths(), self.hidden);
        let (width, keep) = (F::OUTPUT * h, F::SAVED * h);
        let rows = out.chunks_exact_mut(width.max(1));
        for (r, (out, saved)) in rows.zip(saved.chunks_exact_mut(keep.max(1))).enumerate() {
            let row = |k: usize| &values[k][r * widths[k]..(r + 1) * widths[k]];
            F::forward(h, [row(0), row(1), row(2)], out, saved);
        }
    }

    /// The widths of the operands' rows.
    fn widths(&self) -> [usize; 3] {
        F::WIDTHS.map(|w| w * self.hidden)
    }

    /// Sends the complete gradient `g` of this node's value on to the operands.
    fn propagate(&self, g: &[f32]) {
        {
            let values = self.operands.each_ref().map(|o| o.value());
            let saved = self.saved.borrow_mut();
            let mut grads = self.grads.each_ref().map(|s| s.borrow_mut());
            let (widths, h) = (self.widths(), self.hidden);
            let (out, keep) = (F::OUTPUT * h, F::SAVED * h);
            for (r, g) in g.chunks_exact(out.max(1)).enumerate() {
                let span = |k: usize| r * widths[k]..(r + 1) * widths[k];
                let rows = [0, 1, 2].map(|k| &values[k][span(k)]);
                let [a, b, c] = &mut grads;
                let grads = [&mut a[span(0)], &mut b[span(1)], &mut c[span(2)]];
                let saved = &saved[r * keep..(r + 1) * keep];
                F::backward(h, g, rows, saved, grads);
            }
        }
        for (operand, grad) in self.operands.iter().zip(&self.grads) {
            if operand.needs_gradient() {
                operand.backward(&grad.borrow_mut());
            }
        }
    }
}

node_over_boxed_operands!(impl[F: Fusion] Fused<F>);

/// A GRU's gates: operands `x·W + b` and `h·U + c` (each `3·hidden` wide, gates `r, z, n`)
/// and the state `h`; output the next state; saved `r`, `z` and `n`.
pub(super) enum GruFusion {}

impl Fusion for GruFusion {
    const WIDTHS: [usize; 3] = [3, 3, 1];
    const OUTPUT: usize = 1;
    const SAVED: usize = 3;

    #[inline]
    fn forward(n: usize, [gx, gh, h]: [&[f32]; 3], out: &mut [f32], saved: &mut [f32]) {
        for j in 0..n {
            let reset = sigmoid(gx[j] + gh[j]);
            let update = sigmoid(gx[n + j] + gh[n + j]);
            let candidate = tanh(gx[2 * n + j] + reset * gh[2 * n + j]);
            out[j] = candidate + update * (h[j] - candidate);
            (saved[j], saved[n + j], saved[2 * n + j]) = (reset, update, candidate);
        }
    }

    #[inline]
    fn backward(
        n: usize,
        g: &[f32],
        [_, gh, h]: [&[f32]; 3],
        saved: &[f32],
        [d_gx, d_gh, d_h]: [&mut [f32]; 3],
    ) {
        for j in 0..n {
            let (reset, update, candidate) = (saved[j], saved[n + j], saved[2 * n + j]);
            let g = g[j];
            d_h[j] = g * update;
            let d_candidate = g * (1.0 - update) * (1.0 - candidate * candidate);
            let d_update = g * (h[j] - candidate) * update * (1.0 - update);
            let d_reset = d_candidate * gh[2 * n + j] * reset * (1.0 - reset);
            (d_gx[j], d_gx[n + j], d_gx[2 * n + j]) = (d_reset, d_update, d_candidate);
            (d_gh[j], d_gh[n + j], d_gh[2 * n + j]) = (d_reset, d_update, d_candidate * reset);
        }
    }
}

/// An LSTM's gates: operands `x·W + b` and `h·U + c` (each `4·hidden` wide, gates
/// `i, f, g, o`) and the cell state `s`; output the next output and cell state side by
/// side; saved the four gates and `tanh(s')`.
pub(super) enum LstmFusion {}

impl Fusion for LstmFusion {
    const WIDTHS: [usize; 3] = [4, 4, 1];
    const OUTPUT: usize = 2;
    const SAVED: usize = 5;

    #[inline]
    fn forward(n: usize, [gx, gh, s]: [&[f32]; 3], out: &mut [f32], saved: &mut [f32]) {
        for j in 0..n {
            let gate = |k: usize| gx[k * n + j] + gh[k * n + j];
            let input = sigmoid(gate(0));
            let forget = sigmoid(gate(1));
            let candidate = tanh(gate(2));
            let output = sigmoid(gate(3));
            let state = forget * s[j] + input * candidate;
            let squashed = tanh(state);
            (out[j], out[n + j]) = (output * squashed, state);
            for (k, value) in [input, forget, candidate, output, squashed]
                .into_iter()
                .enumerate()
            {
                saved[k * n + j] = value;
            }
        }
    }

    #[inline]
    fn backward(
        n: usize,
        g: &[f32],
        [_, _, s]: [&[f32]; 3],
        saved: &[f32],
        [d_gx, d_gh, d_s]: [&mut [f32]; 3],
    ) {
        for j in 0..n {
            let [input, forget, candidate, output, squashed] =
                [0, 1, 2, 3, 4].map(|k| saved[k * n + j]);
            let (g_out, g_state) = (g[j], g[n + j]);
            let d_state = g_state + g_out * output * (1.0 - squashed * squashed);
            d_s[j] = d_state * forget;
            let d_gates = [
                d_state * candidate * input * (1.0 - input),
                d_state * s[j] * forget * (1.0 - forget),
                d_state * input * (1.0 - candidate * candidate),
                g_out * squashed * output * (1.0 - output),
            ];
            for (k, d) in d_gates.into_iter().enumerate() {
                (d_gx[k * n + j], d_gh[k * n + j]) = (d, d);
            }
        }
    }
}
