use wyrm::model;

model! {
    struct Features {
        user: Input<1, 4>,
        item: Input<1, 4>,
        both = wyrm::concat((user, item), 1),
    }
}

fn main() {}
