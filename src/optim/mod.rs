//! Optimizers: [`SGD`], [`Adagrad`], [`RmsProp`], [`Adam`], behind the [`Optimizer`] trait.
//!
//! All are built as `X::new(learning_rate, parameters)` and configured with builder
//! methods. Optimizer state (momentum, accumulators, moments) is stored with each
//! parameter, so optimizers over [`shared`](crate::ParameterNode::shared) parameters in
//! different threads update the same state, and a new optimizer of the same kind over a
//! parameter carries on with its state. An optimizer of another kind starts from zeros:
//! the parameter resets its state when a different kind first updates it (switching
//! from SGD with momentum to Adagrad for a second phase of training, say; plain SGD
//! counts as a kind). On shared parameters, switch kinds between phases: two kinds
//! updating one parameter at the same time overwrite each other's state.
//!
//! When a parameter's gradient is purely row-sparse (it was only used through `index`
//! lookups), `step` updates only the touched rows and `zero_gradients` clears only them.
//! Such updates are *lazy*: a row without a gradient in a step keeps its value and its
//! optimizer state (SGD momentum, Adagrad accumulator, RMSProp average, Adam moments)
//! unchanged, and the
//! gradient options ([`clamp`](SGD::clamp), [`l2_penalty`](SGD::l2_penalty)) apply to the
//! touched rows only, so an L2 penalty (or Adam's [`weight_decay`](Adam::weight_decay))
//! decays a row when it is used rather than every step. A row counts as used when it is
//! looked up, whatever its gradient: a padding row looked up with weight 0 decays too, so
//! give padding a row of its own rather than a real id's. As soon as any dense contribution
//! exists (the parameter was also used through, say, `dot`), every element is updated, as
//! for a dense parameter. See [`Adam`] for the consequences for its moments.
//!
//! # Two optimizers over one graph
//!
//! A loss's [`parameters`](crate::Variable::parameters) are all those it depends on. Where
//! two players train parts of one graph (a GAN's generator through its discriminator, an
//! actor through its critic), give each optimizer its own part's list instead, and clear
//! the other part's gradients after a step: the generator's loss leaves gradients on the
//! discriminator, which its next step would otherwise add to its own. Or hold the other
//! part's weights constant in that graph with [`detach`](crate::Variable::detach): they
//! then record no gradient at all (and the pass is cheaper), while the gradient still
//! flows through them to what comes before.
//!
//! ```
//! use wyrm::*;
//!
//! // A generator `z · g` and a discriminator `sigmoid(x · d)`, one parameter each.
//! let (g, d) = (ParameterNode::new(ndarray::arr2(&[[1.0]])), ParameterNode::new(ndarray::arr2(&[[0.5]])));
//! let (z, real) = (InputNode::new(ndarray::arr2(&[[0.3]])), InputNode::new(ndarray::arr2(&[[2.0]])));
//! let fake = z.dot(&g);
//! // The discriminator's loss: the fake sample detached, so `g` records nothing.
//! let d_loss = -(real.dot(&d).sigmoid().ln() + (1.0 - fake.detach().dot(&d).sigmoid()).ln());
//! // The generator's loss, through the discriminator's weights held constant.
//! let g_loss = -fake.dot(&d.detach()).sigmoid().ln();
//! assert_eq!(g_loss.parameters().len(), 2); // `d` too: not the list for `g`'s optimizer
//! let mut d_opt = SGD::new(0.1, vec![d.clone()]);
//! let mut g_opt = SGD::new(0.1, vec![g.clone()]);
//! for _ in 0..3 {
//!     d_loss.forward();
//!     d_loss.backward(1.0);
//!     d_opt.step();
//!     d_opt.zero_gradients();
//!     let d_before = d.value();
//!     g_loss.forward();
//!     g_loss.backward(1.0);
//!     assert!(!d.has_gradient()); // held constant: nothing to clear
//!     g_opt.step();
//!     g_opt.zero_gradients();
//!     assert_eq!(d.value(), d_before);
//! }
//! assert!(g.value()[(0, 0)] > 1.0); // the generator moved towards the real sample
//! ```

mod adagrad;
mod adam;
mod rmsprop;
mod sgd;
#[cfg(test)]
mod sparse_tests;
mod state;
mod synchronized;

