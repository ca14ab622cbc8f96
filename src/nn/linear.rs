//! [`Linear`]: a fully connected layer, `x·W + b`, applicable to any node.

use crate::nodes::{Add, Dot, ParameterNode};
use crate::shape::{Broadcast, SameDim};
use crate::{Dyn, Node, Variable};
use ndarray::Array2;
use rand::Rng;

/// The node a [`Linear`] layer builds over an input of node type `X`: `x·W + b`, typed, so
/// that a chain of layers is one static expression (`Relu<LinearOutput<Relu<LinearOutput<X>>>>`
/// for two layers with their activations). Name it in a struct's field or a function's
/// return type.
///
/// ```
/// use wyrm::nn::{Linear, LinearOutput};
/// use wyrm::prelude::*;
/// use wyrm::rand::{rngs::StdRng, SeedableRng};
///
/// let layer = Linear::new(3, 2, &mut StdRng::seed_from_u64(0));
/// let x = InputNode::new(random_matrix(5, 3));
/// let y: Variable<LinearOutput<InputNode>> = layer.apply(&x);
/// assert_eq!(y.shape(), (5, 2));
/// ```
pub type LinearOutput<X> = Add<Dot<X, ParameterNode>, ParameterNode>;

/// A fully connected layer: `y = x·W + b`, for `x` of `batch x inputs`, `W` (`weights`)
/// of `inputs x outputs` and `b` (`bias`) a `1 x outputs` row added to every row.
///
/// A layer is two parameter nodes, not a graph: [`apply`](Self::apply) it to any node
/// (an input, another layer's activation, a lookup, a boxed node) to get a typed node,
/// with no boxing, so `forward` and `backward` stay static calls; apply it again
/// elsewhere and both uses share (and train) the same weights. This is what a `model!`
/// block cannot do for you: layers whose number comes from a configuration, or one
/// network's output fed to another's (a generator to a discriminator).
///
/// ```
/// use wyrm::nn::Linear;
/// use wyrm::prelude::*;
/// use wyrm::rand::{rngs::StdRng, SeedableRng};
///
/// let mut rng = StdRng::seed_from_u64(7);
/// // A multilayer perceptron whose depth is a run-time setting: each layer is boxed, so
/// // that every step of the loop has the same type.
/// let sizes = [2, 16, 16, 1];
/// let layers: Vec<Linear> =
///     sizes.windows(2).map(|w| Linear::new(w[0], w[1], &mut rng)).collect();
/// let x = InputNode::new(wyrm::ndarray::arr2(&[[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]]));
/// let y = InputNode::new(wyrm::ndarray::arr2(&[[0.0], [1.0], [1.0], [0.0]])); // XOR
/// let mut h = x.boxed();
/// for (i, layer) in layers.iter().enumerate() {
///     let z = layer.apply(&h);
///     h = if i + 1 < layers.len() { z.tanh().boxed() } else { z.boxed() };
/// }
/// let loss = (h.clone() - y).square().mean();
/// let parameters: Vec<_> = layers.iter().flat_map(Linear::parameters).collect();
/// let mut optimizer = Adam::new(0.05, parameters);
/// for _ in 0..300 {
///     loss.forward();
///     loss.backward(1.0);
///     optimizer.step();
///     optimizer.zero_gradients();
/// }
/// loss.forward();
/// assert!(loss.value()[(0, 0)] < 0.01, "{}", loss.value()[(0, 0)]);
/// ```
///
/// One network's output fed to another, typed end to end, and each network's
/// parameters for its own optimizer (see the optimizer module's "Two optimizers over one
/// graph"):
///
/// ```
/// use wyrm::nn::Linear;
/// use wyrm::prelude::*;
/// use wyrm::rand::{rngs::StdRng, SeedableRng};
///
/// let mut rng = StdRng::seed_from_u64(1);
/// let (generator, discriminator) = (Linear::new(4, 2, &mut rng), Linear::new(2, 1, &mut rng));
/// let noise = InputNode::new(random_matrix(8, 4));
/// let fake = generator.apply(&noise).tanh();
/// let score = discriminator.apply(&fake).sigmoid();
/// let _generator_optimizer = Adam::new(1e-3, generator.parameters());
/// let _discriminator_optimizer = Adam::new(1e-3, discriminator.parameters());
/// score.forward();
/// assert_eq!(score.shape(), (8, 1));
/// ```
///
/// With the `serde` feature, a layer saves its two parameters' current values (those of
/// the shared storage, for a layer over shared parameters) as a struct of arrays under
/// the fields' names, and loads as a layer over new local parameters; a file whose
/// shapes do not fit together is an error naming the field.
///
/// ```
/// # #[cfg(feature = "serde")] {
/// use wyrm::nn::Linear;
/// use wyrm::rand::{rngs::StdRng, SeedableRng};
///
/// let trained = Linear::new(3, 2, &mut StdRng::seed_from_u64(1));
/// let saved = serde_json::to_string(&trained).unwrap();
/// let loaded: Linear = serde_json::from_str(&saved).unwrap();
/// assert_eq!(loaded.weights.value(), trained.weights.value());
/// # }
/// ```
///
/// A clone is the same layer (it shares the two parameter nodes, as cloning a
/// [`Variable`] does); for a copy, build one with
/// [`from_parameters`](Self::from_parameters) over new parameters.
#[derive(Clone)]
pub struct Linear {
    /// `W`: `inputs x outputs`.
    pub weights: Variable<ParameterNode>,
    /// `b`: `1 x outputs`, added to every row of `x·W`.
    pub bias: Variable<ParameterNode>,
}

