//! Scaled dot-product attention over groups of rows, as one node: a batch of sequences
//! (or of decoder steps, each against its own sequence's encoder states) attends in one
//! pass, where the graph of separate ops would need a product, a softmax and a product per
//! sequence, or slices and sums per key.

mod node;
#[cfg(test)]
mod tests;

use crate::nodes::{Boxed, IndexInputNode};
use crate::shape::fmt_shape;
use crate::{Node, Variable};
use node::Sizes;

/// Scaled dot-product attention, batched in groups of rows: `queries` is
/// `(groups · m) x d`, `keys` `(groups · n) x d` and `values` `(groups · n) x e`, each
/// the rows of `groups` sequences one after the other; the result is `(groups · m) x e`.
/// `groups` is the number of sequences (the batch size), not their length: both may
/// divide the rows, and the wrong one attends across sequences without a panic.
/// Row `i` of group `g` is `Σⱼ aⱼ values[g·n + j]` over that group's `n` keys, with weights
/// `a = softmax(queries[g·m + i] · keys[g·n + j] / √d)`. With one group it is
/// `(queries.dot_t(keys) / √d).softmax().dot(values)`, in one node; with `groups` a batch
/// of sequences each attends only within itself.
///
/// The shorthand of [`Attention::groups(groups).apply(..)`](Attention), whose options
/// add heads, causal masking, padding and queries shared by every group;
/// [`attention_padded`] and [`causal_attention`] are the other shorthands.
///
/// The node keeps the weights for the backward pass. Its operands are boxed, so the node
/// is compiled once, in Wyrm, whatever their types; the result is boxed too. Scale the
/// queries first for another temperature.
///
/// A decoder step over a batch of 2 source sequences of 3 encoder states each, 4 units:
///
/// ```
/// use wyrm::nn::attention;
/// use wyrm::prelude::*;
///
/// let decoder_state = ParameterNode::new(random_matrix(2, 4)); // one query per sequence
/// let encoder_states = InputNode::new(random_matrix(2 * 3, 4)); // sequence 0, then 1
/// let context = attention(&decoder_state, &encoder_states, &encoder_states, 2);
/// assert_eq!(context.shape(), (2, 4));
/// context.forward();
/// // Row 1 is a weighted mean of sequence 1's states (rows 3 to 5): within their range.
/// let states = encoder_states.value();
/// for j in 0..4 {
///     let column = (3..6).map(|r| states[(r, j)]);
///     let (low, high) = column.fold((f32::MAX, f32::MIN), |(l, h), v| (l.min(v), h.max(v)));
///     assert!(low - 1e-6 <= context.value()[(1, j)] && context.value()[(1, j)] <= high + 1e-6);
/// }
/// ```
///
/// # Panics
/// When the graph is built, naming the shapes: if `groups` is 0 or does not divide the
/// rows of `queries` and `keys`, if `queries` and `keys` differ in columns, if `keys` and
/// `values` differ in rows, or if a group has queries but no keys.
#[track_caller]
pub fn attention<Q, K, V>(
    queries: &Variable<Q>,
    keys: &Variable<K>,
    values: &Variable<V>,
    groups: usize,
) -> Variable<Boxed>
where
    Q: Node + 'static,
    K: Node + 'static,
    V: Node + 'static,
{
    Attention::groups(groups).apply(queries, keys, values)
}

/// [`attention`] over sequences padded to one length: group `g` has `n` key rows, of
/// which the first `lengths[g]` are real; the shorthand of
/// [`Attention::padded(lengths).apply(..)`](Attention::padded), whose docs say more.
///
/// A batch of 2 encoded sentences padded to 4 tokens, of lengths 4 and 2, each summarised
/// by its own query:
///
/// ```
/// use wyrm::nn::attention_padded;
/// use wyrm::prelude::*;
///
/// let tokens = InputNode::new(random_matrix(2 * 4, 3));
/// let query = ParameterNode::new(random_matrix(2, 3));
/// let lengths = IndexInputNode::new(&[4, 2]);
/// let summary = attention_padded(&query, &tokens, &tokens, &lengths);
/// summary.forward();
/// let first = summary.value();
/// // Padding does not matter, not even NaN: the summaries are as they were.
/// let mut padded = tokens.value();
/// padded.slice_mut(wyrm::ndarray::s![6..8, ..]).fill(f32::NAN);
/// tokens.set_value(&padded);
/// summary.forward();
/// assert_eq!(summary.value(), first);
/// ```
///
/// # Panics
/// As [`Attention::padded`] and [`Attention::apply`].
#[track_caller]
pub fn attention_padded<Q, K, V>(
    queries: &Variable<Q>,
    keys: &Variable<K>,
    values: &Variable<V>,
    lengths: &Variable<IndexInputNode>,
) -> Variable<Boxed>
where
    Q: Node + 'static,
    K: Node + 'static,
    V: Node + 'static,
{
    Attention::padded(lengths).apply(queries, keys, values)
}

