//! On-disk pieces of a collection: versioned little-endian arrays mapped with `memmap2`,
//! the JSON-lines passage and document stores, and atomic file writing.
//!
//! Binary files start with a 32-byte header — 8 magic bytes, format version (u32), row
//! width (u32), row count (u64), 8 reserved bytes — followed by the rows, little-endian.
//! The header length keeps `f32` rows 4-byte aligned in a page-aligned map.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::ops::Range;
use std::path::{Path, PathBuf};

use memmap2::Mmap;
use serde::{Deserialize, Serialize};

use crate::error::{QueryError, Result, io_err};

/// Length of the header of every binary file.
pub const HEADER_LEN: usize = 32;
/// Version of the binary array layout.
pub const ARRAY_VERSION: u32 = 1;
/// Magic of the sentence → passage map (`u32` rows of width 1).
pub const MAGIC_SENTENCES: &[u8; 8] = b"ZQSENT\0\x01";
/// Magic of a vector file (`f32` rows of width `dim`).
pub const MAGIC_VECTORS: &[u8; 8] = b"ZQVECS\0\x01";
/// Magic of the passage offset file (`u64` rows of width 1, count + 1 offsets).
pub const MAGIC_OFFSETS: &[u8; 8] = b"ZQOFFS\0\x01";
/// Magic of a tombstone file (sorted deleted passage ids of one segment, `u32`).
pub const MAGIC_TOMBSTONES: &[u8; 8] = b"ZQDELS\0\x01";

/// Writes `path` atomically: the content goes to a temporary file in the same directory,
/// is flushed and fsynced, then renamed over `path`.
pub fn write_atomic(
    path: &Path,
    write: impl FnOnce(&mut dyn Write) -> std::io::Result<()>,
) -> Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let mut tmp = tempfile::Builder::new()
        .prefix(".zoek-tmp-")
        .tempfile_in(dir)
        .map_err(io_err(dir))?;
    {
        let mut buffered = BufWriter::new(tmp.as_file_mut());
        write(&mut buffered).map_err(io_err(path))?;
        buffered.flush().map_err(io_err(path))?;
    }
    tmp.as_file().sync_all().map_err(io_err(path))?;
    tmp.persist(path).map_err(|e| QueryError::Io {
        path: path.to_path_buf(),
        source: e.error,
    })?;
    sync_dir(dir)
}

/// Fsyncs a directory so that renames in it are durable.
pub fn sync_dir(dir: &Path) -> Result<()> {
    #[cfg(unix)]
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(io_err(dir))?;
    #[cfg(not(unix))]
    let _ = dir;
    Ok(())
}

fn header(magic: &[u8; 8], width: u32, count: u64) -> [u8; HEADER_LEN] {
    let mut h = [0u8; HEADER_LEN];
    h[..8].copy_from_slice(magic);
    h[8..12].copy_from_slice(&ARRAY_VERSION.to_le_bytes());
    h[12..16].copy_from_slice(&width.to_le_bytes());
    h[16..24].copy_from_slice(&count.to_le_bytes());
    h
}

/// Writes a `u32` array file.
pub fn write_u32s(path: &Path, magic: &[u8; 8], values: &[u32]) -> Result<()> {
    write_atomic(path, |w| {
        w.write_all(&header(magic, 1, values.len() as u64))?;
        for v in values {
            w.write_all(&v.to_le_bytes())?;
        }
        Ok(())
    })
}

/// Writes a `u64` array file.
pub fn write_u64s(path: &Path, magic: &[u8; 8], values: &[u64]) -> Result<()> {
    write_atomic(path, |w| {
        w.write_all(&header(magic, 1, values.len() as u64))?;
        for v in values {
            w.write_all(&v.to_le_bytes())?;
        }
        Ok(())
    })
}

/// Writes `rows` vectors of width `dim` (row-major) as a vector file.
pub fn write_vectors(path: &Path, dim: usize, vectors: &[f32]) -> Result<()> {
    let rows = vectors.len().checked_div(dim).unwrap_or(0);
    write_atomic(path, |w| {
        w.write_all(&header(MAGIC_VECTORS, dim as u32, rows as u64))?;
        for v in vectors {
            w.write_all(&v.to_le_bytes())?;
        }
        Ok(())
    })
}

/// A mapped array file with a validated header.
#[derive(Debug)]
pub struct MappedArray {
    map: Mmap,
    width: usize,
    rows: usize,
    path: PathBuf,
}

