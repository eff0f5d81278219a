//! Segments built elsewhere — by the tasks of a distributed engine such as Apache Spark, or
//! by any process — and attached to a collection in one commit. zoek supplies the task and
//! the commit; the engine schedules, retries and places the tasks.
//!
//! | step | who | does |
//! |---|---|---|
//! | [`CollectionWriter::spec`] | the driver | hands out the [`SegmentSpec`] every task builds to (model, dimension, settings) |
//! | [`build_segment`] | each task, no lock | writes a complete segment under `staging/<run>/p<partition>-a<attempt>-<unique>`, returns a [`Receipt`] |
//! | [`CollectionWriter::attach`] | the driver, under the writer lock | re-checks every receipt, keeps one per partition, orders by partition, tombstones older versions ([`AttachMode::Upsert`]), publishes once, removes the run's staging |
//! | [`remove_abandoned_runs`] | anyone | removes staging of runs never attached, after a grace period |
//!
//! A retried or speculative attempt writes under its own name, so twins never collide;
//! attach keeps one receipt per partition, so a document is never attached twice. The
//! collection records the runs it attached, and attaching a run again changes nothing.
//! Staged segments are hard-linked into the collection (copied across filesystems), so a
//! crash before the commit leaves the staging intact for another attach.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use serde::{Deserialize, Serialize};

use super::{CollectionWriter, WriterSegment};
use crate::engine::Engine;
use crate::error::{QueryError, Result, io_err};
use crate::format::fs::{remove_path, sha256_file, sync_dir, sync_tree};
use crate::format::jsonl::read_jsonl;
use crate::format::paths::{SEGMENT_FILE, TMP_PREFIX, staged_segment_name};
use crate::format::{CollectionSettings, DocEntry, SegmentEntry, SegmentManifest};
use crate::segment::BuildOptions;
use crate::segment::build::embed_documents;
use crate::text::{Corpus, RawDocument};

/// What every segment of a collection agrees on: a collection hands it out
/// ([`CollectionWriter::spec`]) and a new collection is created from it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SegmentSpec {
    /// Fingerprint of the embedding model.
    pub model_id: String,
    /// Vector dimension.
    pub dim: usize,
    /// Language, chunking, passage vectors, HNSW threshold, sentence vectors, headers.
    pub settings: CollectionSettings,
}

impl SegmentSpec {
    /// The spec of a new collection built by `engine` with `opts`.
    pub fn new(engine: &Engine, opts: &BuildOptions) -> Self {
        Self {
            model_id: engine.model_id().to_string(),
            dim: engine.dim(),
            settings: opts.settings(),
        }
    }
}

/// Which run, partition and attempt a segment comes from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Origin {
    /// The build run: letters, digits, `.`, `_` and `-`, at most 64.
    pub run: String,
    /// The partition of the input (a hash of the document id, never round-robin, so that a
    /// retried task sees the same documents).
    pub partition: u32,
    /// The attempt of the task.
    pub attempt: u32,
}

/// What [`build_segment`] wrote: enough for [`CollectionWriter::attach`] to find the
/// segment and check that it is the one built.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Receipt {
    /// Where the segment came from.
    pub origin: Origin,
    /// The spec it was built to.
    pub spec: SegmentSpec,
    /// The staged segment directory; `None` when the partition had no passage (nothing
    /// written).
    pub path: Option<PathBuf>,
    /// SHA-256 of its `segment.json`, which lists every data file with size and SHA-256.
    pub manifest_sha256: Option<String>,
    /// Documents with at least one passage.
    pub documents: usize,
    /// Passages.
    pub passages: usize,
    /// Sentences (vectors).
    pub sentences: usize,
    /// Documents given (before cleaning; a document can end up without passages).
    pub input_documents: usize,
}

/// How attached segments treat documents the collection already has.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum AttachMode {
    /// Ids must be new: an id the collection (or another partition) already holds is an
    /// error and nothing is attached.
    Append,
    /// A new version replaces an old one: the old passages get tombstones, as
    /// [`CollectionWriter::add_documents`] does.
    Upsert,
}

/// What [`CollectionWriter::attach`] did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct AttachStats {
    /// The run.
    pub run: String,
    /// Whether the run had been attached before (then nothing changed).
    pub already_attached: bool,
    /// Segments attached (partitions with passages).
    pub segments: usize,
    /// Documents attached.
    pub documents: usize,
    /// Passages attached.
    pub passages: usize,
    /// Older versions tombstoned ([`AttachMode::Upsert`]).
    pub replaced: usize,
    /// Receipts of other attempts of an attached partition, ignored.
    pub duplicates: usize,
    /// The commit that published them.
    pub generation: u64,
}

