//! Late chunking: the sentences of a passage pooled out of the passage's own forward pass.
//!
//! A passage is laid out as `open specials + head + sentence 1 + … + sentence n + close
//! specials`, where the head is the passage prefix (`"passage: "`) followed by an optional
//! context (e.g. the document title and section heading) and each sentence is tokenized on
//! its own, so its tokens are known exactly. One pass gives every token a state that has
//! attended to the whole passage; a sentence's vector is the mean of its own tokens' states
//! and the passage vector the mean of all of them, specials included, as a plain embedding
//! is. The head's tokens shape the sentences' states but belong to no sentence.
//!
//! A passage longer than the model's window is cut, at sentence boundaries, into windows
//! that each repeat the head; a sentence longer than a window on its own is cut into pieces
//! whose vectors are combined weighted by their token counts (as [`crate::windows`] does
//! for long texts). The passage vector combines its windows the same way.

use std::ops::Range;

use crate::windows::Combiner;

/// A passage whose sentence vectors come out of its own forward pass.
#[derive(Debug, Clone, Copy)]
pub struct LatePassage<'a> {
    /// Text that every sentence's tokens attend to but that no sentence vector pools, e.g.
    /// `"Title — Heading"`; empty for none.
    pub context: &'a str,
    /// The passage's sentences, in order; the passage is their concatenation.
    pub sentences: &'a [&'a str],
}

/// The vectors of one [`LatePassage`], L2-normalised.
#[derive(Debug, Clone, PartialEq)]
pub struct LateVectors {
    /// The whole passage (head and sentences).
    pub passage: Vec<f32>,
    /// One per sentence, in order.
    pub sentences: Vec<Vec<f32>>,
}

/// One forward pass input: a sequence with its specials and the spans to pool.
#[derive(Debug, Clone)]
pub(crate) struct Job {
    pub seq: Vec<u32>,
    /// `spans[0]` is the whole sequence; the others are sentence pieces.
    pub spans: Vec<Range<usize>>,
    /// Which passage the job belongs to.
    pub passage: usize,
    /// For `spans[1..]`: the sentence each piece belongs to.
    pub sentences: Vec<usize>,
}

/// Lays out one passage as jobs of at most `max_content` content tokens each.
/// `head` is the tokenized prefix and context, `sentences` the tokenized sentences.
pub(crate) fn plan(
    passage: usize,
    head: &[u32],
    sentences: &[Vec<u32>],
    open: &[u32],
    close: &[u32],
    max_content: usize,
) -> Vec<Job> {
    // Keep room for the sentences: a head may take at most a quarter of a window.
    let head = &head[..head.len().min(max_content / 4)];
    let budget = (max_content - head.len()).max(1);
    let mut jobs = Vec::new();
    let mut cur: Option<Job> = None;
    let start = |jobs: &mut Vec<Job>, cur: &mut Option<Job>| {
        if let Some(job) = cur.take() {
            jobs.push(finish(job, close));
        }
        let mut seq = Vec::with_capacity(open.len() + max_content + close.len());
        seq.extend_from_slice(open);
        seq.extend_from_slice(head);
        *cur = Some(Job {
            seq,
            spans: std::iter::once(0..0).collect(),
            passage,
            sentences: Vec::new(),
        });
    };
    start(&mut jobs, &mut cur);
    for (i, tokens) in sentences.iter().enumerate() {
        // An empty sentence has no tokens to pool; the assembler gives it the passage vector.
        for piece in tokens.chunks(budget) {
            let used = cur
                .as_ref()
                .map_or(0, |j| j.seq.len() - open.len() - head.len());
            if used > 0 && used + piece.len() > budget {
                start(&mut jobs, &mut cur);
            }
            if let Some(job) = cur.as_mut() {
                let at = job.seq.len();
                job.seq.extend_from_slice(piece);
                job.spans.push(at..job.seq.len());
                job.sentences.push(i);
            }
        }
    }
    if let Some(job) = cur.take() {
        jobs.push(finish(job, close));
    }
    jobs
}

fn finish(mut job: Job, close: &[u32]) -> Job {
    job.seq.extend_from_slice(close);
    job.spans[0] = 0..job.seq.len();
    job
}

/// Combines the pooled spans of every job into each passage's vectors. `pooled[j][k]` is
/// the mean of `jobs[j].spans[k]`; `n_sentences[p]` the sentence count of passage `p`.
pub(crate) fn assemble(
    jobs: &[Job],
    pooled: &[Vec<Vec<f32>>],
    n_sentences: &[usize],
    dim: usize,
    open_close: usize,
) -> Vec<LateVectors> {
    let mut passages: Vec<Combiner> = vec![Combiner::new(dim); n_sentences.len()];
    let mut sentences: Vec<Vec<Combiner>> = n_sentences
        .iter()
        .map(|&n| vec![Combiner::new(dim); n])
        .collect();
    for (job, means) in jobs.iter().zip(pooled) {
        let content = job.seq.len().saturating_sub(open_close).max(1) as f32;
        if let Some(whole) = means.first() {
            passages[job.passage].add(whole, content);
        }
        for ((&s, span), mean) in job.sentences.iter().zip(&job.spans[1..]).zip(&means[1..]) {
            sentences[job.passage][s].add(mean, span.len() as f32);
        }
    }
    passages
        .into_iter()
        .zip(sentences)
        .map(|(p, ss)| {
            let passage = p.finish();
            let sentences = ss
                .into_iter()
                .map(|s| {
                    if s.is_empty() {
                        passage.clone()
                    } else {
                        s.finish()
                    }
                })
                .collect();
            LateVectors { passage, sentences }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_window_holds_head_and_every_sentence() {
        let jobs = plan(0, &[7, 8], &[vec![1, 2], vec![3]], &[0], &[9], 100);
        assert_eq!(jobs.len(), 1);
        assert_eq!(jobs[0].seq, vec![0, 7, 8, 1, 2, 3, 9]);
        assert_eq!(jobs[0].spans, vec![0..7, 3..5, 5..6]);
        assert_eq!(jobs[0].sentences, vec![0, 1]);
    }

    #[test]
    fn long_passages_split_at_sentences_and_repeat_the_head() {
        let s = vec![vec![1; 5], vec![2; 5], vec![3; 12]];
        let jobs = plan(3, &[7], &s, &[0], &[9], 7);
        // Budget 6 content tokens after the head: [s0], [s1], [s2 piece 6], [s2 piece 6].
        assert_eq!(jobs.len(), 4);
        for j in &jobs {
            assert_eq!(&j.seq[..2], &[0, 7]);
            assert_eq!(*j.seq.last().unwrap(), 9);
            assert!(j.seq.len() - 2 <= 7);
            assert_eq!(j.passage, 3);
        }
        let owners: Vec<usize> = jobs.iter().flat_map(|j| j.sentences.clone()).collect();
        assert_eq!(owners, vec![0, 1, 2, 2]);
    }

    #[test]
    fn empty_sentences_take_the_passage_vector() {
        let jobs = plan(0, &[7], &[vec![1], vec![]], &[0], &[9], 10);
        let pooled = vec![vec![vec![1.0, 0.0], vec![0.0, 1.0]]];
        let out = assemble(&jobs, &pooled, &[2], 2, 2);
        assert_eq!(out[0].sentences[1], out[0].passage);
        assert_eq!(out[0].sentences[0], vec![0.0, 1.0]);
    }
}
