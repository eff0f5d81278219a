//! Ranking math, independent of the model and of storage: merging the candidate lists of
//! one or more shards ([`fuse`]), min-max normalisation, the passage-vector blend, the
//! document prior, the coverage-weighted hybrid blend and reciprocal rank fusion.
//!
//! A collection asking itself a question is one shard of one: [`Collection::ask_with`]
//! and a root over several services run the same [`fuse`], which is why a question asked
//! over shards ranks exactly as in one collection of all of them (exact search).
//!
//! [`Collection::ask_with`]: super::Collection::ask_with

use std::collections::{HashMap, HashSet};

use super::ask::{AskOptions, DOC_PRIOR_PASSAGES, RankMode};
use super::shard::{BestSentence, Candidate, ShardCandidates};
use crate::segment::dense::cut_with_ties;

/// A passage among shards: the shard's position in the question's list of shards and the
/// passage id in that shard's snapshot. Ordered by shard, then passage, so ties always
/// break the same way; a single collection is shard 0.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) struct Key {
    pub shard: u32,
    pub passage: u32,
}

/// A passage with a dense score and the sentence that earned it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Scored {
    pub key: Key,
    pub score: f32,
    pub sentence: Option<u32>,
}

/// A fused result.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Ranked {
    /// The passage.
    pub key: Key,
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
    hits.sort_by(|a, b| b.score.total_cmp(&a.score).then(a.key.cmp(&b.key)));
}

fn sort_scored(hits: &mut [Scored]) {
    hits.sort_by(|a, b| b.score.total_cmp(&a.score).then(a.key.cmp(&b.key)));
}

/// Best first, ties by key, cut to `limit` (and the ties of the last, see
/// [`cut_with_ties`]).
fn top_scored(mut hits: Vec<Scored>, limit: usize) -> Vec<Scored> {
    sort_scored(&mut hits);
    hits.truncate(cut_with_ties(hits.len(), limit, |i| hits[i].score));
    hits
}

/// A passage's dense score from its best sentence and its own vector's cosine:
/// `(1 − w)·sentence + w·passage` (see `AskOptions::passage_weight`).
pub(crate) fn blend_passage(sentence: f32, passage: f32, w: f32) -> f32 {
    (1.0 - w) * sentence + w * passage
}

/// The dense score a candidate list entry carries for its passage as a whole: its best
/// sentence, blended with its own vector when the shard sent that cosine.
fn dense_score(key: Key, c: &Candidate, w: f32, demote: bool) -> Scored {
    let chosen = if demote {
        c.statement.or(c.best)
    } else {
        c.best
    };
    let best = chosen.map_or(f32::NEG_INFINITY, |b| b.score);
    Scored {
        key,
        score: match c.passage_cosine {
            Some(cos) => blend_passage(best, cos, w),
            None => best,
        },
        sentence: chosen.map(|b| b.sentence),
    }
}

/// With [`AskOptions::demote_questions`]: scores the entries whose sentence is a question by
/// their passage's best statement instead (`statements`), after the list was cut as without
/// it, and re-sorts.
fn demote_questions(mut list: Vec<Scored>, statements: &HashMap<Key, BestSentence>) -> Vec<Scored> {
    for s in &mut list {
        if let Some(b) = statements.get(&s.key) {
            s.score = b.score;
            s.sentence = Some(b.sentence);
        }
    }
    sort_scored(&mut list);
    list
}

/// The passage weight a question uses: only collections with passage vectors blend.
pub(crate) fn passage_weight(opts: &AskOptions, passage_vectors: bool) -> f32 {
    if passage_vectors {
        opts.passage_weight.clamp(0.0, 1.0)
    } else {
        0.0
    }
}

