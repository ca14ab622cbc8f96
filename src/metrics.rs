//! Evaluation measures over plain scores: [`ndcg_at`], normalised discounted cumulative
//! gain, the usual measure of a ranking against graded relevance labels (learning to
//! rank, search, recommendation), and [`roc_auc`], the area under the ROC curve of scores
//! against yes/no labels (click prediction, link prediction). [`rank_of`](crate::rank_of)
//! gives MRR and Hits@k.

use crate::top_k::top_k;

/// NDCG@k of one query: the discounted gain of the `k` positions with the largest
/// `scores` (in [`top_k`]'s order: ties to the lower position, a NaN before any number),
/// over that of the best possible order of `relevance`. A position's gain is
/// `2^relevance − 1`, discounted by `log2(rank + 1)` for ranks from 1, as in LightGBM's
/// and Burges et al.'s definition; labels are graded relevances such as 0 to 4.
///
/// `None` when no position has a positive gain within the ideal top `k` (a query without
/// a relevant document, or `k` of 0): its NDCG is undefined, and evaluation code usually
/// leaves such queries out of the mean rather than counting them as 0 or 1.
///
/// ```
/// use wyrm::ndcg_at;
///
/// let relevance = [0.0, 3.0, 1.0, 2.0];
/// // The best order: 1, 3, 2, 0.
/// assert_eq!(ndcg_at(&[0.1, 0.9, 0.3, 0.5], &relevance, 4), Some(1.0));
/// // Positions 2 and 3 swapped: below 1.
/// let swapped = ndcg_at(&[0.1, 0.9, 0.5, 0.3], &relevance, 4).unwrap();
/// assert!(swapped < 1.0 && swapped > 0.9);
/// // Over queries of several lengths, those with a relevant document.
/// let queries = [(vec![0.2, 0.1], vec![1.0, 0.0]), (vec![0.5, 0.4], vec![0.0, 0.0])];
/// let scored: Vec<f32> = queries.iter().filter_map(|(s, r)| ndcg_at(s, r, 10)).collect();
/// assert_eq!(scored, [1.0]);
/// ```
///
/// # Panics
/// If `scores` and `relevance` differ in length, or a relevance label is negative, above
/// 64 or NaN, naming it.
#[track_caller]
pub fn ndcg_at(scores: &[f32], relevance: &[f32], k: usize) -> Option<f32> {
    assert!(
        scores.len() == relevance.len(),
        "ndcg_at: {} scores but {} relevance labels; give one label per score",
        scores.len(),
        relevance.len()
    );
    // Negative labels would have negative gains; up to 64, `2^r` summed over any list
    // that fits in memory stays far inside `f64`'s range.
    if let Some(i) = relevance.iter().position(|r| !(0.0..=64.0).contains(r)) {
        panic!(
            "ndcg_at: relevance label {i} is {}; labels are graded relevances from 0 to 64",
            relevance[i]
        );
    }
    // In f64: a long list's small discounted gains are summed without rounding away.
    let gain = |r: f32| 2f64.powf(f64::from(r)) - 1.0;
    let discounted = |order: &mut dyn Iterator<Item = usize>| -> f64 {
        order
            .enumerate()
            .map(|(rank, i)| gain(relevance[i]) / ((rank + 2) as f64).log2())
            .sum()
    };
    let mut ideal: Vec<usize> = (0..relevance.len()).collect();
    ideal.sort_by(|&a, &b| relevance[b].total_cmp(&relevance[a]));
    let best = discounted(&mut ideal.into_iter().take(k));
    if best <= 0.0 {
        return None;
    }
    let mut ranked = Vec::new();
    top_k(scores, k, |_| false, &mut ranked);
    Some((discounted(&mut ranked.into_iter()) / best) as f32)
}

