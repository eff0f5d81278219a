//! Tombstone files: the deleted passages of one segment, as a sorted `u32` array file
//! (`seg-000007/del-000012.u32`, named for the commit that wrote it). Each file holds all
//! of the segment's deletions so far; the collection manifest names the current one, so a
//! deletion becomes visible exactly when the manifest that names its file is swapped in.

use std::path::Path;

use super::array::{MAGIC_TOMBSTONES, MappedArray, write_array};
use super::bits::Bits;
use crate::error::{QueryError, Result};

/// Writes the deleted passage ids (sorted, deduplicated here) atomically.
pub(crate) fn write(path: &Path, deleted: &[u32]) -> Result<()> {
    let mut ids = deleted.to_vec();
    ids.sort_unstable();
    ids.dedup();
    write_array(path, MAGIC_TOMBSTONES, 1, &ids)
}

/// Reads a tombstone file into the ids it deletes.
pub(crate) fn read(path: &Path, passages: usize) -> Result<Vec<u32>> {
    let array = MappedArray::open_column(path, MAGIC_TOMBSTONES, 4)?;
    let mut out = Vec::with_capacity(array.rows());
    for i in 0..array.rows() {
        let id = array.u32_at(i).unwrap_or(u32::MAX);
        if id as usize >= passages {
            return Err(QueryError::corrupt(
                path,
                format!("deleted passage {id} out of range ({passages} passages)"),
            ));
        }
        out.push(id);
    }
    Ok(out)
}

/// Reads a tombstone file as the set of live passages of a segment of `passages`.
pub(crate) fn read_live(path: &Path, passages: usize) -> Result<Bits> {
    let mut live = Bits::new(passages, true);
    for id in read(path, passages)? {
        live.set(u64::from(id), false);
    }
    Ok(live)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_range_check() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("del-000003.u32");
        write(&p, &[5, 1, 5, 2]).unwrap();
        assert_eq!(read(&p, 6).unwrap(), [1, 2, 5]);
        let live = read_live(&p, 6).unwrap();
        assert_eq!(live.count(), 3);
        assert!(live.get(0) && !live.get(1) && !live.get(5));
        assert!(matches!(read(&p, 5), Err(QueryError::Corrupt { .. })));
    }
}
