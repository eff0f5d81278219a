//! Every file name of a collection, in one place.
//!
//! ```text
//! my-index/
//!   manifest.json                 the commit point (MANIFEST_FILE)
//!   writer.lock                   held by the one writer (LOCK_FILE)
//!   .zoek-tmp-*                   a write in progress (TMP_PREFIX); removed by the next writer
//!   seg-000007/                   a segment (segment_dir)
//!     segment.json                its manifest (SEGMENT_FILE)
//!     <build>.docs.jsonl …        its data files, prefixed by its build id (DataFiles::named)
//!     del-000012.u32              tombstones written by commit 12 (tombstone_file)
//!     graph-000009.hnsw           a graph added by commit 9 (graph_file)
//! ```

use std::time::{SystemTime, UNIX_EPOCH};

use super::manifest::DataFiles;

/// File name of the manifest in a collection directory.
pub const MANIFEST_FILE: &str = "manifest.json";
/// File name of the manifest in a segment directory.
pub const SEGMENT_FILE: &str = "segment.json";
/// Name of the writer's lock file in a collection directory.
pub const LOCK_FILE: &str = "writer.lock";
/// Prefix of temporary files; whatever carries it is not committed.
pub(crate) const TMP_PREFIX: &str = ".zoek-tmp-";
/// Default staging directory of segments built elsewhere, inside the collection directory
/// (so that attaching them is a rename on the same filesystem). Garbage collection leaves
/// it alone; attaching a run removes that run's staging.
pub const STAGING_DIR: &str = "staging";

/// Name of a staged segment: unique to the attempt (and to the process and instant), so a
/// retried or speculative twin of the same partition never writes into another's directory.
pub(crate) fn staged_segment_name(partition: u32, attempt: u32) -> String {
    format!("p{partition:05}-a{attempt}-{}", new_build_id())
}

const SEGMENT_PREFIX: &str = "seg-";
const TOMBSTONE_PREFIX: &str = "del-";
const GRAPH_PREFIX: &str = "graph-";

/// Directory name of segment `number`.
pub(crate) fn segment_dir(number: u64) -> String {
    format!("{SEGMENT_PREFIX}{number:06}")
}

/// The number of a segment directory name, if it is one.
pub(crate) fn segment_number(name: &str) -> Option<u64> {
    name.strip_prefix(SEGMENT_PREFIX)?.parse().ok()
}

/// The tombstone file of `segment` written by commit `commit`, relative to the collection.
pub(crate) fn tombstone_file(segment: &str, commit: u64) -> String {
    format!("{segment}/{TOMBSTONE_PREFIX}{commit:06}.u32")
}

/// The graph file of `segment` written by commit `commit`, relative to the collection.
pub(crate) fn graph_file(segment: &str, commit: u64) -> String {
    format!("{segment}/{GRAPH_PREFIX}{commit:06}.hnsw")
}

/// Whether a file in a segment directory was written after the segment (a tombstone or
/// graph file), so that a newer one may replace it.
pub(crate) fn is_late_file(name: &str) -> bool {
    name.starts_with(TOMBSTONE_PREFIX) || name.starts_with(GRAPH_PREFIX)
}

/// A build id unique to this build: time in nanoseconds and process id.
pub(crate) fn new_build_id() -> String {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    format!(
        "g{:016x}{:06x}",
        nanos as u64,
        std::process::id() & 0xff_ffff
    )
}

/// Whether `name` is a file of a build, `<build id>.<part>`: in a version 1 collection
/// such files lay directly in the collection directory.
pub(crate) fn is_build_file(name: &str) -> bool {
    name.split_once('.').is_some_and(|(id, _)| {
        id.len() == 23 && id.starts_with('g') && id[1..].bytes().all(|b| b.is_ascii_hexdigit())
    })
}

impl DataFiles {
    /// The data file names of the build `build_id`.
    pub(crate) fn named(build_id: &str, passage_vectors: bool, hnsw: bool) -> Self {
        let name = |suffix: &str| format!("{build_id}.{suffix}");
        Self {
            documents: name("docs.jsonl"),
            passages: name("passages.jsonl"),
            passage_offsets: name("passages.idx"),
            sentence_passages: name("sentences.u32"),
            sentence_vectors: name("sentences.f32"),
            passage_vectors: passage_vectors.then(|| name("passages.f32")),
            hnsw: hnsw.then(|| name("sentences.hnsw")),
            bm25: name("bm25"),
            doc_table: name("docs.idx.jsonl"),
        }
    }

    /// Every name, in the order the files are listed in `segment.json`.
    pub(crate) fn names(&self) -> impl Iterator<Item = &str> {
        [
            Some(&self.documents),
            Some(&self.passages),
            Some(&self.passage_offsets),
            Some(&self.sentence_passages),
            Some(&self.sentence_vectors),
            self.passage_vectors.as_ref(),
            self.hnsw.as_ref(),
            Some(&self.bm25),
            Some(&self.doc_table),
        ]
        .into_iter()
        .flatten()
        .map(String::as_str)
    }
}

/// Seconds since the Unix epoch, for manifests.
pub(crate) fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}
