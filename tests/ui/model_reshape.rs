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
        e = y.reshape(-{n}, 4),
        f = y.reshape(2.0, {n * 2}),
        g = y.reshape(4u8, {n}),
        loss = (a.scalar_sum() + b.scalar_sum()) + c.scalar_sum() + d.scalar_sum()
            + e.scalar_sum() + f.scalar_sum() + g.scalar_sum(),
    }
}

fn main() {}
