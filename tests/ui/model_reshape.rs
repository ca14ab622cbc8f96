use wyrm::model;

// A literal reshape that cannot hold the elements, and sizes that are not sizes.
model! {
    struct M {
        x: Input<2, 3>,
        y: Input<n, 4>,
        a = x.reshape(4, 2),
        b = y.reshape(1.5, 4),
        c = y.reshape(x, 1),
        d = y.reshape(m, 1),
        loss = (a.scalar_sum() + b.scalar_sum()) + c.scalar_sum() + d.scalar_sum(),
    }
}

fn main() {}
