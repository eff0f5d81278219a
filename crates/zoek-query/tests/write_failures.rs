//! Writes that fail lose nothing. This test binary re-executes itself as a writer under
//! `RLIMIT_FSIZE` (with `SIGXFSZ` ignored, so a write past the limit fails with `EFBIG`
//! instead of killing the process). The limit is swept from a few bytes to past the largest
//! file the run writes, so the failure lands in every kind of file — stores, vectors,
//! tantivy's files, graphs, tombstones, manifests — at every step of the plan. For each
//! limit the writer must return a typed error (not panic), and afterwards, without the
//! limit, the collection must open, answer and hold exactly its last committed state, and
//! a new writer must carry on from there. A full build into a new directory under the
//! limit must fail the same way and leave no collection behind. Model-free.

#![cfg(unix)]

use std::collections::{BTreeMap, BTreeSet};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use zoek_query::{
    BuildOptions, Collection, CollectionWriter, Engine, HashEmbedder, QueryError, TokenCounting,
};

#[path = "common/plan.rs"]
mod plan;
use plan::{expected, live_versions, name};

const STEPS: usize = 12;
/// Limits per vector width: with narrow vectors the text and BM25 files are the largest, with
/// wide ones the vector files, so together the failures land in every kind of file.
const LIMITS: usize = 8;
const DIMS: [usize; 2] = [8, 256];
const DIR_VAR: &str = "ZOEK_FSIZE_CHILD_DIR";
const INPUT_VAR: &str = "ZOEK_FSIZE_CHILD_INPUT";
const MODE_VAR: &str = "ZOEK_FSIZE_CHILD_MODE";
const DIM_VAR: &str = "ZOEK_FSIZE_CHILD_DIM";
const START_VAR: &str = "ZOEK_FSIZE_CHILD_START";

fn opts() -> BuildOptions {
    BuildOptions {
        token_counting: TokenCounting::CharEstimate,
        // Graphs from the first segment on, so graph files are among those that fail.
        hnsw_threshold: 1,
        ..BuildOptions::default()
    }
}

thread_local! {
    static DIM: std::cell::Cell<usize> = const { std::cell::Cell::new(256) };
}

/// The hashing embedder of the current width (`DIM`, set per run; the child reads it from
/// its environment).
fn engine() -> Engine {
    Engine::new(HashEmbedder::new(DIM.with(|d| d.get())))
}

/// Writes version `version` of document `k` under `input/v<version>/`; the id is the file
/// name, so both versions are one document.
fn write_doc(input: &Path, k: usize, version: u32) -> PathBuf {
    let dir = input.join(format!("v{version}"));
    std::fs::create_dir_all(&dir).unwrap();
    let p = dir.join(name(k));
    let body: String = (0..=k % 4)
        .map(|j| format!("Alinea {j} van document {k} over onderwerp {k} en {j}. "))
        .collect();
    std::fs::write(
        &p,
        format!("Document {k}\n\n{body}Dit is versie {version}.\n"),
    )
    .unwrap();
    p
}

fn observed(dir: &Path) -> BTreeMap<String, u32> {
    let c = Collection::open(dir).unwrap_or_else(|e| panic!("does not open: {e}"));
    c.verify()
        .unwrap_or_else(|e| panic!("does not verify: {e}"));
    let out = live_versions(&c);
    let answer = c.ask(&engine(), "waar gaat het document over?", 5).unwrap();
    assert!(answer.hits.iter().all(|h| out.contains_key(&h.doc)));
    out
}

/// The input files of the whole plan, written by the parent (the child may not write
/// anything but the collection).
fn write_inputs(input: &Path) {
    for k in 0..=STEPS {
        write_doc(input, k, 1);
        write_doc(input, k, 2);
    }
    write_doc(input, 99, 1);
}

fn doc(input: &Path, k: usize, version: u32) -> PathBuf {
    input.join(format!("v{version}")).join(name(k))
}

/// Steps `from..=STEPS` of the plan, each committed, a compaction every fourth step.
/// Prints `wf-end N` after each commit returned (the child's output).
fn run_plan(dir: &Path, input: &Path, from: usize, to: usize) -> Result<(), (usize, QueryError)> {
    let mut writer = CollectionWriter::open(dir, &engine(), &opts()).map_err(|e| (0, e))?;
    for s in from..=to {
        let step = |w: &mut CollectionWriter| -> zoek_query::Result<()> {
            w.add(&[doc(input, s, 1)])?;
            if s >= 2 {
                w.add(&[doc(input, s - 1, 2)])?;
            }
            if s.is_multiple_of(3) {
                w.delete(&[name(s - 2)])?;
            }
            w.commit()?;
            Ok(())
        };
        step(&mut writer).map_err(|e| (s, e))?;
        println!("\nwf-end {s}");
        if s.is_multiple_of(4) {
            writer.compact().map_err(|e| (s, e))?;
            println!("\nwf-end {s}");
        }
    }
    Ok(())
}

