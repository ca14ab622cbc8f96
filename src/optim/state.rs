//! Snapshots of optimizer state, for checkpoints that resume training where it stopped.
//!
//! Optimizer state (SGD's momentum, Adagrad's accumulators, RMSProp's averages, Adam's
//! moments) lives with
//! each parameter, so a checkpoint takes it from there: [`OptimizerState`] for one
//! parameter, [`OptimizerStates`] for a `model!` model's parameters by name. Adam's step
//! count lives in the optimizer ([`Adam::steps`](crate::Adam::steps)). With the `serde`
//! feature all of them save and load.

use ndarray::Array2;
use std::collections::BTreeMap;
use std::fmt;

/// What a parameter's optimizer state holds: which kind of optimizer last updated it.
/// New optimizers bring new kinds, so a `match` on it needs a catch-all arm.
///
/// ```
/// use wyrm::*;
/// use wyrm::optim::OptimizerKind;
///
/// let w = ParameterNode::new(ndarray::arr2(&[[1.0]]));
/// assert_eq!(w.optimizer_state().kind(), OptimizerKind::Stateless);
/// let loss = w.square();
/// let mut opt = Adagrad::new(0.1, loss.parameters());
/// loss.forward();
/// loss.backward(1.0);
/// opt.step();
/// assert_eq!(w.optimizer_state().kind(), OptimizerKind::Adagrad);
/// assert_eq!(OptimizerKind::Adagrad.slots(), 1);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(
    feature = "serde",
    derive(serde::Serialize, serde::Deserialize),
    serde(rename_all = "snake_case")
)]
#[non_exhaustive]
pub enum OptimizerKind {
    /// No state: no optimizer has updated the parameter yet, or plain SGD (no momentum).
    Stateless,
    /// SGD with momentum: one slot, the velocity.
    Momentum,
    /// Adagrad: one slot, the sum of squared gradients.
    Adagrad,
    /// Adam: two slots, the first and the second moments.
    Adam,
    /// RMSProp: one slot, the moving average of squared gradients (`"rmsprop"` when saved).
    #[cfg_attr(feature = "serde", serde(rename = "rmsprop"))]
    RmsProp,
}

impl OptimizerKind {
    /// How many arrays of the parameter's shape this kind keeps (0, 1 or 2).
    ///
    /// ```
    /// use wyrm::optim::OptimizerKind;
    ///
    /// assert_eq!(OptimizerKind::Stateless.slots(), 0);
    /// assert_eq!(OptimizerKind::Adam.slots(), 2);
    /// ```
    pub fn slots(self) -> usize {
        match self {
            OptimizerKind::Stateless => 0,
            OptimizerKind::Momentum | OptimizerKind::Adagrad | OptimizerKind::RmsProp => 1,
            OptimizerKind::Adam => 2,
        }
    }

    /// From a parameter's `state_kind` code.
    pub(crate) fn from_code(code: u8) -> Self {
        use super::state_kind::*;
        match code {
            NONE => OptimizerKind::Stateless,
            MOMENTUM => OptimizerKind::Momentum,
            ADAGRAD => OptimizerKind::Adagrad,
            ADAM => OptimizerKind::Adam,
            RMSPROP => OptimizerKind::RmsProp,
            _ => unreachable!("unknown optimizer state kind {code}"),
        }
    }

    /// The parameter's `state_kind` code.
    pub(crate) fn code(self) -> u8 {
        use super::state_kind::*;
        match self {
            OptimizerKind::Stateless => NONE,
            OptimizerKind::Momentum => MOMENTUM,
            OptimizerKind::Adagrad => ADAGRAD,
            OptimizerKind::Adam => ADAM,
            OptimizerKind::RmsProp => RMSPROP,
        }
    }
}

/// A copy of one parameter's optimizer state: its [kind](OptimizerKind) and that kind's
/// arrays, each of the parameter's shape.
///
/// Take it with [`Variable::optimizer_state`](crate::Variable::optimizer_state) (or
/// [`HogwildParameter::optimizer_state`](crate::HogwildParameter::optimizer_state)) and
/// put it back with `set_optimizer_state`: an optimizer of the same kind then carries on
/// exactly as if training had not stopped.
///
/// ```
/// use wyrm::*;
///
/// let w = ParameterNode::new(ndarray::arr2(&[[1.0, -2.0]]));
/// let loss = w.square();
/// let mut opt = Adagrad::new(0.1, loss.parameters());
/// loss.forward();
/// loss.backward(1.0);
/// opt.step();
/// let state = w.optimizer_state();
/// // Adagrad's accumulator holds the squared gradients (2w)² of the first step.
/// assert_eq!(state.slots()[0], ndarray::arr2(&[[4.0, 16.0]]));
/// assert_eq!(state.shape(), (1, 2));
/// ```
#[derive(Clone, Debug, PartialEq)]
#[cfg_attr(
    feature = "serde",
    derive(serde::Serialize, serde::Deserialize),
    serde(try_from = "StateFields")
)]
pub struct OptimizerState {
    kind: OptimizerKind,
    shape: (usize, usize),
    slots: Vec<Array2<f32>>,
}

