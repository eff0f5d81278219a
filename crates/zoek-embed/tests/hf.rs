//! The Hugging Face path: all-MiniLM-L6-v2 as shipped, and the e5 image exported to f32
//! safetensors agreeing with the image path.

use std::path::PathBuf;

use zoek_embed::export::{HfFlavour, export_image_to_hf_as};
use zoek_embed::{Embedder, EmbedderOptions, Prefixes, default_model_dir};

fn minilm_dir() -> Option<PathBuf> {
    let dir = PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../models/all-MiniLM-L6-v2"
    ));
    if dir.join("model.safetensors").exists() {
        Some(dir)
    } else {
        eprintln!(
            "SKIPPED: no all-MiniLM-L6-v2 in {} (run `bash models/fetch`)",
            dir.display()
        );
        None
    }
}

fn dot(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

#[test]
fn minilm_matches_published_similarities() {
    let Some(dir) = minilm_dir() else { return };
    let e = Embedder::from_dir(&dir).expect("load all-MiniLM-L6-v2");
    assert_eq!(e.dim(), 384);
    assert_eq!(e.prefixes(), &Prefixes::none());
    assert!(
        e.model_id()
            .starts_with("all-MiniLM-L6-v2/safetensors/sha256:"),
        "{}",
        e.model_id()
    );
    assert_eq!(e.count_tokens("The weather is lovely today.").unwrap(), 6);
    // The sentence-transformers quick-start example for this model reports
    // [[1, 0.6660, 0.1046], [0.6660, 1, 0.1411], [0.1046, 0.1411, 1]].
    let v = e
        .embed_passages(&[
            "The weather is lovely today.",
            "It's so sunny outside!",
            "He drove to the stadium.",
        ])
        .unwrap();
    for (a, b, want) in [(0, 1, 0.6660), (0, 2, 0.1046), (1, 2, 0.1411)] {
        let got = dot(&v[a], &v[b]);
        assert!(
            (got - want).abs() < 0.002,
            "sim({a},{b}) = {got}, published {want}"
        );
    }
    // No prefixes: a query is embedded exactly like a passage.
    let q = e.embed_query("The weather is lovely today.").unwrap();
    assert!(dot(&q, &v[0]) > 0.99999);
}

fn check_export(flavour: HfFlavour) {
    let image_dir = default_model_dir();
    if !image_dir.join("zoek-model.json").exists() {
        eprintln!(
            "SKIPPED: no model in {} (run `bash models/fetch`)",
            image_dir.display()
        );
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    export_image_to_hf_as(&image_dir, tmp.path(), flavour).expect("export");
    let hf = Embedder::from_dir_with(tmp.path(), EmbedderOptions::default())
        .expect("load exported directory");
    let image = Embedder::from_dir(&image_dir).unwrap();
    assert_eq!(hf.prefixes(), &Prefixes::e5());
    assert_eq!(hf.dim(), image.dim());
    assert_ne!(hf.model_id(), image.model_id());
    let long = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../corpus/status-quo-samenwerking.txt"
    ))
    .unwrap_or_else(|_| "lange tekst ".repeat(400));
    let texts = [
        "Wat belemmert de samenwerking tussen zorgcoöperaties en zorgorganisaties?",
        "The quick brown fox jumps over the lazy dog.",
        "Straße, Größe, Übermäßig",
        "合作社与专业护理机构之间的合作",
        "Goed gedaan 👍",
        "a",
        long.as_str(),
    ];
    let a = hf.embed_passages(&texts).unwrap();
    let b = image.embed_passages(&texts).unwrap();
    for ((t, x), y) in texts.iter().zip(&a).zip(&b) {
        let c = dot(x, y);
        assert!(
            c >= 0.999,
            "{flavour:?} {:?}: cosine {c}",
            t.chars().take(30).collect::<String>()
        );
    }
    let qa = hf.embed_query(texts[0]).unwrap();
    let qb = image.embed_query(texts[0]).unwrap();
    assert!(dot(&qa, &qb) >= 0.999);
}

#[test]
fn exported_image_agrees_with_image_path() {
    check_export(HfFlavour::Bert);
}

#[test]
fn exported_image_as_xlm_roberta_agrees_with_image_path() {
    check_export(HfFlavour::XlmRoberta);
}
