use wyrm::model;

// A size computed in braces from names that no declaration names bare: the error is at
// each name, not rustc's "cannot find value".
model! {
    struct Fm {
        v: Param<features, k>,
        positions: Index<{batch * slots}>,
        rows = v.index(positions),
    }
}

fn main() {
    let _ = Fm::new(100, 8);
}
