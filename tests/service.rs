//! The HTTP service over loopback: health, answers, limits and concurrent requests.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};

use zoek::service::{AppState, Limits, router};

const KEY: &str = "loopback-test-key";

/// A JSON request carrying the API key.
fn request(addr: SocketAddr, method: &str, path: &str, body: &str) -> (u16, serde_json::Value) {
    let auth = format!("Bearer {KEY}");
    let (status, _, v) = request_as(
        addr,
        method,
        path,
        Some("application/json"),
        Some(&auth),
        body,
    );
    (status, v)
}

/// A request with the given `Content-Type` (none without); status, raw head, JSON body.
fn request_as(
    addr: SocketAddr,
    method: &str,
    path: &str,
    content_type: Option<&str>,
    authorization: Option<&str>,
    body: &str,
) -> (u16, String, serde_json::Value) {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(std::time::Duration::from_secs(60)))
        .unwrap();
    let content_type = content_type
        .map(|c| format!("Content-Type: {c}\r\n"))
        .unwrap_or_default()
        + &authorization
            .map(|a| format!("Authorization: {a}\r\n"))
            .unwrap_or_default();
    write!(
        s,
        "{method} {path} HTTP/1.1\r\nHost: localhost\r\n{content_type}Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut raw = String::new();
    s.read_to_string(&mut raw).unwrap();
    let status: u16 = raw[9..12].parse().unwrap();
    let body_start = raw.find("\r\n\r\n").unwrap() + 4;
    let head = raw[..body_start].to_ascii_lowercase();
    let body = &raw[body_start..];
    // axum answers with a plain length-delimited body when the size is known.
    let v = serde_json::from_str(body.trim()).unwrap_or(serde_json::Value::Null);
    (status, head, v)
}

/// Serves `state` on an ephemeral loopback port.
fn serve(rt: &tokio::runtime::Runtime, state: AppState) -> SocketAddr {
    let listener = rt
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .unwrap();
    let addr = listener.local_addr().unwrap();
    let app = router(state);
    rt.spawn(async move { axum::serve(listener, app).await.unwrap() });
    addr
}