pub use adagrad::Adagrad;
pub use adam::Adam;
pub use rmsprop::RmsProp;
pub use sgd::SGD;
pub use state::{
    HasOptimizerState, OptimizerKind, OptimizerState, OptimizerStateError, OptimizerStates,
};
pub use synchronized::{SyncHandle, SynchronizationBarrier, Synchronized};

use crate::nodes::ParameterNode;
use crate::Variable;

/// The builder methods and accessors every optimizer has, for a struct with fields
/// `learning_rate: f32` and `options: GradientOptions`. `$first` configures the optimizer
/// in the examples whose first step should move a weight by the learning rate.
macro_rules! common_options {
    ($ty:ident) => {
        super::common_options!($ty, "");
    };
    ($ty:ident, $first:literal) => {
        impl $ty {
            /// Adds `penalty * w` to each gradient (L2 regularisation), after any
            /// [`clamp`](Self::clamp): the penalty term itself is not clamped.
            ///
            /// Lazily, for a row-sparse gradient (a table's lookups): only the rows with
            /// a gradient in this step are penalised, so an embedding row decays in the
            /// steps that look it up, and a table's cost stays proportional to the rows
            /// touched. A dense gradient penalises every weight at every step.
            ///
            /// ```
            /// use wyrm::*;
            ///
            /// let w = ParameterNode::new(ndarray::arr2(&[[1.0, -1.0]]));
            /// // A loss whose gradient is 0: only the penalty moves the weights.
            /// let loss = w.clone() * 0.0;
            #[doc = concat!(
                "let mut opt = ", stringify!($ty), "::new(0.1, loss.parameters())", $first, ".l2_penalty(0.5);"
            )]
            /// loss.forward();
            /// loss.backward(1.0);
            /// opt.step();
            /// let (a, b) = (w.value()[(0, 0)], w.value()[(0, 1)]);
            /// assert!(0.0 < a && a < 1.0 && b == -a, "both decay towards 0: {a}, {b}");
            /// ```
            ///
            /// # Panics
            /// If `penalty` is negative or not finite.
            #[track_caller]
            pub fn l2_penalty(mut self, penalty: f32) -> Self {
                self.options.l2_penalty = crate::checks::check_setting(
                    concat!(stringify!($ty), "::l2_penalty"),
                    penalty,
                    crate::checks::Range::NonNegative,
                );
                self
            }

            /// Clamps each gradient element to `[min, max]` before the update (and before
            /// the [`l2_penalty`](Self::l2_penalty) term is added). Each element on its
            /// own: this is not clipping by the gradient's norm. A NaN element stays NaN
            /// (and makes its parameter NaN), as nothing can tell which way it should go.
            ///
            /// ```
            /// use wyrm::*;
            ///
            /// let w = ParameterNode::new(ndarray::arr2(&[[1.0, -1.0]]));
            /// let loss = w.square();
            #[doc = concat!(
                "let mut opt = ", stringify!($ty), "::new(0.1, loss.parameters())", $first, ".clamp(0.0, 1.0);"
            )]
            /// loss.forward();
            /// loss.backward(1.0);
            /// opt.step();
            /// // The gradient [2, -2] is clamped to [1, 0]: a gradient of 1 moves the first
            /// // weight by the learning rate, and the second one does not move.
            /// assert!((w.value()[(0, 0)] - 0.9).abs() < 1e-6);
            /// assert_eq!(w.value()[(0, 1)], -1.0);
            /// ```
            ///
            /// # Panics
            /// If `min > max` or either is NaN.
            #[track_caller]
            pub fn clamp(mut self, min: f32, max: f32) -> Self {
                self.options = self.options.with_clamp(min, max);
                self
            }

            /// The learning rate.
            ///
            /// ```
            /// use wyrm::*;
            ///
            /// let w = ParameterNode::new(ndarray::arr2(&[[1.0]]));
            #[doc = concat!("let opt = ", stringify!($ty), "::new(0.1, vec![w]);")]
            /// assert_eq!(opt.learning_rate(), 0.1);
            /// ```
            pub fn learning_rate(&self) -> f32 {
                self.learning_rate
            }

            /// Changes the learning rate (e.g. for a schedule).
            ///
            /// ```
            /// use wyrm::*;
            ///
            /// let w = ParameterNode::new(ndarray::arr2(&[[1.0]]));
            #[doc = concat!("let mut opt = ", stringify!($ty), "::new(0.1, vec![w]);")]
            /// for epoch in 1..=3 {
            ///     // ... train for an epoch, then halve the learning rate.
            ///     opt.set_learning_rate(0.1 / 2f32.powi(epoch));
            /// }
            /// assert_eq!(opt.learning_rate(), 0.0125);
            /// ```
            ///
            /// # Panics
            /// If `learning_rate` is negative or not finite.
            #[track_caller]
            pub fn set_learning_rate(&mut self, learning_rate: f32) {
                self.learning_rate = crate::checks::check_setting(
                    concat!(stringify!($ty), "::set_learning_rate: the learning rate"),
                    learning_rate,
                    crate::checks::Range::NonNegative,
                );
            }
        }
    };
}
use common_options;

