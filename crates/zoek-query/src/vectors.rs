//! Dense search over the sentence (or passage) vectors: an exact scan for small
//! collections, the `zoek-index` HNSW graph for large ones.

use std::path::Path;

use crate::embedder::dot;
use crate::error::{QueryError, Result};
use crate::rank::{DenseHit, sort_dense};

/// Scores every row of `vectors` against `query` and keeps, per group, the best row; `group`
/// maps a row to its group (the passage of a sentence, or the passage itself). Returns the
/// `limit` best groups, best first.
pub fn exact_grouped(
    vectors: &[f32],
    dim: usize,
    query: &[f32],
    groups: usize,
    group: impl Fn(usize) -> Option<u32>,
    limit: usize,
) -> Vec<DenseHit> {
    let mut best: Vec<DenseHit> = (0..groups as u32)
        .map(|passage| DenseHit {
            passage,
            score: f32::NEG_INFINITY,
            sentence: None,
        })
        .collect();
    for (row, v) in vectors.chunks_exact(dim).enumerate() {
        let Some(g) = group(row) else {
            continue;
        };
        let score = dot(v, query);
        if let Some(slot) = best.get_mut(g as usize)
            && score > slot.score
        {
            slot.score = score;
            slot.sentence = Some(row as u32);
        }
    }
    best.retain(|h| h.score.is_finite());
    top(best, limit)
}

/// Keeps the `limit` best hits, best first, in O(n) plus a sort of the kept part.
pub fn top(mut hits: Vec<DenseHit>, limit: usize) -> Vec<DenseHit> {
    if hits.len() > limit && limit > 0 {
        hits.select_nth_unstable_by(limit - 1, |a, b| {
            b.score.total_cmp(&a.score).then(a.passage.cmp(&b.passage))
        });
        hits.truncate(limit);
    }
    sort_dense(&mut hits);
    hits
}

/// Writes the HNSW index of the sentence vectors.
pub(crate) fn write_hnsw(path: &Path, dim: usize, vectors: &[f32]) -> Result<()> {
    let _ = (path, dim, vectors);
    Err(QueryError::Index(
        "the HNSW index (zoek-index) is not wired in yet; raise hnsw_threshold".into(),
    ))
}

/// The HNSW graph over the sentence vectors of a large collection.
#[derive(Debug)]
pub(crate) struct SentenceGraph {
    _private: (),
}

impl SentenceGraph {
    /// Opens the graph file.
    pub(crate) fn open(path: &Path) -> Result<Self> {
        Err(QueryError::Index(format!(
            "{}: HNSW collections need zoek-index, which is not wired in yet",
            path.display()
        )))
    }

    /// `(sentence id, cosine)` of the approximate `k` nearest sentences.
    pub(crate) fn search(&self, _q: &[f32], _k: usize, _ef: usize) -> Result<Vec<(u32, f32)>> {
        Ok(Vec::new())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exact_grouped_keeps_best_row_per_group() {
        let vectors = [1.0, 0.0, 0.0, 1.0, 0.6, 0.8, -1.0, 0.0];
        let groups = [0u32, 1, 1, 2];
        let hits = exact_grouped(&vectors, 2, &[0.0, 1.0], 3, |r| groups.get(r).copied(), 10);
        let got: Vec<_> = hits.iter().map(|h| (h.passage, h.sentence)).collect();
        assert_eq!(got, [(1, Some(1)), (0, Some(0)), (2, Some(3))]);
        let top1 = exact_grouped(&vectors, 2, &[0.0, 1.0], 3, |r| groups.get(r).copied(), 1);
        assert_eq!(top1.len(), 1);
        assert_eq!(top1[0].passage, 1);
    }
}
