//! Ranking math, independent of the model and of storage: min-max normalisation, the
//! passage-vector blend, the coverage-weighted hybrid blend and reciprocal rank fusion.

use std::collections::HashMap;

use crate::segment::dense::DenseHit;

/// A fused result.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Ranked {
    /// Passage id.
    pub passage: u32,
    /// Final score (higher is better; its scale depends on the fusion method).
    pub score: f32,
    /// Dense score before normalisation, if the passage was scored densely.
    pub dense: Option<f32>,
    /// BM25 score before normalisation, if the passage matched lexically.
    pub bm25: Option<f32>,
    /// Best sentence, if known.
    pub sentence: Option<u32>,
}

fn sort_ranked(hits: &mut [Ranked]) {
    hits.sort_by(|a, b| b.score.total_cmp(&a.score).then(a.passage.cmp(&b.passage)));
}

/// A passage's dense score from its best sentence and its own vector's cosine:
/// `(1 − w)·sentence + w·passage` (see `AskOptions::passage_weight`).
pub(crate) fn blend_passage(sentence: f32, passage: f32, w: f32) -> f32 {
    (1.0 - w) * sentence + w * passage
}

/// Maps scores linearly onto [0, 1]; when all are equal every score becomes 1.
pub(crate) fn min_max(scores: &[f32]) -> Vec<f32> {
    let (lo, hi) = scores
        .iter()
        .fold((f32::INFINITY, f32::NEG_INFINITY), |(lo, hi), &s| {
            (lo.min(s), hi.max(s))
        });
    let span = hi - lo;
    scores
        .iter()
        .map(|&s| {
            if span > f32::EPSILON {
                (s - lo) / span
            } else {
                1.0
            }
        })
        .collect()
}

/// Blends dense and BM25 scores over the union of candidates.
///
/// Both are min-max normalised over the candidates (a passage missing from a list counts as
/// that list's minimum, 0 for BM25). The weights are `dense_weight` and
/// `bm25_weight × coverage`, where `coverage` is the share of query terms the index knows:
/// a question in another language than the corpus has none, and ranking falls back to dense.
/// The result is divided by the weight sum, so scores stay in [0, 1].
///
/// Every BM25-only candidate must have a dense score in `dense` for the blend to be fair;
/// the caller scores them (cheap: a few dot products).
pub(crate) fn hybrid(
    dense: &[DenseHit],
    bm25: &[(u32, f32)],
    coverage: f32,
    dense_weight: f32,
    bm25_weight: f32,
) -> Vec<Ranked> {
    let lexical: HashMap<u32, f32> = bm25.iter().copied().collect();
    let dense_norm = min_max(&dense.iter().map(|d| d.score).collect::<Vec<_>>());
    let bm25_raw: Vec<f32> = dense
        .iter()
        .map(|d| lexical.get(&d.passage).copied().unwrap_or(0.0))
        .collect();
    let bm25_norm = if bm25.is_empty() {
        vec![0.0; dense.len()]
    } else {
        min_max(&bm25_raw)
    };
    let wb = bm25_weight * coverage.clamp(0.0, 1.0);
    let total = (dense_weight + wb).max(f32::EPSILON);
    let mut out: Vec<Ranked> = dense
        .iter()
        .zip(dense_norm.iter().zip(&bm25_norm))
        .map(|(d, (&dn, &bn))| Ranked {
            passage: d.passage,
            score: (dense_weight * dn + wb * bn) / total,
            dense: Some(d.score),
            bm25: lexical.get(&d.passage).copied(),
            sentence: d.sentence,
        })
        .collect();
    sort_ranked(&mut out);
    out
}

