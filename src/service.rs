//! An HTTP service over one collection: `GET /` (a search page), `POST /ask` (JSON in and
//! out), `POST /v1/embeddings` (the OpenAI embeddings API over zoek's model), `POST
//! /refresh` and `GET /health`. [`serve`] runs it; `zoek serve` is that function.
//!
//! The search page is one self-contained HTML file compiled into the binary
//! (`src/web/search.html`: no framework, no CDN, works offline) that calls `/ask` on the
//! same origin. Its Content-Security-Policy allows only that.
//!
//! `/v1/embeddings` takes `{"input": "text" | ["text", …], "model": …, "encoding_format":
//! "float" | "base64", "input_type": "query" | "passage"}` and answers like OpenAI's
//! endpoint (`data[i].embedding`, `usage.prompt_tokens`). e5 models embed questions and
//! documents differently: `input_type` chooses, or a `model` ending in `-query` /
//! `-passage`; the default is `passage`, what a retrieval pipeline indexes.
//!
//! One [`Engine`] and one [`Collection`] snapshot are shared by all requests; answering runs
//! on tokio's blocking pool so slow questions never stall the accept loop. `POST /refresh`
//! picks up what a writer (`zoek add`, `zoek delete`, `zoek compact`, or a
//! `CollectionWriter` elsewhere) has committed since: questions already running finish on
//! the snapshot they started with. Request bodies and `k` are bounded, and every error is a
//! JSON body with a 4xx or 5xx status.
//!
//! Browsers may send a cross-origin `POST` with a form content type and no preflight, so
//! any web page a user opens could reach a service on their loopback: `POST` routes
//! require `Content-Type: application/json` (415 otherwise), which a page cannot send
//! cross-origin without a preflight that this service never answers. At most
//! [`Limits::max_concurrent`] questions run at once; one more is answered 503 with
//! `Retry-After` at once instead of queueing, and a question that takes longer than
//! [`Limits::request_timeout`] is answered 503 too.
//!
//! **Shards.** Over a collection, the service is also a leaf of a sharded deployment:
//! `POST /shard/stats` (`{"question"}` → `{"stats": TermStats | null}`),
//! `/shard/centroid` (`{}` → `{"centroid": Centroid | null}`), `/shard/candidates` ([`ShardQuery`] → [`ShardCandidates`]) and `/shard/fetch`
//! ([`FetchRequest`] → `[FetchedPassage]`), the three phases of [`zoek_query::shard`].
//! A stale fetch or a query from another model is answered 409 with `"kind":
//! "snapshot_changed"` or `"model_mismatch"`. Over a [`ShardSet`] ([`AppState::sharded`],
//! `zoek serve --shards FILE`) it is the root: `/ask` asks every leaf and fuses once; a
//! body with `"partial": true` accepts an answer without a failed leaf, flagged
//! `"partial"` with its `"missing_shards"`; otherwise a failed leaf is a 502.
//!
//! CORS is off: no CORS header is sent, so browsers keep other origins' pages from reading
//! answers. [`AppState::with_cors_origins`] (`zoek serve --cors-origin`) opens it to the
//! origins named, and only to them.
//!
//! With an API key ([`AppState::with_api_key`]), `/ask` and `/refresh` need
//! `Authorization: Bearer <key>` (401 otherwise); `/health` stays open for probes.
//! `/refresh` makes the service reopen files, so it is refused (403) when no key is set.
//! Serve anything but loopback only with a key ([`check_bind`]).

use std::collections::BTreeMap;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use axum::extract::{DefaultBodyLimit, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::json;
use tokio::sync::Semaphore;
use zoek_query::shard::{FetchRequest, ShardQuery};
#[cfg(doc)]
use zoek_query::shard::{FetchedPassage, ShardCandidates};
use zoek_query::{AskOptions, Collection, Engine, QueryError, RankMode};

use crate::shards::ShardSet;

/// Limits applied to every request.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Largest accepted request body in bytes (default 64 KiB).
    pub max_body_bytes: usize,
    /// Largest accepted `k` (default 50).
    pub max_k: usize,
    /// Questions answered at the same time; further ones get 503 with `Retry-After`
    /// (default: four per core).
    pub max_concurrent: usize,
    /// Longest time a question may take before it is answered 503 (default 30 s).
    pub request_timeout: Duration,
    /// Longest time a client may take to send a request's headers before [`serve`] closes
    /// the connection (default 10 s), so half-open connections cannot pile up.
    pub header_read_timeout: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        Self {
            max_body_bytes: 64 * 1024,
            max_k: 50,
            max_concurrent: 4 * cores,
            request_timeout: Duration::from_secs(30),
            header_read_timeout: Duration::from_secs(10),
        }
    }
}

