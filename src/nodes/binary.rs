//! Elementwise binary operations (`+ - * /` between two variables), broadcasting a single
//! row, column or 1 x 1 operand along the other (a bias row, a per-row mean, a scale).
//!
//! Each operation is a [`BinaryOp`] giving its value and both partial derivatives side
//! by side; [`Binary`] does the caching, broadcasting and gradient bookkeeping once.

use super::Child;
use crate::kernels;
use crate::node::{Node, NodeState, Pass, Scratch};
use crate::shape::{check_elementwise, Broadcast, Dim, Layout};
use crate::Variable;
use std::cell::{Cell, Ref};
use std::rc::Rc;

/// The math of an elementwise binary operation `y = f(a, b)`.
///
/// Implement it for your own operation and apply it with [`Variable::combine`]. The
/// operation is a value, so it can carry parameters (this one is built in as
/// [`nn::losses::huber`](crate::nn::losses::huber)):
///
/// ```
/// use wyrm::*;
/// use wyrm::nodes::BinaryOp;
///
/// /// The Huber loss of a prediction `a` against a target `b`: quadratic within `delta`
/// /// of the target, linear beyond.
/// struct Huber {
///     delta: f32,
/// }
/// impl BinaryOp for Huber {
///     const NAME: &'static str = "huber";
///     fn apply(&self, a: f32, b: f32) -> f32 {
///         let r = (a - b).abs();
///         if r <= self.delta { 0.5 * r * r } else { self.delta * (r - 0.5 * self.delta) }
///     }
///     fn partials(&self, a: f32, b: f32, _y: f32) -> (f32, f32) {
///         let d = (a - b).clamp(-self.delta, self.delta);
///         (d, -d)
///     }
/// }
///
/// let prediction = ParameterNode::new(ndarray::arr2(&[[1.5, 5.0]]));
/// let target = InputNode::new(ndarray::arr2(&[[1.0, 2.0]]));
/// let loss = prediction.combine(Huber { delta: 1.0 }, &target).scalar_sum();
/// loss.forward();
/// loss.backward(1.0);
/// assert_eq!(loss.value()[(0, 0)], 0.125 + 2.5);
/// assert_eq!(prediction.gradient(), ndarray::arr2(&[[0.5, 1.0]]));
/// ```
///
/// A function that applies it to any two variables names the bounds that [`Binary`]'s
/// broadcasting needs (without them, rustc's complaint is a misleading "static shape
/// mismatch"):
///
/// ```
/// use wyrm::*;
/// use wyrm::nodes::{Binary, BinaryOp};
/// use wyrm::shape::Broadcast;
///
/// /// `|a - b|`, e.g. for an L1 distance.
/// struct AbsDiff;
/// impl BinaryOp for AbsDiff {
///     const NAME: &'static str = "abs_diff";
///     fn apply(&self, a: f32, b: f32) -> f32 { (a - b).abs() }
///     fn partials(&self, a: f32, b: f32, _y: f32) -> (f32, f32) {
///         let s = if a >= b { 1.0 } else { -1.0 };
///         (s, -s)
///     }
/// }
///
/// fn abs_diff<L: Node, R: Node>(a: &Variable<L>, b: &Variable<R>) -> Variable<Binary<AbsDiff, L, R>>
/// where
///     L::Rows: Broadcast<R::Rows>,
///     L::Cols: Broadcast<R::Cols>,
/// {
///     a.combine(AbsDiff, b)
/// }
///
/// let a = ParameterNode::new(ndarray::arr2(&[[1.0, 5.0]]));
/// let b = InputNode::new(ndarray::arr2(&[[3.0]])); // broadcast
/// let y = abs_diff(&a, &b).scalar_sum();
/// y.forward();
/// assert_eq!(y.value()[(0, 0)], 4.0);
/// ```
pub trait BinaryOp: 'static {
    /// Name used in messages.
    const NAME: &'static str;
    /// `f(a, b)`.
    ///
    /// ```
    /// use wyrm::nodes::{BinaryOp, SubOp};
    /// assert_eq!(SubOp.apply(5.0, 2.0), 3.0);
    /// ```
    fn apply(&self, a: f32, b: f32) -> f32;
    /// `(df/da, df/db)` at `a`, `b`, with `y = f(a, b)`.
    ///
    /// ```
    /// use wyrm::nodes::{BinaryOp, DivOp};
    /// let (a, b) = (6.0, 2.0);
    /// let y = DivOp.apply(a, b);
    /// // 1 / b and -a / b², the latter computed as -y / b.
    /// assert_eq!(DivOp.partials(a, b, y), (0.5, -1.5));
    /// ```
    fn partials(&self, a: f32, b: f32, y: f32) -> (f32, f32);
    /// Whether `df/da` is 1 everywhere, so that the gradient passes to the left operand
    /// unchanged (no multiplication, no copy).
    const LHS_IDENTITY: bool = false;
    /// Whether `df/db` is 1 everywhere.
    const RHS_IDENTITY: bool = false;
    /// Whether [`partials`](Self::partials) reads `a` and `b` (if not, backward does not
    /// borrow the operands' values).
    const READS_OPERANDS: bool = true;
    /// Whether [`partials`](Self::partials) reads `y`.
    const READS_OUTPUT: bool = true;
}

