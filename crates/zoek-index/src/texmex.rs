//! Readers and a writer for the TEXMEX vector formats (`.fvecs`, `.bvecs`, `.ivecs`).
//!
//! Each record is a little-endian `i32` dimension followed by that many components
//! (f32, u8 or i32). All records of a file must share one dimension.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::Path;

use crate::IndexError;

/// Vectors read from a TEXMEX file, row-major.
#[derive(Debug, Clone, PartialEq)]
pub struct Vectors<T> {
    /// Components per vector.
    pub dim: usize,
    /// `len() * dim` components.
    pub data: Vec<T>,
}

impl<T> Vectors<T> {
    /// Number of vectors.
    pub fn len(&self) -> usize {
        self.data.len().checked_div(self.dim).unwrap_or(0)
    }

    /// Whether there are no vectors.
    pub fn is_empty(&self) -> bool {
        self.data.is_empty()
    }

    /// Row `i`.
    pub fn row(&self, i: usize) -> &[T] {
        &self.data[i * self.dim..(i + 1) * self.dim]
    }
}

fn read_records<T>(
    path: &Path,
    limit: Option<usize>,
    elem: usize,
    decode: impl Fn(&[u8]) -> T,
) -> Result<Vectors<T>, IndexError> {
    let bytes = std::fs::read(path).map_err(|e| IndexError::io(path, e))?;
    let bad = |msg: String| IndexError::InvalidInput(format!("{}: {msg}", path.display()));
    let mut dim = None;
    let mut data = Vec::new();
    let mut at = 0;
    let mut rows = 0;
    while at < bytes.len() && limit.is_none_or(|l| rows < l) {
        let head = bytes
            .get(at..at + 4)
            .ok_or_else(|| bad(format!("truncated record header at byte {at}")))?;
        let d = i32::from_le_bytes([head[0], head[1], head[2], head[3]]);
        let d = usize::try_from(d)
            .ok()
            .filter(|&d| d > 0)
            .ok_or_else(|| bad(format!("bad dimension {d} at byte {at}")))?;
        if *dim.get_or_insert(d) != d {
            return Err(bad(format!("dimension changes to {d} at byte {at}")));
        }
        let body = bytes
            .get(at + 4..at + 4 + d * elem)
            .ok_or_else(|| bad(format!("truncated record at byte {at}")))?;
        data.extend(body.chunks_exact(elem).map(&decode));
        at += 4 + d * elem;
        rows += 1;
    }
    Ok(Vectors {
        dim: dim.unwrap_or(0),
        data,
    })
}

/// Reads an `.fvecs` file (f32 components), at most `limit` vectors.
pub fn read_fvecs(path: &Path, limit: Option<usize>) -> Result<Vectors<f32>, IndexError> {
    read_records(path, limit, 4, |b| {
        f32::from_le_bytes([b[0], b[1], b[2], b[3]])
    })
}

/// Reads a `.bvecs` file (u8 components), converted to f32, at most `limit` vectors.
pub fn read_bvecs(path: &Path, limit: Option<usize>) -> Result<Vectors<f32>, IndexError> {
    read_records(path, limit, 1, |b| f32::from(b[0]))
}

/// Reads an `.ivecs` file (i32 components, e.g. ground-truth neighbour lists).
pub fn read_ivecs(path: &Path, limit: Option<usize>) -> Result<Vectors<i32>, IndexError> {
    read_records(path, limit, 4, |b| {
        i32::from_le_bytes([b[0], b[1], b[2], b[3]])
    })
}

/// Reads `.fvecs` or `.bvecs` by extension.
pub fn read_vectors(path: &Path, limit: Option<usize>) -> Result<Vectors<f32>, IndexError> {
    match path.extension().and_then(|e| e.to_str()) {
        Some("fvecs") => read_fvecs(path, limit),
        Some("bvecs") => read_bvecs(path, limit),
        _ => Err(IndexError::InvalidInput(format!(
            "{}: expected a .fvecs or .bvecs file",
            path.display()
        ))),
    }
}

/// Writes row-major f32 vectors as `.fvecs`.
pub fn write_fvecs(path: &Path, dim: usize, data: &[f32]) -> Result<(), IndexError> {
    write_vecs(path, dim, data, f32::to_le_bytes)
}

/// Writes i32 rows as `.ivecs`.
pub fn write_ivecs(path: &Path, dim: usize, data: &[i32]) -> Result<(), IndexError> {
    write_vecs(path, dim, data, i32::to_le_bytes)
}

/// The TEXMEX row layout shared by `.fvecs` and `.ivecs`: an i32 dimension before each row
/// of 4-byte little-endian values.
fn write_vecs<T: Copy>(
    path: &Path,
    dim: usize,
    data: &[T],
    le: fn(T) -> [u8; 4],
) -> Result<(), IndexError> {
    let io = |e| IndexError::io(path, e);
    let d = i32::try_from(dim)
        .ok()
        .filter(|&d| d > 0)
        .ok_or_else(|| IndexError::InvalidParameter(format!("dimension {dim}")))?;
    let mut w = BufWriter::new(File::create(path).map_err(io)?);
    for row in data.chunks_exact(dim) {
        w.write_all(&d.to_le_bytes()).map_err(io)?;
        for &x in row {
            w.write_all(&le(x)).map_err(io)?;
        }
    }
    w.flush().map_err(io)
}
