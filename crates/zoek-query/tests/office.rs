//! Word and OpenDocument files: generated here (a zip of XML parts, as the formats are),
//! read into passages with their headings and title, and damaged ones skipped.

use std::io::Write;
use std::path::Path;

use zoek_query::text::{BlockKind, read_corpus};
use zoek_query::{BuildOptions, Collection, Engine, HashEmbedder, TokenCounting};

fn zip_file(path: &Path, parts: &[(&str, &str)]) {
    let mut zip = zip::ZipWriter::new(std::fs::File::create(path).unwrap());
    for (name, text) in parts {
        zip.start_file(*name, zip::write::SimpleFileOptions::default())
            .unwrap();
        zip.write_all(text.as_bytes()).unwrap();
    }
    zip.finish().unwrap();
}

const W: &str = r#"xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main""#;

fn docx(path: &Path) {
    let body = format!(
        r#"<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<w:document {W}><w:body>
<w:p><w:pPr><w:pStyle w:val="Kop1"/></w:pPr><w:r><w:t>Wat belemmert de samenwerking</w:t></w:r></w:p>
<w:p><w:r><w:t xml:space="preserve">Wantrouwen vanuit het dorp </w:t></w:r><w:r><w:rPr><w:b/></w:rPr><w:t>belemmerde</w:t></w:r><w:r><w:t xml:space="preserve"> de samenwerking &amp; het overleg.</w:t></w:r></w:p>
<w:p/>
<w:p><w:r><w:t>Regel een</w:t><w:br/><w:t>regel twee.</w:t><w:tab/><w:t>Met tab.</w:t></w:r></w:p>
</w:body></w:document>"#
    );
    let core = r#"<?xml version="1.0"?><cp:coreProperties xmlns:cp="http://schemas.openxmlformats.org/package/2006/metadata/core-properties" xmlns:dc="http://purl.org/dc/elements/1.1/"><dc:title>Samen of liever alleen</dc:title></cp:coreProperties>"#;
    zip_file(
        path,
        &[
            ("[Content_Types].xml", "<Types/>"),
            ("word/document.xml", &body),
            ("docProps/core.xml", core),
        ],
    );
}

fn odt(path: &Path) {
    let content = r#"<?xml version="1.0" encoding="UTF-8"?>
<office:document-content xmlns:office="urn:oasis:names:tc:opendocument:xmlns:office:1.0" xmlns:text="urn:oasis:names:tc:opendocument:xmlns:text:1.0"><office:body><office:text>
<text:h text:outline-level="1">Vormen van samenwerking</text:h>
<text:p>In de eerste vorm<text:s/>fungeren zorgcoöperaties als <text:span>zaakwaarnemer</text:span> voor hun leden.</text:p>
<text:p/>
</office:text></office:body></office:document-content>"#;
    let meta = r#"<?xml version="1.0"?><office:document-meta xmlns:office="urn:oasis:names:tc:opendocument:xmlns:office:1.0" xmlns:dc="http://purl.org/dc/elements/1.1/"><office:meta><dc:title>Status quo</dc:title></office:meta></office:document-meta>"#;
    zip_file(
        path,
        &[
            ("mimetype", "application/vnd.oasis.opendocument.text"),
            ("content.xml", content),
            ("meta.xml", meta),
        ],
    );
}

#[test]
fn word_and_opendocument_files_become_headed_paragraphs() {
    let dir = tempfile::tempdir().unwrap();
    docx(&dir.path().join("visie.docx"));
    odt(&dir.path().join("vormen.odt"));
    let corpus = read_corpus(&[dir.path().to_path_buf()]).unwrap();
    assert!(corpus.skipped.is_empty(), "{:?}", corpus.skipped);
    assert_eq!(corpus.documents.len(), 2);

    let (odt_doc, docx_doc) = (&corpus.documents[1], &corpus.documents[0]);
    assert_eq!(docx_doc.id, "visie.docx");
    let texts: Vec<(&str, BlockKind)> = docx_doc
        .blocks
        .iter()
        .map(|b| (b.text.as_str(), b.kind))
        .collect();
    assert_eq!(
        texts,
        vec![
            ("Wat belemmert de samenwerking", BlockKind::Heading),
            (
                "Wantrouwen vanuit het dorp belemmerde de samenwerking & het overleg.",
                BlockKind::Text
            ),
            ("Regel een regel twee. Met tab.", BlockKind::Text),
        ]
    );
    assert_eq!(docx_doc.metadata["title"], "Samen of liever alleen");

    assert_eq!(odt_doc.id, "vormen.odt");
    assert_eq!(odt_doc.blocks[0].kind, BlockKind::Heading);
    assert_eq!(odt_doc.blocks[0].text, "Vormen van samenwerking");
    assert_eq!(
        odt_doc.blocks[1].text,
        "In de eerste vorm fungeren zorgcoöperaties als zaakwaarnemer voor hun leden."
    );
    assert_eq!(odt_doc.blocks.len(), 2);
    assert_eq!(odt_doc.metadata["title"], "Status quo");

    // Built and asked like any other file; the heading comes with the hit.
    let engine = Engine::new(HashEmbedder::default());
    let out = dir.path().join("collection");
    let opts = BuildOptions {
        token_counting: TokenCounting::CharEstimate,
        ..BuildOptions::default()
    };
    engine
        .build(
            &[dir.path().join("visie.docx"), dir.path().join("vormen.odt")],
            &out,
            &opts,
        )
        .unwrap();
    let answer = Collection::open(&out)
        .unwrap()
        .ask(&engine, "wantrouwen vanuit het dorp", 1)
        .unwrap();
    assert_eq!(answer.hits[0].doc, "visie.docx");
    assert_eq!(
        answer.hits[0].heading.as_deref(),
        Some("Wat belemmert de samenwerking")
    );
}

#[test]
fn damaged_office_files_are_skipped_with_a_reason() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("junk.docx"), b"PK\x03\x04 not really a zip").unwrap();
    zip_file(&dir.path().join("empty.odt"), &[("mimetype", "x")]);
    zip_file(
        &dir.path().join("broken.docx"),
        &[("word/document.xml", "<w:document><w:body><w:p><w:t>a</w:p>")],
    );
    docx(&dir.path().join("good.docx"));
    // A truncated copy of a good file.
    let good = std::fs::read(dir.path().join("good.docx")).unwrap();
    std::fs::write(dir.path().join("cut.docx"), &good[..good.len() / 2]).unwrap();
    let corpus = read_corpus(&[dir.path().to_path_buf()]).unwrap();
    let skipped: Vec<String> = corpus
        .skipped
        .iter()
        .map(|s| s.path.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    assert_eq!(
        skipped,
        vec!["broken.docx", "cut.docx", "empty.odt", "junk.docx"],
        "{:?}",
        corpus.skipped
    );
    for s in &corpus.skipped {
        assert!(!s.reason.is_empty());
    }
    assert_eq!(corpus.documents.len(), 1);
    assert_eq!(corpus.documents[0].id, "good.docx");
}
