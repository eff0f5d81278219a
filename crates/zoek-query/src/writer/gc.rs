//! Garbage collection, a step of its own: after a manifest swap, and when a writer opens,
//! everything in the collection directory that the current state does not name is removed.
//! It only ever runs with the writer lock held, and a failure to remove something is
//! logged, never an error: the commit it follows has already happened, and the next writer
//! tries again.

use std::collections::HashMap;
use std::path::Path;

use super::{CollectionWriter, WriterSegment};
use crate::format::fs::remove_path;
use crate::format::paths::{TMP_PREFIX, is_build_file, is_late_file, segment_number};

impl CollectionWriter {
    /// Removes what the current state does not name: segment directories (replaced by a
    /// merge, or left by a crashed writer), older tombstone and graph files, temporary
    /// files.
    pub(super) fn collect_garbage(&self) {
        let referenced: HashMap<&str, &WriterSegment> = self
            .segments
            .iter()
            .map(|s| (s.entry.name.as_str(), s))
            .collect();
        let Ok(entries) = std::fs::read_dir(&self.dir) else {
            return;
        };
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            let path = entry.path();
            if name.starts_with(TMP_PREFIX) {
                remove(&path);
            } else if segment_number(&name).is_some() {
                match referenced.get(name.as_str()) {
                    None => remove(&path),
                    Some(seg) => remove_stale_late_files(&path, seg),
                }
            }
        }
    }
}

/// In a live segment's directory: tombstone and graph files other than the current ones,
/// and temporary files.
fn remove_stale_late_files(dir: &Path, seg: &WriterSegment) {
    let current = |f: &Option<String>| {
        f.as_deref()
            .and_then(|t| t.rsplit('/').next())
            .map(str::to_string)
    };
    let keep = [current(&seg.entry.tombstones), current(&seg.entry.graph)];
    for f in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let file = f.file_name().to_string_lossy().into_owned();
        let stale = is_late_file(&file) && !keep.iter().any(|k| k.as_deref() == Some(&file));
        if stale || file.starts_with(TMP_PREFIX) {
            remove(&f.path());
        }
    }
}

/// Removes the data files of a version 1 collection (a single build in the collection
/// directory) once a new manifest is in place. Only names that look like build files are
/// touched.
pub(super) fn remove_version_1_files(dir: &Path) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        if is_build_file(&entry.file_name().to_string_lossy()) {
            remove(&entry.path());
        }
    }
}

fn remove(path: &Path) {
    if let Err(e) = remove_path(path) {
        tracing::warn!(path = %path.display(), error = %e, "could not remove unreferenced collection file");
    }
}
