//! Relevance evaluation: zoek's own question set over the example corpus, and PolicyQA-NL.
//!
//! ```sh
//! cargo run --release --example eval -- [--configs late+ctx,separate] [--split test|tune|all]
//!     [--policyqa 400] [--distractors 1500] [--ask passage_weight=0.5,candidates=30]
//!     [--centering 0,0.6] [--verbose]
//! ```
//!
//! * **Example corpus** (`examples/eval/questions.jsonl`): 88 questions, 22 each in English,
//!   Dutch, German and French, written from the two seed pages, each with the sentence(s)
//!   that answer it; odd ids are the tuning half, even ids the held-out half. They are asked
//!   over the seed pages plus 200 distractor documents (100 PolicyQA pages, 100 nl-laws
//!   paragraphs). A hit answers when its passage (or heading) contains an answer sentence;
//!   the highlight is right when it is (or contains, or lies in) an answer sentence.
//! * **PolicyQA-NL**: the 400 train questions over their 400 pages plus nl-laws distractors;
//!   a question is answered at the rank of its own page among the distinct documents.
//!
//! `--verbose` lists the corpus questions missed at rank 1 (or highlighted wrongly) and the
//! PolicyQA questions whose rank a variant moves against the first variant.
//!
//! Each configuration builds its own collections (exact search), so the figures compare
//! how collections are built (`separate`/`late` sentence vectors, `+ctx` for title and
//! heading in front of passages) under the same ranking. Needs the model and `../shared/data`.

#[path = "../../crates/zoek-query/tests/common/policyqa.rs"]
mod policyqa;

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, Result, bail};
use serde::Deserialize;
use zoek_query::{AskOptions, BuildOptions, Collection, Engine, Hit, SentenceVectors};

#[derive(Deserialize)]
struct Question {
    id: String,
    lang: String,
    question: String,
    answers: Vec<String>,
    split: String,
}

struct Config {
    name: String,
    sentence_vectors: SentenceVectors,
    context_headers: bool,
}

impl Config {
    fn parse(name: &str) -> Result<Self> {
        let (mode, ctx) = match name.strip_suffix("+ctx") {
            Some(m) => (m, true),
            None => (name, false),
        };
        Ok(Self {
            name: name.to_string(),
            sentence_vectors: mode.parse().map_err(anyhow::Error::msg)?,
            context_headers: ctx,
        })
    }

    fn build_options(&self) -> BuildOptions {
        BuildOptions {
            sentence_vectors: self.sentence_vectors,
            context_headers: self.context_headers,
            passage_vectors: true,
            hnsw_threshold: usize::MAX,
            ..BuildOptions::default()
        }
    }
}

struct Args {
    configs: Vec<Config>,
    split: String,
    policyqa: usize,
    distractors: usize,
    ask: AskOptions,
    /// `AskOptions::centering` values, each asked over the same collections.
    centerings: Vec<f32>,
    doc_priors: Vec<f32>,
    demotes: Vec<bool>,
    verbose: bool,
}

const USAGE: &str = "\
Relevance evaluation: zoek's question set over the example corpus, and PolicyQA-NL.

usage: cargo run --release --example eval -- [OPTIONS]

  --configs LIST           builds to compare: separate, late, each with an optional +ctx
                           (default separate,separate+ctx,late,late+ctx)
  --split test|tune|all    which half of the question set (default test)
  --policyqa N             PolicyQA train questions, 0 to skip (default 400)
  --distractors N          nl-laws distractors in the PolicyQA collections (default 1500)
  --ask KEY=VALUE,...      AskOptions: passage_weight, candidates, dense_weight, bm25_weight,
                           rrf_k, doc_prior, demote_questions, mode
  --centering LIST         AskOptions::centering values, each asked over the same builds
  --doc-prior LIST         AskOptions::doc_prior values, likewise
  --demote-questions LIST  AskOptions::demote_questions values (true, false), likewise
  --verbose                list the misses, and the PolicyQA questions a variant moves
  -h, --help               this text
