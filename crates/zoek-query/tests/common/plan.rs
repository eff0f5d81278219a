//! The writer plan shared by the crash and write-failure tests: step `s` adds document `s`,
//! updates document `s − 1` to version 2, and every third step deletes document `s − 2`.

use std::collections::BTreeMap;

/// The id of document `k`.
pub fn name(k: usize) -> String {
    format!("d{k:02}.txt")
}

/// Live documents and their versions after step `i` committed.
pub fn expected(i: usize) -> BTreeMap<String, u32> {
    let mut m = BTreeMap::from([(name(0), 1)]);
    for s in 1..=i {
        m.insert(name(s), 1);
        if s >= 2 {
            m.insert(name(s - 1), 2);
        }
        if s.is_multiple_of(3) {
            m.remove(&name(s - 2));
        }
    }
    m
}

/// The version each live document's text states ("… versie N."), by document id; two
/// passages of one document stating different versions fail the test.
pub fn live_versions(c: &zoek_query::Collection) -> BTreeMap<String, u32> {
    let mut out = BTreeMap::new();
    for id in c.live_passages() {
        let p = c.passage(id).unwrap();
        let version = p
            .text
            .rsplit("versie ")
            .next()
            .and_then(|v| v.trim_end().trim_end_matches('.').parse::<u32>().ok())
            .unwrap_or_else(|| panic!("no version in {:?}", p.text));
        let previous = out.insert(p.doc_id.clone(), version);
        assert!(
            previous.is_none_or(|v| v == version),
            "two versions of {}",
            p.doc_id
        );
    }
    out
}