/// Reciprocal rank fusion: `Σ 1 / (k + rank)` over the lists a passage appears in (ranks
/// from 1). The BM25 list is skipped entirely when `coverage` is zero.
pub(crate) fn reciprocal_rank_fusion(
    dense: &[DenseHit],
    bm25: &[(u32, f32)],
    coverage: f32,
    k: f32,
) -> Vec<Ranked> {
    let mut fused: HashMap<u32, Ranked> = HashMap::new();
    for (rank, d) in dense.iter().enumerate() {
        fused.insert(
            d.passage,
            Ranked {
                passage: d.passage,
                score: 1.0 / (k + rank as f32 + 1.0),
                dense: Some(d.score),
                bm25: None,
                sentence: d.sentence,
            },
        );
    }
    if coverage > 0.0 {
        for (rank, &(passage, score)) in bm25.iter().enumerate() {
            let entry = fused.entry(passage).or_insert(Ranked {
                passage,
                score: 0.0,
                dense: None,
                bm25: None,
                sentence: None,
            });
            entry.score += 1.0 / (k + rank as f32 + 1.0);
            entry.bm25 = Some(score);
        }
    }
    let mut out: Vec<Ranked> = fused.into_values().collect();
    sort_ranked(&mut out);
    out
}

/// Dense-only ranking as [`Ranked`] (scores are the raw cosines).
pub(crate) fn dense_only(dense: &[DenseHit]) -> Vec<Ranked> {
    dense
        .iter()
        .map(|d| Ranked {
            passage: d.passage,
            score: d.score,
            dense: Some(d.score),
            bm25: None,
            sentence: d.sentence,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn min_max_bounds_and_degenerate_case() {
        assert_eq!(min_max(&[1.0, 3.0, 2.0]), [0.0, 1.0, 0.5]);
        assert_eq!(min_max(&[0.4, 0.4]), [1.0, 1.0]);
        assert!(min_max(&[]).is_empty());
    }

    fn dense(scores: &[(u32, f32)]) -> Vec<DenseHit> {
        scores
            .iter()
            .map(|&(passage, score)| DenseHit {
                passage,
                score,
                sentence: None,
            })
            .collect()
    }

    #[test]
    fn hybrid_blends_and_lexical_evidence_can_reorder() {
        let d = dense(&[(1, 0.80), (2, 0.79), (3, 0.70)]);
        let b = [(2u32, 12.0), (3, 3.0)];
        let ranked = hybrid(&d, &b, 1.0, 0.5, 0.5);
        assert_eq!(ranked[0].passage, 2);
        // passage 2: dense (0.79-0.70)/0.10 = 0.9, bm25 1.0 → 0.95
        assert!((ranked[0].score - 0.95).abs() < 1e-4, "{}", ranked[0].score);
        assert_eq!(ranked[0].bm25, Some(12.0));
        assert_eq!(ranked.iter().find(|r| r.passage == 1).unwrap().bm25, None);
    }

    #[test]
    fn zero_coverage_falls_back_to_dense_order() {
        let d = dense(&[(1, 0.80), (2, 0.79), (3, 0.70)]);
        let b = [(3u32, 12.0)];
        let ranked = hybrid(&d, &b, 0.0, 0.5, 0.5);
        let order: Vec<_> = ranked.iter().map(|r| r.passage).collect();
        assert_eq!(order, [1, 2, 3]);
        assert!((ranked[0].score - 1.0).abs() < 1e-6);
    }

    #[test]
    fn partial_coverage_shrinks_bm25_weight() {
        let d = dense(&[(1, 0.9), (2, 0.5)]);
        let b = [(2u32, 5.0)];
        // Full coverage: both score 0.5 and the tie breaks by id; a quarter: dense dominates.
        let full = hybrid(&d, &b, 1.0, 0.5, 0.5);
        assert!((full[0].score - full[1].score).abs() < 1e-6);
        let quarter = hybrid(&d, &b, 0.25, 0.5, 0.5);
        assert_eq!(quarter[0].passage, 1);
        assert!((quarter[0].score - 0.8).abs() < 1e-6);
    }

    #[test]
    fn rrf_sums_reciprocal_ranks() {
        let d = dense(&[(1, 0.9), (2, 0.8)]);
        let b = [(2u32, 4.0), (3, 2.0)];
        let fused = reciprocal_rank_fusion(&d, &b, 1.0, 60.0);
        assert_eq!(fused[0].passage, 2);
        assert!((fused[0].score - (1.0 / 62.0 + 1.0 / 61.0)).abs() < 1e-7);
        let dense_only = reciprocal_rank_fusion(&d, &b, 0.0, 60.0);
        assert_eq!(
            dense_only.iter().map(|r| r.passage).collect::<Vec<_>>(),
            [1, 2]
        );
    }
}
