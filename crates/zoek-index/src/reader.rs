//! The read side: a memory-mapped view of an index file and the searches over it.
//!
//! `open` maps the file and checks only the header and the section table, so its cost
//! does not depend on the index size. Searches cast section bytes to typed slices
//! (alignment and lengths were checked at open) and bounds-check every link before
//! following it, so a damaged file yields wrong results at worst; `verify` finds the
//! damage.

use std::collections::HashSet;
use std::fs::File;
use std::path::{Path, PathBuf};

use memmap2::Mmap;
use rayon::prelude::*;

use crate::builder::EMPTY;
use crate::distance::{Kernels, normalize};
use crate::exact::TopK;
use crate::format::{FLAG_F32, FLAG_SQ8, HEADER_LEN, Header, SectionKind};
use crate::graph_search::{Adjacency, Beam, Cand, Space, greedy, search_layer};
use crate::quant::Sq8Query;
use crate::visited::with_visited;
use crate::{IndexError, Metric, Neighbor};

/// A filter over external ids: `true` keeps the id.
pub type IdFilter<'a> = &'a (dyn Fn(u64) -> bool + Sync);

/// Below this many nodes a parallel exact scan is not worth the fork.
const PARALLEL_EXACT_MIN: usize = 32_768;
/// Nodes probed to estimate a filter's selectivity.
const SELECTIVITY_SAMPLES: usize = 512;

/// An HNSW index opened from disk. Owns its memory map; `Send + Sync`, so one instance
/// can serve queries from many threads.
///
/// The file must not be modified or truncated while open (the writer never does so:
/// it replaces files by rename).
pub struct HnswIndex {
    mmap: Mmap,
    header: Header,
    path: PathBuf,
    kernels: Kernels,
    dim: usize,
    /// Ids (vectors as written).
    count: usize,
    /// Graph nodes (distinct vectors).
    nodes: usize,
    m: usize,
    m0: usize,
}

struct Sq8View<'a> {
    mins: &'a [f32],
    steps: &'a [f32],
    norms: &'a [f32],
    codes: &'a [u8],
}

/// Typed slices over the mapping, rebuilt per call (a handful of O(1) casts).
struct View<'a> {
    nodes: usize,
    m: usize,
    m0: usize,
    ids: &'a [u64],
    /// `nodes + 1` offsets into `ids`; empty when every node holds exactly one id.
    groups: &'a [u32],
    level0: &'a [u32],
    upper_offsets: &'a [u32],
    upper_links: &'a [u32],
    f32s: Option<&'a [f32]>,
    sq8: Option<Sq8View<'a>>,
}

impl Adjacency for View<'_> {
    #[inline]
    fn prefetch_links(&self, level: usize, node: u32) {
        if level == 0
            && let Some(row) = self.level0.get(node as usize * (self.m0 + 1)..)
        {
            crate::distance::prefetch(row);
        }
    }

    fn neighbours(&self, level: usize, node: u32, buf: &mut Vec<u32>) {
        buf.clear();
        let row = if level == 0 {
            self.level0
                .get(node as usize * (self.m0 + 1)..)
                .and_then(|r| r.get(..self.m0 + 1))
        } else {
            let node = node as usize;
            match (
                self.upper_offsets.get(node),
                self.upper_offsets.get(node + 1),
            ) {
                (Some(&start), Some(&end)) => {
                    let base = start as usize + (level - 1) * (self.m + 1);
                    if base + self.m < end as usize {
                        self.upper_links.get(base..base + self.m + 1)
                    } else {
                        None
                    }
                }
                _ => None,
            }
        };
        if let Some((&len, slots)) = row.and_then(|r| r.split_first()) {
            let len = (len as usize).min(slots.len());
            let nodes = self.nodes;
            buf.extend(
                slots[..len]
                    .iter()
                    .copied()
                    .filter(|&n| (n as usize) < nodes),
            );
        }
    }
}

