//! The public entry point: a loaded model, its tokenizer and a thread pool.

use std::ops::Range;
use std::path::Path;

use rayon::prelude::*;

use crate::error::EmbedError;
use crate::image::ModelImage;
use crate::late::{self, LatePassage, LateVectors};
use crate::linear::{LinearBackend, Quantize};
use crate::models::bert::{BertEncoder, Parallelism};
use crate::models::e5_image;
use crate::models::hf::HfModel;
use crate::tokenize::TextTokenizer;
use crate::windows::{self, Combiner};

/// Most tokens one forward pass of a passage batch holds; bounds activation memory
/// (~40 KB a token for e5-small) while keeping each weight load amortised over many tokens.
const BATCH_TOKENS: usize = 1024;

/// Options for [`Embedder::from_dir_with`].
#[derive(Debug, Clone, Default)]
pub struct EmbedderOptions {
    /// Worker threads of the embedder's own pool; `None`: all available cores.
    pub threads: Option<usize>,
    /// Implementation of the e5 image's quantised linear layers.
    pub linear: LinearBackend,
    /// How a Hugging Face directory's linear layers run: f32 (default) or Q8_0 through
    /// zoek's int8 kernels. Asking for [`Quantize::Q8`] with the e5 image is an error (it
    /// is 4-bit already).
    pub quantize: Quantize,
    /// Query/passage prefixes; `None`: the model's own (see [`Embedder::from_dir_with`]).
    pub prefixes: Option<Prefixes>,
}

/// Prefixes prepended to queries and passages (the e5 family is trained with them).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Prefixes {
    /// Prepended to queries, e.g. `"query: "`.
    pub query: String,
    /// Prepended to passages, e.g. `"passage: "`.
    pub passage: String,
}

impl Prefixes {
    /// The e5 convention.
    pub fn e5() -> Self {
        Self {
            query: "query: ".into(),
            passage: "passage: ".into(),
        }
    }

    /// No prefixes (sentence-transformers models such as all-MiniLM-L6-v2).
    pub fn none() -> Self {
        Self {
            query: String::new(),
            passage: String::new(),
        }
    }

    /// The e5 prefixes when `name` names an e5 model (a `-`/`/`/`_`-separated part `e5`,
    /// as in `intfloat/multilingual-e5-small`), none otherwise.
    pub fn for_model_name(name: &str) -> Self {
        let is_e5 = name
            .to_ascii_lowercase()
            .split(|c: char| !c.is_ascii_alphanumeric())
            .any(|part| part == "e5");
        if is_e5 { Self::e5() } else { Self::none() }
    }
}

#[derive(serde::Deserialize)]
struct ZoekSettings {
    query_prefix: String,
    passage_prefix: String,
}

enum Encoder {
    Image(Box<BertEncoder>),
    Hf(Box<HfModel>),
}

impl Encoder {
    fn pool(
        &self,
        seqs: &[&[u32]],
        spans: &[&[Range<usize>]],
        par: Parallelism,
    ) -> Result<Vec<Vec<Vec<f32>>>, EmbedError> {
        match self {
            Self::Image(m) => m.pool(seqs, spans, par),
            Self::Hf(m) => m.pool(seqs, spans, par),
        }
    }

    /// Whether batches should run side by side (each single-threaded); candle's ops
    /// parallelise inside one batch instead.
    fn parallel_batches(&self) -> bool {
        match self {
            Self::Image(_) => true,
            Self::Hf(m) => m.parallel_batches(),
        }
    }
}

/// A sentence-embedding model ready to embed text.
///
/// Loads multilingual-e5-small from the 4-bit E5S1 image that `models/fetch` installs, or a
/// Hugging Face BERT/XLM-RoBERTa directory. Vectors are mean-pooled and L2-normalised, so the
/// dot product of two vectors is their cosine similarity.
///
/// ```
/// # fn main() -> Result<(), zoek_embed::EmbedError> {
/// # let dir = zoek_embed::default_model_dir();
/// # if !dir.exists() { eprintln!("skipped: no model in {}", dir.display()); return Ok(()); }
/// use zoek_embed::Embedder;
///
/// let embedder = Embedder::from_dir(zoek_embed::default_model_dir())?;
/// let q = embedder.embed_query("Wat belemmert de samenwerking?")?;
/// let docs = embedder.embed_passages(&[
///     "Zonder gedeelde visie loopt de samenwerking tussen zorgcoöperatie en zorgaanbieder vast.",
///     "De bakker verkoopt brood.",
/// ])?;
/// let score = |d: &[f32]| q.iter().zip(d).map(|(a, b)| a * b).sum::<f32>();
/// assert_eq!(q.len(), embedder.dim());
/// assert!(score(&docs[0]) > score(&docs[1]));
/// # Ok(())
/// # }
/// ```
pub struct Embedder {
    encoder: Encoder,
    tokenizer: TextTokenizer,
    pool: rayon::ThreadPool,
    threads: usize,
    model_id: String,
    dim: usize,
    max_content: usize,
    prefixes: Prefixes,
}

