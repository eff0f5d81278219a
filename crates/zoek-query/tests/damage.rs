//! Damaged collections give errors, never panics — from zoek or from tantivy.
//!
//! A collection of the example corpus (two segments, a tombstone, HNSW graphs, passage
//! vectors) is copied afresh for every trial, and one of its files is damaged: 12 trials of
//! 16 random bytes overwritten, the first 350 bytes garbled, and the file cut to half its
//! length. Then the collection is opened and, if it opens, asked in three ranking modes,
//! counted and verified. Every call must return (`Ok` or `Err`); a data file listed in
//! `segment.json` that was changed must be caught by `open` or `verify`.
//!
//! This is the only test in its binary, because it silences the panic hook while it runs
//! (tantivy's panics on damaged files are caught at zoek's boundary, but the hook would still
//! print each one).

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};

use zoek_query::{
    AskOptions, BuildOptions, Collection, Engine, HashEmbedder, RankMode, TokenCounting,
};

#[path = "common/tree.rs"]
mod tree;
use tree::{copy_tree, two_segments_with_tombstone};

const RANDOM_TRIALS: usize = 12;

fn files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            files(&path, out);
        } else {
            out.push(path);
        }
    }
}

/// xorshift64: deterministic damage without a dependency.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

#[derive(Debug, Clone, Copy)]
enum Damage {
    Random,
    Garble,
    Truncate,
}

fn damage(bytes: &[u8], how: Damage, rng: &mut Rng) -> Vec<u8> {
    let mut out = bytes.to_vec();
    match how {
        Damage::Random => {
            if !out.is_empty() {
                for _ in 0..16 {
                    let at = (rng.next() % out.len() as u64) as usize;
                    out[at] = rng.next() as u8;
                }
            }
        }
        Damage::Garble => {
            for b in out.iter_mut().take(350) {
                *b = rng.next() as u8;
            }
        }
        Damage::Truncate => out.truncate(out.len() / 2),
    }
    out
}

/// Opens, asks, counts and verifies; `Ok(true)` when everything succeeded, `Ok(false)` when
/// something returned an error.
fn exercise(dir: &Path, engine: &Engine) -> zoek_query::Result<()> {
    let collection = Collection::open(dir)?;
    for mode in [RankMode::Hybrid, RankMode::Rrf, RankMode::DenseParagraph] {
        let opts = AskOptions {
            k: 5,
            mode,
            ..AskOptions::default()
        };
        collection.ask_with(engine, "wat belemmert de samenwerking?", &opts)?;
        collection.ask_with(engine, "wie nam het initiatief", &opts)?;
    }
    collection.stats()?;
    collection.verify()
}

#[test]
fn damaged_files_give_errors_not_panics() {
    let engine = Engine::new(HashEmbedder::default());
    let root = tempfile::tempdir().unwrap();
    let pristine = root.path().join("pristine");
    let opts = BuildOptions {
        token_counting: TokenCounting::CharEstimate,
        hnsw_threshold: 1,
        ..BuildOptions::default()
    };
    two_segments_with_tombstone(&pristine, &engine, &opts, root.path());
    exercise(&pristine, &engine).expect("the undamaged collection works");

    let mut all = Vec::new();
    files(&pristine, &mut all);
    all.sort();
    // Lock files carry no data.
    all.retain(|p| !p.to_string_lossy().ends_with(".lock"));
    assert!(all.len() > 30, "{} files", all.len());
    let listed: Vec<PathBuf> = ["seg-000001", "seg-000002"]
        .iter()
        .flat_map(|s| {
            let dir = pristine.join(s);
            let m: serde_json::Value =
                serde_json::from_slice(&std::fs::read(dir.join("segment.json")).unwrap()).unwrap();
            m["files"]
                .as_array()
                .unwrap()
                .iter()
                .map(|f| dir.join(f["name"].as_str().unwrap()))
                .collect::<Vec<_>>()
        })
        .collect();

    let hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {}));
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let mut panics = Vec::new();
    let mut undetected = Vec::new();
    let mut trials = 0;
    let mut contained = 0;
    for (n, file) in all.iter().enumerate() {
        let rel = file.strip_prefix(&pristine).unwrap();
        let original = std::fs::read(file).unwrap();
        let ways = (0..RANDOM_TRIALS)
            .map(|_| Damage::Random)
            .chain([Damage::Garble, Damage::Truncate]);
        for how in ways {
            let work = root.path().join(format!("t{n}-{trials}"));
            copy_tree(&pristine, &work);
            let damaged = damage(&original, how, &mut rng);
            if damaged == original {
                continue;
            }
            std::fs::write(work.join(rel), &damaged).unwrap();
            trials += 1;
            match catch_unwind(AssertUnwindSafe(|| exercise(&work, &engine))) {
                Err(payload) => {
                    let msg = payload
                        .downcast_ref::<&str>()
                        .map(|s| s.to_string())
                        .or_else(|| payload.downcast_ref::<String>().cloned())
                        .unwrap_or_default();
                    panics.push(format!("{} {how:?}: {msg}", rel.display()));
                }
                Ok(Ok(())) if listed.contains(file) => {
                    undetected.push(format!("{} {how:?}", rel.display()));
                }
                Ok(Err(e)) if e.to_string().contains("tantivy failed") => contained += 1,
                Ok(_) => {}
            }
            std::fs::remove_dir_all(&work).unwrap();
        }
    }
    std::panic::set_hook(hook);
    eprintln!(
        "{trials} damaged collections over {} files: {} panics, {} undetected, \
         {contained} tantivy panics contained as errors",
        all.len(),
        panics.len(),
        undetected.len()
    );
    assert!(panics.is_empty(), "panics:\n{}", panics.join("\n"));
    assert!(
        undetected.is_empty(),
        "damage to listed data files not detected:\n{}",
        undetected.join("\n")
    );
}
