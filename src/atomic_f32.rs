//! [`AtomicF32s`]: an array of `f32`s that threads may read and write at once, without
//! data races, stored two to a relaxed `AtomicU64`.
//!
//! Why pairs: an atomic access is never merged with its neighbours into a vector access,
//! so copying a row costs one load or store per atomic. With `f32`s packed in pairs, a
//! copy needs half as many, and copies are most of what shared (Hogwild) parameters cost
//! over plain ones.
//!
//! This needs 64-bit atomics (`target_has_atomic = "64"`): every 64-bit target and most
//! 32-bit ones have them.
//!
//! Every access to an element is a relaxed load or store of the word holding it, so
//! there is no data race, and an element read is always some `f32` that was written, never
//! a mix of two (the word is read whole). Storing one element alone (the first or last
//! of a stretch that starts or ends in the middle of a word) is a compare-and-swap of its
//! half of the word, so that it never overwrites its neighbour's concurrent update.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

/// See [`AtomicF32s::stretch`].
struct Stretch {
    head: bool,
    first: usize,
    pairs: usize,
    tail: bool,
}

/// `len` `f32`s, element `2k` in the low half of word `k` and `2k + 1` in the high half.
#[derive(Debug)]
pub(crate) struct AtomicF32s {
    words: Box<[AtomicU64]>,
    len: usize,
}

#[inline(always)]
fn low(word: u64) -> f32 {
    f32::from_bits(word as u32)
}

#[inline(always)]
fn high(word: u64) -> f32 {
    f32::from_bits((word >> 32) as u32)
}

#[inline(always)]
fn pair(low: f32, high: f32) -> u64 {
    low.to_bits() as u64 | (high.to_bits() as u64) << 32
}

impl AtomicF32s {
    /// The elements of `values`, in order.
    pub(crate) fn new(values: impl ExactSizeIterator<Item = f32>) -> Self {
        let len = values.len();
        let mut words = Vec::with_capacity(len.div_ceil(2));
        let mut values = values.peekable();
        while let Some(a) = values.next() {
            words.push(AtomicU64::new(pair(a, values.next().unwrap_or(0.0))));
        }
        AtomicF32s {
            words: words.into_boxed_slice(),
            len,
        }
    }

    /// New storage holding the current elements (relaxed loads of whole words).
    pub(crate) fn snapshot(&self) -> Self {
        AtomicF32s {
            words: self
                .words
                .iter()
                .map(|w| AtomicU64::new(w.load(Relaxed)))
                .collect(),
            len: self.len,
        }
    }

    /// Overwrites every element with `source`'s (relaxed loads and stores of whole
    /// words). The two must have the same length.
    pub(crate) fn copy_words_from(&self, source: &AtomicF32s) {
        debug_assert_eq!(self.len, source.len);
        for (w, s) in self.words.iter().zip(source.words.iter()) {
            w.store(s.load(Relaxed), Relaxed);
        }
    }

    /// `len` zeros.
    pub(crate) fn zeros(len: usize) -> Self {
        AtomicF32s {
            words: (0..len.div_ceil(2)).map(|_| AtomicU64::new(0)).collect(),
            len,
        }
    }

    /// Sets every element to zero (relaxed stores).
    pub(crate) fn fill_zero(&self) {
        for w in self.words.iter() {
            w.store(0, Relaxed);
        }
    }

    /// The number of elements.
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    #[cold]
    #[inline(never)]
    fn out_of_bounds(&self, start: usize, n: usize) -> ! {
        panic!(
            "AtomicF32s: elements {start}..{} out of range for {} elements",
            start + n,
            self.len
        )
    }

    /// How the stretch of elements `start..start + n` lies in words: a lone element in the
    /// high half of the first word (`head`), whole words `first..first + pairs`, a lone
    /// element in the low half of the next one (`tail`).
    #[inline(always)]
    fn stretch(&self, start: usize, n: usize) -> Stretch {
        if start + n > self.len {
            self.out_of_bounds(start, n);
        }
        let head = start % 2 == 1 && n > 0;
        let first = start.div_ceil(2);
        let pairs = (n - head as usize) / 2;
        Stretch {
            head,
            first,
            pairs,
            tail: n > head as usize + 2 * pairs,
        }
    }

