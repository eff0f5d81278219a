//! `zoek.Writer`: adds, updates and deletes documents of a collection and commits them,
//! holding the collection's writer lock from open to close.

use std::path::PathBuf;
use std::sync::Mutex;

use pyo3::prelude::*;
use pyo3::types::{PyDict, PyType};
use zoek_query::CollectionWriter;

use crate::convert;
use crate::engine::{PyEngine, engine_or_default};
use crate::errors::{ZoekError, query_err};

/// The collection's writer. Changes are staged until `commit()`; `close()` (or leaving a
/// `with` block) releases the lock, and a `with` block commits when it ends without an
/// exception.
#[pyclass(module = "zoek", name = "Writer", frozen)]
pub(crate) struct PyWriter {
    writer: Mutex<Option<CollectionWriter>>,
    path: PathBuf,
}

impl PyWriter {
    /// Runs `f` on the open writer with the GIL released.
    fn with<T: Send>(
        &self,
        py: Python<'_>,
        f: impl FnOnce(&mut CollectionWriter) -> zoek_query::Result<T> + Send,
    ) -> PyResult<T> {
        let path = &self.path;
        let result = py.detach(|| {
            // A failed operation leaves the writer as it was (zoek stages all or nothing),
            // so a poisoned lock is still good to use.
            let mut slot = self.writer.lock().unwrap_or_else(|p| p.into_inner());
            slot.as_mut().map(f)
        });
        match result {
            Some(r) => r.map_err(query_err),
            None => Err(ZoekError::new_err(format!(
                "the writer of {} is closed",
                path.display()
            ))),
        }
    }
}

#[pymethods]
impl PyWriter {
    #[new]
    #[pyo3(signature = (path, engine=None, **options))]
    fn new(
        py: Python<'_>,
        path: PathBuf,
        engine: Option<Bound<'_, PyEngine>>,
        options: Option<&Bound<'_, PyDict>>,
    ) -> PyResult<Self> {
        let opts = convert::build_options(options)?;
        let engine = engine_or_default(py, engine.as_ref())?;
        let writer = py
            .detach(|| CollectionWriter::open(&path, &engine, &opts))
            .map_err(query_err)?;
        Ok(Self {
            writer: Mutex::new(Some(writer)),
            path,
        })
    }

    /// Stages files and directories: new and changed documents go into one new segment,
    /// unchanged ones are skipped, documents a re-read file no longer holds are deleted.
    fn add<'py>(&self, py: Python<'py>, paths: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyDict>> {
        let inputs = convert::paths(paths)?;
        let stats = self.with(py, |w| w.add(&inputs))?;
        convert::add_stats(py, &stats)
    }

    /// Stages records: mappings with an `id`, a `text`, and any other fields, which are kept
    /// as metadata (returned with hits, usable as filters). A known id with new content
    /// replaces its old version.
    fn add_records<'py>(
        &self,
        py: Python<'py>,
        records: &Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyDict>> {
        let documents = convert::records(records)?;
        let stats = self.with(py, |w| w.add_documents(documents))?;
        convert::add_stats(py, &stats)
    }

    /// Stages the deletion of documents by id (or of a file's documents by its path);
    /// an unknown id raises `InvalidInputError` and stages nothing. Returns how many.
    fn delete(&self, py: Python<'_>, ids: Vec<String>) -> PyResult<usize> {
        self.with(py, |w| w.delete(&ids))
    }

    /// Publishes the staged changes atomically; returns the new generation.
    fn commit(&self, py: Python<'_>) -> PyResult<u64> {
        self.with(py, |w| w.commit())
    }

    /// Merges small segments and segments with many deletions (the policy `zoek add`
    /// applies); commits. Returns what was merged, or None.
    fn merge<'py>(&self, py: Python<'py>) -> PyResult<Option<Bound<'py, PyAny>>> {
        let policy = zoek_query::DefaultMergePolicy::default();
        let stats = self.with(py, |w| w.merge(&policy))?;
        stats.map(|s| convert::merge_stats(py, &s)).transpose()
    }

    /// Merges every segment into one without deleted passages; commits. Returns what was
    /// merged, or None when there was nothing to do.
    fn compact<'py>(&self, py: Python<'py>) -> PyResult<Option<Bound<'py, PyAny>>> {
        let stats = self.with(py, |w| w.compact())?;
        stats.map(|s| convert::merge_stats(py, &s)).transpose()
    }

    /// Whether there are staged changes not yet committed.
    #[getter]
    fn pending(&self) -> bool {
        self.writer
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .as_ref()
            .is_some_and(CollectionWriter::has_pending_changes)
    }

    /// The collection's directory.
    #[getter]
    fn path(&self) -> PathBuf {
        self.path.clone()
    }

    /// Releases the writer lock; uncommitted changes are dropped (their files are
    /// collected by the next writer).
    fn close(&self, py: Python<'_>) {
        let writer = self.writer.lock().unwrap_or_else(|p| p.into_inner()).take();
        py.detach(|| drop(writer));
    }

    fn __enter__(slf: Bound<'_, Self>) -> Bound<'_, Self> {
        slf
    }

    #[pyo3(signature = (exc_type=None, _exc=None, _tb=None))]
    fn __exit__(
        &self,
        py: Python<'_>,
        exc_type: Option<Bound<'_, PyType>>,
        _exc: Option<Bound<'_, PyAny>>,
        _tb: Option<Bound<'_, PyAny>>,
    ) -> PyResult<bool> {
        let result = if exc_type.is_none() && self.pending() {
            self.commit(py).map(drop)
        } else {
            Ok(())
        };
        self.close(py);
        result.map(|()| false)
    }

    fn __repr__(&self) -> String {
        format!(
            "Writer({:?}, pending={})",
            self.path.display().to_string(),
            self.pending()
        )
    }
}
