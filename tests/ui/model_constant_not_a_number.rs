use wyrm::model;

const NAME: &str = "scale";

// A constant in braces must be a number.
model! {
    struct Scaled {
        x: Input<1, 2>,
        y = x * {NAME},
    }
}

fn main() {
    let _ = Scaled::new().y;
}
