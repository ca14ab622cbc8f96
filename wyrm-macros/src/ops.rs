//! The vocabulary of the model language: its methods and functions, what arguments each
//! takes, how each computes its result's shape, and which node type each builds. `check`
//! reads it to check expressions, `expand` to generate their types and code.

use crate::parse::{Expr, ExprKind};

/// What a method or function argument must be.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Arg {
    /// Any node expression.
    Node,
    /// Two or more node expressions, written as a tuple: `(a, b, c)`. The parser
    /// flattens the tuple into the call's leading arguments.
    Nodes,
    /// The name of an `Index<K>` input.
    Index,
    /// The name of a `Bags<B>` input.
    Bags,
    /// The name of a `Training` flag.
    Training,
    /// A number.
    Scalar,
    /// An axis: `0`, `1`, `Axis(0)` or `Axis(1)`.
    Axis,
    /// A user's operation (`UnaryOp`, `BinaryOp` or `SingleOp`), whose type the
    /// expression names.
    Op,
    /// `s![rows, columns]`, the argument of `slice`.
    Slice,
    /// A size: an integer literal, a run-time dimension's name, or a constant expression
    /// in braces giving a `usize` (which may read the run-time dimensions), evaluated when
    /// the graph is built.
    Size,
    /// A list of numbers: a constant expression in braces that gives something like
    /// `&[f32]` (an array, a `Vec<f32>`, a reference to either), evaluated when the graph
    /// is built.
    Numbers,
}

/// How a method computes its result's shape.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Rule {
    /// Same shape as the receiver.
    Keep,
    /// `1 x 1`.
    One,
    /// `rows x 1`.
    Rows,
    /// `1 x cols`.
    Columns,
    /// `cols x rows`.
    Transpose,
    /// Matrix product.
    Dot,
    /// Matrix product with the argument's transpose.
    DotT,
    /// Row-wise dot product of equal shapes: `rows x 1`.
    VectorDot,
    /// Row lookup: `K x cols`.
    Index,
    /// Pooled bags of rows: `B x cols`.
    Bags,
    /// Rows of any node picked by index: `K x cols`.
    Gather,
    /// Pooled bags of any node's rows: `B x cols`.
    GatherBags,
    /// One entry per row, by index: `rows x 1`, one index per row.
    Pick,
    /// Concatenation of two nodes along an axis.
    Stack,
    /// Concatenation of the leading node arguments along the axis that follows them.
    Concat,
    /// Elementwise between two nodes, broadcasting as `+ - * /` do.
    Elementwise,
    /// The rows and columns an `s![rows, columns]` selects.
    Slice,
    /// The two sizes given, holding the receiver's number of elements.
    Reshape,
    /// Whatever the operation makes of it (a `SingleOp` may change the shape): known at
    /// run time only.
    Opaque,
}

/// A method the model language knows: its arguments, shape rule and node type alias.
pub struct Method {
    /// The name, as written in a model.
    pub name: &'static str,
    /// What each argument must be, in order.
    pub args: &'static [Arg],
    /// How the result's shape follows from the receiver's and the arguments'.
    pub rule: Rule,
    /// The node type in `wyrm::nodes` (for functions: `wyrm::nn::losses`, but `concat`'s
    /// is in `wyrm::nodes`), applied
    /// to the receiver's node type and then to the node arguments' types. `index` takes
    /// no node type: its receiver is a parameter's name, and under `#[static_shapes]` a
    /// parameter with literal dimensions gives it their typenum types `<R, C>`; else it
    /// stands alone, run-time shaped.
    pub node: &'static str,
}

/// A [`Method`], written as one line of the tables below.
const fn method(
    name: &'static str,
    args: &'static [Arg],
    rule: Rule,
    node: &'static str,
) -> Method {
    Method {
        name,
        args,
        rule,
        node,
    }
}

