//! A raw identifier is the same name as the plain one, as in Rust.

wyrm::model! {
    struct M {
        r#w: Param<1, 1> = ones,
        x: Input<1, 1>,
        r#type = w * x,
        y = r#w * 2 + r#type,
    }
}

fn main() {
    let model = M::new();
    model.x.set_value(3.0);
    model.y.forward();
    assert_eq!(model.y.value()[(0, 0)], 5.0);
    assert_eq!(model.r#type.value()[(0, 0)], 3.0);
    assert_eq!(model.parameters().len(), 1);
}
