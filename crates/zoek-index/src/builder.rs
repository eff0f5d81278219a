//! Parallel HNSW construction in memory, straight into the on-disk adjacency layout.
//!
//! Levels are drawn up front from the seed, so the CSR layout of the upper layers is
//! known before any insertion and the builder fills fixed-size rows in place. Threads
//! take nodes from a shared counter (insertion order = input order, as hnswlib's
//! `ParallelFor`), each node row has its own lock, and neighbour selection is the
//! heuristic of Malkov & Yashunin (hnswlib's `getNeighborsByHeuristic2`).

use std::sync::Mutex;
use std::sync::atomic::{AtomicU32, AtomicUsize, Ordering::Relaxed};

use crate::Metric;
use crate::distance::Kernels;
use crate::graph_search::{Adjacency, Beam, Cand, Space, greedy, search_layer};
use crate::visited::with_visited;

/// Marks an unused slot in an adjacency row.
pub(crate) const EMPTY: u32 = u32::MAX;

/// A finished graph in the exact shape of the file's sections.
pub(crate) struct Graph {
    pub m: usize,
    pub m0: usize,
    pub max_level: usize,
    /// `u32::MAX` when the graph is empty.
    pub entry_point: u32,
    /// `count` rows of `1 + m0`: length, then slots.
    pub level0: Vec<u32>,
    /// `count + 1` offsets into `upper_links`.
    pub upper_offsets: Vec<u32>,
    /// Rows of `1 + m` per node per level above 0.
    pub upper_links: Vec<u32>,
}

/// Draws each node's level: `floor(-ln(U) / ln(m))`, capped to keep rows addressable.
pub(crate) fn draw_levels(count: usize, m: usize, seed: u64) -> Vec<u8> {
    let ml = 1.0 / (m.max(2) as f64).ln();
    let mut state = seed ^ 0x9E37_79B9_7F4A_7C15;
    (0..count)
        .map(|_| {
            let r = splitmix64(&mut state);
            // 53 random bits in (0, 1].
            let u = ((r >> 11) as f64 + 1.0) / (1u64 << 53) as f64;
            ((-u.ln() * ml).floor() as u64).min(30) as u8
        })
        .collect()
}

/// SplitMix64 step: small, fast, and good enough for level sampling.
pub(crate) fn splitmix64(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

struct Shared<'a> {
    data: &'a [f32],
    dim: usize,
    metric: Metric,
    kernels: Kernels,
    m: usize,
    m0: usize,
    ef_construction: usize,
    levels: &'a [u8],
    locks: Vec<Mutex<()>>,
    level0: Vec<AtomicU32>,
    upper_offsets: Vec<u32>,
    upper_links: Vec<AtomicU32>,
    /// (entry point, max level); held for a whole insertion that raises the max level.
    entry: Mutex<(u32, usize)>,
}

