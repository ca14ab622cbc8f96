//! A `cfg` on the model's struct applies to everything the block generates: its impls,
//! `Default` and the companion struct of shared parameters.

wyrm::model! {
    /// Configured out: none of its items may remain.
    #[cfg(any())]
    struct Gone {
        w: Param<1, 1>,
        y = w * 2,
    }
}

// The names are free: an impl or companion of `Gone` left behind would clash with these.
#[allow(dead_code)]
struct Gone;
#[allow(dead_code)]
struct GoneParameters;

wyrm::model! {
    /// Configured in.
    #[cfg(all())]
    struct Kept {
        w: Param<1, 1> = ones,
        y = w * 2,
    }
}

fn main() {
    let model = Kept::default();
    model.y.forward();
    assert_eq!(model.y.value()[(0, 0)], 2.0);
    let _: KeptParameters = model.shared_parameters();
}