/// A training algorithm that updates parameters from their accumulated gradients.
///
/// Code that trains can take any optimizer, including one chosen at run time:
///
/// ```
/// use wyrm::*;
///
/// let w = ParameterNode::new(ndarray::arr2(&[[1.0]]));
/// let loss = w.square();
/// let use_adam = false;
/// let mut optimizer: Box<dyn Optimizer> = if use_adam {
///     Box::new(Adam::new(0.1, loss.parameters()))
/// } else {
///     Box::new(SGD::new(0.25, loss.parameters()))
/// };
/// assert_eq!(optimizer.parameters().len(), 1);
/// loss.forward();
/// loss.backward(1.0);
/// optimizer.step(); // w -= 0.25 * 2w
/// optimizer.zero_gradients();
/// assert_eq!(w.value()[(0, 0)], 0.5);
/// assert_eq!(w.gradient()[(0, 0)], 0.0);
/// ```
pub trait Optimizer {
    /// Updates every parameter from its gradient. A parameter no backward pass reached
    /// since the last [`zero_gradients`](Self::zero_gradients) has no gradient and is left
    /// alone, optimizer state included (momentum and Adam do not coast); one that received
    /// zeros is stepped like any other (see the [`Node`](crate::Node) contract).
    ///
    /// ```
    /// use wyrm::*;
    ///
    /// let w = ParameterNode::new(ndarray::arr2(&[[1.0]]));
    /// let loss = w.clone() * 2.0;
    /// let mut opt = SGD::new(0.1, loss.parameters());
    /// loss.forward();
    /// loss.backward(1.0);
    /// opt.step(); // w -= 0.1 * 2
    /// assert!((w.value()[(0, 0)] - 0.8).abs() < 1e-6);
    /// assert_eq!(w.gradient()[(0, 0)], 2.0); // kept until `zero_gradients`
    /// ```
    fn step(&mut self);
    /// Clears every parameter's gradient.
    ///
    /// ```
    /// use wyrm::*;
    ///
    /// let w = ParameterNode::new(ndarray::arr2(&[[1.0]]));
    /// let loss = w.square();
    /// let mut opt = Adam::new(0.1, loss.parameters());
    /// loss.forward();
    /// loss.backward(1.0);
    /// opt.zero_gradients();
    /// assert_eq!(w.gradient()[(0, 0)], 0.0);
    /// opt.step(); // no gradient: the parameter is left alone
    /// assert_eq!(w.value()[(0, 0)], 1.0);
    /// ```
    fn zero_gradients(&mut self);
    /// The parameters this optimizer updates.
    ///
    /// ```
    /// use std::rc::Rc;
    /// use wyrm::*;
    ///
    /// let w = ParameterNode::new(random_matrix(1, 1));
    /// let b = ParameterNode::new(random_matrix(1, 1));
    /// let opt = Adagrad::new(0.1, vec![w.clone(), b.clone(), w.clone()]);
    /// assert_eq!(opt.parameters().len(), 2); // a repeated parameter is kept once
    /// assert!(Rc::ptr_eq(opt.parameters()[1].node(), b.node()));
    /// ```
    fn parameters(&self) -> &[Variable<ParameterNode>];
    /// Tells the optimizer how many updates its parameters' state has received so far,
    /// from every thread, before its next [`step`](Self::step): for an optimizer whose
    /// step depends on that count (Adam's bias correction) while the state is shared.
    /// [`Synchronized`] calls it before each of its turns. The default ignores it, as
    /// SGD, Adagrad and RMSProp do.
    ///
    /// ```
    /// use wyrm::*;
    ///
    /// let w = ParameterNode::new(ndarray::arr2(&[[1.0]]));
    /// let mut opt = Adam::new(0.1, vec![w]);
    /// opt.set_update_count(41);
    /// assert_eq!(opt.steps(), 41); // the next step is the 42nd
    /// ```
    fn set_update_count(&mut self, count: u64) {
        let _ = count;
    }

