//! Each distinct text embedded once.
//!
//! Corpora repeat themselves: law paragraphs share sentences ("Deze wet treedt in werking
//! met ingang van de dag na ..."), a one-sentence passage is its own sentence, and the same
//! document is often imported under two ids. Of 2,000 nl-laws paragraphs, a separate build
//! embedded 5,701 texts of which 4,458 are distinct (1,050 passages are exactly one of
//! their sentences): 18 % of its tokens. A build embeds each distinct text once and copies
//! its vector to every place where the text occurs. An embedding does not depend on the
//! other texts of its batch (zoek-embed's `passage_batches_equal_single_passages`), so the
//! vectors are those that embedding every occurrence would give.

use std::collections::HashMap;
use std::hash::Hash;
use std::ops::Range;

/// The distinct keys of a list, in the order first seen, and where each item went.
#[derive(Debug)]
pub(crate) struct Distinct<K> {
    /// The distinct keys, first-seen order.
    pub unique: Vec<K>,
    /// For every item, its key's index in `unique`.
    row: Vec<usize>,
}

impl<K: Hash + Eq + Copy> Distinct<K> {
    /// The distinct keys of `items`.
    pub fn of(items: impl IntoIterator<Item = K>) -> Self {
        let mut seen: HashMap<K, usize> = HashMap::new();
        let mut unique = Vec::new();
        let row = items
            .into_iter()
            .map(|k| {
                *seen.entry(k).or_insert_with(|| {
                    unique.push(k);
                    unique.len() - 1
                })
            })
            .collect();
        Self { unique, row }
    }

    /// How many distinct keys the first `n` items have: their keys are `unique[..that]`,
    /// because keys are numbered as first seen.
    pub fn unique_in_first(&self, n: usize) -> usize {
        self.row[..n].iter().max().map_or(0, |&r| r + 1)
    }

    /// For progress in input items: `covered(items)[n]` is the number of the items in
    /// `items` whose key is among the first `n` distinct keys, i.e. done once those are.
    pub fn covered(&self, items: Range<usize>) -> Vec<usize> {
        let mut prefix = vec![0usize; self.unique.len() + 1];
        for &r in &self.row[items] {
            prefix[r + 1] += 1;
        }
        for i in 1..prefix.len() {
            prefix[i] += prefix[i - 1];
        }
        prefix
    }

    /// Spreads `vectors` (for each distinct key in order, `rows(key)` rows of `dim`
    /// floats) back to the items: the rows of every item's key, in item order.
    pub fn spread(&self, vectors: &[f32], dim: usize, rows: impl Fn(&K) -> usize) -> Vec<f32> {
        let mut start = Vec::with_capacity(self.unique.len() + 1);
        start.push(0);
        for k in &self.unique {
            start.push(start.last().copied().unwrap_or(0) + rows(k) * dim);
        }
        let mut out = Vec::with_capacity(self.row.iter().map(|&r| start[r + 1] - start[r]).sum());
        for &r in &self.row {
            out.extend_from_slice(&vectors[start[r]..start[r + 1]]);
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_numbered_as_first_seen_and_spread_back() {
        let d = Distinct::of(["b", "a", "b", "c", "a"]);
        assert_eq!(d.unique, ["b", "a", "c"]);
        assert_eq!(d.unique_in_first(2), 2);
        assert_eq!(d.unique_in_first(3), 2);
        assert_eq!(d.unique_in_first(5), 3);
        let vectors = [1.0, 1.5, 2.0, 2.5, 3.0, 3.5];
        assert_eq!(
            d.spread(&vectors, 2, |_| 1),
            [1.0, 1.5, 2.0, 2.5, 1.0, 1.5, 3.0, 3.5, 2.0, 2.5]
        );
        assert_eq!(d.covered(0..5), [0, 2, 4, 5]);
        assert_eq!(d.covered(3..5), [0, 0, 1, 2]);
    }

    #[test]
    fn keys_may_own_several_rows() {
        let d = Distinct::of([2usize, 0, 2, 1]);
        // key 2: two rows, key 0: none, key 1: one row; dim 1
        let vectors = [20.0, 21.0, 10.0];
        assert_eq!(
            d.spread(&vectors, 1, |&k| k),
            [20.0, 21.0, 20.0, 21.0, 10.0]
        );
    }

    #[test]
    fn nothing_in_nothing_out() {
        let d = Distinct::<&str>::of([]);
        assert!(d.unique.is_empty());
        assert_eq!(d.unique_in_first(0), 0);
        assert_eq!(d.covered(0..0), [0]);
        assert!(d.spread(&[], 4, |_| 1).is_empty());
    }
}
