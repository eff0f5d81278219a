//! Reading inputs: files and directories of `.txt`, `.md`, `.html`, `.jsonl`, `.docx`,
//! `.odt` and `.pdf`.
//!
//! Every document comes out as a list of [`Block`]s — paragraphs or headings in reading
//! order — that the cleaner then filters. Files that cannot be decoded are skipped and
//! reported, never fatal, so one stray binary in a corpus does not stop a build.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::{QueryError, Result, io_err};

/// What a block is, as far as the source format tells.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum BlockKind {
    /// Marked as a heading by the format (`#` in Markdown, `<h1>`–`<h6>` in HTML).
    Heading,
    /// Anything else; the cleaner decides whether a short line is a heading.
    Text,
}

/// One paragraph-like unit of a document, in reading order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Block {
    /// The text, with inner line breaks kept (the cleaner filters line by line).
    pub text: String,
    /// Heading or text.
    pub kind: BlockKind,
}

/// A document as read from its source, before cleaning.
#[derive(Debug, Clone)]
pub struct RawDocument {
    /// Stable identifier: the path relative to the input directory, the file name for a
    /// file given directly, or the `id` field of a JSON-lines record.
    pub id: String,
    /// The file it came from.
    pub source: PathBuf,
    /// The file's id: its path relative to the input directory (the file name for a file
    /// given directly). Equal to `id` except for JSON-lines records.
    pub path: String,
    /// Extra fields of a JSON-lines record (empty for other formats).
    pub metadata: BTreeMap<String, serde_json::Value>,
    /// The document's blocks in reading order.
    pub blocks: Vec<Block>,
}

/// A file that was not ingested, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SkippedFile {
    /// The file.
    pub path: PathBuf,
    /// Why it was skipped.
    pub reason: String,
}

/// An input file with the checksum of its bytes, recorded in the manifest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InputFile {
    /// The file as found.
    pub path: PathBuf,
    /// Size in bytes.
    pub bytes: u64,
    /// SHA-256 of the content, hex.
    pub sha256: String,
}

/// Everything read from the inputs.
#[derive(Debug, Clone, Default)]
pub struct Corpus {
    /// Documents in deterministic order (inputs in the order given, directories sorted).
    pub documents: Vec<RawDocument>,
    /// Files or records that were skipped, with the reason.
    pub skipped: Vec<SkippedFile>,
    /// Files that were read.
    pub files: Vec<InputFile>,
}