/// The mean [`ndcg_at`] over queries packed one after another: `sizes` gives each query's
/// number of positions, in order (a ranking batch's group sizes, as its
/// [`BagsInputNode`](crate::BagsInputNode) holds them). Queries whose NDCG is undefined
/// (no relevant document) are left out of the mean, as `ndcg_at`'s docs advise; `None`
/// when every query is.
///
/// ```
/// use wyrm::{mean_ndcg_at, ndcg_at};
///
/// // Three queries of 2, 3 and 1 documents; the last has no relevant one.
/// let scores = [0.2, 0.1, 0.3, 0.9, 0.5, 0.7];
/// let relevance = [1.0, 0.0, 2.0, 0.0, 1.0, 0.0];
/// let mean = mean_ndcg_at(&scores, &relevance, &[2, 3, 1], 10).unwrap();
/// let second = ndcg_at(&scores[2..5], &relevance[2..5], 10).unwrap();
/// assert!((mean - (1.0 + second) / 2.0).abs() < 1e-6);
/// assert_eq!(mean_ndcg_at(&scores[5..], &relevance[5..], &[1], 10), None);
/// ```
///
/// # Panics
/// If the sizes do not add up to the number of scores, or as [`ndcg_at`] for a query
/// (naming the query).
#[track_caller]
pub fn mean_ndcg_at(scores: &[f32], relevance: &[f32], sizes: &[usize], k: usize) -> Option<f32> {
    let total: usize = sizes.iter().sum();
    assert!(
        total == scores.len() && total == relevance.len(),
        "mean_ndcg_at: the query sizes add up to {total}, but there are {} scores and {} \
         relevance labels; give one size per query, the queries one after another",
        scores.len(),
        relevance.len()
    );
    let (mut sum, mut count, mut start) = (0.0f64, 0usize, 0);
    for (q, &size) in sizes.iter().enumerate() {
        let span = start..start + size;
        start += size;
        if let Some(i) = relevance[span.clone()]
            .iter()
            .position(|r| !(0.0..=64.0).contains(r))
        {
            panic!(
                "mean_ndcg_at: query {q}'s relevance label {i} (position {}) is {}; labels \
                 are graded relevances from 0 to 64",
                span.start + i,
                relevance[span.start + i]
            );
        }
        if let Some(ndcg) = ndcg_at(&scores[span.clone()], &relevance[span], k) {
            sum += f64::from(ndcg);
            count += 1;
        }
    }
    (count > 0).then(|| (sum / count as f64) as f32)
}

/// The area under the ROC curve: the chance that a positive's score is above a
/// negative's, ties counting half (the Mann-Whitney statistic over the number of pairs).
/// 1 ranks every positive first, 0.5 is chance. `None` without a positive or without a
/// negative, where it is undefined.
///
/// One sort, `O(n log n)`, in `f64`.
///
/// ```
/// use wyrm::roc_auc;
///
/// let scores = [0.9, 0.8, 0.3, 0.3, 0.1];
/// let clicked = [true, false, true, false, false];
/// // Pairs (positive, negative): 0.9 beats all three; 0.3 beats 0.1 and ties 0.3.
/// assert_eq!(roc_auc(&scores, &clicked), Some((3.0 + 1.5) / 6.0));
/// assert_eq!(roc_auc(&scores, &[false; 5]), None);
/// ```
///
/// # Panics
/// If `scores` and `positive` differ in length, or a score is NaN, naming it.
#[track_caller]
pub fn roc_auc(scores: &[f32], positive: &[bool]) -> Option<f32> {
    assert!(
        scores.len() == positive.len(),
        "roc_auc: {} scores but {} labels; give one label per score",
        scores.len(),
        positive.len()
    );
    if let Some(i) = scores.iter().position(|s| s.is_nan()) {
        panic!("roc_auc: score {i} is NaN, which has no place in a ranking");
    }
    let positives = positive.iter().filter(|&&p| p).count();
    let negatives = scores.len() - positives;
    if positives == 0 || negatives == 0 {
        return None;
    }
    let mut order: Vec<usize> = (0..scores.len()).collect();
    order.sort_unstable_by(|&a, &b| scores[a].total_cmp(&scores[b]));
    // The sum of the positives' ranks (from 1), each run of tied scores at its mean rank.
    let mut rank_sum = 0.0f64;
    let mut start = 0;
    while start < order.len() {
        let score = scores[order[start]];
        let end = start
            + order[start..]
                .iter()
                .take_while(|&&i| scores[i] == score)
                .count();
        let mean_rank = (start + end + 1) as f64 / 2.0;
        let tied_positives = order[start..end].iter().filter(|&&i| positive[i]).count();
        rank_sum += mean_rank * tied_positives as f64;
        start = end;
    }
    let (p, n) = (positives as f64, negatives as f64);
    Some(((rank_sum - p * (p + 1.0) / 2.0) / (p * n)) as f32)
}

