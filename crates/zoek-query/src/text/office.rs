//! Word (`.docx`) and OpenDocument (`.odt`) files: a zip holding XML, read with `zip` and
//! `quick-xml`.
//!
//! Only what a passage needs is kept: paragraphs in reading order, the ones the format
//! marks as headings (`Heading N` / `Title` styles, Dutch `Kop N`, or ODF `<text:h>`), tabs
//! and line breaks as spaces, and the document title from its properties
//! (`docProps/core.xml` / `meta.xml`). Everything else — styles, images, tracked changes,
//! headers and footers (separate parts, so never read) — is left out. Any defect is an
//! error message, and the caller skips the file.

use std::io::{Cursor, Read};

use quick_xml::Reader;
use quick_xml::events::Event;

use super::ingest::{Block, BlockKind};

/// A document's blocks and its title, if its properties name one.
pub(crate) struct OfficeText {
    pub blocks: Vec<Block>,
    pub title: Option<String>,
}

/// Largest XML part read (uncompressed), against zip bombs.
const MAX_PART_BYTES: u64 = 64 << 20;

/// Reads a `.docx` file.
pub(crate) fn docx(bytes: &[u8]) -> Result<OfficeText, String> {
    let mut zip = open(bytes)?;
    let body =
        part(&mut zip, "word/document.xml")?.ok_or("no word/document.xml: not a Word file")?;
    let title = part(&mut zip, "docProps/core.xml")?.and_then(|xml| element_text(&xml, b"title"));
    Ok(OfficeText {
        blocks: paragraphs(&body, Dialect::Word)?,
        title,
    })
}

/// Reads an `.odt` file.
pub(crate) fn odt(bytes: &[u8]) -> Result<OfficeText, String> {
    let mut zip = open(bytes)?;
    let body = part(&mut zip, "content.xml")?.ok_or("no content.xml: not an OpenDocument file")?;
    let title = part(&mut zip, "meta.xml")?.and_then(|xml| element_text(&xml, b"title"));
    Ok(OfficeText {
        blocks: paragraphs(&body, Dialect::Odf)?,
        title,
    })
}

fn open(bytes: &[u8]) -> Result<zip::ZipArchive<Cursor<&[u8]>>, String> {
    zip::ZipArchive::new(Cursor::new(bytes)).map_err(|e| format!("not a readable zip file: {e}"))
}

fn part(zip: &mut zip::ZipArchive<Cursor<&[u8]>>, name: &str) -> Result<Option<String>, String> {
    let entry = match zip.by_name(name) {
        Ok(e) => e,
        Err(zip::result::ZipError::FileNotFound) => return Ok(None),
        Err(e) => return Err(format!("{name}: {e}")),
    };
    let mut text = String::new();
    entry
        .take(MAX_PART_BYTES + 1)
        .read_to_string(&mut text)
        .map_err(|e| format!("{name}: {e}"))?;
    if text.len() as u64 > MAX_PART_BYTES {
        return Err(format!("{name} is larger than {MAX_PART_BYTES} bytes"));
    }
    Ok(Some(text))
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Dialect {
    Word,
    Odf,
}

/// Whether a Word paragraph style names a heading (`Heading1`, `Title`, `Kop1`, …).
fn heading_style(style: &str) -> bool {
    let s = style.to_ascii_lowercase();
    s == "title" || s == "titel" || s.starts_with("heading") || s.starts_with("kop")
}

/// The paragraphs of a body part as blocks.
fn paragraphs(xml: &str, dialect: Dialect) -> Result<Vec<Block>, String> {
    let mut reader = Reader::from_str(xml);
    let mut blocks = Vec::new();
    let mut text = String::new();
    let mut heading = false;
    // Depth of open paragraph elements (ODF nests <text:span> but not paragraphs; Word
    // text boxes can nest paragraphs, whose text joins the outer one).
    let mut depth = 0usize;
    let mut in_text = false;
    let err = |e: quick_xml::Error, at: u64| format!("XML error at byte {at}: {e}");
    loop {
        let at = reader.buffer_position();
        match reader.read_event().map_err(|e| err(e, at))? {
            Event::Start(e) if is_paragraph(e.local_name().as_ref(), dialect) => {
                if depth == 0 {
                    text.clear();
                    heading = dialect == Dialect::Odf && e.local_name().as_ref() == b"h";
                }
                depth += 1;
            }
            Event::End(e) if is_paragraph(e.local_name().as_ref(), dialect) => {
                depth = depth.saturating_sub(1);
                if depth == 0 {
                    let t = text.split_whitespace().collect::<Vec<_>>().join(" ");
                    if !t.is_empty() {
                        blocks.push(Block {
                            text: t,
                            kind: if heading {
                                BlockKind::Heading
                            } else {
                                BlockKind::Text
                            },
                        });
                    }
                }
            }
            Event::Start(e)
                if depth > 0 && dialect == Dialect::Word && e.local_name().as_ref() == b"t" =>
            {
                in_text = true
            }
            Event::Start(e) | Event::Empty(e) if depth > 0 => {
                let name = e.local_name();
                match (dialect, name.as_ref()) {
                    (Dialect::Word, b"pStyle") => {
                        for a in e.attributes().flatten() {
                            if a.key.local_name().as_ref() == b"val" {
                                let v = String::from_utf8_lossy(&a.value);
                                heading |= heading_style(&v);
                            }
                        }
                    }
                    (Dialect::Word, b"tab" | b"br" | b"cr") => text.push(' '),
                    (Dialect::Odf, b"s" | b"tab" | b"line-break") => text.push(' '),
                    _ => {}
                }
            }
            Event::End(e) if e.local_name().as_ref() == b"t" => in_text = false,
            Event::Text(t) if depth > 0 && (dialect == Dialect::Odf || in_text) => {
                let s = t.decode().map_err(|e| format!("text at byte {at}: {e}"))?;
                text.push_str(&s);
            }
            Event::GeneralRef(r) if depth > 0 && (dialect == Dialect::Odf || in_text) => {
                let name = r
                    .decode()
                    .map_err(|e| format!("entity at byte {at}: {e}"))?;
                match quick_xml::escape::resolve_predefined_entity(&name) {
                    Some(s) => text.push_str(s),
                    None => {
                        if let Ok(Some(c)) = r.resolve_char_ref() {
                            text.push(c);
                        }
                    }
                }
            }
            Event::Eof => break,
            _ => {}
        }
    }
    Ok(blocks)
}

fn is_paragraph(local: &[u8], dialect: Dialect) -> bool {
    match dialect {
        Dialect::Word => local == b"p",
        Dialect::Odf => local == b"p" || local == b"h",
    }
}

/// The text of the first element with local name `name` (e.g. `dc:title`), trimmed.
fn element_text(xml: &str, name: &[u8]) -> Option<String> {
    let mut reader = Reader::from_str(xml);
    let mut inside = false;
    let mut out = String::new();
    loop {
        match reader.read_event().ok()? {
            Event::Start(e) if e.local_name().as_ref() == name => inside = true,
            Event::End(e) if inside && e.local_name().as_ref() == name => break,
            Event::Text(t) if inside => out.push_str(&t.decode().ok()?),
            Event::GeneralRef(r) if inside => {
                if let Some(s) = quick_xml::escape::resolve_predefined_entity(&r.decode().ok()?) {
                    out.push_str(s);
                }
            }
            Event::Eof => break,
            _ => {}
        }
    }
    let t = out.split_whitespace().collect::<Vec<_>>().join(" ");
    (!t.is_empty()).then_some(t)
}
