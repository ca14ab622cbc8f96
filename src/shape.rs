//! Dimensions known at run time ([`Dyn`]) or at compile time (typenum's `U1`, `U2`, ...),
//! the compatibility rules between them, and the run-time shape checks with their messages.
//!
//! A node carries its row and column dimensions as the associated types
//! [`Node::Rows`](crate::Node::Rows) and [`Node::Cols`](crate::Node::Cols). Kernels take
//! `usize` lengths computed with [`Dim::fold`], which is a constant when the dimension is
//! static, so small fixed sizes unroll.
//!
//! # Generic code
//!
//! A function generic over its operands' node types needs the bounds the operations it
//! uses have: [`SameDim`] between the dimensions an operation needs equal (`dot`: the
//! left's columns and the right's rows) and [`Broadcast`] between those `+ - * /`
//! combines (rows with rows, columns with columns). Without them, the compiler reports
//! the missing bound as a static shape mismatch, though the shapes may well fit where the
//! function is called.
//!
//! ```
//! use wyrm::shape::SameDim;
//! use wyrm::typenum::{U1, U2, U4};
//! use wyrm::*;
//!
//! /// A tanh layer over a 4 x 2 weight, for any operand with 4 columns, static or not.
//! fn layer<T: Node>(
//!     x: &Variable<T>,
//!     w: &Variable<ParameterNode<U4, U2>>,
//! ) -> Variable<impl Node + use<T>>
//! where
//!     T::Cols: SameDim<U4>,
//! {
//!     x.dot(w).tanh()
//! }
//!
//! let w = ParameterNode::<U4, U2>::new_static(random_matrix(4, 2));
//! let y = layer(&InputNode::<U1, U4>::new_static(random_matrix(1, 4)), &w);
//! y.forward();
//! assert_eq!(y.shape(), (1, 2));
//! // A run-time-shaped operand works too: its columns are checked when the graph is built.
//! assert_eq!(layer(&InputNode::new(random_matrix(3, 4)), &w).shape(), (3, 2));
//! ```
//!
//! For models whose shapes are all run-time ones (every node built with `new`, and every
//! `model!` without `#[static_shapes]`), name [`Dyn`] instead, in the bounds and in the
//! return type. A bare `Variable<impl Node>` hides its dimensions, so a further `dot` on
//! the result reports a static shape mismatch on `<impl Node as Node>::Cols`; and with a
//! bare `T: Node`, `x.clone() + b.clone()` reports ``expected `f32`, found
//! `Variable<ParameterNode>` `` (the one addition that needs no bounds is adding a number).
//!
//! `+ use<T>` says that the result does not borrow the arguments (it owns its operands'
//! nodes). Edition 2024 assumes otherwise without it, and `dense(&dense(&x, ..), ..)`
//! fails there with "temporary value dropped while borrowed"; in edition 2021 it changes
//! nothing. Reductions to one number (`scalar_sum`, `mean`) have the static shape `U1 x
//! U1`: a function returning one names `impl Node<Rows = U1, Cols = U1>`, or leaves the
//! dimensions out. A function that calls [`boxed`](crate::Variable::boxed) on a
//! `Variable<T>` needs `T: Node + 'static` (a boxed node owns its operands as trait
//! objects); without the bound, rustc says "the parameter type `T` may not live long
//! enough" (E0310).
//!
//! ```
//! use wyrm::*;
//!
//! /// A tanh layer, `tanh(x w + b)`, over run-time shapes.
//! fn dense<T: Node<Rows = Dyn, Cols = Dyn>>(
//!     x: &Variable<T>,
//!     w: &Variable<ParameterNode>,
//!     b: &Variable<ParameterNode>,
//! ) -> Variable<impl Node<Rows = Dyn, Cols = Dyn> + use<T>> {
//!     (x.dot(w) + b.clone()).tanh()
//! }
//!
//! let x = InputNode::new(random_matrix(3, 4));
//! let (w1, b1) = (ParameterNode::new(random_matrix(4, 2)), ParameterNode::new(random_matrix(1, 2)));
//! let (w2, b2) = (ParameterNode::new(random_matrix(2, 1)), ParameterNode::new(random_matrix(1, 1)));
//! // The result of one call composes with the next, and with any other operation.
//! let loss = dense(&dense(&x, &w1, &b1), &w2, &b2).dot(&w2.t()).scalar_sum();
//! loss.forward();
//! loss.backward(1.0);
//! assert_eq!(w1.gradient().shape(), &[4, 2]);
//! ```
//!
//! With `'static` added, the helper may box: a transformer's sublayer, say, layer
//! normalisation and a residual feed-forward block.
//!
//! ```
//! use wyrm::nodes::Boxed;
//! use wyrm::rand::{rngs::StdRng, SeedableRng};
//! use wyrm::*;
//!
//! /// `x + tanh(layer_norm(x) w)`, boxed, with the gain and bias rows of the norm.
//! fn sublayer<T: Node<Rows = Dyn, Cols = Dyn> + 'static>(
//!     x: &Variable<T>,
//!     (gain, bias): (&Variable<ParameterNode>, &Variable<ParameterNode>),
//!     w: &Variable<ParameterNode>,
//! ) -> Variable<Boxed> {
//!     let normalised = (x.standardize_rows(1e-5) * gain.clone() + bias.clone()).boxed();
//!     (x.clone() + normalised.dot(w).tanh()).boxed()
//! }
//!
//! // Seeded data: a gradient check on random data fails now and then where the
//! // function curves sharply (see `gradcheck::CheckOptions`).
//! let mut rng = StdRng::seed_from_u64(3);
//! let mut normal = |rows, cols| init::normal(rows, cols, 0.0, 1.0, &mut rng);
//! let x = InputNode::new(normal(3, 4));
//! let (gain, bias) = (ParameterNode::new(normal(1, 4)), ParameterNode::new(normal(1, 4)));
//! let w = ParameterNode::new(normal(4, 4));
//! let y = sublayer(&sublayer(&x, (&gain, &bias), &w), (&gain, &bias), &w);
//! y.forward();
//! assert_eq!(y.shape(), (3, 4));
//! gradcheck::assert_gradients(&y);
//! ```