#[test]
#[ignore = "entry point of a child process, run by failed_writes_lose_nothing"]
fn fsize_child() {
    let (Some(dir), Some(input)) = (std::env::var_os(DIR_VAR), std::env::var_os(INPUT_VAR)) else {
        panic!("run by the write-failure test");
    };
    let (dir, input) = (PathBuf::from(dir), PathBuf::from(input));
    if let Some(dim) = std::env::var(DIM_VAR).ok().and_then(|d| d.parse().ok()) {
        DIM.with(|d| d.set(dim));
    }
    let result = if std::env::var(MODE_VAR).as_deref() == Ok("build") {
        engine()
            .build(&[input.as_path()], &dir, &opts())
            .map(|_| ())
            .map_err(|e| (0, e))
    } else {
        let start = std::env::var(START_VAR)
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(1);
        run_plan(&dir, &input, start, STEPS)
    };
    match result {
        Ok(()) => println!("\nwf-done"),
        Err((step, e)) => println!("\nwf-error {step} {}", describe(&e)),
    }
}

/// The error with its variant, for the parent to check it is typed and I/O-caused.
fn describe(e: &QueryError) -> String {
    let kind = match e {
        QueryError::Io { .. } => "io",
        QueryError::Bm25(_) => "bm25",
        QueryError::Index(_) => "index",
        QueryError::Json { .. } => "json",
        _ => "other",
    };
    format!("{kind} {e}")
}

