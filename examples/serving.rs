//! Train, save, load, serve: a trained model is saved with serde, loaded once, and every
//! serving thread builds its own graph over the loaded parameters and answers requests
//! with forward passes only (no allocation, no locks). Graphs over the shared parameters
//! (`from_parameters`) hold no copy of the tables they only look rows up in (just of the
//! small dense parameters they read whole); graphs over local copies of their values
//! (`from_parameter_values`) answer faster; the example times both.
//!
//! The model classifies synthetic "documents" of eight token ids into four topics from the
//! sum of their tokens' embeddings (embedding lookups with row-sparse gradients, and
//! `sparse_categorical_crossentropy`).
//!
//! Run with `cargo run --release --features serde --example serving`.

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use rayon::prelude::*;
use std::time::Instant;
use wyrm::prelude::*;

const VOCABULARY: usize = 1_000;
const TOPICS: usize = 4;
const LENGTH: usize = 8;
/// How often a document's token comes from its own topic rather than the whole vocabulary.
const ON_TOPIC: f64 = 0.5;

wyrm::model! {
    /// A bag-of-words classifier: the summed embeddings of a document's tokens, then a
    /// linear layer to one logit per topic.
    pub struct Classifier {
        embeddings: Param<vocabulary, 16>,
        w: Param<16, {TOPICS}> = xavier,
        b: Param<1, {TOPICS}> = zeros,
        tokens: Index<{LENGTH}>,
        topic: Index<1>,
        logits = embeddings.index(tokens).sum_columns().dot(w) + b,
        loss = sparse_categorical_crossentropy(logits, topic),
    }
}

/// A document: its tokens and its topic.
type Document = ([usize; LENGTH], usize);

/// Documents whose tokens come from their topic's share of the vocabulary (token `t`
/// belongs to topic `t % TOPICS`) half of the time, from anywhere otherwise.
fn documents(count: usize, rng: &mut StdRng) -> Vec<Document> {
    (0..count)
        .map(|_| {
            let topic = rng.gen_range(0..TOPICS);
            let tokens = std::array::from_fn(|_| {
                if rng.gen_bool(ON_TOPIC) {
                    rng.gen_range(0..VOCABULARY / TOPICS) * TOPICS + topic
                } else {
                    rng.gen_range(0..VOCABULARY)
                }
            });
            (tokens, topic)
        })
        .collect()
}

/// The topic with the largest logit for `tokens`.
fn classify(model: &mut Classifier, tokens: &[usize]) -> usize {
    model.tokens.set_value(tokens);
    model.logits.forward();
    model.logits.with_value(|logits| {
        let row = logits.row(0);
        (0..TOPICS)
            .max_by(|&a, &b| row[a].total_cmp(&row[b]))
            .expect("at least one topic")
    })
}

fn main() {
    let mut rng = StdRng::seed_from_u64(7);
    let train = documents(40_000, &mut rng);
    let requests = documents(20_000, &mut rng);

    // Train (one thread; see the `model_macro` and `hogwild` examples for parallel training).
    let start = Instant::now();
    let mut model = Classifier::new_with_rng(&mut rng, VOCABULARY);
    let mut optimizer = Adagrad::new(0.05, model.parameters());
    for _epoch in 0..2 {
        for (tokens, topic) in &train {
            model.tokens.set_value(&tokens[..]);
            model.topic.set_value(*topic);
            model.loss.forward();
            model.loss.backward(1.0);
            optimizer.step();
            optimizer.zero_gradients();
        }
    }
    println!(
        "trained on {} documents in {:.2?}",
        train.len(),
        start.elapsed()
    );

    // Save to a file, then load it back, as a serving process would at start-up.
    let path = std::env::temp_dir().join(format!("wyrm-serving-{}.json", std::process::id()));
    let saved = serde_json::to_vec(&model.shared_parameters()).expect("parameters serialize");
    std::fs::write(&path, &saved).expect("the temporary directory is writable");
    let loaded: ClassifierParameters =
        serde_json::from_slice(&std::fs::read(&path).expect("the file was just written"))
            .expect("the file holds the parameters");
    std::fs::remove_file(&path).ok();
    println!(
        "saved {} KiB to {}, loaded it back",
        saved.len() / 1024,
        path.display()
    );

    // Serve: rayon hands each worker batches of requests; `map_init` builds a graph for
    // each batch (a few per thread, not one per request) and reuses it for every request
    // in the batch. First over the loaded (shared) parameters, with no copy of the
    // embedding table per graph; then over local copies of their values, which each graph
    // reads in place
    // instead of copying them out of the atomic storage at every forward pass.
    let serve = |build: &(dyn Fn() -> Classifier + Sync)| {
        let start = Instant::now();
        let answers: Vec<usize> = requests
            .par_iter()
            .map_init(build, |served, (tokens, _)| classify(served, tokens))
            .collect();
        (answers, start.elapsed())
    };
    // A warm-up pass (thread start-up, first touches of memory), then both ways in turn,
    // keeping the median time of each.
    let (answers, _) = serve(&|| Classifier::from_parameters(&loaded));
    let (mut shared_times, mut local_times) = (Vec::new(), Vec::new());
    for _ in 0..7 {
        let (shared_answers, shared_time) = serve(&|| Classifier::from_parameters(&loaded));
        let (local_answers, local_time) = serve(&|| Classifier::from_parameter_values(&loaded));
        assert!(shared_answers == answers && local_answers == answers);
        shared_times.push(shared_time);
        local_times.push(local_time);
    }
    shared_times.sort();
    local_times.sort();
    let (elapsed, local_elapsed) = (shared_times[3], local_times[3]);
    let correct = answers
        .iter()
        .zip(&requests)
        .filter(|(answer, (_, topic))| *answer == topic)
        .count();
    let per_request = |elapsed: std::time::Duration| {
        elapsed.as_nanos() as f64 * rayon::current_num_threads() as f64 / requests.len() as f64
    };
    println!(
        "served {} requests on {} threads in {:.2?} over the shared parameters, {:.2?} over \
         local copies (medians of 7; about {:.0} and {:.0} ns of one thread per request); \
         accuracy {:.1}% (chance {:.0}%)",
        requests.len(),
        rayon::current_num_threads(),
        elapsed,
        local_elapsed,
        per_request(elapsed),
        per_request(local_elapsed),
        100.0 * correct as f64 / requests.len() as f64,
        100.0 / TOPICS as f64
    );

    // The loaded model answers exactly as the trained one.
    let same = requests
        .iter()
        .zip(&answers)
        .all(|((tokens, _), &answer)| classify(&mut model, tokens) == answer);
    assert!(same, "the loaded model must answer as the trained one");
    println!("the loaded model answers every request as the trained model does");
}
