//! The HNSW layer search, shared by the builder (locked in-memory lists) and the reader
//! (memory-mapped lists).

use std::cmp::{Ordering, Reverse};
use std::collections::BinaryHeap;

use crate::visited::VisitedSet;

/// A node number and its distance to the query.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Cand {
    pub dist: f32,
    pub node: u32,
}

impl Eq for Cand {}

impl PartialOrd for Cand {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Cand {
    fn cmp(&self, other: &Self) -> Ordering {
        self.dist
            .total_cmp(&other.dist)
            .then(self.node.cmp(&other.node))
    }
}

/// Adjacency access. Implementations must only return node numbers below `len()`.
pub(crate) trait Adjacency {
    /// Replaces `buf` with the neighbours of `node` at `level`.
    fn neighbours(&self, level: usize, node: u32, buf: &mut Vec<u32>);
    /// Hint that `node`'s adjacency at `level` will be read soon.
    fn prefetch_links(&self, _level: usize, _node: u32) {}
}

/// Distances from one fixed query to nodes.
pub(crate) trait Space {
    /// Distance from the query to `node` (which is below the node count).
    fn distance(&self, node: u32) -> f32;
    /// Hint that `node`'s vector will be read soon.
    fn prefetch(&self, _node: u32) {}
}

/// Greedy descent at one level with a beam of one: returns the local minimum reached
/// from `start`.
pub(crate) fn greedy<G: Adjacency, S: Space>(
    graph: &G,
    space: &S,
    level: usize,
    mut start: Cand,
    buf: &mut Vec<u32>,
) -> Cand {
    let mut changed = true;
    while changed {
        changed = false;
        graph.neighbours(level, start.node, buf);
        for &n in buf.iter() {
            let d = space.distance(n);
            if d < start.dist {
                start = Cand { dist: d, node: n };
                changed = true;
            }
        }
    }
    start
}

/// What one layer search looks for.
pub(crate) struct Beam<'f> {
    /// Graph level to search.
    pub level: usize,
    /// Beam width (result list length).
    pub ef: usize,
    /// Result filter over node numbers; `None` accepts all.
    pub accept: Option<&'f dyn Fn(u32) -> bool>,
}

/// Beam search at one level; returns up to `ef` accepted nodes, nearest first.
///
/// With `accept`, rejected nodes are still expanded (they keep the graph connected)
/// but never enter the result list, as in hnswlib's filtered search.
pub(crate) fn search_layer<G: Adjacency, S: Space>(
    graph: &G,
    space: &S,
    entry: Cand,
    beam: Beam<'_>,
    visited: &mut VisitedSet,
    buf: &mut Vec<u32>,
) -> Vec<Cand> {
    let Beam { level, ef, accept } = beam;
    let ef = ef.max(1);
    let mut top: BinaryHeap<Cand> = BinaryHeap::with_capacity(ef + 1);
    let mut frontier: BinaryHeap<Reverse<Cand>> = BinaryHeap::with_capacity(ef * 2);
    visited.insert(entry.node);
    if accept.is_none_or(|f| f(entry.node)) {
        top.push(entry);
    }
    frontier.push(Reverse(entry));
    let mut bound = top.peek().map_or(f32::INFINITY, |c| c.dist);

    while let Some(Reverse(cur)) = frontier.pop() {
        if cur.dist > bound && (top.len() >= ef || accept.is_none()) {
            break;
        }
        graph.neighbours(level, cur.node, buf);
        // Mark and prefetch all fresh neighbours first, so that their vectors load in
        // parallel while the distances are computed.
        buf.retain(|&n| visited.insert(n));
        for &n in buf.iter() {
            space.prefetch(n);
        }
        for &n in buf.iter() {
            let d = space.distance(n);
            if top.len() < ef || d < bound {
                frontier.push(Reverse(Cand { dist: d, node: n }));
                if accept.is_none_or(|f| f(n)) {
                    top.push(Cand { dist: d, node: n });
                    if top.len() > ef {
                        top.pop();
                    }
                }
                bound = if top.len() < ef && accept.is_some() {
                    f32::INFINITY
                } else {
                    top.peek().map_or(f32::INFINITY, |c| c.dist)
                };
            }
        }
        if let Some(Reverse(next)) = frontier.peek() {
            graph.prefetch_links(level, next.node);
        }
    }
    top.into_sorted_vec()
}
