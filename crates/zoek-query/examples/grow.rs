//! Growing a collection, measured: (a) a full build of N records against adding 1,000 more
//! to it, in the same run; (b) question latency over a collection of S segments against the
//! same collection after `compact`, in the same run.
//!
//! ```text
//! cargo run --release -p zoek-query --example grow -- \
//!     [--embedder hash|model] [--records 100000] [--add 1000] [--segments 10] \
//!     [--questions 200] [--part a|b|both|q] [--data FILE.jsonl] [--work DIR] \
//!     [--hnsw-threshold SENTENCES]
//! ```
//!
//! Records are the first lines of `--data` (default: `../shared/data/nl-laws/
//! nl_laws_paragraphs.jsonl`); the added records and the questions (the first twelve words of
//! further paragraphs) come after them. `hash` is the model-free hashing embedder, which
//! isolates the indexing cost; `model` is the real e5 model. Prints one JSON object a part.
//! `--part q --work COLLECTION` only measures question latency over an existing collection;
//! `GROW_KEEP_SEGMENTED=DIR` keeps a copy of part (b)'s segmented collection.

use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use zoek_query::{
    AskOptions, BuildOptions, Collection, CollectionWriter, Engine, HashEmbedder, TokenCounting,
};

struct Args {
    embedder: String,
    records: usize,
    add: usize,
    segments: usize,
    questions: usize,
    part: String,
    data: PathBuf,
    work: Option<PathBuf>,
    hnsw_threshold: usize,
}

fn parse() -> Result<Args, String> {
    let mut a = Args {
        embedder: "hash".into(),
        records: 100_000,
        add: 1_000,
        segments: 10,
        questions: 200,
        part: "both".into(),
        data: Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../../shared/data/nl-laws/nl_laws_paragraphs.jsonl"),
        work: None,
        hnsw_threshold: BuildOptions::default().hnsw_threshold,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().ok_or(format!("{flag} needs a value"));
        let number = |v: String| v.parse::<usize>().map_err(|e| format!("{v}: {e}"));
        match flag.as_str() {
            "--embedder" => a.embedder = value()?,
            "--records" => a.records = number(value()?)?,
            "--add" => a.add = number(value()?)?,
            "--segments" => a.segments = number(value()?)?.max(1),
            "--questions" => a.questions = number(value()?)?,
            "--part" => a.part = value()?,
            "--data" => a.data = PathBuf::from(value()?),
            "--work" => a.work = Some(PathBuf::from(value()?)),
            "--hnsw-threshold" => a.hnsw_threshold = number(value()?)?,
            other => return Err(format!("unknown argument {other}")),
        }
    }
    Ok(a)
}

fn write_lines(path: &Path, lines: &[String]) -> std::io::Result<()> {
    let mut f = std::io::BufWriter::new(std::fs::File::create(path)?);
    for l in lines {
        writeln!(f, "{l}")?;
    }
    f.flush()
}

fn copy_dir(from: &Path, to: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(to)?;
    for e in std::fs::read_dir(from)? {
        let e = e?;
        let target = to.join(e.file_name());
        if e.file_type()?.is_dir() {
            copy_dir(&e.path(), &target)?;
        } else {
            std::fs::copy(e.path(), target)?;
        }
    }
    Ok(())
}

fn p50(mut v: Vec<Duration>) -> f64 {
    v.sort();
    v.get(v.len() / 2).map_or(0.0, |d| d.as_secs_f64() * 1e3)
}

/// p50 of the whole question (embedding included) and of the search alone, in ms, and each
/// question's top-5 documents.
struct Latency(f64, f64, Vec<Vec<String>>);

