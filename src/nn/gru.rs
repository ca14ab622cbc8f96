//! [`Gru`]: a gated recurrent unit cell, one step of a recurrent network.

use super::cell::{Cell, GruGates};
use super::fused::{fused, GruFusion};
use crate::nodes::Boxed;
use crate::{Node, Variable};

/// A gated recurrent unit (Cho et al., 2014), in the form PyTorch's `GRUCell` computes:
///
/// ```text
/// r  = σ(x·W_r + b_r + h·U_r + c_r)          reset gate
/// z  = σ(x·W_z + b_z + h·U_z + c_z)          update gate
/// n  = tanh(x·W_n + b_n + r ⊙ (h·U_n + c_n))  candidate
/// h' = (1 − z) ⊙ n + z ⊙ h
/// ```
///
/// The three gates' weights sit side by side, in the order `r, z, n`: `input_weights`
/// (`W`) is `inputs x 3·hidden`, `hidden_weights` (`U`) is `hidden x 3·hidden`, and the
/// biases `input_bias` (`b`) and `hidden_bias` (`c`) are `1 x 3·hidden`. The methods
/// shared with [`Lstm`](super::Lstm) (`new`, `from_parameters` for Hogwild training,
/// `parameters`) are [`Cell`]'s.
///
/// [`step`](Self::step) builds one step's graph, boxed (every step of a sequence has the
/// same type, and a long sequence builds quickly; see the crate docs on boxing): the two
/// products, and one node for the gates' elementwise math, which keeps `r`, `z` and `n`
/// for the backward pass (where a node per operation would keep some 30 values per unit
/// and row). Unroll a sequence by calling it in a loop, as the data dictates:
///
/// ```
/// use wyrm::nn::Gru;
/// use wyrm::prelude::*;
/// use wyrm::rand::{rngs::StdRng, SeedableRng};
///
/// let mut rng = StdRng::seed_from_u64(1);
/// let gru = Gru::new(3, 8, &mut rng);
/// let out_w = ParameterNode::new(wyrm::init::xavier(8, 1, &mut rng));
/// // A batch of 2 sequences, 5 steps long, 3 features per step.
/// let inputs: Vec<_> = (0..5).map(|_| InputNode::new(random_matrix(2, 3))).collect();
/// let mut h = gru.initial_state(2);
/// for x in &inputs {
///     h = gru.step(x, &h);
/// }
/// let loss = h.dot(&out_w).square().mean();
/// let mut parameters = gru.parameters();
/// parameters.push(out_w.clone());
/// let mut optimizer = Adam::new(0.01, parameters);
/// loss.forward();
/// loss.backward(1.0);
/// optimizer.step();
/// assert_eq!(h.shape(), (2, 8));
/// ```
///
/// **Long sequences, in windows** (truncated backpropagation through time): build one
/// window's graph once, starting from an [`InputNode`](crate::InputNode) that holds the
/// state carried in, and after each window's backward pass copy the window's last state
/// into it. After, not before: a `set_value` between a forward and a backward pass makes
/// the backward pass forward again, from the new state, so the gradients would belong to
/// another window. The same goes for an [`Lstm`](super::Lstm)'s two states, and for
/// generation: a forward pass recomputes every step from the inputs, so to sample step by
/// step, build a one-step graph over such an input state and copy each step's output
/// into it.
///
/// ```
/// use wyrm::nn::Gru;
/// use wyrm::prelude::*;
/// use wyrm::rand::{rngs::StdRng, SeedableRng};
///
/// let mut rng = StdRng::seed_from_u64(1);
/// let gru = Gru::new(3, 8, &mut rng);
/// let (batch, window) = (4, 5);
/// let carried = InputNode::new(wyrm::ndarray::Array2::zeros((batch, 8)));
/// let inputs: Vec<_> = (0..window).map(|_| InputNode::new(random_matrix(batch, 3))).collect();
/// let mut h = carried.boxed();
/// for x in &inputs {
///     h = gru.step(x, &h);
/// }
/// let loss = h.square().mean();
/// let mut optimizer = Adam::new(0.01, gru.parameters());
/// for _ in 0..3 {
///     for x in &inputs {
///         x.set_value(&random_matrix(batch, 3)); // the window's data
///     }
///     loss.forward();
///     loss.backward(1.0);
///     optimizer.step();
///     optimizer.zero_gradients();
///     // The next window starts where this one ended. `with_value` lends a view of the
///     // value, so the copy allocates nothing (`h.value()` would allocate an array).
///     h.with_value(|last| carried.set_value(last));
/// }
/// ```
pub type Gru = Cell<GruGates>;

