use wyrm::ndarray::Axis;
use wyrm::*;

fn main() {
    let a = InputNode::new(random_matrix(1, 2));
    let b = InputNode::new(random_matrix(1, 3));
    // Owned variables rather than references.
    let _ = concat((a, b), Axis(1));
}
