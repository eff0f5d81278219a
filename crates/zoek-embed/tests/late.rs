//! Late chunking: sentence vectors pooled out of their passage's forward pass.

use std::path::PathBuf;

use zoek_embed::{Embedder, EmbedderOptions, LatePassage, default_model_dir};

fn embedder() -> Option<Embedder> {
    let dir = default_model_dir();
    if !dir.exists() {
        eprintln!(
            "SKIPPED: no model in {} (run `bash models/fetch`)",
            dir.display()
        );
        return None;
    }
    Some(Embedder::from_dir(dir).expect("load model"))
}

fn minilm() -> Option<Embedder> {
    let dir = PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../models/all-MiniLM-L6-v2"
    ));
    if !dir.exists() {
        eprintln!("SKIPPED: no all-MiniLM-L6-v2 in {}", dir.display());
        return None;
    }
    Some(Embedder::from_dir(dir).expect("load all-MiniLM-L6-v2"))
}

fn dot(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

const SENTENCES: [&str; 4] = [
    "Wantrouwen vanuit het dorp belemmerde in eerste instantie de samenwerking.",
    "Door samen een visie te ontwikkelen, verdween het wij-zij gevoel.",
    "De zorgorganisatie wilde het verzorgingshuis openhouden.",
    "Vrijwilligers en professionals komen elkaar steeds vaker tegen.",
];

#[test]
fn passage_vector_is_the_joined_passage() {
    let Some(e) = embedder() else { return };
    let out = e
        .embed_late(&[LatePassage {
            context: "",
            sentences: &SENTENCES,
        }])
        .unwrap();
    let joined = e.embed_passages(&[&SENTENCES.join(" ")]).unwrap();
    // Sentences tokenized one by one give the joined text's tokens (each starts a word).
    assert!(
        dot(&out[0].passage, &joined[0]) > 0.9999,
        "{}",
        dot(&out[0].passage, &joined[0])
    );
    assert_eq!(out[0].sentences.len(), SENTENCES.len());
    for v in &out[0].sentences {
        assert!((dot(v, v) - 1.0).abs() < 1e-4);
    }
}

#[test]
fn batches_equal_single_passages() {
    for e in [embedder(), minilm()].into_iter().flatten() {
        let a = LatePassage {
            context: "Samen of liever alleen?",
            sentences: &SENTENCES[..2],
        };
        let b = LatePassage {
            context: "",
            sentences: &SENTENCES[2..],
        };
        let both = e.embed_late(&[a, b]).unwrap();
        for (one, p) in both.iter().zip([a, b]) {
            let alone = e.embed_late(&[p]).unwrap().remove(0);
            assert!(dot(&one.passage, &alone.passage) > 0.9999);
            for (x, y) in one.sentences.iter().zip(&alone.sentences) {
                assert!(dot(x, y) > 0.9999, "{} {}", e.model_id(), dot(x, y));
            }
        }
    }
}

#[test]
fn sentences_pool_their_own_tokens() {
    // Late sentence vectors are pulled towards their passage (that is the point, and why
    // they highlight less sharply), but each must stay nearest, on average clearly, to its
    // own text: a span shifted onto a neighbour would erase that margin.
    let Some(e) = embedder() else { return };
    let late = e
        .embed_late(&[LatePassage {
            context: "",
            sentences: &SENTENCES,
        }])
        .unwrap()
        .remove(0);
    let alone = e.embed_passages(&SENTENCES).unwrap();
    let n = SENTENCES.len();
    let (mut own, mut other) = (0.0, 0.0);
    for (i, v) in late.sentences.iter().enumerate() {
        let mut row: Vec<(f32, usize)> = alone
            .iter()
            .enumerate()
            .map(|(j, a)| (dot(v, a), j))
            .collect();
        own += row[i].0 / n as f32;
        other += row.iter().filter(|r| r.1 != i).map(|r| r.0).sum::<f32>() / (n * (n - 1)) as f32;
        row.sort_by(|a, b| b.0.total_cmp(&a.0));
        assert!(row[..2].iter().any(|r| r.1 == i), "sentence {i}: {row:?}");
    }
    assert!(own > other + 0.02, "own {own:.3}, others {other:.3}");
}

#[test]
fn long_passages_and_empty_sentences_are_windowed() {
    let Some(e) = Embedder::from_dir_with(
        default_model_dir(),
        EmbedderOptions {
            threads: Some(2),
            ..EmbedderOptions::default()
        },
    )
    .ok() else {
        return;
    };
    let long =
        "Dit is een lange zin over samenwerking tussen zorgcoöperaties en zorgorganisaties. "
            .repeat(60);
    let sentences: Vec<&str> = vec![SENTENCES[0], long.as_str(), "", SENTENCES[1]];
    let out = e
        .embed_late(&[LatePassage {
            context: &"Kop ".repeat(400),
            sentences: &sentences,
        }])
        .unwrap()
        .remove(0);
    assert_eq!(out.sentences.len(), 4);
    // The empty sentence stands in with the passage vector.
    assert_eq!(out.sentences[2], out.passage);
    for v in &out.sentences {
        assert!((dot(v, v) - 1.0).abs() < 1e-4);
    }
    assert!(e.embed_late(&[]).unwrap().is_empty());
}
