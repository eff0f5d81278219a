//! `zoek.Engine`: the embedding model, loaded once and shared by collections and writers.

use std::path::PathBuf;
use std::sync::Mutex;

use numpy::{IntoPyArray, PyArray2};
use pyo3::prelude::*;
use zoek_embed::{Embedder, EmbedderOptions};

use crate::errors::{ZoekError, embed_err, invalid, query_err};

/// The embedding model (multilingual-e5-small unless another model directory is given).
#[pyclass(module = "zoek", name = "Engine", frozen)]
pub(crate) struct PyEngine {
    pub(crate) inner: zoek_query::Engine,
    threads: usize,
}

#[pymethods]
impl PyEngine {
    #[new]
    #[pyo3(signature = (model_dir=None, threads=None, quantize="none"))]
    fn new(
        py: Python<'_>,
        model_dir: Option<PathBuf>,
        threads: Option<usize>,
        quantize: &str,
    ) -> PyResult<Self> {
        if threads == Some(0) {
            return Err(invalid("threads must be at least 1"));
        }
        let quantize: zoek_embed::Quantize = quantize.parse().map_err(invalid)?;
        let dir = model_dir.unwrap_or_else(zoek_embed::default_model_dir);
        let embedder = py
            .detach(|| {
                Embedder::from_dir_with(
                    &dir,
                    EmbedderOptions {
                        threads,
                        quantize,
                        ..EmbedderOptions::default()
                    },
                )
            })
            .map_err(embed_err)?;
        let threads = embedder.threads();
        Ok(Self {
            inner: zoek_query::Engine::new(embedder),
            threads,
        })
    }

    /// The model's fingerprint, as recorded in the collections it builds.
    #[getter]
    fn model_id(&self) -> &str {
        self.inner.model_id()
    }

    /// Dimensions of a vector.
    #[getter]
    fn dim(&self) -> usize {
        self.inner.dim()
    }

    /// Worker threads of the embedder's pool.
    #[getter]
    fn threads(&self) -> usize {
        self.threads
    }

    /// Query vectors (with the model's query prefix), L2-normalised, as an (n, dim) array.
    fn embed_queries<'py>(
        &self,
        py: Python<'py>,
        texts: Vec<String>,
    ) -> PyResult<Bound<'py, PyArray2<f32>>> {
        let embedder = self.inner.embedder();
        let vectors = py
            .detach(|| {
                texts
                    .iter()
                    .map(|t| embedder.embed_query(t))
                    .collect::<Result<Vec<_>, _>>()
            })
            .map_err(query_err)?;
        to_array(py, vectors, self.inner.dim())
    }

    /// Passage vectors (with the model's passage prefix), L2-normalised, as an (n, dim)
    /// array. Texts are batched by length inside the embedder.
    fn embed_passages<'py>(
        &self,
        py: Python<'py>,
        texts: Vec<String>,
    ) -> PyResult<Bound<'py, PyArray2<f32>>> {
        let embedder = self.inner.embedder();
        let vectors = py
            .detach(|| {
                let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
                embedder.embed_passages(&refs)
            })
            .map_err(query_err)?;
        to_array(py, vectors, self.inner.dim())
    }

    fn __repr__(&self) -> String {
        format!(
            "Engine(model_id={:?}, dim={}, threads={})",
            self.inner.model_id(),
            self.inner.dim(),
            self.threads
        )
    }
}

fn to_array(
    py: Python<'_>,
    vectors: Vec<Vec<f32>>,
    dim: usize,
) -> PyResult<Bound<'_, PyArray2<f32>>> {
    let n = vectors.len();
    let mut flat = Vec::with_capacity(n * dim);
    for v in vectors {
        if v.len() != dim {
            return Err(ZoekError::new_err(format!(
                "the embedder returned {} values where {dim} were expected",
                v.len()
            )));
        }
        flat.extend(v);
    }
    let array = numpy::ndarray::Array2::from_shape_vec((n, dim), flat)
        .map_err(|e| ZoekError::new_err(e.to_string()))?;
    Ok(array.into_pyarray(py))
}

/// The engine of the default model, loaded at first use and shared by every collection
/// and writer opened without an engine (loading takes a second and ~100 MB).
pub(crate) fn engine_or_default(
    py: Python<'_>,
    engine: Option<&Bound<'_, PyEngine>>,
) -> PyResult<zoek_query::Engine> {
    static DEFAULT: Mutex<Option<zoek_query::Engine>> = Mutex::new(None);
    if let Some(e) = engine {
        return Ok(e.get().inner.clone());
    }
    // The GIL is released while loading; a second thread waits on the mutex, not the GIL.
    py.detach(|| {
        let mut slot = DEFAULT.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(e) = slot.as_ref() {
            return Ok(e.clone());
        }
        let engine = zoek_query::Engine::from_default_model()?;
        *slot = Some(engine.clone());
        Ok(engine)
    })
    .map_err(query_err)
}
