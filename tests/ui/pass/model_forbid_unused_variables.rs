//! The generated code allows no lint that a crate may forbid on its own: here
//! `unused_variables`, with a dimension that only a parameter uses (which
//! `with_parameters_of` reads back without using).
#![forbid(unused_variables)]
#![deny(warnings)]

wyrm::model! {
    struct Tower {
        table: Param<items, 4>,
        id: Index<1>,
        out = table.index(id),
    }
}

fn main() {
    let model = Tower::new(10);
    let tied = Tower::with_parameters_of(&model);
    assert!(std::rc::Rc::ptr_eq(model.table.node(), tied.table.node()));
    assert_eq!(Tower::from_parameters(&model.shared_parameters()).table.shape(), (10, 4));
}
