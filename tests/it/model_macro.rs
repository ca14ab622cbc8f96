//! The `model!` macro end to end: training, equality with the hand-written graph, shared
//! parameters across threads, run-time dimensions and initialisers.

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use rayon::prelude::*;
use std::sync::Arc;
use wyrm::ndarray::{arr2, Array2};
use wyrm::prelude::*;
use wyrm::{model, nodes};

model! {
    /// Univariate linear regression (the quickstart).
    pub struct LinearRegression {
        slope: Param<1, 1>,
        intercept: Param<1, 1>,
        x: Input<1, 1>,
        y: Input<1, 1>,
        yhat = slope * x + intercept,
        loss = (y - yhat).square(),
    }
}

model! {
    /// A small network using most of the expression forms.
    struct Network {
        w1: Param<3, 4> = xavier,
        b1: Param<1, 4> = zeros,
        w2: Param<4, 2> = normal(0, 0.5),
        b2: Param<1, 2> = ones,
        x: Input<2, 3>,
        target: Input<2, 2>,
        hidden = (x.dot(&w1) + b1).tanh(),
        out = (2.0 * hidden.dot(w2) - b2).sigmoid() / 2 + hidden.dot(&w2).relu() * 0.5,
        shaped = -out.clip(-1.0, 1.0).pow(2.0).neg() + 1.0 - out.abs().sqrt(),
        loss = (shaped - target).square().exp().ln(),
        rectified = hidden.leaky_relu(0.1).gelu(),
    }
}

model! {
    /// A number on either side of each operator (`1 - x` and `x - 1` are different nodes).
    struct ScalarSides {
        x: Input<1, 2>,
        left = (1.0 - x) * (2.0 / (x + 3.0)),
        right = (x - 1.0) / 4.0,
    }
}

fn same_type<T>(_: &T, _: &T) {}

/// Runs a pass of a block's loss and of the hand-written one, and checks that they give the
/// same loss and the same gradients, for each pair of a block's parameter and its
/// hand-written counterpart.
fn assert_same_pass<A: Node, B: Node>(
    block: &mut Variable<A>,
    by_hand: &mut Variable<B>,
    parameters: &[(&Variable<ParameterNode>, &Variable<ParameterNode>)],
) {
    block.forward();
    by_hand.forward();
    assert_eq!(block.value()[(0, 0)], by_hand.value()[(0, 0)]);
    block.backward(1.0);
    by_hand.backward(1.0);
    for (ours, theirs) in parameters {
        assert_eq!(ours.gradient(), theirs.gradient());
    }
}

model! {
    /// A user's taste from the items in their history (bags of varying size), scored
    /// against a candidate item.
    struct History {
        items: Param<num_items, 4>,
        history: Bags<batch>,
        candidate: Index<batch>,
        taste = items.mean_bags(history) + items.sum_bags(history) * 0.0,
        score = taste.vector_dot(items.index(candidate)),
    }
}

model! {
    /// Bags over a statically shaped table.
    #[static_shapes]
    struct StaticHistory {
        items: Param<20, 4>,
        history: Bags<2>,
        taste = items.sum_bags(history).tanh(),
    }
}

/// Bags in a block: the same values and gradients as the graph written by hand.
#[test]
fn bags_in_a_block_match_the_hand_written_graph() {
    let model = History::new_with_rng(&mut StdRng::seed_from_u64(9), 20, 2);
    model.history.set_value([vec![3, 5, 5], vec![]]);
    model.candidate.set_value(&[7, 1]);
    let score = model.score.clone();
    score.forward();
    score.backward(1.0);

    let items = ParameterNode::new(model.items.value());
    let (history, candidate) = (BagsInputNode::new(2), IndexInputNode::new(&[7, 1]));
    history.set_value([vec![3, 5, 5], vec![]]);
    let taste = items.mean_bags(&history) + items.sum_bags(&history) * 0.0;
    let reference = taste.vector_dot(&items.index(&candidate));
    reference.forward();
    reference.backward(1.0);
    assert_eq!(score.value(), reference.value());
    assert_eq!(model.items.gradient(), items.gradient());
    // Another batch size keeps the table and takes bags of its own.
    let three = model.with_dimensions(20, 3);
    assert_eq!(three.history.shape(), (3, 1));
    // A static table keeps its column type through the pooling.
    let fixed = StaticHistory::new();
    let _: &Variable<nodes::Bags<typenum::U20, typenum::U4>> =
        &fixed.items.sum_bags(&fixed.history);
    fixed.history.set_value([vec![1], vec![2, 3]]);
    let taste = fixed.taste.clone();
    taste.forward();
    assert_eq!(taste.shape(), (2, 4));
}

model! {
    /// A temporal-difference loss: the target comes from the trained weights, detached.
    struct TemporalDifference {
        w: Param<1, 2> = normal(0, 0.5),
        state: Input<1, 2>,
        next_state: Input<1, 2>,
        reward: Input<1, 1>,
        q = state.vector_dot(w),
        target = reward + next_state.vector_dot(w).detach() * 0.9,
        loss = (target - q).square(),
    }
}

#[test]
fn detach_in_a_block_holds_the_target_constant() {
    let model = TemporalDifference::new();
    model.w.set_value(&arr2(&[[0.5, -1.0]]));
    model.state.set_value(arr2(&[[1.0, 2.0]]));
    model.next_state.set_value(arr2(&[[2.0, 1.0]]));
    model.reward.set_value(arr2(&[[1.0]]));
    let loss = model.loss.clone();
    loss.forward();
    loss.backward(1.0);
    // q = -1.5, target = 1 + 0.9 · 0 = 1: d/dw (target - q)² = -2 · 2.5 · state.
    assert_eq!(model.w.gradient(), arr2(&[[-5.0, -10.0]]));
}

#[test]
fn numbers_on_either_side_of_an_operator() {
    let model = ScalarSides::new();
    model.x.set_value(arr2(&[[1.0, -1.0]]));
    model.left.forward();
    model.right.forward();
    // (1 - x) * 2 / (x + 3) and (x - 1) / 4 at x = 1 and x = -1.
    assert_eq!(model.left.value(), arr2(&[[0.0, 2.0]]));
    assert_eq!(model.right.value(), arr2(&[[0.0, -0.5]]));
}

model! {
    /// Logistic regression on logits, with the stable binary cross-entropy written out
    /// and as the built-in function.
    struct Logistic {
        w: Param<2, 1> = zeros,
        b: Param<1, 1> = zeros,
        x: Input<1, 2>,
        y: Input<1, 1>,
        logit = x.dot(w) + b,
        loss = (logit.softplus() - y * logit).scalar_sum(),
        fused = binary_crossentropy_with_logits(logit, y).mean(),
        weighted = binary_crossentropy_with_logits_weighted(logit, y, 1.0).mean(),
    }
}

/// One training step of a model the function only borrows: `forward` and `backward` take
/// `&self`, so its fields run in place, without `mut` or a clone.
fn train_step(model: &Logistic, optimizer: &mut SGD, x: [f32; 2], y: f32) -> f32 {
    model.x.set_value(arr2(&[x]));
    model.y.set_value(y);
    model.loss.forward();
    model.loss.backward(1.0);
    optimizer.step();
    optimizer.zero_gradients();
    model.loss.scalar()
}

/// Steps through a shared reference give the same values as the same steps on a clone of
/// the loss (the way before `forward` took `&self`).
#[test]
fn a_borrowed_model_trains_through_its_fields() {
    let (borrowed, cloned) = (Logistic::new(), Logistic::new());
    let mut by_reference = SGD::new(0.5, borrowed.parameters());
    let mut by_clone = SGD::new(0.5, cloned.parameters());
    let loss = cloned.loss.clone();
    for step in 0..20 {
        let (x, y) = (
            [step as f32 / 10.0, 1.0 - step as f32 / 20.0],
            (step % 2) as f32,
        );
        let first = train_step(&borrowed, &mut by_reference, x, y);
        cloned.x.set_value(arr2(&[x]));
        cloned.y.set_value(y);
        loss.forward();
        loss.backward(1.0);
        by_clone.step();
        by_clone.zero_gradients();
        assert_eq!(first, loss.scalar(), "step {step}");
    }
    assert_eq!(borrowed.w.value(), cloned.w.value());
    assert_ne!(borrowed.w.value(), arr2(&[[0.0], [0.0]]), "trained");
}

