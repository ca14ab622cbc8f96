//! Checkpoints (the `serde` feature): parameters, optimizer state and Adam's step count
//! saved in the middle of training and loaded into a new model, which then trains
//! exactly as if training had never stopped.

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use wyrm::ndarray::arr2;
use wyrm::optim::{OptimizerKind, OptimizerState, OptimizerStates};
use wyrm::prelude::*;

wyrm::model! {
    /// Matrix factorisation with a global bias: embeddings (row-sparse gradients, lazy
    /// optimizer updates) next to a dense parameter.
    struct Factors {
        users: Param<n_users, 4>,
        items: Param<n_items, 4>,
        bias: Param<1, 1> = zeros,
        u: Index<1>,
        i: Index<1>,
        rating: Input<1, 1>,
        loss = (rating - (users.index(u).vector_dot(&items.index(i)) + bias)).square(),
    }
}

/// Everything training needs to resume, as a user would save it.
#[derive(serde::Serialize, serde::Deserialize)]
struct Checkpoint {
    parameters: FactorsParameters,
    optimizer: OptimizerStates,
    adam_steps: u64,
}

/// Ratings of a fixed, seeded sequence of (user, item) pairs, the same for every run.
fn examples(count: usize) -> Vec<(usize, usize, f32)> {
    let mut rng = StdRng::seed_from_u64(7);
    (0..count)
        .map(|_| {
            let (u, i) = (rng.gen_range(0..10), rng.gen_range(0..30));
            (u, i, ((u * 3 + i) % 5) as f32 - 2.0)
        })
        .collect()
}

/// Trains `model` with Adam over `data`, starting from step `from`; returns the step count.
fn train(model: &Factors, from: u64, data: &[(usize, usize, f32)]) -> u64 {
    let loss = model.loss.clone();
    let mut opt = Adam::new(0.05, model.parameters());
    opt.set_steps(from);
    for &(u, i, r) in data {
        model.u.set_value(u);
        model.i.set_value(i);
        model.rating.set_value(r);
        loss.forward();
        loss.backward(1.0);
        opt.step();
        opt.zero_gradients();
    }
    opt.steps()
}

fn assert_same(a: &Factors, b: &Factors) {
    assert_eq!(a.users.value(), b.users.value());
    assert_eq!(a.items.value(), b.items.value());
    assert_eq!(a.bias.value(), b.bias.value());
    assert_eq!(a.optimizer_states(), b.optimizer_states());
}

#[test]
fn a_saved_and_loaded_checkpoint_resumes_training_exactly() {
    let data = examples(400);
    let (first, second) = data.split_at(250);
    let straight = Factors::new_with_rng(&mut StdRng::seed_from_u64(1), 10, 30);
    train(&straight, 0, &data);

    let stopped = Factors::new_with_rng(&mut StdRng::seed_from_u64(1), 10, 30);
    let steps = train(&stopped, 0, first);
    let saved = serde_json::to_string(&Checkpoint {
        parameters: stopped.shared_parameters(),
        optimizer: stopped.optimizer_states(),
        adam_steps: steps,
    })
    .unwrap();
    drop(stopped);

    let checkpoint: Checkpoint = serde_json::from_str(&saved).unwrap();
    let resumed = Factors::from_parameters(&checkpoint.parameters);
    resumed.set_optimizer_states(&checkpoint.optimizer).unwrap();
    train(&resumed, checkpoint.adam_steps, second);
    assert_same(&resumed, &straight);

    // Without the optimizer state (a fresh start on the saved values) it is not the same.
    let fresh = Factors::from_parameters(
        &serde_json::from_str::<Checkpoint>(&saved)
            .unwrap()
            .parameters,
    );
    train(&fresh, checkpoint.adam_steps, second);
    assert_ne!(fresh.users.value(), straight.users.value());
}

#[test]
fn the_companion_takes_and_puts_back_the_shared_state() {
    let model = Factors::new_with_rng(&mut StdRng::seed_from_u64(2), 10, 30);
    let shared = model.shared_parameters();
    // Train a graph over the shared storage: the state lands there.
    train(&Factors::from_parameters(&shared), 0, &examples(50));
    let states = shared.optimizer_states();
    assert_eq!(
        states.names().collect::<Vec<_>>(),
        ["bias", "items", "users"]
    );
    assert_eq!(states.get("items").unwrap().kind(), OptimizerKind::Adam);
    assert_eq!(states.get("items").unwrap().slots()[1].dim(), (30, 4));
    // The local model was copied into the storage, so its own state is untouched.
    assert_eq!(
        model.optimizer_states().get("users").unwrap().kind(),
        OptimizerKind::Stateless
    );

    let copy = Factors::new(10, 30).shared_parameters();
    copy.set_optimizer_states(&states).unwrap();
    assert_eq!(copy.optimizer_states(), states);
    // A graph built over the copy sees the state too.
    assert_eq!(Factors::from_parameters(&copy).optimizer_states(), states);
}

#[test]
fn states_that_do_not_fit_are_errors_and_change_nothing() {
    let trained = Factors::new(10, 30);
    train(&trained, 0, &examples(20));
    let states = serde_json::to_value(trained.optimizer_states()).unwrap();
    let target = Factors::new(10, 30);
    let before = target.optimizer_states();
    let set = |edit: &dyn Fn(&mut serde_json::Map<String, serde_json::Value>)| {
        let mut v = states.clone();
        edit(v.as_object_mut().unwrap());
        let states: OptimizerStates = serde_json::from_value(v).unwrap();
        target
            .set_optimizer_states(&states)
            .unwrap_err()
            .to_string()
    };

    let err = set(&|m| {
        m.remove("items");
    });
    assert_eq!(err, "Factors: no optimizer state for parameter `items`");
    let err = set(&|m| {
        let extra = m["bias"].clone();
        m.insert("scale".into(), extra);
    });
    assert_eq!(
        err,
        "Factors: optimizer state for `scale`, which is not a parameter \
         (the parameters are users, items, bias)"
    );
    let other = Factors::new(10, 31);
    train(&other, 0, &examples(20));
    let err = set(&|m| {
        m["items"] = serde_json::to_value(other.optimizer_states().get("items")).unwrap();
    });
    assert_eq!(
        err,
        "Factors: the optimizer state for `items` is for a 31x4 parameter but `items` is 30x4"
    );
    assert_eq!(
        target.optimizer_states(),
        before,
        "a failed restore changed nothing"
    );
}

