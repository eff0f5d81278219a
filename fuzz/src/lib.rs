//! The bodies of zoek's fuzz targets, one function per target, each taking the fuzzer's
//! bytes. `fuzz_targets/*.rs` hand them to libFuzzer; `tests/fuzz_replay.rs` (in the root
//! package) compiles this same file and replays every committed corpus file through them on
//! stable, so what the fuzzer found stays fixed.
//!
//! | target | loader |
//! |---|---|
//! | `model_image` | E5S1 model image: open, tokenizer section, load, one forward pass |
//! | `tokenizer` | `tokenizer.json`: parse (compact Unigram or the `tokenizers` library), encode |
//! | `hnsw` | zoek-index HNSW file: open, search, filtered search, verify |
//! | `collection_manifest` | a collection's `manifest.json`, then the collection opened, asked, verified |
//! | `segment_manifest` | a segment's `segment.json`, likewise |
//! | `tombstones` | a tombstone file (first byte: the segment's passage count) |
//! | `passage_store` | passage lines and their offsets (first two bytes: the lines' length) |
//! | `doc_table` | a document table (`docs.idx.jsonl`) |
//! | `arrays` | an array file, as sentence map, offsets and vectors |
//! | `collection` | one file of a small collection damaged (which, how, where: the first 6 bytes) |
//!
//! The contract is the one users get: every call returns, `Ok` or `Err`; a panic anywhere,
//! or one escaping zoek's boundary around tantivy, is a crash.

use std::cell::RefCell;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use zoek_embed::internals::{ModelImage, Parallelism, image_tokenizer_pieces, load_e5_image};
use zoek_embed::{LinearBackend, TextTokenizer};
use zoek_index::{HnswIndex, HnswParams, Metric, Quantization, WriteOptions, write_index};
use zoek_query::{
    AskOptions, BuildOptions, Collection, CollectionWriter, Engine, HashEmbedder, RankMode,
    TokenCounting,
};

/// A target: the fuzzer's bytes in, whether they were accepted all the way out.
pub type Target = fn(&[u8]) -> bool;

/// Every target, by name, for the replay test and the seed writer.
pub const TARGETS: &[(&str, Target)] = &[
    ("model_image", model_image),
    ("tokenizer", tokenizer),
    ("hnsw", hnsw),
    ("collection_manifest", collection_manifest),
    ("segment_manifest", segment_manifest),
    ("tombstones", tombstones),
    ("passage_store", passage_store),
    ("doc_table", doc_table),
    ("arrays", arrays),
    ("collection", collection),
];

thread_local! {
    /// A scratch directory per thread: the fuzzer runs one thread, the replay test one per
    /// target.
    static SCRATCH: tempfile::TempDir = tempfile::tempdir().expect("a scratch directory");
    /// A working copy of the template collection per thread, restored after every input.
    static WORK: RefCell<Option<PathBuf>> = const { RefCell::new(None) };
}

/// zoek contains the panics of its dependencies at its boundary (tantivy and its crates on
/// damaged index files, `tokenizers` on configurations it does not validate) and returns
/// them as errors; the panic hook would still see each one, and libFuzzer's aborts. So
/// panics raised inside a dependency (a crate from a registry) are passed over; every other
/// panic, zoek's own, goes to the previous hook (libFuzzer's aborts), and a dependency's
/// that escapes zoek fails the input too, at libFuzzer's `catch_unwind`.
fn contain_dependency_panics() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let inside = info
                .location()
                .is_some_and(|l| l.file().contains("/registry/src/"));
            if !inside {
                previous(info);
            }
        }));
    });
}

fn scratch_file(name: &str, bytes: &[u8]) -> PathBuf {
    SCRATCH.with(|d| {
        let path = d.path().join(name);
        std::fs::write(&path, bytes).expect("scratch write");
        path
    })
}

// Each target returns whether the input was accepted all the way (opened, loaded, asked):
// the replay test requires that of every seed, so the seeds reach the deep code.

