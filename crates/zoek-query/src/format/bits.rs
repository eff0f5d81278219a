//! A fixed-size bit set: the live (or allowed) passages of one segment.

/// A set of passage ids as bits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Bits {
    words: Vec<u64>,
    len: usize,
}

impl Bits {
    /// `len` bits, all set to `value`.
    pub fn new(len: usize, value: bool) -> Self {
        let fill = if value { u64::MAX } else { 0 };
        Self {
            words: vec![fill; len.div_ceil(64)],
            len,
        }
    }

    /// Bit `i` (false out of range).
    pub fn get(&self, i: u64) -> bool {
        (i as usize) < self.len && self.words[(i / 64) as usize] >> (i % 64) & 1 == 1
    }

    /// Sets bit `i` to `value` (ignored out of range).
    pub fn set(&mut self, i: u64, value: bool) {
        if (i as usize) < self.len {
            let w = &mut self.words[(i / 64) as usize];
            if value {
                *w |= 1 << (i % 64);
            } else {
                *w &= !(1 << (i % 64));
            }
        }
    }

    /// Keeps the bits set in both.
    pub fn and(&mut self, other: &Bits) {
        for (a, b) in self.words.iter_mut().zip(&other.words) {
            *a &= b;
        }
    }

    /// Number of set bits.
    pub fn count(&self) -> usize {
        (0..self.len).filter(|&i| self.get(i as u64)).count()
    }
}
