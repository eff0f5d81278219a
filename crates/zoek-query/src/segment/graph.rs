//! A segment's HNSW graph over its sentence vectors, through `zoek-index`.

use std::path::Path;

use zoek_index::{HnswIndex, HnswParams, Metric, Quantization, WriteOptions};

use crate::error::{QueryError, Result};

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
    zoek_index::write_index(path, dim, Metric::Cosine, params, &ids, vectors, &options)?;
    Ok(())
}

/// The HNSW graph over the sentence vectors of a large collection.
#[derive(Debug)]
pub(crate) struct SentenceGraph {
    path: std::path::PathBuf,
    index: HnswIndex,
}

impl SentenceGraph {
    /// Opens (maps) the graph file.
    pub(crate) fn open(path: &Path) -> Result<Self> {
        let index = HnswIndex::open(path).map_err(|e| QueryError::corrupt(path, e.to_string()))?;
        Ok(Self {
            path: path.to_path_buf(),
            index,
        })
    }

    /// Ids of the approximate `k` nearest sentences, nearest first.
    pub(crate) fn candidates(&self, q: &[f32], k: usize, ef: usize) -> Result<Vec<u32>> {
        Ok(ids(self.index.search(q, k, ef.max(k))?))
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
        Ok(ids(self.index.search_filtered(q, k, ef.max(k), filter)?))
    }

    /// Checks every section checksum and graph invariant of the file.
    pub(crate) fn verify(&self) -> Result<()> {
        self.index
            .verify()
            .map_err(|e| QueryError::corrupt(&self.path, e.to_string()))
    }

    /// Number of vectors in the graph.
    pub(crate) fn len(&self) -> usize {
        self.index.len()
    }
}

/// Sentence ids of graph hits (every id the graph holds is a `u32` sentence number).
fn ids(hits: Vec<zoek_index::Neighbor>) -> Vec<u32> {
    hits.into_iter()
        .filter_map(|n| u32::try_from(n.id).ok())
        .collect()
}
