//! The gradient sweep: every operation of the core API, checked against central finite
//! differences with `gradcheck::check_gradient` on several shapes (1x1 where meaningful, a
//! row vector, a non-square minibatch), with random upstream weights, and on graphs with
//! shared subexpressions.
//!
//! One line per operation: `unary(name, domain, op)` checks `op(x)` with respect to `x`
//! on [`SHAPES`]; `binary(name, domains, shapes, op)` checks `op(x, y)` with respect to both
//! operands. Inputs are drawn from a [`Domain`] that keeps them away from kinks (relu, abs,
//! clip) and inside the function's domain (ln, sqrt, divisors), with a seed derived from the
//! line's name, so every run checks the same points.

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use wyrm::gradcheck::{check_gradient, CheckOptions};
use wyrm::ndarray::{s, Array2, Axis};
use wyrm::*;

type Shape = (usize, usize);
type Param = Variable<ParameterNode>;

/// The shapes a one-operand op is checked on: a scalar, a row vector, a non-square
/// minibatch.
const SHAPES: [Shape; 3] = [(1, 1), (1, 5), (4, 3)];

/// Operand pairs of equal shapes, for elementwise ops.
const SAME: [(Shape, Shape); 3] = [((1, 1), (1, 1)), ((1, 5), (1, 5)), ((4, 3), (4, 3))];

/// A matrix and a 1 x n row broadcast over its rows (a bias: the common case).
const BROADCAST: [(Shape, Shape); 3] = [((3, 1), (1, 1)), ((2, 5), (1, 5)), ((4, 3), (1, 3))];

/// Every other broadcast: a column, a 1 x 1, a row on the left, and a column with a row.
const BROADCAST_OTHERS: [(Shape, Shape); 8] = [
    ((4, 3), (4, 1)),
    ((4, 3), (1, 1)),
    ((1, 3), (4, 3)),
    ((4, 1), (4, 3)),
    ((1, 1), (2, 5)),
    ((4, 1), (1, 3)),
    ((1, 5), (2, 1)),
    ((1, 4), (1, 1)),
];

/// The broadcasts of [`BROADCAST_OTHERS`] where one side is repeated along the other,
/// for the losses, which refuse a column against a row.
const ONE_SIDE_BROADCASTS: [(Shape, Shape); 6] = [
    ((4, 3), (4, 1)),
    ((4, 3), (1, 1)),
    ((1, 3), (4, 3)),
    ((4, 1), (4, 3)),
    ((1, 1), (2, 5)),
    ((1, 4), (1, 1)),
];

/// Where an operand's elements are drawn from.
#[derive(Clone, Copy, Debug)]
enum Domain {
    /// Uniform in [-1.5, 1.5].
    Any,
    /// Uniform in [0.5, 2] (ln, sqrt, pow).
    Positive,
    /// ±[0.8, 2] (divisors).
    Divisor,
    /// ±[0.2, 1.5]: far from the kink at 0 of relu and abs.
    AwayFromZero,
    /// Inside (-0.4, 0.4) or outside ±[0.6, 1.5]: far from the bounds of `clip(-0.5, 0.5)`.
    ClipSafe,
}

fn sample(domain: Domain, rng: &mut StdRng) -> f32 {
    let sign = if rng.gen_bool(0.5) { 1.0 } else { -1.0 };
    match domain {
        Domain::Any => rng.gen_range(-1.5..1.5),
        Domain::Positive => rng.gen_range(0.5..2.0),
        Domain::Divisor => sign * rng.gen_range(0.8..2.0),
        Domain::AwayFromZero => sign * rng.gen_range(0.2..1.5),
        Domain::ClipSafe => match rng.gen_range(0..3) {
            0 => rng.gen_range(-0.4..0.4),
            _ => sign * rng.gen_range(0.6..1.5),
        },
    }
}

fn param(shape: Shape, domain: Domain, rng: &mut StdRng) -> Param {
    ParameterNode::new(Array2::from_shape_simple_fn(shape, || sample(domain, rng)))
}

