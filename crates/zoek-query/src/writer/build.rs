//! A full build: inputs into a collection of one segment, replacing whatever was there.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use super::CollectionWriter;
use super::gc::remove_version_1_files;
use crate::engine::Engine;
use crate::error::{QueryError, Result};
use crate::segment::BuildOptions;
use crate::text::SkippedFile;

/// What a build did.
#[derive(Debug, Clone)]
pub struct BuildStats {
    /// The collection directory.
    pub dir: PathBuf,
    /// Documents indexed.
    pub documents: usize,
    /// Passages.
    pub passages: usize,
    /// Sentences embedded.
    pub sentences: usize,
    /// Lines and blocks dropped as boilerplate.
    pub dropped_blocks: usize,
    /// Files or records skipped, with reasons.
    pub skipped: Vec<SkippedFile>,
    /// Whether an HNSW index was written.
    pub hnsw: bool,
    /// Time spent embedding.
    pub embed_time: Duration,
    /// Total build time.
    pub total_time: Duration,
}

impl Engine {
    /// Builds a collection from files and directories into `out_dir` (created if needed),
    /// as one segment. An existing collection there is replaced atomically: readers see
    /// the old or the new one, never a mix.
    ///
    /// Errors: [`QueryError::InputNotFound`], [`QueryError::EmptyCorpus`] when nothing in
    /// the inputs has text, [`QueryError::WriterLocked`] while a writer has `out_dir` open,
    /// and embedding or I/O failures.
    pub fn build<P: AsRef<Path>>(
        &self,
        inputs: &[P],
        out_dir: impl AsRef<Path>,
        opts: &BuildOptions,
    ) -> Result<BuildStats> {
        let started = Instant::now();
        let out_dir = out_dir.as_ref();
        let inputs: Vec<PathBuf> = inputs.iter().map(|p| p.as_ref().to_path_buf()).collect();
        let mut writer = CollectionWriter::create_replacing(out_dir, self, opts)?;
        let added = writer.add(&inputs)?;
        if added.passages == 0 {
            return Err(QueryError::EmptyCorpus {
                inputs: inputs
                    .iter()
                    .map(|p| p.display().to_string())
                    .collect::<Vec<_>>()
                    .join(", "),
            });
        }
        writer.commit()?;
        remove_version_1_files(out_dir);
        Ok(BuildStats {
            dir: out_dir.to_path_buf(),
            documents: added.documents,
            passages: added.passages,
            sentences: added.sentences,
            dropped_blocks: added.dropped_blocks,
            skipped: added.skipped,
            hnsw: added.hnsw,
            embed_time: added.embed_time,
            total_time: started.elapsed(),
        })
    }
}