/// What questions are answered from.
#[derive(Clone)]
enum Backend {
    /// The current snapshot of a collection; `/refresh` swaps in a newer one.
    Collection(Arc<RwLock<Arc<Collection>>>),
    /// The leaves of a root.
    Shards(Arc<ShardSet>),
}

/// What the handlers share.
#[derive(Clone)]
pub struct AppState {
    engine: Engine,
    backend: Backend,
    limits: Limits,
    /// One permit per question that may run.
    permits: Arc<Semaphore>,
    /// Bearer token required by `/ask` and `/refresh`, if set.
    api_key: Option<Arc<str>>,
    /// Origins whose web pages may call the service ([`AppState::with_cors_origins`]).
    cors_origins: Arc<[String]>,
}

impl AppState {
    /// State over an engine and an open collection.
    pub fn new(engine: Engine, collection: Collection, limits: Limits) -> Self {
        Self {
            engine,
            backend: Backend::Collection(Arc::new(RwLock::new(Arc::new(collection)))),
            permits: Arc::new(Semaphore::new(limits.max_concurrent)),
            limits,
            api_key: None,
            cors_origins: Arc::from(Vec::new()),
        }
    }

    /// State of a root over the leaves in `shards`; `engine` embeds each question once and
    /// must run the leaves' model.
    pub fn sharded(engine: Engine, shards: ShardSet, limits: Limits) -> Self {
        Self {
            engine,
            backend: Backend::Shards(Arc::new(shards)),
            permits: Arc::new(Semaphore::new(limits.max_concurrent)),
            limits,
            api_key: None,
            cors_origins: Arc::from(Vec::new()),
        }
    }

    /// Requires `Authorization: Bearer <key>` on `/ask` and `/refresh`, and enables
    /// `/refresh`. An empty key counts as none.
    pub fn with_api_key(mut self, key: Option<String>) -> Self {
        self.api_key = key.filter(|k| !k.is_empty()).map(Arc::from);
        self
    }

    /// Lets web pages of these origins (`https://search.example.org`, exactly as a browser
    /// sends `Origin`) call the service: their preflights are answered and their responses
    /// carry `Access-Control-Allow-Origin`. Every other origin gets no CORS header, so
    /// browsers keep its pages from reading answers (and from sending JSON at all).
    pub fn with_cors_origins(mut self, origins: Vec<String>) -> Self {
        let origins: Vec<String> = origins
            .into_iter()
            .map(|o| o.trim().trim_end_matches('/').to_string())
            .filter(|o| !o.is_empty())
            .collect();
        self.cors_origins = Arc::from(origins);
        self
    }

    /// The snapshot new questions are answered from; `None` for a root over shards.
    pub fn snapshot(&self) -> Option<Arc<Collection>> {
        match &self.backend {
            // A poisoned lock still holds a complete snapshot: swapping an Arc cannot tear.
            Backend::Collection(c) => Some(c.read().unwrap_or_else(|e| e.into_inner()).clone()),
            Backend::Shards(_) => None,
        }
    }
}

/// The body of `POST /ask`.
#[derive(Debug, Deserialize)]
pub struct AskRequest {
    /// The question.
    pub question: String,
    /// Number of hits (default 5).
    #[serde(default)]
    pub k: Option<usize>,
    /// A [`RankMode`] name: `hybrid` (default), `rrf`, `sentence-to-parent` (or `dense`),
    /// `dense-paragraph`.
    #[serde(default)]
    pub mode: Option<String>,
    /// Metadata filters, all of which must hold: `{"path": "wetten/", "category": "AMvB"}`
    /// (`path` matches as a prefix, `id` exactly, other fields a `.jsonl` field).
    #[serde(default)]
    pub filter: BTreeMap<String, String>,
    /// On a root over shards: answer without a leaf that fails (the answer says which)
    /// instead of failing (default false).
    #[serde(default)]
    pub partial: bool,
    /// [`AskOptions::centering`], between 0 and 1 (default off).
    #[serde(default)]
    pub centering: Option<f32>,
    /// [`AskOptions::doc_prior`], between 0 and 1 (default off).
    #[serde(default)]
    pub doc_prior: Option<f32>,
    /// [`AskOptions::demote_questions`] (default
    /// [`zoek_query::DEFAULT_DEMOTE_QUESTIONS`], on).
    #[serde(default = "default_demote_questions")]
    pub demote_questions: bool,
}

