use wyrm::model;

// A block with an error still declares the model and its companion in full, so the
// code using them adds no errors of its own.
model! {
    struct Broken {
        w: Param<1, 1>,
        training: Training,
        y = w.frobnicate().dropout(0.5, training),
    }
}

model! {
    struct BrokenWithDims {
        w: Param<rng, n>,
        y = w.frobnicate(),
    }
}

// A dimension named like a node is left out of the stand-in's companion (its field would
// clash), but the constructors take it, as the user meant them to.
model! {
    struct ClashingDim {
        n: Param<n, 1>,
        y = n.square(),
    }
}

// Dimensions on a `Training` item are an error, not constructor arguments.
model! {
    struct FlagWithDims {
        w: Param<1, 1>,
        t: Training<n>,
        y = w.dropout(0.5, t),
    }
}

fn main() {
    FlagWithDims::new().t.set(false);
    let model = Broken::default();
    let shared = model.shared_parameters();
    let copy = shared.clone();
    let _ = (&copy.w, format!("{shared:?}"), shared.snapshot().w);
    let _: Vec<(&str, wyrm::Variable<wyrm::ParameterNode>)> = model.named_parameters();
    let _ = Broken::from_parameters(&copy).y;
    let _ = Broken::from_parameter_values(&copy).y;
    let _ = Broken::with_parameters_of(&model).w;
    let _ = model.with_dimensions().w;
    model.training.set(false);
    let states: wyrm::optim::OptimizerStates = model.optimizer_states();
    let _: Result<(), wyrm::optim::OptimizerStateError> = model.set_optimizer_states(&states);
    let _ = copy.set_optimizer_states(&copy.optimizer_states());

    let mut rng = wyrm::rand::thread_rng();
    let other = BrokenWithDims::new_with_rng(&mut rng, 3, 4);
    let shared = other.shared_parameters();
    let _: (usize, usize) = (shared.rng, shared.n);
    let _ = shared.w.clone();
    let _ = other.with_dimensions(3, 5).w;
    let dims = BrokenWithDims::from_dims(BrokenWithDimsDims { rng: 3, n: 4 }).dims();
    let _ = other.with_dims(BrokenWithDimsDims { n: 5, ..dims }).w;
    let _ = BrokenWithDims::from_dims_with_rng(&mut rng, dims);

    let clashing = ClashingDim::new(3);
    let _ = clashing.shared_parameters().n.clone();
    let _ = clashing.with_dimensions(3).n;
}
