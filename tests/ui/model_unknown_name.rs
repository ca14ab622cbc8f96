use wyrm::model;

model! {
    struct Regression {
        slope: Param<1, 1>,
        x: Input<1, 1>,
        yhat = slope * x + intercept,
    }
}

fn main() {
    // The model still exists, so using it adds no further errors.
    let model = Regression::new();
    let _ = model.parameters();
    model.x.set_value(1.0);
    model.yhat.forward();
}