/// The size: `Linear { inputs: 3, outputs: 2 }`.
impl std::fmt::Debug for Linear {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Linear")
            .field("inputs", &self.inputs())
            .field("outputs", &self.outputs())
            .finish()
    }
}

/// The fields' names, in the order every function here takes them.
const NAMES: [&str; 2] = ["weights", "bias"];

impl Linear {
    /// A layer from `inputs` features to `outputs`, every weight and bias drawn uniformly
    /// from `±1/√inputs` (PyTorch's initialisation of its `Linear`). For another scheme,
    /// build the parameters yourself and use [`from_parameters`](Self::from_parameters).
    ///
    /// ```
    /// use wyrm::nn::Linear;
    /// use wyrm::rand::{rngs::StdRng, SeedableRng};
    ///
    /// let layer = Linear::new(16, 4, &mut StdRng::seed_from_u64(0));
    /// assert_eq!(layer.weights.shape(), (16, 4));
    /// assert_eq!(layer.bias.shape(), (1, 4));
    /// assert!(layer.weights.value().iter().all(|w| w.abs() <= 0.25));
    /// ```
    ///
    /// # Panics
    /// If `inputs` or `outputs` is zero.
    #[track_caller]
    pub fn new(inputs: usize, outputs: usize, rng: &mut impl Rng) -> Self {
        assert!(
            inputs > 0 && outputs > 0,
            "Linear::new: a layer needs at least one input and one output, got {inputs} \
             inputs and {outputs} outputs"
        );
        let bound = 1.0 / (inputs as f32).sqrt();
        let [weights, bias] = [inputs, 1].map(|rows| {
            ParameterNode::new(Array2::from_shape_simple_fn((rows, outputs), || {
                rng.gen_range(-bound..=bound)
            }))
        });
        Linear { weights, bias }
    }

