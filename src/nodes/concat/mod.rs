//! Concatenation along rows or columns: `concat(operands, Axis)` joins any number of
//! variables, `a.stack(&b, Axis)` two.

mod operands;
#[cfg(test)]
mod tests;

pub use operands::{ConcatInput, ConcatOperands};

use crate::node::{Node, NodeState, Pass, Scratch};
use crate::shape::{fmt_shape, Dyn};
use crate::Variable;
use ndarray::Axis;
use std::cell::Ref;
use std::marker::PhantomData;
use std::rc::Rc;

/// Node concatenating its operands in order: along `Axis(0)` each operand's rows go below
/// the previous one's (column counts must match); along `Axis(1)` each operand's columns
/// go to the right of the previous one's (row counts must match).
///
/// `P` lists the operands' node types: a tuple `(A, B, ..)` when they differ (as
/// [`stack`](crate::Variable::stack) builds, and [`concat`](crate::concat) of a tuple), a
/// slice `[N]` when they are all of one type (from [`concat`](crate::concat) of a slice,
/// array or `Vec`).
///
/// ```
/// use wyrm::*;
/// use wyrm::ndarray::{arr2, Axis};
/// use wyrm::nodes::{Concat, Stack};
/// let a = InputNode::new(arr2(&[[1.0], [2.0]]));
/// let b = ParameterNode::new(arr2(&[[3.0, 4.0], [5.0, 6.0]]));
/// let y: Variable<Stack<InputNode, ParameterNode>> = a.stack(&b, Axis(1));
/// assert_eq!(y.shape(), (2, 3));
/// y.forward();
/// assert_eq!(y.value(), arr2(&[[1.0, 3.0, 4.0], [2.0, 5.0, 6.0]]));
///
/// let z: Variable<Concat<[InputNode]>> = concat(&[a.clone(), a.clone(), a], Axis(1));
/// z.forward();
/// assert_eq!(z.value(), arr2(&[[1.0, 1.0, 1.0], [2.0, 2.0, 2.0]]));
/// ```
pub struct Concat<P: ConcatOperands + ?Sized> {
    /// `ManuallyDrop` (dropped in `Drop`): keeps the drop check from walking into the
    /// operands' types, as `Child` does.
    operands: std::mem::ManuallyDrop<P::Nodes>,
    /// Where each operand starts along the axis (its first row or column in the result),
    /// and then where the last one ends.
    offsets: Box<[usize]>,
    /// `true` for `Axis(0)` (stacking rows), `false` for `Axis(1)` (stacking columns).
    rows: bool,
    state: NodeState,
    /// One operand's gradient at a time, gathered from the result's columns (`Axis(1)`
    /// only: along `Axis(0)` an operand's gradient is a contiguous part of the result's).
    scratch: Scratch,
    needs_gradient: bool,
    /// See [`Node::discards_gradient`].
    discards: bool,
    types: PhantomData<fn() -> Box<P>>,
}

impl<P: ConcatOperands + ?Sized> Drop for Concat<P> {
    fn drop(&mut self) {
        // SAFETY: `operands` is dropped exactly once, here (`Drop` runs once, and nothing
        // else takes it out of the `ManuallyDrop`), and the node is not used afterwards.
        unsafe { std::mem::ManuallyDrop::drop(&mut self.operands) }
    }
}

/// Two variables stacked by [`Variable::stack`]: a [`Concat`] of two operands.
pub type Stack<L, R> = Concat<(L, R)>;