fn check_run(run: &str) -> Result<()> {
    let ok = !run.is_empty()
        && run.len() <= 64
        && !run.starts_with('.')
        && run
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'));
    if ok {
        Ok(())
    } else {
        Err(QueryError::InvalidOption(format!(
            "run id {run:?} must be 1 to 64 letters, digits, '.', '_' or '-', not starting with '.'"
        )))
    }
}

/// Builds one partition's documents into a complete segment under
/// `staging/<run>/`, without any lock: many tasks may build at once, on one machine or on
/// many sharing a filesystem. The segment is written under a temporary name, fsynced and
/// renamed, so a receipt always names a whole segment.
///
/// `opts` supplies what is not in the spec (batch size, HNSW construction parameters,
/// progress). Documents are deduplicated by id, the last one winning.
///
/// Errors: [`QueryError::ModelMismatch`] when `engine` runs another model than `spec`'s,
/// [`QueryError::InvalidOption`] for a bad run id or an empty document id; embedding and
/// I/O failures.
pub fn build_segment(
    engine: &Engine,
    documents: Vec<RawDocument>,
    staging: &Path,
    spec: &SegmentSpec,
    origin: &Origin,
    opts: &BuildOptions,
) -> Result<Receipt> {
    check_run(&origin.run)?;
    if engine.model_id() != spec.model_id || engine.dim() != spec.dim {
        return Err(QueryError::ModelMismatch {
            collection: spec.model_id.clone(),
            engine: engine.model_id().to_string(),
        });
    }
    if documents.iter().any(|d| d.id.is_empty()) {
        return Err(QueryError::InvalidOption(
            "a document needs a non-empty id".into(),
        ));
    }
    let input_documents = documents.len();
    let mut last: BTreeMap<String, usize> = BTreeMap::new();
    for (i, d) in documents.iter().enumerate() {
        last.insert(d.id.clone(), i);
    }
    let documents: Vec<RawDocument> = documents
        .into_iter()
        .enumerate()
        .filter(|(i, d)| last.get(&d.id) == Some(i))
        .map(|(_, d)| d)
        .collect();
    let mut receipt = Receipt {
        origin: origin.clone(),
        spec: spec.clone(),
        path: None,
        manifest_sha256: None,
        documents: 0,
        passages: 0,
        sentences: 0,
        input_documents,
    };
    if documents.is_empty() {
        return Ok(receipt);
    }
    let embedded = embed_documents(engine, documents, &Corpus::default(), &spec.settings, opts)?;
    if embedded.serializer.passages() == 0 {
        return Ok(receipt);
    }
    let hnsw = spec
        .settings
        .segment_gets_graph(embedded.serializer.sentences(), 0);
    let run_dir = staging.join(&origin.run);
    std::fs::create_dir_all(&run_dir).map_err(io_err(&run_dir))?;
    let name = staged_segment_name(origin.partition, origin.attempt);
    let tmp = run_dir.join(format!("{TMP_PREFIX}{name}"));
    let (manifest, _) =
        embedded
            .serializer
            .write(&tmp, &spec.model_id, &spec.settings, hnsw, opts)?;
    sync_tree(&tmp)?;
    let path = run_dir.join(&name);
    std::fs::rename(&tmp, &path).map_err(io_err(&path))?;
    sync_dir(&run_dir)?;
    receipt.manifest_sha256 = Some(sha256_file(&path.join(SEGMENT_FILE))?);
    receipt.path = Some(std::path::absolute(&path).map_err(io_err(&path))?);
    receipt.documents = manifest.counts.documents;
    receipt.passages = manifest.counts.passages;
    receipt.sentences = manifest.counts.sentences;
    Ok(receipt)
}

/// Removes the staging of runs under `staging` that were not touched for `grace` (tasks
/// of a run that failed, or that was never attached). Returns what was removed.
pub fn remove_abandoned_runs(staging: &Path, grace: Duration) -> Result<Vec<PathBuf>> {
    let mut removed = Vec::new();
    let entries = match std::fs::read_dir(staging) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(removed),
        Err(e) => return Err(io_err(staging)(e)),
    };
    let now = SystemTime::now();
    for entry in entries {
        let entry = entry.map_err(io_err(staging))?;
        let path = entry.path();
        if !path.is_dir() {
            continue;
        }
        let newest = newest_change(&path).unwrap_or(now);
        if now.duration_since(newest).unwrap_or_default() >= grace {
            remove_path(&path).map_err(io_err(&path))?;
            removed.push(path);
        }
    }
    removed.sort();
    Ok(removed)
}

