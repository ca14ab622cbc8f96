use super::*;
use crate::gradcheck::{check_gradient, CheckOptions};
use crate::init::seeded;
use crate::{IndexInputNode, InputNode, ParameterNode, Variable};
use ndarray::{s, Array2};

/// The attention of one group and head, in `f64` over plain arrays.
fn reference(q: &Array2<f32>, k: &Array2<f32>, v: &Array2<f32>, causal: bool) -> Array2<f64> {
    let (q, k, v) = (q.mapv(f64::from), k.mapv(f64::from), v.mapv(f64::from));
    let scale = 1.0 / (q.ncols().max(1) as f64).sqrt();
    let mut out = Array2::zeros((q.nrows(), v.ncols()));
    for i in 0..q.nrows() {
        let keys = if causal {
            (i + 1).min(k.nrows())
        } else {
            k.nrows()
        };
        let scores: Vec<f64> = (0..keys).map(|j| q.row(i).dot(&k.row(j)) * scale).collect();
        let largest = scores.iter().cloned().fold(f64::MIN, f64::max);
        let exps: Vec<f64> = scores.iter().map(|s| (s - largest).exp()).collect();
        let total: f64 = exps.iter().sum();
        for (j, e) in exps.iter().enumerate() {
            let row = &v.row(j) * (e / total);
            let mut o = out.row_mut(i);
            o += &row;
        }
    }
    out
}

fn assert_close(got: ndarray::ArrayView2<f32>, want: &Array2<f64>) {
    assert_eq!(got.dim(), want.dim());
    for (a, b) in got.iter().zip(want.iter()) {
        assert!((*a as f64 - b).abs() < 1e-5, "{a} against {b}");
    }
}

/// The sizes of one case: groups, queries and keys per group, key and value widths, heads.
#[derive(Clone, Copy, Debug)]
struct Case {
    groups: usize,
    m: usize,
    n: usize,
    d: usize,
    e: usize,
    heads: usize,
}

const CASES: [Case; 5] = [
    Case {
        groups: 1,
        m: 1,
        n: 1,
        d: 1,
        e: 1,
        heads: 1,
    },
    Case {
        groups: 1,
        m: 4,
        n: 6,
        d: 3,
        e: 2,
        heads: 1,
    },
    Case {
        groups: 3,
        m: 2,
        n: 5,
        d: 4,
        e: 6,
        heads: 2,
    },
    Case {
        groups: 2,
        m: 5,
        n: 3,
        d: 8,
        e: 1,
        heads: 1,
    },
    Case {
        groups: 2,
        m: 3,
        n: 3,
        d: 6,
        e: 3,
        heads: 3,
    },
];

/// Which options a check uses.
#[derive(Clone, Copy)]
struct Form {
    causal: bool,
    padded: bool,
    shared: bool,
}

/// The options of `case` in `form` (padded by `lengths`).
fn options(case: Case, lengths: &Variable<IndexInputNode>, form: Form) -> Attention<'_> {
    let options = if form.padded {
        Attention::padded(lengths)
    } else {
        Attention::groups(case.groups)
    }
    .heads(case.heads);
    let options = if form.causal {
        options.causal()
    } else {
        options
    };
    if form.shared {
        options.shared_queries()
    } else {
        options
    }
}