impl View<'_> {
    /// The ids that share `node`'s vector (empty for a node number out of range or
    /// damaged group offsets).
    #[inline]
    fn ids_of(&self, node: usize) -> &[u64] {
        if self.groups.is_empty() {
            return self.ids.get(node..node + 1).unwrap_or(&[]);
        }
        match (self.groups.get(node), self.groups.get(node + 1)) {
            (Some(&a), Some(&b)) => self.ids.get(a as usize..b as usize).unwrap_or(&[]),
            _ => &[],
        }
    }

    /// Whether any id of `node` passes `filter`.
    #[inline]
    fn node_passes(&self, node: usize, filter: IdFilter<'_>) -> bool {
        self.ids_of(node).iter().any(|&id| filter(id))
    }

    /// Expands nodes (nearest first) into up to `k` neighbours, keeping the ids that
    /// pass `filter`.
    fn expand(
        &self,
        nodes: impl IntoIterator<Item = (f32, usize)>,
        k: usize,
        filter: Option<IdFilter<'_>>,
    ) -> Vec<Neighbor> {
        let mut out = Vec::with_capacity(k);
        for (distance, node) in nodes {
            for &id in self.ids_of(node) {
                if out.len() == k {
                    return out;
                }
                if filter.is_none_or(|f| f(id)) {
                    out.push(Neighbor { id, distance });
                }
            }
        }
        out
    }
}

struct F32Space<'a> {
    vectors: &'a [f32],
    dim: usize,
    query: &'a [f32],
    metric: Metric,
    kernels: Kernels,
}

impl Space for F32Space<'_> {
    #[inline]
    fn distance(&self, node: u32) -> f32 {
        match self
            .vectors
            .get(node as usize * self.dim..)
            .and_then(|v| v.get(..self.dim))
        {
            Some(v) => self.kernels.distance(self.metric, self.query, v),
            None => f32::INFINITY,
        }
    }

    #[inline]
    fn prefetch(&self, node: u32) {
        if let Some(v) = self.vectors.get(node as usize * self.dim..) {
            crate::distance::prefetch(v);
        }
    }
}

struct Sq8Space<'a> {
    view: &'a Sq8View<'a>,
    dim: usize,
    query: &'a Sq8Query,
    kernels: Kernels,
}

impl Space for Sq8Space<'_> {
    #[inline]
    fn distance(&self, node: u32) -> f32 {
        let n = node as usize;
        match (
            self.view
                .codes
                .get(n * self.dim..)
                .and_then(|c| c.get(..self.dim)),
            self.view.norms.get(n),
        ) {
            (Some(c), Some(&norm)) => self.query.distance(&self.kernels, c, norm),
            _ => f32::INFINITY,
        }
    }

    #[inline]
    fn prefetch(&self, node: u32) {
        if let Some(c) = self.view.codes.get(node as usize * self.dim..) {
            crate::distance::prefetch(c);
        }
    }
}

fn expect_len(kind: SectionKind, header: &Header, expected: Option<u64>) -> Result<(), IndexError> {
    let found = header.section(kind).map_or(0, |s| s.length);
    let expected = expected.ok_or_else(|| {
        IndexError::InvalidHeader(format!("size of section {} overflows", kind.name()))
    })?;
    if found != expected {
        return Err(IndexError::SectionLength {
            section: kind.name(),
            expected,
            found,
        });
    }
    Ok(())
}

impl HnswIndex {
    /// Opens an index. Reads the header and section table only (O(1)); the vectors and
    /// the graph are paged in by the searches that touch them.
    pub fn open(path: &Path) -> Result<HnswIndex, IndexError> {
        if cfg!(target_endian = "big") {
            return Err(IndexError::UnsupportedPlatform);
        }
        let file = File::open(path).map_err(|e| IndexError::io(path, e))?;
        let len = file.metadata().map_err(|e| IndexError::io(path, e))?.len();
        if len == 0 {
            return Err(IndexError::Truncated {
                expected: HEADER_LEN as u64,
                actual: 0,
            });
        }
        // SAFETY: the mapping is read-only and private to this value. Mutating or
        // truncating a mapped file from elsewhere is outside this crate's contract
        // (documented on the type): index files are written once and replaced by
        // rename, which leaves existing mappings on the old inode.
        let mmap = unsafe { Mmap::map(&file) }.map_err(|e| IndexError::io(path, e))?;
        #[cfg(unix)]
        if let Err(e) = mmap.advise(memmap2::Advice::Random) {
            tracing::debug!(error = %e, "madvise(RANDOM) failed");
        }
        let header = Header::decode(&mmap, len)?;
        let index = HnswIndex::from_parts(mmap, header, path)?;
        tracing::debug!(
            path = %path.display(),
            count = index.count,
            dim = index.dim,
            kernels = index.kernels.name,
            "opened index"
        );
        Ok(index)
    }