impl MappedArray {
    /// Maps `path` and checks its magic, version and size against `elem_size`-byte values.
    pub fn open(path: &Path, magic: &[u8; 8], elem_size: usize) -> Result<Self> {
        let corrupt = |reason: String| QueryError::Corrupt {
            path: path.to_path_buf(),
            reason,
        };
        let file = File::open(path).map_err(io_err(path))?;
        // SAFETY: the collection's files are written once under a fresh generation name and
        // never modified in place; a concurrent writer only ever renames new files in.
        let map = unsafe { Mmap::map(&file) }.map_err(io_err(path))?;
        if map.len() < HEADER_LEN || &map[..8] != magic {
            return Err(corrupt("bad magic or truncated header".into()));
        }
        let version = u32::from_le_bytes(map[8..12].try_into().expect("4 bytes"));
        if version != ARRAY_VERSION {
            return Err(corrupt(format!(
                "array version {version}, expected {ARRAY_VERSION}"
            )));
        }
        let width = u32::from_le_bytes(map[12..16].try_into().expect("4 bytes")) as usize;
        let rows = u64::from_le_bytes(map[16..24].try_into().expect("8 bytes"));
        let rows = usize::try_from(rows).map_err(|_| corrupt("row count overflows".into()))?;
        let expected = rows
            .checked_mul(width)
            .and_then(|n| n.checked_mul(elem_size))
            .and_then(|n| n.checked_add(HEADER_LEN));
        if expected != Some(map.len()) {
            return Err(corrupt(format!(
                "{} bytes for {rows} rows of width {width}",
                map.len()
            )));
        }
        Ok(Self {
            map,
            width,
            rows,
            path: path.to_path_buf(),
        })
    }

    /// Row width.
    pub fn width(&self) -> usize {
        self.width
    }

    /// Number of rows.
    pub fn rows(&self) -> usize {
        self.rows
    }

    fn body(&self) -> &[u8] {
        &self.map[HEADER_LEN..]
    }

    /// The `i`-th `u32` value.
    pub fn u32_at(&self, i: usize) -> Option<u32> {
        let b = self.body().get(i * 4..i * 4 + 4)?;
        Some(u32::from_le_bytes(b.try_into().ok()?))
    }

    /// The `i`-th `u64` value.
    pub fn u64_at(&self, i: usize) -> Option<u64> {
        let b = self.body().get(i * 8..i * 8 + 8)?;
        Some(u64::from_le_bytes(b.try_into().ok()?))
    }

    /// The whole body as `f32`s, without copying.
    pub fn f32s(&self) -> Result<&[f32]> {
        let body = self.body();
        #[cfg(target_endian = "little")]
        {
            // SAFETY: any bit pattern is a valid f32; `align_to` only yields the aligned
            // middle part, and the check below rejects a map that is not fully aligned.
            let (head, floats, tail) = unsafe { body.align_to::<f32>() };
            if head.is_empty() && tail.is_empty() {
                return Ok(floats);
            }
        }
        Err(QueryError::Corrupt {
            path: self.path.clone(),
            reason: "vector data is not 4-byte aligned or the platform is big-endian".into(),
        })
    }
}

/// A document as stored in `docs.jsonl`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StoredDocument {
    /// Document id.
    pub id: String,
    /// Source file.
    pub source: PathBuf,
    /// Extra JSON-lines fields.
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub metadata: std::collections::BTreeMap<String, serde_json::Value>,
    /// Cleaned text; passage byte ranges point into it.
    pub text: String,
}

/// One document of a segment as listed in its document table (`docs.idx.jsonl`): what
/// deleting, updating and filtering need, without the text.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DocEntry {
    /// Document id (unique in a collection).
    pub id: String,
    /// Id of the file it came from (relative path; equal to `id` except for JSON lines).
    pub path: String,
    /// Content hash (see `RawDocument::content_hash`).
    pub sha256: String,
    /// Its passages, as segment-local ids.
    pub passages: Range<u32>,
    /// Extra JSON-lines fields, for filters.
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub metadata: std::collections::BTreeMap<String, serde_json::Value>,
}