/// Each group and head of the node's output against the reference of that group and
/// head alone, with and without causal masking, padding and shared queries.
#[test]
fn matches_the_equations_per_group_and_head() {
    for (c, case) in CASES.iter().enumerate() {
        let Case {
            groups,
            m,
            n,
            d,
            e,
            heads,
        } = *case;
        for (causal, padded, shared) in [
            (false, false, false),
            (true, false, false),
            (false, true, false),
            (false, false, true),
            (true, true, true),
        ] {
            let n = if causal { m } else { n };
            let seed = c as u64 * 10;
            let query_rows = if shared { m } else { groups * m };
            let (q, k, v) = (
                seeded(query_rows, d, 1.0, seed),
                seeded(groups * n, d, 1.0, seed + 1),
                seeded(groups * n, e, 1.0, seed + 2),
            );
            let lengths: Vec<usize> = (0..groups)
                .map(|g| if padded { (n + g) % (n + 1) } else { n })
                .collect();
            let lengths_input = IndexInputNode::new(&lengths);
            let options = options(
                *case,
                &lengths_input,
                Form {
                    causal,
                    padded,
                    shared,
                },
            );
            let (qn, kn, vn) = (
                InputNode::new(q.clone()),
                InputNode::new(k.clone()),
                InputNode::new(v.clone()),
            );
            let out = options.apply(&qn, &kn, &vn);
            out.forward();
            let out = out.value();
            let (dh, eh) = (d / heads, e / heads);
            for (g, length) in lengths.iter().enumerate() {
                let rows = if shared { 0..m } else { g * m..(g + 1) * m };
                let keys = g * n..g * n + length;
                for h in 0..heads {
                    let got = out.slice(s![g * m..(g + 1) * m, h * eh..(h + 1) * eh]);
                    if keys.is_empty() {
                        assert!(got.iter().all(|&x| x == 0.0), "no keys: zeros, got {got}");
                        continue;
                    }
                    let want = reference(
                        &q.slice(s![rows.clone(), h * dh..(h + 1) * dh]).to_owned(),
                        &k.slice(s![keys.clone(), h * dh..(h + 1) * dh]).to_owned(),
                        &v.slice(s![keys.clone(), h * eh..(h + 1) * eh]).to_owned(),
                        causal,
                    );
                    assert_close(got, &want);
                }
            }
        }
    }
}

#[test]
fn padded_lengths_change_between_passes() {
    let (groups, m, n, d, e) = (3, 2, 4, 3, 2);
    let (q, k, v) = (
        seeded(groups * m, d, 1.0, 21),
        seeded(groups * n, d, 1.0, 22),
        seeded(groups * n, e, 1.0, 23),
    );
    let lengths = IndexInputNode::new(&[4, 1, 3]);
    let (qn, kn, vn) = (
        InputNode::new(q.clone()),
        InputNode::new(k.clone()),
        InputNode::new(v.clone()),
    );
    let out = attention_padded(&qn, &kn, &vn, &lengths);
    for lengths_now in [[4, 1, 3], [2, 4, 0]] {
        lengths.set_value(&lengths_now);
        out.forward();
        let out = out.value();
        for (g, &length) in lengths_now.iter().enumerate() {
            let got = out.slice(s![g * m..(g + 1) * m, ..]);
            if length == 0 {
                assert!(got.iter().all(|&x| x == 0.0), "no keys: zeros, got {got}");
                continue;
            }
            let want = reference(
                &q.slice(s![g * m..(g + 1) * m, ..]).to_owned(),
                &k.slice(s![g * n..g * n + length, ..]).to_owned(),
                &v.slice(s![g * n..g * n + length, ..]).to_owned(),
                false,
            );
            assert_close(got, &want);
        }
    }
}

/// Padding is never read: NaN or infinity in a padding row, key or value, changes
/// nothing, and padding gets no gradient.
#[test]
fn padding_is_never_read() {
    let (q, k, v) = (
        ParameterNode::new(seeded(2, 2, 1.0, 51)),
        ParameterNode::new(seeded(6, 2, 1.0, 52)),
        ParameterNode::new(seeded(6, 2, 1.0, 53)),
    );
    let lengths = IndexInputNode::new(&[2, 3]);
    let out = attention_padded(&q, &k, &v, &lengths);
    out.forward();
    let clean = out.value();
    let mut poisoned_v = v.value();
    poisoned_v.row_mut(2).fill(f32::NAN);
    let mut poisoned_k = k.value();
    poisoned_k.row_mut(2).fill(f32::INFINITY);
    v.set_value(&poisoned_v);
    k.set_value(&poisoned_k);
    out.forward();
    assert_eq!(out.value(), clean);
    out.backward(1.0);
    let (dk, dv) = (k.gradient(), v.gradient());
    assert!(dk.row(2).iter().chain(dv.row(2)).all(|&g| g == 0.0));
    assert!(q.gradient().iter().chain(dk.iter()).all(|g| g.is_finite()));
}