";

/// The arguments; `None` when `--help` was asked for (and printed).
fn parse_args() -> Result<Option<Args>> {
    let mut args = Args {
        configs: ["separate", "separate+ctx", "late", "late+ctx"]
            .iter()
            .map(|n| Config::parse(n))
            .collect::<Result<_>>()?,
        split: "test".into(),
        policyqa: 400,
        distractors: 1500,
        ask: AskOptions::default(),
        centerings: vec![AskOptions::default().centering],
        doc_priors: Vec::new(),
        demotes: Vec::new(),
        verbose: false,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().with_context(|| format!("{flag} needs a value"));
        match flag.as_str() {
            "--configs" => {
                args.configs = value()?
                    .split(',')
                    .map(Config::parse)
                    .collect::<Result<_>>()?
            }
            "--split" => args.split = value()?,
            "--policyqa" => args.policyqa = value()?.parse()?,
            "--distractors" => args.distractors = value()?.parse()?,
            "--ask" => {
                for kv in value()?.split(',') {
                    let (k, v) = kv.split_once('=').context("--ask takes key=value pairs")?;
                    match k {
                        "passage_weight" => args.ask.passage_weight = v.parse()?,
                        "candidates" => args.ask.candidates = v.parse()?,
                        "dense_weight" => args.ask.dense_weight = v.parse()?,
                        "bm25_weight" => args.ask.bm25_weight = v.parse()?,
                        "rrf_k" => args.ask.rrf_k = v.parse()?,
                        "doc_prior" => args.ask.doc_prior = v.parse()?,
                        "demote_questions" => args.ask.demote_questions = v.parse()?,
                        "mode" => args.ask.mode = v.parse().map_err(anyhow::Error::msg)?,
                        other => bail!("unknown ask option {other}"),
                    }
                }
            }
            "--centering" => {
                args.centerings = value()?
                    .split(',')
                    .map(|v| v.parse())
                    .collect::<Result<_, _>>()?
            }
            "--doc-prior" => {
                args.doc_priors = value()?
                    .split(',')
                    .map(|v| v.parse())
                    .collect::<Result<_, _>>()?
            }
            "--demote-questions" => {
                args.demotes = value()?
                    .split(',')
                    .map(|v| v.parse())
                    .collect::<Result<_, _>>()?
            }
            "--verbose" => args.verbose = true,
            "-h" | "--help" => {
                print!("{USAGE}");
                return Ok(None);
            }
            other => bail!("unknown argument {other} (see --help)"),
        }
    }
    if args.doc_priors.is_empty() {
        args.doc_priors = vec![args.ask.doc_prior];
    }
    if args.demotes.is_empty() {
        args.demotes = vec![args.ask.demote_questions];
    }
    Ok(Some(args))
}

/// Every (centering, document prior, question demotion) the run asks with, over the same
/// builds.
fn variants(args: &Args) -> Vec<(f32, f32, bool)> {
    let mut out = Vec::new();
    for &c in &args.centerings {
        for &d in &args.doc_priors {
            for &q in &args.demotes {
                out.push((c, d, q));
            }
        }
    }
    out
}

