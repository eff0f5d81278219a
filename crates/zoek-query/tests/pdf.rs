//! PDF ingestion: the example corpus as a PDF (a page per seed document, with a running
//! header and a "Pagina N van 2" footer, text wrapped and hyphenated at line ends) reads
//! as the text version does, answers the same questions with the page in every hit, and a
//! damaged PDF is skipped with its reason.

use std::path::{Path, PathBuf};

#[path = "common/pdf.rs"]
mod pdf;

use zoek_query::text::read_corpus;
use zoek_query::{AskOptions, BuildOptions, Collection, Engine};

fn corpus_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../corpus")
}

fn words(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// A directory holding the example corpus as `impressie.pdf`.
fn pdf_corpus() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("impressie.pdf"),
        pdf::example_corpus_pdf(&corpus_dir()),
    )
    .unwrap();
    dir
}

#[test]
fn the_pdf_reads_like_the_text_without_headers_footers_or_hyphens() {
    let dir = pdf_corpus();
    let corpus = read_corpus(&[dir.path().to_path_buf()]).unwrap();
    assert!(corpus.skipped.is_empty(), "{:?}", corpus.skipped);
    let ids: Vec<&str> = corpus.documents.iter().map(|d| d.id.as_str()).collect();
    assert_eq!(ids, ["impressie.pdf#page=1", "impressie.pdf#page=2"]);
    let text = read_corpus(&[corpus_dir()]).unwrap();
    for (page, (from_pdf, from_text)) in corpus.documents.iter().zip(&text.documents).enumerate() {
        assert_eq!(from_pdf.path, "impressie.pdf");
        assert_eq!(from_pdf.metadata["page"], serde_json::json!(page + 1));
        assert_eq!(
            from_pdf.metadata["title"],
            serde_json::json!("Samenwerking tussen zorgcoöperaties")
        );
        let pdf_text: Vec<&str> = from_pdf.blocks.iter().map(|b| b.text.as_str()).collect();
        let pdf_text = words(&pdf_text.join(" "));
        assert!(!pdf_text.contains("Pagina"), "footer kept: {pdf_text}");
        assert!(
            !pdf_text.contains("impressie 2024"),
            "header kept: {pdf_text}"
        );
        let seed: Vec<&str> = from_text.blocks.iter().map(|b| b.text.as_str()).collect();
        assert_eq!(pdf_text, words(&seed.join(" ")), "page {}", page + 1);
    }
}

#[test]
fn a_damaged_pdf_is_skipped_with_its_reason() {
    let dir = pdf_corpus();
    let good = std::fs::read(dir.path().join("impressie.pdf")).unwrap();
    std::fs::write(dir.path().join("afgebroken.pdf"), &good[..good.len() / 3]).unwrap();
    let mut flipped = good.clone();
    for b in flipped.iter_mut().skip(200).step_by(97) {
        *b ^= 0x5A;
    }
    std::fs::write(dir.path().join("beschadigd.pdf"), &flipped).unwrap();
    std::fs::write(dir.path().join("leeg.pdf"), b"").unwrap();
    std::fs::write(
        dir.path().join("notitie.txt"),
        "Een korte notitie over zorg in het dorp.\n",
    )
    .unwrap();
    let corpus = read_corpus(&[dir.path().to_path_buf()]).unwrap();
    let read: Vec<&str> = corpus.documents.iter().map(|d| d.path.as_str()).collect();
    assert!(
        read.contains(&"notitie.txt") && read.contains(&"impressie.pdf"),
        "{read:?}"
    );
    let skipped: Vec<String> = corpus
        .skipped
        .iter()
        .map(|s| s.path.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    assert!(
        skipped.contains(&"leeg.pdf".to_string()),
        "{:?}",
        corpus.skipped
    );
    assert!(skipped.contains(&"afgebroken.pdf".to_string()) || read.contains(&"afgebroken.pdf"));
    assert!(corpus.skipped.iter().all(|s| !s.reason.is_empty()));
}

/// The PDF answers as the text does: for each question, the same passages (by their
/// text), with the page of the seed they come from.
#[test]
fn the_pdf_answers_like_the_text_with_the_page_in_each_hit() {
    let model = zoek_embed::default_model_dir();
    if !model.join("zoek-model.json").is_file() {
        eprintln!(
            "SKIPPED: no model at {} (run models/fetch)",
            model.display()
        );
        return;
    }
    let engine = Engine::from_model_dir(&model).unwrap();
    let pdf_dir = pdf_corpus();
    let (text_index, pdf_index) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let opts = BuildOptions::default();
    engine
        .build(&[corpus_dir()], text_index.path(), &opts)
        .unwrap();
    engine
        .build(&[pdf_dir.path()], pdf_index.path(), &opts)
        .unwrap();
    let (text, pdf) = (
        Collection::open(text_index.path()).unwrap(),
        Collection::open(pdf_index.path()).unwrap(),
    );
    // Pages follow the seeds in name order.
    let page_of = |doc: &str| match doc {
        "status-quo-samenwerking.txt" => 1,
        "zonder-gedeelde-visie.txt" => 2,
        other => panic!("unexpected document {other}"),
    };
    let opts = AskOptions {
        k: 3,
        ..AskOptions::default()
    };
    for question in [
        "what hinders cooperation?",
        "wat belemmert de samenwerking?",
        "Wer hat die Initiative ergriffen?",
        "quelles formes de partenariat existent ?",
        "waarom groeit het aantal zorgcoöperaties?",
    ] {
        let t = text.ask_with(&engine, question, &opts).unwrap();
        let p = pdf.ask_with(&engine, question, &opts).unwrap();
        let t_hits: Vec<(u64, String)> = t
            .hits
            .iter()
            .map(|h| (page_of(&h.doc), words(&h.text)))
            .collect();
        let p_hits: Vec<(u64, String)> = p
            .hits
            .iter()
            .map(|h| {
                assert_eq!(h.doc, format!("impressie.pdf#page={}", h.metadata["page"]));
                (h.metadata["page"].as_u64().unwrap(), words(&h.text))
            })
            .collect();
        assert_eq!(p_hits, t_hits, "{question}");
        assert_eq!(
            p.to_json()["hits"][0]["metadata"]["page"],
            serde_json::json!(p_hits[0].0)
        );
    }
}