/// A fixed seed per sweep line (FNV-1a of its name).
fn rng_for(name: &str) -> StdRng {
    let hash = name.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ b as u64).wrapping_mul(0x100_0000_01b3)
    });
    StdRng::seed_from_u64(hash)
}

/// Checks the gradient of `out` with respect to each of `wrt`, with upstream weights seeded
/// by `seed`. Returns the largest finite-difference gradient seen, so callers can make sure
/// the check was not vacuous.
fn check<T: Node>(label: &str, out: &Variable<T>, wrt: &[&Param], seed: u64) -> Vec<f32> {
    wrt.iter()
        .enumerate()
        .map(|(i, p)| {
            let options = CheckOptions {
                seed: seed + i as u64,
                ..CheckOptions::default()
            };
            let report = check_gradient(out, *p, &options);
            assert!(report.passed(), "{label}, operand {i}: {report}");
            report.numeric.iter().fold(0.0f32, |m, v| m.max(v.abs()))
        })
        .collect()
}

/// Fails if an operand never received a gradient on any of the shapes: then the check
/// above compared nothing but zeros.
fn assert_not_vacuous(name: &str, largest: &[f32]) {
    for (i, g) in largest.iter().enumerate() {
        assert!(
            *g > 1e-3,
            "{name}: operand {i} has a zero gradient on every shape; the check is vacuous"
        );
    }
}

/// Checks `op(x)` with respect to `x` on every shape of `shapes`.
fn unary_on<T: Node>(
    name: &str,
    domain: Domain,
    shapes: &[Shape],
    op: impl Fn(&Param) -> Variable<T>,
) {
    let mut rng = rng_for(name);
    let mut largest = [0.0f32];
    for (k, shape) in shapes.iter().enumerate() {
        let x = param(*shape, domain, &mut rng);
        let label = format!("{name} on {}x{}", shape.0, shape.1);
        let g = check(&label, &op(&x), &[&x], k as u64 * 31 + 1);
        largest[0] = largest[0].max(g[0]);
    }
    assert_not_vacuous(name, &largest);
}

/// Checks `op(x)` with respect to `x` on [`SHAPES`].
fn unary<T: Node>(name: &str, domain: Domain, op: impl Fn(&Param) -> Variable<T>) {
    unary_on(name, domain, &SHAPES, op)
}

/// Checks `op(x, y)` with respect to `x` and to `y` on every pair of `shapes`.
fn binary<T: Node>(
    name: &str,
    domains: (Domain, Domain),
    shapes: &[(Shape, Shape)],
    op: impl Fn(&Param, &Param) -> Variable<T>,
) {
    let mut rng = rng_for(name);
    let mut largest = [0.0f32; 2];
    for (k, (xs, ys)) in shapes.iter().enumerate() {
        let x = param(*xs, domains.0, &mut rng);
        let y = param(*ys, domains.1, &mut rng);
        let label = format!("{name} on {}x{} and {}x{}", xs.0, xs.1, ys.0, ys.1);
        let g = check(&label, &op(&x, &y), &[&x, &y], k as u64 * 31 + 1);
        largest[0] = largest[0].max(g[0]);
        largest[1] = largest[1].max(g[1]);
    }
    assert_not_vacuous(name, &largest);
}

use Domain::*;

#[test]
fn elementwise_operators() {
    binary("x + y", (Any, Any), &SAME, |x, y| x.clone() + y.clone());
    binary("x - y", (Any, Any), &SAME, |x, y| x.clone() - y.clone());
    binary("x * y", (Any, Any), &SAME, |x, y| x.clone() * y.clone());
    binary("x / y", (Any, Divisor), &SAME, |x, y| x.clone() / y.clone());
    unary("-x", Any, |x| -x.clone());
}

