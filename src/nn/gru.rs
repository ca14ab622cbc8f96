//! [`Gru`]: a gated recurrent unit cell, one step of a recurrent network.

use crate::nodes::{Boxed, InputNode, ParameterNode};
use crate::shape::Dyn;
use crate::{Node, Variable};
use ndarray::{s, Array2};
use rand::Rng;

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
/// biases `input_bias` (`b`) and `hidden_bias` (`c`) are `1 x 3·hidden`. So each step is
/// two matrix products, for the whole batch (one row per sequence).
///
/// [`step`](Self::step) builds one step's graph, boxed (every step of a sequence has the
/// same type, and a long sequence builds quickly; see the crate docs on boxing). Unroll a
/// sequence by calling it in a loop, as the data dictates:
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
/// let mut h = gru.initial_state(2).boxed();
/// for x in &inputs {
///     h = gru.step(x, &h);
/// }
/// let mut loss = h.dot(&out_w).square().mean();
/// let mut parameters = gru.parameters();
/// parameters.push(out_w.clone());
/// let mut optimizer = Adam::new(0.01, parameters);
/// loss.forward();
/// loss.backward(1.0);
/// optimizer.step();
/// assert_eq!(h.shape(), (2, 8));
/// ```
///
/// The fields are public, so a cell can be made of any parameter nodes of those shapes:
/// over [`HogwildParameter`](crate::HogwildParameter)s for Hogwild training, each thread
/// wraps the same shared storage (`Gru::new` once, then
/// [`hogwild_parameter`](crate::Variable::hogwild_parameter) of each field to share):
///
/// ```
/// use std::sync::Arc;
/// use wyrm::nn::Gru;
/// use wyrm::prelude::*;
/// use wyrm::rand::{rngs::StdRng, SeedableRng};
///
/// let template = Gru::new(3, 8, &mut StdRng::seed_from_u64(1));
/// let shared: Vec<Arc<HogwildParameter>> =
///     template.parameters().iter().map(|p| p.hogwild_parameter()).collect();
/// // In each thread:
/// let gru = Gru {
///     input_weights: ParameterNode::shared(shared[0].clone()),
///     hidden_weights: ParameterNode::shared(shared[1].clone()),
///     input_bias: ParameterNode::shared(shared[2].clone()),
///     hidden_bias: ParameterNode::shared(shared[3].clone()),
/// };
/// assert_eq!(gru.hidden(), 8);
/// ```
pub struct Gru {
    /// `W`: `inputs x 3·hidden`, the gates' input weights in the order `r, z, n`.
    pub input_weights: Variable<ParameterNode>,
    /// `U`: `hidden x 3·hidden`, the gates' recurrent weights in the order `r, z, n`.
    pub hidden_weights: Variable<ParameterNode>,
    /// `b`: `1 x 3·hidden`, added to the input products.
    pub input_bias: Variable<ParameterNode>,
    /// `c`: `1 x 3·hidden`, added to the recurrent products (inside the reset gate's
    /// product for the candidate).
    pub hidden_bias: Variable<ParameterNode>,
}

impl Gru {
    /// A cell with `inputs` features per step and `hidden` units, every weight and bias
    /// drawn uniformly from `±1/√hidden` (PyTorch's initialisation).
    ///
    /// ```
    /// use wyrm::nn::Gru;
    /// use wyrm::rand::{rngs::StdRng, SeedableRng};
    ///
    /// let gru = Gru::new(4, 16, &mut StdRng::seed_from_u64(0));
    /// assert_eq!(gru.input_weights.shape(), (4, 48));
    /// assert_eq!(gru.hidden_weights.shape(), (16, 48));
    /// assert!(gru.hidden_bias.value().iter().all(|b| b.abs() <= 0.25));
    /// ```
    ///
    /// # Panics
    /// If `inputs` or `hidden` is zero.
    pub fn new(inputs: usize, hidden: usize, rng: &mut impl Rng) -> Self {
        assert!(
            inputs > 0 && hidden > 0,
            "Gru::new: a cell needs at least one input and one hidden unit, got {inputs} \
             inputs and {hidden} hidden units"
        );
        let bound = 1.0 / (hidden as f32).sqrt();
        let mut uniform = |rows: usize, cols: usize| {
            ParameterNode::new(Array2::from_shape_simple_fn((rows, cols), || {
                rng.gen_range(-bound..=bound)
            }))
        };
        Gru {
            input_weights: uniform(inputs, 3 * hidden),
            hidden_weights: uniform(hidden, 3 * hidden),
            input_bias: uniform(1, 3 * hidden),
            hidden_bias: uniform(1, 3 * hidden),
        }
    }