/// Every supported method.
pub const METHODS: &[Method] = &[
    method("dot", &[Arg::Node], Rule::Dot, "Dot"),
    method("dot_t", &[Arg::Node], Rule::DotT, "DotT"),
    method("vector_dot", &[Arg::Node], Rule::VectorDot, "VectorDot"),
    method("index", &[Arg::Index], Rule::Index, "Index"),
    method("sum_bags", &[Arg::Bags], Rule::Bags, "Bags"),
    method("mean_bags", &[Arg::Bags], Rule::Bags, "Bags"),
    method("gather_rows", &[Arg::Index], Rule::Gather, "GatherRows"),
    method(
        "gather_sum_bags",
        &[Arg::Bags],
        Rule::GatherBags,
        "GatherBags",
    ),
    method(
        "gather_mean_bags",
        &[Arg::Bags],
        Rule::GatherBags,
        "GatherBags",
    ),
    method(
        "gather_max_bags",
        &[Arg::Bags],
        Rule::GatherBags,
        "GatherMaxBags",
    ),
    method(
        "gather_logsumexp_bags",
        &[Arg::Bags],
        Rule::GatherBags,
        "GatherLogSumExpBags",
    ),
    method(
        "log_softmax_bags",
        &[Arg::Bags],
        Rule::Keep,
        "LogSoftmaxBags",
    ),
    method("pick", &[Arg::Index], Rule::Pick, "Pick"),
    method("reshape", &[Arg::Size, Arg::Size], Rule::Reshape, "Reshape"),
    method("square", &[], Rule::Keep, "Square"),
    method("exp", &[], Rule::Keep, "Exp"),
    method("ln", &[], Rule::Keep, "Ln"),
    method("exp_m1", &[], Rule::Keep, "ExpM1"),
    method("ln_1p", &[], Rule::Keep, "Ln1p"),
    method("sin", &[], Rule::Keep, "Sin"),
    method("cos", &[], Rule::Keep, "Cos"),
    method("asinh", &[], Rule::Keep, "Asinh"),
    method("acosh", &[], Rule::Keep, "Acosh"),
    method("atanh", &[], Rule::Keep, "Atanh"),
    method("sqrt", &[], Rule::Keep, "Sqrt"),
    method("abs", &[], Rule::Keep, "Abs"),
    method("neg", &[], Rule::Keep, "Neg"),
    method("pow", &[Arg::Scalar], Rule::Keep, "Pow"),
    method("tanh", &[], Rule::Keep, "Tanh"),
    method("sigmoid", &[], Rule::Keep, "Sigmoid"),
    method("softplus", &[], Rule::Keep, "Softplus"),
    method("relu", &[], Rule::Keep, "Relu"),
    method("leaky_relu", &[Arg::Scalar], Rule::Keep, "LeakyRelu"),
    method("gelu", &[], Rule::Keep, "Gelu"),
    method("detach", &[], Rule::Keep, "Detach"),
    method(
        "dropout",
        &[Arg::Scalar, Arg::Training],
        Rule::Keep,
        "Dropout",
    ),
    method("clip", &[Arg::Scalar, Arg::Scalar], Rule::Keep, "Clip"),
    method("softmax", &[], Rule::Keep, "Softmax"),
    method("log_softmax", &[], Rule::Keep, "LogSoftmax"),
    method("scalar_sum", &[], Rule::One, "ScalarSum"),
    method("mean", &[], Rule::One, "Mean"),
    method("sum_rows", &[], Rule::Rows, "SumRows"),
    method("sum_columns", &[], Rule::Columns, "SumColumns"),
    method("mean_rows", &[], Rule::Rows, "MeanRows"),
    method("mean_columns", &[], Rule::Columns, "MeanColumns"),
    method("max_rows", &[], Rule::Rows, "MaxRows"),
    method("max_columns", &[], Rule::Columns, "MaxColumns"),
    method("logsumexp_rows", &[], Rule::Rows, "LogSumExpRows"),
    method("logsumexp_columns", &[], Rule::Columns, "LogSumExpColumns"),
    method("norm_rows", &[], Rule::Rows, "NormRows"),
    method("norm_columns", &[], Rule::Columns, "NormColumns"),
    method("cumsum_rows", &[], Rule::Keep, "CumSum"),
    method("cumsum_columns", &[], Rule::Keep, "CumSum"),
    method("logcumsumexp_rows", &[], Rule::Keep, "LogCumSumExp"),
    method("logcumsumexp_columns", &[], Rule::Keep, "LogCumSumExp"),
    method(
        "standardize_rows",
        &[Arg::Scalar],
        Rule::Keep,
        "Standardize",
    ),
    method(
        "standardize_columns",
        &[Arg::Scalar],
        Rule::Keep,
        "Standardize",
    ),
    method("t", &[], Rule::Transpose, "Transpose"),
    method("stack", &[Arg::Node, Arg::Axis], Rule::Stack, "Stack"),
    method("slice", &[Arg::Slice], Rule::Slice, "Slice"),
    method("map", &[Arg::Op], Rule::Keep, "Unary"),
    method(
        "combine",
        &[Arg::Op, Arg::Node],
        Rule::Elementwise,
        "Binary",
    ),
    method("apply", &[Arg::Op], Rule::Opaque, "Single"),
];