#[test]
fn operators_with_f32() {
    unary("x + 1.5", Any, |x| x.clone() + 1.5);
    unary("1.5 + x", Any, |x| 1.5 + x.clone());
    unary("x - 1.5", Any, |x| x.clone() - 1.5);
    unary("1.5 - x", Any, |x| 1.5 - x.clone());
    unary("x * -1.5", Any, |x| x.clone() * -1.5);
    unary("-1.5 * x", Any, |x| -1.5 * x.clone());
    unary("x / 1.5", Any, |x| x.clone() / 1.5);
    unary("1.5 / x", Divisor, |x| 1.5 / x.clone());
}

#[test]
fn broadcasting() {
    for (what, shapes) in [("row", &BROADCAST[..]), ("others", &BROADCAST_OTHERS[..])] {
        binary(&format!("x + {what}"), (Any, Any), shapes, |x, b| {
            x.clone() + b.clone()
        });
        binary(&format!("x - {what}"), (Any, Any), shapes, |x, b| {
            x.clone() - b.clone()
        });
        binary(&format!("x * {what}"), (Any, Any), shapes, |x, b| {
            x.clone() * b.clone()
        });
        binary(&format!("x / {what}"), (Any, Divisor), shapes, |x, b| {
            x.clone() / b.clone()
        });
    }
    // A repeated operand that is also used on its own, on either side.
    binary(
        "x * y + tanh(y), broadcast",
        (Any, Any),
        &BROADCAST_OTHERS,
        |x, b| (x.clone() * b.clone() + b.tanh()).sum_rows(),
    );
}

#[test]
fn products() {
    let dot_shapes = [((1, 1), (1, 1)), ((1, 5), (5, 3)), ((4, 3), (3, 2))];
    binary("dot", (Any, Any), &dot_shapes, |a, b| a.dot(b));
    let dot_t_shapes = [((1, 1), (1, 1)), ((1, 5), (3, 5)), ((4, 3), (2, 3))];
    binary("dot_t", (Any, Any), &dot_t_shapes, |a, b| a.dot_t(b));
    binary("vector_dot", (Any, Any), &SAME, |a, b| a.vector_dot(b));
}

#[test]
fn elementwise_functions() {
    unary("square", Any, |x| x.square());
    unary("exp", Any, |x| x.exp());
    unary("ln", Positive, |x| x.ln());
    unary("exp_m1", Any, |x| x.exp_m1());
    // Above -1, where ln(1 + x) is defined.
    unary("ln_1p", Positive, |x| x.ln_1p());
    unary("asinh", Any, |x| (x * 3.0).asinh());
    unary("acosh", Positive, |x| (x + 1.0).acosh());
    unary("atanh", Any, |x| (x * 0.6).atanh());
    unary("sin", Any, |x| x.sin());
    unary("cos", Any, |x| x.cos());
    unary("tanh", Any, |x| x.tanh());
    unary("sigmoid", Any, |x| x.sigmoid());
    unary("softplus", Any, |x| x.softplus());
    unary("relu", AwayFromZero, |x| x.relu());
    unary("leaky_relu", AwayFromZero, |x| x.leaky_relu(0.1));
    unary("gelu", Any, |x| x.gelu());
    // In training each forward pass draws a new mask, which finite differences cannot
    // follow; `src/nodes/dropout.rs` checks that mode over graphs seeded alike.
    let evaluating = TrainingFlag::new();
    evaluating.set(false);
    unary("dropout (evaluating)", Any, |x| x.dropout(0.5, &evaluating));
    unary("sqrt", Positive, |x| x.sqrt());
    unary("abs", AwayFromZero, |x| x.abs());
    unary("pow 2.5", Positive, |x| x.pow(2.5));
    unary("pow -1.5", Positive, |x| x.pow(-1.5));
    unary("clip", ClipSafe, |x| x.clip(-0.5, 0.5));
}

#[test]
fn row_wise_normalisation() {
    unary("softmax", Any, |x| x.softmax());
    unary("log_softmax", Any, |x| x.log_softmax());
}

