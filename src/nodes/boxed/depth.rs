//! Bounded recursion through chains of boxed nodes.
//!
//! Forward and backward passes, and drops, recurse from a node into its operands. Typed
//! graphs are as deep as their types, but boxed nodes built in a loop make chains as long
//! as the data (an unrolled sequence), which would overflow the stack. So the recursion
//! goes through at most [`MAX_NESTING`] boxed nodes at a time:
//!
//! - **Forward.** A boxed node more than `MAX_NESTING` boxed levels high first forwards the
//!   boxed nodes below it bottom-up, with an explicit work list ([`forward_below`]). Each
//!   of those forwards its inner node, whose recursion stops at the boxed nodes below it:
//!   they are done. The pre-pass counts one consumer of each such node, which its first
//!   real consumer then claims instead of counting again (`Boxed::claim`), so that the
//!   consumer counts, and with them the backward pass, are those of a plain recursive pass.
//! - **Backward.** A gradient that reaches a boxed node `MAX_NESTING` boxed levels down is
//!   copied to a queue instead of delivered ([`defer`]); the outermost boxed level of the
//!   sweep delivers the queued ones before it returns ([`descend`]). Nodes add up their
//!   consumers' contributions in any order, so delivering late changes nothing but the
//!   order of the sums.
//! - **Drop.** Likewise: an inner node released `MAX_NESTING` levels down is parked and
//!   dropped by the outermost level ([`release`]).

use super::{Boxed, DynNode};
use crate::node::Pass;
use std::cell::{Cell, RefCell};
use std::rc::Rc;

/// Boxed nodes a pass recurses through at a time: 16 in release builds, 4 in debug
/// builds, whose frames are many times larger. There a reviewer measured a GRU step (a
/// lookup, three `dot`s, a `stack`, `sigmoid` and `tanh`) at about 64 KiB of stack per
/// boxed level in the backward pass, and a new user's GRU step typed as one expression
/// (six `dot`s) at about 150 KiB: sixteen of those overflowed the 2 MiB of a spawned
/// thread (or a test's) after 16 steps, four take about 600 KiB. Queuing more often costs
/// a debug build little.
pub(super) const MAX_NESTING: usize = if cfg!(debug_assertions) { 4 } else { 16 };

/// Forwards the boxed nodes below `root` (not `root` itself), every one after the boxed
/// nodes below it, so that no inner forward recurses through more than one boxed level.
/// Marks each as claimable by its first consumer.
#[cold]
#[inline(never)]
pub(super) fn forward_below(root: &Boxed, pass: Pass) {
    let id = pass.id();
    // Post-order walk below `root`: (node, index of the next child to look at). The list
    // is the thread's, reused from one pass to the next (a nested walk, or one while the
    // thread's locals are destroyed, takes a new one).
    let mut stack = WALK.try_with(Cell::take).unwrap_or_default();
    let mut root_next = 0;
    loop {
        let child = {
            let (node, next) = match stack.last_mut() {
                Some((node, next)) => (&**node, next),
                None => (root, &mut root_next),
            };
            let child = node.below().get(*next).cloned();
            *next += 1;
            child
        };
        match child {
            // Reached already in this pass: from above, its whole subtree was forwarded
            // (or is being forwarded) and it has its real consumers; by this walk, it is
            // queued or done.
            Some(child) if child.reached.get() == id => {}
            Some(child) => {
                child.reached.set(id);
                stack.push((child, 0));
            }
            None => match stack.pop() {
                Some((node, _)) => {
                    node.inner.forward(pass);
                    node.claim.set(id);
                }
                None => break,
            },
        }
    }
    let _ = WALK.try_with(|walk| walk.set(stack));
}

thread_local! {
    /// The work list of [`forward_below`], empty between walks.
    static WALK: Cell<Vec<(Rc<Boxed>, usize)>> = const { Cell::new(Vec::new()) };
    /// Gradients waiting for delivery, and spare buffers for them.
    static DEFERRED: RefCell<Deferred> = const {
        RefCell::new(Deferred { queue: Vec::new(), spare: Vec::new() })
    };
    /// Boxed levels the current drop is inside of.
    static DROPPING: Cell<usize> = const { Cell::new(0) };
    /// The outermost drop's list of parked inner nodes, which lives in that drop's frame
    /// (null outside a drop). A pointer, which needs no destructor, so that it still works
    /// while the thread's locals are being destroyed: a deep graph held in one of them is
    /// dropped then, possibly after a list held in a thread-local would have been.
    static PARKED: Cell<*mut Vec<Rc<dyn DynNode>>> = const { Cell::new(std::ptr::null_mut()) };
}

