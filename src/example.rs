//! The example corpus shipped in the repository (`corpus/`), built on first use into a
//! cache directory and reused while the corpus and the model stay the same.

use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};
use zoek_query::{BuildOptions, Collection, Engine, ProgressFn, QueryError};

/// The example corpus, compiled into the binary so that an installed `zoek` has it without
/// a checkout: two Dutch web pages about care cooperatives, by file name.
pub const EXAMPLE_FILES: [(&str, &str); 2] = [
    (
        "status-quo-samenwerking.txt",
        include_str!("../corpus/status-quo-samenwerking.txt"),
    ),
    (
        "zonder-gedeelde-visie.txt",
        include_str!("../corpus/zonder-gedeelde-visie.txt"),
    ),
];

/// The directory of the example corpus: the checkout's `corpus/` when zoek runs from a
/// checkout, else `example-corpus/` in [`cache_dir`], written from [`EXAMPLE_FILES`].
pub fn example_corpus_dir() -> PathBuf {
    let checkout = Path::new(env!("CARGO_MANIFEST_DIR")).join("corpus");
    if EXAMPLE_FILES
        .iter()
        .all(|(name, text)| std::fs::read_to_string(checkout.join(name)).is_ok_and(|t| t == *text))
    {
        return checkout;
    }
    cache_dir().join("example-corpus")
}

/// Writes the embedded example corpus to `dir` (each file atomically, only when it differs).
fn materialise_example(dir: &Path) -> Result<(), QueryError> {
    let io = |path: &Path, source| QueryError::Io {
        path: path.to_path_buf(),
        source,
    };
    std::fs::create_dir_all(dir).map_err(|e| io(dir, e))?;
    for (name, text) in EXAMPLE_FILES {
        let path = dir.join(name);
        if std::fs::read_to_string(&path).is_ok_and(|t| t == text) {
            continue;
        }
        let tmp = dir.join(format!(".{name}.tmp-{}", std::process::id()));
        std::fs::write(&tmp, text).map_err(|e| io(&tmp, e))?;
        std::fs::rename(&tmp, &path).map_err(|e| io(&path, e))?;
    }
    Ok(())
}

/// Where zoek caches built collections: `$ZOEK_CACHE_DIR`, else `$XDG_CACHE_HOME/zoek`,
/// else `$HOME/.cache/zoek`, else `zoek-cache` in the system temp directory.
pub fn cache_dir() -> PathBuf {
    if let Some(d) = std::env::var_os("ZOEK_CACHE_DIR") {
        return PathBuf::from(d);
    }
    if let Some(d) = std::env::var_os("XDG_CACHE_HOME") {
        return PathBuf::from(d).join("zoek");
    }
    if let Some(d) = std::env::var_os("HOME") {
        return PathBuf::from(d).join(".cache").join("zoek");
    }
    std::env::temp_dir().join("zoek-cache")
}

/// A key for the corpus at `dir` as built by `model_id`: the collection format version, the
/// model fingerprint and every file's name and content, so an edited corpus, another model
/// or a new collection format gets a fresh build.
pub fn corpus_key(dir: &Path, model_id: &str) -> Result<String, QueryError> {
    let mut files = Vec::new();
    collect_files(dir, &mut files)?;
    files.sort();
    let mut h = Sha256::new();
    // The collection format is part of the key, so a cache built in an older layout is
    // rebuilt rather than refused.
    h.update(format!("zoek-collection-v{}", zoek_query::format::FORMAT_VERSION).as_bytes());
    h.update(model_id.as_bytes());
    for f in &files {
        let bytes = std::fs::read(f).map_err(|e| QueryError::Io {
            path: f.clone(),
            source: e,
        })?;
        h.update(
            f.strip_prefix(dir)
                .unwrap_or(f)
                .to_string_lossy()
                .as_bytes(),
        );
        h.update((bytes.len() as u64).to_le_bytes());
        h.update(&bytes);
    }
    let digest = h.finalize();
    Ok(digest.iter().take(8).map(|b| format!("{b:02x}")).collect())
}

fn collect_files(dir: &Path, out: &mut Vec<PathBuf>) -> Result<(), QueryError> {
    let rd = std::fs::read_dir(dir).map_err(|e| QueryError::Io {
        path: dir.to_path_buf(),
        source: e,
    })?;
    for entry in rd {
        let entry = entry.map_err(|e| QueryError::Io {
            path: dir.to_path_buf(),
            source: e,
        })?;
        let p = entry.path();
        if p.is_dir() {
            collect_files(&p, out)?;
        } else {
            out.push(p);
        }
    }
    Ok(())
}

/// Opens the collection for the corpus at `corpus`, building it into the cache first when
/// no build for this corpus and model exists yet in `cache` (see [`cache_dir`]).
/// `progress` receives build progress.
pub fn open_cached(
    engine: &Engine,
    corpus: &Path,
    progress: Option<ProgressFn>,
    cache: &Path,
) -> Result<Collection, QueryError> {
    let key = corpus_key(corpus, engine.model_id())?;
    let dir = cache.join(format!("collection-{key}"));
    if let Ok(c) = Collection::open(&dir)
        && c.manifest().model_id == engine.model_id()
    {
        return Ok(c);
    }
    tracing::info!(dir = %dir.display(), "building the collection for {}", corpus.display());
    let opts = BuildOptions {
        progress,
        ..BuildOptions::default()
    };
    engine.build(&[corpus], &dir, &opts)?;
    Collection::open(&dir)
}

/// Opens the shipped example corpus (see [`open_cached`]).
pub fn open_example(
    engine: &Engine,
    progress: Option<ProgressFn>,
) -> Result<Collection, QueryError> {
    let corpus = example_corpus_dir();
    if !corpus.starts_with(env!("CARGO_MANIFEST_DIR")) {
        materialise_example(&corpus)?;
    }
    open_cached(engine, &corpus, progress, &cache_dir())
}