/// E5S1 image: open, read the tokenizer section, load the model on both linear backends
/// and run one forward pass on each.
pub fn model_image(data: &[u8]) -> bool {
    contain_dependency_panics();
    let path = scratch_file("image.bin", data);
    let Ok(image) = ModelImage::open(&path) else {
        return false;
    };
    let mut ok = image_tokenizer_pieces(&image).is_ok();
    for backend in [LinearBackend::Kernel, LinearBackend::Candle] {
        let Ok(image) = ModelImage::open(&path) else {
            return false;
        };
        match load_e5_image(image, backend) {
            Ok(model) => {
                let seqs: [&[u32]; 3] = [&[0, 5, 6, 7, 2], &[0, 2], &[0, 1, 1, 3, 2]];
                ok &= model.forward(&seqs, Parallelism::Serial).is_ok();
            }
            Err(_) => ok = false,
        }
    }
    ok
}

/// `tokenizer.json`: parse, then encode and wrap a few texts.
pub fn tokenizer(data: &[u8]) -> bool {
    contain_dependency_panics();
    let Ok(text) = std::str::from_utf8(data) else {
        return false;
    };
    let Ok(tok) = TextTokenizer::from_json(text) else {
        return false;
    };
    let mut ok = true;
    for t in [
        "Wat belemmert de samenwerking?",
        "qu'est-ce qui freine la coopération ?",
        "",
        "  \u{0}\u{feff}ß ﬁ 日本語 🙂 ",
    ] {
        match tok.content_ids(t) {
            Ok(ids) => ok &= tok.wrap(&ids).len() >= ids.len(),
            Err(_) => ok = false,
        }
    }
    let _ = (tok.open(), tok.close(), tok.specials());
    ok
}

/// HNSW file: open, search and filtered search without verifying first (as a reader that
/// trusts its file does), then verify.
pub fn hnsw(data: &[u8]) -> bool {
    contain_dependency_panics();
    let path = scratch_file("index.hnsw", data);
    let Ok(index) = HnswIndex::open(&path) else {
        return false;
    };
    let dim = index.dim();
    let mut ok = dim <= 4096;
    if ok {
        let q: Vec<f32> = (0..dim).map(|i| ((i * 7 % 13) as f32) - 6.0).collect();
        ok &= index.search(&q, 5, 16).is_ok_and(|h| !h.is_empty());
        ok &= index.search_filtered(&q, 3, 16, &|id| id % 3 != 0).is_ok();
        ok &= index.search_filtered(&q, 3, 16, &|id| id == 1).is_ok();
    }
    let _ = index.len();
    index.verify().is_ok() && ok
}

/// Tombstones: the first byte is the segment's passage count, the rest the file.
pub fn tombstones(data: &[u8]) -> bool {
    contain_dependency_panics();
    let Some((&n, rest)) = data.split_first() else {
        return false;
    };
    let path = scratch_file("del-000001.u32", rest);
    zoek_query::fuzzing::tombstones(&path, usize::from(n)).is_ok()
}

/// Passage store: two bytes give the length of the lines part, the rest are the offsets.
pub fn passage_store(data: &[u8]) -> bool {
    contain_dependency_panics();
    if data.len() < 2 {
        return false;
    }
    let split = (usize::from(u16::from_le_bytes([data[0], data[1]]))).min(data.len() - 2);
    let (lines, offsets) = data[2..].split_at(split);
    let lines = scratch_file("p.passages.jsonl", lines);
    let offsets = scratch_file("p.passages.idx", offsets);
    zoek_query::fuzzing::passage_store(&lines, &offsets, 64).is_ok_and(|n| n > 0)
}

/// Document table of a segment of 16 passages.
pub fn doc_table(data: &[u8]) -> bool {
    contain_dependency_panics();
    zoek_query::fuzzing::doc_table(data, 16).is_ok_and(|n| n > 0)
}

/// An array file, mapped as each kind of array.
pub fn arrays(data: &[u8]) -> bool {
    contain_dependency_panics();
    let path = scratch_file("a.sentences.f32", data);
    zoek_query::fuzzing::arrays(&path).is_ok_and(|n| n > 0)
}

/// `manifest.json` of the template collection replaced by the input.
pub fn collection_manifest(data: &[u8]) -> bool {
    contain_dependency_panics();
    with_work(|dir| replace_and_exercise(dir, Path::new(zoek_query::format::MANIFEST_FILE), data))
}

/// The first segment's `segment.json` replaced by the input.
pub fn segment_manifest(data: &[u8]) -> bool {
    contain_dependency_panics();
    with_work(|dir| replace_and_exercise(dir, &Path::new("seg-000001").join("segment.json"), data))
}

