//! Run-time support for the code that [`model!`](crate::model) generates. Not public API:
//! reached only through the hidden `wyrm::__private` path.

/// Items the generated code refers to by absolute path.
pub mod __private {
    use crate::shape::fmt_shape;
    use crate::{HogwildParameter, ParameterNode, Variable};
    use std::sync::Arc;

    pub use rand::{thread_rng, Rng};

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
        assert!(
            param.shape() == shape,
            "{model}::from_parameters: the shared parameter `{name}` is {} but the model \
             declares `{name}: {declared}`, which is {}",
            fmt_shape(param.shape()),
            fmt_shape(shape)
        );
        ParameterNode::shared(param.clone())
    }
}