impl<L: Node, R: Node> Concat<(L, R)> {
    /// Builds the node of [`stack`](Variable::stack) over its two operands' nodes.
    ///
    /// ```
    /// use wyrm::*;
    /// use wyrm::ndarray::{arr2, Axis};
    /// use wyrm::nodes::Stack;
    /// let a = ParameterNode::new(arr2(&[[1.0, 2.0]]));
    /// let b = InputNode::new(arr2(&[[3.0, 4.0]]));
    /// // The node `a.stack(&b, Axis(0))` builds, wrapped over its operands.
    /// let node = Stack::new(a.node().clone(), b.node().clone(), Axis(0));
    /// let y = Variable::with_operands(node, &[(&a).into(), (&b).into()]);
    /// y.forward();
    /// y.backward(1.0);
    /// assert_eq!(y.value(), arr2(&[[1.0, 2.0], [3.0, 4.0]]));
    /// assert_eq!(a.gradient(), arr2(&[[1.0, 1.0]]));
    /// ```
    ///
    /// # Panics
    /// If `axis` is neither `Axis(0)` nor `Axis(1)`, or if the operands' other dimensions
    /// differ; the message names `stack`, the axis and both shapes.
    #[track_caller]
    pub fn new(lhs: Rc<L>, rhs: Rc<R>, axis: Axis) -> Self {
        Concat::build((lhs, rhs), axis, "stack")
    }
}

impl<P: ConcatOperands + ?Sized> Concat<P> {
    /// Builds the node over the operands' nodes: for a tuple `P = (A, B, ..)`, a tuple
    /// `(Rc<A>, Rc<B>, ..)`; for a slice `P = [N]`, a `Vec<Rc<N>>` (at least one).
    ///
    /// ```
    /// use std::rc::Rc;
    /// use wyrm::*;
    /// use wyrm::ndarray::{arr2, Axis};
    /// use wyrm::nodes::Concat;
    /// let rows: Vec<_> = (0..3).map(|i| ParameterNode::new(arr2(&[[i as f32]]))).collect();
    /// let nodes: Vec<Rc<_>> = rows.iter().map(|r| r.node().clone()).collect();
    /// let operands: Vec<Operand> = rows.iter().map(Operand::from).collect();
    /// // The node `concat(&rows, Axis(0))` builds, wrapped over its operands.
    /// let node = Concat::<[_]>::from_nodes(nodes, Axis(0));
    /// let y = Variable::with_operands(node, &operands);
    /// y.forward();
    /// y.backward(1.0);
    /// assert_eq!(y.value(), arr2(&[[0.0], [1.0], [2.0]]));
    /// assert_eq!(rows[2].gradient(), arr2(&[[1.0]]));
    /// ```
    ///
    /// # Panics
    /// If there are no operands, if `axis` is neither `Axis(0)` nor `Axis(1)`, or if the
    /// operands' other dimensions differ; the message names `concat`, the axis and the
    /// shapes.
    #[track_caller]
    pub fn from_nodes(operands: P::Nodes, axis: Axis) -> Self {
        Concat::build(operands, axis, "concat")
    }

    /// [`Concat::from_nodes`], with `op` naming the user's call in messages.
    #[track_caller]
    fn build(operands: P::Nodes, axis: Axis, op: &str) -> Self {
        let count = P::count(&operands);
        let shapes: Vec<_> = (0..count).map(|i| P::shape(&operands, i)).collect();
        let (shape, offsets) = layout(&shapes, axis, op);
        let parts = (0..count).map(|i| {
            (
                P::needs_gradient(&operands, i),
                P::discards_gradient(&operands, i),
            )
        });
        let parts: Vec<_> = parts.collect();
        let rows = axis.index() == 0;
        // Along Axis(0) the gradients are handed on in place, so nothing is gathered.
        let scratch = if rows {
            0
        } else {
            shapes.iter().map(|s| s.0 * s.1).max().unwrap_or(0)
        };
        Concat {
            needs_gradient: parts.iter().any(|&(needs, _)| needs),
            discards: crate::node::discards(&parts),
            offsets,
            rows,
            state: NodeState::new(shape),
            scratch: Scratch::new(scratch),
            operands: std::mem::ManuallyDrop::new(operands),
            types: PhantomData,
        }
    }

    /// Operand `i`'s first and past-the-last row or column in the result.
    #[inline(always)]
    fn span(&self, i: usize) -> (usize, usize) {
        (self.offsets[i], self.offsets[i + 1])
    }

