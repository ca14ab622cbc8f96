//! Finite-difference gradient checking for any graph, including graphs with your own
//! [`Node`] implementations.
//!
//! The checked objective is `f = sum(W * y)` for the output `y` and a fixed random
//! upstream weight matrix `W`, so that errors are not hidden by an all-ones seed. The
//! analytic gradient comes from `backward_with(W)`; the numeric one from central
//! differences `(f(p + e) - f(p - e)) / 2e`, one element at a time.
//!
//! ```
//! use wyrm::*;
//!
//! let w = ParameterNode::new(random_matrix(3, 2));
//! let x = InputNode::new(random_matrix(4, 3));
//! let y = x.dot(&w).tanh();
//! let report = gradcheck::check_gradient(&y, &w, &gradcheck::CheckOptions::default());
//! assert!(report.passed(), "{report}");
//! ```

use crate::node::Node;
use crate::nodes::{InputNode, ParameterNode};
use crate::shape::Dim;
use crate::Variable;
use ndarray::Array2;
use rand::{Rng, SeedableRng};

/// Something whose gradient can be checked: a parameter, or an input built with
/// [`InputNode::with_gradient`].
///
/// ```
/// use wyrm::gradcheck::GradientTarget;
/// use wyrm::*;
///
/// let x = InputNode::with_gradient(ndarray::arr2(&[[0.5, -1.0]]));
/// assert_eq!((x.len(), x.get(1)), (2, -1.0));
/// let y = x.tanh();
/// gradcheck::assert_gradient(&y, &x);
/// ```
pub trait GradientTarget {
    /// Number of elements.
    ///
    /// ```
    /// use wyrm::gradcheck::GradientTarget;
    /// use wyrm::*;
    ///
    /// let w = ParameterNode::new(random_matrix(2, 3));
    /// assert_eq!(w.len(), 6); // rows * cols
    /// ```
    fn len(&self) -> usize;
    /// Whether there are no elements.
    ///
    /// ```
    /// use wyrm::gradcheck::GradientTarget;
    /// use wyrm::*;
    ///
    /// assert!(!ParameterNode::new(random_matrix(1, 1)).is_empty());
    /// assert!(InputNode::with_gradient(ndarray::Array2::zeros((0, 3))).is_empty());
    /// ```
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// Element `i` (row-major).
    ///
    /// ```
    /// use wyrm::gradcheck::GradientTarget;
    /// use wyrm::*;
    ///
    /// let w = ParameterNode::new(ndarray::arr2(&[[1.0, 2.0], [3.0, 4.0]]));
    /// assert_eq!(w.get(2), 3.0); // row 1, column 0
    /// ```
    fn get(&self, i: usize) -> f32;
    /// Sets element `i` (row-major).
    ///
    /// ```
    /// use wyrm::gradcheck::GradientTarget;
    /// use wyrm::*;
    ///
    /// let w = ParameterNode::new(ndarray::arr2(&[[1.0, 2.0], [3.0, 4.0]]));
    /// w.set(1, 5.0);
    /// assert_eq!(w.value(), ndarray::arr2(&[[1.0, 5.0], [3.0, 4.0]]));
    /// ```
    fn set(&self, i: usize, value: f32);
    /// The accumulated analytic gradient (row-major).
    ///
    /// ```
    /// use wyrm::gradcheck::GradientTarget;
    /// use wyrm::*;
    ///
    /// let w = ParameterNode::new(ndarray::arr2(&[[1.0, 2.0], [3.0, 4.0]]));
    /// let y = w.square().scalar_sum();
    /// y.forward();
    /// y.backward(1.0);
    /// assert_eq!(w.gradient_vec(), vec![2.0, 4.0, 6.0, 8.0]); // 2w, row by row
    /// ```
    fn gradient_vec(&self) -> Vec<f32>;
    /// Clears the accumulated gradient.
    ///
    /// ```
    /// use wyrm::gradcheck::GradientTarget;
    /// use wyrm::*;
    ///
    /// let x = InputNode::with_gradient(ndarray::arr2(&[[1.0, -1.0]]));
    /// let y = x.clone() * 3.0;
    /// y.forward();
    /// y.backward(1.0);
    /// assert_eq!(x.gradient_vec(), vec![3.0, 3.0]);
    /// x.clear_gradient();
    /// assert_eq!(x.gradient_vec(), vec![0.0, 0.0]);
    /// ```
    fn clear_gradient(&self);
    /// Whether a graph with these `parameters` can depend on this target, so that a check
    /// against something the output does not use fails loudly instead of comparing two
    /// zero gradients. A parameter answers whether it is one of them; targets that cannot
    /// tell (inputs) answer `true`, the default.
    ///
    /// ```
    /// use wyrm::gradcheck::GradientTarget;
    /// use wyrm::*;
    ///
    /// let w = ParameterNode::new(random_matrix(1, 2));
    /// let unused = ParameterNode::new(random_matrix(1, 2));
    /// let x = InputNode::with_gradient(random_matrix(1, 2));
    /// let y = w.clone() * 2.0;
    /// assert!(w.is_used_by(&y.parameters()));
    /// assert!(!unused.is_used_by(&y.parameters()));
    /// assert!(x.is_used_by(&y.parameters())); // an input cannot tell
    /// ```
    fn is_used_by(&self, parameters: &[Variable<ParameterNode>]) -> bool {
        let _ = parameters;
        true
    }
    /// The shape `(rows, columns)`, so that reports can name an element by its row and
    /// column. The default reads the target as one row of [`len`](Self::len) elements.
    ///
    /// ```
    /// use wyrm::gradcheck::GradientTarget;
    /// use wyrm::*;
    ///
    /// let w = ParameterNode::new(random_matrix(2, 3));
    /// assert_eq!(GradientTarget::shape(&w), (2, 3));
    /// ```
    fn shape(&self) -> (usize, usize) {
        (1, self.len())
    }
}

/// Implements [`GradientTarget`] for a leaf variable type that has `set_value(&Array2)`,
/// `gradient()` and `zero_gradient()`; `$used_by` is the body of `is_used_by` (with
/// `$this` and `$parameters` bound), if not the default.
macro_rules! leaf_target {
    ($node:ident $(, |$this:ident, $parameters:ident| $used_by:expr)?) => {
        impl<R: Dim, C: Dim> GradientTarget for Variable<$node<R, C>> {
            fn len(&self) -> usize {
                let (r, c) = self.shape();
                r * c
            }
            fn get(&self, i: usize) -> f32 {
                self.node().element(i)
            }
            fn set(&self, i: usize, value: f32) {
                self.node().set_element(i, value);
            }
            fn gradient_vec(&self) -> Vec<f32> {
                self.gradient().iter().copied().collect()
            }
            fn clear_gradient(&self) {
                self.zero_gradient();
            }
            fn shape(&self) -> (usize, usize) {
                Variable::shape(self)
            }
            $(
                fn is_used_by(&self, $parameters: &[Variable<ParameterNode>]) -> bool {
                    let $this = self;
                    $used_by
                }
            )?
        }
    };
}

leaf_target!(ParameterNode, |this, parameters| {
    let node = std::rc::Rc::as_ptr(this.node()) as *const () as usize;
    parameters
        .iter()
        .any(|p| crate::nodes::node_address(p) == node)
});
leaf_target!(InputNode);

