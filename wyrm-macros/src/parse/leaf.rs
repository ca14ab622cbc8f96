//! Leaf declarations, `Param<R, C> [= init]`, `Input<R, C>`, `Index<K>`, `Bags<B>` and
//! `Training`: their kinds,
//! dimensions and parameter initialisers, and how they are parsed.

use super::expr::{scalar_of, Scalar};
use proc_macro2::{Span, TokenStream};
use quote::ToTokens;
use syn::ext::IdentExt;
use syn::parse::{Parse, ParseStream};
use syn::{braced, parenthesized, Ident, LitInt, Token};

/// The kinds of leaves.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum LeafKind {
    /// `Param<R, C>`: a trained parameter.
    Param,
    /// `Input<R, C>`: a matrix the user sets before each pass.
    Input,
    /// `Index<K>`: `K` row indices the user sets, for `table.index(i)` and losses.
    Index,
    /// `Bags<B>`: `B` bags of row ids the user sets, for `table.sum_bags(b)`.
    Bags,
    /// `Training`: the flag that switches the block's `dropout` between training and
    /// evaluation, a `TrainingFlag` field of the model.
    Training,
}

impl LeafKind {
    /// How many dimensions the kind takes.
    pub(crate) fn arity(self) -> usize {
        match self {
            LeafKind::Param | LeafKind::Input => 2,
            LeafKind::Index | LeafKind::Bags => 1,
            LeafKind::Training => 0,
        }
    }

    /// The keyword, as written.
    pub(crate) fn keyword(self) -> &'static str {
        match self {
            LeafKind::Param => "Param",
            LeafKind::Input => "Input",
            LeafKind::Index => "Index",
            LeafKind::Bags => "Bags",
            LeafKind::Training => "Training",
        }
    }
}

/// A declared leaf.
pub(crate) struct Leaf {
    /// Which kind of leaf.
    pub(crate) kind: LeafKind,
    /// The `Param`/`Input`/`Index`/`Bags` keyword (for spans).
    pub(crate) keyword: Ident,
    /// The dimensions, as many as written (`check` reports a wrong count).
    pub(crate) dims: Vec<Dim>,
    /// The tokens `Kind<..>`, for errors about the dimensions as a whole.
    pub(crate) dims_tokens: TokenStream,
    /// A parameter's initialiser (`None`: the default, `normal(0, 0.1)`).
    pub(crate) init: Option<Init>,
    /// Mistakes in the declaration that left the tokens in step (an unknown initialiser,
    /// a misspelt kind close to a known one): reported with the checker's errors, so that
    /// one of them does not hide the others.
    pub(crate) errors: Vec<syn::Error>,
    /// The kind was guessed from a misspelt keyword: its error says what the kind takes,
    /// so a dimension count that does not fit the guess is not reported again.
    pub(crate) guessed: bool,
    /// `#[gradient]` on an `Input`: the input records its gradient.
    pub(crate) gradient: bool,
}

impl Leaf {
    /// The declaration as the user wrote it, normalised: `Param<num_items, 32>`.
    pub(crate) fn declared(&self) -> String {
        if self.dims.is_empty() && self.kind.arity() == 0 {
            return self.kind.keyword().to_string();
        }
        let dims: Vec<String> = self.dims.iter().map(Dim::text).collect();
        format!("{}<{}>", self.kind.keyword(), dims.join(", "))
    }
}

/// A dimension: a literal size, a name that becomes a constructor argument, or a
/// constant `usize` expression in braces (`{HIDDEN}`).
#[derive(Clone)]
pub(crate) enum Dim {
    /// A literal size, with its span.
    Lit(usize, Span),
    /// A name, a run-time dimension that the constructors take.
    Name(Ident),
    /// A constant `usize` expression, the braces taken off.
    Const(Box<syn::Expr>),
}

impl Dim {
    /// The dimension as written, normalised (`32`, `num_items`, `{HIDDEN}`).
    pub(crate) fn text(&self) -> String {
        match self {
            Dim::Lit(n, _) => n.to_string(),
            Dim::Name(n) => n.unraw().to_string(),
            Dim::Const(e) => format!("{{{}}}", super::expr::tokens_text(&e.to_token_stream())),
        }
    }
}

/// A parameter initialiser.
pub(crate) enum Init {
    /// `zeros`, with its keyword (for spans).
    Zeros(Ident),
    /// `ones`, with its keyword.
    Ones(Ident),
    /// `xavier`, with its keyword.
    Xavier(Ident),
    /// `normal(mean, std)`.
    Normal {
        /// The `normal` keyword (for spans).
        keyword: Ident,
        /// The mean.
        mean: Scalar,
        /// The standard deviation (not negative; checked when parsed).
        std: Scalar,
    },
}

