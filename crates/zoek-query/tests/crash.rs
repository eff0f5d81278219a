//! Killing the writer at random points: this test binary re-executes itself as a writer
//! that adds, updates, deletes, commits and compacts in a loop, printing a line before and
//! after every commit; the parent kills it with SIGKILL after a delay spread over the
//! child's whole run, then checks that the collection opens, answers, and holds exactly the
//! last committed state (or the one being committed, when the kill landed between the two
//! lines, i.e. possibly after the manifest rename). Model-free (hashing embedder).

use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

use zoek_query::{BuildOptions, Collection, CollectionWriter, Engine, HashEmbedder, TokenCounting};

#[path = "common/plan.rs"]
mod plan;
use plan::{expected, live_versions, name};

const STEPS: usize = 8;
const TRIALS: usize = 50;
const DIR_VAR: &str = "ZOEK_CRASH_CHILD_DIR";
const INPUT_VAR: &str = "ZOEK_CRASH_CHILD_INPUT";

fn opts() -> BuildOptions {
    BuildOptions {
        token_counting: TokenCounting::CharEstimate,
        ..BuildOptions::default()
    }
}

fn engine() -> Engine {
    Engine::new(HashEmbedder::default())
}

fn write_doc(input: &Path, k: usize, version: u32) -> PathBuf {
    let p = input.join(name(k));
    std::fs::write(
        &p,
        format!("Document {k}\n\nHet document nummer {k} gaat over onderwerp {k}. Dit is versie {version}.\n"),
    )
    .unwrap();
    p
}

/// Step `s` of the plan: add a document, update the previous one, every third step
/// delete the one before that.
fn apply_step(writer: &mut CollectionWriter, input: &Path, s: usize) {
    writer.add(&[write_doc(input, s, 1)]).unwrap();
    if s >= 2 {
        writer.add(&[write_doc(input, s - 1, 2)]).unwrap();
    }
    if s.is_multiple_of(3) {
        writer.delete(&[name(s - 2)]).unwrap();
    }
}

/// Step 0, committed before the child starts: the collection exists from then on.
fn initialise(dir: &Path, input: &Path) {
    let mut writer = CollectionWriter::open(dir, &engine(), &opts()).unwrap();
    writer.add(&[write_doc(input, 0, 1)]).unwrap();
    writer.commit().unwrap();
}

/// The collection's live documents with the version their text states.
fn observed(dir: &Path) -> BTreeMap<String, u32> {
    let c = Collection::open(dir).unwrap_or_else(|e| panic!("does not open: {e}"));
    let out = live_versions(&c);
    let mut documents: Vec<String> = c
        .live_documents()
        .unwrap()
        .into_iter()
        .map(|d| d.id)
        .collect();
    documents.sort();
    assert_eq!(documents, out.keys().cloned().collect::<Vec<_>>());
    // It answers, and only with live documents.
    let answer = c.ask(&engine(), "waar gaat het document over?", 5).unwrap();
    assert!(!answer.hits.is_empty());
    assert!(answer.hits.iter().all(|h| out.contains_key(&h.doc)));
    out
}

/// (last step whose commit returned, step being committed when the output ends).
fn progress(stdout: &str) -> (usize, Option<usize>) {
    let mut committed = 0;
    let mut pending = None;
    // A marker may follow libtest's "test crash_child ... " on the same line.
    for line in stdout.lines() {
        if let Some((_, i)) = line.split_once("crash-child begin ") {
            pending = Some(i.trim().parse().unwrap());
        } else if let Some((_, i)) = line.split_once("crash-child end ") {
            committed = i.trim().parse().unwrap();
            pending = None;
        }
    }
    (committed, pending)
}

fn spawn_child(dir: &Path, input: &Path) -> std::process::Child {
    Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "crash_child",
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(DIR_VAR, dir)
        .env(INPUT_VAR, input)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap()
}