/// One file of the template collection damaged: byte 0 picks the file, byte 1 how
/// (overwrite, truncate, insert, replace whole; 4 and up: unchanged), bytes 2..6 where; the
/// rest is the payload.
pub fn collection(data: &[u8]) -> bool {
    contain_dependency_panics();
    if data.len() < 6 {
        return false;
    }
    let files = &template().files;
    let rel = &files[usize::from(data[0]) % files.len()];
    let at = u32::from_le_bytes([data[2], data[3], data[4], data[5]]) as usize;
    let payload = &data[6..];
    with_work(|dir| {
        let mut bytes = std::fs::read(dir.join(rel)).expect("template file");
        let at = at % (bytes.len() + 1);
        match data[1] {
            0 => {
                for (i, b) in payload.iter().enumerate() {
                    match bytes.get_mut(at + i) {
                        Some(x) => *x = *b,
                        None => bytes.push(*b),
                    }
                }
            }
            1 => bytes.truncate(at),
            2 => {
                bytes.splice(at..at, payload.iter().copied());
            }
            3 => bytes = payload.to_vec(),
            _ => {}
        }
        replace_and_exercise(dir, rel, &bytes)
    })
}

/// Writes `bytes` over `rel` in the working copy, exercises the collection, and puts the
/// original back.
fn replace_and_exercise(dir: &Path, rel: &Path, bytes: &[u8]) -> bool {
    let path = dir.join(rel);
    let original = std::fs::read(&path).expect("template file");
    std::fs::write(&path, bytes).expect("working copy write");
    let ok = exercise(dir).is_ok();
    std::fs::write(&path, original).expect("working copy restore");
    ok
}

/// What a user does with a collection: open, ask in every ranking mode, count, verify.
fn exercise(dir: &Path) -> zoek_query::Result<()> {
    let engine = &template().engine;
    let collection = Collection::open(dir)?;
    for mode in [RankMode::Hybrid, RankMode::Rrf, RankMode::DenseParagraph] {
        let opts = AskOptions {
            k: 5,
            mode,
            ..AskOptions::default()
        };
        collection.ask_with(engine, "wat belemmert de samenwerking?", &opts)?;
    }
    collection.stats()?;
    collection.verify()
}

struct Template {
    _root: tempfile::TempDir,
    dir: PathBuf,
    /// Every file of the collection, relative to it (lock files aside).
    files: Vec<PathBuf>,
    engine: Engine,
}

/// The template: the example corpus as two segments (with HNSW graphs and passage vectors)
/// plus a note deleted again, so there is a tombstone. Built once per process.
fn template() -> &'static Template {
    static T: OnceLock<Template> = OnceLock::new();
    T.get_or_init(|| {
        let root = tempfile::tempdir().expect("template directory");
        let engine = Engine::new(HashEmbedder::default());
        let opts = BuildOptions {
            token_counting: TokenCounting::CharEstimate,
            hnsw_threshold: 1,
            passage_vectors: true,
            ..BuildOptions::default()
        };
        let pages = [
            (
                "status-quo-samenwerking.txt",
                include_str!("../../corpus/status-quo-samenwerking.txt"),
            ),
            (
                "zonder-gedeelde-visie.txt",
                include_str!("../../corpus/zonder-gedeelde-visie.txt"),
            ),
            (
                "notitie.txt",
                "Een notitie\n\nDeze notitie over de samenwerking wordt later verwijderd.\n",
            ),
        ];
        let inputs: Vec<PathBuf> = pages
            .iter()
            .map(|(name, text)| {
                let p = root.path().join(name);
                std::fs::write(&p, text).expect("template input");
                p
            })
            .collect();
        let dir = root.path().join("collection");
        let mut writer = CollectionWriter::open(&dir, &engine, &opts).expect("template writer");
        writer.add(&inputs[..1]).expect("template add");
        writer.commit().expect("template commit");
        writer.add(&inputs[1..]).expect("template add");
        writer.commit().expect("template commit");
        writer.delete(&["notitie.txt"]).expect("template delete");
        writer.commit().expect("template commit");
        drop(writer);
        let mut files = Vec::new();
        list(&dir, &dir, &mut files);
        files.retain(|p| !p.to_string_lossy().ends_with(".lock"));
        // Build ids and tantivy's segment ids are random: order by what a file is, so an
        // input picks the same kind of file in every process.
        files.sort_by_key(|p| {
            let name = p.file_name().map(|n| n.to_string_lossy().into_owned());
            let name = name.unwrap_or_default();
            let kind = name
                .split_once('.')
                .map_or(name.as_str(), |(_, k)| k)
                .to_string();
            (p.parent().map(Path::to_path_buf), kind, name)
        });
        Template {
            _root: root,
            dir,
            files,
            engine,
        }
    })
}