/// Ranks the candidates of every shard (in shard order) as one collection of all of them
/// would: each list is cut to the collection-wide top, then fused by `opts.mode`.
/// `coverage` is the share of the question's terms any shard knows; `passage_vectors`
/// whether the shards were built with passage vectors (they must agree).
pub(crate) fn fuse(
    shards: &[&ShardCandidates],
    coverage: f32,
    passage_vectors: bool,
    opts: &AskOptions,
) -> Vec<Ranked> {
    let keyed = |list: fn(&ShardCandidates) -> &[Candidate]| {
        shards.iter().enumerate().flat_map(move |(shard, s)| {
            list(s).iter().map(move |c| {
                let key = Key {
                    shard: shard as u32,
                    passage: c.passage,
                };
                (key, c)
            })
        })
    };
    let list_scores = |list: fn(&ShardCandidates) -> &[Candidate]| -> Vec<Scored> {
        keyed(list)
            .map(|(key, c)| Scored {
                key,
                score: c.score,
                sentence: c.sentence,
            })
            .collect()
    };
    let k = opts.k;
    let demote = opts.demote_questions;
    let statements: HashMap<Key, BestSentence> = if demote {
        keyed(|s| &s.dense)
            .filter_map(|(key, c)| c.statement.map(|b| (key, b)))
            .collect()
    } else {
        HashMap::new()
    };
    match opts.mode {
        RankMode::DenseParagraph => {
            let best: HashMap<Key, Option<u32>> = keyed(|s| &s.by_passage)
                .map(|(key, c)| (key, c.best.map(|b| b.sentence)))
                .collect();
            let mut ranked = dense_only(&top_scored(list_scores(|s| &s.by_passage), k));
            // Highlight each passage's best sentence; its score stays the passage's.
            for r in &mut ranked {
                r.sentence = best.get(&r.key).copied().flatten();
            }
            ranked
        }
        RankMode::SentenceToParent => dense_only(&demote_questions(
            top_scored(list_scores(|s| &s.dense), k),
            &statements,
        )),
        RankMode::Hybrid | RankMode::Rrf => {
            let limit = opts.candidates.max(k);
            let w = passage_weight(opts, passage_vectors);
            let lexical_entries: HashMap<Key, &Candidate> = keyed(|s| &s.lexical).collect();
            let mut lexical: Vec<(Key, f32)> = lexical_entries
                .iter()
                .map(|(&key, c)| (key, c.score))
                .collect();
            lexical.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
            lexical.truncate(cut_with_ties(lexical.len(), limit, |i| lexical[i].1));
            let mut dense =
                demote_questions(top_scored(list_scores(|s| &s.dense), limit), &statements);
            if passage_vectors && w > 0.0 {
                dense = blend_passage_vectors(dense, &keyed, limit, w, demote);
            }
            let docs: HashMap<Key, (u32, u32)> = [
                keyed(|s| &s.dense).collect::<Vec<_>>(),
                keyed(|s| &s.by_passage).collect(),
                keyed(|s| &s.lexical).collect(),
            ]
            .into_iter()
            .flatten()
            .filter_map(|(key, c)| c.doc.map(|d| (key, (key.shard, d))))
            .collect();
            if opts.mode == RankMode::Hybrid {
                // Every lexical candidate needs a dense score for the blend to be fair.
                let known: HashSet<Key> = dense.iter().map(|d| d.key).collect();
                for (key, _) in &lexical {
                    if !known.contains(key) {
                        let hit = dense_score(*key, lexical_entries[key], w, demote);
                        if hit.score.is_finite() {
                            dense.push(hit);
                        }
                    }
                }
                doc_prior(&mut dense, &docs, opts.doc_prior);
                sort_scored(&mut dense);
                hybrid(
                    &dense,
                    &lexical,
                    coverage,
                    opts.dense_weight,
                    opts.bm25_weight,
                )
            } else {
                doc_prior(&mut dense, &docs, opts.doc_prior);
                sort_scored(&mut dense);
                let mut fused = reciprocal_rank_fusion(&dense, &lexical, coverage, opts.rrf_k);
                // Lexical-only passages get their best sentence as highlight.
                for r in fused.iter_mut().take(k).filter(|r| r.sentence.is_none()) {
                    if let Some(c) = lexical_entries.get(&r.key) {
                        let chosen = if demote {
                            c.statement.or(c.best)
                        } else {
                            c.best
                        };
                        r.sentence = chosen.map(|b| b.sentence);
                        r.dense = Some(chosen.map_or(f32::NEG_INFINITY, |b| b.score));
                    }
                }
                fused
            }
        }
    }
}

/// Blends each dense candidate's score with its document's evidence,
/// `(1 − γ)·score + γ·evidence` (see [`AskOptions::doc_prior`]): the mean of the document's
/// best [`DOC_PRIOR_PASSAGES`] scores in `dense`, missing ones counted at the list's lowest
/// score. Candidates without a known document keep their score. Leaves the order to the
/// caller.
fn doc_prior(dense: &mut [Scored], docs: &HashMap<Key, (u32, u32)>, gamma: f32) {
    if gamma <= 0.0 || dense.is_empty() {
        return;
    }
    let floor = dense.iter().map(|d| d.score).fold(f32::INFINITY, f32::min);
    let mut by_doc: HashMap<(u32, u32), Vec<f32>> = HashMap::new();
    for d in dense.iter() {
        if let Some(doc) = docs.get(&d.key) {
            by_doc.entry(*doc).or_default().push(d.score);
        }
    }
    let evidence: HashMap<(u32, u32), f32> = by_doc
        .into_iter()
        .map(|(doc, mut scores)| {
            scores.sort_by(|a, b| b.total_cmp(a));
            scores.resize(DOC_PRIOR_PASSAGES.max(scores.len()), floor);
            let top = &scores[..DOC_PRIOR_PASSAGES];
            (doc, top.iter().sum::<f32>() / top.len() as f32)
        })
        .collect();
    for d in dense.iter_mut() {
        if let Some(e) = docs.get(&d.key).and_then(|doc| evidence.get(doc)) {
            d.score = (1.0 - gamma) * d.score + gamma * e;
        }
    }
}

