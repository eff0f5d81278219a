//! Removing web-page boilerplate and attaching headings to the body text that follows.
//!
//! Plain-text dumps of web pages carry navigation fragments, link lines, image slugs and
//! stray letters from icon fonts. None of that answers a question, and as passages it
//! would crowd out real text in the ranking, so it is dropped before chunking.

use std::ops::Range;

use super::ingest::{Block, BlockKind};

/// Lines at most this many characters long without closing punctuation are headings
/// (web subtitles such as "Onderdeel van artikel …" run to about 130).
pub const MAX_HEADING_CHARS: usize = 150;
/// Lines with `|` at most this many characters long are navigation.
const MAX_NAV_CHARS: usize = 80;

/// A heading with the paragraphs under it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Section {
    /// The heading text, if the paragraphs have one.
    pub heading: Option<String>,
    /// Byte ranges of the paragraphs in [`CleanDocument::text`].
    pub paragraphs: Vec<Range<usize>>,
}

/// A cleaned document: its text, and the sections that cover the body paragraphs.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CleanDocument {
    /// The kept headings and paragraphs, separated by blank lines; byte ranges point here.
    pub text: String,
    /// Sections in reading order; every section has at least one paragraph.
    pub sections: Vec<Section>,
    /// Blocks and lines that were dropped as boilerplate or as headings without body.
    pub dropped: usize,
}

/// Cleans a document's blocks: drops boilerplate lines, then decides which blocks are
/// headings and attaches each heading to the paragraphs after it.
pub fn clean_blocks(blocks: &[Block]) -> CleanDocument {
    let mut dropped = 0usize;
    let mut items: Vec<(String, bool)> = Vec::new();
    for block in blocks {
        let kept: Vec<String> = block
            .text
            .lines()
            .map(normalise_space)
            .filter(|line| {
                let keep = !line.is_empty() && !is_boilerplate_line(line);
                if !keep && !line.is_empty() {
                    dropped += 1;
                }
                keep
            })
            .collect();
        if kept.is_empty() {
            continue;
        }
        let text = kept.join(" ");
        let heading = block.kind == BlockKind::Heading || looks_like_heading(&text);
        items.push((text, heading));
    }

    let mut doc = CleanDocument::default();
    let mut pending_heading: Option<String> = None;
    let mut current: Option<Section> = None;
    for (text, is_heading) in items {
        if is_heading {
            if pending_heading.replace(text).is_some() {
                dropped += 1;
            }
            continue;
        }
        if let Some(heading) = pending_heading.take() {
            if let Some(section) = current.take() {
                doc.sections.push(section);
            }
            append(&mut doc.text, &heading);
            current = Some(Section {
                heading: Some(heading),
                paragraphs: Vec::new(),
            });
        }
        let range = append(&mut doc.text, &text);
        current
            .get_or_insert_with(|| Section {
                heading: None,
                paragraphs: Vec::new(),
            })
            .paragraphs
            .push(range);
    }
    if pending_heading.is_some() {
        dropped += 1;
    }
    doc.sections.extend(current);
    doc.dropped = dropped;
    doc
}

fn append(text: &mut String, piece: &str) -> Range<usize> {
    if !text.is_empty() {
        text.push_str("\n\n");
    }
    let start = text.len();
    text.push_str(piece);
    start..text.len()
}