fn list(root: &Path, dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("read_dir") {
        let path = entry.expect("dir entry").path();
        if path.is_dir() {
            list(root, &path, out);
        } else {
            out.push(path.strip_prefix(root).expect("inside").to_path_buf());
        }
    }
}

fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("mkdir");
    for entry in std::fs::read_dir(from).expect("read_dir") {
        let entry = entry.expect("dir entry");
        let target = to.join(entry.file_name());
        if entry.file_type().expect("file type").is_dir() {
            copy_tree(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).expect("copy");
        }
    }
}

/// Runs `f` on this thread's working copy of the template.
fn with_work(f: impl FnOnce(&Path) -> bool) -> bool {
    let dir = WORK.with(|w| {
        w.borrow_mut()
            .get_or_insert_with(|| {
                let dir = SCRATCH.with(|s| s.path().join("work"));
                copy_tree(&template().dir, &dir);
                dir
            })
            .clone()
    });
    f(&dir)
}

/// Starting inputs for `target`: valid files of each kind, written into `fuzz/corpus` by
/// `tests/fuzz_replay.rs` (`write_seeds`) and replayed by it on every run. Every seed is
/// accepted by its target, except the `collection` seeds that damage a file.
pub fn seeds(target: &str) -> Vec<Vec<u8>> {
    let t = template();
    let read = |rel: &str| std::fs::read(t.dir.join(rel)).expect("template file");
    let file_named = |part: &str| -> Vec<u8> {
        let rel = t
            .files
            .iter()
            .find(|p| p.starts_with("seg-000001") && p.to_string_lossy().ends_with(part))
            .unwrap_or_else(|| panic!("no {part} in the template"));
        std::fs::read(t.dir.join(rel)).expect("template file")
    };
    match target {
        "model_image" => vec![tiny_image(4), tiny_image(2)],
        "tokenizer" => vec![
            UNIGRAM_JSON.as_bytes().to_vec(),
            WORDPIECE_JSON.as_bytes().to_vec(),
        ],
        "hnsw" => [
            Quantization::None,
            Quantization::Int8 { rescore: true },
            Quantization::Int8 { rescore: false },
        ]
        .into_iter()
        .map(tiny_index)
        .collect(),
        "collection_manifest" => vec![read(zoek_query::format::MANIFEST_FILE)],
        "segment_manifest" => vec![read("seg-000001/segment.json")],
        "tombstones" => {
            let rel = t
                .files
                .iter()
                .find(|p| p.to_string_lossy().contains("del-"))
                .expect("a tombstone in the template");
            let mut seed = vec![u8::MAX];
            seed.extend(std::fs::read(t.dir.join(rel)).expect("tombstone"));
            vec![seed]
        }
        "passage_store" => {
            let lines = file_named(".passages.jsonl");
            let offsets = file_named(".passages.idx");
            let mut seed = (lines.len().min(usize::from(u16::MAX)) as u16)
                .to_le_bytes()
                .to_vec();
            seed.extend(&lines);
            seed.extend(&offsets);
            vec![seed]
        }
        "doc_table" => vec![file_named(".docs.idx.jsonl")],
        "arrays" => vec![
            file_named(".sentences.u32"),
            file_named(".sentences.f32"),
            file_named(".passages.idx"),
        ],
        // Every file once unchanged (accepted), and once damaged each way.
        "collection" => (0..t.files.len() as u8)
            .flat_map(|i| {
                [
                    vec![i, 4, 0, 0, 0, 0],
                    vec![i, i % 4, 7, 0, 0, 0, 0xff, 0x00, b'{', b'"'],
                ]
            })
            .collect(),
        other => panic!("unknown target {other}"),
    }
}

/// A small HNSW file: 40 vectors of 8 dimensions, a few of them equal.
fn tiny_index(quantization: Quantization) -> Vec<u8> {
    let dim = 8;
    let vectors: Vec<f32> = (0..40 * dim)
        .map(|i| (((i / dim) % 29 * 31 + i % dim * 17) % 23) as f32 - 11.0)
        .collect();
    let ids: Vec<u64> = (0..40).collect();
    let path = SCRATCH.with(|d| d.path().join("seed.hnsw"));
    let params = HnswParams {
        m: 4,
        ef_construction: 16,
        seed: 7,
    };
    write_index(
        &path,
        dim,
        Metric::Cosine,
        &params,
        &ids,
        &vectors,
        &WriteOptions { quantization },
    )
    .expect("seed index");
    std::fs::read(&path).expect("seed index")
}