/// Settings of a gradient check. The defaults: `epsilon` 0.01, `absolute_tolerance`
/// 0.002, `relative_tolerance` 0.02, `seed` 7, and every element checked (`max_elements`
/// `None`).
///
/// The differences straddle `p ± epsilon`, so an element within `epsilon` of a kink
/// (`relu` or `abs` at 0, `clip` at its bounds) fails even for a correct gradient: keep
/// test values away from kinks, or use a smaller `epsilon` for them. A whole model with
/// `relu` layers has pre-activations near 0 somewhere; to check its gradients, build it
/// with a smooth activation (`tanh`, `gelu`) in their place.
///
/// Strong curvature fails the same way: a central difference is off by about
/// `epsilon² / 6` times the third derivative, which deep compositions (an RNN unrolled
/// over 40 steps, where a step of 0.01 in an early input is amplified at every step) can
/// make larger than the tolerance. A new user's correct gradient of 8.4176 measured
/// 5.60 at `epsilon` 0.01, 8.34 at 0.001 and 8.415 at 0.0003. A numerical estimate that
/// moves towards the analytic value at a smaller step is curvature, one that stays put is
/// a wrong gradient; below about 1e-3, `f32` rounding of a large loss takes over, and a
/// larger step brings it closer. A failed check tries those steps on a few failing
/// elements and says which it saw ([`GradientCheck::diagnosis`]).
///
/// ```
/// use wyrm::gradcheck::{check_gradient, CheckOptions};
/// use wyrm::*;
///
/// // A smaller step and another draw of upstream weights; the tolerances as default.
/// let options = CheckOptions { epsilon: 1e-3, seed: 42, ..CheckOptions::default() };
/// let w = ParameterNode::new(ndarray::arr2(&[[0.5, -1.5], [2.0, 0.25]]));
/// let y = w.square();
/// assert!(check_gradient(&y, &w, &options).passed());
/// ```
#[derive(Clone, Debug)]
pub struct CheckOptions {
    /// Finite-difference step.
    pub epsilon: f32,
    /// Allowed absolute error. For a loss averaged over `n` rows, whose gradients are
    /// `1/n` of a sum's, scale it by `1/n` too: at the default, a mean over a batch lets
    /// a derivative 10% off pass wherever the gradient is small.
    pub absolute_tolerance: f32,
    /// Allowed error relative to the larger of the two gradients.
    pub relative_tolerance: f32,
    /// Seed of the random upstream weights `W` (and of the sample, below).
    pub seed: u64,
    /// Check at most this many elements of `wrt`, for a target too large to perturb
    /// element by element (a model's embedding table: every element costs two forward
    /// passes). `None` checks them all.
    ///
    /// Where `wrt` has more, up to half of the sample (rounded up) are elements whose
    /// analytic gradient is not zero (a table's looked-up rows), and the rest elements whose gradient is
    /// zero, where the differences confirm that the output does not depend on them (a
    /// gradient that the backward pass failed to record shows up there, when sampled);
    /// either part takes what the other leaves of the budget. Both are drawn at random from
    /// `seed`. [`GradientCheck::sampled`] lists the elements checked.
    ///
    /// ```
    /// use wyrm::gradcheck::{check_gradient, CheckOptions};
    /// use wyrm::*;
    ///
    /// let table = ParameterNode::new(random_matrix(20_000, 16));
    /// let ids = IndexInputNode::new(&[3, 17_000, 3]);
    /// let y = table.index(&ids).tanh();
    /// let options = CheckOptions { max_elements: Some(200), ..CheckOptions::default() };
    /// let report = check_gradient(&y, &table, &options);
    /// assert!(report.passed(), "{report}");
    /// // The 32 elements of the two rows looked up, and 168 of the others.
    /// let checked = report.sampled.as_ref().unwrap();
    /// assert_eq!(checked.len(), 200);
    /// assert_eq!(checked.iter().filter(|&&i| report.analytic[i] != 0.0).count(), 32);
    /// assert_eq!(report.to_string(), "gradient check passed (200 of 320000 elements, sampled)");
    /// ```
    pub max_elements: Option<usize>,
}

impl Default for CheckOptions {
    fn default() -> Self {
        CheckOptions {
            epsilon: 1e-2,
            absolute_tolerance: 2e-3,
            relative_tolerance: 2e-2,
            seed: 7,
            max_elements: None,
        }
    }
}

/// The outcome of [`check_gradient`].
///
/// ```
/// use wyrm::gradcheck::{check_gradient, CheckOptions};
/// use wyrm::*;
///
/// let w = ParameterNode::new(ndarray::arr2(&[[0.5, -1.5]]));
/// let report = check_gradient(&w.square(), &w, &CheckOptions::default());
/// assert!(report.failures.is_empty());
/// // Every element was checked (for a sampled check, iterate `report.sampled` instead:
/// // `numeric` is NaN elsewhere).
/// for (a, n) in report.analytic.iter().zip(&report.numeric) {
///     assert!((a - n).abs() < 1e-3);
/// }
/// assert_eq!(report.to_string(), "gradient check passed (2 elements)");
/// ```
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct GradientCheck {
    /// Analytic gradient, row-major.
    pub analytic: Vec<f32>,
    /// Finite-difference gradient, row-major; `NaN` at elements a sample left out
    /// ([`sampled`](Self::sampled)).
    pub numeric: Vec<f32>,
    /// Elements outside the tolerance: `(index, analytic, numeric)`, the index row-major.
    pub failures: Vec<(usize, f32, f32)>,
    /// The shape of the checked target, `(rows, columns)`: element `i` is at row
    /// `i / columns`, column `i % columns`.
    pub shape: (usize, usize),
    /// The elements checked, row-major indices in increasing order, when
    /// [`CheckOptions::max_elements`] left some out; `None` when every element was
    /// checked.
    pub sampled: Option<Vec<usize>>,
    /// The weighted output of two forward passes at the unperturbed point (the first of
    /// the check and one of three at its end), when they differ: something changes from
    /// pass to pass (a node drawing random values, such as dropout while its
    /// [`TrainingFlag`](crate::TrainingFlag) is set, or parameters another thread
    /// updates), which finite differences cannot follow, and the check fails whatever the
    /// gradients. `None` when they agree.
    pub not_repeatable: Option<(f64, f64)>,
    /// What rechecking a few failing elements at other steps showed: whether the numeric
    /// estimates came closer to the analytic gradient at ten or a hundred times `epsilon`
    /// (rounding), at a tenth or a hundredth of it (curvature or a kink), or at neither
    /// (most likely a wrong gradient). `None` when the check passed, could not be repeated, or failed on
    /// values that are not finite.
    pub diagnosis: Option<Diagnosis>,
    /// The options the check ran with, for [`is_vacuous`](Self::is_vacuous).
    options: CheckOptions,
    /// Whether the output's forward pass went through a `detach` over something that
    /// needs a gradient: finite differences see through it, so the failures it causes
    /// look like anything to the rechecks.
    detached: bool,
}

/// Why a gradient check's failures are likely what they are, from rechecking up to five
/// failing elements with other finite-difference steps ([`GradientCheck::diagnosis`]).
///
/// A central difference is off by about `epsilon² / 6` times the third derivative
/// (curvature), and by the output's `f32` rounding divided by `2 epsilon`; a wrong
/// analytic gradient stays wrong at every step. So a larger step helps only against
/// rounding, a smaller one only against curvature and kinks.
///
/// ```
/// use wyrm::gradcheck::{check_gradient, CheckOptions, Diagnosis};
/// use wyrm::*;
///
/// // A sum of many squares: the output is large, and at a small step its f32 rounding
/// // drowns the differences.
/// let x = ParameterNode::new(ndarray::Array2::from_elem((16, 24), 2.5));
/// let options = CheckOptions { epsilon: 1e-4, ..CheckOptions::default() };
/// let report = check_gradient(&x.square().scalar_sum(), &x, &options);
/// assert_eq!(report.diagnosis, Some(Diagnosis::Rounding));
/// // At the default step (or as a mean) it passes.
/// assert!(check_gradient(&x.square().scalar_sum(), &x, &CheckOptions::default()).passed());
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Diagnosis {
    /// At ten or a hundred times `epsilon` the estimates came closer: `f32` rounding of
    /// the output
    /// (large, such as a sum over a batch, or the difference of large values) drowned
    /// them. Check a smaller instance (fewer rows), at a point where the output is of
    /// order 1 (a trained model's loss, or smaller weights), or use a larger `epsilon`. A
    /// mean instead of a sum rounds less, but it divides the gradients too: scale
    /// `absolute_tolerance` alike (by one over the count), else every gradient may pass
    /// within it and the check is vacuous ([`GradientCheck::is_vacuous`]; a new user's
    /// VAE loss as a mean was).
    Rounding,
    /// At a tenth or a hundredth of `epsilon` they came closer: curvature, or a kink
    /// within `epsilon` of the point. Use a smaller `epsilon`, or points away from kinks.
    Curvature,
    /// No other step brought them closer: most likely the analytic gradient is wrong (or
    /// a `detach` stands between the output and the checked values, which finite
    /// differences see through).
    Persistent,
}

impl GradientCheck {
    /// Whether every element checked (every one, or those [`sampled`](Self::sampled)) is
    /// within tolerance, and the output repeated.
    ///
    /// A [`UnaryOp`](crate::nodes::UnaryOp) with a wrong derivative fails:
    ///
    /// ```
    /// use wyrm::gradcheck::{check_gradient, CheckOptions};
    /// use wyrm::nodes::UnaryOp;
    /// use wyrm::*;
    ///
    /// struct Double;
    /// impl UnaryOp for Double {
    ///     const NAME: &'static str = "double";
    ///     fn apply(&self, x: f32) -> f32 {
    ///         2.0 * x
    ///     }
    ///     fn derivative(&self, _x: f32, _y: f32) -> f32 {
    ///         1.0 // should be 2
    ///     }
    /// }
    ///
    /// let x = ParameterNode::new(ndarray::arr2(&[[0.5, -1.0], [2.0, 0.25]]));
    /// let report = check_gradient(&x.map(Double), &x, &CheckOptions::default());
    /// assert!(!report.passed());
    /// assert_eq!(report.failures.len(), 4);
    /// // The report names each element by its row and column too.
    /// assert!(report.to_string().contains("element 2 (row 1, column 0): analytic"));
    /// ```
    pub fn passed(&self) -> bool {
        self.failures.is_empty() && self.not_repeatable.is_none()
    }