/// Harrell's concordance index of a survival model: over the comparable pairs, a subject
/// `i` with an event (`event[i]`) and a subject `j` known to have lived longer (a later
/// time, event or not, or the same time censored), the share where `i`, who failed
/// first, has the higher `risk`, tied risks counting half. 1 orders every such pair
/// right, 0.5 is chance: the survival analogue of [`roc_auc`]. Two events at the same
/// time are not comparable. These are the pairs Hmisc's `rcorr.cens` and
/// scikit-survival's `concordance_index_censored` count. `None` without a comparable
/// pair.
///
/// `O(n log n)` (a sort by time and a count over the risks' ranks), in `f64`.
///
/// ```
/// use wyrm::concordance_index;
///
/// let risk = [2.0, 1.0, 0.5, 1.0];
/// let time = [1.0, 2.0, 3.0, 4.0];
/// let event = [true, true, false, true];
/// // Comparable pairs: (0, 1), (0, 2), (0, 3), (1, 2), (1, 3); subject 2 is censored and
/// // subject 3 has no one after it. All ordered right but (1, 3), a tie in risk.
/// assert_eq!(concordance_index(&risk, &time, &event), Some(4.5 / 5.0));
/// assert_eq!(concordance_index(&risk, &time, &[false; 4]), None);
/// ```
///
/// # Panics
/// If the three slices differ in length, or a risk or a time is NaN, naming it.
#[track_caller]
pub fn concordance_index(risk: &[f32], time: &[f32], event: &[bool]) -> Option<f32> {
    assert!(
        risk.len() == time.len() && risk.len() == event.len(),
        "concordance_index: {} risks, {} times and {} event flags; give one of each per \
         subject",
        risk.len(),
        time.len(),
        event.len()
    );
    for (name, values) in [("risk", risk), ("time", time)] {
        if let Some(i) = values.iter().position(|v| v.is_nan()) {
            panic!("concordance_index: subject {i}'s {name} is NaN");
        }
    }
    // Each risk's rank among the distinct risks (-0.0 and 0.0 as one), for the counts.
    let mut distinct: Vec<f32> = risk.iter().map(|r| r + 0.0).collect();
    distinct.sort_unstable_by(f32::total_cmp);
    distinct.dedup();
    let rank = |r: f32| distinct.partition_point(|d| *d < r + 0.0);
    // Counts of the subjects already added, by rank (a Fenwick tree).
    let mut counts = vec![0u64; distinct.len() + 1];
    let add = |counts: &mut Vec<u64>, rank: usize| {
        let mut i = rank + 1;
        while i < counts.len() {
            counts[i] += 1;
            i += i & i.wrapping_neg();
        }
    };
    let below = |counts: &Vec<u64>, rank: usize| {
        let (mut i, mut sum) = (rank, 0);
        while i > 0 {
            sum += counts[i];
            i -= i & i.wrapping_neg();
        }
        sum
    };
    // Latest first. For each run of equal times: its censored subjects join the later
    // ones (they outlived the run's events), its events are scored against all of those,
    // and then join them too.
    let mut order: Vec<usize> = (0..risk.len()).collect();
    order.sort_unstable_by(|&a, &b| time[b].total_cmp(&time[a]));
    let (mut concordant, mut pairs, mut added) = (0.0f64, 0u64, 0u64);
    let mut start = 0;
    while start < order.len() {
        let t = time[order[start]];
        let end = start + order[start..].iter().take_while(|&&i| time[i] == t).count();
        let run = &order[start..end];
        for &i in run.iter().filter(|&&i| !event[i]) {
            add(&mut counts, rank(risk[i]));
            added += 1;
        }
        for &i in run.iter().filter(|&&i| event[i]) {
            let r = rank(risk[i]);
            let (lower, up_to) = (below(&counts, r), below(&counts, r + 1));
            concordant += lower as f64 + 0.5 * (up_to - lower) as f64;
            pairs += added;
        }
        for &i in run.iter().filter(|&&i| event[i]) {
            add(&mut counts, rank(risk[i]));
            added += 1;
        }
        start = end;
    }
    (pairs > 0).then(|| (concordant / pairs as f64) as f32)
}

#[cfg(test)]
mod tests {
    use super::{concordance_index, mean_ndcg_at, ndcg_at, roc_auc};