fn default_demote_questions() -> bool {
    zoek_query::DEFAULT_DEMOTE_QUESTIONS
}

/// Refuses to serve `addr` without an API key unless it is a loopback address: anyone who
/// can reach the port could otherwise ask and refresh.
pub fn check_bind(addr: std::net::SocketAddr, api_key: Option<&str>) -> Result<(), String> {
    if addr.ip().is_loopback() || api_key.is_some_and(|k| !k.is_empty()) {
        Ok(())
    } else {
        Err(format!(
            "refusing to serve {addr} without an API key: bind 127.0.0.1, or set --api-key \
             (or ZOEK_API_KEY)"
        ))
    }
}

/// Equal in time whatever the inputs share, so the key cannot be guessed byte by byte.
fn same_key(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// `None` when the request carries the key (or none is configured); a 401 otherwise.
fn require_key(state: &AppState, headers: &HeaderMap) -> Option<Response> {
    let key = state.api_key.as_deref()?;
    let given = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or("");
    if same_key(given.trim().as_bytes(), key.as_bytes()) {
        None
    } else {
        let mut response = error(
            StatusCode::UNAUTHORIZED,
            "this service needs Authorization: Bearer <api key>",
        );
        response.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            header::HeaderValue::from_static("Bearer"),
        );
        Some(response)
    }
}

/// The service's routes.
pub fn router(state: AppState) -> Router {
    let limit = state.limits.max_body_bytes;
    Router::new()
        .route("/", get(page))
        .route("/health", get(health))
        .route("/ask", post(ask))
        .route("/v1/embeddings", post(embeddings))
        .route("/refresh", post(refresh))
        .route("/shard/stats", post(shard_stats))
        .route("/shard/centroid", post(shard_centroid))
        .route("/shard/candidates", post(shard_candidates))
        .route("/shard/fetch", post(shard_fetch))
        .layer(DefaultBodyLimit::max(limit))
        .layer(axum::middleware::from_fn_with_state(state.clone(), cors))
        .with_state(state)
}

/// CORS for the configured origins only: a preflight from one of them is answered 204 with
/// what it may send; its other requests get `Access-Control-Allow-Origin`. Requests from
/// any other origin pass through without CORS headers.
async fn cors(
    State(state): State<AppState>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let origin = request
        .headers()
        .get(header::ORIGIN)
        .and_then(|o| o.to_str().ok())
        .filter(|o| state.cors_origins.iter().any(|allowed| allowed == o))
        .and_then(|o| header::HeaderValue::from_str(o).ok());
    let Some(origin) = origin else {
        return next.run(request).await;
    };
    let mut response = if request.method() == axum::http::Method::OPTIONS {
        let mut r = StatusCode::NO_CONTENT.into_response();
        let h = r.headers_mut();
        h.insert(
            header::ACCESS_CONTROL_ALLOW_METHODS,
            header::HeaderValue::from_static("GET, POST"),
        );
        h.insert(
            header::ACCESS_CONTROL_ALLOW_HEADERS,
            header::HeaderValue::from_static("content-type, authorization"),
        );
        h.insert(
            header::ACCESS_CONTROL_MAX_AGE,
            header::HeaderValue::from_static("600"),
        );
        r
    } else {
        next.run(request).await
    };
    let h = response.headers_mut();
    h.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin);
    h.insert(header::VARY, header::HeaderValue::from_static("Origin"));
    response
}

