//! The generated code names everything by absolute path, so it compiles without the
//! standard prelude.

#[no_implicit_prelude]
mod np {
    ::wyrm::model! {
        /// A model with every kind of leaf and a run-time dimension.
        pub struct M {
            w: Param<n, 3> = xavier,
            b: Param<1, 3> = zeros,
            table: Param<10, 3>,
            x: Input<1, n>,
            i: Index<1>,
            training: Training,
            y = (x.dot(w) + b - table.index(i)).dropout(0.1, training),
            loss = (y * 2).square().scalar_sum(),
        }
    }

    ::wyrm::model! {
        /// Without run-time dimensions, with `Default`.
        #[static_shapes]
        pub struct S {
            w: Param<1, 2>,
            x: Input<1, 2>,
            y = (x - w).square().mean(),
        }
    }
}

fn main() {
    let model = np::M::new(4);
    model.loss.forward();
    let shared = model.shared_parameters();
    let copy = np::M::from_parameters(&shared.clone());
    copy.training.set(false);
    assert_eq!(copy.parameters().len(), 3);
    let _ = format!("{shared:?}");
    let s = <np::S as Default>::default();
    s.y.forward();
}
