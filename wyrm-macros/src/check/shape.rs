//! Shapes as far as the macro knows them, and what each operation makes of its operands'
//! shapes, reporting those that cannot match.

use super::infer::{Checker, Value};
use crate::ops::{Method, Rule};
use crate::parse::{Expr, SliceAxis};
use std::fmt;

/// A dimension as far as the macro knows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) enum D {
    /// A literal size.
    Lit(usize),
    /// A run-time dimension's name (unraw), or a constant's text: known to agree only
    /// with the same one.
    Name(String),
    /// Known only at run time (e.g. a sum of dimension names).
    Unknown,
}

impl D {
    /// Whether two dimensions are known to differ (`Some(true)`), known to agree
    /// (`Some(false)`), or cannot be compared before run time (`None`).
    pub(super) fn differs(&self, other: &D) -> Option<bool> {
        match (self, other) {
            (D::Lit(a), D::Lit(b)) => Some(a != b),
            (D::Name(a), D::Name(b)) if a == b => Some(false),
            _ => None,
        }
    }
}

impl fmt::Display for D {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            D::Lit(n) => write!(f, "{n}"),
            D::Name(n) => write!(f, "{n}"),
            D::Unknown => write!(f, "?"),
        }
    }
}

/// A shape `rows x cols`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct Shape(pub(super) D, pub(super) D);

impl fmt::Display for Shape {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}x{}", self.0, self.1)
    }
}

