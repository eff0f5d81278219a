//! PDF text, a page at a time, with the noise of printed pages removed.
//!
//! pdf-extract (on lopdf) gives each page's text in content order, a line per text line.
//! What a reader does not read is dropped: running headers and footers (a line at a page's
//! top or bottom edge that recurs, digits aside, on at least half of the pages) and page
//! numbers ("7", "- 7 -", "Pagina 7 van 12", "7 / 12"). A word hyphenated at a line end is
//! joined when the next line goes on in lower case. Paragraphs end at blank lines, after a
//! line that ends a sentence well short of the page's usual line length, or after a short
//! line going on in lower case (a paragraph's last line); any other short line without
//! final punctuation is a paragraph of its own, so the cleaner can take it for a heading.
//!
//! Each page becomes one document, `file.pdf#page=N` (the fragment PDF viewers open at),
//! with the page number and the document title in its metadata; a passage therefore never
//! spans two pages and every hit names its page.

use super::ingest::{Block, BlockKind};

/// What a PDF holds for zoek.
pub(crate) struct PdfText {
    /// The document information dictionary's title.
    pub title: Option<String>,
    /// Each page's blocks; page `n` (from 1) at index `n - 1`.
    pub pages: Vec<Vec<Block>>,
}

/// Lines this close to a page's top or bottom are candidates for headers, footers and
/// page numbers.
const EDGE_LINES: usize = 2;

/// Reads a PDF's text. The error says why a file gives none (damaged, encrypted, scanned).
pub(crate) fn read_pdf(bytes: &[u8]) -> Result<PdfText, String> {
    let pages = pdf_extract::extract_text_from_mem_by_pages(bytes)
        .map_err(|e| format!("not a readable PDF ({e})"))?;
    let mut lines: Vec<Vec<String>> = pages
        .iter()
        .map(|p| {
            p.lines()
                .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
                .collect()
        })
        .collect();
    drop_running_lines(&mut lines);
    let pages: Vec<Vec<Block>> = lines.iter().map(|l| paragraphs(l)).collect();
    if pages.iter().all(Vec::is_empty) {
        return Err("the PDF has no extractable text (scanned pages need OCR first)".into());
    }
    Ok(PdfText {
        title: title(bytes),
        pages,
    })
}

/// A line's identity across pages: lower case, every digit the same, so that "Pagina 3"
/// and "Pagina 4" are one running line.
fn running_key(line: &str) -> String {
    line.chars()
        .map(|c| if c.is_ascii_digit() { '#' } else { c })
        .flat_map(char::to_lowercase)
        .collect()
}

/// Indices of a page's first and last `EDGE_LINES` non-empty lines.
fn edge_lines(page: &[String]) -> Vec<usize> {
    let filled: Vec<usize> = (0..page.len()).filter(|&i| !page[i].is_empty()).collect();
    let mut edges: Vec<usize> = filled.iter().take(EDGE_LINES).copied().collect();
    edges.extend(filled.iter().rev().take(EDGE_LINES).copied());
    edges.sort_unstable();
    edges.dedup();
    edges
}

fn drop_running_lines(pages: &mut [Vec<String>]) {
    let mut pages_with: std::collections::HashMap<String, usize> = Default::default();
    for page in pages.iter() {
        let mut keys: Vec<String> = edge_lines(page)
            .into_iter()
            .map(|i| running_key(&page[i]))
            .collect();
        keys.sort();
        keys.dedup();
        for k in keys {
            *pages_with.entry(k).or_default() += 1;
        }
    }
    let needed = pages.len().div_ceil(2).max(2);
    for page in pages.iter_mut() {
        for i in edge_lines(page) {
            let line = &page[i];
            if is_page_number(line)
                || pages_with
                    .get(&running_key(line))
                    .is_some_and(|&n| n >= needed)
            {
                page[i].clear();
            }
        }
    }
}

