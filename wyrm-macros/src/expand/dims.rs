//! The run-time dimensions by name: the struct `NameDims` and the model's methods that
//! take or give it (`from_dims`, `from_dims_with_rng`, `dims`, `with_dims`), for a
//! correct block and, with bodies that panic, for the stand-in of one with errors.
//! The positional constructors take the dimensions in order of first use, which two new
//! users found easy to swap (`new(num_users, num_items)` the wrong way round builds, and
//! fails only at a lookup).

use super::leaf::rng_ident;
use super::Header;
use crate::parse::Model;
use proc_macro2::TokenStream;
use quote::quote;
use syn::ext::IdentExt;
use syn::Ident;

/// `NameDims`, a `usize` field per run-time dimension; nothing for a model without any.
pub(super) fn dims_struct(model: &Model, dims: &[Ident]) -> Option<TokenStream> {
    if dims.is_empty() {
        return None;
    }
    let Header {
        name,
        vis,
        cfgs,
        dims_name,
        ..
    } = Header::of(model);
    let fields = dims.iter().map(|d| {
        let doc = format!("The run-time dimension `{}`.", d.unraw());
        quote!(#[doc = #doc] pub #d: usize,)
    });
    let example: Vec<String> = dims.iter().map(|d| format!("{}: ..", d.unraw())).collect();
    let last = dims.last().expect("not empty").unraw();
    let doc = format!(
        "The run-time dimensions of [`{name}`], by name: build the model with \
         `{name}::from_dims({dims_name} {{ {} }})`, read a model's with `model.dims()`, \
         and build a graph over its parameters with other values with \
         `model.with_dims({dims_name} {{ {last}: 1, ..model.dims() }})`.",
        example.join(", ")
    );
    Some(quote! {
        #[doc = #doc]
        #(#cfgs)*
        #[derive(
            ::core::clone::Clone,
            ::core::marker::Copy,
            ::core::fmt::Debug,
            ::core::cmp::PartialEq,
            ::core::cmp::Eq,
            ::core::hash::Hash,
        )]
        // Dimension names may be upper case (`N`).
        #[allow(dead_code, non_snake_case)]
        #vis struct #dims_name {
            #(#fields)*
        }
    })
}

/// The model's methods over `NameDims`; `bodies` gives each one's body, by name, from the
/// struct argument `dims` (and `rng`), or `None` for those of the stand-in.
pub(super) fn dims_methods(
    model: &Model,
    dims: &[Ident],
    bodies: Option<&[TokenStream]>,
) -> TokenStream {
    if dims.is_empty() {
        return TokenStream::new();
    }
    let Header {
        k, name, dims_name, ..
    } = Header::of(model);
    let rng = rng_ident();
    let message = format!("the `model!` block of `{name}` has errors");
    let body = |i: usize| match bodies {
        Some(bodies) => bodies[i].clone(),
        None => quote!(::core::unreachable!(#message)),
    };
    let (from_dims, from_dims_with_rng, read, with_dims) = (body(0), body(1), body(2), body(3));
    quote! {
        /// Builds the model with freshly initialised parameters, drawn from the thread's
        /// random generator, with the run-time dimensions by name ([`new`](Self::new)
        /// takes them in order).
        pub fn from_dims(dims: #dims_name) -> Self {
            #from_dims
        }

        /// [`from_dims`](Self::from_dims) with the parameters drawn from the generator
        /// given (pass a seeded one for reproducible runs).
        pub fn from_dims_with_rng(#rng: &mut impl #k::__private::Rng, dims: #dims_name) -> Self {
            #from_dims_with_rng
        }

        /// The model's run-time dimensions, by name.
        pub fn dims(&self) -> #dims_name {
            #read
        }

        /// [`with_dimensions`](Self::with_dimensions) with the dimensions by name, so that
        /// a graph for another batch size names only that one:
        /// `model.with_dims(Dims { batch: 1, ..model.dims() })`.
        ///
        /// # Panics
        /// If a parameter's shape would change with these dimensions.
        #[track_caller]
        pub fn with_dims(&self, dims: #dims_name) -> Self {
            #with_dims
        }
    }
}

/// The bodies of [`dims_methods`] for a correct block: the positional methods called
/// with the struct's fields, and the fields read back from the leaves (`sources`, one
/// per dimension: tokens reading it from `self`).
pub(super) fn dims_bodies(
    model: &Model,
    dims: &[Ident],
    sources: &[TokenStream],
) -> Vec<TokenStream> {
    let dims_name = Header::of(model).dims_name;
    let rng = rng_ident();
    vec![
        quote!(Self::new(#(dims.#dims),*)),
        quote!(Self::new_with_rng(#rng, #(dims.#dims),*)),
        quote!(#dims_name { #(#dims: self.#sources),* }),
        quote!(self.with_dimensions(#(dims.#dims),*)),
    ]
}