/// The free functions: `concat((a, b, ..), axis)`,
/// `sparse_categorical_crossentropy(logits, targets)`,
/// `sparse_categorical_crossentropy_weighted(logits, targets, {class_weights})`,
/// `binary_crossentropy_with_logits(logits, targets)`,
/// `binary_crossentropy_with_logits_weighted(logits, targets, pos_weight)`,
/// `huber(prediction, target, delta)` and `gaussian_kl(mean, log_variance)`.
pub const FUNCTIONS: &[Method] = &[
    method("concat", &[Arg::Nodes, Arg::Axis], Rule::Concat, "Concat"),
    method(
        "sparse_categorical_crossentropy",
        &[Arg::Node, Arg::Index],
        Rule::One,
        "SparseCategoricalCrossentropy",
    ),
    method(
        "sparse_categorical_crossentropy_weighted",
        &[Arg::Node, Arg::Index, Arg::Numbers],
        Rule::One,
        "SparseCategoricalCrossentropy",
    ),
    method(
        "binary_crossentropy_with_logits",
        &[Arg::Node, Arg::Node],
        Rule::Elementwise,
        "BinaryCrossentropy",
    ),
    method(
        "binary_crossentropy_with_logits_weighted",
        &[Arg::Node, Arg::Node, Arg::Scalar],
        Rule::Elementwise,
        "WeightedBinaryCrossentropy",
    ),
    method(
        "huber",
        &[Arg::Node, Arg::Node, Arg::Scalar],
        Rule::Elementwise,
        "Huber",
    ),
    method(
        "gaussian_kl",
        &[Arg::Node, Arg::Node],
        Rule::Elementwise,
        "GaussianKl",
    ),
];

/// Looks a method up by name.
pub fn find_method(name: &str) -> Option<&'static Method> {
    METHODS.iter().find(|m| m.name == name)
}

/// Looks a free function up by name.
pub fn find_function(name: &str) -> Option<&'static Method> {
    FUNCTIONS.iter().find(|m| m.name == name)
}

/// The axis an argument denotes: `0`, `1`, `Axis(0)` or `Axis(1)`.
pub fn axis_of(arg: &Expr) -> Option<usize> {
    match &arg.kind {
        ExprKind::Scalar(s) if s.literal_value().is_some_and(|v| v == 0.0 || v == 1.0) => {
            let text = arg.tokens.to_string();
            (!text.contains('.') && !text.starts_with('-')).then_some(s.value as usize)
        }
        ExprKind::Call { function, args } if function == "Axis" && args.len() == 1 => {
            axis_of(&args[0])
        }
        _ => None,
    }
}
