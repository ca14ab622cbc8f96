//! Zero heap allocations per step in steady state.
//!
//! This is its own test binary because it installs a counting global allocator. The count
//! is per thread, so tests running in parallel do not disturb each other.
//!
//! The workloads are the benchmark ones (`benches/*.rs`), so what is timed is what is
//! checked; the last tests also check that each Wyrm workload follows the same trajectory
//! as its hand-written twin, so the benchmarks compare the same math.

#[allow(dead_code)]
#[path = "../benches/linreg.rs"]
mod linreg;
#[allow(dead_code)]
#[path = "../benches/mf_steps.rs"]
mod mf_steps;
#[allow(dead_code)]
#[path = "../benches/mlp.rs"]
mod mlp;
#[allow(dead_code)]
#[path = "../benches/serving.rs"]
mod serving;

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::sync::Arc;
use wyrm::*;

struct Counting;

thread_local! {
    static ALLOCATIONS: Cell<u64> = const { Cell::new(0) };
    static BYTES: Cell<u64> = const { Cell::new(0) };
}

fn count(bytes: usize) {
    // `try_with`: the thread-locals may already be gone while a thread shuts down.
    let _ = ALLOCATIONS.try_with(|n| n.set(n.get() + 1));
    let _ = BYTES.try_with(|n| n.set(n.get() + bytes as u64));
}