/// Serves the app until Ctrl-C (or SIGTERM), refusing a non-loopback address without an
/// API key ([`check_bind`]). `ready` gets the bound address (useful with port 0).
///
/// Connections are HTTP/1.1 through hyper with a timer, so a client that does not finish
/// its headers within [`Limits::header_read_timeout`] is disconnected. On shutdown, open
/// connections get up to 10 s to finish their requests.
pub async fn serve(
    state: AppState,
    addr: std::net::SocketAddr,
    ready: impl FnOnce(std::net::SocketAddr),
) -> std::io::Result<()> {
    check_bind(addr, state.api_key.as_deref()).map_err(std::io::Error::other)?;
    let header_timeout = state.limits.header_read_timeout;
    let listener = tokio::net::TcpListener::bind(addr).await?;
    ready(listener.local_addr()?);
    let app = router(state);
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    let mut stop = std::pin::pin!(shutdown_signal());
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let stream = match accepted {
                    Ok((stream, _)) => stream,
                    Err(e) => {
                        // Out of file descriptors and the like: back off, keep serving.
                        tracing::warn!(error = %e, "accepting a connection failed");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                };
                let service = hyper_util::service::TowerToHyperService::new(app.clone());
                let conn = hyper::server::conn::http1::Builder::new()
                    .timer(hyper_util::rt::TokioTimer::new())
                    .header_read_timeout(header_timeout)
                    .serve_connection(hyper_util::rt::TokioIo::new(stream), service);
                let conn = graceful.watch(conn);
                tokio::spawn(async move {
                    if let Err(e) = conn.await {
                        tracing::debug!(error = %e, "connection ended with an error");
                    }
                });
            }
            () = &mut stop => break,
        }
    }
    tokio::select! {
        () = graceful.shutdown() => {}
        () = tokio::time::sleep(Duration::from_secs(10)) => {}
    }
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {}
        () = term => {}
    }
}

const SEARCH_PAGE: &str = include_str!("web/search.html");

async fn page() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (
                header::CONTENT_SECURITY_POLICY,
                "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; \
                 connect-src 'self'; form-action 'self'; frame-ancestors 'none'",
            ),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        SEARCH_PAGE,
    )
        .into_response()
}

/// The body of `POST /v1/embeddings` (the OpenAI embeddings request).
#[derive(Debug, Deserialize)]
pub struct EmbeddingsRequest {
    /// One text or a list of texts.
    pub input: EmbeddingInput,
    /// Any name; one ending in `-query` or `-passage` chooses the kind of text.
    #[serde(default)]
    pub model: Option<String>,
    /// `"float"` (default) or `"base64"` (little-endian `f32`s, as OpenAI sends them).
    #[serde(default)]
    pub encoding_format: Option<String>,
    /// `"query"` or `"passage"` (default); overrides the model name's suffix.
    #[serde(default)]
    pub input_type: Option<String>,
}

/// `input` of an [`EmbeddingsRequest`].
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub enum EmbeddingInput {
    /// A single text.
    One(String),
    /// Several texts.
    Many(Vec<String>),
}

/// Most texts one embeddings request may carry.
const MAX_EMBEDDING_INPUTS: usize = 256;

