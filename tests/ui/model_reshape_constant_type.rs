use wyrm::model;

// A braced size of another type than `usize`: rustc's error points at the user's tokens.
model! {
    struct M {
        y: Input<n, 4>,
        z = y.reshape({n as i64}, 4),
    }
}

fn main() {}