    /// The number of hidden units.
    ///
    /// ```
    /// use wyrm::nn::Gru;
    /// use wyrm::rand::{rngs::StdRng, SeedableRng};
    ///
    /// assert_eq!(Gru::new(4, 16, &mut StdRng::seed_from_u64(0)).hidden(), 16);
    /// ```
    pub fn hidden(&self) -> usize {
        self.hidden_weights.shape().0
    }

    /// The number of input features per step.
    ///
    /// ```
    /// use wyrm::nn::Gru;
    /// use wyrm::rand::{rngs::StdRng, SeedableRng};
    ///
    /// assert_eq!(Gru::new(4, 16, &mut StdRng::seed_from_u64(0)).inputs(), 4);
    /// ```
    pub fn inputs(&self) -> usize {
        self.input_weights.shape().0
    }

    /// The four parameters, in the order of the fields: for an optimizer.
    ///
    /// ```
    /// use wyrm::nn::Gru;
    /// use wyrm::prelude::*;
    /// use wyrm::rand::{rngs::StdRng, SeedableRng};
    ///
    /// let gru = Gru::new(4, 16, &mut StdRng::seed_from_u64(0));
    /// let _optimizer = Adam::new(0.01, gru.parameters());
    /// assert_eq!(gru.parameters().len(), 4);
    /// ```
    pub fn parameters(&self) -> Vec<Variable<ParameterNode>> {
        self.named_parameters()
            .into_iter()
            .map(|(_, p)| p)
            .collect()
    }

    /// The four parameters with their field names, for
    /// [`check_named_gradients`](crate::gradcheck::check_named_gradients) and for saving.
    ///
    /// ```
    /// use wyrm::nn::Gru;
    /// use wyrm::rand::{rngs::StdRng, SeedableRng};
    ///
    /// let gru = Gru::new(4, 16, &mut StdRng::seed_from_u64(0));
    /// let names: Vec<&str> = gru.named_parameters().iter().map(|(n, _)| *n).collect();
    /// assert_eq!(names, ["input_weights", "hidden_weights", "input_bias", "hidden_bias"]);
    /// ```
    pub fn named_parameters(&self) -> Vec<(&'static str, Variable<ParameterNode>)> {
        vec![
            ("input_weights", self.input_weights.clone()),
            ("hidden_weights", self.hidden_weights.clone()),
            ("input_bias", self.input_bias.clone()),
            ("hidden_bias", self.hidden_bias.clone()),
        ]
    }

    /// A `batch x hidden` state of zeros, to start sequences from.
    ///
    /// ```
    /// use wyrm::nn::Gru;
    /// use wyrm::rand::{rngs::StdRng, SeedableRng};
    ///
    /// let gru = Gru::new(4, 16, &mut StdRng::seed_from_u64(0));
    /// assert_eq!(gru.initial_state(3).value(), wyrm::ndarray::Array2::<f32>::zeros((3, 16)));
    /// ```
    pub fn initial_state(&self, batch: usize) -> Variable<InputNode> {
        InputNode::new(Array2::zeros((batch, self.hidden())))
    }

    /// One step: the next state from this step's input `x` (`batch x inputs`) and the
    /// state `h` (`batch x hidden`), as a boxed node of `h`'s shape.
    ///
    /// ```
    /// use wyrm::nn::Gru;
    /// use wyrm::prelude::*;
    /// use wyrm::rand::{rngs::StdRng, SeedableRng};
    ///
    /// let gru = Gru::new(2, 3, &mut StdRng::seed_from_u64(0));
    /// let x = InputNode::new(wyrm::ndarray::arr2(&[[0.5, -1.0]]));
    /// let mut h = gru.step(&x, &gru.initial_state(1));
    /// h.forward();
    /// // Every unit of a GRU's state stays within (-1, 1).
    /// assert!(h.value().iter().all(|v| v.abs() < 1.0));
    /// ```
    ///
    /// # Panics
    /// When the graph is built, naming the shapes: if `x` does not have `inputs` columns,
    /// `h` is not `x`'s rows by `hidden`, or the fields' shapes do not fit together.
    #[track_caller]
    pub fn step<X, H>(&self, x: &Variable<X>, h: &Variable<H>) -> Variable<Boxed>
    where
        X: Node<Rows = Dyn, Cols = Dyn> + 'static,
        H: Node<Rows = Dyn, Cols = Dyn> + 'static,
    {
        let hidden = self.check_shapes(x.shape(), h.shape());
        let gates_x = (x.dot(&self.input_weights) + self.input_bias.clone()).boxed();
        let gates_h = (h.dot(&self.hidden_weights) + self.hidden_bias.clone()).boxed();
        let gate = |g: usize| s![.., g * hidden..(g + 1) * hidden];
        let reset = (gates_x.slice(gate(0)) + gates_h.slice(gate(0)))
            .sigmoid()
            .boxed();
        let update = (gates_x.slice(gate(1)) + gates_h.slice(gate(1)))
            .sigmoid()
            .boxed();
        let candidate = (gates_x.slice(gate(2)) + reset * gates_h.slice(gate(2)))
            .tanh()
            .boxed();
        // (1 − z) ⊙ n + z ⊙ h, with one product fewer.
        (candidate.clone() + update * (h.clone() - candidate)).boxed()
    }