impl Shared<'_> {
    fn vector(&self, node: u32) -> &[f32] {
        &self.data[node as usize * self.dim..][..self.dim]
    }

    fn dist(&self, a: &[f32], node: u32) -> f32 {
        self.kernels.distance(self.metric, a, self.vector(node))
    }

    fn row(&self, level: usize, node: u32) -> &[AtomicU32] {
        if level == 0 {
            &self.level0[node as usize * (self.m0 + 1)..][..self.m0 + 1]
        } else {
            let start = self.upper_offsets[node as usize] as usize + (level - 1) * (self.m + 1);
            &self.upper_links[start..start + self.m + 1]
        }
    }

    fn capacity(&self, level: usize) -> usize {
        if level == 0 { self.m0 } else { self.m }
    }

    fn set_row(&self, row: &[AtomicU32], nodes: &[u32]) {
        row[0].store(nodes.len() as u32, Relaxed);
        for (slot, &n) in row[1..].iter().zip(nodes) {
            slot.store(n, Relaxed);
        }
        for slot in &row[1 + nodes.len()..] {
            slot.store(EMPTY, Relaxed);
        }
    }

    /// Heuristic selection: keep a candidate only if it is closer to the base than to
    /// every candidate kept so far. `cands` must be sorted nearest first.
    fn select(&self, cands: &[Cand], keep: usize, out: &mut Vec<u32>) {
        out.clear();
        if cands.len() <= keep {
            out.extend(cands.iter().map(|c| c.node));
            return;
        }
        for c in cands {
            if out.len() >= keep {
                break;
            }
            let v = self.vector(c.node);
            if out.iter().all(|&s| self.dist(v, s) >= c.dist) {
                out.push(c.node);
            }
        }
    }

    fn insert(&self, q: u32, buf: &mut Vec<u32>, sel: &mut Vec<u32>) {
        let level = self.levels[q as usize] as usize;
        let guard = self.entry.lock().unwrap_or_else(|e| e.into_inner());
        let (ep, max_level) = *guard;
        let guard = if level > max_level {
            Some(guard)
        } else {
            drop(guard);
            None
        };
        let qv = self.vector(q);
        let space = QuerySpace {
            shared: self,
            query: qv,
        };
        let mut cur = Cand {
            dist: space.distance(ep),
            node: ep,
        };
        for l in (level + 1..=max_level).rev() {
            cur = greedy(self, &space, l, cur, buf);
        }
        for l in (0..=level.min(max_level)).rev() {
            let found = with_visited(self.levels.len(), |visited| {
                let beam = Beam {
                    level: l,
                    ef: self.ef_construction,
                    accept: None,
                };
                search_layer(self, &space, cur, beam, visited, buf)
            });
            self.select(&found, self.m, sel);
            self.set_own_row(q, l, sel);
            for &s in sel.iter() {
                self.link(s, q, l);
            }
            if let Some(best) = found.first() {
                cur = *best;
            }
        }
        if let Some(mut g) = guard {
            *g = (q, level);
        }
    }

    /// Sets the new node `q`'s list at `level` to `sel`. Another thread may already have
    /// linked itself into that list (it reached `q` through a higher level); those
    /// links are kept, and the heuristic prunes the union if it overflows.
    fn set_own_row(&self, q: u32, level: usize, sel: &mut Vec<u32>) {
        let cap = self.capacity(level);
        let _own = self.locks[q as usize]
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        let row = self.row(level, q);
        let len = (row[0].load(Relaxed) as usize).min(cap);
        let before = sel.len();
        for slot in &row[1..1 + len] {
            let n = slot.load(Relaxed);
            if !sel.contains(&n) {
                sel.push(n);
            }
        }
        if sel.len() > cap {
            self.set_pruned_row(row, q, sel.iter().copied(), cap);
        } else {
            self.set_row(row, sel);
        }
        // The caller links back only to its own selection.
        sel.truncate(before);
    }

    /// Adds `q` to `s`'s list at `level`, pruning with the heuristic when full.
    fn link(&self, s: u32, q: u32, level: usize) {
        let cap = self.capacity(level);
        let _lock = self.locks[s as usize]
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        let row = self.row(level, s);
        let len = (row[0].load(Relaxed) as usize).min(cap);
        if row[1..1 + len].iter().any(|x| x.load(Relaxed) == q) {
            return;
        }
        if len < cap {
            row[1 + len].store(q, Relaxed);
            row[0].store(len as u32 + 1, Relaxed);
            return;
        }
        let current = row[1..1 + len].iter().map(|x| x.load(Relaxed));
        self.set_pruned_row(row, s, current.chain(std::iter::once(q)), cap);
    }

    /// Sets `base`'s `row` to at most `cap` of `nodes`, chosen by the heuristic from the
    /// nearest to `base` outwards. The caller holds `base`'s lock.
    fn set_pruned_row(
        &self,
        row: &[AtomicU32],
        base: u32,
        nodes: impl Iterator<Item = u32>,
        cap: usize,
    ) {
        let bv = self.vector(base);
        let mut cands: Vec<Cand> = nodes
            .map(|n| Cand {
                dist: self.dist(bv, n),
                node: n,
            })
            .collect();
        cands.sort_unstable();
        let mut kept = Vec::with_capacity(cap);
        self.select(&cands, cap, &mut kept);
        self.set_row(row, &kept);
    }
}

