use wyrm::model;

model! {
    struct Mismatch {
        a: Param<1, 3>,
        b: Param<4, 1>,
        c = a.dot(b),
    }
}

fn main() {}
