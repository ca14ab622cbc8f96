//! How a node owns its operands.

use std::mem::ManuallyDrop;
use std::ops::Deref;
use std::rc::Rc;

/// A node's operand: an `Rc<T>` that the compiler's drop check does not look through.
///
/// A typed graph's type nests one node type per operation, and the drop check walks a
/// plain `Rc<T>` field down into `T`'s fields, one level of the compiler's recursion limit
/// (128 by default) after another. A chain of about 60 operations then failed to build
/// with "overflow while adding drop-check rules", an error that names neither the cause nor
/// the cure. The drop check stops at `ManuallyDrop`, and this type's `Drop` only adds the
/// requirement that `T` outlive it, so the check now costs a fixed depth per node and no
/// longer limits a graph's depth; trait solving and instantiation still do, at about 120
/// operations (`tests/it/deep_graph.rs`, [`Variable::boxed`](crate::Variable::boxed)).
///
/// That requirement is stricter than `Rc`'s (whose `Drop` is `#[may_dangle]`, unstable):
/// data that a custom node borrows must now outlive the graph over it even when the node
/// has no `Drop` of its own, which is sound and which the compiler reports as "`data` does
/// not live long enough".
///
/// It dereferences to the node, so operands are used as the `Rc<T>` they wrap was.
pub(crate) struct Child<T>(ManuallyDrop<Rc<T>>);

impl<T> Child<T> {
    /// Takes ownership of `node`.
    #[inline]
    pub(crate) fn new(node: Rc<T>) -> Self {
        Child(ManuallyDrop::new(node))
    }
}

impl<T> Deref for Child<T> {
    type Target = T;

    #[inline(always)]
    fn deref(&self) -> &T {
        &self.0
    }
}

impl<T> Drop for Child<T> {
    fn drop(&mut self) {
        // SAFETY: the `Rc` is dropped exactly once, here, and not used afterwards: `Drop`
        // runs once and nothing else takes it out of the `ManuallyDrop`.
        unsafe { ManuallyDrop::drop(&mut self.0) }
    }
}

#[cfg(test)]
mod tests {
    use super::Child;
    use std::rc::Rc;

    #[test]
    fn drops_its_reference_once() {
        let node = Rc::new(5);
        let child = Child::new(Rc::clone(&node));
        assert_eq!(*child, 5);
        assert_eq!(Rc::strong_count(&node), 2);
        drop(child);
        assert_eq!(Rc::strong_count(&node), 1);
    }
}