/// The latest modification under `path` (a task still writing keeps its run young).
fn newest_change(path: &Path) -> Option<SystemTime> {
    let mut newest = std::fs::metadata(path).ok()?.modified().ok()?;
    if path.is_dir() {
        for entry in std::fs::read_dir(path).ok()?.flatten() {
            if let Some(t) = newest_change(&entry.path()) {
                newest = newest.max(t);
            }
        }
    }
    Some(newest)
}

/// Hard-links (or, across filesystems, copies) the tree `from` to `to`.
fn link_tree(from: &Path, to: &Path) -> Result<()> {
    if from.is_dir() {
        std::fs::create_dir_all(to).map_err(io_err(to))?;
        for entry in std::fs::read_dir(from).map_err(io_err(from))? {
            let entry = entry.map_err(io_err(from))?;
            link_tree(&entry.path(), &to.join(entry.file_name()))?;
        }
        Ok(())
    } else {
        std::fs::hard_link(from, to)
            .or_else(|_| std::fs::copy(from, to).map(|_| ()))
            .map_err(io_err(to))
    }
}

impl CollectionWriter {
    /// The spec segments built for this collection must follow; for a collection not yet
    /// committed, the writer's options.
    pub fn spec(&self) -> SegmentSpec {
        SegmentSpec {
            model_id: self.engine.model_id().to_string(),
            dim: self.engine.dim(),
            settings: self.settings.clone(),
        }
    }

    /// Attaches the segments of `run` named by `receipts` and publishes them with one
    /// commit.
    ///
    /// Every receipt is re-checked: its spec against the collection's, its segment's
    /// `segment.json` against the receipt's checksum, and every data file against its size
    /// and SHA-256. One receipt per partition is kept (the lowest attempt; other attempts'
    /// receipts are counted in [`AttachStats::duplicates`]), and segments join in
    /// partition order, so the result does not depend on which task finished first. After
    /// the commit the run's staging directory is removed, failed attempts' leftovers with
    /// it. A run the collection has attached before is a no-op.
    ///
    /// A collection not yet committed takes the receipts' spec. Errors:
    /// [`QueryError::ModelMismatch`] or [`QueryError::InvalidOption`] for a receipt of
    /// another spec or run, an id that already exists in [`AttachMode::Append`], or
    /// changes staged and not committed; [`QueryError::Corrupt`] for a staged segment that
    /// is not what its receipt says. On error nothing is published.
    pub fn attach(
        &mut self,
        run: &str,
        receipts: &[Receipt],
        mode: AttachMode,
    ) -> Result<AttachStats> {
        check_run(run)?;
        let mut stats = AttachStats {
            run: run.to_string(),
            generation: self.generation,
            ..AttachStats::default()
        };
        let staging_runs: Vec<PathBuf> = {
            let mut dirs: Vec<PathBuf> = receipts
                .iter()
                .filter_map(|r| r.path.as_ref()?.parent().map(Path::to_path_buf))
                .collect();
            dirs.sort();
            dirs.dedup();
            dirs
        };
        if self.runs.iter().any(|r| r == run) {
            stats.already_attached = true;
            remove_staging(&staging_runs, run);
            return Ok(stats);
        }
        if self.dirty {
            return Err(QueryError::InvalidOption(
                "commit the staged changes before attaching a run".into(),
            ));
        }
        if let Some(r) = receipts.iter().find(|r| r.origin.run != run) {
            return Err(QueryError::InvalidOption(format!(
                "a receipt of run {:?} cannot be attached as run {run:?}",
                r.origin.run
            )));
        }
        let fresh = self.generation == 0 && self.segments.is_empty();
        let result = self.attach_receipts(receipts, mode, fresh, &mut stats);
        match result.and_then(|()| {
            self.runs.push(run.to_string());
            self.dirty = true;
            self.commit()
        }) {
            Ok(generation) => {
                stats.generation = generation;
                remove_staging(&staging_runs, run);
                Ok(stats)
            }
            Err(e) => {
                // Forget what was staged: the manifest on disk is unchanged, and the
                // linked copies are garbage the next writer removes.
                self.reload()?;
                Err(e)
            }
        }
    }

