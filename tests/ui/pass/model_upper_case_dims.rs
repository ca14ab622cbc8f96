//! Upper-case dimension names are names (constructor arguments), and bring no
//! `non_snake_case` warnings with them.
#![deny(warnings)]

wyrm::model! {
    struct M {
        w: Param<N, D>,
        x: Input<1, N>,
        y = x.dot(w).sum_columns(),
    }
}

fn main() {
    let model = M::new(3, 2);
    assert_eq!(model.w.shape(), (3, 2));
    let shared = model.shared_parameters();
    assert_eq!((shared.N, shared.D), (3, 2));
    assert_eq!(M::from_parameters(&shared).x.shape(), (1, 3));
}
