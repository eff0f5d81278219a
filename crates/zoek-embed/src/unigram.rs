//! A compact Unigram (SentencePiece) model: the same best path as `tokenizers`' `Unigram`,
//! in a few megabytes.
//!
//! `tokenizers` builds a byte trie of `HashMap` nodes over the vocabulary, which for XLM-R's
//! 250,002 pieces costs ~290 MB of resident memory and over a second to load. Here the pieces
//! live in one byte blob with an open-addressing hash table (~10 MB). The Viterbi search
//! mirrors `Unigram::encode_optimized`: candidate pieces are tried at each character start in
//! increasing length, a strictly better score replaces the previous best, a character no
//! single piece covers becomes `<unk>` scored `min score − 10`, and runs of `<unk>` fuse into
//! one token. The tests compare it with `tokenizers` id for id.

use crate::error::EmbedError;

const UNK_PENALTY: f64 = 10.0;

/// The Unigram vocabulary with scores, ready for lookups.
pub struct CompactUnigram {
    blob: Vec<u8>,
    offsets: Vec<u32>,
    scores: Vec<f64>,
    table: Vec<u32>,
    mask: usize,
    unk_id: u32,
    unk_score: f64,
    max_piece_bytes: usize,
}

impl std::fmt::Debug for CompactUnigram {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CompactUnigram")
            .field("pieces", &self.scores.len())
            .field("unk_id", &self.unk_id)
            .finish_non_exhaustive()
    }
}

fn fnv1a(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in bytes {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

impl CompactUnigram {
    /// Builds the model from `(piece, score)` pairs in id order.
    pub fn new(vocab: Vec<(String, f64)>, unk_id: usize) -> Result<Self, EmbedError> {
        if unk_id >= vocab.len() {
            return Err(EmbedError::Tokenizer(format!(
                "unk id {unk_id} outside a vocabulary of {}",
                vocab.len()
            )));
        }
        let n = vocab.len();
        let total: usize = vocab.iter().map(|(p, _)| p.len()).sum();
        let mut blob = Vec::with_capacity(total);
        let mut offsets = Vec::with_capacity(n + 1);
        let mut scores = Vec::with_capacity(n);
        let mut max_piece_bytes = 1;
        let mut min_score = f64::INFINITY;
        offsets.push(0u32);
        for (piece, score) in vocab {
            blob.extend_from_slice(piece.as_bytes());
            let end = u32::try_from(blob.len())
                .map_err(|_| EmbedError::Tokenizer("vocabulary larger than 4 GB".into()))?;
            offsets.push(end);
            max_piece_bytes = max_piece_bytes.max(piece.len());
            min_score = min_score.min(score);
            scores.push(score);
        }
        let size = (n * 2).next_power_of_two().max(16);
        let mut model = Self {
            blob,
            offsets,
            scores,
            table: vec![0; size],
            mask: size - 1,
            unk_id: unk_id as u32,
            unk_score: min_score - UNK_PENALTY,
            max_piece_bytes,
        };
        for id in 0..n {
            let piece = model.piece(id);
            if piece.is_empty() {
                continue;
            }
            let mut slot = fnv1a(piece) as usize & model.mask;
            loop {
                let v = model.table[slot];
                if v == 0 {
                    model.table[slot] = id as u32 + 1;
                    break;
                }
                // A repeated piece resolves to its last id, as `tokenizers`' map does.
                if model.piece(v as usize - 1) == piece {
                    model.table[slot] = id as u32 + 1;
                    break;
                }
                slot = (slot + 1) & model.mask;
            }
        }
        Ok(model)
    }

    fn piece(&self, id: usize) -> &[u8] {
        &self.blob[self.offsets[id] as usize..self.offsets[id + 1] as usize]
    }

    fn lookup(&self, bytes: &[u8]) -> Option<usize> {
        let mut slot = fnv1a(bytes) as usize & self.mask;
        loop {
            let v = self.table[slot];
            if v == 0 {
                return None;
            }
            let id = v as usize - 1;
            if self.piece(id) == bytes {
                return Some(id);
            }
            slot = (slot + 1) & self.mask;
        }
    }

    /// Appends the ids of the best segmentation of `s` (one pre-tokenized split) to `out`.
    pub fn encode_into(&self, s: &str, out: &mut Vec<u32>) {
        if s.is_empty() {
            return;
        }
        let bytes = s.as_bytes();
        let size = bytes.len();
        // (score, start, id) of the best path ending at each byte offset.
        let mut best: Vec<(f64, usize, u32)> = vec![(0.0, usize::MAX, 0); size + 1];
        let mut start = 0;
        while start < size {
            let base = best[start].0;
            let mblen = s[start..].chars().next().map_or(1, char::len_utf8);
            let mut single = false;
            let limit = (start + self.max_piece_bytes).min(size);
            let mut end = start + mblen;
            while end <= limit {
                if let Some(id) = self.lookup(&bytes[start..end]) {
                    let cand = base + self.scores[id];
                    let node = &mut best[end];
                    if node.1 == usize::MAX || cand > node.0 {
                        *node = (cand, start, id as u32);
                    }
                    if end - start == mblen {
                        single = true;
                    }
                }
                end += s[end..].chars().next().map_or(1, char::len_utf8);
            }
            if !single {
                let cand = base + self.unk_score;
                let node = &mut best[start + mblen];
                if node.1 == usize::MAX || cand > node.0 {
                    *node = (cand, start, self.unk_id);
                }
            }
            start += mblen;
        }
        let first = out.len();
        let mut end = size;
        let mut prev_unk = false;
        while end > 0 {
            let (_, from, id) = best[end];
            let is_unk = id == self.unk_id;
            if !(is_unk && prev_unk) {
                out.push(id);
            }
            prev_unk = is_unk;
            end = from;
        }
        out[first..].reverse();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn best_path_and_unknown_fusion() {
        let vocab = [
            ("<unk>", 0.0),
            ("a", 0.0),
            ("b", 0.0),
            ("c", 0.0),
            ("d", 0.0),
            ("cd", 1.0),
            ("ab", 2.0),
            ("abc", 5.0),
            ("abcd", 10.0),
        ]
        .iter()
        .map(|(p, s)| (p.to_string(), *s))
        .collect();
        let m = CompactUnigram::new(vocab, 0).unwrap();
        let mut out = Vec::new();
        // The `tokenizers` doc example: "abcdacdxx" -> abcd, a, cd, xx (fused unk).
        m.encode_into("abcdacdxx", &mut out);
        assert_eq!(out, [8, 1, 5, 0]);
        out.clear();
        m.encode_into("xéa", &mut out);
        assert_eq!(out, [0, 1]);
    }
}
