use wyrm::model;

model! {
    struct Regression {
        slope: Param<1, 1>,
        x: Input<1, 1>,
        y: Input<1, 1>,
        loss = (y - yhat).square(),
        yhat = slope * x,
    }
}

fn main() {}