    /// A layer over the given parameters: trained ones, ones initialised another way, or
    /// [`HogwildParameter`](crate::HogwildParameter)s shared between threads for Hogwild
    /// training (each thread wraps the same storage).
    ///
    /// When porting a PyTorch `Linear`, `weights` is its `weight` transposed and `bias`
    /// its `bias` as a row.
    ///
    /// ```
    /// use wyrm::nn::Linear;
    /// use wyrm::prelude::*;
    /// use wyrm::rand::{rngs::StdRng, SeedableRng};
    ///
    /// let mut rng = StdRng::seed_from_u64(1);
    /// // Xavier weights and a zero bias.
    /// let layer = Linear::from_parameters(
    ///     ParameterNode::new(wyrm::init::xavier(8, 3, &mut rng)),
    ///     ParameterNode::new(wyrm::ndarray::Array2::zeros((1, 3))),
    /// );
    /// // In each Hogwild thread, a layer over the same storage:
    /// let (w, b) = (layer.weights.hogwild_parameter(), layer.bias.hogwild_parameter());
    /// let in_thread = Linear::from_parameters(ParameterNode::shared(w), ParameterNode::shared(b));
    /// assert_eq!(in_thread.outputs(), 3);
    /// ```
    ///
    /// # Panics
    /// If the shapes do not fit together (`bias` must be `1 x` the weights' columns),
    /// naming them.
    #[track_caller]
    pub fn from_parameters(
        weights: Variable<ParameterNode>,
        bias: Variable<ParameterNode>,
    ) -> Self {
        let layer = Linear { weights, bias };
        layer.check_fields("from_parameters");
        layer
    }

    /// The number of input features (the rows of `weights`).
    ///
    /// ```
    /// use wyrm::nn::Linear;
    /// use wyrm::rand::{rngs::StdRng, SeedableRng};
    ///
    /// assert_eq!(Linear::new(16, 4, &mut StdRng::seed_from_u64(0)).inputs(), 16);
    /// ```
    pub fn inputs(&self) -> usize {
        self.weights.shape().0
    }

    /// The number of outputs (the columns of `weights`).
    ///
    /// ```
    /// use wyrm::nn::Linear;
    /// use wyrm::rand::{rngs::StdRng, SeedableRng};
    ///
    /// assert_eq!(Linear::new(16, 4, &mut StdRng::seed_from_u64(0)).outputs(), 4);
    /// ```
    pub fn outputs(&self) -> usize {
        self.weights.shape().1
    }

    /// `x·W + b`, for `x` of any node type with `inputs` columns: a
    /// `rows x outputs` node, typed (see [`LinearOutput`]).
    ///
    /// ```
    /// use wyrm::nn::Linear;
    /// use wyrm::prelude::*;
    ///
    /// let layer = Linear::from_parameters(
    ///     ParameterNode::new(wyrm::ndarray::arr2(&[[1.0, 0.0], [0.0, 2.0]])),
    ///     ParameterNode::new(wyrm::ndarray::arr2(&[[0.5, -0.5]])),
    /// );
    /// let y = layer.apply(&InputNode::new(wyrm::ndarray::arr2(&[[1.0, 1.0], [2.0, 3.0]])));
    /// y.forward();
    /// assert_eq!(y.value(), wyrm::ndarray::arr2(&[[1.5, 1.5], [2.5, 5.5]]));
    /// ```
    ///
    /// # Panics
    /// When the graph is built, naming the shapes: if `x` does not have `inputs` columns,
    /// or the fields (public, so they may have been replaced) do not fit together.
    #[track_caller]
    pub fn apply<X: Node>(&self, x: &Variable<X>) -> Variable<LinearOutput<X>>
    where
        X::Rows: Broadcast<Dyn>,
        X::Cols: SameDim<Dyn>,
    {
        self.check_fields("apply");
        let (rows, columns) = x.shape();
        assert!(
            columns == self.inputs(),
            "Linear::apply: the input is {rows}x{columns}, but the layer takes {} features \
             per row (`weights` is {}x{})",
            self.inputs(),
            self.inputs(),
            self.outputs()
        );
        x.dot(&self.weights) + &self.bias
    }

    /// The two parameters, `weights` then `bias`: for an optimizer, or to share (see
    /// [`from_parameters`](Self::from_parameters)).
    ///
    /// ```
    /// use wyrm::nn::Linear;
    /// use wyrm::prelude::*;
    /// use wyrm::rand::{rngs::StdRng, SeedableRng};
    ///
    /// let layer = Linear::new(4, 2, &mut StdRng::seed_from_u64(0));
    /// let _optimizer = SGD::new(0.1, layer.parameters());
    /// assert_eq!(layer.parameters().len(), 2);
    /// ```
    pub fn parameters(&self) -> Vec<Variable<ParameterNode>> {
        vec![self.weights.clone(), self.bias.clone()]
    }

