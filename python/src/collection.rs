//! `zoek.Collection` (a searchable snapshot, refreshed on demand), its `Hit`s, and
//! `zoek.build`.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{OnceLock, RwLock};

use pyo3::prelude::*;
use pyo3::types::PyDict;
use zoek_query::{AskOptions, RankMode};

use crate::convert;
use crate::engine::{PyEngine, engine_or_default};
use crate::errors::{invalid, query_err};

/// One ranked passage of an answer.
#[pyclass(module = "zoek", name = "Hit", frozen)]
pub(crate) struct PyHit {
    #[pyo3(get)]
    rank: usize,
    #[pyo3(get)]
    score: f32,
    #[pyo3(get)]
    doc: String,
    #[pyo3(get)]
    heading: Option<String>,
    #[pyo3(get)]
    text: String,
    #[pyo3(get)]
    highlight: Option<String>,
    #[pyo3(get)]
    highlight_range: Option<(usize, usize)>,
    #[pyo3(get)]
    byte_range: (usize, usize),
    #[pyo3(get)]
    dense_score: Option<f32>,
    #[pyo3(get)]
    bm25_score: Option<f32>,
    #[pyo3(get)]
    passage: u32,
    meta: BTreeMap<String, serde_json::Value>,
}

#[pymethods]
impl PyHit {
    /// The document's metadata (a JSON-lines record's or `add_records`' extra fields, an
    /// office file's title).
    #[getter]
    fn metadata<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        convert::to_py(py, &self.meta)
    }

    /// The page of a PDF document the passage is on (`metadata["page"]`), else None.
    #[getter]
    fn page(&self) -> Option<u64> {
        self.meta.get("page").and_then(serde_json::Value::as_u64)
    }

    /// The hit as a plain dict (for JSON responses).
    fn to_dict<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let d = PyDict::new(py);
        d.set_item("rank", self.rank)?;
        d.set_item("score", self.score)?;
        d.set_item("doc", &self.doc)?;
        d.set_item("heading", &self.heading)?;
        d.set_item("text", &self.text)?;
        d.set_item("highlight", &self.highlight)?;
        d.set_item("highlight_range", self.highlight_range)?;
        d.set_item("byte_range", self.byte_range)?;
        d.set_item("page", self.page())?;
        d.set_item("metadata", self.metadata(py)?)?;
        Ok(d)
    }

    fn __repr__(&self) -> String {
        let preview: String = self
            .highlight
            .as_deref()
            .unwrap_or(&self.text)
            .chars()
            .take(60)
            .collect();
        format!(
            "Hit(rank={}, score={:.4}, doc={:?}, highlight={preview:?})",
            self.rank, self.score, self.doc
        )
    }
}

impl From<zoek_query::Hit> for PyHit {
    fn from(h: zoek_query::Hit) -> Self {
        Self {
            rank: h.rank,
            score: h.score,
            doc: h.doc,
            heading: h.heading,
            text: h.text,
            highlight: h.highlight,
            highlight_range: h.highlight_range.map(|r| (r.start, r.end)),
            byte_range: (h.byte_range.start, h.byte_range.end),
            dense_score: h.dense_score,
            bm25_score: h.bm25_score,
            passage: h.passage,
            meta: h.metadata,
        }
    }
}

/// A collection opened for searching: a snapshot of its last commit until `refresh()`.
#[pyclass(module = "zoek", name = "Collection", frozen)]
pub(crate) struct PyCollection {
    snapshot: RwLock<zoek_query::Collection>,
    engine: OnceLock<zoek_query::Engine>,
    path: PathBuf,
}

impl PyCollection {
    fn snapshot(&self) -> zoek_query::Collection {
        // A panic while the lock was held cannot leave the snapshot half-replaced (it is
        // swapped whole), so a poisoned lock is still good to read.
        self.snapshot
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    fn engine(&self, py: Python<'_>) -> PyResult<zoek_query::Engine> {
        if let Some(e) = self.engine.get() {
            return Ok(e.clone());
        }
        let e = engine_or_default(py, None)?;
        Ok(self.engine.get_or_init(|| e).clone())
    }
}

#[pymethods]
impl PyCollection {
    #[new]
    #[pyo3(signature = (path, engine=None))]
    fn new(py: Python<'_>, path: PathBuf, engine: Option<Bound<'_, PyEngine>>) -> PyResult<Self> {
        let collection = py
            .detach(|| zoek_query::Collection::open(&path))
            .map_err(query_err)?;
        let slot = OnceLock::new();
        if let Some(e) = engine {
            let _ = slot.set(e.get().inner.clone());
        }
        Ok(Self {
            snapshot: RwLock::new(collection),
            engine: slot,
            path,
        })
    }