    fn from_parts(mmap: Mmap, header: Header, path: &Path) -> Result<HnswIndex, IndexError> {
        let dim = header.dim as usize;
        let count = usize::try_from(header.count)
            .ok()
            .filter(|&c| c < EMPTY as usize)
            .ok_or_else(|| IndexError::InvalidHeader(format!("count {}", header.count)))?;
        let nodes = usize::try_from(header.nodes)
            .ok()
            .filter(|&n| n <= count && (n == 0) == (count == 0))
            .ok_or_else(|| {
                IndexError::InvalidHeader(format!("{} nodes for {count} ids", header.nodes))
            })?;
        let (m, m0) = (header.m as usize, header.m0 as usize);
        if dim == 0 {
            return Err(IndexError::InvalidHeader("dimension 0".into()));
        }
        if !(2..=256).contains(&m) || !(1..=512).contains(&m0) {
            return Err(IndexError::InvalidHeader(format!("m = {m}, m0 = {m0}")));
        }
        if header.max_level > 64 {
            return Err(IndexError::InvalidHeader(format!(
                "max level {}",
                header.max_level
            )));
        }
        let ep_ok = if nodes == 0 {
            header.entry_point == EMPTY
        } else {
            (header.entry_point as usize) < nodes
        };
        if !ep_ok {
            return Err(IndexError::InvalidHeader(format!(
                "entry point {} with {nodes} nodes",
                header.entry_point
            )));
        }
        let known = FLAG_F32 | FLAG_SQ8;
        if header.flags & !known != 0 || header.flags & known == 0 {
            return Err(IndexError::InvalidHeader(format!(
                "flags {:#x}",
                header.flags
            )));
        }
        let (c, d) = (nodes as u64, dim as u64);
        expect_len(SectionKind::Ids, &header, (count as u64).checked_mul(8))?;
        if nodes == count {
            if header.section(SectionKind::IdGroups).is_some() {
                return Err(IndexError::BadSectionTable(
                    "id groups present but every node holds one id".into(),
                ));
            }
        } else {
            expect_len(SectionKind::IdGroups, &header, Some((c + 1) * 4))?;
        }
        expect_len(
            SectionKind::Level0,
            &header,
            c.checked_mul(m0 as u64 + 1).and_then(|x| x.checked_mul(4)),
        )?;
        expect_len(SectionKind::UpperOffsets, &header, Some((c + 1) * 4))?;
        let links = header
            .section(SectionKind::UpperLinks)
            .map_or(0, |s| s.length);
        if header.section(SectionKind::UpperLinks).is_none()
            || !links.is_multiple_of(4 * (m as u64 + 1))
        {
            return Err(IndexError::SectionLength {
                section: SectionKind::UpperLinks.name(),
                expected: links.next_multiple_of(4 * (m as u64 + 1)),
                found: links,
            });
        }
        let vec_bytes = c.checked_mul(d);
        let present = |k| header.section(k).is_some();
        if header.flags & FLAG_F32 != 0 {
            expect_len(
                SectionKind::VectorsF32,
                &header,
                vec_bytes.and_then(|x| x.checked_mul(4)),
            )?;
        } else if present(SectionKind::VectorsF32) {
            return Err(IndexError::BadSectionTable(
                "f32 vectors present but not flagged".into(),
            ));
        }
        if header.flags & FLAG_SQ8 != 0 {
            expect_len(SectionKind::Sq8Params, &header, Some(d * 8))?;
            expect_len(SectionKind::Sq8Norms, &header, Some(c * 4))?;
            expect_len(SectionKind::Sq8Codes, &header, vec_bytes)?;
        } else if present(SectionKind::Sq8Params)
            || present(SectionKind::Sq8Norms)
            || present(SectionKind::Sq8Codes)
        {
            return Err(IndexError::BadSectionTable(
                "int8 sections present but not flagged".into(),
            ));
        }
        let index = HnswIndex {
            mmap,
            header,
            path: path.to_path_buf(),
            kernels: Kernels::get(),
            dim,
            count,
            nodes,
            m,
            m0,
        };
        // Offsets are 64-byte aligned and the map is page-aligned, so these casts hold;
        // checking once here lets `view` rely on them.
        for s in &index.header.sections {
            let bytes = index.bytes(s.kind);
            let ok = match s.kind {
                SectionKind::Ids => bytemuck::try_cast_slice::<u8, u64>(bytes).is_ok(),
                SectionKind::Sq8Codes => true,
                _ => bytemuck::try_cast_slice::<u8, u32>(bytes).is_ok(),
            };
            if !ok {
                return Err(IndexError::Misaligned {
                    section: s.kind.name(),
                    offset: s.offset,
                });
            }
        }
        Ok(index)
    }

