use wyrm::model;

// Every problem in a block is reported at once.
model! {
    struct Everything {
        w: Param<2, 3>,
        unused: Param<1, 1>,
        bias: Param<1, 4>,
        x: Input<1, 2>,
        h = x.dot(w) + bias,
        out = h.sofmax() * scale,
        training: Training,
        dropped = x.dropout(1.5, training),
        flagged = x + training,
    }
}

fn main() {}
