//! Reading and setting a parameter's optimizer state, for checkpoints.

use super::{ParameterNode, Storage};
use crate::optim::OptimizerState;
use crate::shape::Dim;
use crate::Variable;

impl<R: Dim, C: Dim> ParameterNode<R, C> {
    /// Optimizer state slot `slot` as a flat vector (zeros before an update created it).
    pub(crate) fn optimizer_state_slot(&self, slot: usize) -> Vec<f32> {
        let len = self.shape.0 * self.shape.1;
        match &self.storage {
            Storage::Local { state, .. } => {
                let state = state.borrow();
                if state[slot].len() == len {
                    state[slot].clone()
                } else {
                    vec![0.0; len]
                }
            }
            Storage::Shared { param, .. } => {
                let mut out = vec![0.0; len];
                if let Some(stored) = param.allocated_state(slot) {
                    stored.load_into(0, &mut out);
                }
                out
            }
        }
    }
}

impl<R: Dim, C: Dim> Variable<ParameterNode<R, C>> {
    /// A copy of the parameter's optimizer state (see [`OptimizerState`]); for a shared
    /// parameter, the state in its [`HogwildParameter`](crate::HogwildParameter).
    ///
    /// Save it with the values to resume training later: an optimizer of the same kind
    /// over a parameter whose state was put back with
    /// [`set_optimizer_state`](Self::set_optimizer_state) takes the same steps as one
    /// that had never stopped (for [`Adam`](crate::Adam), set its step count too).
    ///
    /// ```
    /// use wyrm::*;
    ///
    /// let w = ParameterNode::new(ndarray::arr2(&[[1.0]]));
    /// let loss = w.clone() * 3.0; // gradient 3
    /// let mut opt = SGD::new(0.1, loss.parameters()).momentum(0.5);
    /// loss.forward();
    /// loss.backward(1.0);
    /// opt.step();
    /// let state = w.optimizer_state();
    /// assert_eq!(state.kind(), optim::OptimizerKind::Momentum);
    /// assert_eq!(state.slots()[0].dim(), (1, 1));
    /// ```
    pub fn optimizer_state(&self) -> OptimizerState {
        let node = self.node();
        match &node.storage {
            Storage::Local { state_kind, .. } => {
                let kind = state_kind.get();
                let slots = (0..crate::hogwild::STATE_SLOTS)
                    .map(|s| node.optimizer_state_slot(s))
                    .collect();
                OptimizerState::from_flat(kind, node.shape, slots)
            }
            Storage::Shared { param, .. } => param.optimizer_state(),
        }
    }