impl std::fmt::Debug for Embedder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Embedder")
            .field("model_id", &self.model_id)
            .field("dim", &self.dim)
            .field("threads", &self.threads)
            .finish_non_exhaustive()
    }
}

#[derive(serde::Deserialize)]
struct Manifest {
    image: String,
    tokenizer: String,
    model: Option<String>,
    quantization: Option<String>,
}

impl Embedder {
    /// Loads the model in `dir` with default options; see [`Embedder::from_dir_with`].
    pub fn from_dir(dir: impl AsRef<Path>) -> Result<Self, EmbedError> {
        Self::from_dir_with(dir, EmbedderOptions::default())
    }

    /// Loads the model in `dir`, recognised by its files:
    ///
    /// * an e5 image directory: `zoek-model.json` naming the E5S1 image and `tokenizer.json`
    ///   (what `models/fetch` writes); prefixes `"query: "` / `"passage: "`;
    /// * a Hugging Face directory: `config.json`, `model.safetensors`, `tokenizer.json` of a
    ///   BERT or XLM-RoBERTa model. Prefixes come from an optional `zoek.json`
    ///   (`{"query_prefix": "query: ", "passage_prefix": "passage: "}`), else the e5 ones when
    ///   the directory's name or `_name_or_path` in `config.json` names an e5 model, else
    ///   none. The fingerprint is `<directory name>/safetensors/sha256:<hash of
    ///   model.safetensors>` (`safetensors-q8_0` with [`Quantize::Q8`], whose vectors differ
    ///   slightly).
    ///
    /// `opts.prefixes` overrides the prefixes in both cases.
    pub fn from_dir_with(dir: impl AsRef<Path>, opts: EmbedderOptions) -> Result<Self, EmbedError> {
        let dir = dir.as_ref();
        let manifest_path = dir.join("zoek-model.json");
        if !manifest_path.is_file() {
            if HfModel::is_hf_dir(dir) {
                return Self::from_hf_dir(dir, opts);
            }
            return Err(EmbedError::ModelNotFound {
                dir: dir.to_path_buf(),
            });
        }
        let text = std::fs::read_to_string(&manifest_path).map_err(|source| EmbedError::Io {
            path: manifest_path.clone(),
            source,
        })?;
        let manifest: Manifest = serde_json::from_str(&text).map_err(|e| EmbedError::Config {
            path: manifest_path.clone(),
            message: e.to_string(),
        })?;
        let image_path = dir.join(&manifest.image);
        if !image_path.is_file() {
            return Err(EmbedError::ModelNotFound {
                dir: dir.to_path_buf(),
            });
        }
        if opts.quantize != Quantize::None {
            return Err(EmbedError::Unsupported(format!(
                "{}: quantisation {:?} applies to Hugging Face directories; the e5 image is \
                 4-bit already",
                dir.display(),
                opts.quantize
            )));
        }
        let tokenizer = TextTokenizer::from_file(&dir.join(&manifest.tokenizer))?;
        let image = ModelImage::open(&image_path)?;
        let hash = crate::store::sha256_path(&image_path)?;
        let model = e5_image::load(image, opts.linear)?;
        let cfg = model.config().clone();
        let name = manifest
            .model
            .as_deref()
            .and_then(|m| m.rsplit('/').next())
            .unwrap_or("e5-image");
        let quant = manifest.quantization.as_deref().unwrap_or("q4_0");
        Self::assemble(
            Encoder::Image(Box::new(model)),
            tokenizer,
            format!("{name}/{quant}/sha256:{hash}"),
            cfg.hidden_size,
            cfg.max_position_embeddings,
            opts.prefixes.clone().unwrap_or_else(Prefixes::e5),
            &opts,
        )
    }