/// Node for an elementwise binary operation; see the aliases [`Add`], [`Sub`], [`Mul`],
/// [`Div`].
///
/// The operands' shapes must agree in each dimension, or be 1 in it on one side: that
/// single row, column or element is then repeated along the other operand (broadcast),
/// and its gradient is the sum over the places it was used. A `1 x n` bias row:
///
/// ```
/// use wyrm::*;
/// use wyrm::nodes::{AddOp, Binary};
/// let x = InputNode::new(ndarray::arr2(&[[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]]));
/// let bias = ParameterNode::new(ndarray::arr2(&[[10.0, 20.0]]));
/// let y: Variable<Binary<AddOp, InputNode, ParameterNode>> = x + bias.clone();
/// y.forward();
/// y.backward(1.0);
/// assert_eq!(y.value(), ndarray::arr2(&[[11.0, 22.0], [13.0, 24.0], [15.0, 26.0]]));
/// assert_eq!(bias.gradient(), ndarray::arr2(&[[3.0, 3.0]]));
/// ```
///
/// Centring each row on its mean (an `m x 1` column), and a learned `1 x 1` scale on the
/// left:
///
/// ```
/// use wyrm::*;
/// let x = InputNode::new(ndarray::arr2(&[[1.0, 3.0], [2.0, 6.0]]));
/// let scale = ParameterNode::new(ndarray::arr2(&[[0.5]]));
/// let row_mean = x.sum_rows() / 2.0; // 2 x 1
/// let y = scale.clone() * (x.clone() - row_mean);
/// y.forward();
/// assert_eq!(y.value(), ndarray::arr2(&[[-0.5, 0.5], [-1.0, 1.0]]));
/// y.backward(1.0);
/// assert_eq!(scale.gradient(), ndarray::arr2(&[[0.0]])); // -1 + 1 - 2 + 2
/// ```
pub struct Binary<Op, L, R> {
    lhs: Child<L>,
    rhs: Child<R>,
    state: NodeState,
    lhs_grad: Scratch,
    rhs_grad: Scratch,
    /// How the operands map onto the result.
    layout: Layout,
    /// Whether the left operand is smaller than the result (its gradient is then a sum
    /// over the places it was repeated, and an identity partial cannot pass through).
    lhs_repeated: bool,
    /// The same for the right operand.
    rhs_repeated: bool,
    needs_gradient: bool,
    /// See [`Node::discards_gradient`].
    discards: bool,
    op: Op,
}

impl<Op: BinaryOp, L: Node, R: Node> Binary<Op, L, R> {
    /// Builds the node; panics naming the operation and both shapes if they do not fit.
    /// [`Variable::combine`] builds it and wraps it in a variable in one step.
    ///
    /// ```
    /// use wyrm::*;
    /// use wyrm::nodes::{Binary, MulOp};
    /// let a = ParameterNode::new(ndarray::arr2(&[[2.0]]));
    /// let b = InputNode::new(ndarray::arr2(&[[5.0]]));
    /// // The node `a * b` builds, wrapped over its operands.
    /// let node = Binary::new(MulOp, a.node().clone(), b.node().clone());
    /// let y = Variable::with_operands(node, &[(&a).into(), (&b).into()]);
    /// y.forward();
    /// y.backward(1.0);
    /// assert_eq!((y.value()[(0, 0)], a.gradient()[(0, 0)]), (10.0, 5.0));
    /// ```
    #[track_caller]
    pub fn new(op: Op, lhs: Rc<L>, rhs: Rc<R>) -> Self {
        let (ls, rs) = (lhs.shape(), rhs.shape());
        let (shape, layout) = check_elementwise(Op::NAME, ls, rs);
        Binary {
            needs_gradient: lhs.needs_gradient() || rhs.needs_gradient(),
            discards: crate::node::discards(&[
                (lhs.needs_gradient(), lhs.discards_gradient()),
                (rhs.needs_gradient(), rhs.discards_gradient()),
            ]),
            lhs_grad: Scratch::new(ls.0 * ls.1),
            rhs_grad: Scratch::new(rs.0 * rs.1),
            state: NodeState::new(shape),
            lhs: Child::new(lhs),
            rhs: Child::new(rhs),
            layout,
            lhs_repeated: ls != shape,
            rhs_repeated: rs != shape,
            op,
        }
    }
}

/// One row of an operand as the result sees it: a row of its own, or a single value
/// repeated across the row.
#[derive(Clone, Copy)]
enum Row<'a> {
    Full(&'a [f32]),
    One(f32),
}

impl<'a> Row<'a> {
    /// Row `r` of a result with `cols` columns (at least one), read from an operand of
    /// shape `shape` (each dimension the result's or 1).
    #[inline(always)]
    fn of(data: &'a [f32], shape: (usize, usize), r: usize, cols: usize) -> Self {
        let start = if shape.0 == 1 { 0 } else { r * shape.1 };
        if shape.1 == cols {
            Row::Full(&data[start..][..cols])
        } else {
            Row::One(data[start])
        }
    }
}