/// A valid E5S1 image of a tiny 1-layer model (hidden 32, `heads` heads, 8 pieces).
fn tiny_image(heads: i32) -> Vec<u8> {
    const H: usize = 32;
    const FF: usize = 64;
    const VOC: usize = 8;
    const MAXP: usize = 8;
    let mut state = 0x9e37_79b9_7f4a_7c15u64;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        (state >> 16) as u32
    };
    let mut tensors: Vec<(String, u8, usize, Vec<u8>)> = Vec::new();
    let mut f32t = |name: &str, n: usize, around: f32, next: &mut dyn FnMut() -> u32| {
        let bytes = (0..n)
            .flat_map(|_| (around + 0.1 * ((next() % 2001) as f32 / 1000.0 - 1.0)).to_le_bytes())
            .collect();
        tensors.push((name.to_string(), 0u8, n, bytes));
    };
    let mut q4s: Vec<(String, u8, usize, Vec<u8>)> = Vec::new();
    let mut q4 = |name: &str, rows: usize, cols: usize, next: &mut dyn FnMut() -> u32| {
        let mut bytes = Vec::new();
        for _ in 0..rows * cols / 32 {
            bytes.extend_from_slice(&[0x1f, 0x25]); // f16 ≈ 0.02
            bytes.extend((0..16).map(|_| next() as u8));
        }
        q4s.push((name.to_string(), 1u8, rows * cols, bytes));
    };
    q4("emb.word", VOC, H, &mut next);
    f32t("emb.pos", MAXP * H, 0.0, &mut next);
    f32t("emb.type", 2 * H, 0.0, &mut next);
    f32t("emb.ln.w", H, 1.0, &mut next);
    f32t("emb.ln.b", H, 0.0, &mut next);
    for (n, rows, cols) in [
        ("q", H, H),
        ("k", H, H),
        ("v", H, H),
        ("ao", H, H),
        ("fi", FF, H),
        ("fo", H, FF),
    ] {
        q4(&format!("l0.{n}.w"), rows, cols, &mut next);
        f32t(&format!("l0.{n}.b"), rows, 0.0, &mut next);
    }
    for n in ["aln", "oln"] {
        f32t(&format!("l0.{n}.w"), H, 1.0, &mut next);
        f32t(&format!("l0.{n}.b"), H, 0.0, &mut next);
    }
    tensors.extend(q4s);
    let mut out = Vec::new();
    out.extend_from_slice(b"E5S1");
    out.extend_from_slice(&1u32.to_le_bytes());
    for v in [H as i32, 1, heads, FF as i32, VOC as i32, MAXP as i32, 2] {
        out.extend_from_slice(&v.to_le_bytes());
    }
    out.extend_from_slice(&1e-12f32.to_le_bytes());
    out.extend_from_slice(&32i32.to_le_bytes());
    for v in [VOC as i32, 0, 2, 1, 3] {
        out.extend_from_slice(&v.to_le_bytes());
    }
    out.extend_from_slice(&(VOC as u64).to_le_bytes());
    for i in 0..=VOC as u32 {
        out.extend_from_slice(&i.to_le_bytes());
    }
    for _ in 0..VOC {
        out.extend_from_slice(&(-1.0f32).to_le_bytes());
    }
    out.extend((0..VOC).map(|i| b'a' + i as u8));
    out.extend_from_slice(&0i32.to_le_bytes());
    out.extend_from_slice(&0u32.to_le_bytes());
    out.extend_from_slice(&(tensors.len() as i32).to_le_bytes());
    let dir_len: usize = tensors.iter().map(|t| 2 + t.0.len() + 1 + 4 + 8 + 8).sum();
    let mut offset = (out.len() + dir_len).div_ceil(32) * 32;
    let mut data = Vec::new();
    for (name, dtype, n, bytes) in &tensors {
        out.extend_from_slice(&(name.len() as u16).to_le_bytes());
        out.extend_from_slice(name.as_bytes());
        out.push(*dtype);
        out.extend_from_slice(&(*n as u32).to_le_bytes());
        out.extend_from_slice(&(offset as u64).to_le_bytes());
        out.extend_from_slice(&(bytes.len() as u64).to_le_bytes());
        let padded = bytes.len().div_ceil(32) * 32;
        data.extend_from_slice(bytes);
        data.resize(data.len() + padded - bytes.len(), 0);
        offset += padded;
    }
    out.resize(out.len().div_ceil(32) * 32, 0);
    out.extend_from_slice(&data);
    out
}

