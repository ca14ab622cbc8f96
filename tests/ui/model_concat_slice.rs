use wyrm::model;

model! {
    struct Mismatch {
        user: Param<10, 4>,
        id: Index<1>,
        dense: Input<2, 3>,
        features = concat((user.index(id), dense, dense), 1),
    }
}

model! {
    struct NotATuple {
        a: Param<1, 4>,
        b: Param<1, 4>,
        joined = concat(a, b, 0),
    }
}

model! {
    struct SliceOutOfRange {
        w: Param<3, 12>,
        x: Input<batch, 3>,
        z = x.dot(w),
        gate = z.slice(s![.., 8..16]).sigmoid(),
    }
}

fn main() {}