/// Runs `$body` with `$a` and `$b` bound to iterators over two operands' values along a
/// result row (a [`Row`] each): one expansion per combination of full and repeated rows,
/// so that each is a plain loop the compiler vectorises.
macro_rules! with_rows {
    ($ar:expr, $br:expr, |$a:ident, $b:ident| $body:expr) => {
        match ($ar, $br) {
            (Row::Full(x), Row::Full(y)) => {
                let ($a, $b) = (x.iter().copied(), y.iter().copied());
                $body
            }
            (Row::Full(x), Row::One(y)) => {
                let ($a, $b) = (x.iter().copied(), std::iter::repeat(y));
                $body
            }
            (Row::One(x), Row::Full(y)) => {
                let ($a, $b) = (std::iter::repeat(x), y.iter().copied());
                $body
            }
            (Row::One(x), Row::One(y)) => {
                let ($a, $b) = (std::iter::repeat(x), std::iter::repeat(y));
                $body
            }
        }
    };
}

/// The result `y` (with `cols` columns) of a general broadcast of `a` and `b`.
#[inline(never)]
fn broadcast_forward<Op: BinaryOp>(
    op: &Op,
    cols: usize,
    (lhs, rhs): ((usize, usize), (usize, usize)),
    (a, b): (&[f32], &[f32]),
    y: &mut [f32],
) {
    // No chunks when there are no columns (then nothing is read).
    for (r, yr) in y.chunks_exact_mut(cols.max(1)).enumerate() {
        with_rows!(
            Row::of(a, lhs, r, cols),
            Row::of(b, rhs, r, cols),
            |ai, bi| {
                for ((y, a), b) in yr.iter_mut().zip(ai).zip(bi) {
                    *y = op.apply(a, b);
                }
            }
        );
    }
}

/// The gradient of one operand (of shape `side`) of a general broadcast: each of its
/// elements collects `g` times `partial` from every element of the result that read it.
/// `a`, `b` and `y` may be stand-ins of the result's length when `partial` ignores them.
///
/// Out of line, like [`broadcast_forward`], so that the inlined common paths stay small.
#[inline(never)]
fn broadcast_gradient(
    (rows, cols): (usize, usize),
    (lhs, rhs): ((usize, usize), (usize, usize)),
    side: (usize, usize),
    (a, b, y): (&[f32], &[f32], &[f32]),
    g: &[f32],
    grad: &mut [f32],
    partial: impl Fn(f32, f32, f32) -> f32,
) {
    thread_local! {
        /// A result row, where an operand's single value per row collects its terms
        /// (kept per thread rather than per node, which keeps nodes small). Taken out
        /// while in use, so that a nested use (a custom operation's partials running
        /// another graph) gets a buffer of its own.
        static TERMS: Cell<Vec<f32>> = const { Cell::new(Vec::new()) };
    }
    let grad = &mut grad[..side.0 * side.1];
    // A single row of the operand collects from every row of the result; otherwise each
    // row is written once.
    let rows_repeated = side.0 != rows;
    if rows_repeated || cols == 0 {
        grad.iter_mut().for_each(|v| *v = 0.0);
    }
    if cols == 0 {
        return;
    }
    let mut terms = TERMS.try_with(Cell::take).unwrap_or_default();
    if terms.len() < cols {
        terms.resize(cols, 0.0);
    }
    for r in 0..rows {
        let (gr, yr) = (&g[r * cols..][..cols], &y[r * cols..][..cols]);
        let start = if side.0 == 1 { 0 } else { r * side.1 };
        // Into the operand's own row, or, where the operand has one value per row, into
        // `terms`, to be summed.
        let cols_repeated = side.1 != cols;
        let (dst, add) = if cols_repeated {
            (&mut terms[..cols], false)
        } else {
            (&mut grad[start..][..cols], rows_repeated)
        };
        with_rows!(
            Row::of(a, lhs, r, cols),
            Row::of(b, rhs, r, cols),
            |ai, bi| {
                for ((((d, g), y), a), b) in dst.iter_mut().zip(gr).zip(yr).zip(ai).zip(bi) {
                    let t = *g * partial(a, b, *y);
                    *d = if add { *d + t } else { t };
                }
            }
        );
        if cols_repeated {
            let sum = kernels::sum(&terms[..cols]);
            grad[start] = if rows_repeated {
                grad[start] + sum
            } else {
                sum
            };
        }
    }
    let _ = TERMS.try_with(|t| t.set(terms));
}