    fn bytes(&self, kind: SectionKind) -> &[u8] {
        self.header
            .section(kind)
            .and_then(|s| {
                let start = usize::try_from(s.offset).ok()?;
                let end = start.checked_add(usize::try_from(s.length).ok()?)?;
                self.mmap.get(start..end)
            })
            .unwrap_or(&[])
    }

    fn typed<T: bytemuck::AnyBitPattern>(&self, kind: SectionKind) -> &[T] {
        bytemuck::try_cast_slice(self.bytes(kind)).unwrap_or(&[])
    }

    fn view(&self) -> View<'_> {
        let f32s = (self.header.flags & FLAG_F32 != 0).then(|| self.typed(SectionKind::VectorsF32));
        let sq8 = (self.header.flags & FLAG_SQ8 != 0).then(|| {
            let params: &[f32] = self.typed(SectionKind::Sq8Params);
            let (mins, steps) = params.split_at(params.len() / 2);
            Sq8View {
                mins,
                steps,
                norms: self.typed(SectionKind::Sq8Norms),
                codes: self.bytes(SectionKind::Sq8Codes),
            }
        });
        View {
            nodes: self.nodes,
            m: self.m,
            m0: self.m0,
            ids: self.typed(SectionKind::Ids),
            groups: self.typed(SectionKind::IdGroups),
            level0: self.typed(SectionKind::Level0),
            upper_offsets: self.typed(SectionKind::UpperOffsets),
            upper_links: self.typed(SectionKind::UpperLinks),
            f32s,
            sq8,
        }
    }

    /// Number of vectors (ids).
    pub fn len(&self) -> usize {
        self.count
    }

    /// Number of graph nodes: distinct vectors (identical vectors share a node).
    pub fn node_count(&self) -> usize {
        self.nodes
    }

    /// Format version of the file.
    pub fn format_version(&self) -> u32 {
        self.header.version
    }

    /// Whether the index holds no vectors.
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// Vector dimension.
    pub fn dim(&self) -> usize {
        self.dim
    }

    /// Distance metric.
    pub fn metric(&self) -> Metric {
        self.header.metric
    }

    /// Upper-layer degree M the index was built with (layer 0 has `2 * m`).
    pub fn m(&self) -> usize {
        self.m
    }

    /// ef_construction the index was built with.
    pub fn ef_construction(&self) -> usize {
        self.header.ef_construction as usize
    }

    /// Highest graph level.
    pub fn max_level(&self) -> usize {
        self.header.max_level as usize
    }

    /// Whether the graph is searched over int8 codes.
    pub fn is_quantized(&self) -> bool {
        self.header.flags & FLAG_SQ8 != 0
    }

    /// Whether f32 vectors are stored (exact distances available).
    pub fn has_f32(&self) -> bool {
        self.header.flags & FLAG_F32 != 0
    }

    /// Size of the file in bytes.
    pub fn file_len(&self) -> u64 {
        self.header.file_len
    }

    /// The path the index was opened from.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn prepare_query(&self, query: &[f32]) -> Result<Vec<f32>, IndexError> {
        if query.len() != self.dim {
            return Err(IndexError::DimensionMismatch {
                expected: self.dim,
                found: query.len(),
            });
        }
        if !query.iter().all(|x| x.is_finite()) {
            return Err(IndexError::NonFinite { index: 0 });
        }
        let mut q = query.to_vec();
        if self.header.metric == Metric::Cosine {
            normalize(&mut q);
        }
        Ok(q)
    }

    /// Approximate k nearest neighbours, nearest first. `ef` is the search beam
    /// (raised to `k` if smaller); higher is slower and more accurate.
    pub fn search(&self, query: &[f32], k: usize, ef: usize) -> Result<Vec<Neighbor>, IndexError> {
        let q = self.prepare_query(query)?;
        Ok(self.graph_search(&q, k, ef, None))
    }

    /// Like [`HnswIndex::search`], returning only ids for which `filter` is true.
    ///
    /// The filter's selectivity is estimated on a fixed sample of nodes; when few ids
    /// pass, an exact scan of the passing ids is cheaper than a graph walk that must
    /// skip most nodes, and is used instead. If the walk finds fewer than `k` hits the
    /// exact scan is run as well, so a filter that passes at least `k` ids always
    /// yields `k` results.
    pub fn search_filtered(
        &self,
        query: &[f32],
        k: usize,
        ef: usize,
        filter: IdFilter<'_>,
    ) -> Result<Vec<Neighbor>, IndexError> {
        let q = self.prepare_query(query)?;
        if self.count == 0 || k == 0 {
            return Ok(Vec::new());
        }
        let view = self.view();
        if self.prefer_exact(&view, ef.max(k), filter) {
            return Ok(self.exact_scan(&view, &q, k, Some(filter)));
        }
        let hits = self.graph_search(&q, k, ef, Some(filter));
        if hits.len() < k {
            return Ok(self.exact_scan(&view, &q, k, Some(filter)));
        }
        Ok(hits)
    }

    /// Decides between a filtered graph walk and an exact scan from a sample.
    ///
    /// Cost model in distance evaluations: the walk expands about `ef / p` nodes of
    /// `m0` links each; the scan evaluates `p * n` distances plus `n` cheap filter
    /// calls (counted as 1/32 of a distance).
    fn prefer_exact(&self, view: &View<'_>, ef: usize, filter: IdFilter<'_>) -> bool {
        let n = self.nodes;
        let samples = n.min(SELECTIVITY_SAMPLES);
        let passed = (0..samples)
            .filter(|i| {
                let node = (i * n) / samples + (i * 7919) % (n / samples).max(1);
                view.node_passes(node.min(n - 1), filter)
            })
            .count();
        if passed == 0 {
            return true;
        }
        let p = passed as f64 / samples as f64;
        let walk = ef as f64 * self.m0 as f64 / p;
        let scan = p * n as f64 + n as f64 / 32.0;
        scan <= walk
    }

    fn graph_search(
        &self,
        q: &[f32],
        k: usize,
        ef: usize,
        filter: Option<IdFilter<'_>>,
    ) -> Vec<Neighbor> {
        if self.nodes == 0 || k == 0 {
            return Vec::new();
        }
        let view = self.view();
        let ef = ef.max(k);
        let accept_node = |node: u32| filter.is_none_or(|f| view.node_passes(node as usize, f));
        let accept: Option<&dyn Fn(u32) -> bool> = filter.map(|_| &accept_node as _);
        let found = match (&view.sq8, view.f32s) {
            (Some(sq8), f32s) => {
                let sq = Sq8Query::new(q, sq8.mins, sq8.steps, self.header.metric);
                let space = Sq8Space {
                    view: sq8,
                    dim: self.dim,
                    query: &sq,
                    kernels: self.kernels,
                };
                let mut found = self.walk(&view, &space, ef, accept);
                if let Some(vectors) = f32s {
                    let exact = self.f32_space(vectors, q);
                    found
                        .iter_mut()
                        .for_each(|c| c.dist = exact.distance(c.node));
                    found.sort_unstable();
                }
                found
            }
            (None, Some(vectors)) => self.walk(&view, &self.f32_space(vectors, q), ef, accept),
            (None, None) => Vec::new(),
        };
        view.expand(
            found.into_iter().map(|c| (c.dist, c.node as usize)),
            k,
            filter,
        )
    }

    fn f32_space<'a>(&self, vectors: &'a [f32], q: &'a [f32]) -> F32Space<'a> {
        F32Space {
            vectors,
            dim: self.dim,
            query: q,
            metric: self.header.metric,
            kernels: self.kernels,
        }
    }

    fn walk<S: Space>(
        &self,
        view: &View<'_>,
        space: &S,
        ef: usize,
        accept: Option<&dyn Fn(u32) -> bool>,
    ) -> Vec<Cand> {
        let ep = self.header.entry_point;
        if ep as usize >= self.nodes {
            return Vec::new();
        }
        let mut buf = Vec::with_capacity(self.m0.max(self.m) + 1);
        let mut cur = Cand {
            dist: space.distance(ep),
            node: ep,
        };
        for level in (1..=self.header.max_level as usize).rev() {
            cur = greedy(view, space, level, cur, &mut buf);
        }
        with_visited(self.nodes, |visited| {
            search_layer(
                view,
                space,
                cur,
                Beam {
                    level: 0,
                    ef,
                    accept,
                },
                visited,
                &mut buf,
            )
        })
    }

    /// Exact k nearest neighbours among the ids `filter` keeps (all ids without one),
    /// by scanning every vector: f32 when stored, otherwise the int8 codes.
    pub fn exact_search(
        &self,
        query: &[f32],
        k: usize,
        filter: Option<IdFilter<'_>>,
    ) -> Result<Vec<Neighbor>, IndexError> {
        let q = self.prepare_query(query)?;
        Ok(self.exact_scan(&self.view(), &q, k, filter))
    }

    fn exact_scan(
        &self,
        view: &View<'_>,
        q: &[f32],
        k: usize,
        filter: Option<IdFilter<'_>>,
    ) -> Vec<Neighbor> {
        if k == 0 || self.nodes == 0 {
            return Vec::new();
        }
        let sq = view
            .sq8
            .as_ref()
            .map(|s| Sq8Query::new(q, s.mins, s.steps, self.header.metric));
        let scan = |range: std::ops::Range<usize>| {
            let mut top = TopK::new(k);
            for node in range {
                if let Some(f) = filter
                    && !view.node_passes(node, f)
                {
                    continue;
                }
                let d = match (view.f32s, &view.sq8, &sq) {
                    (Some(v), _, _) => self.f32_space(v, q).distance(node as u32),
                    (None, Some(s8), Some(sq)) => Sq8Space {
                        view: s8,
                        dim: self.dim,
                        query: sq,
                        kernels: self.kernels,
                    }
                    .distance(node as u32),
                    _ => f32::INFINITY,
                };
                top.push(d, node);
            }
            top
        };
        // Each passing node yields at least one id, so the k nearest nodes hold the
        // k nearest ids.
        let top = if self.nodes >= PARALLEL_EXACT_MIN {
            let chunk = PARALLEL_EXACT_MIN / 2;
            (0..self.nodes.div_ceil(chunk))
                .into_par_iter()
                .map(|c| scan(c * chunk..((c + 1) * chunk).min(self.nodes)))
                .reduce(
                    || TopK::new(k),
                    |mut a, b| {
                        a.merge(b);
                        a
                    },
                )
        } else {
            scan(0..self.nodes)
        };
        view.expand(
            top.into_sorted().into_iter().filter(|(d, _)| d.is_finite()),
            k,
            filter,
        )
    }

    /// Checks every section checksum and every graph invariant: link ranges and row
    /// lengths, upper-layer offsets and levels, the entry point's level, unique ids.
    /// Reads the whole file.
    pub fn verify(&self) -> Result<(), IndexError> {
        for s in &self.header.sections {
            let computed = crc32fast::hash(self.bytes(s.kind));
            if computed != s.crc32 {
                return Err(IndexError::ChecksumMismatch {
                    section: s.kind.name(),
                    stored: s.crc32,
                    computed,
                });
            }
        }
        let view = self.view();
        let count = self.nodes as u64;
        if !view.groups.is_empty() {
            let g = view.groups;
            if g.first() != Some(&0)
                || g.last().map(|&x| x as usize) != Some(self.count)
                || g.windows(2).any(|w| w[1] <= w[0])
            {
                return Err(IndexError::InvalidGraph(
                    "id groups are not increasing from 0 to the id count".into(),
                ));
            }
        }
        let check_row = |row: &[u32], cap: usize, node: usize, level: usize| {
            let (&len, slots) = row.split_first().unwrap_or((&0, &[]));
            if len as usize > cap {
                return Err(IndexError::InvalidGraph(format!(
                    "node {node} level {level} has {len} links, capacity {cap}"
                )));
            }
            for &n in &slots[..len as usize] {
                if n as u64 >= count {
                    return Err(IndexError::NeighbourOutOfRange {
                        node: node as u64,
                        level,
                        neighbour: n as u64,
                        count,
                    });
                }
                if n as usize == node {
                    return Err(IndexError::InvalidGraph(format!(
                        "node {node} links to itself at level {level}"
                    )));
                }
            }
            Ok(())
        };
        for (node, row) in view.level0.chunks_exact(self.m0 + 1).enumerate() {
            check_row(row, self.m0, node, 0)?;
        }
        let offs = view.upper_offsets;
        if offs.first() != Some(&0)
            || offs.last().map(|&x| x as usize) != Some(view.upper_links.len())
        {
            return Err(IndexError::InvalidGraph(
                "upper offsets do not span the links".into(),
            ));
        }
        let stride = self.m + 1;
        let level_of = |node: usize| -> Result<usize, IndexError> {
            let (a, b) = (offs[node] as usize, offs[node + 1] as usize);
            if b < a || b > view.upper_links.len() || (b - a) % stride != 0 {
                return Err(IndexError::InvalidGraph(format!(
                    "bad upper offsets at node {node}"
                )));
            }
            Ok((b - a) / stride)
        };
        let mut top_level = 0;
        for (node, &base) in offs.iter().take(self.nodes).enumerate() {
            let level = level_of(node)?;
            top_level = top_level.max(level);
            let base = base as usize;
            for l in 1..=level {
                let row = &view.upper_links[base + (l - 1) * stride..][..stride];
                check_row(row, self.m, node, l)?;
                for &n in &row[1..1 + row[0] as usize] {
                    if level_of(n as usize)? < l {
                        return Err(IndexError::InvalidGraph(format!(
                            "node {node} links at level {l} to {n}, which is not on that level"
                        )));
                    }
                }
            }
        }
        if self.nodes > 0 {
            let ep_level = level_of(self.header.entry_point as usize)?;
            if ep_level != self.header.max_level as usize || top_level != ep_level {
                return Err(IndexError::InvalidGraph(format!(
                    "entry point level {ep_level}, header max level {}, highest node level {top_level}",
                    self.header.max_level
                )));
            }
        }
        let mut seen = HashSet::with_capacity(self.count);
        if let Some(dup) = view.ids.iter().find(|id| !seen.insert(**id)) {
            return Err(IndexError::InvalidGraph(format!("duplicate id {dup}")));
        }
        if let Some(s) = &view.sq8
            && !s
                .mins
                .iter()
                .chain(s.steps)
                .chain(s.norms)
                .all(|x| x.is_finite())
        {
            return Err(IndexError::InvalidGraph(
                "non-finite quantiser parameters".into(),
            ));
        }
        Ok(())
    }
}

impl std::fmt::Debug for HnswIndex {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HnswIndex")
            .field("path", &self.path)
            .field("count", &self.count)
            .field("nodes", &self.nodes)
            .field("dim", &self.dim)
            .field("metric", &self.header.metric)
            .field("m", &self.m)
            .field("quantized", &self.is_quantized())
            .finish()
    }
}
