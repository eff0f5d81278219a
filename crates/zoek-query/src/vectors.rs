//! Dense search over the sentence (or passage) vectors: an exact scan for small
//! collections, the `zoek-index` HNSW graph for large ones.

use std::path::Path;

use zoek_index::{HnswIndex, HnswParams, Metric, Quantization, WriteOptions};

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

/// Writes the HNSW index of the sentence vectors (ids are sentence numbers). The graph
/// keeps int8 codes only: it proposes candidates, which are then rescored exactly against
/// the f32 sentence vectors the collection maps anyway, so storing f32 twice is not needed.
pub(crate) fn write_hnsw(
    path: &Path,
    dim: usize,
    vectors: &[f32],
    params: &HnswParams,
) -> Result<()> {
    let rows = vectors.len().checked_div(dim).unwrap_or(0);
    let ids: Vec<u64> = (0..rows as u64).collect();
    let options = WriteOptions {
        quantization: Quantization::Int8 { rescore: false },
    };
    zoek_index::write_index(path, dim, Metric::Cosine, params, &ids, vectors, &options)
        .map(|_| ())
        .map_err(|e| QueryError::Index(format!("{}: {e}", path.display())))
}

/// The HNSW graph over the sentence vectors of a large collection.
#[derive(Debug)]
pub(crate) struct SentenceGraph {
    index: HnswIndex,
}

impl SentenceGraph {
    /// Opens (maps) the graph file.
    pub(crate) fn open(path: &Path) -> Result<Self> {
        let index = HnswIndex::open(path).map_err(|e| QueryError::Corrupt {
            path: path.to_path_buf(),
            reason: e.to_string(),
        })?;
        Ok(Self { index })
    }

    /// Ids of the approximate `k` nearest sentences, nearest first.
    pub(crate) fn candidates(&self, q: &[f32], k: usize, ef: usize) -> Result<Vec<u32>> {
        let hits = self
            .index
            .search(q, k, ef.max(k))
            .map_err(|e| QueryError::Index(e.to_string()))?;
        Ok(hits
            .into_iter()
            .filter_map(|n| u32::try_from(n.id).ok())
            .collect())
    }

    /// Like [`SentenceGraph::candidates`], among the sentences `filter` keeps; `zoek-index`
    /// falls back to an exact scan of the kept ones when the filter is selective.
    pub(crate) fn candidates_filtered(
        &self,
        q: &[f32],
        k: usize,
        ef: usize,
        filter: zoek_index::IdFilter<'_>,
    ) -> Result<Vec<u32>> {
        let hits = self
            .index
            .search_filtered(q, k, ef.max(k), filter)
            .map_err(|e| QueryError::Index(e.to_string()))?;
        Ok(hits
            .into_iter()
            .filter_map(|n| u32::try_from(n.id).ok())
            .collect())
    }

    /// Number of vectors in the graph.
    pub(crate) fn len(&self) -> usize {
        self.index.len()
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
