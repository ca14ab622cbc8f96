//! Run-time support for the code that [`model!`](crate::model) generates. Not public API:
//! reached only through the hidden `wyrm::__private` path.

/// Items the generated code refers to by absolute path.
pub mod __private {
    use crate::shape::{fmt_shape, Dim};
    use crate::{HogwildParameter, ParameterNode, Variable};
    use std::sync::Arc;

    // Through `wyrm::rand`, so that a mismatched generator's error names that path.
    pub use crate::rand::{thread_rng, Rng};

    /// The procedural macro behind [`model!`](crate::model), which passes it `$crate`.
    pub use wyrm_macros::model;

    /// `op`, checked to be a [`UnaryOp`](crate::nodes::UnaryOp) of the type the block's
    /// `map` names, so that a mistake is reported at the user's tokens.
    pub fn unary_op<O: crate::nodes::UnaryOp>(op: O) -> O {
        op
    }

    /// `op`, checked to be a [`BinaryOp`](crate::nodes::BinaryOp), for `combine`.
    pub fn binary_op<O: crate::nodes::BinaryOp>(op: O) -> O {
        op
    }

    /// `op`, checked to be a [`SingleOp`](crate::nodes::SingleOp), for `apply`.
    pub fn single_op<O: crate::nodes::SingleOp>(op: O) -> O {
        op
    }

    /// The seed of the training flag of a graph derived from a model whose flag is
    /// `flag` (`with_dimensions`, `with_parameters_of`).
    pub fn derived_seed(flag: &crate::TrainingFlag) -> u64 {
        flag.derived_seed()
    }

    /// The parameter node of `model`'s parameter `name`, declared as `declared` with shape
    /// `shape` (static when `R` and `C` are): over `param` itself (`from_parameters`), or
    /// over a local copy of its current values (`copy`, `from_parameter_values`).
    ///
    /// # Panics
    /// If `param` does not have the declared shape.
    #[track_caller]
    pub fn parameter_from<R: Dim, C: Dim>(
        model: &str,
        name: &str,
        declared: &str,
        param: &Arc<HogwildParameter>,
        shape: (usize, usize),
        copy: bool,
    ) -> Variable<ParameterNode<R, C>> {
        let method = if copy {
            "from_parameter_values"
        } else {
            "from_parameters"
        };
        assert!(
            param.shape() == shape,
            "{model}::{method}: the shared parameter `{name}` is {} but the model \
             declares `{name}: {declared}`, which is {}",
            fmt_shape(param.shape()),
            fmt_shape(shape)
        );
        if copy {
            ParameterNode::local(param.value())
        } else {
            ParameterNode::over(param.clone())
        }
    }

    /// The storage named `name` in `named`, for `model`'s `from_named` (`model` is the
    /// companion's name).
    ///
    /// # Panics
    /// If `named` has no parameter `name`, naming the ones it has.
    #[track_caller]
    pub fn take_named(
        model: &str,
        name: &str,
        named: &[(&str, Arc<HogwildParameter>)],
    ) -> Arc<HogwildParameter> {
        match named.iter().find(|(n, _)| *n == name) {
            Some((_, param)) => param.clone(),
            None => {
                let names: Vec<&str> = named.iter().map(|(n, _)| *n).collect();
                panic!(
                    "{model}::from_named: no parameter named `{name}` among those given: \
                     {names:?}"
                )
            }
        }
    }

    /// Panics unless the shared parameter `param` has `shape`, that of `model`'s parameter
    /// `name` (declared as `declared`), for `set_parameter_values`.
    #[track_caller]
    pub fn check_parameter_value(
        model: &str,
        name: &str,
        declared: &str,
        param: &Arc<HogwildParameter>,
        shape: (usize, usize),
    ) {
        assert!(
            param.shape() == shape,
            "{model}::set_parameter_values: the shared parameter `{name}` is {} but this \
             model's `{name}: {declared}` is {}",
            fmt_shape(param.shape()),
            fmt_shape(shape)
        );
    }