/// File extensions that are ingested.
pub const SUPPORTED_EXTENSIONS: &[&str] = &[
    "txt", "md", "markdown", "html", "htm", "jsonl", "docx", "odt", "pdf",
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Format {
    Text,
    Markdown,
    Html,
    JsonLines,
    Docx,
    Odt,
    Pdf,
}

fn format_of(path: &Path) -> Option<Format> {
    let ext = path.extension()?.to_str()?.to_ascii_lowercase();
    match ext.as_str() {
        "txt" => Some(Format::Text),
        "md" | "markdown" => Some(Format::Markdown),
        "html" | "htm" => Some(Format::Html),
        "jsonl" => Some(Format::JsonLines),
        "docx" => Some(Format::Docx),
        "odt" => Some(Format::Odt),
        "pdf" => Some(Format::Pdf),
        _ => None,
    }
}

/// Lists the supported files under the inputs: directories recursively, entries sorted by
/// name so that builds are reproducible. Each file comes with the id prefix its documents get.
pub fn collect_files(inputs: &[PathBuf]) -> Result<Vec<(PathBuf, String)>> {
    let mut out = Vec::new();
    for input in inputs {
        let meta =
            std::fs::metadata(input).map_err(|_| QueryError::InputNotFound(input.clone()))?;
        if meta.is_dir() {
            walk(input, input, &mut out)?;
        } else {
            let name = input
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_else(|| input.display().to_string());
            out.push((input.clone(), name));
        }
    }
    Ok(out)
}

fn walk(root: &Path, dir: &Path, out: &mut Vec<(PathBuf, String)>) -> Result<()> {
    let mut entries = std::fs::read_dir(dir)
        .map_err(io_err(dir))?
        .collect::<std::io::Result<Vec<_>>>()
        .map_err(io_err(dir))?;
    entries.sort_by_key(|e| e.file_name());
    for entry in entries {
        let path = entry.path();
        let file_type = entry.file_type().map_err(io_err(&path))?;
        if entry.file_name().to_string_lossy().starts_with('.') {
            continue;
        }
        if file_type.is_dir() {
            walk(root, &path, out)?;
        } else if format_of(&path).is_some() {
            let rel = path.strip_prefix(root).unwrap_or(&path);
            let id = rel
                .components()
                .map(|c| c.as_os_str().to_string_lossy().into_owned())
                .collect::<Vec<_>>()
                .join("/");
            out.push((path, id));
        }
    }
    Ok(())
}

/// Reads all inputs. Undecodable or unsupported files are skipped with a warning and listed
/// in [`Corpus::skipped`]; a missing input path is an error.
pub fn read_corpus(inputs: &[PathBuf]) -> Result<Corpus> {
    let mut corpus = Corpus::default();
    for (path, id) in collect_files(inputs)? {
        let Some(format) = format_of(&path) else {
            skip(&mut corpus, &path, "unsupported file extension".into());
            continue;
        };
        let bytes = std::fs::read(&path).map_err(io_err(&path))?;
        if format == Format::Pdf {
            // pdf-extract and lopdf take hostile bytes; a panic in them skips the file.
            let read = std::panic::catch_unwind(|| super::pdf::read_pdf(&bytes))
                .unwrap_or_else(|_| Err("the PDF reader failed on this file".into()));
            match read {
                Ok(pdf) => {
                    corpus.files.push(InputFile::of(&path, &bytes));
                    for (i, blocks) in pdf.pages.into_iter().enumerate() {
                        if blocks.is_empty() {
                            continue;
                        }
                        let page = i + 1;
                        let mut d = doc(format!("{id}#page={page}"), &id, &path, blocks);
                        d.metadata
                            .insert("page".into(), serde_json::Value::from(page));
                        if let Some(title) = &pdf.title {
                            d.metadata
                                .insert("title".into(), serde_json::Value::String(title.clone()));
                        }
                        corpus.documents.push(d);
                    }
                }
                Err(reason) => skip(&mut corpus, &path, reason),
            }
            continue;
        }
        if matches!(format, Format::Docx | Format::Odt) {
            // The zip and XML readers take hostile bytes; a panic in them skips the file.
            let read = std::panic::catch_unwind(|| {
                if format == Format::Docx {
                    super::office::docx(&bytes)
                } else {
                    super::office::odt(&bytes)
                }
            })
            .unwrap_or_else(|_| Err("the zip/XML reader failed on this file".into()));
            match read {
                Ok(office) => {
                    corpus.files.push(InputFile::of(&path, &bytes));
                    let mut d = doc(id.clone(), &id, &path, office.blocks);
                    if let Some(title) = office.title {
                        d.metadata
                            .insert("title".into(), serde_json::Value::String(title));
                    }
                    corpus.documents.push(d);
                }
                Err(reason) => skip(&mut corpus, &path, reason),
            }
            continue;
        }
        let text = match String::from_utf8(bytes) {
            Ok(text) => text,
            Err(e) => {
                skip(
                    &mut corpus,
                    &path,
                    format!("not valid UTF-8 ({})", e.utf8_error()),
                );
                continue;
            }
        };
        if text.contains('\0') {
            skip(&mut corpus, &path, "binary content (NUL bytes)".into());
            continue;
        }
        corpus.files.push(InputFile::of(&path, text.as_bytes()));
        let text = text.strip_prefix('\u{feff}').unwrap_or(&text);
        match format {
            Format::Text => corpus
                .documents
                .push(doc(id.clone(), &id, &path, text_blocks(text))),
            Format::Markdown => {
                corpus
                    .documents
                    .push(doc(id.clone(), &id, &path, markdown_blocks(text)))
            }
            Format::Html => corpus
                .documents
                .push(doc(id.clone(), &id, &path, html_blocks(text))),
            Format::JsonLines => read_jsonl(text, &id, &path, &mut corpus),
            // Read from their bytes above.
            Format::Docx | Format::Odt | Format::Pdf => {}
        }
    }
    Ok(corpus)
}

/// Documents from JSON lines held in memory — one object a line with `text`, an `id`
/// (string or number; else `source:line`) and any other fields as metadata — as a `.jsonl`
/// file named `source` would give them. Lines that are not such objects are skipped and
/// reported in [`Corpus::skipped`].
pub fn read_records(text: &str, source: &str) -> Corpus {
    let mut corpus = Corpus::default();
    read_jsonl(text, source, Path::new(source), &mut corpus);
    corpus
}

impl InputFile {
    /// The record of a file read as `bytes`.
    fn of(path: &Path, bytes: &[u8]) -> Self {
        use sha2::Digest;
        Self {
            path: path.to_path_buf(),
            bytes: bytes.len() as u64,
            sha256: hex(&sha2::Sha256::digest(bytes)),
        }
    }
}

fn skip(corpus: &mut Corpus, path: &Path, reason: String) {
    tracing::warn!(path = %path.display(), %reason, "skipping input file");
    corpus.skipped.push(SkippedFile {
        path: path.to_path_buf(),
        reason,
    });
}

fn doc(id: String, file_id: &str, source: &Path, blocks: Vec<Block>) -> RawDocument {
    RawDocument {
        id,
        source: source.to_path_buf(),
        path: file_id.to_string(),
        metadata: BTreeMap::new(),
        blocks,
    }
}

impl RawDocument {
    /// A document from text held in memory (a record of a database, a message, a Spark
    /// row) rather than a file: blank lines separate paragraphs, as in a `.txt` file, and
    /// `metadata` is kept for filters and returned with its hits. `id` is its identity in
    /// a collection; the document's file id is `id` as well.
    ///
    /// ```
    /// use zoek_query::text::ingest::RawDocument;
    /// let doc = RawDocument::from_text("faq-7", "Wie betaalt?\n\nDe gemeente betaalt.", Default::default());
    /// assert_eq!(doc.blocks.len(), 2);
    /// ```
    pub fn from_text(
        id: impl Into<String>,
        text: &str,
        metadata: BTreeMap<String, serde_json::Value>,
    ) -> Self {
        let id = id.into();
        let text = text.strip_prefix('\u{feff}').unwrap_or(text);
        RawDocument {
            source: PathBuf::from(&id),
            path: id.clone(),
            id,
            metadata,
            blocks: text_blocks(text),
        }
    }

    /// SHA-256 (hex) of what the document contributes to a collection: its blocks and
    /// metadata. Re-adding a document with the same hash is a no-op.
    pub fn content_hash(&self) -> String {
        use sha2::Digest;
        let mut h = sha2::Sha256::new();
        for b in &self.blocks {
            h.update([matches!(b.kind, BlockKind::Heading) as u8]);
            h.update((b.text.len() as u64).to_le_bytes());
            h.update(b.text.as_bytes());
        }
        h.update(serde_json::to_vec(&self.metadata).unwrap_or_default());
        hex(&h.finalize())
    }
}

pub(crate) fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    bytes
        .iter()
        .fold(String::with_capacity(bytes.len() * 2), |mut s, b| {
            let _ = write!(s, "{b:02x}");
            s
        })
}