#[test]
fn reductions() {
    unary("scalar_sum", Any, |x| x.scalar_sum());
    unary("sum_rows", Any, |x| x.sum_rows());
    unary("sum_columns", Any, |x| x.sum_columns());
    unary("mean_rows", Any, |x| x.mean_rows());
    unary("mean_columns", Any, |x| x.mean_columns());
    // Random values are distinct, so finite differences stay clear of ties.
    unary("max_rows", Any, |x| x.max_rows());
    unary("max_columns", Any, |x| x.max_columns());
    unary("logsumexp_rows", Any, |x| x.logsumexp_rows());
    unary("logsumexp_columns", Any, |x| x.logsumexp_columns());
    // Random rows are far from zero, where the norm has its kink.
    unary("norm_rows", Any, |x| x.norm_rows());
    unary("norm_columns", Any, |x| x.norm_columns());
    unary("cumsum_rows", Any, |x| x.cumsum_rows());
    unary("cumsum_columns", Any, |x| x.cumsum_columns());
    unary("logcumsumexp_rows", Any, |x| x.logcumsumexp_rows());
    unary("logcumsumexp_columns", Any, |x| x.logcumsumexp_columns());
    // Weighted by the operand, since standardised values sum to a constant.
    unary("standardize_rows", Any, |x| {
        x.standardize_rows(1e-3) * x.clone()
    });
    unary("standardize_columns", Any, |x| {
        x.standardize_columns(1e-3) * x.clone()
    });
    unary("mean", Any, |x| x.mean());
}

/// The Huber loss, with a threshold that puts elements on both sides of it.
#[test]
fn huber_loss() {
    use wyrm::nn::losses::huber;
    binary("huber", (Any, Any), &SAME, |x, y| huber(x, y, 0.5));
    binary(
        "huber, broadcast",
        (Any, Any),
        &ONE_SIDE_BROADCASTS,
        |x, b| huber(x, b, 0.5),
    );
}

/// A VAE's KL term, per element and against a broadcast log-variance.
#[test]
fn gaussian_kl_loss() {
    use wyrm::nn::losses::gaussian_kl;
    binary("gaussian_kl", (Any, Any), &SAME, |m, v| gaussian_kl(m, v));
    binary(
        "gaussian_kl, broadcast",
        (Any, Any),
        &ONE_SIDE_BROADCASTS,
        |m, v| gaussian_kl(m, v),
    );
}

/// Binary cross-entropy on logits, against 0/1-like and broadcast targets.
#[test]
fn binary_crossentropy_loss() {
    use wyrm::nn::losses::binary_crossentropy_with_logits as bce;
    use wyrm::nn::losses::binary_crossentropy_with_logits_weighted;
    binary(
        "binary_crossentropy_with_logits",
        (Any, Any),
        &SAME,
        |z, t| bce(z, t),
    );
    binary(
        "binary_crossentropy_with_logits, broadcast",
        (Any, Any),
        &ONE_SIDE_BROADCASTS,
        |z, t| bce(z, t),
    );
    binary(
        "binary_crossentropy_with_logits_weighted",
        (Any, Any),
        &SAME,
        |z, t| binary_crossentropy_with_logits_weighted(z, t, 3.0),
    );
    binary(
        "binary_crossentropy_with_logits_weighted, broadcast",
        (Any, Any),
        &ONE_SIDE_BROADCASTS,
        |z, t| binary_crossentropy_with_logits_weighted(z, t, 0.4),
    );
}