/// An [`OptimizerState`] as loaded, before the check that its arrays fit its kind and shape.
#[cfg(feature = "serde")]
#[derive(serde::Deserialize)]
#[serde(rename = "OptimizerState")]
struct StateFields {
    kind: OptimizerKind,
    shape: (usize, usize),
    slots: Vec<Array2<f32>>,
}

#[cfg(feature = "serde")]
impl TryFrom<StateFields> for OptimizerState {
    type Error = String;

    fn try_from(fields: StateFields) -> Result<Self, String> {
        OptimizerState::try_new(fields.kind, fields.shape, fields.slots)
    }
}

impl OptimizerState {
    /// A state of `kind` for a parameter of `shape`, checking that `slots` fits both.
    fn try_new(
        kind: OptimizerKind,
        shape: (usize, usize),
        slots: Vec<Array2<f32>>,
    ) -> Result<Self, String> {
        if slots.len() != kind.slots() {
            return Err(format!(
                "optimizer state of kind {kind:?} has {} arrays, but that kind keeps {}",
                slots.len(),
                kind.slots()
            ));
        }
        if let Some(slot) = slots.iter().find(|s| s.dim() != shape) {
            return Err(format!(
                "optimizer state for a {}x{} parameter has a {}x{} array",
                shape.0,
                shape.1,
                slot.nrows(),
                slot.ncols()
            ));
        }
        Ok(OptimizerState { kind, shape, slots })
    }

    /// From a parameter's flat state slots (`slots[i]` holds `shape.0 * shape.1` values).
    pub(crate) fn from_flat(kind: u8, shape: (usize, usize), slots: Vec<Vec<f32>>) -> Self {
        let kind = OptimizerKind::from_code(kind);
        let slots = slots
            .into_iter()
            .take(kind.slots())
            .map(|s| Array2::from_shape_vec(shape, s).expect("a slot has the parameter's size"))
            .collect();
        Self::try_new(kind, shape, slots).expect("a parameter's own state fits it")
    }

    /// Panics unless this state is for a parameter of `shape`; `what` names the caller.
    #[track_caller]
    pub(crate) fn check_shape(&self, what: &str, shape: (usize, usize)) {
        assert!(
            self.shape == shape,
            "{what}: the state is for a {}x{} parameter but the parameter is {}x{}",
            self.shape.0,
            self.shape.1,
            shape.0,
            shape.1
        );
    }

    /// The kind of optimizer the state belongs to.
    ///
    /// ```
    /// use wyrm::*;
    /// use wyrm::optim::OptimizerKind;
    ///
    /// let w = ParameterNode::new(ndarray::arr2(&[[1.0]]));
    /// assert_eq!(w.optimizer_state().kind(), OptimizerKind::Stateless);
    /// ```
    pub fn kind(&self) -> OptimizerKind {
        self.kind
    }

    /// The shape of the parameter the state belongs to.
    ///
    /// ```
    /// use wyrm::*;
    ///
    /// let w = ParameterNode::new(ndarray::Array2::zeros((3, 2)));
    /// assert_eq!(w.optimizer_state().shape(), (3, 2));
    /// ```
    pub fn shape(&self) -> (usize, usize) {
        self.shape
    }

    /// The state arrays, [`kind().slots()`](OptimizerKind::slots) of them: SGD's velocity,
    /// Adagrad's sum of squared gradients, RMSProp's average of them, or Adam's first then
    /// second moments.
    ///
    /// ```
    /// use wyrm::*;
    ///
    /// let w = ParameterNode::new(ndarray::arr2(&[[1.0]]));
    /// let loss = w.clone() * 2.0; // gradient 2
    /// let mut opt = Adam::new(0.1, loss.parameters());
    /// loss.forward();
    /// loss.backward(1.0);
    /// opt.step();
    /// let state = w.optimizer_state();
    /// // m = 0.1 * 2 and v = 0.001 * 2² after one step with the default betas.
    /// assert!((state.slots()[0][(0, 0)] - 0.2).abs() < 1e-6);
    /// assert!((state.slots()[1][(0, 0)] - 0.004).abs() < 1e-6);
    /// ```
    pub fn slots(&self) -> &[Array2<f32>] {
        &self.slots
    }

    /// Slot `i` as a contiguous slice (for copying into a parameter).
    pub(crate) fn flat_slot(&self, i: usize) -> Vec<f32> {
        self.slots[i].iter().copied().collect()
    }
}