async fn embeddings(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    if let Some(refused) = require_key(&state, &headers).or_else(|| require_json(&headers)) {
        return refused;
    }
    let req: EmbeddingsRequest = match json_body(&body) {
        Ok(r) => r,
        Err(refused) => return *refused,
    };
    let texts = match req.input {
        EmbeddingInput::One(t) => vec![t],
        EmbeddingInput::Many(ts) => ts,
    };
    if texts.is_empty() || texts.len() > MAX_EMBEDDING_INPUTS {
        return error(
            StatusCode::BAD_REQUEST,
            format!("input must hold 1 to {MAX_EMBEDDING_INPUTS} texts"),
        );
    }
    if texts.iter().any(|t| t.trim().is_empty()) {
        return error(StatusCode::BAD_REQUEST, "input texts must not be empty");
    }
    let base64 = match req.encoding_format.as_deref() {
        None | Some("float") => false,
        Some("base64") => true,
        Some(other) => {
            return error(
                StatusCode::BAD_REQUEST,
                format!("encoding_format must be \"float\" or \"base64\", not {other:?}"),
            );
        }
    };
    let model_kind = req.model.as_deref().and_then(|m| {
        if m.ends_with("-query") {
            Some("query")
        } else if m.ends_with("-passage") {
            Some("passage")
        } else {
            None
        }
    });
    let query = match req.input_type.as_deref().or(model_kind) {
        None | Some("passage") => false,
        Some("query") => true,
        Some(other) => {
            return error(
                StatusCode::BAD_REQUEST,
                format!("input_type must be \"query\" or \"passage\", not {other:?}"),
            );
        }
    };
    let Ok(permit) = state.permits.clone().try_acquire_owned() else {
        return busy("too many requests at once; try again shortly");
    };
    let engine = state.engine.clone();
    let work = tokio::task::spawn_blocking(move || {
        let _permit = permit;
        let embedder = engine.embedder();
        let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
        let vectors = if query {
            refs.iter()
                .map(|t| embedder.embed_query(t))
                .collect::<Result<Vec<_>, _>>()?
        } else {
            embedder.embed_passages(&refs)?
        };
        let tokens: usize = refs
            .iter()
            .map(|t| embedder.count_tokens(t))
            .sum::<Result<usize, _>>()?;
        Ok::<_, QueryError>((vectors, tokens))
    });
    let Ok(res) = tokio::time::timeout(state.limits.request_timeout, work).await else {
        return busy("the embeddings took too long");
    };
    let (vectors, tokens) = match res {
        Ok(Ok(v)) => v,
        Ok(Err(e)) => return error(StatusCode::INTERNAL_SERVER_ERROR, e),
        Err(e) => {
            return error(
                StatusCode::INTERNAL_SERVER_ERROR,
                format!("worker failed: {e}"),
            );
        }
    };
    let data: Vec<serde_json::Value> = vectors
        .into_iter()
        .enumerate()
        .map(|(i, v)| {
            let embedding = if base64 {
                use base64::Engine as _;
                let bytes: Vec<u8> = v.iter().flat_map(|x| x.to_le_bytes()).collect();
                json!(base64::engine::general_purpose::STANDARD.encode(bytes))
            } else {
                json!(v)
            };
            json!({"object": "embedding", "index": i, "embedding": embedding})
        })
        .collect();
    Json(json!({
        "object": "list",
        "data": data,
        "model": req.model.unwrap_or_else(|| state.engine.model_id().to_string()),
        "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
    }))
    .into_response()
}

async fn health(State(state): State<AppState>) -> Json<serde_json::Value> {
    match &state.backend {
        Backend::Collection(slot) => {
            let snapshot = slot.read().unwrap_or_else(|e| e.into_inner()).clone();
            Json(json!({
                "status": "ok",
                "model": state.engine.model_id(),
                "passages": snapshot.len(),
                "generation": snapshot.generation(),
            }))
        }
        Backend::Shards(set) => Json(json!({
            "status": "ok",
            "model": state.engine.model_id(),
            "shards": set.current().names().collect::<Vec<_>>(),
        })),
    }
}

fn error(status: StatusCode, msg: impl std::fmt::Display) -> Response {
    (status, Json(json!({ "error": msg.to_string() }))).into_response()
}

/// 503 with `Retry-After`: the client may try again in a second.
fn busy(msg: impl std::fmt::Display) -> Response {
    let mut response = error(StatusCode::SERVICE_UNAVAILABLE, msg);
    response
        .headers_mut()
        .insert(header::RETRY_AFTER, header::HeaderValue::from_static("1"));
    response
}

/// The request body as `T`, or a 400 answer saying why it is not one.
fn json_body<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, Box<Response>> {
    serde_json::from_slice(body).map_err(|e| {
        Box::new(error(
            StatusCode::BAD_REQUEST,
            format!("invalid request body: {e}"),
        ))
    })
}

/// `None` when the request says its body is JSON; a 415 answer otherwise.
fn require_json(headers: &HeaderMap) -> Option<Response> {
    let is_json = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("application/json"));
    (!is_json).then(|| {
        error(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "POST requests need Content-Type: application/json",
        )
    })
}

