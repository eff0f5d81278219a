//! The one error type of the crate.

use std::path::PathBuf;

/// Everything that can go wrong while loading a model or embedding text.
#[derive(Debug, thiserror::Error)]
pub enum EmbedError {
    /// The model directory (or a file the model needs in it) does not exist.
    #[error(
        "no model found in {dir}: run `zoek model fetch` to install the default model \
         (`zoek model import DIR` for a Hugging Face directory; in a zoek checkout \
         `bash models/fetch` also works), or set ZOEK_MODEL_DIR to a model directory"
    )]
    ModelNotFound {
        /// The directory that was searched.
        dir: PathBuf,
    },
    /// A file could not be read.
    #[error("cannot read {path}: {source}")]
    Io {
        /// The file being read.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// The model image does not start with the `E5S1` magic.
    #[error("{path} is not an E5S1 model image (bad magic {found:?})")]
    BadMagic {
        /// The image file.
        path: PathBuf,
        /// The first bytes found instead of the magic.
        found: Vec<u8>,
    },
    /// The model image ends before a section it declares.
    #[error("model image is truncated: {what} needs bytes {start}..{end} but the file has {len}")]
    Truncated {
        /// The section being read.
        what: String,
        /// First byte of the section.
        start: u64,
        /// One past the last byte of the section.
        end: u64,
        /// The file length.
        len: u64,
    },
    /// The model image or model directory contradicts itself (sizes, shapes, missing tensors).
    #[error("inconsistent model: {0}")]
    Inconsistent(String),
    /// The tokenizer could not be loaded or failed on an input.
    #[error("tokenizer: {0}")]
    Tokenizer(String),
    /// A candle tensor operation failed.
    #[error("candle: {0}")]
    Candle(#[from] candle_core::Error),
    /// The fast matrix kernel rejected the weights or a product's shape.
    #[error("kernel: {0}")]
    Kernel(#[from] crate::kernel::KernelError),
    /// A Hugging Face directory holds a model family zoek cannot run.
    #[error("unsupported model: {0}")]
    Unsupported(String),
    /// A configuration file could not be parsed.
    #[error("cannot parse {path}: {message}")]
    Config {
        /// The file being parsed.
        path: PathBuf,
        /// What was wrong.
        message: String,
    },
    /// A model could not be installed (not a wheel, checksum mismatch).
    #[error("installing the model: {0}")]
    Install(String),
    /// The embedder's thread pool could not be created.
    #[error("thread pool: {0}")]
    ThreadPool(String),
}