/// Separable data, trained until the logits are far past where the sigmoid rounds to 0 or
/// 1 in f32: the loss stays finite (the textbook form gives NaN there).
#[test]
fn logistic_regression_with_softplus_separates_and_stays_finite() {
    let mut rng = StdRng::seed_from_u64(11);
    let model = Logistic::new();
    let mut optimizer = Adam::new(0.5, model.parameters());
    let loss = model.loss.clone();
    let point = |rng: &mut StdRng| {
        let label = rng.gen_bool(0.5);
        let centre = if label { 2.0 } else { -2.0 };
        let x = arr2(&[[
            centre + rng.gen_range(-1.0..1.0),
            centre + rng.gen_range(-1.0..1.0),
        ]]);
        (x, label as u8 as f32)
    };
    for _ in 0..3000 {
        let (x, y) = point(&mut rng);
        model.x.set_value(x);
        model.y.set_value(y);
        loss.forward();
        loss.backward(1.0);
        optimizer.step();
        optimizer.zero_gradients();
        assert!(loss.value()[(0, 0)].is_finite());
    }
    let mut right = 0;
    let logit = model.logit.clone();
    for _ in 0..200 {
        let (x, y) = point(&mut rng);
        model.x.set_value(x);
        logit.forward();
        let z = logit.value()[(0, 0)];
        right += ((z > 0.0) == (y == 1.0)) as usize;
    }
    assert_eq!(right, 200);
    // Confident: well past |z| = 17, where sigmoid(z) is 0 or 1 in f32.
    model.x.set_value(arr2(&[[3.0, 3.0]]));
    logit.forward();
    assert!(logit.value()[(0, 0)] > 17.0, "{}", logit.value());
    // The built-in loss agrees, confidently right and confidently wrong.
    // So does the weighted one at weight 1.
    let (fused, weighted) = (model.fused.clone(), model.weighted.clone());
    for y in [1.0, 0.0] {
        model.y.set_value(y);
        loss.forward();
        fused.forward();
        weighted.forward();
        let (written, fused) = (loss.value()[(0, 0)], fused.value()[(0, 0)]);
        assert!(fused.is_finite() && (written - fused).abs() <= 1e-6 * written.max(1.0));
        assert!((weighted.value()[(0, 0)] - fused).abs() <= 1e-6 * fused.max(1.0));
    }
}

model! {
    /// A classifier over a batch of run-time size, with an embedding table whose row
    /// count is a run-time dimension too.
    struct Batched {
        table: Param<vocabulary, 3>,
        w: Param<3, 2>,
        b: Param<1, 2> = zeros,
        tokens: Index<batch>,
        labels: Index<batch>,
        loss = sparse_categorical_crossentropy(table.index(tokens).dot(w) + b, labels),
    }
}

/// The short last batch of an epoch: a graph with another batch size over the same
/// parameter nodes, whose gradients are those of a model built for that size.
#[test]
fn with_dimensions_builds_a_graph_of_another_batch_size_over_the_same_parameters() {
    let model = Batched::new_with_rng(&mut StdRng::seed_from_u64(3), 10, 4);
    let short = model.with_dimensions(10, 2);
    assert!(std::rc::Rc::ptr_eq(model.w.node(), short.w.node()));
    assert_eq!(short.tokens.node().len(), 2);

    let reference = Batched::new(10, 2);
    reference.table.set_value(&model.table.value());
    reference.w.set_value(&model.w.value());
    for m in [&short, &reference] {
        m.tokens.set_value(&[7, 2]);
        m.labels.set_value(&[1, 0]);
        let loss = m.loss.clone();
        loss.forward();
        loss.backward(1.0);
    }
    assert_eq!(short.loss.value(), reference.loss.value());
    assert_eq!(model.w.gradient(), reference.w.gradient());
    assert_eq!(model.table.gradient(), reference.table.gradient());
    // An optimizer over the first graph's parameters applies it.
    let mut optimizer = SGD::new(0.5, model.parameters());
    let before = model.w.value().to_owned();
    optimizer.step();
    assert_eq!(model.w.value(), &before - &(0.5 * reference.w.gradient()));
}

#[test]
#[should_panic(
    expected = "Batched::with_dimensions (or with_dims): the parameter `table: \
                           Param<vocabulary, 3>` is 10x3 in this model but would be 11x3 \
                           with these dimensions"
)]
fn with_dimensions_keeps_the_parameters_shapes() {
    let model = Batched::new(10, 4);
    let _ = model.with_dimensions(11, 4);
}

/// The run-time dimensions by name (`BatchedDims`): the same model as the positional
/// constructors build, read back from a model, and a derived graph naming only the
/// dimension that changes.
#[test]
fn dimensions_by_name() {
    let dims = BatchedDims {
        batch: 4,
        vocabulary: 10,
    };
    let model = Batched::from_dims_with_rng(&mut StdRng::seed_from_u64(3), dims);
    let positional = Batched::new_with_rng(&mut StdRng::seed_from_u64(3), 10, 4);
    assert_eq!(model.table.value(), positional.table.value());
    assert_eq!(model.dims(), dims);
    assert_eq!(positional.dims(), dims);
    assert_eq!(Batched::from_dims(dims).table.value().dim(), (10, 3));

    let one = model.with_dims(BatchedDims {
        batch: 1,
        ..model.dims()
    });
    assert!(std::rc::Rc::ptr_eq(model.table.node(), one.table.node()));
    assert_eq!(one.tokens.node().len(), 1);
    assert_eq!(one.dims(), BatchedDims { batch: 1, ..dims });
}

#[test]
#[should_panic(
    expected = "Batched::with_dimensions (or with_dims): the parameter `table: \
                           Param<vocabulary, 3>` is 10x3 in this model but would be 11x3 \
                           with these dimensions"
)]
fn with_dims_keeps_the_parameters_shapes() {
    let model = Batched::new(10, 4);
    let _ = model.with_dims(BatchedDims {
        vocabulary: 11,
        ..model.dims()
    });
}

model! {
    /// A graph network layer: each node's representation plus its neighbours' mean.
    struct GraphLayer {
        w: Param<features, 4>,
        x: Input<nodes, features>,
        neighbours: Bags<nodes>,
        h = x.dot(w).tanh(),
        out = (h.gather_mean_bags(neighbours) + h).scalar_sum(),
    }
}

model! {
    /// A policy-gradient loss: each action's log-probability weighed by its advantage.
    struct Policy {
        w: Param<4, 2>,
        x: Input<batch, 4>,
        actions: Index<batch>,
        advantages: Input<batch, 1>,
        loss = -(x.dot(w).log_softmax().pick(actions) * advantages).scalar_sum(),
    }
}

#[test]
fn a_block_picks_an_entry_per_row() {
    let model = Policy::new(3);
    let (x, advantages) = (random_matrix(3, 4), random_matrix(3, 1));
    model.x.set_value(&x);
    model.actions.set_value(&[1, 0, 1]);
    model.advantages.set_value(&advantages);
    let loss = model.loss.clone();
    loss.forward();
    loss.backward(1.0);

    let w = ParameterNode::new(model.w.value().to_owned());
    let logp = InputNode::new(x).dot(&w).log_softmax();
    let by_hand = -(logp.pick(&model.actions) * InputNode::new(advantages)).scalar_sum();
    by_hand.forward();
    by_hand.backward(1.0);
    assert_eq!(loss.value(), by_hand.value());
    assert_eq!(model.w.gradient(), w.gradient());
}

model! {
    /// Differences of neighbouring rows: a dimension computed from a run-time one.
    struct Steps {
        x: Input<len, 2>,
        previous: Input<{len - 1}, 2>,
        w: Param<2, 1>,
        loss = (x.slice(s![1.., ..]) - previous).dot(w).scalar_sum(),
    }
}

/// A braced dimension may read the run-time ones, and `with_dims` computes it again.
#[test]
fn braced_dimensions_read_the_run_time_ones() {
    let model = Steps::new(5);
    assert_eq!(model.previous.value().dim(), (4, 2));
    let short = model.with_dims(StepsDims { len: 3 });
    assert_eq!(short.previous.value().dim(), (2, 2));
    let loss = short.loss.clone();
    loss.forward();
}

/// Rows of computed nodes in a block: the same value and gradient as by hand.
#[test]
fn a_block_pools_the_rows_of_a_computed_node() {
    let model = GraphLayer::from_dims(GraphLayerDims {
        features: 3,
        nodes: 4,
    });
    let x = random_matrix(4, 3);
    model.x.set_value(&x);
    model
        .neighbours
        .set_value([vec![1, 2], vec![0], vec![], vec![0, 1, 2]]);
    let out = model.out.clone();
    out.forward();
    out.backward(1.0);

    let w = ParameterNode::new(model.w.value().to_owned());
    let h = InputNode::new(x).dot(&w).tanh();
    let by_hand = (h.gather_mean_bags(&model.neighbours) + h).scalar_sum();
    by_hand.forward();
    by_hand.backward(1.0);
    assert_eq!(out.value(), by_hand.value());
    assert_eq!(model.w.gradient(), w.gradient());
}

model! {
    /// A listwise ranking loss over queries of several lengths in one graph, with each
    /// query's strongest document pooled as well.
    struct ListNet {
        w: Param<features, 1>,
        x: Input<documents, features>,
        labels: Input<documents, 1>,
        queries: Bags<groups>,
        scores = x.dot(w),
        best = scores.gather_max_bags(queries),
        logp = scores.log_softmax_bags(queries),
        loss = scores.gather_logsumexp_bags(queries).scalar_sum()
            - (scores * labels).scalar_sum() - best.scalar_sum()
            - (logp * labels).scalar_sum(),
    }
}

/// The bag maxima in a block: the same value and gradient as by hand.
#[test]
fn a_block_takes_the_maxima_of_bags() {
    let model = ListNet::from_dims(ListNetDims {
        features: 3,
        documents: 5,
        groups: 3,
    });
    let (x, labels) = (random_matrix(5, 3), random_matrix(5, 1));
    model.x.set_value(&x);
    model.labels.set_value(&labels);
    model.queries.set_value([vec![0, 1, 2], vec![3, 4], vec![]]);
    model.loss.forward();
    model.loss.backward(1.0);

    let w = ParameterNode::new(model.w.value().to_owned());
    let scores = InputNode::new(x).dot(&w);
    let by_hand = scores.gather_logsumexp_bags(&model.queries).scalar_sum()
        - (scores.clone() * InputNode::new(labels.clone())).scalar_sum()
        - scores.gather_max_bags(&model.queries).scalar_sum()
        - (scores.log_softmax_bags(&model.queries) * InputNode::new(labels)).scalar_sum();
    by_hand.forward();
    by_hand.backward(1.0);
    assert_eq!(model.loss.value(), by_hand.value());
    assert_eq!(model.w.gradient(), w.gradient());
    assert_eq!(model.best.shape(), (3, 1));
    assert_eq!(model.logp.shape(), (5, 1));
}

