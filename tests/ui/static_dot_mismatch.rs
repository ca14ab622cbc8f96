// The matrix product of a 1x3 and a 4x1 does not compile: the inner dimensions differ.
use wyrm::ndarray::Array2;
use wyrm::typenum::{U1, U3, U4};
use wyrm::ParameterNode;

fn main() {
    let a = ParameterNode::<U1, U3>::new_static(Array2::zeros((1, 3)));
    let b = ParameterNode::<U4, U1>::new_static(Array2::zeros((4, 1)));
    let _product = a.dot(&b);
}