fn latency(
    c: &Collection,
    engine: &Engine,
    questions: &[(String, Vec<f32>)],
) -> Result<Latency, Box<dyn std::error::Error>> {
    let opts = AskOptions::default();
    for (q, _) in questions.iter().take(10) {
        c.ask_with(engine, q, &opts)?;
    }
    let (mut total, mut search, mut tops) = (Vec::new(), Vec::new(), Vec::new());
    for (q, v) in questions {
        let started = Instant::now();
        let a = c.ask_with(engine, q, &opts)?;
        total.push(started.elapsed());
        let started = Instant::now();
        c.search_embedded(q, v, &opts)?;
        search.push(started.elapsed());
        tops.push(a.hits.into_iter().map(|h| h.doc).collect());
    }
    Ok(Latency(p50(total), p50(search), tops))
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args = parse()?;
    let (engine, counting) = match args.embedder.as_str() {
        "hash" => (
            Engine::new(HashEmbedder::default()),
            TokenCounting::CharEstimate,
        ),
        "model" => (Engine::from_default_model()?, TokenCounting::Model),
        other => return Err(format!("--embedder {other}: hash or model").into()),
    };
    let opts = BuildOptions {
        token_counting: counting,
        hnsw_threshold: args.hnsw_threshold,
        ..BuildOptions::default()
    };
    let needed = args.records + args.add + args.questions;
    let file = std::fs::File::open(&args.data)
        .map_err(|e| format!("{}: {e} (see ../shared/README.md)", args.data.display()))?;
    let lines: Vec<String> = std::io::BufReader::new(file)
        .lines()
        .take(needed)
        .collect::<Result<_, _>>()?;
    if lines.len() < needed {
        return Err(format!("{} has fewer than {needed} lines", args.data.display()).into());
    }
    let (base, rest) = lines.split_at(args.records);
    let (extra, held_out) = rest.split_at(args.add);
    let questions: Vec<(String, Vec<f32>)> = held_out
        .iter()
        .filter_map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).ok()?;
            let words: Vec<&str> = v["text"].as_str()?.split_whitespace().take(12).collect();
            let q = words.join(" ");
            let vector = engine.embedder().embed_query(&q).ok()?;
            Some((q, vector))
        })
        .collect();
    if args.part == "q" {
        // Latency only, over an existing collection (for profiling).
        let dir = args
            .work
            .clone()
            .ok_or("--part q needs --work COLLECTION")?;
        let c = Collection::open(&dir)?;
        let Latency(total, search, _) = latency(&c, &engine, &questions)?;
        println!(
            "{}",
            serde_json::json!({"part": "q", "p50_ms": total, "p50_search_ms": search})
        );
        return Ok(());
    }
    let tmp = match &args.work {
        Some(w) => {
            std::fs::create_dir_all(w)?;
            tempfile::tempdir_in(w)?
        }
        None => tempfile::tempdir()?,
    };
    let input = tmp.path().join("input");
    std::fs::create_dir_all(&input)?;
    let base_file = input.join("base.jsonl");
    let extra_file = input.join("extra.jsonl");
    write_lines(&base_file, base)?;
    write_lines(&extra_file, extra)?;

    if args.part == "a" || args.part == "both" {
        let dir = tmp.path().join("a");
        let started = Instant::now();
        let built = engine.build(&[&base_file], &dir, &opts)?;
        let build_s = started.elapsed().as_secs_f64();
        let started = Instant::now();
        let mut writer = CollectionWriter::open(&dir, &engine, &opts)?;
        let added = writer.add(&[&extra_file])?;
        writer.commit()?;
        drop(writer);
        let add_s = started.elapsed().as_secs_f64();
        let c = Collection::open(&dir)?;
        println!(
            "{}",
            serde_json::json!({
                "part": "a",
                "embedder": args.embedder,
                "records": args.records,
                "passages": built.passages,
                "sentences": built.sentences,
                "hnsw": built.hnsw,
                "build_s": build_s,
                "build_embed_s": built.embed_time.as_secs_f64(),
                "added_records": args.add,
                "added_passages": added.passages,
                "added_sentences": added.sentences,
                "added_segment_hnsw": added.hnsw,
                "add_s": add_s,
                "add_embed_s": added.embed_time.as_secs_f64(),
                "add_over_build": add_s / build_s,
                "segments_after": c.manifest().segments.len(),
            })
        );
        std::fs::remove_dir_all(&dir)?;
    }

    if args.part == "b" || args.part == "both" {
        let dir = tmp.path().join("b");
        let chunk = base.len().div_ceil(args.segments);
        let started = Instant::now();
        let mut writer = CollectionWriter::open(&dir, &engine, &opts)?;
        for (i, part) in base.chunks(chunk).enumerate() {
            let f = input.join(format!("part-{i:02}.jsonl"));
            write_lines(&f, part)?;
            writer.add(&[&f])?;
            writer.commit()?;
        }
        let grow_s = started.elapsed().as_secs_f64();
        let segmented = Collection::open(&dir)?;
        let Latency(seg_total, seg_search, seg_tops) = latency(&segmented, &engine, &questions)?;
        let segments = segmented.manifest().segments.len();
        let hnsw_segments = segmented.segments().filter(|s| s.uses_hnsw()).count();
        drop(segmented);
        if let Ok(keep) = std::env::var("GROW_KEEP_SEGMENTED") {
            copy_dir(&dir, Path::new(&keep))?;
        }
        let started = Instant::now();
        writer.compact()?;
        let compact_s = started.elapsed().as_secs_f64();
        drop(writer);
        let merged = Collection::open(&dir)?;
        let Latency(one_total, one_search, one_tops) = latency(&merged, &engine, &questions)?;
        let same_top5 = seg_tops
            .iter()
            .zip(&one_tops)
            .filter(|(a, b)| a == b)
            .count();
        let same_top1 = seg_tops
            .iter()
            .zip(&one_tops)
            .filter(|(a, b)| a.first() == b.first())
            .count();
        println!(
            "{}",
            serde_json::json!({
                "part": "b",
                "embedder": args.embedder,
                "records": args.records,
                "passages": merged.len(),
                "questions": questions.len(),
                "segments": segments,
                "hnsw_segments": hnsw_segments,
                "merged_hnsw": merged.uses_hnsw(),
                "grow_s": grow_s,
                "compact_s": compact_s,
                "p50_ms_segmented": seg_total,
                "p50_ms_merged": one_total,
                "p50_ratio": seg_total / one_total,
                "p50_search_ms_segmented": seg_search,
                "p50_search_ms_merged": one_search,
                "p50_search_ratio": seg_search / one_search,
                "same_top1": same_top1,
                "same_top5": same_top5,
            })
        );
    }
    Ok(())
}