use std::fmt::Debug;
use typenum::{Bit, UInt, Unsigned};

/// A matrix dimension: either [`Dyn`] (known at run time) or a typenum unsigned integer
/// such as `typenum::U3` (known at compile time).
///
/// ```
/// use wyrm::typenum::{U1, U3};
/// use wyrm::*;
///
/// assert_eq!(U3::fold(7), 3); // the static size wins
/// assert_eq!(Dyn::fold(7), 7);
///
/// fn static_rows<T: Node>(_: &Variable<T>) -> Option<usize> {
///     T::Rows::FIXED
/// }
/// let w = ParameterNode::<U3, U1>::new_static(random_matrix(3, 1));
/// assert_eq!(static_rows(&w), Some(3));
/// assert_eq!(static_rows(&w.t()), Some(1)); // `t` swaps static dimensions too
/// assert_eq!(static_rows(&InputNode::new(random_matrix(3, 1))), None);
/// ```
pub trait Dim: 'static + Copy + Default + Debug {
    /// The size, if it is known at compile time.
    const FIXED: Option<usize>;

    /// The size of this dimension, given the size seen at run time: the compile-time
    /// size when there is one (so the compiler can fold it), else `runtime`.
    ///
    /// ```
    /// use wyrm::typenum::{U2, U3};
    /// use wyrm::*;
    ///
    /// /// The number of elements, a compile-time constant for a static shape.
    /// fn len<T: Node>(x: &Variable<T>) -> usize {
    ///     let (rows, cols) = x.shape();
    ///     T::Rows::fold(rows) * T::Cols::fold(cols)
    /// }
    /// assert_eq!(len(&ParameterNode::<U2, U3>::new_static(random_matrix(2, 3))), 6);
    /// assert_eq!(len(&InputNode::new(random_matrix(4, 5))), 20);
    /// ```
    #[inline(always)]
    fn fold(runtime: usize) -> usize {
        match Self::FIXED {
            Some(n) => n,
            None => runtime,
        }
    }
}

/// A dimension whose size is only known at run time.
///
/// ```
/// use wyrm::*;
///
/// // The default dimensions of `InputNode` and `ParameterNode`.
/// let x: Variable<InputNode<Dyn, Dyn>> = InputNode::new(random_matrix(2, 3));
/// assert_eq!(x.shape(), (2, 3));
/// assert_eq!(Dyn::FIXED, None);
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Dyn;

impl Dim for Dyn {
    const FIXED: Option<usize> = None;
}

/// A dimension known at compile time: typenum's positive integers (`U1`, `U32`, ...).
///
/// ```
/// use wyrm::shape::Static;
/// use wyrm::typenum::{U2, U3};
/// use wyrm::*;
///
/// /// A zero-initialised parameter of any static shape.
/// fn zeros<R: Static, C: Static>() -> Variable<ParameterNode<R, C>> {
///     ParameterNode::new_static(ndarray::Array2::zeros((R::USIZE, C::USIZE)))
/// }
/// assert_eq!(zeros::<U2, U3>().shape(), (2, 3));
/// ```
pub trait Static: Dim + Unsigned {}

