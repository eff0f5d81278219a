//! Dense scoring of one segment's rows: passages ranked by their best sentence (or their
//! own vector), exactly or from graph candidates.

use std::collections::HashMap;

use crate::engine::dot;

/// A passage with its dense score and the sentence that earned it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct DenseHit {
    /// Passage id.
    pub passage: u32,
    /// Best cosine similarity among the passage's sentences (or of its own vector).
    pub score: f32,
    /// The sentence with that similarity, if sentences were scored.
    pub sentence: Option<u32>,
}

/// Sorts best first, ties by passage id so results are deterministic.
pub(crate) fn sort_dense(hits: &mut [DenseHit]) {
    hits.sort_by(|a, b| b.score.total_cmp(&a.score).then(a.passage.cmp(&b.passage)));
}

/// Aggregates sentence similarities to their passages: a passage scores the best cosine of
/// its sentences, and that sentence is its highlight. Returns passages best first.
pub(crate) fn sentences_to_parents(
    sentence_scores: impl IntoIterator<Item = (u32, f32)>,
    parent_of: impl Fn(u32) -> Option<u32>,
) -> Vec<DenseHit> {
    let mut best: HashMap<u32, DenseHit> = HashMap::new();
    for (sentence, score) in sentence_scores {
        let Some(passage) = parent_of(sentence) else {
            continue;
        };
        let entry = best.entry(passage).or_insert(DenseHit {
            passage,
            score: f32::NEG_INFINITY,
            sentence: None,
        });
        if score > entry.score {
            entry.score = score;
            entry.sentence = Some(sentence);
        }
    }
    let mut hits: Vec<DenseHit> = best.into_values().collect();
    sort_dense(&mut hits);
    hits
}

/// Scores every row of `vectors` against `query` and keeps, per group, the best row; `group`
/// maps a row to its group (the passage of a sentence, or the passage itself). Returns the
/// `limit` best groups, best first.
pub(crate) fn exact_grouped(
    vectors: &[f32],
    dim: usize,
    query: &[f32],
    groups: usize,
    group: impl Fn(usize) -> Option<u32>,
    limit: usize,
) -> Vec<DenseHit> {
    let mut best: Vec<DenseHit> = (0..groups as u32)
        .map(|passage| DenseHit {
            passage,
            score: f32::NEG_INFINITY,
            sentence: None,
        })
        .collect();
    for (row, v) in vectors.chunks_exact(dim).enumerate() {
        let Some(g) = group(row) else {
            continue;
        };
        let score = dot(v, query);
        if let Some(slot) = best.get_mut(g as usize)
            && score > slot.score
        {
            slot.score = score;
            slot.sentence = Some(row as u32);
        }
    }
    best.retain(|h| h.score.is_finite());
    top(best, limit)
}

/// How many of a best-first list to keep for a cut at `limit`: `limit`, and every further
/// entry tied with the last kept one. Ties at a cut would otherwise be decided by passage
/// ids, which depend on how documents are laid out in segments (or shards); kept whole,
/// the same candidates survive whatever the layout.
pub(crate) fn cut_with_ties(len: usize, limit: usize, score: impl Fn(usize) -> f32) -> usize {
    if len <= limit {
        return len;
    }
    if limit == 0 {
        return 0;
    }
    let last = score(limit - 1);
    (limit..len).find(|&i| score(i) != last).unwrap_or(len)
}

/// Keeps the `limit` best hits (and those tied with the last, see [`cut_with_ties`]), best
/// first, in O(n) plus a sort of the kept part.
pub(crate) fn top(mut hits: Vec<DenseHit>, limit: usize) -> Vec<DenseHit> {
    if hits.len() > limit && limit > 0 {
        hits.select_nth_unstable_by(limit - 1, |a, b| {
            b.score.total_cmp(&a.score).then(a.passage.cmp(&b.passage))
        });
        // The tail's ties with the last kept hit join it.
        let last = hits[limit - 1].score;
        let mut end = limit;
        for i in limit..hits.len() {
            if hits[i].score == last {
                hits.swap(i, end);
                end += 1;
            }
        }
        hits.truncate(end);
    }
    sort_dense(&mut hits);
    hits
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cuts_keep_the_ties_of_the_last_kept_hit() {
        let hits: Vec<DenseHit> = [(5, 0.9), (4, 0.5), (3, 0.5), (2, 0.5), (1, 0.4)]
            .iter()
            .map(|&(passage, score)| DenseHit {
                passage,
                score,
                sentence: None,
            })
            .collect();
        let kept = top(hits.clone(), 2);
        assert_eq!(
            kept.iter().map(|h| h.passage).collect::<Vec<_>>(),
            [5, 2, 3, 4],
            "all three at 0.5 stay, ordered by id"
        );
        assert_eq!(top(hits.clone(), 1).len(), 1);
        assert_eq!(top(hits.clone(), 5).len(), 5);
        assert_eq!(top(hits, 4).len(), 4);
        let scores = [0.9, 0.5, 0.5, 0.4];
        assert_eq!(cut_with_ties(4, 2, |i| scores[i]), 3);
        assert_eq!(cut_with_ties(4, 1, |i| scores[i]), 1);
        assert_eq!(cut_with_ties(4, 9, |i| scores[i]), 4);
        assert_eq!(cut_with_ties(4, 0, |i| scores[i]), 0);
    }

    #[test]
    fn best_sentence_wins_for_its_passage() {
        let parents = [0u32, 0, 1, 1, 2];
        let hits = sentences_to_parents([(0, 0.2), (1, 0.9), (2, 0.5), (3, 0.4), (4, 0.7)], |s| {
            parents.get(s as usize).copied()
        });
        let order: Vec<_> = hits.iter().map(|h| (h.passage, h.sentence)).collect();
        assert_eq!(order, [(0, Some(1)), (2, Some(4)), (1, Some(2))]);
        assert_eq!(hits[0].score, 0.9);
    }

    #[test]
    fn exact_grouped_keeps_best_row_per_group() {
        let vectors = [1.0, 0.0, 0.0, 1.0, 0.6, 0.8, -1.0, 0.0];
        let groups = [0u32, 1, 1, 2];
        let hits = exact_grouped(&vectors, 2, &[0.0, 1.0], 3, |r| groups.get(r).copied(), 10);
        let got: Vec<_> = hits.iter().map(|h| (h.passage, h.sentence)).collect();
        assert_eq!(got, [(1, Some(1)), (0, Some(0)), (2, Some(3))]);
        let top1 = exact_grouped(&vectors, 2, &[0.0, 1.0], 3, |r| groups.get(r).copied(), 1);
        assert_eq!(top1.len(), 1);
        assert_eq!(top1[0].passage, 1);
    }
}
