// Multiplying a 2x3 by a 3x3 elementwise does not compile: the row counts differ and
// neither is 1, which would broadcast.
use wyrm::ndarray::Array2;
use wyrm::typenum::{U2, U3};
use wyrm::{InputNode, ParameterNode};

fn main() {
    let a = InputNode::<U2, U3>::new_static(Array2::zeros((2, 3)));
    let b = ParameterNode::<U3, U3>::new_static(Array2::zeros((3, 3)));
    let _product = a * b;
}