    /// The `k` passages that best answer `question`. `centering`, `doc_prior` and
    /// `demote_questions` are the Rust `AskOptions` of those names (the first two off by
    /// default, the third on).
    #[pyo3(signature = (question, k=3, mode="hybrid", filters=None, *, centering=zoek_query::DEFAULT_CENTERING, doc_prior=zoek_query::DEFAULT_DOC_PRIOR, demote_questions=zoek_query::DEFAULT_DEMOTE_QUESTIONS))]
    #[allow(clippy::too_many_arguments)]
    fn ask(
        &self,
        py: Python<'_>,
        question: &str,
        k: usize,
        mode: &str,
        filters: Option<&Bound<'_, PyDict>>,
        centering: f32,
        doc_prior: f32,
        demote_questions: bool,
    ) -> PyResult<Vec<PyHit>> {
        let mode: RankMode = mode.parse().map_err(|_| {
            invalid(format!(
                "mode must be one of {:?}, not {mode:?}",
                RankMode::NAMES
            ))
        })?;
        let opts = AskOptions {
            k,
            mode,
            centering,
            doc_prior,
            demote_questions,
            filters: convert::filters(filters)?,
            ..AskOptions::default()
        };
        let engine = self.engine(py)?;
        let collection = self.snapshot();
        let answer = py
            .detach(|| collection.ask_with(&engine, question, &opts))
            .map_err(query_err)?;
        Ok(answer.hits.into_iter().map(PyHit::from).collect())
    }

    /// Moves to the collection's last commit; returns whether it changed. Questions being
    /// answered meanwhile finish on the snapshot they started with.
    fn refresh(&self, py: Python<'_>) -> PyResult<bool> {
        let mut next = self.snapshot();
        let changed = py.detach(|| next.refresh()).map_err(query_err)?;
        if changed {
            *self.snapshot.write().unwrap_or_else(|p| p.into_inner()) = next;
        }
        Ok(changed)
    }

    /// Counts and sizes: generation, live documents, passages, tombstones, bytes, and the
    /// same per segment.
    fn stats<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let collection = self.snapshot();
        let stats = py.detach(|| collection.stats()).map_err(query_err)?;
        convert::to_py(py, &stats)
    }

    /// The live documents: id, path, content hash, passage range and metadata of each.
    fn documents<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let collection = self.snapshot();
        let docs = py
            .detach(|| collection.live_documents())
            .map_err(query_err)?;
        convert::to_py(py, &docs)
    }

    /// Checks every file of the snapshot (checksums, graphs, tombstones); raises
    /// `CorruptCollectionError` naming the file at fault.
    fn verify(&self, py: Python<'_>) -> PyResult<()> {
        let collection = self.snapshot();
        py.detach(|| collection.verify()).map_err(query_err)
    }

    /// The commit this snapshot shows.
    #[getter]
    fn generation(&self) -> u64 {
        self.snapshot().generation()
    }

    /// The fingerprint of the model the collection was built with.
    #[getter]
    fn model_id(&self) -> String {
        self.snapshot().manifest().model_id.clone()
    }

    /// The collection's directory.
    #[getter]
    fn path(&self) -> PathBuf {
        self.path.clone()
    }

    /// Number of live passages (what `ask` ranks).
    fn __len__(&self) -> usize {
        self.snapshot().len()
    }

    fn __repr__(&self) -> String {
        let c = self.snapshot();
        format!(
            "Collection({:?}, generation={}, passages={})",
            self.path.display().to_string(),
            c.generation(),
            c.len()
        )
    }
}

/// Builds a collection from files and directories into `out_dir`, replacing one that is
/// there atomically. Returns what was built.
#[pyfunction]
#[pyo3(signature = (paths, out_dir, engine=None, **options))]
pub(crate) fn build<'py>(
    py: Python<'py>,
    paths: &Bound<'py, PyAny>,
    out_dir: PathBuf,
    engine: Option<Bound<'py, PyEngine>>,
    options: Option<&Bound<'py, PyDict>>,
) -> PyResult<Bound<'py, PyDict>> {
    let inputs = convert::paths(paths)?;
    let opts = convert::build_options(options)?;
    let engine = engine_or_default(py, engine.as_ref())?;
    let stats = py
        .detach(|| engine.build(&inputs, &out_dir, &opts))
        .map_err(query_err)?;
    let d = PyDict::new(py);
    d.set_item("path", stats.dir)?;
    d.set_item("documents", stats.documents)?;
    d.set_item("passages", stats.passages)?;
    d.set_item("sentences", stats.sentences)?;
    d.set_item("dropped_blocks", stats.dropped_blocks)?;
    d.set_item("hnsw", stats.hnsw)?;
    d.set_item("embed_seconds", stats.embed_time.as_secs_f64())?;
    d.set_item("total_seconds", stats.total_time.as_secs_f64())?;
    d.set_item("skipped", convert::skipped(&stats.skipped))?;
    Ok(d)
}
