//! The run-time dimensions by name: the struct `NameDims` and the model's methods that
//! take or give it (`from_dims`, `from_dims_with_rng`, `dims`, `with_dims`), for a
//! correct block and, with bodies that panic, for the stand-in of one with errors.
//! The positional constructors take the dimensions in order of first use, which two new
//! users found easy to swap (`new(num_users, num_items)` the wrong way round builds, and
//! fails only at a lookup).

use super::leaf::rng_ident;
use super::Header;
use crate::parse::{key, Dim, ItemKind, LeafKind, Model};
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
    // Field names as code (`r#type`).
    let example: Vec<String> = dims.iter().map(|d| format!("{d}: ..")).collect();
    let doc = format!(
        "The run-time dimensions of [`{name}`], by name: build the model with \
         `{name}::from_dims({dims_name} {{ {} }})`, and read a model's with \
         `model.dims()`.{}",
        example.join(", "),
        with_dims_example(model, dims)
            .map(|e| format!(" {e}"))
            .unwrap_or_default()
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

/// A sentence on `with_dims` with a call that works: one changing a dimension that sizes
/// no parameter (a batch), if there is one (changing one that does panics).
fn with_dims_example(model: &Model, dims: &[Ident]) -> Option<String> {
    let Header { dims_name, .. } = Header::of(model);
    let sizes_a_parameter = |d: &Ident| {
        model.items.iter().any(|item| match &item.kind {
            ItemKind::Leaf(leaf) if leaf.kind == LeafKind::Param => leaf
                .dims
                .iter()
                .any(|x| matches!(x, Dim::Name(n) if key(n) == key(d))),
            _ => false,
        })
    };
    let free = dims.iter().find(|d| !sizes_a_parameter(d))?;
    Some(format!(
        "A graph over the same parameters with another `{}` is \
         `model.with_dims({dims_name} {{ {free}: 1, ..model.dims() }})`.",
        free.unraw()
    ))
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
    let with_dims_doc = format!(
        "[`with_dimensions`](Self::with_dimensions) with the dimensions by name, so that a \
         graph for another batch size names only the dimension that changes.{}",
        with_dims_example(model, dims)
            .map(|e| format!(" {e}"))
            .unwrap_or_default()
    );
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

        #[doc = #with_dims_doc]
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

#[cfg(test)]
mod tests {
    use super::*;

    fn docs(tokens: TokenStream) -> String {
        let model: Model = syn::parse2(tokens).expect("parses");
        let dims = model.run_time_dims();
        let out = dims_struct(&model, &dims).map(|t| t.to_string());
        out.unwrap_or_default() + &dims_methods(&model, &dims, None).to_string()
    }

    /// The docs' `with_dims` example changes a dimension that sizes no parameter (changing
    /// one that does panics), or there is none; raw names are written as code needs them.
    #[test]
    fn with_dims_examples_change_only_free_dimensions() {
        let batched = docs(quote! {
            struct Batched {
                table: Param<vocabulary, 3>,
                tokens: Index<batch>,
                y = table.index(tokens),
            }
        });
        assert!(
            batched.contains("model.with_dims(BatchedDims { batch: 1, ..model.dims() })"),
            "{batched}"
        );
        assert!(!batched.contains("vocabulary: 1"), "{batched}");
        let sized = docs(quote! {
            struct Mf {
                users: Param<num_users, 4>,
                items: Param<num_items, 4>,
                y = users.dot_t(items),
            }
        });
        assert!(
            sized.contains("MfDims { num_users: .., num_items: .. }"),
            "{sized}"
        );
        assert!(!sized.contains("with_dims(MfDims"), "{sized}");
        let raw = docs(quote! {
            struct R {
                w: Param<4, r#type>,
                x: Input<batch, 4>,
                y = x.dot(w),
            }
        });
        assert!(raw.contains("RDims { r#type: .., batch: .. }"), "{raw}");
        assert!(!docs(quote! { struct S { w: Param<1, 1>, y = w.tanh() } }).contains("SDims"));
    }
}