/// A queued delivery: a gradient for the node, or `None` for word that no gradient comes
/// ([`Node::backward_nothing`](crate::Node::backward_nothing)).
type Delivery = (Rc<dyn DynNode>, Option<Vec<f32>>);

struct Deferred {
    queue: Vec<Delivery>,
    spare: Vec<Vec<f32>>,
}

/// Runs `f` (a delivery to a boxed node's inner node) one boxed level deeper, or returns
/// `None` if the sweep is [`MAX_NESTING`] levels deep already. At the outermost level,
/// delivers the gradients deferred meanwhile before returning.
#[inline(always)]
pub(super) fn descend<R>(f: impl FnOnce() -> R) -> Option<R> {
    let nesting = Pass::boxed_nesting();
    if nesting >= MAX_NESTING {
        return None;
    }
    if nesting == 0 {
        return Some(outermost(f));
    }
    Pass::set_boxed_nesting(nesting + 1);
    let _level = Level(nesting);
    Some(f())
}

/// Restores the boxed nesting it holds when dropped (also when unwinding).
pub(crate) struct Level(usize);

impl Drop for Level {
    #[inline(always)]
    fn drop(&mut self) {
        Pass::set_boxed_nesting(self.0);
    }
}

/// [`descend`] from outside any boxed level: runs `f`, then delivers what was deferred
/// meanwhile (what is above `mark` in the queue).
#[inline(never)]
fn outermost<R>(f: impl FnOnce() -> R) -> R {
    // `try_with` fails only while the thread's locals are being destroyed: recurse then.
    let Ok(mark) = DEFERRED.try_with(|d| d.borrow().queue.len()) else {
        return f();
    };
    Pass::set_boxed_nesting(1);
    let level = Outermost { mark };
    let result = f();
    deliver_deferred(mark);
    drop(level);
    result
}

/// Ends the outermost level: restores the nesting to 0, and when unwinding, discards what
/// the level left queued (gradients of a sweep that failed).
struct Outermost {
    mark: usize,
}

impl Drop for Outermost {
    fn drop(&mut self) {
        Pass::set_boxed_nesting(0);
        let _ = DEFERRED.try_with(|d| {
            let mut d = d.borrow_mut();
            while d.queue.len() > self.mark {
                if let Some((_, Some(buffer))) = d.queue.pop() {
                    d.spare.push(buffer);
                }
            }
        });
    }
}

/// Queues `gradient` for `node`, to be delivered by the outermost boxed level.
#[cold]
#[inline(never)]
pub(super) fn defer(node: &Rc<dyn DynNode>, gradient: &[f32]) {
    let queued = DEFERRED.try_with(|d| {
        let mut d = d.borrow_mut();
        let mut buffer = d.spare.pop().unwrap_or_default();
        buffer.clear();
        buffer.extend_from_slice(gradient);
        d.queue.push((node.clone(), Some(buffer)));
    });
    if queued.is_err() {
        // The queue is gone (thread-local destruction): deliver now.
        node.backward(gradient);
    }
}

/// Like [`defer`], for word that no gradient comes.
#[cold]
#[inline(never)]
pub(super) fn defer_nothing(node: &Rc<dyn DynNode>) {
    let queued = DEFERRED.try_with(|d| d.borrow_mut().queue.push((node.clone(), None)));
    if queued.is_err() {
        node.backward_nothing();
    }
}

/// Delivers queued gradients (those above `mark`, queued by this sweep) until none is
/// left; deliveries may queue more. Runs at nesting 1, inside the outermost level.
#[cold]
#[inline(never)]
fn deliver_deferred(mark: usize) {
    loop {
        let next = DEFERRED.try_with(|d| {
            let mut d = d.borrow_mut();
            if d.queue.len() > mark {
                d.queue.pop()
            } else {
                None
            }
        });
        let Ok(Some((node, buffer))) = next else {
            return;
        };
        match buffer {
            Some(buffer) => {
                node.backward(&buffer);
                let _ = DEFERRED.try_with(|d| d.borrow_mut().spare.push(buffer));
            }
            None => node.backward_nothing(),
        }
    }
}

/// A backward sweep that starts inside a boxed level of another (a custom node's backward
/// running a backward pass of another graph) runs with the nesting reset, so that it
/// delivers all its gradients before it returns instead of leaving deep ones to the outer
/// sweep; the returned guard restores it afterwards.
pub(crate) fn enter_sweep() -> Level {
    let outer = Pass::boxed_nesting();
    Pass::set_boxed_nesting(0);
    Level(outer)
}

