//! JSON lines: one record a line, written atomically with each record's byte offset (for
//! random access through an offset file), and read back as a whole.

use std::io::Write;
use std::path::Path;

use serde::Serialize;
use serde::de::DeserializeOwned;

use super::fs::write_atomic;
use crate::error::{QueryError, Result, io_err};

/// Writes records atomically and returns each record's byte offset plus the end offset
/// (so record `i` spans `offsets[i]..offsets[i + 1]`).
pub(crate) fn write_jsonl<T: Serialize>(path: &Path, records: &[T]) -> Result<Vec<u64>> {
    let mut offsets = Vec::with_capacity(records.len() + 1);
    let mut json_error = None;
    write_atomic(path, |w: &mut dyn Write| {
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

/// Parses every non-empty line of `bytes` (the content of `path`) as a `T`.
pub(crate) fn parse_jsonl<T: DeserializeOwned>(bytes: &[u8], path: &Path) -> Result<Vec<T>> {
    bytes
        .split(|&b| b == b'\n')
        .filter(|l| !l.is_empty())
        .map(|l| {
            serde_json::from_slice(l).map_err(|source| QueryError::Json {
                path: path.to_path_buf(),
                source,
            })
        })
        .collect()
}

/// Reads the JSON-lines file at `path` as `T`s.
pub(crate) fn read_jsonl<T: DeserializeOwned>(path: &Path) -> Result<Vec<T>> {
    let bytes = std::fs::read(path).map_err(io_err(path))?;
    parse_jsonl(&bytes, path)
}
