//! ANN benchmark harness for zoek-index.
//!
//! Reads TEXMEX base / query / ground-truth files (or generates a clustered synthetic
//! set), builds an index, reopens it and prints one JSON line per ef_search:
//! `{"lib","dataset","ef","recall_at_10","qps_1t","qps_all","build_s","open_ms","index_bytes","rss_mb",...}`.
//!
//! ```text
//! cargo run --release -p zoek-index --example ann_bench -- \
//!     --base base.bvecs --query query.bvecs [--gt gt.ivecs] [--metric l2|cosine|dot] \
//!     [--m 16] [--efc 200] [--ef 10,20,40,80,100,200] [--threads 2] [--int8 none|rescore|only] \
//!     [--index out.hnsw] [--seed N] [--hnsw-rs]
//! ann_bench --synthetic 100000,384,1000 --out-dir target/synth100k    # writes base/query/gt .fvecs/.ivecs
//! ann_bench --open-only big.hnsw [--query q.fvecs]                    # open time and RSS growth only
//! ```
//!
//! `rss_mb` is the process's resident set after the queries (it includes the harness's
//! own copy of the base vectors); `open_rss_delta_mb` is the growth caused by `open`.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

use rayon::prelude::*;
use serde_json::json;
use zoek_index::texmex::{self, Vectors};
use zoek_index::{
    HnswIndex, HnswParams, Metric, Quantization, WriteOptions, exact_search, write_index,
};

type Res<T> = Result<T, Box<dyn std::error::Error>>;

fn main() -> Res<()> {
    let args = Args::parse()?;
    if let Some(path) = args.get("open-only") {
        return open_only(Path::new(path), &args);
    }
    if let Some(spec) = args.get("synthetic") {
        let dir = PathBuf::from(args.get("out-dir").ok_or("--synthetic needs --out-dir")?);
        generate_synthetic(spec, &dir, args.metric()?)?;
        if args.flag("gen-only") {
            return Ok(());
        }
        return bench(
            &args,
            &dir.join("base.fvecs"),
            &dir.join("query.fvecs"),
            Some(dir.join("gt.ivecs")),
        );
    }
    let base = PathBuf::from(args.get("base").ok_or("--base is required")?);
    let query = PathBuf::from(args.get("query").ok_or("--query is required")?);
    bench(&args, &base, &query, args.get("gt").map(PathBuf::from))
}

struct Args(HashMap<String, String>);

impl Args {
    fn parse() -> Res<Args> {
        let mut map = HashMap::new();
        let mut it = std::env::args().skip(1).peekable();
        while let Some(a) = it.next() {
            let key = a
                .strip_prefix("--")
                .ok_or_else(|| format!("unexpected argument {a}"))?;
            let value = match it.peek() {
                Some(v) if !v.starts_with("--") => it.next().unwrap_or_default(),
                _ => String::from("true"),
            };
            map.insert(key.to_string(), value);
        }
        Ok(Args(map))
    }
    fn get(&self, k: &str) -> Option<&str> {
        self.0.get(k).map(String::as_str)
    }
    fn flag(&self, k: &str) -> bool {
        self.0.contains_key(k)
    }
    fn num(&self, k: &str, default: usize) -> Res<usize> {
        Ok(self.get(k).map(str::parse).transpose()?.unwrap_or(default))
    }
    fn metric(&self) -> Res<Metric> {
        Ok(match self.get("metric").unwrap_or("l2") {
            "l2" => Metric::L2,
            "cosine" => Metric::Cosine,
            "dot" => Metric::Dot,
            m => return Err(format!("unknown metric {m}").into()),
        })
    }
    fn efs(&self) -> Res<Vec<usize>> {
        Ok(self
            .get("ef")
            .unwrap_or("10,20,40,80,100,200")
            .split(',')
            .map(str::parse)
            .collect::<Result<_, _>>()?)
    }
}

fn rss_mb() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<f64>().ok())
        })
        .map_or(f64::NAN, |kb| kb / 1024.0)
}

