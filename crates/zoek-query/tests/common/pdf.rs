//! Writes small PDFs for the tests (lopdf, the standard Helvetica font, WinAnsi text): each
//! page a list of paragraphs, wrapped at a fixed width, with an optional running header
//! and footer with the page number, as real reports have.

use lopdf::content::{Content, Operation};
use lopdf::{Document, Object, Stream, dictionary};

/// One page: its paragraphs (a heading is a paragraph too).
pub struct Page {
    pub paragraphs: Vec<String>,
}

/// Wraps `text` at `width` characters, hyphenating a long word at the margin now and then
/// (as typeset text is), so that the reader's hyphen joining is exercised.
fn wrap(text: &str, width: usize) -> Vec<String> {
    let mut lines = Vec::new();
    let mut line = String::new();
    for word in text.split_whitespace() {
        let len = line.chars().count();
        if len > 0 && len + 1 + word.chars().count() > width {
            let room = width.saturating_sub(len + 2);
            let chars: Vec<char> = word.chars().collect();
            if chars.len() >= 10 && room >= 4 && chars[..room].iter().all(|c| c.is_alphabetic()) {
                let head: String = chars[..room].iter().collect();
                let tail: String = chars[room..].iter().collect();
                line.push(' ');
                line.push_str(&head);
                line.push('-');
                lines.push(std::mem::take(&mut line));
                line = tail;
                continue;
            }
            lines.push(std::mem::take(&mut line));
        }
        if !line.is_empty() {
            line.push(' ');
        }
        line.push_str(word);
    }
    if !line.is_empty() {
        lines.push(line);
    }
    lines
}

fn winansi(text: &str) -> Vec<u8> {
    let (bytes, _, _) = encoding_rs::WINDOWS_1252.encode(text);
    bytes.into_owned()
}

/// A PDF of `pages`; `header` and `footer` (with `{page}` for the number) repeat on every
/// page when given; `title` goes into the document information dictionary.
pub fn write_pdf(
    pages: &[Page],
    header: Option<&str>,
    footer: Option<&str>,
    title: Option<&str>,
) -> Vec<u8> {
    let mut doc = Document::with_version("1.5");
    let pages_id = doc.new_object_id();
    let font_id = doc.add_object(dictionary! {
        "Type" => "Font",
        "Subtype" => "Type1",
        "BaseFont" => "Helvetica",
        "Encoding" => "WinAnsiEncoding",
    });
    let resources_id = doc.add_object(dictionary! {
        "Font" => dictionary! { "F1" => font_id },
    });
    let (width, height, size, leading) = (595, 1400, 9, 11);
    let mut kids = Vec::new();
    for (n, page) in pages.iter().enumerate() {
        let mut ops = vec![Operation::new("BT", vec![])];
        ops.push(Operation::new("Tf", vec!["F1".into(), size.into()]));
        let mut y = height - 40;
        let line_at = |ops: &mut Vec<Operation>, text: &str, y: i64| {
            ops.push(Operation::new(
                "Tm",
                vec![1.into(), 0.into(), 0.into(), 1.into(), 50.into(), y.into()],
            ));
            ops.push(Operation::new(
                "Tj",
                vec![Object::string_literal(winansi(text))],
            ));
        };
        if let Some(h) = header {
            line_at(&mut ops, &h.replace("{page}", &(n + 1).to_string()), y);
            y -= 2 * leading;
        }
        for paragraph in &page.paragraphs {
            for line in wrap(paragraph, 100) {
                line_at(&mut ops, &line, y);
                y -= leading;
            }
            y -= leading / 2 + 2;
        }
        if let Some(f) = footer {
            line_at(&mut ops, &f.replace("{page}", &(n + 1).to_string()), 30);
        }
        ops.push(Operation::new("ET", vec![]));
        let content = Content { operations: ops };
        let content_id = doc.add_object(Stream::new(dictionary! {}, content.encode().unwrap()));
        let page_id = doc.add_object(dictionary! {
            "Type" => "Page",
            "Parent" => pages_id,
            "Contents" => content_id,
            "Resources" => resources_id,
            "MediaBox" => vec![0.into(), 0.into(), width.into(), height.into()],
        });
        kids.push(Object::from(page_id));
    }
    let count = kids.len() as i64;
    doc.objects.insert(
        pages_id,
        Object::Dictionary(dictionary! { "Type" => "Pages", "Kids" => kids, "Count" => count }),
    );
    let catalog_id = doc.add_object(dictionary! { "Type" => "Catalog", "Pages" => pages_id });
    doc.trailer.set("Root", catalog_id);
    if let Some(t) = title {
        let info = doc.add_object(dictionary! { "Title" => Object::string_literal(winansi(t)) });
        doc.trailer.set("Info", info);
    }
    let mut out = Vec::new();
    doc.save_to(&mut out).unwrap();
    out
}

/// The example corpus as one PDF, a page per seed document: its blocks (blank-line
/// separated) as paragraphs.
pub fn example_corpus_pdf(corpus: &std::path::Path) -> Vec<u8> {
    let mut paths: Vec<_> = std::fs::read_dir(corpus)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "txt"))
        .collect();
    paths.sort();
    let pages: Vec<Page> = paths
        .iter()
        .map(|p| Page {
            paragraphs: std::fs::read_to_string(p)
                .unwrap()
                .split("\n\n")
                .map(|b| b.split_whitespace().collect::<Vec<_>>().join(" "))
                .filter(|b| !b.is_empty())
                .collect(),
        })
        .collect();
    write_pdf(
        &pages,
        Some("Zorgcoöperaties in beeld — impressie 2024"),
        Some("Pagina {page} van 2"),
        Some("Samenwerking tussen zorgcoöperaties"),
    )
}