    /// Checks the fields' shapes against each other and the step's operands; returns the
    /// number of hidden units.
    #[track_caller]
    fn check_shapes(&self, x: (usize, usize), h: (usize, usize)) -> usize {
        let hidden = self.hidden();
        let shapes = [
            ("input_weights", self.input_weights.shape(), self.inputs()),
            ("hidden_weights", self.hidden_weights.shape(), hidden),
            ("input_bias", self.input_bias.shape(), 1),
            ("hidden_bias", self.hidden_bias.shape(), 1),
        ];
        for (name, shape, rows) in shapes {
            assert!(
                shape == (rows, 3 * hidden),
                "Gru::step: `{name}` is {}x{}, but a cell of {hidden} hidden units (from \
                 `hidden_weights`, {}x{}) needs it {rows}x{}",
                shape.0,
                shape.1,
                self.hidden_weights.shape().0,
                self.hidden_weights.shape().1,
                3 * hidden
            );
        }
        assert!(
            x.1 == self.inputs(),
            "Gru::step: the input is {}x{}, but the cell takes {} features per row \
             (`input_weights` is {}x{})",
            x.0,
            x.1,
            self.inputs(),
            self.inputs(),
            3 * hidden
        );
        assert!(
            h == (x.0, hidden),
            "Gru::step: the state is {}x{}, but an input of {} rows to a cell of {hidden} \
             hidden units needs it {}x{hidden}",
            h.0,
            h.1,
            x.0,
            x.0
        );
        hidden
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gradcheck::{check_named_gradients, CheckOptions};
    use crate::IndexInputNode;
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

    /// Gradients of every parameter and of the inputs through three steps, against
    /// finite differences, on batches of one and of three, with inputs from a lookup.
    #[test]
    fn gradients_match_finite_differences() {
        for batch in [1, 3] {
            let mut rng = rng();
            let gru = Gru::new(4, 6, &mut rng);
            let embed = ParameterNode::new(crate::random_matrix(7, 4));
            let mut h = gru.initial_state(batch).boxed();
            for step in 0..3 {
                let ids: Vec<usize> = (0..batch).map(|b| (step * 3 + b) % 7).collect();
                h = gru.step(&embed.index(&IndexInputNode::new(&ids)), &h);
            }
            let mut out = h * 2.0;
            let mut named = gru.named_parameters();
            named.push(("embed", embed.clone()));
            let options = CheckOptions {
                epsilon: 1e-3,
                ..CheckOptions::default()
            };
            for (name, report) in check_named_gradients(&mut out, &named, &options) {
                assert!(
                    report.passed() && !report.is_vacuous(),
                    "batch {batch}, {name}: {report}"
                );
            }
        }
    }

    /// Wrong shapes are named when the step is built.
    #[test]
    fn wrong_shapes_panic_naming_them() {
        let gru = Gru::new(3, 4, &mut rng());
        let message = |f: &dyn Fn()| {
            let payload =
                std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)).expect_err("a panic");
            payload
                .downcast_ref::<String>()
                .cloned()
                .expect("a message")
        };
        let text = message(&|| {
            gru.step(
                &InputNode::new(Array2::zeros((2, 5))),
                &gru.initial_state(2),
            );
        });
        assert!(
            text.starts_with("Gru::step: the input is 2x5, but the cell takes 3 features"),
            "{text}"
        );
        let text = message(&|| {
            gru.step(
                &InputNode::new(Array2::zeros((2, 3))),
                &gru.initial_state(1),
            );
        });
        assert!(
            text.starts_with("Gru::step: the state is 1x4, but an input of 2 rows"),
            "{text}"
        );
        let odd = Gru {
            input_bias: ParameterNode::new(Array2::zeros((1, 4))),
            ..Gru::new(3, 4, &mut rng())
        };
        let text = message(&|| {
            odd.step(
                &InputNode::new(Array2::zeros((2, 3))),
                &odd.initial_state(2),
            );
        });
        assert!(
            text.starts_with("Gru::step: `input_bias` is 1x4, but a cell of 4 hidden units"),
            "{text}"
        );
    }
}
