use wyrm::model;

// `r#w` and `w` are the same name.
model! {
    struct M {
        w: Param<1, 1>,
        r#w: Param<1, 1>,
        y = w * 2,
    }
}

fn main() {}