/// The writer run by the parent test.
#[test]
#[ignore = "entry point of a child process, run by killing_the_writer_leaves_the_last_committed_state"]
fn crash_child() {
    let (Some(dir), Some(input)) = (std::env::var_os(DIR_VAR), std::env::var_os(INPUT_VAR)) else {
        panic!("run by the crash test, with {DIR_VAR} and {INPUT_VAR}");
    };
    let input = PathBuf::from(input);
    let mut writer = CollectionWriter::open(&dir, &engine(), &opts()).unwrap();
    for s in 1..=STEPS {
        apply_step(&mut writer, &input, s);
        println!("crash-child begin {s}");
        writer.commit().unwrap();
        println!("crash-child end {s}");
        if s.is_multiple_of(4) {
            println!("crash-child begin {s}");
            writer.compact().unwrap();
            println!("crash-child end {s}");
        }
    }
    println!("crash-child done");
}

/// A small deterministic generator, so a failing trial can be replayed by its number.
fn jitter(trial: usize) -> f64 {
    let mut x = (trial as u64 + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    x ^= x >> 31;
    x = x.wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x ^= x >> 29;
    (x >> 11) as f64 / (1u64 << 53) as f64
}

#[test]
fn killing_the_writer_leaves_the_last_committed_state() {
    // One uninterrupted run: it must reach the final state, and its length spreads the kills.
    let dir = tempfile::tempdir().unwrap();
    let input = tempfile::tempdir().unwrap();
    initialise(dir.path(), input.path());
    let started = Instant::now();
    let out = spawn_child(dir.path(), input.path())
        .wait_with_output()
        .unwrap();
    let full = started.elapsed();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && stdout.contains("crash-child done"),
        "{stdout}"
    );
    assert_eq!(observed(dir.path()), expected(STEPS));

    let mut outcomes = BTreeMap::<String, usize>::new();
    for trial in 0..TRIALS {
        let dir = tempfile::tempdir().unwrap();
        let input = tempfile::tempdir().unwrap();
        initialise(dir.path(), input.path());
        // Stratified over the whole run (start-up included), with jitter inside each stratum.
        let at = full.mul_f64((trial as f64 + jitter(trial)) / TRIALS as f64 * 1.05);
        let mut child = spawn_child(dir.path(), input.path());
        std::thread::sleep(at);
        let _ = child.kill();
        child.wait().unwrap();
        let mut stdout = String::new();
        child
            .stdout
            .take()
            .unwrap()
            .read_to_string(&mut stdout)
            .unwrap();
        let (committed, pending) = progress(&stdout);
        let got = observed(dir.path());
        let acceptable: Vec<usize> = std::iter::once(committed).chain(pending).collect();
        assert!(
            acceptable.iter().any(|&i| got == expected(i)),
            "trial {trial} (kill after {at:?}): committed {committed}, pending {pending:?}, \
             found {got:?}"
        );
        let state = if got == expected(committed) {
            committed
        } else {
            pending.unwrap_or(committed)
        };
        *outcomes
            .entry(if stdout.contains("crash-child done") {
                "finished".into()
            } else {
                format!("killed at state {state:02}")
            })
            .or_default() += 1;
        // The next writer cleans up and carries on from there.
        let mut writer = CollectionWriter::open(dir.path(), &engine(), &opts()).unwrap();
        writer.add(&[write_doc(input.path(), 99, 1)]).unwrap();
        writer.commit().unwrap();
        let mut after = expected(state);
        after.insert(name(99), 1);
        assert_eq!(observed(dir.path()), after, "trial {trial}");
        let leftovers: Vec<String> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n.starts_with("seg-") || n.starts_with(".zoek-tmp"))
            .collect();
        let listed = Collection::open(dir.path())
            .unwrap()
            .manifest()
            .segments
            .len();
        assert_eq!(leftovers.len(), listed, "trial {trial}: {leftovers:?}");
    }
    eprintln!("crash test: full run {full:?}; outcomes {outcomes:?}");
    // The kills must have landed across the run, not all before or after it.
    assert!(outcomes.len() >= 4, "{outcomes:?}");
}
