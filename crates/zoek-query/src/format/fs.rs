//! Durable file operations: atomic writes (temporary file, fsync, rename, directory
//! fsync), fsyncing a written tree, removal, and checksums.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use super::manifest::FileEntry;
use super::paths::TMP_PREFIX;
use crate::error::{QueryError, Result, io_err};

/// Writes `path` atomically: the content goes to a temporary file in the same directory,
/// is flushed and fsynced, then renamed over `path`, and the directory is fsynced.
pub(crate) fn write_atomic(
    path: &Path,
    write: impl FnOnce(&mut dyn Write) -> std::io::Result<()>,
) -> Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let mut tmp = tempfile::Builder::new()
        .prefix(TMP_PREFIX)
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
pub(crate) fn sync_dir(dir: &Path) -> Result<()> {
    #[cfg(unix)]
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(io_err(dir))?;
    #[cfg(not(unix))]
    let _ = dir;
    Ok(())
}

/// Fsyncs every file under `path` and every directory (bottom up), so a segment written
/// by tools that do not sync (tantivy) is durable before a manifest names it.
pub(crate) fn sync_tree(path: &Path) -> Result<()> {
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

/// Removes a file or a directory tree; one that is already gone is not an error.
pub(crate) fn remove_path(path: &Path) -> std::io::Result<()> {
    let result = if path.is_dir() {
        std::fs::remove_dir_all(path)
    } else {
        std::fs::remove_file(path)
    };
    match result {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        other => other,
    }
}

/// SHA-256 of a file's content, hex. Segment files are immutable once written, so they are
/// hashed straight from a map.
pub(crate) fn sha256_file(path: &Path) -> Result<String> {
    use sha2::Digest;
    let file = File::open(path).map_err(io_err(path))?;
    let len = file.metadata().map_err(io_err(path))?.len();
    let digest = if len == 0 {
        sha2::Sha256::digest([])
    } else {
        // SAFETY: collection files are written once under fresh names and never modified.
        let map = unsafe { memmap2::Mmap::map(&file) }.map_err(io_err(path))?;
        sha2::Sha256::digest(&map[..])
    };
    Ok(crate::text::ingest::hex(&digest))
}

/// Lists `name` (a file or a directory, recursively, in name order) as manifest entries.
pub(crate) fn file_entries(dir: &Path, name: &str) -> Result<Vec<FileEntry>> {
    let path = dir.join(name);
    let meta = std::fs::metadata(&path).map_err(io_err(&path))?;
    if meta.is_file() {
        return Ok(vec![FileEntry {
            name: name.to_string(),
            bytes: meta.len(),
            sha256: sha256_file(&path)?,
        }]);
    }
    let mut names: Vec<PathBuf> = std::fs::read_dir(&path)
        .map_err(io_err(&path))?
        .map(|e| e.map(|e| e.path()))
        .collect::<std::io::Result<_>>()
        .map_err(io_err(&path))?;
    names.sort();
    let mut out = Vec::new();
    for p in names {
        let file_name = p
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        // Tantivy's lock files come and go with readers; they are not data.
        if file_name.ends_with(".lock") {
            continue;
        }
        out.extend(file_entries(dir, &format!("{name}/{file_name}"))?);
    }
    Ok(out)
}
