//! Saving and loading with serde (the `serde` feature): shared parameters, `model!`
//! companions, local values, and saving while other threads train.

use wyrm::ndarray::{arr2, Array2};
use wyrm::prelude::*;

wyrm::model! {
    /// A linear layer with a run-time width and a parameter named by a keyword.
    struct Saved {
        w: Param<width, 1>,
        r#type: Param<1, 1>,
        x: Input<1, width>,
        out = x.dot(w) + r#type,
    }
}

#[test]
fn a_shared_parameter_round_trips_exactly() {
    let values = arr2(&[[0.1f32, -2.5e-7, 3.0], [f32::MAX, -0.0, 1.0 / 3.0]]);
    let param = HogwildParameter::new(values.clone());
    let json = serde_json::to_string(&param).unwrap();
    let loaded: HogwildParameter = serde_json::from_str(&json).unwrap();
    assert_eq!(loaded.shape(), (2, 3));
    assert_eq!(loaded.value(), values);
}

#[test]
fn a_companion_round_trips_and_serves_the_same_values() {
    let trained = Saved::new(3);
    let json = serde_json::to_string(&trained.shared_parameters()).unwrap();
    // The block's names, without the `r#` of the raw identifier.
    let fields: serde_json::Value = serde_json::from_str(&json).unwrap();
    let keys: Vec<&String> = fields.as_object().unwrap().keys().collect();
    assert_eq!(keys, ["type", "w", "width"]); // serde_json sorts the keys
    let loaded: SavedParameters = serde_json::from_str(&json).unwrap();
    assert_eq!(loaded.width, 3);
    assert_eq!(loaded.w.value(), trained.w.value());
    assert_eq!(loaded.r#type.value(), trained.r#type.value());

    let original = Saved::from_parameters(&trained.shared_parameters());
    let served = Saved::from_parameters(&loaded);
    let x = arr2(&[[1.0, -2.0, 0.5]]);
    original.x.set_value(&x);
    served.x.set_value(&x);
    original.out.forward();
    served.out.forward();
    assert_eq!(served.out.value(), original.out.value());
}

#[test]
fn a_companion_loads_from_a_sequence_of_fields_in_order() {
    // Formats without field names write a struct as its fields in order.
    let p = Saved::new(2).shared_parameters();
    let seq = serde_json::json!([*p.w, *p.r#type, p.width]);
    let loaded: SavedParameters = serde_json::from_value(seq).unwrap();
    assert_eq!(loaded.w.value(), p.w.value());
    assert_eq!(loaded.width, 2);

    let short = serde_json::json!([*p.w, *p.r#type]);
    let err = serde_json::from_value::<SavedParameters>(short).unwrap_err();
    assert!(err.to_string().contains("invalid length 2"), "{err}");
}

#[test]
fn bad_files_are_errors_naming_the_field() {
    let p = Saved::new(2).shared_parameters();
    let json = serde_json::to_value(&p).unwrap();
    let load = |edit: &dyn Fn(&mut serde_json::Map<String, serde_json::Value>)| {
        let mut v = json.clone();
        edit(v.as_object_mut().unwrap());
        serde_json::from_value::<SavedParameters>(v)
            .unwrap_err()
            .to_string()
    };

    let err = load(&|m| {
        m.remove("type");
    });
    assert_eq!(err, "SavedParameters: missing field `type`");
    let err = load(&|m| {
        m.remove("width");
    });
    assert!(err.contains("missing field `width`"), "{err}");
    let err = load(&|m| {
        m.insert("bias".into(), serde_json::json!(1));
    });
    assert!(
        err.contains("unknown field `bias` for SavedParameters, which has the fields `w`, `type` and `width`"),
        "{err}"
    );
    // An array whose data does not fill its shape.
    let err = load(&|m| {
        m.insert(
            "w".into(),
            serde_json::json!({"v": 1, "dim": [2, 1], "data": [1.0]}),
        );
    });
    assert_eq!(
        err,
        "SavedParameters: the parameter `w`: data and dimension must match in size"
    );
    // From text, the position is given once, after the whole message.
    let text = r#"{"w": {"v": 1, "dim": [2, 1], "data": [1.0]}}"#;
    let err = serde_json::from_str::<SavedParameters>(text).unwrap_err();
    assert_eq!(
        err.to_string(),
        "SavedParameters: the parameter `w`: data and dimension must match in size at line 1 \
         column 44"
    );
    let err = load(&|m| {
        m.insert("width".into(), serde_json::json!(-1));
    });
    assert!(err.contains("invalid value"), "{err}");

    // A repeated field, which a map can hold in a format that keeps duplicates.
    let text = serde_json::to_string(&p).unwrap();
    let repeated = text.replacen('{', "{\"width\":2,", 1);
    let err = serde_json::from_str::<SavedParameters>(&repeated)
        .unwrap_err()
        .to_string();
    assert!(err.contains("duplicate field `width`"), "{err}");
}

wyrm::model! {
    /// Statically shaped parameters.
    #[static_shapes]
    struct SavedStatic {
        w: Param<3, 2>,
        x: Input<1, 3>,
        out = x.dot(w),
    }
}

#[test]
fn a_file_that_does_not_fit_the_model_is_an_error_naming_the_parameter() {
    // Each field loads, but together they do not fit the model: an error when the file is
    // loaded, not a panic when a graph is built over it.
    let json = serde_json::to_value(Saved::new(2).shared_parameters()).unwrap();
    let load = |v: serde_json::Value| {
        serde_json::from_value::<SavedParameters>(v)
            .map(drop)
            .unwrap_err()
            .to_string()
    };

    // A dimension that does not match the parameters that use it.
    let mut edited = json.clone();
    edited["width"] = serde_json::json!(5);
    let err = load(edited);
    assert!(
        err.contains(
            "SavedParameters: the parameter `w` is 2x1 but the model declares \
             `w: Param<width, 1>`, which is 5x1"
        ),
        "{err}"
    );
    // A parameter of the wrong shape (named without its `r#`).
    let mut edited = json.clone();
    edited["type"] = serde_json::json!({"v": 1, "dim": [2, 2], "data": [1.0, 2.0, 3.0, 4.0]});
    let err = load(edited);
    assert!(err.contains("the parameter `type` is 2x2"), "{err}");
    // The same in a sequence of fields (formats without field names).
    let p = Saved::new(2).shared_parameters();
    let err = load(serde_json::json!([*p.w, *p.r#type, 3]));
    assert!(err.contains("the parameter `w` is 2x1"), "{err}");
    // A statically shaped parameter.
    let mut edited = serde_json::to_value(SavedStatic::new().shared_parameters()).unwrap();
    edited["w"] =
        serde_json::json!({"v": 1, "dim": [2, 3], "data": [0.0, 0.0, 0.0, 0.0, 0.0, 0.0]});
    let err = serde_json::from_value::<SavedStaticParameters>(edited)
        .map(drop)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("the parameter `w` is 2x3 but the model declares `w: Param<3, 2>`"),
        "{err}"
    );
}

#[test]
fn a_companion_built_by_hand_with_the_wrong_shape_panics_when_a_graph_is_built() {
    let mut wrong = Saved::new(2).shared_parameters();
    wrong.width = 5;
    let err = std::panic::catch_unwind(|| drop(Saved::from_parameters(&wrong))).unwrap_err();
    let message = err.downcast_ref::<String>().unwrap();
    assert!(
        message.contains("the shared parameter `w` is 2x1"),
        "{message}"
    );
}

#[test]
fn local_values_save_through_ndarray() {
    // The feature turns on ndarray's serde support: a local parameter saves its value.
    let slope = ParameterNode::new(arr2(&[[3.0, -1.5]]));
    let json = serde_json::to_string(&slope.value()).unwrap();
    let other = ParameterNode::new(Array2::zeros((1, 2)));
    other.set_value(&serde_json::from_str::<Array2<f32>>(&json).unwrap());
    assert_eq!(other.value(), slope.value());
}

#[test]
fn saving_works_while_other_threads_train() {
    let shared = Saved::new(2).shared_parameters();
    let trainer = |seed: usize| {
        let model = Saved::from_parameters(&shared);
        let y = InputNode::new(Array2::zeros((1, 1)));
        let loss = (model.out.clone() - y.clone()).square();
        let mut optimizer = SGD::new(0.05, loss.parameters());
        for step in 0..20_000 {
            let a = ((step + seed) % 7) as f32 / 7.0;
            model.x.set_value(arr2(&[[a, 1.0 - a]]));
            y.set_value(2.0 * a - 1.0);
            loss.forward();
            loss.backward(1.0);
            optimizer.step();
            optimizer.zero_gradients();
        }
    };
    let mut snapshots = Vec::new();
    std::thread::scope(|s| {
        let trainers = [s.spawn(|| trainer(0)), s.spawn(|| trainer(3))];
        // Until both have finished, or panicked (the scope then fails the test).
        while !trainers.iter().all(|t| t.is_finished()) || snapshots.is_empty() {
            snapshots.push(serde_json::to_string(&shared).unwrap());
        }
    });
    for json in &snapshots {
        let loaded: SavedParameters = serde_json::from_str(json).unwrap();
        assert_eq!(loaded.w.shape(), (2, 1));
        assert!(loaded.w.value().iter().all(|v| v.is_finite()));
    }
    // After training, a save holds the trained values: w ≈ [1, -1], type ≈ 0.
    let last: SavedParameters =
        serde_json::from_str(&serde_json::to_string(&shared).unwrap()).unwrap();
    assert_eq!(last.w.value(), shared.w.value());
    let w = last.w.value();
    assert!((w[(0, 0)] - w[(1, 0)] - 2.0).abs() < 0.05, "{w}");
}

wyrm::model! {
    /// A parameter sized by a braced expression over a run-time dimension.
    struct Widened {
        w: Param<n, {n + 1}>,
        x: Input<1, n>,
        out = x.dot(w).scalar_sum(),
    }
}

/// Loading evaluates `{n + 1}` with the loaded `n`, to check the shape.
#[test]
fn a_computed_dimension_is_checked_when_loaded() {
    let json = serde_json::to_string(&Widened::new(3).shared_parameters()).unwrap();
    let loaded: WidenedParameters = serde_json::from_str(&json).unwrap();
    assert_eq!(Widened::from_parameters(&loaded).w.shape(), (3, 4));
    let mut wrong: serde_json::Value = serde_json::from_str(&json).unwrap();
    wrong["n"] = serde_json::json!(4);
    let err = serde_json::from_value::<WidenedParameters>(wrong).unwrap_err();
    assert!(
        err.to_string().contains("is 3x4 but the model declares"),
        "{err}"
    );
}

/// A recurrent cell over shared parameters saves what the storage holds now, not its
/// nodes' latest copies, and loads back; a file whose shapes do not fit (a GRU's, read
/// as an LSTM) is an error naming the field.
#[test]
fn recurrent_cells_save_current_values_and_bad_files_are_named() {
    use rand::SeedableRng;
    use std::sync::Arc;
    use wyrm::nn::{Gru, Lstm};

    let template = Lstm::new(2, 3, &mut rand::rngs::StdRng::seed_from_u64(4));
    let shared: Vec<Arc<HogwildParameter>> = template
        .parameters()
        .iter()
        .map(|p| p.hogwild_parameter())
        .collect();
    let [w, u, b, c] = [0, 1, 2, 3].map(|i| ParameterNode::shared(shared[i].clone()));
    let lstm = Lstm::from_parameters(w, u, b, c);
    let updated = Array2::from_elem((1, 12), 0.25);
    shared[3].set_value(&updated);
    let saved = serde_json::to_string(&lstm).unwrap();
    let loaded: Lstm = serde_json::from_str(&saved).unwrap();
    assert_eq!(loaded.hidden_bias.value(), updated);
    assert_eq!(loaded.input_weights.value(), template.input_weights.value());

    let gru = Gru::new(2, 3, &mut rand::rngs::StdRng::seed_from_u64(5));
    let error = serde_json::from_str::<Lstm>(&serde_json::to_string(&gru).unwrap())
        .err()
        .unwrap()
        .to_string();
    assert!(
        error.starts_with(
            "Lstm::deserialize: `input_weights` is 2x9, but a cell of 3 hidden units (the rows \
             of `hidden_weights`) needs it 2x12 (4 gates of 3 columns)"
        ),
        "{error}"
    );
}

/// A linear layer over shared parameters saves what the storage holds now and loads
/// back as a local layer; a file whose bias does not fit its weights is an error naming
/// the field.
#[test]
fn linear_layers_save_current_values_and_bad_files_are_named() {
    use rand::SeedableRng;
    use wyrm::nn::Linear;

    let template = Linear::new(3, 2, &mut rand::rngs::StdRng::seed_from_u64(6));
    let (w, b) = (
        template.weights.hogwild_parameter(),
        template.bias.hogwild_parameter(),
    );
    let layer = Linear::from_parameters(ParameterNode::shared(w), ParameterNode::shared(b.clone()));
    let updated = Array2::from_elem((1, 2), -0.5);
    b.set_value(&updated);
    let loaded: Linear = serde_json::from_str(&serde_json::to_string(&layer).unwrap()).unwrap();
    assert_eq!(loaded.bias.value(), updated);
    assert_eq!(loaded.weights.value(), template.weights.value());
    assert!(!loaded.weights.node().is_shared());

    let mut wrong: serde_json::Value = serde_json::to_value(&layer).unwrap();
    wrong["bias"] = serde_json::to_value(Array2::<f32>::zeros((1, 3))).unwrap();
    let error = serde_json::from_value::<Linear>(wrong)
        .unwrap_err()
        .to_string();
    assert!(
        error.starts_with("Linear::deserialize: `bias` is 1x3, but `weights` of 3x2 needs it 1x2"),
        "{error}"
    );
}
