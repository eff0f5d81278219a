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

use super::{BLOCK, BLOCK_BYTES, PANEL};
use half::f16;

/// Bytes per (panel, block): 16 rows x 32 codes.
pub(super) const PANEL_BLOCK_BYTES: usize = PANEL * BLOCK;

#[derive(Clone)]
pub(super) struct Packed {
    pub rows: usize,
    pub cols: usize,
    /// `panels * blocks * PANEL_BLOCK_BYTES` codes, see the module docs.
    pub codes: Vec<u8>,
    /// `panels * blocks * PANEL` scales: `(panel * blocks + b) * PANEL + row_in_panel`.
    pub scales: Vec<f32>,
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
        let mut codes = vec![0u8; panels * nb * PANEL_BLOCK_BYTES];
        let mut scales = vec![0f32; panels * nb * PANEL];
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
        let mut codes = vec![Q8_ZERO as u8; panels * nb * PANEL_BLOCK_BYTES];
        let mut scales = vec![0f32; panels * nb * PANEL];
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