/// The optimizer state of a `model!` model's parameters, by the parameters' names in the
/// block. Take it with the generated `optimizer_states()` and put it back with
/// `set_optimizer_states(&states)`, on the model or on its companion `NameParameters`.
/// With the `serde` feature it saves as a map from names to [`OptimizerState`]s.
///
/// ```
/// wyrm::model! {
///     struct Line {
///         w: Param<1, 1>,
///         b: Param<1, 1>,
///         x: Input<1, 1>,
///         y: Input<1, 1>,
///         loss = (y - (x.dot(w) + b)).square(),
///     }
/// }
///
/// use wyrm::*;
///
/// let model = Line::new();
/// let mut opt = Adagrad::new(0.1, model.parameters());
/// model.x.set_value(2.0);
/// model.y.set_value(1.0);
/// model.loss.forward();
/// model.loss.backward(1.0);
/// opt.step();
///
/// let states = model.optimizer_states();
/// assert_eq!(states.names().collect::<Vec<_>>(), ["b", "w"]);
/// assert_eq!(states.get("w").unwrap().kind(), optim::OptimizerKind::Adagrad);
///
/// // Another model with the same values and states picks up where this one stopped:
/// // a new Adagrad over it takes the same next step as the first one.
/// let resumed = Line::new();
/// resumed.w.set_value(&model.w.value());
/// resumed.b.set_value(&model.b.value());
/// resumed.set_optimizer_states(&states).unwrap();
/// let mut resumed_opt = Adagrad::new(0.1, resumed.parameters());
/// resumed.x.set_value(2.0);
/// resumed.y.set_value(1.0);
/// for (loss, opt) in [(&model.loss, &mut opt), (&resumed.loss, &mut resumed_opt)] {
///     opt.zero_gradients();
///     loss.forward();
///     loss.backward(1.0);
///     opt.step();
/// }
/// assert_eq!(resumed.w.value(), model.w.value());
/// assert_eq!(resumed.optimizer_states(), model.optimizer_states());
/// ```
#[derive(Clone, Debug, Default, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize), serde(transparent))]
pub struct OptimizerStates {
    states: BTreeMap<String, OptimizerState>,
}

/// Loads the map, checking each state with its name in the error.
#[cfg(feature = "serde")]
impl<'de> serde::Deserialize<'de> for OptimizerStates {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let fields = BTreeMap::<String, StateFields>::deserialize(deserializer)?;
        let states = fields
            .into_iter()
            .map(
                |(name, f)| match OptimizerState::try_new(f.kind, f.shape, f.slots) {
                    Ok(state) => Ok((name, state)),
                    Err(e) => Err(serde::de::Error::custom(format!("`{name}`: {e}"))),
                },
            )
            .collect::<Result<_, D::Error>>()?;
        Ok(OptimizerStates { states })
    }
}

impl OptimizerStates {
    /// The state of the parameter called `name`, if there is one.
    ///
    /// ```
    /// let states = wyrm::optim::OptimizerStates::default();
    /// assert!(states.get("w").is_none());
    /// ```
    pub fn get(&self, name: &str) -> Option<&OptimizerState> {
        self.states.get(name)
    }