    /// Whether an analytic gradient of zeros would pass too: every numeric element checked
    /// is within the tolerance of 0, so the check cannot tell a missing or wrong gradient
    /// from the right one. It happens when an output is scaled down to dodge rounding (a
    /// VAE loss times `sigma²`: a new user's check then "passed", and failed 45 of 512
    /// elements with the tolerance scaled alike), or when `wrt` barely moves the output.
    /// The `assert_*` functions fail on it; a report says so. An empty `wrt` is not
    /// vacuous (there is nothing to compare, and nothing that could be wrong).
    ///
    /// ```
    /// use wyrm::gradcheck::{check_gradient, CheckOptions};
    /// use wyrm::*;
    ///
    /// let w = ParameterNode::new(ndarray::arr2(&[[0.5, -1.5]]));
    /// let tiny = w.square() * 1e-4;
    /// let report = check_gradient(&tiny, &w, &CheckOptions::default());
    /// assert!(report.passed() && report.is_vacuous());
    /// // With the tolerance scaled as the output is, the check compares something again.
    /// let options = CheckOptions { absolute_tolerance: 2e-7, ..CheckOptions::default() };
    /// let report = check_gradient(&tiny, &w, &options);
    /// assert!(report.passed() && !report.is_vacuous());
    /// ```
    pub fn is_vacuous(&self) -> bool {
        let mut checked = self.checked_numeric().peekable();
        checked.peek().is_some() && checked.all(|n| within(0.0, n, &self.options))
    }

    /// The numeric gradient at the elements checked.
    fn checked_numeric(&self) -> impl Iterator<Item = f32> + '_ {
        let all = self.sampled.is_none().then(|| self.numeric.iter().copied());
        let some = self.sampled.iter().flatten().map(|&i| self.numeric[i]);
        all.into_iter().flatten().chain(some)
    }

    /// How many elements were checked.
    fn checked_count(&self) -> usize {
        self.sampled.as_ref().map_or(self.analytic.len(), Vec::len)
    }
}

impl std::fmt::Display for GradientCheck {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let (checked, count) = (self.checked_count(), self.analytic.len());
        if self.passed() {
            match self.sampled {
                Some(_) => write!(
                    f,
                    "gradient check passed ({checked} of {count} elements, sampled)"
                )?,
                None => {
                    let plural = if count == 1 { "" } else { "s" };
                    write!(f, "gradient check passed ({count} element{plural})")?;
                }
            }
            if self.is_vacuous() {
                write!(
                    f,
                    ", but vacuously: every numeric element checked is within the tolerance of 0 \
                     (`absolute_tolerance` {}), so a gradient of zeros would pass too. Check \
                     where `wrt` moves the output more (an output scaled down against rounding \
                     needs `absolute_tolerance` scaled alike), or lower the tolerance",
                    self.options.absolute_tolerance
                )?;
            }
            return Ok(());
        }
        if let Some((first, last)) = self.not_repeatable {
            return write!(
                f,
                "gradient check not possible: two forward passes at the same point gave \
                 different outputs ({first} and {last}, weighted), so finite differences \
                 measure that change, not the gradient. Something changes from pass to pass: \
                 a node drawing random values (dropout while its TrainingFlag is set: check \
                 with the flag off, or compare graphs seeded alike by hand with \
                 `Variable::dropout_with_seed`), or shared parameters another thread updates \
                 meanwhile"
            );
        }
        let failed = self.failures.len();
        match self.sampled {
            Some(_) => writeln!(
                f,
                "gradient check failed on {failed} of {checked} sampled elements (of {count}):"
            )?,
            None => writeln!(f, "gradient check failed on {failed} of {count} elements:")?,
        }
        let columns = self.shape.1.max(1);
        for (i, a, n) in self.failures.iter().take(10) {
            let (row, column) = (i / columns, i % columns);
            writeln!(
                f,
                "  element {i} (row {row}, column {column}): analytic {a}, numeric {n}"
            )?;
        }
        f.write_str(&self.explanation())
    }
}

impl GradientCheck {
    /// What a failure most likely means, in parentheses: the last part of a failed report,
    /// which [`assert_gradients`] prints once for parameters that fail alike.
    fn explanation(&self) -> String {
        let not_finite = self
            .failures
            .iter()
            .any(|(_, a, n)| !a.is_finite() || !n.is_finite());
        if self.detached && !not_finite {
            // Whatever the rechecks showed: the steps change nothing about a cut.
            return format!(
                "(the output's graph has a `detach` over `wrt` (or, for an input, over \
                 something that needs a gradient): finite differences see through it and the \
                 gradient does not, so the elements whose effect passes through it fail \
                 whatever the step; check a graph without it, or the part below it. \
                 Rechecked at other steps, for reference: {})",
                match self.diagnosis {
                    Some(Diagnosis::Rounding) => "a larger epsilon came closer (rounding)",
                    Some(Diagnosis::Curvature) => "a smaller epsilon came closer (curvature)",
                    _ => "no other step came closer",
                }
            );
        }
        if not_finite {
            String::from(
                "(a value that is not finite: the function is undefined or overflows near \
                 these elements, e.g. `ln` or `sqrt` of a value within `epsilon` of 0 or \
                 below it, or a division by a value near 0; check the domain of the inputs)",
            )
        } else {
            match self.diagnosis {
                Some(Diagnosis::Rounding) => String::from(
                    "(rechecked at a larger epsilon, the numeric estimates come closer: f32 \
                     rounding of the output drowns them at this epsilon, as for a large output \
                     (a sum over a batch) or one that is the difference of large values, and a \
                     smaller `CheckOptions::epsilon` makes it worse. Check a smaller instance \
                     (fewer rows), a point where the output is of order 1 (a trained model's \
                     loss, or smaller weights), or a larger epsilon; a mean instead of a sum \
                     rounds less but needs `absolute_tolerance` scaled by one over the count, \
                     like any output scaled down, else the check is vacuous; see `Diagnosis`)"
                ),
                Some(Diagnosis::Curvature) => String::from(
                    "(rechecked at a smaller epsilon, the numeric estimates come closer: \
                     curvature, or a kink within epsilon, which fail a correct gradient too. \
                     Rerun with a smaller `CheckOptions::epsilon`, or away from kinks; see \
                     `CheckOptions`)"
                ),
                _ => String::from(
                    "(rechecked at ten and a hundred times epsilon and at a tenth and a \
                     hundredth of it, the numeric estimates stay as far off: most likely the analytic gradient is wrong. A \
                     `detach` between the output and `wrt` fails by design: finite differences \
                     see through it)"
                ),
            }
        }
    }
}

