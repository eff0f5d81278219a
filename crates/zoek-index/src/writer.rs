//! Building an index: parameters, input validation, and the hand-off from the graph
//! builder to the serializer.

use std::collections::{HashMap, HashSet};
use std::hash::{Hash, Hasher};
use std::path::Path;
use std::time::Instant;

use crate::builder::{EMPTY, build, draw_levels};
use crate::distance::normalize;
use crate::format::{FLAG_F32, FLAG_SQ8, FORMAT_VERSION, Header, SectionKind};
use crate::quant::Quantizer;
use crate::serializer::{SectionData, write_file};
use crate::{IndexError, Metric};

/// HNSW construction parameters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HnswParams {
    /// Links per node on the upper layers; layer 0 keeps `2 * m`. Must be 2..=256.
    pub m: usize,
    /// Beam width while inserting; higher builds slower and gives better recall.
    pub ef_construction: usize,
    /// Seed for the level draw. Construction runs on the current rayon pool and
    /// inserts in parallel, so the graph is reproducible only with one thread.
    pub seed: u64,
}

impl Default for HnswParams {
    fn default() -> Self {
        HnswParams {
            m: 16,
            ef_construction: 200,
            seed: 0x5eed,
        }
    }
}

/// How vectors are stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Quantization {
    /// f32 vectors only.
    #[default]
    None,
    /// Int8 scalar-quantised codes drive the graph search. With `rescore`, the f32
    /// vectors are stored too and the final candidates are re-ranked exactly (the f32
    /// section is touched only for those); without, the file is about a quarter of the
    /// f32 size and distances are approximate.
    Int8 {
        /// Keep f32 vectors and re-rank the final candidates with them.
        rescore: bool,
    },
}

/// Options for [`write_index`] beyond the graph parameters.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WriteOptions {
    /// Vector storage.
    pub quantization: Quantization,
}

/// What a write produced.
#[derive(Debug, Clone, PartialEq)]
pub struct IndexStats {
    /// Number of vectors (ids).
    pub count: usize,
    /// Number of graph nodes: distinct vectors, since identical vectors share a node.
    pub nodes: usize,
    /// Vector dimension.
    pub dim: usize,
    /// Highest graph level.
    pub max_level: usize,
    /// Size of the file in bytes.
    pub file_bytes: u64,
    /// Seconds spent building the graph.
    pub build_secs: f64,
    /// Seconds spent quantising, writing and syncing.
    pub write_secs: f64,
}

/// Collects vectors, then builds and writes an index with [`IndexWriter::finish`].
#[derive(Debug, Clone)]
pub struct IndexWriter {
    dim: usize,
    metric: Metric,
    params: HnswParams,
    options: WriteOptions,
    ids: Vec<u64>,
    vectors: Vec<f32>,
}

impl IndexWriter {
    /// A writer for `dim`-dimensional vectors.
    pub fn new(
        dim: usize,
        metric: Metric,
        params: HnswParams,
        options: WriteOptions,
    ) -> Result<IndexWriter, IndexError> {
        check_params(dim, &params)?;
        Ok(IndexWriter {
            dim,
            metric,
            params,
            options,
            ids: Vec::new(),
            vectors: Vec::new(),
        })
    }

    /// Adds one vector under `id` (ids must be unique; checked at `finish`).
    pub fn add(&mut self, id: u64, vector: &[f32]) -> Result<(), IndexError> {
        if vector.len() != self.dim {
            return Err(IndexError::DimensionMismatch {
                expected: self.dim,
                found: vector.len(),
            });
        }
        if !vector.iter().all(|x| x.is_finite()) {
            return Err(IndexError::NonFinite {
                index: self.ids.len(),
            });
        }
        self.ids.push(id);
        self.vectors.extend_from_slice(vector);
        Ok(())
    }

    /// Number of vectors added so far.
    pub fn len(&self) -> usize {
        self.ids.len()
    }

    /// Whether no vector was added yet.
    pub fn is_empty(&self) -> bool {
        self.ids.is_empty()
    }

    /// Builds the graph (in parallel on the current rayon pool) and writes the file
    /// atomically to `path`.
    pub fn finish(self, path: &Path) -> Result<IndexStats, IndexError> {
        write_index(
            path,
            self.dim,
            self.metric,
            &self.params,
            &self.ids,
            &self.vectors,
            &self.options,
        )
    }
}