/// "7", "- 7 -", "p. 7", "Pagina 7 van 12", "Seite 7 von 12", "7 / 12", "vii".
fn is_page_number(line: &str) -> bool {
    const WORDS: [&str; 12] = [
        "page", "pagina", "seite", "blz", "p", "pg", "of", "van", "von", "sur", "de", "/",
    ];
    let lower = line.to_lowercase();
    let tokens: Vec<&str> = lower
        .split(|c: char| c.is_whitespace() || matches!(c, '-' | '–' | '—' | '.' | '|' | '(' | ')'))
        .filter(|t| !t.is_empty() && !WORDS.contains(t))
        .collect();
    let number = |t: &str| {
        t.chars().all(|c| c.is_ascii_digit())
            || (t.len() <= 5 && t.chars().all(|c| matches!(c, 'i' | 'v' | 'x' | 'l')))
    };
    !tokens.is_empty()
        && tokens.len() <= 2
        && tokens
            .iter()
            .all(|t| t.split('/').all(|p| !p.is_empty() && number(p)))
}

/// A page's lines as paragraph blocks.
fn paragraphs(lines: &[String]) -> Vec<Block> {
    let mut lengths: Vec<usize> = lines
        .iter()
        .filter(|l| !l.is_empty())
        .map(|l| l.chars().count())
        .collect();
    lengths.sort_unstable();
    let usual = lengths.get(lengths.len() * 3 / 4).copied().unwrap_or(0);
    let mut blocks = Vec::new();
    let mut current = String::new();
    let flush = |current: &mut String, blocks: &mut Vec<Block>| {
        if !current.trim().is_empty() {
            blocks.push(Block {
                text: std::mem::take(current),
                kind: BlockKind::Text,
            });
        }
        current.clear();
    };
    for line in lines {
        if line.is_empty() {
            flush(&mut current, &mut blocks);
            continue;
        }
        let len = line.chars().count();
        let short = (len as f32) < 0.6 * usual as f32;
        let ends_sentence = line.ends_with(['.', '!', '?', ':', '"', '”', '»']);
        // A line going on in lower case continues the paragraph, however short it is.
        let continues = !current.is_empty() && line.chars().next().is_some_and(char::is_lowercase);
        if short && !ends_sentence && !continues {
            // A heading-like line: a block of its own.
            flush(&mut current, &mut blocks);
            current.push_str(line);
            flush(&mut current, &mut blocks);
            continue;
        }
        join_line(&mut current, line);
        if short || ends_sentence && (len as f32) < 0.85 * usual as f32 {
            flush(&mut current, &mut blocks);
        }
    }
    flush(&mut current, &mut blocks);
    blocks
}

/// Appends `line` to a paragraph: a word hyphenated at the previous line's end is joined
/// when this line goes on in lower case; otherwise the line break is kept.
fn join_line(paragraph: &mut String, line: &str) {
    if paragraph.is_empty() {
        paragraph.push_str(line);
        return;
    }
    let hyphenated = paragraph
        .strip_suffix('-')
        .and_then(|p| p.chars().last())
        .is_some_and(char::is_alphabetic);
    let continues = line.chars().next().is_some_and(char::is_lowercase);
    if hyphenated && continues {
        paragraph.pop();
    } else {
        paragraph.push('\n');
    }
    paragraph.push_str(line);
}

/// The title in the document information dictionary, when it has one.
fn title(bytes: &[u8]) -> Option<String> {
    let doc = lopdf::Document::load_mem(bytes).ok()?;
    let info = match doc.trailer.get(b"Info").ok()? {
        lopdf::Object::Reference(id) => doc.get_object(*id).ok()?,
        other => other,
    };
    let raw = info.as_dict().ok()?.get(b"Title").ok()?.as_str().ok()?;
    let text = decode_text_string(raw);
    let text = text.split_whitespace().collect::<Vec<_>>().join(" ");
    (!text.is_empty()).then_some(text)
}

