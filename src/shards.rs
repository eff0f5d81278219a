//! The root of a sharded deployment: a [`Shard`] over HTTP ([`RemoteShard`], a client of
//! a leaf — an ordinary `zoek serve --index DIR`) and the list of leaves ([`ShardSet`]),
//! read from a file that an operator replaces atomically to change it.
//!
//! A leaf answers the three phases of [`zoek_query::shard`] on `POST /shard/stats` and
//! `/shard/centroid`, `/shard/candidates` and `/shard/fetch` (see [`crate::service`]); the root fuses and
//! serves `POST /ask` like a single collection, with each hit's shard and a `"partial"`
//! flag. Every call to a leaf has its own timeout, so a dead or hung leaf costs at most
//! that long.
//!
//! The shard file is JSON: a list of leaf URLs, or `{"shards": [URL, …]}`. The order is the
//! order that breaks ties. Leaves are plain HTTP (`http://host:port`); put them on a
//! private network or loopback, and give them an API key when they bind anything else.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use serde::Serialize;
use serde::de::DeserializeOwned;
use zoek_query::shard::{
    FetchRequest, FetchedPassage, Shard, ShardCandidates, ShardQuery, ShardedCollection, TermStats,
};
use zoek_query::{Centroid, QueryError};

/// A leaf service, asked over HTTP.
#[derive(Debug)]
pub struct RemoteShard {
    url: String,
    agent: ureq::Agent,
    api_key: Option<String>,
}

impl RemoteShard {
    /// A client of the leaf at `url` (`http://host:port`), waiting at most `timeout` for
    /// each call, sending `Authorization: Bearer <api_key>` when given.
    pub fn new(url: &str, timeout: Duration, api_key: Option<String>) -> Result<Self, String> {
        let url = url.trim().trim_end_matches('/').to_string();
        let rest = url
            .strip_prefix("http://")
            .ok_or_else(|| format!("shard URL {url:?} must start with http://"))?;
        if rest.is_empty() || rest.contains(['/', '?', '#', ' ']) {
            return Err(format!(
                "shard URL {url:?} must be http://host:port, without a path"
            ));
        }
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .timeout_global(Some(timeout))
            .http_status_as_error(false)
            .build()
            .into();
        Ok(Self {
            url,
            agent,
            api_key: api_key.filter(|k| !k.is_empty()),
        })
    }

    /// The leaf's URL.
    pub fn url(&self) -> &str {
        &self.url
    }

    fn failed(&self, reason: impl std::fmt::Display) -> QueryError {
        QueryError::Shard {
            shard: self.url.clone(),
            reason: reason.to_string(),
        }
    }

    /// `GET /health` of the leaf: its model, passages and generation.
    pub fn health(&self) -> zoek_query::Result<serde_json::Value> {
        let mut response = self
            .agent
            .get(format!("{}/health", self.url))
            .call()
            .map_err(|e| self.failed(e))?;
        if response.status() != 200 {
            return Err(self.failed(format!("/health answered {}", response.status())));
        }
        response
            .body_mut()
            .read_json()
            .map_err(|e| self.failed(format!("unreadable /health answer: {e}")))
    }

    fn post<B: Serialize, T: DeserializeOwned>(
        &self,
        path: &str,
        body: &B,
    ) -> zoek_query::Result<T> {
        let mut request = self
            .agent
            .post(format!("{}{path}", self.url))
            .header("Content-Type", "application/json");
        if let Some(key) = &self.api_key {
            request = request.header("Authorization", format!("Bearer {key}"));
        }
        let mut response = request.send_json(body).map_err(|e| self.failed(e))?;
        let status = response.status().as_u16();
        if status == 200 {
            return response
                .body_mut()
                .read_json()
                .map_err(|e| self.failed(format!("unreadable answer from {path}: {e}")));
        }
        let body: serde_json::Value = response
            .body_mut()
            .read_json()
            .unwrap_or(serde_json::Value::Null);
        let text = |field: &str| body[field].as_str().unwrap_or_default().to_string();
        Err(match body["kind"].as_str() {
            Some("snapshot_changed") => QueryError::SnapshotChanged {
                expected: body["expected"].as_u64().unwrap_or(0),
                current: body["current"].as_u64().unwrap_or(0),
            },
            Some("model_mismatch") => QueryError::ModelMismatch {
                collection: text("collection"),
                engine: text("engine"),
            },
            _ => self.failed(format!("{path} answered {status}: {}", text("error"))),
        })
    }
}

#[derive(Serialize)]
struct StatsRequest<'a> {
    question: &'a str,
}

#[derive(serde::Deserialize)]
struct StatsAnswer {
    stats: Option<TermStats>,
}

#[derive(serde::Deserialize)]
struct CentroidAnswer {
    // null from a leaf whose collection has no centroid (a segment predates it).
    centroid: Option<Centroid>,
}

impl Shard for RemoteShard {
    fn term_stats(&self, question: &str) -> zoek_query::Result<Option<TermStats>> {
        let answer: StatsAnswer = self.post("/shard/stats", &StatsRequest { question })?;
        Ok(answer.stats)
    }

    fn centroid(&self) -> zoek_query::Result<Option<Centroid>> {
        let answer: CentroidAnswer = self.post("/shard/centroid", &serde_json::json!({}))?;
        Ok(answer.centroid)
    }

    fn candidates(&self, query: &ShardQuery) -> zoek_query::Result<ShardCandidates> {
        self.post("/shard/candidates", query)
    }

