//! The recurrent cells trained end to end: one thread, and Hogwild threads over shared
//! parameters.

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use std::sync::Arc;
use wyrm::nn::{Gru, Lstm};
use wyrm::prelude::*;

const STEPS: usize = 5;

/// A batch of sequences of two features and, as the target, the sum of the first feature
/// over the sequence: the state must carry it through every step.
fn batch(rng: &mut StdRng, rows: usize) -> (Vec<ndarray::Array2<f32>>, ndarray::Array2<f32>) {
    let xs: Vec<_> = (0..STEPS)
        .map(|_| ndarray::Array2::from_shape_simple_fn((rows, 2), || rng.gen_range(-1.0..1.0)))
        .collect();
    let target = xs.iter().fold(ndarray::Array2::zeros((rows, 1)), |sum, x| {
        sum + x.slice(ndarray::s![.., 0..1])
    });
    (xs, target)
}

/// Mean squared error of a readout of the last state, over a graph built for `rows`
/// sequences; `last` unrolls the cell over the inputs.
struct Task {
    inputs: Vec<Variable<InputNode>>,
    target: Variable<InputNode>,
    loss: Variable<wyrm::nodes::Boxed>,
}

impl Task {
    fn new(
        rows: usize,
        readout: &Variable<ParameterNode>,
        last: impl Fn(&[Variable<InputNode>]) -> Variable<wyrm::nodes::Boxed>,
    ) -> Self {
        let inputs: Vec<_> = (0..STEPS)
            .map(|_| InputNode::new(ndarray::Array2::zeros((rows, 2))))
            .collect();
        let target = InputNode::new(ndarray::Array2::zeros((rows, 1)));
        let loss = (target.clone() - last(&inputs).dot(readout))
            .square()
            .mean()
            .boxed();
        Task {
            inputs,
            target,
            loss,
        }
    }

    /// The loss on `data`, after a forward pass.
    fn run(&mut self, (xs, target): &(Vec<ndarray::Array2<f32>>, ndarray::Array2<f32>)) -> f32 {
        for (input, x) in self.inputs.iter().zip(xs) {
            input.set_value(x);
        }
        self.target.set_value(target);
        self.loss.forward();
        self.loss.scalar()
    }
}

fn gru_task(gru: &Gru, readout: &Variable<ParameterNode>, rows: usize) -> Task {
    Task::new(rows, readout, |inputs| {
        inputs
            .iter()
            .fold(gru.initial_state(rows), |h, x| gru.step(x, &h))
    })
}

fn lstm_task(lstm: &Lstm, readout: &Variable<ParameterNode>, rows: usize) -> Task {
    Task::new(rows, readout, |inputs| {
        let (h, _) = inputs
            .iter()
            .fold(lstm.initial_state(rows), |(h, s), x| lstm.step(x, &h, &s));
        h
    })
}

/// Trains `task` on fresh batches from `seed`.
fn train(task: &mut Task, parameters: Vec<Variable<ParameterNode>>, seed: u64, steps: usize) {
    let mut rng = StdRng::seed_from_u64(seed);
    let mut optimizer = Adam::new(0.02, parameters);
    for _ in 0..steps {
        task.run(&batch(&mut rng, 16));
        task.loss.backward(1.0);
        optimizer.step();
        optimizer.zero_gradients();
    }
}

/// Trains a model whose parameters are `parameters` and whose task graph for `rows`
/// sequences `task` builds, and checks that its held-out loss falls below 5%.
fn assert_learns(
    name: &str,
    parameters: Vec<Variable<ParameterNode>>,
    task: impl Fn(usize) -> Task,
    seed: u64,
) {
    let held_out = batch(&mut StdRng::seed_from_u64(99), 256);
    let mut test = task(256);
    let before = test.run(&held_out);
    train(&mut task(16), parameters, seed, 600);
    let after = test.run(&held_out);
    assert!(after < before * 0.05, "{name}: {before} -> {after}");
}

/// Both cells learn to carry a running sum through five steps, on one thread.
#[test]
fn cells_learn_a_running_sum() {
    let mut rng = StdRng::seed_from_u64(1);
    let gru = Gru::new(2, 8, &mut rng);
    let readout = ParameterNode::new(wyrm::init::xavier(8, 1, &mut rng));
    let mut parameters = gru.parameters();
    parameters.push(readout.clone());
    assert_learns("GRU", parameters, |rows| gru_task(&gru, &readout, rows), 2);

    let lstm = Lstm::new(2, 8, &mut rng);
    let readout = ParameterNode::new(wyrm::init::xavier(8, 1, &mut rng));
    let mut parameters = lstm.parameters();
    parameters.push(readout.clone());
    assert_learns(
        "LSTM",
        parameters,
        |rows| lstm_task(&lstm, &readout, rows),
        3,
    );
}

/// Two threads train one GRU over shared parameters, each building its own cell with
/// `from_parameters`, and the shared model learns as one thread's does.
#[test]
fn a_gru_over_shared_parameters_learns_on_two_threads() {
    let held_out = batch(&mut StdRng::seed_from_u64(99), 256);
    let mut rng = StdRng::seed_from_u64(1);
    let template = Gru::new(2, 8, &mut rng);
    let mut shared: Vec<Arc<HogwildParameter>> = template
        .parameters()
        .iter()
        .map(|p| p.hogwild_parameter())
        .collect();
    shared.push(Arc::new(HogwildParameter::new(wyrm::init::xavier(
        8, 1, &mut rng,
    ))));
    // A cell and readout of this thread's own nodes over the shared storage.
    let local = |shared: &[Arc<HogwildParameter>]| {
        let [w, u, b, c, readout] =
            [0, 1, 2, 3, 4].map(|i| ParameterNode::shared(shared[i].clone()));
        (Gru::from_parameters(w, u, b, c), readout)
    };
    let (gru, readout) = local(&shared);
    let mut test = gru_task(&gru, &readout, 256);
    let before = test.run(&held_out);
    std::thread::scope(|scope| {
        for seed in [2, 3] {
            let shared = &shared;
            scope.spawn(move || {
                let (gru, readout) = local(shared);
                let mut parameters = gru.parameters();
                parameters.push(readout.clone());
                let mut task = gru_task(&gru, &readout, 16);
                train(&mut task, parameters, seed, 300);
            });
        }
    });
    let after = test.run(&held_out);
    assert!(after < before * 0.05, "{before} -> {after}");
}
