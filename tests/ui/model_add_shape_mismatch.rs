use wyrm::model;

model! {
    struct Mismatch {
        a: Param<1, 3>,
        b: Param<1, 4>,
        c = a + b,
    }
}

fn main() {}