/// `steps` Adam steps on one fixed batch.
fn train_batched(model: &Batched, optimizer: &mut Adam, steps: usize) {
    let loss = model.loss.clone();
    for _ in 0..steps {
        model.tokens.set_value(&[7, 2]);
        model.labels.set_value(&[1, 0]);
        loss.forward();
        loss.backward(1.0);
        optimizer.step();
        optimizer.zero_gradients();
    }
}

fn values(model: &Batched) -> Vec<Array2<f32>> {
    model.parameters().iter().map(|p| p.value()).collect()
}

/// Early stopping and target networks: a snapshot's values written back in place, with
/// the same optimizer carrying on over the same nodes; a second model takes a copy.
#[test]
fn set_parameter_values_restores_a_snapshot_in_place() {
    let model = Batched::new_with_rng(&mut StdRng::seed_from_u64(5), 10, 2);
    let mut optimizer = Adam::new(0.1, model.parameters());
    train_batched(&model, &mut optimizer, 3);
    let best = model.shared_parameters();
    let best_values = values(&model);
    train_batched(&model, &mut optimizer, 3);
    assert_ne!(values(&model), best_values);
    model.set_parameter_values(&best);
    assert_eq!(values(&model), best_values);
    train_batched(&model, &mut optimizer, 1);
    assert_ne!(
        values(&model)[1],
        best_values[1],
        "the optimizer still updates the model"
    );

    let target = Batched::new(10, 2);
    target.set_parameter_values(&model.shared_parameters());
    let copied = values(&model);
    assert_eq!(values(&target), copied);
    train_batched(&model, &mut optimizer, 1);
    assert_eq!(values(&target), copied, "the target holds a copy");
}

#[test]
#[should_panic(
    expected = "Batched::set_parameter_values: the shared parameter `table` is \
                           11x3 but this model's `table: Param<vocabulary, 3>` is 10x3"
)]
fn set_parameter_values_checks_shapes() {
    Batched::new(10, 2).set_parameter_values(&Batched::new(11, 2).shared_parameters());
}

/// A mismatch in a later parameter leaves the earlier ones unchanged too.
#[test]
fn set_parameter_values_changes_all_or_nothing() {
    let model = Batched::new(10, 2);
    let before = values(&model);
    let shared = |rows, cols| Arc::new(HogwildParameter::new(Array2::ones((rows, cols))));
    let wrong = BatchedParameters {
        table: shared(10, 3),
        w: shared(3, 3),
        b: shared(1, 2),
        vocabulary: 10,
        batch: 2,
    };
    let set = std::panic::AssertUnwindSafe(|| model.set_parameter_values(&wrong));
    let message = *std::panic::catch_unwind(set)
        .unwrap_err()
        .downcast::<String>()
        .unwrap();
    assert!(
        message.contains("the shared parameter `w` is 3x3"),
        "{message}"
    );
    assert_eq!(values(&model), before);
}

model! {
    /// A mean-over-the-batch loss, and an initial spread scaled by the input width: both
    /// read run-time dimensions in braces.
    struct MeanSquared {
        w: Param<width, 1> = normal(0, {1.0 / (width as f32).sqrt()}),
        x: Input<batch, width>,
        y: Input<batch, 1>,
        loss = (x.dot(w) - y).square().scalar_sum() * {1.0 / batch as f32},
    }
}

/// Constants in braces read the model's run-time dimensions, also in a graph rebuilt
/// with other dimensions.
#[test]
fn constants_in_braces_read_the_run_time_dimensions() {
    // Dimensions in order of first appearance: width, then batch.
    let model = MeanSquared::new_with_rng(&mut StdRng::seed_from_u64(5), 100, 4);
    let spread = model.w.value().std(0.0);
    assert!((0.07..0.14).contains(&spread), "{spread}"); // 1 / sqrt(100)
    for m in [model.with_dimensions(100, 2), model.with_dimensions(100, 5)] {
        let batch = m.x.shape().0;
        m.x.set_value(Array2::zeros((batch, 100)));
        m.y.set_value(Array2::ones((batch, 1)));
        let loss = m.loss.clone();
        loss.forward();
        assert_eq!(loss.value()[(0, 0)], 1.0, "batch {batch}");
    }
}

const EPS: f32 = 1e-3;
const SCALE: f64 = 0.5;
const STD: f32 = 0.2;
const POWER: i32 = 2;

model! {
    /// Numbers given as constant expressions in braces.
    struct Constants {
        w: Param<2, 2> = normal(0, {STD}),
        x: Input<1, 2>,
        p = x.dot(w).sigmoid().clip({EPS}, {1.0 - EPS}),
        out = -{SCALE} * p.pow({POWER}) + {EPS},
    }
}

#[test]
fn numbers_can_be_constant_expressions_in_braces() {
    let model = Constants::new_with_rng(&mut StdRng::seed_from_u64(5));
    model.w.set_value(&arr2(&[[40.0, -1.0], [0.0, 2.0]]));
    model.x.set_value(arr2(&[[1.0, 0.5]]));
    let out = model.out.clone();
    out.forward();
    // The hand-written graph with the constants' values.
    let (x, w) = (model.x.clone(), model.w.clone());
    let p = x.dot(&w).sigmoid().clip(EPS, 1.0 - EPS);
    let expected = -(SCALE as f32) * p.pow(2.0) + EPS;
    expected.forward();
    assert_eq!(out.value(), expected.value());
    // The first logit (40) is clipped at 1 - EPS.
    assert_eq!(model.p.value()[(0, 0)], 1.0 - EPS);
    // `normal(0, {STD})`: a spread near 0.2.
    let fresh = Constants::new_with_rng(&mut StdRng::seed_from_u64(5))
        .w
        .value();
    assert!(fresh.iter().all(|v| v.abs() < 1.0) && fresh.iter().any(|v| v.abs() > 0.01));
}

#[test]
fn linear_regression_converges() {
    let mut rng = StdRng::seed_from_u64(7);
    let model = LinearRegression::new_with_rng(&mut rng);
    let mut optimizer = SGD::new(0.1, model.parameters());
    for _ in 0..3000 {
        let x: f32 = rng.gen();
        model.x.set_value(x);
        model.y.set_value(3.0 * x + 5.0);
        model.loss.forward();
        model.loss.backward(1.0);
        optimizer.step();
        optimizer.zero_gradients();
    }
    assert!((model.slope.value()[(0, 0)] - 3.0).abs() < 0.05);
    assert!((model.intercept.value()[(0, 0)] - 5.0).abs() < 0.05);
    assert!(model.loss.value()[(0, 0)] < 1e-3);
}

#[test]
fn linear_regression_has_the_hand_written_types() {
    let model = LinearRegression::default();
    let slope = ParameterNode::new(model.slope.value().to_owned());
    let intercept = ParameterNode::new(model.intercept.value().to_owned());
    let x = InputNode::new(Array2::zeros((1, 1)));
    let y = InputNode::new(Array2::zeros((1, 1)));
    let yhat = slope.clone() * x.clone() + intercept.clone();
    let loss = (y.clone() - yhat.clone()).square();
    same_type(&model.yhat, &yhat);
    same_type(&model.loss, &loss);
    type Yhat = nodes::Add<nodes::Mul<ParameterNode, InputNode>, ParameterNode>;
    let _: &Variable<nodes::Square<nodes::Sub<InputNode, Yhat>>> = &model.loss;
}

