//! Wyrm: low-overhead, typed, define-by-run reverse-mode automatic differentiation for small
//! and sparse models on the CPU.
//!
//! Build a graph by composing [`Variable`]s with operators and methods; every result has a
//! concrete type recording the structure, so `forward` and `backward` compile to static,
//! inlined calls with no allocation per step.
//!
//! # Quickstart
//!
//! Fit `y = 3x + 5` with SGD:
//!
//! ```
//! use wyrm::*;
//!
//! let num_epochs = 2000;
//! let slope = ParameterNode::new(random_matrix(1, 1));
//! let intercept = ParameterNode::new(random_matrix(1, 1));
//! let x = InputNode::new(random_matrix(1, 1));
//! let y = InputNode::new(random_matrix(1, 1));
//! let yhat = slope.clone() * x.clone() + intercept.clone();
//! let loss = (y.clone() - yhat).square();
//! let mut optimizer = SGD::new(0.1, vec![slope.clone(), intercept.clone()]);
//! for _ in 0..num_epochs {
//!     let x_value: f32 = rand::random();
//!     let y_value = 3.0 * x_value + 5.0;
//!     x.set_value(x_value);
//!     y.set_value(y_value);
//!     loss.forward();
//!     loss.backward(1.0);
//!     optimizer.step();
//!     optimizer.zero_gradients();
//! }
//! assert!((slope.value()[(0, 0)] - 3.0).abs() < 0.1);
//! assert!((intercept.value()[(0, 0)] - 5.0).abs() < 0.1);
//! ```
//!
//! # Tour
//!
//! - Leaves: [`ParameterNode`] (trainable), [`InputNode`] (data you set), and their
//!   statically shaped forms (`ParameterNode::<U1, U3>::new_static`), where a shape mismatch
//!   is a compile error.
//! - Operations: `+ - * /` (elementwise, on variables or references, with `f32` on either
//!   side; a single row, column or 1 x 1 on either side is broadcast, see
//!   [`shape::Broadcast`]), `dot`, `dot_t` (the product with a transpose, read in
//!   place), `vector_dot`, `square`, `exp`, `ln`, `exp_m1`, `ln_1p`, `sin`, `cos`,
//!   `asinh`, `acosh`, `atanh`, `tanh`,
//!   `sigmoid`, `softplus`, `relu`, `leaky_relu`, `gelu`, `sqrt`, `abs`, `pow`, `clip`, row-wise
//!   `softmax`/`log_softmax`,
//!   `scalar_sum`, `sum_rows`, `sum_columns`, `mean`, `mean_rows`, `mean_columns`,
//!   `max_rows`, `max_columns`, `logsumexp_rows`, `logsumexp_columns`, `norm_rows`,
//!   `norm_columns` (Euclidean, with a zero gradient at a zero row), running sums
//!   (`cumsum_rows`/`cumsum_columns`, `logcumsumexp_rows`/`logcumsumexp_columns`),
//!   `standardize_rows(eps)`/`standardize_columns(eps)` (to mean 0 and variance 1: layer
//!   normalisation with a gain and a bias after), `t`, `reshape` (row-major, as NumPy's),
//!   `stack`,
//!   [`concat()`] (any number of variables in one
//!   node), `slice`, `detach` (a
//!   stop-gradient), `dropout` (switched by a [`TrainingFlag`]); your own
//!   elementwise function with [`Variable::map`] (of one variable) or
//!   [`Variable::combine`] (of two), and whole-matrix function with [`Variable::apply`];
//!   see [`nodes`].
//! - [`Variable::boxed`] erases a node's type for data-dependent structure.
//! - Embeddings: [`IndexInputNode`] holds row indices and `param.index(&idx)` looks the
//!   rows up; the gradient is row-sparse, so optimizers touch only the looked-up rows
//!   (`examples/embeddings.rs`). [`BagsInputNode`] holds bags of ids of varying size,
//!   pooled by `param.sum_bags(&bags)` or `param.mean_bags(&bags)` (multi-hot features,
//!   without padding), each id's row optionally scaled by a weight. Rows of any computed
//!   node are picked or pooled the same way by [`Variable::gather_rows`],
//!   `gather_sum_bags` and `gather_mean_bags` (a graph network's neighbour pooling), with
//!   a dense gradient, as are their maxima, [`Variable::gather_max_bags`], and
//!   [`Variable::gather_logsumexp_bags`] (a softmax within groups of rows of any size,
//!   whose log-probabilities [`Variable::log_softmax_bags`] gives row by row),
//!   and [`Variable::pick`] takes an entry per row (a policy's log-probability of each
//!   action taken). Losses for integer targets, binary cross-entropy on logits and the
//!   Huber loss are in [`nn::losses`], a fully connected layer to apply to any node is
//!   [`nn::Linear`], recurrent cells are [`nn::Gru`] and [`nn::Lstm`] (both
//!   [`nn::Recurrent`]), and
//!   attention over a batch of sequences is [`nn::attention`] ([`nn::Attention`] adds
//!   heads, causal masking, padding and shared queries).
//! - Optimizers in [`optim`]: [`SGD`], [`Adagrad`], [`RmsProp`], [`Adam`] (AdamW with
//!   [`weight_decay`](Adam::weight_decay)), and
//!   [`optim::Synchronized`] for deterministic data-parallel training.
//! - Hogwild: [`HogwildParameter`]s in an `Arc` are shared by threads, each building its
//!   own graph with [`ParameterNode::shared`] and updating without locks, soundly (see
//!   [`hogwild`]; `examples/hogwild.rs`).
//! - [`model!`] declares a model in one block and expands to its typed graph, its
//!   parameters and its shared (Hogwild/serving) form (`examples/model_macro.rs`).
//! - Saving (the `serde` feature): shared parameters and `model!` companions implement
//!   serde's `Serialize` and `Deserialize` (see the `save` module), and so does the
//!   optimizer state ([`optim::OptimizerStates`]), for checkpoints that resume training
//!   exactly.
//! - Serving: [`Variable::argmax_rows`] and [`Variable::top_k_rows`] read predictions
//!   from a forward pass's value ([`Variable::top_k_rows_skipping`] leaving out some
//!   columns of each row), and [`top_k`] takes the best `k` of a score row, leaving out
//!   positions such as a user's seen items. For evaluation, [`rank_of`] and
//!   [`Variable::rank_rows`] give the (filtered) rank of a right answer, for MRR and
//!   Hits@k, [`ndcg_at`] scores a ranking against graded relevance labels
//!   ([`mean_ndcg_at`] over a batch of packed queries),
//!   [`roc_auc`] scores against yes/no labels, and [`concordance_index`] (Harrell's C) a
//!   survival model's risks against event times.
//! - [`gradcheck`] checks any graph's gradients against finite differences, including
//!   graphs with your own [`Node`] types.
//! - Runtime shape mismatches panic when the graph is built, naming the operation and
//!   both shapes.
//!
//! # Features
//!
//! - `serde`: saving and loading (the `save` module, which exists only with it: build
//!   these docs with `cargo doc --features serde` to see it). Deriving `Serialize` for
//!   your own checkpoint struct also needs `serde` (with its `derive` feature) among your
//!   dependencies.
//! - `fast-math` (**on by default**): vectorisable approximations of `exp`, `ln`, `tanh`,
//!   `sigmoid` and `softplus` instead of the standard library's calls into libm, one
//!   element at a time, with errors around 3e-7, relative or absolute by function
//!   ([`kernels::fast`] has the table; `f32` itself rounds at 6e-8). Models whose time
//!   goes to these functions gain most: a new user's VAE step (batch 64, two `tanh`
//!   layers, `exp` for the noise scale) took 150 µs without it and 32 µs with it, its loss
//!   unchanged; a normalising flow's, 2.75 ms and 0.63 ms; the benchmark MLP's, 2x. For
//!   the standard library's functions (bit for bit what `f32::exp` gives), depend on
//!   Wyrm with `default-features = false`. The values of `exp_m1`, `ln_1p`, `sin`, `cos`,
//!   `sqrt` and `pow` are the standard library's either way (`exp_m1`'s slope, `eˣ`, is
//!   the approximation's with the feature).
#![doc(test(attr(deny(warnings))))]

