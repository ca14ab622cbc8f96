//! [`Cell`]: what the gated recurrent cells ([`Gru`](super::Gru), [`Lstm`](super::Lstm))
//! share: four parameters holding their gates side by side, their initialisation, shape
//! checks and the two products of a step.

use crate::nodes::{Boxed, ParameterNode};
use crate::Variable;
use ndarray::Array2;
use rand::Rng;
use std::marker::PhantomData;

/// Which recurrent cell a [`Cell`] is: [`GruGates`] or [`LstmGates`]. Sealed: the steps
/// are written for those two.
pub trait Gates: sealed::Sealed {
    /// How many gates sit side by side in the weights.
    const GATES: usize;
    /// The cell's name in messages.
    const NAME: &'static str;
}

mod sealed {
    pub trait Sealed {}
    impl Sealed for super::GruGates {}
    impl Sealed for super::LstmGates {}
}

/// The gates of a [`Gru`](super::Gru): reset, update and candidate.
#[derive(Debug)]
pub enum GruGates {}

/// The gates of an [`Lstm`](super::Lstm): input, forget, cell and output.
#[derive(Debug)]
pub enum LstmGates {}

impl Gates for GruGates {
    const GATES: usize = 3;
    const NAME: &'static str = "Gru";
}

impl Gates for LstmGates {
    const GATES: usize = 4;
    const NAME: &'static str = "Lstm";
}

/// A gated recurrent cell's parameters; use it as [`Gru`](super::Gru) or
/// [`Lstm`](super::Lstm), whose docs give the equations and the steps.
///
/// With `k` gates (3 for a GRU, 4 for an LSTM) side by side: `input_weights` (`W`) is
/// `inputs x k·hidden`, `hidden_weights` (`U`) is `hidden x k·hidden`, and the biases
/// `input_bias` (`b`) and `hidden_bias` (`c`) are `1 x k·hidden`. So each step is two
/// matrix products, for the whole batch (one row per sequence).
///
/// With the `serde` feature, a cell saves its four parameters' current values (those of
/// the shared storage, for a cell over shared parameters) as a struct of arrays under the
/// fields' names, and loads as a cell over new local parameters (share them with
/// `p.hogwild_parameter()` of each for Hogwild threads); a file whose shapes do not fit
/// together is an error naming the field.
///
/// ```
/// # #[cfg(feature = "serde")] {
/// use wyrm::nn::Gru;
/// use wyrm::rand::{rngs::StdRng, SeedableRng};
///
/// let trained = Gru::new(3, 8, &mut StdRng::seed_from_u64(1));
/// let saved = serde_json::to_string(&trained).unwrap();
/// let loaded: Gru = serde_json::from_str(&saved).unwrap();
/// assert_eq!(loaded.hidden_bias.value(), trained.hidden_bias.value());
/// # }
/// ```
pub struct Cell<G: Gates> {
    /// `W`: `inputs x k·hidden`, the gates' input weights side by side.
    pub input_weights: Variable<ParameterNode>,
    /// `U`: `hidden x k·hidden`, the gates' recurrent weights side by side.
    pub hidden_weights: Variable<ParameterNode>,
    /// `b`: `1 x k·hidden`, added to the input products.
    pub input_bias: Variable<ParameterNode>,
    /// `c`: `1 x k·hidden`, added to the recurrent products.
    pub hidden_bias: Variable<ParameterNode>,
    gates: PhantomData<G>,
}

/// A cell over the same parameter nodes (training either trains both), as cloning a
/// [`Variable`] shares its node.
impl<G: Gates> Clone for Cell<G> {
    fn clone(&self) -> Self {
        Cell {
            input_weights: self.input_weights.clone(),
            hidden_weights: self.hidden_weights.clone(),
            input_bias: self.input_bias.clone(),
            hidden_bias: self.hidden_bias.clone(),
            gates: PhantomData,
        }
    }
}

/// The kind and size: `Gru { inputs: 3, hidden: 8 }`.
impl<G: Gates> std::fmt::Debug for Cell<G> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct(G::NAME)
            .field("inputs", &self.inputs())
            .field("hidden", &self.hidden())
            .finish()
    }
}

/// The fields' names, in the order every function here takes them.
const NAMES: [&str; 4] = [
    "input_weights",
    "hidden_weights",
    "input_bias",
    "hidden_bias",
];

