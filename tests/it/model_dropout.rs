//! Dropout in `model!` blocks: a `Training` item's flag switches it, masks are seeded
//! from the generator of `new_with_rng`, and each graph has its own flag.

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use wyrm::ndarray::{arr2, Array2};
use wyrm::prelude::*;
use wyrm::{model, nodes};

model! {
    /// An MLP with dropout on its hidden layer, switched by the model's flag.
    struct Dropped {
        w1: Param<4, 64>,
        w2: Param<64, 1>,
        x: Input<batch, 4>,
        y: Input<batch, 1>,
        training: Training,
        hidden = x.dot(w1).relu().dropout(0.5, training),
        out = hidden.dot(w2),
        loss = (out - y).square().mean(),
    }
}

model! {
    /// `Dropped` without the dropout: the same parameters, in the same order.
    struct Undropped {
        w1: Param<4, 64>,
        w2: Param<64, 1>,
        x: Input<batch, 4>,
        hidden = x.dot(w1).relu(),
        out = hidden.dot(w2),
    }
}

model! {
    /// Dropout keeps static shapes.
    #[static_shapes]
    struct StaticDropped {
        w: Param<2, 3> = ones,
        x: Input<1, 2>,
        flag: Training,
        y = x.dot(w).dropout(0.25, flag).dropout(0, flag),
    }
}

#[test]
fn dropout_keeps_static_shapes() {
    use wyrm::typenum::{U1, U2, U3};
    type Product = nodes::Dot<InputNode<U1, U2>, ParameterNode<U2, U3>>;
    let model = StaticDropped::new();
    let _: &Variable<nodes::Dropout<nodes::Dropout<Product>>> = &model.y;
    model.flag.set(false);
    model.x.set_value(&[1.0, 2.0]);
    let y = model.y.clone();
    y.forward();
    assert_eq!(y.value(), arr2(&[[3.0, 3.0, 3.0]]));
}

/// Whether each hidden unit was dropped, in the model's latest forward pass.
fn dropped_units(model: &Dropped) -> Vec<bool> {
    model.hidden.value().iter().map(|&v| v == 0.0).collect()
}

#[test]
fn dropout_in_a_block_is_switched_by_the_models_flag_and_seeded_by_its_generator() {
    let model = Dropped::new_with_rng(&mut StdRng::seed_from_u64(5), 8);
    let plain = Undropped::new_with_rng(&mut StdRng::seed_from_u64(5), 8);
    // The parameters are drawn as without dropout.
    assert_eq!(model.w1.value(), plain.w1.value());
    assert_eq!(model.w2.value(), plain.w2.value());
    let x = Array2::from_shape_fn((8, 4), |(r, c)| 1.0 + (r * 4 + c) as f32 * 0.1);
    model.x.set_value(&x);
    plain.x.set_value(&x);
    let plain_hidden = plain.hidden.clone();
    plain_hidden.forward();
    // Without dropout the layer is positive somewhere; in training, about half of those
    // units are zeroed, and the rest doubled.
    let hidden = model.hidden.clone();
    hidden.forward();
    let (dropped, kept) = plain_hidden
        .value()
        .iter()
        .zip(hidden.value().iter())
        .filter(|(p, _)| **p > 0.0)
        .fold((0, 0), |(d, k), (p, h)| {
            if *h == 0.0 {
                (d + 1, k)
            } else {
                assert!((h - 2.0 * p).abs() <= 1e-5 * p.abs(), "{h} against 2 * {p}");
                (d, k + 1)
            }
        });
    assert!(dropped > 50 && kept > 50, "{dropped} dropped, {kept} kept");
    let first_mask = dropped_units(&model);
    // A model built from the same seed draws the same masks.
    let again = Dropped::new_with_rng(&mut StdRng::seed_from_u64(5), 8);
    again.x.set_value(&x);
    let again_hidden = again.hidden.clone();
    again_hidden.forward();
    assert_eq!(dropped_units(&again), first_mask);
    // Evaluating: the flag off, nothing dropped.
    model.training.set(false);
    hidden.forward();
    assert_eq!(hidden.value(), plain_hidden.value());
    model.training.set(true);

    // Another graph has its own flag: switching it off for evaluation leaves the
    // training graph dropping.
    let eval = model.with_dimensions(8);
    eval.training.set(false);
    eval.x.set_value(&x);
    let eval_hidden = eval.hidden.clone();
    eval_hidden.forward();
    assert_eq!(eval_hidden.value(), plain_hidden.value());
    hidden.forward();
    assert!(dropped_units(&model).iter().filter(|&&d| d).count() > 50);
}

