//! Copying a collection directory, so a test can damage or change a copy.

use std::path::Path;

/// Copies the directory `from` recursively to `to`.
pub fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_tree(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).unwrap();
        }
    }
}

/// Writes the example corpus into `dir` as two segments with a tombstone: the first page,
/// then the second page and a note (written into `scratch`), then the note deleted.
pub fn two_segments_with_tombstone(
    dir: &Path,
    engine: &zoek_query::Engine,
    opts: &zoek_query::BuildOptions,
    scratch: &Path,
) {
    let corpus = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../corpus");
    let note = scratch.join("notitie.txt");
    std::fs::write(
        &note,
        "Een notitie\n\nDeze notitie over de samenwerking wordt later verwijderd.\n",
    )
    .unwrap();
    let mut writer = zoek_query::CollectionWriter::open(dir, engine, opts).unwrap();
    writer
        .add(&[corpus.join("status-quo-samenwerking.txt")])
        .unwrap();
    writer.commit().unwrap();
    writer
        .add(&[corpus.join("zonder-gedeelde-visie.txt"), note])
        .unwrap();
    writer.commit().unwrap();
    writer.delete(&["notitie.txt"]).unwrap();
    writer.commit().unwrap();
}