    /// Sends the complete gradient `g` of this node's value on to the operands.
    fn propagate(&self, g: &[f32]) {
        let (rows, cols) = self.state.shape();
        for i in 0..P::count(&self.operands) {
            if !P::needs_gradient(&self.operands, i) {
                continue;
            }
            // An operand whose gradient would be discarded is sent nothing instead.
            if P::discards_gradient(&self.operands, i) {
                P::backward_nothing(&self.operands, i);
                continue;
            }
            let (start, end) = self.span(i);
            if self.rows {
                P::backward(&self.operands, i, &g[start * cols..end * cols]);
            } else {
                let width = end - start;
                let mut part = self.scratch.borrow_mut();
                let part = &mut part[..rows * width];
                if width > 0 {
                    for (p, gr) in part.chunks_exact_mut(width).zip(g.chunks_exact(cols)) {
                        p.copy_from_slice(&gr[start..end]);
                    }
                }
                P::backward(&self.operands, i, part);
            }
        }
    }
}

/// The result's shape and each operand's offset along `axis` (with the total at the
/// end), or a panic naming `op`, the axis and the shapes that do not fit.
#[track_caller]
fn layout(shapes: &[(usize, usize)], axis: Axis, op: &str) -> ((usize, usize), Box<[usize]>) {
    let listed = || {
        shapes
            .iter()
            .map(|&s| fmt_shape(s))
            .collect::<Vec<_>>()
            .join(", ")
    };
    assert!(
        !shapes.is_empty(),
        "`{op}` needs at least one operand to concatenate, got none"
    );
    let along = match axis.index() {
        0 => 0,
        1 => 1,
        n => panic!(
            "`{op}`: Axis({n}) does not exist for 2-D operands ({}); use Axis(0) to stack \
             rows or Axis(1) to stack columns",
            listed()
        ),
    };
    let across = |s: (usize, usize)| if along == 0 { s.1 } else { s.0 };
    if let Some(bad) = shapes.iter().position(|&s| across(s) != across(shapes[0])) {
        let needs = [
            "rows needs equal column counts",
            "columns needs equal row counts",
        ];
        if op == "stack" {
            let (first, second) = [("(top) on", "(bottom)"), ("(left) beside", "(right)")][along];
            panic!(
                "shape mismatch in `stack` along Axis({along}): cannot stack a {} {first} a {} \
                 {second}; stacking {}",
                fmt_shape(shapes[0]),
                fmt_shape(shapes[bad]),
                needs[along]
            );
        }
        panic!(
            "shape mismatch in `{op}` along Axis({along}): operand {bad} is {} but operand 0 \
             is {} (all operands: {}); concatenating {}",
            fmt_shape(shapes[bad]),
            fmt_shape(shapes[0]),
            listed(),
            needs[along]
        );
    }
    let mut offsets = Vec::with_capacity(shapes.len() + 1);
    let mut total = 0;
    for &s in shapes {
        offsets.push(total);
        total += if along == 0 { s.0 } else { s.1 };
    }
    offsets.push(total);
    let shape = if along == 0 {
        (total, shapes[0].1)
    } else {
        (shapes[0].0, total)
    };
    (shape, offsets.into_boxed_slice())
}

impl<P: ConcatOperands + ?Sized> Node for Concat<P> {
    type Rows = Dyn;
    type Cols = Dyn;

    #[inline(always)]
    fn shape(&self) -> (usize, usize) {
        self.state.shape()
    }

