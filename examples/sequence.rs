//! A recurrent network over sequences of varying length, built with `.boxed()`.
//!
//! The task: given a sequence of bits of odd length between 3 and 31, tell whether ones are
//! the majority. Each sequence gets its own graph, built as the data dictates: an embedding
//! lookup per bit and a recurrent cell `h = tanh(x + h W + b)` per step, boxed so that
//! every length gives the same type, then a linear layer to two logits and sparse
//! cross-entropy. The parameters are shared by all those graphs and trained with Adam on
//! minibatches of sequences. The example prints the held-out accuracy as it improves and
//! ends with one pass over a 20,000-step sequence: chains of any length are fine, as
//! passes recurse through at most 16 boxed nodes at a time (4 in debug builds).
//!
//! Run with `cargo run --release --example sequence`.

use ndarray::Array2;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use std::time::Instant;
use wyrm::nn::losses::sparse_categorical_crossentropy;
use wyrm::nodes::Boxed;
use wyrm::prelude::*;

const HIDDEN: usize = 16;
const BATCH: usize = 16;
const STEPS: usize = 1_000;

/// The parameters every sequence's graph shares.
struct Rnn {
    embed: Variable<ParameterNode>,
    w: Variable<ParameterNode>,
    b: Variable<ParameterNode>,
    out_w: Variable<ParameterNode>,
    out_b: Variable<ParameterNode>,
}

impl Rnn {
    fn new(rng: &mut StdRng) -> Self {
        Rnn {
            embed: ParameterNode::new(wyrm::init::normal(2, HIDDEN, 0.0, 0.5, rng)),
            w: ParameterNode::new(wyrm::init::normal(HIDDEN, HIDDEN, 0.0, 0.1, rng)),
            b: ParameterNode::new(Array2::zeros((1, HIDDEN))),
            out_w: ParameterNode::new(wyrm::init::xavier(HIDDEN, 2, rng)),
            out_b: ParameterNode::new(Array2::zeros((1, 2))),
        }
    }

    fn parameters(&self) -> Vec<Variable<ParameterNode>> {
        vec![
            self.embed.clone(),
            self.w.clone(),
            self.b.clone(),
            self.out_w.clone(),
            self.out_b.clone(),
        ]
    }

    /// The graph of the two class logits for `bits`.
    fn logits(&self, bits: &[usize]) -> Variable<Boxed> {
        let mut h = InputNode::new(Array2::zeros((1, HIDDEN))).boxed();
        for &bit in bits {
            let x = self.embed.index(&IndexInputNode::new(&[bit]));
            h = (x + h.dot(&self.w) + self.b.clone()).tanh().boxed();
        }
        (h.dot(&self.out_w) + self.out_b.clone()).boxed()
    }

    fn predict(&self, bits: &[usize]) -> usize {
        let logits = self.logits(bits);
        logits.forward();
        let value = logits.value();
        usize::from(value[(0, 1)] > value[(0, 0)])
    }
}

/// A random sequence of odd length in 3..=31, and whether ones are the majority.
fn example(rng: &mut StdRng) -> (Vec<usize>, usize) {
    let len = 2 * rng.gen_range(1..=15) + 1;
    let bits: Vec<usize> = (0..len).map(|_| rng.gen_range(0..2)).collect();
    let ones = bits.iter().sum::<usize>();
    (bits, usize::from(2 * ones > len))
}

fn accuracy(model: &Rnn, data: &[(Vec<usize>, usize)]) -> f32 {
    let right = data
        .iter()
        .filter(|(bits, label)| model.predict(bits) == *label)
        .count();
    right as f32 / data.len() as f32
}

fn main() {
    let mut rng = StdRng::seed_from_u64(7);
    let model = Rnn::new(&mut rng);
    let test: Vec<_> = (0..1_000).map(|_| example(&mut rng)).collect();
    let mut optimizer = Adam::new(0.005, model.parameters());
    println!(
        "majority of bits, sequences of 3 to 31 steps; held-out accuracy before training {:.3}",
        accuracy(&model, &test)
    );
    let start = Instant::now();
    for step in 1..=STEPS {
        for _ in 0..BATCH {
            let (bits, label) = example(&mut rng);
            let target = IndexInputNode::new(&[label]);
            let loss = sparse_categorical_crossentropy(&model.logits(&bits), &target);
            loss.forward();
            loss.backward(1.0 / BATCH as f32);
        }
        optimizer.step();
        optimizer.zero_gradients();
        if step % 200 == 0 {
            println!(
                "  {:>5} sequences: held-out accuracy {:.3} ({:.2?} so far)",
                step * BATCH,
                accuracy(&model, &test),
                start.elapsed()
            );
        }
    }

    // One graph 20,000 boxed steps deep: forward, backward and drop.
    let long: Vec<usize> = (0..20_000).map(|_| rng.gen_range(0..2)).collect();
    let start = Instant::now();
    let target = IndexInputNode::new(&[1]);
    let loss = sparse_categorical_crossentropy(&model.logits(&long), &target);
    loss.forward();
    loss.backward(1.0);
    drop(loss);
    println!(
        "a 20,000-step sequence: built, forward, backward and dropped in {:.2?}",
        start.elapsed()
    );
}