/// `T`'s name for messages, without module paths and with what is nested more than three
/// levels deep elided: `Unary<MulScalarOp, Single<ScalarSumOp, Sub<Mul<..>, Input>>>`. A whole
/// model's type runs to thousands of characters, which buried a new user's message.
fn short_type_name<T: ?Sized>() -> String {
    const DEPTH: usize = 3;
    let mut out = String::new();
    let mut depth = 0;
    let mut segment = String::new();
    let mut chars = std::any::type_name::<T>().chars().peekable();
    let mut previous = ' ';
    while let Some(c) = chars.next() {
        // The `>` of a function type's `->` closes nothing: a plain character.
        let kind = if c == '>' && previous == '-' { '-' } else { c };
        previous = c;
        if c == ':' && chars.peek() == Some(&':') {
            // A module path's segment: dropped.
            chars.next();
            segment.clear();
            continue;
        }
        if c.is_alphanumeric() || c == '_' {
            segment.push(c);
            continue;
        }
        if depth <= DEPTH {
            out.push_str(&segment);
        }
        segment.clear();
        match kind {
            '<' if depth < DEPTH => out.push('<'),
            '<' if depth == DEPTH => out.push_str("<.."),
            '>' if depth <= DEPTH + 1 => out.push('>'),
            _ if depth <= DEPTH => out.push(c),
            _ => {}
        }
        match kind {
            '<' => depth += 1,
            '>' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    out.push_str(&segment);
    out
}

/// Sum of `weights * value` in f64, after a fresh forward pass.
fn objective<T: Node>(output: &Variable<T>, weights: &Array2<f32>) -> f64 {
    output.forward();
    weighted(output, weights)
}

/// Sum of `weights * value` in f64, of the latest forward pass.
fn weighted<T: Node>(output: &Variable<T>, weights: &Array2<f32>) -> f64 {
    output.with_value(|value| {
        value
            .iter()
            .zip(weights.iter())
            .map(|(v, w)| *v as f64 * *w as f64)
            .sum()
    })
}

/// Compares the analytic gradient of `sum(W * output)` with respect to `wrt` against
/// central finite differences. Leaves `wrt`'s value as it was (also when `output` panics
/// at a perturbed value), and its gradient and the gradients of all of `output`'s
/// parameters cleared (the check's backward pass adds to every one of them).
/// Gradient-tracking inputs other than `wrt` keep what it added.
///
/// It costs two forward passes per element of `wrt` (each perturbation writes one
/// element): meant for the shapes of tests, not for whole models. An embedding table is
/// fine where the graph only looks rows up in it, since a forward pass then costs the
/// same whatever the table's size: a 50,000 x 8 table behind a lookup of 3 rows checked
/// in 0.4 s in a release build (while each perturbation copied the table, a new user
/// measured 12.5 s for 50,000 x 1). Where every pass costs more (a whole model over a
/// large table: a new user's check of a 4,372 x 32 table took 8.5 s),
/// [`CheckOptions::max_elements`] checks a sample instead, weighted towards the elements
/// the gradient says the output depends on.
///
/// ```
/// use wyrm::gradcheck::{check_gradient, CheckOptions};
/// use wyrm::*;
///
/// let w = ParameterNode::new(ndarray::arr2(&[[0.5], [-1.0]]));
/// let x = InputNode::with_gradient(ndarray::arr2(&[[1.0, 2.0]]));
/// let y = x.dot(&w).sigmoid();
/// // With respect to an input, too.
/// let report = check_gradient(&y, &x, &CheckOptions::default());
/// assert!(report.passed(), "{report}");
/// assert_eq!(x.value(), ndarray::arr2(&[[1.0, 2.0]]));
/// assert_eq!(w.gradient(), ndarray::arr2(&[[0.0], [0.0]]));
/// ```
///
/// # Panics
/// Before running anything, if `wrt` is a parameter `output` does not use or a frozen
/// one, an input that does not track gradients, or `options` has an `epsilon` that is not finite or below
/// `f32::MIN_POSITIVE`, a tolerance that is negative or not finite, or `max_elements`
/// `Some(0)`.
#[track_caller]
pub fn check_gradient<T: Node, P: GradientTarget>(
    output: &Variable<T>,
    wrt: &P,
    options: &CheckOptions,
) -> GradientCheck {
    check_options(options);
    let parameters = output.parameters();
    assert!(
        wrt.is_used_by(&parameters),
        "check_gradient: `wrt` is a {}x{} parameter that is not among the output's \
         parameters() (output type {}), so both gradients would be zero whatever the graph \
         computes (a node built with Variable::new must list the parameters below it)",
        wrt.shape().0,
        wrt.shape().1,
        short_type_name::<T>()
    );
    let frozen = !wrt.is_used_by(&[])
        && parameters
            .iter()
            .any(|p| p.is_frozen() && wrt.is_used_by(std::slice::from_ref(p)));
    assert!(
        !frozen,
        "check_gradient: `wrt` is a {}x{} parameter frozen with set_frozen(true): it records \
         no gradient, so the check could only fail; unfreeze it to check it",
        wrt.shape().0,
        wrt.shape().1,
    );
    // Reading the gradient panics now for an input that tracks none, before the backward
    // pass below adds to the parameters' gradients.
    let _ = wrt.gradient_vec();
    wrt.clear_gradient();
    let mut rng = rand::rngs::StdRng::seed_from_u64(options.seed);
    let shape = output.shape();
    let weights = Array2::from_shape_fn(shape, |_| rng.gen_range(0.5f32..1.5) * sign(&mut rng));

    // Watch for a `detach` over `wrt` in the first pass. An input says it may be used by
    // anything (even by no parameter at all), so detaches cannot tell it apart: 0 then.
    let target = match wrt.is_used_by(&[]) {
        true => 0,
        false => parameters
            .iter()
            .find(|p| wrt.is_used_by(std::slice::from_ref(p)))
            .map_or(0, crate::nodes::node_address),
    };
    crate::nodes::watch_cuts(target);
    output.forward();
    let detached = crate::nodes::cut_seen();
    let first = weighted(output, &weights);
    output.backward_with(weights.view());
    let analytic = wrt.gradient_vec();
    wrt.clear_gradient();
    for p in &parameters {
        p.zero_gradient();
    }

    let eps = options.epsilon;
    let sampled = options
        .max_elements
        .filter(|&most| most < wrt.len())
        .map(|most| sample_elements(&analytic, most, &mut rng));
    let checked: Vec<usize> = match &sampled {
        Some(sample) => sample.clone(),
        None => (0..wrt.len()).collect(),
    };
    let mut numeric = vec![f32::NAN; wrt.len()];
    for &i in &checked {
        numeric[i] = central_difference(output, wrt, &weights, i, eps);
    }
    // Three more passes at the unperturbed point, so that a random graph whose few
    // outputs happen to repeat once is still caught.
    let same = |a: f64, b: f64| a == b || (a.is_nan() && b.is_nan());
    let not_repeatable = (0..3)
        .map(|_| objective(output, &weights))
        .find(|&again| !same(first, again))
        .map(|again| (first, again));

    let failures: Vec<(usize, f32, f32)> = checked
        .into_iter()
        .map(|i| (i, analytic[i], numeric[i]))
        .filter(|&(_, a, n)| !within(a, n, options))
        .collect();
    let finite = failures
        .iter()
        .all(|(_, a, n)| a.is_finite() && n.is_finite());
    let diagnosis = (!failures.is_empty() && finite && not_repeatable.is_none())
        .then(|| diagnose(output, wrt, &weights, &failures, eps));
    GradientCheck {
        analytic,
        numeric,
        failures,
        shape: wrt.shape(),
        sampled,
        not_repeatable,
        diagnosis,
        options: options.clone(),
        detached,
    }
}

/// `most` element indices, in increasing order: up to half of them, rounded up (or more,
/// where too few zeros are left), among those whose `analytic` gradient is not zero, the
/// rest among those whose gradient is zero (see [`CheckOptions::max_elements`]).
fn sample_elements(analytic: &[f32], most: usize, rng: &mut impl Rng) -> Vec<usize> {
    let (nonzero, zero): (Vec<usize>, Vec<usize>) =
        (0..analytic.len()).partition(|&i| analytic[i] != 0.0);
    // Rounded up: a sample of one checks an element the output depends on.
    let from_nonzero = nonzero
        .len()
        .min((most - most / 2).max(most.saturating_sub(zero.len())));
    let from_zero = zero.len().min(most - from_nonzero);
    let mut sample: Vec<usize> = rand::seq::index::sample(rng, nonzero.len(), from_nonzero)
        .into_iter()
        .map(|k| nonzero[k])
        .chain(
            rand::seq::index::sample(rng, zero.len(), from_zero)
                .into_iter()
                .map(|k| zero[k]),
        )
        .collect();
    sample.sort_unstable();
    sample
}

/// Whether an analytic gradient element `a` passes against the numeric `n`.
fn within(a: f32, n: f32, options: &CheckOptions) -> bool {
    let scale = a.abs().max(n.abs());
    let allowed = options.absolute_tolerance + options.relative_tolerance * scale;
    // Non-finite gradients never pass: the tolerance would scale with an infinity, and
    // the error of two equal ones is NaN.
    (a - n).abs() <= allowed && a.is_finite() && n.is_finite()
}

/// The central difference of the weighted output along element `i` of `wrt`, with step
/// `eps`; the element is put back afterwards, even if a forward pass panics.
fn central_difference<T: Node, P: GradientTarget>(
    output: &Variable<T>,
    wrt: &P,
    weights: &Array2<f32>,
    i: usize,
    eps: f32,
) -> f32 {
    let original = wrt.get(i);
    wrt.set(i, original + eps);
    // Only now: if that `set` panicked, nothing was written (and a guard calling it
    // again while unwinding would abort the process).
    let restore = Restore(wrt, i, original);
    let plus = objective(output, weights);
    wrt.set(i, original - eps);
    let minus = objective(output, weights);
    drop(restore);
    ((plus - minus) / (2.0 * eps as f64)) as f32
}

/// Rechecks up to five failures at ten and a hundred times `eps`, and at a tenth and a
/// hundredth of it, and
/// names what most of them show (see [`Diagnosis`]); a tie names the one that least
/// excuses the gradient.
fn diagnose<T: Node, P: GradientTarget>(
    output: &Variable<T>,
    wrt: &P,
    weights: &Array2<f32>,
    failures: &[(usize, f32, f32)],
    eps: f32,
) -> Diagnosis {
    // Persistent, Curvature, Rounding: in the order ties are settled.
    let mut votes = [0; 3];
    for &(i, analytic, numeric) in failures.iter().take(5) {
        let error = |n: f32| (analytic - n).abs();
        let at = |step: f32| error(central_difference(output, wrt, weights, i, step));
        let base = error(numeric);
        // Two steps each way: a rounding error can repeat at one step by chance.
        let larger = at(eps * 10.0).min(at(eps * 100.0));
        let smaller = at(eps / 10.0).min(at(eps / 100.0));
        // Closer: at most half the error at `eps`.
        let kind = if larger <= base / 2.0 && larger <= smaller {
            2
        } else if smaller <= base / 2.0 {
            1
        } else {
            0
        };
        votes[kind] += 1;
    }
    let most = votes.iter().copied().max().unwrap_or(0);
    match votes.iter().position(|&v| v == most) {
        Some(2) => Diagnosis::Rounding,
        Some(1) => Diagnosis::Curvature,
        _ => Diagnosis::Persistent,
    }
}

/// Sets element `.1` of `.0` back to `.2` when dropped, so that a forward pass panicking
/// at a perturbed value does not leave the perturbation behind.
struct Restore<'a, P: GradientTarget>(&'a P, usize, f32);

impl<P: GradientTarget> Drop for Restore<'_, P> {
    fn drop(&mut self) {
        self.0.set(self.1, self.2);
    }
}