impl<Op, L, R> Binary<Op, L, R>
where
    Op: BinaryOp,
    L: Node,
    R: Node,
    L::Rows: Broadcast<R::Rows>,
    L::Cols: Broadcast<R::Cols>,
{
    /// Sends the complete gradient `g` of this node's value on to the operands.
    ///
    /// Each operand's `backward` has one call site here, whichever way its gradient is
    /// made: `backward` is inlined into its caller, so a second site would double the
    /// code at every level of a chain of `+`, and a sum of 10 terms took 16 minutes to
    /// build in release (a new user's factorization machine).
    #[inline(always)]
    fn propagate(&self, g: &[f32]) {
        let (rows, cols) = self.state.shape();
        let cols = <Self as Node>::Cols::fold(cols);
        let len = <Self as Node>::Rows::fold(rows) * cols;
        let g = &g[..len];
        // Only the partials that some operand needs are computed; an identity partial
        // passes the gradient through without a copy (unless the operand was repeated,
        // whose gradient is then a sum).
        if self.lhs.discards_gradient() {
            self.lhs.backward_nothing();
        } else if self.lhs.needs_gradient() {
            let computed;
            let gradient = if Op::LHS_IDENTITY && !self.lhs_repeated {
                g
            } else {
                self.partials_into::<false>(g, len, cols);
                computed = self.lhs_grad.borrow_mut();
                &computed[..]
            };
            self.lhs.backward(gradient);
        }
        if self.rhs.discards_gradient() {
            self.rhs.backward_nothing();
        } else if self.rhs.needs_gradient() {
            let computed;
            let gradient = if Op::RHS_IDENTITY && !self.rhs_repeated {
                g
            } else {
                self.partials_into::<true>(g, len, cols);
                computed = self.rhs_grad.borrow_mut();
                &computed[..]
            };
            self.rhs.backward(gradient);
        }
    }

    /// [`propagate`](Self::propagate) out of line, for `backward_nothing`: inlined there
    /// too, each node's operands would be inlined twice again.
    #[inline(never)]
    fn propagate_out_of_line(&self, g: &[f32]) {
        self.propagate(g)
    }

    /// Writes one operand's gradient, `g` times its partials, into its scratch: the
    /// right operand's when `RIGHT`, else the left's.
    // Inlined as the code was before it was split out: it calls no operand's
    // `backward`, so inlining it duplicates nothing below.
    #[inline(always)]
    fn partials_into<const RIGHT: bool>(&self, g: &[f32], len: usize, cols: usize) {
        let out = (self.state.shape().0, cols);
        let pick = |p: (f32, f32)| if RIGHT { p.1 } else { p.0 };
        // Borrow only what the partials read; `g` (of the result's length)
        // stands in for the rest.
        let a = Op::READS_OPERANDS.then(|| self.lhs.value());
        let b = Op::READS_OPERANDS.then(|| self.rhs.value());
        let y = Op::READS_OUTPUT.then(|| self.state.value());
        let (a, b, y) = (
            a.as_deref().unwrap_or(g),
            b.as_deref().unwrap_or(g),
            y.as_deref().unwrap_or(g),
        );
        let mut grad = if RIGHT {
            self.rhs_grad.borrow_mut()
        } else {
            self.lhs_grad.borrow_mut()
        };
        if len == 1 {
            // Also a broadcast 1x1 operand: one element either way.
            grad[0] = g[0] * pick(self.op.partials(a[0], b[0], y[0]));
            return;
        }
        match self.layout {
            Layout::Same => {
                for ((((d, g), a), y), b) in grad[..len]
                    .iter_mut()
                    .zip(g)
                    .zip(&a[..len])
                    .zip(&y[..len])
                    .zip(&b[..len])
                {
                    *d = *g * pick(self.op.partials(*a, *b, *y));
                }
            }
            Layout::RightRow => {
                // `min`: where `g` stands in for the row and there are no rows, it is
                // shorter than a row (and nothing is read).
                let b = &b[..cols.min(b.len())];
                let rows = g
                    .chunks_exact(cols.max(1))
                    .zip(a[..len].chunks_exact(cols.max(1)))
                    .zip(y[..len].chunks_exact(cols.max(1)));
                if RIGHT {
                    // The row was used by every row of the left: sum their gradients.
                    let grad = &mut grad[..cols];
                    grad.iter_mut().for_each(|v| *v = 0.0);
                    for ((g, a), y) in rows {
                        for ((((d, g), a), y), b) in grad.iter_mut().zip(g).zip(a).zip(y).zip(b) {
                            *d += *g * self.op.partials(*a, *b, *y).1;
                        }
                    }
                } else {
                    for (d, ((g, a), y)) in grad[..len].chunks_exact_mut(cols.max(1)).zip(rows) {
                        for ((((d, g), a), y), b) in d.iter_mut().zip(g).zip(a).zip(y).zip(b) {
                            *d = *g * self.op.partials(*a, *b, *y).0;
                        }
                    }
                }
            }
            Layout::General => {
                let (lhs, rhs) = (self.lhs.shape(), self.rhs.shape());
                let side = if RIGHT { rhs } else { lhs };
                broadcast_gradient(out, (lhs, rhs), side, (a, b, y), g, &mut grad, |a, b, y| {
                    pick(self.op.partials(a, b, y))
                });
            }
        }
    }
}