    /// The parameters' names, in alphabetical order.
    ///
    /// ```
    /// let states = wyrm::optim::OptimizerStates::default();
    /// assert_eq!(states.names().count(), 0);
    /// ```
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.states.keys().map(String::as_str)
    }

    /// Every state with its parameter's name, in alphabetical order of the names.
    ///
    /// ```
    /// use wyrm::*;
    /// use wyrm::optim::OptimizerStates;
    ///
    /// let mut states = OptimizerStates::default();
    /// states.insert("w", ParameterNode::new(random_matrix(2, 3)).optimizer_state());
    /// let shapes: Vec<_> = states.iter().map(|(name, s)| (name, s.shape())).collect();
    /// assert_eq!(shapes, [("w", (2, 3))]);
    /// ```
    pub fn iter(&self) -> impl Iterator<Item = (&str, &OptimizerState)> {
        self.states
            .iter()
            .map(|(name, state)| (name.as_str(), state))
    }

    /// Sets the state saved under `name`, returning the one it replaces. With
    /// [`remove`](Self::remove), this adapts a checkpoint to a model whose parameters
    /// changed since it was saved: a new parameter starts from its own fresh state.
    ///
    /// ```
    /// wyrm::model! {
    ///     struct Grown {
    ///         w: Param<2, 2>,
    ///         extra: Param<1, 2>,
    ///         x: Input<1, 2>,
    ///         out = x.dot(w) + extra,
    ///     }
    /// }
    ///
    /// let model = Grown::new();
    /// // A checkpoint saved before `extra` existed, and with a parameter since removed.
    /// let mut states = wyrm::optim::OptimizerStates::default();
    /// states.insert("w", model.w.optimizer_state());
    /// states.insert("old", model.w.optimizer_state());
    /// assert!(model.set_optimizer_states(&states).is_err());
    ///
    /// states.remove("old");
    /// states.insert("extra", model.extra.optimizer_state());
    /// model.set_optimizer_states(&states).unwrap();
    /// ```
    pub fn insert(&mut self, name: &str, state: OptimizerState) -> Option<OptimizerState> {
        self.states.insert(name.to_string(), state)
    }

    /// Takes out the state saved under `name`, if any.
    ///
    /// ```
    /// use wyrm::*;
    /// use wyrm::optim::OptimizerStates;
    ///
    /// let mut states = OptimizerStates::default();
    /// states.insert("w", ParameterNode::new(random_matrix(1, 1)).optimizer_state());
    /// assert!(states.remove("w").is_some());
    /// assert!(states.remove("w").is_none());
    /// ```
    pub fn remove(&mut self, name: &str) -> Option<OptimizerState> {
        self.states.remove(name)
    }

    /// The states of `params`, under `names` (for the generated code).
    #[doc(hidden)]
    pub fn collect<P: HasOptimizerState>(names: &[&str], params: &[P]) -> Self {
        let states = names
            .iter()
            .zip(params)
            .map(|(name, p)| (name.to_string(), p.optimizer_state()))
            .collect();
        OptimizerStates { states }
    }

    /// Sets the state of each of `params` to the one saved under its name in `names`,
    /// after checking that every name has a state of the right shape and that no state is
    /// left over, so that nothing changes when the states do not fit `model` (for the
    /// generated code).
    #[doc(hidden)]
    pub fn restore<P: HasOptimizerState>(
        &self,
        model: &str,
        names: &[&str],
        params: &[P],
    ) -> Result<(), OptimizerStateError> {
        let error = |message: String| Err(OptimizerStateError { message });
        for (name, p) in names.iter().zip(params) {
            let Some(state) = self.states.get(*name) else {
                return error(format!(
                    "{model}: no optimizer state for parameter `{name}`"
                ));
            };
            let shape = p.shape();
            if state.shape != shape {
                return error(format!(
                    "{model}: the optimizer state for `{name}` is for a {}x{} parameter \
                     but `{name}` is {}x{}",
                    state.shape.0, state.shape.1, shape.0, shape.1
                ));
            }
        }
        if let Some(unknown) = self.names().find(|n| !names.contains(n)) {
            let known = if names.is_empty() {
                "the model has no parameters".to_string()
            } else {
                format!("the parameters are {}", names.join(", "))
            };
            return error(format!(
                "{model}: optimizer state for `{unknown}`, which is not a parameter ({known})"
            ));
        }
        for (name, p) in names.iter().zip(params) {
            p.set_optimizer_state(&self.states[*name]);
        }
        Ok(())
    }
}

/// Why [`OptimizerStates`] could not be put back into a model: a parameter without a
/// state, a state of the wrong shape, or a state for a name that is not a parameter.
/// Nothing was changed.
///
/// ```
/// wyrm::model! {
///     struct Affine {
///         w: Param<2, 2>,
///         x: Input<1, 2>,
///         out = x.dot(w),
///     }
/// }
///
/// let model = Affine::new();
/// let error = model.set_optimizer_states(&Default::default()).unwrap_err();
/// assert_eq!(error.to_string(), "Affine: no optimizer state for parameter `w`");
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OptimizerStateError {
    message: String,
}

impl fmt::Display for OptimizerStateError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for OptimizerStateError {}

/// A parameter whose optimizer state can be read and set (for the generated code).
#[doc(hidden)]
pub trait HasOptimizerState {
    /// The parameter's shape.
    fn shape(&self) -> (usize, usize);
    /// A copy of its optimizer state.
    fn optimizer_state(&self) -> OptimizerState;
    /// Overwrites its optimizer state.
    fn set_optimizer_state(&self, state: &OptimizerState);
}

impl<R: crate::Dim, C: crate::Dim> HasOptimizerState
    for crate::Variable<crate::ParameterNode<R, C>>
{
    fn shape(&self) -> (usize, usize) {
        crate::Variable::shape(self)
    }

    fn optimizer_state(&self) -> OptimizerState {
        crate::Variable::optimizer_state(self)
    }

    fn set_optimizer_state(&self, state: &OptimizerState) {
        crate::Variable::set_optimizer_state(self, state)
    }
}

impl HasOptimizerState for std::sync::Arc<crate::HogwildParameter> {
    fn shape(&self) -> (usize, usize) {
        crate::HogwildParameter::shape(self)
    }

    fn optimizer_state(&self) -> OptimizerState {
        crate::HogwildParameter::optimizer_state(self)
    }

    fn set_optimizer_state(&self, state: &OptimizerState) {
        crate::HogwildParameter::set_optimizer_state(self, state)
    }
}
