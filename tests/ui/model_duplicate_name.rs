use wyrm::model;

model! {
    struct Regression {
        slope: Param<1, 1>,
        x: Input<1, 1>,
        x: Input<1, 1>,
        yhat = slope * x,
    }
}

fn main() {}