/// The `Network` model written by hand over copies of the macro model's parameters.
#[test]
fn expansion_matches_the_hand_written_graph() {
    let mut rng = StdRng::seed_from_u64(11);
    let model = Network::new_with_rng(&mut rng);

    let copy = |p: &Variable<ParameterNode>| ParameterNode::new(p.value().to_owned());
    let (w1, b1, w2, b2) = (
        copy(&model.w1),
        copy(&model.b1),
        copy(&model.w2),
        copy(&model.b2),
    );
    let x = InputNode::new(Array2::zeros((2, 3)));
    let target = InputNode::new(Array2::zeros((2, 2)));
    let hidden = (x.dot(&w1) + b1.clone()).tanh();
    let out = (2.0 * hidden.dot(&w2) - b2.clone()).sigmoid() / 2.0 + hidden.dot(&w2).relu() * 0.5;
    let shaped = -(-out.clip(-1.0, 1.0).pow(2.0)) + 1.0 - out.abs().sqrt();
    let loss = (shaped.clone() - target.clone()).square().exp().ln();
    same_type(&model.loss, &loss);
    same_type(&model.shaped, &shaped);
    let rectified = hidden.leaky_relu(0.1).gelu();
    same_type(&model.rectified, &rectified);
    let model_rectified = model.rectified.clone();
    let xs = wyrm::init::normal(2, 3, 0.0, 2.0, &mut rng);
    model.x.set_value(&xs);
    x.set_value(&xs);
    rectified.forward();
    model_rectified.forward();
    assert_eq!(model_rectified.value(), rectified.value());

    // Initialisers: zeros, ones, xavier's limit.
    assert!(model.b1.value().iter().all(|&v| v == 0.0));
    assert!(model.b2.value().iter().all(|&v| v == 1.0));
    let limit = (6.0f32 / 7.0).sqrt();
    assert!(model.w1.value().iter().all(|v| v.abs() <= limit));

    let hand_params = [w1, b1, w2, b2];
    for step in 0..3 {
        let xs = wyrm::init::normal(2, 3, 0.0, 1.0, &mut rng);
        let ts = wyrm::init::normal(2, 2, 0.5, 0.2, &mut rng);
        model.x.set_value(&xs);
        model.target.set_value(&ts);
        x.set_value(&xs);
        target.set_value(&ts);
        model.loss.forward();
        loss.forward();
        assert_eq!(
            model.loss.value().to_owned(),
            loss.value().to_owned(),
            "step {step}"
        );
        let seed = arr2(&[[1.0, -0.5], [0.25, 2.0]]);
        model.loss.backward_with(seed.view());
        loss.backward_with(seed.view());
        for (m, h) in model.parameters().iter().zip(&hand_params) {
            assert_eq!(m.gradient(), h.gradient(), "step {step}");
            m.zero_gradient();
            h.zero_gradient();
        }
    }
    assert_eq!(model.parameters().len(), 4);
}

model! {
    /// Linear regression over a run-time number of features.
    struct Linear {
        w: Param<width, 1> = zeros,
        b: Param<1, 1> = zeros,
        x: Input<1, width>,
        y: Input<1, 1>,
        loss = (x.dot(w) + b - y).square(),
    }
}

#[test]
fn from_parameters_trains_shared_weights_across_threads() {
    fn send_sync<T: Send + Sync>() {}
    send_sync::<LinearParameters>();

    let truth = [0.5f32, -1.0, 2.0, 0.0];
    let shared = Linear::new(truth.len()).shared_parameters();
    assert_eq!(shared.width, 4);
    (0..4u64).into_par_iter().for_each(|worker| {
        let model = Linear::from_parameters(&shared);
        // Every worker's graph reads and writes the same storage.
        let mine = model.shared_parameters();
        assert!(Arc::ptr_eq(&mine.w, &shared.w));
        assert!(Arc::ptr_eq(&mine.b, &shared.b));
        let mut optimizer = SGD::new(0.05, model.parameters());
        let mut rng = StdRng::seed_from_u64(worker);
        for _ in 0..3000 {
            let x = wyrm::init::normal(1, 4, 0.0, 1.0, &mut rng);
            let y: f32 = x.iter().zip(truth).map(|(a, b)| a * b).sum::<f32>() + 1.0;
            model.x.set_value(&x);
            model.y.set_value(y);
            model.loss.forward();
            model.loss.backward(1.0);
            optimizer.step();
            optimizer.zero_gradients();
        }
    });
    let w = shared.w.value();
    for (i, t) in truth.iter().enumerate() {
        assert!((w[(i, 0)] - t).abs() < 0.02, "w[{i}] = {}", w[(i, 0)]);
    }
    assert!((shared.b.value()[(0, 0)] - 1.0).abs() < 0.02);
    // A fresh graph over the trained parameters predicts with them.
    let served = Linear::from_parameters(&shared);
    served.x.set_value(arr2(&[[1.0, 1.0, 1.0, 1.0]]).view());
    served.y.set_value(2.5);
    served.loss.forward();
    assert!(served.loss.value()[(0, 0)] < 1e-3);
}

model! {
    /// One tower of a siamese model: an item's embedding through a projection.
    struct Tower {
        table: Param<items, 4> = normal(0, 1),
        proj: Param<4, 2> = normal(0, 1),
        id: Index<1>,
        out = table.index(id).dot(proj),
    }
}

#[test]
fn tied_graphs_share_parameter_nodes_and_add_up_their_gradients() {
    let a = Tower::new_with_rng(&mut StdRng::seed_from_u64(3), 10);
    let b = Tower::with_parameters_of(&a);
    assert!(std::rc::Rc::ptr_eq(a.table.node(), b.table.node()));
    assert!(std::rc::Rc::ptr_eq(a.proj.node(), b.proj.node()));
    // The inputs are the second graph's own, sized from the first's dimensions.
    assert!(!std::rc::Rc::ptr_eq(a.id.node(), b.id.node()));
    assert_eq!(b.table.shape(), (10, 4));
    a.id.set_value(2);
    b.id.set_value(5);
    let loss = (a.out.clone() - b.out.clone()).square().scalar_sum();
    assert_eq!(loss.parameters().len(), 2);
    loss.forward();
    loss.backward(1.0);

    // The same loss written by hand over one copy of the parameters.
    let table = ParameterNode::new(a.table.value());
    let proj = ParameterNode::new(a.proj.value());
    let (i, j) = (IndexInputNode::new(&[2]), IndexInputNode::new(&[5]));
    let hand = (table.index(&i).dot(&proj) - table.index(&j).dot(&proj))
        .square()
        .scalar_sum();
    hand.forward();
    hand.backward(1.0);
    assert_eq!(loss.value(), hand.value());
    assert_eq!(a.table.gradient(), table.gradient());
    assert_eq!(a.proj.gradient(), proj.gradient());
    assert!(proj.gradient().iter().any(|&g| g != 0.0));
}

#[test]
fn tied_graphs_train_shared_parameters_with_one_optimizer_per_thread() {
    let shared = Tower::new_with_rng(&mut StdRng::seed_from_u64(4), 10).shared_parameters();
    let distance = |p: &TowerParameters| {
        let a = Tower::from_parameters(p);
        let b = Tower::with_parameters_of(&a);
        a.id.set_value(1);
        b.id.set_value(7);
        let d = (a.out.clone() - b.out.clone()).square().scalar_sum();
        d.forward();
        d.value()[(0, 0)]
    };
    let before = distance(&shared);
    assert!(before > 0.1, "{before}");
    (0..2).into_par_iter().for_each(|_| {
        let a = Tower::from_parameters(&shared);
        let b = Tower::with_parameters_of(&a);
        let loss = (a.out.clone() - b.out.clone()).square().scalar_sum();
        // Both towers' nodes are the same two shared nodes: one optimizer takes them.
        let mut optimizer = Adagrad::new(0.05, loss.parameters());
        a.id.set_value(1);
        b.id.set_value(7);
        for _ in 0..200 {
            loss.forward();
            loss.backward(1.0);
            optimizer.step();
            optimizer.zero_gradients();
        }
    });
    let after = distance(&shared);
    assert!(after < before * 0.01, "{before} -> {after}");
}

#[test]
fn shared_parameters_of_a_local_model_copy_its_values() {
    let model = Linear::new(2);
    model.w.set_value(&arr2(&[[1.0], [2.0]]));
    let shared = model.shared_parameters();
    assert_eq!(shared.w.value(), arr2(&[[1.0], [2.0]]));
    assert_eq!(shared.width, 2);
    let copy = Linear::from_parameters(&shared);
    assert_eq!(copy.x.shape(), (1, 2));
    assert_eq!(copy.w.value().to_owned(), arr2(&[[1.0], [2.0]]));
}

#[test]
fn named_parameters_are_the_parameters_with_their_names() {
    let model = Batched::new(10, 4);
    let named = model.named_parameters();
    let names: Vec<&str> = named.iter().map(|(n, _)| *n).collect();
    assert_eq!(names, ["table", "w", "b"]);
    for ((_, p), q) in named.iter().zip(model.parameters()) {
        assert!(std::rc::Rc::ptr_eq(p.node(), q.node()));
    }
    // Biases without weight decay: two optimizers over the parameters, split by name.
    let (biases, weights): (Vec<_>, Vec<_>) = named.into_iter().partition(|(n, _)| *n == "b");
    let strip = |v: Vec<(&str, Variable<ParameterNode>)>| -> Vec<_> {
        v.into_iter().map(|(_, p)| p).collect()
    };
    let mut decayed = Adam::new(0.1, strip(weights)).weight_decay(0.5);
    let mut plain = Adam::new(0.1, strip(biases));
    model.b.set_value(&arr2(&[[1.0, 1.0]]));
    let w_before = model.w.value().to_owned();
    // A gradient of zero everywhere: only the decay moves anything.
    let loss = model.loss.clone() * 0.0;
    loss.forward();
    loss.backward(1.0);
    decayed.step();
    plain.step();
    assert_eq!(model.b.value(), arr2(&[[1.0, 1.0]]));
    let expected = &w_before * (1.0 - 0.1 * 0.5);
    for (a, e) in model.w.value().iter().zip(expected.iter()) {
        assert!((a - e).abs() < 1e-6, "{a} against {e}");
    }
}

/// A snapshot of shared parameters keeps its values while training goes on in the
/// original (a clone would follow it), and restores them.
#[test]
fn a_snapshot_keeps_the_values_of_its_moment() {
    let shared = Linear::new(2).shared_parameters();
    shared.w.set_value(&arr2(&[[1.0], [2.0]]));
    let best = shared.snapshot();
    let follower = shared.clone();
    assert_eq!(best.width, 2);
    let model = Linear::from_parameters(&shared);
    model.w.set_value(&arr2(&[[5.0], [6.0]]));
    assert_eq!(follower.w.value(), arr2(&[[5.0], [6.0]]));
    assert_eq!(best.w.value(), arr2(&[[1.0], [2.0]]));
    model.set_parameter_values(&best);
    assert_eq!(shared.w.value(), arr2(&[[1.0], [2.0]]));
    assert!(!Arc::ptr_eq(&best.w, &shared.w));
}

