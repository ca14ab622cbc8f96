//! Random graphs with `detach` against the same graphs with every detached value fed in
//! as a constant input: the gradients, and whether a parameter records one at all, must
//! agree. A compact form of the fuzzers that reviewed the "no gradient" protocol
//! (`Node::backward_nothing`, `Node::discards_gradient`); fixed seeds.

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use wyrm::ndarray::Array2;
use wyrm::nodes::Boxed;
use wyrm::*;

/// One step of a random program: what to build from the nodes built so far.
#[derive(Clone, Copy, Debug)]
enum Step {
    Tanh(usize),
    Sigmoid(usize),
    Add(usize, usize),
    Mul(usize, usize),
    /// A product with a `cols x cols` weight.
    Dot(usize, usize),
    /// Bags pooled from the table (one bag per row).
    Bags(bool),
    Detach(usize),
    /// A typed expression with a detach inside: `tanh(a.detach()) * b`.
    DetachInside(usize, usize),
}

fn random_program(rng: &mut StdRng, leaves: usize, weights: usize) -> Vec<Step> {
    let mut steps = Vec::new();
    for _ in 0..rng.gen_range(3..12) {
        let n = leaves + steps.len();
        let mut pick = || rng.gen_range(0..n);
        let (a, b) = (pick(), pick());
        steps.push(match rng.gen_range(0..9) {
            0 => Step::Tanh(a),
            1 => Step::Sigmoid(a),
            2 => Step::Add(a, b),
            3 => Step::Mul(a, b),
            4 => Step::Dot(a, rng.gen_range(0..weights)),
            5 => Step::Bags(rng.gen_bool(0.5)),
            6 | 7 => Step::Detach(a),
            _ => Step::DetachInside(a, b),
        });
    }
    steps
}

/// Builds the program over `leaves`; each detach is a real one, or (`constants`) an input
/// holding the value that the node has in `detached` (the same program, built with real
/// detaches and forwarded).
fn build(
    program: &[Step],
    leaves: &[Variable<Boxed>],
    weights: &[Variable<ParameterNode>],
    (table, bags): (&Variable<ParameterNode>, &Variable<BagsInputNode>),
    constants: Option<&[Variable<Boxed>]>,
) -> Vec<Variable<Boxed>> {
    let mut nodes: Vec<Variable<Boxed>> = leaves.to_vec();
    let detached = |i: usize, nodes: &[Variable<Boxed>]| match constants {
        Some(values) => InputNode::new(values[i].value()).boxed(),
        None => nodes[i].detach().boxed(),
    };
    for step in program {
        let node = match *step {
            Step::Tanh(a) => nodes[a].tanh().boxed(),
            Step::Sigmoid(a) => nodes[a].sigmoid().boxed(),
            Step::Add(a, b) => (&nodes[a] + &nodes[b]).boxed(),
            Step::Mul(a, b) => (&nodes[a] * &nodes[b]).boxed(),
            Step::Dot(a, w) => nodes[a].dot(&weights[w]).boxed(),
            Step::Bags(mean) if mean => table.mean_bags(bags).boxed(),
            Step::Bags(_) => table.sum_bags(bags).boxed(),
            Step::Detach(a) => detached(a, &nodes),
            Step::DetachInside(a, b) => match constants {
                Some(values) => (InputNode::new(values[a].value()).tanh() * &nodes[b]).boxed(),
                None => (nodes[a].detach().tanh() * &nodes[b]).boxed(),
            },
        };
        nodes.push(node);
    }
    nodes
}

#[test]
fn detach_matches_constant_inputs_on_random_graphs() {
    for seed in 0..300u64 {
        let mut rng = StdRng::seed_from_u64(seed);
        let (rows, cols) = (rng.gen_range(1..4), rng.gen_range(1..4));
        let mut matrix = |r, c| Array2::from_shape_simple_fn((r, c), || rng.gen_range(-1.0..1.0));
        let params: Vec<_> = (0..3)
            .map(|_| ParameterNode::new(matrix(rows, cols)))
            .collect();
        let weights: Vec<_> = (0..2)
            .map(|_| ParameterNode::new(matrix(cols, cols)))
            .collect();
        let table = ParameterNode::new(matrix(6, cols));
        let upstream = InputNode::new(matrix(rows, cols));
        let bags = BagsInputNode::new(rows);
        let ids: Vec<Vec<usize>> = (0..rows)
            .map(|_| {
                (0..rng.gen_range(0..4))
                    .map(|_| rng.gen_range(0..6))
                    .collect()
            })
            .collect();
        bags.set_value(&ids);
        let leaves: Vec<Variable<Boxed>> = params.iter().map(|p| p.boxed()).collect();
        let program = random_program(&mut rng, leaves.len(), weights.len());
        let outputs = rng.gen_range(1..4);
        let root = |nodes: &[Variable<Boxed>]| {
            // The last few nodes, weighted by the upstream matrix, summed.
            let mut total = (&nodes[nodes.len() - 1] * &upstream).scalar_sum().boxed();
            for node in nodes.iter().rev().skip(1).take(outputs - 1) {
                total = (total + (node * &upstream).scalar_sum()).boxed();
            }
            total
        };
        let all: Vec<&Variable<ParameterNode>> =
            params.iter().chain(&weights).chain([&table]).collect();
        let gradients = |y: Variable<Boxed>| {
            all.iter().for_each(|p| p.zero_gradient());
            y.forward();
            y.backward(1.0);
            all.iter()
                .map(|p| (p.has_gradient(), p.gradient()))
                .collect::<Vec<_>>()
        };

        let with_detach = build(&program, &leaves, &weights, (&table, &bags), None);
        let head = root(&with_detach);
        head.forward();
        let reference = build(
            &program,
            &leaves,
            &weights,
            (&table, &bags),
            Some(&with_detach),
        );
        let got = gradients(head);
        let want = gradients(root(&reference));
        for (i, ((got_has, got), (want_has, want))) in got.iter().zip(&want).enumerate() {
            assert_eq!(got_has, want_has, "seed {seed}, parameter {i}: {program:?}");
            for (g, w) in got.iter().zip(want.iter()) {
                assert!(
                    (g - w).abs() <= 1e-5 * (1.0 + w.abs()),
                    "seed {seed}, parameter {i}: {got} != {want}; {program:?}"
                );
            }
        }
    }
}
