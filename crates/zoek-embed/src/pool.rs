//! Mean pooling of token states over spans of a sequence.
//!
//! A plain embedding pools one span, the whole sequence. Late chunking pools several spans
//! of one forward pass — each sentence of a passage, and the passage itself — so every
//! sentence vector has seen the text around it and a passage costs one pass instead of
//! one per sentence plus one for the passage.

use std::ops::Range;

use crate::error::EmbedError;

/// Checks that every span is non-empty and inside a sequence of `len` tokens.
pub fn check_spans(spans: &[Range<usize>], len: usize) -> Result<(), EmbedError> {
    for s in spans {
        if s.start >= s.end || s.end > len {
            return Err(EmbedError::Inconsistent(format!(
                "token span {}..{} is not inside a sequence of {len} tokens",
                s.start, s.end
            )));
        }
    }
    Ok(())
}

/// Checks a batch: one span list per sequence, each span inside its sequence.
pub fn check_batch(sequences: &[&[u32]], spans: &[&[Range<usize>]]) -> Result<(), EmbedError> {
    if spans.len() != sequences.len() {
        return Err(EmbedError::Inconsistent(format!(
            "{} span lists for {} sequences",
            spans.len(),
            sequences.len()
        )));
    }
    for (s, sp) in sequences.iter().zip(spans) {
        check_spans(sp, s.len())?;
    }
    Ok(())
}

/// The mean of `rows` (row-major, `h` values each) over each of `spans` (row indices).
/// Spans must have been checked with [`check_spans`].
pub fn span_means(rows: &[f32], h: usize, spans: &[Range<usize>]) -> Vec<Vec<f32>> {
    spans
        .iter()
        .map(|span| {
            let mut m = vec![0f32; h];
            for row in rows[span.start * h..span.end * h].chunks_exact(h) {
                for (a, b) in m.iter_mut().zip(row) {
                    *a += b;
                }
            }
            let inv = 1.0 / span.len() as f32;
            m.iter_mut().for_each(|a| *a *= inv);
            m
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn means_over_spans() {
        let rows = [1.0, 10.0, 3.0, 30.0, 5.0, 50.0];
        let means = span_means(&rows, 2, &[0..3, 1..2, 2..3]);
        assert_eq!(
            means,
            vec![vec![3.0, 30.0], vec![3.0, 30.0], vec![5.0, 50.0]]
        );
    }

    #[test]
    fn rejects_spans_outside_the_sequence() {
        let spans = [0..3, 2..4, 1..1];
        assert!(check_spans(&spans[..1], 3).is_ok());
        assert!(check_spans(&spans[1..2], 3).is_err());
        assert!(check_spans(&spans[2..], 3).is_err());
    }
}
