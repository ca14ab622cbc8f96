// Adding a statically shaped 1x3 to a 1x4 does not compile.
use wyrm::ndarray::Array2;
use wyrm::typenum::{U1, U3, U4};
use wyrm::ParameterNode;

fn main() {
    let a = ParameterNode::<U1, U3>::new_static(Array2::zeros((1, 3)));
    let b = ParameterNode::<U1, U4>::new_static(Array2::zeros((1, 4)));
    let _sum = a + b;
}