fn splitmix64(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

fn gaussian(state: &mut u64) -> f32 {
    let u1 = ((splitmix64(state) >> 11) as f64 + 1.0) / (1u64 << 53) as f64;
    let u2 = (splitmix64(state) >> 11) as f64 / (1u64 << 53) as f64;
    ((-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()) as f32
}

/// Clustered unit vectors: a shared offset (sentence embeddings are anisotropic),
/// 1000 Gaussian cluster centres, and per-point noise; queries come from the same
/// distribution but are not base points.
fn clustered(n: usize, dim: usize, seed: u64, centres: &[f32]) -> Vec<f32> {
    let k = centres.len() / dim;
    let mut out = vec![0f32; n * dim];
    out.par_chunks_mut(dim).enumerate().for_each(|(i, row)| {
        let mut s = seed ^ (i as u64).wrapping_mul(0xA24B_AED4_963E_E407);
        let c = (splitmix64(&mut s) % k as u64) as usize;
        let centre = &centres[c * dim..(c + 1) * dim];
        for (j, x) in row.iter_mut().enumerate() {
            let shared = if j % 7 == 0 { 1.5 } else { 0.0 };
            *x = shared + centre[j] + 0.7 * gaussian(&mut s);
        }
        let norm = row.iter().map(|x| x * x).sum::<f32>().sqrt();
        row.iter_mut().for_each(|x| *x /= norm);
    });
    out
}

fn ground_truth(
    base: &[f32],
    queries: &[f32],
    dim: usize,
    metric: Metric,
    k: usize,
) -> Vec<Vec<u64>> {
    let ids: Vec<u64> = (0..(base.len() / dim) as u64).collect();
    queries
        .par_chunks(dim)
        .map(|q| {
            exact_search(base, dim, &ids, q, k, metric)
                .iter()
                .map(|n| n.id)
                .collect()
        })
        .collect()
}

fn generate_synthetic(spec: &str, dir: &Path, metric: Metric) -> Res<()> {
    let parts: Vec<usize> = spec.split(',').map(str::parse).collect::<Result<_, _>>()?;
    let [n, dim, nq] = parts[..] else {
        return Err("--synthetic wants N,DIM,NQ".into());
    };
    std::fs::create_dir_all(dir)?;
    if dir.join("gt.ivecs").exists() {
        eprintln!("reusing {}", dir.display());
        return Ok(());
    }
    let mut s = 42u64;
    let centres: Vec<f32> = (0..1000 * dim).map(|_| gaussian(&mut s)).collect();
    let t = Instant::now();
    let base = clustered(n, dim, 1, &centres);
    let queries = clustered(nq, dim, 2, &centres);
    let gt = ground_truth(&base, &queries, dim, metric, 100);
    texmex::write_fvecs(&dir.join("base.fvecs"), dim, &base)?;
    texmex::write_fvecs(&dir.join("query.fvecs"), dim, &queries)?;
    let flat: Vec<i32> = gt.iter().flatten().map(|&x| x as i32).collect();
    texmex::write_ivecs(&dir.join("gt.ivecs"), 100, &flat)?;
    eprintln!(
        "generated {n}x{dim} + {nq} queries with ground truth in {:.1}s",
        t.elapsed().as_secs_f64()
    );
    Ok(())
}

/// On-CPU nanoseconds of the calling thread (`/proc/thread-self/schedstat`), so that
/// single-thread QPS can be read net of other processes on a busy machine.
fn thread_cpu_ns() -> Option<u64> {
    std::fs::read_to_string("/proc/thread-self/schedstat")
        .ok()?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

/// Queries per on-CPU second of `pass` on the calling thread (`None` where
/// schedstat is unavailable).
fn timed_cpu<E>(
    min_s: f64,
    n: usize,
    mut pass: impl FnMut() -> Result<(), E>,
) -> Result<Option<f64>, E> {
    let (Some(c0), t) = (thread_cpu_ns(), Instant::now()) else {
        return Ok(None);
    };
    let mut passes = 0;
    while passes == 0 || t.elapsed().as_secs_f64() < min_s {
        pass()?;
        passes += 1;
    }
    Ok(thread_cpu_ns().map(|c1| (passes * n) as f64 / ((c1 - c0) as f64 / 1e9)))
}

/// Queries per second of `pass` (one pass over `n` queries), repeated for at least
/// `min_s` seconds.
fn timed<E>(min_s: f64, n: usize, mut pass: impl FnMut() -> Result<(), E>) -> Result<f64, E> {
    let t = Instant::now();
    let mut passes = 0;
    while passes == 0 || t.elapsed().as_secs_f64() < min_s {
        pass()?;
        passes += 1;
    }
    Ok((passes * n) as f64 / t.elapsed().as_secs_f64())
}

fn recall(found: &[Vec<u64>], gt: &[Vec<u64>], k: usize) -> f64 {
    let hits: usize = found
        .iter()
        .zip(gt)
        .map(|(f, g)| {
            f.iter()
                .take(k)
                .filter(|id| g[..k.min(g.len())].contains(id))
                .count()
        })
        .sum();
    hits as f64 / (found.len() * k) as f64
}

/// Distance under `metric` as the index defines it (see [`Metric`]), computed plainly.
fn plain_distance(metric: Metric, a: &[f32], b: &[f32]) -> f32 {
    let dot: f32 = a.iter().zip(b).map(|(x, y)| x * y).sum();
    match metric {
        Metric::Cosine => {
            let na: f32 = a.iter().map(|x| x * x).sum::<f32>().sqrt();
            let nb: f32 = b.iter().map(|x| x * x).sum::<f32>().sqrt();
            1.0 - dot / (na * nb).max(f32::MIN_POSITIVE)
        }
        Metric::Dot => -dot,
        Metric::L2 => a.iter().zip(b).map(|(x, y)| (x - y) * (x - y)).sum(),
    }
}

/// Recall counted by distance, as ann-benchmarks does: a returned neighbour counts when
/// it is no farther than the k-th true neighbour (plus a small tolerance). Unlike recall
/// by id it does not punish returning one of several equally distant vectors, which
/// matters on data with exact duplicates.
fn recall_by_distance(
    found: &[Vec<u64>],
    gt: &[Vec<u64>],
    base: &Vectors<f32>,
    queries: &[&[f32]],
    metric: Metric,
    k: usize,
) -> f64 {
    let row = |id: u64| &base.data[id as usize * base.dim..][..base.dim];
    let hits: usize = found
        .iter()
        .zip(gt)
        .zip(queries)
        .map(|((f, g), q)| {
            let Some(&kth) = g.get(k.min(g.len()).saturating_sub(1)) else {
                return 0;
            };
            let limit = plain_distance(metric, q, row(kth));
            let limit = limit + 1e-5 * limit.abs().max(1.0);
            f.iter()
                .take(k)
                .filter(|&&id| plain_distance(metric, q, row(id)) <= limit)
                .count()
        })
        .sum();
    hits as f64 / (found.len() * k) as f64
}

fn bench(args: &Args, base_path: &Path, query_path: &Path, gt_path: Option<PathBuf>) -> Res<()> {
    let metric = args.metric()?;
    let (m, efc, k) = (
        args.num("m", 16)?,
        args.num("efc", 200)?,
        args.num("k", 10)?,
    );
    let threads = args.num("threads", rayon::current_num_threads())?;
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()?;
    let base: Vectors<f32> =
        texmex::read_vectors(base_path, args.get("limit").map(str::parse).transpose()?)?;
    let queries = texmex::read_vectors(query_path, None)?;
    let dim = base.dim;
    let gt: Vec<Vec<u64>> = match &gt_path {
        Some(p) if p.exists() && !args.flag("limit") => {
            let g = texmex::read_ivecs(p, None)?;
            (0..g.len())
                .map(|i| g.row(i).iter().map(|&x| x as u64).collect())
                .collect()
        }
        _ => ground_truth(&base.data, &queries.data, dim, metric, k),
    };
    let dataset = args.get("name").map_or_else(
        || {
            base_path
                .file_stem()
                .map_or(String::new(), |s| s.to_string_lossy().into_owned())
        },
        str::to_string,
    );
    let quant = match args.get("int8").unwrap_or("none") {
        "none" => Quantization::None,
        "rescore" => Quantization::Int8 { rescore: true },
        "only" => Quantization::Int8 { rescore: false },
        q => return Err(format!("unknown --int8 {q}").into()),
    };
    let index_path = args.get("index").map_or_else(
        || std::env::temp_dir().join("ann_bench.hnsw"),
        PathBuf::from,
    );
    let params = HnswParams {
        m,
        ef_construction: efc,
        seed: args.num("seed", HnswParams::default().seed as usize)? as u64,
    };
    let ids: Vec<u64> = (0..base.len() as u64).collect();
    let t = Instant::now();
    let stats = if args.flag("reuse") && index_path.exists() {
        // Benchmark an existing index again (search timings only; build_s is 0).
        let existing = HnswIndex::open(&index_path)?;
        zoek_index::IndexStats {
            count: existing.len(),
            nodes: existing.node_count(),
            dim: existing.dim(),
            max_level: existing.max_level(),
            file_bytes: existing.file_len(),
            build_secs: 0.0,
            write_secs: 0.0,
        }
    } else {
        pool.install(|| {
            write_index(
                &index_path,
                dim,
                metric,
                &params,
                &ids,
                &base.data,
                &WriteOptions {
                    quantization: quant,
                },
            )
        })?
    };
    let total_s = t.elapsed().as_secs_f64();
    eprintln!(
        "built {} x {dim} in {:.2}s (+{:.2}s write) on {threads} threads, kernels {}",
        base.len(),
        stats.build_secs,
        stats.write_secs,
        zoek_index::simd_kernels()
    );
    let rss_before = rss_mb();
    let t = Instant::now();
    let index = HnswIndex::open(&index_path)?;
    let open_ms = t.elapsed().as_secs_f64() * 1e3;
    let open_rss_delta_mb = rss_mb() - rss_before;
    let qs: Vec<&[f32]> = queries.data.chunks_exact(dim).collect();
    let min_s = args.num("min-ms", 1000)? as f64 / 1e3;
    for ef in args.efs()? {
        // One warm-up pass pages the index in; timings are for the second pass.
        for q in &qs {
            index.search(q, k, ef)?;
        }
        let found: Vec<Vec<u64>> = qs
            .iter()
            .map(|q| Ok(index.search(q, k, ef)?.iter().map(|n| n.id).collect()))
            .collect::<Res<_>>()?;
        let qps_1t = timed(min_s, qs.len(), || {
            qs.iter().try_for_each(|q| index.search(q, k, ef).map(drop))
        })?;
        let qps_all = timed(min_s, qs.len(), || {
            pool.install(|| {
                qs.par_iter()
                    .try_for_each(|q| index.search(q, k, ef).map(drop))
            })
        })?;
        let qps_1t_cpu = timed_cpu(min_s, qs.len(), || {
            qs.iter().try_for_each(|q| index.search(q, k, ef).map(drop))
        })?;
        println!(
            "{}",
            json!({
                "lib": "zoek", "dataset": dataset, "n": base.len(), "dim": dim, "m": m, "efc": efc,
                "int8": format!("{quant:?}"), "threads": threads,
                "ef": ef, "recall_at_10": recall(&found, &gt, k),
                "recall_at_10_dist": recall_by_distance(&found, &gt, &base, &qs, metric, k),
                "qps_1t": qps_1t.round(), "qps_all": qps_all.round(),
                "qps_1t_cpu": qps_1t_cpu.map(f64::round),
                "build_s": stats.build_secs, "build_write_s": total_s, "open_ms": open_ms,
                "index_bytes": stats.file_bytes, "nodes": stats.nodes, "rss_mb": rss_mb().round(),
                "open_rss_delta_mb": open_rss_delta_mb,
            })
        );
    }
    if args.flag("hnsw-rs") {
        hnsw_rs_peer(
            args, &base, &queries, &gt, &dataset, metric, m, efc, k, &pool,
        )?;
    }
    Ok(())
}

/// Opens an existing index in a fresh process and reports open time and RSS growth,
/// then (with `--query`) the RSS after queries touched part of it.
fn open_only(path: &Path, args: &Args) -> Res<()> {
    let rss0 = rss_mb();
    let t = Instant::now();
    let index = HnswIndex::open(path)?;
    let open_ms = t.elapsed().as_secs_f64() * 1e3;
    let rss1 = rss_mb();
    let mut line = json!({
        "lib": "zoek", "mode": "open-only", "n": index.len(), "dim": index.dim(),
        "index_bytes": index.file_len(), "open_ms": open_ms,
        "rss_before_mb": rss0, "open_rss_delta_mb": rss1 - rss0,
    });
    if let Some(q) = args.get("query") {
        let queries = texmex::read_vectors(Path::new(q), Some(args.num("nq", 100)?))?;
        let ef = args.num("ef-open", 100)?;
        let rss_q = rss_mb();
        let t = Instant::now();
        for row in queries.data.chunks_exact(queries.dim) {
            index.search(row, 10, ef)?;
        }
        let cold_ms = t.elapsed().as_secs_f64() * 1e3 / queries.len() as f64;
        line["queries"] = json!(queries.len());
        line["ef"] = json!(ef);
        line["cold_query_ms"] = json!(cold_ms);
        line["query_rss_delta_mb"] = json!(rss_mb() - rss_q);
    }
    println!("{line}");
    Ok(())
}

#[cfg(feature = "peer-hnsw-rs")]
#[allow(clippy::too_many_arguments)]
fn hnsw_rs_peer(
    args: &Args,
    base: &Vectors<f32>,
    queries: &Vectors<f32>,
    gt: &[Vec<u64>],
    dataset: &str,
    metric: Metric,
    m: usize,
    efc: usize,
    k: usize,
    pool: &rayon::ThreadPool,
) -> Res<()> {
    use hnsw_rs::prelude::*;
    macro_rules! run {
        ($dist:expr) => {{
            let rss0 = rss_mb();
            let hnsw = Hnsw::<f32, _>::new(m, base.len(), 16, efc, $dist);
            let rows: Vec<(&[f32], usize)> = (0..base.len()).map(|i| (base.row(i), i)).collect();
            let t = Instant::now();
            pool.install(|| hnsw.parallel_insert_slice(&rows));
            let build_s = t.elapsed().as_secs_f64();
            let qs: Vec<&[f32]> = queries.data.chunks_exact(queries.dim).collect();
            for ef in args.efs()? {
                for q in &qs {
                    hnsw.search(q, k, ef);
                }
                let found: Vec<Vec<u64>> = qs
                    .iter()
                    .map(|q| hnsw.search(q, k, ef).iter().map(|n| n.d_id as u64).collect())
                    .collect();
                let min_s = args.num("min-ms", 1000)? as f64 / 1e3;
                let qps_1t = timed(min_s, qs.len(), || {
                    qs.iter().for_each(|q| drop(hnsw.search(q, k, ef)));
                    Ok::<(), zoek_index::IndexError>(())
                })?;
                let qps_all = timed(min_s, qs.len(), || {
                    pool.install(|| qs.par_iter().for_each(|q| drop(hnsw.search(q, k, ef))));
                    Ok::<(), zoek_index::IndexError>(())
                })?;
                let qps_1t_cpu = timed_cpu(min_s, qs.len(), || {
                    qs.iter().for_each(|q| drop(hnsw.search(q, k, ef)));
                    Ok::<(), zoek_index::IndexError>(())
                })?;
                println!(
                    "{}",
                    json!({
                        "lib": "hnsw_rs", "dataset": dataset, "n": base.len(), "dim": base.dim,
                        "m": m, "efc": efc, "ef": ef, "recall_at_10": recall(&found, gt, k),
                        "qps_1t": qps_1t.round(), "qps_all": qps_all.round(),
                        "qps_1t_cpu": qps_1t_cpu.map(f64::round), "build_s": build_s,
                        "open_ms": null, "index_bytes": null, "rss_mb": rss_mb().round(),
                        "build_rss_delta_mb": rss_mb() - rss0,
                    })
                );
            }
        }};
    }
    match metric {
        Metric::L2 => run!(DistL2 {}),
        Metric::Cosine => run!(DistCosine {}),
        Metric::Dot => run!(DistDot {}),
    }
    Ok(())
}

#[cfg(not(feature = "peer-hnsw-rs"))]
#[allow(clippy::too_many_arguments)]
fn hnsw_rs_peer(
    _: &Args,
    _: &Vectors<f32>,
    _: &Vectors<f32>,
    _: &[Vec<u64>],
    _: &str,
    _: Metric,
    _: usize,
    _: usize,
    _: usize,
    _: &rayon::ThreadPool,
) -> Res<()> {
    Err("--hnsw-rs needs `--features peer-hnsw-rs`".into())
}
