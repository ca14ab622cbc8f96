use wyrm::model;

// A misspelt initialiser or declaration kind does not hide the block's other errors: all
// are reported at once.
model! {
    struct Classifier {
        w: Param<2, 3> = xaviar,
        b: Param<1, 3> = uniform(0, 1),
        x: Input<1, 2>,
        y: Indx<1>,
        logits = (x.dot(w) + b).sqaure(),
        loss = sparse_categorical_crossentropy(logits),
    }
}

fn main() {
    let _ = Classifier::new().loss;
}
