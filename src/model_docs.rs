//! Run-time support for the code that [`model!`](crate::model) generates. Not public API:
//! reached only through the hidden `wyrm::__private` path.

/// Items the generated code refers to by absolute path.
pub mod __private {
    use crate::shape::{fmt_shape, Static};
    use crate::{HogwildParameter, ParameterNode, Variable};
    use std::sync::Arc;

    // Through `wyrm::rand`, so that a mismatched generator's error names that path.
    pub use crate::rand::{thread_rng, Rng};

    /// The procedural macro behind [`model!`](crate::model), which passes it `$crate`.
    pub use wyrm_macros::model;

    /// A parameter node over `param` for `model`'s parameter `name`, declared as
    /// `declared` with shape `shape`.
    ///
    /// # Panics
    /// If `param` does not have the declared shape.
    pub fn shared_parameter(
        model: &str,
        name: &str,
        declared: &str,
        param: &Arc<HogwildParameter>,
        shape: (usize, usize),
    ) -> Variable<ParameterNode> {
        check_shape(model, name, declared, param, shape);
        ParameterNode::shared(param.clone())
    }

    /// Panics unless `param` has the declared `shape`.
    fn check_shape(
        model: &str,
        name: &str,
        declared: &str,
        param: &HogwildParameter,
        shape: (usize, usize),
    ) {
        assert!(
            param.shape() == shape,
            "{model}::from_parameters: the shared parameter `{name}` is {} but the model \
             declares `{name}: {declared}`, which is {}",
            fmt_shape(param.shape()),
            fmt_shape(shape)
        );
    }

    /// [`shared_parameter`] for a statically shaped parameter node.
    ///
    /// # Panics
    /// If `param` does not have the declared shape.
    pub fn shared_static_parameter<R: Static, C: Static>(
        model: &str,
        name: &str,
        declared: &str,
        param: &Arc<HogwildParameter>,
        shape: (usize, usize),
    ) -> Variable<ParameterNode<R, C>> {
        check_shape(model, name, declared, param, shape);
        ParameterNode::<R, C>::shared_static(param.clone())
    }
}
