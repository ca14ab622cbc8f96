//! A deep typed graph builds with the compiler's default limits and computes what it
//! should. Its type nests 122 node types: before nodes held their operands as
//! `nodes::Child`, the drop check ran out of recursion at about 60 and this file did not
//! compile ("overflow while adding drop-check rules").

use ndarray::{arr2, Array2};
use wyrm::gradcheck::assert_gradient;
use wyrm::*;

/// Rebinds `$h` to `tanh($h · w + b)` once per token after the semicolon.
macro_rules! layers {
    ($h:ident, $w:ident, $b:ident; $($layer:tt)*) => {
        $( let $h = { let _ = stringify!($layer); ($h.dot(&$w) + $b.clone()).tanh() }; )*
    };
}

#[test]
fn forty_typed_layers_build_and_match_a_hand_written_forward_pass() {
    let w0 = arr2(&[
        [0.5, -0.3, 0.2, 0.1],
        [0.1, 0.4, -0.2, 0.3],
        [-0.2, 0.1, 0.6, -0.1],
        [0.3, 0.2, 0.1, -0.4],
    ]);
    let b0 = arr2(&[[0.05, -0.1, 0.2, 0.0]]);
    let x0 = arr2(&[[1.0, -0.5, 0.25, 2.0]]);

    let w = ParameterNode::new(w0.clone());
    let b = ParameterNode::new(b0.clone());
    let h = InputNode::new(x0.clone());
    layers!(h, w, b; 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20
                     21 22 23 24 25 26 27 28 29 30 31 32 33 34 35 36 37 38 39 40);
    let out = h.scalar_sum();
    out.forward();

    let mut expected: Array2<f32> = x0;
    for _ in 0..40 {
        expected = (expected.dot(&w0) + &b0).mapv(f32::tanh);
    }
    let got = out.value()[(0, 0)];
    assert!(
        (got - expected.sum()).abs() < 1e-4,
        "{got} against {}",
        expected.sum()
    );

    // Gradients flow through all forty layers to both parameters, each used forty times.
    assert_gradient(&out, &w);
    assert_gradient(&out, &b);
}

/// A GRU step typed as one expression (six `dot`s), boxed between steps, trains on the
/// 2 MiB stack of a spawned thread, in the unoptimised builds tests run in too: there a
/// boxed level of it takes about 150 KiB of stack, and the 16 levels a pass recursed
/// through at a time overflowed after 16 steps (a new user's character model).
#[test]
fn a_gru_typed_as_one_expression_unrolls_on_a_spawned_threads_stack() {
    std::thread::Builder::new()
        .stack_size(2 << 20)
        .spawn(|| {
            let p = |r, c| ParameterNode::new(random_matrix(r, c) * 0.3);
            let (embed, wz, wr, wn) = (p(50, 16), p(16, 64), p(16, 64), p(16, 64));
            let (uz, ur, un) = (p(64, 64), p(64, 64), p(64, 64));
            let mut h = InputNode::new(Array2::zeros((1, 64))).boxed();
            for t in 0..40 {
                let x = embed.index(&IndexInputNode::new(&[t % 50]));
                let z = (x.dot(&wz) + h.dot(&uz)).sigmoid();
                let r = (x.dot(&wr) + h.dot(&ur)).sigmoid();
                let n = (x.dot(&wn) + (r * h.clone()).dot(&un)).tanh();
                h = (n.clone() + z * (h.clone() - n)).boxed();
            }
            let loss = h.scalar_sum();
            loss.forward();
            loss.backward(1.0);
            assert!(uz.gradient().iter().any(|g| *g != 0.0));
            assert!(embed.gradient().iter().all(|g| g.is_finite()));
        })
        .expect("a thread")
        .join()
        .expect("no overflow");
}

/// A sum of 24 terms, one `+` after another, builds in seconds: `+` used to inline each
/// operand's backward pass at two call sites, doubling the code at every term (a sum of
/// 10 took 16 minutes to build in release, one of 24 would never have finished).
#[test]
fn a_long_chain_of_sums_builds_and_sends_every_term_its_gradient() {
    let x: Vec<_> = (0..24)
        .map(|i| ParameterNode::new(arr2(&[[i as f32, 1.0]])))
        .collect();
    let s = &x[0] + &x[1] + &x[2] + &x[3] + &x[4] + &x[5] + &x[6] + &x[7] + &x[8] + &x[9] - &x[10]
        + &x[11]
        + &x[12]
        + &x[13]
        + &x[14]
        + &x[15]
        + &x[16]
        + &x[17]
        + &x[18]
        + &x[19]
        + &x[20]
        + &x[21]
        + &x[22]
        + &x[23];
    let total = s.scalar_sum();
    total.forward();
    total.backward(1.0);
    assert_eq!(
        total.value()[(0, 0)],
        (0..24).sum::<i32>() as f32 - 20.0 + 22.0
    );
    for (i, p) in x.iter().enumerate() {
        let sign = if i == 10 { -1.0 } else { 1.0 };
        assert_eq!(p.gradient(), arr2(&[[sign, sign]]));
    }
}
