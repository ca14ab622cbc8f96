//! What a [`Concat`](super::Concat) can join: a tuple of node types, each operand typed on
//! its own (2 to 12 of them), or a slice `[N]` of one node type (any number).
//!
//! The node reaches its operands by position through [`ConcatOperands`], whose methods
//! a tuple implements with one `match` arm per element: the calls stay static (no
//! `dyn`), and with a tuple's fixed count the loops over them unroll.

use crate::node::{Node, Pass};
use crate::variable::Operand;
use crate::Variable;
use std::cell::Ref;
use std::rc::Rc;

mod sealed {
    /// Keeps the operand kinds to the ones this file implements.
    pub trait Sealed {}
}

/// The operand types of a [`Concat`](super::Concat): a tuple `(A, B, ..)` of 2 to 12 node
/// types, or a slice `[N]` of one node type. Implemented by this crate only; the methods
/// are the node's business.
///
/// ```
/// use wyrm::*;
/// use wyrm::ndarray::Axis;
/// use wyrm::nodes::{Concat, Tanh};
/// let a = InputNode::new(random_matrix(2, 3));
/// let b = ParameterNode::new(random_matrix(2, 1));
/// // Operands of different types: a tuple.
/// let mixed: Variable<Concat<(InputNode, Tanh<ParameterNode>)>> =
///     concat((&a, &b.tanh()), Axis(1));
/// // Operands of one type: a slice.
/// let same: Variable<Concat<[InputNode]>> = concat(&[a.clone(), a.clone(), a], Axis(0));
/// assert_eq!((mixed.shape(), same.shape()), ((2, 4), (6, 3)));
/// ```
pub trait ConcatOperands: sealed::Sealed {
    /// How the node holds the operands.
    #[doc(hidden)]
    type Nodes;
    /// How many operands there are.
    #[doc(hidden)]
    fn count(nodes: &Self::Nodes) -> usize;
    /// Operand `i`'s shape.
    #[doc(hidden)]
    fn shape(nodes: &Self::Nodes, i: usize) -> (usize, usize);
    /// Runs operand `i`'s forward pass.
    #[doc(hidden)]
    fn forward(nodes: &Self::Nodes, i: usize, pass: Pass);
    /// Operand `i`'s value.
    #[doc(hidden)]
    fn value(nodes: &Self::Nodes, i: usize) -> Ref<'_, [f32]>;
    /// Whether operand `i` needs a gradient.
    #[doc(hidden)]
    fn needs_gradient(nodes: &Self::Nodes, i: usize) -> bool;
    /// Whether operand `i` discards its gradient.
    #[doc(hidden)]
    fn discards_gradient(nodes: &Self::Nodes, i: usize) -> bool;
    /// Sends operand `i` its gradient.
    #[doc(hidden)]
    fn backward(nodes: &Self::Nodes, i: usize, gradient: &[f32]);
    /// Tells operand `i` that no gradient comes.
    #[doc(hidden)]
    fn backward_nothing(nodes: &Self::Nodes, i: usize);
}

/// What [`concat`](crate::concat) takes: a tuple of 2 to 12 variable references
/// `(&a, &b, ..)` of any node types, or the variables of one node type as a slice, an
/// array or a `Vec` (by reference), of variables or of references to them
/// (`&[&a, &b]`). Implemented by this crate only.
///
/// ```
/// use wyrm::*;
/// use wyrm::ndarray::Axis;
/// let fields: Vec<_> = (0..3).map(|_| ParameterNode::new(random_matrix(1, 4))).collect();
/// let bias = InputNode::new(random_matrix(1, 2));
/// assert_eq!(concat(&fields, Axis(1)).shape(), (1, 12));
/// assert_eq!(concat(&fields[..2], Axis(0)).shape(), (2, 4));
/// assert_eq!(concat((&fields[0], &bias), Axis(1)).shape(), (1, 6));
/// assert_eq!(concat(&[&fields[2], &fields[0]], Axis(0)).shape(), (2, 4));
/// ```
#[diagnostic::on_unimplemented(
    message = "`concat` cannot take `{Self}`",
    label = "not a list of variables",
    note = "`concat` takes a tuple of 2 to 12 references `(&a, &b, ..)`, or variables of one \
            node type by reference: `&[a, b]`, `&vec`, `&vec[..]`, or the same of references \
            (`&[&a, &b]`)"
)]
pub trait ConcatInput<'a>: sealed::Sealed {
    /// The operands' node types.
    type Operands: ConcatOperands + ?Sized;
    /// The operands' nodes, and each operand for the result's links.
    #[doc(hidden)]
    fn split(self) -> (<Self::Operands as ConcatOperands>::Nodes, Vec<Operand<'a>>);
}