/// A graph over local copies: the same answers, read in place, and training it leaves the
/// shared parameters as they were.
#[test]
fn from_parameter_values_builds_over_local_copies() {
    let shared = Linear::new(3).shared_parameters();
    shared.w.set_value(&arr2(&[[1.0], [2.0], [3.0]]));
    let local = Linear::from_parameter_values(&shared);
    let over = Linear::from_parameters(&shared);
    assert!(!local.w.node().is_shared() && over.w.node().is_shared());
    assert_eq!(local.x.shape(), (1, 3));
    for m in [&local, &over] {
        m.x.set_value(arr2(&[[1.0, -2.0, 0.5]]));
        m.y.set_value(1.0);
        m.loss.clone().forward();
    }
    assert_eq!(local.loss.value(), over.loss.value());

    let before = shared.w.value();
    let loss = local.loss.clone();
    let mut optimizer = SGD::new(0.1, local.parameters());
    loss.forward();
    loss.backward(1.0);
    optimizer.step();
    assert_ne!(local.w.value(), before);
    assert_eq!(shared.w.value(), before);
}

#[test]
#[should_panic(
    expected = "Linear::from_parameter_values: the shared parameter `w` is 3x1 but the model declares `w: Param<width, 1>`, which is 4x1"
)]
fn from_parameter_values_checks_shapes() {
    let mut shared = Linear::new(3).shared_parameters();
    shared.width = 4;
    Linear::from_parameter_values(&shared);
}

#[test]
#[should_panic(
    expected = "Linear::from_parameters: the shared parameter `w` is 3x1 but the model declares `w: Param<width, 1>`, which is 4x1"
)]
fn from_parameters_checks_shapes() {
    let mut shared = Linear::new(3).shared_parameters();
    shared.width = 4;
    Linear::from_parameters(&shared);
}

wyrm::model! {
    /// A parameter and a dimension named by keywords.
    struct Keywords {
        r#type: Param<r#in, 1>,
        x: Input<1, r#in>,
        out = x.dot(r#type),
    }
}

#[test]
#[should_panic(
    expected = "Keywords::from_parameters: the shared parameter `type` is 3x1 but the model declares `type: Param<in, 1>`, which is 4x1"
)]
fn messages_name_raw_identifiers_without_their_prefix() {
    let mut shared = Keywords::new(3).shared_parameters();
    shared.r#in = 4;
    Keywords::from_parameters(&shared);
}

#[test]
#[should_panic(expected = "shape mismatch in `add`")]
fn run_time_dimension_mismatches_panic_when_built() {
    model! {
        struct Mismatch {
            a: Param<n, 2>,
            b: Param<m, 2>,
            c = a + b,
        }
    }
    Mismatch::new(2, 3);
}

model! {
    /// Matrix factorisation: a user row dotted with an item row.
    struct Factorisation {
        users: Param<num_users, 8>,
        items: Param<num_items, 8>,
        u: Index<1>,
        i: Index<1>,
        rating: Input<1, 1>,
        prediction = users.index(u).vector_dot(&items.index(&i)),
        loss = (prediction - rating).square(),
    }
}

#[test]
fn embeddings_train_sparse_rows_through_the_macro() {
    let mut rng = StdRng::seed_from_u64(3);
    let model = Factorisation::new_with_rng(&mut rng, 50, 1000);
    let hand_users = ParameterNode::new(model.users.value().to_owned());
    let hand_items = ParameterNode::new(model.items.value().to_owned());
    let (u, i) = (IndexInputNode::new(&[0]), IndexInputNode::new(&[0]));
    let rating = InputNode::new(Array2::zeros((1, 1)));
    let prediction = hand_users.index(&u).vector_dot(&hand_items.index(&i));
    let loss = (prediction - rating.clone()).square();
    same_type(&model.loss, &loss);

    let before = model.items.value().to_owned();
    let mut optimizer = Adagrad::new(0.1, model.parameters());
    for _ in 0..200 {
        model.u.set_value(7);
        model.i.set_value(512);
        model.rating.set_value(1.0);
        model.loss.forward();
        model.loss.backward(1.0);
        optimizer.step();
        optimizer.zero_gradients();
    }
    assert!(model.loss.value()[(0, 0)] < 1e-3);
    // Only the looked-up item row moved.
    let after = model.items.value().to_owned();
    for row in 0..1000 {
        assert_eq!(before.row(row) == after.row(row), row != 512, "row {row}");
    }
    let shared = model.shared_parameters();
    assert_eq!((shared.num_users, shared.num_items), (50, 1000));
}

model! {
    /// A softmax classifier with reductions and a transpose.
    struct Classifier {
        w: Param<4, 3>,
        b: Param<1, 3> = zeros,
        x: Input<batch, 4>,
        labels: Index<batch>,
        logits = x.dot(w) + b,
        probabilities = logits.softmax(),
        log_probabilities = logits.log_softmax(),
        extras = probabilities.sum_columns().dot(log_probabilities.sum_columns().t()).mean()
            + logits.sum_rows().scalar_sum() * 0.01,
        loss = sparse_categorical_crossentropy(logits, labels) + 0.1 * extras,
    }
}

#[test]
fn classifier_matches_the_hand_written_graph() {
    let mut rng = StdRng::seed_from_u64(5);
    let mut model = Classifier::new_with_rng(&mut rng, 2);
    let w = ParameterNode::new(model.w.value().to_owned());
    let b = ParameterNode::new(model.b.value().to_owned());
    let x = InputNode::new(Array2::zeros((2, 4)));
    let labels = IndexInputNode::new(&[0, 0]);
    let logits = x.dot(&w) + b.clone();
    let probabilities = logits.softmax();
    let log_probabilities = logits.log_softmax();
    let extras = probabilities
        .sum_columns()
        .dot(&log_probabilities.sum_columns().t())
        .mean()
        + logits.sum_rows().scalar_sum() * 0.01;
    let mut loss =
        wyrm::nn::losses::sparse_categorical_crossentropy(&logits, &labels) + 0.1 * extras;
    same_type(&model.loss, &loss);

    let xs = wyrm::init::normal(2, 4, 0.0, 1.0, &mut rng);
    for v in [&model.x, &x] {
        v.set_value(&xs);
    }
    model.labels.set_value(&[2, 1]);
    labels.set_value(&[2, 1]);
    assert_same_pass(
        &mut model.loss,
        &mut loss,
        &[(&model.w, &w), (&model.b, &b)],
    );
}

model! {
    /// Concatenations along both axes, with either spelling of the axis.
    struct Stacked {
        a: Param<1, 3>,
        b: Param<2, 3>,
        x: Input<rows, 2>,
        tall = a.stack(b, 0),
        wide = x.stack(&x, Axis(1)),
        loss = wide.dot(tall.stack(a, Axis(0))).scalar_sum(),
    }
}

#[test]
fn stack_matches_the_hand_written_graph() {
    use wyrm::ndarray::Axis;
    let mut model = Stacked::new(3);
    let a = ParameterNode::new(model.a.value().to_owned());
    let b = ParameterNode::new(model.b.value().to_owned());
    let x = InputNode::new(Array2::zeros((3, 2)));
    let tall = a.stack(&b, Axis(0));
    let wide = x.stack(&x, Axis(1));
    let mut loss = wide.dot(&tall.stack(&a, Axis(0))).scalar_sum();
    same_type(&model.loss, &loss);
    assert_eq!(model.tall.shape(), (3, 3));
    assert_eq!(model.wide.shape(), (3, 4));
    let xs = arr2(&[[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]]);
    model.x.set_value(xs.view());
    x.set_value(xs.view());
    assert_same_pass(
        &mut model.loss,
        &mut loss,
        &[(&model.a, &a), (&model.b, &b)],
    );
}

model! {
    /// Field embeddings joined with dense features in one `concat`, and rows joined too.
    struct Concatenated {
        users: Param<10, 4>,
        items: Param<20, 3>,
        w: Param<9, 1>,
        user: Index<batch>,
        item: Index<batch>,
        dense: Input<batch, 2>,
        features = concat((users.index(user), items.index(item), dense), 1),
        rows = concat((features, features.tanh(), &features), Axis(0)),
        loss = rows.dot(w).square().scalar_sum(),
    }
}

#[test]
fn concat_matches_the_hand_written_graph() {
    use wyrm::ndarray::Axis;
    let mut model = Concatenated::new(2);
    let users = ParameterNode::new(model.users.value().to_owned());
    let items = ParameterNode::new(model.items.value().to_owned());
    let w = ParameterNode::new(model.w.value().to_owned());
    let (user, item) = (IndexInputNode::new(&[0, 0]), IndexInputNode::new(&[0, 0]));
    let dense = InputNode::new(Array2::zeros((2, 2)));
    let features = concat((&users.index(&user), &items.index(&item), &dense), Axis(1));
    let rows = concat((&features, &features.tanh(), &features), Axis(0));
    let mut loss = rows.dot(&w).square().scalar_sum();
    same_type(&model.loss, &loss);
    assert_eq!(model.features.shape(), (2, 9));
    assert_eq!(model.rows.shape(), (6, 9));
    let xs = arr2(&[[1.0, 2.0], [3.0, 4.0]]);
    for (u, i) in [(&model.user, &model.item), (&user, &item)] {
        u.set_value(&[3, 7]);
        i.set_value(&[19, 0]);
    }
    model.dense.set_value(xs.view());
    dense.set_value(xs.view());
    let pairs = [
        (&model.users, &users),
        (&model.items, &items),
        (&model.w, &w),
    ];
    assert_same_pass(&mut model.loss, &mut loss, &pairs);
}

