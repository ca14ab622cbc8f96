//! Saving and loading parameters with serde (the `serde` feature).
//!
//! [`HogwildParameter`] serializes as the `ndarray` array of its current values (the
//! feature also turns on `ndarray`'s `serde` support, so a local parameter's `value()`
//! saves the same way and loads back with `set_value`). A [`model!`](crate::model)
//! companion struct (`NameParameters`) serializes as a struct with one field per parameter
//! and per run-time dimension, under the names of the block, and loads back into a value
//! that `Name::from_parameters` builds graphs over. Loading checks that the file fits the
//! model: a missing, repeated or unknown field, or a parameter whose shape is not the one
//! declared (with the loaded run-time dimensions), is an error naming it. A run-time
//! dimension that sizes only inputs (a batch size) loads as saved, whatever its value: a
//! serving process that wants another one sets that field of the loaded struct, or calls
//! `with_dimensions` on the model built from it; a value the model cannot be built with
//! (a batch of 0 before a `mean`) panics in `from_parameters`, naming the operation.
//!
//! Saving reads the values with relaxed atomic loads, so it works while other threads
//! train, with the same caveat as [`HogwildParameter::value`]: a row being updated at that
//! moment may be saved half-updated. A parameter saves its values only, which is what
//! serving needs; a checkpoint that resumes training exactly also saves the optimizer
//! state (SGD's momentum, Adagrad's accumulators, RMSProp's averages, Adam's moments) with
//! [`OptimizerStates`](crate::optim::OptimizerStates), and Adam's step count (see the
//! second example). JSON has no
//! NaN or infinity: `serde_json` writes them as `null`, which does not load back (a binary
//! format keeps them).
//!
//! A hand-written network holds its shared parameters as `Arc<HogwildParameter>`s. Serde
//! implements its traits for `Arc` only with its `rc` feature (`serde = { version = "1",
//! features = ["derive", "rc"] }`); without it, save the parameters themselves and wrap
//! what loads in new `Arc`s:
//!
//! ```
//! use std::sync::Arc;
//! use wyrm::HogwildParameter;
//!
//! let w = Arc::new(HogwildParameter::new(ndarray::arr2(&[[1.0, 2.0]])));
//! let b = Arc::new(HogwildParameter::new(ndarray::arr2(&[[0.5]])));
//! let saved = serde_json::to_string(&[&*w, &*b]).unwrap();
//!
//! let loaded: Vec<HogwildParameter> = serde_json::from_str(&saved).unwrap();
//! let [w2, b2]: [Arc<HogwildParameter>; 2] =
//!     loaded.into_iter().map(Arc::new).collect::<Vec<_>>().try_into().unwrap();
//! assert_eq!((w2.value(), b2.value()), (w.value(), b.value()));
//! ```
//!
//! ```
//! wyrm::model! {
//!     struct Linear {
//!         w: Param<width, 1>,
//!         b: Param<1, 1>,
//!         x: Input<1, width>,
//!         out = x.dot(w) + b,
//!     }
//! }
//!
//! let trained = Linear::new(3);
//! let saved: String = serde_json::to_string(&trained.shared_parameters()).unwrap();
//!
//! // Later, or in another process: load once, then build a graph per serving thread.
//! let loaded: LinearParameters = serde_json::from_str(&saved).unwrap();
//! assert_eq!(loaded.width, 3);
//! let served = Linear::from_parameters(&loaded);
//! assert_eq!(served.w.value(), trained.w.value());
//! ```
//!
//! A checkpoint, to resume training where it stopped (deriving needs `serde` with its
//! `derive` feature among your own dependencies: `serde = { version = "1", features =
//! ["derive"] }`):
//!
//! ```
//! # wyrm::model! {
//! #     struct Linear {
//! #         w: Param<width, 1>,
//! #         b: Param<1, 1>,
//! #         x: Input<1, width>,
//! #         out = x.dot(w) + b,
//! #     }
//! # }
//! use wyrm::optim::OptimizerStates;
//! use wyrm::prelude::*;
//!
//! #[derive(serde::Serialize, serde::Deserialize)]
//! struct Checkpoint {
//!     parameters: LinearParameters,
//!     optimizer: OptimizerStates,
//!     adam_steps: Vec<u64>,
//!     // The optimizer's settings are the program's: save any that changed during
//!     // training (a learning-rate schedule), or resume with those passed to `new`.
//!     learning_rate: f32,
//! }
//!
//! fn train_step(model: &Linear, opt: &mut Adam) {
//!     let loss = model.out.square();
//!     model.x.set_value(ndarray::arr2(&[[1.0, 2.0]]));
//!     loss.forward();
//!     loss.backward(1.0);
//!     opt.step();
//!     opt.zero_gradients();
//! }
//!
//! let model = Linear::new(2);
//! let mut opt = Adam::new(0.01, model.parameters());
//! train_step(&model, &mut opt);
//! let saved = serde_json::to_string(&Checkpoint {
//!     parameters: model.shared_parameters(),
//!     optimizer: model.optimizer_states(),
//!     adam_steps: opt.step_counts(),
//!     learning_rate: opt.learning_rate(),
//! })
//! .unwrap();
//!
//! // Later: the same values, optimizer state and step counts, so training carries on
//! // exactly as if it had not stopped. (`from_parameters` trains the loaded storage
//! // itself, not a copy: `loaded.parameters` follows the resumed model;
//! // `from_parameter_values` would train a copy.)
//! let loaded: Checkpoint = serde_json::from_str(&saved).unwrap();
//! let resumed = Linear::from_parameters(&loaded.parameters);
//! resumed.set_optimizer_states(&loaded.optimizer).unwrap();
//! let mut resumed_opt = Adam::new(loaded.learning_rate, resumed.parameters());
//! resumed_opt.set_step_counts(&loaded.adam_steps);
//!
//! train_step(&model, &mut opt);
//! train_step(&resumed, &mut resumed_opt);
//! assert_eq!(resumed.w.value(), model.w.value());
//! assert_eq!(resumed.b.value(), model.b.value());
//! ```

