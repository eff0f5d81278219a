//! The repacked weight layout the backends read.
//!
//! Rows are grouped into panels of [`PANEL`]; within a panel, block `b` is stored as 8
//! groups of 64 bytes, group `g` holding for each of the 16 rows (in order) the four codes
//! of columns `32 b + 4 g .. 32 b + 4 g + 4`, one unsigned byte each. A 64-byte load is then
//! exactly one `vpdpbusd` operand against a broadcast activation word. Rows past the end of
//! the matrix in the last panel are zero codes with zero scale.
//!
//! Both weight formats store unsigned codes with a zero point, so the value of a code `c` is
//! `(c - zero) * d`: Q4_0 keeps its 4-bit codes (0..=15, zero 8); Q8_0 stores its signed
//! codes plus 128 (1..=255, zero 128). The zero point is folded into one integer offset per
//! activation block (`-zero * sum(q_a)`), so the VNNI inner loops are the same for both.
//!
//! Codes and scales start a 64-byte cache line ([`Aligned`]), and so does every (panel,
//! block) of them (512 bytes of codes, 64 of scales): no vector load of a block straddles two
//! lines. In a plain `Vec` they sat wherever the allocator put them (glibc hands out its
//! large, mmap'd chunks 16 bytes past a page), so every second 32-byte load of the AVX2
//! tiles could be a line split.

use super::{BLOCK, BLOCK_BYTES, PANEL};
use half::f16;

/// Bytes per (panel, block): 16 rows x 32 codes.
pub(super) const PANEL_BLOCK_BYTES: usize = PANEL * BLOCK;

#[derive(Clone)]
pub(super) struct Packed {
    pub rows: usize,
    pub cols: usize,
    /// `panels * blocks * PANEL_BLOCK_BYTES` codes, see the module docs.
    pub codes: Aligned<u8>,
    /// `panels * blocks * PANEL` scales: `(panel * blocks + b) * PANEL + row_in_panel`.
    pub scales: Aligned<f32>,
    /// The code that means 0: 8 for Q4_0, 128 for Q8_0.
    pub zero: i32,
}

/// The zero point of Q4_0 codes.
pub(super) const Q4_ZERO: i32 = 8;
/// The zero point of Q8_0 codes as stored (signed code + 128).
pub(super) const Q8_ZERO: i32 = 128;

impl Packed {
    /// Repacks Q4_0 blocks; the caller has checked `bytes.len()` against the shape.
    pub fn from_q4_0(bytes: &[u8], rows: usize, cols: usize) -> Self {
        let nb = cols / BLOCK;
        let panels = rows.div_ceil(PANEL);
        let mut codes = Aligned::filled(panels * nb * PANEL_BLOCK_BYTES, 0u8);
        let mut scales = Aligned::filled(panels * nb * PANEL, 0f32);
        for r in 0..rows {
            let (p, i) = (r / PANEL, r % PANEL);
            for b in 0..nb {
                let blk = &bytes[(r * nb + b) * BLOCK_BYTES..][..BLOCK_BYTES];
                scales[(p * nb + b) * PANEL + i] = f16::from_le_bytes([blk[0], blk[1]]).to_f32();
                let base = (p * nb + b) * PANEL_BLOCK_BYTES;
                for j in 0..BLOCK {
                    let byte = blk[2 + j % 16];
                    let q = if j < 16 { byte & 0x0f } else { byte >> 4 };
                    codes[base + (j / 4) * (PANEL * 4) + i * 4 + j % 4] = q;
                }
            }
        }
        Self {
            rows,
            cols,
            codes,
            scales,
            zero: Q4_ZERO,
        }
    }

    /// Quantises f32 weights (`rows x cols`, row-major) to Q8_0 per 32-element block of a
    /// row, `d = amax / 127`, codes rounded half to even, and packs them; the caller has
    /// checked the shape.
    pub fn from_f32_q8_0(w: &[f32], rows: usize, cols: usize) -> Self {
        let nb = cols / BLOCK;
        let panels = rows.div_ceil(PANEL);
        // Padding rows hold code 128 (value 0) with scale 0.
        let mut codes = Aligned::filled(panels * nb * PANEL_BLOCK_BYTES, Q8_ZERO as u8);
        let mut scales = Aligned::filled(panels * nb * PANEL, 0f32);
        for r in 0..rows {
            let (p, i) = (r / PANEL, r % PANEL);
            for b in 0..nb {
                let blk = &w[r * cols + b * BLOCK..][..BLOCK];
                let amax = blk.iter().fold(0f32, |m, v| m.max(v.abs()));
                let d = amax / 127.0;
                let inv = if d > 0.0 { 1.0 / d } else { 0.0 };
                scales[(p * nb + b) * PANEL + i] = d;
                let base = (p * nb + b) * PANEL_BLOCK_BYTES;
                for (j, &v) in blk.iter().enumerate() {
                    // The clamp also maps NaN to 0; ±127 keeps |code| within i8 for AVX2's sign trick.
                    let q = (v * inv).round_ties_even().clamp(-127.0, 127.0) as i32;
                    codes[base + (j / 4) * (PANEL * 4) + i * 4 + j % 4] = (q + Q8_ZERO) as u8;
                }
            }
        }
        Self {
            rows,
            cols,
            codes,
            scales,
            zero: Q8_ZERO,
        }
    }

