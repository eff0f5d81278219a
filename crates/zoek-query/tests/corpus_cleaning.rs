//! Cleaning and chunking of the shipped example corpus (web-page dumps full of boilerplate).

use std::path::{Path, PathBuf};

use zoek_query::text::{CharEstimate, chunk_document, clean_blocks, read_corpus};

fn corpus_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../corpus")
}

/// `(document id, heading, passage text)` of every passage of the example corpus.
fn passages() -> Vec<(String, Option<String>, String)> {
    let corpus = read_corpus(&[corpus_dir()]).unwrap();
    assert_eq!(corpus.documents.len(), 2);
    let mut out = Vec::new();
    for doc in corpus.documents {
        let clean = clean_blocks(&doc.blocks);
        for chunk in chunk_document(&clean, 256, &CharEstimate).unwrap() {
            let text = clean.text[chunk.range.clone()].to_string();
            out.push((doc.id.clone(), chunk.heading, text));
        }
    }
    out
}

#[test]
fn boilerplate_never_becomes_a_passage() {
    let passages = passages();
    let boilerplate = [
        "S M",
        "D E F",
        "Download het verslag",
        "Download de volledige impressie",
        "Ga door naar",
        "zorg-in-het-dorp-2209715",
        "Lokale Kracht | Burgerkracht",
        "Meer informatie",
        "Gerelateerd",
        "Onderdeel van artikel",
        "Hét informatiepunt voor professionals",
    ];
    for (doc, heading, text) in &passages {
        for b in boilerplate {
            assert!(!text.contains(b), "{b:?} in passage of {doc}: {text}");
            assert!(
                heading.as_deref().is_none_or(|h| !h.contains(b)),
                "{b:?} as heading in {doc}"
            );
        }
        assert_ne!(text.trim(), "0");
        assert!(
            text.split_whitespace().count() >= 5,
            "tiny passage in {doc}: {text:?}"
        );
    }
}

#[test]
fn headings_attach_to_the_body_after_them() {
    let passages = passages();
    let heading_of = |needle: &str| {
        passages
            .iter()
            .find(|(_, _, t)| t.contains(needle))
            .unwrap_or_else(|| panic!("no passage with {needle:?}"))
            .1
            .clone()
    };
    assert_eq!(
        heading_of("Globaal zijn twee vormen van partnerschap").as_deref(),
        Some("Vormen van samenwerking")
    );
    assert_eq!(
        heading_of("Het initiatief voor samenwerking in de onderzochte casussen").as_deref(),
        Some("Fase en initiatief")
    );
    assert_eq!(
        heading_of("Tijdens het vervolg van de denktankbijeenkomst").as_deref(),
        Some("Uitkomsten discussies")
    );
    assert_eq!(
        heading_of("Al met al zijn het dus de pioniers").as_deref(),
        Some("Pionieers")
    );
    // A heading is never also a passage of its own.
    assert!(
        passages
            .iter()
            .all(|(_, _, t)| t != "Vormen van samenwerking")
    );
}

#[test]
fn abbreviations_stay_inside_sentences() {
    let corpus = read_corpus(&[corpus_dir()]).unwrap();
    let doc = corpus
        .documents
        .iter()
        .find(|d| d.id == "status-quo-samenwerking.txt")
        .unwrap();
    let clean = clean_blocks(&doc.blocks);
    let chunks = chunk_document(&clean, 256, &CharEstimate).unwrap();
    let sentences: Vec<&str> = chunks
        .iter()
        .flat_map(|c| c.sentences.iter().map(|r| &clean.text[r.clone()]))
        .collect();
    assert!(sentences.contains(
        &"Daarnaast voorzien deze zorgcoöperaties vaak zelf in een aanbod van welzijnsactiviteiten (bijv. gezamenlijke maaltijden) en diensten (bijv. tuinonderhoud)."
    ));
}