impl Init {
    /// The keyword's token.
    pub(crate) fn keyword(&self) -> &Ident {
        match self {
            Init::Zeros(k) | Init::Ones(k) | Init::Xavier(k) => k,
            Init::Normal { keyword, .. } => keyword,
        }
    }
}

impl Parse for Leaf {
    fn parse(input: ParseStream) -> syn::Result<Self> {
        let keyword: Ident = input.parse()?;
        let mut errors = Vec::new();
        let known = match keyword.to_string().as_str() {
            "Param" => Some(LeafKind::Param),
            "Input" => Some(LeafKind::Input),
            "Index" => Some(LeafKind::Index),
            "Bags" => Some(LeafKind::Bags),
            "Training" => Some(LeafKind::Training),
            _ => None,
        };
        let mut dims_tokens = keyword.to_token_stream();
        let mut dims = Vec::new();
        // `Training` has no dimensions, so no `<..>`; a kind that needs them and has none
        // gets the dimension count's error, which says what it takes.
        if input.peek(Token![<]) {
            input.parse::<Token![<]>()?.to_tokens(&mut dims_tokens);
            loop {
                if input.peek(Token![>]) {
                    break;
                }
                let dim: Dim = input.parse()?;
                dim.to_tokens(&mut dims_tokens);
                dims.push(dim);
                if input.peek(Token![,]) {
                    input.parse::<Token![,]>()?.to_tokens(&mut dims_tokens);
                } else if !input.peek(Token![>]) {
                    return Err(input.error("expected `,` or `>` after a dimension"));
                }
            }
            input.parse::<Token![>]>()?.to_tokens(&mut dims_tokens);
        }
        let kind = match known {
            Some(kind) => kind,
            None => {
                let other = keyword.to_string();
                let message = format!(
                    "unknown declaration `{other}`: expected `Param<R, C>`, `Input<R, C>`, \
                     `Index<K>`, `Bags<B>` or `Training`"
                );
                // A near miss is read as what it was meant to be, so that the rest of the
                // block is checked too; anything else stops here.
                let Some(kind) = closest_kind(&other, dims.len()) else {
                    return Err(syn::Error::new(keyword.span(), message));
                };
                let suggestion = if kind.arity() == dims.len() {
                    format!("`{}`", kind.keyword())
                } else {
                    // The checker leaves a guessed kind's dimension count alone, so say
                    // here what it takes.
                    match kind.arity() {
                        0 => format!("`{}`", kind.keyword()),
                        1 => format!("`{}<K>`", kind.keyword()),
                        _ => format!("`{}<R, C>`", kind.keyword()),
                    }
                };
                errors.push(syn::Error::new(
                    keyword.span(),
                    format!("{message} (did you mean {suggestion}?)"),
                ));
                kind
            }
        };
        let init = if input.peek(Token![=]) {
            let eq: Token![=] = input.parse()?;
            if kind == LeafKind::Param {
                parse_init(input, &mut errors)?
            } else {
                let how = match kind {
                    LeafKind::Training => {
                        "a `Training` flag starts in training mode and is switched with `set`"
                            .to_string()
                    }
                    _ => format!("`{}` values are set with `set_value`", kind.keyword()),
                };
                errors.push(syn::Error::new(
                    eq.span,
                    format!("only parameters take an initialiser; {how}"),
                ));
                // Whatever was written there, up to the next item.
                skip_to_comma(input)?;
                None
            }
        } else {
            None
        };
        Ok(Leaf {
            kind,
            keyword,
            dims,
            dims_tokens,
            init,
            errors,
            guessed: known.is_none(),
            gradient: false,
        })
    }
}

/// The leaf kind a misspelt keyword is meant to be: among the kinds within two edits,
/// case aside (`Indx`, `param`, `Inptu`), the closest of those that take `dims`
/// dimensions, else the closest of all; `None` unless exactly one is closest.
fn closest_kind(word: &str, dims: usize) -> Option<LeafKind> {
    let word = word.to_lowercase();
    let distance = |kind: LeafKind| edit_distance(&word, &kind.keyword().to_lowercase());
    let near: Vec<LeafKind> = [
        LeafKind::Param,
        LeafKind::Input,
        LeafKind::Index,
        LeafKind::Bags,
        LeafKind::Training,
    ]
    .into_iter()
    .filter(|&k| distance(k) <= 2)
    .collect();
    let fitting: Vec<LeafKind> = near.iter().copied().filter(|k| k.arity() == dims).collect();
    let pool = if fitting.is_empty() { near } else { fitting };
    let best = pool.iter().map(|&k| distance(k)).min()?;
    let mut closest = pool.into_iter().filter(|&k| distance(k) == best);
    match (closest.next(), closest.next()) {
        (Some(kind), None) => Some(kind),
        _ => None,
    }
}

