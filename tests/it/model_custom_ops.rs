//! Your own operations in `model!` blocks: `map` with a `UnaryOp`, `combine` with a
//! `BinaryOp` and `apply` with a `SingleOp`, given as a unit struct, a constructor call or
//! a struct literal; they build the same graph as by hand, and their gradients check.
//! Also the block's other way to bring in values of the user's: class weights.

use wyrm::ndarray::{arr2, Array2};
use wyrm::nodes::{BinaryOp, SingleOp, UnaryOp};
use wyrm::prelude::*;
use wyrm::rand::{rngs::StdRng, SeedableRng};
use wyrm::{model, nodes, Dim, Dyn};

/// `x / (1 + |x|)`.
struct Softsign;

impl UnaryOp for Softsign {
    const NAME: &'static str = "softsign";
    fn apply(&self, x: f32) -> f32 {
        x / (1.0 + x.abs())
    }
    fn derivative(&self, x: f32, _: f32) -> f32 {
        1.0 / ((1.0 + x.abs()) * (1.0 + x.abs()))
    }
}

/// The pinball (quantile) loss of a prediction against a target at quantile `tau`.
struct Pinball {
    tau: f32,
}

impl Pinball {
    fn new(tau: f32) -> Self {
        Pinball { tau }
    }
}

impl BinaryOp for Pinball {
    const NAME: &'static str = "pinball";
    fn apply(&self, prediction: f32, target: f32) -> f32 {
        let r = target - prediction;
        (self.tau * r).max((self.tau - 1.0) * r)
    }
    fn partials(&self, prediction: f32, target: f32, _: f32) -> (f32, f32) {
        let d = if target > prediction {
            self.tau
        } else {
            self.tau - 1.0
        };
        (-d, d)
    }
}

/// Each row minus its mean: the same shape, but a `SingleOp` (each output depends on the
/// whole row).
struct Centre;

impl SingleOp for Centre {
    type Rows<R: Dim, C: Dim> = R;
    type Cols<R: Dim, C: Dim> = C;
    fn output_shape(&self, shape: (usize, usize)) -> (usize, usize) {
        shape
    }
    fn forward(&self, x: &[f32], (_, cols): (usize, usize), y: &mut [f32]) {
        for (row, out) in x.chunks(cols).zip(y.chunks_mut(cols)) {
            let mean = row.iter().sum::<f32>() / cols as f32;
            for (o, v) in out.iter_mut().zip(row) {
                *o = v - mean;
            }
        }
    }
    fn backward(&self, g: &[f32], _: &[f32], _: &[f32], (_, cols): (usize, usize), gx: &mut [f32]) {
        for (row, out) in g.chunks(cols).zip(gx.chunks_mut(cols)) {
            let mean = row.iter().sum::<f32>() / cols as f32;
            for (o, v) in out.iter_mut().zip(row) {
                *o = v - mean;
            }
        }
    }
}

/// The first column of each row: a `SingleOp` that changes the shape.
struct FirstColumn;

impl SingleOp for FirstColumn {
    type Rows<R: Dim, C: Dim> = R;
    type Cols<R: Dim, C: Dim> = Dyn;
    fn output_shape(&self, (rows, _): (usize, usize)) -> (usize, usize) {
        (rows, 1)
    }
    fn forward(&self, x: &[f32], (_, cols): (usize, usize), y: &mut [f32]) {
        for (row, out) in x.chunks(cols).zip(y.iter_mut()) {
            *out = row[0];
        }
    }
    fn backward(&self, g: &[f32], _: &[f32], _: &[f32], (_, cols): (usize, usize), gx: &mut [f32]) {
        gx.fill(0.0);
        for (row, g) in gx.chunks_mut(cols).zip(g) {
            row[0] = *g;
        }
    }
}

/// Multiplies by its factor: a tuple struct.
struct Scale(f32);

impl Scale {
    /// `1 / n`, for a mean over `n`.
    fn per(n: usize) -> Self {
        Scale(1.0 / n as f32)
    }
}

impl UnaryOp for Scale {
    const NAME: &'static str = "scale";
    fn apply(&self, x: f32) -> f32 {
        self.0 * x
    }
    fn derivative(&self, _: f32, _: f32) -> f32 {
        self.0
    }
}

mod ops {
    pub(super) use super::Pinball as Quantile;
    pub(super) use super::Scale as Factor;
}

model! {
    /// A regression with a custom activation, a custom loss against a broadcast target,
    /// and whole-row custom operations.
    struct Custom {
        w: Param<3, 4>,
        v: Param<4, 1>,
        x: Input<batch, 3>,
        y: Input<batch, 1>,
        hidden = x.dot(w).map(Softsign).apply(Centre),
        out = hidden.dot(v),
        first = hidden.apply(FirstColumn),
        loss = out.combine(Pinball::new(0.9), y).mean()
            + out.combine(ops::Quantile { tau: 0.1 }, y).mean()
            + first.scalar_sum(),
    }
}