/// Panics unless the options can give a meaningful check (a NaN tolerance passes
/// anything; a zero or NaN step gives NaN numeric gradients everywhere).
#[track_caller]
fn check_options(options: &CheckOptions) {
    use crate::checks::{check_setting, Range};
    check_setting("check_gradient: epsilon", options.epsilon, Range::Positive);
    for (name, tolerance) in [
        (
            "check_gradient: absolute_tolerance",
            options.absolute_tolerance,
        ),
        (
            "check_gradient: relative_tolerance",
            options.relative_tolerance,
        ),
    ] {
        check_setting(name, tolerance, Range::NonNegative);
    }
    assert!(
        options.max_elements != Some(0),
        "check_gradient: max_elements is Some(0), which would check nothing; use None to \
         check every element"
    );
}

fn sign(rng: &mut impl Rng) -> f32 {
    if rng.gen_bool(0.5) {
        1.0
    } else {
        -1.0
    }
}

/// Runs [`check_gradient`] with default options and panics with a report on failure.
///
/// ```
/// use wyrm::*;
///
/// let w = ParameterNode::new(ndarray::arr2(&[[0.5, -2.0], [-1.0, 0.0]]));
/// let x = InputNode::new(ndarray::arr2(&[[1.0, -1.0]]));
/// gradcheck::assert_gradient(&x.dot(&w).relu(), &w);
/// ```
///
/// # Panics
/// If any gradient element is outside the default tolerance, or the check is vacuous
/// ([`GradientCheck::is_vacuous`]).
#[track_caller]
pub fn assert_gradient<T: Node, P: GradientTarget>(output: &Variable<T>, wrt: &P) {
    let report = check_gradient(output, wrt, &CheckOptions::default());
    assert!(
        report.passed() && !report.is_vacuous(),
        "{report}\nfor output of type {}",
        short_type_name::<T>()
    );
}

/// Runs [`check_gradient`] with respect to every parameter of `output`
/// ([`Variable::parameters`], in that order), one after the other. A report does not
/// name its parameter: print its position and [`shape`](GradientCheck::shape) with it,
/// as below, or use [`check_named_gradients`] (with a `model!` companion's
/// `named_parameters()`).
///
/// ```
/// use wyrm::gradcheck::{check_gradients, CheckOptions};
/// use wyrm::*;
///
/// let (w, b) = (ParameterNode::new(random_matrix(3, 2)), ParameterNode::new(random_matrix(1, 2)));
/// let x = InputNode::new(random_matrix(4, 3));
/// let y = (x.dot(&w) + b.clone()).tanh();
/// let reports = check_gradients(&y, &CheckOptions::default());
/// assert_eq!(reports.len(), 2);
/// assert!(reports.iter().all(|r| r.passed()));
/// for (i, report) in reports.iter().enumerate() {
///     let (rows, cols) = report.shape;
///     println!("parameter {} ({rows}x{cols}): {report}", i + 1);
/// }
/// ```
///
/// # Panics
/// Before running anything, if `output` has no parameters or a frozen one (check an input built with
/// [`InputNode::with_gradient`] with [`check_gradient`] instead), or `options` is invalid
/// (as for [`check_gradient`]).
#[track_caller]
pub fn check_gradients<T: Node>(
    output: &Variable<T>,
    options: &CheckOptions,
) -> Vec<GradientCheck> {
    check_options(options);
    let parameters = output.parameters();
    assert!(
        !parameters.is_empty(),
        "check_gradients: the output has no parameters, so there is nothing to check (output \
         type {}); for an input built with InputNode::with_gradient, use check_gradient",
        short_type_name::<T>()
    );
    let frozen: Vec<String> = (parameters.iter().enumerate())
        .filter(|(_, p)| p.is_frozen())
        .map(|(i, p)| format!("{} ({}x{})", i + 1, p.shape().0, p.shape().1))
        .collect();
    assert!(
        frozen.is_empty(),
        "check_gradients: parameter {} of {} is frozen (set_frozen(true)), so it records no \
         gradient to check; unfreeze it, check the others with check_gradient, or name them \
         with check_named_gradients, which leaves frozen parameters out",
        frozen.join(", "),
        parameters.len()
    );
    parameters
        .iter()
        .map(|p| check_gradient(output, p, options))
        .collect()
}

/// [`assert_gradient`] for every parameter of `output`: panics with the report of each
/// parameter that fails, naming its position in [`Variable::parameters`] (counting from
/// 1; the order in which the graph first uses them) and its shape. For a `model!`
/// model, [`assert_named_gradients`] names them as the block does.
///
/// ```
/// use wyrm::*;
///
/// let (w1, w2) = (ParameterNode::new(random_matrix(3, 4)), ParameterNode::new(random_matrix(4, 1)));
/// let x = InputNode::new(random_matrix(2, 3));
/// gradcheck::assert_gradients(&x.dot(&w1).sigmoid().dot(&w2));
/// ```
///
/// # Panics
/// If any element of any parameter's gradient is outside the default tolerance, or a
/// parameter's check is vacuous ([`GradientCheck::is_vacuous`]), or `output` has no
/// parameters.
#[track_caller]
pub fn assert_gradients<T: Node>(output: &Variable<T>) {
    let reports = check_gradients(output, &CheckOptions::default());
    let count = reports.len();
    let labelled = reports
        .into_iter()
        .enumerate()
        .map(|(i, r)| (format!("{} of {count}", i + 1), r));
    assert_all_passed::<T>(labelled);
}

/// Panics with the report of each labelled parameter that failed, and the output's type.
#[track_caller]
fn assert_all_passed<T>(reports: impl Iterator<Item = (String, GradientCheck)>) {
    // Each explanation once: a model's ten parameters failing alike (rounding of a large
    // loss) repeated one paragraph ten times.
    let mut explained: Vec<(String, String)> = Vec::new();
    let failed: Vec<String> = reports
        .filter(|(_, r)| !r.passed() || r.is_vacuous())
        .map(|(label, r)| {
            let (rows, cols) = r.shape;
            let mut text = r.to_string();
            if !r.passed() && r.not_repeatable.is_none() {
                let explanation = r.explanation();
                match explained.iter().find(|(e, _)| *e == explanation) {
                    Some((_, first)) => {
                        text.truncate(text.len() - explanation.len());
                        text.push_str(&format!("(as for parameter {first})"));
                    }
                    None => explained.push((explanation, label.clone())),
                }
            }
            format!("parameter {label} ({rows}x{cols}): {text}\n")
        })
        .collect();
    assert!(
        failed.is_empty(),
        "{}for output of type {}",
        failed.concat(),
        short_type_name::<T>()
    );
}