model! {
    /// A gated update with its three gates sliced from one product, one slice reading a
    /// run-time dimension.
    struct Sliced {
        w: Param<3, {3 * HIDDEN}>,
        x: Input<batch, 3>,
        h: Input<batch, hidden>,
        z = x.dot(w),
        update = z.slice(s![.., 0..hidden]).sigmoid(),
        reset = z.slice(s![.., {HIDDEN}..2 * hidden]).sigmoid(),
        candidate = (z.slice(s![.., 8..]) + reset * h).tanh(),
        last = z.slice(s![-1, ..;2]),
        loss = (update * h + (1.0 - update) * candidate).scalar_sum() + last.scalar_sum(),
    }
}

const HIDDEN: usize = 4;

#[test]
fn slice_matches_the_hand_written_graph() {
    use wyrm::ndarray::s;
    let mut model = Sliced::new(2, HIDDEN);
    let w = ParameterNode::new(model.w.value().to_owned());
    let x = InputNode::new(Array2::zeros((2, 3)));
    let h = InputNode::new(Array2::zeros((2, HIDDEN)));
    let z = x.dot(&w);
    let update = z.slice(s![.., 0..HIDDEN]).sigmoid();
    let reset = z.slice(s![.., HIDDEN..2 * HIDDEN]).sigmoid();
    let candidate = (z.slice(s![.., 8..]) + reset * h.clone()).tanh();
    let last = z.slice(s![-1, ..;2]);
    let mut loss =
        (update.clone() * h.clone() + (1.0 - update) * candidate).scalar_sum() + last.scalar_sum();
    same_type(&model.loss, &loss);
    assert_eq!(model.candidate.shape(), (2, HIDDEN));
    assert_eq!(model.last.shape(), (1, 6));
    let xs = arr2(&[[1.0, -2.0, 0.5], [0.3, 0.4, -1.0]]);
    let hs = arr2(&[[0.1, 0.2, 0.3, 0.4], [-0.5, 0.6, -0.7, 0.8]]);
    model.x.set_value(xs.view());
    x.set_value(xs.view());
    model.h.set_value(hs.view());
    h.set_value(hs.view());
    assert_same_pass(&mut model.loss, &mut loss, &[(&model.w, &w)]);
}

model! {
    /// A translation model's training graph: a batch of (head, relation, tail) triples.
    struct Translation {
        entities: Param<num_entities, 4>,
        relations: Param<num_relations, 4>,
        head: Index<batch>,
        relation: Index<batch>,
        tail: Index<batch>,
        loss = (entities.index(head) + relations.index(relation) - entities.index(tail))
            .square()
            .sum_rows()
            .mean(),
    }
}

model! {
    /// Scores every entity as the tail of one query vector: a serving graph over the
    /// trained model's entity table.
    struct TailScorer {
        entities: Param<num_entities, 4>,
        query: Input<1, 4>,
        scores = query.dot_t(entities),
    }
}

/// A model of another block built by hand over some of a trained model's shared
/// parameters (the companion's fields are public) reads them in place.
#[test]
fn another_block_over_some_of_a_models_parameters() {
    let trained = Translation::new(5, 2, 3).shared_parameters();
    let scorer = TailScorer::from_parameters(&TailScorerParameters {
        entities: trained.entities.clone(),
        num_entities: trained.num_entities,
    });
    trained
        .entities
        .set_rows(&[3], &arr2(&[[1.0, 2.0, 3.0, 4.0]]));
    scorer.query.set_value(&[1.0, 0.0, 0.0, 1.0]);
    scorer.scores.forward();
    assert_eq!(scorer.scores.shape(), (1, 5));
    assert_eq!(scorer.scores.value()[(0, 3)], 5.0);
}

const WIDTH: usize = 3;

model! {
    /// Dimensions from constants, in braces: not constructor arguments.
    struct WithConstants {
        w: Param<{ WIDTH }, { WIDTH - 1 }>,
        x: Input<1, { WIDTH }>,
        y = x.dot(w).sigmoid(),
    }
}

#[test]
fn constant_dimensions_are_not_arguments() {
    let model = WithConstants::new();
    assert_eq!(model.w.shape(), (3, 2));
    assert_eq!(model.y.shape(), (1, 2));
    let shared = model.shared_parameters();
    assert_eq!(WithConstants::from_parameters(&shared).x.shape(), (1, 3));
}

model! {
    /// The MLP of `Network`'s first layers with compile-time shapes.
    #[static_shapes]
    struct StaticNetwork {
        w1: Param<3, 4> = xavier,
        b1: Param<1, 4> = zeros,
        table: Param<2000, 4>,
        x: Input<1, 3>,
        batch: Input<n, 3>,
        row: Index<1>,
        hidden = (x.dot(w1) + b1).tanh() + table.index(row),
        dynamic = batch.dot(w1).sum_columns(),
        loss = (hidden + dynamic).square().scalar_sum(),
    }
}

#[test]
fn static_shapes_use_typenum_dimensions() {
    use wyrm::typenum::{U1, U3, U4};
    let model = StaticNetwork::new(2);
    let _: &Variable<ParameterNode<U3, U4>> = &model.w1;
    let _: &Variable<InputNode<U1, U3>> = &model.x;
    // A dimension given at run time keeps the leaf run-time shaped.
    let _: &Variable<InputNode> = &model.batch;
    assert_eq!(model.table.shape(), (2000, 4));

    // The same graph by hand over copies of the parameters.
    let w1 = ParameterNode::<U3, U4>::new_static(model.w1.value().to_owned());
    let b1 = ParameterNode::<U1, U4>::new_static(model.b1.value().to_owned());
    let x = InputNode::<U1, U3>::new_static(Array2::zeros((1, 3)));
    let batch = InputNode::new(Array2::zeros((2, 3)));
    let row = IndexInputNode::new(&[0]);
    let table = ParameterNode::new(model.table.value().to_owned());
    let hidden = (x.dot(&w1) + b1.clone()).tanh() + table.index(&row);
    let loss = (hidden + batch.dot(&w1).sum_columns())
        .square()
        .scalar_sum();

    let xs = arr2(&[[0.5, -1.0, 2.0]]);
    let bs = arr2(&[[1.0, 0.0, -1.0], [0.25, 0.5, 0.75]]);
    model.x.set_value(xs.view());
    model.batch.set_value(bs.view());
    model.row.set_value(1999);
    x.set_value(xs.view());
    batch.set_value(bs.view());
    row.set_value(1999);
    model.loss.forward();
    loss.forward();
    assert!((model.loss.value()[(0, 0)] - loss.value()[(0, 0)]).abs() < 1e-5);
    model.loss.backward(1.0);
    loss.backward(1.0);
    let (gm, gh) = (model.w1.gradient(), w1.gradient());
    for (a, b) in gm.iter().zip(gh.iter()) {
        assert!((a - b).abs() < 1e-5);
    }
    assert_eq!(model.parameters().len(), 3);

    // Shared form: from_parameters builds static nodes over the same storage.
    let shared = model.shared_parameters();
    let other = StaticNetwork::from_parameters(&shared);
    let _: &Variable<ParameterNode<U3, U4>> = &other.w1;
    assert!(std::sync::Arc::ptr_eq(
        &other.shared_parameters().table,
        &shared.table
    ));
    // Local copies, static too.
    let copied = StaticNetwork::from_parameter_values(&shared);
    let _: &Variable<ParameterNode<U3, U4>> = &copied.w1;
    assert_eq!(copied.w1.value(), model.w1.value());
    // Another batch size over the same static parameter nodes.
    let larger = model.with_dimensions(5);
    let _: &Variable<ParameterNode<U3, U4>> = &larger.w1;
    assert_eq!(larger.batch.shape(), (5, 3));

    // Tied: static parameter nodes shared, inputs sized from the run-time dimension.
    let twin = StaticNetwork::with_parameters_of(&model);
    let _: &Variable<ParameterNode<U3, U4>> = &twin.w1;
    assert!(std::rc::Rc::ptr_eq(twin.w1.node(), model.w1.node()));
    assert_eq!(twin.batch.shape(), (2, 3));
}

model! {
    /// A small factorisation model, trained locally and then over shared storage.
    struct Carried {
        users: Param<4, 3>,
        items: Param<5, 3>,
        u: Index<1>,
        i: Index<1>,
        r: Input<1, 1>,
        loss = (r - users.index(u).vector_dot(&items.index(i))).square(),
    }
}

