//! Checks of numeric settings (optimizer hyperparameters, gradient-check options, clip and
//! clamp bounds), so that a bad one panics where it is given, naming it, instead of
//! turning values into NaN or infinities later with no message.

/// What a setting must be; see [`check_setting`].
#[derive(Clone, Copy, Debug)]
pub(crate) enum Range {
    /// Finite and at least 0 (learning rates, L2 penalties, tolerances).
    NonNegative,
    /// Finite and at least `f32::MIN_POSITIVE`, the smallest normal number (`eps`: at 0, an
    /// element with no gradient yet divides 0 by 0; below that, Adam's bias-corrected
    /// `eps` can round to 0; a finite-difference step).
    Positive,
    /// In `[0, 1)` (momentum and Adam's decay rates: at 1 nothing decays, and Adam's bias
    /// correction divides by 0).
    Fraction,
}

/// Returns `value` if it is in `range`, else panics naming `setting`.
#[track_caller]
pub(crate) fn check_setting(setting: &str, value: f32, range: Range) -> f32 {
    let (ok, wanted) = match range {
        Range::NonNegative => (value.is_finite() && value >= 0.0, "finite and at least 0"),
        Range::Positive => (
            value.is_finite() && value >= f32::MIN_POSITIVE,
            "finite and at least f32::MIN_POSITIVE (1.1754944e-38)",
        ),
        Range::Fraction => ((0.0..1.0).contains(&value), "in [0, 1)"),
    };
    assert!(ok, "{setting} must be {wanted}, got {value}");
    value
}

/// Panics, naming `op`, unless `[min, max]` is an interval: neither bound NaN, `min <= max`.
#[track_caller]
pub(crate) fn check_bounds(op: &str, min: f32, max: f32) {
    assert!(
        !min.is_nan() && !max.is_nan(),
        "{op}: the bounds must not be NaN, got min {min} and max {max}"
    );
    assert!(min <= max, "{op}: min ({min}) must not exceed max ({max})");
}