fn check_params(dim: usize, params: &HnswParams) -> Result<(), IndexError> {
    if dim == 0 || dim > u32::MAX as usize / 4 {
        return Err(IndexError::InvalidParameter(format!("dimension {dim}")));
    }
    if !(2..=256).contains(&params.m) {
        return Err(IndexError::InvalidParameter(format!(
            "m = {} (must be 2..=256)",
            params.m
        )));
    }
    if params.ef_construction == 0 || params.ef_construction > 1 << 20 {
        return Err(IndexError::InvalidParameter(format!(
            "ef_construction = {}",
            params.ef_construction
        )));
    }
    Ok(())
}

/// Builds an HNSW graph over `vectors` (`ids.len()` rows of `dim` f32, row-major) and
/// writes it to `path` atomically (temp file, fsync, rename). Any previous file at
/// `path` is replaced only once the new one is complete.
///
/// Construction runs on the current rayon pool; wrap the call in
/// `ThreadPool::install` to choose the number of threads. An empty input writes a
/// valid empty index.
///
/// Identical vectors (bit for bit, after normalisation under cosine) become one graph
/// node that carries all their ids: text collections repeat sentences verbatim, and a
/// cluster of thousands of zero-distance copies otherwise fills its members' link
/// lists with each other and becomes a dead end for the search. A search returns every
/// id of a node it reports, at the same distance.
pub fn write_index(
    path: &Path,
    dim: usize,
    metric: Metric,
    params: &HnswParams,
    ids: &[u64],
    vectors: &[f32],
    options: &WriteOptions,
) -> Result<IndexStats, IndexError> {
    if cfg!(target_endian = "big") {
        return Err(IndexError::UnsupportedPlatform);
    }
    check_params(dim, params)?;
    if vectors.len() != ids.len() * dim {
        return Err(IndexError::InvalidInput(format!(
            "{} ids but {} floats (dimension {dim})",
            ids.len(),
            vectors.len()
        )));
    }
    if ids.len() >= EMPTY as usize {
        return Err(IndexError::InvalidInput(format!(
            "{} vectors is too many",
            ids.len()
        )));
    }
    if let Some(bad) = vectors
        .chunks_exact(dim)
        .position(|v| !v.iter().all(|x| x.is_finite()))
    {
        return Err(IndexError::NonFinite { index: bad });
    }
    let mut seen = HashSet::with_capacity(ids.len());
    if let Some(dup) = ids.iter().find(|id| !seen.insert(**id)) {
        return Err(IndexError::InvalidInput(format!("duplicate id {dup}")));
    }
    drop(seen);

    let start = Instant::now();
    let mut data = vectors.to_vec();
    if metric == Metric::Cosine {
        data.chunks_exact_mut(dim).for_each(normalize);
    }
    let groups = group_identical(&data, dim);
    let (data, ids) = match &groups {
        Some(g) => (g.vectors(&data, dim), g.ids(ids)),
        None => (data, ids.to_vec()),
    };
    let nodes = data.len() / dim;
    let levels = draw_levels(nodes, params.m, params.seed);
    let graph = build(
        &data,
        dim,
        metric,
        params.m,
        params.ef_construction,
        &levels,
    );
    let build_secs = start.elapsed().as_secs_f64();

    let start = Instant::now();
    let (keep_f32, sq8) = match options.quantization {
        Quantization::None => (true, false),
        Quantization::Int8 { rescore } => (rescore, true),
    };
    let mut sq8_parts = None;
    if sq8 {
        let q = Quantizer::fit(&data, dim);
        let mut codes = vec![0u8; data.len()];
        for (row, out) in data.chunks_exact(dim).zip(codes.chunks_exact_mut(dim)) {
            q.encode(row, out);
        }
        let norms: Vec<f32> = codes
            .chunks_exact(dim)
            .map(|c| q.decoded_norm_sq(c))
            .collect();
        let mut params = q.mins;
        params.extend_from_slice(&q.steps);
        sq8_parts = Some((params, norms, codes));
    }

    let mut sections = vec![
        SectionData {
            kind: SectionKind::Ids,
            bytes: bytemuck::cast_slice(&ids),
        },
        SectionData {
            kind: SectionKind::Level0,
            bytes: bytemuck::cast_slice(&graph.level0),
        },
        SectionData {
            kind: SectionKind::UpperOffsets,
            bytes: bytemuck::cast_slice(&graph.upper_offsets),
        },
        SectionData {
            kind: SectionKind::UpperLinks,
            bytes: bytemuck::cast_slice(&graph.upper_links),
        },
    ];
    if let Some(g) = &groups {
        sections.push(SectionData {
            kind: SectionKind::IdGroups,
            bytes: bytemuck::cast_slice(&g.offsets),
        });
    }
    if let Some((params, norms, codes)) = &sq8_parts {
        sections.push(SectionData {
            kind: SectionKind::Sq8Params,
            bytes: bytemuck::cast_slice(params),
        });
        sections.push(SectionData {
            kind: SectionKind::Sq8Norms,
            bytes: bytemuck::cast_slice(norms),
        });
        sections.push(SectionData {
            kind: SectionKind::Sq8Codes,
            bytes: codes,
        });
    }
    // Vectors last: with int8 + rescoring the f32 block is cold and stays at the end.
    if keep_f32 {
        sections.push(SectionData {
            kind: SectionKind::VectorsF32,
            bytes: bytemuck::cast_slice(&data),
        });
    }
    let header = Header {
        flags: if keep_f32 { FLAG_F32 } else { 0 } | if sq8 { FLAG_SQ8 } else { 0 },
        metric,
        dim: dim as u32,
        m: graph.m as u32,
        m0: graph.m0 as u32,
        ef_construction: params.ef_construction as u32,
        max_level: graph.max_level as u32,
        entry_point: graph.entry_point,
        count: ids.len() as u64,
        nodes: nodes as u64,
        version: FORMAT_VERSION,
        file_len: 0,
        sections: Vec::new(),
    };
    let file_bytes = write_file(path, header, &sections)?;
    Ok(IndexStats {
        count: ids.len(),
        nodes,
        dim,
        max_level: graph.max_level,
        file_bytes,
        build_secs,
        write_secs: start.elapsed().as_secs_f64(),
    })
}