impl<Op, L, R> Node for Binary<Op, L, R>
where
    Op: BinaryOp,
    L: Node,
    R: Node,
    L::Rows: Broadcast<R::Rows>,
    L::Cols: Broadcast<R::Cols>,
{
    type Rows = <L::Rows as Broadcast<R::Rows>>::Out;
    type Cols = <L::Cols as Broadcast<R::Cols>>::Out;

    #[inline(always)]
    fn shape(&self) -> (usize, usize) {
        self.state.shape()
    }

    #[inline(always)]
    fn forward(&self, pass: Pass) {
        if !self.state.visit(pass) {
            return;
        }
        self.lhs.forward(pass);
        self.rhs.forward(pass);
        let (rows, cols) = self.state.shape();
        let cols = Self::Cols::fold(cols);
        let len = Self::Rows::fold(rows) * cols;
        let (a, b) = (self.lhs.value(), self.rhs.value());
        let mut y = self.state.value_mut();
        let y = &mut y[..len];
        if len == 1 {
            // 1x1 (losses, scalars): no loop set-up. Also covers broadcast 1x1 operands.
            y[0] = self.op.apply(a[0], b[0]);
            return;
        }
        match self.layout {
            Layout::Same => {
                for ((y, a), b) in y.iter_mut().zip(&a[..len]).zip(&b[..len]) {
                    *y = self.op.apply(*a, *b);
                }
            }
            Layout::RightRow => {
                // `max(1)` here and below: with no columns there is nothing to do, and a
                // chunk size of zero would panic.
                let b = &b[..cols];
                for (yr, ar) in y
                    .chunks_exact_mut(cols.max(1))
                    .zip(a[..len].chunks_exact(cols.max(1)))
                {
                    for ((y, a), b) in yr.iter_mut().zip(ar).zip(b) {
                        *y = self.op.apply(*a, *b);
                    }
                }
            }
            Layout::General => {
                let shapes = (self.lhs.shape(), self.rhs.shape());
                broadcast_forward(&self.op, cols, shapes, (&a, &b), y)
            }
        }
    }

    #[inline(always)]
    fn backward(&self, gradient: &[f32]) {
        if !self.needs_gradient {
            return;
        }
        if let Some(g) = self.state.gather(gradient) {
            self.propagate(&g);
        }
    }

    #[inline]
    fn backward_nothing(&self) {
        if self.needs_gradient {
            crate::node::gather_nothing_for_both(
                &self.state,
                |g| self.propagate_out_of_line(g),
                (&*self.lhs, &*self.rhs),
            );
        }
    }

    #[inline(always)]
    fn value(&self) -> Ref<'_, [f32]> {
        self.state.value()
    }

    #[inline(always)]
    fn begin_backward(&self) {
        self.state.begin_backward();
    }

    #[inline(always)]
    fn needs_gradient(&self) -> bool {
        self.needs_gradient
    }

    #[inline(always)]
    fn discards_gradient(&self) -> bool {
        self.discards
    }
}

impl<T: Node> Variable<T> {
    /// Applies your own elementwise binary operation (a [`BinaryOp`]) to `self` and
    /// `other`, broadcasting as `+` does. What `map` is to a one-operand function.
    ///
    /// ```
    /// use wyrm::*;
    /// use wyrm::nodes::BinaryOp;
    ///
    /// /// `a` raised to the power `b` (for positive `a`).
    /// struct Power;
    /// impl BinaryOp for Power {
    ///     const NAME: &'static str = "power";
    ///     fn apply(&self, a: f32, b: f32) -> f32 { a.powf(b) }
    ///     fn partials(&self, a: f32, b: f32, y: f32) -> (f32, f32) {
    ///         (b * a.powf(b - 1.0), y * a.ln())
    ///     }
    /// }
    ///
    /// let base = ParameterNode::new(ndarray::arr2(&[[2.0, 3.0]]));
    /// let exponent = ParameterNode::new(ndarray::arr2(&[[3.0]])); // broadcast
    /// let y = base.combine(Power, &exponent).scalar_sum();
    /// y.forward();
    /// y.backward(1.0);
    /// assert_eq!(y.value()[(0, 0)], 8.0 + 27.0);
    /// assert_eq!(base.gradient(), ndarray::arr2(&[[12.0, 27.0]]));
    /// ```
    ///
    /// # Panics
    /// If the shapes do not fit (at construction), naming the operation and both shapes.
    #[track_caller]
    pub fn combine<Op: BinaryOp, R: Node>(
        &self,
        op: Op,
        other: &Variable<R>,
    ) -> Variable<Binary<Op, T, R>>
    where
        T::Rows: Broadcast<R::Rows>,
        T::Cols: Broadcast<R::Cols>,
    {
        let node = Binary::new(op, self.node().clone(), other.node().clone());
        Variable::with_links(node, &[self.links(), other.links()])
    }
}

/// Defines an operation marker, its node alias and its `std::ops` operator on variables.
macro_rules! binary_op {
    ($(#[$doc:meta])* $marker:ident, $alias:ident, $name:literal, $trait:ident, $method:ident,
     |$a:ident, $b:ident| $apply:expr, |$pa:ident, $pb:ident, $py:ident| $partials:expr
     $(, identity = ($lid:literal, $rid:literal))?
     $(, reads = ($ro:literal, $ry:literal))?) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy)]
        pub struct $marker;

        impl BinaryOp for $marker {
            const NAME: &'static str = $name;
            $(const LHS_IDENTITY: bool = $lid;
            const RHS_IDENTITY: bool = $rid;)?
            $(const READS_OPERANDS: bool = $ro;
            const READS_OUTPUT: bool = $ry;)?
            #[inline(always)]
            fn apply(&self, $a: f32, $b: f32) -> f32 {
                $apply
            }
            #[inline(always)]
            #[allow(unused_variables)]
            fn partials(&self, $pa: f32, $pb: f32, $py: f32) -> (f32, f32) {
                $partials
            }
        }

        #[doc = concat!("Node for `", $name, "` of two variables (elementwise, with broadcasting).")]
        ///
        /// ```
        /// use wyrm::*;
        #[doc = concat!("use wyrm::nodes::{", stringify!($alias), ", ", stringify!($marker), ", BinaryOp};")]
        /// let a = InputNode::new(ndarray::arr2(&[[1.0, 2.0], [3.0, 4.0]]));
        /// // One row, broadcast over the rows of `a`.
        /// let b = InputNode::new(ndarray::arr2(&[[8.0, 16.0]]));
        #[doc = concat!("let y: Variable<", stringify!($alias), "<InputNode, InputNode>> = ", stringify!($apply), ";")]
        /// y.forward();
        /// assert_eq!(y.shape(), (2, 2));
        #[doc = concat!("assert_eq!(y.value()[(1, 0)], ", stringify!($marker), ".apply(3.0, 8.0));")]
        /// ```
        pub type $alias<L, R> = Binary<$marker, L, R>;

        binary_op!(@impl $trait, $method, $marker, $alias, Variable<L>, Variable<R>);
        binary_op!(@impl $trait, $method, $marker, $alias, &Variable<L>, &Variable<R>);
        binary_op!(@impl $trait, $method, $marker, $alias, Variable<L>, &Variable<R>);
        binary_op!(@impl $trait, $method, $marker, $alias, &Variable<L>, Variable<R>);
    };
    // The operator on owned variables or references (which the node clones handles of).
    (@impl $trait:ident, $method:ident, $marker:ident, $alias:ident, $lhs:ty, $rhs:ty) => {
        impl<L: Node, R: Node> std::ops::$trait<$rhs> for $lhs
        where
            L::Rows: Broadcast<R::Rows>,
            L::Cols: Broadcast<R::Cols>,
        {
            type Output = Variable<$alias<L, R>>;
            #[track_caller]
            fn $method(self, rhs: $rhs) -> Self::Output {
                let node = Binary::new($marker, self.node().clone(), rhs.node().clone());
                Variable::with_links(node, &[self.links(), rhs.links()])
            }
        }
    };
}