/// [`check_gradient`] for each of `parameters` that `output` uses, with its name: for a
/// `model!` model's [`named_parameters()`](crate::model), the report of each parameter by
/// its name in the block. Parameters that `output` does not use (those of a model's other
/// heads), and frozen ones ([`set_frozen`](crate::Variable::set_frozen)), are skipped.
///
/// A ReLU model at its initial values is a common cause of failures that are no bug: with
/// zero biases, some units' inputs lie within `epsilon` of the kink at 0. Give such a
/// check a smaller `epsilon` (a new user's two-tower ReLU model failed 305 elements at the
/// default 1e-2, 4 at 1e-3 and none at 1e-4), or biases away from 0.
///
/// ```
/// use wyrm::gradcheck::{check_named_gradients, CheckOptions};
/// use wyrm::rand::{rngs::StdRng, SeedableRng};
/// use wyrm::*;
///
/// wyrm::model! {
///     struct Net {
///         w1: Param<3, 4>,
///         b1: Param<1, 4> = ones,
///         w2: Param<4, 1>,
///         x: Input<2, 3>,
///         out = (x.dot(w1) + b1).relu().dot(w2),
///     }
/// }
///
/// // Seeded: at some draws a pre-activation lies within `epsilon` of the kink anyway.
/// let mut rng = StdRng::seed_from_u64(5);
/// let model = Net::new_with_rng(&mut rng);
/// model.x.set_value(&init::normal(2, 3, 0.0, 1.0, &mut rng));
/// let options = CheckOptions { epsilon: 1e-3, ..CheckOptions::default() };
/// let reports = check_named_gradients(&model.out, &model.named_parameters(), &options);
/// let names: Vec<&str> = reports.iter().map(|(name, _)| name.as_str()).collect();
/// assert_eq!(names, ["w1", "b1", "w2"]);
/// assert!(reports.iter().all(|(_, report)| report.passed()));
/// // Each report prints on its own (a list of pairs has no `Display`).
/// for (name, report) in &reports {
///     println!("{name}: {report}");
/// }
/// ```
///
/// # Panics
/// If `output` uses none of `parameters`, or `options` is invalid (as for
/// [`check_gradient`]).
#[track_caller]
pub fn check_named_gradients<T: Node, S: AsRef<str>>(
    output: &Variable<T>,
    parameters: &[(S, Variable<ParameterNode>)],
    options: &CheckOptions,
) -> Vec<(String, GradientCheck)> {
    check_options(options);
    let used = output.parameters();
    let checked: Vec<&(S, Variable<ParameterNode>)> = parameters
        .iter()
        .filter(|(_, p)| !p.is_frozen())
        .filter(|(_, p)| used.iter().any(|q| std::rc::Rc::ptr_eq(q.node(), p.node())))
        .collect();
    assert!(
        !checked.is_empty(),
        "check_named_gradients: the output uses none of the parameters given ({}), or only \
         frozen ones, so there is nothing to check (output type {})",
        parameters
            .iter()
            .map(|(n, _)| n.as_ref())
            .collect::<Vec<_>>()
            .join(", "),
        short_type_name::<T>()
    );
    checked
        .into_iter()
        .map(|(name, p)| {
            (
                name.as_ref().to_string(),
                check_gradient(output, p, options),
            )
        })
        .collect()
}

/// [`check_named_gradients`] with the default options, panicking with the report of each
/// parameter that fails, by its name.
///
/// ```
/// use wyrm::*;
///
/// wyrm::model! {
///     struct Net {
///         w1: Param<3, 4>,
///         w2: Param<4, 1>,
///         x: Input<2, 3>,
///         hidden = x.dot(w1).sigmoid(),
///         out = hidden.dot(w2),
///     }
/// }
///
/// let model = Net::new();
/// model.x.set_value(&random_matrix(2, 3));
/// // `hidden` does not use `w2`: only `w1` is checked there.
/// gradcheck::assert_named_gradients(&model.hidden, &model.named_parameters());
/// gradcheck::assert_named_gradients(&model.out, &model.named_parameters());
/// ```
///
/// # Panics
/// If any element of a used parameter's gradient is outside the default tolerance, or a
/// used parameter's check is vacuous ([`GradientCheck::is_vacuous`]), naming the
/// parameter; or if `output` uses none of `parameters`.
#[track_caller]
pub fn assert_named_gradients<T: Node, S: AsRef<str>>(
    output: &Variable<T>,
    parameters: &[(S, Variable<ParameterNode>)],
) {
    let reports = check_named_gradients(output, parameters, &CheckOptions::default());
    assert_all_passed::<T>(
        reports
            .into_iter()
            .map(|(name, r)| (format!("`{name}`"), r)),
    );
}

#[cfg(test)]
mod tests {
    use super::short_type_name;

    struct W<T>(T);

    #[test]
    fn type_names_lose_paths_and_deep_nesting() {
        assert_eq!(short_type_name::<W<Vec<u8>>>(), "W<Vec<u8>>");
        assert_eq!(short_type_name::<W<W<W<W<W<u8>>>>>>(), "W<W<W<W<..>>>>");
        // A function type's arrow is no bracket.
        assert_eq!(
            short_type_name::<W<fn(&str) -> u8>>(),
            "W<fn(&'_ str) -> u8>"
        );
        assert_eq!(
            short_type_name::<W<W<W<W<fn() -> u8>>>>>(),
            "W<W<W<W<..>>>>"
        );
        assert_eq!(
            short_type_name::<(W<fn() -> W<u8>>, [W<W<W<W<u8>>>>; 2])>(),
            "(W<fn() -> W<u8>>, [W<W<W<W<..>>>>; 2])"
        );
    }
    use super::*;
    use crate::nodes::UnaryOp;
    use crate::{InputNode, ParameterNode};

    /// `x²` with a wrong derivative.
    struct Wrong;

    impl UnaryOp for Wrong {
        const NAME: &'static str = "wrong";
        fn apply(&self, x: f32) -> f32 {
            x * x
        }
        fn derivative(&self, x: f32, _: f32) -> f32 {
            x // should be 2x
        }
    }

