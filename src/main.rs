//! The `zoek` command-line tool.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use clap::builder::{PossibleValuesParser, TypedValueParser};
use clap::{Args, Parser, Subcommand};
use indicatif::{ProgressBar, ProgressStyle};
use zoek::embed::Embedder;
use zoek::query::{
    AskOptions, BuildOptions, Collection, CollectionWriter, DefaultMergePolicy, Engine, Progress,
    ProgressFn, RankMode, SentenceVectors, Stage,
};

#[derive(Parser)]
#[command(
    name = "zoek",
    version,
    about = "Multilingual semantic search on the CPU"
)]
struct Cli {
    /// Model directory (default: $ZOEK_MODEL_DIR, else models/multilingual-e5-small-q4).
    #[arg(long, global = true)]
    model: Option<PathBuf>,
    /// Do not show progress bars.
    #[arg(long, global = true)]
    quiet: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Embed texts and print their vectors.
    Embed {
        /// Embed as passages ("passage: " prefix) instead of queries.
        #[arg(long)]
        passage: bool,
        /// Print JSON: {"model", "dim", "vectors"}.
        #[arg(long)]
        json: bool,
        /// Texts to embed.
        #[arg(required = true)]
        texts: Vec<String>,
    },
    /// Build a collection from files and directories (.txt, .md, .html, .jsonl).
    Index {
        /// Output collection directory.
        #[arg(long)]
        out: PathBuf,
        /// Files or directories to index.
        #[arg(required = true)]
        paths: Vec<PathBuf>,
        #[command(flatten)]
        build: BuildArgs,
    },
    /// Add files and directories to a collection (created if absent): new and changed
    /// documents go into a new segment, unchanged ones are skipped.
    Add {
        /// Collection directory.
        #[arg(long)]
        index: PathBuf,
        /// Files or directories to add.
        #[arg(required = true)]
        paths: Vec<PathBuf>,
        /// How a new collection is built (an existing one keeps its own settings).
        #[command(flatten)]
        build: BuildArgs,
        /// Do not merge small segments or segments with many deletions after adding.
        #[arg(long)]
        no_merge: bool,
    },
    /// Delete documents by id (the path relative to the indexed directory, or a JSON-lines
    /// record's id) or every document of a file by its path.
    Delete {
        /// Collection directory.
        #[arg(long)]
        index: PathBuf,
        /// Document ids or file paths.
        #[arg(required = true)]
        ids: Vec<String>,
    },
    /// Merge all segments into one, dropping deleted passages.
    Compact {
        /// Collection directory.
        #[arg(long)]
        index: PathBuf,
    },
    /// Check every file of a collection (checksums, graphs, BM25 files, tombstones); exits
    /// non-zero naming the first damaged file.
    Verify {
        /// Collection directory.
        #[arg(long)]
        index: PathBuf,
    },
    /// Show segments, passages, tombstones and bytes.
    Stats {
        /// Collection directory.
        #[arg(long)]
        index: PathBuf,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Ask a question; without --index, over the example corpus shipped with zoek.
    Ask {
        /// Collection directory built with `zoek index`.
        #[arg(long)]
        index: Option<PathBuf>,
        /// Number of passages to return.
        #[arg(short, default_value_t = 3)]
        k: usize,
        /// Ranking: hybrid (default), rrf, sentence-to-parent (or dense), dense-paragraph.
        #[arg(long, default_value = "hybrid", value_parser = mode_parser())]
        mode: RankMode,
        /// Print JSON.
        #[arg(long)]
        json: bool,
        /// Only passages of documents with this metadata, as field=value (repeatable; all
        /// must hold). `path=PREFIX` matches the file path as a prefix, `id=ID` the id, any
        /// other field a JSON-lines field.
        #[arg(long = "filter", value_name = "FIELD=VALUE")]
        filters: Vec<String>,
        /// The question.
        #[arg(required = true, num_args = 1..)]
        question: Vec<String>,
    },
}

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("ZOEK_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("zoek: error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn model_dir(cli_model: &Option<PathBuf>) -> PathBuf {
    cli_model
        .clone()
        .unwrap_or_else(zoek::embed::default_model_dir)
}

/// `--mode`: the names [`RankMode`] parses, listed in `--help`.
fn mode_parser() -> impl TypedValueParser<Value = RankMode> {
    let names = RankMode::NAMES.into_iter().chain(["dense"]);
    PossibleValuesParser::new(names).try_map(|name| name.parse::<RankMode>())
}

/// How a new collection is cut and embedded.
#[derive(Debug, Args)]
struct BuildArgs {
    /// Maximum passage length in tokens.
    #[arg(long, default_value_t = 256)]
    max_tokens: usize,
    /// How sentence vectors are made: "separate" embeds every sentence on its own; "late"
    /// pools each sentence out of its passage's forward pass (one pass per passage, ~1.7×
    /// faster builds, somewhat weaker cross-lingual answers).
    #[arg(long, default_value = "separate", value_parser = sentence_vectors_parser())]
    sentence_vectors: SentenceVectors,
    /// Embed passages with their document title and section heading in front.
    #[arg(long)]
    context_headers: bool,
}

fn sentence_vectors_parser() -> impl TypedValueParser<Value = SentenceVectors> {
    PossibleValuesParser::new(SentenceVectors::NAMES)
        .try_map(|name| name.parse::<SentenceVectors>())
}

fn run(cli: Cli) -> Result<()> {
    let model = cli.model;
    let quiet = cli.quiet;
    match cli.command {
        Command::Embed {
            passage,
            json,
            texts,
        } => embed(&model, passage, json, &texts),
        Command::Index { out, paths, build } => index(&model, quiet, &out, &paths, &build),
        Command::Add {
            index,
            paths,
            build,
            no_merge,
        } => add(&model, quiet, &index, &paths, &build, no_merge),
        Command::Delete { index, ids } => delete(&index, &ids),
        Command::Compact { index } => compact(quiet, &index),
        Command::Verify { index } => verify(&index),
        Command::Stats { index, json } => stats(&index, json),
        Command::Ask {
            index,
            k,
            mode,
            json,
            filters,
            question,
        } => {
            let opts = AskOptions {
                k,
                mode,
                filters: parse_filters(&filters)?,
                ..AskOptions::default()
            };
            ask(
                &model,
                quiet,
                index.as_deref(),
                &question.join(" "),
                &opts,
                json,
            )
        }
    }
}

fn embed(model: &Option<PathBuf>, passage: bool, json: bool, texts: &[String]) -> Result<()> {
    let embedder = Embedder::from_dir(model_dir(model))?;
    let vectors = if passage {
        let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
        embedder.embed_passages(&refs)?
    } else {
        texts
            .iter()
            .map(|t| embedder.embed_query(t))
            .collect::<Result<Vec<_>, _>>()?
    };
    if json {
        let out = serde_json::json!({
            "model": embedder.model_id(),
            "dim": embedder.dim(),
            "vectors": vectors,
        });
        println!("{out}");
    } else {
        for (t, v) in texts.iter().zip(&vectors) {
            let head: Vec<String> = v.iter().take(6).map(|x| format!("{x:+.4}")).collect();
            println!("{t}\n  dim={} [{} …]", v.len(), head.join(", "));
        }
    }
    Ok(())
}

fn index(
    model: &Option<PathBuf>,
    quiet: bool,
    out: &Path,
    paths: &[PathBuf],
    build: &BuildArgs,
) -> Result<()> {
    let (engine, opts, bar) = for_building(model, quiet, build)?;
    let stats = engine.build(paths, out, &opts);
    finish(bar);
    let stats = stats?;
    for s in &stats.skipped {
        eprintln!("zoek: skipped {s:?}");
    }
    println!(
        "indexed {} documents, {} passages, {} sentences into {} in {:.1}s{}",
        stats.documents,
        stats.passages,
        stats.sentences,
        stats.dir.display(),
        stats.total_time.as_secs_f64(),
        if stats.hnsw { " (HNSW)" } else { "" }
    );
    Ok(())
}

fn add(
    model: &Option<PathBuf>,
    quiet: bool,
    index: &Path,
    paths: &[PathBuf],
    build: &BuildArgs,
    no_merge: bool,
) -> Result<()> {
    let (engine, opts, bar) = for_building(model, quiet, build)?;
    let result = CollectionWriter::open(index, &engine, &opts).and_then(|mut w| {
        let stats = w.add(paths)?;
        let mut generation = w.commit()?;
        // Readers already see the commit; the merge publishes its own.
        let merged = if no_merge {
            None
        } else {
            w.merge(&DefaultMergePolicy::default())?
        };
        if let Some(m) = &merged {
            generation = m.generation;
        }
        Ok((stats, generation, merged))
    });
    finish(bar);
    let (stats, generation, merged) =
        result.with_context(|| format!("adding to {}", index.display()))?;
    for s in &stats.skipped {
        eprintln!("zoek: skipped {s:?}");
    }
    println!(
        "added {}, updated {}, unchanged {}, removed {} documents; {} passages{} (generation {generation})",
        stats.added,
        stats.updated,
        stats.unchanged,
        stats.removed,
        stats.passages,
        stats
            .segment
            .as_deref()
            .map(|s| format!(" into {s}"))
            .unwrap_or_default(),
    );
    if let Some(m) = merged {
        println!(
            "merged {} segments into {}",
            m.merged.len(),
            m.into.as_deref().unwrap_or("nothing (no live passage)")
        );
    }
    Ok(())
}

fn delete(index: &Path, ids: &[String]) -> Result<()> {
    let mut writer = CollectionWriter::open_without_model(index, &BuildOptions::default())
        .with_context(|| format!("opening the collection {}", index.display()))?;
    let deleted = writer.delete(ids)?;
    let generation = writer.commit()?;
    println!("deleted {deleted} documents (generation {generation})");
    Ok(())
}

fn compact(quiet: bool, index: &Path) -> Result<()> {
    let (progress, bar) = progress_bar(quiet);
    let opts = BuildOptions {
        progress,
        ..BuildOptions::default()
    };
    let result = CollectionWriter::open_without_model(index, &opts).and_then(|mut w| w.compact());
    finish(bar);
    match result.with_context(|| format!("compacting {}", index.display()))? {
        Some(m) => println!(
            "merged {} segments into {}: {} passages, {} deleted passages reclaimed (generation {})",
            m.merged.len(),
            m.into.as_deref().unwrap_or("nothing (no live passage)"),
            m.passages,
            m.reclaimed_passages,
            m.generation
        ),
        None => println!("nothing to compact: one segment without deletions"),
    }
    Ok(())
}

fn verify(index: &Path) -> Result<()> {
    let collection = Collection::open(index)
        .with_context(|| format!("opening the collection {}", index.display()))?;
    collection
        .verify()
        .with_context(|| format!("verifying {}", index.display()))?;
    let stats = collection.stats()?;
    println!(
        "{}: ok — generation {}, {} segments, {} passages, {} bytes checked",
        index.display(),
        stats.generation,
        stats.segments.len(),
        stats.passages,
        stats.bytes
    );
    Ok(())
}

fn stats(index: &Path, json: bool) -> Result<()> {
    let collection = Collection::open(index)
        .with_context(|| format!("opening the collection {}", index.display()))?;
    let stats = collection.stats()?;
    if json {
        println!("{}", serde_json::to_string(&stats)?);
        return Ok(());
    }
    println!(
        "{}: generation {}, {} segments, {} live documents, {} passages ({} live, {} tombstones), {} bytes",
        index.display(),
        stats.generation,
        stats.segments.len(),
        stats.live_documents,
        stats.passages,
        stats.live_passages,
        stats.tombstones,
        stats.bytes
    );
    for s in &stats.segments {
        println!(
            "  {}: {} documents, {} passages ({} live, {} tombstones), {} sentences{}, {} bytes",
            s.name,
            s.documents,
            s.passages,
            s.live_passages,
            s.tombstones,
            s.sentences,
            if s.hnsw { " (HNSW)" } else { "" },
            s.bytes
        );
    }
    Ok(())
}

/// `--filter FIELD=VALUE` arguments as `(field, value)` pairs.
fn parse_filters(filters: &[String]) -> Result<Vec<(String, String)>> {
    filters
        .iter()
        .map(|f| match f.split_once('=') {
            Some((field, value)) if !field.trim().is_empty() => {
                Ok((field.trim().to_string(), value.to_string()))
            }
            _ => bail!("--filter {f:?} is not FIELD=VALUE"),
        })
        .collect()
}

fn ask(
    model: &Option<PathBuf>,
    quiet: bool,
    index: Option<&Path>,
    question: &str,
    opts: &AskOptions,
    json: bool,
) -> Result<()> {
    // Open the collection first: a missing index is reported before the model loads.
    let collection = match index {
        Some(dir) => Some(
            Collection::open(dir)
                .with_context(|| format!("opening the collection {}", dir.display()))?,
        ),
        None => None,
    };
    let engine = Engine::from_model_dir(model_dir(model))?;
    let collection = match collection {
        Some(c) => c,
        None => {
            let (progress, bar) = progress_bar(quiet);
            let c = zoek::example::open_example(&engine, progress);
            finish(bar);
            c.context("building the example collection")?
        }
    };
    let answer = collection.ask_with(&engine, question, opts)?;
    if json {
        println!("{}", answer.to_json());
    } else {
        print_answer(&answer);
    }
    Ok(())
}

fn finish(bar: Option<ProgressBar>) {
    if let Some(bar) = bar {
        bar.finish_and_clear();
    }
}

fn print_answer(answer: &zoek::Answer) {
    println!("{}", answer.question);
    for hit in &answer.hits {
        println!();
        println!(
            "{}. [{:.3}] {}{}",
            hit.rank,
            hit.score,
            hit.doc,
            hit.heading
                .as_deref()
                .map(|h| format!(" — {h}"))
                .unwrap_or_default()
        );
        if let Some(h) = &hit.highlight {
            println!("   » {h}");
        }
        println!("   {}", hit.text);
    }
    let t = &answer.timings;
    println!(
        "\n(embed {:.1} ms, search {:.1} ms, total {:.1} ms)",
        ms(t.embed),
        ms(t.search),
        ms(t.total)
    );
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

/// The model and build options (with a progress bar unless `--quiet`) for `index` and `add`.
fn for_building(
    model: &Option<PathBuf>,
    quiet: bool,
    build: &BuildArgs,
) -> Result<(Engine, BuildOptions, Option<ProgressBar>)> {
    let engine = Engine::from_model_dir(model_dir(model))?;
    let (progress, bar) = progress_bar(quiet);
    let opts = BuildOptions {
        max_tokens: build.max_tokens,
        sentence_vectors: build.sentence_vectors,
        context_headers: build.context_headers,
        progress,
        ..BuildOptions::default()
    };
    Ok((engine, opts, bar))
}

fn progress_bar(quiet: bool) -> (Option<ProgressFn>, Option<ProgressBar>) {
    if quiet {
        return (None, None);
    }
    let bar = ProgressBar::new(0);
    bar.set_style(
        ProgressStyle::with_template("{msg:>20} [{bar:40}] {pos}/{len} {elapsed}")
            .expect("static template")
            .progress_chars("=> "),
    );
    let b = bar.clone();
    let f: ProgressFn = Arc::new(move |p: Progress| {
        let msg = match p.stage {
            Stage::Reading => "reading",
            Stage::EmbeddingSentences => "embedding sentences",
            Stage::EmbeddingPassages => "embedding passages",
            Stage::Writing => "writing",
        };
        b.set_message(msg);
        b.set_length(p.total as u64);
        b.set_position(p.done as u64);
    });
    (Some(f), Some(bar))
}