    /// Copies elements `start..start + dst.len()` into `dst` (relaxed loads).
    #[inline(always)]
    pub(crate) fn load_into(&self, start: usize, dst: &mut [f32]) {
        let Stretch {
            head,
            first,
            pairs,
            tail,
        } = self.stretch(start, dst.len());
        let i = head as usize;
        if head {
            dst[0] = high(self.words[first - 1].load(Relaxed));
        }
        load_pairs(
            &self.words[first..first + pairs],
            &mut dst[i..i + 2 * pairs],
        );
        if tail {
            dst[i + 2 * pairs] = low(self.words[first + pairs].load(Relaxed));
        }
    }

    /// Copies rows `indices` of the row-major table of `cols` columns stored here into
    /// `out` (`indices.len() x cols`), relaxed loads, as [`load_into`](Self::load_into)
    /// row by row would. With an even column count every row starts on a word, and a
    /// batch runs in one AVX2 call instead of one per row.
    #[inline(always)]
    pub(crate) fn load_rows(&self, indices: &[usize], cols: usize, out: &mut [f32]) {
        #[cfg(target_arch = "x86_64")]
        if indices.len() > 1 && cols % 2 == 0 && cols >= 8 && crate::kernels::simd_enabled() {
            // SAFETY: `simd_enabled` checked that the CPU has AVX2.
            return unsafe { self.load_rows_avx2(indices, cols, out) };
        }
        for (j, &row) in indices.iter().enumerate() {
            self.load_into(row * cols, &mut out[j * cols..(j + 1) * cols]);
        }
    }

    /// [`load_rows`](Self::load_rows) for an even `cols`, compiled for AVX2.
    ///
    /// # Safety
    /// The CPU must support AVX2.
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2")]
    unsafe fn load_rows_avx2(&self, indices: &[usize], cols: usize, out: &mut [f32]) {
        for (j, &row) in indices.iter().enumerate() {
            // Checks the row is inside, with the message of any access past the end.
            let Stretch { first, pairs, .. } = self.stretch(row * cols, cols);
            // SAFETY: the caller guarantees AVX2 (this function's own feature).
            unsafe {
                load_pairs_avx2(
                    &self.words[first..first + pairs],
                    &mut out[j * cols..(j + 1) * cols],
                )
            };
        }
    }

    /// Writes `src` into elements `start..start + src.len()` (relaxed stores; a lone
    /// element at either end is merged into its word by compare-and-swap).
    #[inline(always)]
    pub(crate) fn store_from(&self, start: usize, src: &[f32]) {
        let Stretch {
            head,
            first,
            pairs,
            tail,
        } = self.stretch(start, src.len());
        let i = head as usize;
        if head {
            let bits = (src[0].to_bits() as u64) << 32;
            self.merge(first - 1, 0x0000_0000_FFFF_FFFF, bits);
        }
        let words = &self.words[first..first + pairs];
        // Two plain `f32`s read as one `u64`: a narrow load from the caller's buffer, which
        // the store buffer forwards even right after a vector store there.
        for (w, s) in words.iter().zip(src[i..i + 2 * pairs].chunks_exact(2)) {
            w.store(pair(s[0], s[1]), Relaxed);
        }
        if tail {
            let bits = src[i + 2 * pairs].to_bits() as u64;
            // The last element of all has no neighbour: its padding half may be zeroed.
            if start + src.len() == self.len {
                self.words[first + pairs].store(bits, Relaxed);
            } else {
                self.merge(first + pairs, 0xFFFF_FFFF_0000_0000, bits);
            }
        }
    }

    /// The words holding the `groups` groups of eight elements from `at` on, four words
    /// per group (see [`Group`]); `at` must be even (checked in debug builds; an odd `at`
    /// gives the groups one element further on, which is wrong but not unsound). One
    /// bounds check for the whole stretch, where a check per group cost a compare, a
    /// branch and a reload of the length per access.
    ///
    /// # Panics
    /// If the groups reach past the end.
    #[inline(always)]
    pub(crate) fn groups(&self, at: usize, groups: usize) -> &[AtomicU64] {
        debug_assert_eq!(at % 2, 0);
        if at + 8 * groups > self.len {
            self.out_of_bounds(at, 8 * groups);
        }
        &self.words[at / 2..at / 2 + 4 * groups]
    }
}

/// Eight elements as four whole words, from [`AtomicF32s::groups`] by `chunks_exact(4)`.
pub(crate) struct Group<'a>(pub(crate) &'a [AtomicU64]);