    fn forward(&self, pass: Pass) {
        if !self.state.visit(pass) {
            return;
        }
        let count = P::count(&self.operands);
        for i in 0..count {
            P::forward(&self.operands, i, pass);
        }
        let cols = self.state.shape().1;
        let mut y = self.state.value_mut();
        for i in 0..count {
            let value = P::value(&self.operands, i);
            let (start, end) = self.span(i);
            if self.rows {
                y[start * cols..end * cols].copy_from_slice(&value);
            } else if end > start {
                for (yr, vr) in y
                    .chunks_exact_mut(cols)
                    .zip(value.chunks_exact(end - start))
                {
                    yr[start..end].copy_from_slice(vr);
                }
            }
        }
    }

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
            self.state.gather_nothing(
                |g| self.propagate(g),
                || {
                    for i in 0..P::count(&self.operands) {
                        if P::needs_gradient(&self.operands, i) {
                            P::backward_nothing(&self.operands, i);
                        }
                    }
                },
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

/// Concatenates any number of variables along `axis`, in order: `Axis(0)` puts each
/// operand's rows below the previous one's (column counts must match), `Axis(1)` puts
/// each operand's columns to the right of the previous one's (row counts must match).
/// The result has run-time shape, and its value is written once per forward pass where a
/// chain of [`stack`](Variable::stack)s would copy each operand again at every link.
///
/// `operands` is a tuple of 2 to 12 references `(&a, &b, ..)`, whose node types may
/// differ, or the variables of one node type as a slice, array or `Vec`, by reference
/// (any number, at least one). Operands of many different types can be made one type with
/// [`boxed`](Variable::boxed).
///
/// A batch made by joining per-example graphs along rows (32 copies of a sentence's
/// graph) costs more than running one example's graph 32 times with the gradients adding
/// up between optimizer steps (call `step` after the 32nd `backward`): a new user's text
/// CNN took 2.9 ms per 32 sentences joined, 1.8 ms with one graph reused (and, with one
/// graph per sentence length, no padding).
///
/// ```
/// use wyrm::*;
/// use wyrm::ndarray::Axis;
/// // One embedding per categorical field, side by side with dense features.
/// let tables: Vec<_> = (0..3).map(|_| ParameterNode::new(random_matrix(10, 4))).collect();
/// let ids: Vec<_> = (0..3).map(|_| IndexInputNode::new(&[0, 0])).collect();
/// let fields: Vec<_> = tables.iter().zip(&ids).map(|(t, i)| t.index(i)).collect();
/// let dense = InputNode::new(random_matrix(2, 5));
/// let features = concat((&concat(&fields, Axis(1)), &dense), Axis(1));
/// assert_eq!(features.shape(), (2, 17));
///
/// let rows = concat(&[dense.clone(), dense.clone(), dense], Axis(0));
/// assert_eq!(rows.shape(), (6, 5));
/// # features.forward();
/// # rows.forward();
/// ```
///
/// # Panics
/// At construction, if there are no operands, if the shapes do not fit along `axis`, or
/// if `axis` is not 0 or 1; the message names `concat`, the axis and the shapes.
#[track_caller]
pub fn concat<'a, I: ConcatInput<'a>>(operands: I, axis: Axis) -> Variable<Concat<I::Operands>> {
    let (nodes, links) = operands.split();
    Variable::with_operands(Concat::build(nodes, axis, "concat"), &links)
}

impl<L: Node> Variable<L> {
    /// Concatenates `self` and `other`: `Axis(0)` puts the rows of `other` below those of
    /// `self` (column counts must match), `Axis(1)` puts the columns of `other` to the
    /// right of those of `self` (row counts must match). The result has run-time shape.
    /// For more than two operands, [`concat`](crate::concat) joins them in one node.
    ///
    /// ```
    /// use wyrm::*;
    /// use wyrm::ndarray::{arr2, Axis};
    /// let a = InputNode::new(arr2(&[[1.0, 2.0]]));
    /// let b = InputNode::new(arr2(&[[3.0, 4.0]]));
    /// let rows = a.stack(&b, Axis(0));
    /// let cols = a.stack(&b, Axis(1));
    /// rows.forward();
    /// cols.forward();
    /// assert_eq!(rows.value().to_owned(), arr2(&[[1.0, 2.0], [3.0, 4.0]]));
    /// assert_eq!(cols.value().to_owned(), arr2(&[[1.0, 2.0, 3.0, 4.0]]));
    /// ```
    ///
    /// # Panics
    /// At construction, if the shapes do not fit along `axis` or `axis` is not 0 or 1; the
    /// message names `stack`, the axis and both shapes.
    #[track_caller]
    pub fn stack<R: Node>(&self, other: &Variable<R>, axis: Axis) -> Variable<Stack<L, R>> {
        let node = Concat::build((self.node().clone(), other.node().clone()), axis, "stack");
        Variable::with_operands(node, &[self.into(), other.into()])
    }
}