    /// Applies the steps counted but not applied yet: a [`Synchronized`] wrapper's pending
    /// steps, at a round with the other threads, as
    /// [`Synchronized::synchronize`](crate::optim::Synchronized::synchronize) does (with
    /// none pending, it joins no round). The plain optimizers apply each step at once, so
    /// the default does nothing. For code that holds a `Box<dyn Optimizer>` and cannot
    /// call `Synchronized::finish` at the end of its work.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use wyrm::optim::{SynchronizationBarrier, Synchronized};
    /// use wyrm::*;
    ///
    /// let shared = Arc::new(HogwildParameter::new(ndarray::arr2(&[[1.0]])));
    /// let w = ParameterNode::shared(shared.clone());
    /// let loss = w.square(); // gradient 2 while w = 1
    /// let barrier = SynchronizationBarrier::new();
    /// let mut optimizer: Box<dyn Optimizer> = Box::new(Synchronized::new(
    ///     SGD::new(0.125, loss.parameters()),
    ///     barrier.register(),
    ///     100,
    /// ));
    /// loss.forward();
    /// loss.backward(1.0);
    /// optimizer.step(); // counted, not applied: 99 more before the round
    /// assert_eq!(shared.value()[(0, 0)], 1.0);
    /// optimizer.flush();
    /// assert_eq!(shared.value()[(0, 0)], 0.75);
    /// assert_eq!(barrier.registered(), 1); // still taking part
    /// ```
    fn flush(&mut self) {}

    /// Scales the gradients of all the optimizer's parameters together so that their
    /// joint L2 norm is `max_norm` if it was above (clipping by global norm, against
    /// exploding gradients in recurrent networks; to `f32` rounding: each element is
    /// rounded once, so the norm may end a relative 1e-7 either side, while the elements
    /// stay normal numbers), and returns the norm they had. Call it between the backward
    /// pass and [`step`](Self::step). Gradients within the bound, or whose
    /// norm is not finite (an element is infinite or NaN), are left as they are. The norm
    /// is summed and returned in `f64`, so it stays finite however large the elements.
    /// Sparse gradients stay sparse: only the touched rows are read and scaled. Under
    /// [`Synchronized`], gradients add up over the steps of a round, so a call clips that
    /// running sum (calling it at every step clips it again each time). (The optimizers'
    /// [`clamp`](SGD::clamp) limits each element on its own instead, which changes the
    /// gradient's direction.)
    ///
    /// ```
    /// use wyrm::*;
    ///
    /// let w = ParameterNode::new(ndarray::arr2(&[[3.0, 4.0]]));
    /// let loss = w.square().scalar_sum() * 0.5; // gradient w: norm 5
    /// let mut opt = SGD::new(1.0, loss.parameters());
    /// loss.forward();
    /// loss.backward(1.0);
    /// assert_eq!(opt.clip_gradient_norm(1.0), 5.0);
    /// assert_eq!(w.gradient(), ndarray::arr2(&[[0.6, 0.8]])); // same direction, norm 1
    /// opt.step();
    /// assert_eq!(w.value(), ndarray::arr2(&[[2.4, 3.2]]));
    /// ```
    ///
    /// # Panics
    /// If `max_norm` is negative or NaN.
    #[track_caller]
    fn clip_gradient_norm(&mut self, max_norm: f32) -> f64 {
        clip_gradient_norm(self.parameters(), max_norm)
    }
}

