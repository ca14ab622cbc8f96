//! Code generation: the model struct with one concretely typed field per name, its
//! constructors, its parameter list, and the companion struct of shared parameters.
//!
//! Everything generated names the runtime crate through the path the invocation gives
//! (`$crate` from the `wyrm::model!` wrapper, so a renamed dependency works) and the
//! standard library by absolute path (`::core::clone::Clone::clone(&x)`, not `x.clone()`),
//! so that it compiles wherever the user invokes it, `#[no_implicit_prelude]` modules
//! included. The code built from the user's expressions carries the user's spans, so a
//! type error points at the user's tokens.
//!
//! Split by what is generated: this file the model's struct and its methods, and the
//! header that every part reads; `companion` the companion struct and `Default`, which a
//! block with errors gets too; `fallback` the stand-in for a block with errors; `leaf`
//! the leaves' types and fresh values; `expr` the node type and the code of each
//! expression.

mod companion;
mod dims;
mod expr;
mod fallback;
mod leaf;

pub(crate) use fallback::fallback;

use crate::check::Checked;
use crate::parse::{key, Dim, Item, ItemKind, Leaf, LeafKind, Model};
use companion::{companion, default_impl, state_methods};
use dims::{dims_bodies, dims_methods, dims_struct};
use expr::{build, node_type, Use};
use leaf::{dim_local, dim_tokens, field_type, fresh_leaf, leaf_type, rng_ident, static_dims};
use proc_macro2::TokenStream;
use quote::{format_ident, quote, quote_spanned};
use std::collections::HashMap;
use syn::ext::IdentExt;
use syn::{Attribute, Ident, Visibility};