    fn from_hf_dir(dir: &Path, opts: EmbedderOptions) -> Result<Self, EmbedError> {
        let tokenizer = TextTokenizer::from_file(&dir.join("tokenizer.json"))?;
        let model = HfModel::load(dir, opts.quantize)?;
        let dir_name = dir
            .canonicalize()
            .ok()
            .and_then(|d| d.file_name().map(|n| n.to_string_lossy().into_owned()))
            .unwrap_or_else(|| "model".into());
        // The directory names the model as the user installed it; `_name_or_path` often
        // names the checkpoint it was fine-tuned from instead.
        let name = dir_name;
        let settings_path = dir.join("zoek.json");
        let prefixes = if let Some(p) = opts.prefixes.clone() {
            p
        } else if settings_path.is_file() {
            let text =
                std::fs::read_to_string(&settings_path).map_err(|source| EmbedError::Io {
                    path: settings_path.clone(),
                    source,
                })?;
            let s: ZoekSettings = serde_json::from_str(&text).map_err(|e| EmbedError::Config {
                path: settings_path.clone(),
                message: e.to_string(),
            })?;
            Prefixes {
                query: s.query_prefix,
                passage: s.passage_prefix,
            }
        } else {
            let by_dir = Prefixes::for_model_name(&name);
            if by_dir == Prefixes::e5() {
                by_dir
            } else {
                Prefixes::for_model_name(model.name().unwrap_or_default())
            }
        };
        let hash = crate::store::sha256_path(&dir.join("model.safetensors"))?;
        let (dim, max) = (model.hidden(), model.max_tokens());
        Self::assemble(
            Encoder::Hf(Box::new(model)),
            tokenizer,
            match opts.quantize {
                Quantize::None => format!("{name}/safetensors/sha256:{hash}"),
                Quantize::Q8 => format!("{name}/safetensors-q8_0/sha256:{hash}"),
            },
            dim,
            max,
            prefixes,
            &opts,
        )
    }

    fn assemble(
        encoder: Encoder,
        tokenizer: TextTokenizer,
        model_id: String,
        dim: usize,
        max_positions: usize,
        prefixes: Prefixes,
        opts: &EmbedderOptions,
    ) -> Result<Self, EmbedError> {
        let threads = opts
            .threads
            .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
            .max(1);
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .thread_name(|i| format!("zoek-embed-{i}"))
            .build()
            .map_err(|e| EmbedError::ThreadPool(e.to_string()))?;
        let max_content = max_positions.saturating_sub(tokenizer.specials());
        if max_content == 0 {
            return Err(EmbedError::Inconsistent(format!(
                "{max_positions} positions leave no room for content"
            )));
        }
        tracing::debug!(%model_id, threads, "embedder loaded");
        Ok(Self {
            encoder,
            tokenizer,
            pool,
            threads,
            model_id,
            dim,
            max_content,
            prefixes,
        })
    }

    /// Embeds a search query (with the model's query prefix, e.g. `"query: "`), L2-normalised.
    pub fn embed_query(&self, text: &str) -> Result<Vec<f32>, EmbedError> {
        let prefix = &self.prefixes.query;
        let mut out = self
            .pool
            .install(|| with_pool_awake(|| self.embed_texts(&[text], prefix, true)))?;
        out.pop()
            .ok_or_else(|| EmbedError::Inconsistent("no vector for the query".into()))
    }

