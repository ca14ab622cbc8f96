use wyrm::model;

// A number too large for `f32` is an error on the number, wherever it appears; each is
// reported, and the code using the model adds no errors.
model! {
    struct Huge {
        w: Param<1, 3> = normal(0, 1e39),
        x: Input<1, 3>,
        a = x * 1e39 + w,
        b = w.clip(-1e39, 1e39),
        c = x.pow(1e40) + w * 3.4e38,
        d = w * 340282366920938463463374607431768211456,
    }
}

fn main() {
    let model = Huge::new();
    let _ = (&model.a, &model.d);
}
