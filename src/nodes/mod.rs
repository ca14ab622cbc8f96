//! Every node type, one file per operation or family: forward, backward and tests side
//! by side. See `README.md` in this folder for how to add one.

mod activation;
mod bags;
mod binary;
mod boxed;
mod child;
mod concat;
mod cumulative;
mod detach;
mod dot;
mod dropout;
mod gather;
mod gather_max;
mod hyperbolic;
pub(crate) mod index;
mod input;
mod log_softmax_bags;
mod logsumexp;
mod math;
pub(crate) mod max;
mod norm;
mod parameter;
mod pick;
mod rectifiers;
mod reduce;
mod reshape;
mod scalar;
mod single;
mod slice;
mod softmax;
mod standardize;
mod transpose;
mod unary;
mod vector_dot;

pub use activation::{
    Clip, ClipOp, Relu, ReluOp, Sigmoid, SigmoidOp, Softplus, SoftplusOp, Tanh, TanhOp,
};
pub use bags::{Bags, BagsInputNode};
pub use binary::{Add, AddOp, Binary, BinaryOp, Div, DivOp, Mul, MulOp, Sub, SubOp};
pub(crate) use boxed::enter_sweep;
pub use boxed::Boxed;
pub(crate) use child::Child;
pub use concat::{concat, Concat, ConcatInput, ConcatOperands, Stack};
pub use cumulative::{CumSum, CumSumOp, LogCumSumExp, LogCumSumExpOp};
pub use detach::Detach;
pub(crate) use detach::{cut_seen, node_address, watch_cuts};
pub use dot::{Dot, DotLayout, DotT, Plain, RhsTransposed};
pub use dropout::{Dropout, DropoutOp, TrainingFlag};
pub use gather::{GatherBags, GatherBagsOp, GatherRows, GatherRowsOp};
pub use gather_max::{GatherLogSumExpBags, GatherMaxBags, GatherMaxBagsOp};
pub use hyperbolic::{Acosh, AcoshOp, Asinh, AsinhOp, Atanh, AtanhOp};
pub use index::{Index, IndexError, IndexInputNode, IndexValue};
pub use input::{InputNode, InputValue};
pub use log_softmax_bags::{LogSoftmaxBags, LogSoftmaxBagsOp};
pub use logsumexp::{LogSumExpColumns, LogSumExpColumnsOp, LogSumExpRows, LogSumExpRowsOp};
pub use math::{
    Abs, AbsOp, Cos, CosOp, Exp, ExpM1, ExpM1Op, ExpOp, Ln, Ln1p, Ln1pOp, LnOp, Pow, PowOp, Sin,
    SinOp, Sqrt, SqrtOp, Square, SquareOp,
};
pub use max::{MaxColumns, MaxColumnsOp, MaxRows, MaxRowsOp};
pub use norm::{NormColumns, NormColumnsOp, NormRows, NormRowsOp};
pub use parameter::ParameterNode;
pub use pick::{Pick, PickOp};
pub use rectifiers::{Gelu, GeluOp, LeakyRelu, LeakyReluOp};
pub use reduce::{
    Mean, MeanColumns, MeanColumnsOp, MeanOp, MeanRows, MeanRowsOp, ScalarSum, ScalarSumOp,
    SumColumns, SumColumnsOp, SumRows, SumRowsOp,
};
pub use reshape::{Reshape, ReshapeOp};
pub use scalar::{
    AddScalar, AddScalarOp, DivScalar, DivScalarOp, MulScalar, MulScalarOp, Neg, NegOp, ScalarDiv,
    ScalarDivOp, ScalarSub, ScalarSubOp, SubScalar, SubScalarOp,
};
pub use single::{Single, SingleOp};
pub use slice::{Slice, SliceOp};
pub use softmax::{LogSoftmax, LogSoftmaxOp, Softmax, SoftmaxOp};
pub use standardize::{Standardize, StandardizeOp};
pub use transpose::{Transpose, TransposeOp};
pub use unary::{Unary, UnaryOp};
pub use vector_dot::VectorDot;