    /// Embeds passages (with the passage prefix), L2-normalised, in batches spread over the
    /// embedder's threads. The result is in input order.
    pub fn embed_passages(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>, EmbedError> {
        let prefix = &self.prefixes.passage;
        self.pool
            .install(|| self.embed_texts(texts, prefix, texts.len() == 1))
    }

    /// Content tokens of `text` alone: no prefix, no specials.
    pub fn count_tokens(&self, text: &str) -> Result<usize, EmbedError> {
        Ok(self.tokenizer.content_ids(text)?.len())
    }

    /// Content token ids of `text` alone (no prefix, no specials).
    pub fn token_ids(&self, text: &str) -> Result<Vec<u32>, EmbedError> {
        self.tokenizer.content_ids(text)
    }

    /// Vector length.
    pub fn dim(&self) -> usize {
        self.dim
    }

    /// A fingerprint of the model (name, weight format and the weights' sha256); an index
    /// stores it and refuses to be queried with a different model.
    pub fn model_id(&self) -> &str {
        &self.model_id
    }

    /// Threads in the embedder's pool.
    pub fn threads(&self) -> usize {
        self.threads
    }

    /// The prefixes this model uses.
    pub fn prefixes(&self) -> &Prefixes {
        &self.prefixes
    }

    /// Embeds passages with [late chunking](crate::LatePassage): each passage, its context
    /// in front, runs as one forward pass, and each sentence's vector is pooled from its own
    /// tokens in that pass. Vectors are L2-normalised; the result is in input order.
    ///
    /// ```
    /// # fn main() -> Result<(), zoek_embed::EmbedError> {
    /// # let dir = zoek_embed::default_model_dir();
    /// # if !dir.exists() { eprintln!("skipped: no model in {}", dir.display()); return Ok(()); }
    /// use zoek_embed::{Embedder, LatePassage};
    ///
    /// let embedder = Embedder::from_dir(zoek_embed::default_model_dir())?;
    /// let sentences = ["Het dorp wantrouwde de zorgorganisatie.", "Dat belemmerde de samenwerking."];
    /// let out = embedder.embed_late(&[LatePassage { context: "Samenwerking", sentences: &sentences }])?;
    /// assert_eq!(out[0].sentences.len(), 2);
    /// assert_eq!(out[0].passage.len(), embedder.dim());
    /// # Ok(())
    /// # }
    /// ```
    pub fn embed_late(&self, passages: &[LatePassage<'_>]) -> Result<Vec<LateVectors>, EmbedError> {
        let prefix = &self.prefixes.passage;
        self.pool.install(|| {
            let tokenized: Vec<(Vec<u32>, Vec<Vec<u32>>)> = passages
                .par_iter()
                .map(|p| {
                    let head = format!("{prefix}{}", p.context);
                    let head = self.tokenizer.content_ids(head.trim_end())?;
                    let sentences = p
                        .sentences
                        .iter()
                        .map(|s| self.tokenizer.content_ids(s))
                        .collect::<Result<Vec<_>, _>>()?;
                    Ok((head, sentences))
                })
                .collect::<Result<_, EmbedError>>()?;
            let jobs: Vec<late::Job> = tokenized
                .iter()
                .enumerate()
                .flat_map(|(i, (head, sentences))| {
                    late::plan(
                        i,
                        head,
                        sentences,
                        self.tokenizer.open(),
                        self.tokenizer.close(),
                        self.max_content,
                    )
                })
                .collect();
            let seqs: Vec<&[u32]> = jobs.iter().map(|j| j.seq.as_slice()).collect();
            let spans: Vec<&[Range<usize>]> = jobs.iter().map(|j| j.spans.as_slice()).collect();
            let pooled = self.run(&seqs, &spans, passages.len() == 1)?;
            let counts: Vec<usize> = passages.iter().map(|p| p.sentences.len()).collect();
            Ok(late::assemble(
                &jobs,
                &pooled,
                &counts,
                self.dim,
                self.tokenizer.specials(),
            ))
        })
    }

    /// Runs on the embedder's pool.
    fn embed_texts(
        &self,
        texts: &[&str],
        prefix: &str,
        single: bool,
    ) -> Result<Vec<Vec<f32>>, EmbedError> {
        let contents: Vec<Vec<u32>> = texts
            .par_iter()
            .map(|t| self.tokenizer.content_ids(&format!("{prefix}{t}")))
            .collect::<Result<_, _>>()?;
        // (text index, sequence with specials, weight)
        let mut windows: Vec<(usize, Vec<u32>, f32)> = Vec::new();
        for (i, c) in contents.iter().enumerate() {
            for w in windows::split(c, self.max_content) {
                windows.push((i, self.tokenizer.wrap(w), windows::weight(w)));
            }
        }
        let seqs: Vec<&[u32]> = windows.iter().map(|w| w.1.as_slice()).collect();
        let whole: Vec<Range<usize>> = seqs.iter().map(|s| 0..s.len()).collect();
        let spans: Vec<&[Range<usize>]> = whole.iter().map(std::slice::from_ref).collect();
        let pooled = self.run(&seqs, &spans, single)?;
        let mut combiners = vec![Combiner::new(self.dim); texts.len()];
        for ((i, _, wt), p) in windows.iter().zip(&pooled) {
            if let Some(v) = p.first() {
                combiners[*i].add(v, *wt);
            }
        }
        Ok(combiners.into_iter().map(Combiner::finish).collect())
    }

    /// Forward passes over `seqs`, pooling `spans[i]` of each: one pass spread over the pool
    /// for a single input, else batches of similar length side by side. Runs on the
    /// embedder's pool; the result is in input order.
    fn run(
        &self,
        seqs: &[&[u32]],
        spans: &[&[Range<usize>]],
        single: bool,
    ) -> Result<Vec<Vec<Vec<f32>>>, EmbedError> {
        let lens: Vec<usize> = seqs.iter().map(|s| s.len()).collect();
        let pass = |g: &[usize], par: Parallelism| {
            let s: Vec<&[u32]> = g.iter().map(|&j| seqs[j]).collect();
            let sp: Vec<&[Range<usize>]> = g.iter().map(|&j| spans[j]).collect();
            self.encoder.pool(&s, &sp, par)
        };
        let mut out: Vec<Vec<Vec<f32>>> = vec![Vec::new(); seqs.len()];
        let mut place = |g: &[usize], pooled: Vec<Vec<Vec<f32>>>| {
            for (&j, p) in g.iter().zip(pooled) {
                out[j] = p;
            }
        };
        if !self.encoder.parallel_batches() {
            for g in group(&lens, 1) {
                let pooled = pass(&g, Parallelism::Intra)?;
                place(&g, pooled);
            }
        } else if single || self.threads == 1 && seqs.len() == 1 {
            let all: Vec<usize> = (0..seqs.len()).collect();
            let pooled = pass(&all, Parallelism::Intra)?;
            place(&all, pooled);
        } else {
            let groups = group(&lens, self.threads);
            let results: Vec<Vec<Vec<Vec<f32>>>> = groups
                .par_iter()
                .map(|g| pass(g, Parallelism::Serial))
                .collect::<Result<_, _>>()?;
            for (g, pooled) in groups.iter().zip(results) {
                place(g, pooled);
            }
        }
        Ok(out)
    }
}

/// Groups sequence indices into forward passes: similar lengths together (less attention
/// imbalance), at most [`BATCH_TOKENS`] tokens each, and at least as many groups as threads
/// when there is enough work.
fn group(lens: &[usize], threads: usize) -> Vec<Vec<usize>> {
    let mut order: Vec<usize> = (0..lens.len()).collect();
    order.sort_by_key(|&j| std::cmp::Reverse(lens[j]));
    let total: usize = lens.iter().sum();
    let budget = total.div_ceil(threads.max(1)).clamp(1, BATCH_TOKENS);
    let mut groups = Vec::new();
    let mut cur: Vec<usize> = Vec::new();
    let mut cur_tokens = 0;
    for j in order {
        let len = lens[j];
        if !cur.is_empty() && cur_tokens + len > budget {
            groups.push(std::mem::take(&mut cur));
            cur_tokens = 0;
        }
        cur.push(j);
        cur_tokens += len;
    }
    if !cur.is_empty() {
        groups.push(cur);
    }
    groups
}

/// Runs `f` on the current rayon pool while one other worker stays awake, running any work
/// the pool offers and spinning in between, until `f` returns.
///
/// A question is ~50 small parallel regions, each a few tens of µs: a worker left idle for
/// 20 µs goes to sleep, and waking it (a futex and, under a hypervisor, an IPI) took 22–43
/// µs on the machines measured, as long as the region itself. Kept awake, it takes its
/// share within a µs. Only for short calls: the kept worker burns its core meanwhile.
fn with_pool_awake<R: Send>(f: impl FnOnce() -> R + Send) -> R {
    use std::sync::atomic::{AtomicBool, Ordering};
    if rayon::current_num_threads() < 2 {
        return f();
    }
    let done = AtomicBool::new(false);
    rayon::scope(|s| {
        s.spawn(|_| {
            while !done.load(Ordering::Acquire) {
                if rayon::yield_now() != Some(rayon::Yield::Executed) {
                    std::hint::spin_loop();
                }
            }
        });
        let r = f();
        done.store(true, Ordering::Release);
        r
    })
}