impl Cell<GruGates> {
    /// A `batch x hidden` state of zeros, to start sequences from; boxed, as every
    /// step's state is, so that `h = gru.step(&x, &h)` can replace it.
    ///
    /// ```
    /// use wyrm::nn::Gru;
    /// use wyrm::rand::{rngs::StdRng, SeedableRng};
    ///
    /// let gru = Gru::new(4, 16, &mut StdRng::seed_from_u64(0));
    /// assert_eq!(gru.initial_state(3).value(), wyrm::ndarray::Array2::<f32>::zeros((3, 16)));
    /// ```
    pub fn initial_state(&self, batch: usize) -> Variable<Boxed> {
        self.zeros(batch).boxed()
    }

    /// One step: the next state from this step's input `x` (`batch x inputs`) and the
    /// state `h` (`batch x hidden`), as a boxed node of `h`'s shape. Any node will do for
    /// `x` and `h` (statically shaped ones too); they are boxed first, so the step's graph
    /// is compiled once, in Wyrm, whatever their types.
    ///
    /// ```
    /// use wyrm::nn::Gru;
    /// use wyrm::prelude::*;
    /// use wyrm::rand::{rngs::StdRng, SeedableRng};
    ///
    /// let gru = Gru::new(2, 3, &mut StdRng::seed_from_u64(0));
    /// let x = InputNode::new(wyrm::ndarray::arr2(&[[0.5, -1.0]]));
    /// let h = gru.step(&x, &gru.initial_state(1));
    /// h.forward();
    /// // Every unit of a GRU's state stays within (-1, 1).
    /// assert!(h.value().iter().all(|v| v.abs() < 1.0));
    /// ```
    ///
    /// # Panics
    /// When the graph is built, naming the shapes: if `x` does not have `inputs` columns,
    /// `h` is not `x`'s rows by `hidden`, or the fields' shapes do not fit together.
    #[track_caller]
    pub fn step<X: Node + 'static, H: Node + 'static>(
        &self,
        x: &Variable<X>,
        h: &Variable<H>,
    ) -> Variable<Boxed> {
        self.step_boxed(&x.boxed(), &h.boxed())
    }