    /// The message `f` panics with.
    fn panic_message<R>(f: impl FnOnce() -> R + std::panic::UnwindSafe) -> String {
        std::panic::catch_unwind(f)
            .map_err(|p| p.downcast::<String>().map(|s| *s).unwrap_or_default())
            .err()
            .expect("a panic")
    }

    /// Against the count over every pair, on scores with many ties.
    /// Against the definition pair by pair, on random data with ties in risk and in time
    /// (including -0.0 against 0.0) and censoring.
    #[test]
    fn concordance_index_against_all_pairs() {
        use rand::{Rng, SeedableRng};
        let mut rng = rand::rngs::StdRng::seed_from_u64(7);
        for n in [1, 2, 5, 40, 300] {
            let risk: Vec<f32> = (0..n)
                .map(|_| match rng.gen_range(0..4) {
                    0 => 0.0,
                    1 => -0.0,
                    _ => rng.gen_range(-3..3) as f32 * 0.5,
                })
                .collect();
            let time: Vec<f32> = (0..n).map(|_| rng.gen_range(0..20) as f32).collect();
            let event: Vec<bool> = (0..n).map(|_| rng.gen_bool(0.7)).collect();
            let (mut score, mut pairs) = (0.0f64, 0u32);
            for i in (0..n).filter(|&i| event[i]) {
                let outlived = |j: usize| time[j] > time[i] || (time[j] == time[i] && !event[j]);
                for j in (0..n).filter(|&j| outlived(j)) {
                    pairs += 1;
                    score += match risk[i].partial_cmp(&risk[j]).unwrap() {
                        std::cmp::Ordering::Greater => 1.0,
                        std::cmp::Ordering::Equal => 0.5,
                        std::cmp::Ordering::Less => 0.0,
                    };
                }
            }
            let expected = (pairs > 0).then(|| (score / f64::from(pairs)) as f32);
            assert_eq!(concordance_index(&risk, &time, &event), expected, "n = {n}");
        }
        // A censored subject at an event's time outlived it; another event there did not.
        let risk = [1.0, 2.0, 0.5, 3.0];
        let (time, event) = ([1.0, 1.0, 2.0, 1.0], [true, false, true, true]);
        // Pairs (0, 1) discordant, (0, 2) and (3, 1), (3, 2) concordant; (0, 3) are events
        // at one time.
        assert_eq!(concordance_index(&risk, &time, &event), Some(3.0 / 4.0));
        // Risks ordered as the event times: 1; reversed: 0.
        let time = [1.0, 2.0, 3.0];
        assert_eq!(
            concordance_index(&[3.0, 2.0, 1.0], &time, &[true; 3]),
            Some(1.0)
        );
        assert_eq!(
            concordance_index(&[1.0, 2.0, 3.0], &time, &[true; 3]),
            Some(0.0)
        );
        let message = panic_message(|| concordance_index(&[1.0, f32::NAN], &time[..2], &[true; 2]));
        assert!(message.contains("subject 1's risk is NaN"), "{message}");
    }

    /// The packed mean against `ndcg_at` query by query, with undefined queries, empty
    /// queries and one query; sizes that do not add up panic.
    #[test]
    fn mean_ndcg_over_packed_queries() {
        let scores = [0.5, 0.1, 0.9, 0.3, 0.2, 0.8, 0.4];
        let relevance = [2.0, 0.0, 1.0, 0.0, 0.0, 3.0, 1.0];
        let sizes = [3, 0, 2, 2];
        let mut expected = Vec::new();
        let mut start = 0;
        for size in sizes {
            let span = start..start + size;
            start += size;
            expected.extend(ndcg_at(&scores[span.clone()], &relevance[span], 2));
        }
        assert_eq!(
            expected.len(),
            2,
            "the empty query and the one of zeros are undefined"
        );
        let mean = mean_ndcg_at(&scores, &relevance, &sizes, 2).unwrap();
        assert!(
            (mean - (expected[0] + expected[1]) / 2.0).abs() < 1e-7,
            "{mean}"
        );
        assert_eq!(
            mean_ndcg_at(&scores, &relevance, &[7], 3),
            ndcg_at(&scores, &relevance, 3)
        );
        assert_eq!(mean_ndcg_at(&[], &[], &[], 3), None);
        let message = panic_message(|| mean_ndcg_at(&scores, &relevance, &[3, 3], 2));
        assert!(
            message.contains("add up to 6, but there are 7 scores"),
            "{message}"
        );
        let bad = [0.0, 1.0, -1.0];
        let message = panic_message(|| mean_ndcg_at(&bad, &bad, &[1, 2], 2));
        assert!(
            message.contains("query 1's relevance label 1 (position 2) is -1"),
            "{message}"
        );
    }

