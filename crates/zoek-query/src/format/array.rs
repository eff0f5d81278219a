//! Versioned little-endian arrays, mapped with `memmap2`.
//!
//! Binary files start with a 32-byte header — 8 magic bytes, format version (u32), row
//! width (u32), row count (u64), 8 reserved bytes — followed by the rows, little-endian.
//! The header length keeps `f32` rows 4-byte aligned in a page-aligned map.

use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};

use memmap2::Mmap;

use super::fs::write_atomic;
use crate::error::{QueryError, Result, io_err};

/// Length of the header of every binary file.
pub(crate) const HEADER_LEN: usize = 32;
/// Version of the binary array layout.
pub(crate) const ARRAY_VERSION: u32 = 1;
/// Magic of the sentence → passage map (`u32` rows of width 1).
pub(crate) const MAGIC_SENTENCES: &[u8; 8] = b"ZQSENT\0\x01";
/// Magic of a vector file (`f32` rows of width `dim`).
pub(crate) const MAGIC_VECTORS: &[u8; 8] = b"ZQVECS\0\x01";
/// Magic of the passage offset file (`u64` rows of width 1, count + 1 offsets).
pub(crate) const MAGIC_OFFSETS: &[u8; 8] = b"ZQOFFS\0\x01";
/// Magic of a tombstone file (sorted deleted passage ids of one segment, `u32`).
pub(crate) const MAGIC_TOMBSTONES: &[u8; 8] = b"ZQDELS\0\x01";

fn header(magic: &[u8; 8], width: u32, count: u64) -> [u8; HEADER_LEN] {
    let mut h = [0u8; HEADER_LEN];
    h[..8].copy_from_slice(magic);
    h[8..12].copy_from_slice(&ARRAY_VERSION.to_le_bytes());
    h[12..16].copy_from_slice(&width.to_le_bytes());
    h[16..24].copy_from_slice(&count.to_le_bytes());
    h
}

/// A value an array file holds, written little-endian.
pub(crate) trait ArrayValue: Copy {
    /// Its little-endian bytes.
    fn write_le(self, w: &mut dyn Write) -> std::io::Result<()>;
}

impl ArrayValue for u32 {
    fn write_le(self, w: &mut dyn Write) -> std::io::Result<()> {
        w.write_all(&self.to_le_bytes())
    }
}

impl ArrayValue for u64 {
    fn write_le(self, w: &mut dyn Write) -> std::io::Result<()> {
        w.write_all(&self.to_le_bytes())
    }
}

impl ArrayValue for f32 {
    fn write_le(self, w: &mut dyn Write) -> std::io::Result<()> {
        w.write_all(&self.to_le_bytes())
    }
}

/// Writes `values` as rows of `width` values (row-major) into an array file, atomically.
pub(crate) fn write_array<T: ArrayValue>(
    path: &Path,
    magic: &[u8; 8],
    width: usize,
    values: &[T],
) -> Result<()> {
    let rows = values.len().checked_div(width).unwrap_or(0);
    let width = u32::try_from(width).map_err(|_| QueryError::too_many("values in a row"))?;
    write_atomic(path, |w| {
        w.write_all(&header(magic, width, rows as u64))?;
        for &v in values {
            v.write_le(w)?;
        }
        Ok(())
    })
}

/// A mapped array file with a validated header.
#[derive(Debug)]
pub(crate) struct MappedArray {
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
        // Zero-width rows take no bytes, so any row count would pass the size check below
        // (and a reader sizing its output by rows would try to allocate it).
        if width == 0 {
            return Err(corrupt("row width 0".into()));
        }
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

    /// Like [`MappedArray::open`], for an array of one value a row (sentence map, offsets,
    /// tombstones).
    pub fn open_column(path: &Path, magic: &[u8; 8], elem_size: usize) -> Result<Self> {
        let array = Self::open(path, magic, elem_size)?;
        if array.width != 1 {
            return Err(QueryError::Corrupt {
                path: path.to_path_buf(),
                reason: format!("row width {}, expected 1", array.width),
            });
        }
        Ok(array)
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

    /// `N` bytes at value `i`; `i` may come from another damaged file (a graph's ids), so
    /// the offset arithmetic is checked rather than trusted.
    fn value_bytes<const N: usize>(&self, i: usize) -> Option<[u8; N]> {
        let start = i.checked_mul(N)?;
        self.body()
            .get(start..start.checked_add(N)?)?
            .try_into()
            .ok()
    }

    /// The `i`-th `u32` value.
    pub fn u32_at(&self, i: usize) -> Option<u32> {
        self.value_bytes(i).map(u32::from_le_bytes)
    }

    /// The `i`-th `u64` value.
    pub fn u64_at(&self, i: usize) -> Option<u64> {
        self.value_bytes(i).map(u64::from_le_bytes)
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arrays_round_trip_and_reject_corruption() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("v.f32");
        write_array(&p, MAGIC_VECTORS, 3, &[1.0f32, 2.0, 3.0, 4.0, 5.0, 6.0]).unwrap();
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
}