/// Central differences for each operand, on every case and form, with a length 0 among
/// the padded groups, and with the same node as keys and values (self-attention's usual
/// form).
#[test]
fn gradients() {
    for (c, case) in CASES.iter().enumerate() {
        let Case {
            groups, m, n, d, e, ..
        } = *case;
        for (causal, padded, shared) in [
            (false, false, false),
            (true, false, false),
            (false, true, true),
            (true, true, true),
        ] {
            if causal && m != n {
                continue;
            }
            let seed = 100 + c as u64 * 10;
            let query_rows = if shared { m } else { groups * m };
            let q = ParameterNode::new(seeded(query_rows, d, 1.0, seed));
            let k = ParameterNode::new(seeded(groups * n, d, 1.0, seed + 1));
            let v = ParameterNode::new(seeded(groups * n, e, 1.0, seed + 2));
            let lengths: Vec<usize> = (0..groups).map(|g| n.saturating_sub(g * 2)).collect();
            let lengths = IndexInputNode::new(&lengths);
            let base = options(
                *case,
                &lengths,
                Form {
                    causal,
                    padded,
                    shared,
                },
            );
            let label = format!("{case:?}, causal {causal}, padded {padded}, shared {shared}");
            let out = base.apply(&q, &k, &v);
            for (i, wrt) in [&q, &k, &v].into_iter().enumerate() {
                let options = CheckOptions {
                    seed: seed + i as u64,
                    ..CheckOptions::default()
                };
                let report = check_gradient(&out, wrt, &options);
                assert!(report.passed(), "{label}, operand {i}: {report}");
            }
            if d == e {
                let shared_kv = base.apply(&q, &k, &k);
                let report = check_gradient(&shared_kv, &k, &CheckOptions::default());
                assert!(report.passed(), "{label}, keys as values: {report}");
            }
        }
    }
}

#[test]
#[should_panic(expected = "IndexInputNode::set_value: length 5 is more than the 4 keys per group")]
fn a_length_past_the_keys_is_refused() {
    let x = |r, c| InputNode::new(Array2::zeros((r, c)));
    let lengths = IndexInputNode::new(&[4, 4]);
    let _out = attention_padded(&x(2, 3), &x(8, 3), &x(8, 2), &lengths);
    lengths.set_value(&[1, 5]);
}

#[test]
fn one_group_is_the_composition_of_ops() {
    let q = ParameterNode::new(seeded(3, 4, 1.0, 1));
    let k = ParameterNode::new(seeded(5, 4, 1.0, 2));
    let v = ParameterNode::new(seeded(5, 2, 1.0, 3));
    let fused = attention(&q, &k, &v, 1);
    let composed = (q.dot_t(&k) * 0.5).softmax().dot(&v);
    fused.forward();
    composed.forward();
    for (a, b) in fused.value().iter().zip(composed.value().iter()) {
        assert!((a - b).abs() < 1e-6);
    }
}

#[test]
fn shared_queries_are_the_repeated_queries() {
    let seeds = ParameterNode::new(seeded(2, 3, 1.0, 61));
    let items = ParameterNode::new(seeded(3 * 4, 3, 1.0, 62));
    let mut shared = Attention::groups(3)
        .shared_queries()
        .apply(&seeds, &items, &items)
        .square()
        .scalar_sum();
    let repeated = seeds.gather_rows(&IndexInputNode::new(&[0, 1, 0, 1, 0, 1]));
    let mut by_hand = attention(&repeated, &items, &items, 3)
        .square()
        .scalar_sum();
    for loss in [&mut shared, &mut by_hand] {
        loss.forward();
        loss.backward(1.0);
    }
    assert!((shared.scalar() - by_hand.scalar()).abs() < 1e-5);
    // Both graphs added their gradients: equal halves.
    let (dseeds, ditems) = (seeds.gradient(), items.gradient());
    seeds.zero_gradient();
    items.zero_gradient();
    by_hand.forward();
    by_hand.backward(1.0);
    for (a, b) in dseeds.iter().zip(seeds.gradient().iter()) {
        assert!((a - 2.0 * b).abs() < 1e-4, "{a} against twice {b}");
    }
    for (a, b) in ditems.iter().zip(items.gradient().iter()) {
        assert!((a - 2.0 * b).abs() < 1e-4, "{a} against twice {b}");
    }
}

#[test]
fn large_scores_do_not_overflow() {
    let q = InputNode::new(Array2::from_elem((1, 1), 100.0));
    let k = InputNode::new(ndarray::arr2(&[[100.0], [99.0]]));
    let v = InputNode::new(ndarray::arr2(&[[1.0], [-1.0]]));
    let out = attention(&q, &k, &v, 1);
    out.forward();
    // Weights softmax(10000, 9900): all on the first key.
    assert_eq!(out.value()[(0, 0)], 1.0);
}

