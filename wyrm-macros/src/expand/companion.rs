//! What a correct block and one with errors generate alike: the companion struct of
//! shared parameters, and `Default` for a model without run-time dimensions.

use super::leaf::{dim_local, dim_tokens};
use super::Header;
use crate::parse::{Leaf, Model};
use proc_macro2::TokenStream;
use quote::quote;
use syn::ext::IdentExt;
use syn::Ident;

/// The companion struct of shared parameters, `NameParameters`: a field per parameter
/// and per run-time dimension. The same for a model with errors, so that code using it
/// compiles as it will once the errors are fixed.
///
/// With `shapes`, loading checks each parameter's shape against its declaration, the
/// run-time dimensions taken from the loaded fields (not for the stand-in of a block with
/// errors, whose declarations may not make sense).
pub(super) fn companion(
    model: &Model,
    params: &[(&Ident, &Leaf)],
    dims: &[Ident],
    shapes: bool,
) -> TokenStream {
    let Header {
        k,
        name,
        vis,
        cfgs,
        params_name,
        dims_name,
        ..
    } = Header::of(model);
    let param_idents: Vec<&Ident> = params.iter().map(|(n, _)| *n).collect();
    let param_fields = params.iter().map(|(n, leaf)| {
        let doc = format!(
            "Shared storage of the parameter `{n}: {}`.",
            leaf.declared()
        );
        quote!(#[doc = #doc] pub #n: ::std::sync::Arc<#k::HogwildParameter>,)
    });
    let dim_fields = dims.iter().map(|d| {
        let doc = format!("The run-time dimension `{}`.", d.unraw());
        quote!(#[doc = #doc] pub #d: usize,)
    });
    // No link to `HogwildParameter`: the crate's name in the user's crate is unknown
    // (it may be renamed), and a broken link would warn in the user's docs.
    let params_doc = format!(
        "The parameters of [`{name}`] in shared form (`HogwildParameter`s behind `Arc`s, \
         `Send + Sync`), with its run-time dimensions. Get it from a model with \
         [`{name}::shared_parameters`]; build a graph over it in each thread with \
         [`{name}::from_parameters`].\n\n\
         Cloning it clones the `Arc`s: the clone shares the storage, and sees training \
         through either. For a copy of the values at this moment (to keep the best model \
         so far, say), use `snapshot`."
    );
    // Saving and loading, when the runtime crate has its `serde` feature: fields named as
    // in the block, without the `r#` of raw identifiers; a parameter's declaration and
    // shape, for the check that a loaded file fits the model.
    let named = |n: &Ident| {
        let name = n.unraw().to_string();
        quote!(#n = #name)
    };
    let param_names = params.iter().map(|(n, leaf)| {
        let named = named(n);
        if !shapes {
            return named;
        }
        let declared = leaf.declared();
        let (rows, cols) = (dim_tokens(leaf, 0, dims), dim_tokens(leaf, 1, dims));
        quote!(#named : #declared (#rows, #cols))
    });
    let dim_names = dims.iter().map(|d| {
        let (named, local) = (named(d), dim_local(d));
        quote!(#local / #named)
    });
    let by_name = by_name(k, &params_name, &dims_name, &param_idents, dims);
    let state_methods = state_methods(
        k,
        &params_name,
        params.iter().map(|(n, _)| *n),
        quote!((&[#(::core::clone::Clone::clone(&self.#param_idents)),*]
            as &[::std::sync::Arc<#k::HogwildParameter>])),
    );
    quote! {
        #[doc = #params_doc]
        #(#cfgs)*
        #[derive(::core::clone::Clone, ::core::fmt::Debug)]
        // Dimension names may be upper case (`N`).
        #[allow(dead_code, non_snake_case)]
        #vis struct #params_name {
            #(#param_fields)*
            #(#dim_fields)*
        }

        #(#cfgs)*
        #[allow(dead_code)]
        impl #params_name {
            /// A copy of the parameters' current values in new storage, with the same
            /// run-time dimensions and without optimizer state: unlike a clone, it keeps
            /// these values while training goes on in the original (the best model so far,
            /// when stopping early; pass it to `set_parameter_values` to restore them).
            pub fn snapshot(&self) -> Self {
                Self {
                    #(#param_idents: ::std::sync::Arc::new(self.#param_idents.snapshot()),)*
                    #(#dims: self.#dims,)*
                }
            }

            #by_name

            #state_methods
        }

        #(#cfgs)*
        #k::__private::companion_serde! {
            #params_name { #(#param_names),* } { #(#dim_names),* }
        }
    }
}

/// `named` and `from_named`, on the companion: its parameters listed by name, and built
/// from such a list (another model's), with the run-time dimensions by name if any.
fn by_name(
    k: &TokenStream,
    params_name: &Ident,
    dims_name: &Ident,
    params: &[&Ident],
    dims: &[Ident],
) -> TokenStream {
    let names: Vec<String> = params.iter().map(|n| n.unraw().to_string()).collect();
    let owner = params_name.to_string();
    let (dims_arg, dims_doc) = if dims.is_empty() {
        (quote!(), "")
    } else {
        (
            quote!(, dims: #dims_name),
            ", with the run-time dimensions `dims`",
        )
    };
    let from_doc = format!(
        "Takes each parameter by its name in the block from `named` (another model's \
         `named()`){dims_doc}, sharing its storage: a model shaped for serving over a \
         trained model's parameters, the two blocks naming them alike (where a name comes \
         twice, the first wins). Shapes, and run-time dimensions that size a parameter, \
         are checked when a graph is built over it (`from_parameters`).\n\n\
         # Panics\n\
         If `named` has no parameter of one of this model's names, naming it and those it \
         has."
    );
    quote! {
        /// Every parameter's shared storage with its name in the block, in declaration
        /// order: for `from_named` of a model over some of the same parameters.
        pub fn named(
            &self,
        ) -> ::std::vec::Vec<(&'static str, ::std::sync::Arc<#k::HogwildParameter>)> {
            ::std::vec![#((#names, ::core::clone::Clone::clone(&self.#params))),*]
        }

        #[doc = #from_doc]
        #[track_caller]
        pub fn from_named(
            named: &[(&str, ::std::sync::Arc<#k::HogwildParameter>)] #dims_arg
        ) -> Self {
            Self {
                #(#params: #k::__private::take_named(#owner, #names, named),)*
                #(#dims: dims.#dims,)*
            }
        }
    }
}

/// `Default` (calling `new()`), for a model without run-time dimensions.
pub(super) fn default_impl(model: &Model, dims: &[Ident]) -> Option<TokenStream> {
    let Header { name, cfgs, .. } = Header::of(model);
    dims.is_empty().then(|| {
        quote! {
            #(#cfgs)*
            impl ::core::default::Default for #name {
                fn default() -> Self {
                    Self::new()
                }
            }
        }
    })
}

/// `optimizer_states` and `set_optimizer_states`, on a model or its companion: `names` are
/// the parameters in declaration order, `list` a slice of them in the same order.
pub(super) fn state_methods<'a>(
    k: &TokenStream,
    owner: &Ident,
    names: impl Iterator<Item = &'a Ident>,
    list: TokenStream,
) -> TokenStream {
    let names: Vec<String> = names.map(|n| n.unraw().to_string()).collect();
    let owner = owner.to_string();
    quote! {
        /// The optimizer state of every parameter, by its name in the block: save it with
        /// the parameters to resume training later (see `optim::OptimizerStates`).
        pub fn optimizer_states(&self) -> #k::optim::OptimizerStates {
            #k::optim::OptimizerStates::collect(&[#(#names),*], #list)
        }

        /// Puts back optimizer states taken with `optimizer_states` (perhaps saved and
        /// loaded), so that optimizers of the same kinds carry on where they stopped.
        ///
        /// # Errors
        /// If a parameter has no state in `states`, or one of another shape, or `states`
        /// has a state for a name that is not a parameter; nothing is changed then.
        pub fn set_optimizer_states(
            &self,
            states: &#k::optim::OptimizerStates,
        ) -> ::core::result::Result<(), #k::optim::OptimizerStateError> {
            states.restore(#owner, &[#(#names),*], #list)
        }
    }
}