/// [`attention`] in which each query sees only the keys up to its own position in its
/// group; the shorthand of
/// [`Attention::groups(groups).causal().apply(..)`](Attention::causal).
///
/// ```
/// use wyrm::nn::causal_attention;
/// use wyrm::prelude::*;
///
/// let tokens = InputNode::new(random_matrix(2 * 5, 8)); // 2 sequences of 5 tokens
/// let (wq, wk, wv) = (
///     ParameterNode::new(random_matrix(8, 4)),
///     ParameterNode::new(random_matrix(8, 4)),
///     ParameterNode::new(random_matrix(8, 4)),
/// );
/// let mixed = causal_attention(&tokens.dot(&wq), &tokens.dot(&wk), &tokens.dot(&wv), 2);
/// mixed.forward();
/// // The first token of each sequence sees only itself: its own value row.
/// let own = tokens.value().dot(&wv.value());
/// for (row, first) in [(0, 0), (5, 5)] {
///     for j in 0..4 {
///         assert!((mixed.value()[(row, j)] - own[(first, j)]).abs() < 1e-5);
///     }
/// }
/// ```
///
/// # Panics
/// As [`attention`], and if a group's query and key counts differ.
#[track_caller]
pub fn causal_attention<Q, K, V>(
    queries: &Variable<Q>,
    keys: &Variable<K>,
    values: &Variable<V>,
    groups: usize,
) -> Variable<Boxed>
where
    Q: Node + 'static,
    K: Node + 'static,
    V: Node + 'static,
{
    Attention::groups(groups)
        .causal()
        .apply(queries, keys, values)
}

/// Attention with all its options: groups (or padded groups), heads, causal masking,
/// queries shared by every group. Build it with [`groups`](Self::groups) or
/// [`padded`](Self::padded), add options, and [`apply`](Self::apply) it to queries, keys
/// and values; [`attention`] gives the equations.
///
/// A transformer block's multi-head self-attention over a batch of 3 sequences of 6
/// tokens, width 8 in 2 heads:
///
/// ```
/// use wyrm::nn::Attention;
/// use wyrm::prelude::*;
///
/// let x = InputNode::new(random_matrix(3 * 6, 8));
/// let (wq, wk, wv) = (
///     ParameterNode::new(random_matrix(8, 8)),
///     ParameterNode::new(random_matrix(8, 8)),
///     ParameterNode::new(random_matrix(8, 8)),
/// );
/// let mixed = Attention::groups(3)
///     .heads(2)
///     .causal()
///     .apply(&x.dot(&wq), &x.dot(&wk), &x.dot(&wv));
/// assert_eq!(mixed.shape(), (18, 8));
/// ```
#[derive(Clone, Copy, Debug)]
pub struct Attention<'a> {
    groups: usize,
    lengths: Option<&'a Variable<IndexInputNode>>,
    heads: usize,
    causal: bool,
    shared_queries: bool,
}

impl<'a> Attention<'a> {
    /// Attention within each of `groups` groups of rows, every key of a group attended to.
    ///
    /// ```
    /// use wyrm::nn::{attention, Attention};
    /// use wyrm::prelude::*;
    ///
    /// let (q, kv) = (InputNode::new(random_matrix(4, 3)), InputNode::new(random_matrix(6, 3)));
    /// let a = Attention::groups(2).apply(&q, &kv, &kv);
    /// let b = attention(&q, &kv, &kv, 2); // the same
    /// a.forward();
    /// b.forward();
    /// assert_eq!(a.value(), b.value());
    /// ```
    pub fn groups(groups: usize) -> Self {
        Attention {
            groups,
            lengths: None,
            heads: 1,
            causal: false,
            shared_queries: false,
        }
    }