/// Drops a boxed node's inner node, parking it instead if the drop is [`MAX_NESTING`]
/// boxed levels deep; the outermost level drops the parked ones.
pub(super) fn release(inner: Rc<dyn DynNode>) {
    if Rc::strong_count(&inner) > 1 {
        // Only a count to decrement.
        return;
    }
    let nesting = DROPPING.get();
    if nesting >= MAX_NESTING {
        let parked = PARKED.get();
        // SAFETY: the nesting is above 0 only inside the outermost `release` below, which
        // set `PARKED` to its list and keeps it alive, unmoved, until it resets both. It
        // holds no reference to the list while it drops (which is what brings us here), and
        // this is the only other access, so the two never overlap.
        unsafe { (*parked).push(inner) };
        return;
    }
    if nesting > 0 {
        struct Restore(usize);
        impl Drop for Restore {
            fn drop(&mut self) {
                DROPPING.set(self.0);
            }
        }
        DROPPING.set(nesting + 1);
        let _restore = Restore(nesting);
        drop(inner);
        return;
    }
    // The outermost level. Ends, also when unwinding, by restoring both thread-locals
    // before `parked` goes away (declared after it, so dropped first).
    struct Outermost;
    impl Drop for Outermost {
        fn drop(&mut self) {
            DROPPING.set(0);
            PARKED.set(std::ptr::null_mut());
        }
    }
    let mut parked: Vec<Rc<dyn DynNode>> = Vec::new();
    let list: *mut Vec<Rc<dyn DynNode>> = &mut parked;
    PARKED.set(list);
    DROPPING.set(1);
    let _outermost = Outermost;
    drop(inner);
    // SAFETY: `list` points to `parked`, alive and unmoved here; the `&mut` of each `pop`
    // ends before the drop, during which deeper levels push through the same pointer.
    // (`parked` itself is not touched until the end, so the pointer stays valid.)
    while let Some(next) = unsafe { (*list).pop() } {
        drop(next);
    }
}

#[cfg(test)]
mod tests {
    use super::{DEFERRED, DROPPING};
    use crate::node::Pass;
    use crate::nodes::Boxed;
    use crate::*;
    use ndarray::arr2;

    /// `s ← s a + b`, boxed at every step, from `s = x`.
    fn chain(
        a: &Variable<ParameterNode>,
        b: &Variable<ParameterNode>,
        n: usize,
    ) -> Vec<Variable<Boxed>> {
        let mut steps = vec![InputNode::new(arr2(&[[2.0]])).boxed()];
        for _ in 0..n {
            let s = steps.last().expect("starts with x").clone();
            steps.push((s * a.clone() + b.clone()).boxed());
        }
        steps
    }

    /// The chain's value and its derivatives by `a` and `b`, by forward-mode recurrence.
    fn reference(a: f64, b: f64, n: usize) -> (f64, f64, f64) {
        let (mut s, mut da, mut db) = (2.0, 0.0, 0.0);
        for _ in 0..n {
            da = da * a + s;
            db = db * a + 1.0;
            s = s * a + b;
        }
        (s, da, db)
    }

    fn close(got: f32, want: f64) -> bool {
        (f64::from(got) - want).abs() <= 1e-2 * want.abs().max(1.0)
    }

    #[test]
    fn chains_far_deeper_than_the_stack_allows_run_forward_backward_and_drop() {
        // Before bounded nesting, 20,000 steps took well over 64 MiB of stack in a debug
        // build (about 4 KiB per step).
        let run = || {
            let a = ParameterNode::new(arr2(&[[0.999]]));
            let b = ParameterNode::new(arr2(&[[0.001]]));
            let top = chain(&a, &b, 20_000).pop().expect("non-empty");
            for round in 0..2 {
                a.zero_gradient();
                b.zero_gradient();
                top.forward();
                top.backward(1.0);
                let (s, da, db) = reference(0.999, 0.001, 20_000);
                let got = (
                    top.value()[(0, 0)],
                    a.gradient()[(0, 0)],
                    b.gradient()[(0, 0)],
                );
                assert!(close(got.0, s), "round {round}: value {} vs {s}", got.0);
                assert!(close(got.1, da), "round {round}: d/da {} vs {da}", got.1);
                assert!(close(got.2, db), "round {round}: d/db {} vs {db}", got.2);
            }
            assert_eq!(DEFERRED.with(|d| d.borrow().queue.len()), 0);
            drop(top);
            (Pass::boxed_nesting(), DROPPING.get())
        };
        let nesting = std::thread::Builder::new()
            .stack_size(1 << 20)
            .spawn(run)
            .expect("spawn")
            .join()
            .expect("no panic");
        assert_eq!(nesting, (0, 0), "levels restored");
    }