impl<U: Unsigned + Default + Copy + Debug + 'static, B: Bit + Default + Copy + Debug + 'static> Dim
    for UInt<U, B>
{
    const FIXED: Option<usize> = Some(<Self as Unsigned>::USIZE);
}

impl<U: Unsigned + Default + Copy + Debug + 'static, B: Bit + Default + Copy + Debug + 'static>
    Static for UInt<U, B>
{
}

/// Two dimensions that must agree: equal static sizes, or at least one side known only
/// at run time (then checked when the graph is built). `Out` is the more precise of the two.
///
/// ```
/// use wyrm::shape::SameDim;
/// use wyrm::typenum::U3;
/// use wyrm::*;
///
/// fn agreed<A: SameDim<B>, B: Dim>() -> Option<usize> {
///     <A as SameDim<B>>::Out::FIXED
/// }
/// assert_eq!(agreed::<U3, U3>(), Some(3));
/// assert_eq!(agreed::<Dyn, U3>(), Some(3)); // the static side is kept
/// assert_eq!(agreed::<Dyn, Dyn>(), None);
/// ```
///
/// Static sizes that differ do not compile:
///
/// ```compile_fail
/// use wyrm::typenum::{U3, U4};
/// use wyrm::*;
///
/// let a = ParameterNode::<U4, U3>::new_static(random_matrix(4, 3));
/// let b = ParameterNode::<U4, U4>::new_static(random_matrix(4, 4));
/// let _ = a + b; // static shape mismatch
/// ```
#[diagnostic::on_unimplemented(
    message = "static shape mismatch: the operands' sizes differ in a dimension this operation needs equal",
    label = "these statically shaped operands do not fit together",
    note = "`dot` needs the left's column count to equal the right's row count, `vector_dot` equal shapes",
    note = "typenum writes sizes in binary, most significant bit first: `UInt<UTerm, B1>` is 1, `UInt<UInt<UTerm, B1>, B0>` is 2, `UInt<UInt<UTerm, B1>, B1>` is 3, `UInt<UInt<UInt<UTerm, B1>, B0>, B0>` is 4",
    note = "to check a shape at run time instead, build that node with a run-time shape (`ParameterNode::new`, `InputNode::new`)",
    note = "in generic code, a `T: Node` could have any static shape: bound it `T: Node<Rows = Dyn, Cols = Dyn>` (the README's \"Functions that build part of a graph\"), or see `wyrm::shape` for the bounds that keep it generic"
)]
pub trait SameDim<Rhs: Dim>: Dim {
    /// The dimension of the result.
    type Out: Dim;
}

#[diagnostic::do_not_recommend]
impl<N: Static> SameDim<N> for N {
    type Out = N;
}
#[diagnostic::do_not_recommend]
impl<N: Static> SameDim<Dyn> for N {
    type Out = N;
}
#[diagnostic::do_not_recommend]
impl<N: Static> SameDim<N> for Dyn {
    type Out = N;
}
#[diagnostic::do_not_recommend]
impl SameDim<Dyn> for Dyn {
    type Out = Dyn;
}