impl Adjacency for Shared<'_> {
    fn neighbours(&self, level: usize, node: u32, buf: &mut Vec<u32>) {
        buf.clear();
        let _lock = self.locks[node as usize]
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        let row = self.row(level, node);
        let len = (row[0].load(Relaxed) as usize).min(row.len() - 1);
        buf.extend(row[1..1 + len].iter().map(|x| x.load(Relaxed)));
    }
}

struct QuerySpace<'a, 'b> {
    shared: &'a Shared<'b>,
    query: &'a [f32],
}

impl Space for QuerySpace<'_, '_> {
    fn distance(&self, node: u32) -> f32 {
        self.shared.dist(self.query, node)
    }

    fn prefetch(&self, node: u32) {
        if let Some(v) = self.shared.data.get(node as usize * self.shared.dim..) {
            crate::distance::prefetch(v);
        }
    }
}

/// Builds the graph over `data` (`levels.len()` rows of `dim`, already normalised for
/// cosine) on the current rayon pool.
pub(crate) fn build(
    data: &[f32],
    dim: usize,
    metric: Metric,
    m: usize,
    ef_construction: usize,
    levels: &[u8],
) -> Graph {
    let count = levels.len();
    let m0 = 2 * m;
    let mut upper_offsets = Vec::with_capacity(count + 1);
    let mut acc = 0u32;
    upper_offsets.push(0);
    for &l in levels {
        acc += l as u32 * (m as u32 + 1);
        upper_offsets.push(acc);
    }
    let mut level0: Vec<AtomicU32> = Vec::with_capacity(count * (m0 + 1));
    level0.resize_with(count * (m0 + 1), || AtomicU32::new(EMPTY));
    for row in level0.chunks_exact(m0 + 1) {
        row[0].store(0, Relaxed);
    }
    let mut upper_links: Vec<AtomicU32> = Vec::with_capacity(acc as usize);
    upper_links.resize_with(acc as usize, || AtomicU32::new(EMPTY));
    for row in upper_links.chunks_exact(m + 1) {
        row[0].store(0, Relaxed);
    }
    let mut locks = Vec::with_capacity(count);
    locks.resize_with(count, || Mutex::new(()));
    let entry = if count == 0 {
        (EMPTY, 0)
    } else {
        (0, levels[0] as usize)
    };
    let shared = Shared {
        data,
        dim,
        metric,
        kernels: Kernels::get(),
        m,
        m0,
        ef_construction: ef_construction.max(m),
        levels,
        locks,
        level0,
        upper_offsets,
        upper_links,
        entry: Mutex::new(entry),
    };

    let next = AtomicUsize::new(1);
    let workers = rayon::current_num_threads().max(1);
    rayon::scope(|scope| {
        for _ in 0..workers {
            scope.spawn(|_| {
                let mut buf = Vec::with_capacity(m0 + 1);
                let mut sel = Vec::with_capacity(m0 + 1);
                loop {
                    let i = next.fetch_add(1, Relaxed);
                    if i >= count {
                        break;
                    }
                    shared.insert(i as u32, &mut buf, &mut sel);
                    if i.is_multiple_of(100_000) {
                        tracing::debug!(inserted = i, of = count, "hnsw build progress");
                    }
                }
            });
        }
    });

    let (entry_point, max_level) = shared.entry.into_inner().unwrap_or_else(|e| e.into_inner());
    Graph {
        m,
        m0,
        max_level,
        entry_point,
        level0: shared
            .level0
            .into_iter()
            .map(AtomicU32::into_inner)
            .collect(),
        upper_offsets: shared.upper_offsets,
        upper_links: shared
            .upper_links
            .into_iter()
            .map(AtomicU32::into_inner)
            .collect(),
    }
}
