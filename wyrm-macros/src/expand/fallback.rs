//! The stand-in for a model whose block has errors, generated next to the errors.

use super::companion::{companion, default_impl};
use super::dims::{dims_methods, dims_struct};
use super::leaf::{field_type, rng_ident};
use super::{bind, Header};
use crate::parse::{key, ItemKind, Leaf, LeafKind, Model};
use proc_macro2::TokenStream;
use quote::quote;
use syn::Ident;

/// What the model's struct and companion look like when the block has errors: every
/// field present (leaves with their types, defined nodes boxed), the companion and
/// `Default` as for a correct block, and the usual methods with the same signatures, so
/// that the user's code using the model does not add a cascade of errors.
pub(crate) fn fallback(model: &Model) -> TokenStream {
    let Header {
        k,
        name,
        vis,
        attrs,
        cfgs,
        params_name,
        ..
    } = Header::of(model);
    let rng = rng_ident();
    // The first of each name, as the checker keeps it (`r#w` is `w`).
    let mut seen: Vec<String> = Vec::new();
    // The companion leaves out a dimension named like an item (its field would clash);
    // the constructors take every dimension the user wrote, so that calls written for the
    // block as meant raise no errors of their own.
    let dims = model.run_time_dims();
    let all_dims = model.dimension_names();
    let bound: Vec<TokenStream> = all_dims.iter().map(bind).collect();
    let mut params: Vec<(&Ident, &Leaf)> = Vec::new();
    let mut fields = Vec::new();
    for item in &model.items {
        if seen.contains(&key(&item.name)) {
            continue;
        }
        seen.push(key(&item.name));
        let n = &item.name;
        let ty = match &item.kind {
            ItemKind::Leaf(leaf) => {
                if leaf.kind == LeafKind::Param {
                    params.push((n, leaf));
                }
                field_type(k, leaf, model.static_shapes)
            }
            ItemKind::Node(_) => quote!(#k::Variable<#k::nodes::Boxed>),
        };
        fields.push(quote!(pub #n: #ty,));
    }
    let companion = companion(model, &params, &dims, false);
    let dims_struct = dims_struct(model, &dims);
    let dims_methods = dims_methods(model, &dims, None);
    let default_impl = default_impl(model, &all_dims);
    let message = format!("the `model!` block of `{name}` has errors");
    quote! {
        #(#attrs)*
        #[allow(dead_code, missing_docs)]
        #vis struct #name {
            #(#fields)*
        }

        #companion

        #dims_struct

        #(#cfgs)*
        #[allow(dead_code, unused_variables, non_snake_case, clippy::too_many_arguments)]
        impl #name {
            /// See the errors of the `model!` block.
            pub fn new(#(#bound: usize),*) -> Self {
                ::core::unreachable!(#message)
            }
            /// See the errors of the `model!` block.
            pub fn new_with_rng(#rng: &mut impl #k::__private::Rng, #(#bound: usize),*) -> Self {
                ::core::unreachable!(#message)
            }
            /// See the errors of the `model!` block.
            pub fn from_parameters(__wyrm_parameters: &#params_name) -> Self {
                ::core::unreachable!(#message)
            }
            /// See the errors of the `model!` block.
            pub fn from_parameter_values(__wyrm_parameters: &#params_name) -> Self {
                ::core::unreachable!(#message)
            }
            /// See the errors of the `model!` block.
            pub fn with_parameters_of(__wyrm_other: &Self) -> Self {
                ::core::unreachable!(#message)
            }
            /// See the errors of the `model!` block.
            pub fn with_dimensions(&self, #(#bound: usize),*) -> Self {
                ::core::unreachable!(#message)
            }
            #dims_methods
            /// See the errors of the `model!` block.
            pub fn parameters(&self) -> ::std::vec::Vec<#k::Variable<#k::ParameterNode>> {
                ::core::unreachable!(#message)
            }
            /// See the errors of the `model!` block.
            pub fn named_parameters(
                &self,
            ) -> ::std::vec::Vec<(&'static str, #k::Variable<#k::ParameterNode>)> {
                ::core::unreachable!(#message)
            }
            /// See the errors of the `model!` block.
            pub fn shared_parameters(&self) -> #params_name {
                ::core::unreachable!(#message)
            }
            /// See the errors of the `model!` block.
            pub fn set_parameter_values(&self, __wyrm_parameters: &#params_name) {
                ::core::unreachable!(#message)
            }
            /// See the errors of the `model!` block.
            pub fn optimizer_states(&self) -> #k::optim::OptimizerStates {
                ::core::unreachable!(#message)
            }
            /// See the errors of the `model!` block.
            pub fn set_optimizer_states(
                &self,
                states: &#k::optim::OptimizerStates,
            ) -> ::core::result::Result<(), #k::optim::OptimizerStateError> {
                ::core::unreachable!(#message)
            }
        }

        #default_impl
    }
}
