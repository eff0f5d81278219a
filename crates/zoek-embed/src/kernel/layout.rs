//! The repacked weight layout the backends read.
//!
//! Rows are grouped into panels of [`PANEL`]; within a panel, block `b` is stored as 8
//! groups of 64 bytes, group `g` holding for each of the 16 rows (in order) the four 4-bit
//! codes of columns `32 b + 4 g .. 32 b + 4 g + 4`, one unsigned byte each (0..=15). A
//! 64-byte load is then exactly one `vpdpbusd` operand against a broadcast activation word.
//! Rows past the end of the matrix in the last panel are zero codes with zero scale.

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
}

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

    /// The code of (row, col), 0..=15.
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
                out.push((f32::from(self.code(r, c)) - 8.0) * d);
            }
        }
        out
    }
}