/// Splits plain text into blocks at blank lines.
pub fn text_blocks(text: &str) -> Vec<Block> {
    let mut blocks = Vec::new();
    let mut current: Vec<&str> = Vec::new();
    for line in text.lines() {
        if line.trim().is_empty() {
            flush(&mut current, &mut blocks);
        } else {
            current.push(line);
        }
    }
    flush(&mut current, &mut blocks);
    blocks
}

fn flush(lines: &mut Vec<&str>, blocks: &mut Vec<Block>) {
    if !lines.is_empty() {
        blocks.push(Block {
            text: lines.join("\n"),
            kind: BlockKind::Text,
        });
        lines.clear();
    }
}

/// Splits Markdown into blocks: ATX headings (`# …`) are headings, fenced code is dropped,
/// inline links keep their text, list markers and emphasis marks are removed.
pub fn markdown_blocks(text: &str) -> Vec<Block> {
    let mut blocks = Vec::new();
    let mut current: Vec<String> = Vec::new();
    let mut in_fence = false;
    let push = |current: &mut Vec<String>, blocks: &mut Vec<Block>| {
        if !current.is_empty() {
            blocks.push(Block {
                text: current.join("\n"),
                kind: BlockKind::Text,
            });
            current.clear();
        }
    };
    for line in text.lines() {
        let trimmed = line.trim();
        if trimmed.starts_with("```") || trimmed.starts_with("~~~") {
            in_fence = !in_fence;
            push(&mut current, &mut blocks);
            continue;
        }
        if in_fence {
            continue;
        }
        if trimmed.is_empty() {
            push(&mut current, &mut blocks);
        } else if let Some(heading) = atx_heading(trimmed) {
            push(&mut current, &mut blocks);
            blocks.push(Block {
                text: strip_inline_markdown(heading),
                kind: BlockKind::Heading,
            });
        } else {
            let item = trimmed
                .trim_start_matches('>')
                .trim_start()
                .strip_prefix("- ")
                .or_else(|| trimmed.strip_prefix("* "))
                .or_else(|| trimmed.strip_prefix("+ "))
                .unwrap_or(trimmed);
            current.push(strip_inline_markdown(item));
        }
    }
    push(&mut current, &mut blocks);
    blocks
}

