//! Code generation: the model struct with one concretely typed field per name, its
//! constructors, its parameter list, and the companion struct of shared parameters.
//!
//! Everything generated names the runtime crate by absolute path (`::wyrm::...`), and the
//! code built from the user's expressions carries the user's spans, so a type error points
//! at the user's tokens.

use crate::check::{axis_of, find_function, find_method, Arg, Checked, Rule};
use crate::parse::{BinOp, Dim, Expr, ExprKind, Init, Item, ItemKind, Leaf, LeafKind, Model};
use proc_macro2::TokenStream;
use quote::{format_ident, quote, quote_spanned, ToTokens};
use std::collections::HashMap;
use syn::Ident;

/// The name of the companion struct of shared parameters.
pub fn parameters_name(model: &Ident) -> Ident {
    format_ident!("{}Parameters", model)
}

/// Expands a checked model.
pub fn expand(model: &Model, checked: &Checked) -> TokenStream {
    let name = &model.name;
    let vis = &model.vis;
    let attrs = &model.attrs;
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
                if let Some(dims) = static_dims(leaf, statics) {
                    param_dims.insert(item.name.to_string(), dims);
                }
                leaf_type(leaf, statics)
            }
            ItemKind::Node(expr) => node_type(expr, &types, &param_dims),
        };
        let field = &item.name;
        let docs = field_docs(item);
        let item_attrs = &item.attrs;
        fields.push(quote! {
            #docs
            #(#item_attrs)*
            pub #field: ::wyrm::Variable<#ty>,
        });
        types.insert(item.name.to_string(), ty);
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
        let ty = leaf_type(leaf, statics);
        quote!(#n: ::wyrm::Variable<#ty>)
    });
    let leaf_names: Vec<&Ident> = leaves.iter().map(|(i, _)| &i.name).collect();
    // Statically shaped parameters are listed in their run-time-shaped form.
    let param_list = leaves
        .iter()
        .filter(|(_, l)| l.kind == LeafKind::Param)
        .map(|(item, leaf)| {
            let n = &item.name;
            match static_dims(leaf, statics) {
                Some(_) => quote!(self.#n.erased()),
                None => quote!(self.#n.clone()),
            }
        });
    let definitions = model.items.iter().filter_map(|item| match &item.kind {
        ItemKind::Node(expr) => {
            let n = &item.name;
            let value = build(expr, Use::Top);
            Some(quote_spanned!(n.span()=> let #n = #value;))
        }
        ItemKind::Leaf(_) => None,
    });
    let all_names = model.items.iter().map(|i| &i.name);

    // `new_with_rng`: fresh leaves.
    let fresh = leaves.iter().map(|(item, leaf)| {
        let n = &item.name;
        let value = fresh_leaf(leaf, statics);
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
                let helper = match static_dims(leaf, statics) {
                    Some(dims) => quote!(shared_static_parameter::#dims),
                    None => quote!(shared_parameter),
                };
                quote! {
                    ::wyrm::__private::#helper(
                        #model_str, #n_str, #declared, &__wyrm_parameters.#n, (#rows, #cols),
                    )
                }
            }
            _ => fresh_leaf(leaf, statics),
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
                    .position(|x| matches!(x, Dim::Name(n) if n == d))
                    .map(|axis| (&item.name, axis))
            })
            .expect("every dimension name comes from a leaf");
        let axis = syn::Index::from(axis);
        quote!(#d: self.#leaf.shape().#axis)
    });
    let dim_args: Vec<TokenStream> = dims.iter().map(|d| quote!(#d: usize)).collect();
    let dim_fields = dims.iter().map(|d| {
        let doc = format!("The run-time dimension `{d}`.");
        quote!(#[doc = #doc] pub #d: usize,)
    });
    let param_fields = leaves
        .iter()
        .filter(|(_, l)| l.kind == LeafKind::Param)
        .map(|(item, leaf)| {
            let n = &item.name;
            let doc = format!(
                "Shared storage of the parameter `{n}: {}`.",
                leaf.declared()
            );
            quote!(#[doc = #doc] pub #n: ::std::sync::Arc<::wyrm::HogwildParameter>,)
        });

    let params_doc = format!(
        "The parameters of [`{name}`] in shared form ([`HogwildParameter`](::wyrm::HogwildParameter)s \
         behind `Arc`s, `Send + Sync`), with its run-time dimensions. Get it from a model with \
         [`{name}::shared_parameters`]; build a graph over it in each thread with \
         [`{name}::from_parameters`]."
    );
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
    let default_impl = dims.is_empty().then(|| {
        quote! {
            impl ::core::default::Default for #name {
                fn default() -> Self {
                    Self::new()
                }
            }
        }
    });

    quote! {
        #(#attrs)*
        #[allow(dead_code, clippy::type_complexity)]
        #vis struct #name {
            #(#fields)*
        }

        #[doc = #params_doc]
        #[derive(Clone, Debug)]
        #[allow(dead_code)]
        #vis struct #params_name {
            #(#param_fields)*
            #(#dim_fields)*
        }

        #[allow(dead_code, clippy::too_many_arguments)]
        impl #name {
            #[doc = #new_doc]
            pub fn new(#(#dim_args),*) -> Self {
                Self::new_with_rng(&mut ::wyrm::__private::thread_rng(), #(#dims),*)
            }

            #[doc = #new_with_rng_doc]
            pub fn new_with_rng(
                #rng: &mut impl ::wyrm::__private::Rng,
                #(#dim_args),*
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
            pub fn parameters(&self) -> ::std::vec::Vec<::wyrm::Variable<::wyrm::ParameterNode>> {
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

/// What the model's struct and companion look like when the block has errors: every
/// field present (leaves with their types, defined nodes boxed) and the usual methods, so
/// that the user's code using the model does not add a cascade of errors.
pub fn fallback(model: &Model) -> TokenStream {
    let name = &model.name;
    let vis = &model.vis;
    let attrs = &model.attrs;
    let params_name = parameters_name(name);
    let mut dims: Vec<&Ident> = Vec::new();
    let mut seen: Vec<&Ident> = Vec::new();
    let mut fields = Vec::new();
    for item in &model.items {
        if seen.contains(&&item.name) {
            continue;
        }
        seen.push(&item.name);
        let n = &item.name;
        let ty = match &item.kind {
            ItemKind::Leaf(leaf) => {
                for d in &leaf.dims {
                    if let Dim::Name(d) = d {
                        if !dims.contains(&d) {
                            dims.push(d);
                        }
                    }
                }
                leaf_type(leaf, model.static_shapes)
            }
            ItemKind::Node(_) => quote!(::wyrm::nodes::Boxed),
        };
        fields.push(quote!(pub #n: ::wyrm::Variable<#ty>,));
    }
    let message = format!("the `model!` block of `{name}` has errors");
    quote! {
        #(#attrs)*
        #[allow(dead_code, missing_docs)]
        #vis struct #name {
            #(#fields)*
        }

        #[allow(dead_code)]
        /// The shared parameters of a model with errors.
        #vis struct #params_name {}

        #[allow(dead_code, unused_variables, clippy::too_many_arguments)]
        impl #name {
            /// See the errors of the `model!` block.
            pub fn new(#(#dims: usize),*) -> Self {
                ::core::unreachable!(#message)
            }
            /// See the errors of the `model!` block.
            pub fn new_with_rng(rng: &mut impl ::wyrm::__private::Rng, #(#dims: usize),*) -> Self {
                ::core::unreachable!(#message)
            }
            /// See the errors of the `model!` block.
            pub fn from_parameters(parameters: &#params_name) -> Self {
                ::core::unreachable!(#message)
            }
            /// See the errors of the `model!` block.
            pub fn parameters(&self) -> ::std::vec::Vec<::wyrm::Variable<::wyrm::ParameterNode>> {
                ::core::unreachable!(#message)
            }
            /// See the errors of the `model!` block.
            pub fn shared_parameters(&self) -> #params_name {
                ::core::unreachable!(#message)
            }
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
fn static_dims(leaf: &Leaf, statics: bool) -> Option<TokenStream> {
    if !statics || leaf.kind == LeafKind::Index {
        return None;
    }
    match leaf.dims.as_slice() {
        [Dim::Lit(r, _), Dim::Lit(c, _)] => {
            let (r, c) = (typenum(*r), typenum(*c));
            Some(quote!(<#r, #c>))
        }
        _ => None,
    }
}

/// The typenum type of `n`: `U7` up to 1024, else spelled out in binary.
fn typenum(n: usize) -> TokenStream {
    if n <= 1024 {
        let name = format_ident!("U{}", n);
        return quote!(::wyrm::typenum::#name);
    }
    let mut ty = quote!(::wyrm::typenum::UTerm);
    for bit in (0..usize::BITS - n.leading_zeros()).rev() {
        let b = if (n >> bit) & 1 == 1 {
            quote!(::wyrm::typenum::B1)
        } else {
            quote!(::wyrm::typenum::B0)
        };
        ty = quote!(::wyrm::typenum::UInt<#ty, #b>);
    }
    ty
}

/// The node type of a leaf: run-time shaped, or static under `#[static_shapes]`.
fn leaf_type(leaf: &Leaf, statics: bool) -> TokenStream {
    let span = leaf.keyword.span();
    let dims = static_dims(leaf, statics).unwrap_or_default();
    match leaf.kind {
        LeafKind::Param => quote_spanned!(span=> ::wyrm::ParameterNode #dims),
        LeafKind::Input => quote_spanned!(span=> ::wyrm::InputNode #dims),
        LeafKind::Index => quote_spanned!(span=> ::wyrm::nodes::IndexInputNode),
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
fn fresh_leaf(leaf: &Leaf, statics: bool) -> TokenStream {
    let (rows, cols) = (dim_tokens(leaf, 0), dim_tokens(leaf, 1));
    let span = leaf.keyword.span();
    let dims = static_dims(leaf, statics);
    match leaf.kind {
        LeafKind::Param => {
            let rng = rng_ident();
            // The initialiser's code carries the span of its keyword.
            let init_span = leaf.init.as_ref().map_or(span, |i| i.keyword().span());
            let value = match &leaf.init {
                None => quote!(::wyrm::init::normal(#rows, #cols, 0.0, 0.1, #rng)),
                Some(Init::Normal { mean, std, .. }) => {
                    let (mean, std) = (mean.literal(), std.literal());
                    quote_spanned!(init_span=> ::wyrm::init::normal(#rows, #cols, #mean, #std, #rng))
                }
                Some(Init::Xavier(_)) => {
                    quote_spanned!(init_span=> ::wyrm::init::xavier(#rows, #cols, #rng))
                }
                Some(Init::Zeros(_)) => {
                    quote_spanned!(init_span=> ::wyrm::ndarray::Array2::zeros((#rows, #cols)))
                }
                Some(Init::Ones(_)) => {
                    quote_spanned!(init_span=> ::wyrm::ndarray::Array2::ones((#rows, #cols)))
                }
            };
            match dims {
                Some(dims) => {
                    quote_spanned!(span=> ::wyrm::ParameterNode::#dims::new_static(#value))
                }
                None => quote_spanned!(span=> ::wyrm::ParameterNode::new(#value)),
            }
        }
        LeafKind::Input => {
            let value = quote!(::wyrm::ndarray::Array2::zeros((#rows, #cols)));
            match dims {
                Some(dims) => quote_spanned!(span=> ::wyrm::InputNode::#dims::new_static(#value)),
                None => quote_spanned!(span=> ::wyrm::InputNode::new(#value)),
            }
        }
        LeafKind::Index => {
            quote_spanned!(span=> ::wyrm::nodes::IndexInputNode::new(&::std::vec![0usize; #rows]))
        }
    }
}

/// The node type of an expression.
fn node_type(
    expr: &Expr,
    types: &HashMap<String, TokenStream>,
    param_dims: &HashMap<String, TokenStream>,
) -> TokenStream {
    let ty = |e: &Expr| node_type(e, types, param_dims);
    match &expr.kind {
        ExprKind::Name(n) => types
            .get(&n.to_string())
            .cloned()
            .expect("names are checked before expansion"),
        ExprKind::Scalar(_) => unreachable!("a number has no node type; checked"),
        ExprKind::Neg { span, operand } => {
            let t = ty(operand);
            quote_spanned!(*span=> ::wyrm::nodes::Neg<#t>)
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
                    quote_spanned!(span=> ::wyrm::nodes::#alias<#t>)
                }
                (_, true) => {
                    let t = ty(lhs);
                    quote_spanned!(span=> ::wyrm::nodes::#alias<#t>)
                }
                _ => {
                    let (l, r) = (ty(lhs), ty(rhs));
                    quote_spanned!(span=> ::wyrm::nodes::#alias<#l, #r>)
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
                    quote_spanned!(span=> ::wyrm::nodes::#alias<#recv, #other>)
                }
                // The receiver is a parameter's name: `Index` has its dimensions.
                Rule::Index => {
                    let dims = match &receiver.kind {
                        ExprKind::Name(n) => param_dims.get(&n.to_string()).cloned(),
                        _ => None,
                    };
                    quote_spanned!(span=> ::wyrm::nodes::#alias #dims)
                }
                _ => quote_spanned!(span=> ::wyrm::nodes::#alias<#recv>),
            }
        }
        ExprKind::Call { function, args } => {
            let spec = find_function(&function.to_string()).expect("functions are checked");
            let alias = Ident::new(spec.node, function.span());
            let logits = ty(&args[0]);
            quote_spanned!(function.span()=> ::wyrm::nn::losses::#alias<#logits>)
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
fn build(expr: &Expr, usage: Use) -> TokenStream {
    let value = match &expr.kind {
        ExprKind::Name(n) => {
            return match usage {
                Use::Owned | Use::Top => quote_spanned!(n.span()=> #n.clone()),
                Use::Receiver => n.to_token_stream(),
                Use::Argument => quote_spanned!(n.span()=> &#n),
            };
        }
        ExprKind::Scalar(s) => return s.literal(),
        ExprKind::Neg { span, operand } => {
            let x = build(operand, Use::Owned);
            quote_spanned!(*span=> -#x)
        }
        ExprKind::Binary {
            op,
            op_span,
            lhs,
            rhs,
        } => {
            let (l, r) = (build(lhs, Use::Owned), build(rhs, Use::Owned));
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
                let x = build(receiver, Use::Owned);
                quote_spanned!(method.span()=> -#x)
            } else {
                let recv = build(receiver, Use::Receiver);
                let spec = find_method(&method.to_string()).expect("methods are checked");
                let args = args.iter().zip(spec.args).map(|(a, kind)| match kind {
                    Arg::Axis => {
                        let axis = axis_of(a).expect("axes are checked");
                        let axis = syn::LitInt::new(&format!("{axis}usize"), a.span());
                        quote_spanned!(a.span()=> ::wyrm::ndarray::Axis(#axis))
                    }
                    _ => build(a, Use::Argument),
                });
                quote_spanned!(method.span()=> #recv.#method(#(#args),*))
            }
        }
        ExprKind::Call { function, args } => {
            let args = args.iter().map(|a| build(a, Use::Argument));
            quote_spanned!(function.span()=> ::wyrm::nn::losses::#function(#(#args),*))
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
