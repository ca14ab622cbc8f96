use wyrm::model;

// `cfg` would remove a field that the constructors still set. The code using the model
// adds no errors.
model! {
    struct M {
        w: Param<1, 1>,
        #[cfg(any())]
        x: Input<1, 1>,
        #[cfg_attr(all(), cfg(any()))]
        y = w * 2,
    }
}

fn main() {
    let model = M::default();
    let _ = (&model.x, &model.y);
}
