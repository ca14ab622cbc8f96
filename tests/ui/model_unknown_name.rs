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
}
