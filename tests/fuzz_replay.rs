//! Replays every committed fuzz corpus file (`fuzz/corpus/<target>/`) and every target's
//! seeds through the fuzz targets' own code (`fuzz/src/lib.rs`, compiled here on stable,
//! no fuzzer needed), so what fuzzing found stays fixed. A panic is a failure: the targets
//! return normally on every input, whatever it holds.
//!
//! `cargo test --release --test fuzz_replay -- --ignored write_seeds` writes the seeds
//! into the corpus directories (as `seed-N`), where fuzzing starts from them.

use std::path::{Path, PathBuf};

#[path = "../fuzz/src/lib.rs"]
#[allow(dead_code)]
mod targets;

fn corpus_dir(target: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fuzz/corpus")
        .join(target)
}

fn replay(target: &str) {
    let (_, run) = targets::TARGETS
        .iter()
        .find(|(name, _)| *name == target)
        .expect("a target of that name");
    for seed in targets::seeds(target) {
        // The seeds are valid files (the `collection` seeds that damage one aside), so each
        // must be accepted all the way: that keeps them reaching the deep code.
        let damaging = target == "collection" && seed[1] != 4;
        assert!(run(&seed) || damaging, "{target}: a seed was refused");
    }
    let dir = corpus_dir(target);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    assert!(!files.is_empty(), "{} holds no corpus", dir.display());
    for file in &files {
        let bytes = std::fs::read(file).unwrap();
        // The target's own hook may be silent; say which file is running if one fails.
        let outcome = std::panic::catch_unwind(|| run(&bytes));
        assert!(outcome.is_ok(), "{target}: {} panicked", file.display());
    }
}

macro_rules! replay_tests {
    ($($name:ident),* $(,)?) => {
        $(#[test]
        fn $name() {
            replay(stringify!($name));
        })*

        #[test]
        fn every_target_is_replayed() {
            let here: &[&str] = &[$(stringify!($name)),*];
            let all: Vec<&str> = targets::TARGETS.iter().map(|(n, _)| *n).collect();
            assert_eq!(here, all.as_slice());
        }
    };
}

replay_tests!(
    model_image,
    tokenizer,
    hnsw,
    collection_manifest,
    segment_manifest,
    tombstones,
    passage_store,
    doc_table,
    arrays,
    collection,
);

#[test]
#[ignore = "writes the seed inputs into fuzz/corpus; run by hand"]
fn write_seeds() {
    for (target, _) in targets::TARGETS {
        let dir = corpus_dir(target);
        std::fs::create_dir_all(&dir).unwrap();
        for (i, seed) in targets::seeds(target).iter().enumerate() {
            std::fs::write(dir.join(format!("seed-{i}")), seed).unwrap();
        }
    }
}
