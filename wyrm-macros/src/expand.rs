//! Code generation: the model struct with one concretely typed field per name, its
//! constructors, its parameter list, and the companion struct of shared parameters.
//!
//! Everything generated names the runtime crate through the path the invocation gives
//! (`$crate` from the `wyrm::model!` wrapper, so a renamed dependency works) and the
//! standard library by absolute path (`::core::clone::Clone::clone(&x)`, not `x.clone()`),
//! so that it compiles wherever the user invokes it, `#[no_implicit_prelude]` modules
//! included. The code built from the user's expressions carries the user's spans, so a
//! type error points at the user's tokens.

use crate::check::Checked;
use crate::ops::{axis_of, find_function, find_method, Arg, Rule};
use crate::parse::{key, BinOp, Dim, Expr, ExprKind, Init, Item, ItemKind, Leaf, LeafKind, Model};
use proc_macro2::TokenStream;
use quote::{format_ident, quote, quote_spanned, ToTokens};
use std::collections::HashMap;
use syn::{Attribute, Ident};

/// The name of the companion struct of shared parameters.
pub fn parameters_name(model: &Ident) -> Ident {
    format_ident!("{}Parameters", model)
}

/// Expands a checked model.
pub fn expand(model: &Model, checked: &Checked) -> TokenStream {
    let k = &model.krate;
    let name = &model.name;
    let vis = &model.vis;
    let attrs = &model.attrs;
    let cfgs = struct_cfgs(model);
    let params_name = parameters_name(name);
    let dims = &checked.dims;
    let rng = rng_ident();

    let statics = model.static_shapes;

    // Node types of every name, in order; the static dimensions `<R, C>` of parameters.
    let mut types: HashMap<String, TokenStream> = HashMap::new();
    let mut param_dims: HashMap<String, TokenStream> = HashMap::new();
    let mut fields = Vec::new();
    for item in &model.items {
        let ty = match &item.kind {
            ItemKind::Leaf(leaf) => {
                if let Some(dims) = static_dims(k, leaf, statics) {
                    param_dims.insert(key(&item.name), dims);
                }
                leaf_type(k, leaf, statics)
            }
            ItemKind::Node(expr) => node_type(k, expr, &types, &param_dims),
        };
        let field = &item.name;
        let docs = field_docs(item);
        let item_attrs = &item.attrs;
        fields.push(quote! {
            #docs
            #(#item_attrs)*
            pub #field: #k::Variable<#ty>,
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
        let ty = leaf_type(k, leaf, statics);
        quote!(#n: #k::Variable<#ty>)
    });
    let leaf_names: Vec<&Ident> = leaves.iter().map(|(i, _)| &i.name).collect();
    // Statically shaped parameters are listed in their run-time-shaped form.
    let param_list = leaves
        .iter()
        .filter(|(_, l)| l.kind == LeafKind::Param)
        .map(|(item, leaf)| {
            let n = &item.name;
            match static_dims(k, leaf, statics) {
                Some(_) => quote!(self.#n.erased()),
                None => quote!(::core::clone::Clone::clone(&self.#n)),
            }
        });
    let definitions = model.items.iter().filter_map(|item| match &item.kind {
        ItemKind::Node(expr) => {
            let n = &item.name;
            let value = build(k, expr, Use::Top);
            Some(quote_spanned!(n.span()=> let #n = #value;))
        }
        ItemKind::Leaf(_) => None,
    });
    let all_names = model.items.iter().map(|i| &i.name);

    // `new_with_rng`: fresh leaves.
    let fresh = leaves.iter().map(|(item, leaf)| {
        let n = &item.name;
        let value = fresh_leaf(k, leaf, statics);
        quote!(let #n = #value;)
    });
    // `from_parameters`: leaves over shared parameters.
    let model_str = name.to_string();
    let shared = leaves.iter().map(|(item, leaf)| {
        let n = &item.name;
        let (rows, cols) = (dim_tokens(leaf, 0), dim_tokens(leaf, 1));
        let value = match leaf.kind {
            LeafKind::Param => {
                let n_str = n.to_string();
                let declared = leaf.declared();
                let helper = match static_dims(k, leaf, statics) {
                    Some(dims) => quote!(shared_static_parameter::#dims),
                    None => quote!(shared_parameter),
                };
                quote! {
                    #k::__private::#helper(
                        #model_str, #n_str, #declared, &__wyrm_parameters.#n, (#rows, #cols),
                    )
                }
            }
            _ => fresh_leaf(k, leaf, statics),
        };
        quote!(let #n = #value;)
    });
    // `shared_parameters`: each run-time dimension read back from a leaf that uses it.
    let dim_values = dims.iter().map(|d| {
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
        quote!(#d: self.#leaf.shape().#axis)
    });

    let dims_doc = if dims.is_empty() {
        String::new()
    } else {
        let list: Vec<String> = dims.iter().map(|d| format!("`{d}`")).collect();
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
    let companion = companion(model, &param_leaves, dims);
    let default_impl = default_impl(model, dims);

    quote! {
        #(#attrs)*
        #[allow(dead_code, clippy::type_complexity)]
        #vis struct #name {
            #(#fields)*
        }

        #companion

        #(#cfgs)*
        // Dimension names become arguments and locals, and may be upper case (`N`).
        #[allow(dead_code, non_snake_case, clippy::too_many_arguments)]
        impl #name {
            #[doc = #new_doc]
            pub fn new(#(#dims: usize),*) -> Self {
                Self::new_with_rng(&mut #k::__private::thread_rng(), #(#dims),*)
            }

            #[doc = #new_with_rng_doc]
            pub fn new_with_rng(
                #rng: &mut impl #k::__private::Rng,
                #(#dims: usize),*
            ) -> Self {
                #(#fresh)*
                Self::__wyrm_assemble(#(#leaf_names),*)
            }

            /// Builds the model over shared parameters (from [`shared_parameters`](Self::shared_parameters)):
            /// a new graph, with its own inputs and buffers, whose parameter nodes read and
            /// update the shared storage. Build one per thread for Hogwild training or serving.
            ///
            /// # Panics
            /// If a shared parameter's shape differs from the declared one.
            pub fn from_parameters(__wyrm_parameters: &#params_name) -> Self {
                #(let #dims = __wyrm_parameters.#dims;)*
                #(#shared)*
                Self::__wyrm_assemble(#(#leaf_names),*)
            }

            /// Every parameter of the model, in declaration order (pass them to an optimizer).
            pub fn parameters(&self) -> ::std::vec::Vec<#k::Variable<#k::ParameterNode>> {
                ::std::vec![#(#param_list),*]
            }

            /// The parameters in shared form: the same storage for a model built by
            /// [`from_parameters`](Self::from_parameters), else a copy of the current values.
            pub fn shared_parameters(&self) -> #params_name {
                #params_name {
                    #(#params: self.#params.hogwild_parameter(),)*
                    #(#dim_values,)*
                }
            }

            fn __wyrm_assemble(#(#leaf_args),*) -> Self {
                #(#definitions)*
                Self { #(#all_names),* }
            }
        }

        #default_impl
    }
}

/// The struct's `cfg` attributes, which every generated item repeats: the struct alone
/// configured out would leave its impls and companion naming a missing type.
fn struct_cfgs(model: &Model) -> Vec<&Attribute> {
    model
        .attrs
        .iter()
        .filter(|a| a.path().is_ident("cfg"))
        .collect()
}

/// The companion struct of shared parameters, `NameParameters`: a field per parameter
/// and per run-time dimension. The same for a model with errors, so that code using it
/// compiles as it will once the errors are fixed.
fn companion(model: &Model, params: &[(&Ident, &Leaf)], dims: &[Ident]) -> TokenStream {
    let k = &model.krate;
    let name = &model.name;
    let vis = &model.vis;
    let cfgs = struct_cfgs(model);
    let params_name = parameters_name(name);
    let param_fields = params.iter().map(|(n, leaf)| {
        let doc = format!(
            "Shared storage of the parameter `{n}: {}`.",
            leaf.declared()
        );
        quote!(#[doc = #doc] pub #n: ::std::sync::Arc<#k::HogwildParameter>,)
    });
    let dim_fields = dims.iter().map(|d| {
        let doc = format!("The run-time dimension `{d}`.");
        quote!(#[doc = #doc] pub #d: usize,)
    });
    // No link to `HogwildParameter`: the crate's name in the user's crate is unknown
    // (it may be renamed), and a broken link would warn in the user's docs.
    let params_doc = format!(
        "The parameters of [`{name}`] in shared form (`HogwildParameter`s behind `Arc`s, \
         `Send + Sync`), with its run-time dimensions. Get it from a model with \
         [`{name}::shared_parameters`]; build a graph over it in each thread with \
         [`{name}::from_parameters`]."
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
    }
}

/// `Default` (calling `new()`), for a model without run-time dimensions.
fn default_impl(model: &Model, dims: &[Ident]) -> Option<TokenStream> {
    let name = &model.name;
    let cfgs = struct_cfgs(model);
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

/// What the model's struct and companion look like when the block has errors: every
/// field present (leaves with their types, defined nodes boxed), the companion and
/// `Default` as for a correct block, and the usual methods with the same signatures, so
/// that the user's code using the model does not add a cascade of errors.
pub fn fallback(model: &Model) -> TokenStream {
    let k = &model.krate;
    let name = &model.name;
    let vis = &model.vis;
    let attrs = &model.attrs;
    let cfgs = struct_cfgs(model);
    let params_name = parameters_name(name);
    let rng = rng_ident();
    // The first of each name, as the checker keeps it (`r#w` is `w`).
    let mut seen: Vec<String> = Vec::new();
    let dims = model.run_time_dims();
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
                leaf_type(k, leaf, model.static_shapes)
            }
            ItemKind::Node(_) => quote!(#k::nodes::Boxed),
        };
        fields.push(quote!(pub #n: #k::Variable<#ty>,));
    }
    let companion = companion(model, &params, &dims);
    let default_impl = default_impl(model, &dims);
    let message = format!("the `model!` block of `{name}` has errors");
    quote! {
        #(#attrs)*
        #[allow(dead_code, missing_docs)]
        #vis struct #name {
            #(#fields)*
        }

        #companion

        #(#cfgs)*
        #[allow(dead_code, unused_variables, non_snake_case, clippy::too_many_arguments)]
        impl #name {
            /// See the errors of the `model!` block.
            pub fn new(#(#dims: usize),*) -> Self {
                ::core::unreachable!(#message)
            }
            /// See the errors of the `model!` block.
            pub fn new_with_rng(#rng: &mut impl #k::__private::Rng, #(#dims: usize),*) -> Self {
                ::core::unreachable!(#message)
            }
            /// See the errors of the `model!` block.
            pub fn from_parameters(__wyrm_parameters: &#params_name) -> Self {
                ::core::unreachable!(#message)
            }
            /// See the errors of the `model!` block.
            pub fn parameters(&self) -> ::std::vec::Vec<#k::Variable<#k::ParameterNode>> {
                ::core::unreachable!(#message)
            }
            /// See the errors of the `model!` block.
            pub fn shared_parameters(&self) -> #params_name {
                ::core::unreachable!(#message)
            }
        }

        #default_impl
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
                LeafKind::Input => "input",
                LeafKind::Index => "index input",
            };
            format!("The {what} `{n}: {}`.", leaf.declared())
        }
        ItemKind::Node(expr) => format!("The node `{n} = {expr}`."),
    };
    quote!(#[doc = #doc])
}

/// The name of the generator argument of `new_with_rng`.
fn rng_ident() -> Ident {
    Ident::new("__wyrm_rng", proc_macro2::Span::call_site())
}

/// The typenum dimensions `<R, C>` of a parameter or input, when the model asks for static
/// shapes and both dimensions are literals.
fn static_dims(k: &TokenStream, leaf: &Leaf, statics: bool) -> Option<TokenStream> {
    if !statics || leaf.kind == LeafKind::Index {
        return None;
    }
    match leaf.dims.as_slice() {
        [Dim::Lit(r, _), Dim::Lit(c, _)] => {
            let (r, c) = (typenum(k, *r), typenum(k, *c));
            Some(quote!(<#r, #c>))
        }
        _ => None,
    }
}

/// The typenum type of `n`: `U7` up to 1024, else spelled out in binary.
fn typenum(k: &TokenStream, n: usize) -> TokenStream {
    if n <= 1024 {
        let name = format_ident!("U{}", n);
        return quote!(#k::typenum::#name);
    }
    let mut ty = quote!(#k::typenum::UTerm);
    for bit in (0..usize::BITS - n.leading_zeros()).rev() {
        let b = if (n >> bit) & 1 == 1 {
            quote!(#k::typenum::B1)
        } else {
            quote!(#k::typenum::B0)
        };
        ty = quote!(#k::typenum::UInt<#ty, #b>);
    }
    ty
}

/// The node type of a leaf: run-time shaped, or static under `#[static_shapes]`.
fn leaf_type(k: &TokenStream, leaf: &Leaf, statics: bool) -> TokenStream {
    let span = leaf.keyword.span();
    let dims = static_dims(k, leaf, statics).unwrap_or_default();
    match leaf.kind {
        LeafKind::Param => quote_spanned!(span=> #k::ParameterNode #dims),
        LeafKind::Input => quote_spanned!(span=> #k::InputNode #dims),
        LeafKind::Index => quote_spanned!(span=> #k::nodes::IndexInputNode),
    }
}

/// A dimension of a leaf as a `usize` expression (a literal or the argument's name).
fn dim_tokens(leaf: &Leaf, k: usize) -> TokenStream {
    match leaf.dims.get(k) {
        Some(Dim::Lit(n, span)) => {
            let lit = syn::LitInt::new(&format!("{n}usize"), *span);
            quote!(#lit)
        }
        Some(Dim::Name(ident)) => quote!(#ident),
        Some(Dim::Const(expr)) => quote!(#expr),
        None => quote!(1usize),
    }
}

/// The expression building a fresh leaf, inside `new_with_rng` (the generator is
/// `__wyrm_rng`) and, for inputs, `from_parameters`.
fn fresh_leaf(k: &TokenStream, leaf: &Leaf, statics: bool) -> TokenStream {
    let (rows, cols) = (dim_tokens(leaf, 0), dim_tokens(leaf, 1));
    let span = leaf.keyword.span();
    let dims = static_dims(k, leaf, statics);
    match leaf.kind {
        LeafKind::Param => {
            let rng = rng_ident();
            // The initialiser's code carries the span of its keyword.
            let init_span = leaf.init.as_ref().map_or(span, |i| i.keyword().span());
            let value = match &leaf.init {
                None => quote!(#k::init::normal(#rows, #cols, 0.0, 0.1, #rng)),
                Some(Init::Normal { mean, std, .. }) => {
                    let (mean, std) = (mean.literal(), std.literal());
                    quote_spanned!(init_span=> #k::init::normal(#rows, #cols, #mean, #std, #rng))
                }
                Some(Init::Xavier(_)) => {
                    quote_spanned!(init_span=> #k::init::xavier(#rows, #cols, #rng))
                }
                Some(Init::Zeros(_)) => {
                    quote_spanned!(init_span=> #k::ndarray::Array2::zeros((#rows, #cols)))
                }
                Some(Init::Ones(_)) => {
                    quote_spanned!(init_span=> #k::ndarray::Array2::ones((#rows, #cols)))
                }
            };
            match dims {
                Some(dims) => {
                    quote_spanned!(span=> #k::ParameterNode::#dims::new_static(#value))
                }
                None => quote_spanned!(span=> #k::ParameterNode::new(#value)),
            }
        }
        LeafKind::Input => {
            let value = quote!(#k::ndarray::Array2::zeros((#rows, #cols)));
            match dims {
                Some(dims) => quote_spanned!(span=> #k::InputNode::#dims::new_static(#value)),
                None => quote_spanned!(span=> #k::InputNode::new(#value)),
            }
        }
        LeafKind::Index => {
            quote_spanned!(span=> #k::nodes::IndexInputNode::new(&::std::vec![0usize; #rows]))
        }
    }
}

/// The node type of an expression.
fn node_type(
    k: &TokenStream,
    expr: &Expr,
    types: &HashMap<String, TokenStream>,
    param_dims: &HashMap<String, TokenStream>,
) -> TokenStream {
    let ty = |e: &Expr| node_type(k, e, types, param_dims);
    match &expr.kind {
        ExprKind::Name(n) => types
            .get(&key(n))
            .cloned()
            .expect("names are checked before expansion"),
        ExprKind::Scalar(_) => unreachable!("a number has no node type; checked"),
        ExprKind::Neg { span, operand } => {
            let t = ty(operand);
            quote_spanned!(*span=> #k::nodes::Neg<#t>)
        }
        ExprKind::Binary {
            op,
            op_span,
            lhs,
            rhs,
        } => {
            let span = *op_span;
            // Which side is a number decides the node (`x - 1` and `1 - x` differ).
            let (scalar_lhs, scalar_rhs) = (
                matches!(lhs.kind, ExprKind::Scalar(_)),
                matches!(rhs.kind, ExprKind::Scalar(_)),
            );
            let alias = match (op, scalar_lhs, scalar_rhs) {
                (BinOp::Add, false, false) => "Add",
                (BinOp::Sub, false, false) => "Sub",
                (BinOp::Mul, false, false) => "Mul",
                (BinOp::Div, false, false) => "Div",
                (BinOp::Add, _, _) => "AddScalar",
                (BinOp::Mul, _, _) => "MulScalar",
                (BinOp::Sub, true, _) => "ScalarSub",
                (BinOp::Div, true, _) => "ScalarDiv",
                (BinOp::Sub, _, _) => "SubScalar",
                (BinOp::Div, _, _) => "DivScalar",
            };
            let alias = Ident::new(alias, span);
            match (scalar_lhs, scalar_rhs) {
                (true, _) => {
                    let t = ty(rhs);
                    quote_spanned!(span=> #k::nodes::#alias<#t>)
                }
                (_, true) => {
                    let t = ty(lhs);
                    quote_spanned!(span=> #k::nodes::#alias<#t>)
                }
                _ => {
                    let (l, r) = (ty(lhs), ty(rhs));
                    quote_spanned!(span=> #k::nodes::#alias<#l, #r>)
                }
            }
        }
        ExprKind::Method {
            receiver,
            method,
            args,
        } => {
            let spec = find_method(&method.to_string()).expect("methods are checked");
            let span = method.span();
            let alias = Ident::new(spec.node, span);
            let recv = ty(receiver);
            match spec.rule {
                Rule::Dot | Rule::VectorDot | Rule::Stack => {
                    let other = ty(&args[0]);
                    quote_spanned!(span=> #k::nodes::#alias<#recv, #other>)
                }
                // The receiver is a parameter's name: `Index` has its dimensions.
                Rule::Index => {
                    let dims = match &receiver.kind {
                        ExprKind::Name(n) => param_dims.get(&key(n)).cloned(),
                        _ => None,
                    };
                    quote_spanned!(span=> #k::nodes::#alias #dims)
                }
                _ => quote_spanned!(span=> #k::nodes::#alias<#recv>),
            }
        }
        ExprKind::Call { function, args } => {
            let spec = find_function(&function.to_string()).expect("functions are checked");
            let alias = Ident::new(spec.node, function.span());
            let logits = ty(&args[0]);
            quote_spanned!(function.span()=> #k::nn::losses::#alias<#logits>)
        }
    }
}

/// How an expression's value is used where it appears.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Use {
    /// The whole right-hand side of a definition.
    Top,
    /// By value (operands of operators): names are cloned.
    Owned,
    /// As a method receiver: names are used as they are.
    Receiver,
    /// As a method argument: borrowed.
    Argument,
}

/// The code computing an expression from the leaves and earlier definitions.
fn build(k: &TokenStream, expr: &Expr, usage: Use) -> TokenStream {
    let value = match &expr.kind {
        ExprKind::Name(n) => {
            return match usage {
                Use::Owned | Use::Top => {
                    quote_spanned!(n.span()=> ::core::clone::Clone::clone(&#n))
                }
                Use::Receiver => n.to_token_stream(),
                Use::Argument => quote_spanned!(n.span()=> &#n),
            };
        }
        ExprKind::Scalar(s) => return s.literal(),
        ExprKind::Neg { span, operand } => {
            let x = build(k, operand, Use::Owned);
            quote_spanned!(*span=> -#x)
        }
        ExprKind::Binary {
            op,
            op_span,
            lhs,
            rhs,
        } => {
            let (l, r) = (build(k, lhs, Use::Owned), build(k, rhs, Use::Owned));
            let op = match op {
                BinOp::Add => quote_spanned!(*op_span=> +),
                BinOp::Sub => quote_spanned!(*op_span=> -),
                BinOp::Mul => quote_spanned!(*op_span=> *),
                BinOp::Div => quote_spanned!(*op_span=> /),
            };
            quote!(#l #op #r)
        }
        ExprKind::Method {
            receiver,
            method,
            args,
        } => {
            if method == "neg" {
                let x = build(k, receiver, Use::Owned);
                quote_spanned!(method.span()=> -#x)
            } else {
                let recv = build(k, receiver, Use::Receiver);
                let spec = find_method(&method.to_string()).expect("methods are checked");
                let args = args.iter().zip(spec.args).map(|(a, kind)| match kind {
                    Arg::Axis => {
                        let axis = axis_of(a).expect("axes are checked");
                        let axis = syn::LitInt::new(&format!("{axis}usize"), a.span());
                        quote_spanned!(a.span()=> #k::ndarray::Axis(#axis))
                    }
                    _ => build(k, a, Use::Argument),
                });
                quote_spanned!(method.span()=> #recv.#method(#(#args),*))
            }
        }
        ExprKind::Call { function, args } => {
            let args = args.iter().map(|a| build(k, a, Use::Argument));
            quote_spanned!(function.span()=> #k::nn::losses::#function(#(#args),*))
        }
    };
    // Parentheses only where precedence needs them (no `unused_parens` warnings).
    let span = expr.span();
    let operator = matches!(expr.kind, ExprKind::Binary { .. } | ExprKind::Neg { .. })
        || matches!(&expr.kind, ExprKind::Method { method, .. } if method == "neg");
    match usage {
        Use::Top => value,
        Use::Owned | Use::Receiver if operator => quote_spanned!(span=> (#value)),
        Use::Owned | Use::Receiver => value,
        Use::Argument if operator => quote_spanned!(span=> &(#value)),
        Use::Argument => quote_spanned!(span=> &#value),
    }
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
                y = (x.dot(w) + b - s.index(i)).stack(x.dot(w), Axis(1)),
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
}
