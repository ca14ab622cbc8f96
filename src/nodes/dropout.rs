//! Dropout: while training, each element is zeroed with probability `rate` and the rest
//! scaled by `1 / (1 - rate)` (inverted dropout, so evaluation needs no rescaling); while
//! evaluating, the identity. A [`TrainingFlag`] shared by the graph's dropout nodes says
//! which.

use super::single::{Single, SingleOp};
use crate::shape::Dim;
use crate::{Node, Variable};
use std::cell::{Cell, RefCell};
use std::rc::Rc;

/// Whether the dropout nodes built with it drop (training, the default) or pass their
/// operand through unchanged (evaluation, serving). Clones share the setting, so one flag
/// switches every dropout node of a model.
///
/// ```
/// use wyrm::*;
/// let training = TrainingFlag::new();
/// let x = InputNode::new(ndarray::Array2::ones((1, 1000)));
/// let y = x.dropout(0.5, &training);
/// y.forward();
/// // About half the elements are dropped, the others doubled.
/// let kept = y.value().iter().filter(|&&v| v == 2.0).count();
/// assert!((400..600).contains(&kept));
/// training.set(false);
/// y.forward();
/// assert_eq!(y.value(), ndarray::Array2::ones((1, 1000)));
/// ```
#[derive(Debug, Clone)]
pub struct TrainingFlag(Rc<FlagState>);

/// What the clones of a [`TrainingFlag`] share.
#[derive(Debug)]
struct FlagState {
    training: Cell<bool>,
    /// The seed of the latest [`TrainingFlag::seed`] (random until then).
    seed: Cell<u64>,
    /// How many times the flag was seeded: a node whose count differs reseeds itself.
    generation: Cell<u64>,
    /// How many dropout nodes were built with the flag: the next one's index.
    nodes: Cell<u64>,
    /// How many seeds [`TrainingFlag::derived_seed`] has handed out.
    derived: Cell<u64>,
}