#[test]
fn a_block_with_dropout_trains() {
    let mut rng = StdRng::seed_from_u64(9);
    let model = Dropped::new_with_rng(&mut rng, 16);
    let mut optimizer = Adam::new(0.01, model.parameters());
    let batch = |rng: &mut StdRng| {
        let x = Array2::from_shape_simple_fn((16, 4), || rng.gen_range(-1.0f32..1.0));
        let y = Array2::from_shape_fn((16, 1), |(r, _)| x[(r, 0)] - 2.0 * x[(r, 3)]);
        (x, y)
    };
    let (test_x, test_y) = batch(&mut StdRng::seed_from_u64(10));
    let test_loss = |model: &Dropped| {
        model.training.set(false);
        model.x.set_value(&test_x);
        model.y.set_value(&test_y);
        let loss = model.loss.clone();
        loss.forward();
        model.training.set(true);
        loss.value()[(0, 0)]
    };
    let before = test_loss(&model);
    let loss = model.loss.clone();
    for _ in 0..400 {
        let (x, y) = batch(&mut rng);
        model.x.set_value(&x);
        model.y.set_value(&y);
        loss.forward();
        loss.backward(1.0);
        optimizer.step();
        optimizer.zero_gradients();
    }
    let after = test_loss(&model);
    assert!(
        after < 0.1 * before,
        "test loss {before} before, {after} after"
    );
}

model! {
    /// Two same-shaped dropout layers.
    struct TwoDropouts {
        x: Input<batch, 64>,
        training: Training,
        a = x.dropout(0.5, training),
        b = x.dropout(0.5, training),
    }
}

/// The masks of `a` and `b` in one forward pass over ones.
fn masks(model: &TwoDropouts) -> (Array2<f32>, Array2<f32>) {
    model.x.set_value(Array2::ones(model.x.shape()));
    let (a, b) = (model.a.clone(), model.b.clone());
    a.forward_with(&b);
    (a.value().to_owned(), b.value().to_owned())
}

#[test]
fn graphs_derived_from_a_seeded_model_repeat_their_masks() {
    let run = || {
        let model = TwoDropouts::new_with_rng(&mut StdRng::seed_from_u64(3), 4);
        let short = model.with_dimensions(2);
        let tied = TwoDropouts::with_parameters_of(&model);
        (masks(&model), masks(&short), masks(&tied))
    };
    let (first, second) = (run(), run());
    assert_eq!(first, second);
    // Two nodes of one model, and two graphs derived from one model, draw their own masks.
    let (model, short, tied) = first;
    assert_ne!(model.0, model.1);
    assert_ne!(short.0, short.1);
    assert_ne!(model.0.row(0), tied.0.row(0));
}

#[test]
fn seeding_the_flag_of_a_graph_over_shared_parameters_repeats_its_masks() {
    let shared = TwoDropouts::new(3).shared_parameters();
    let (p, q) = (
        TwoDropouts::from_parameters(&shared),
        TwoDropouts::from_parameters(&shared),
    );
    // Unseeded, the graphs draw masks of their own.
    assert_ne!(masks(&p), masks(&q));
    p.training.seed(11);
    q.training.seed(11);
    for _ in 0..3 {
        assert_eq!(masks(&p), masks(&q));
    }
}
