//! Brute-force search: ground truth for tests and benchmarks, and the fallback for
//! very selective filters.

use std::cmp::Ordering;
use std::collections::BinaryHeap;

use crate::distance::{Kernels, norm_sq};
use crate::{Metric, Neighbor};

/// A (distance, position) pair ordered by distance, then position.
#[derive(Clone, Copy, PartialEq)]
struct Entry(f32, usize);

impl Eq for Entry {}
impl PartialOrd for Entry {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Entry {
    fn cmp(&self, other: &Self) -> Ordering {
        self.0.total_cmp(&other.0).then(self.1.cmp(&other.1))
    }
}

/// Keeps the `k` smallest distances seen.
pub(crate) struct TopK {
    k: usize,
    heap: BinaryHeap<Entry>,
}

impl TopK {
    pub fn new(k: usize) -> TopK {
        TopK {
            k,
            heap: BinaryHeap::with_capacity(k + 1),
        }
    }

    #[inline]
    pub fn push(&mut self, dist: f32, pos: usize) {
        if self.k == 0 || dist.is_nan() {
            return;
        }
        if self.heap.len() < self.k {
            self.heap.push(Entry(dist, pos));
        } else if self.heap.peek().is_some_and(|w| Entry(dist, pos) < *w) {
            self.heap.pop();
            self.heap.push(Entry(dist, pos));
        }
    }

    pub fn merge(&mut self, other: TopK) {
        for e in other.heap {
            self.push(e.0, e.1);
        }
    }

    /// (distance, position) pairs, nearest first.
    pub fn into_sorted(self) -> Vec<(f32, usize)> {
        self.heap
            .into_sorted_vec()
            .into_iter()
            .map(|e| (e.0, e.1))
            .collect()
    }
}

/// Exact k nearest neighbours of `query` among `vectors` (row-major, `dim` columns,
/// one row per entry of `ids`), nearest first, distances as documented on [`Metric`].
///
/// Cosine is computed from the raw vectors (no normalisation needed). Rows beyond
/// `ids.len()` and a trailing partial row are ignored; a query of the wrong length or
/// `dim == 0` gives no results.
pub fn exact_search(
    vectors: &[f32],
    dim: usize,
    ids: &[u64],
    query: &[f32],
    k: usize,
    metric: Metric,
) -> Vec<Neighbor> {
    if dim == 0 || query.len() != dim {
        return Vec::new();
    }
    let kernels = Kernels::get();
    let q_norm = norm_sq(query).sqrt();
    let mut top = TopK::new(k);
    for (pos, (row, _)) in vectors.chunks_exact(dim).zip(ids).enumerate() {
        let d = match metric {
            Metric::Cosine => {
                let denom = q_norm * norm_sq(row).sqrt();
                if denom > 0.0 {
                    1.0 - (kernels.dot)(query, row) / denom
                } else {
                    1.0
                }
            }
            Metric::Dot => -(kernels.dot)(query, row),
            Metric::L2 => (kernels.l2sq)(query, row),
        };
        top.push(d, pos);
    }
    top.into_sorted()
        .into_iter()
        .map(|(distance, pos)| Neighbor {
            id: ids[pos],
            distance,
        })
        .collect()
}
