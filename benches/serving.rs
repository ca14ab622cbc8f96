//! `serving`: one batch-1 request to a bag-of-words classifier, forward pass only. The
//! request's 20 token ids pool their rows of a 10,000 x 32 embedding table (`sum_bags`),
//! a 32 -> 4 linear layer gives the logits, and a softmax the class probabilities: the
//! latency a service embedding the model pays per request.
//!
//! Two variants: Wyrm over local parameters (a serving thread's copy) and the same math
//! written by hand over plain `Vec<f32>`s. Each `*_request` returns a closure answering the
//! next request from a fixed stream and returning its first class probability.

use criterion::{black_box, Criterion};
use wyrm::*;

/// Rows of the embedding table.
pub const VOCABULARY: usize = 10_000;
/// Embedding width.
pub const WIDTH: usize = 32;
/// Output classes.
pub const CLASSES: usize = 4;
/// Token ids per request.
pub const TOKENS: usize = 20;

/// A fixed stream of 1024 requests (no RNG in the timed loop).
pub struct Requests {
    ids: Vec<usize>,
    at: usize,
}

impl Requests {
    /// 1024 requests of `TOKENS` pseudo-random ids.
    pub fn new() -> Self {
        let ids = (0..1024 * TOKENS as u64)
            .map(|i| (i.wrapping_mul(2_654_435_761) >> 7) as usize % VOCABULARY)
            .collect();
        Requests { ids, at: 0 }
    }

    /// The next request's ids.
    #[inline(always)]
    pub fn next(&mut self) -> &[usize] {
        let at = self.at;
        self.at = (at + 1) & 1023;
        &self.ids[at * TOKENS..(at + 1) * TOKENS]
    }
}

/// The model's weights, shared by both variants: table, layer weights, bias.
pub fn weights() -> (
    ndarray::Array2<f32>,
    ndarray::Array2<f32>,
    ndarray::Array2<f32>,
) {
    let seeded = |rows: usize, cols: usize, seed: u64| {
        ndarray::Array2::from_shape_fn((rows, cols), |(r, c)| {
            let i = (r * cols + c) as u64 ^ seed;
            ((i.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 40) as f32 / (1u64 << 24) as f32) - 0.5
        })
    };
    (
        seeded(VOCABULARY, WIDTH, 1),
        seeded(WIDTH, CLASSES, 2),
        seeded(1, CLASSES, 3),
    )
}

/// The Wyrm request: set the bag, forward, read the first probability.
pub fn wyrm_request() -> impl FnMut() -> f32 {
    let (table, w, b) = weights();
    let (table, w, b) = (
        ParameterNode::new(table),
        ParameterNode::new(w),
        ParameterNode::new(b),
    );
    let bags = BagsInputNode::new(1);
    let probabilities = (table.sum_bags(&bags).dot(&w) + b).softmax();
    let mut requests = Requests::new();
    move || {
        bags.set_value([black_box(requests.next())]);
        probabilities.forward();
        probabilities.with_value(|p| p[(0, 0)])
    }
}

/// The hand-written model: plain arrays, fixed-size rows and a row-by-row product, so
/// that the compiler unrolls and vectorises both loops, and compiled for AVX2 + FMA when
/// the CPU has them, as Wyrm's kernels are: as fast as plain Rust gets.
pub struct Hand {
    table: Vec<f32>,
    w: [f32; WIDTH * CLASSES],
    b: [f32; CLASSES],
    avx2: bool,
}

impl Hand {
    /// The model over [`weights`].
    pub fn new() -> Self {
        let (table, w, b) = weights();
        #[cfg(target_arch = "x86_64")]
        let avx2 = is_x86_feature_detected!("avx2") && is_x86_feature_detected!("fma");
        #[cfg(not(target_arch = "x86_64"))]
        let avx2 = false;
        Hand {
            table: table.into_raw_vec_and_offset().0,
            w: w.into_raw_vec_and_offset()
                .0
                .try_into()
                .expect("WIDTH x CLASSES weights"),
            b: b.into_raw_vec_and_offset()
                .0
                .try_into()
                .expect("CLASSES biases"),
            avx2,
        }
    }

    /// The first class probability for the bag `ids`.
    #[inline]
    pub fn answer(&self, ids: &[usize]) -> f32 {
        #[cfg(target_arch = "x86_64")]
        if self.avx2 {
            // SAFETY: the CPU supports AVX2 and FMA (checked in `new`).
            return unsafe { self.answer_avx2(ids) };
        }
        self.answer_impl(ids)
    }

    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2,fma")]
    unsafe fn answer_avx2(&self, ids: &[usize]) -> f32 {
        self.answer_impl(ids)
    }

    #[inline(always)]
    fn answer_impl(&self, ids: &[usize]) -> f32 {
        let mut pooled = [0.0f32; WIDTH];
        for &id in ids {
            let row: &[f32; WIDTH] = self.table[id * WIDTH..][..WIDTH].try_into().expect("a row");
            for (p, r) in pooled.iter_mut().zip(row) {
                *p += r;
            }
        }
        let mut logits = self.b;
        for (p, w_row) in pooled.iter().zip(self.w.chunks_exact(CLASSES)) {
            for (l, w) in logits.iter_mut().zip(w_row) {
                *l += p * w;
            }
        }
        let max = logits.iter().copied().fold(f32::NEG_INFINITY, f32::max);
        let total: f32 = logits.iter().map(|l| (l - max).exp()).sum();
        (logits[0] - max).exp() / total
    }
}

/// The same request written by hand.
pub fn hand_request() -> impl FnMut() -> f32 {
    let hand = Hand::new();
    let mut requests = Requests::new();
    move || hand.answer(black_box(requests.next()))
}

/// Criterion benchmarks: `serving/wyrm`, `serving/hand`.
pub fn bench(c: &mut Criterion) {
    let mut group = c.benchmark_group("serving");
    let mut request = wyrm_request();
    group.bench_function("wyrm", |b| b.iter(&mut request));
    let mut request = hand_request();
    group.bench_function("hand", |b| b.iter(&mut request));
    group.finish();
}

criterion::criterion_group!(
    name = benches;
    config = Criterion::default();
    targets = bench
);
