//! CORS is off unless configured: a configured origin's preflight is answered and its
//! answers carry `Access-Control-Allow-Origin`; any other origin gets no CORS header.
//! Model-free (the hashing embedder), on loopback.

use std::time::Duration;

use zoek::service::{AppState, Limits, router};
use zoek_query::{CollectionWriter, Engine, HashEmbedder};

const ALLOWED: &str = "https://search.example.org";

fn request(
    addr: std::net::SocketAddr,
    method: &str,
    path: &str,
    origin: &str,
) -> ureq::http::Response<ureq::Body> {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .timeout_global(Some(Duration::from_secs(30)))
        .http_status_as_error(false)
        .build()
        .into();
    let body = r#"{"question": "buurtbus"}"#;
    let request = ureq::http::Request::builder()
        .method(method)
        .uri(format!("http://{addr}{path}"))
        .header("Origin", origin)
        .header("Content-Type", "application/json")
        .header("Access-Control-Request-Method", "POST")
        .body(if method == "POST" { body } else { "" })
        .unwrap();
    agent.run(request).unwrap()
}

fn allow_origin(r: &ureq::http::Response<ureq::Body>) -> Option<String> {
    r.headers()
        .get("access-control-allow-origin")
        .map(|v| v.to_str().unwrap().to_string())
}

#[test]
fn only_configured_origins_get_cors_headers() {
    let engine = Engine::new(HashEmbedder::default());
    let dir = tempfile::tempdir().unwrap();
    let docs = tempfile::tempdir().unwrap();
    std::fs::write(docs.path().join("a.txt"), "De buurtbus rijdt op dinsdag.").unwrap();
    let opts = zoek_query::BuildOptions {
        token_counting: zoek_query::TokenCounting::CharEstimate,
        ..Default::default()
    };
    let mut w = CollectionWriter::open(dir.path(), &engine, &opts).unwrap();
    w.add(&[docs.path()]).unwrap();
    w.commit().unwrap();
    let collection = zoek_query::Collection::open(dir.path()).unwrap();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let listener = rt
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .unwrap();
    let addr = listener.local_addr().unwrap();
    let state = AppState::new(engine, collection, Limits::default())
        .with_cors_origins(vec![format!("{ALLOWED}/")]);
    rt.spawn(async move { axum::serve(listener, router(state)).await.unwrap() });

    let preflight = request(addr, "OPTIONS", "/ask", ALLOWED);
    assert_eq!(preflight.status(), 204);
    assert_eq!(allow_origin(&preflight).as_deref(), Some(ALLOWED));
    let methods = preflight
        .headers()
        .get("access-control-allow-methods")
        .unwrap();
    assert!(methods.to_str().unwrap().contains("POST"));
    let answer = request(addr, "POST", "/ask", ALLOWED);
    assert_eq!(answer.status(), 200);
    assert_eq!(allow_origin(&answer).as_deref(), Some(ALLOWED));

    let other = "https://evil.example";
    let preflight = request(addr, "OPTIONS", "/ask", other);
    assert_ne!(preflight.status(), 204);
    assert_eq!(allow_origin(&preflight), None);
    let answer = request(addr, "POST", "/ask", other);
    assert_eq!(allow_origin(&answer), None);
}