async fn ask(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    if let Some(refused) = require_key(&state, &headers).or_else(|| require_json(&headers)) {
        return refused;
    }
    let req: AskRequest = match json_body(&body) {
        Ok(r) => r,
        Err(refused) => return *refused,
    };
    let k = req.k.unwrap_or(5);
    if k == 0 || k > state.limits.max_k {
        return error(
            StatusCode::BAD_REQUEST,
            format!("k must be between 1 and {}", state.limits.max_k),
        );
    }
    let mode = match req.mode.as_deref().map(str::parse::<RankMode>) {
        None => RankMode::default(),
        Some(Ok(mode)) => mode,
        Some(Err(e)) => return error(StatusCode::BAD_REQUEST, e),
    };
    let centering = req.centering.unwrap_or(zoek_query::DEFAULT_CENTERING);
    if !(0.0..=1.0).contains(&centering) {
        return error(StatusCode::BAD_REQUEST, "centering must be between 0 and 1");
    }
    let doc_prior = req.doc_prior.unwrap_or(zoek_query::DEFAULT_DOC_PRIOR);
    if !(0.0..=1.0).contains(&doc_prior) {
        return error(StatusCode::BAD_REQUEST, "doc_prior must be between 0 and 1");
    }
    let opts = AskOptions {
        k,
        mode,
        centering,
        doc_prior,
        demote_questions: req.demote_questions,
        filters: req.filter.into_iter().collect(),
        ..AskOptions::default()
    };
    // Shed load rather than queue: a permit now, or 503.
    let Ok(permit) = state.permits.clone().try_acquire_owned() else {
        return busy("too many questions at once; try again shortly");
    };
    let engine = state.engine.clone();
    let question = req.question;
    let partial = req.partial;
    let backend = state.backend.clone();
    // The permit goes with the work, so a question that outlives its timeout still counts
    // against the limit until it finishes.
    let work = tokio::task::spawn_blocking(move || {
        let _permit = permit;
        match backend {
            Backend::Collection(c) => {
                let collection = c.read().unwrap_or_else(|e| e.into_inner()).clone();
                collection
                    .ask_with(&engine, &question, &opts)
                    .map(|a| a.to_json())
            }
            Backend::Shards(set) => set
                .current()
                .ask_with(&engine, &question, &opts, partial)
                .map(|a| a.to_json()),
        }
    });
    finish(&state, work, "the question").await
}

/// Waits for `work` within the request timeout and answers its JSON or its error.
async fn finish(
    state: &AppState,
    work: tokio::task::JoinHandle<Result<serde_json::Value, QueryError>>,
    what: &str,
) -> Response {
    let Ok(res) = tokio::time::timeout(state.limits.request_timeout, work).await else {
        return busy(format!(
            "{what} took longer than {} ms",
            state.limits.request_timeout.as_millis()
        ));
    };
    match res {
        Ok(Ok(value)) => Json(value).into_response(),
        Ok(Err(e)) => query_error(e),
        Err(e) => error(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("worker failed: {e}"),
        ),
    }
}

/// The status and body for an error of zoek-query: the caller's mistakes are 4xx, a failed
/// leaf 502, a conflict between phases or models 409 with a `"kind"` a root reads back.
fn query_error(e: QueryError) -> Response {
    let status = match &e {
        QueryError::EmptyQuestion
        | QueryError::QuestionTooLong { .. }
        | QueryError::InvalidOption(_)
        | QueryError::ZeroK
        | QueryError::EmbeddingShape { .. } => StatusCode::BAD_REQUEST,
        QueryError::SnapshotChanged { expected, current } => {
            return (
                StatusCode::CONFLICT,
                Json(json!({
                    "error": e.to_string(),
                    "kind": "snapshot_changed",
                    "expected": expected,
                    "current": current,
                })),
            )
                .into_response();
        }
        QueryError::ModelMismatch { collection, engine } => {
            return (
                StatusCode::CONFLICT,
                Json(json!({
                    "error": e.to_string(),
                    "kind": "model_mismatch",
                    "collection": collection,
                    "engine": engine,
                })),
            )
                .into_response();
        }
        QueryError::Shard { .. } => StatusCode::BAD_GATEWAY,
        _ => StatusCode::INTERNAL_SERVER_ERROR,
    };
    error(status, e)
}

/// Most passages one `/shard/fetch` may ask for (a root asks for at most `k`).
const MAX_FETCH: usize = 256;

/// The body of `POST /shard/stats`.
#[derive(Debug, Deserialize)]
struct StatsRequest {
    question: String,
}