    pub fn panels(&self) -> usize {
        self.rows.div_ceil(PANEL)
    }

    pub fn blocks(&self) -> usize {
        self.cols / BLOCK
    }

    pub fn heap_bytes(&self) -> usize {
        self.codes.len() + self.scales.len() * size_of::<f32>()
    }

    /// The stored code of (row, col).
    fn code(&self, r: usize, c: usize) -> u8 {
        let nb = self.blocks();
        let (p, i) = (r / PANEL, r % PANEL);
        let (b, j) = (c / BLOCK, c % BLOCK);
        self.codes[(p * nb + b) * PANEL_BLOCK_BYTES + (j / 4) * (PANEL * 4) + i * 4 + j % 4]
    }

    pub fn dequantize(&self) -> Vec<f32> {
        let nb = self.blocks();
        let mut out = Vec::with_capacity(self.rows * self.cols);
        for r in 0..self.rows {
            let (p, i) = (r / PANEL, r % PANEL);
            for c in 0..self.cols {
                let d = self.scales[(p * nb + c / BLOCK) * PANEL + i];
                out.push((i32::from(self.code(r, c)) - self.zero) as f32 * d);
            }
        }
        out
    }
}

/// Element types an [`Aligned`] buffer holds: plain numbers, valid for every bit pattern.
pub(super) trait Plain: Copy {}
impl Plain for u8 {}
impl Plain for f32 {}

/// One cache line of storage.
#[derive(Clone, Copy)]
#[repr(C, align(64))]
struct Line([u8; 64]);

/// A fixed-length buffer of `T` that starts a 64-byte cache line; it derefs to `[T]`.
#[derive(Clone)]
pub(super) struct Aligned<T: Plain> {
    lines: Vec<Line>,
    len: usize,
    _elem: std::marker::PhantomData<T>,
}

impl<T: Plain> Aligned<T> {
    /// `len` copies of `value`.
    pub fn filled(len: usize, value: T) -> Self {
        let bytes = len * size_of::<T>();
        let mut out = Self {
            lines: vec![Line([0; 64]); bytes.div_ceil(64)],
            len,
            _elem: std::marker::PhantomData,
        };
        out.fill(value);
        out
    }
}

impl<T: Plain> std::ops::Deref for Aligned<T> {
    type Target = [T];

    fn deref(&self) -> &[T] {
        // SAFETY: the lines hold at least `len * size_of::<T>()` initialised bytes, aligned to
        // 64 (more than any `T`'s alignment), and every bit pattern is a valid `T`.
        unsafe { std::slice::from_raw_parts(self.lines.as_ptr().cast::<T>(), self.len) }
    }
}

impl<T: Plain> std::ops::DerefMut for Aligned<T> {
    fn deref_mut(&mut self) -> &mut [T] {
        // SAFETY: as for `deref`, and `&mut self` makes the borrow unique.
        unsafe { std::slice::from_raw_parts_mut(self.lines.as_mut_ptr().cast::<T>(), self.len) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aligned_buffers_start_a_cache_line_and_hold_their_values() {
        for len in [0, 1, 15, 16, 17, 1000] {
            let mut b = Aligned::filled(len, 7u8);
            assert_eq!(b.len(), len);
            assert!(b.iter().all(|&v| v == 7));
            assert_eq!(b.as_ptr() as usize % 64, 0);
            if len > 0 {
                b[len - 1] = 9;
                assert_eq!(b.clone()[len - 1], 9);
            }
            let f = Aligned::filled(len, 0.5f32);
            assert!(f.iter().all(|&v| v == 0.5));
            assert_eq!(f.as_ptr() as usize % 64, 0);
        }
    }
}