impl Group<'_> {
    /// Copies the eight elements into `out`. In a vectorised loop `out` stays in registers.
    #[inline(always)]
    pub(crate) fn load(&self, out: &mut [f32; 8]) {
        for (k, w) in self.0[..4].iter().enumerate() {
            let w = w.load(Relaxed);
            out[2 * k] = low(w);
            out[2 * k + 1] = high(w);
        }
    }

    /// [`load`](Self::load) for callers compiled with AVX2: the four words are gathered in
    /// a register and written with one 32-byte store, which the consumer's 32-byte loads
    /// of `out` can take straight from the store buffer.
    ///
    /// # Safety
    /// The CPU must support AVX2.
    #[cfg(target_arch = "x86_64")]
    #[inline]
    #[target_feature(enable = "avx2")]
    pub(crate) unsafe fn load_avx2(&self, out: &mut [f32; 8]) {
        // SAFETY: the caller guarantees AVX2.
        unsafe { load_pairs_avx2(&self.0[..4], out) }
    }

    /// Writes `src` into the eight elements.
    #[inline(always)]
    pub(crate) fn store(&self, src: &[f32; 8]) {
        for (k, w) in self.0[..4].iter().enumerate() {
            w.store(pair(src[2 * k], src[2 * k + 1]), Relaxed);
        }
    }
}

impl AtomicF32s {
    /// Replaces the half of word `w` outside `keep` with `bits`, leaving the other half
    /// as another thread may just have written it.
    fn merge(&self, w: usize, keep: u64, bits: u64) {
        let _ = self.words[w].fetch_update(Relaxed, Relaxed, |old| Some(old & keep | bits));
    }

    /// Hints the CPU to fetch elements `start..start + len` (no access in the memory
    /// model, so it cannot race).
    #[inline(always)]
    pub(crate) fn prefetch(&self, start: usize, len: usize) {
        if len > 0 && start + len <= self.len {
            let (first, last) = (start / 2, (start + len - 1) / 2);
            crate::kernels::prefetch(&self.words, first, last + 1 - first);
        }
    }
}

/// Copies `words` (two `f32`s each) into `dst` (`2 * words.len()` elements).
#[inline(always)]
fn load_pairs(words: &[AtomicU64], dst: &mut [f32]) {
    #[cfg(target_arch = "x86_64")]
    if words.len() >= 4 && crate::kernels::simd_enabled() {
        // SAFETY: `simd_enabled` checked that the CPU has AVX2.
        return unsafe { load_pairs_avx2(words, dst) };
    }
    for (w, d) in words.iter().zip(dst.chunks_exact_mut(2)) {
        let w = w.load(Relaxed);
        d[0] = low(w);
        d[1] = high(w);
    }
}

