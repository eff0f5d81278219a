//! The passage store: `passages.jsonl` mapped, with an offset file for random access.

use std::fs::File;
use std::path::{Path, PathBuf};

use memmap2::Mmap;

use super::array::{MAGIC_OFFSETS, MappedArray};
use super::records::StoredPassage;
use crate::error::{QueryError, Result, io_err};

/// The passage store: `passages.jsonl` mapped, with an offset file for random access, so
/// opening is constant-time and only the passages that are shown get parsed.
#[derive(Debug)]
pub(crate) struct PassageStore {
    lines: Mmap,
    offsets: MappedArray,
    path: PathBuf,
}

impl PassageStore {
    /// Maps the store and its offsets.
    pub fn open(lines_path: &Path, offsets_path: &Path) -> Result<Self> {
        let offsets = MappedArray::open_column(offsets_path, MAGIC_OFFSETS, 8)?;
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
    use crate::format::array::{MAGIC_OFFSETS, write_array};
    use crate::format::jsonl::write_jsonl;

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
        write_array(&offs, MAGIC_OFFSETS, 1, &offsets).unwrap();
        let store = PassageStore::open(&lines, &offs).unwrap();
        assert_eq!(store.len(), 3);
        assert_eq!(store.get(1).unwrap(), passages[1]);
        assert_eq!(store.get(2).unwrap().sentence_text(1), Some("Nog één."));
        assert!(store.get(3).is_err());
    }
}