    /// Overwrites the parameter's optimizer state with `state` (taken from this parameter
    /// or one of the same shape, perhaps saved and loaded): the next update by an optimizer
    /// of `state`'s kind carries on from it, while another kind starts from zeros as
    /// usual. For a shared parameter this sets the state in its
    /// [`HogwildParameter`](crate::HogwildParameter), for every thread.
    ///
    /// ```
    /// use wyrm::*;
    ///
    /// let train = |w: &Variable<ParameterNode>, steps: usize| {
    ///     let loss = w.square();
    ///     let mut opt = Adagrad::new(0.5, loss.parameters());
    ///     for _ in 0..steps {
    ///         loss.forward();
    ///         loss.backward(1.0);
    ///         opt.step();
    ///         opt.zero_gradients();
    ///     }
    /// };
    /// let straight = ParameterNode::new(ndarray::arr2(&[[1.0, -2.0]]));
    /// train(&straight, 4);
    ///
    /// let first = ParameterNode::new(ndarray::arr2(&[[1.0, -2.0]]));
    /// train(&first, 2);
    /// // Resume in a new parameter from the first one's values and Adagrad state.
    /// let resumed = ParameterNode::new(first.value().to_owned());
    /// resumed.set_optimizer_state(&first.optimizer_state());
    /// train(&resumed, 2);
    /// assert_eq!(resumed.value(), straight.value());
    /// ```
    ///
    /// # Panics
    /// If `state` is for a parameter of another shape.
    #[track_caller]
    pub fn set_optimizer_state(&self, state: &OptimizerState) {
        let node = self.node();
        state.check_shape("Variable::set_optimizer_state", node.shape);
        match &node.storage {
            Storage::Local {
                state: slots,
                state_kind,
                ..
            } => {
                let mut slots = slots.borrow_mut();
                for (i, slot) in slots.iter_mut().enumerate() {
                    *slot = if i < state.kind().slots() {
                        state.flat_slot(i)
                    } else {
                        Vec::new()
                    };
                }
                state_kind.set(state.kind().code());
            }
            Storage::Shared { param, .. } => param.set_optimizer_state(state),
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::optim::OptimizerKind;
    use crate::*;
    use std::sync::Arc;

    /// Trains `w` on `sum(w²)·x` (x changing with the step) for `steps` steps, with Adam's
    /// step count and the x sequence starting at `from` (as a checkpoint would restore).
    fn train_adam(w: &Variable<ParameterNode>, from: u64, steps: usize) {
        let x = InputNode::new(ndarray::arr2(&[[1.5]]));
        let loss = w.square().scalar_sum() * x.clone();
        let mut opt = Adam::new(0.05, loss.parameters());
        opt.set_steps(from);
        for step in 0..steps {
            x.set_value(1.0 + (from as usize + step) as f32 * 0.25);
            loss.forward();
            loss.backward(1.0);
            opt.step();
            opt.zero_gradients();
        }
    }

    fn start() -> ndarray::Array2<f32> {
        ndarray::arr2(&[[0.5, -1.0, 2.0], [1.5, -0.25, 0.75]])
    }

    #[test]
    fn a_local_parameter_resumes_bit_identically() {
        let straight = ParameterNode::new(start());
        train_adam(&straight, 0, 6);
        let first = ParameterNode::new(start());
        train_adam(&first, 0, 3);
        let resumed = ParameterNode::new(first.value().to_owned());
        resumed.set_optimizer_state(&first.optimizer_state());
        train_adam(&resumed, 3, 3);
        assert_eq!(resumed.value(), straight.value());
        assert_eq!(resumed.optimizer_state(), straight.optimizer_state());
    }

    #[test]
    fn state_moves_between_local_and_shared_parameters() {
        let straight = ParameterNode::new(start());
        train_adam(&straight, 0, 6);
        let first = ParameterNode::new(start());
        train_adam(&first, 0, 3);
        // Local to shared, trained there, then back to local.
        let shared = first.hogwild_parameter();
        shared.set_optimizer_state(&first.optimizer_state());
        let over = ParameterNode::shared(shared.clone());
        assert_eq!(over.optimizer_state(), first.optimizer_state());
        train_adam(&over, 3, 3);
        let back = ParameterNode::new(shared.value());
        back.set_optimizer_state(&shared.optimizer_state());
        assert_eq!(back.value(), straight.value());
        assert_eq!(back.optimizer_state(), straight.optimizer_state());
    }

    #[test]
    fn a_stateless_state_clears_the_old_one() {
        let w = ParameterNode::new(start());
        train_adam(&w, 0, 2);
        let fresh = ParameterNode::new(start()).optimizer_state();
        assert_eq!(fresh.kind(), OptimizerKind::Stateless);
        w.set_optimizer_state(&fresh);
        assert_eq!(w.optimizer_state(), fresh);
        // Adam then starts from zero moments, as on a new parameter.
        let new = ParameterNode::new(w.value().to_owned());
        train_adam(&w, 0, 2);
        train_adam(&new, 0, 2);
        assert_eq!(w.value(), new.value());
    }

    #[test]
    #[should_panic(expected = "Variable::set_optimizer_state: the state is for a 2x3 \
                               parameter but the parameter is 3x2")]
    fn a_state_of_another_shape_panics() {
        let w = ParameterNode::new(start());
        train_adam(&w, 0, 1);
        ParameterNode::new(ndarray::Array2::zeros((3, 2)))
            .set_optimizer_state(&w.optimizer_state());
    }

    #[test]
    #[should_panic(
        expected = "Variable::set_optimizer_state: the state is for a 2x3 parameter \
                    but the parameter is 1x1"
    )]
    fn a_shared_parameter_checks_the_shape_too() {
        let w = ParameterNode::new(start());
        let shared = ParameterNode::shared(Arc::new(HogwildParameter::new(random_matrix(1, 1))));
        shared.set_optimizer_state(&w.optimizer_state());
    }
}