/// Rows of the input that share a node, in node order.
struct Groups {
    /// For each node, its first input row (whose vector the node stores).
    first_rows: Vec<usize>,
    /// Input rows, grouped by node; node `i` owns `rows[offsets[i]..offsets[i + 1]]`.
    rows: Vec<usize>,
    /// `nodes + 1` offsets into `rows` (and into the grouped ids).
    offsets: Vec<u32>,
}

impl Groups {
    fn vectors(&self, data: &[f32], dim: usize) -> Vec<f32> {
        let mut out = Vec::with_capacity(self.first_rows.len() * dim);
        for &r in &self.first_rows {
            out.extend_from_slice(&data[r * dim..][..dim]);
        }
        out
    }

    fn ids(&self, ids: &[u64]) -> Vec<u64> {
        self.rows.iter().map(|&r| ids[r]).collect()
    }
}

/// Finds rows with bit-identical vectors. `None` when all rows are distinct (the
/// common case, which keeps the plain one-id-per-node layout). Nodes are numbered in
/// order of their first row, and a node's ids keep input order.
fn group_identical(data: &[f32], dim: usize) -> Option<Groups> {
    let rows = data.len() / dim;
    let row = |r: usize| -> &[u32] { bytemuck::cast_slice(&data[r * dim..][..dim]) };
    // Hash of the bit pattern -> nodes whose first row has that hash.
    let mut by_hash: HashMap<u64, Vec<u32>> = HashMap::with_capacity(rows);
    let mut first_rows: Vec<usize> = Vec::with_capacity(rows);
    let mut node_of = Vec::with_capacity(rows);
    for r in 0..rows {
        let mut h = std::collections::hash_map::DefaultHasher::new();
        row(r).hash(&mut h);
        let bucket = by_hash.entry(h.finish()).or_default();
        let node = match bucket
            .iter()
            .find(|&&n| row(first_rows[n as usize]) == row(r))
        {
            Some(&n) => n,
            None => {
                let n = first_rows.len() as u32;
                first_rows.push(r);
                bucket.push(n);
                n
            }
        };
        node_of.push(node);
    }
    if first_rows.len() == rows {
        return None;
    }
    let mut offsets = vec![0u32; first_rows.len() + 1];
    for &n in &node_of {
        offsets[n as usize + 1] += 1;
    }
    for i in 1..offsets.len() {
        offsets[i] += offsets[i - 1];
    }
    let mut fill: Vec<u32> = offsets[..first_rows.len()].to_vec();
    let mut grouped = vec![0usize; rows];
    for (r, &n) in node_of.iter().enumerate() {
        grouped[fill[n as usize] as usize] = r;
        fill[n as usize] += 1;
    }
    Some(Groups {
        first_rows,
        rows: grouped,
        offsets,
    })
}