impl DocEntry {
    /// Whether the document passes a filter: `path` matches as a prefix of
    /// [`DocEntry::path`], `id` exactly, any other field an equal metadata value (strings as
    /// they are, numbers and booleans as written in JSON).
    pub fn matches(&self, field: &str, value: &str) -> bool {
        match field {
            "path" => self.path.starts_with(value),
            "id" => self.id == value,
            _ => match self.metadata.get(field) {
                Some(serde_json::Value::String(s)) => s == value,
                Some(serde_json::Value::Null) | None => false,
                Some(other) => {
                    // Numbers and booleans compare as written in JSON (`2005`, `true`).
                    let written = other.to_string();
                    written == value
                }
            },
        }
    }
}

/// Fsyncs every file under `path` and every directory (bottom up), so a segment written
/// by tools that do not sync (tantivy) is durable before the manifest names it.
pub fn sync_tree(path: &Path) -> Result<()> {
    let meta = std::fs::metadata(path).map_err(io_err(path))?;
    if meta.is_dir() {
        for entry in std::fs::read_dir(path).map_err(io_err(path))? {
            let entry = entry.map_err(io_err(path))?;
            sync_tree(&entry.path())?;
        }
        sync_dir(path)
    } else {
        File::open(path)
            .and_then(|f| f.sync_all())
            .map_err(io_err(path))
    }
}

/// A set of passage ids as bits: the live (or allowed) passages of one segment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bits {
    words: Vec<u64>,
    len: usize,
}

impl Bits {
    /// `len` bits, all set to `value`.
    pub fn new(len: usize, value: bool) -> Self {
        let fill = if value { u64::MAX } else { 0 };
        Self {
            words: vec![fill; len.div_ceil(64)],
            len,
        }
    }

    /// Number of bits.
    pub fn len(&self) -> usize {
        self.len
    }

    /// True if there are no bits.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Bit `i` (false out of range).
    pub fn get(&self, i: u64) -> bool {
        (i as usize) < self.len && self.words[(i / 64) as usize] >> (i % 64) & 1 == 1
    }

    /// Sets bit `i` to `value` (ignored out of range).
    pub fn set(&mut self, i: u64, value: bool) {
        if (i as usize) < self.len {
            let w = &mut self.words[(i / 64) as usize];
            if value {
                *w |= 1 << (i % 64);
            } else {
                *w &= !(1 << (i % 64));
            }
        }
    }

    /// Bits set in both.
    pub fn and(&mut self, other: &Bits) {
        for (a, b) in self.words.iter_mut().zip(&other.words) {
            *a &= b;
        }
    }

    /// Number of set bits.
    pub fn count(&self) -> usize {
        (0..self.len).filter(|&i| self.get(i as u64)).count()
    }
}

/// A passage as stored in `passages.jsonl`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredPassage {
    /// Index of its document in the document store.
    pub doc: u32,
    /// The document's id, repeated so a hit needs one read.
    pub doc_id: String,
    /// Section heading.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub heading: Option<String>,
    /// Passage text.
    pub text: String,
    /// Byte range in the cleaned document text.
    pub range: Range<usize>,
    /// Byte ranges of the sentences in the cleaned document text.
    pub sentences: Vec<Range<usize>>,
    /// Id of the first sentence in the sentence → passage map.
    pub first_sentence: u32,
}

impl StoredPassage {
    /// The text of sentence `i` of this passage (0-based within the passage).
    pub fn sentence_text(&self, i: usize) -> Option<&str> {
        let r = self.sentences.get(i)?;
        let start = r.start.checked_sub(self.range.start)?;
        let end = r.end.checked_sub(self.range.start)?;
        self.text.get(start..end)
    }
}

/// Writes JSON-lines records atomically and returns each record's byte offset plus the
/// end offset (so record `i` spans `offsets[i]..offsets[i + 1]`).
pub fn write_jsonl<T: Serialize>(path: &Path, records: &[T]) -> Result<Vec<u64>> {
    let mut offsets = Vec::with_capacity(records.len() + 1);
    let mut json_error = None;
    write_atomic(path, |w| {
        let mut at = 0u64;
        for r in records {
            offsets.push(at);
            let line = match serde_json::to_vec(r) {
                Ok(l) => l,
                Err(e) => {
                    json_error = Some(e);
                    return Err(std::io::Error::other("serialisation failed"));
                }
            };
            w.write_all(&line)?;
            w.write_all(b"\n")?;
            at += line.len() as u64 + 1;
        }
        offsets.push(at);
        Ok(())
    })
    .map_err(|e| match json_error.take() {
        Some(source) => QueryError::Json {
            path: path.to_path_buf(),
            source,
        },
        None => e,
    })?;
    Ok(offsets)
}