/// Lookups and the loss over integer targets, with respect to the table or the logits;
/// repeated indices, and bags of different sizes (an empty one included).
#[test]
fn lookups_and_integer_targets() {
    let tables = [(5, 3), (1, 4), (6, 2)];
    let last = |t: &Param| t.shape().0 - 1;
    unary_on("index", Any, &tables, |t| {
        t.index(&IndexInputNode::new(&[last(t), 0, last(t)]))
    });
    let bags = |t: &Param| {
        let bags = BagsInputNode::new(3);
        bags.set_value([vec![last(t), 0, last(t)], vec![], vec![0]]);
        bags
    };
    unary_on("sum_bags", Any, &tables, |t| t.sum_bags(&bags(t)));
    unary_on("mean_bags", Any, &tables, |t| t.mean_bags(&bags(t)));
    let weighted = |t: &Param| {
        let bags = BagsInputNode::new(3);
        let bag = vec![(last(t), 0.5), (0, -2.0), (last(t), 1.5)];
        bags.set_weighted([bag, vec![], vec![(0, 3.0)]]);
        bags
    };
    unary_on("weighted sum_bags", Any, &tables, |t| {
        t.sum_bags(&weighted(t))
    });
    unary_on("weighted mean_bags", Any, &tables, |t| {
        t.mean_bags(&weighted(t))
    });
    // The same over a computed node (dense gradients).
    unary_on("gather_rows", Any, &tables, |t| {
        t.tanh()
            .gather_rows(&IndexInputNode::new(&[last(t), 0, last(t)]))
    });
    unary_on("gather_sum_bags", Any, &tables, |t| {
        t.tanh().gather_sum_bags(&bags(t))
    });
    unary_on("gather_mean_bags, weighted", Any, &tables, |t| {
        t.tanh().gather_mean_bags(&weighted(t))
    });
    unary_on("gather_max_bags", Any, &tables, |t| {
        t.tanh().gather_max_bags(&bags(t))
    });
    unary_on("gather_max_bags, weighted", Any, &tables, |t| {
        t.tanh().gather_max_bags(&weighted(t))
    });
    unary_on("gather_logsumexp_bags", Any, &tables, |t| {
        t.tanh().gather_logsumexp_bags(&bags(t))
    });
    unary_on("gather_logsumexp_bags, weighted", Any, &tables, |t| {
        t.tanh().gather_logsumexp_bags(&weighted(t))
    });
    // A partition: even rows in one bag, odd ones in another, the rest of the slots empty.
    let groups = |t: &Param, weighted: bool| {
        let bags = BagsInputNode::new(3);
        let rows = t.shape().0;
        let bag = |from: usize| -> Vec<(usize, f32)> {
            (from..rows)
                .step_by(2)
                .map(|r| (r, if weighted { 0.5 + r as f32 } else { 1.0 }))
                .collect()
        };
        bags.set_weighted([bag(0), vec![], bag(1)]);
        bags
    };
    unary_on("log_softmax_bags", Any, &tables, |t| {
        t.tanh().log_softmax_bags(&groups(t, false))
    });
    unary_on("log_softmax_bags, weighted", Any, &tables, |t| {
        t.tanh().log_softmax_bags(&groups(t, true))
    });
    unary_on("pick", Any, &tables, |t| {
        let (rows, cols) = t.shape();
        let columns: Vec<usize> = (0..rows).map(|r| (r * 2 + 1) % cols).collect();
        t.pick(&IndexInputNode::new(&columns))
    });
    unary_on(
        "sparse_categorical_crossentropy",
        Any,
        &[(1, 1), (1, 5), (4, 3)],
        |x| {
            let (rows, classes) = x.shape();
            let targets: Vec<usize> = (0..rows).map(|r| (r * 2 + 1) % classes).collect();
            nn::losses::sparse_categorical_crossentropy(x, &IndexInputNode::new(&targets))
        },
    );
    unary_on(
        "sparse_categorical_crossentropy_weighted",
        Any,
        &[(1, 1), (1, 5), (4, 3)],
        |x| {
            let (rows, classes) = x.shape();
            let targets: Vec<usize> = (0..rows).map(|r| (r * 2 + 1) % classes).collect();
            let weights: Vec<f32> = (0..classes).map(|c| 0.5 + c as f32).collect();
            let targets = IndexInputNode::new(&targets);
            nn::losses::sparse_categorical_crossentropy_weighted(x, &targets, &weights)
        },
    );
}