    fn attach_receipts(
        &mut self,
        receipts: &[Receipt],
        mode: AttachMode,
        fresh: bool,
        stats: &mut AttachStats,
    ) -> Result<()> {
        let mut by_partition: BTreeMap<u32, &Receipt> = BTreeMap::new();
        for r in receipts {
            match by_partition.get(&r.origin.partition) {
                Some(kept) if kept.origin.attempt <= r.origin.attempt => stats.duplicates += 1,
                Some(_) => {
                    stats.duplicates += 1;
                    by_partition.insert(r.origin.partition, r);
                }
                None => {
                    by_partition.insert(r.origin.partition, r);
                }
            }
        }
        if fresh && let Some(first) = by_partition.values().next() {
            if first.spec.model_id != self.engine.model_id() || first.spec.dim != self.engine.dim()
            {
                return Err(QueryError::ModelMismatch {
                    collection: first.spec.model_id.clone(),
                    engine: self.engine.model_id().to_string(),
                });
            }
            self.settings = first.spec.settings.clone();
        }
        let spec = self.spec();
        for receipt in by_partition.values() {
            if receipt.spec.model_id != spec.model_id {
                return Err(QueryError::ModelMismatch {
                    collection: spec.model_id.clone(),
                    engine: receipt.spec.model_id.clone(),
                });
            }
            if receipt.spec != spec {
                return Err(QueryError::InvalidOption(format!(
                    "partition {} was built with other settings than the collection's",
                    receipt.origin.partition
                )));
            }
            let (Some(path), Some(sha)) = (&receipt.path, &receipt.manifest_sha256) else {
                continue;
            };
            let segment = self.check_staged(receipt, path, sha)?;
            let name = self.new_segment_name();
            let dest = self.dir.join(&name);
            link_tree(path, &dest)?;
            sync_tree(&dest)?;
            let docs: Vec<DocEntry> = read_jsonl(&dest.join(&segment.data.doc_table))?;
            let live = self.live_index();
            for doc in &docs {
                if let Some(&loc) = live.get(&doc.id) {
                    if mode == AttachMode::Append {
                        return Err(QueryError::InvalidOption(format!(
                            "document {:?} of partition {} is already in the collection \
                             (attach with upsert to replace it)",
                            doc.id, receipt.origin.partition
                        )));
                    }
                    self.tombstone(loc);
                    stats.replaced += 1;
                }
            }
            stats.segments += 1;
            stats.documents += segment.counts.documents;
            stats.passages += segment.counts.passages;
            self.segments
                .push(WriterSegment::new(SegmentEntry::new(name, &segment), docs));
        }
        Ok(())
    }

    /// The staged segment's manifest, once it is checked against its receipt.
    fn check_staged(&self, receipt: &Receipt, path: &Path, sha: &str) -> Result<SegmentManifest> {
        let manifest_path = path.join(SEGMENT_FILE);
        if !manifest_path.is_file() {
            return Err(QueryError::corrupt(
                path,
                format!(
                    "the staged segment of partition {} (attempt {}) is missing",
                    receipt.origin.partition, receipt.origin.attempt
                ),
            ));
        }
        if sha256_file(&manifest_path)? != sha {
            return Err(QueryError::corrupt(
                &manifest_path,
                "the staged segment is not the one its receipt names (checksum differs)",
            ));
        }
        let segment = SegmentManifest::read(path)?;
        segment.verify_checksums(path)?;
        let counts = &segment.counts;
        if segment.model_id != self.engine.model_id()
            || segment.dim != self.engine.dim()
            || (counts.documents, counts.passages, counts.sentences)
                != (receipt.documents, receipt.passages, receipt.sentences)
        {
            return Err(QueryError::corrupt(
                &manifest_path,
                "the staged segment does not match its receipt",
            ));
        }
        Ok(segment)
    }
}

/// Removes the staging directories of `run` (only directories named after it).
fn remove_staging(dirs: &[PathBuf], run: &str) {
    for dir in dirs {
        if dir.file_name().and_then(|n| n.to_str()) == Some(run)
            && let Err(e) = remove_path(dir)
        {
            tracing::warn!(dir = %dir.display(), error = %e, "could not remove a run's staging");
        }
    }
}
