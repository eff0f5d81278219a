//! zoek's errors as Python exceptions: one base class, [`ZoekError`], and a subclass for
//! each failure a caller handles differently. The message is zoek's own, so it names the
//! file at fault or the command that fixes it.

use pyo3::PyErr;
use pyo3::create_exception;
use pyo3::exceptions::PyException;
use zoek_embed::EmbedError;
use zoek_query::QueryError;

create_exception!(
    zoek,
    ZoekError,
    PyException,
    "Base class of every error zoek raises."
);
create_exception!(
    zoek,
    ModelNotFoundError,
    ZoekError,
    "The model directory is missing or incomplete; `zoek model fetch` installs the default model."
);
create_exception!(
    zoek,
    CollectionNotFoundError,
    ZoekError,
    "There is no collection at the path (no directory or no manifest)."
);
create_exception!(
    zoek,
    CorruptCollectionError,
    ZoekError,
    "A file of the collection is damaged, inconsistent, or of a format this zoek does not read."
);
create_exception!(
    zoek,
    ModelMismatchError,
    ZoekError,
    "The engine runs another model than the one the collection was built with."
);
create_exception!(
    zoek,
    WriterLockedError,
    ZoekError,
    "Another writer, in this process or another, has the collection open."
);
create_exception!(
    zoek,
    InvalidInputError,
    ZoekError,
    "An argument zoek cannot use: an empty question, k = 0, an unknown option, document or path."
);

/// The fix for a missing model, for a user who may have only the wheel.
const FROM_PYTHON: &str = "; from Python: zoek.fetch_model()";

/// The Python exception for a zoek error.
pub(crate) fn query_err(e: QueryError) -> PyErr {
    let msg = e.to_string();
    match &e {
        QueryError::MissingCollection { .. } => CollectionNotFoundError::new_err(msg),
        QueryError::Corrupt { .. } | QueryError::UnsupportedVersion { .. } => {
            CorruptCollectionError::new_err(msg)
        }
        QueryError::ModelMismatch { .. } => ModelMismatchError::new_err(msg),
        QueryError::WriterLocked { .. } => WriterLockedError::new_err(msg),
        QueryError::EmptyCorpus { .. }
        | QueryError::InputNotFound(_)
        | QueryError::EmptyQuestion
        | QueryError::QuestionTooLong { .. }
        | QueryError::ZeroK
        | QueryError::UnknownDocument { .. }
        | QueryError::InvalidOption(_)
        | QueryError::Capacity { .. } => InvalidInputError::new_err(msg),
        QueryError::Embed(inner) => match inner.downcast_ref::<EmbedError>() {
            Some(EmbedError::ModelNotFound { .. }) => {
                ModelNotFoundError::new_err(format!("{msg}{FROM_PYTHON}"))
            }
            _ => ZoekError::new_err(msg),
        },
        _ => ZoekError::new_err(msg),
    }
}

/// The Python exception for an embedder error.
pub(crate) fn embed_err(e: EmbedError) -> PyErr {
    match e {
        EmbedError::ModelNotFound { .. } => {
            ModelNotFoundError::new_err(format!("{e}{FROM_PYTHON}"))
        }
        _ => ZoekError::new_err(e.to_string()),
    }
}

/// An argument zoek cannot use.
pub(crate) fn invalid(msg: impl Into<String>) -> PyErr {
    InvalidInputError::new_err(msg.into())
}