impl<G: Gates> Cell<G> {
    /// A cell with `inputs` features per step and `hidden` units, every weight and bias
    /// drawn uniformly from `±1/√hidden` (PyTorch's initialisation).
    ///
    /// ```
    /// use wyrm::nn::{Gru, Lstm};
    /// use wyrm::rand::{rngs::StdRng, SeedableRng};
    ///
    /// let mut rng = StdRng::seed_from_u64(0);
    /// let gru = Gru::new(4, 16, &mut rng);
    /// assert_eq!(gru.input_weights.shape(), (4, 48));
    /// assert_eq!(gru.hidden_weights.shape(), (16, 48));
    /// assert!(gru.hidden_bias.value().iter().all(|b| b.abs() <= 0.25));
    /// assert_eq!(Lstm::new(4, 16, &mut rng).input_bias.shape(), (1, 64));
    /// ```
    ///
    /// # Panics
    /// If `inputs` or `hidden` is zero.
    #[track_caller]
    pub fn new(inputs: usize, hidden: usize, rng: &mut impl Rng) -> Self {
        assert!(
            inputs > 0 && hidden > 0,
            "{}::new: a cell needs at least one input and one hidden unit, got {inputs} \
             inputs and {hidden} hidden units",
            G::NAME
        );
        let bound = 1.0 / (hidden as f32).sqrt();
        let [w, u, b, c] = [inputs, hidden, 1, 1].map(|rows| {
            ParameterNode::new(Array2::from_shape_simple_fn(
                (rows, G::GATES * hidden),
                || rng.gen_range(-bound..=bound),
            ))
        });
        Self::from_parameters(w, u, b, c)
    }

    /// A cell over the given parameters, **in the order of the fields** (and of
    /// [`parameters`](Self::parameters)): over
    /// [`HogwildParameter`](crate::HogwildParameter)s for Hogwild training (each thread
    /// wraps the same shared storage), or trained ones. Shapes that do not fit panic, but
    /// the two biases have the same shape (and so have the two weights, where `inputs`
    /// equals `hidden`): swapped, they make another cell without a panic.
    ///
    /// When porting a PyTorch `GRUCell` or `LSTMCell`, `input_weights` is its
    /// `weight_ih` transposed, `hidden_weights` its `weight_hh` transposed, and the biases
    /// its `bias_ih` and `bias_hh` as rows.
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
    /// let [w, u, b, c] = [0, 1, 2, 3].map(|i| ParameterNode::shared(shared[i].clone()));
    /// let gru = Gru::from_parameters(w, u, b, c);
    /// assert_eq!(gru.hidden(), 8);
    /// ```
    ///
    /// # Panics
    /// If the shapes do not fit together (see [`Cell`]), naming them.
    #[track_caller]
    pub fn from_parameters(
        input_weights: Variable<ParameterNode>,
        hidden_weights: Variable<ParameterNode>,
        input_bias: Variable<ParameterNode>,
        hidden_bias: Variable<ParameterNode>,
    ) -> Self {
        let cell = Cell {
            input_weights,
            hidden_weights,
            input_bias,
            hidden_bias,
            gates: PhantomData,
        };
        cell.check_fields("from_parameters");
        cell
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

    /// The four parameters, in the order of the fields: for an optimizer, or to share
    /// (see [`from_parameters`](Self::from_parameters)).
    ///
    /// ```
    /// use wyrm::nn::Lstm;
    /// use wyrm::prelude::*;
    /// use wyrm::rand::{rngs::StdRng, SeedableRng};
    ///
    /// let lstm = Lstm::new(4, 16, &mut StdRng::seed_from_u64(0));
    /// let _optimizer = Adam::new(0.01, lstm.parameters());
    /// assert_eq!(lstm.parameters().len(), 4);
    /// ```
    pub fn parameters(&self) -> Vec<Variable<ParameterNode>> {
        self.fields().map(Variable::clone).to_vec()
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
        NAMES.into_iter().zip(self.parameters()).collect()
    }

    /// A `batch x hidden` matrix of zeros: a state to start sequences from.
    pub(super) fn zeros(&self, batch: usize) -> Variable<crate::InputNode> {
        crate::InputNode::new(Array2::zeros((batch, self.hidden())))
    }

    fn fields(&self) -> [&Variable<ParameterNode>; 4] {
        [
            &self.input_weights,
            &self.hidden_weights,
            &self.input_bias,
            &self.hidden_bias,
        ]
    }

    /// Checks the fields' shapes against each other; `call` names the caller in messages.
    #[track_caller]
    fn check_fields(&self, call: &str) {
        if let Some(message) = self.misfit(call) {
            panic!("{message}");
        }
    }

    /// What is wrong with the fields' shapes, if anything, as a message naming `call`.
    fn misfit(&self, call: &str) -> Option<String> {
        let (inputs, hidden) = (self.inputs(), self.hidden());
        if inputs == 0 || hidden == 0 {
            return Some(format!(
                "{}::{call}: a cell needs at least one input and one hidden unit, got \
                 {inputs} inputs (the rows of `input_weights`) and {hidden} hidden units (the \
                 rows of `hidden_weights`)",
                G::NAME
            ));
        }
        let rows = [inputs, hidden, 1, 1];
        let (name, shape, rows) = NAMES
            .iter()
            .zip(self.fields())
            .zip(rows)
            .map(|((name, field), rows)| (name, field.shape(), rows))
            .find(|&(_, shape, rows)| shape != (rows, G::GATES * hidden))?;
        Some(format!(
            "{}::{call}: `{name}` is {}x{}, but a cell of {hidden} hidden units (the rows of \
             `hidden_weights`) needs it {rows}x{} ({} gates of {hidden} columns)",
            G::NAME,
            shape.0,
            shape.1,
            G::GATES * hidden,
            G::GATES
        ))
    }

    /// Checks the fields and a step's input `x` and state `h` (the LSTM's cell state has
    /// `h`'s shape), then returns `x·W + b` and `h·U + c`, every gate side by side, each
    /// boxed.
    #[track_caller]
    pub(super) fn products(
        &self,
        x: &Variable<Boxed>,
        h: &Variable<Boxed>,
    ) -> [Variable<Boxed>; 2] {
        // The fields are public: they may have been replaced since construction.
        self.check_fields("step");
        let (inputs, hidden, k) = (self.inputs(), self.hidden(), G::GATES);
        let (x_shape, h_shape) = (x.shape(), h.shape());
        assert!(
            x_shape.1 == inputs,
            "{}::step: the input is {}x{}, but the cell takes {inputs} features per row \
             (`input_weights` is {inputs}x{})",
            G::NAME,
            x_shape.0,
            x_shape.1,
            k * hidden
        );
        assert!(
            h_shape == (x_shape.0, hidden),
            "{}::step: the state is {}x{}, but an input of {} rows to a cell of {hidden} \
             hidden units needs it {}x{hidden}",
            G::NAME,
            h_shape.0,
            h_shape.1,
            x_shape.0,
            x_shape.0
        );
        [
            (x.dot(&self.input_weights) + self.input_bias.clone()).boxed(),
            (h.dot(&self.hidden_weights) + self.hidden_bias.clone()).boxed(),
        ]
    }
}

/// Saving (see [`Cell`]).
#[cfg(feature = "serde")]
mod saving {
    use super::{Cell, Gates};
    use crate::nodes::ParameterNode;
    use ndarray::Array2;
    use serde::{de, Deserialize, Deserializer, Serialize, Serializer};

