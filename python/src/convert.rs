//! Python arguments into zoek's types (paths, build options, records, filters) and zoek's
//! results into Python objects.

use std::collections::BTreeMap;
use std::path::PathBuf;

use pyo3::exceptions::PyTypeError;
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyDict, PyString};
use zoek_query::text::ingest::RawDocument;
use zoek_query::{AddStats, BuildOptions, Language, MergeStats, SentenceVectors};

use crate::errors::invalid;

/// One path (`str` or `os.PathLike`) or an iterable of them.
pub(crate) fn paths(obj: &Bound<'_, PyAny>) -> PyResult<Vec<PathBuf>> {
    if let Ok(p) = obj.extract::<PathBuf>() {
        return Ok(vec![p]);
    }
    obj.extract::<Vec<PathBuf>>().map_err(|_| {
        PyTypeError::new_err("paths must be a str, an os.PathLike or an iterable of them")
    })
}

/// The keyword options of `build` and `Writer`; an unknown name is a `TypeError`, as for
/// any Python function.
pub(crate) fn build_options(kwargs: Option<&Bound<'_, PyDict>>) -> PyResult<BuildOptions> {
    let mut opts = BuildOptions::default();
    let Some(kwargs) = kwargs else {
        return Ok(opts);
    };
    for (key, value) in kwargs.iter() {
        let key: String = key.extract()?;
        match key.as_str() {
            "max_tokens" => opts.max_tokens = positive(&key, value.extract()?)?,
            "sentence_vectors" => {
                let name: String = value.extract()?;
                opts.sentence_vectors = name.parse::<SentenceVectors>().map_err(|_| {
                    invalid(format!(
                        "sentence_vectors must be one of {:?}, not {name:?}",
                        SentenceVectors::NAMES
                    ))
                })?;
            }
            "context_headers" => opts.context_headers = value.extract()?,
            "passage_vectors" => opts.passage_vectors = value.extract()?,
            "clean" => opts.clean = value.extract()?,
            "hnsw_threshold" => opts.hnsw_threshold = value.extract()?,
            "batch_size" => opts.batch_size = positive(&key, value.extract()?)?,
            "language" => opts.language = language(&value.extract::<String>()?)?,
            _ => {
                return Err(PyTypeError::new_err(format!(
                    "unknown option {key:?}; the options are max_tokens, sentence_vectors, \
                     context_headers, passage_vectors, clean, hnsw_threshold, batch_size, language"
                )));
            }
        }
    }
    Ok(opts)
}

fn positive(name: &str, n: usize) -> PyResult<usize> {
    if n == 0 {
        Err(invalid(format!("{name} must be at least 1")))
    } else {
        Ok(n)
    }
}

/// A stemmer language by its English name, in any case ("dutch", "English").
fn language(name: &str) -> PyResult<Language> {
    let mut chars = name.trim().chars();
    let canonical: String = match chars.next() {
        Some(first) => first
            .to_uppercase()
            .chain(chars.flat_map(char::to_lowercase))
            .collect(),
        None => String::new(),
    };
    serde_json::from_value(serde_json::Value::String(canonical)).map_err(|_| {
        invalid(format!(
            "unknown language {name:?} (English names: \"dutch\", \"english\", \"german\", …)"
        ))
    })
}

/// Records (mappings with `id`, `text` and any other fields, kept as metadata) as
/// documents.
pub(crate) fn records(records: &Bound<'_, PyAny>) -> PyResult<Vec<RawDocument>> {
    let mut out = Vec::new();
    for (i, item) in records.try_iter()?.enumerate() {
        let item = item?;
        let value: serde_json::Value =
            pythonize::depythonize(&item).map_err(|e| invalid(format!("record {i}: {e}")))?;
        let serde_json::Value::Object(mut fields) = value else {
            return Err(PyTypeError::new_err(format!(
                "record {i} is not a mapping with \"id\" and \"text\""
            )));
        };
        let id = match fields.remove("id") {
            Some(serde_json::Value::String(s)) if !s.is_empty() => s,
            Some(serde_json::Value::Number(n)) => n.to_string(),
            _ => {
                return Err(invalid(format!(
                    "record {i} needs an \"id\" (a non-empty str or an int)"
                )));
            }
        };
        let text = match fields.remove("text") {
            Some(serde_json::Value::String(s)) => s,
            _ => return Err(invalid(format!("record {i} ({id:?}) needs a \"text\" str"))),
        };
        let metadata: BTreeMap<String, serde_json::Value> = fields.into_iter().collect();
        out.push(RawDocument::from_text(id, &text, metadata));
    }
    Ok(out)
}

/// Filters as `{field: value}`: strings as they are, booleans and numbers as JSON writes
/// them (`true`, `2005`), as in `zoek ask --filter field=value`.
pub(crate) fn filters(filters: Option<&Bound<'_, PyDict>>) -> PyResult<Vec<(String, String)>> {
    let Some(filters) = filters else {
        return Ok(Vec::new());
    };
    let mut out = Vec::with_capacity(filters.len());
    for (key, value) in filters.iter() {
        let key: String = key.extract()?;
        let value = if value.is_instance_of::<PyString>() {
            value.extract::<String>()?
        } else if value.is_instance_of::<PyBool>() {
            value.extract::<bool>()?.to_string()
        } else if let Ok(n) = value.extract::<i64>() {
            n.to_string()
        } else if let Ok(x) = value.extract::<f64>() {
            serde_json::Number::from_f64(x)
                .map(|n| n.to_string())
                .ok_or_else(|| invalid(format!("filter {key:?}: {x} is not a JSON number")))?
        } else {
            return Err(PyTypeError::new_err(format!(
                "filter {key:?}: the value must be a str, bool, int or float"
            )));
        };
        out.push((key, value));
    }
    Ok(out)
}

/// A JSON value (metadata, statistics) as Python objects.
pub(crate) fn to_py<'py, T: serde::Serialize>(
    py: Python<'py>,
    value: &T,
) -> PyResult<Bound<'py, PyAny>> {
    pythonize::pythonize(py, value).map_err(|e| invalid(e.to_string()))
}

pub(crate) fn add_stats<'py>(py: Python<'py>, s: &AddStats) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    d.set_item("added", s.added)?;
    d.set_item("updated", s.updated)?;
    d.set_item("unchanged", s.unchanged)?;
    d.set_item("removed", s.removed)?;
    d.set_item("documents", s.documents)?;
    d.set_item("passages", s.passages)?;
    d.set_item("sentences", s.sentences)?;
    d.set_item("dropped_blocks", s.dropped_blocks)?;
    d.set_item("segment", s.segment.clone())?;
    d.set_item("hnsw", s.hnsw)?;
    d.set_item("embed_seconds", s.embed_time.as_secs_f64())?;
    d.set_item("skipped", skipped(&s.skipped))?;
    Ok(d)
}

pub(crate) fn skipped(files: &[zoek_query::text::SkippedFile]) -> Vec<(String, String)> {
    files
        .iter()
        .map(|f| (f.path.display().to_string(), f.reason.clone()))
        .collect()
}

pub(crate) fn merge_stats<'py>(py: Python<'py>, s: &MergeStats) -> PyResult<Bound<'py, PyAny>> {
    to_py(py, s)
}