    /// The message `f` panics with.
    fn panic_message(f: impl FnOnce()) -> String {
        let payload = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)).unwrap_err();
        payload.downcast_ref::<String>().unwrap().clone()
    }

    /// Parameters that fail for the same reason get its explanation once: a new user's
    /// ten-parameter VAE printed one paragraph ten times.
    #[test]
    fn one_explanation_for_parameters_failing_alike() {
        let a = ParameterNode::new(ndarray::arr2(&[[0.5, -1.5]]));
        let b = ParameterNode::new(ndarray::arr2(&[[1.0], [0.25]]));
        let c = ParameterNode::new(ndarray::arr2(&[[2.0]]));
        let y = a.map(Wrong).scalar_sum() + b.map(Wrong).scalar_sum() + c.map(Wrong).scalar_sum();
        let message = panic_message(|| assert_gradients(&y));
        let explanation = "most likely the analytic gradient is wrong";
        assert_eq!(message.matches(explanation).count(), 1, "{message}");
        assert_eq!(
            message.matches("(as for parameter 1 of 3)").count(),
            2,
            "{message}"
        );
        for label in [
            "parameter 1 of 3 (1x2)",
            "parameter 2 of 3 (2x1)",
            "parameter 3 of 3 (1x1)",
        ] {
            assert!(message.contains(label), "{message}");
        }
    }

    /// A failure through a `detach` is blamed on it, not on rounding or curvature (a new
    /// user's actor-critic loss, whose advantage is detached, was told to change
    /// epsilon); a graph without one gets the rechecks' explanation.
    #[test]
    fn failures_through_a_detach_say_so() {
        let w = ParameterNode::new(ndarray::arr2(&[[0.5, -1.5], [1.0, 0.25]]));
        let cut = (w.tanh().detach() * w.clone()).scalar_sum();
        let report = check_gradient(&cut, &w, &CheckOptions::default());
        assert!(!report.passed());
        let text = report.to_string();
        assert!(text.contains("the output's graph has a `detach`"), "{text}");
        let wrong = w.map(Wrong).scalar_sum();
        let text = check_gradient(&wrong, &w, &CheckOptions::default()).to_string();
        assert!(!text.contains("`detach` over"), "{text}");
        // A detach over another parameter is not blamed for `w`'s own mistake (the
        // critic's value detached in an actor's loss).
        let critic = ParameterNode::new(ndarray::arr2(&[[0.3, 0.7], [-0.2, 1.1]]));
        let actor_loss = (w.map(Wrong) * critic.tanh().detach()).scalar_sum();
        let text = check_gradient(&actor_loss, &w, &CheckOptions::default()).to_string();
        assert!(!text.contains("`detach` over"), "{text}");
        assert!(
            text.contains("most likely the analytic gradient is wrong"),
            "{text}"
        );
        // A value that is not finite is explained as such, detach or not.
        let near_zero = ParameterNode::new(ndarray::arr2(&[[1e-4]]));
        let undefined = (near_zero.sqrt() * near_zero.detach()).scalar_sum();
        let options = CheckOptions {
            epsilon: 1e-3,
            ..CheckOptions::default()
        };
        let text = check_gradient(&undefined, &near_zero, &options).to_string();
        assert!(text.contains("a value that is not finite"), "{text}");
        // Boxed, the detach is found all the same.
        let boxed = (w.tanh().detach().boxed() * w.clone()).boxed();
        let text = check_gradient(&boxed, &w, &CheckOptions::default()).to_string();
        assert!(text.contains("the output's graph has a `detach`"), "{text}");
    }

    /// Vacuous: a gradient of zeros would pass too. `assert_gradients` names a parameter
    /// whose check is; an empty parameter's is not.
    #[test]
    fn vacuous_checks_are_named_and_empty_ones_are_not_vacuous() {
        let x = ParameterNode::new(ndarray::arr2(&[[1.0]]));
        let empty = ParameterNode::new(ndarray::Array2::zeros((0, 3)));
        let w = ParameterNode::new(ndarray::arr2(&[[0.5, -1.5]]));
        let y = x.square().scalar_sum() + empty.scalar_sum() + (w.square() * 1e-4).scalar_sum();
        let reports = check_gradients(&y, &CheckOptions::default());
        let vacuous: Vec<bool> = reports.iter().map(|r| r.is_vacuous()).collect();
        assert_eq!(vacuous, [false, false, true]);
        let message = panic_message(|| assert_gradients(&y));
        assert!(
            message.starts_with(
                "parameter 3 of 3 (1x2): gradient check passed (2 elements), but vacuously"
            ),
            "{message}"
        );
        assert!(!message.contains("parameter 2"), "{message}");
    }

    /// A missing gradient passes a check whose numeric estimate is a little above the
    /// absolute tolerance (the relative one covers the rest): vacuous all the same.
    #[test]
    fn a_numeric_gradient_within_both_tolerances_of_zero_is_vacuous() {
        let v = ParameterNode::new(ndarray::arr2(&[[1.0]]));
        let options = CheckOptions::default();
        // The check's upstream weight, read from the gradient of `v` itself.
        let weight = check_gradient(&(v.clone() * 1.0), &v, &options).analytic[0];
        let slope = 2.03e-3 / weight.abs();
        // The detached term carries the slope; the gradient says 0.
        let missing = v.detach() * slope + v.clone() * 0.0;
        let report = check_gradient(&missing, &v, &options);
        assert!(report.passed(), "{report}");
        assert!(report.numeric[0].abs() > options.absolute_tolerance);
        assert!(report.is_vacuous(), "{report}");
    }

    /// Every parameter is checked; a wrong gradient for one of them is reported with its
    /// position and shape, and the others pass.
    #[test]
    fn assert_gradients_names_the_failing_parameter() {
        let a = ParameterNode::new(ndarray::arr2(&[[0.5, -1.0]]));
        let b = ParameterNode::new(ndarray::arr2(&[[1.5], [0.25], [2.0]]));
        let y = a.clone().map(Wrong).scalar_sum() + b.tanh().scalar_sum();
        let reports = check_gradients(&y, &CheckOptions::default());
        assert_eq!(
            reports.iter().map(|r| r.passed()).collect::<Vec<_>>(),
            [false, true]
        );
        let message = panic_message(|| assert_gradients(&y));
        assert!(message.starts_with("parameter 1 of 2 (1x2): "), "{message}");
        assert!(!message.contains("parameter 2"), "{message}");
        assert!(message.contains(")\nfor output of type"), "{message}");
    }

    /// By name: the failing parameter is named, one the output does not use is skipped,
    /// and an output that uses none of them is refused.
    #[test]
    fn assert_named_gradients_names_the_failing_parameter() {
        let a = ParameterNode::new(ndarray::arr2(&[[0.5, -1.0]]));
        let b = ParameterNode::new(ndarray::arr2(&[[1.5], [0.25], [2.0]]));
        let unused = ParameterNode::new(ndarray::arr2(&[[1.0]]));
        let named = [("bias", b.clone()), ("scale", a.clone()), ("other", unused)];
        let y = a.clone().map(Wrong).scalar_sum() + b.tanh().scalar_sum();
        let message = panic_message(|| assert_named_gradients(&y, &named));
        assert!(
            message.starts_with("parameter `scale` (1x2): "),
            "{message}"
        );
        assert!(
            !message.contains("`bias`") && !message.contains("`other`"),
            "{message}"
        );
        // Without the wrong op, everything used passes.
        let good = a.tanh().scalar_sum() + b.tanh().scalar_sum();
        assert_named_gradients(&good, &named);
        let message = panic_message(|| assert_named_gradients(&good, &named[2..]));
        assert!(
            message.starts_with(
                "check_named_gradients: the output uses none of the parameters given (other)"
            ),
            "{message}"
        );
    }

    /// A graph that draws new random values each pass (dropout while training) cannot be
    /// checked: the report says so instead of blaming kinks, and it fails even where the
    /// differences happen to agree. With the flag off the same graph passes.
    #[test]
    fn random_outputs_are_reported_as_not_repeatable() {
        let training = crate::TrainingFlag::new();
        let w = ParameterNode::new(ndarray::arr2(&[[0.5, -0.3], [0.2, 0.8]]));
        let x = InputNode::new(ndarray::arr2(&[[1.0, 2.0]]));
        let y = x.dot(&w).dropout_with_seed(0.5, &training, 1).scalar_sum();
        let report = check_gradient(&y, &w, &CheckOptions::default());
        assert!(!report.passed());
        assert!(report.not_repeatable.is_some());
        let message = report.to_string();
        assert!(
            message.starts_with("gradient check not possible: two forward passes"),
            "{message}"
        );
        assert!(message.contains("TrainingFlag"), "{message}");
        training.set(false);
        let report = check_gradient(&y, &w, &CheckOptions::default());
        assert!(report.passed(), "{report}");
        assert_eq!(report.not_repeatable, None);
    }

    /// `tanh(x·w·v)`, with `w` 2x1 and `v` 1x1: the two parameters and the output.
    fn two_layers() -> (
        Variable<ParameterNode>,
        Variable<ParameterNode>,
        Variable<impl Node>,
    ) {
        let (w, v) = (
            ParameterNode::new(crate::init::seeded(2, 1, 1.0, 1)),
            ParameterNode::new(crate::init::seeded(1, 1, 1.0, 2)),
        );
        let x = InputNode::new(crate::init::seeded(3, 2, 1.0, 3));
        let y = x.dot(&w).dot(&v).tanh();
        (w, v, y)
    }

    #[test]
    #[should_panic(
        expected = "check_gradient: `wrt` is a 2x1 parameter frozen with set_frozen(true)"
    )]
    fn checking_a_frozen_parameter_says_so() {
        let (w, v, y) = two_layers();
        assert!(check_gradient(&y, &w, &CheckOptions::default()).passed());
        w.set_frozen(true);
        // The other parameter still checks; the frozen one says why it cannot.
        assert!(check_gradient(&y, &v, &CheckOptions::default()).passed());
        check_gradient(&y, &w, &CheckOptions::default());
    }

    /// `check_gradients` refuses a frozen parameter before checking anything;
    /// `check_named_gradients` leaves it out.
    #[test]
    fn checking_all_gradients_with_a_frozen_parameter() {
        let (w, v, y) = two_layers();
        w.set_frozen(true);
        let message = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            check_gradients(&y, &CheckOptions::default())
        }))
        .map_err(|p| p.downcast::<String>().map(|s| *s).unwrap_or_default())
        .expect_err("a frozen parameter");
        assert!(
            message.contains("check_gradients: parameter 1 (2x1) of 2 is frozen"),
            "{message}"
        );
        let named = [("w", w.clone()), ("v", v.clone())];
        let reports = check_named_gradients(&y, &named, &CheckOptions::default());
        assert_eq!(reports.len(), 1);
        assert!(reports[0].0 == "v" && reports[0].1.passed());
    }

    #[test]
    #[should_panic(expected = "check_gradients: the output has no parameters")]
    fn checking_an_output_without_parameters_panics() {
        let x = InputNode::with_gradient(ndarray::arr2(&[[0.5]]));
        check_gradients(&x.tanh(), &CheckOptions::default());
    }

    /// A check that fails on values that are not finite says so, instead of suggesting
    /// kinks and curvature; other failures keep that hint.
    #[test]
    fn failure_reports_say_when_values_are_not_finite() {
        let x = ParameterNode::new(ndarray::arr2(&[[1e-4, 2.0]]));
        let y = x.ln();
        let report = check_gradient(&y, &x, &CheckOptions::default());
        assert!(!report.passed());
        let text = report.to_string();
        assert!(text.contains("a value that is not finite"), "{text}");
        assert!(!text.contains("a kink"), "{text}");
        assert_eq!(report.diagnosis, None);
    }

    /// Failures are rechecked at other steps, and the report names what they show: a
    /// kink within epsilon comes closer at a smaller step, rounding of a large output
    /// (or of the difference of large values) at a larger one, and a wrong derivative at
    /// none, even on an output large enough that rounding could hide small errors.
    #[test]
    fn failure_reports_say_what_other_steps_show() {
        let diagnose = |report: GradientCheck, expected: Diagnosis, text: &str| {
            assert!(!report.passed());
            assert_eq!(report.diagnosis, Some(expected), "{report}");
            assert!(report.to_string().contains(text), "{report}");
        };
        // A kink: |x| at 0.0005, within the default step of 0.01.
        let x = ParameterNode::new(ndarray::arr2(&[[0.0005, 2.0]]));
        let report = check_gradient(&x.abs(), &x, &CheckOptions::default());
        diagnose(
            report,
            Diagnosis::Curvature,
            "curvature, or a kink within epsilon",
        );

        // Rounding: a large sum at a small step, and the same sum minus its value.
        let x = ParameterNode::new(ndarray::Array2::from_shape_fn((16, 24), |(i, j)| {
            2.0 + ((i * 24 + j) as f32 * 0.37).sin()
        }));
        let small = CheckOptions {
            epsilon: 1e-4,
            ..CheckOptions::default()
        };
        let report = check_gradient(&x.square().scalar_sum(), &x, &small);
        diagnose(
            report,
            Diagnosis::Rounding,
            "f32 rounding of the output drowns them",
        );
        let total = x.value().iter().map(|v| v * v).sum::<f32>();
        let report = check_gradient(&(x.square().scalar_sum() - total), &x, &small);
        diagnose(
            report,
            Diagnosis::Rounding,
            "a smaller `CheckOptions::epsilon` makes it worse",
        );
        // As a mean, at the default step, it passes.
        let report = check_gradient(&x.square().mean(), &x, &CheckOptions::default());
        assert!(report.passed(), "{report}");
        assert_eq!(report.diagnosis, None);

        // A derivative off by a factor of two, on 1,024 outputs of about 100.
        struct Double;
        impl crate::nodes::UnaryOp for Double {
            const NAME: &'static str = "double";
            fn apply(&self, x: f32) -> f32 {
                2.0 * x
            }
            fn derivative(&self, _: f32, _: f32) -> f32 {
                1.0
            }
        }
        let x = ParameterNode::new(ndarray::Array2::from_shape_fn((32, 32), |(i, j)| {
            50.0 + (i * 32 + j) as f32 * 0.01
        }));
        let report = check_gradient(&x.map(Double), &x, &CheckOptions::default());
        diagnose(
            report,
            Diagnosis::Persistent,
            "most likely the analytic gradient is wrong",
        );
    }

    /// Perturbations write single elements, of local and shared storage (odd columns
    /// too, where an element is half of a shared word), and put them back.
    #[test]
    fn perturbs_one_element_at_a_time_and_restores_it() {
        use std::sync::Arc;
        let values = crate::random_matrix(7, 3);
        let shared = Arc::new(crate::HogwildParameter::new(values.clone()));
        let local = ParameterNode::new(values.clone());
        for table in [local, ParameterNode::shared(shared.clone())] {
            let idx = crate::IndexInputNode::new(&[6, 1, 1]);
            let out = table.index(&idx).tanh() * table.index(&idx).sigmoid();
            assert_gradient(&out, &table);
            assert_eq!(table.value(), values);
            for i in [0, 5, 20] {
                table.node().set_element(i, 9.0);
                assert_eq!(table.node().element(i), 9.0);
                assert_eq!(table.value()[(i / 3, i % 3)], 9.0);
                table.node().set_element(i, values[(i / 3, i % 3)]);
            }
        }
        assert_eq!(shared.value(), values);
        let x = InputNode::with_gradient(values.clone());
        let y = x.square().scalar_sum();
        assert_gradient(&y, &x);
        assert_eq!(x.value(), values);
    }

    #[test]
    fn leaves_every_parameter_gradient_cleared() {
        let w = ParameterNode::new(ndarray::arr2(&[[1.0, 2.0]]));
        let b = ParameterNode::new(ndarray::arr2(&[[0.5, 0.5]]));
        let x = InputNode::new(ndarray::arr2(&[[3.0, 4.0]]));
        let loss = (w.clone() * x + b.clone()).scalar_sum();
        loss.forward();
        loss.backward(1.0);
        let report = check_gradient(&loss, &w, &CheckOptions::default());
        assert!(report.failures.is_empty());
        assert_eq!(w.gradient(), ndarray::arr2(&[[0.0, 0.0]]));
        assert_eq!(b.gradient(), ndarray::arr2(&[[0.0, 0.0]]));
    }

    /// A sample takes up to half its elements where the analytic gradient is not zero
    /// and the rest where it is, each part taking what the other leaves; it is sorted,
    /// repeatable by seed, and `None` when the budget covers every element.
    #[test]
    fn samples_split_between_nonzero_and_zero_gradients() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(3);
        let analytic: Vec<f32> = (0..100)
            .map(|i| if i % 10 == 0 { 1.0 } else { 0.0 })
            .collect();
        let nonzero = |sample: &[usize]| sample.iter().filter(|&&i| analytic[i] != 0.0).count();
        // Odd budgets round the nonzero part up: a sample of one is never a zero alone.
        for (most, expected_nonzero) in [(1, 1), (3, 2), (6, 3), (30, 10), (95, 10)] {
            let sample = sample_elements(&analytic, most, &mut rng);
            assert_eq!(sample.len(), most);
            assert!(sample.windows(2).all(|w| w[0] < w[1]), "{sample:?}");
            assert_eq!(nonzero(&sample), expected_nonzero, "{most}");
        }
        // Ten zeros only: the nonzero part takes the rest of the budget.
        let mostly: Vec<f32> = analytic.iter().map(|&a| 1.0 - a).collect();
        let sample = sample_elements(&mostly, 30, &mut rng);
        assert_eq!(sample.iter().filter(|&&i| mostly[i] == 0.0).count(), 10);
        let table = ParameterNode::new(crate::random_matrix(50, 4));
        let ids = crate::IndexInputNode::new(&[7, 30]);
        let y = table.index(&ids).sigmoid();
        let options = CheckOptions {
            max_elements: Some(20),
            ..CheckOptions::default()
        };
        let report = check_gradient(&y, &table, &options);
        let again = check_gradient(&y, &table, &options);
        assert_eq!(report.sampled, again.sampled);
        let sample = report.sampled.clone().unwrap();
        // Every element of the two rows looked up (8 of 20), then 12 zeros.
        let looked_up: Vec<usize> = (28..32).chain(120..124).collect();
        assert!(looked_up.iter().all(|i| sample.contains(i)), "{sample:?}");
        for i in 0..200 {
            assert_eq!(report.numeric[i].is_nan(), !sample.contains(&i), "{i}");
        }
        let whole = CheckOptions {
            max_elements: Some(200),
            ..CheckOptions::default()
        };
        assert_eq!(check_gradient(&y, &table, &whole).sampled, None);
    }

    /// A sampled check fails on a wrong gradient in a looked-up row, and on a missing one
    /// among the elements whose gradient is zero; its report counts the sample, and a
    /// sample of zeros alone is judged vacuous by what it checked.
    #[test]
    fn sampled_checks_find_wrong_and_missing_gradients() {
        let table = ParameterNode::new(crate::random_matrix(5_000, 8));
        let ids = crate::IndexInputNode::new(&[12, 4_321]);
        let options = CheckOptions {
            max_elements: Some(64),
            ..CheckOptions::default()
        };
        let report = check_gradient(&table.index(&ids).map(Wrong), &table, &options);
        assert_eq!(report.failures.len(), 16, "{report}");
        let text = report.to_string();
        assert!(
            text.starts_with("gradient check failed on 16 of 64 sampled elements (of 40000):"),
            "{text}"
        );
        // Every element moves the output, none has a gradient: all 64 fail.
        let missing = table.detach().scalar_sum() + table.clone() * 0.0;
        let report = check_gradient(&missing, &table, &options);
        assert_eq!(report.failures.len(), 64, "{report}");
        // Zeros that finite differences confirm: passed, and vacuous.
        let right = table.index(&ids).tanh() * 0.0 + (table.clone() * 0.0).scalar_sum();
        let report = check_gradient(&right, &table, &options);
        assert!(report.passed() && report.is_vacuous(), "{report}");
        assert!(
            report.to_string().starts_with(
                "gradient check passed (64 of 40000 elements, sampled), but vacuously"
            ),
            "{report}"
        );
    }

    #[test]
    #[should_panic(expected = "check_gradient: max_elements is Some(0)")]
    fn a_sample_of_nothing_is_refused() {
        let w = ParameterNode::new(ndarray::arr2(&[[0.5]]));
        let options = CheckOptions {
            max_elements: Some(0),
            ..CheckOptions::default()
        };
        check_gradient(&w.square(), &w, &options);
    }

    /// Doubles, with an infinite derivative.
    struct InfiniteSlope;

    impl crate::nodes::UnaryOp for InfiniteSlope {
        const NAME: &'static str = "infinite slope";
        fn apply(&self, x: f32) -> f32 {
            2.0 * x
        }
        fn derivative(&self, _x: f32, _y: f32) -> f32 {
            f32::INFINITY
        }
    }

    #[test]
    fn an_infinite_gradient_against_a_finite_one_fails() {
        // The tolerance scales with the larger magnitude, so an infinity would allow any
        // error.
        let x = ParameterNode::new(ndarray::arr2(&[[0.5, -1.0]]));
        let report = check_gradient(&x.map(InfiniteSlope), &x, &CheckOptions::default());
        assert_eq!(report.failures.len(), 2, "{report:?}");
    }
}