mod atomic_f32;
mod checks;
pub mod gradcheck;
pub mod hogwild;
pub mod init;
pub mod kernels;
mod metrics;
mod model_docs;
pub mod nn;
mod node;
pub mod nodes;
pub mod optim;
#[cfg(feature = "serde")]
pub mod save;
pub mod shape;
mod sparse;
mod top_k;
pub(crate) mod variable;

#[doc(hidden)]
pub use model_docs::__private;

pub use hogwild::HogwildParameter;
pub use init::random_matrix;
pub use metrics::{concordance_index, mean_ndcg_at, ndcg_at, roc_auc};
pub use node::{GradientWrite, Node, NodeState, Pass, Scratch};
pub use nodes::{
    concat, BagsInputNode, Boxed, IndexInputNode, InputNode, ParameterNode, TrainingFlag,
};
pub use optim::{Adagrad, Adam, Optimizer, RmsProp, SGD};
pub use shape::{Dim, Dyn};
pub use top_k::{rank_of, top_k};
pub use variable::{Operand, Variable};

/// Declares a model: its parameters, inputs and the expressions connecting them, in one
/// block. Expands to a struct holding the typed graph, its constructors, its parameter
/// list, and a companion struct of shared parameters for Hogwild training and serving.
///
/// ```
/// use wyrm::prelude::*;
/// use wyrm::model;
///
/// model! {
///     /// Univariate linear regression.
///     pub struct LinearRegression {
///         slope: Param<1, 1>,
///         intercept: Param<1, 1>,
///         x: Input<1, 1>,
///         y: Input<1, 1>,
///         yhat = slope * x + intercept,
///         loss = (y - yhat).square(),
///     }
/// }
///
/// let model = LinearRegression::new();
/// let mut optimizer = SGD::new(0.1, model.parameters());
/// for step in 0..2000 {
///     let x = (step % 100) as f32 / 100.0;
///     model.x.set_value(x);
///     model.y.set_value(3.0 * x + 5.0);
///     model.loss.forward();
///     model.loss.backward(1.0);
///     optimizer.step();
///     optimizer.zero_gradients();
/// }
/// assert!((model.slope.value()[(0, 0)] - 3.0).abs() < 0.1);
/// assert!((model.intercept.value()[(0, 0)] - 5.0).abs() < 0.1);
/// ```
///
/// # Syntax
///
/// ```text
/// model! {
///     #[attributes] visibility struct Name {
///         #[attributes] name: Param<R, C> [= initialiser],
///         #[attributes] name: Input<R, C>,
///         #[attributes] name: Index<K>,
///         #[attributes] name: Bags<B>,
///         #[attributes] name: Training,
///         #[attributes] name = expression,
///         ...
///     }
/// }
/// ```
///
/// - `name: Param<R, C>` declares an `R x C` trainable parameter, `name: Input<R, C>` an
///   input (zeros until set with `set_value`: each graph, such as each Hogwild thread's,
///   has its own inputs to set, constant ones included; `#[gradient]` on it makes an
///   input that records its gradient, [`InputNode::with_gradient`], for saliency maps and
///   adversarial examples from the model's own graph), `name: Index<K>` an input of `K`
///   row indices for lookups, `name: Bags<B>` a [`BagsInputNode`] of `B` bags of ids for
///   `table.sum_bags(name)` and `table.mean_bags(name)`, and `name: Training` a
///   [`TrainingFlag`] field for the block's `dropout(rate, name)` nodes (in training mode at
///   first; `model.name.set(false)` evaluates). Each graph has its own flag, as it has its own
///   inputs: one built by `with_dimensions` for evaluation can be switched off while the
///   training graph keeps dropping. The flag of a model built by `new_with_rng` is
///   seeded from that generator (drawn after the parameters, which are initialised as
///   without dropout), and that of a graph built by `with_dimensions` or
///   `with_parameters_of` from the flag of the model it derives from, so a seeded model
///   and its short-batch graph repeat their masks; `from_parameters` and
///   `from_parameter_values` leave the flag random: call `model.training.seed(..)` (see
///   [`TrainingFlag::seed`]) in `Synchronized` threads whose runs should repeat.
/// - A dimension is an integer literal, an identifier, or a `usize` expression in braces
///   (`Param<{HIDDEN}, 1>`), which may read the run-time dimensions (`Input<{len - 1}, 2>`
///   next to an `Input<len, 2>`; `with_dims` computes it again). Every dimension a brace
///   reads must also be named bare somewhere, since a model reads it back from that
///   shape: `Index<{batch * slots}>` alone is an error at `batch` and `slots` (give the
///   product a name, `Index<positions>`). So, in plain arithmetic in braces, a lowercase
///   name is taken for a dimension: name constants in capitals, as Rust does. Each distinct identifier becomes a `usize` argument of
///   the constructors, in order of first appearance: `table: Param<num_items, 32>` gives
///   `Name::new(num_items)`. An identifier not in braces is always such a name, never a
///   constant, even an upper-case one (`Param<N, D>` gives `Name::new(N, D)`): write
///   `{N}` for a constant `N` (with a constant `N` in scope, `Param<N, D>` is an error
///   at `N`: "function parameters cannot shadow constants").
/// - Initialisers: `zeros`, `ones`, `xavier` (uniform in `±sqrt(6 / (R + C))`) and
///   `normal(mean, std)` (numbers). **The default is `normal(0, 0.1)`.**
/// - `name = expression` defines a node from names declared or defined *above* it, with
///   the operators and methods of hand-written code: `+ - * /` (elementwise between two
///   nodes, where a single row, column or `1 x 1` on either side is broadcast; or with a
///   number on either side), unary `-`, and the methods `dot`, `dot_t`, `vector_dot`, `index`,
///   `sum_bags`, `mean_bags` (on a parameter's name), `gather_rows`, `gather_sum_bags`,
///   `gather_mean_bags`, `gather_max_bags`, `gather_logsumexp_bags`,
///   `log_softmax_bags` (on any node),
///   `pick(index)` (an entry per row), `square`,
///   `exp`, `ln`, `exp_m1`, `ln_1p`, `sin`, `cos`, `asinh`, `acosh`, `atanh`, `sqrt`, `abs`,
///   `neg`, `pow(p)`, `tanh`,
///   `sigmoid`, `softplus`, `relu`, `leaky_relu(slope)`, `gelu`,
///   `clip(min, max)`, `detach`, `dropout(rate, training)` (a `Training` item's name;
///   a literal rate must be in `[0, 1)`), `softmax`, `log_softmax`, `scalar_sum`, `mean`, `sum_rows`,
///   `sum_columns`, `mean_rows`, `mean_columns`, `max_rows`, `max_columns`,
///   `logsumexp_rows`, `logsumexp_columns`, `norm_rows`, `norm_columns`, `cumsum_rows`,
///   `cumsum_columns`,
///   `logcumsumexp_rows`, `logcumsumexp_columns`, `standardize_rows(eps)`,
///   `standardize_columns(eps)`, `t`,
///   `stack(other, axis)` (axis `0`/`1` or `Axis(0)`/`Axis(1)`, written
///   out, not a constant: it decides the result's shape, which the block checks),
///   `slice(s![rows, columns])` (the `s!` written in the call; its ranges may read the
///   run-time dimensions, `s![.., 0..hidden]`, and literal ones are checked against
///   literal shapes), `reshape(rows, cols)` (each size a whole number, a dimension's
///   name or a constant in braces giving a `usize`, `{batch * len}`), your own
///   operations `map(op)` (a [`nodes::UnaryOp`]), `combine(op, other)` (a
///   [`nodes::BinaryOp`], broadcasting as `+` does) and `apply(op)` (a [`nodes::SingleOp`],
///   whose result's shape is checked when the graph is built), the `op` written as a unit
///   struct (`Softsign`), a tuple struct (`Scale(2.0)`), a constructor call
///   (`Pinball::new(0.9)`, which must return the type its path names, `Pinball`) or a
///   struct literal (`Pinball { tau: 0.9 }`), whose arguments may read the run-time
///   dimensions (`Scale::per(batch)`); and
///   the functions `concat((a, b, ..), axis)` (2 to 12 nodes in a tuple; the axis as
///   for `stack`), `sparse_categorical_crossentropy(logits, targets)`,
///   `sparse_categorical_crossentropy_weighted(logits, targets, {class_weights})` (the
///   weights a constant expression in braces giving an array, a `Vec<f32>` or a slice,
///   evaluated when the graph is built: `{&CLASS_WEIGHTS}`, `{weights_for(batch)}`),
///   `binary_crossentropy_with_logits(logits, targets)`,
///   `binary_crossentropy_with_logits_weighted(logits, targets, pos_weight)`,
///   `huber(prediction, target, delta)` and `gaussian_kl(mean, log_variance)`. Names are written without `.clone()`, and method arguments with or without
///   `&` (`a.dot(b)` and `a.dot(&b)` are the same).
/// - Numbers are `f32`: literals (one beyond `f32::MAX` is an error), or constant
///   expressions in braces, evaluated when the model is built and cast to `f32`
///   (`x.clip({EPS}, {1.0 - EPS})`, `h * {SCALE}`, `normal(0, {STD})`). They may read the
///   run-time dimensions, as numbers of type `usize`: a mean over a run-time batch is
///   `loss.scalar_sum() * {1.0 / batch as f32}`, recomputed by `with_dimensions`.
/// - Your own [`Node`] types and `.boxed()` are not in blocks: build them outside, on the
///   model's fields (`model.hidden.boxed()`). A parameter that
///   only such code uses is declared in the block all the same, marked `#[allow(unused)]`
///   (else "never used" is an error), so that `parameters()`, `from_parameters`,
///   snapshots and saving include it (see the example below). A block cannot take
///   another graph's node as an input either: to feed one network into another, or to
///   stack a number of layers that a setting gives, apply [`nn::Linear`] layers in code.
/// - Doc comments and attributes on an item go to its field, except `cfg` (or a
///   `cfg_attr` that yields one), which is an error there (the constructors set every
///   item: declare one model per configuration). A `cfg` on the struct applies to
///   everything the block generates.
/// - `#[static_shapes]` on the struct gives parameters and inputs whose two dimensions are
///   literals compile-time (typenum) shapes, e.g. `ParameterNode<U1, U3>`, so that small
///   fixed sizes unroll; without it every node has run-time shape. Only integer literals
///   count: a leaf with a constant in braces (`Param<{HIDDEN}, 1>`) or a name keeps a
///   run-time shape under `#[static_shapes]` too.
///
/// # Expansion
///
/// For `struct Name`, the macro generates:
///
/// - `struct Name` with a public field per declared and defined name, each of its concrete
///   `Variable<...>` type (for example `loss: Variable<Square<Sub<InputNode, Add<Mul<..>,
///   ParameterNode>>>>`): no boxing, so `forward` and `backward` are static calls, exactly
///   as in a graph written by hand. Nodes have run-time shapes.
/// - `Name::new(dims..)` (parameters drawn from the thread's generator),
///   `Name::new_with_rng(&mut rng, dims..)` (reproducible), and `Default` when there are
///   no run-time dimensions. The dimensions come in the order the block first names
///   them, which a parameter declared before the inputs makes easy to get wrong (a
///   trial's `Mdn::new_with_rng(rng, batch, k)` built 128 components for a batch of one,
///   caught only at `set_value`): prefer the named form below.
/// - With run-time dimensions, `struct NameDims` (`Copy + Debug + Eq + Hash`, a public
///   `usize` per dimension) to pass them by name, which cannot be swapped the way
///   positional ones can: `Name::from_dims(NameDims { num_users: 5_000, num_items: 20_000
///   })`, `Name::from_dims_with_rng(&mut rng, dims)`, `model.dims()`, and
///   `model.with_dims(NameDims { batch: 1, ..model.dims() })`, which names only the
///   dimension that changes.
/// - `parameters(&self) -> Vec<Variable<ParameterNode>>`, in declaration order, for
///   optimizers, and `named_parameters(&self)`, the same with each one's name in the block
///   (`Vec<(&'static str, Variable<ParameterNode>)>`), to split them between optimizers
///   (biases without weight decay) or report them by name.
/// - `Name::with_parameters_of(&other)`: a second graph over `other`'s parameter nodes
///   (tied weights), with its own inputs, e.g. the two towers of a siamese model trained
///   through one combined loss; `model.with_dimensions(dims..)` does the same with other
///   run-time dimensions (a batch of another size, such as an epoch's short last batch;
///   it takes all of them, as `new` does, and those sizing parameters keep their values;
///   `with_dims` takes them by name).
/// - `struct NameParameters`, `Clone + Debug + Send + Sync`, with a public
///   `Arc<HogwildParameter>` per parameter and a `usize` per run-time dimension (a clone
///   shares the storage; `snapshot()` copies the current values into new storage);
///   `shared_parameters(&self)` returns it (the same storage for a model built from shared
///   parameters, else a copy of the values, without optimizer state), and
///   `Name::from_parameters(&params)` builds a
///   new graph over it: one per thread for Hogwild training or for serving
///   (`Name::from_parameter_values(&params)` builds one over local copies of the values,
///   which a serving thread reads faster), and `model.set_parameter_values(&params)`
///   writes its values into an existing model in place (restoring the best snapshot when
///   stopping early, or copying an online network into its target network). With the
///   `serde` feature it implements `Serialize` and `Deserialize`, and loading checks
///   that the parameters' shapes fit the model (the `save` module).
///   Another model over some of the same parameters (a scorer for a trained model,
///   shaped for serving), the two blocks naming them alike, takes them by name:
///   `named()` lists a companion's parameters with their names, and
///   `ScorerParameters::from_named(&shared.named(), ScorerDims { batch: 1 })` (without
///   the dimensions for a model that has none) shares their storage, so the scorer sees
///   their training as it happens; a name missing from the list panics, naming it. The
///   fields being public, a companion can also be written out by hand.
/// - `optimizer_states(&self)` and `set_optimizer_states(&self, &states)`, on `Name` and on
///   `NameParameters`: every parameter's optimizer state by name
///   ([`optim::OptimizerStates`]), for checkpoints that resume training exactly.
///
/// ```
/// use rayon::prelude::*;
/// use wyrm::prelude::*;
///
/// wyrm::model! {
///     /// A linear layer with a run-time input width.
///     struct Linear {
///         w: Param<width, 1> = zeros,
///         b: Param<1, 1> = zeros,
///         x: Input<1, width>,
///         y: Input<1, 1>,
///         loss = (x.dot(w) + b - y).square(),
///     }
/// }
///
/// let shared = Linear::new(3).shared_parameters();
/// (0..4).into_par_iter().for_each(|worker| {
///     // Each worker builds its own graph over the same parameters.
///     let model = Linear::from_parameters(&shared);
///     let mut optimizer = SGD::new(0.05, model.parameters());
///     for step in 0..2000 {
///         let i = (step + worker) % 3;
///         let mut x = wyrm::ndarray::Array2::zeros((1, 3));
///         x[(0, i)] = 1.0;
///         model.x.set_value(&x);
///         model.y.set_value(i as f32 + 1.0);
///         model.loss.forward();
///         model.loss.backward(1.0);
///         optimizer.step();
///         optimizer.zero_gradients();
///     }
/// });
/// // Every worker trained the same weights: w + b ≈ [1, 2, 3].
/// let (w, b) = (shared.w.value(), shared.b.value()[(0, 0)]);
/// for i in 0..3 {
///     assert!((w[(i, 0)] + b - (i as f32 + 1.0)).abs() < 0.05);
/// }
/// ```
///
/// Tied weights: two graphs over the same parameter nodes, trained through one loss.
///
/// ```
/// use wyrm::prelude::*;
/// use wyrm::rand::{rngs::StdRng, SeedableRng};
///
/// wyrm::model! {
///     /// An item's embedding, projected.
///     struct Tower {
///         table: Param<items, 4> = normal(0, 1),
///         proj: Param<4, 2> = normal(0, 1),
///         id: Index<1>,
///         out = table.index(id).dot(proj),
///     }
/// }
///
/// let left = Tower::new_with_rng(&mut StdRng::seed_from_u64(1), 10);
/// let right = Tower::with_parameters_of(&left);
/// // Pull the projections of items 2 and 5 together.
/// let loss = (left.out.clone() - right.out.clone()).square().scalar_sum();
/// let mut optimizer = SGD::new(0.05, loss.parameters()); // `table` and `proj`, once each
/// left.id.set_value(2);
/// right.id.set_value(5);
/// loss.forward();
/// let before = loss.value()[(0, 0)];
/// for _ in 0..100 {
///     loss.forward();
///     loss.backward(1.0);
///     optimizer.step();
///     optimizer.zero_gradients();
/// }
/// loss.forward();
/// assert!(loss.value()[(0, 0)] < before * 0.01);
/// ```
///
/// Dropout, on while training and off to evaluate:
///
/// ```
/// use wyrm::rand::{rngs::StdRng, SeedableRng};
///
/// wyrm::model! {
///     struct Mlp {
///         w1: Param<8, 32>,
///         w2: Param<32, 1>,
///         x: Input<1, 8>,
///         training: Training,
///         out = x.dot(w1).relu().dropout(0.3, training).dot(w2),
///     }
/// }
///
/// let model = Mlp::new_with_rng(&mut StdRng::seed_from_u64(0));
/// model.x.set_value(&[1.0; 8]);
/// model.training.set(false);
/// model.out.forward();
/// let evaluated = model.out.value()[(0, 0)];
/// model.training.set(true);
/// model.out.forward(); // another mask each pass while training
/// assert_ne!(model.out.value()[(0, 0)], evaluated);
/// ```
///
/// Your own operation in the block, and layers repeated a number of times known only at
/// run time outside it (`.boxed()` keeps the type fixed), with a parameter of their own
/// declared in the block:
///
/// ```
/// use wyrm::nodes::UnaryOp;
/// use wyrm::prelude::*;
///
/// /// `x / (1 + |x|)`.
/// struct Softsign;
/// impl UnaryOp for Softsign {
///     const NAME: &'static str = "softsign";
///     fn apply(&self, x: f32) -> f32 {
///         x / (1.0 + x.abs())
///     }
///     fn derivative(&self, x: f32, _: f32) -> f32 {
///         1.0 / ((1.0 + x.abs()) * (1.0 + x.abs()))
///     }
/// }
///
/// wyrm::model! {
///     struct Net {
///         w1: Param<3, 8>,
///         #[allow(unused)] // used outside the block
///         w2: Param<8, 8>,
///         x: Input<1, 3>,
///         hidden = x.dot(w1).map(Softsign),
///     }
/// }
///
/// let model = Net::new();
/// let depth = 3; // from the data, say
/// let mut h = model.hidden.boxed();
/// for _ in 0..depth {
///     h = h.dot(&model.w2).map(Softsign).boxed();
/// }
/// let out = h.scalar_sum();
/// let mut optimizer = SGD::new(0.1, model.parameters()); // w1 and w2
/// model.x.set_value(&[1.0, 2.0, 3.0]);
/// let w2 = model.w2.value().to_owned();
/// out.forward();
/// out.backward(1.0);
/// optimizer.step();
/// assert_ne!(model.w2.value(), w2); // trained
/// assert_eq!(Net::from_parameters(&model.shared_parameters()).parameters().len(), 2);
/// ```
///
/// # Errors
///
/// Mistakes are compile errors on the block's tokens, all reported at once: an unknown
/// name, a name used before its definition, a duplicate name (`r#w` is `w`), a dimension
/// named like a node (`users: Param<users, 8>`: call the dimension `num_users`), a
/// parameter no node uses, an unknown method or function (with the closest known one, if
/// any), an expression the block does not take (Rust arithmetic outside braces: write
/// `h * {1.0 / (d as f32).sqrt()}`), a wrong number of dimensions or arguments, a
/// number out of range, and shape mismatches between literal dimensions
/// (dimension names are checked when the graph is built). A block with errors still
/// declares the struct, its companion and their methods with the usual field names and
/// signatures (defined nodes typed `Variable<Boxed>`), so the code using the model mostly
/// adds no errors of its own:
///
/// ```compile_fail
/// wyrm::model! {
///     struct Broken {
///         a: Param<1, 3>,
///         b: Param<1, 4>,
///         c = a + b, // error: shape mismatch: cannot add a 1x3 and a 1x4
///     }
/// }
/// # fn main() {}
/// ```
// A `macro_rules!` wrapper rather than a re-export of the procedural macro: it hands the
// macro `$crate`, the path of this crate wherever the invocation is (a renamed
// dependency, `wy = { package = "wyrm", .. }`, has no `::wyrm`), which only a
// `macro_rules!` macro can name. The user's tokens pass through unchanged, spans included.
#[macro_export]
macro_rules! model {
    ($($model:tt)*) => {
        $crate::__private::model! { $crate; $($model)* }
    };
}