/// A compact Unigram `tokenizer.json` of the shape zoek writes for e5 (XLM-R specials).
const UNIGRAM_JSON: &str = r#"{"version":"1.0","truncation":null,"padding":null,"added_tokens":[],
"normalizer":{"type":"Sequence","normalizers":[{"type":"Replace","pattern":{"Regex":" {2,}"},"content":" "},{"type":"Nmt"},{"type":"NFKC"}]},
"pre_tokenizer":{"type":"Metaspace","replacement":"▁","prepend_scheme":"always","split":true},
"post_processor":{"type":"TemplateProcessing","single":[{"SpecialToken":{"id":"<s>","type_id":0}},{"Sequence":{"id":"A","type_id":0}},{"SpecialToken":{"id":"</s>","type_id":0}}],"pair":[{"SpecialToken":{"id":"<s>","type_id":0}},{"Sequence":{"id":"A","type_id":0}},{"SpecialToken":{"id":"</s>","type_id":0}},{"Sequence":{"id":"B","type_id":0}},{"SpecialToken":{"id":"</s>","type_id":0}}],"special_tokens":{"<s>":{"id":"<s>","ids":[0],"tokens":["<s>"]},"</s>":{"id":"</s>","ids":[2],"tokens":["</s>"]}}},
"decoder":null,
"model":{"type":"Unigram","unk_id":3,"vocab":[["<s>",0.0],["<pad>",0.0],["</s>",0.0],["<unk>",0.0],["▁",-2.0],["▁de",-3.0],["sam",-4.0],["en",-3.5],["werk",-4.2],["ing",-3.8],["▁wat",-5.0],["?",-4.0],["a",-6.0],["e",-6.0],["s",-6.0]],"byte_fallback":false}}"#;

/// A small BERT WordPiece `tokenizer.json` (the full `tokenizers` path).
const WORDPIECE_JSON: &str = r###"{"version":"1.0","truncation":null,"padding":null,"added_tokens":[{"id":0,"content":"[PAD]","single_word":false,"lstrip":false,"rstrip":false,"normalized":false,"special":true},{"id":1,"content":"[UNK]","single_word":false,"lstrip":false,"rstrip":false,"normalized":false,"special":true},{"id":2,"content":"[CLS]","single_word":false,"lstrip":false,"rstrip":false,"normalized":false,"special":true},{"id":3,"content":"[SEP]","single_word":false,"lstrip":false,"rstrip":false,"normalized":false,"special":true}],
"normalizer":{"type":"BertNormalizer","clean_text":true,"handle_chinese_chars":true,"strip_accents":null,"lowercase":true},
"pre_tokenizer":{"type":"BertPreTokenizer"},
"post_processor":{"type":"TemplateProcessing","single":[{"SpecialToken":{"id":"[CLS]","type_id":0}},{"Sequence":{"id":"A","type_id":0}},{"SpecialToken":{"id":"[SEP]","type_id":0}}],"pair":[{"SpecialToken":{"id":"[CLS]","type_id":0}},{"Sequence":{"id":"A","type_id":0}},{"SpecialToken":{"id":"[SEP]","type_id":0}},{"Sequence":{"id":"B","type_id":1}},{"SpecialToken":{"id":"[SEP]","type_id":1}}],"special_tokens":{"[CLS]":{"id":"[CLS]","ids":[2],"tokens":["[CLS]"]},"[SEP]":{"id":"[SEP]","ids":[3],"tokens":["[SEP]"]}}},
"decoder":{"type":"WordPiece","prefix":"##","cleanup":true},
"model":{"type":"WordPiece","unk_token":"[UNK]","continuing_subword_prefix":"##","max_input_chars_per_word":100,"vocab":{"[PAD]":0,"[UNK]":1,"[CLS]":2,"[SEP]":3,"wat":4,"de":5,"samen":6,"##werking":7,"?":8,"la":9,"co":10,"##op":11}}}"###;