binary_op!(
    /// `a + b`.
    ///
    /// ```
    /// use wyrm::*;
    /// use wyrm::nodes::{AddOp, Binary};
    /// let a = ParameterNode::new(ndarray::arr2(&[[6.0]]));
    /// let b = ParameterNode::new(ndarray::arr2(&[[2.0]]));
    /// let y: Variable<Binary<AddOp, ParameterNode, ParameterNode>> = a.clone() + b.clone();
    /// y.forward();
    /// y.backward(1.0);
    /// assert_eq!(y.value()[(0, 0)], 8.0);
    /// assert_eq!((a.gradient()[(0, 0)], b.gradient()[(0, 0)]), (1.0, 1.0));
    /// ```
    AddOp, Add, "add", Add, add,
    |a, b| a + b,
    |a, b, y| (1.0, 1.0),
    identity = (true, true),
    reads = (false, false)
);
binary_op!(
    /// `a - b`.
    ///
    /// ```
    /// use wyrm::*;
    /// use wyrm::nodes::{Binary, SubOp};
    /// let a = ParameterNode::new(ndarray::arr2(&[[6.0]]));
    /// let b = ParameterNode::new(ndarray::arr2(&[[2.0]]));
    /// let y: Variable<Binary<SubOp, ParameterNode, ParameterNode>> = a.clone() - b.clone();
    /// y.forward();
    /// y.backward(1.0);
    /// assert_eq!(y.value()[(0, 0)], 4.0);
    /// assert_eq!((a.gradient()[(0, 0)], b.gradient()[(0, 0)]), (1.0, -1.0));
    /// ```
    SubOp, Sub, "sub", Sub, sub,
    |a, b| a - b,
    |a, b, y| (1.0, -1.0),
    identity = (true, false),
    reads = (false, false)
);
binary_op!(
    /// `a * b` (elementwise; see `dot` for the matrix product).
    ///
    /// ```
    /// use wyrm::*;
    /// use wyrm::nodes::{Binary, MulOp};
    /// let a = ParameterNode::new(ndarray::arr2(&[[6.0]]));
    /// let b = ParameterNode::new(ndarray::arr2(&[[2.0]]));
    /// let y: Variable<Binary<MulOp, ParameterNode, ParameterNode>> = a.clone() * b.clone();
    /// y.forward();
    /// y.backward(1.0);
    /// assert_eq!(y.value()[(0, 0)], 12.0);
    /// // d/da = b, d/db = a
    /// assert_eq!((a.gradient()[(0, 0)], b.gradient()[(0, 0)]), (2.0, 6.0));
    /// ```
    MulOp, Mul, "mul", Mul, mul,
    |a, b| a * b,
    |a, b, y| (b, a),
    reads = (true, false)
);
binary_op!(
    /// `a / b`.
    ///
    /// ```
    /// use wyrm::*;
    /// use wyrm::nodes::{Binary, DivOp};
    /// let a = ParameterNode::new(ndarray::arr2(&[[6.0]]));
    /// let b = ParameterNode::new(ndarray::arr2(&[[2.0]]));
    /// let y: Variable<Binary<DivOp, ParameterNode, ParameterNode>> = a.clone() / b.clone();
    /// y.forward();
    /// y.backward(1.0);
    /// assert_eq!(y.value()[(0, 0)], 3.0);
    /// // d/da = 1 / b, d/db = -a / b²
    /// assert_eq!((a.gradient()[(0, 0)], b.gradient()[(0, 0)]), (0.5, -1.5));
    /// ```
    DivOp, Div, "div", Div, div,
    |a, b| a / b,
    |a, b, y| (1.0 / b, -y / b)
);

#[cfg(test)]
mod tests {
    use crate::*;
    use ndarray::arr2;