wyrm::model! {
    /// No parameters at all.
    struct Fixed {
        x: Input<1, 2>,
        out = x.square(),
    }
}

#[test]
fn a_model_without_parameters_has_no_states() {
    let model = Fixed::new();
    let states = model.optimizer_states();
    assert_eq!(states.names().count(), 0);
    model.set_optimizer_states(&states).unwrap();
    model
        .shared_parameters()
        .set_optimizer_states(&states)
        .unwrap();
    let err = model
        .set_optimizer_states(&Factors::new(2, 3).optimizer_states())
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "Fixed: optimizer state for `bias`, which is not a parameter (the model has no \
         parameters)"
    );
}

#[test]
fn a_malformed_state_in_a_file_is_an_error_naming_its_parameter() {
    let model = Factors::new(10, 30);
    train(&model, 0, &examples(5));
    let mut json = serde_json::to_value(model.optimizer_states()).unwrap();
    json["items"]["shape"] = serde_json::json!([4, 30]);
    let err = serde_json::from_value::<OptimizerStates>(json).unwrap_err();
    assert_eq!(
        err.to_string(),
        "`items`: optimizer state for a 4x30 parameter has a 30x4 array"
    );
}

#[test]
fn a_malformed_state_does_not_load() {
    let w = ParameterNode::new(arr2(&[[1.0, 2.0]]));
    let loss = w.square();
    let mut opt = Adam::new(0.1, loss.parameters());
    loss.forward();
    loss.backward(1.0);
    opt.step();
    let json = serde_json::to_value(w.optimizer_state()).unwrap();
    assert_eq!(json["kind"], "adam");
    let loaded: OptimizerState = serde_json::from_value(json.clone()).unwrap();
    assert_eq!(loaded, w.optimizer_state());

    let load = |edit: &dyn Fn(&mut serde_json::Value)| {
        let mut v = json.clone();
        edit(&mut v);
        serde_json::from_value::<OptimizerState>(v)
            .unwrap_err()
            .to_string()
    };
    let err = load(&|v| v["kind"] = "adagrad".into());
    assert!(
        err.contains("optimizer state of kind Adagrad has 2 arrays, but that kind keeps 1"),
        "{err}"
    );
    let err = load(&|v| v["shape"] = serde_json::json!([2, 1]));
    assert!(
        err.contains("optimizer state for a 2x1 parameter has a 1x2 array"),
        "{err}"
    );
    let err = load(&|v| v["kind"] = "adadelta".into());
    assert!(err.contains("unknown variant `adadelta`"), "{err}");

    // RMSProp's state under its name, and back.
    let mut opt = RmsProp::new(0.1, loss.parameters());
    loss.forward();
    loss.backward(1.0);
    opt.step();
    let json = serde_json::to_value(w.optimizer_state()).unwrap();
    assert_eq!(json["kind"], "rmsprop");
    let loaded: OptimizerState = serde_json::from_value(json).unwrap();
    assert_eq!(loaded, w.optimizer_state());
    assert_eq!(loaded.kind(), OptimizerKind::RmsProp);
}

#[test]
fn the_shared_state_can_be_saved_while_other_threads_train() {
    let shared = Factors::new_with_rng(&mut StdRng::seed_from_u64(3), 10, 30).shared_parameters();
    let trainer = |seed: u64| {
        let model = Factors::from_parameters(&shared);
        let loss = model.loss.clone();
        let mut opt = Adagrad::new(0.05, model.parameters());
        let mut rng = StdRng::seed_from_u64(seed);
        for _ in 0..20_000 {
            let (u, i) = (rng.gen_range(0..10), rng.gen_range(0..30));
            model.u.set_value(u);
            model.i.set_value(i);
            model.rating.set_value(((u * 3 + i) % 5) as f32 - 2.0);
            loss.forward();
            loss.backward(1.0);
            opt.step();
            opt.zero_gradients();
        }
    };
    let mut saved = Vec::new();
    std::thread::scope(|s| {
        let trainers = [s.spawn(|| trainer(0)), s.spawn(|| trainer(1))];
        // Until both have finished, or panicked (the scope then fails the test).
        while !trainers.iter().all(|t| t.is_finished()) || saved.is_empty() {
            saved.push(serde_json::to_string(&shared.optimizer_states()).unwrap());
        }
    });
    for json in &saved {
        let states: OptimizerStates = serde_json::from_str(json).unwrap();
        for name in ["users", "items", "bias"] {
            let state = states.get(name).unwrap();
            // Before the first update, or Adagrad's sums of squares.
            match state.kind() {
                OptimizerKind::Stateless => assert!(state.slots().is_empty()),
                OptimizerKind::Adagrad => {
                    assert!(state.slots()[0].iter().all(|s| s.is_finite() && *s >= 0.0))
                }
                kind => panic!("{name}: unexpected kind {kind:?}"),
            }
        }
    }
    let last = shared.optimizer_states();
    assert_eq!(last.get("bias").unwrap().kind(), OptimizerKind::Adagrad);
    assert!(last.get("bias").unwrap().slots()[0][(0, 0)] > 0.0);
}