    #[test]
    fn roc_auc_counts_pairs() {
        let scores: Vec<f32> = (0..200).map(|i| ((i * 37) % 11) as f32).collect();
        let positive: Vec<bool> = (0..200).map(|i| (i * 53) % 7 < 3).collect();
        let mut wins = 0.0;
        let mut pairs = 0.0;
        for (a, &pa) in scores.iter().zip(&positive) {
            for (b, &pb) in scores.iter().zip(&positive) {
                if pa && !pb {
                    pairs += 1.0;
                    wins += if a > b {
                        1.0
                    } else if a == b {
                        0.5
                    } else {
                        0.0
                    };
                }
            }
        }
        let auc = roc_auc(&scores, &positive).unwrap();
        assert!(
            (f64::from(auc) - wins / pairs).abs() < 1e-6,
            "{auc} vs {}",
            wins / pairs
        );
        assert_eq!(roc_auc(&[1.0, 2.0], &[false, true]), Some(1.0));
        assert_eq!(roc_auc(&[1.0, 2.0], &[true, false]), Some(0.0));
        assert_eq!(roc_auc(&[], &[]), None);
    }

    #[test]
    #[should_panic(expected = "roc_auc: score 1 is NaN, which has no place in a ranking")]
    fn roc_auc_rejects_nan() {
        roc_auc(&[0.5, f32::NAN], &[true, false]);
    }

    /// The textbook sum, by hand, for one order.
    #[test]
    fn matches_the_definition() {
        let relevance = [3.0, 2.0, 3.0, 0.0, 1.0, 2.0];
        let scores = [0.6, 0.5, 0.4, 0.3, 0.2, 0.1]; // ranked in position order
        let dcg = |gains: &[f64]| -> f64 {
            gains
                .iter()
                .enumerate()
                .map(|(i, g)| g / ((i + 2) as f64).log2())
                .sum()
        };
        let gains = relevance.map(|r: f32| 2f64.powf(r.into()) - 1.0);
        let ideal = [7.0, 7.0, 3.0, 3.0, 1.0, 0.0];
        for k in 1..=6 {
            let expected = dcg(&gains[..k]) / dcg(&ideal[..k]);
            let got = ndcg_at(&scores, &relevance, k).unwrap();
            assert!(
                (f64::from(got) - expected).abs() < 1e-6,
                "k {k}: {got} vs {expected}"
            );
        }
        // k past the length counts every position.
        assert_eq!(
            ndcg_at(&scores, &relevance, 100),
            ndcg_at(&scores, &relevance, 6)
        );
    }

    /// Ties in the scores are ordered as `top_k` orders them: the lower position first.
    #[test]
    fn ties_go_to_the_lower_position() {
        let relevance = [0.0, 1.0];
        assert!(ndcg_at(&[0.5, 0.5], &relevance, 1) == Some(0.0));
        assert!(ndcg_at(&[0.5, 0.5], &[1.0, 0.0], 1) == Some(1.0));
    }

    #[test]
    fn undefined_without_a_relevant_position() {
        assert_eq!(ndcg_at(&[0.1, 0.2], &[0.0, 0.0], 2), None);
        assert_eq!(ndcg_at(&[0.1, 0.2], &[1.0, 0.0], 0), None);
        assert_eq!(ndcg_at(&[], &[], 3), None);
    }

    #[test]
    fn bad_input_is_named() {
        let message = |f: fn()| panic_message(f);
        assert_eq!(
            message(|| {
                ndcg_at(&[0.1, 0.2], &[1.0], 2);
            }),
            "ndcg_at: 2 scores but 1 relevance labels; give one label per score"
        );
        assert_eq!(
            message(|| {
                ndcg_at(&[0.1, 0.2], &[1.0, f32::NAN], 2);
            }),
            "ndcg_at: relevance label 1 is NaN; labels are graded relevances from 0 to 64"
        );
        assert_eq!(
            message(|| {
                ndcg_at(&[0.1, 0.2], &[1.0, -1.0], 2);
            }),
            "ndcg_at: relevance label 1 is -1; labels are graded relevances from 0 to 64"
        );
    }
}