/// Sizes of the operands of an elementwise operation (`+ - * /`) in one dimension: equal,
/// or one of them 1, which is then repeated along the other (broadcasting, as in NumPy).
/// `Out` is the result's size.
///
/// Rows and columns follow the rule separately, so a `1 x n` row (a bias) repeats down
/// the rows of an `m x n` operand, an `m x 1` column (a per-row mean) across its columns,
/// a `1 x 1` value over all of it, and a column with a row makes an `m x n` table; either
/// side may be the one repeated.
///
/// ```
/// use wyrm::shape::Broadcast;
/// use wyrm::typenum::{U1, U2, U3};
/// use wyrm::*;
///
/// let x = InputNode::<U2, U2>::new_static(ndarray::arr2(&[[1.0, 2.0], [3.0, 4.0]]));
/// let bias = ParameterNode::<U1, U2>::new_static(ndarray::arr2(&[[10.0, 20.0]]));
/// let y = x + bias; // `U2: Broadcast<U1>` for the rows
/// y.forward();
/// assert_eq!(y.value(), ndarray::arr2(&[[11.0, 22.0], [13.0, 24.0]]));
///
/// fn out<A: Broadcast<B>, B: Dim>() -> Option<usize> {
///     <A as Broadcast<B>>::Out::FIXED
/// }
/// assert_eq!(out::<U1, U3>(), Some(3));
/// assert_eq!(out::<Dyn, U3>(), Some(3)); // 3 or 1 at run time: the result has 3
/// assert_eq!(out::<Dyn, U1>(), None); // whatever the run-time side has
/// ```
///
/// Static sizes that differ, neither of them 1, do not compile:
///
/// ```compile_fail
/// use wyrm::typenum::{U2, U3};
/// use wyrm::*;
///
/// let x = InputNode::<U3, U2>::new_static(random_matrix(3, 2));
/// let b = ParameterNode::<U2, U2>::new_static(random_matrix(2, 2));
/// let _ = x + b; // static shape mismatch: 3 rows against 2
/// ```
#[diagnostic::on_unimplemented(
    message = "static shape mismatch: the operands' sizes differ in a dimension, and neither is 1",
    label = "these statically shaped operands do not fit together",
    note = "elementwise operations need each dimension equal in both operands, or 1 in one of them, which is then repeated along the other (broadcast)",
    note = "typenum writes sizes in binary, most significant bit first: `UInt<UTerm, B1>` is 1, `UInt<UInt<UTerm, B1>, B0>` is 2, `UInt<UInt<UTerm, B1>, B1>` is 3, `UInt<UInt<UInt<UTerm, B1>, B0>, B0>` is 4",
    note = "to check a shape at run time instead, build that node with a run-time shape (`ParameterNode::new`, `InputNode::new`)",
    note = "in generic code, a `T: Node` could have any static shape: bound it `T: Node<Rows = Dyn, Cols = Dyn>` (the README's \"Functions that build part of a graph\"), or see `wyrm::shape` for the bounds that keep it generic"
)]
pub trait Broadcast<Rhs: Dim>: Dim {
    /// The dimension of the result.
    type Out: Dim;
}

/// Static sizes of two or more (typenum's `U1` is `UInt<UTerm, B1>`, so these are the
/// `UInt`s with another `UInt` inside).
type AtLeast2<U, B1, B2> = UInt<UInt<U, B1>, B2>;

#[diagnostic::do_not_recommend]
impl<N: Static> Broadcast<N> for N {
    type Out = N;
}
#[diagnostic::do_not_recommend]
impl<U, B1, B2> Broadcast<typenum::U1> for AtLeast2<U, B1, B2>
where
    AtLeast2<U, B1, B2>: Static,
{
    type Out = Self;
}
#[diagnostic::do_not_recommend]
impl<U, B1, B2> Broadcast<AtLeast2<U, B1, B2>> for typenum::U1
where
    AtLeast2<U, B1, B2>: Static,
{
    type Out = AtLeast2<U, B1, B2>;
}
// Against a run-time size, a static one of 2 or more is the result's (the other side is
// checked to be it or 1); a static 1 leaves the result to the run-time side.
#[diagnostic::do_not_recommend]
impl<U, B1, B2> Broadcast<Dyn> for AtLeast2<U, B1, B2>
where
    AtLeast2<U, B1, B2>: Static,
{
    type Out = Self;
}
#[diagnostic::do_not_recommend]
impl<U, B1, B2> Broadcast<AtLeast2<U, B1, B2>> for Dyn
where
    AtLeast2<U, B1, B2>: Static,
{
    type Out = AtLeast2<U, B1, B2>;
}
#[diagnostic::do_not_recommend]
impl Broadcast<Dyn> for typenum::U1 {
    type Out = Dyn;
}
#[diagnostic::do_not_recommend]
impl Broadcast<typenum::U1> for Dyn {
    type Out = Dyn;
}
#[diagnostic::do_not_recommend]
impl Broadcast<Dyn> for Dyn {
    type Out = Dyn;
}

/// Formats a shape as `RxC` for error messages.
pub(crate) fn fmt_shape(shape: (usize, usize)) -> String {
    format!("{}x{}", shape.0, shape.1)
}

/// Checks a run-time shape against the static dimensions of a node type.
#[track_caller]
pub(crate) fn check_static<R: Dim, C: Dim>(what: &str, shape: (usize, usize)) {
    let ok_rows = R::FIXED.is_none_or(|r| r == shape.0);
    let ok_cols = C::FIXED.is_none_or(|c| c == shape.1);
    if !(ok_rows && ok_cols) {
        let fixed = |d: Option<usize>| d.map_or_else(|| "?".to_string(), |n| n.to_string());
        panic!(
            "{what}: the array is {} but the node's static shape is {}x{}",
            fmt_shape(shape),
            fixed(R::FIXED),
            fixed(C::FIXED)
        );
    }
}