    /// Attention over groups padded to one length: one group per entry of `lengths`, and
    /// group `g`'s first `lengths[g]` keys are real, the rest padding, which is left out
    /// (its values are never read, so anything there, NaN included, changes nothing; in a
    /// real row, a NaN or an infinity spreads as it would through the composed ops).
    /// The lengths may change between passes, like any index input's values. A group of
    /// length 0 attends to nothing: its output rows are 0. Padded query rows still get an
    /// output; leave them out of the loss (a weight of 0 per row). For a mean over each
    /// group's real rows instead, see [`Variable::gather_mean_bags`].
    ///
    /// ```
    /// use wyrm::nn::Attention;
    /// use wyrm::prelude::*;
    ///
    /// let points = InputNode::new(random_matrix(2 * 5, 4)); // 2 sets, padded to 5 points
    /// let lengths = IndexInputNode::new(&[5, 3]);
    /// let seed = ParameterNode::new(random_matrix(1, 4)); // one learned query for all sets
    /// let pooled = Attention::padded(&lengths)
    ///     .shared_queries()
    ///     .apply(&seed, &points, &points);
    /// assert_eq!(pooled.shape(), (2, 4));
    /// pooled.forward();
    /// lengths.set_value(&[2, 5]); // the next batch's sets
    /// pooled.forward();
    /// ```
    ///
    /// # Panics
    /// At [`apply`](Self::apply) or a later `set_value` of `lengths`, if a length is more
    /// than the keys per group, naming it.
    pub fn padded(lengths: &'a Variable<IndexInputNode>) -> Self {
        Attention {
            lengths: Some(lengths),
            ..Self::groups(lengths.node().len())
        }
    }

    /// Splits the columns into `heads` heads: head `h` of queries and keys is their
    /// `h`-th block of `d / heads` columns, of values their `h`-th block of `e / heads`,
    /// each head attends on its own (scaled by `√(d / heads)`), and the heads' outputs
    /// sit side by side in the result's columns, as in a transformer (whose output
    /// projection follows). One node where slicing each head out of each operand and
    /// concatenating the results takes `3 · heads + 1` more; about as fast (4 heads over
    /// 32 sets of 30 points, width 32: 1.55 ms forward and backward either way), as the
    /// node copies each head's columns out too.
    ///
    /// ```
    /// use wyrm::nn::{attention, Attention};
    /// use wyrm::ndarray::s;
    /// use wyrm::prelude::*;
    ///
    /// let (q, kv) = (InputNode::new(random_matrix(2, 6)), InputNode::new(random_matrix(5, 6)));
    /// let both = Attention::groups(1).heads(2).apply(&q, &kv, &kv);
    /// both.forward();
    /// // The second head alone: columns 3 to 5.
    /// let (q1, kv1) = (q.slice(s![.., 3..6]), kv.slice(s![.., 3..6]));
    /// let second = attention(&q1, &kv1, &kv1, 1);
    /// second.forward();
    /// let both = both.value();
    /// for (a, b) in both.slice(s![.., 3..6]).iter().zip(second.value().iter()) {
    ///     assert!((a - b).abs() < 1e-6);
    /// }
    /// ```
    ///
    /// # Panics
    /// At [`apply`](Self::apply), if `heads` is 0 or does not divide the columns of the
    /// queries and of the values.
    pub fn heads(self, heads: usize) -> Self {
        Attention { heads, ..self }
    }

    /// Each query sees only the keys up to its own position in its group: row `i` of a
    /// group attends to that group's keys `0..=i`. A decoder-only transformer's
    /// self-attention over a batch of sequences, where queries, keys and values are
    /// projections of the same tokens: no token sees a later one. Sequences padded at the
    /// end need no lengths, as their real tokens never see the padding after them.
    ///
    /// ```
    /// use wyrm::nn::Attention;
    /// use wyrm::prelude::*;
    ///
    /// let x = InputNode::new(random_matrix(4, 2));
    /// let y = Attention::groups(1).causal().apply(&x, &x, &x);
    /// y.forward();
    /// // The first row sees only itself.
    /// assert_eq!(y.value().row(0), x.value().row(0));
    /// ```
    ///
    /// # Panics
    /// At [`apply`](Self::apply), if a group's query and key counts differ.
    pub fn causal(self) -> Self {
        Attention {
            causal: true,
            ..self
        }
    }

    /// The same `m` query rows for every group: `queries` is `m x d` instead of
    /// `(groups · m) x d`, and each group's output rows are those queries' attention over
    /// its keys. Set Transformer's pooling by learned seeds, or a `[CLS]`-like summary,
    /// without repeating the queries per group; their gradient sums over the groups.
    ///
    /// ```
    /// use wyrm::nn::Attention;
    /// use wyrm::prelude::*;
    ///
    /// let items = InputNode::new(random_matrix(3 * 4, 2)); // 3 groups of 4
    /// let seeds = ParameterNode::new(random_matrix(2, 2)); // 2 learned queries
    /// let pooled = Attention::groups(3).shared_queries().apply(&seeds, &items, &items);
    /// assert_eq!(pooled.shape(), (3 * 2, 2));
    /// ```
    pub fn shared_queries(self) -> Self {
        Attention {
            shared_queries: true,
            ..self
        }
    }