    #[track_caller]
    fn step_boxed(&self, x: &Variable<Boxed>, h: &Variable<Boxed>) -> Variable<Boxed> {
        let [gates_x, gates_h] = self.products(x, h);
        fused::<GruFusion>(self.hidden(), [&gates_x, &gates_h, h])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::nn::cell::test_support::{assert_gradients, panic_message};
    use crate::{IndexInputNode, InputNode, ParameterNode};
    use ndarray::Array2;
    use rand::SeedableRng;

    fn rng() -> rand::rngs::StdRng {
        rand::rngs::StdRng::seed_from_u64(5)
    }

    fn sigmoid(v: f64) -> f64 {
        1.0 / (1.0 + (-v).exp())
    }

    /// The equations of the docs, in `f64` over plain arrays.
    fn reference(gru: &Gru, x: &Array2<f32>, h: &Array2<f32>) -> Array2<f64> {
        let f = |a: Variable<ParameterNode>| a.value().mapv(f64::from);
        let (w, u, b, c) = (
            f(gru.input_weights.clone()),
            f(gru.hidden_weights.clone()),
            f(gru.input_bias.clone()),
            f(gru.hidden_bias.clone()),
        );
        let (x, h) = (x.mapv(f64::from), h.mapv(f64::from));
        let gx = x.dot(&w) + &b;
        let gh = h.dot(&u) + &c;
        let n = gru.hidden();
        Array2::from_shape_fn(h.dim(), |(i, j)| {
            let r = sigmoid(gx[(i, j)] + gh[(i, j)]);
            let z = sigmoid(gx[(i, n + j)] + gh[(i, n + j)]);
            let cand = (gx[(i, 2 * n + j)] + r * gh[(i, 2 * n + j)]).tanh();
            (1.0 - z) * cand + z * h[(i, j)]
        })
    }

    /// Two steps match the equations, each step computed from the cell's previous output.
    /// A step read by a `detach` as well counts that consumer as reported: the other
    /// consumer's gradient still reaches the weights, as without it.
    #[test]
    fn a_detached_consumer_leaves_the_gradients_as_they_were() {
        let gru = Gru::new(2, 3, &mut rng());
        let x = InputNode::new(crate::init::seeded(2, 2, 1.0, 4));
        let gradient = |with_detached: bool| {
            gru.input_weights.zero_gradient();
            let h = gru.step(&x, &gru.initial_state(2));
            let loss = if with_detached {
                (h.scalar_sum() + h.detach().scalar_sum()).boxed()
            } else {
                h.scalar_sum().boxed()
            };
            loss.forward();
            loss.backward(1.0);
            gru.input_weights.gradient()
        };
        let alone = gradient(false);
        assert!(alone.iter().any(|&g| g != 0.0));
        assert_eq!(gradient(true), alone);
    }

    #[test]
    fn steps_match_the_equations() {
        let mut rng = rng();
        let gru = Gru::new(3, 5, &mut rng);
        let xs = [crate::random_matrix(4, 3), crate::random_matrix(4, 3)];
        let h0 = crate::random_matrix(4, 5) * 0.5;
        let mut h = InputNode::new(h0.clone()).boxed();
        let mut expected = h0;
        for x in &xs {
            h = gru.step(&InputNode::new(x.clone()), &h);
            h.forward();
            let want = reference(&gru, x, &expected);
            for (got, want) in h.value().iter().zip(&want) {
                assert!(
                    (f64::from(*got) - want).abs() < 1e-5,
                    "{got} against {want}"
                );
            }
            expected = want.mapv(|v| v as f32);
        }
    }

    /// Gradients of every parameter, of the inputs (from a lookup) and of a trained
    /// initial state through four steps, with a loss at every step that reads the state
    /// twice, against finite differences, on batches of one and of three.
    #[test]
    fn gradients_match_finite_differences() {
        for batch in [1, 3] {
            let mut rng = rng();
            let gru = Gru::new(4, 6, &mut rng);
            let embed = ParameterNode::new(crate::random_matrix(7, 4));
            let h0 = ParameterNode::new(crate::random_matrix(batch, 6) * 0.5);
            let out_w = ParameterNode::new(crate::random_matrix(6, 2));
            let mut h = h0.boxed();
            let mut loss = (h.square() * 0.0).boxed();
            for step in 0..4 {
                let ids: Vec<usize> = (0..batch).map(|b| (step * 3 + b) % 7).collect();
                h = gru.step(&embed.index(&IndexInputNode::new(&ids)), &h);
                let read = h.dot(&out_w).tanh().scalar_sum() * 0.3 + h.square() * 0.2;
                loss = (loss + read).boxed();
            }
            let mut named = gru.named_parameters();
            named.extend([("embed", embed), ("h0", h0), ("out_w", out_w)]);
            assert_gradients(&loss, &named, &format!("batch {batch}"));
        }
    }

    /// A clone shares the parameters; `Debug` gives the kind and size.
    #[test]
    fn clones_share_parameters_and_debug_names_the_size() {
        let gru = Gru::new(3, 5, &mut rng());
        let copy = gru.clone();
        copy.hidden_bias.set_value(&Array2::ones((1, 15)));
        assert_eq!(gru.hidden_bias.value(), Array2::<f32>::ones((1, 15)));
        assert_eq!(format!("{gru:?}"), "Gru { inputs: 3, hidden: 5 }");
    }

    /// Wrong shapes are named when the step is built.
    #[test]
    fn wrong_shapes_panic_naming_them() {
        let gru = Gru::new(3, 4, &mut rng());
        let text = panic_message(|| {
            gru.step(
                &InputNode::new(Array2::zeros((2, 5))),
                &gru.initial_state(2),
            );
        });
        assert!(
            text.starts_with("Gru::step: the input is 2x5, but the cell takes 3 features"),
            "{text}"
        );
        let text = panic_message(|| {
            gru.step(
                &InputNode::new(Array2::zeros((2, 3))),
                &gru.initial_state(1),
            );
        });
        assert!(
            text.starts_with("Gru::step: the state is 1x4, but an input of 2 rows"),
            "{text}"
        );
        // A field replaced after construction is checked at the step.
        let mut odd = Gru::new(3, 4, &mut rng());
        odd.input_bias = ParameterNode::new(Array2::zeros((1, 4)));
        let text = panic_message(|| {
            odd.step(
                &InputNode::new(Array2::zeros((2, 3))),
                &odd.initial_state(2),
            );
        });
        assert!(
            text.starts_with(
                "Gru::step: `input_bias` is 1x4, but a cell of 4 hidden units (the rows of \
                 `hidden_weights`) needs it 1x12 (3 gates of 4 columns)"
            ),
            "{text}"
        );
        let p = Gru::new(3, 4, &mut rng()).parameters();
        let column = ParameterNode::new(Array2::zeros((12, 1)));
        let text = panic_message(|| {
            Gru::from_parameters(p[0].clone(), p[1].clone(), column.clone(), p[3].clone());
        });
        assert!(
            text.starts_with("Gru::from_parameters: `input_bias` is 12x1"),
            "{text}"
        );
        // No hidden units: refused as by `new` (a saved file could hold such a cell).
        let empty = |r: usize, c: usize| ParameterNode::new(Array2::zeros((r, c)));
        let text = panic_message(|| {
            Gru::from_parameters(empty(2, 0), empty(0, 0), empty(1, 0), empty(1, 0));
        });
        assert!(
            text.starts_with(
                "Gru::from_parameters: a cell needs at least one input and one hidden unit, got \
                 2 inputs"
            ),
            "{text}"
        );
    }
}