/// Levenshtein distance between two short words.
pub(crate) fn edit_distance(a: &str, b: &str) -> usize {
    let (a, b): (Vec<char>, Vec<char>) = (a.chars().collect(), b.chars().collect());
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.iter().enumerate() {
        let mut diagonal = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let substitution = diagonal + usize::from(ca != cb);
            diagonal = row[j + 1];
            row[j + 1] = substitution.min(row[j] + 1).min(diagonal + 1);
        }
    }
    row[b.len()]
}

/// Steps over the tokens up to the next top-level `,` (or the end).
fn skip_to_comma(input: ParseStream) -> syn::Result<()> {
    while !input.is_empty() && !input.peek(Token![,]) {
        input.parse::<proc_macro2::TokenTree>()?;
    }
    Ok(())
}

/// Parses an initialiser after `=`. A mistake that leaves the tokens in step (an unknown
/// name, whose tokens up to the next item are skipped; a wrong argument) goes to
/// `errors`, and the parameter gets the default initialiser; a syntax error is returned.
fn parse_init(input: ParseStream, errors: &mut Vec<syn::Error>) -> syn::Result<Option<Init>> {
    let keyword: Ident = input.parse()?;
    let init = match keyword.to_string().as_str() {
        "zeros" => Init::Zeros(keyword),
        "ones" => Init::Ones(keyword),
        "xavier" => Init::Xavier(keyword),
        "normal" => {
            let content;
            let parens = parenthesized!(content in input);
            let args = content.parse_terminated(syn::Expr::parse, Token![,])?;
            if args.len() != 2 {
                errors.push(syn::Error::new(
                    parens.span.join(),
                    format!(
                        "`normal` takes 2 arguments (mean, std), found {}",
                        args.len()
                    ),
                ));
                return Ok(None);
            }
            let mut args = args.into_iter().map(|a| scalar_of(&a));
            let (mean, std) = match (args.next(), args.next()) {
                (Some(Ok(mean)), Some(Ok(std))) => (mean, std),
                (Some(Err(e)), _) | (_, Some(Err(e))) => {
                    errors.push(e);
                    return Ok(None);
                }
                _ => unreachable!("two arguments"),
            };
            if std.literal_value().is_some_and(|v| v < 0.0) {
                errors.push(syn::Error::new(
                    std.span,
                    "the standard deviation of `normal` must not be negative",
                ));
                return Ok(None);
            }
            Init::Normal { keyword, mean, std }
        }
        other => {
            errors.push(syn::Error::new(
                keyword.span(),
                format!(
                    "unknown initialiser `{other}`: expected `zeros`, `ones`, `xavier` or `normal(mean, std)`"
                ),
            ));
            skip_to_comma(input)?;
            return Ok(None);
        }
    };
    Ok(Some(init))
}

impl Parse for Dim {
    fn parse(input: ParseStream) -> syn::Result<Self> {
        let lookahead = input.lookahead1();
        if lookahead.peek(LitInt) {
            let lit: LitInt = input.parse()?;
            // Signed, so that `-1` gets the message below rather than "invalid digit".
            let n: i128 = lit.base10_parse()?;
            if n < 1 {
                return Err(syn::Error::new(
                    lit.span(),
                    "a dimension must be at least 1",
                ));
            }
            let n = usize::try_from(n)
                .map_err(|_| syn::Error::new(lit.span(), "a dimension must fit in a `usize`"))?;
            Ok(Dim::Lit(n, lit.span()))
        } else if lookahead.peek(Ident) {
            Ok(Dim::Name(input.parse()?))
        } else if lookahead.peek(syn::token::Brace) {
            let content;
            braced!(content in input);
            Ok(Dim::Const(Box::new(content.parse()?)))
        } else {
            Err(lookahead.error())
        }
    }
}