/// Re-scores sentence→parent candidates with their passage's own cosine, and adds the best
/// passages by their own vector, so a passage whose sentences are individually weak but
/// whole is strong is not missed.
fn blend_passage_vectors<'a, I>(
    dense: Vec<Scored>,
    keyed: &impl Fn(fn(&ShardCandidates) -> &[Candidate]) -> I,
    limit: usize,
    w: f32,
    demote: bool,
) -> Vec<Scored>
where
    I: Iterator<Item = (Key, &'a Candidate)>,
{
    let cosines: HashMap<Key, Option<f32>> = keyed(|s| &s.dense)
        .map(|(key, c)| (key, c.passage_cosine))
        .collect();
    let mut by_passage: Vec<(Key, &Candidate)> = keyed(|s| &s.by_passage).collect();
    by_passage.sort_by(|a, b| b.1.score.total_cmp(&a.1.score).then(a.0.cmp(&b.0)));
    by_passage.truncate(cut_with_ties(by_passage.len(), limit, |i| {
        by_passage[i].1.score
    }));
    let mut seen: HashSet<Key> = HashSet::new();
    let mut out = Vec::with_capacity(dense.len() + by_passage.len());
    for mut hit in dense {
        if seen.insert(hit.key) {
            if let Some(Some(cos)) = cosines.get(&hit.key) {
                hit.score = blend_passage(hit.score, *cos, w);
            }
            out.push(hit);
        }
    }
    for (key, c) in by_passage {
        if seen.insert(key) {
            out.push(dense_score(key, c, w, demote));
        }
    }
    top_scored(out, limit)
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
/// [`fuse`] adds them from the shards' lexical lists.
pub(crate) fn hybrid(
    dense: &[Scored],
    bm25: &[(Key, f32)],
    coverage: f32,
    dense_weight: f32,
    bm25_weight: f32,
) -> Vec<Ranked> {
    let lexical: HashMap<Key, f32> = bm25.iter().copied().collect();
    let dense_norm = min_max(&dense.iter().map(|d| d.score).collect::<Vec<_>>());
    let bm25_raw: Vec<f32> = dense
        .iter()
        .map(|d| lexical.get(&d.key).copied().unwrap_or(0.0))
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
            key: d.key,
            score: (dense_weight * dn + wb * bn) / total,
            dense: Some(d.score),
            bm25: lexical.get(&d.key).copied(),
            sentence: d.sentence,
        })
        .collect();
    sort_ranked(&mut out);
    out
}