    #[test]
    fn values() {
        let a = ParameterNode::new(arr2(&[[1.0, 2.0], [3.0, 4.0]]));
        let b = InputNode::new(arr2(&[[2.0, 4.0], [6.0, 8.0]]));
        let s = a.clone() + b.clone();
        let d = a.clone() - b.clone();
        let m = a.clone() * b.clone();
        let q = a.clone() / b.clone();
        s.forward();
        d.forward();
        m.forward();
        q.forward();
        assert_eq!(s.value().to_owned(), arr2(&[[3.0, 6.0], [9.0, 12.0]]));
        assert_eq!(d.value().to_owned(), arr2(&[[-1.0, -2.0], [-3.0, -4.0]]));
        assert_eq!(m.value().to_owned(), arr2(&[[2.0, 8.0], [18.0, 32.0]]));
        assert_eq!(q.value().to_owned(), arr2(&[[0.5, 0.5], [0.5, 0.5]]));
    }

    /// A custom operation whose partials run another graph's backward pass, which needs
    /// the per-thread row of terms too (a repeated column): each use gets its own.
    #[test]
    fn a_nested_general_broadcast_gets_its_own_terms() {
        use crate::nodes::BinaryOp;
        thread_local! {
            static INNER: std::cell::RefCell<Option<Box<dyn FnMut()>>> =
                const { std::cell::RefCell::new(None) };
        }
        struct Nested;
        impl BinaryOp for Nested {
            const NAME: &'static str = "nested";
            fn apply(&self, a: f32, b: f32) -> f32 {
                a * b
            }
            fn partials(&self, a: f32, b: f32, _: f32) -> (f32, f32) {
                INNER.with(|inner| {
                    if let Ok(mut inner) = inner.try_borrow_mut() {
                        if let Some(run) = inner.as_mut() {
                            run();
                        }
                    }
                });
                (b, a)
            }
        }
        let column = ParameterNode::new(arr2(&[[2.0], [3.0]]));
        let inner = (column.clone() * InputNode::new(random_matrix(2, 3))).scalar_sum();
        INNER.with(|i| {
            *i.borrow_mut() = Some(Box::new(move || {
                inner.forward();
                inner.backward(1.0);
            }))
        });
        let a = ParameterNode::new(arr2(&[[1.0], [2.0], [3.0]]));
        let b = InputNode::new(arr2(&[[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]]));
        let y = a.combine(Nested, &b).scalar_sum();
        y.forward();
        y.backward(1.0);
        INNER.with(|i| *i.borrow_mut() = None);
        // d/da[r] = sum over the row of b.
        assert_eq!(a.gradient(), arr2(&[[3.0], [7.0], [11.0]]));
    }

    /// An operation that carries a parameter: each node uses its own value, in every
    /// layout (the same shapes, a broadcast row, column or single value), and its
    /// gradients match finite differences.
    #[test]
    fn combine_uses_each_operations_own_parameters() {
        use crate::nodes::BinaryOp;
        /// `t a² + (1 - t) a b`.
        struct Blend {
            t: f32,
        }
        impl BinaryOp for Blend {
            const NAME: &'static str = "blend";
            fn apply(&self, a: f32, b: f32) -> f32 {
                self.t * a * a + (1.0 - self.t) * a * b
            }
            fn partials(&self, a: f32, b: f32, _: f32) -> (f32, f32) {
                (2.0 * self.t * a + (1.0 - self.t) * b, (1.0 - self.t) * a)
            }
        }
        for rhs in [(3, 4), (1, 4), (3, 1), (1, 1)] {
            let a = ParameterNode::new(random_matrix(3, 4));
            let b = ParameterNode::new(random_matrix(rhs.0, rhs.1));
            let quarter = a.combine(Blend { t: 0.25 }, &b);
            quarter.forward();
            let (av, bv) = (a.value(), b.value());
            let expected = &av * &av * 0.25 + &av * &bv * 0.75;
            for (y, e) in quarter.value().iter().zip(&expected) {
                assert!((y - e).abs() < 1e-6, "{rhs:?}: {y} against {e}");
            }
            let y = (quarter * a.combine(Blend { t: 2.0 }, &b).tanh()).scalar_sum();
            gradcheck::assert_gradient(&y, &a);
            gradcheck::assert_gradient(&y, &b);
        }
    }

    #[test]
    fn references_work_like_values() {
        let a = ParameterNode::new(arr2(&[[1.0, 2.0]]));
        let b = InputNode::new(arr2(&[[3.0, 4.0]]));
        // a * b + a / b - a * b, through each form.
        let y = (&a * &b + &a / b.clone() - a.clone() * &b).scalar_sum();
        y.forward();
        assert!((y.value()[(0, 0)] - (1.0 / 3.0 + 2.0 / 4.0)).abs() < 1e-6);
        y.backward(1.0);
        let g = a.gradient();
        assert!((g[(0, 0)] - 1.0 / 3.0).abs() < 1e-6 && (g[(0, 1)] - 0.25).abs() < 1e-6);
    }

    #[test]
    fn gradients() {
        for shape in [(1, 1), (3, 4)] {
            for_each_binary(shape, shape);
        }
    }

    #[test]
    fn broadcast_gradients() {
        for_each_binary((3, 4), (1, 4));
        for_each_binary((5, 1), (1, 1));
        for_each_binary((3, 4), (3, 1));
        for_each_binary((1, 4), (3, 4));
        for_each_binary((3, 1), (1, 4));
    }

