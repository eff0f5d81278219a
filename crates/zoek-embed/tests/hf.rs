//! The Hugging Face path: all-MiniLM-L6-v2 as shipped, and the e5 image exported to f32
//! safetensors agreeing with the image path.

use std::path::PathBuf;

use zoek_embed::export::{HfFlavour, export_image_to_hf_as};
use zoek_embed::{EmbedError, Embedder, EmbedderOptions, Prefixes, Quantize, default_model_dir};

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

fn q8(dir: &std::path::Path) -> Embedder {
    Embedder::from_dir_with(
        dir,
        EmbedderOptions {
            quantize: Quantize::Q8,
            ..EmbedderOptions::default()
        },
    )
    .expect("load with q8 linears")
}

/// Texts of every kind: short, long (windows), non-Latin, emoji, one letter.
fn fidelity_texts() -> Vec<String> {
    let long = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../corpus/status-quo-samenwerking.txt"
    ))
    .unwrap_or_else(|_| "lange tekst ".repeat(400));
    [
        "Wat belemmert de samenwerking tussen zorgcoöperaties en zorgorganisaties?",
        "The weather is lovely today.",
        "It's so sunny outside!",
        "Straße, Größe, Übermäßig",
        "合作社与专业护理机构之间的合作",
        "Goed gedaan 👍",
        "a",
        &long[..long.len().min(3000)],
        long.as_str(),
    ]
    .iter()
    .map(|s| s.to_string())
    .collect()
}

/// The q8 path against the f32 one on the same directory: every vector within cosine 0.999,
/// queries too, and a fingerprint of its own.
fn check_q8(dir: &std::path::Path) {
    let f32_path = Embedder::from_dir(dir).unwrap();
    let q8_path = q8(dir);
    assert_eq!(q8_path.dim(), f32_path.dim());
    assert_eq!(q8_path.prefixes(), f32_path.prefixes());
    assert_ne!(q8_path.model_id(), f32_path.model_id());
    assert!(
        q8_path.model_id().contains("/safetensors-q8_0/sha256:"),
        "{}",
        q8_path.model_id()
    );
    let texts = fidelity_texts();
    let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
    let a = q8_path.embed_passages(&refs).unwrap();
    let b = f32_path.embed_passages(&refs).unwrap();
    let mut worst = 1f32;
    for ((t, x), y) in refs.iter().zip(&a).zip(&b) {
        let c = dot(x, y);
        worst = worst.min(c);
        assert!(
            c >= 0.999,
            "{}: {:?}: cosine {c}",
            dir.display(),
            t.chars().take(30).collect::<String>()
        );
    }
    eprintln!("{}: q8 vs f32 min cosine {worst}", dir.display());
    // One at a time (the intra-pass path) gives the batch's vectors.
    for (t, x) in refs.iter().zip(&a).take(3) {
        let one = q8_path.embed_passages(&[t]).unwrap();
        assert!(dot(&one[0], x) > 0.99999);
    }
    let qa = q8_path.embed_query(refs[0]).unwrap();
    let qb = f32_path.embed_query(refs[0]).unwrap();
    assert!(dot(&qa, &qb) >= 0.999);
}

#[test]
fn minilm_q8_agrees_with_f32() {
    let Some(dir) = minilm_dir() else { return };
    check_q8(&dir);
    // And still reproduces the published similarities.
    let e = q8(&dir);
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
            (got - want).abs() < 0.01,
            "sim({a},{b}) = {got}, published {want}"
        );
    }
}

#[test]
fn exported_image_q8_agrees_with_f32() {
    let image_dir = default_model_dir();
    if !image_dir.join("zoek-model.json").exists() {
        eprintln!(
            "SKIPPED: no model in {} (run `bash models/fetch`)",
            image_dir.display()
        );
        return;
    }
    for flavour in [HfFlavour::Bert, HfFlavour::XlmRoberta] {
        let tmp = tempfile::tempdir().unwrap();
        export_image_to_hf_as(&image_dir, tmp.path(), flavour).expect("export");
        check_q8(tmp.path());
    }
    // The image itself is 4-bit: asking to quantise it is a clear error.
    let err = Embedder::from_dir_with(
        &image_dir,
        EmbedderOptions {
            quantize: Quantize::Q8,
            ..EmbedderOptions::default()
        },
    )
    .unwrap_err();
    assert!(matches!(err, EmbedError::Unsupported(_)), "{err}");
}

#[test]
fn q8_refuses_damaged_and_unsupported_configs() {
    let Some(dir) = minilm_dir() else { return };
    let config: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("config.json")).unwrap()).unwrap();
    let cases: [(&str, serde_json::Value, &str); 5] = [
        ("vocab_size", serde_json::json!(1u64 << 62), "overflows"),
        ("vocab_size", serde_json::json!(1u64 << 40), "shape"),
        ("vocab_size", serde_json::json!(1000), "shape"),
        ("hidden_act", serde_json::json!("relu"), "hidden_act"),
        ("max_position_embeddings", serde_json::json!(64), "shape"),
    ];
    for (key, value, needle) in cases {
        let tmp = tempfile::tempdir().unwrap();
        for f in ["model.safetensors", "tokenizer.json"] {
            std::os::unix::fs::symlink(dir.join(f).canonicalize().unwrap(), tmp.path().join(f))
                .unwrap();
        }
        let mut c = config.clone();
        c[key] = value.clone();
        std::fs::write(tmp.path().join("config.json"), c.to_string()).unwrap();
        let err = Embedder::from_dir_with(
            tmp.path(),
            EmbedderOptions {
                quantize: Quantize::Q8,
                ..EmbedderOptions::default()
            },
        )
        .unwrap_err();
        assert!(err.to_string().contains(needle), "{key} = {value}: {err}");
    }
}
