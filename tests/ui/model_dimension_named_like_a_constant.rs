//! A declaration's dimension written as a constant's name, without braces: a run-time
//! dimension cannot take that name, and the error points at it.
use wyrm::model;

const DIM: usize = 4;

model! {
    struct SkipGram {
        vectors: Param<vocab, DIM>,
        i: Index<1>,
        y = vectors.index(i).square().scalar_sum(),
    }
}

fn main() {
    let _ = SkipGram::new(10);
}