/// SplitMix64's output function: a well-mixed 64-bit value for each input.
fn mix(z: u64) -> u64 {
    let z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    let z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// SplitMix64's increment.
const GOLDEN: u64 = 0x9E37_79B9_7F4A_7C15;

impl TrainingFlag {
    /// A flag set to training.
    ///
    /// ```
    /// assert!(wyrm::TrainingFlag::new().get());
    /// ```
    pub fn new() -> Self {
        use rand::Rng;
        TrainingFlag(Rc::new(FlagState {
            training: Cell::new(true),
            seed: Cell::new(crate::rand::thread_rng().gen()),
            generation: Cell::new(0),
            nodes: Cell::new(0),
            derived: Cell::new(0),
        }))
    }

    /// Switches to training (`true`) or evaluation (`false`), for every node built with
    /// this flag or a clone of it, from their next forward pass on.
    ///
    /// ```
    /// let training = wyrm::TrainingFlag::new();
    /// training.set(false);
    /// assert!(!training.get());
    /// ```
    pub fn set(&self, training: bool) {
        self.0.training.set(training);
    }

    /// Whether the flag is set to training.
    ///
    /// ```
    /// assert!(wyrm::TrainingFlag::new().get());
    /// ```
    pub fn get(&self) -> bool {
        self.0.training.get()
    }

    /// Reseeds every dropout node built with this flag (or a clone of it), before or after
    /// this call: from its next forward pass in training on, each node draws its masks
    /// from `seed` and its place in the order in which the flag's nodes were built, in
    /// place of the seed it was built with. So two graphs built alike, whose flags are
    /// seeded alike, draw the same masks pass by pass: seed each
    /// [`Synchronized`](crate::optim::Synchronized) thread's flag for runs that repeat
    /// (Hogwild threads race, so their runs do not repeat whatever the seeds). A `model!`
    /// model built by `new_with_rng` has its flag seeded from that generator already, and
    /// the graphs derived from it seeded from its flag; seeding a flag also restarts the
    /// seeds it hands to derived graphs.
    ///
    /// ```
    /// use wyrm::*;
    /// let graph = || {
    ///     let training = TrainingFlag::new();
    ///     let x = InputNode::new(ndarray::Array2::ones((1, 64)));
    ///     let y = x.dropout(0.5, &training).dropout(0.5, &training);
    ///     (training, y)
    /// };
    /// let ((a_flag, a), (b_flag, b)) = (graph(), graph());
    /// a_flag.seed(7);
    /// b_flag.seed(7);
    /// for _ in 0..3 {
    ///     a.forward();
    ///     b.forward();
    ///     assert_eq!(a.value(), b.value());
    /// }
    /// ```
    pub fn seed(&self, seed: u64) {
        self.0.seed.set(seed);
        self.0.derived.set(0);
        // Never back to 0, the count of a flag never seeded.
        let generation = self.0.generation.get().wrapping_add(1).max(1);
        self.0.generation.set(generation);
    }

    /// A seed for the flag of a graph derived from this one (`model!`'s
    /// `with_dimensions` and `with_parameters_of`): a function of this flag's seed and of
    /// how many it has handed out, so that graphs derived in the same order from flags
    /// seeded alike are seeded alike.
    pub(crate) fn derived_seed(&self) -> u64 {
        let n = self.0.derived.get().wrapping_add(1);
        self.0.derived.set(n);
        mix(self.0.seed.get() ^ mix(n.wrapping_mul(GOLDEN)))
    }

    /// Registers a new dropout node: its index among the flag's nodes.
    fn register(&self) -> u64 {
        let index = self.0.nodes.get();
        self.0.nodes.set(index.wrapping_add(1));
        index
    }
}

impl Default for TrainingFlag {
    /// A flag set to training, as [`new`](Self::new).
    fn default() -> Self {
        Self::new()
    }
}

/// The dropout operation, node type [`Dropout`]; built by [`Variable::dropout`] and
/// [`Variable::dropout_with_seed`]. Each forward pass in training draws a new mask from
/// the node's own generator (SplitMix64), so a seeded node drops the same elements in
/// every run; the backward pass sends the gradient through the kept elements, scaled as
/// they were.
///
/// ```
/// use wyrm::*;
/// use wyrm::nodes::{Dropout, DropoutOp};
/// let training = TrainingFlag::new();
/// let x = ParameterNode::new(ndarray::Array2::ones((1, 6)));
/// // What `x.dropout_with_seed(0.5, &training, 42)` builds.
/// let y: Variable<Dropout<ParameterNode>> = x.apply(DropoutOp::new(0.5, &training, 42));
/// y.forward();
/// y.backward(1.0);
/// // Each element is dropped (0) or doubled, and its gradient alike.
/// assert!(y.value().iter().all(|&v| v == 0.0 || v == 2.0));
/// assert_eq!(x.gradient(), y.value());
/// ```
#[derive(Debug)]
pub struct DropoutOp {
    rate: f32,
    training: TrainingFlag,
    /// The generator's state.
    state: Cell<u64>,
    /// The node's place among the flag's nodes, which [`TrainingFlag::seed`] reseeds by.
    index: u64,
    /// The flag's seeding count that `state` follows (0: the node's own seed).
    generation: Cell<u64>,
    /// The factor of each element in the latest forward pass: 0 or `1 / (1 - rate)`,
    /// or empty for a pass in evaluation.
    mask: RefCell<Vec<f32>>,
}

impl DropoutOp {
    /// Dropout with probability `rate` of dropping each element, switched by `training`,
    /// its generator seeded with `seed` (until the flag is [seeded](TrainingFlag::seed)).
    ///
    /// ```
    /// use wyrm::nodes::DropoutOp;
    /// let op = DropoutOp::new(0.25, &wyrm::TrainingFlag::new(), 7);
    /// assert_eq!(op.rate(), 0.25);
    /// ```
    ///
    /// # Panics
    /// If `rate` is not in `[0, 1)`.
    #[track_caller]
    pub fn new(rate: f32, training: &TrainingFlag, seed: u64) -> Self {
        assert!(
            (0.0..1.0).contains(&rate),
            "dropout: the rate must be in [0, 1), got {rate}"
        );
        DropoutOp {
            rate,
            training: training.clone(),
            state: Cell::new(seed),
            index: training.register(),
            // The count of a flag never seeded: a node built after the flag was seeded
            // follows that seed from its first pass.
            generation: Cell::new(0),
            mask: RefCell::new(Vec::new()),
        }
    }

    /// The probability of dropping each element while training.
    ///
    /// ```
    /// let op = wyrm::nodes::DropoutOp::new(0.1, &wyrm::TrainingFlag::new(), 0);
    /// assert_eq!(op.rate(), 0.1);
    /// ```
    pub fn rate(&self) -> f32 {
        self.rate
    }

    /// The next 64 random bits (SplitMix64).
    #[inline(always)]
    fn next(&self) -> u64 {
        let s = self.state.get().wrapping_add(GOLDEN);
        self.state.set(s);
        mix(s)
    }

    /// Follows the flag's latest [`seed`](TrainingFlag::seed), if the node has not yet.
    fn follow_seed(&self) {
        let flag = &self.training.0;
        if self.generation.get() != flag.generation.get() {
            self.generation.set(flag.generation.get());
            let place = mix(self.index.wrapping_add(1).wrapping_mul(GOLDEN));
            self.state.set(mix(flag.seed.get() ^ place));
        }
    }
}

impl SingleOp for DropoutOp {
    type Rows<R: Dim, C: Dim> = R;
    type Cols<R: Dim, C: Dim> = C;

    fn output_shape(&self, shape: (usize, usize)) -> (usize, usize) {
        // Sized now, so that no forward pass allocates.
        self.mask.borrow_mut().reserve_exact(shape.0 * shape.1);
        shape
    }

    fn forward(&self, x: &[f32], _shape: (usize, usize), y: &mut [f32]) {
        let mut mask = self.mask.borrow_mut();
        mask.clear();
        if !self.training.get() || self.rate == 0.0 {
            y.copy_from_slice(x);
            return;
        }
        self.follow_seed();
        let keep = 1.0 - self.rate;
        let scale = 1.0 / keep;
        // Kept when 24 random bits fall below keep · 2^24.
        let threshold = (keep as f64 * (1u64 << 24) as f64) as u64;
        let mut bits = 0;
        for (i, (y, x)) in y.iter_mut().zip(x).enumerate() {
            // Two draws from each 64 random bits.
            if i % 2 == 0 {
                bits = self.next();
            }
            let draw = (bits >> (40 - 32 * (i as u64 % 2))) & 0xFF_FFFF;
            let factor = if draw < threshold { scale } else { 0.0 };
            mask.push(factor);
            *y = factor * x;
        }
    }

    fn backward(&self, g: &[f32], _x: &[f32], _y: &[f32], _shape: (usize, usize), gx: &mut [f32]) {
        let mask = self.mask.borrow();
        if mask.is_empty() {
            gx.copy_from_slice(g);
        } else {
            for ((gx, g), m) in gx.iter_mut().zip(g).zip(mask.iter()) {
                *gx = g * m;
            }
        }
    }
}

/// Node applying dropout to its operand.
///
/// ```
/// use wyrm::*;
/// use wyrm::nodes::Dropout;
/// let x = InputNode::new(ndarray::arr2(&[[1.0, 2.0]]));
/// let evaluating = TrainingFlag::new();
/// evaluating.set(false);
/// let y: Variable<Dropout<InputNode>> = x.dropout(0.5, &evaluating);
/// y.forward();
/// assert_eq!(y.value(), ndarray::arr2(&[[1.0, 2.0]]));
/// ```
pub type Dropout<T> = Single<DropoutOp, T>;

impl<T: Node> Variable<T> {
    /// Dropout: while `training` is set, each element is zeroed with probability `rate`
    /// and the others scaled by `1 / (1 - rate)`, a new mask each forward pass; while it
    /// is not, the operand passes through unchanged. The gradient flows through the kept
    /// elements, scaled alike. The node's generator is seeded from the thread's random
    /// generator; for runs that repeat, seed the flag ([`TrainingFlag::seed`], which
    /// reseeds all of its nodes) or the node
    /// ([`dropout_with_seed`](Self::dropout_with_seed)).
    ///
    /// A `backward` that has to run the forward pass again first (after another graph's
    /// pass, or `forward_with`; see [`backward`](Self::backward)) draws a new mask: its
    /// gradient is that of the new value, not of the one read before.
    ///
    /// A new flag is set to training: a graph built for serving must clear it. Gradient
    /// checks need it cleared too (a [`gradcheck`](crate::gradcheck) report says so when
    /// it is not). In a [`model!`](crate::model) block, declare a `training: Training` item
    /// and write `h.dropout(0.2, training)`: the model gets the flag as its `training`
    /// field.
    ///
    /// ```
    /// use wyrm::*;
    /// let training = TrainingFlag::new();
    /// let w = ParameterNode::new(random_matrix(4, 64));
    /// let x = InputNode::new(random_matrix(1, 4));
    /// let y = x.dot(&w).relu().dropout(0.2, &training).scalar_sum();
    /// y.forward();
    /// y.backward(1.0);
    /// // Evaluate (serve) without dropping anything.
    /// training.set(false);
    /// y.forward();
    /// ```
    ///
    /// # Panics
    /// If `rate` is not in `[0, 1)`.
    #[track_caller]
    pub fn dropout(&self, rate: f32, training: &TrainingFlag) -> Variable<Dropout<T>> {
        use rand::Rng;
        self.dropout_with_seed(rate, training, crate::rand::thread_rng().gen())
    }

    /// [`dropout`](Self::dropout) with its generator seeded with `seed`: the same masks,
    /// pass by pass, in every run, unless the flag is [seeded](TrainingFlag::seed), whose
    /// seed then takes over.
    ///
    /// ```
    /// use wyrm::*;
    /// let training = TrainingFlag::new();
    /// let x = InputNode::new(ndarray::Array2::ones((1, 8)));
    /// let (a, b) = (x.dropout_with_seed(0.5, &training, 3), x.dropout_with_seed(0.5, &training, 3));
    /// a.forward();
    /// b.forward();
    /// assert_eq!(a.value(), b.value());
    /// ```
    ///
    /// # Panics
    /// If `rate` is not in `[0, 1)`.
    #[track_caller]
    pub fn dropout_with_seed(
        &self,
        rate: f32,
        training: &TrainingFlag,
        seed: u64,
    ) -> Variable<Dropout<T>> {
        self.apply(DropoutOp::new(rate, training, seed))
    }
}

#[cfg(test)]
mod tests {
    use crate::*;
    use ndarray::Array2;

    /// The share of kept elements is `1 - rate`, each scaled by `1 / (1 - rate)`, so the
    /// mean is kept; masks differ from pass to pass.
    #[test]
    fn drops_the_rate_and_keeps_the_mean() {
        let training = TrainingFlag::new();
        let x = InputNode::new(Array2::ones((100, 100)));
        let y = x.dropout_with_seed(0.3, &training, 1);
        y.forward();
        let first = y.value();
        let kept = first.iter().filter(|&&v| v != 0.0).count() as f32 / 1e4;
        assert!((kept - 0.7).abs() < 0.02, "{kept}");
        assert!(first
            .iter()
            .all(|&v| v == 0.0 || (v - 1.0 / 0.7).abs() < 1e-6));
        assert!((first.mean().unwrap() - 1.0).abs() < 0.03);
        y.forward();
        assert_ne!(y.value(), first);
    }

    /// The gradient is the upstream gradient times the mask: checked by finite
    /// differences over graphs seeded alike (so that each draws the same mask), with a
    /// non-trivial upstream gradient.
    #[test]
    fn gradient_matches_finite_differences_under_one_mask() {
        let training = TrainingFlag::new();
        let x0 = random_matrix(3, 5);
        let upstream = random_matrix(3, 5);
        let loss = |x: Array2<f32>| {
            let p = ParameterNode::new(x);
            let w = InputNode::new(upstream.clone());
            let l = (p.tanh().dropout_with_seed(0.4, &training, 9) * w).scalar_sum();
            l.forward();
            (l, p)
        };
        let (l, p) = loss(x0.clone());
        l.backward(1.0);
        let g = p.gradient();
        let h = 1e-2;
        for i in 0..3 {
            for j in 0..5 {
                let (mut plus, mut minus) = (x0.clone(), x0.clone());
                plus[(i, j)] += h;
                minus[(i, j)] -= h;
                let numeric =
                    (loss(plus).0.value()[(0, 0)] - loss(minus).0.value()[(0, 0)]) / (2.0 * h);
                assert!(
                    (numeric - g[(i, j)]).abs() < 2e-3,
                    "{numeric} against {}",
                    g[(i, j)]
                );
            }
        }
        // Some elements were dropped: their gradient is exactly 0.
        assert!(g.iter().any(|&v| v == 0.0));
    }

    /// Evaluation passes values and gradients through, for every node of the flag.
    #[test]
    fn evaluation_is_the_identity() {
        let training = TrainingFlag::new();
        let x = ParameterNode::new(random_matrix(2, 6));
        let y = x.dropout(0.9, &training).dropout(0.5, &training.clone());
        training.set(false);
        y.forward();
        y.backward(1.0);
        assert_eq!(y.value(), x.value());
        assert_eq!(x.gradient(), Array2::ones((2, 6)));
    }

    /// The masks of one pass, of a graph of two same-shaped dropout nodes over ones.
    fn two_masks(y: &Variable<super::Dropout<super::Dropout<InputNode>>>) -> Vec<f32> {
        y.forward();
        y.value().iter().copied().collect()
    }

    /// Seeding the flag reseeds every node built with it, each by its place among them:
    /// graphs built alike and seeded alike repeat their masks whatever their nodes' own
    /// seeds, nodes of one flag draw different masks, and reseeding restarts the stream.
    #[test]
    fn seeding_the_flag_reseeds_its_nodes() {
        let graph = |node_seeds: (u64, u64)| {
            let training = TrainingFlag::new();
            let x = InputNode::new(Array2::ones((1, 64)));
            let first = x.dropout_with_seed(0.5, &training, node_seeds.0);
            // 4 where both nodes keep an element, 0 where either drops it.
            let y = first.dropout_with_seed(0.5, &training.clone(), node_seeds.1);
            (training, y)
        };
        let ((a_flag, a), (b_flag, b)) = (graph((1, 2)), graph((3, 4)));
        // Unseeded flags: the nodes' own seeds differ, and so do the masks.
        assert_ne!(two_masks(&a), two_masks(&b));
        a_flag.seed(9);
        b_flag.seed(9);
        let first: Vec<Vec<f32>> = (0..3).map(|_| two_masks(&a)).collect();
        for mask in &first {
            assert_eq!(*mask, two_masks(&b));
        }
        // A new mask each pass.
        assert_ne!(first[0], first[1]);
        // Reseeding with the same seed restarts the same stream.
        a_flag.seed(9);
        assert_eq!(two_masks(&a), first[0]);
        // Another seed, other masks.
        b_flag.seed(10);
        assert_ne!(two_masks(&b), first[0]);
    }

    /// A node built after its flag was seeded follows that seed too, and seeding restarts
    /// the seeds handed to derived graphs.
    #[test]
    fn a_flag_seeded_before_its_nodes_are_built_seeds_them() {
        let graph = || {
            let training = TrainingFlag::new();
            training.seed(7);
            let y = InputNode::new(Array2::ones((1, 64))).dropout(0.5, &training);
            (training, y)
        };
        let ((a_flag, a), (_, b)) = (graph(), graph());
        a.forward();
        b.forward();
        assert_eq!(a.value(), b.value());
        let derived = (a_flag.derived_seed(), a_flag.derived_seed());
        a_flag.seed(7);
        assert_eq!(a_flag.derived_seed(), derived.0);
        assert_ne!(derived.0, derived.1);
    }

    /// Two nodes of one seeded flag draw different masks (their places differ).
    #[test]
    fn nodes_of_one_flag_draw_their_own_masks() {
        let training = TrainingFlag::new();
        let x = InputNode::new(Array2::ones((1, 256)));
        let (p, q) = (x.dropout(0.5, &training), x.dropout(0.5, &training));
        training.seed(5);
        p.forward();
        q.forward();
        assert_ne!(p.value(), q.value());
    }

    #[test]
    #[should_panic(expected = "dropout: the rate must be in [0, 1), got 1")]
    fn rate_below_one() {
        let _ = InputNode::new(random_matrix(1, 1)).dropout(1.0, &TrainingFlag::new());
    }
}
