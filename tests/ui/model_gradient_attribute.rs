use wyrm::model;

// `#[gradient]` belongs on inputs; each misuse is an error at the attribute, and the
// block's other errors still show.
model! {
    struct M {
        #[gradient]
        w: Param<1, 1>,
        #[gradient(yes)]
        x: Input<1, 1>,
        #[gradient]
        i: Index<1>,
        #[gradient]
        #[gradient]
        z: Input<1, 1>,
        y = (w * x + z).scalar_sum() + i,
        #[gradient]
        h = w * 2,
    }
}

fn main() {}