impl<N: Node> sealed::Sealed for [N] {}

impl<N: Node> ConcatOperands for [N] {
    type Nodes = Vec<Rc<N>>;

    #[inline(always)]
    fn count(nodes: &Self::Nodes) -> usize {
        nodes.len()
    }

    #[inline(always)]
    fn shape(nodes: &Self::Nodes, i: usize) -> (usize, usize) {
        nodes[i].shape()
    }

    #[inline(always)]
    fn forward(nodes: &Self::Nodes, i: usize, pass: Pass) {
        nodes[i].forward(pass)
    }

    #[inline(always)]
    fn value(nodes: &Self::Nodes, i: usize) -> Ref<'_, [f32]> {
        nodes[i].value()
    }

    #[inline(always)]
    fn needs_gradient(nodes: &Self::Nodes, i: usize) -> bool {
        nodes[i].needs_gradient()
    }

    #[inline(always)]
    fn discards_gradient(nodes: &Self::Nodes, i: usize) -> bool {
        nodes[i].discards_gradient()
    }

    #[inline(always)]
    fn backward(nodes: &Self::Nodes, i: usize, gradient: &[f32]) {
        nodes[i].backward(gradient)
    }

    #[inline(always)]
    fn backward_nothing(nodes: &Self::Nodes, i: usize) {
        nodes[i].backward_nothing()
    }
}

/// The slice, array and `Vec` inputs, of variables or of references to them: all give
/// `[N]`.
fn split_variables<'a, N: Node + 'a>(
    variables: impl Iterator<Item = &'a Variable<N>> + Clone,
) -> (Vec<Rc<N>>, Vec<Operand<'a>>) {
    let nodes = variables.clone().map(|v| v.node().clone()).collect();
    (nodes, variables.map(Operand::from).collect())
}

/// Implements [`ConcatInput`] for a container of variables (`$v` the element type, a
/// variable or a reference to one).
macro_rules! list_input {
    ($($container:ty => $v:ty, [$($generics:tt)*];)+) => {$(
        impl<$($generics)*> sealed::Sealed for &$container {}

        impl<'a, $($generics)*> ConcatInput<'a> for &'a $container {
            type Operands = [N];

            fn split(self) -> (Vec<Rc<N>>, Vec<Operand<'a>>) {
                split_variables(self.iter().map(|v: &$v| -> &Variable<N> { v }))
            }
        }
    )+};
}