    /// The attention of `queries` over `keys` and `values`, as one boxed node: see
    /// [`attention`] for the shapes and equations, and the options above.
    ///
    /// ```
    /// use wyrm::nn::Attention;
    /// use wyrm::prelude::*;
    ///
    /// let (q, k, v) = (
    ///     InputNode::new(random_matrix(2 * 3, 4)),
    ///     InputNode::new(random_matrix(2 * 5, 4)),
    ///     InputNode::new(random_matrix(2 * 5, 6)),
    /// );
    /// let out = Attention::groups(2).heads(2).apply(&q, &k, &v);
    /// assert_eq!(out.shape(), (6, 6));
    /// ```
    ///
    /// # Panics
    /// When the graph is built, naming the shapes: if the number of groups is 0 or does
    /// not divide the rows of the keys (and of the queries, unless shared), if queries and
    /// keys differ in columns, if keys and values differ in rows, if the heads do not
    /// divide the columns, if a causal group's query and key counts differ, or if a group
    /// has queries but no keys; a padded group's length past its keys, naming it.
    #[track_caller]
    pub fn apply<Q, K, V>(
        &self,
        queries: &Variable<Q>,
        keys: &Variable<K>,
        values: &Variable<V>,
    ) -> Variable<Boxed>
    where
        Q: Node + 'static,
        K: Node + 'static,
        V: Node + 'static,
    {
        let operands = [&queries.boxed(), &keys.boxed(), &values.boxed()];
        let sizes = self.sizes(operands.map(|o| o.shape()));
        node::build(operands, sizes, self.lengths.map(|l| l.node()))
    }

    /// The name of this form in messages.
    fn op(&self) -> &'static str {
        match (self.causal, self.lengths.is_some()) {
            (true, _) => "causal_attention",
            (false, true) => "attention_padded",
            (false, false) => "attention",
        }
    }

    /// Checks the operands' shapes and returns the sizes.
    #[track_caller]
    fn sizes(&self, [q, k, v]: [(usize, usize); 3]) -> Sizes {
        let (op, groups, heads) = (self.op(), self.groups, self.heads);
        assert!(
            self.lengths.is_none() || groups > 0,
            "`{op}`: the lengths input is empty; it needs one length per group"
        );
        assert!(groups > 0, "`{op}` needs at least one group, got 0");
        if self.shared_queries {
            assert!(
                k.0 % groups == 0,
                "shape mismatch in `{op}`: {groups} groups do not divide the rows of the keys \
                 ({}); each group's rows must follow one another (the queries, {}, are \
                 shared by every group)",
                fmt_shape(k),
                fmt_shape(q)
            );
        } else {
            assert!(
                q.0 % groups == 0 && k.0 % groups == 0,
                "shape mismatch in `{op}`: {groups} groups do not divide the rows of the \
                 queries ({}) and the keys ({}); each group's rows must follow one another",
                fmt_shape(q),
                fmt_shape(k)
            );
        }
        assert!(
            q.1 == k.1,
            "shape mismatch in `{op}`: the queries ({}) and the keys ({}) must have the same \
             number of columns",
            fmt_shape(q),
            fmt_shape(k)
        );
        assert!(
            k.0 == v.0,
            "shape mismatch in `{op}`: the keys ({}) and the values ({}) must have the same \
             number of rows, one value per key",
            fmt_shape(k),
            fmt_shape(v)
        );
        assert!(heads > 0, "`{op}` needs at least one head, got 0");
        assert!(
            q.1 % heads == 0 && v.1 % heads == 0,
            "shape mismatch in `{op}`: {heads} heads do not divide the columns of the \
             queries ({}) and the values ({}); each head takes an equal block of both",
            fmt_shape(q),
            fmt_shape(v)
        );
        let m = if self.shared_queries {
            q.0
        } else {
            q.0 / groups
        };
        let n = k.0 / groups;
        assert!(
            m == 0 || n > 0,
            "`{op}`: the queries ({}) have no keys to attend to (keys {})",
            fmt_shape(q),
            fmt_shape(k)
        );
        assert!(
            !self.causal || m == n,
            "shape mismatch in `{op}`: each of the {groups} groups has {m} queries but {n} \
             keys; causal attention needs one key per query (queries {}, keys {})",
            fmt_shape(q),
            fmt_shape(k)
        );
        Sizes {
            op,
            groups,
            m,
            n,
            d: q.1,
            e: v.1,
            heads,
            causal: self.causal,
            shared_queries: self.shared_queries,
            scale: 1.0 / ((q.1 / heads).max(1) as f32).sqrt(),
        }
    }
}
