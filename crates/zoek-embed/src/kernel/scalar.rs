//! Portable backend: the same integer maths as the SIMD ones, one lane at a time.

use super::layout::PANEL_BLOCK_BYTES;
use super::{BLOCK, Job, PANEL};

pub(super) fn run(job: &Job) {
    let nb = job.w.blocks();
    let cols = job.acts.cols;
    for p in job.panels.clone() {
        let codes = &job.w.codes[p * nb * PANEL_BLOCK_BYTES..][..nb * PANEL_BLOCK_BYTES];
        let scales = &job.w.scales[p * nb * PANEL..][..nb * PANEL];
        for t in job.tokens.clone() {
            let q = &job.acts.q[t * cols..][..cols];
            let mut sums = [0f32; PANEL];
            for b in 0..nb {
                let mut acc = [job.acts.offset[t * nb + b]; PANEL];
                let blk = &codes[b * PANEL_BLOCK_BYTES..][..PANEL_BLOCK_BYTES];
                let qb = &q[b * BLOCK..][..BLOCK];
                for (group, qg) in blk.chunks_exact(PANEL * 4).zip(qb.chunks_exact(4)) {
                    for (a, w) in acc.iter_mut().zip(group.chunks_exact(4)) {
                        *a += w
                            .iter()
                            .zip(qg)
                            .map(|(&w, &q)| i32::from(w) * i32::from(q))
                            .sum::<i32>();
                    }
                }
                let da = job.acts.d[t * nb + b];
                for ((s, &a), &dw) in sums.iter_mut().zip(&acc).zip(&scales[b * PANEL..]) {
                    *s += a as f32 * da * dw;
                }
            }
            job.store(p, t, &sums);
        }
    }
}