#[test]
fn attention() {
    use wyrm::nn::{attention, attention_padded, causal_attention, Attention};
    let mut rng = rng_for("attention");
    let (mut largest, mut largest_causal) = ([0.0f32; 3], [0.0f32; 3]);
    let keep = |largest: &mut [f32; 3], g: Vec<f32>| {
        for (l, g) in largest.iter_mut().zip(g) {
            *l = l.max(g);
        }
    };
    // (groups, queries per group, keys per group, key width, value width); with one key,
    // the weight is 1 whatever the query and key.
    for (groups, m, n, d, e) in [(1, 1, 1, 1, 1), (1, 3, 5, 2, 3), (2, 4, 4, 4, 2)] {
        let q = param((groups * m, d), Any, &mut rng);
        let k = param((groups * n, d), Any, &mut rng);
        let v = param((groups * n, e), Any, &mut rng);
        let label = format!("attention, {groups} groups of {m} queries and {n} keys");
        let g = check(&label, &attention(&q, &k, &v, groups), &[&q, &k, &v], 7);
        keep(&mut largest, g);
        if m == n {
            let label = format!("causal_attention, {groups} groups of {m}");
            let out = causal_attention(&q, &k, &v, groups);
            keep(&mut largest_causal, check(&label, &out, &[&q, &k, &v], 8));
        }
        // All keys for the first group, none for the second.
        let lengths: Vec<usize> = (0..groups).map(|g| (n + g) % (n + 1)).collect();
        let label = format!("attention_padded, lengths {lengths:?} of {n}");
        let out = attention_padded(&q, &k, &v, &IndexInputNode::new(&lengths));
        check(&label, &out, &[&q, &k, &v], 9);
        // Heads (two where both widths allow) and one set of queries for every group.
        let heads = if d % 2 == 0 && e % 2 == 0 { 2 } else { 1 };
        let shared = param((m, d), Any, &mut rng);
        let label = format!("Attention, {heads} heads, shared queries, {groups} groups");
        let options = Attention::groups(groups).heads(heads).shared_queries();
        check(
            &label,
            &options.apply(&shared, &k, &v),
            &[&shared, &k, &v],
            10,
        );
    }
    assert_not_vacuous("attention", &largest);
    assert_not_vacuous("causal_attention", &largest_causal);
}

#[test]
fn shape_operations() {
    unary("t", Any, |x| x.t());
    // The transposed shape's elements, as one row and then back to the operand's rows.
    unary("reshape", Any, |x| {
        let (rows, cols) = x.shape();
        x.reshape(1, rows * cols).reshape(cols, rows)
    });
    let rows = [((1, 1), (1, 1)), ((1, 5), (2, 5)), ((4, 3), (2, 3))];
    binary("stack Axis(0)", (Any, Any), &rows, |a, b| {
        a.stack(b, Axis(0))
    });
    let cols = [((1, 1), (1, 1)), ((1, 5), (1, 2)), ((4, 3), (4, 2))];
    binary("stack Axis(1)", (Any, Any), &cols, |a, b| {
        a.stack(b, Axis(1))
    });
    // Three operands of two types (a tuple), and three of one type (a slice).
    binary("concat tuple Axis(0)", (Any, Any), &rows, |a, b| {
        concat((a, &b.tanh(), b), Axis(0))
    });
    binary("concat slice Axis(1)", (Any, Any), &cols, |a, b| {
        concat(&[b.clone(), a.clone(), b.clone()], Axis(1))
    });
    unary("slice rows reversed", Any, |x| x.slice(s![..;-1, ..]));
    unary("slice every other column", Any, |x| x.slice(s![.., ..;2]));
    unary("slice last column", Any, |x| x.slice(s![.., -1]));
    unary_on("slice block", Any, &[(2, 2), (3, 5), (4, 3)], |x| {
        x.slice(s![1.., 0..2])
    });
}

