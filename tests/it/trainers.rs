//! The Hogwild benchmark's worker harness (`benches/hogwild.rs`): a worker that panics
//! makes `Trainers::run` panic with the cause, instead of leaving it (and the other
//! workers) waiting forever.

#[allow(dead_code)]
#[path = "../../benches/hogwild.rs"]
mod bench;

use bench::Trainers;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::mpsc::channel;
use std::time::Duration;

/// `run(steps)`'s panic message, or `None` if it returned. Fails the test instead of
/// hanging if `run` does not come back within a minute.
fn run_outcome(trainers: Trainers, steps: u64) -> Option<String> {
    let (send, receive) = channel();
    std::thread::spawn(move || {
        let outcome = catch_unwind(AssertUnwindSafe(|| trainers.run(steps)));
        let message = outcome.err().map(|e| {
            (e.downcast_ref::<String>().cloned()).unwrap_or_else(|| "(not a string)".into())
        });
        send.send(message).expect("test waiting");
    });
    receive
        .recv_timeout(Duration::from_secs(60))
        .expect("Trainers::run hung")
}

#[test]
fn a_step_that_panics_is_reported_not_waited_for() {
    let trainers = Trainers::new(3, |t| {
        let mut calls = 0;
        move || {
            calls += 1;
            assert!(!(t == 1 && calls == 5), "step 5 of worker 1");
            0.0
        }
    });
    let message = run_outcome(trainers, 10).expect("run should panic");
    assert!(
        message.contains("a worker failed: its step panicked: step 5 of worker 1"),
        "{message}"
    );
}

#[test]
fn a_worker_whose_step_cannot_be_built_is_reported() {
    let trainers = Trainers::new(2, |t| {
        assert!(t != 0, "no graph for worker 0");
        || 0.0
    });
    let message = run_outcome(trainers, 3).expect("run should panic");
    assert!(
        message.contains("building its step panicked: no graph for worker 0"),
        "{message}"
    );
}

#[test]
fn healthy_workers_run_every_time() {
    let trainers = Trainers::new(2, |_| || 1.0);
    for _ in 0..3 {
        assert_eq!(trainers.threads(), 2);
        let _ = trainers.run(100);
    }
    assert_eq!(run_outcome(trainers, 100), None);
}
