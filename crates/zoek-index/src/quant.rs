//! Int8 scalar quantisation (one u8 code per component, per-dimension affine range).
//!
//! A component `x` of dimension `d` is stored as `c = round((x - min_d) / step_d)`, and
//! read back as `min_d + step_d * c`. Queries stay f32 (asymmetric distance), so
//! `q · x̂ = Σ q_d min_d + Σ (q_d step_d) c_d`: one constant plus an f32 × u8 dot
//! product over the codes. L2 adds the stored squared norm of `x̂`.

use crate::Metric;
use crate::distance::{Kernels, norm_sq};

/// Per-dimension quantiser ranges.
pub(crate) struct Quantizer {
    pub mins: Vec<f32>,
    pub steps: Vec<f32>,
}

impl Quantizer {
    /// Fits the quantiser to the minimum and maximum of each dimension.
    pub fn fit(data: &[f32], dim: usize) -> Quantizer {
        let mut mins = vec![f32::INFINITY; dim];
        let mut maxs = vec![f32::NEG_INFINITY; dim];
        for row in data.chunks_exact(dim) {
            for ((x, lo), hi) in row.iter().zip(&mut mins).zip(&mut maxs) {
                *lo = lo.min(*x);
                *hi = hi.max(*x);
            }
        }
        let steps = mins
            .iter()
            .zip(&maxs)
            .map(|(lo, hi)| {
                let s = (hi - lo) / 255.0;
                if s > 0.0 && s.is_finite() { s } else { 1.0 }
            })
            .collect();
        let mins = mins
            .into_iter()
            .map(|m| if m.is_finite() { m } else { 0.0 })
            .collect();
        Quantizer { mins, steps }
    }

    /// Encodes one vector into `out`.
    pub fn encode(&self, v: &[f32], out: &mut [u8]) {
        for (((o, x), lo), st) in out.iter_mut().zip(v).zip(&self.mins).zip(&self.steps) {
            *o = ((x - lo) / st).round().clamp(0.0, 255.0) as u8;
        }
    }

    /// Squared norm of the decoded form of `codes`.
    pub fn decoded_norm_sq(&self, codes: &[u8]) -> f32 {
        codes
            .iter()
            .zip(&self.mins)
            .zip(&self.steps)
            .map(|((c, lo), st)| {
                let x = lo + st * f32::from(*c);
                x * x
            })
            .sum()
    }
}

/// A query prepared for distance computation against codes.
pub(crate) struct Sq8Query {
    scaled: Vec<f32>,
    offset: f32,
    norm_sq: f32,
    metric: Metric,
}

impl Sq8Query {
    /// Prepares `query` (already normalised for cosine) with the stored ranges.
    pub fn new(query: &[f32], mins: &[f32], steps: &[f32], metric: Metric) -> Sq8Query {
        let scaled = query.iter().zip(steps).map(|(q, s)| q * s).collect();
        let offset = query.iter().zip(mins).map(|(q, m)| q * m).sum();
        Sq8Query {
            scaled,
            offset,
            norm_sq: norm_sq(query),
            metric,
        }
    }

    /// Distance to a vector given its codes and the squared norm of its decoded form.
    #[inline]
    pub fn distance(&self, kernels: &Kernels, codes: &[u8], decoded_norm_sq: f32) -> f32 {
        let ip = self.offset + (kernels.dot_u8)(&self.scaled, codes);
        match self.metric {
            Metric::Cosine => 1.0 - ip,
            Metric::Dot => -ip,
            Metric::L2 => (self.norm_sq - 2.0 * ip + decoded_norm_sq).max(0.0),
        }
    }
}
