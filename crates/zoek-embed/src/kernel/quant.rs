//! Q8_0 quantisation of the activations, shared by every output row of a product.

use super::BLOCK;
use rayon::prelude::*;

/// Activations as int8 per 32-element block, as the reference engine quantises them.
pub(super) struct QuantActs {
    pub cols: usize,
    /// `tokens x cols` int8 values.
    pub q: Vec<i8>,
    /// `tokens x blocks` scales `d_a = amax / 127`.
    pub d: Vec<f32>,
    /// `tokens x blocks` integer offsets `-8 * sum(q)` that fold the 4-bit zero point in.
    pub offset: Vec<i32>,
}

impl QuantActs {
    pub fn new(x: &[f32], tokens: usize, cols: usize, parallel: bool) -> Self {
        let nb = cols / BLOCK;
        let mut q = vec![0i8; tokens * cols];
        let mut d = vec![0f32; tokens * nb];
        let mut offset = vec![0i32; tokens * nb];
        let rows = x
            .chunks_exact(cols)
            .zip(q.chunks_exact_mut(cols))
            .zip(d.chunks_exact_mut(nb).zip(offset.chunks_exact_mut(nb)));
        if parallel {
            rows.par_bridge()
                .for_each(|((x, q), (d, o))| quantize_token(x, q, d, o));
        } else {
            rows.for_each(|((x, q), (d, o))| quantize_token(x, q, d, o));
        }
        Self { cols, q, d, offset }
    }
}

fn quantize_token(x: &[f32], q: &mut [i8], d: &mut [f32], offset: &mut [i32]) {
    for (((x, q), d), o) in x
        .chunks_exact(BLOCK)
        .zip(q.chunks_exact_mut(BLOCK))
        .zip(d.iter_mut())
        .zip(offset.iter_mut())
    {
        let amax = x.iter().fold(0f32, |m, v| m.max(v.abs()));
        let scale = amax / 127.0;
        let inv = if scale > 0.0 { 1.0 / scale } else { 0.0 };
        let mut sum = 0i32;
        for (q, &v) in q.iter_mut().zip(x) {
            // Ties to even, like the reference's lrintf; the clamp also maps NaN to 0.
            let r = (v * inv).round_ties_even().clamp(-128.0, 127.0) as i32;
            *q = r as i8;
            sum += r;
        }
        *d = scale;
        *o = -8 * sum;
    }
}