/// Runs one leaf phase: the same key, content type and load shedding as `/ask`, then `f`
/// on the current snapshot in the blocking pool.
async fn leaf<T: serde::de::DeserializeOwned + Send + 'static>(
    state: AppState,
    headers: HeaderMap,
    body: axum::body::Bytes,
    f: impl FnOnce(&Collection, T) -> Result<serde_json::Value, QueryError> + Send + 'static,
) -> Response {
    if let Some(refused) = require_key(&state, &headers).or_else(|| require_json(&headers)) {
        return refused;
    }
    let Some(collection) = state.snapshot() else {
        return error(
            StatusCode::NOT_FOUND,
            "this service is a root over shards, not a leaf",
        );
    };
    let req: T = match json_body(&body) {
        Ok(r) => r,
        Err(refused) => return *refused,
    };
    let Ok(permit) = state.permits.clone().try_acquire_owned() else {
        return busy("too many questions at once; try again shortly");
    };
    let work = tokio::task::spawn_blocking(move || {
        let _permit = permit;
        f(&collection, req)
    });
    finish(&state, work, "the shard request").await
}

fn to_value(v: impl serde::Serialize) -> Result<serde_json::Value, QueryError> {
    serde_json::to_value(v)
        .map_err(|e| QueryError::InvalidOption(format!("unencodable answer: {e}")))
}

async fn shard_stats(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    leaf(state, headers, body, |c, r: StatsRequest| {
        if r.question.len() > zoek_query::DEFAULT_MAX_QUESTION_BYTES {
            return Err(QueryError::QuestionTooLong {
                len: r.question.len(),
                limit: zoek_query::DEFAULT_MAX_QUESTION_BYTES,
            });
        }
        Ok(json!({ "stats": c.term_stats(&r.question)? }))
    })
    .await
}

/// The body of `POST /shard/centroid`: an empty object.
#[derive(Debug, Deserialize)]
struct CentroidRequest {}

async fn shard_centroid(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    leaf(state, headers, body, |c, _: CentroidRequest| {
        Ok(json!({ "centroid": c.centroid() }))
    })
    .await
}

async fn shard_candidates(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    let max_k = state.limits.max_k;
    leaf(state, headers, body, move |c, q: ShardQuery| {
        // Bounded as `/ask` is: a leaf's lists grow with k and the candidate depth.
        let max_candidates = 10 * max_k.max(30);
        if q.k > max_k || q.candidates > max_candidates {
            return Err(QueryError::InvalidOption(format!(
                "k must be at most {max_k}, candidates at most {max_candidates}"
            )));
        }
        to_value(c.candidates(&q)?)
    })
    .await
}

async fn shard_fetch(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    leaf(state, headers, body, |c, r: FetchRequest| {
        if r.passages.len() > MAX_FETCH {
            return Err(QueryError::InvalidOption(format!(
                "at most {MAX_FETCH} passages per fetch"
            )));
        }
        to_value(c.fetch(&r)?)
    })
    .await
}

/// Opens the collection's newest commit next to the current snapshot (sharing the segments
/// both hold) and makes it the one new questions use.
async fn refresh(State(state): State<AppState>, headers: HeaderMap) -> Response {
    if state.api_key.is_none() {
        return error(
            StatusCode::FORBIDDEN,
            "/refresh is enabled only with an API key (--api-key or ZOEK_API_KEY)",
        );
    }
    if let Some(refused) = require_key(&state, &headers).or_else(|| require_json(&headers)) {
        return refused;
    }
    let Backend::Collection(slot) = state.backend.clone() else {
        return error(
            StatusCode::BAD_REQUEST,
            "a root re-reads its shard file whenever the file changes; refresh the leaves",
        );
    };
    let current = slot.read().unwrap_or_else(|e| e.into_inner()).clone();
    let res = tokio::task::spawn_blocking(move || {
        let mut next = (*current).clone();
        next.refresh().map(|changed| (changed, next))
    })
    .await;
    match res {
        Ok(Ok((changed, next))) => {
            let body = json!({
                "changed": changed,
                "generation": next.generation(),
                "passages": next.len(),
            });
            if changed {
                *slot.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(next);
            }
            Json(body).into_response()
        }
        Ok(Err(e)) => error(StatusCode::INTERNAL_SERVER_ERROR, e),
        Err(e) => error(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("worker failed: {e}"),
        ),
    }
}