/// Collapses every run of whitespace (non-breaking spaces included) to one space.
fn normalise_space(line: &str) -> String {
    line.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// True for lines that are boilerplate wherever they appear.
pub fn is_boilerplate_line(line: &str) -> bool {
    let line = line.trim();
    !has_word(line) || is_link_line(line) || is_slug_or_file_name(line) || is_navigation_line(line)
}

/// A word of two or more letters: "S M", "D E F" and "0" have none.
fn has_word(line: &str) -> bool {
    let mut run = 0;
    for c in line.chars() {
        if c.is_alphabetic() {
            run += 1;
            if run >= 2 {
                return true;
            }
        } else {
            run = 0;
        }
    }
    false
}

fn is_link_line(line: &str) -> bool {
    line.ends_with('»')
        || line.ends_with('›')
        || line.starts_with(">>")
        || line.starts_with('»')
        || line.starts_with("http://")
        || line.starts_with("https://")
        || line.starts_with("www.")
}

const FILE_EXTENSIONS: &[&str] = &[
    "jpg", "jpeg", "png", "gif", "webp", "svg", "bmp", "tif", "tiff", "pdf", "doc", "docx", "xls",
    "xlsx", "ppt", "pptx", "zip", "mp3", "mp4", "avi", "mov", "html", "htm", "php", "aspx",
];

/// One token that is an image slug (`zorg-in-het-dorp-2209715`) or a file name (`foto.jpg`).
fn is_slug_or_file_name(line: &str) -> bool {
    if line.contains(char::is_whitespace) {
        return false;
    }
    if let Some((stem, ext)) = line.rsplit_once('.')
        && !stem.is_empty()
        && FILE_EXTENSIONS.contains(&ext.to_ascii_lowercase().as_str())
    {
        return true;
    }
    let slug_chars = line
        .chars()
        .all(|c| c.is_alphanumeric() || c == '-' || c == '_');
    let separated = line.contains('-') || line.contains('_');
    let machine_made = line.chars().any(|c| c.is_ascii_digit())
        || line.contains('_')
        || line.matches('-').count() >= 2 && !line.chars().any(char::is_uppercase);
    slug_chars && separated && machine_made
}

/// Short lines with `|`, like "Lokale Kracht | Burgerkracht".
fn is_navigation_line(line: &str) -> bool {
    line.contains('|')
        && line.chars().count() <= MAX_NAV_CHARS
        && !ends_with_closing_punctuation(line)
}

/// A short line without closing punctuation is a heading.
pub fn looks_like_heading(text: &str) -> bool {
    text.chars().count() <= MAX_HEADING_CHARS && !ends_with_closing_punctuation(text)
}

fn ends_with_closing_punctuation(text: &str) -> bool {
    let core = text.trim_end_matches(|c: char| {
        c.is_whitespace() || matches!(c, '"' | '\'' | '”' | '’' | '«' | '»' | ')' | ']' | '*')
    });
    core.ends_with(['.', '!', '?', '…', ':', ';'])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::text::ingest::text_blocks;

    fn clean(text: &str) -> CleanDocument {
        clean_blocks(&text_blocks(text))
    }

    #[test]
    fn boilerplate_lines() {
        for line in [
            "S M",
            "D E F",
            "0",
            "Download het verslag van de discussierondes »",
            ">> Ga door naar het volgende onderdeel ‘Waarom überhaupt samenwerken’",
            "zorg-in-het-dorp-2209715",
            "Lokale Kracht | Burgerkracht",
            "foto_2015.JPG",
        ] {
            assert!(is_boilerplate_line(line), "{line:?} should be boilerplate");
        }
        for line in [
            "Vormen van samenwerking",
            "Aedes-Actiz",
            "Het initiatief lag bij de coöperatie.",
            "Wat helpt | wat belemmert? Dat vroegen we ons af.",
        ] {
            assert!(!is_boilerplate_line(line), "{line:?} should be kept");
        }
    }

    #[test]
    fn headings_attach_to_following_body_and_dangling_headings_drop() {
        let doc = clean(
            "S M\n\nTitel van de site\n\nVormen van samenwerking\n\nEr zijn twee vormen.\n\n\
             Tweede alinea.\n\nMeer informatie\n\nGerelateerd\n\n    D E F\n",
        );
        assert_eq!(doc.sections.len(), 1);
        let section = &doc.sections[0];
        assert_eq!(section.heading.as_deref(), Some("Vormen van samenwerking"));
        let paragraphs: Vec<_> = section
            .paragraphs
            .iter()
            .map(|r| &doc.text[r.clone()])
            .collect();
        assert_eq!(paragraphs, ["Er zijn twee vormen.", "Tweede alinea."]);
        assert!(!doc.text.contains("Meer informatie"));
        assert!(!doc.text.contains("Gerelateerd"));
        assert!(!doc.text.contains("Titel van de site"));
        assert_eq!(doc.dropped, 5);
    }

    #[test]
    fn body_before_any_heading_has_none() {
        let doc = clean("Een zin zonder kop.\n\nKop\n\nNog een zin.");
        assert_eq!(doc.sections[0].heading, None);
        assert_eq!(doc.sections[1].heading.as_deref(), Some("Kop"));
    }

    #[test]
    fn non_breaking_spaces_are_normalised() {
        let doc = clean("Dit is\u{a0}een zin.\u{a0}");
        assert_eq!(doc.text, "Dit is een zin.");
    }
}
