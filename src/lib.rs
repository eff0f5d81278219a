//! zoek: multilingual semantic search on the CPU.
pub use zoek_embed as embed;
pub use zoek_index as index;
pub use zoek_query as query;