/// [`load_pairs`] for AVX2: four relaxed loads gathered in a register and written with one
/// 32-byte store. Consumers read the copy with 32-byte loads, and a wide load of data just
/// written by narrow stores cannot be forwarded from the store buffer: it waits until the
/// stores reach the cache, which made scalar copies several times slower than their
/// instruction count.
///
/// # Safety
/// The CPU must support AVX2.
#[cfg(target_arch = "x86_64")]
#[inline]
#[target_feature(enable = "avx2")]
unsafe fn load_pairs_avx2(words: &[AtomicU64], dst: &mut [f32]) {
    use std::arch::x86_64::{__m256i, _mm256_setr_epi64x, _mm256_storeu_si256};
    let n = words.len().min(dst.len() / 2);
    let mut k = 0;
    while k + 4 <= n {
        let w = &words[k..k + 4];
        // One relaxed atomic load per word; `as` keeps the bit pattern.
        let l = |j: usize| w[j].load(Relaxed) as i64;
        let v = _mm256_setr_epi64x(l(0), l(1), l(2), l(3));
        // SAFETY: elements `2k..2k + 8` lie in `dst` since `k + 4 <= n <= dst.len() / 2`;
        // an unaligned store needs no alignment.
        unsafe { _mm256_storeu_si256(dst.as_mut_ptr().add(2 * k) as *mut __m256i, v) };
        k += 4;
    }
    for j in k..n {
        let w = words[j].load(Relaxed);
        dst[2 * j] = low(w);
        dst[2 * j + 1] = high(w);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn values(n: usize) -> Vec<f32> {
        (0..n).map(|i| i as f32 * 1.5 - 7.0).collect()
    }

    #[test]
    fn rows_load_as_stretch_by_stretch() {
        // Even column counts from 8 up take the batched path; the others row by row.
        for cols in [1, 3, 8, 10, 16, 33, 64] {
            let rows = 9;
            let data = values(rows * cols);
            let stored = AtomicF32s::new(data.iter().copied());
            for indices in [
                &[4usize][..],
                &[8, 0, 3, 3, 8],
                &[],
                &[1, 2, 3, 4, 5, 6, 7, 8],
            ] {
                let mut batched = vec![f32::NAN; indices.len() * cols];
                stored.load_rows(indices, cols, &mut batched);
                let mut expected = Vec::new();
                for &row in indices {
                    expected.extend_from_slice(&data[row * cols..(row + 1) * cols]);
                }
                assert_eq!(batched, expected, "cols {cols}, rows {indices:?}");
            }
        }
    }

    #[test]
    #[should_panic(expected = "AtomicF32s: elements 32..40 out of range for 32 elements")]
    fn a_row_past_the_end_is_not_loaded() {
        let stored = AtomicF32s::new(values(4 * 8).into_iter());
        stored.load_rows(&[0, 4], 8, &mut [0.0; 16]);
    }

    #[test]
    fn every_stretch_round_trips() {
        // Odd and even starts and lengths, short and long enough for the AVX2 path.
        for len in [1, 2, 7, 8, 33, 70] {
            let data = values(len);
            let cells = AtomicF32s::new(data.iter().copied());
            assert_eq!(cells.len(), len);
            for start in 0..len {
                for n in 0..=len - start {
                    let mut out = vec![f32::NAN; n];
                    cells.load_into(start, &mut out);
                    assert_eq!(out, data[start..start + n], "load {start}+{n} of {len}");
                }
            }
            for start in 0..len {
                for n in 0..=len - start {
                    let cells = AtomicF32s::new(data.iter().copied());
                    let new: Vec<f32> = (0..n).map(|i| -(i as f32) - 0.5).collect();
                    cells.store_from(start, &new);
                    let mut expected = data.clone();
                    expected[start..start + n].copy_from_slice(&new);
                    let mut out = vec![0.0; len];
                    cells.load_into(0, &mut out);
                    assert_eq!(out, expected, "store {start}+{n} of {len}");
                }
            }
        }
        let cells = AtomicF32s::new(values(20).into_iter());
        let mut eight = [0.0; 8];
        let groups = cells.groups(2, 2);
        Group(&groups[..4]).load(&mut eight);
        assert_eq!(eight[..], values(20)[2..10]);
        Group(&groups[4..]).store(&[9.0; 8]);
        Group(&cells.groups(4, 1)[..4]).load(&mut eight);
        let mut expected = values(20)[4..12].to_vec();
        expected[6..].fill(9.0);
        assert_eq!(eight[..], expected[..]);
        let zeros = AtomicF32s::zeros(5);
        let mut out = [1.0; 5];
        zeros.load_into(0, &mut out);
        assert_eq!(out, [0.0; 5]);
    }

    #[test]
    fn concurrent_neighbours_keep_their_halves() {
        // Rows of 3 elements: row 1 starts in the high half of word 1, which it shares
        // with the last element of row 0. Each thread writes only its own row, and checks
        // before every write that the row still holds its previous write: a store of the
        // shared word that is not a compare-and-swap would sooner or later put back a
        // stale copy of the other thread's element.
        let cells = std::sync::Arc::new(AtomicF32s::zeros(6));
        let start = std::sync::Arc::new(std::sync::Barrier::new(2));
        let threads: Vec<_> = (0..2)
            .map(|row| {
                let (cells, start) = (cells.clone(), start.clone());
                std::thread::spawn(move || {
                    start.wait();
                    let mut last = [0.0; 3];
                    for step in 0..200_000 {
                        let mut now = [0.0; 3];
                        cells.load_into(row * 3, &mut now);
                        assert_eq!(now, last, "row {row} lost its own write before step {step}");
                        let v = (row * 1_000_000 + step + 1) as f32;
                        cells.store_from(row * 3, &[v; 3]);
                        last = [v; 3];
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().expect("writer");
        }
        let mut out = [0.0; 6];
        cells.load_into(0, &mut out);
        assert_eq!(
            out,
            [
                200_000.0,
                200_000.0,
                200_000.0,
                1_200_000.0,
                1_200_000.0,
                1_200_000.0
            ]
        );
    }

    #[test]
    #[should_panic(expected = "elements 3..6 out of range for 5 elements")]
    fn out_of_range_panics() {
        AtomicF32s::zeros(5).load_into(3, &mut [0.0; 3]);
    }

    #[test]
    #[should_panic(expected = "elements 2..18 out of range for 17 elements")]
    fn groups_out_of_range_panic() {
        AtomicF32s::zeros(17).groups(2, 2);
    }
}