/// [`Optimizer::clip_gradient_norm`] over any list of parameters.
#[track_caller]
fn clip_gradient_norm(parameters: &[Variable<ParameterNode>], max_norm: f32) -> f64 {
    assert!(
        max_norm >= 0.0,
        "clip_gradient_norm: the largest norm must be 0 or more, not {max_norm}"
    );
    let squares: f64 = parameters
        .iter()
        .map(|p| p.node().gradient_squared_norm())
        .sum();
    let norm = squares.sqrt();
    if norm.is_finite() && norm > f64::from(max_norm) {
        let factor = f64::from(max_norm) / norm;
        parameters
            .iter()
            .for_each(|p| p.node().scale_gradient(factor));
    }
    norm
}

/// A boxed optimizer is one, so that an optimizer chosen at run time can be wrapped (in
/// [`Synchronized`], say).
impl<O: Optimizer + ?Sized> Optimizer for Box<O> {
    fn step(&mut self) {
        (**self).step()
    }

    fn zero_gradients(&mut self) {
        (**self).zero_gradients()
    }

    fn set_update_count(&mut self, count: u64) {
        (**self).set_update_count(count)
    }

    fn flush(&mut self) {
        (**self).flush()
    }

    fn parameters(&self) -> &[Variable<ParameterNode>] {
        (**self).parameters()
    }

    fn clip_gradient_norm(&mut self, max_norm: f32) -> f64 {
        (**self).clip_gradient_norm(max_norm)
    }
}

/// The per-element rule of an optimizer: new weight from weight, gradient and up to two
/// state values kept per element.
pub(crate) trait UpdateRule {
    /// How many of the state values the rule uses (0, 1 or 2).
    const SLOTS: usize;
    /// What the rule keeps in the state slots (one of [`state_kind`]'s constants), so that a
    /// parameter can tell when another kind of optimizer takes over.
    const KIND: u8;
    /// Returns the updated weight; may update `state`.
    fn update(&self, w: f32, g: f32, state: &mut [f32; 2]) -> f32;
}

/// What a parameter's optimizer state slots hold. State that one kind of optimizer left
/// means something else to another (SGD's momentum is no Adagrad accumulator), so a
/// parameter resets its state to zeros when a rule of another kind first uses it.
pub(crate) mod state_kind {
    /// No state (plain SGD, and parameters no optimizer has updated yet).
    pub(crate) const NONE: u8 = 0;
    /// SGD momentum: the velocity.
    pub(crate) const MOMENTUM: u8 = 1;
    /// Adagrad: the sum of squared gradients.
    pub(crate) const ADAGRAD: u8 = 2;
    /// Adam: the first and second moments.
    pub(crate) const ADAM: u8 = 3;
    /// RMSProp: the moving average of squared gradients.
    pub(crate) const RMSPROP: u8 = 4;
}

/// Gradient clamping and L2 penalty, shared by all optimizers.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct GradientOptions {
    pub(crate) l2_penalty: f32,
    pub(crate) clamp: Option<(f32, f32)>,
}

impl GradientOptions {
    pub(crate) const NONE: GradientOptions = GradientOptions {
        l2_penalty: 0.0,
        clamp: None,
    };

    #[track_caller]
    pub(crate) fn with_clamp(mut self, min: f32, max: f32) -> Self {
        crate::checks::check_bounds("clamp", min, max);
        self.clamp = Some((min, max));
        self
    }
}

/// How a rule turns the raw gradient into the one it uses, element by element.
pub(crate) trait Transform: Copy {
    /// The effective gradient for weight `w` and raw gradient `g`.
    fn apply(&self, w: f32, g: f32) -> f32;
}

impl Transform for GradientOptions {
    /// Clamped, then with the L2 term `l2_penalty * w` added.
    #[inline(always)]
    fn apply(&self, w: f32, g: f32) -> f32 {
        let g = match self.clamp {
            Some((lo, hi)) => g.clamp(lo, hi),
            None => g,
        };
        g + self.l2_penalty * w
    }
}