    #[test]
    fn broadcast_values_in_every_direction() {
        let m = arr2(&[[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]]);
        let row = arr2(&[[10.0, 20.0, 30.0]]);
        let col = arr2(&[[100.0], [200.0]]);
        let one = arr2(&[[1000.0]]);
        let sum = |a: &ndarray::Array2<f32>, b: &ndarray::Array2<f32>| {
            let y = InputNode::new(a.clone()) - InputNode::new(b.clone());
            y.forward();
            y.value().to_owned()
        };
        // Each against ndarray's own broadcasting.
        for (a, b) in [
            (&m, &col),
            (&col, &m),
            (&row, &m),
            (&m, &one),
            (&one, &m),
            (&col, &row),
            (&row, &col),
        ] {
            assert_eq!(sum(a, b), a - b, "{:?} - {:?}", a.shape(), b.shape());
        }
    }

    #[test]
    fn a_repeated_operand_collects_its_gradient_from_every_use() {
        let x = ParameterNode::new(arr2(&[[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]]));
        let col = ParameterNode::new(arr2(&[[2.0], [3.0]]));
        let row = ParameterNode::new(arr2(&[[1.0, 10.0, 100.0]]));
        let y = (row.clone() * x.clone() / col.clone()).scalar_sum();
        y.forward();
        y.backward(1.0);
        // d/d row[j] = sum_i x[i][j] / col[i]; d/d col[i] = -sum_j row[j] x[i][j] / col[i]².
        let row_grad = arr2(&[[
            1.0 / 2.0 + 4.0 / 3.0,
            2.0 / 2.0 + 5.0 / 3.0,
            3.0 / 2.0 + 2.0,
        ]]);
        let col_grad = arr2(&[[-321.0 / 4.0], [-654.0 / 9.0]]);
        let x_grad = arr2(&[[0.5, 5.0, 50.0], [1.0 / 3.0, 10.0 / 3.0, 100.0 / 3.0]]);
        for (got, want) in [(row, row_grad), (col, col_grad), (x, x_grad)] {
            let got = got.gradient();
            let close = got.iter().zip(&want).all(|(g, w)| (g - w).abs() < 1e-3);
            assert!(close, "{got} against {want}");
        }
    }

    fn for_each_binary(ls: (usize, usize), rs: (usize, usize)) {
        let a = || ParameterNode::new(random_matrix(ls.0, ls.1));
        // Keep divisors away from zero (|b| >= 1; `v + 3.0` still came near 0 now and then).
        let b = || ParameterNode::new(random_matrix(rs.0, rs.1).mapv(|v| v + v.signum()));
        let (x, y) = (a(), b());
        check_all(&(x.clone() + y.clone()), &[&x, &y]);
        let (x, y) = (a(), b());
        check_all(&(x.clone() - y.clone()), &[&x, &y]);
        let (x, y) = (a(), b());
        check_all(&(x.clone() * y.clone()), &[&x, &y]);
        let (x, y) = (a(), b());
        check_all(&(x.clone() / y.clone()), &[&x, &y]);
    }

    fn check_all<T: Node>(out: &Variable<T>, params: &[&Variable<ParameterNode>]) {
        for p in params {
            gradcheck::assert_gradient(out, *p);
        }
    }

    #[test]
    fn broadcast_is_recomputed_every_pass() {
        // wyrm 0.9 broadcast the bias once, at construction.
        let x = InputNode::new(arr2(&[[1.0, 2.0], [3.0, 4.0]]));
        let bias = ParameterNode::new(arr2(&[[10.0, 20.0]]));
        let y = x.clone() + bias.clone();
        y.forward();
        bias.set_value(&arr2(&[[100.0, 200.0]]));
        x.set_value(arr2(&[[0.0, 0.0], [1.0, 1.0]]));
        y.forward();
        assert_eq!(
            y.value().to_owned(),
            arr2(&[[100.0, 200.0], [101.0, 201.0]])
        );
    }

    #[test]
    #[should_panic(
        expected = "shape mismatch in `mul`: cannot combine a 2x3 (left) with a 3x2 (right)"
    )]
    fn mismatch_panics_at_construction() {
        let _ = InputNode::new(random_matrix(2, 3)) * InputNode::new(random_matrix(3, 2));
    }

    #[test]
    fn a_row_without_columns_broadcasts() {
        let a = ParameterNode::new(ndarray::Array2::zeros((3, 0)));
        let b = ParameterNode::new(ndarray::Array2::zeros((1, 0)));
        let r = ParameterNode::new(ndarray::Array2::ones((3, 1)));
        let sum = (a.clone() + b.clone()) * b.clone();
        assert_eq!(sum.shape(), (3, 0));
        let loss = sum.stack(&r, ndarray::Axis(1)).scalar_sum();
        loss.forward();
        loss.backward(1.0);
        assert_eq!(r.gradient(), ndarray::Array2::ones((3, 1)));
    }

    #[test]
    fn a_broadcast_row_over_no_rows_gets_a_zero_gradient() {
        let b = ParameterNode::new(ndarray::arr2(&[[1.0, 2.0]]));
        for op in 0..4 {
            let a = ParameterNode::new(ndarray::Array2::zeros((0, 2)));
            let y = match op {
                0 => (a - b.clone()).boxed(),
                1 => (a + b.clone()).boxed(),
                2 => (a * b.clone()).boxed(),
                _ => (a / b.clone()).boxed(),
            };
            b.zero_gradient();
            y.forward();
            y.backward(1.0);
            assert_eq!(b.gradient(), arr2(&[[0.0, 0.0]]), "op {op}");
        }
    }
}