impl ToTokens for Dim {
    fn to_tokens(&self, tokens: &mut TokenStream) {
        match self {
            Dim::Lit(n, span) => LitInt::new(&n.to_string(), *span).to_tokens(tokens),
            Dim::Name(ident) => ident.to_tokens(tokens),
            Dim::Const(expr) => {
                syn::token::Brace::default().surround(tokens, |t| expr.to_tokens(t))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::parse::testing::{assert_rejected, leaf, parse};

    #[test]
    fn keeps_any_number_of_dims_for_the_checker() {
        let model = parse(quote::quote! {
            struct M { w: Param<1, 2, 3>, i: Index<> }
        })
        .unwrap();
        assert_eq!(leaf(&model.items[0]).dims.len(), 3);
        assert_eq!(leaf(&model.items[1]).dims.len(), 0);
    }

    #[test]
    fn rejects_malformed_declarations() {
        assert_rejected([
            (
                quote::quote! { struct M { w: Weight<1, 1> } },
                "unknown declaration `Weight`",
            ),
            (
                quote::quote! { struct M { w: Param<1, 1> = uniform } },
                "unknown initialiser `uniform`",
            ),
            (
                quote::quote! { struct M { x: Input<1, 1> = zeros } },
                "only parameters take an initialiser",
            ),
            (
                quote::quote! { struct M { w: Param<0, 1> } },
                "a dimension must be at least 1",
            ),
            (
                quote::quote! { struct M { w: Param<-1, 2> } },
                "a dimension must be at least 1",
            ),
            (
                quote::quote! { struct M { w: Param<1, 1> = normal(1.0) } },
                "`normal` takes 2 arguments",
            ),
            (
                quote::quote! { struct M { w: Parm<1, 1> } },
                "unknown declaration `Parm`: expected `Param<R, C>`, `Input<R, C>`, \
                 `Index<K>`, `Bags<B>` or `Training` (did you mean `Param`?)",
            ),
            (
                quote::quote! { struct M { t: Training = true } },
                "only parameters take an initialiser; a `Training` flag starts in training \
                 mode and is switched with `set`",
            ),
        ]);
    }

    /// Mistakes that leave the tokens in step are kept for later and parsing goes on, so
    /// that the checker can report the block's other errors too.
    #[test]
    fn steps_over_mistakes_that_leave_the_tokens_in_step() {
        let model = parse(quote::quote! {
            struct M {
                w: Param<2, 1> = xaviar,
                v: Param<2, 1> = uniform(0, 1),
                i: Indx<1>,
                x: Input<1, 2> = zeros,
                n: Param<1, 1> = normal(0, -1),
                y = x.dot(w),
            }
        })
        .unwrap();
        let errors: Vec<String> = model.parse_errors().map(|e| e.to_string()).collect();
        assert_eq!(errors.len(), 5, "{errors:#?}");
        assert!(errors[0].starts_with("unknown initialiser `xaviar`"));
        assert!(errors[1].starts_with("unknown initialiser `uniform`"));
        assert!(errors[2].ends_with("(did you mean `Index`?)"));
        assert!(errors[3].starts_with("only parameters take an initialiser"));
        assert!(errors[4].contains("must not be negative"));
        assert_eq!(leaf(&model.items[2]).kind, crate::parse::LeafKind::Index);
        assert!(leaf(&model.items[0]).init.is_none());
    }

    #[test]
    fn a_keyword_far_from_every_kind_stops_the_parse() {
        assert!(parse(quote::quote! { struct M { w: Weight<1, 1> } }).is_err());
        // As close to `Input` as to `Index`, and fitting neither's dimension count: no
        // guess. With two dimensions it is read as `Input`.
        assert!(parse(quote::quote! { struct M { w: Inpdx<1, 1, 1> } }).is_err());
        let model = parse(quote::quote! { struct M { w: Inpdx<1, 1> } }).unwrap();
        assert_eq!(leaf(&model.items[0]).kind, crate::parse::LeafKind::Input);
    }

    /// An initialiser on an input or index input is reported as such whatever
    /// follows `=` (a number, an array), as before the parse-recovery commit, and only
    /// that error is reported (no "unknown initialiser" on top).
    #[test]
    fn an_initialiser_on_a_non_parameter_is_reported_whatever_its_tokens() {
        assert_rejected([
            (
                quote::quote! { struct M { x: Input<1, 2> = 0.5 } },
                "only parameters take an initialiser",
            ),
            (
                quote::quote! { struct M { i: Index<2> = [0, 1] } },
                "only parameters take an initialiser",
            ),
        ]);
        let model = parse(quote::quote! { struct M { x: Input<1, 2> = arr2 } }).unwrap();
        let errors: Vec<String> = model.parse_errors().map(|e| e.to_string()).collect();
        assert_eq!(errors.len(), 1, "{errors:#?}");
        assert!(errors[0].starts_with("only parameters take an initialiser"));
    }

    /// An initialiser written as a path is an unknown initialiser at its first
    /// segment (as before), not "expected `,`" at the `::`.
    #[test]
    fn a_path_initialiser_is_an_unknown_initialiser() {
        assert_rejected([(
            quote::quote! { struct M { w: Param<2, 2> = init::xavier } },
            "unknown initialiser `init`",
        )]);
    }
}
