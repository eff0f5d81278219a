//! The `zoek` binary end to end: answers on the example corpus, JSON shapes, and bad input
//! that must end in a clear message and a non-zero exit, never a panic.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn model_dir() -> Option<PathBuf> {
    let dir = zoek::embed::default_model_dir();
    if dir.join("zoek-model.json").is_file() {
        Some(dir)
    } else {
        eprintln!("SKIPPED: no model at {} (run models/fetch)", dir.display());
        None
    }
}

fn zoek(cache: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_zoek"))
        .args(args)
        .env("ZOEK_CACHE_DIR", cache)
        .output()
        .expect("the zoek binary runs")
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn assert_clean_failure(o: &Output, needle: &str) {
    let err = stderr(o);
    assert!(!o.status.success(), "expected failure, got success: {err}");
    assert_eq!(o.status.code(), Some(1), "exit code, stderr: {err}");
    assert!(!err.contains("panicked"), "panic: {err}");
    assert!(err.contains(needle), "expected {needle:?} in: {err}");
}

#[test]
fn ask_json_on_the_example_corpus() {
    if model_dir().is_none() {
        return;
    }
    let cache = tempfile::tempdir().unwrap();
    let o = zoek(
        cache.path(),
        &[
            "ask",
            "--quiet",
            "--json",
            "-k",
            "3",
            "who took the initiative?",
        ],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["question"], "who took the initiative?");
    let hits = v["hits"].as_array().unwrap();
    assert_eq!(hits.len(), 3);
    for (i, h) in hits.iter().enumerate() {
        assert_eq!(h["rank"], i + 1);
        for key in ["score", "doc", "heading", "text", "highlight"] {
            assert!(h.get(key).is_some(), "hit lacks {key}: {h}");
        }
    }
    assert!(
        hits.iter().any(|h| h["text"]
            .as_str()
            .unwrap()
            .contains("Het initiatief voor samenwerking in de onderzochte casussen")),
        "{hits:?}"
    );
    for key in ["embed", "search", "total"] {
        assert!(v["timings_ms"][key].as_f64().unwrap() >= 0.0);
    }
    // A second ask reuses the cached build: exactly one collection in the cache.
    let o2 = zoek(
        cache.path(),
        &["ask", "--quiet", "--json", "wie nam het initiatief?"],
    );
    assert!(o2.status.success(), "{}", stderr(&o2));
    let builds = std::fs::read_dir(cache.path()).unwrap().count();
    assert_eq!(builds, 1);
}

#[test]
fn embed_json_shape() {
    if model_dir().is_none() {
        return;
    }
    let cache = tempfile::tempdir().unwrap();
    let o = zoek(
        cache.path(),
        &["embed", "--json", "hallo wereld", "hello world"],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["dim"], 384);
    assert!(v["model"].as_str().unwrap().contains("e5"));
    let vecs = v["vectors"].as_array().unwrap();
    assert_eq!(vecs.len(), 2);
    let a: Vec<f64> = vecs[0]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_f64().unwrap())
        .collect();
    let norm: f64 = a.iter().map(|x| x * x).sum::<f64>().sqrt();
    assert!((norm - 1.0).abs() < 1e-4, "norm {norm}");
}

#[test]
fn bad_questions_fail_cleanly() {
    if model_dir().is_none() {
        return;
    }
    let cache = tempfile::tempdir().unwrap();
    assert_clean_failure(&zoek(cache.path(), &["ask", "--quiet", "   "]), "empty");
    let huge = "waarom ".repeat(100 * 1024 / 7);
    assert_clean_failure(&zoek(cache.path(), &["ask", "--quiet", &huge]), "limit");
}

#[test]
fn missing_index_and_missing_model_fail_cleanly() {
    let cache = tempfile::tempdir().unwrap();
    let missing = cache.path().join("no-such-index");
    assert_clean_failure(
        &zoek(
            cache.path(),
            &["ask", "--index", missing.to_str().unwrap(), "vraag"],
        ),
        "no collection",
    );
    let no_model = cache.path().join("no-model");
    assert_clean_failure(
        &zoek(
            cache.path(),
            &["--model", no_model.to_str().unwrap(), "embed", "hallo"],
        ),
        "models/fetch",
    );
}

#[test]
fn corrupt_manifest_and_other_model_fail_cleanly() {
    if model_dir().is_none() {
        return;
    }
    let cache = tempfile::tempdir().unwrap();
    let docs = cache.path().join("docs");
    std::fs::create_dir(&docs).unwrap();
    std::fs::write(
        docs.join("a.txt"),
        "Samenwerking\n\nDe zorgcoöperatie en de zorgorganisatie werken samen aan goede zorg in het dorp.\n",
    )
    .unwrap();
    let idx = cache.path().join("idx");
    let o = zoek(
        cache.path(),
        &[
            "index",
            "--quiet",
            "--out",
            idx.to_str().unwrap(),
            docs.to_str().unwrap(),
        ],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let o = zoek(
        cache.path(),
        &[
            "ask",
            "--quiet",
            "--index",
            idx.to_str().unwrap(),
            "wie werkt samen?",
        ],
    );
    assert!(o.status.success(), "{}", stderr(&o));

    // Built with another model (all-MiniLM-L6-v2, fetched by models/fetch) → refused.
    let mini = Path::new(env!("CARGO_MANIFEST_DIR")).join("models/all-MiniLM-L6-v2");
    if mini.join("config.json").is_file() {
        let other = cache.path().join("other");
        let o = zoek(
            cache.path(),
            &[
                "--model",
                mini.to_str().unwrap(),
                "index",
                "--quiet",
                "--out",
                other.to_str().unwrap(),
                docs.to_str().unwrap(),
            ],
        );
        assert!(o.status.success(), "{}", stderr(&o));
        assert_clean_failure(
            &zoek(
                cache.path(),
                &[
                    "ask",
                    "--index",
                    other.to_str().unwrap(),
                    "wie werkt samen?",
                ],
            ),
            "model mismatch",
        );
    } else {
        eprintln!("SKIPPED (model mismatch part): no {}", mini.display());
    }

    // A corrupt manifest → refused with a message, not a panic.
    std::fs::write(idx.join("manifest.json"), b"{\"format\": 12, garbage").unwrap();
    assert_clean_failure(
        &zoek(
            cache.path(),
            &["ask", "--index", idx.to_str().unwrap(), "wie werkt samen?"],
        ),
        "corrupt",
    );
}

#[test]
fn empty_corpus_fails_cleanly() {
    if model_dir().is_none() {
        return;
    }
    let cache = tempfile::tempdir().unwrap();
    let docs = cache.path().join("empty");
    std::fs::create_dir(&docs).unwrap();
    std::fs::write(docs.join("binary.txt"), [0xffu8, 0xfe, 0x00, 0x80]).unwrap();
    let out = cache.path().join("out");
    assert_clean_failure(
        &zoek(
            cache.path(),
            &[
                "index",
                "--quiet",
                "--out",
                out.to_str().unwrap(),
                docs.to_str().unwrap(),
            ],
        ),
        "empty corpus",
    );
    assert!(zoek::Collection::open(&out).is_err());
}