/// Expands a checked model.
pub(crate) fn expand(model: &Model, checked: &Checked) -> TokenStream {
    let Header {
        k,
        name,
        vis,
        attrs,
        cfgs,
        params_name,
        ..
    } = Header::of(model);
    let dims = &checked.dims;
    let bound: Vec<TokenStream> = dims.iter().map(bind).collect();
    let locals: Vec<Ident> = dims.iter().map(dim_local).collect();
    let rng = rng_ident();

    let statics = model.static_shapes;

    // Node types of every name, in order; the static dimensions `<R, C>` of parameters.
    let mut types: HashMap<String, TokenStream> = HashMap::new();
    let mut param_dims: HashMap<String, TokenStream> = HashMap::new();
    let mut fields = Vec::new();
    for item in &model.items {
        let (ty, field_ty) = match &item.kind {
            ItemKind::Leaf(leaf) => {
                if let Some(dims) = static_dims(k, leaf, statics) {
                    param_dims.insert(key(&item.name), dims);
                }
                (leaf_type(k, leaf, statics), field_type(k, leaf, statics))
            }
            ItemKind::Node(expr) => {
                let ty = node_type(k, expr, &types, &param_dims);
                let field_ty = quote!(#k::Variable<#ty>);
                (ty, field_ty)
            }
        };
        let field = &item.name;
        let docs = field_docs(item);
        let item_attrs = &item.attrs;
        fields.push(quote! {
            #docs
            #(#item_attrs)*
            pub #field: #field_ty,
        });
        types.insert(key(&item.name), ty);
    }

    let leaves: Vec<(&Item, &Leaf)> = model
        .items
        .iter()
        .filter_map(|item| match &item.kind {
            ItemKind::Leaf(leaf) => Some((item, leaf)),
            ItemKind::Node(_) => None,
        })
        .collect();
    let params: Vec<&Ident> = leaves
        .iter()
        .filter(|(_, l)| l.kind == LeafKind::Param)
        .map(|(i, _)| &i.name)
        .collect();

    // `__wyrm_assemble(leaves..)`: connects the leaves into the graph.
    let leaf_args = leaves.iter().map(|(item, leaf)| {
        let n = &item.name;
        let ty = field_type(k, leaf, statics);
        quote!(#n: #ty)
    });
    // Dropout seeds: each `Training` flag is seeded from the generator of `new_with_rng`
    // (after the parameters, so that they are drawn as without dropout), and a derived
    // graph's from the flag it derives from; `from_parameters` leaves them random.
    let flags: Vec<&Ident> = leaves
        .iter()
        .filter(|(_, l)| l.kind == LeafKind::Training)
        .map(|(i, _)| &i.name)
        .collect();
    let model_local = Ident::new("__wyrm_model", proc_macro2::Span::call_site());
    // What the graphs over given parameters start with, said where they are built.
    let mut built_over_doc = String::new();
    if !dims.is_empty() {
        let names: Vec<String> = dims.iter().map(|d| format!("`{}`", d.unraw())).collect();
        built_over_doc.push_str(&format!(
            "The run-time dimensions ({}) are the companion's fields: a loaded snapshot \
             keeps the training run's, so set them first for another batch size \
             (`parameters.{} = 1` for one example at a time).",
            names.join(", "),
            dims[0].unraw()
        ));
    }
    if let Some(flag) = flags.first() {
        if !built_over_doc.is_empty() {
            built_over_doc.push(' ');
        }
        built_over_doc.push_str(&format!(
            "The graph's training flags start in training mode: for serving or evaluation, \
             call `model.{flag}.set(false)`; their dropout masks are random until seeded \
             (`model.{flag}.seed(..)`).",
            flag = flag.unraw()
        ));
    }
    let seed_from_rng = quote! {
        #(#model_local.#flags.seed(#k::__private::Rng::gen::<u64>(#rng));)*
    };
    // The model that `with_parameters_of` and `with_dimensions` derive from.
    let other = Ident::new("__wyrm_other", proc_macro2::Span::call_site());
    let seed_derived = quote! {
        #(#model_local.#flags.seed(#k::__private::derived_seed(&#other.#flags));)*
    };
    let leaf_names: Vec<&Ident> = leaves.iter().map(|(i, _)| &i.name).collect();
    // Statically shaped parameters are listed in their run-time-shaped form.
    let param_list: Vec<TokenStream> = leaves
        .iter()
        .filter(|(_, l)| l.kind == LeafKind::Param)
        .map(|(item, leaf)| {
            let n = &item.name;
            match static_dims(k, leaf, statics) {
                Some(_) => quote!(self.#n.erased()),
                None => quote!(::core::clone::Clone::clone(&self.#n)),
            }
        })
        .collect();
    let param_strs: Vec<String> = params.iter().map(|n| n.unraw().to_string()).collect();
    let definitions = model.items.iter().filter_map(|item| match &item.kind {
        ItemKind::Node(expr) => {
            let n = &item.name;
            let value = build(k, expr, Use::Top, dims);
            Some(quote_spanned!(n.span()=> let #n = #value;))
        }
        ItemKind::Leaf(_) => None,
    });
    let all_names = model.items.iter().map(|i| &i.name);

    // `new_with_rng`: fresh leaves.
    let fresh = leaves.iter().map(|(item, leaf)| {
        let n = &item.name;
        let value = fresh_leaf(k, leaf, statics, dims);
        quote!(let #n = #value;)
    });
    // `from_parameters`: leaves over shared parameters.
    let model_str = name.to_string();
    // `from_parameter_values`: the same with local copies of the parameters.
    let over_parameters = |copy: bool| -> Vec<TokenStream> {
        leaves
            .iter()
            .map(|(item, leaf)| {
                let n = &item.name;
                let (rows, cols) = (dim_tokens(leaf, 0, dims), dim_tokens(leaf, 1, dims));
                let value = match leaf.kind {
                    LeafKind::Param => {
                        let n_str = n.unraw().to_string();
                        let declared = leaf.declared();
                        let dims = static_dims(k, leaf, statics)
                            .unwrap_or_else(|| quote!(<#k::Dyn, #k::Dyn>));
                        quote! {
                            #k::__private::parameter_from::#dims(
                                #model_str, #n_str, #declared, &__wyrm_parameters.#n,
                                (#rows, #cols), #copy,
                            )
                        }
                    }
                    _ => fresh_leaf(k, leaf, statics, dims),
                };
                quote!(let #n = #value;)
            })
            .collect()
    };
    let shared = over_parameters(false);
    let copied = over_parameters(true);
    // `set_parameter_values`: each parameter's shape checked, then each value copied.
    let (value_checks, value_copies): (Vec<TokenStream>, Vec<TokenStream>) = leaves
        .iter()
        .filter(|(_, leaf)| leaf.kind == LeafKind::Param)
        .map(|(item, leaf)| {
            let n = &item.name;
            let (n_str, declared) = (n.unraw().to_string(), leaf.declared());
            let check = quote! {
                #k::__private::check_parameter_value(
                    #model_str, #n_str, #declared, &__wyrm_parameters.#n, self.#n.shape(),
                );
            };
            let copy = quote!(self.#n.set_value_from(&__wyrm_parameters.#n););
            (check, copy)
        })
        .unzip();
    // Each run-time dimension, read back from a leaf that uses it.
    let dim_sources: Vec<(&Ident, TokenStream)> = dims
        .iter()
        .map(|d| {
            let (leaf, axis) = leaves
                .iter()
                .find_map(|(item, leaf)| {
                    leaf.dims
                        .iter()
                        .position(|x| matches!(x, Dim::Name(n) if key(n) == key(d)))
                        .map(|axis| (&item.name, axis))
                })
                .expect("every dimension name comes from a leaf");
            let axis = syn::Index::from(axis);
            (d, quote!(#leaf.shape().#axis))
        })
        .collect();
    // `__wyrm_assemble`: the dimensions as locals, read from the leaves, for constants in
    // braces (`{1.0 / batch}`); unread ones are allowed by the locals' leading underscores.
    let assemble_dims: Vec<TokenStream> = dim_sources
        .iter()
        .map(|(d, source)| {
            let local = dim_local(d);
            quote!(let #local = #source;)
        })
        .collect();
    // `shared_parameters`: the companion's dimension fields.
    let dim_values = dim_sources
        .iter()
        .map(|(d, source)| quote!(#d: self.#source));
    // `with_parameters_of`: the dimensions as locals, for the fresh inputs (a dimension
    // that only parameters use is left unread, which the locals' leading underscores
    // allow).
    let other_dims = dim_sources.iter().map(|(d, source)| {
        let local = dim_local(d);
        quote!(let #local = #other.#source;)
    });
    // `with_parameters_of`: the other model's parameter nodes, fresh inputs.
    let tied: Vec<TokenStream> = leaves
        .iter()
        .map(|(item, leaf)| {
            let n = &item.name;
            let value = match leaf.kind {
                LeafKind::Param => quote!(::core::clone::Clone::clone(&#other.#n)),
                _ => fresh_leaf(k, leaf, statics, dims),
            };
            quote!(let #n = #value;)
        })
        .collect();

    // `with_dimensions`: each parameter keeps its shape with the new dimensions.
    let kept_shapes = leaves
        .iter()
        .filter(|(_, l)| l.kind == LeafKind::Param)
        .map(|(item, leaf)| {
            let n = &item.name;
            let n_str = n.unraw().to_string();
            let declared = leaf.declared();
            let (rows, cols) = (dim_tokens(leaf, 0, dims), dim_tokens(leaf, 1, dims));
            quote! {
                #k::__private::check_kept_shape(
                    #model_str, #n_str, #declared, #other.#n.shape(), (#rows, #cols),
                );
            }
        });
    let dims_doc = if dims.is_empty() {
        String::new()
    } else {
        let list: Vec<String> = dims.iter().map(|d| format!("`{}`", key(d))).collect();
        format!(
            " The arguments are the run-time dimensions {}.",
            list.join(", ")
        )
    };
    let new_doc = format!(
        "Builds the model with freshly initialised parameters, drawn from the thread's \
         random generator.{dims_doc}"
    );
    let new_with_rng_doc = format!(
        "Builds the model with freshly initialised parameters drawn from the generator \
         given first (pass a seeded one for reproducible runs).{dims_doc}"
    );
    let param_leaves: Vec<(&Ident, &Leaf)> = leaves
        .iter()
        .filter(|(_, l)| l.kind == LeafKind::Param)
        .map(|(i, l)| (&i.name, *l))
        .collect();
    let companion = companion(model, &param_leaves, dims, true);
    let dims_struct = dims_struct(model, dims);
    let sources: Vec<TokenStream> = dim_sources.iter().map(|(_, s)| s.clone()).collect();
    let dims_methods = dims_methods(model, dims, Some(&dims_bodies(model, dims, &sources)));
    let state_methods = state_methods(
        k,
        name,
        param_leaves.iter().map(|(n, _)| *n),
        quote!(self.parameters().as_slice()),
    );
    let default_impl = default_impl(model, dims);

    quote! {
        #(#attrs)*
        #[allow(dead_code, clippy::type_complexity)]
        #vis struct #name {
            #(#fields)*
        }

        #companion

        #dims_struct

        #(#cfgs)*
        // Dimension names become arguments and locals, and may be upper case (`N`).
        #[allow(dead_code, non_snake_case, clippy::too_many_arguments)]
        impl #name {
            #[doc = #new_doc]
            pub fn new(#(#bound: usize),*) -> Self {
                Self::new_with_rng(&mut #k::__private::thread_rng(), #(#dims),*)
            }

            #[doc = #new_with_rng_doc]
            pub fn new_with_rng(
                #rng: &mut impl #k::__private::Rng,
                #(#bound: usize),*
            ) -> Self {
                #(let #locals = #dims;)*
                #(#fresh)*
                let #model_local = Self::__wyrm_assemble(#(#leaf_names),*);
                #seed_from_rng
                #model_local
            }

            /// Builds the model over shared parameters (from [`shared_parameters`](Self::shared_parameters)):
            /// a new graph, with its own inputs and buffers, whose parameter nodes read and
            /// update the shared storage. Build one per thread for Hogwild training or serving.
            /// Training this graph trains `parameters` in place; for a private copy to
            /// train on its own (a federated client's local epochs, a fine-tuned variant,
            /// a target network), use [`from_parameter_values`](Self::from_parameter_values).
            ///
            #[doc = #built_over_doc]
            ///
            /// # Panics
            /// If a shared parameter's shape differs from the declared one.
            #[track_caller]
            pub fn from_parameters(__wyrm_parameters: &#params_name) -> Self {
                #(let #locals = __wyrm_parameters.#dims;)*
                #(#shared)*
                Self::__wyrm_assemble(#(#leaf_names),*)
            }

            /// Builds the model over local parameters holding a copy of `parameters`'
            /// current values: a private copy, whose training leaves `parameters` as they
            /// are (a federated client's local epochs, then its
            /// [`shared_parameters`](Self::shared_parameters) to average), or a graph
            /// that one thread keeps for many passes, such as a serving thread's. A local
            /// parameter is read in place, where a shared one
            /// is copied out of its atomic storage at every forward pass: in
            /// `examples/serving.rs` a request over shared parameters takes about 1.25x
            /// the time, and scoring 100 candidates (300 row lookups) about 2x. But each
            /// graph holds its own copy of every parameter
            /// (where a graph over shared ones copies only what it reads whole), so for
            /// large tables or many graphs, build over the shared ones
            /// ([`from_parameters`](Self::from_parameters)). Training this graph leaves
            /// `parameters` unchanged.
            ///
            #[doc = #built_over_doc]
            ///
            /// # Panics
            /// If a shared parameter's shape differs from the declared one.
            #[track_caller]
            pub fn from_parameter_values(__wyrm_parameters: &#params_name) -> Self {
                #(let #locals = __wyrm_parameters.#dims;)*
                #(#copied)*
                Self::__wyrm_assemble(#(#leaf_names),*)
            }

            /// Builds a second graph over the same parameter nodes as `other` (tied
            /// weights): its own inputs and computed nodes, `other`'s parameters. Gradients
            /// from both graphs add up in the shared nodes, so one optimizer over a loss
            /// that combines both (`a.loss.clone() + b.loss.clone()`, a siamese model)
            /// trains them together. For Hogwild training, build `other` with
            /// [`from_parameters`](Self::from_parameters) and tie the second graph to it,
            /// rather than building both from the shared parameters: an optimizer refuses
            /// two shared nodes over one storage.
            pub fn with_parameters_of(#other: &Self) -> Self {
                #(#other_dims)*
                #(#tied)*
                let #model_local = Self::__wyrm_assemble(#(#leaf_names),*);
                #seed_derived
                #model_local
            }

            /// Builds a second graph over this model's parameter nodes, like
            /// [`with_parameters_of`](Self::with_parameters_of), but with the run-time
            /// dimensions given here: a batch of another size, such as the short last
            /// batch of an epoch, or one example at a time for evaluation. It takes every
            /// run-time dimension, in the order of [`new`](Self::new); those that size a
            /// parameter must keep their values.
            ///
            /// # Panics
            /// If a parameter's shape would change with these dimensions.
            #[track_caller]
            pub fn with_dimensions(&self, #(#bound: usize),*) -> Self {
                #(let #locals = #dims;)*
                let #other = self;
                #(#kept_shapes)*
                #(#tied)*
                let #model_local = Self::__wyrm_assemble(#(#leaf_names),*);
                #seed_derived
                #model_local
            }

            #dims_methods

            /// Every parameter of the model, in declaration order (pass them to an optimizer).
            pub fn parameters(&self) -> ::std::vec::Vec<#k::Variable<#k::ParameterNode>> {
                ::std::vec![#(#param_list),*]
            }

            /// Every parameter with its name in the block, in declaration order: to give
            /// some of them to another optimizer (biases without weight decay, say), or to
            /// report or check them by name.
            pub fn named_parameters(
                &self,
            ) -> ::std::vec::Vec<(&'static str, #k::Variable<#k::ParameterNode>)> {
                ::std::vec![#((#param_strs, #param_list)),*]
            }

            /// Overwrites every parameter's value, in place, with the current values of
            /// `parameters` (a snapshot from [`shared_parameters`](Self::shared_parameters),
            /// a loaded file, another model's): to restore the best model so far when
            /// stopping early, or to copy an online network into its target network. The
            /// graphs, optimizers and optimizer state stay as they are.
            ///
            /// # Panics
            /// If a parameter's shape differs from this model's; nothing is changed then.
            #[track_caller]
            pub fn set_parameter_values(&self, __wyrm_parameters: &#params_name) {
                #(#value_checks)*
                #(#value_copies)*
            }

            /// The parameters in shared form: the same storage for a model built by
            /// [`from_parameters`](Self::from_parameters), else a copy of the current values.
            /// For a copy in either case (a snapshot that training does not change), call
            /// `snapshot()` on the result.
            ///
            /// A copy starts without optimizer state (Adagrad sums, RMSProp averages, Adam
            /// moments), as a
            /// fresh optimizer would; to go on training a locally trained model in Hogwild
            /// threads where it stopped, carry the state over too:
            /// `shared.set_optimizer_states(&model.optimizer_states())?`.
            pub fn shared_parameters(&self) -> #params_name {
                #params_name {
                    #(#params: self.#params.hogwild_parameter(),)*
                    #(#dim_values,)*
                }
            }

            #state_methods

            fn __wyrm_assemble(#(#leaf_args),*) -> Self {
                #(#assemble_dims)*
                #(#definitions)*
                Self { #(#all_names),* }
            }
        }

        #default_impl
    }
}

/// What the generated items take from the model's header, read in one place for the
/// expansion, the stand-in and the companion alike.
struct Header<'a> {
    /// The path of the runtime crate.
    k: &'a TokenStream,
    /// The model struct's name.
    name: &'a Ident,
    /// The model struct's visibility, which the companion shares.
    vis: &'a Visibility,
    /// The model struct's attributes (`#[static_shapes]` taken out).
    attrs: &'a [Attribute],
    /// The struct's `cfg` attributes, which every generated item repeats: the struct alone
    /// configured out would leave its impls and companion naming a missing type.
    cfgs: Vec<&'a Attribute>,
    /// The name of the companion struct of shared parameters, `NameParameters`.
    params_name: Ident,
    /// The name of the struct of run-time dimensions, `NameDims`.
    dims_name: Ident,
}

impl<'a> Header<'a> {
    /// The header of `model`.
    fn of(model: &'a Model) -> Self {
        Header {
            k: &model.krate,
            name: &model.name,
            vis: &model.vis,
            attrs: &model.attrs,
            cfgs: model
                .attrs
                .iter()
                .filter(|a| a.path().is_ident("cfg"))
                .collect(),
            params_name: format_ident!("{}Parameters", model.name),
            dims_name: format_ident!("{}Dims", model.name),
        }
    }
}

/// The doc comment of a field: the user's, or one saying what the field is.
fn field_docs(item: &Item) -> TokenStream {
    if item.attrs.iter().any(|a| a.path().is_ident("doc")) {
        return TokenStream::new();
    }
    let n = &item.name;
    let doc = match &item.kind {
        ItemKind::Leaf(leaf) => {
            let what = match leaf.kind {
                LeafKind::Param => "parameter",
                LeafKind::Input if leaf.gradient => "input, recording its gradient,",
                LeafKind::Input => "input",
                LeafKind::Index => "index input",
                LeafKind::Bags => "bags input",
                LeafKind::Training => "training flag",
            };
            format!("The {what} `{n}: {}`.", leaf.declared())
        }
        ItemKind::Node(expr) => format!("The node `{n} = {expr}`."),
    };
    quote!(#[doc = #doc])
}

/// A dimension name as a constructor argument: `name @ _`, which rustdoc shows as
/// `name`. A plain `name` that a constant in scope shares (`Param<n, DIM>` with a
/// `const DIM`) would be read as a constant pattern, and rustc would report refutable
/// patterns inside the expansion; this way it says that the argument cannot shadow the
/// constant, at the user's token, next to the constant. (The methods' bodies read the
/// dimensions from other locals, [`dim_local`], so that this is the one error.)
pub(crate) fn bind(d: &Ident) -> TokenStream {
    quote!(#d @ _)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proc_macro2::{Delimiter, TokenTree};

    /// Every token of `tokens`, groups' contents included, in order.
    fn flatten(tokens: TokenStream, out: &mut Vec<TokenTree>) {
        for t in tokens {
            if let TokenTree::Group(g) = &t {
                let inner = g.stream();
                out.push(t.clone());
                flatten(inner, out);
                // A marker closing the group, so that a token after it is not taken
                // as following its last inner token.
                if g.delimiter() != Delimiter::None {
                    out.push(TokenTree::Punct(proc_macro2::Punct::new(
                        '$',
                        proc_macro2::Spacing::Alone,
                    )));
                }
            } else {
                out.push(t);
            }
        }
    }

    /// A statically shaped model with every kind of leaf and most forms of expression.
    fn model() -> Model {
        syn::parse2(quote! {
            /// Docs.
            #[static_shapes]
            pub struct M {
                w: Param<n, 3> = normal(0, 0.5),
                b: Param<1, 3>,
                s: Param<2, 3>,
                x: Input<1, n>,
                i: Index<1>,
                t: Training,
                y = (x.dot(w) + b - s.index(i)).stack(x.dot(w), Axis(1)).dropout(0.5, t),
                loss = sparse_categorical_crossentropy(-y * 2, i),
            }
        })
        .unwrap()
    }

    /// The expansion and the stand-in with the runtime crate at `::wy`.
    fn outputs() -> [Vec<TokenTree>; 2] {
        let mut model = model();
        model.krate = quote!(::wy);
        let checked = crate::check::check(&model).unwrap_or_else(|e| panic!("{e}"));
        [expand(&model, &checked), fallback(&model)].map(|tokens| {
            let mut out = Vec::new();
            flatten(tokens, &mut out);
            out
        })
    }

    #[test]
    fn the_runtime_crate_is_named_by_the_given_path() {
        for tokens in outputs() {
            assert!(
                !tokens
                    .iter()
                    .any(|t| matches!(t, TokenTree::Ident(i) if i == "wyrm")),
                "`wyrm` named directly"
            );
            assert!(tokens
                .iter()
                .any(|t| matches!(t, TokenTree::Ident(i) if i == "wy")));
        }
    }

    #[test]
    fn the_standard_library_is_named_by_absolute_path() {
        // Names from the standard prelude (traits, types, derives, variants) and methods of
        // its traits would not resolve in a `#[no_implicit_prelude]` module.
        const PRELUDE: &[&str] = &[
            "Clone",
            "Copy",
            "Debug",
            "Default",
            "Vec",
            "Box",
            "String",
            "Option",
            "Some",
            "None",
            "Result",
            "Ok",
            "Err",
            "Send",
            "Sync",
            "Sized",
            "Into",
            "From",
            "ToString",
            "ToOwned",
            "Iterator",
            "IntoIterator",
            "Drop",
            "Fn",
            "FnMut",
            "FnOnce",
            "PartialEq",
            "Eq",
            "vec",
            "format",
            "panic",
            "unreachable",
        ];
        const METHODS: &[&str] = &["clone", "to_owned", "to_string", "into", "default"];
        for tokens in outputs() {
            for (k, t) in tokens.iter().enumerate() {
                let TokenTree::Ident(ident) = t else { continue };
                let after = |c: char| {
                    k > 0 && matches!(&tokens[k - 1], TokenTree::Punct(p) if p.as_char() == c)
                };
                let name = ident.to_string();
                if PRELUDE.contains(&name.as_str()) {
                    assert!(after(':'), "`{name}` not by absolute path");
                }
                if METHODS.contains(&name.as_str()) {
                    assert!(!after('.'), "method `.{name}()` of a prelude trait");
                }
            }
        }
    }

    /// A dimension after a range's `..` is read from its local; a field after `.` or a
    /// path segment after `::` is not.
    #[test]
    fn dimensions_after_ranges_are_locals() {
        let dims = [Ident::new("n", proc_macro2::Span::call_site())];
        let out = leaf::with_dim_locals(quote!(0..n, ..=n, a.n, m::n, n..), &dims).to_string();
        assert_eq!(
            out,
            "0 .. __wyrm_dim_n , ..= __wyrm_dim_n , a . n , m :: n , __wyrm_dim_n .."
        );
    }
}
