//! [`Lstm`]: a long short-term memory cell, one step of a recurrent network.

use super::cell::{Cell, LstmGates};
use super::fused::{fused, LstmFusion};
use crate::nodes::Boxed;
use crate::{Node, Variable};
use ndarray::s;

/// A long short-term memory cell (Hochreiter and Schmidhuber, 1997), in the form
/// PyTorch's `LSTMCell` computes:
///
/// ```text
/// i  = σ(x·W_i + b_i + h·U_i + c_i)      input gate
/// f  = σ(x·W_f + b_f + h·U_f + c_f)      forget gate
/// g  = tanh(x·W_g + b_g + h·U_g + c_g)   candidate
/// o  = σ(x·W_o + b_o + h·U_o + c_o)      output gate
/// s' = f ⊙ s + i ⊙ g                     cell state
/// h' = o ⊙ tanh(s')
/// ```
///
/// The four gates' weights sit side by side, in the order `i, f, g, o`: `input_weights`
/// (`W`) is `inputs x 4·hidden`, `hidden_weights` (`U`) is `hidden x 4·hidden`, and the
/// biases `input_bias` (`b`) and `hidden_bias` (`c`) are `1 x 4·hidden`. The methods
/// shared with [`Gru`](super::Gru) (`new`, `from_parameters` for Hogwild training,
/// `parameters`) are [`Cell`]'s. A larger forget-gate bias (the second quarter of
/// `input_bias`) is a common start for long sequences: set it with
/// `lstm.input_bias.set_value(..)`.
///
/// [`step`](Self::step) takes and returns the pair of the output `h` and the cell state
/// `s`, each `batch x hidden`, boxed. For long sequences in windows, carry both states
/// as [`Gru`](super::Gru)'s docs show for one.
///
/// ```
/// use wyrm::nn::Lstm;
/// use wyrm::prelude::*;
/// use wyrm::rand::{rngs::StdRng, SeedableRng};
///
/// let mut rng = StdRng::seed_from_u64(1);
/// let lstm = Lstm::new(3, 8, &mut rng);
/// let inputs: Vec<_> = (0..5).map(|_| InputNode::new(random_matrix(2, 3))).collect();
/// let (mut h, mut s) = lstm.initial_state(2);
/// for x in &inputs {
///     (h, s) = lstm.step(x, &h, &s);
/// }
/// let loss = h.square().mean();
/// let mut optimizer = Adam::new(0.01, lstm.parameters());
/// loss.forward();
/// loss.backward(1.0);
/// optimizer.step();
/// assert_eq!(s.shape(), (2, 8));
/// ```
pub type Lstm = Cell<LstmGates>;

impl Cell<LstmGates> {
    /// An output and a cell state of zeros, each `batch x hidden`, to start sequences
    /// from; boxed, as every step's are, so that `(h, s) = lstm.step(&x, &h, &s)` can
    /// replace them.
    ///
    /// ```
    /// use wyrm::nn::Lstm;
    /// use wyrm::rand::{rngs::StdRng, SeedableRng};
    ///
    /// let lstm = Lstm::new(4, 16, &mut StdRng::seed_from_u64(0));
    /// let (h, s) = lstm.initial_state(3);
    /// assert_eq!(h.value(), wyrm::ndarray::Array2::<f32>::zeros((3, 16)));
    /// assert_eq!(s.value(), h.value());
    /// ```
    pub fn initial_state(&self, batch: usize) -> (Variable<Boxed>, Variable<Boxed>) {
        (self.zeros(batch).boxed(), self.zeros(batch).boxed())
    }