/// The passage store: `passages.jsonl` mapped, with an offset file for random access, so
/// opening is constant-time and only the passages that are shown get parsed.
#[derive(Debug)]
pub struct PassageStore {
    lines: Mmap,
    offsets: MappedArray,
    path: PathBuf,
}

impl PassageStore {
    /// Maps the store and its offsets.
    pub fn open(lines_path: &Path, offsets_path: &Path) -> Result<Self> {
        let offsets = MappedArray::open(offsets_path, MAGIC_OFFSETS, 8)?;
        let file = File::open(lines_path).map_err(io_err(lines_path))?;
        // SAFETY: as for `MappedArray::open`, files are immutable once written.
        let lines = unsafe { Mmap::map(&file) }.map_err(io_err(lines_path))?;
        if offsets.rows() == 0 || offsets.u64_at(offsets.rows() - 1) != Some(lines.len() as u64) {
            return Err(QueryError::Corrupt {
                path: offsets_path.to_path_buf(),
                reason: "offsets do not match the passage file".into(),
            });
        }
        Ok(Self {
            lines,
            offsets,
            path: lines_path.to_path_buf(),
        })
    }

    /// Number of passages.
    pub fn len(&self) -> usize {
        self.offsets.rows() - 1
    }

    /// True if the store holds no passage.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Reads passage `id`.
    pub fn get(&self, id: u32) -> Result<StoredPassage> {
        let corrupt = |reason: String| QueryError::Corrupt {
            path: self.path.clone(),
            reason,
        };
        let i = id as usize;
        let (Some(start), Some(end)) = (self.offsets.u64_at(i), self.offsets.u64_at(i + 1)) else {
            return Err(corrupt(format!("passage {id} out of range")));
        };
        let bytes = usize::try_from(start)
            .ok()
            .zip(usize::try_from(end).ok())
            .and_then(|(s, e)| self.lines.get(s..e))
            .ok_or_else(|| corrupt(format!("passage {id} offsets out of bounds")))?;
        serde_json::from_slice(bytes).map_err(|source| QueryError::Json {
            path: self.path.clone(),
            source,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arrays_round_trip_and_reject_corruption() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("v.f32");
        write_vectors(&p, 3, &[1.0, 2.0, 3.0, 4.0, 5.0, 6.0]).unwrap();
        let a = MappedArray::open(&p, MAGIC_VECTORS, 4).unwrap();
        assert_eq!((a.rows(), a.width()), (2, 3));
        assert_eq!(a.f32s().unwrap(), [1.0, 2.0, 3.0, 4.0, 5.0, 6.0]);
        assert!(matches!(
            MappedArray::open(&p, MAGIC_SENTENCES, 4),
            Err(QueryError::Corrupt { .. })
        ));
        let mut bytes = std::fs::read(&p).unwrap();
        bytes.truncate(bytes.len() - 2);
        std::fs::write(&p, bytes).unwrap();
        assert!(matches!(
            MappedArray::open(&p, MAGIC_VECTORS, 4),
            Err(QueryError::Corrupt { .. })
        ));
    }

    #[test]
    fn passage_store_random_access() {
        let dir = tempfile::tempdir().unwrap();
        let passages: Vec<StoredPassage> = (0..3)
            .map(|i| StoredPassage {
                doc: i,
                doc_id: format!("d{i}"),
                heading: (i == 1).then(|| "Kop".to_string()),
                text: format!("Zin {i}. Nog één."),
                range: 10..27,
                sentences: vec![10..16, 17..27],
                first_sentence: i * 2,
            })
            .collect();
        let lines = dir.path().join("p.jsonl");
        let offs = dir.path().join("p.idx");
        let offsets = write_jsonl(&lines, &passages).unwrap();
        write_u64s(&offs, MAGIC_OFFSETS, &offsets).unwrap();
        let store = PassageStore::open(&lines, &offs).unwrap();
        assert_eq!(store.len(), 3);
        assert_eq!(store.get(1).unwrap(), passages[1]);
        assert_eq!(store.get(2).unwrap().sentence_text(1), Some("Nog één."));
        assert!(store.get(3).is_err());
    }
}