/// What `shared_parameters`' docs say: the copy starts without optimizer state, and
/// carrying the state over makes one thread go on exactly where local training stopped.
#[test]
fn a_local_model_goes_on_training_in_shared_form_where_it_stopped() {
    fn train(model: &Carried, data: &[(usize, usize, f32)]) {
        let loss = model.loss.clone();
        let mut opt = Adagrad::new(0.1, model.parameters());
        for &(u, i, r) in data {
            model.u.set_value(u);
            model.i.set_value(i);
            model.r.set_value(r);
            loss.forward();
            loss.backward(1.0);
            opt.step();
            opt.zero_gradients();
        }
    }
    let data: Vec<(usize, usize, f32)> = (0..60)
        .map(|k| (k % 4, (k * 7) % 5, (k % 3) as f32 - 1.0))
        .collect();
    let (first, second) = data.split_at(30);
    let straight = Carried::new_with_rng(&mut StdRng::seed_from_u64(5));
    train(&straight, &data);

    let local = Carried::new_with_rng(&mut StdRng::seed_from_u64(5));
    train(&local, first);
    let shared = local.shared_parameters();
    shared
        .set_optimizer_states(&local.optimizer_states())
        .unwrap();
    train(&Carried::from_parameters(&shared), second);
    assert_eq!(shared.users.value(), straight.users.value());
    assert_eq!(shared.items.value(), straight.items.value());

    // Without it, Adagrad's sums start again from zero: larger steps, other values.
    let bare = local.shared_parameters();
    train(&Carried::from_parameters(&bare), second);
    assert_ne!(bare.users.value(), straight.users.value());
}

model! {
    /// A braced dimension computed from a run-time one (`{n + 1}`), and a field access
    /// in braces that is not the dimension of that name.
    struct Computed {
        x: Input<1, n>,
        w: Param<n, {n + 1}>,
        v: Param<{n + 1}, {SIZES.n}>,
        y = x.dot(w).dot(v).scalar_sum(),
    }
}

/// A struct with a field named like the dimension, read in braces.
struct Sizes {
    n: usize,
}
const SIZES: Sizes = Sizes { n: 2 };

/// Every way of building the model evaluates `{n + 1}` with the dimension's value
/// (after the constructors stopped binding dimensions by their names, this stopped
/// compiling; `SIZES.n` stays the field).
#[test]
fn a_braced_dimension_can_compute_from_a_run_time_one() {
    let model = Computed::new(3);
    assert_eq!((model.w.shape(), model.v.shape()), ((3, 4), (4, 2)));
    let shared = model.shared_parameters();
    assert_eq!(Computed::from_parameters(&shared).w.shape(), (3, 4));
    assert_eq!(Computed::from_parameter_values(&shared).v.shape(), (4, 2));
    assert_eq!(Computed::with_parameters_of(&model).x.shape(), (1, 3));
    assert_eq!(model.with_dimensions(3).w.shape(), (3, 4));
    let _ = SIZES.n;
}

model! {
    /// Rows centred on their means (an `n x 1` column) and scaled by a learned `1 x 1`.
    struct Centred {
        x: Input<n, 3>,
        scale: Param<1, 1> = ones,
        centred = scale * (x - x.sum_rows() / 3.0),
        loss = centred.square().scalar_sum(),
        column_means = x.mean_columns(),
        row_maxima = x.max_rows() - x.max_columns().max_rows(),
        soft_maxima = x.logsumexp_rows() - x.logsumexp_columns().logsumexp_rows(),
        running = x.cumsum_rows() + x.logcumsumexp_columns(),
        standardized = x.standardize_rows(1e-6) * scale + x.standardize_columns({STD_EPS}),
        round_trip = x.exp_m1().ln_1p() - x + (x.sin().square() + x.cos().square() - 1.0),
        inverses = (x * 0.1).tanh().atanh() * 10.0 - x + ((x.square() + 1.0).sqrt().acosh() - x.asinh().abs())
            + (x.asinh() - (x / (x.square() + 1.0).sqrt()).atanh()),
        norms = x.norm_rows() + x.norm_columns().norm_rows(),
    }
}

const STD_EPS: f32 = 1e-6;

/// Each row standardised plus each column standardised, in ndarray.
fn x_standardized(xs: &Array2<f32>) -> Array2<f32> {
    use ndarray::Axis;
    let along = |axis: usize| {
        let n = xs.len_of(Axis(axis)) as f32;
        let mean = xs.sum_axis(Axis(axis)).insert_axis(Axis(axis)) / n;
        let centred = xs - &mean;
        let variance = centred
            .mapv(|v| v * v)
            .sum_axis(Axis(axis))
            .insert_axis(Axis(axis))
            / n;
        centred / variance.mapv(|v| (v + STD_EPS).sqrt())
    };
    along(1) + along(0)
}

model! {
    /// A robust regression: the Huber loss of a linear prediction against a target.
    struct Robust {
        x: Input<batch, 3>,
        y: Input<batch, 1>,
        w: Param<3, 1> = ones,
        loss = huber(x.dot(w), y, 0.5).mean(),
    }
}

model! {
    /// `Robust` with compile-time shapes, against a `1 x 1` target broadcast over rows.
    #[static_shapes]
    struct StaticRobust {
        x: Input<2, 3>,
        y: Input<1, 1>,
        w: Param<3, 1> = ones,
        loss = huber(x.dot(w), y, 0.5).scalar_sum(),
    }
}

#[test]
fn blocks_take_the_huber_loss() {
    use wyrm::nn::losses::huber;
    let xs = arr2(&[[1.0, 0.0, 0.0], [0.2, 0.1, 0.0]]);
    let model = Robust::new(2);
    model.x.set_value(xs.view());
    model.y.set_value(arr2(&[[0.0], [0.0]]).view());
    let loss = model.loss.clone();
    loss.forward();
    loss.backward(1.0);
    // Errors 1 (linear part: 0.5 · (1 - 0.25)) and 0.3 (0.5 · 0.09), averaged.
    assert!((loss.value()[(0, 0)] - (0.375 + 0.045) / 2.0).abs() < 1e-6);
    // The same loss built by hand gives the same gradient.
    let w = ParameterNode::new(Array2::ones((3, 1)));
    let by_hand = huber(
        &InputNode::new(xs.clone()).dot(&w),
        &InputNode::new(Array2::zeros((2, 1))),
        0.5,
    )
    .mean();
    by_hand.forward();
    by_hand.backward(1.0);
    assert_eq!(model.w.gradient(), w.gradient());

    let model = StaticRobust::new();
    model.x.set_value(xs.view());
    model.y.set_value(arr2(&[[1.0]]).view());
    let loss = model.loss.clone();
    loss.forward();
    // Errors 0 and -0.7: 0 and 0.5 · (0.7 - 0.25).
    assert!((loss.value()[(0, 0)] - 0.225).abs() < 1e-6);
}

model! {
    /// A VAE's encoder head and its KL term, in a block.
    struct Encoder {
        x: Input<batch, 3>,
        w_mean: Param<3, 2> = ones,
        w_log_variance: Param<3, 2> = zeros,
        mean = x.dot(w_mean),
        log_variance = x.dot(w_log_variance),
        kl = gaussian_kl(mean, log_variance).sum_rows().mean(),
    }
}

#[test]
fn blocks_take_the_gaussian_kl() {
    let model = Encoder::new(2);
    model
        .x
        .set_value(arr2(&[[1.0, 0.0, 0.0], [0.5, 0.5, 0.0]]).view());
    model.kl.forward();
    model.kl.backward(1.0);
    // Means 1 and 1 in both columns, log-variances 0: ½ μ² per element, 2 elements a
    // row, averaged over the rows.
    assert_eq!(model.kl.value()[(0, 0)], 1.0);
    // d/dw_mean = xᵀ · mean / 2; the log-variances' partial is 0 at 0.
    assert_eq!(
        model.w_mean.gradient(),
        arr2(&[[0.75, 0.75], [0.25, 0.25], [0.0, 0.0]])
    );
    assert_eq!(
        model.w_log_variance.gradient(),
        Array2::<f32>::zeros((3, 2))
    );
}

model! {
    /// `Centred` with compile-time shapes (and `mean_rows` for the division), and a column
    /// times a row (an outer product).
    #[static_shapes]
    struct StaticCentred {
        x: Input<2, 3>,
        scale: Param<1, 1> = ones,
        column: Param<2, 1> = ones,
        row: Param<1, 3> = ones,
        centred = scale * (x - x.mean_rows()) + column * row,
        loss = centred.square().scalar_sum(),
    }
}