    /// A cell's parameters as saved.
    #[derive(Serialize, Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Saved {
        input_weights: Array2<f32>,
        hidden_weights: Array2<f32>,
        input_bias: Array2<f32>,
        hidden_bias: Array2<f32>,
    }

    impl<G: Gates> Serialize for Cell<G> {
        fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
            let [input_weights, hidden_weights, input_bias, hidden_bias] =
                self.fields().map(crate::nn::current_value);
            Saved {
                input_weights,
                hidden_weights,
                input_bias,
                hidden_bias,
            }
            .serialize(serializer)
        }
    }

    impl<'de, G: Gates> Deserialize<'de> for Cell<G> {
        fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
            let saved = Saved::deserialize(deserializer)?;
            let cell = Cell {
                input_weights: ParameterNode::new(saved.input_weights),
                hidden_weights: ParameterNode::new(saved.hidden_weights),
                input_bias: ParameterNode::new(saved.input_bias),
                hidden_bias: ParameterNode::new(saved.hidden_bias),
                gates: std::marker::PhantomData,
            };
            match cell.misfit("deserialize") {
                Some(message) => Err(de::Error::custom(message)),
                None => Ok(cell),
            }
        }
    }
}

/// What the cells' tests share.
#[cfg(test)]
pub(super) mod test_support {
    use crate::gradcheck::{check_named_gradients, CheckOptions};
    use crate::{Node, ParameterNode, Variable};

    /// Checks the gradient of every one of `named` against finite differences, at a step
    /// small enough for three steps' curvature.
    pub fn assert_gradients<T: Node>(
        out: &Variable<T>,
        named: &[(&str, Variable<ParameterNode>)],
        label: &str,
    ) {
        let options = CheckOptions {
            epsilon: 1e-3,
            ..CheckOptions::default()
        };
        for (name, report) in check_named_gradients(out, named, &options) {
            assert!(
                report.passed() && !report.is_vacuous(),
                "{label}, {name}: {report}"
            );
        }
    }

    /// The message `f` panics with.
    pub fn panic_message(f: impl FnOnce()) -> String {
        let payload =
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)).expect_err("a panic");
        payload
            .downcast_ref::<String>()
            .cloned()
            .expect("a message")
    }
}