fn atx_heading(line: &str) -> Option<&str> {
    let hashes = line.bytes().take_while(|&b| b == b'#').count();
    if (1..=6).contains(&hashes) && line[hashes..].starts_with(' ') {
        Some(line[hashes..].trim().trim_end_matches('#').trim())
    } else {
        None
    }
}

/// Replaces `[text](url)` and `![alt](url)` by their text and drops `*`/`_`/`` ` `` emphasis.
fn strip_inline_markdown(line: &str) -> String {
    let mut out = String::with_capacity(line.len());
    let mut rest = line;
    while let Some(open) = rest.find('[') {
        let Some(close_rel) = rest[open..].find("](") else {
            break;
        };
        let close = open + close_rel;
        let Some(end_rel) = rest[close..].find(')') else {
            break;
        };
        let before = rest[..open].strip_suffix('!').unwrap_or(&rest[..open]);
        out.push_str(before);
        out.push_str(&rest[open + 1..close]);
        rest = &rest[close + end_rel + 1..];
    }
    out.push_str(rest);
    out.replace("**", "").replace("__", "").replace('`', "")
}

const HTML_SKIP: &[&str] = &[
    "script", "style", "nav", "noscript", "template", "svg", "head", "iframe", "object", "button",
    "select", "form",
];
const HTML_BLOCK: &[&str] = &[
    "address",
    "article",
    "aside",
    "blockquote",
    "body",
    "br",
    "dd",
    "div",
    "dl",
    "dt",
    "figcaption",
    "figure",
    "footer",
    "header",
    "hr",
    "li",
    "main",
    "ol",
    "p",
    "pre",
    "section",
    "table",
    "td",
    "th",
    "tr",
    "ul",
    "caption",
    "summary",
    "details",
];

/// Extracts the visible text of an HTML page as blocks: one per block-level element,
/// `<h1>`–`<h6>` as headings; `script`, `style`, `nav` and other invisible or interactive
/// elements are skipped.
pub fn html_blocks(html: &str) -> Vec<Block> {
    use ego_tree::iter::Edge;
    let document = scraper::Html::parse_document(html);
    let mut blocks = Vec::new();
    let mut current = String::new();
    let mut kind = BlockKind::Text;
    let mut skip_depth = 0usize;
    let flush = |current: &mut String, kind: BlockKind, blocks: &mut Vec<Block>| {
        let text = current.split_whitespace().collect::<Vec<_>>().join(" ");
        if !text.is_empty() {
            blocks.push(Block { text, kind });
        }
        current.clear();
    };
    for edge in document.tree.root().traverse() {
        match edge {
            Edge::Open(node) => match node.value() {
                scraper::Node::Element(el) => {
                    let name = el.name();
                    if skip_depth > 0 || HTML_SKIP.contains(&name) {
                        skip_depth += 1;
                    } else if is_html_heading(name) {
                        flush(&mut current, kind, &mut blocks);
                        kind = BlockKind::Heading;
                    } else if HTML_BLOCK.contains(&name) {
                        flush(&mut current, kind, &mut blocks);
                    } else if name == "img" {
                        // Alt text is not visible text; image names would only add noise.
                    }
                }
                scraper::Node::Text(text) if skip_depth == 0 => {
                    current.push_str(text);
                }
                _ => {}
            },
            Edge::Close(node) => {
                if let scraper::Node::Element(el) = node.value() {
                    let name = el.name();
                    if skip_depth > 0 {
                        skip_depth -= 1;
                    } else if is_html_heading(name) {
                        flush(&mut current, kind, &mut blocks);
                        kind = BlockKind::Text;
                    } else if HTML_BLOCK.contains(&name) {
                        flush(&mut current, kind, &mut blocks);
                    } else {
                        // Inline elements end without a separator; a space keeps words apart
                        // where the markup had none (`<span>a</span><span>b</span>` is rare).
                    }
                }
            }
        }
    }
    flush(&mut current, kind, &mut blocks);
    blocks
}

fn is_html_heading(name: &str) -> bool {
    matches!(name, "h1" | "h2" | "h3" | "h4" | "h5" | "h6")
}

#[derive(Deserialize)]
struct JsonRecord {
    #[serde(default)]
    id: Option<serde_json::Value>,
    #[serde(default)]
    text: Option<String>,
    #[serde(flatten)]
    rest: BTreeMap<String, serde_json::Value>,
}

