// A generic `T: Node` could have any static shape, so `-` against a run-time shaped input
// does not compile without a bound on its dimensions; the message says which.
use wyrm::{InputNode, Node, Variable};

fn difference<T: Node + 'static>(prediction: &Variable<T>, target: &Variable<InputNode>) {
    let _ = target.clone() - prediction.clone();
}

fn main() {
    let x = InputNode::new(wyrm::ndarray::Array2::zeros((2, 3)));
    difference(&x, &x);
}
