//! The one error type of the crate.

use std::path::PathBuf;

/// Everything that can go wrong while building, writing, opening or querying an index.
///
/// Errors about a damaged file name the section involved so that callers can tell a
/// truncated download from a bit flip.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum IndexError {
    /// An operating-system I/O error, with the path it happened on.
    #[error("I/O error on {path}: {source}")]
    Io {
        /// The file or directory involved.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// The file does not start with the zoek-index magic bytes.
    #[error("not a zoek index (bad magic bytes)")]
    BadMagic,
    /// The file was written by a format version this build cannot read.
    #[error(
        "unsupported index format version {found} (this build reads versions 1 to {supported})"
    )]
    UnsupportedVersion {
        /// Version stored in the file.
        found: u32,
        /// Version this build understands.
        supported: u32,
    },
    /// The file is shorter than its header says it is.
    #[error("index file truncated: {actual} bytes on disk, header expects {expected}")]
    Truncated {
        /// Length the header records.
        expected: u64,
        /// Length found on disk.
        actual: u64,
    },
    /// A section's byte range lies outside the file or overlaps the header.
    #[error(
        "section {section} (offset {offset}, length {length}) lies outside the {file_len}-byte file"
    )]
    SectionOutOfBounds {
        /// Section name.
        section: &'static str,
        /// Offset stored in the section table.
        offset: u64,
        /// Length stored in the section table.
        length: u64,
        /// Length of the file.
        file_len: u64,
    },
    /// A section's offset is not a multiple of the format's 64-byte alignment.
    #[error("section {section} at offset {offset} is not 64-byte aligned")]
    Misaligned {
        /// Section name.
        section: &'static str,
        /// Offset stored in the section table.
        offset: u64,
    },
    /// A section has a length that disagrees with the header's count and dimension.
    #[error("section {section} has {found} bytes, expected {expected}")]
    SectionLength {
        /// Section name.
        section: &'static str,
        /// Length the header implies.
        expected: u64,
        /// Length stored in the section table.
        found: u64,
    },
    /// A required section is absent, or a section kind is unknown or repeated.
    #[error("bad section table: {0}")]
    BadSectionTable(String),
    /// A header field holds an impossible value.
    #[error("invalid header: {0}")]
    InvalidHeader(String),
    /// A stored checksum does not match the bytes (`"header"` or a section name).
    #[error("checksum mismatch in {section}: stored {stored:#010x}, computed {computed:#010x}")]
    ChecksumMismatch {
        /// `"header"` or the section name.
        section: &'static str,
        /// Checksum stored in the file.
        stored: u32,
        /// Checksum of the bytes as found.
        computed: u32,
    },
    /// A graph link points past the last node (found by [`crate::HnswIndex::verify`]).
    #[error("node {node} at level {level} links to {neighbour}, but the index has {count} nodes")]
    NeighbourOutOfRange {
        /// The node whose adjacency list is damaged.
        node: u64,
        /// Graph level of the list.
        level: usize,
        /// The out-of-range neighbour.
        neighbour: u64,
        /// Number of nodes.
        count: u64,
    },
    /// The graph breaks an HNSW invariant other than a link range (found by `verify`).
    #[error("graph invariant violated: {0}")]
    InvalidGraph(String),
    /// A vector or query has the wrong number of components.
    #[error("dimension mismatch: expected {expected}, got {found}")]
    DimensionMismatch {
        /// The index's dimension.
        expected: usize,
        /// The length given.
        found: usize,
    },
    /// The input to a write is inconsistent (lengths, duplicate ids, too many vectors...).
    #[error("invalid input: {0}")]
    InvalidInput(String),
    /// A vector or query contains NaN or an infinity.
    #[error("vector {index} contains a non-finite value")]
    NonFinite {
        /// Position of the vector in the input (0 for a query).
        index: usize,
    },
    /// A parameter is out of its valid range.
    #[error("invalid parameter: {0}")]
    InvalidParameter(String),
    /// The index was written on a little-endian machine and this one is big-endian.
    #[error("zoek-index files are little-endian; this platform is not")]
    UnsupportedPlatform,
}

impl IndexError {
    pub(crate) fn io(path: &std::path::Path, source: std::io::Error) -> Self {
        IndexError::Io {
            path: path.to_path_buf(),
            source,
        }
    }
}