#[test]
fn custom_operations_in_a_block_build_the_hand_written_graph() {
    // Seeded: the pinball loss has a kink where a prediction meets its target, which a
    // finite difference straddling it reads wrongly.
    let model = Custom::new_with_rng(&mut StdRng::seed_from_u64(4), 5);
    let x = Array2::from_shape_fn((5, 3), |(r, c)| (r as f32 - 2.0) * 0.7 + c as f32 * 0.3);
    let y = Array2::from_shape_fn((5, 1), |(r, _)| r as f32 * 0.5 - 1.2);
    model.x.set_value(&x);
    model.y.set_value(&y);
    let loss = model.loss.clone();
    loss.forward();
    loss.backward(1.0);

    let (w, v) = (
        ParameterNode::new(model.w.value().to_owned()),
        ParameterNode::new(model.v.value().to_owned()),
    );
    let (xi, yi) = (InputNode::new(x), InputNode::new(y));
    let hidden = xi.dot(&w).map(Softsign).apply(Centre);
    let out = hidden.dot(&v);
    let by_hand = out.combine(Pinball::new(0.9), &yi).mean()
        + out.combine(Pinball { tau: 0.1 }, &yi).mean()
        + hidden.apply(FirstColumn).scalar_sum();
    by_hand.forward();
    by_hand.backward(1.0);
    assert_eq!(loss.value(), by_hand.value());
    assert_eq!(model.w.gradient(), w.gradient());
    assert_eq!(model.v.gradient(), v.gradient());
    // Types as by hand: the operation's type comes first.
    let _: &Variable<nodes::Single<FirstColumn, nodes::Single<Centre, nodes::Unary<Softsign, _>>>> =
        &model.first;
    assert_eq!(model.first.shape(), (5, 1));

    model.w.zero_gradient();
    model.v.zero_gradient();
    // No residual within the check's step of the kink, for this seed.
    out_residuals_clear_of_the_kink(&model, 0.05);
    wyrm::gradcheck::assert_named_gradients(&loss, &model.named_parameters());
}

/// Asserts that every prediction is at least `margin` from its target, so that a gradient
/// check with the default step does not straddle the pinball loss's kink.
fn out_residuals_clear_of_the_kink(model: &Custom, margin: f32) {
    let out = model.out.clone();
    out.forward();
    let (out, y) = (out.value(), model.y.value());
    for (o, t) in out.iter().zip(y.iter()) {
        assert!(
            (o - t).abs() > margin,
            "prediction {o} too close to target {t}"
        );
    }
}

model! {
    /// Tuple-struct operations, by name and by path, and a constructor that reads a
    /// run-time dimension.
    struct Scaled {
        w: Param<2, 2> = ones,
        x: Input<batch, 2>,
        a = x.dot(w).map(Scale(2.0)),
        b = a.map(ops::Factor(0.5)),
        c = b.map(Scale::per(batch)),
    }
}

#[test]
fn tuple_struct_operations_and_dimensions_in_their_arguments() {
    let model = Scaled::new(4);
    model.x.set_value(Array2::ones((4, 2)));
    let c = model.c.clone();
    c.forward();
    // (1 + 1) · 2 · 0.5 / 4 in every element.
    assert_eq!(c.value(), Array2::from_elem((4, 2), 0.5));
    let short = model.with_dimensions(2);
    short.x.set_value(Array2::ones((2, 2)));
    let c = short.c.clone();
    c.forward();
    assert_eq!(c.value(), Array2::from_elem((2, 2), 1.0));
}

model! {
    /// Static shapes pass through `map`.
    #[static_shapes]
    struct StaticCustom {
        w: Param<2, 3> = ones,
        x: Input<1, 2>,
        y = x.dot(w).map(Softsign),
    }
}

#[test]
fn map_keeps_static_shapes() {
    use wyrm::typenum::{U1, U2, U3};
    type Product = nodes::Dot<InputNode<U1, U2>, ParameterNode<U2, U3>>;
    let model = StaticCustom::new();
    let _: &Variable<nodes::Unary<Softsign, Product>> = &model.y;
    model.x.set_value(&[1.0, 2.0]);
    let y = model.y.clone();
    y.forward();
    assert_eq!(y.value(), arr2(&[[0.75, 0.75, 0.75]]));
}

const CLASS_WEIGHTS: [f32; 3] = [1.0, 4.0, 0.5];

model! {
    /// A classifier with class weights, as a constant and computed from a dimension.
    struct Weighted {
        w: Param<2, 3>,
        x: Input<batch, 2>,
        labels: Index<batch>,
        logits = x.dot(w),
        constant = sparse_categorical_crossentropy_weighted(logits, labels, {&CLASS_WEIGHTS}),
        computed = sparse_categorical_crossentropy_weighted(
            logits,
            labels,
            {vec![batch as f32; 3]}
        ),
    }
}

#[test]
fn class_weights_in_a_block_match_the_function() {
    let model = Weighted::new(4);
    let x = Array2::from_shape_fn((4, 2), |(r, c)| r as f32 * 0.5 - c as f32);
    model.x.set_value(&x);
    model.labels.set_value(&[0, 1, 2, 1]);
    let (constant, computed) = (model.constant.clone(), model.computed.clone());
    constant.forward();
    computed.forward();
    let (xi, labels) = (InputNode::new(x), wyrm::IndexInputNode::new(&[0, 1, 2, 1]));
    let logits = xi.dot(&model.w);
    for (weights, value) in [
        (CLASS_WEIGHTS.to_vec(), constant.value()[(0, 0)]),
        (vec![4.0; 3], computed.value()[(0, 0)]),
    ] {
        let by_hand =
            wyrm::nn::losses::sparse_categorical_crossentropy_weighted(&logits, &labels, &weights);
        by_hand.forward();
        assert_eq!(value, by_hand.value()[(0, 0)]);
    }
    // The computed weights follow the batch size of a derived graph.
    let short = model.with_dimensions(2);
    short.x.set_value(&[1.0, 0.0, 0.0, 1.0]);
    short.labels.set_value(&[2, 0]);
    let computed = short.computed.clone();
    computed.forward();
    let (xi, labels) = (
        InputNode::new(arr2(&[[1.0, 0.0], [0.0, 1.0]])),
        wyrm::IndexInputNode::new(&[2, 0]),
    );
    let by_hand = wyrm::nn::losses::sparse_categorical_crossentropy_weighted(
        &xi.dot(&model.w),
        &labels,
        &[2.0; 3],
    );
    by_hand.forward();
    assert_eq!(computed.value(), by_hand.value());
}
