//! The compact Unigram tokenizer against `tokenizers` itself, id for id.

use zoek_embed::TextTokenizer;
use zoek_embed::default_model_dir;

#[test]
fn compact_unigram_equals_tokenizers() {
    let path = default_model_dir().join("tokenizer.json");
    if !path.exists() {
        eprintln!(
            "SKIPPED: no tokenizer at {} (run `bash models/fetch`)",
            path.display()
        );
        return;
    }
    let json = std::fs::read_to_string(&path).unwrap();
    let compact = TextTokenizer::from_json(&json).unwrap();
    let full = TextTokenizer::full(&json).unwrap();
    assert_eq!(compact.open(), full.open());
    assert_eq!(compact.close(), full.close());
    assert_eq!(compact.open(), [0]);
    assert_eq!(compact.close(), [2]);

    let fixture = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/reference.json");
    let doc: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(fixture).unwrap()).unwrap();
    let mut texts: Vec<String> = doc["cases"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["text"].as_str().unwrap().to_string())
        .collect();
    texts.extend(
        [
            "",
            " ",
            "\u{1F9EA}\u{1FAE0} onbekende tekens \u{E000}\u{10FFFD}",
            "e\u{301}e\u{301} combining accents",
            "tab\tnew\nline\r\nnul\u{0}del\u{7f}",
            "𝔘𝔫𝔦𝔠𝔬𝔡𝔢 ℌ𝔢𝔩𝔩𝔬 ＨＡＬＬＯ",
            "日本語のテキストと English mixed 한국어",
        ]
        .map(String::from),
    );
    for t in &texts {
        for prefix in ["", "query: ", "passage: "] {
            let s = format!("{prefix}{t}");
            assert_eq!(
                compact.content_ids(&s).unwrap(),
                full.content_ids(&s).unwrap(),
                "{s:?}"
            );
        }
    }
}
