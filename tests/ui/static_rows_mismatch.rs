// Multiplying a 2x3 by a 3x3 elementwise does not compile: the row counts differ and the
// right-hand side is not a single row that could be broadcast.
use wyrm::ndarray::Array2;
use wyrm::typenum::{U2, U3};
use wyrm::{InputNode, ParameterNode};

fn main() {
    let a = InputNode::<U2, U3>::new_static(Array2::zeros((2, 3)));
    let b = ParameterNode::<U3, U3>::new_static(Array2::zeros((3, 3)));
    let _product = a * b;
}