    fn fetch(&self, request: &FetchRequest) -> zoek_query::Result<Vec<FetchedPassage>> {
        self.post("/shard/fetch", request)
    }
}

/// Reads a shard file: a JSON list of leaf URLs, or `{"shards": [URL, …]}`.
pub fn parse_shard_file(text: &str) -> Result<Vec<String>, String> {
    let value: serde_json::Value =
        serde_json::from_str(text).map_err(|e| format!("not JSON: {e}"))?;
    let list = match &value {
        serde_json::Value::Array(_) => &value,
        serde_json::Value::Object(o) => {
            o.get("shards").ok_or("an object needs a \"shards\" list")?
        }
        _ => return Err("expected a list of shard URLs".into()),
    };
    let urls: Vec<String> = list
        .as_array()
        .ok_or("\"shards\" must be a list")?
        .iter()
        .map(|u| {
            u.as_str()
                .map(str::to_string)
                .ok_or("shard URLs must be strings")
        })
        .collect::<Result<_, _>>()?;
    if urls.is_empty() {
        return Err("the shard list is empty".into());
    }
    Ok(urls)
}

/// The leaves of a root, from a file re-read whenever it changes (checked on every
/// question: one `stat`). A file that does not parse keeps the previous list in service,
/// with a warning; replace it atomically (write a temporary file, rename it over).
#[derive(Debug)]
pub struct ShardSet {
    path: PathBuf,
    timeout: Duration,
    api_key: Option<String>,
    current: Mutex<Loaded>,
}

#[derive(Debug)]
struct Loaded {
    stamp: Option<(SystemTime, u64)>,
    shards: Arc<ShardedCollection<RemoteShard>>,
}

fn stamp(path: &Path) -> Option<(SystemTime, u64)> {
    let meta = std::fs::metadata(path).ok()?;
    Some((meta.modified().ok()?, meta.len()))
}

impl ShardSet {
    /// Reads the shard file at `path`; each leaf call waits at most `timeout`.
    pub fn open(path: &Path, timeout: Duration, api_key: Option<String>) -> Result<Self, String> {
        let stamp = stamp(path);
        let shards = Self::load(path, timeout, api_key.as_deref())?;
        Ok(Self {
            path: path.to_path_buf(),
            timeout,
            api_key,
            current: Mutex::new(Loaded {
                stamp,
                shards: Arc::new(shards),
            }),
        })
    }

    fn load(
        path: &Path,
        timeout: Duration,
        api_key: Option<&str>,
    ) -> Result<ShardedCollection<RemoteShard>, String> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("reading the shard file {}: {e}", path.display()))?;
        let urls = parse_shard_file(&text)
            .map_err(|e| format!("the shard file {}: {e}", path.display()))?;
        let shards = urls
            .iter()
            .map(|u| {
                RemoteShard::new(u, timeout, api_key.map(str::to_string))
                    .map(|s| (s.url().to_string(), s))
            })
            .collect::<Result<Vec<_>, _>>()?;
        ShardedCollection::new(shards).map_err(|e| e.to_string())
    }

    /// The current leaves, re-read first if the file changed.
    pub fn current(&self) -> Arc<ShardedCollection<RemoteShard>> {
        let mut loaded = self.current.lock().unwrap_or_else(|e| e.into_inner());
        let now = stamp(&self.path);
        if now.is_some() && now != loaded.stamp {
            match Self::load(&self.path, self.timeout, self.api_key.as_deref()) {
                Ok(shards) => {
                    tracing::info!(file = %self.path.display(), "shard list reloaded");
                    loaded.shards = Arc::new(shards);
                }
                Err(e) => tracing::warn!(error = %e, "keeping the previous shard list"),
            }
            loaded.stamp = now;
        }
        loaded.shards.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shard_files_and_urls() {
        assert_eq!(
            parse_shard_file(r#"["http://127.0.0.1:1", "http://127.0.0.1:2"]"#).unwrap(),
            ["http://127.0.0.1:1", "http://127.0.0.1:2"]
        );
        assert_eq!(
            parse_shard_file(r#"{"shards": ["http://a:1"]}"#).unwrap(),
            ["http://a:1"]
        );
        for bad in ["", "[]", "{}", "[1]", r#"{"shards": "x"}"#, "7"] {
            assert!(parse_shard_file(bad).is_err(), "{bad}");
        }
        let t = Duration::from_secs(1);
        assert!(RemoteShard::new("http://127.0.0.1:9/", t, None).is_ok());
        assert!(RemoteShard::new("https://a:1", t, None).is_err());
        assert!(RemoteShard::new("http://a:1/x", t, None).is_err());
        assert!(RemoteShard::new("http://", t, None).is_err());
    }

    #[test]
    fn a_replaced_file_is_reread_and_a_broken_one_ignored() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("shards.json");
        std::fs::write(&path, r#"["http://127.0.0.1:1"]"#).unwrap();
        let set = ShardSet::open(&path, Duration::from_secs(1), None).unwrap();
        assert_eq!(set.current().names().count(), 1);
        // A longer file: its length changes even where mtimes are coarse.
        let tmp = dir.path().join("shards.json.tmp");
        std::fs::write(&tmp, r#"["http://127.0.0.1:1", "http://127.0.0.1:2"]"#).unwrap();
        std::fs::rename(&tmp, &path).unwrap();
        assert_eq!(set.current().names().count(), 2);
        std::fs::write(&path, "not json at all, and longer than before").unwrap();
        assert_eq!(set.current().names().count(), 2);
    }
}