/// A PDF text string: UTF-16BE after a byte-order mark, else PDFDocEncoding (Latin-1 for
/// the characters titles use).
fn decode_text_string(raw: &[u8]) -> String {
    if let Some(utf16) = raw.strip_prefix(&[0xFE, 0xFF]) {
        let units: Vec<u16> = utf16
            .chunks_exact(2)
            .map(|c| u16::from_be_bytes([c[0], c[1]]))
            .collect();
        return String::from_utf16_lossy(&units);
    }
    if let Some(utf8) = raw.strip_prefix(&[0xEF, 0xBB, 0xBF]) {
        return String::from_utf8_lossy(utf8).into_owned();
    }
    raw.iter().map(|&b| char::from(b)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(text: &str) -> Vec<String> {
        text.lines().map(str::to_string).collect()
    }

    #[test]
    fn page_numbers_in_their_usual_forms() {
        for yes in [
            "7",
            "- 7 -",
            "p. 7",
            "Pagina 7 van 12",
            "Seite 7 von 12",
            "7 / 12",
            "vii",
            "(3)",
        ] {
            assert!(is_page_number(yes), "{yes}");
        }
        for no in [
            "7 dagen",
            "Artikel 7",
            "In 2024 groeide het aantal.",
            "",
            "De - samenwerking",
        ] {
            assert!(!is_page_number(no), "{no}");
        }
    }

    #[test]
    fn running_headers_and_footers_go_body_lines_stay() {
        let mut pages = vec![
            lines("Rapport zorg 2024\nEerste pagina tekst.\nNog een regel.\nPagina 1 van 3"),
            lines("Rapport zorg 2024\nTweede pagina tekst.\nPagina 2 van 3"),
            lines("Rapport zorg 2024\nDerde pagina tekst.\nLaatste regel.\n3"),
        ];
        drop_running_lines(&mut pages);
        let kept: Vec<Vec<&str>> = pages
            .iter()
            .map(|p| {
                p.iter()
                    .map(String::as_str)
                    .filter(|l| !l.is_empty())
                    .collect()
            })
            .collect();
        assert_eq!(
            kept,
            [
                vec!["Eerste pagina tekst.", "Nog een regel."],
                vec!["Tweede pagina tekst."],
                vec!["Derde pagina tekst.", "Laatste regel."],
            ]
        );
    }

    #[test]
    fn hyphens_join_paragraphs_split_headings_stand_alone() {
        let page = lines(
            "Samenwerking\n\
             De vrijwilligers van de coöperaties in het dorp zochten vanaf het begin de samen-\n\
             werking met de gemeente en de zorgaanbieders in de regio, ook toen dat moeilijk\n\
             was. Dat lukte niet altijd.\n\
             Wantrouwen vanuit het dorp belemmerde in eerste instantie de samenwerking met de\n\
             Noord-Brabantse zorgaanbieders die al jaren in de omgeving actief waren geweest.",
        );
        let blocks = paragraphs(&page);
        let texts: Vec<&str> = blocks.iter().map(|b| b.text.as_str()).collect();
        assert_eq!(texts.len(), 3, "{texts:#?}");
        assert_eq!(texts[0], "Samenwerking");
        assert!(
            texts[1].contains("de samenwerking met de gemeente"),
            "{}",
            texts[1]
        );
        assert!(texts[1].ends_with("Dat lukte niet altijd."));
        // A capitalised continuation keeps its hyphen: it is part of the word.
        assert!(texts[2].contains("met de\nNoord-Brabantse"), "{}", texts[2]);
    }

    #[test]
    fn text_strings_decode() {
        assert_eq!(decode_text_string(b"Zorg caf\xe9"), "Zorg café");
        assert_eq!(decode_text_string(&[0xFE, 0xFF, 0, b'Z', 0, 0xF6]), "Zö");
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        assert!(read_pdf(b"%PDF-1.5 not really").is_err());
        assert!(read_pdf(b"").is_err());
    }
}
