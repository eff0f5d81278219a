//! Entry points for zoek's fuzz targets (`fuzz/`) and for the test that replays their
//! corpora (`tests/fuzz_replay.rs`). Each hands untrusted bytes to one loader of a
//! collection's files through the same code `Collection::open` and `ask` run, so what the
//! fuzzer finds is what a user would hit. Not part of the API: hidden from the docs and free
//! to change.

use std::path::Path;

use crate::error::Result;
use crate::format::DocEntry;
use crate::format::array::{MAGIC_OFFSETS, MAGIC_SENTENCES, MAGIC_VECTORS, MappedArray};
use crate::format::passages::PassageStore;
use crate::format::tombstones;

/// Reads the tombstone file at `path` for a segment of `passages`, as opening a collection
/// does; returns the live passages.
pub fn tombstones(path: &Path, passages: usize) -> Result<usize> {
    Ok(tombstones::read_live(path, passages)?.count())
}

/// Opens a passage store (its JSON lines and offsets) and reads its first `max` passages
/// and each of their sentences, as a hit is assembled; returns the passages read.
pub fn passage_store(lines: &Path, offsets: &Path, max: usize) -> Result<usize> {
    let store = PassageStore::open(lines, offsets)?;
    let n = store.len().min(max);
    for id in 0..n {
        let p = store.get(id as u32)?;
        for i in 0..p.sentences.len() {
            let _ = p.sentence_text(i);
        }
    }
    Ok(n)
}

/// Parses a document table for a segment of `passages`, as `Segment::docs` does, and runs
/// a filter over it; returns the documents.
pub fn doc_table(bytes: &[u8], passages: usize) -> Result<usize> {
    let docs = DocEntry::parse_table(bytes, Path::new("docs.idx.jsonl"), passages)?;
    let _ = docs.iter().filter(|d| d.matches("lang", "nl")).count();
    Ok(docs.len())
}

/// Maps the array file at `path` as each of the segment's array kinds (sentence map,
/// offsets, vectors) and reads every value of the kinds it opens as; the error is the
/// vectors' when it opens as none.
pub fn arrays(path: &Path) -> Result<usize> {
    let mut read = 0;
    if let Ok(a) = MappedArray::open_column(path, MAGIC_SENTENCES, 4) {
        read += 1 + (0..a.rows()).filter_map(|i| a.u32_at(i)).count();
    }
    if let Ok(a) = MappedArray::open_column(path, MAGIC_OFFSETS, 8) {
        read += 1 + (0..a.rows()).filter_map(|i| a.u64_at(i)).count();
    }
    match MappedArray::open(path, MAGIC_VECTORS, 4).and_then(|a| Ok(a.f32s()?.len())) {
        Ok(n) => Ok(read + 1 + n),
        Err(_) if read > 0 => Ok(read),
        Err(e) => Err(e),
    }
}