    #[test]
    fn boxing_a_boxed_node_again_adds_no_level() {
        let run = || {
            let a = ParameterNode::new(arr2(&[[0.5]]));
            let mut s = a.boxed();
            let first = s.node().clone();
            for _ in 0..70_000 {
                s = s.boxed();
            }
            assert!(std::rc::Rc::ptr_eq(s.node(), &first));
            s.forward();
            s.backward(1.0);
            assert_eq!(s.shape(), (1, 1));
            assert_eq!(s.value()[(0, 0)], 0.5);
            assert_eq!(a.gradient()[(0, 0)], 1.0);
        };
        let thread = std::thread::Builder::new().stack_size(1 << 20).spawn(run);
        thread.expect("spawn").join().expect("no panic");
    }

    thread_local! {
        static KEPT: std::cell::RefCell<Option<Variable<Boxed>>> =
            const { std::cell::RefCell::new(None) };
    }

    #[test]
    fn a_deep_graph_held_in_a_thread_local_is_dropped_at_thread_exit() {
        let run = || {
            let a = ParameterNode::new(arr2(&[[0.999]]));
            let b = ParameterNode::new(arr2(&[[0.001]]));
            // `KEPT` is destroyed at thread exit after thread-locals first used later (a
            // parked list held in one would be gone by then; it lives in the dropping
            // frame instead).
            KEPT.with(|k| *k.borrow_mut() = chain(&a, &b, 100_000).pop());
            drop(chain(&a, &b, 100));
        };
        let thread = std::thread::Builder::new().stack_size(1 << 20).spawn(run);
        thread.expect("spawn").join().expect("no panic");
    }

    #[test]
    fn a_deep_node_also_used_from_above_counts_each_consumer_once() {
        let a = ParameterNode::new(arr2(&[[0.9]]));
        let b = ParameterNode::new(arr2(&[[0.3]]));
        let steps = chain(&a, &b, 40);
        let (mid, top) = (steps[10].clone(), steps[40].clone());
        // `mid` forwarded before the top's pre-pass reaches it, and after. Scaled so that
        // `tanh` is not saturated (at `mid * 2 + top`, about 8, every gradient was below
        // the check's tolerance, so it compared nothing).
        let mut before = (mid.clone() * 0.2 - top.clone() * 0.15).tanh().boxed();
        let mut after = (top.clone() * -0.15 + mid.clone() * 0.2).tanh().boxed();
        // And a deep node used twice from above, boxed again on top.
        let mut twice = ((top.clone() + mid.clone()) * mid.clone()).boxed().boxed();
        // `a` enters as `a^40`: a smaller step than the default keeps curvature out.
        let options = gradcheck::CheckOptions {
            epsilon: 1e-3,
            ..Default::default()
        };
        for loss in [&mut before, &mut after, &mut twice] {
            for p in [&a, &b] {
                let report = gradcheck::check_gradient(loss, p, &options);
                assert!(report.passed() && !report.is_vacuous(), "{report}");
            }
        }
    }

    /// Doubles; its derivative panics while `EXPLODE` is set.
    struct Fragile;

    thread_local! {
        static EXPLODE: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
    }

    impl nodes::UnaryOp for Fragile {
        const NAME: &'static str = "fragile";
        fn apply(&self, x: f32) -> f32 {
            2.0 * x
        }
        fn derivative(&self, _x: f32, _y: f32) -> f32 {
            assert!(!EXPLODE.get(), "exploded on purpose");
            2.0
        }
    }

    #[test]
    fn a_deep_sweep_that_panics_leaves_nothing_queued_for_the_next() {
        let a = ParameterNode::new(arr2(&[[1.0]]));
        let on_a = |mut s: Variable<Boxed>| {
            for _ in 0..30 {
                s = (s + a.clone()).boxed();
            }
            s
        };
        let left = on_a(a.boxed());
        let right = on_a(a.map(Fragile).boxed());
        // 30 levels above the split, so both of its operands (levels 31) are queued, and
        // `right`'s, queued last, is swept first: it panics while `left`'s waits.
        let s = on_a((left + right).boxed());
        s.forward();
        EXPLODE.set(true);
        let failed = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| s.backward(1.0)));
        EXPLODE.set(false);
        assert!(failed.is_err());
        assert_eq!(Pass::boxed_nesting(), 0);
        assert_eq!(DEFERRED.with(|d| d.borrow().queue.len()), 0);
        a.zero_gradient();
        s.backward(1.0);
        // 31 a on the left, 2 a + 30 a on the right, 30 a above.
        assert_eq!(a.gradient()[(0, 0)], 93.0);
    }
}
