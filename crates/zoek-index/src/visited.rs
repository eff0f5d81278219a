//! Per-thread reusable visited sets.
//!
//! A search marks nodes with the current generation number instead of clearing a bit
//! set, so starting a search costs O(1) except when the counter wraps.

use std::cell::RefCell;

/// Generation-stamped membership set over node numbers `0..len`. Marks are u16 (as in
/// hnswlib) to halve the cache footprint; the array is cleared every 65,535 searches.
pub(crate) struct VisitedSet {
    marks: Vec<u16>,
    generation: u16,
}

impl VisitedSet {
    fn new() -> VisitedSet {
        VisitedSet {
            marks: Vec::new(),
            generation: 0,
        }
    }

    /// Empties the set and makes room for nodes `0..len`.
    fn reset(&mut self, len: usize) {
        if self.marks.len() < len {
            self.marks.resize(len, 0);
        }
        self.generation = self.generation.wrapping_add(1);
        if self.generation == 0 {
            self.marks.iter_mut().for_each(|m| *m = 0);
            self.generation = 1;
        }
    }

    /// Marks `node`; returns true when it was not marked yet. Out-of-range nodes read as
    /// already visited, so a caller never follows them.
    #[inline]
    pub fn insert(&mut self, node: u32) -> bool {
        match self.marks.get_mut(node as usize) {
            Some(m) if *m != self.generation => {
                *m = self.generation;
                true
            }
            _ => false,
        }
    }
}

thread_local! {
    static POOL: RefCell<VisitedSet> = RefCell::new(VisitedSet::new());
}

/// Runs `f` with this thread's visited set, emptied and sized for `len` nodes. A nested
/// call (a filter that itself searches) gets a fresh set instead of the busy one.
pub(crate) fn with_visited<R>(len: usize, f: impl FnOnce(&mut VisitedSet) -> R) -> R {
    let mut f = Some(f);
    let pooled = POOL.with(|cell| {
        cell.try_borrow_mut().ok().map(|mut set| {
            set.reset(len);
            (f.take().expect("closure still present"))(&mut set)
        })
    });
    match pooled {
        Some(r) => r,
        None => {
            let mut set = VisitedSet::new();
            set.reset(len);
            (f.take().expect("closure not used by the pooled path"))(&mut set)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generations_separate_searches_and_nesting_works() {
        with_visited(10, |v| {
            assert!(v.insert(3));
            assert!(!v.insert(3));
            assert!(!v.insert(10), "out of range reads as visited");
            with_visited(5, |inner| assert!(inner.insert(3)));
        });
        with_visited(10, |v| assert!(v.insert(3)));
    }
}