/// Runs [`update_all`] over `$parameters` with the rule `$rule`, built with `$options`
/// bound to [`Unchanged`] when `$set` is `GradientOptions::NONE`, else to `$set`: two
/// monomorphized update loops, so that the common case carries no clamp or penalty.
macro_rules! update_with_options {
    ($parameters:expr, $set:expr, |$options:ident| $rule:expr) => {
        if $set == $crate::optim::GradientOptions::NONE {
            let $options = $crate::optim::Unchanged;
            $crate::optim::update_all($parameters, &$rule);
        } else {
            let $options = $set;
            $crate::optim::update_all($parameters, &$rule);
        }
    };
}
pub(crate) use update_with_options;

/// The gradient as is: what rules use when no option is set, so that the common case
/// carries no per-element work for options.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Unchanged;

impl Transform for Unchanged {
    #[inline(always)]
    fn apply(&self, _w: f32, g: f32) -> f32 {
        g
    }
}

/// The rule a step applies to each parameter: the same for all (any [`UpdateRule`]), or
/// one per parameter (Adam's, bias-corrected by each parameter's own step count).
pub(crate) trait Rules {
    /// The rule type.
    type Rule: UpdateRule;
    /// The rule for the parameter at `index` in the optimizer's list.
    fn rule(&self, index: usize) -> Self::Rule;
}

impl<U: UpdateRule + Copy> Rules for U {
    type Rule = U;
    #[inline(always)]
    fn rule(&self, _: usize) -> U {
        *self
    }
}

/// Applies each parameter's rule to it, in one function compiled for AVX2 + FMA when the
/// CPU has them, so that the update loops run 8 lanes wide and the per-parameter and
/// per-row bookkeeping around them pays no call into a vectorised context each time.
///
/// The latest forward pass then no longer counts as any variable's own, so a backward
/// pass after the update (without a forward pass in between) forwards again first
/// instead of mixing the values before and after it.
pub(crate) fn update_all<R: Rules>(parameters: &[Variable<ParameterNode>], rules: &R) {
    crate::node::Pass::next();
    #[cfg(target_arch = "x86_64")]
    if crate::kernels::simd_enabled() {
        #[target_feature(enable = "avx2,fma")]
        fn avx2<R: Rules>(parameters: &[Variable<ParameterNode>], rules: &R) {
            update_each(parameters, rules)
        }
        // SAFETY: `simd_enabled` checked that the CPU has AVX2 and FMA.
        return unsafe { avx2(parameters, rules) };
    }
    update_each(parameters, rules)
}

#[inline(always)]
fn update_each<R: Rules>(parameters: &[Variable<ParameterNode>], rules: &R) {
    for (i, p) in parameters.iter().enumerate() {
        p.node().apply_update(&rules.rule(i));
    }
}

/// `parameters` without repeats (the same node listed twice would be updated twice).
///
/// # Panics
/// If two different nodes share one [`HogwildParameter`](crate::HogwildParameter): each
/// would apply its own gradient and update the shared optimizer state once more per step
/// (Adagrad's accumulator gets `g1² + g2²` instead of `(g1 + g2)²`), which differs from
/// one node used twice. One graph (or one optimizer) should hold one node per storage.
#[track_caller]
pub(crate) fn unique(parameters: Vec<Variable<ParameterNode>>) -> Vec<Variable<ParameterNode>> {
    let mut out: Vec<Variable<ParameterNode>> = Vec::with_capacity(parameters.len());
    for p in parameters {
        if out.iter().any(|q| std::rc::Rc::ptr_eq(q.node(), p.node())) {
            continue;
        }
        if let Some(storage) = p.node().shared_storage() {
            let (rows, cols) = p.shape();
            assert!(
                !out.iter()
                    .any(|q| q.node().shared_storage() == Some(storage)),
                "optimizer: two different ParameterNode::shared nodes over the same \
                 HogwildParameter ({rows}x{cols}) were given to one optimizer; each would \
                 update its optimizer state once per step. Build one shared node per \
                 HogwildParameter for a graph and clone that node where it is used again \
                 (for a model! struct: build the second graph with with_parameters_of), \
                 or give each graph its own optimizer (each then applies its own gradient, \
                 as Hogwild threads do)"
            );
        }
        out.push(p);
    }
    out
}

/// Clears the gradients of `parameters`.
pub(crate) fn zero_all(parameters: &[Variable<ParameterNode>]) {
    for p in parameters {
        p.node().zero_gradient();
    }
}
