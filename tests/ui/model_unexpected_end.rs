// A block cut short is an error on the invocation (there is no token to point at).
wyrm::model! {
    struct M
}

fn main() {}