fn norm(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Whether `hit` contains one of `answers` (normalised) in its text or heading.
fn answers(hit: &Hit, answers: &[String]) -> bool {
    let text = norm(&hit.text);
    let heading = norm(hit.heading.as_deref().unwrap_or(""));
    answers
        .iter()
        .any(|a| text.contains(a) || heading.contains(a))
}

/// Whether the highlight is an answer sentence (or one contains the other).
fn highlight_right(hit: &Hit, answers: &[String]) -> bool {
    let Some(h) = hit.highlight.as_deref().map(norm) else {
        return false;
    };
    !h.is_empty()
        && answers
            .iter()
            .any(|a| a.contains(&h) || h.contains(a.as_str()))
}

#[derive(Default)]
struct Tally {
    n: usize,
    at1: usize,
    at3: usize,
    rr: f64,
    /// Questions whose first hit answers and whose answer is in passage text.
    highlightable: usize,
    highlighted: usize,
}

impl Tally {
    fn row(&self) -> String {
        let n = self.n.max(1) as f64;
        format!(
            "{} | {:.3} | {:.3} | {:.3} | {}",
            self.n,
            self.at1 as f64 / n,
            self.at3 as f64 / n,
            self.rr / n,
            if self.highlightable == 0 {
                "–".to_string()
            } else {
                format!(
                    "{:.3} ({}/{})",
                    self.highlighted as f64 / self.highlightable as f64,
                    self.highlighted,
                    self.highlightable
                )
            }
        )
    }
}

fn main() -> Result<()> {
    let Some(args) = parse_args()? else {
        return Ok(());
    };
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let questions: Vec<Question> =
        std::fs::read_to_string(root.join("examples/eval/questions.jsonl"))?
            .lines()
            .filter(|l| !l.trim().is_empty())
            .map(serde_json::from_str)
            .collect::<Result<_, _>>()?;
    let questions: Vec<Question> = questions
        .into_iter()
        .filter(|q| args.split == "all" || q.split == args.split)
        .collect();
    let engine = Engine::from_model_dir(zoek_embed::default_model_dir())?;
    let work = tempfile::tempdir()?;
    let (seed_dir, distractors) = corpus_inputs(root, work.path())?;
    let qa = if args.policyqa > 0 {
        Some(policyqa::load(args.policyqa, args.distractors).map_err(anyhow::Error::msg)?)
    } else {
        None
    };
    println!(
        "CPU: {}; {} questions ({} split) over the example corpus + 200 distractors; ask {:?}, passage_weight {}, candidates {}",
        cpu_name(),
        questions.len(),
        args.split,
        args.ask.mode,
        args.ask.passage_weight,
        args.ask.candidates
    );
    println!();
    println!(
        "| config | centering / doc prior / demote questions | set | questions | hits@1 | hits@3 | MRR@10 | highlight@1 | build s |"
    );
    println!("|---|---|---|---|---|---|---|---|---|");
    for config in &args.configs {
        let out = work.path().join(format!("corpus-{}", config.name));
        let started = Instant::now();
        engine.build(
            &[seed_dir.clone(), distractors.clone()],
            &out,
            &config.build_options(),
        )?;
        let build_s = started.elapsed().as_secs_f64();
        let collection = Collection::open(&out)?;
        for (centering, doc_prior, demote_questions) in variants(&args) {
            let opts = AskOptions {
                k: 10,
                centering,
                doc_prior,
                demote_questions,
                ..args.ask.clone()
            };
            let mut all = Tally::default();
            let mut by_lang: std::collections::BTreeMap<String, Tally> = Default::default();
            for q in &questions {
                let wanted: Vec<String> = q.answers.iter().map(|a| norm(a)).collect();
                let answer = collection.ask_with(&engine, &q.question, &opts)?;
                let rank = answer.hits.iter().position(|h| answers(h, &wanted));
                let first = answer.hits.first();
                let highlightable = rank == Some(0)
                    && first.is_some_and(|h| wanted.iter().any(|a| norm(&h.text).contains(a)));
                let highlighted =
                    highlightable && first.is_some_and(|h| highlight_right(h, &wanted));
                for t in [&mut all, by_lang.entry(q.lang.clone()).or_default()] {
                    t.n += 1;
                    t.at1 += usize::from(rank == Some(0));
                    t.at3 += usize::from(rank.is_some_and(|r| r < 3));
                    t.rr += rank.map_or(0.0, |r| 1.0 / (r + 1) as f64);
                    t.highlightable += usize::from(highlightable);
                    t.highlighted += usize::from(highlighted);
                }
                if args.verbose && (rank != Some(0) || (highlightable && !highlighted)) {
                    println!(
                        "  {} [{}] {:?}: rank {:?}; first {} / {:?}; highlight {:?}",
                        q.id,
                        q.lang,
                        q.question,
                        rank.map(|r| r + 1),
                        first.map_or("-", |h| h.doc.as_str()),
                        first.and_then(|h| h.heading.as_deref()),
                        first.and_then(|h| h.highlight.as_deref())
                    );
                }
            }
            println!(
                "| {} | {centering} / {doc_prior} / {demote_questions} | corpus ({}) | {} | {build_s:.1} |",
                config.name,
                args.split,
                all.row()
            );
            for (lang, t) in &by_lang {
                println!(
                    "| {} | {centering} / {doc_prior} / {demote_questions} | · {lang} | {} | |",
                    config.name,
                    t.row()
                );
            }
        }
        if let Some(set) = &qa {
            let out = work.path().join(format!("policyqa-{}", config.name));
            let started = Instant::now();
            policyqa::build_opts(&engine, set, work.path(), &out, &config.build_options())?;
            let build_s = started.elapsed().as_secs_f64();
            let collection = Collection::open(&out)?;
            let mut first_ranks: Option<Vec<Option<usize>>> = None;
            for (centering, doc_prior, demote_questions) in variants(&args) {
                let opts = AskOptions {
                    centering,
                    doc_prior,
                    demote_questions,
                    ..args.ask.clone()
                };
                let ranks = policyqa::ranks(&engine, &collection, set, &opts)?;
                let m = policyqa::Metrics::from_ranks(&ranks);
                if args.verbose {
                    // The questions this variant moves against the first one.
                    for (q, (was, now)) in set
                        .questions
                        .iter()
                        .zip(
                            first_ranks
                                .get_or_insert_with(|| ranks.clone())
                                .iter()
                                .zip(&ranks),
                        )
                        .filter(|(_, (was, now))| was != now)
                    {
                        println!(
                            "  PolicyQA {:?} ({}): rank {was:?} -> {now:?}",
                            q.text, q.doc
                        );
                    }
                }
                println!(
                    "| {} | {centering} / {doc_prior} / {demote_questions} | PolicyQA train | {} | {:.3} | {:.3} (@5) | {:.3} | – | {build_s:.1} |",
                    config.name, m.questions, m.recall_at_1, m.recall_at_5, m.mrr_at_10
                );
            }
        }
    }
    Ok(())
}

/// The seed pages (copied, so the ids are their file names) and a JSON-lines file of 200
/// distractors: every fourth PolicyQA page and 100 nl-laws paragraphs.
fn corpus_inputs(root: &Path, work: &Path) -> Result<(PathBuf, PathBuf)> {
    let seed = work.join("seed");
    std::fs::create_dir_all(&seed)?;
    for entry in std::fs::read_dir(root.join("corpus"))? {
        let entry = entry?;
        std::fs::copy(entry.path(), seed.join(entry.file_name()))?;
    }
    let set = policyqa::load(400, 100).map_err(anyhow::Error::msg)?;
    let mut lines = String::new();
    let pages = set
        .documents
        .iter()
        .filter(|(id, _)| id.starts_with("policyqa-"))
        .step_by(4);
    let laws = set
        .documents
        .iter()
        .filter(|(id, _)| id.starts_with("law-"));
    for (id, text) in pages.chain(laws) {
        lines.push_str(&serde_json::to_string(
            &serde_json::json!({ "id": id, "text": text }),
        )?);
        lines.push('\n');
    }
    let distractors = work.join("distractors.jsonl");
    std::fs::write(&distractors, lines)?;
    Ok((seed, distractors))
}

fn cpu_name() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split(':').nth(1))
                .map(|s| s.trim().to_string())
        })
        .unwrap_or_else(|| "unknown CPU".into())
}