impl Checker<'_> {
    /// The result of `+ - * /` (or `huber`) on two nodes: in each dimension the sizes must
    /// agree, or one of them be 1, which is then repeated along the other (broadcast).
    /// `verb` says what the operation does, for the message.
    pub(super) fn elementwise(
        &mut self,
        verb: &str,
        l: Shape,
        r: Shape,
        expr: &Expr,
    ) -> Option<Value> {
        let clash = |a: &D, b: &D| a.differs(b) == Some(true) && *a != D::Lit(1) && *b != D::Lit(1);
        if clash(&l.0, &r.0) || clash(&l.1, &r.1) {
            self.errors.spanned(
                &expr.tokens,
                format!(
                    "shape mismatch: cannot {verb} a {l} and a {r}; elementwise operations need \
                     each dimension equal in both, or 1 in one of them to broadcast (repeat that \
                     row or column)",
                ),
            );
            return None;
        }
        // The result's size: the side that is not a repeated 1, and a literal over a name
        // (which must then be that literal, or 1, at run time).
        let out = |a: D, b: D| match (&a, &b) {
            (D::Lit(1), _) => b,
            (_, D::Lit(1)) | (D::Lit(_), _) => a,
            (_, D::Lit(_)) => b,
            _ => a,
        };
        Some(Value::Node {
            shape: Shape(out(l.0, r.0), out(l.1, r.1)),
            param: false,
        })
    }

    /// How many rows or columns (`what`) of an operand of shape `s`, `len` along the
    /// axis, an element of `s![..]` selects; `None` after reporting one out of range.
    fn slice_axis(
        &mut self,
        axis: &SliceAxis,
        len: &D,
        what: &str,
        s: &Shape,
        expr: &Expr,
    ) -> Option<D> {
        // Each position written, what it is called, and whether it may equal the length
        // (a range's start and exclusive end may; an index and an inclusive end may not).
        let (size, positions): (D, Vec<(usize, &str, bool)>) = match *axis {
            SliceAxis::All => return Some(len.clone()),
            SliceAxis::Unknown => return Some(D::Unknown),
            SliceAxis::Range {
                start,
                end,
                inclusive,
            } => {
                let past = if inclusive {
                    end.saturating_add(1)
                } else {
                    end
                };
                let end_kind = if inclusive { "inclusive end" } else { "end" };
                (
                    D::Lit(past.saturating_sub(start)),
                    vec![(start, "start", true), (end, end_kind, !inclusive)],
                )
            }
            SliceAxis::Index(i) => (D::Lit(1), vec![(i, "index", false)]),
            SliceAxis::From(start) => (
                match len {
                    D::Lit(n) => D::Lit(n.saturating_sub(start)),
                    _ => D::Unknown,
                },
                vec![(start, "start", true)],
            ),
        };
        if let D::Lit(n) = len {
            let bad = positions
                .iter()
                .find(|&&(p, _, may_equal)| p > *n || (p == *n && !may_equal));
            if let Some((position, kind, _)) = bad {
                self.errors.spanned(
                    &expr.tokens,
                    format!("`slice`: {what} {kind} {position} is out of range for a {s} operand ({n} {what}s)"),
                );
                return None;
            }
        }
        Some(size)
    }

    /// The result of `concat((a, b, ..), axis)`, from its checked arguments: the nodes,
    /// then the axis.
    pub(super) fn concat(&mut self, args: &[Value], exprs: &[Expr], expr: &Expr) -> Option<Value> {
        let (Value::Axis(axis), nodes) = args.split_last().expect("parsed with an axis") else {
            unreachable!("checked by `arguments`")
        };
        let shapes: Vec<Shape> = nodes
            .iter()
            .map(|v| match v {
                Value::Node { shape, .. } => shape.clone(),
                _ => unreachable!("checked by `arguments`"),
            })
            .collect();
        self.join("concat", &shapes, *axis, expr, exprs)
    }

    /// Nodes of `shapes` joined along `axis` by `op` (`stack` or `concat`): their other
    /// dimensions must agree.
    ///
    /// `operands` are `concat`'s, at whose tokens a mismatch is reported (counting from 0,
    /// as the library's message and a tuple's fields do); `stack`'s is reported at the
    /// whole call.
    fn join(
        &mut self,
        op: &str,
        shapes: &[Shape],
        axis: usize,
        expr: &Expr,
        operands: &[Expr],
    ) -> Option<Value> {
        let sum = |a: &D, b: &D| match (a, b) {
            (D::Lit(a), D::Lit(b)) => D::Lit(a + b),
            _ => D::Unknown,
        };
        let dim = |s: &Shape, i: usize| if i == 0 { s.0.clone() } else { s.1.clone() };
        let along = |s: &Shape| dim(s, axis);
        let kept = |s: &Shape| dim(s, 1 - axis);
        let what = if axis == 0 { "columns" } else { "rows" };
        let first = &shapes[0];
        if let Some(bad) = shapes
            .iter()
            .position(|s| kept(first).differs(&kept(s)) == Some(true))
        {
            let s = &shapes[bad];
            let (a, b) = (kept(first), kept(s));
            if op == "stack" {
                self.errors.spanned(
                    &expr.tokens,
                    format!("shape mismatch: cannot stack a {first} and a {s} along axis {axis}; their {what} ({a} and {b}) must be equal"),
                );
            } else {
                self.errors.spanned(
                    &operands[bad].tokens,
                    format!(
                        "shape mismatch in `concat` along axis {axis}: operand {bad} is a {s} but operand 0 is a {first}; their {what} ({b} and {a}) must be equal"
                    ),
                );
            }
            return None;
        }
        let total = shapes
            .iter()
            .skip(1)
            .fold(along(first), |t, s| sum(&t, &along(s)));
        let shape = if axis == 0 {
            Shape(total, first.1.clone())
        } else {
            Shape(first.0.clone(), total)
        };
        Some(Value::Node {
            shape,
            param: false,
        })
    }

    /// The result of a method, from its receiver's shape and its checked arguments.
    pub(super) fn apply(
        &mut self,
        spec: &Method,
        s: Shape,
        args: &[Value],
        expr: &Expr,
    ) -> Option<Value> {
        let node = |shape| {
            Some(Value::Node {
                shape,
                param: false,
            })
        };
        let other = || match args.first() {
            Some(Value::Node { shape, .. }) => shape.clone(),
            _ => unreachable!("checked by `arguments`"),
        };
        match spec.rule {
            Rule::Keep => node(s),
            Rule::Opaque => node(Shape(D::Unknown, D::Unknown)),
            Rule::Elementwise => unreachable!("checked as `+ - * /` are, before `apply`"),
            Rule::One => node(Shape(D::Lit(1), D::Lit(1))),
            Rule::Rows => node(Shape(s.0, D::Lit(1))),
            Rule::Columns => node(Shape(D::Lit(1), s.1)),
            Rule::Transpose => node(Shape(s.1, s.0)),
            Rule::Dot => {
                let o = other();
                if s.1.differs(&o.0) == Some(true) {
                    self.errors.spanned(
                        &expr.tokens,
                        format!(
                            "shape mismatch: cannot dot a {s} with a {o}; the left's columns ({}) must equal the right's rows ({})",
                            s.1, o.0
                        ),
                    );
                    return None;
                }
                node(Shape(s.0, o.1))
            }
            Rule::DotT => {
                let o = other();
                if s.1.differs(&o.1) == Some(true) {
                    self.errors.spanned(
                        &expr.tokens,
                        format!(
                            "shape mismatch: cannot dot_t a {s} with a {o}; the left's columns ({}) must equal the right's columns ({})",
                            s.1, o.1
                        ),
                    );
                    return None;
                }
                node(Shape(s.0, o.0))
            }
            Rule::VectorDot => {
                let o = other();
                if s.0.differs(&o.0) == Some(true) || s.1.differs(&o.1) == Some(true) {
                    self.errors.spanned(
                        &expr.tokens,
                        format!(
                            "shape mismatch: cannot take row-wise dot products of a {s} and a {o}; the shapes must be equal"
                        ),
                    );
                    return None;
                }
                node(Shape(s.0, D::Lit(1)))
            }
            Rule::Stack => {
                let Some(Value::Axis(axis)) = args.get(1) else {
                    unreachable!("checked by `arguments`")
                };
                self.join("stack", &[s, other()], *axis, expr, &[])
            }
            Rule::Concat => unreachable!("a function: see `concat`"),
            Rule::Reshape => {
                let [Value::Size(rows), Value::Size(cols)] = args else {
                    unreachable!("checked by `arguments`")
                };
                let count = |Shape(r, c): &Shape| match (r, c) {
                    (D::Lit(r), D::Lit(c)) => Some(r * c),
                    _ => None,
                };
                let to = Shape(rows.clone(), cols.clone());
                if let (Some(from), Some(into)) = (count(&s), count(&to)) {
                    if from != into {
                        self.errors.spanned(
                            &expr.tokens,
                            format!(
                                "shape mismatch: cannot reshape a {s} node ({from} elements) into {to} ({into} elements)"
                            ),
                        );
                        return None;
                    }
                }
                node(to)
            }
            Rule::Slice => {
                let Some(Value::Slice([rows, cols])) = args.first() else {
                    unreachable!("checked by `arguments`")
                };
                let r = self.slice_axis(rows, &s.0, "row", &s, expr)?;
                let c = self.slice_axis(cols, &s.1, "column", &s, expr)?;
                node(Shape(r, c))
            }
            Rule::Index | Rule::Gather => match args.first() {
                Some(Value::Index { count }) => node(Shape(count.clone(), s.1)),
                _ => unreachable!("checked by `arguments`"),
            },
            Rule::Pick => match args.first() {
                Some(Value::Index { count }) => {
                    if count.differs(&s.0) == Some(true) {
                        self.errors.spanned(
                            &expr.tokens,
                            format!(
                                "`pick` takes one column index per row: {count} indices for a \
                                 {s} operand"
                            ),
                        );
                        return None;
                    }
                    node(Shape(s.0, D::Lit(1)))
                }
                _ => unreachable!("checked by `arguments`"),
            },
            Rule::Bags | Rule::GatherBags => match args.first() {
                Some(Value::Bags { count }) => node(Shape(count.clone(), s.1)),
                _ => unreachable!("checked by `arguments`"),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::check::check;
    use crate::check::testing::{assert_errors, errors};
    use crate::parse::Model;

    #[test]
    fn checks_literal_shapes() {
        let e = errors(quote::quote! {
            struct M {
                a: Param<1, 3>,
                b: Param<1, 4>,
                c: Param<4, 1>,
                bias: Param<1, 3>,
                m: Param<5, 3>,
                n: Param<n_rows, 3>,
                s = a + b,
                d = a.dot(c),
                e = a.dot_t(c),
                f = m.dot_t(a) + m.sum_rows() + m.dot_t(m).t(),
                ok = m + bias + n.sum_columns() + m.t().t(),
                v = m.vector_dot(a),
                r = m - a.stack(a, 0),
                row_first = bias - m,
                outer = c * a,
                w = outer.vector_dot(m),
            }
        });
        let expected = [
            "cannot add a 1x3 and a 1x4",
            "cannot dot a 1x3 with a 4x1",
            "cannot dot_t a 1x3 with a 4x1; the left's columns (3) must equal the right's columns (1)",
            "cannot take row-wise dot products of a 5x3 and a 1x3",
            "cannot subtract a 5x3 and a 2x3",
            // A 4x1 column times a 1x3 row broadcasts to 4x3.
            "cannot take row-wise dot products of a 4x3 and a 5x3",
        ];
        assert_errors(&e, &expected);
    }

    /// Rows of a computed node by index or by bags: `K x cols` and `B x cols`; `index` on
    /// a computed node points at them; `pick` takes one index per row.
    #[test]
    fn checks_gathers() {
        let e = errors(quote::quote! {
            struct M {
                x: Input<5, 3>,
                w: Param<3, 4>,
                neighbours: Bags<5>,
                edges: Index<2>,
                h = x.dot(w).tanh(),
                layer = h.gather_mean_bags(neighbours) + h.gather_sum_bags(neighbours) + h,
                picked = h.gather_rows(edges).dot(w.t()),
                bad = h.gather_rows(edges) + layer,
                looked_up = h.index(edges),
                actions: Index<5>,
                log_probability = h.log_softmax().pick(actions) * layer.sum_rows(),
                wrong_count = h.pick(edges),
            }
        });
        let expected = [
            "cannot add a 2x4 and a 5x4",
            "`index` looks up rows of a parameter: the receiver must be a `Param` name (for \
             rows of any node: `gather_rows`)",
            "`pick` takes one column index per row: 2 indices for a 5x4 operand",
        ];
        assert_errors(&e, &expected);
    }

    #[test]
    fn checks_concat() {
        let e = errors(quote::quote! {
            struct M {
                a: Param<1, 3>,
                b: Param<2, 3>,
                c: Param<2, 4>,
                p: Param<n, 3>,
                user: Index<1>,
                tall = concat((a, b, p, a.tanh()), 0),
                ok = tall.dot(a.t()).sum_rows() + tall.sum_columns().sum_rows(),
                wide = concat((b, c, b), Axis(1)) + a,
                rows = concat((a, b, c), 0),
                cols = concat((b, a), 1),
                axis = concat((a, a), 2),
                node = concat((a, user), 1),
            }
        });
        let expected = [
            // `wide` is 2x10.
            "cannot add a 2x10 and a 1x3",
            "shape mismatch in `concat` along axis 0: operand 2 is a 2x4 but operand 0 is a 1x3; their columns (4 and 3) must be equal",
            "shape mismatch in `concat` along axis 1: operand 1 is a 1x3 but operand 0 is a 2x3; their rows (1 and 2) must be equal",
            "this argument of `concat` must be an axis",
            "this argument of `concat` must be a node",
        ];
        assert_errors(&e, &expected);
    }

    #[test]
    fn checks_slice() {
        let e = errors(quote::quote! {
            struct M {
                z: Param<2, 12>,
                h: Param<n, 4>,
                gate = z.slice(s![.., 0..4]) + z.slice(s![1, 8..]),
                all = z.slice(s![.., ..]) + z.slice(s![..=1, ..]),
                unknown = z.slice(s![-1, ..;2]) + h.slice(s![.., 0..n]),
                wide = z.slice(s![.., 0..5]) + h,
                end = z.slice(s![.., 4..13]),
                index = z.slice(s![2, ..]),
                start = z.slice(s![3.., ..]),
                reversed = z.slice(s![.., 13..4]),
                inclusive = z.slice(s![.., ..=12]),
                huge = z.slice(s![18446744073709551615, ..]),
                fits = z.slice(s![..=1, 12..]).sum_rows() + z.slice(s![0..2, ..=11]).sum_rows(),
                empty = z.slice(s![2..2, ..]),
            }
        });
        let expected = [
            "cannot add a 2x5 and a nx4",
            "`slice`: column end 13 is out of range for a 2x12 operand (12 columns)",
            "`slice`: row index 2 is out of range for a 2x12 operand (2 rows)",
            "`slice`: row start 3 is out of range for a 2x12 operand (2 rows)",
            "`slice`: column start 13 is out of range for a 2x12 operand (12 columns)",
            "`slice`: column inclusive end 12 is out of range for a 2x12 operand (12 columns)",
            "`slice`: row index 18446744073709551615 is out of range for a 2x12 operand (2 rows)",
        ];
        assert_errors(&e, &expected);
    }

    #[test]
    fn named_dims_agree_with_themselves_only() {
        let e = errors(quote::quote! {
            struct M {
                a: Param<n, 3>,
                b: Param<n, 3>,
                c: Param<m, 3>,
                x = a + b + c,
                y = a.t().dot(b).scalar_sum() + a.dot(c.t()).sum_rows().sum_columns(),
                // A named size may be 1 at run time, so it can meet a literal 1 either way.
                z = a.sum_rows() + b.sum_columns(),
                bad = a + b.sum_columns().stack(b.sum_columns(), 1),
            }
        });
        assert_eq!(e.len(), 1, "{e:?}");
        assert!(e[0].contains("cannot add a nx3 and a 1x6"), "{e:?}");
    }

    #[test]
    fn constant_dims_agree_with_the_same_expression() {
        let model: Model = syn::parse2(quote::quote! {
            struct M {
                a: Param<1, {H}>,
                b: Param<1, {H}>,
                c: Param<1, 3>,
                x = a + b + c,
                y = a.dot(b.t()),
                z = y.stack(y, 1) + c,
            }
        })
        .unwrap();
        let e: Vec<String> = match check(&model) {
            Ok(checked) => {
                assert!(checked.dims.is_empty(), "constants are not arguments");
                Vec::new()
            }
            Err(e) => e.into_iter().map(|e| e.to_string()).collect(),
        };
        assert_eq!(e.len(), 1, "{e:?}");
        assert!(e[0].contains("cannot add a 1x2 and a 1x3"), "{e:?}");
    }

    #[test]
    fn checks_huber_like_elementwise_operators() {
        let e = errors(quote::quote! {
            struct M {
                a: Param<1, 3>,
                b: Param<1, 4>,
                m: Param<5, 3>,
                ok = huber(m, a, 1.0).mean() + huber(a, a.sum_rows(), 0.5).scalar_sum(),
                bad = huber(a, b, 1.0),
                sized = huber(m, a, 1.0) + b,
                args = huber(a, 1.0),
                bce = binary_crossentropy_with_logits(m, a).mean(),
                bce_bad = binary_crossentropy_with_logits(b, m),
                column = m.sum_rows(),
                outer = binary_crossentropy_with_logits(column, a) + huber(m.sum_rows(), m.sum_rows().t(), 1.0),
                one_side = huber(a.sum_rows(), m, 1.0).mean(),
                weighted = binary_crossentropy_with_logits_weighted(column, a, 2.0),
            }
        });
        let expected = [
            "cannot take `huber` of a 1x3 and a 1x4",
            // The result has the broadcast shape, 5x3.
            "cannot add a 5x3 and a 1x4",
            "`huber` takes 3 arguments, found 2",
            "cannot take `binary_crossentropy_with_logits` of a 1x4 and a 5x3",
            "shape mismatch in `binary_crossentropy_with_logits`: a 5x1 and a 1x3 would both be repeated",
            "shape mismatch in `huber`: a 5x1 and a 1x5 would both be repeated",
            "shape mismatch in `binary_crossentropy_with_logits_weighted`: a 5x1 and a 1x3 would both be repeated",
        ];
        assert_errors(&e, &expected);
    }

    #[test]
    fn checks_stacking() {
        let e = errors(quote::quote! {
            struct M {
                a: Param<1, 3>,
                b: Param<2, 3>,
                c: Param<2, 4>,
                rows = a.stack(b, 0).stack(&a, Axis(0)),
                wide = rows.stack(c, 1),
                ok = rows.sum_rows().t().stack(a.t().t(), Axis(1)),
                bad = a.stack(c, 0) + a.stack(b, 2),
                sized = rows.dot(a.t()).t() + a.stack(a, 1),
            }
        });
        let expected = [
            "cannot stack a 4x3 and a 2x4 along axis 1; their rows (4 and 2)",
            "cannot stack a 1x3 and a 2x4 along axis 0; their columns (3 and 4)",
            "this argument of `stack` must be an axis",
            "cannot add a 1x4 and a 1x6",
        ];
        assert_errors(&e, &expected);
    }
}