    /// One step: the next output and cell state from this step's input `x`
    /// (`batch x inputs`), the output `h` and the cell state `s` (each `batch x hidden`),
    /// as boxed nodes. Any nodes will do (statically shaped ones too); they are boxed
    /// first, so the step's graph is compiled once, in Wyrm, whatever their types.
    ///
    /// ```
    /// use wyrm::nn::Lstm;
    /// use wyrm::prelude::*;
    /// use wyrm::rand::{rngs::StdRng, SeedableRng};
    ///
    /// let lstm = Lstm::new(2, 3, &mut StdRng::seed_from_u64(0));
    /// let x = InputNode::new(wyrm::ndarray::arr2(&[[0.5, -1.0]]));
    /// let (h, s) = lstm.initial_state(1);
    /// let (h, _) = lstm.step(&x, &h, &s);
    /// h.forward();
    /// assert!(h.value().iter().all(|v| v.abs() < 1.0));
    /// ```
    ///
    /// # Panics
    /// When the graph is built, naming the shapes: if `x` does not have `inputs` columns,
    /// `h` or `s` is not `x`'s rows by `hidden`, or the fields' shapes do not fit together.
    #[track_caller]
    pub fn step<X: Node + 'static, H: Node + 'static, S: Node + 'static>(
        &self,
        x: &Variable<X>,
        h: &Variable<H>,
        s: &Variable<S>,
    ) -> (Variable<Boxed>, Variable<Boxed>) {
        self.step_boxed(&x.boxed(), &h.boxed(), &s.boxed())
    }

    #[track_caller]
    fn step_boxed(
        &self,
        x: &Variable<Boxed>,
        h: &Variable<Boxed>,
        s: &Variable<Boxed>,
    ) -> (Variable<Boxed>, Variable<Boxed>) {
        let [gates_x, gates_h] = self.products(x, h);
        assert!(
            s.shape() == h.shape(),
            "Lstm::step: the cell state is {}x{}, but the output state is {}x{}: both are \
             batch x hidden",
            s.shape().0,
            s.shape().1,
            h.shape().0,
            h.shape().1
        );
        let hidden = self.hidden();
        // The next output and cell state side by side, in one node.
        let both = fused::<LstmFusion>(hidden, [&gates_x, &gates_h, s]);
        let half = |k: usize| both.slice(s![.., k * hidden..(k + 1) * hidden]).boxed();
        (half(0), half(1))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::nn::cell::test_support::{assert_gradients, panic_message};
    use crate::{concat, IndexInputNode, InputNode, ParameterNode};
    use ndarray::Array2;
    use rand::SeedableRng;

    fn rng() -> rand::rngs::StdRng {
        rand::rngs::StdRng::seed_from_u64(9)
    }

    fn sigmoid(v: f64) -> f64 {
        1.0 / (1.0 + (-v).exp())
    }

    /// The equations of the docs, in `f64` over plain arrays: the next `(h, s)`.
    fn reference(
        lstm: &Lstm,
        x: &Array2<f64>,
        h: &Array2<f64>,
        s: &Array2<f64>,
    ) -> (Array2<f64>, Array2<f64>) {
        let f = |a: &Variable<ParameterNode>| a.value().mapv(f64::from);
        let [w, u, b, c] = [
            &lstm.input_weights,
            &lstm.hidden_weights,
            &lstm.input_bias,
            &lstm.hidden_bias,
        ]
        .map(f);
        let z = x.dot(&w) + &b + h.dot(&u) + &c;
        let n = lstm.hidden();
        let state = Array2::from_shape_fn(s.dim(), |(r, j)| {
            let (i, f, g) = (
                sigmoid(z[(r, j)]),
                sigmoid(z[(r, n + j)]),
                z[(r, 2 * n + j)].tanh(),
            );
            f * s[(r, j)] + i * g
        });
        let out = Array2::from_shape_fn(s.dim(), |(r, j)| {
            sigmoid(z[(r, 3 * n + j)]) * state[(r, j)].tanh()
        });
        (out, state)
    }

    /// Three steps match the equations, each from the cell's previous outputs.
    #[test]
    fn steps_match_the_equations() {
        let lstm = Lstm::new(3, 5, &mut rng());
        let (h0, s0) = (crate::random_matrix(4, 5) * 0.5, crate::random_matrix(4, 5));
        let (mut h, mut s) = (
            InputNode::new(h0.clone()).boxed(),
            InputNode::new(s0.clone()).boxed(),
        );
        let (mut want_h, mut want_s) = (h0.mapv(f64::from), s0.mapv(f64::from));
        for _ in 0..3 {
            let x = crate::random_matrix(4, 3);
            (h, s) = lstm.step(&InputNode::new(x.clone()), &h, &s);
            (want_h, want_s) = reference(&lstm, &x.mapv(f64::from), &want_h, &want_s);
            let both = concat((&h, &s), ndarray::Axis(1));
            both.forward();
            let want = ndarray::concatenate![ndarray::Axis(1), want_h, want_s];
            for (got, want) in both.value().iter().zip(&want) {
                assert!(
                    (f64::from(*got) - want).abs() < 1e-5,
                    "{got} against {want}"
                );
            }
        }
    }

    /// Gradients of every parameter, of looked-up inputs and of trained initial states
    /// through four steps, with a loss at every step that reads both states, against
    /// finite differences, at batch 1 and 3.
    #[test]
    fn gradients_match_finite_differences() {
        for batch in [1, 3] {
            let lstm = Lstm::new(4, 5, &mut rng());
            let embed = ParameterNode::new(crate::random_matrix(7, 4));
            let h0 = ParameterNode::new(crate::random_matrix(batch, 5) * 0.5);
            let s0 = ParameterNode::new(crate::random_matrix(batch, 5) * 0.5);
            let (mut h, mut s) = (h0.boxed(), s0.boxed());
            let mut loss = (h.square() * 0.0).boxed();
            for step in 0..4 {
                let ids: Vec<usize> = (0..batch).map(|b| (step * 3 + b) % 7).collect();
                (h, s) = lstm.step(&embed.index(&IndexInputNode::new(&ids)), &h, &s);
                let read = h.square() * 0.3 + (s.clone() * h.clone()) * 0.2;
                loss = (loss + read).boxed();
            }
            let mut named = lstm.named_parameters();
            named.extend([("embed", embed), ("h0", h0), ("s0", s0)]);
            assert_gradients(&loss, &named, &format!("batch {batch}"));
        }
    }

    /// A cell state of another shape than the output is named when the step is built;
    /// the other shapes are checked as for the GRU.
    #[test]
    fn wrong_shapes_panic_naming_them() {
        let lstm = Lstm::new(3, 4, &mut rng());
        let x = InputNode::new(Array2::zeros((2, 3)));
        let (h, _) = lstm.initial_state(2);
        let (_, s) = lstm.initial_state(1);
        let text = panic_message(|| {
            lstm.step(&x, &h, &s);
        });
        assert!(
            text.starts_with("Lstm::step: the cell state is 1x4, but the output state is 2x4"),
            "{text}"
        );
        let text = panic_message(|| {
            lstm.step(&InputNode::new(Array2::zeros((2, 5))), &h, &h);
        });
        assert!(
            text.starts_with("Lstm::step: the input is 2x5, but the cell takes 3 features"),
            "{text}"
        );
        let text = panic_message(|| {
            Lstm::new(0, 4, &mut rng());
        });
        assert!(
            text.starts_with("Lstm::new: a cell needs at least one input"),
            "{text}"
        );
    }
}