    /// The two parameters with their field names, for
    /// [`check_named_gradients`](crate::gradcheck::check_named_gradients) and for
    /// reporting; prefix them with the layer's place in a network of several.
    ///
    /// ```
    /// use wyrm::nn::Linear;
    /// use wyrm::rand::{rngs::StdRng, SeedableRng};
    ///
    /// let layer = Linear::new(4, 2, &mut StdRng::seed_from_u64(0));
    /// let names: Vec<&str> = layer.named_parameters().iter().map(|(n, _)| *n).collect();
    /// assert_eq!(names, ["weights", "bias"]);
    /// ```
    pub fn named_parameters(&self) -> Vec<(&'static str, Variable<ParameterNode>)> {
        NAMES.into_iter().zip(self.parameters()).collect()
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
        let ((inputs, outputs), bias) = (self.weights.shape(), self.bias.shape());
        if inputs == 0 || outputs == 0 {
            return Some(format!(
                "Linear::{call}: a layer needs at least one input and one output, but \
                 `weights` is {inputs}x{outputs}"
            ));
        }
        (bias != (1, outputs)).then(|| {
            format!(
                "Linear::{call}: `bias` is {}x{}, but `weights` of {inputs}x{outputs} needs it \
                 1x{outputs}",
                bias.0, bias.1
            )
        })
    }
}

/// Saving (see [`Linear`]).
#[cfg(feature = "serde")]
mod saving {
    use super::Linear;
    use crate::nodes::ParameterNode;
    use ndarray::Array2;
    use serde::{de, Deserialize, Deserializer, Serialize, Serializer};