#[test]
fn service_answers_over_loopback() {
    let model = zoek::embed::default_model_dir();
    if !model.join("zoek-model.json").is_file() {
        eprintln!(
            "SKIPPED: no model at {} (run models/fetch)",
            model.display()
        );
        return;
    }
    let cache = tempfile::tempdir().unwrap();
    let engine = zoek::Engine::from_model_dir(&model).unwrap();
    let collection = zoek::example::open_cached(
        &engine,
        &zoek::example::example_corpus_dir(),
        None,
        cache.path(),
    )
    .unwrap();
    let limits = Limits {
        max_body_bytes: 4096,
        max_k: 10,
        ..Limits::default()
    };
    let collection_dir = collection.dir().to_path_buf();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let addr = serve(
        &rt,
        AppState::new(engine.clone(), collection.clone(), limits).with_api_key(Some(KEY.into())),
    );
    let auth = format!("Bearer {KEY}");
    let auth = Some(auth.as_str());

    // With a key: none or a wrong one is 401 on /ask and /refresh; /health stays open.
    let q = r#"{"question": "who took the initiative?"}"#;
    for path in ["/ask", "/refresh"] {
        for wrong in [None, Some("Bearer nope"), Some("loopback-test-key")] {
            let (status, head, v) =
                request_as(addr, "POST", path, Some("application/json"), wrong, q);
            assert_eq!(status, 401, "{path} {wrong:?}: {v}");
            assert!(head.contains("www-authenticate: bearer"), "{head}");
        }
    }
    let (status, _, _) = request_as(addr, "GET", "/health", None, None, "");
    assert_eq!(status, 200);

    // A POST a web page could send cross-origin without a preflight is refused (415).
    for content_type in [
        None,
        Some("text/plain"),
        Some("application/x-www-form-urlencoded"),
    ] {
        for path in ["/ask", "/refresh"] {
            let (status, _, v) = request_as(addr, "POST", path, content_type, auth, q);
            assert_eq!(status, 415, "{path} {content_type:?}: {v}");
            assert!(v["error"].as_str().unwrap().contains("application/json"));
        }
    }
    let (status, _, _) = request_as(
        addr,
        "POST",
        "/ask",
        Some("application/json; charset=utf-8"),
        auth,
        q,
    );
    assert_eq!(status, 200);

    // Overload is shed at once with 503 + Retry-After, never queued; so is a question that
    // outlives the timeout.
    let refusing = serve(
        &rt,
        AppState::new(
            engine.clone(),
            collection.clone(),
            Limits {
                max_concurrent: 0,
                ..Limits::default()
            },
        ),
    );
    let (status, head, v) = request_as(refusing, "POST", "/ask", Some("application/json"), None, q);
    assert_eq!(status, 503, "{v}");
    assert!(head.contains("retry-after: 1"), "{head}");
    // Without a key, /ask is open (loopback) and /refresh is off.
    let (status, _, v) = request_as(
        refusing,
        "POST",
        "/refresh",
        Some("application/json"),
        None,
        "",
    );
    assert_eq!(status, 403, "{v}");
    assert!(zoek::service::check_bind("127.0.0.1:8080".parse().unwrap(), None).is_ok());
    assert!(zoek::service::check_bind("0.0.0.0:8080".parse().unwrap(), None).is_err());
    assert!(zoek::service::check_bind("0.0.0.0:8080".parse().unwrap(), Some("k")).is_ok());
    let impatient = serve(
        &rt,
        AppState::new(
            engine.clone(),
            collection,
            Limits {
                request_timeout: std::time::Duration::ZERO,
                ..Limits::default()
            },
        ),
    );
    let (status, head, v) =
        request_as(impatient, "POST", "/ask", Some("application/json"), None, q);
    assert_eq!(status, 503, "{v}");
    assert!(v["error"].as_str().unwrap().contains("longer than"), "{v}");
    assert!(head.contains("retry-after"), "{head}");

    let (status, v) = request(addr, "GET", "/health", "");
    assert_eq!(status, 200);
    assert_eq!(v["status"], "ok");
    assert!(v["passages"].as_u64().unwrap() >= 5);

    let (status, v) = request(
        addr,
        "POST",
        "/ask",
        r#"{"question": "which forms of partnership exist?", "k": 3}"#,
    );
    assert_eq!(status, 200, "{v}");
    let hits = v["hits"].as_array().unwrap();
    assert_eq!(hits.len(), 3);
    assert!(
        hits.iter().any(|h| h["text"]
            .as_str()
            .unwrap()
            .contains("twee vormen van partnerschap")),
        "{hits:?}"
    );

    // Limits and bad input: 4xx with a JSON error, never a dropped connection.
    let (status, v) = request(addr, "POST", "/ask", r#"{"question": "x", "k": 11}"#);
    assert_eq!(status, 400);
    assert!(v["error"].as_str().unwrap().contains("k must be"));
    let (status, v) = request(addr, "POST", "/ask", r#"{"question": "   "}"#);
    assert_eq!(status, 400);
    assert!(v["error"].as_str().unwrap().contains("empty"));
    let (status, _) = request(addr, "POST", "/ask", "not json");
    assert_eq!(status, 400);
    let big = format!(r#"{{"question": "{}"}}"#, "a".repeat(8000));
    let (status, _) = request(addr, "POST", "/ask", &big);
    assert_eq!(status, 413);

    // Concurrent requests share one engine and all get the same answer.
    let answers: Vec<String> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..6)
            .map(|_| {
                s.spawn(move || {
                    let (status, v) = request(
                        addr,
                        "POST",
                        "/ask",
                        r#"{"question": "who took the initiative?", "k": 2}"#,
                    );
                    assert_eq!(status, 200);
                    v["hits"][0]["text"].as_str().unwrap().to_string()
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    assert!(answers.windows(2).all(|w| w[0] == w[1]));
    assert!(answers[0].contains("initiatief"));

    // A filter restricts the answer to one page; a filter without a field is a 400.
    let (status, v) = request(
        addr,
        "POST",
        "/ask",
        r#"{"question": "what hinders cooperation?", "k": 5, "filter": {"path": "zonder-"}}"#,
    );
    assert_eq!(status, 200, "{v}");
    let hits = v["hits"].as_array().unwrap();
    assert!(!hits.is_empty());
    assert!(
        hits.iter()
            .all(|h| h["doc"].as_str().unwrap() == "zonder-gedeelde-visie.txt"),
        "{hits:?}"
    );
    let (status, v) = request(
        addr,
        "POST",
        "/ask",
        r#"{"question": "x", "filter": {"": "y"}}"#,
    );
    assert_eq!(status, 400, "{v}");

    // A commit by a writer is invisible until /refresh, then answers come from it.
    let (_, before) = request(addr, "GET", "/health", "");
    let docs = tempfile::tempdir().unwrap();
    std::fs::write(
        docs.path().join("fietsen.txt"),
        "De fietsenmaker in Wijk bij Duurstede repareert elke zaterdag gratis fietsen van ouderen.",
    )
    .unwrap();
    let engine = zoek::Engine::from_model_dir(&model).unwrap();
    let mut writer = zoek::query::CollectionWriter::open(
        &collection_dir,
        &engine,
        &zoek::query::BuildOptions::default(),
    )
    .unwrap();
    writer.add(&[docs.path()]).unwrap();
    writer.commit().unwrap();
    let question = r#"{"question": "who repairs bicycles for free?", "k": 1}"#;
    let (_, v) = request(addr, "POST", "/ask", question);
    assert_ne!(v["hits"][0]["doc"], "fietsen.txt", "seen before refresh");
    let (status, v) = request(addr, "POST", "/refresh", "");
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["changed"], true);
    assert!(v["generation"].as_u64() > before["generation"].as_u64());
    let (_, v) = request(addr, "POST", "/ask", question);
    assert_eq!(v["hits"][0]["doc"], "fietsen.txt", "{v}");
    let (_, v) = request(addr, "POST", "/refresh", "");
    assert_eq!(v["changed"], false);
}

#[test]
fn search_page_and_openai_embeddings_endpoint() {
    use base64::Engine as _;
    let model = zoek::embed::default_model_dir();
    if !model.join("zoek-model.json").is_file() {
        eprintln!(
            "SKIPPED: no model at {} (run models/fetch)",
            model.display()
        );
        return;
    }
    let cache = tempfile::tempdir().unwrap();
    let engine = zoek::Engine::from_model_dir(&model).unwrap();
    let collection = zoek::example::open_cached(
        &engine,
        &zoek::example::example_corpus_dir(),
        None,
        cache.path(),
    )
    .unwrap();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let addr = serve(
        &rt,
        AppState::new(engine.clone(), collection, Limits::default()).with_api_key(Some(KEY.into())),
    );

    // The page: HTML, self-contained, locked down to its own origin.
    let mut s = TcpStream::connect(addr).unwrap();
    write!(
        s,
        "GET / HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut raw = String::new();
    s.read_to_string(&mut raw).unwrap();
    let lower = raw.to_ascii_lowercase();
    assert!(raw.starts_with("HTTP/1.1 200"), "{raw:.200}");
    assert!(lower.contains("content-type: text/html"));
    assert!(lower.contains("content-security-policy: default-src 'none'"));
    assert!(raw.contains(r#"<input id="q""#) && raw.contains(r#"fetch("ask""#));
    assert!(
        !raw.contains("http://") && !raw.contains("https://"),
        "the page loads nothing from elsewhere"
    );

    // Embeddings: a list as passages, equal to the library's; one text as a query, base64.
    let texts = [
        "Wantrouwen belemmerde de samenwerking.",
        "De bakker verkoopt brood.",
    ];
    let body = serde_json::json!({"input": texts, "model": "e5"}).to_string();
    let (status, v) = request(addr, "POST", "/v1/embeddings", &body);
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["object"], "list");
    let direct = engine.embedder().embed_passages(&texts).unwrap();
    for (i, d) in direct.iter().enumerate() {
        assert_eq!(v["data"][i]["index"], i);
        let got: Vec<f32> = v["data"][i]["embedding"]
            .as_array()
            .unwrap()
            .iter()
            .map(|x| x.as_f64().unwrap() as f32)
            .collect();
        let cos: f32 = got.iter().zip(d).map(|(a, b)| a * b).sum();
        assert!(cos > 0.99999, "{cos}");
    }
    assert!(v["usage"]["prompt_tokens"].as_u64().unwrap() > 5);
    let body = serde_json::json!({"input": "what hinders cooperation?", "model": "zoek-query",
                                  "encoding_format": "base64"})
    .to_string();
    let (status, v) = request(addr, "POST", "/v1/embeddings", &body);
    assert_eq!(status, 200, "{v}");
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(v["data"][0]["embedding"].as_str().unwrap())
        .unwrap();
    let got: Vec<f32> = bytes
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes(b.try_into().unwrap()))
        .collect();
    let want = engine
        .embedder()
        .embed_query("what hinders cooperation?")
        .unwrap();
    assert_eq!(got, want);

    // Bad requests are 400s with a message; the key is required like on /ask.
    for bad in [
        r#"{"input": []}"#,
        r#"{"input": [""]}"#,
        r#"{"input": "x", "encoding_format": "int8"}"#,
        r#"{"input": "x", "input_type": "document"}"#,
        r#"{"input": 5}"#,
    ] {
        let (status, v) = request(addr, "POST", "/v1/embeddings", bad);
        assert_eq!(status, 400, "{bad}: {v}");
        assert!(v["error"].as_str().is_some());
    }
    let (status, _, _) = request_as(
        addr,
        "POST",
        "/v1/embeddings",
        Some("application/json"),
        None,
        r#"{"input": "x"}"#,
    );
    assert_eq!(status, 401);
}

#[test]
fn half_open_connections_are_closed_after_the_header_timeout() {
    let dir = tempfile::tempdir().unwrap();
    let engine = zoek::Engine::new(zoek::query::HashEmbedder::default());
    let opts = zoek::query::BuildOptions {
        token_counting: zoek::query::TokenCounting::CharEstimate,
        ..Default::default()
    };
    engine
        .build(&[zoek::example::example_corpus_dir()], dir.path(), &opts)
        .unwrap();
    let collection = zoek::Collection::open(dir.path()).unwrap();
    let limits = Limits {
        header_read_timeout: std::time::Duration::from_millis(500),
        ..Limits::default()
    };
    let state = AppState::new(engine, collection, limits);
    let rt = tokio::runtime::Runtime::new().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    rt.spawn(zoek::service::serve(
        state,
        "127.0.0.1:0".parse().unwrap(),
        move |addr| tx.send(addr).unwrap(),
    ));
    let addr = rx.recv_timeout(std::time::Duration::from_secs(10)).unwrap();

    // Complete requests are answered as before.
    let (status, _, v) = request_as(addr, "GET", "/health", None, None, "");
    assert_eq!(status, 200, "{v}");

    // Headers that never end: the server hangs up soon after the timeout.
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(std::time::Duration::from_secs(10)))
        .unwrap();
    let started = std::time::Instant::now();
    s.write_all(b"GET /health HTTP/1.1\r\nHost: localhost\r\n")
        .unwrap();
    let mut buf = Vec::new();
    let _ = s.read_to_end(&mut buf);
    let waited = started.elapsed();
    assert!(
        waited >= std::time::Duration::from_millis(400)
            && waited < std::time::Duration::from_secs(5),
        "closed after {waited:?}"
    );
    let head = String::from_utf8_lossy(&buf);
    assert!(buf.is_empty() || head.starts_with("HTTP/1.1 408"), "{head}");
}