fn panic_message(f: impl FnOnce()) -> String {
    let e = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)).unwrap_err();
    (e.downcast_ref::<String>().cloned()).unwrap_or_default()
}

#[test]
fn shape_mismatches_name_the_shapes() {
    let x = |r, c| InputNode::new(Array2::zeros((r, c)));
    let cases: [(&dyn Fn(), &str); 9] = [
        (
            &|| drop(attention(&x(4, 3), &x(6, 2), &x(6, 2), 2)),
            "queries (4x3) and the keys (6x2)",
        ),
        (
            &|| drop(attention(&x(4, 3), &x(6, 3), &x(5, 2), 2)),
            "keys (6x3) and the values (5x2)",
        ),
        (
            &|| drop(attention(&x(4, 3), &x(6, 3), &x(6, 2), 4)),
            "4 groups do not divide",
        ),
        (
            &|| drop(causal_attention(&x(4, 3), &x(6, 3), &x(6, 2), 2)),
            "2 queries but 3 keys",
        ),
        (
            &|| drop(attention(&x(4, 3), &x(0, 3), &x(0, 2), 2)),
            "have no keys",
        ),
        (
            &|| {
                drop(
                    Attention::groups(2)
                        .heads(2)
                        .apply(&x(4, 4), &x(6, 4), &x(6, 3)),
                )
            },
            "2 heads do not divide the columns of the queries (4x4) and the values (6x3)",
        ),
        (
            &|| {
                drop(attention_padded(
                    &x(4, 3),
                    &x(6, 3),
                    &x(6, 2),
                    &IndexInputNode::new(&[1, 4]),
                ))
            },
            "length 4 is more than the 3 keys per group",
        ),
        (
            &|| {
                drop(
                    Attention::groups(4)
                        .shared_queries()
                        .apply(&x(3, 4), &x(6, 4), &x(6, 4)),
                )
            },
            "4 groups do not divide the rows of the keys (6x4); each group's rows must follow \
             one another (the queries, 3x4, are shared by every group)",
        ),
        (
            &|| {
                drop(
                    Attention::groups(1)
                        .heads(0)
                        .apply(&x(3, 4), &x(6, 4), &x(6, 4)),
                )
            },
            "`attention` needs at least one head, got 0",
        ),
    ];
    for (build, expected) in cases {
        let message = panic_message(build);
        assert!(message.contains(expected), "{message}");
    }
}

/// Groups with no queries, or neither queries nor keys, give an empty result.
#[test]
fn empty_groups() {
    let z = |r, c| ParameterNode::new(Array2::zeros((r, c)));
    let (q, k) = (z(0, 3), z(0, 3));
    for out in [
        attention(&q, &k, &z(0, 2), 1),
        causal_attention(&q, &k, &z(0, 2), 2),
        attention(&q, &z(4, 3), &z(4, 2), 2),
    ] {
        out.forward();
        out.backward(1.0);
        assert_eq!(out.shape(), (0, 2));
    }
    let message = panic_message(|| {
        attention_padded(&q, &k, &z(0, 2), &IndexInputNode::new(&[]));
    });
    assert!(message.contains("the lengths input is empty"), "{message}");
}

/// A consumer that sends no gradient (a `detach`) counts as reported: the others'
/// gradients still reach the operands, as without it.
#[test]
fn a_detached_consumer_leaves_the_gradients_as_they_were() {
    let (q, k) = (
        ParameterNode::new(seeded(4, 4, 1.0, 71)),
        ParameterNode::new(seeded(6, 4, 1.0, 72)),
    );
    let gradients = |with_detached: bool| {
        q.zero_gradient();
        k.zero_gradient();
        let out = Attention::groups(2).heads(2).apply(&q, &k, &k);
        let loss = if with_detached {
            (out.scalar_sum() + out.detach().scalar_sum()).boxed()
        } else {
            out.scalar_sum().boxed()
        };
        loss.forward();
        loss.backward(1.0);
        (q.gradient(), k.gradient())
    };
    let alone = gradients(false);
    assert!(alone.0.iter().any(|&g| g != 0.0));
    assert_eq!(gradients(true), alone);
}