    /// A layer's parameters as saved.
    #[derive(Serialize, Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Saved {
        weights: Array2<f32>,
        bias: Array2<f32>,
    }

    impl Serialize for Linear {
        fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
            Saved {
                weights: crate::nn::current_value(&self.weights),
                bias: crate::nn::current_value(&self.bias),
            }
            .serialize(serializer)
        }
    }

    impl<'de> Deserialize<'de> for Linear {
        fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
            let saved = Saved::deserialize(deserializer)?;
            let layer = Linear {
                weights: ParameterNode::new(saved.weights),
                bias: ParameterNode::new(saved.bias),
            };
            match layer.misfit("deserialize") {
                Some(message) => Err(de::Error::custom(message)),
                None => Ok(layer),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::nn::cell::test_support::{assert_gradients, panic_message};
    use crate::typenum::{U2, U3};
    use crate::{random_matrix, InputNode};
    use rand::SeedableRng;

    fn layer(inputs: usize, outputs: usize) -> Linear {
        Linear::new(inputs, outputs, &mut rand::rngs::StdRng::seed_from_u64(3))
    }

    /// The value is `x·W + b` by plain arrays, for several shapes.
    #[test]
    fn the_value_is_the_affine_map() {
        for (rows, inputs, outputs) in [(1, 1, 1), (5, 3, 2), (2, 9, 17)] {
            let layer = layer(inputs, outputs);
            let x = crate::init::seeded(rows, inputs, 1.0, 11);
            let y = layer.apply(&InputNode::new(x.clone()));
            y.forward();
            let expected = x.dot(&layer.weights.value()) + layer.bias.value();
            for (a, b) in y.value().iter().zip(&expected) {
                assert!(
                    (a - b).abs() < 1e-5,
                    "{rows}x{inputs} -> {outputs}: {a} vs {b}"
                );
            }
        }
    }

    /// Both parameters' gradients match finite differences under a non-trivial upstream
    /// gradient, on several shapes, through a nonlinearity so that errors in one row's
    /// share cannot cancel.
    #[test]
    fn gradients_match_finite_differences() {
        for (seed, (rows, inputs, outputs)) in
            [(1, 1, 1), (5, 3, 2), (4, 7, 5)].into_iter().enumerate()
        {
            let layer = layer(inputs, outputs);
            let x = InputNode::new(crate::init::seeded(rows, inputs, 1.0, 20 + seed as u64));
            let upstream =
                InputNode::new(crate::init::seeded(rows, outputs, 1.0, 40 + seed as u64));
            let out = (layer.apply(&x).tanh() * upstream).scalar_sum();
            assert_gradients(
                &out,
                &layer.named_parameters(),
                &format!("{rows}x{inputs}->{outputs}"),
            );
        }
    }

    /// Two applications share the weights: the gradient is the sum of both uses'.
    #[test]
    fn two_applications_train_the_same_weights() {
        let layer = layer(3, 2);
        let (a, b) = (
            InputNode::new(random_matrix(2, 3)),
            InputNode::new(random_matrix(4, 3)),
        );
        let both = layer.apply(&a).scalar_sum() + layer.apply(&b).scalar_sum();
        both.forward();
        both.backward(1.0);
        // d/dW of the sum of x·W over both inputs: every row of each input, summed, per column.
        let column_sums =
            a.value().sum_axis(ndarray::Axis(0)) + b.value().sum_axis(ndarray::Axis(0));
        let gradient = layer.weights.gradient();
        for i in 0..3 {
            for j in 0..2 {
                assert!((gradient[(i, j)] - column_sums[i]).abs() < 1e-5);
            }
        }
        assert_eq!(layer.bias.gradient(), ndarray::arr2(&[[6.0, 6.0]]));
    }

    /// A statically shaped input applies as well, and keeps its static row count.
    #[test]
    fn a_statically_shaped_input_applies() {
        let x = InputNode::<U2, U3>::new_static(random_matrix(2, 3));
        let y = layer(3, 4).apply(&x);
        fn rows<T: Node<Rows = U2>>(_: &Variable<T>) {}
        rows(&y);
        y.forward();
        assert_eq!(y.shape(), (2, 4));
    }

    #[test]
    fn a_wrong_input_width_names_both_shapes() {
        let layer = layer(3, 2);
        let message = panic_message(|| {
            layer.apply(&InputNode::new(random_matrix(5, 4)));
        });
        assert_eq!(
            message,
            "Linear::apply: the input is 5x4, but the layer takes 3 features per row \
             (`weights` is 3x2)"
        );
    }

    #[test]
    fn misfitting_parameters_name_the_field() {
        let message = panic_message(|| {
            Linear::from_parameters(
                ParameterNode::new(random_matrix(3, 2)),
                ParameterNode::new(random_matrix(2, 1)),
            );
        });
        assert_eq!(
            message,
            "Linear::from_parameters: `bias` is 2x1, but `weights` of 3x2 needs it 1x2"
        );
        let replaced = layer(3, 2);
        let mut replaced = replaced;
        replaced.bias = ParameterNode::new(random_matrix(1, 3));
        let message = panic_message(|| {
            replaced.apply(&InputNode::new(random_matrix(1, 3)));
        });
        assert!(
            message.starts_with("Linear::apply: `bias` is 1x3"),
            "{message}"
        );
        let message = panic_message(|| {
            Linear::new(0, 2, &mut rand::rngs::StdRng::seed_from_u64(0));
        });
        assert!(message.contains("got 0 inputs and 2 outputs"), "{message}");
    }

    /// PyTorch's bound, `1/√inputs`, and every draw within it; seeded layers repeat.
    #[test]
    fn initialisation_is_bounded_and_seeded() {
        let a = layer(100, 10);
        assert!(a
            .weights
            .value()
            .iter()
            .chain(a.bias.value().iter())
            .all(|w| w.abs() <= 0.1));
        assert!(a.weights.value().iter().any(|w| w.abs() > 0.05));
        assert_eq!(a.weights.value(), layer(100, 10).weights.value());
        assert_eq!(format!("{a:?}"), "Linear { inputs: 100, outputs: 10 }");
    }
}
