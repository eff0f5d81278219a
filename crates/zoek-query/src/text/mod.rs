//! Text in, passages out: reading inputs, removing boilerplate, cutting sentences and
//! packing them into passages. Independent of embedding storage and of ranking; the
//! writer feeds what comes out of here to a segment.
//!
//! | module | holds |
//! |---|---|
//! | [`ingest`] | inputs in deterministic order as [`Block`]s (`.txt`, `.md`, `.html`, `.jsonl`, `.docx`, `.odt`, `.pdf`); undecodable files are skipped and reported |
//! | `office` | `.docx` and `.odt` (zip + XML): paragraphs, headings marked by the format, the title from the document properties |
//! | `pdf` | `.pdf` (pdf-extract): a document per page (`file.pdf#page=N`, metadata `page` and `title`), running headers, footers and page numbers dropped, line-end hyphenation joined |
//! | [`clean`] | web boilerplate dropped (blocks without a two-letter word, link lines ending in `»` or starting with `>>`, image slugs and file names, short navigation lines with `|`); a short line without closing punctuation becomes the heading of the body after it |
//! | [`sentences`](mod@sentences) | sentence boundaries (UAX #29 with a Dutch/English abbreviation guard; list labels stay with the sentence they number) |
//! | [`chunk`] | sentences packed into passages of at most [`Chunking::max_tokens`] tokens that never cross a paragraph |
//! | [`context`] | what a passage's vectors see besides its sentences: [`SentenceVectors`] (separate or late chunking) and the title/heading context |
//! | `prepare` | documents → cleaned, chunked documents and the texts to embed (crate-internal) |
//!
//! ```
//! use zoek_query::text::{CharEstimate, chunk_document, clean_blocks, text_blocks};
//!
//! let blocks = text_blocks("Vormen van samenwerking\n\nEr zijn twee vormen. Dr. Jansen telde ze.\n");
//! let clean = clean_blocks(&blocks);
//! let passages = chunk_document(&clean, 256, &CharEstimate).unwrap();
//! assert_eq!(passages[0].heading.as_deref(), Some("Vormen van samenwerking"));
//! assert_eq!(passages[0].sentences.len(), 2);
//! ```

pub mod chunk;
pub mod clean;
pub mod context;
pub mod ingest;
mod office;
mod pdf;
pub(crate) mod prepare;
pub mod sentences;

pub use chunk::{CharEstimate, Chunk, Chunking, TokenCounter, TokenCounting, chunk_document};
pub use clean::{CleanDocument, Section, clean_blocks};
pub use context::{SentenceVectors, passage_context};
pub use ingest::{
    Block, BlockKind, Corpus, InputFile, RawDocument, SkippedFile, html_blocks, markdown_blocks,
    read_corpus, read_records, text_blocks,
};
pub use sentences::sentences;