list_input! {
    [Variable<N>] => Variable<N>, [N: Node];
    [Variable<N>; K] => Variable<N>, [N: Node, const K: usize];
    Vec<Variable<N>> => Variable<N>, [N: Node];
    [&'b Variable<N>] => &'b Variable<N>, ['b, N: Node];
    [&'b Variable<N>; K] => &'b Variable<N>, ['b, N: Node, const K: usize];
    Vec<&'b Variable<N>> => &'b Variable<N>, ['b, N: Node];
}

/// Implements the operand traits for a tuple of the given node types, each with its
/// position.
macro_rules! tuple_operands {
    ($($T:ident $i:tt),+) => {
        impl<$($T: Node),+> sealed::Sealed for ($($T,)+) {}

        impl<$($T: Node),+> ConcatOperands for ($($T,)+) {
            type Nodes = ($(Rc<$T>,)+);

            #[inline(always)]
            fn count(_: &Self::Nodes) -> usize {
                [$($i),+].len()
            }

            #[inline(always)]
            fn shape(nodes: &Self::Nodes, i: usize) -> (usize, usize) {
                match i {
                    $($i => nodes.$i.shape(),)+
                    _ => unreachable!("operand {i} of a {}-tuple", Self::count(nodes)),
                }
            }

            #[inline(always)]
            fn forward(nodes: &Self::Nodes, i: usize, pass: Pass) {
                match i {
                    $($i => nodes.$i.forward(pass),)+
                    _ => unreachable!("operand {i} of a {}-tuple", Self::count(nodes)),
                }
            }

            #[inline(always)]
            fn value(nodes: &Self::Nodes, i: usize) -> Ref<'_, [f32]> {
                match i {
                    $($i => nodes.$i.value(),)+
                    _ => unreachable!("operand {i} of a {}-tuple", Self::count(nodes)),
                }
            }

            #[inline(always)]
            fn needs_gradient(nodes: &Self::Nodes, i: usize) -> bool {
                match i {
                    $($i => nodes.$i.needs_gradient(),)+
                    _ => unreachable!("operand {i} of a {}-tuple", Self::count(nodes)),
                }
            }

            #[inline(always)]
            fn discards_gradient(nodes: &Self::Nodes, i: usize) -> bool {
                match i {
                    $($i => nodes.$i.discards_gradient(),)+
                    _ => unreachable!("operand {i} of a {}-tuple", Self::count(nodes)),
                }
            }

            #[inline(always)]
            fn backward(nodes: &Self::Nodes, i: usize, gradient: &[f32]) {
                match i {
                    $($i => nodes.$i.backward(gradient),)+
                    _ => unreachable!("operand {i} of a {}-tuple", Self::count(nodes)),
                }
            }

            #[inline(always)]
            fn backward_nothing(nodes: &Self::Nodes, i: usize) {
                match i {
                    $($i => nodes.$i.backward_nothing(),)+
                    _ => unreachable!("operand {i} of a {}-tuple", Self::count(nodes)),
                }
            }
        }

        impl<$($T: Node),+> sealed::Sealed for ($(&Variable<$T>,)+) {}

        impl<'a, $($T: Node),+> ConcatInput<'a> for ($(&'a Variable<$T>,)+) {
            type Operands = ($($T,)+);

            fn split(self) -> (($(Rc<$T>,)+), Vec<Operand<'a>>) {
                (($(self.$i.node().clone(),)+), vec![$(Operand::from(self.$i)),+])
            }
        }
    };
}

tuple_operands!(A 0, B 1);
tuple_operands!(A 0, B 1, C 2);
tuple_operands!(A 0, B 1, C 2, D 3);
tuple_operands!(A 0, B 1, C 2, D 3, E 4);
tuple_operands!(A 0, B 1, C 2, D 3, E 4, F 5);
tuple_operands!(A 0, B 1, C 2, D 3, E 4, F 5, G 6);
tuple_operands!(A 0, B 1, C 2, D 3, E 4, F 5, G 6, H 7);
tuple_operands!(A 0, B 1, C 2, D 3, E 4, F 5, G 6, H 7, I 8);
tuple_operands!(A 0, B 1, C 2, D 3, E 4, F 5, G 6, H 7, I 8, J 9);
tuple_operands!(A 0, B 1, C 2, D 3, E 4, F 5, G 6, H 7, I 8, J 9, K 10);
tuple_operands!(A 0, B 1, C 2, D 3, E 4, F 5, G 6, H 7, I 8, J 9, K 10, L 11);
