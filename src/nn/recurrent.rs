//! [`Recurrent`]: the steps of either recurrent cell behind one trait, so that code
//! written once runs a [`Gru`] or an [`Lstm`].

use super::{Gru, Lstm};
use crate::nodes::{Boxed, ParameterNode};
use crate::{Node, Variable};

/// A recurrent cell stepped over a sequence, whichever it is: a function generic over
/// `C: Recurrent` unrolls a [`Gru`] or an [`Lstm`], and choosing the cell by a flag is a
/// call of that function with one or the other. A GRU carries its state `h` from step to
/// step, an LSTM its output and cell state `(h, s)`; both expose `h` as their output.
///
/// ```
/// use wyrm::nn::{Gru, Lstm, Recurrent};
/// use wyrm::prelude::*;
/// use wyrm::rand::{rngs::StdRng, SeedableRng};
///
/// /// The last output of `cell` over `inputs`, and the cell's parameters.
/// fn encode<C: Recurrent>(cell: &C, inputs: &[Variable<InputNode>]) -> Variable<Boxed> {
///     let mut state = cell.initial_state(inputs[0].shape().0);
///     for x in inputs {
///         state = cell.next_state(x, &state);
///     }
///     C::output(&state).clone()
/// }
///
/// let mut rng = StdRng::seed_from_u64(1);
/// let inputs: Vec<_> = (0..4).map(|_| InputNode::new(random_matrix(2, 3))).collect();
/// for use_lstm in [false, true] {
///     let (last, parameters) = if use_lstm {
///         let lstm = Lstm::new(3, 8, &mut rng);
///         (encode(&lstm, &inputs), lstm.parameters())
///     } else {
///         let gru = Gru::new(3, 8, &mut rng);
///         (encode(&gru, &inputs), gru.parameters())
///     };
///     last.forward();
///     assert_eq!((last.shape(), parameters.len()), ((2, 8), 4));
/// }
/// ```
pub trait Recurrent {
    /// What a step carries to the next: `Variable<Boxed>` (the state `h`) for a GRU,
    /// `(Variable<Boxed>, Variable<Boxed>)` (the output `h` and the cell state `s`) for an
    /// LSTM.
    type State: Clone;

    /// Zeros for `batch` sequences, to start from (the cells' own `initial_state`).
    ///
    /// ```
    /// use wyrm::nn::{Lstm, Recurrent};
    /// use wyrm::rand::{rngs::StdRng, SeedableRng};
    ///
    /// let lstm = Lstm::new(2, 5, &mut StdRng::seed_from_u64(0));
    /// let state = Recurrent::initial_state(&lstm, 3);
    /// assert_eq!(Lstm::output(&state).shape(), (3, 5));
    /// ```
    fn initial_state(&self, batch: usize) -> Self::State;

    /// One step: the state after input `x` (`batch x inputs`), from `state` (the cells'
    /// own `step`).
    ///
    /// ```
    /// use wyrm::nn::{Gru, Recurrent};
    /// use wyrm::prelude::*;
    /// use wyrm::rand::{rngs::StdRng, SeedableRng};
    ///
    /// let gru = Gru::new(2, 4, &mut StdRng::seed_from_u64(0));
    /// let x = InputNode::new(random_matrix(1, 2));
    /// let h = gru.initial_state(1);
    /// let via_trait = gru.next_state(&x, &h);
    /// let direct = gru.step(&x, &h);
    /// via_trait.forward();
    /// direct.forward();
    /// assert_eq!(via_trait.value(), direct.value());
    /// ```
    ///
    /// # Panics
    /// As the cells' `step`, naming the shapes.
    fn next_state<X: Node + 'static>(&self, x: &Variable<X>, state: &Self::State) -> Self::State;

    /// The output of a state: `h`, for either cell.
    ///
    /// ```
    /// use wyrm::nn::{Gru, Recurrent};
    /// use wyrm::rand::{rngs::StdRng, SeedableRng};
    ///
    /// let gru = Gru::new(2, 4, &mut StdRng::seed_from_u64(0));
    /// let h = gru.initial_state(3);
    /// assert_eq!(Gru::output(&h).shape(), (3, 4));
    /// ```
    fn output(state: &Self::State) -> &Variable<Boxed>;

    /// The cell's parameters, for an optimizer (the cells' own `parameters`).
    ///
    /// ```
    /// use wyrm::nn::{Gru, Recurrent};
    /// use wyrm::rand::{rngs::StdRng, SeedableRng};
    ///
    /// let gru = Gru::new(2, 4, &mut StdRng::seed_from_u64(0));
    /// assert_eq!(Recurrent::parameters(&gru).len(), 4);
    /// ```
    fn parameters(&self) -> Vec<Variable<ParameterNode>>;
}

impl Recurrent for Gru {
    type State = Variable<Boxed>;

    fn initial_state(&self, batch: usize) -> Self::State {
        Gru::initial_state(self, batch)
    }

    #[track_caller]
    fn next_state<X: Node + 'static>(&self, x: &Variable<X>, state: &Self::State) -> Self::State {
        self.step(x, state)
    }

    fn output(state: &Self::State) -> &Variable<Boxed> {
        state
    }

    fn parameters(&self) -> Vec<Variable<ParameterNode>> {
        Gru::parameters(self)
    }
}

impl Recurrent for Lstm {
    type State = (Variable<Boxed>, Variable<Boxed>);

    fn initial_state(&self, batch: usize) -> Self::State {
        Lstm::initial_state(self, batch)
    }

    #[track_caller]
    fn next_state<X: Node + 'static>(&self, x: &Variable<X>, state: &Self::State) -> Self::State {
        self.step(x, &state.0, &state.1)
    }

    fn output(state: &Self::State) -> &Variable<Boxed> {
        &state.0
    }

    fn parameters(&self) -> Vec<Variable<ParameterNode>> {
        Lstm::parameters(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::InputNode;
    use rand::SeedableRng;

    /// The outputs of every step of `cell` over `inputs`, through the trait.
    fn outputs<C: Recurrent>(cell: &C, inputs: &[Variable<InputNode>]) -> Vec<Variable<Boxed>> {
        let mut state = cell.initial_state(inputs[0].shape().0);
        inputs
            .iter()
            .map(|x| {
                state = cell.next_state(x, &state);
                C::output(&state).clone()
            })
            .collect()
    }

    #[test]
    fn the_trait_steps_as_the_cells_do() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(9);
        let inputs: Vec<_> = (0..3)
            .map(|s| InputNode::new(crate::init::seeded(2, 3, 1.0, s)))
            .collect();
        let (gru, lstm) = (Gru::new(3, 4, &mut rng), Lstm::new(3, 4, &mut rng));

        let mut h = gru.initial_state(2);
        let (mut lh, mut ls) = lstm.initial_state(2);
        let via_gru = outputs(&gru, &inputs);
        let via_lstm = outputs(&lstm, &inputs);
        for (k, x) in inputs.iter().enumerate() {
            h = gru.step(x, &h);
            (lh, ls) = lstm.step(x, &lh, &ls);
            for (by_trait, direct) in [
                (via_gru[k].clone(), h.clone()),
                (via_lstm[k].clone(), lh.clone()),
            ] {
                by_trait.forward();
                direct.forward();
                assert_eq!(by_trait.value(), direct.value(), "step {k}");
            }
        }
        assert_eq!(Recurrent::parameters(&lstm).len(), 4);
    }
}