/// Checks a node's run-time shape against its own static dimensions (`Node::Rows` and
/// `Node::Cols`, or a `SingleOp`'s): code downstream trusts the static ones, so a custom
/// node whose types disagree with its shape would compute from the wrong lengths.
#[track_caller]
pub(crate) fn check_node_dims<R: Dim, C: Dim>(what: &str, shape: (usize, usize)) {
    let ok_rows = R::FIXED.is_none_or(|r| r == shape.0);
    let ok_cols = C::FIXED.is_none_or(|c| c == shape.1);
    if !(ok_rows && ok_cols) {
        let fixed = |d: Option<usize>| d.map_or_else(|| "?".to_string(), |n| n.to_string());
        panic!(
            "{what}: the node's shape is {} but its static dimensions (`Rows`, `Cols`) say \
             {}x{} (`?`: any); they must agree, or be `Dyn`",
            fmt_shape(shape),
            fixed(R::FIXED),
            fixed(C::FIXED)
        );
    }
}

/// How the operands of an elementwise operation map onto its result.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Layout {
    /// Both operands have the result's shape.
    Same,
    /// The right-hand side is one row repeated down the left's rows (a bias): the common
    /// broadcast, which keeps a path of its own.
    RightRow,
    /// Any other broadcast: each operand's size in each dimension is the result's or 1.
    /// (The shapes are the operands', not stored here, which keeps nodes small.)
    General,
}

/// Checks the shapes of an elementwise binary operation, and returns the result's shape
/// and how the operands map onto it: each dimension must be equal in both, or 1 in one of
/// them (which is then repeated along the other).
#[track_caller]
pub(crate) fn check_elementwise(
    op: &str,
    lhs: (usize, usize),
    rhs: (usize, usize),
) -> ((usize, usize), Layout) {
    if lhs == rhs {
        return (lhs, Layout::Same);
    }
    let fits = |l: usize, r: usize| l == r || l == 1 || r == 1;
    if !(fits(lhs.0, rhs.0) && fits(lhs.1, rhs.1)) {
        panic!(
            "shape mismatch in `{op}`: cannot combine a {} (left) with a {} (right); \
             each dimension must be equal in both, or 1 in one of them to broadcast \
             (repeat that row or column)",
            fmt_shape(lhs),
            fmt_shape(rhs),
        );
    }
    // The size that is not a repeated 1 (with 1 against 0, nothing is repeated: 0).
    let out = |l: usize, r: usize| if l == 1 { r } else { l };
    let shape = (out(lhs.0, rhs.0), out(lhs.1, rhs.1));
    if lhs == shape && rhs == (1, shape.1) {
        (shape, Layout::RightRow)
    } else {
        (shape, Layout::General)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use typenum::{U1, U3};

    #[test]
    fn fold_uses_static_size() {
        assert_eq!(U3::fold(7), 3);
        assert_eq!(Dyn::fold(7), 7);
        assert_eq!(<U1 as Dim>::FIXED, Some(1));
    }

    #[test]
    fn broadcast_detected() {
        assert_eq!(
            check_elementwise("add", (2, 3), (2, 3)),
            ((2, 3), Layout::Same)
        );
        assert_eq!(
            check_elementwise("add", (2, 3), (1, 3)),
            ((2, 3), Layout::RightRow)
        );
        for (l, r, out) in [
            ((1, 3), (2, 3), (2, 3)),
            ((2, 3), (2, 1), (2, 3)),
            ((2, 1), (2, 3), (2, 3)),
            ((2, 3), (1, 1), (2, 3)),
            ((1, 1), (2, 3), (2, 3)),
            ((2, 1), (1, 3), (2, 3)),
            ((1, 3), (2, 1), (2, 3)),
            ((0, 3), (1, 1), (0, 3)),
            ((1, 1), (1, 0), (1, 0)),
        ] {
            assert_eq!(
                check_elementwise("add", l, r),
                (out, Layout::General),
                "{l:?} {r:?}"
            );
        }
    }

    #[test]
    #[should_panic(
        expected = "shape mismatch in `add`: cannot combine a 2x3 (left) with a 2x4 (right)"
    )]
    fn mismatch_names_op_and_shapes() {
        check_elementwise("add", (2, 3), (2, 4));
    }

    #[test]
    #[should_panic(
        expected = "shape mismatch in `mul`: cannot combine a 2x3 (left) with a 3x1 (right); each \
                    dimension must be equal in both, or 1 in one of them to broadcast"
    )]
    fn a_column_of_the_wrong_length_does_not_broadcast() {
        check_elementwise("mul", (2, 3), (3, 1));
    }

    #[test]
    #[should_panic(expected = "the array is 2x2 but the node's static shape is 1x3")]
    fn static_shape_checked() {
        check_static::<U1, U3>("ParameterNode::new_static", (2, 2));
    }
}