fn read_jsonl(text: &str, file_id: &str, path: &Path, corpus: &mut Corpus) {
    let mut bad_lines = 0usize;
    let mut first_bad = None;
    for (lineno, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let record: JsonRecord = match serde_json::from_str(line) {
            Ok(r) => r,
            Err(e) => {
                bad_lines += 1;
                first_bad.get_or_insert_with(|| format!("line {}: {e}", lineno + 1));
                continue;
            }
        };
        let Some(body) = record.text else {
            bad_lines += 1;
            first_bad.get_or_insert_with(|| format!("line {}: no \"text\" field", lineno + 1));
            continue;
        };
        let id = match record.id {
            Some(serde_json::Value::String(s)) => s,
            Some(serde_json::Value::Number(n)) => n.to_string(),
            _ => format!("{file_id}:{}", lineno + 1),
        };
        let mut d = doc(id, file_id, path, text_blocks(&body));
        d.metadata = record.rest;
        corpus.documents.push(d);
    }
    if bad_lines > 0 {
        skip(
            corpus,
            path,
            format!(
                "{bad_lines} JSON line(s) skipped, first: {}",
                first_bad.unwrap_or_default()
            ),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn html_keeps_visible_block_text_and_headings() {
        let html = r#"<html><head><title>T</title><style>p{}</style></head><body>
            <nav><a href="/">Home</a> | <a>Over</a></nav>
            <h2>Vormen van samenwerking</h2>
            <p>Eerste <b>alinea</b> hier.</p><div>Tweede<br>regel.</div>
            <script>var x = "verborgen";</script>
            <ul><li>een</li><li>twee</li></ul></body></html>"#;
        let blocks = html_blocks(html);
        let texts: Vec<_> = blocks.iter().map(|b| b.text.as_str()).collect();
        assert_eq!(
            texts,
            [
                "Vormen van samenwerking",
                "Eerste alinea hier.",
                "Tweede",
                "regel.",
                "een",
                "twee"
            ]
        );
        assert_eq!(blocks[0].kind, BlockKind::Heading);
        assert_eq!(blocks[1].kind, BlockKind::Text);
    }

    #[test]
    fn markdown_headings_links_and_fences() {
        let md =
            "# Titel\n\nZie [de site](http://x) voor **meer**.\n\n```\ncode\n```\n- punt een\n";
        let blocks = markdown_blocks(md);
        assert_eq!(
            blocks[0],
            Block {
                text: "Titel".into(),
                kind: BlockKind::Heading
            }
        );
        assert_eq!(blocks[1].text, "Zie de site voor meer.");
        assert_eq!(blocks[2].text, "punt een");
        assert_eq!(blocks.len(), 3);
    }

    #[test]
    fn directories_are_walked_in_sorted_order_and_binaries_skipped() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("sub")).unwrap();
        std::fs::write(dir.path().join("b.txt"), "Tweede document.").unwrap();
        std::fs::write(dir.path().join("sub/a.md"), "Derde document.").unwrap();
        std::fs::write(dir.path().join("a.txt"), "Eerste document.").unwrap();
        std::fs::write(dir.path().join("bin.txt"), [0xff, 0xfe, 0x00, 0x41]).unwrap();
        std::fs::write(dir.path().join("ignored.xlsx"), "x").unwrap();
        std::fs::write(
            dir.path().join("recs.jsonl"),
            "{\"id\": 7, \"text\": \"Vierde.\", \"lang\": \"nl\"}\nnot json\n",
        )
        .unwrap();
        let corpus = read_corpus(&[dir.path().to_path_buf()]).unwrap();
        let ids: Vec<_> = corpus.documents.iter().map(|d| d.id.as_str()).collect();
        assert_eq!(ids, ["a.txt", "b.txt", "7", "sub/a.md"]);
        assert_eq!(corpus.documents[2].metadata["lang"], "nl");
        let skipped: Vec<_> = corpus
            .skipped
            .iter()
            .map(|s| s.path.file_name().unwrap())
            .collect();
        assert_eq!(skipped, ["bin.txt", "recs.jsonl"]);
        assert!(corpus.skipped[0].reason.contains("UTF-8"));
    }

    #[test]
    fn missing_input_is_an_error() {
        let err = read_corpus(&[PathBuf::from("/nonexistent/zoek/input")]).unwrap_err();
        assert!(matches!(err, QueryError::InputNotFound(_)));
    }
}
