//! Lays a built graph and its vectors out in format v1 and publishes the file atomically.
//!
//! Sections are streamed to a temporary file in the target directory with the header
//! area zeroed; the header goes in last, then the file is fsynced, renamed over the
//! target and the directory fsynced. A crash at any point leaves either the previous
//! file or none at the target path, and an unfinished temporary file starts with zero
//! bytes, so it fails to open with [`IndexError::BadMagic`].

use std::fs::{File, OpenOptions};
use std::io::{BufWriter, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use crate::IndexError;
use crate::format::{HEADER_LEN, Header, SECTION_ALIGN, Section, SectionKind};

/// One section's bytes, ready to write.
pub(crate) struct SectionData<'a> {
    pub kind: SectionKind,
    pub bytes: &'a [u8],
}

#[cfg(test)]
thread_local! {
    /// Test hook: stop after the sections, before header and rename, as a crash would.
    pub(crate) static CRASH_BEFORE_HEADER: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Writes `header` (whose section table and length are filled in here) and `sections`
/// to `path` atomically. Returns the file length.
pub(crate) fn write_file(
    path: &Path,
    mut header: Header,
    sections: &[SectionData<'_>],
) -> Result<u64, IndexError> {
    let tmp = temp_path(path)?;
    let result = write_unpublished(&tmp, &mut header, sections);
    #[cfg(test)]
    if CRASH_BEFORE_HEADER.with(|c| c.get()) {
        return Err(IndexError::InvalidInput("simulated crash".into()));
    }
    let result = result.and_then(|file| {
        let mut file = file;
        file.seek(SeekFrom::Start(0))
            .and_then(|_| file.write_all(&header.encode()))
            .and_then(|_| file.sync_all())
            .map_err(|e| IndexError::io(&tmp, e))?;
        drop(file);
        std::fs::rename(&tmp, path).map_err(|e| IndexError::io(path, e))?;
        sync_dir(path);
        Ok(header.file_len)
    });
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

fn write_unpublished(
    tmp: &Path,
    header: &mut Header,
    sections: &[SectionData<'_>],
) -> Result<File, IndexError> {
    let file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(tmp)
        .map_err(|e| IndexError::io(tmp, e))?;
    let mut w = BufWriter::with_capacity(1 << 20, file);
    let io = |e| IndexError::io(tmp, e);
    w.write_all(&[0u8; HEADER_LEN]).map_err(io)?;
    let mut pos = HEADER_LEN as u64;
    header.sections.clear();
    for s in sections {
        let pad = pos.next_multiple_of(SECTION_ALIGN) - pos;
        w.write_all(&[0u8; SECTION_ALIGN as usize][..pad as usize])
            .map_err(io)?;
        pos += pad;
        w.write_all(s.bytes).map_err(io)?;
        header.sections.push(Section {
            kind: s.kind,
            offset: pos,
            length: s.bytes.len() as u64,
            crc32: crc32fast::hash(s.bytes),
        });
        pos += s.bytes.len() as u64;
    }
    let pad = pos.next_multiple_of(SECTION_ALIGN) - pos;
    w.write_all(&[0u8; SECTION_ALIGN as usize][..pad as usize])
        .map_err(io)?;
    pos += pad;
    header.file_len = pos;
    let file = w
        .into_inner()
        .map_err(|e| IndexError::io(tmp, e.into_error()))?;
    file.sync_all().map_err(io)?;
    Ok(file)
}

/// A fresh name next to `path` (same file system, so the rename is atomic).
fn temp_path(path: &Path) -> Result<PathBuf, IndexError> {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let name = path
        .file_name()
        .ok_or_else(|| IndexError::InvalidInput(format!("{} has no file name", path.display())))?;
    let mut tmp = std::ffi::OsString::from(".");
    tmp.push(name);
    tmp.push(format!(
        ".tmp-{}-{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    ));
    Ok(path.with_file_name(tmp))
}

/// Makes the rename durable. Best effort: some platforms cannot open directories.
fn sync_dir(path: &Path) {
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    if let Err(e) = File::open(dir).and_then(|d| d.sync_all()) {
        tracing::debug!(dir = %dir.display(), error = %e, "directory fsync failed");
    }
}