fn spawn(dir: &Path, input: &Path, mode: &str, start: usize, limit: Option<u64>) -> String {
    let mut cmd = Command::new(std::env::current_exe().unwrap());
    cmd.args([
        "--exact",
        "fsize_child",
        "--ignored",
        "--nocapture",
        "--test-threads=1",
    ])
    .env(DIR_VAR, dir)
    .env(INPUT_VAR, input)
    .env(MODE_VAR, mode)
    .env(DIM_VAR, DIM.with(|d| d.get()).to_string())
    .env(START_VAR, start.to_string())
    .stdout(Stdio::piped())
    .stderr(Stdio::piped());
    if let Some(limit) = limit {
        // SAFETY: only async-signal-safe calls (signal, setrlimit) between fork and exec.
        unsafe {
            cmd.pre_exec(move || {
                libc::signal(libc::SIGXFSZ, libc::SIG_IGN);
                let rl = libc::rlimit {
                    rlim_cur: limit,
                    rlim_max: libc::RLIM_INFINITY,
                };
                if libc::setrlimit(libc::RLIMIT_FSIZE, &rl) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
    }
    let out = cmd.output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success() && !stderr.contains("panicked"),
        "child under limit {limit:?} failed: {stdout}\n{stderr}"
    );
    stdout
}

fn largest_file(dir: &Path) -> u64 {
    let mut max = 0;
    for entry in std::fs::read_dir(dir).unwrap() {
        let entry = entry.unwrap();
        let meta = entry.metadata().unwrap();
        max = max.max(if meta.is_dir() {
            largest_file(&entry.path())
        } else {
            meta.len()
        });
    }
    max
}

fn initialise(dir: &Path, input: &Path) {
    write_inputs(input);
    let mut writer = CollectionWriter::open(dir, &engine(), &opts()).unwrap();
    writer.add(&[write_doc(input, 0, 1)]).unwrap();
    writer.commit().unwrap();
}

#[test]
fn failed_writes_lose_nothing() {
    // One run without a limit per width: the final state, and the size of the largest file.
    let mut largest = BTreeMap::new();
    for dim in DIMS {
        DIM.with(|d| d.set(dim));
        let dir = tempfile::tempdir().unwrap();
        let input = tempfile::tempdir().unwrap();
        initialise(dir.path(), input.path());
        let out = spawn(dir.path(), input.path(), "plan", 1, None);
        assert!(out.contains("wf-done"), "{out}");
        assert_eq!(observed(dir.path()), expected(STEPS));
        largest.insert(dim, largest_file(dir.path()) + 1024);
    }

    let mut points = BTreeSet::new();
    let mut finished = 0;
    let mut runs = 0;
    let configs = DIMS
        .iter()
        .flat_map(|&d| (1..=STEPS).flat_map(move |s| (0..LIMITS).map(move |i| (d, s, i))));
    for (dim, start, i) in configs {
        DIM.with(|d| d.set(dim));
        runs += 1;
        // Geometric from 16 bytes to past the largest file.
        let max = largest[&dim] as f64;
        let limit = (16.0 * (max / 16.0).powf(i as f64 / (LIMITS - 1) as f64)) as u64;
        let dir = tempfile::tempdir().unwrap();
        let input = tempfile::tempdir().unwrap();
        initialise(dir.path(), input.path());
        // Steps before `start` run here without a limit; the child writes the rest under it.
        run_plan(dir.path(), input.path(), 1, start - 1).unwrap();
        let out = spawn(dir.path(), input.path(), "plan", start, Some(limit));
        let committed = out
            .lines()
            // A marker may follow libtest's "test … ... " on the same line.
            .filter_map(|l| l.split_once("wf-end ").map(|(_, n)| n))
            .filter_map(|n| n.trim().parse::<usize>().ok())
            .next_back()
            .unwrap_or(start - 1);
        match out
            .lines()
            .find_map(|l| l.find("wf-error ").map(|at| &l[at..]))
        {
            Some(line) => {
                let mut parts = line.splitn(4, ' ');
                let (_, step, kind) = (parts.next(), parts.next(), parts.next());
                assert!(
                    matches!(kind, Some("io" | "bm25" | "index" | "json")),
                    "limit {limit}: untyped or unexpected error: {line}"
                );
                let kind = kind.unwrap_or("");
                assert!(
                    line.contains("File too large") || line.contains("os error 27"),
                    "limit {limit}: not the injected failure: {line}"
                );
                // Where it failed: the step and the kind of file.
                // tantivy's errors name no file; theirs is "the BM25 index".
                let file = line
                    .split_whitespace()
                    .find(|w| w.starts_with('/'))
                    .and_then(|p| p.trim_end_matches(':').rsplit('/').next())
                    .map(|f| {
                        // `[.]<build id>.<part>[.tmp-…]` → `<part>`.
                        let f = f.trim_start_matches('.');
                        let f = f.split(".tmp").next().unwrap_or(f);
                        let f = f.trim_start_matches(|c: char| c.is_ascii_alphanumeric());
                        f.trim_start_matches('.').to_string()
                    })
                    .filter(|_| kind != "bm25")
                    .unwrap_or_else(|| kind.to_string());
                points.insert(format!("step {} {file}", step.unwrap_or("?")));
            }
            None => {
                assert!(out.contains("wf-done"), "limit {limit}: {out}");
                finished += 1;
            }
        }
        assert_eq!(
            observed(dir.path()),
            expected(committed),
            "limit {limit}: {out}"
        );
        // A new writer cleans up and carries on.
        let mut writer = CollectionWriter::open(dir.path(), &engine(), &opts()).unwrap();
        writer.add(&[doc(input.path(), 99, 1)]).unwrap();
        writer.commit().unwrap();
        let mut after = expected(committed);
        after.insert(name(99), 1);
        assert_eq!(observed(dir.path()), after, "limit {limit}");
    }

    // A full build into a new directory under a limit: an error, and no collection.
    DIM.with(|d| d.set(256));
    let input = tempfile::tempdir().unwrap();
    for k in 0..6 {
        write_doc(input.path(), k, 1);
    }
    let input_v1 = input.path().join("v1");
    let mut build_failures = 0;
    for limit in [64u64, 512, 2048, 8192] {
        let root = tempfile::tempdir().unwrap();
        let dir = root.path().join("new");
        let out = spawn(&dir, &input_v1, "build", 1, Some(limit));
        if out.contains("wf-error ") {
            build_failures += 1;
            assert!(
                matches!(
                    Collection::open(&dir),
                    Err(QueryError::MissingCollection { .. })
                ),
                "limit {limit}: a failed build left a collection"
            );
            engine().build(&[&input_v1], &dir, &opts()).unwrap();
            Collection::open(&dir).unwrap().verify().unwrap();
        }
    }
    eprintln!(
        "write failures: {runs} runs, {} failure points, {finished} runs finished, \
         {build_failures} failed builds: {points:?}",
        points.len()
    );
    assert!(build_failures >= 3, "{build_failures}");
    assert!(points.len() >= 50, "{points:?}");
}