#[test]
fn shared_subexpressions() {
    // The same variable on both sides of an operation.
    unary("x * x", Any, |x| x.clone() * x.clone());
    unary("x / x.exp()", Any, |x| x.clone() / x.exp());
    unary("x.dot(x.t())", Any, |x| x.dot(&x.t()));
    unary("x.dot_t(x)", Any, |x| x.dot_t(x));
    unary("stack(x, x)", Any, |x| x.stack(x, Axis(0)).tanh());
    unary("concat(x, x, x)", Any, |x| {
        concat(&[x.clone(), x.clone(), x.clone()], Axis(1)).tanh()
    });
    // A diamond: `a` feeds three consumers that meet again.
    unary("diamond", Any, |x| {
        let a = x.tanh();
        (a.clone() * a.clone() + a).scalar_sum()
    });
    // Two diamonds in sequence and a sum over columns of a shared softmax.
    unary("double diamond", Any, |x| {
        let a = x.sigmoid();
        let b = a.clone() * a.exp();
        (b.clone() + b.square()).sum_columns()
    });
    unary("entropy", Any, |x| {
        (x.softmax() * x.log_softmax()).sum_rows()
    });
    // Shared across two parameters: a hidden layer used twice.
    binary(
        "shared hidden layer",
        (Any, Any),
        &[((1, 1), (1, 1)), ((1, 5), (5, 3)), ((4, 3), (3, 2))],
        |x, w| {
            let h = x.dot(w);
            (h.sigmoid() * h.clone() - h.t().t()).mean()
        },
    );
    // A broadcast bias that also feeds the graph on its own.
    binary(
        "bias from the same graph",
        (Any, Any),
        &BROADCAST,
        |x, b| (x.clone() * b.clone() + b.tanh()).log_softmax(),
    );
    // A type-erased node inside a typed graph, used twice.
    unary("boxed", Any, |x| {
        let h = x.tanh().boxed();
        h.clone() * x.clone() + h
    });
}

#[test]
fn input_with_gradient_is_checkable() {
    let mut rng = rng_for("input");
    let x = InputNode::with_gradient(Array2::from_shape_simple_fn((3, 4), || {
        sample(Any, &mut rng)
    }));
    let w = param((4, 2), Any, &mut rng);
    let y = x.dot(&w).softmax();
    let report = check_gradient(&y, &x, &CheckOptions::default());
    assert!(report.passed(), "input gradient: {report}");
}

#[test]
fn backward_weight_scales_every_gradient() {
    let mut rng = rng_for("weight");
    let x = param((4, 3), Any, &mut rng);
    let loss = x.log_softmax().mean();
    loss.forward();
    loss.backward(1.0);
    let unit = x.gradient();
    x.zero_gradient();
    loss.forward();
    loss.backward(-2.5);
    let scaled = x.gradient();
    for (u, s) in unit.iter().zip(scaled.iter()) {
        assert!((s - -2.5 * u).abs() < 1e-6, "{s} != -2.5 * {u}");
    }
    assert!(unit.iter().any(|g| g.abs() > 1e-3));
}

/// `detach` is the identity in the forward pass, so finite differences see through it. Its
/// line checks the expression against the same one with the detached value fed in as a
/// constant input: their gradients must agree (with random upstream weights), and the
/// constant version's gradient is itself checked against finite differences.
#[test]
fn detach() {
    let mut rng = rng_for("detach");
    for (k, shape) in SHAPES.iter().enumerate() {
        let x = param(*shape, Any, &mut rng);
        let h = x.tanh();
        let detached = h.clone() * h.detach() + h.detach().exp() * x.clone();
        detached.forward();
        let constant = InputNode::new(h.value());
        let reference = h.clone() * constant.clone() + constant.exp() * x.clone();
        let label = format!("detach on {}x{}", shape.0, shape.1);
        check(&label, &reference, &[&x], k as u64 * 31 + 1);
        let upstream = Array2::from_shape_simple_fn(*shape, || sample(Any, &mut rng));
        let gradient = |y: &mut dyn FnMut()| {
            x.zero_gradient();
            y();
            x.gradient()
        };
        let want = gradient(&mut || reference.backward_with(upstream.view()));
        let got = gradient(&mut || detached.backward_with(upstream.view()));
        for (g, w) in got.iter().zip(want.iter()) {
            assert!((g - w).abs() < 1e-5, "{label}: {got} != {want}");
        }
        assert!(want.iter().any(|w| w.abs() > 1e-3), "{label}: vacuous");
    }
}