// Compiles and runs the README's Rust code as a doc-test, so the README stays true.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;

/// Re-export of the `ndarray` version Wyrm uses, for building inputs and reading values.
pub use ndarray;
/// Re-export of the `rand` version Wyrm uses (0.8), whose generators the seeded
/// initialisers ([`init`], a model's `new_with_rng`) take: use `wyrm::rand`, or depend on
/// `rand = "0.8"`; a generator of another `rand` version does not fit.
///
/// ```
/// use wyrm::rand::{rngs::StdRng, SeedableRng};
///
/// let mut rng = StdRng::seed_from_u64(7);
/// let w = wyrm::init::xavier(3, 2, &mut rng);
/// assert_eq!(w.shape(), &[3, 2]);
/// ```
pub use rand;
/// Re-export of `typenum`, whose `U1`, `U2`, ... give nodes static shapes.
pub use typenum;

/// Everything a typical program needs: `use wyrm::prelude::*;`. (`Dyn` is here for
/// helper functions over graphs, `Variable<impl Node<Rows = Dyn, Cols = Dyn>>`, and
/// `Boxed` for the `Variable<Boxed>` that `.boxed()`, the recurrent cells and attention
/// return.)
pub mod prelude {
    pub use crate::optim::Optimizer;
    pub use crate::{
        concat, random_matrix, rank_of, top_k, Adagrad, Adam, BagsInputNode, Boxed, Dyn,
        HogwildParameter, IndexInputNode, InputNode, Node, ParameterNode, RmsProp, TrainingFlag,
        Variable, SGD,
    };
}