#[test]
fn blocks_broadcast_columns_and_single_values() {
    let xs = arr2(&[[1.0, 2.0, 6.0], [0.0, 0.0, 3.0]]);
    // The same math in ndarray, which broadcasts the same way.
    let means = xs.sum_axis(ndarray::Axis(1)).insert_axis(ndarray::Axis(1)) / 3.0;
    let centred = &xs - &means;
    let loss = |c: &Array2<f32>| c.iter().map(|v| v * v).sum::<f32>();

    let model = Centred::new(2);
    model.x.set_value(xs.view());
    model.loss.forward();
    assert_eq!(model.centred.shape(), (2, 3));
    model.column_means.forward();
    assert_eq!(model.column_means.value(), arr2(&[[0.5, 1.0, 4.5]]));
    model.row_maxima.forward();
    assert_eq!(model.row_maxima.value(), arr2(&[[0.0], [-3.0]]));
    model.running.forward();
    assert_eq!(model.running.shape(), (2, 3));
    // Row 1's running sums (0, 0, 3), plus each column's ln(e^x0 + e^x1).
    let lse2 = |a: f32, b: f32| (a.exp() + b.exp()).ln();
    for (c, expected) in [lse2(1.0, 0.0), lse2(2.0, 0.0), 3.0 + lse2(6.0, 3.0)]
        .iter()
        .enumerate()
    {
        assert!((model.running.value()[(1, c)] - expected).abs() < 1e-5);
    }
    model.standardized.forward();
    let standardized = x_standardized(&xs);
    for (got, want) in model.standardized.value().iter().zip(&standardized) {
        assert!((got - want).abs() < 1e-4, "{got} against {want}");
    }
    model.round_trip.forward();
    let round_trip = model.round_trip.value();
    assert!(round_trip.iter().all(|v| v.abs() < 1e-5), "{round_trip}");
    // atanh(tanh x) = x, acosh(√(x² + 1)) = |asinh x|, asinh x = atanh(x / √(x² + 1)).
    model.inverses.forward();
    let inverses = model.inverses.value();
    assert!(inverses.iter().all(|v| v.abs() < 1e-4), "{inverses}");
    model.norms.forward();
    // Each row's norm, plus the norm of all six values.
    let norm = |xs: &mut dyn Iterator<Item = &f32>| xs.map(|v| v * v).sum::<f32>().sqrt();
    let all = norm(&mut xs.iter());
    for (r, row) in xs.rows().into_iter().enumerate() {
        let expected = norm(&mut row.iter()) + all;
        assert!((model.norms.value()[(r, 0)] - expected).abs() < 1e-5);
    }
    model.soft_maxima.forward();
    // Each row's ln Σ exp, less that of all six values.
    let lse = |xs: &mut dyn Iterator<Item = &f32>| xs.map(|v| v.exp()).sum::<f32>().ln();
    let all = lse(&mut xs.iter());
    for (r, row) in xs.rows().into_iter().enumerate() {
        let expected = lse(&mut row.iter()) - all;
        assert!((model.soft_maxima.value()[(r, 0)] - expected).abs() < 1e-5);
    }
    assert!((model.loss.value()[(0, 0)] - loss(&centred)).abs() < 1e-4);
    model.loss.backward(1.0);
    // d/d scale = sum 2 scale c², with scale = 1.
    assert!((model.scale.gradient()[(0, 0)] - 2.0 * loss(&centred)).abs() < 1e-3);

    let model = StaticCentred::new();
    fn static_shape<T: Node>(_: &Variable<T>) -> (Option<usize>, Option<usize>) {
        use wyrm::shape::Dim;
        (T::Rows::FIXED, T::Cols::FIXED)
    }
    // The broadcasts keep the static sizes: 2x3 throughout.
    assert_eq!(static_shape(&model.centred), (Some(2), Some(3)));
    model.x.set_value(xs.view());
    model.loss.forward();
    assert!((model.loss.value()[(0, 0)] - loss(&(&centred + 1.0))).abs() < 1e-4);
    model.loss.backward(1.0);
    // Each of the column's elements was used by a whole row, each of the row's by a column.
    let g = (&centred + 1.0) * 2.0;
    assert_eq!(
        model.column.gradient(),
        g.sum_axis(ndarray::Axis(1)).insert_axis(ndarray::Axis(1))
    );
    assert_eq!(
        model.row.gradient(),
        g.sum_axis(ndarray::Axis(0)).insert_axis(ndarray::Axis(0))
    );
}

model! {
    /// Clicks from a user's and an item's embeddings, trained one pair at a time.
    struct Clicks {
        users: Param<20, 4>,
        items: Param<6, 4>,
        bias: Param<1, 1> = zeros,
        user: Index<1>,
        item: Index<1>,
        clicked: Input<1, 1>,
        loss = binary_crossentropy_with_logits(
            users.index(user).vector_dot(items.index(item)) + bias,
            clicked
        ),
    }
}

model! {
    /// One user's scores for every item, over a trained `Clicks`' parameters.
    struct ItemScores {
        users: Param<20, 4>,
        items: Param<6, 4>,
        user: Index<1>,
        scores = users.index(user).dot_t(items),
    }
}

model! {
    /// The same with a run-time batch of users.
    struct BatchScores {
        users: Param<20, 4>,
        items: Param<6, 4>,
        user: Index<batch>,
        scores = users.index(user).dot_t(items),
    }
}

/// A serving model built by name over a trained model's parameters shares their storage,
/// so it sees training as it happens; a missing name panics, naming it.
#[test]
fn a_model_takes_another_models_parameters_by_name() {
    let trained = Clicks::new();
    let shared = trained.shared_parameters();
    let named = shared.named();
    assert_eq!(
        named.iter().map(|(n, _)| *n).collect::<Vec<_>>(),
        ["users", "items", "bias"]
    );
    let parameters = ItemScoresParameters::from_named(&named);
    assert!(Arc::ptr_eq(&parameters.items, &shared.items));
    let scorer = ItemScores::from_parameters(&parameters);
    let batch = BatchScoresParameters::from_named(&named, BatchScoresDims { batch: 3 });
    assert_eq!(batch.batch, 3);
    let batched = BatchScores::from_parameters(&batch);
    assert_eq!(batched.scores.shape(), (3, 6));

    scorer.user.set_value(2);
    scorer.scores.forward();
    let before = scorer.scores.value();
    shared.items.set_value(&random_matrix(6, 4));
    scorer.scores.forward();
    assert_ne!(
        scorer.scores.value(),
        before,
        "the same storage as the trained model's"
    );

    let message = std::panic::catch_unwind(|| {
        ItemScoresParameters::from_named(&named[..1]);
    })
    .unwrap_err();
    let message = message.downcast_ref::<String>().unwrap();
    assert!(
        message.contains(
            "ItemScoresParameters::from_named: no parameter named `items` among those given: \
             [\"users\"]"
        ),
        "{message}"
    );
}

model! {
    /// A classifier whose input records its gradient, for saliency from its own graph.
    struct Salient {
        w: Param<3, 2>,
        #[gradient]
        x: Input<batch, 3>,
        classes: Index<batch>,
        logits = x.dot(w).tanh(),
        top = logits.pick(classes).scalar_sum(),
    }
}

model! {
    #[static_shapes]
    struct SalientStatic {
        w: Param<3, 1>,
        #[gradient]
        x: Input<1, 3>,
        y = x.dot(w).scalar_sum(),
    }
}

/// `#[gradient]` on an input: its gradient is the one by hand, it is not a parameter,
/// and a graph built by `with_dims` records one too.
#[test]
fn a_gradient_input_records_its_gradient() {
    let model = Salient::new(2);
    let x = random_matrix(2, 3);
    model.x.set_value(&x);
    model.classes.set_value(&[1, 0]);
    model.top.forward();
    model.top.backward(1.0);
    assert_eq!(model.parameters().len(), 1);

    let by_hand_x = InputNode::with_gradient(x);
    let w = InputNode::new(model.w.value().to_owned());
    let by_hand = by_hand_x.dot(&w).tanh().pick(&model.classes).scalar_sum();
    by_hand.forward();
    by_hand.backward(1.0);
    assert_eq!(model.x.gradient(), by_hand_x.gradient());
    assert!(model.x.gradient().iter().any(|g| *g != 0.0));

    let single = model.with_dims(SalientDims { batch: 1 });
    single.classes.set_value(&[0]);
    single.top.forward();
    single.top.backward(1.0);
    assert_eq!(single.x.gradient().dim(), (1, 3));

    let fixed = SalientStatic::default();
    fixed.x.set_value(arr2(&[[1.0, 2.0, 3.0]]));
    fixed.y.forward();
    fixed.y.backward(1.0);
    assert_eq!(fixed.x.gradient().t(), fixed.w.value());
}

model! {
    /// One weight vector applied at every position of a batch of sequences, each
    /// sequence one row of `length` positions of 2 features.
    struct PerPosition {
        w: Param<2, 1>,
        x: Input<batch, {length * 2}>,
        target: Input<batch, length>,
        positions = x.reshape({batch * length}, 2).dot(w),
        per_sequence = positions.reshape(batch, length),
        flat = per_sequence.reshape(1, {batch * length}),
        loss = ((per_sequence.tanh() - target) * flat.reshape(batch, length)).scalar_sum(),
    }
}

/// `reshape` in a block, with literal, dimension and braced sizes: the value and
/// gradient by hand, and `with_dims` sizes it again.
#[test]
fn a_block_reshapes() {
    let model = PerPosition::from_dims(PerPositionDims {
        batch: 2,
        length: 3,
    });
    let (x, target) = (random_matrix(2, 6), random_matrix(2, 3));
    model.x.set_value(&x);
    model.target.set_value(&target);
    model.loss.forward();
    model.loss.backward(1.0);
    assert_eq!(model.per_sequence.shape(), (2, 3));

    let w = ParameterNode::new(model.w.value().to_owned());
    let per_sequence = InputNode::new(x).reshape(6, 2).dot(&w).reshape(2, 3);
    let by_hand = ((per_sequence.tanh() - InputNode::new(target))
        * per_sequence.reshape(1, 6).reshape(2, 3))
    .scalar_sum();
    by_hand.forward();
    by_hand.backward(1.0);
    assert_eq!(model.loss.value(), by_hand.value());
    assert_eq!(model.w.gradient(), w.gradient());

    let longer = model.with_dims(PerPositionDims {
        batch: 1,
        length: 5,
    });
    assert_eq!(longer.per_sequence.shape(), (1, 5));
}
