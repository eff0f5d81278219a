//! The textbook product, the yardstick the tests hold every backend to.

/// `y[t * rows + r] = bias[r] + sum_c x[t * cols + c] * w[r * cols + c]` in plain f32, with
/// `w` a dense `rows x cols` matrix (for example from [`super::Q4Matrix::dequantize`]).
///
/// Slices shorter than the shape implies are read only as far as they go; this is a test
/// and export helper, not a fast path.
pub fn reference_matmul(
    w: &[f32],
    rows: usize,
    cols: usize,
    x: &[f32],
    tokens: usize,
    bias: Option<&[f32]>,
    y: &mut [f32],
) {
    for (xt, yt) in x
        .chunks_exact(cols)
        .zip(y.chunks_exact_mut(rows))
        .take(tokens)
    {
        for (r, (yv, wr)) in yt.iter_mut().zip(w.chunks_exact(cols)).enumerate() {
            let dot: f64 = wr
                .iter()
                .zip(xt)
                .map(|(&a, &b)| f64::from(a) * f64::from(b))
                .sum();
            *yv = dot as f32 + bias.and_then(|b| b.get(r)).copied().unwrap_or(0.0);
        }
    }
}