use crate::shape::fmt_shape;
use crate::HogwildParameter;
use ndarray::Array2;
use serde::de::{self, Deserializer, MapAccess, SeqAccess, Visitor};
use serde::ser::{SerializeStruct, Serializer};
use serde::{Deserialize, Serialize};
use std::fmt;
use std::sync::Arc;

impl Serialize for HogwildParameter {
    /// The current values, as an `ndarray` array.
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.value().serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for HogwildParameter {
    /// A parameter with the loaded values and fresh optimizer state.
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Array2::<f32>::deserialize(deserializer).map(HogwildParameter::new)
    }
}

/// A companion struct's loaded fields: its parameters, then its run-time dimensions.
#[doc(hidden)]
pub type CompanionFields<const N: usize, const M: usize> = ([Arc<HogwildParameter>; N], [usize; M]);

/// Serializes a `model!` companion struct: its parameters, then its run-time dimensions.
/// For the generated code only.
#[doc(hidden)]
pub fn serialize_companion<S: Serializer>(
    serializer: S,
    name: &'static str,
    params: &[(&'static str, &HogwildParameter)],
    dims: &[(&'static str, usize)],
) -> Result<S::Ok, S::Error> {
    let mut out = serializer.serialize_struct(name, params.len() + dims.len())?;
    for (field, param) in params {
        out.serialize_field(field, param)?;
    }
    for (field, dim) in dims {
        out.serialize_field(field, dim)?;
    }
    out.end()
}

/// Deserializes a `model!` companion struct written by [`serialize_companion`]: the
/// parameters named `params` and the dimensions named `dims` (all of them, in any order
/// from a self-describing format, in order from others), whose names together are
/// `fields`. A missing, repeated or unknown field is an error naming it. For the generated
/// code only.
#[doc(hidden)]
pub fn deserialize_companion<'de, D: Deserializer<'de>, const N: usize, const M: usize>(
    deserializer: D,
    name: &'static str,
    params: [&'static str; N],
    dims: [&'static str; M],
    fields: &'static [&'static str],
) -> Result<CompanionFields<N, M>, D::Error> {
    let visitor = CompanionVisitor { name, params, dims };
    deserializer.deserialize_struct(name, fields, visitor)
}

/// Checks that a loaded parameter has the shape its model declares (`declared`, which is
/// `shape` with the loaded run-time dimensions), so that a file that does not fit the
/// model is an error when it is loaded rather than a panic in `from_parameters`. For the
/// generated code only.
#[doc(hidden)]
pub fn check_loaded_shape<E: de::Error>(
    name: &'static str,
    field: &'static str,
    declared: &'static str,
    param: &HogwildParameter,
    shape: (usize, usize),
) -> Result<(), E> {
    if param.shape() == shape {
        return Ok(());
    }
    Err(E::custom(format_args!(
        "{name}: the parameter `{field}` is {} but the model declares `{field}: {declared}`, \
         which is {}",
        fmt_shape(param.shape()),
        fmt_shape(shape)
    )))
}

/// Reads a companion struct's fields, as [`deserialize_companion`] describes.
struct CompanionVisitor<const N: usize, const M: usize> {
    name: &'static str,
    params: [&'static str; N],
    dims: [&'static str; M],
}

impl<const N: usize, const M: usize> CompanionVisitor<N, M> {
    /// The loader of parameter `i`.
    fn parameter(&self, i: usize) -> NamedParameter {
        NamedParameter {
            model: self.name,
            field: self.params[i],
        }
    }

    /// The loaded fields, or an error naming the first missing one.
    fn finish<E: de::Error>(
        &self,
        params: [Option<HogwildParameter>; N],
        dims: [Option<usize>; M],
    ) -> Result<CompanionFields<N, M>, E> {
        // Named with the struct, as the other loading errors are.
        let missing =
            |field: &str| E::custom(format_args!("{}: missing field `{field}`", self.name));
        if let Some(i) = params.iter().position(Option::is_none) {
            return Err(missing(self.params[i]));
        }
        if let Some(i) = dims.iter().position(Option::is_none) {
            return Err(missing(self.dims[i]));
        }
        Ok((
            params.map(|p| Arc::new(p.expect("checked above"))),
            dims.map(|d| d.expect("checked above")),
        ))
    }
}

impl<'de, const N: usize, const M: usize> Visitor<'de> for CompanionVisitor<N, M> {
    type Value = CompanionFields<N, M>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "struct {}", self.name)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let mut params: [Option<HogwildParameter>; N] = std::array::from_fn(|_| None);
        let mut dims: [Option<usize>; M] = [None; M];
        for (i, slot) in params.iter_mut().enumerate() {
            *slot = Some(
                seq.next_element_seed(self.parameter(i))?
                    .ok_or_else(|| de::Error::invalid_length(i, &self))?,
            );
        }
        for (i, slot) in dims.iter_mut().enumerate() {
            *slot = Some(
                seq.next_element()?
                    .ok_or_else(|| de::Error::invalid_length(N + i, &self))?,
            );
        }
        self.finish(params, dims)
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut params: [Option<HogwildParameter>; N] = std::array::from_fn(|_| None);
        let mut dims: [Option<usize>; M] = [None; M];
        while let Some(key) = map.next_key::<String>()? {
            if let Some(i) = self.params.iter().position(|p| *p == key) {
                if params[i].is_some() {
                    return Err(de::Error::duplicate_field(self.params[i]));
                }
                params[i] = Some(map.next_value_seed(self.parameter(i))?);
            } else if let Some(i) = self.dims.iter().position(|d| *d == key) {
                if dims[i].is_some() {
                    return Err(de::Error::duplicate_field(self.dims[i]));
                }
                dims[i] = Some(map.next_value()?);
            } else {
                // Loading another model's file is a mistake to report, not to ignore.
                let known: Vec<&'static str> =
                    self.params.iter().chain(&self.dims).copied().collect();
                return Err(de::Error::custom(format_args!(
                    "unknown field `{key}` for {}, which has {}",
                    self.name,
                    list(&known)
                )));
            }
        }
        self.finish(params, dims)
    }
}

/// Loads a companion's parameter, naming it in the error if its array does not load (a
/// shape that does not match the number of values, say).
struct NamedParameter {
    model: &'static str,
    field: &'static str,
}

impl<'de> de::DeserializeSeed<'de> for NamedParameter {
    type Value = HogwildParameter;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        HogwildParameter::deserialize(deserializer).map_err(|e| {
            de::Error::custom(format_args!(
                "{}: the parameter `{}`: {e}",
                self.model, self.field
            ))
        })
    }
}

/// The names as a phrase for an error message: "the fields `a`, `b` and `c`".
fn list(names: &[&str]) -> String {
    match names {
        [] => "no fields".to_string(),
        [one] => format!("the field `{one}`"),
        [init @ .., last] => {
            let init: Vec<String> = init.iter().map(|n| format!("`{n}`")).collect();
            format!("the fields {} and `{last}`", init.join(", "))
        }
    }
}