// SAFETY: forwards every call to the system allocator unchanged; only counts.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        count(layout.size());
        // SAFETY: same contract as ours.
        unsafe { System.alloc(layout) }
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        count(layout.size());
        // SAFETY: same contract as ours.
        unsafe { System.alloc_zeroed(layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        count(new_size);
        // SAFETY: same contract as ours.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: same contract as ours.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// Heap allocations made by this thread while running `f`.
fn allocations_in(f: impl FnOnce()) -> u64 {
    let before = ALLOCATIONS.with(Cell::get);
    f();
    ALLOCATIONS.with(Cell::get) - before
}

/// Bytes this thread asked the allocator for while running `f` (a reallocation counts
/// its new size).
fn bytes_in(f: impl FnOnce()) -> u64 {
    let before = BYTES.with(Cell::get);
    f();
    BYTES.with(Cell::get) - before
}

/// Runs a warm-up step, then asserts that ten more steps allocate nothing.
fn assert_steps_do_not_allocate(name: &str, mut step: impl FnMut() -> f32) {
    step();
    let n = allocations_in(|| {
        for _ in 0..10 {
            std::hint::black_box(step());
        }
    });
    assert_eq!(n, 0, "{name}: {n} heap allocations in 10 training steps");
}

#[test]
fn the_counter_counts() {
    let n = allocations_in(|| {
        std::hint::black_box(vec![1u8; 16]);
    });
    assert_eq!(n, 1);
}

#[test]
fn linreg_step_does_not_allocate() {
    assert_steps_do_not_allocate("linreg", linreg::wyrm_step());
    assert_steps_do_not_allocate("linreg static", linreg::wyrm_static_step());
}

#[test]
fn mlp_step_does_not_allocate() {
    assert_steps_do_not_allocate("mlp", mlp::wyrm_step());
    assert_steps_do_not_allocate("mlp wide_input", mlp::wyrm_wide_step(false));
    assert_steps_do_not_allocate("mlp wide_param", mlp::wyrm_wide_step(true));
}

#[test]
fn sparse_mf_step_does_not_allocate() {
    assert_steps_do_not_allocate("sparse-mf", mf_steps::wyrm_step(1_000));
}

#[test]
fn shared_sparse_mf_step_does_not_allocate() {
    // Hogwild training: the tables and their Adagrad state in `HogwildParameter`s.
    assert_steps_do_not_allocate("shared sparse-mf", mf_steps::wyrm_shared_step(1_000));
}

/// A graph over a shared table that it only looks rows up in holds no copy of the table:
/// many graphs (one per serving thread, or per request size) over a large table stay
/// small. (Each graph used to reserve a copy of the whole table when built.)
#[test]
fn a_graph_over_a_shared_table_it_only_indexes_holds_no_copy_of_it() {
    let table = Arc::new(HogwildParameter::new(ndarray::Array2::zeros((100_000, 32))));
    let table_bytes = 100_000 * 32 * 4;
    let train = || {
        let rows = ParameterNode::shared(table.clone());
        let (u, i) = (IndexInputNode::new(&[1, 2]), IndexInputNode::new(&[3, 4]));
        let loss = rows.index(&u).vector_dot(&rows.index(&i)).scalar_sum();
        let mut opt = Adagrad::new(0.1, loss.parameters());
        loss.forward();
        loss.backward(1.0);
        opt.step();
        opt.zero_gradients();
    };
    train(); // The table's optimizer state is allocated once, in the shared storage.
    let bytes = bytes_in(train);
    assert!(
        bytes < 64 * 1024,
        "building and training a graph over a {table_bytes}-byte table allocated {bytes} bytes"
    );
    // A dense consumer makes the copy it needs, on first use.
    let dense = ParameterNode::shared(table.clone());
    let total = dense.scalar_sum();
    let bytes = bytes_in(|| total.forward());
    assert!(
        bytes >= table_bytes as u64,
        "{bytes} bytes for a dense read"
    );
}

/// An unrolled recurrent graph, `h = tanh(h U)` step after step, takes memory in
/// proportion to its hidden state per step, not to `U`: a product with a parameter writes
/// the parameter's gradient in place and takes no buffer for it. (Each `dot` used to
/// reserve a zeroed buffer the size of `U`, 256 KB per step here, and never use it.)
#[test]
fn an_unrolled_graph_takes_no_buffer_the_size_of_its_weights_per_step() {
    let hidden = 256;
    let u = ParameterNode::new(random_matrix(hidden, hidden));
    let steps = 20;
    let mut bytes_per_step = 0;
    let mut h: Variable<wyrm::nodes::Boxed> = InputNode::new(random_matrix(1, hidden)).boxed();
    for _ in 0..steps {
        bytes_per_step += bytes_in(|| h = h.dot(&u).tanh().boxed());
    }
    bytes_per_step /= steps;
    let weights = hidden * hidden * 4;
    assert!(
        bytes_per_step < weights as u64 / 8,
        "{bytes_per_step} bytes per step over {weights} bytes of weights"
    );
    // Still trainable, through the same graph.
    let loss = h.scalar_sum();
    loss.forward();
    loss.backward(1.0);
    assert!(u.gradient().iter().any(|g| *g != 0.0));
    // An operand that takes no gradient in place still gets its buffer, on first use.
    let x = InputNode::with_gradient(random_matrix(2, 3));
    let y = x
        .tanh()
        .dot(&InputNode::new(random_matrix(3, 2)))
        .scalar_sum();
    y.forward();
    y.backward(1.0);
    assert!(x.gradient().iter().all(|g| *g != 0.0));
}

/// Dropout draws a new mask each step, into a buffer sized when the graph was built.
#[test]
fn dropout_steps_do_not_allocate() {
    let training = TrainingFlag::new();
    let w = ParameterNode::new(random_matrix(8, 64));
    let x = InputNode::new(random_matrix(4, 8));
    let loss = x.dot(&w).relu().dropout(0.3, &training).square().mean();
    let mut optimizer = SGD::new(0.01, loss.parameters());
    let mut step = || {
        loss.forward();
        loss.backward(1.0);
        optimizer.step();
        optimizer.zero_gradients();
        loss.with_value(|v| v[(0, 0)])
    };
    // The first step in each mode may size what it needs.
    assert_steps_do_not_allocate("dropout, training", &mut step);
    training.set(false);
    assert_steps_do_not_allocate("dropout, evaluating", &mut step);
}

/// A graph of boxed nodes far deeper than the 16 levels passes recurse through at a time
/// (4 in the debug builds tests run in; forwarded from the bottom up, with gradients
/// queued every so many levels) reuses its work
/// lists: passes after the first allocate nothing. (The forward pass used to build its
/// work list anew each time.)
#[test]
fn passes_over_a_deep_boxed_graph_do_not_allocate() {
    let u = ParameterNode::new(random_matrix(4, 4));
    let x = InputNode::new(random_matrix(1, 4));
    let mut h: Variable<wyrm::nodes::Boxed> = x.boxed();
    for _ in 0..1_000 {
        h = (h.dot(&u).tanh() + x.clone()).boxed();
    }
    let loss = h.scalar_sum();
    let mut optimizer = SGD::new(0.01, loss.parameters());
    assert_steps_do_not_allocate("deep boxed graph", || {
        loss.forward();
        loss.backward(1.0);
        optimizer.step();
        optimizer.zero_gradients();
        loss.with_value(|v| v[(0, 0)])
    });
}

/// The recurrent cells' steps (two products and one fused node for the gates each),
/// unrolled over a window and trained with Adam.
#[test]
fn recurrent_cell_steps_do_not_allocate() {
    use rand::SeedableRng;
    let mut rng = rand::rngs::StdRng::seed_from_u64(3);
    let gru = wyrm::nn::Gru::new(3, 8, &mut rng);
    let lstm = wyrm::nn::Lstm::new(3, 8, &mut rng);
    let xs: Vec<_> = (0..6)
        .map(|_| InputNode::new(random_matrix(4, 3)))
        .collect();
    let mut h = gru.initial_state(4);
    let (mut lh, mut ls) = lstm.initial_state(4);
    for x in &xs {
        h = gru.step(x, &h);
        (lh, ls) = lstm.step(x, &lh, &ls);
    }
    let loss = (h.square().mean() + (lh * ls).mean()).boxed();
    let mut optimizer = Adam::new(0.01, loss.parameters());
    let mut step = || {
        loss.forward();
        loss.backward(1.0);
        optimizer.step();
        optimizer.zero_gradients();
        loss.scalar()
    };
    // Warm-up: the first step allocates its buffers and optimizer state, and the backward
    // passes of the second and third steps still allocate once each (measured; not traced).
    for _ in 0..3 {
        step();
    }
    assert_steps_do_not_allocate("GRU and LSTM windows", step);
}

/// Attention over a batch of sequences, self-attention (causal) and a decoder's over
/// encoder states, trained with Adam.
#[test]
fn attention_does_not_allocate() {
    use wyrm::nn::{attention, causal_attention};
    let tokens = InputNode::new(random_matrix(3 * 5, 4));
    let (wq, wk) = (
        ParameterNode::new(random_matrix(4, 4)),
        ParameterNode::new(random_matrix(4, 4)),
    );
    let keys = tokens.dot(&wk);
    let mixed = causal_attention(&tokens.dot(&wq), &keys, &keys, 3);
    let query = ParameterNode::new(random_matrix(3, 4));
    let context = attention(&query, &mixed, &mixed, 3);
    let loss = context.square().mean();
    let mut optimizer = Adam::new(0.01, loss.parameters());
    assert_steps_do_not_allocate("attention", || {
        loss.forward();
        loss.backward(1.0);
        optimizer.step();
        optimizer.zero_gradients();
        loss.scalar()
    });
}

#[test]
fn serving_over_shared_parameters_does_not_allocate() {
    // A serving thread's graph over shared parameters: a lookup and dense layers, forward
    // passes only, with new inputs each time (the shared nodes copy values every pass).
    let shared = |r, c| ParameterNode::shared(Arc::new(HogwildParameter::new(random_matrix(r, c))));
    let (table, w, b) = (shared(100, 8), shared(8, 4), shared(1, 4));
    let ids = IndexInputNode::new(&[0, 0, 0]);
    let x = InputNode::new(random_matrix(1, 8));
    let out = ((table.index(&ids).sum_columns() + x.clone()).dot(&w) + b).softmax();
    let input = random_matrix(1, 8);
    out.forward();
    let n = allocations_in(|| {
        for i in 0..10 {
            ids.set_value(&[i, 2 * i, 3 * i]);
            x.set_value(&input);
            out.forward();
        }
    });
    assert_eq!(
        n, 0,
        "serving over shared parameters: {n} heap allocations in 10 passes"
    );
    // The graph reads the shared storage: a value set there shows up in the next pass.
    out.forward();
    let before = out.value();
    table.hogwild_parameter().set_value(&random_matrix(100, 8));
    out.forward();
    assert_ne!(out.value(), before);
}

#[test]
fn serving_requests_do_not_allocate_and_match_hand_written() {
    assert_steps_do_not_allocate("serving", serving::wyrm_request());
    let (mut w, mut h) = (serving::wyrm_request(), serving::hand_request());
    for i in 0..100 {
        let (a, c) = (w(), h());
        assert!(
            (a - c).abs() <= 1e-5,
            "request {i}: wyrm {a}, hand-written {c}"
        );
    }
}

#[test]
fn sparse_mf_matches_hand_written() {
    let (mut w, mut h) = (mf_steps::wyrm_step(1_000), mf_steps::hand_step(1_000));
    for i in 0..500 {
        let (a, c) = (w(), h());
        assert!(
            (a - c).abs() <= 1e-4 * (1.0 + c.abs()),
            "step {i}: wyrm loss {a}, hand-written {c}"
        );
    }
}

#[test]
fn optimizers_with_state_do_not_allocate() {
    // Momentum, Adagrad, RMSProp and Adam allocate their state on the first step only.
    let w = ParameterNode::new(random_matrix(4, 1));
    let x = InputNode::new(random_matrix(1, 4));
    let loss = x.dot(&w).tanh().square();
    let mut optimizers: Vec<Box<dyn Optimizer>> = vec![
        Box::new(SGD::new(0.1, loss.parameters()).momentum(0.9)),
        Box::new(Adagrad::new(0.1, loss.parameters())),
        Box::new(RmsProp::new(0.1, loss.parameters())),
        Box::new(Adam::new(0.1, loss.parameters())),
    ];
    for opt in &mut optimizers {
        assert_steps_do_not_allocate("stateful optimizer", || {
            loss.forward();
            loss.backward(1.0);
            opt.step();
            opt.zero_gradients();
            loss.node().value()[0]
        });
    }
}

#[test]
fn forward_only_does_not_allocate() {
    let w = mlp::Weights::new();
    let matrix = |r, c, d: &[f32]| ndarray::Array2::from_shape_vec((r, c), d.to_vec()).unwrap();
    let x = InputNode::new(random_matrix(1, mlp::IN));
    let w1 = ParameterNode::new(matrix(mlp::IN, mlp::HIDDEN, &w.w1));
    let b1 = ParameterNode::new(matrix(1, mlp::HIDDEN, &w.b1));
    let w2 = ParameterNode::new(matrix(mlp::HIDDEN, mlp::HIDDEN, &w.w2));
    let w3 = ParameterNode::new(matrix(mlp::HIDDEN, 1, &w.w3));
    let out = ((x.dot(&w1) + b1).tanh().dot(&w2).sigmoid().dot(&w3)).exp();
    // The input is built outside the counted region.
    let input = random_matrix(1, mlp::IN);
    out.forward();
    let n = allocations_in(|| {
        for _ in 0..10 {
            x.set_value(&input);
            out.forward();
        }
    });
    assert_eq!(n, 0, "forward-only: {n} heap allocations in 10 passes");

    let slope = ParameterNode::new(ndarray::arr2(&[[2.0]]));
    let xin = InputNode::new(ndarray::arr2(&[[0.0]]));
    let yhat = slope.clone() * xin.clone() + 1.0;
    yhat.forward();
    let n = allocations_in(|| {
        for i in 0..10 {
            xin.set_value(i as f32);
            yhat.forward();
        }
    });
    assert_eq!(
        n, 0,
        "forward-only linreg: {n} heap allocations in 10 passes"
    );
}

#[test]
fn linreg_matches_hand_written() {
    let (mut w, mut s, mut h) = (
        linreg::wyrm_step(),
        linreg::wyrm_static_step(),
        linreg::hand_step(),
    );
    for i in 0..500 {
        let (a, b, c) = (w(), s(), h());
        assert!(
            (a - c).abs() <= 1e-4 * (1.0 + c.abs()) && (b - c).abs() <= 1e-4 * (1.0 + c.abs()),
            "step {i}: wyrm loss {a}, static {b}, hand-written {c}"
        );
    }
}

#[test]
fn mlp_matches_hand_written() {
    let (mut w, mut h) = (mlp::wyrm_step(), mlp::hand_step());
    let (mut first, mut last) = (0.0, 0.0);
    for i in 0..300 {
        let (a, c) = (w(), h());
        assert!(
            (a - c).abs() <= 1e-3 * (1.0 + c.abs()),
            "step {i}: wyrm loss {a}, hand-written {c}"
        );
        if i < 100 {
            first += c;
        } else if i >= 200 {
            last += c;
        }
    }
    assert!(last < first, "the mlp learns: {first} -> {last}");
}