    /// A number in a `model!` expression given as a constant in braces (`{EPS}`), taken as
    /// `f32` (without an `as` cast, which clippy would flag in the user's block when the
    /// constant is an `f32` already).
    #[diagnostic::on_unimplemented(
        message = "a number in a `model!` block must be an `f32`, `f64` or integer, not `{Self}`",
        label = "not a number"
    )]
    pub trait Number {
        /// The value as `f32` (rounded to the nearest `f32`).
        fn to_f32(self) -> f32;
    }

    macro_rules! number {
        ($($t:ty),*) => {$(
            impl Number for $t {
                #[inline(always)]
                fn to_f32(self) -> f32 {
                    self as f32
                }
            }
        )*};
    }
    number!(f32, f64, i8, i16, i32, i64, i128, isize, u8, u16, u32, u64, u128, usize);

    /// Panics unless `model`'s parameter `name` (declared as `declared`), which is
    /// `shape`, keeps that shape with the dimensions given to `with_dimensions`
    /// (`resized`).
    #[track_caller]
    pub fn check_kept_shape(
        model: &str,
        name: &str,
        declared: &str,
        shape: (usize, usize),
        resized: (usize, usize),
    ) {
        assert!(
            shape == resized,
            "{model}::with_dimensions (or with_dims): the parameter `{name}: {declared}` is {} in this model \
             but would be {} with these dimensions; the graphs share their parameters, so \
             the dimensions that size one cannot change",
            fmt_shape(shape),
            fmt_shape(resized)
        );
    }

    #[cfg(feature = "serde")]
    pub use crate::save::{check_loaded_shape, deserialize_companion, serialize_companion};
    #[cfg(feature = "serde")]
    pub use serde;

    /// `Serialize` and `Deserialize` for a `model!` companion struct when this crate is
    /// built with the `serde` feature, nothing otherwise: the generated code calls it
    /// either way, since the procedural macro cannot see this crate's features.
    pub use crate::__companion_serde as companion_serde;
}

/// See `__private::companion_serde`.
#[cfg(feature = "serde")]
#[doc(hidden)]
#[macro_export]
macro_rules! __companion_serde {
    (
        $name:ident {
            $($param:ident = $param_name:literal
                $(: $declared:literal ($rows:expr, $cols:expr))?),*
        }
        { $($local:ident / $dim:ident = $dim_name:literal),* }
    ) => {
        impl $crate::__private::serde::Serialize for $name {
            fn serialize<S: $crate::__private::serde::Serializer>(
                &self,
                serializer: S,
            ) -> ::core::result::Result<S::Ok, S::Error> {
                $crate::__private::serialize_companion(
                    serializer,
                    ::core::stringify!($name),
                    &[$(($param_name, &*self.$param)),*],
                    &[$(($dim_name, self.$dim)),*],
                )
            }
        }

        impl<'de> $crate::__private::serde::Deserialize<'de> for $name {
            // The fields are bound by their names, which may be upper case (`N`).
            #[allow(non_snake_case)]
            fn deserialize<D: $crate::__private::serde::Deserializer<'de>>(
                deserializer: D,
            ) -> ::core::result::Result<Self, D::Error> {
                // Dimensions are read into the locals that `$rows` and `$cols` name.
                let ([$($param),*], [$($local),*]) = $crate::__private::deserialize_companion(
                    deserializer,
                    ::core::stringify!($name),
                    [$($param_name),*],
                    [$($dim_name),*],
                    &[$($param_name,)* $($dim_name,)*],
                )?;
                // A file that does not fit the model is an error here, not a panic in
                // `from_parameters`.
                $($(
                    $crate::__private::check_loaded_shape::<D::Error>(
                        ::core::stringify!($name),
                        $param_name,
                        $declared,
                        &$param,
                        ($rows, $cols),
                    )?;
                )?)*
                ::core::result::Result::Ok($name { $($param,)* $($dim: $local,)* })
            }
        }
    };
}

/// See `__private::companion_serde`.
#[cfg(not(feature = "serde"))]
#[doc(hidden)]
#[macro_export]
macro_rules! __companion_serde {
    ($($tokens:tt)*) => {};
}