/// Reciprocal rank fusion: `Σ 1 / (k + rank)` over the lists a passage appears in (ranks
/// from 1). The BM25 list is skipped entirely when `coverage` is zero.
pub(crate) fn reciprocal_rank_fusion(
    dense: &[Scored],
    bm25: &[(Key, f32)],
    coverage: f32,
    k: f32,
) -> Vec<Ranked> {
    let mut fused: HashMap<Key, Ranked> = HashMap::new();
    for (rank, d) in dense.iter().enumerate() {
        fused.insert(
            d.key,
            Ranked {
                key: d.key,
                score: 1.0 / (k + rank as f32 + 1.0),
                dense: Some(d.score),
                bm25: None,
                sentence: d.sentence,
            },
        );
    }
    if coverage > 0.0 {
        for (rank, &(key, score)) in bm25.iter().enumerate() {
            let entry = fused.entry(key).or_insert(Ranked {
                key,
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
pub(crate) fn dense_only(dense: &[Scored]) -> Vec<Ranked> {
    dense
        .iter()
        .map(|d| Ranked {
            key: d.key,
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

    fn key(passage: u32) -> Key {
        Key { shard: 0, passage }
    }

    fn dense(scores: &[(u32, f32)]) -> Vec<Scored> {
        scores
            .iter()
            .map(|&(passage, score)| Scored {
                key: key(passage),
                score,
                sentence: None,
            })
            .collect()
    }

    fn lexical(scores: &[(u32, f32)]) -> Vec<(Key, f32)> {
        scores.iter().map(|&(p, s)| (key(p), s)).collect()
    }

    #[test]
    fn hybrid_blends_and_lexical_evidence_can_reorder() {
        let d = dense(&[(1, 0.80), (2, 0.79), (3, 0.70)]);
        let b = lexical(&[(2, 12.0), (3, 3.0)]);
        let ranked = hybrid(&d, &b, 1.0, 0.5, 0.5);
        assert_eq!(ranked[0].key, key(2));
        // passage 2: dense (0.79-0.70)/0.10 = 0.9, bm25 1.0 → 0.95
        assert!((ranked[0].score - 0.95).abs() < 1e-4, "{}", ranked[0].score);
        assert_eq!(ranked[0].bm25, Some(12.0));
        assert_eq!(ranked.iter().find(|r| r.key == key(1)).unwrap().bm25, None);
    }

    #[test]
    fn zero_coverage_falls_back_to_dense_order() {
        let d = dense(&[(1, 0.80), (2, 0.79), (3, 0.70)]);
        let b = lexical(&[(3, 12.0)]);
        let ranked = hybrid(&d, &b, 0.0, 0.5, 0.5);
        let order: Vec<_> = ranked.iter().map(|r| r.key.passage).collect();
        assert_eq!(order, [1, 2, 3]);
        assert!((ranked[0].score - 1.0).abs() < 1e-6);
    }

    #[test]
    fn partial_coverage_shrinks_bm25_weight() {
        let d = dense(&[(1, 0.9), (2, 0.5)]);
        let b = lexical(&[(2, 5.0)]);
        // Full coverage: both score 0.5 and the tie breaks by id; a quarter: dense dominates.
        let full = hybrid(&d, &b, 1.0, 0.5, 0.5);
        assert!((full[0].score - full[1].score).abs() < 1e-6);
        let quarter = hybrid(&d, &b, 0.25, 0.5, 0.5);
        assert_eq!(quarter[0].key, key(1));
        assert!((quarter[0].score - 0.8).abs() < 1e-6);
    }

    #[test]
    fn rrf_sums_reciprocal_ranks() {
        let d = dense(&[(1, 0.9), (2, 0.8)]);
        let b = lexical(&[(2, 4.0), (3, 2.0)]);
        let fused = reciprocal_rank_fusion(&d, &b, 1.0, 60.0);
        assert_eq!(fused[0].key, key(2));
        assert!((fused[0].score - (1.0 / 62.0 + 1.0 / 61.0)).abs() < 1e-7);
        let dense_only = reciprocal_rank_fusion(&d, &b, 0.0, 60.0);
        assert_eq!(
            dense_only.iter().map(|r| r.key.passage).collect::<Vec<_>>(),
            [1, 2]
        );
    }

    fn candidate(passage: u32, score: f32) -> Candidate {
        Candidate {
            passage,
            score,
            sentence: Some(passage * 10),
            best: None,
            passage_cosine: None,
            doc: None,
            statement: None,
        }
    }

    #[test]
    fn demoted_questions_score_by_their_statement_after_the_cut() {
        // Passage 0's best sentence is a question; its best statement scores 0.5. Passage 2
        // is cut by the list's top 2 before demotion, as in one collection.
        let mut list = shard(&[(0, 0.9), (1, 0.8), (2, 0.7)], &[]);
        list.dense[0].statement = Some(super::super::shard::BestSentence {
            score: 0.5,
            sentence: 7,
        });
        for mode in [RankMode::SentenceToParent, RankMode::Hybrid, RankMode::Rrf] {
            let ask = |demote_questions| {
                let opts = AskOptions {
                    k: 2,
                    candidates: 2,
                    mode,
                    demote_questions,
                    ..AskOptions::default()
                };
                fuse(&[&list], 0.0, false, &opts)
                    .iter()
                    .map(|r| (r.key.passage, r.sentence))
                    .collect::<Vec<_>>()
            };
            assert_eq!(ask(false), [(0, Some(0)), (1, Some(10))], "{mode:?}");
            assert_eq!(ask(true), [(1, Some(10)), (0, Some(7))], "{mode:?}");
        }
    }

    #[test]
    fn doc_prior_keeps_a_lone_generic_hit_from_winning_alone() {
        // Passage 0 (document 0) is one generic sentence that matches a little better than
        // the three passages of document 10, which all answer.
        let with_docs = |list: &[(u32, f32, u32)]| -> ShardCandidates {
            ShardCandidates {
                generation: 1,
                model_id: "m".into(),
                dense: list
                    .iter()
                    .map(|&(p, s, d)| Candidate {
                        doc: Some(d),
                        ..candidate(p, s)
                    })
                    .collect(),
                ..ShardCandidates::default()
            }
        };
        let list = with_docs(&[(0, 0.84, 0), (10, 0.83, 10), (11, 0.82, 10), (12, 0.81, 10)]);
        let ask = |gamma: f32, mode: RankMode| {
            let opts = AskOptions {
                k: 4,
                mode,
                doc_prior: gamma,
                ..AskOptions::default()
            };
            fuse(&[&list], 0.0, false, &opts)
                .iter()
                .map(|r| r.key.passage)
                .collect::<Vec<_>>()
        };
        for mode in [RankMode::Hybrid, RankMode::Rrf] {
            assert_eq!(
                ask(0.0, mode)[0],
                0,
                "{mode:?}: off, the best sentence wins"
            );
            // The floor is 0.81: document 0's evidence is (0.84 + 2 · 0.81) / 3 = 0.82,
            // document 10's (0.83 + 0.82 + 0.81) / 3 = 0.82 too. At γ = 0.5 passage 0
            // scores 0.83 and passage 10 0.825: with nothing weaker in the list, the lone
            // hit is not penalised.
            assert_eq!(ask(0.5, mode)[0], 0, "{mode:?}");
        }
        // With a fourth, weaker candidate the floor drops and the lone hit loses.
        let list = with_docs(&[
            (0, 0.84, 0),
            (10, 0.83, 10),
            (11, 0.82, 10),
            (12, 0.81, 10),
            (20, 0.60, 20),
        ]);
        let opts = AskOptions {
            k: 5,
            mode: RankMode::Hybrid,
            doc_prior: 0.5,
            ..AskOptions::default()
        };
        let ranked: Vec<u32> = fuse(&[&list], 0.0, false, &opts)
            .iter()
            .map(|r| r.key.passage)
            .collect();
        // Floor 0.6. Document 0: (0.84 + 0.6 + 0.6) / 3 = 0.68, so passage 0 scores 0.76;
        // document 10: 0.82, so passages 10, 11, 12 score 0.825, 0.82, 0.815.
        assert_eq!(ranked[..4], [10, 11, 12, 0]);
        assert_eq!(*ranked.last().unwrap(), 20);
        let mut no_docs = list.clone();
        for c in &mut no_docs.dense {
            c.doc = None;
        }
        // Candidates without a known document keep their scores.
        let unchanged: Vec<u32> = fuse(&[&no_docs], 0.0, false, &opts)
            .iter()
            .map(|r| r.key.passage)
            .collect();
        assert_eq!(unchanged[0], 0);
    }

    fn shard(dense: &[(u32, f32)], lexical: &[(u32, f32)]) -> ShardCandidates {
        ShardCandidates {
            generation: 1,
            model_id: "m".into(),
            passage_vectors: false,
            dense: dense.iter().map(|&(p, s)| candidate(p, s)).collect(),
            by_passage: Vec::new(),
            lexical: lexical
                .iter()
                .map(|&(p, s)| Candidate {
                    best: Some(super::super::shard::BestSentence {
                        score: 0.1,
                        sentence: p * 10,
                    }),
                    ..candidate(p, s)
                })
                .collect(),
        }
    }

    #[test]
    fn fuse_cuts_each_list_over_all_shards_and_breaks_ties_by_shard() {
        let a = shard(&[(0, 0.9), (1, 0.5)], &[(1, 3.0)]);
        let b = shard(&[(0, 0.9), (1, 0.7)], &[(0, 9.0)]);
        let opts = AskOptions {
            k: 2,
            candidates: 2,
            mode: RankMode::SentenceToParent,
            ..AskOptions::default()
        };
        let ranked = fuse(&[&a, &b], 1.0, false, &opts);
        let keys: Vec<_> = ranked
            .iter()
            .map(|r| (r.key.shard, r.key.passage))
            .collect();
        assert_eq!(keys, [(0, 0), (1, 0)]);
        // Hybrid: a lexical-only passage (shard 0, passage 1 is cut from the dense top 2)
        // enters with its best sentence as dense score.
        let hybrid = fuse(
            &[&a, &b],
            1.0,
            false,
            &AskOptions {
                mode: RankMode::Hybrid,
                ..opts
            },
        );
        let keys: Vec<_> = hybrid
            .iter()
            .map(|r| (r.key.shard, r.key.passage))
            .collect();
        assert_eq!(keys, [(1, 0), (0, 0), (0, 1)]);
        assert_eq!(hybrid[2].dense, Some(0.1));
    }
}
