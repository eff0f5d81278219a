//! A bounded load test of the HTTP service on loopback.
//!
//! ```sh
//! cargo run --release --example load -- [--records 10000] [--clients 8] [--requests 10000] \
//!     [--seconds 120] [--model]
//! ```
//!
//! It builds a collection of the first `--records` nl-laws paragraphs
//! (`../shared/data/nl-laws/nl_laws_paragraphs.jsonl`) in a temporary directory, with the
//! hashing embedder (or the real model with `--model`), serves it on an ephemeral
//! 127.0.0.1 port in this process, and has `--clients` threads send `--requests` valid
//! questions in all (stopping early after `--seconds`), every tenth client request followed
//! by a malformed one. It reports p50/p99 latency, throughput, errors, and the process's RSS
//! before and after. An overload phase then serves with one question slot and expects 503s,
//! never a hang. Every request has a 30 s socket timeout; nothing leaves loopback.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use zoek::query::{BuildOptions, HashEmbedder, TokenCounting};
use zoek::service::{AppState, Limits, router};
use zoek::{Collection, Engine};

const QUESTIONS: &[&str] = &[
    "wat regelt de wet over de gemeente?",
    "wanneer kan de minister regels stellen?",
    "wie verleent een vergunning voor het bouwen?",
    "hoe maak ik bezwaar tegen een besluit?",
    "wat zijn de taken van de provincie?",
    "welke boete staat op overtreding?",
];

const MALFORMED: &[(&str, &str, u16)] = &[
    ("application/json", "not json", 400),
    ("application/json", r#"{"question": ""}"#, 400),
    ("application/json", r#"{"question": "x", "k": 0}"#, 400),
    (
        "application/json",
        r#"{"question": "x", "mode": "magic"}"#,
        400,
    ),
    ("text/plain", r#"{"question": "x"}"#, 415),
];

fn rss_kb() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}

fn post(addr: SocketAddr, content_type: &str, body: &str) -> std::io::Result<u16> {
    let mut s = TcpStream::connect(addr)?;
    s.set_read_timeout(Some(Duration::from_secs(30)))?;
    s.set_write_timeout(Some(Duration::from_secs(30)))?;
    write!(
        s,
        "POST /ask HTTP/1.1\r\nHost: localhost\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )?;
    let mut raw = Vec::new();
    s.read_to_end(&mut raw)?;
    let head = String::from_utf8_lossy(&raw[..raw.len().min(12)]).into_owned();
    head.get(9..12)
        .and_then(|c| c.parse().ok())
        .ok_or_else(|| std::io::Error::other(format!("bad response {head:?}")))
}

fn percentile(sorted: &[Duration], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((sorted.len() - 1) as f64 * p).round() as usize;
    sorted[i].as_secs_f64() * 1e3
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let (mut records, mut clients, mut requests, mut seconds, mut model) =
        (10_000usize, 8usize, 10_000usize, 120u64, false);
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut value = || args.next().ok_or(format!("{a} needs a value"));
        match a.as_str() {
            "--records" => records = value()?.parse()?,
            "--clients" => clients = value()?.parse()?,
            "--requests" => requests = value()?.parse()?,
            "--seconds" => seconds = value()?.parse()?,
            "--model" => model = true,
            other => return Err(format!("unknown argument {other:?}").into()),
        }
    }
    let source = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../shared/data/nl-laws/nl_laws_paragraphs.jsonl");
    let text = std::fs::read_to_string(&source)
        .map_err(|e| format!("{}: {e} (see ../shared/README.md)", source.display()))?;
    let work = tempfile::tempdir()?;
    let input = work.path().join("laws.jsonl");
    let lines: Vec<&str> = text.lines().take(records).collect();
    std::fs::write(&input, lines.join("\n") + "\n")?;
    let engine = if model {
        Engine::from_default_model()?
    } else {
        Engine::new(HashEmbedder::default())
    };
    let opts = BuildOptions {
        token_counting: if model {
            TokenCounting::Model
        } else {
            TokenCounting::CharEstimate
        },
        ..BuildOptions::default()
    };
    let dir = work.path().join("index");
    let stats = engine.build(&[&input], &dir, &opts)?;
    let collection = Collection::open(&dir)?;
    println!(
        "collection: {} passages, {} sentences, HNSW {}",
        stats.passages, stats.sentences, stats.hnsw
    );

    let rt = tokio::runtime::Runtime::new()?;
    let serve = |limits: Limits| -> std::io::Result<SocketAddr> {
        let listener = rt.block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))?;
        let addr = listener.local_addr()?;
        let app = router(AppState::new(engine.clone(), collection.clone(), limits));
        rt.spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Ok(addr)
    };
    let addr = serve(Limits::default())?;
    // Warm up, so the RSS baseline includes the mapped pages a question touches.
    for q in QUESTIONS {
        post(
            addr,
            "application/json",
            &format!(r#"{{"question": "{q}"}}"#),
        )?;
    }
    let rss_before = rss_kb();
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let next = AtomicUsize::new(0);
    let errors = AtomicUsize::new(0);
    let malformed_wrong = AtomicUsize::new(0);
    let malformed_sent = AtomicUsize::new(0);
    let started = Instant::now();
    let mut latencies: Vec<Duration> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..clients)
            .map(|_| {
                s.spawn(|| {
                    let mut mine = Vec::new();
                    loop {
                        let i = next.fetch_add(1, Ordering::Relaxed);
                        if i >= requests || Instant::now() > deadline {
                            break;
                        }
                        let q = QUESTIONS[i % QUESTIONS.len()];
                        let body = format!(r#"{{"question": "{q}", "k": 5}}"#);
                        let t = Instant::now();
                        match post(addr, "application/json", &body) {
                            Ok(200) => mine.push(t.elapsed()),
                            _ => {
                                errors.fetch_add(1, Ordering::Relaxed);
                            }
                        }
                        if i.is_multiple_of(10) {
                            let (ct, body, want) = MALFORMED[(i / 10) % MALFORMED.len()];
                            malformed_sent.fetch_add(1, Ordering::Relaxed);
                            if post(addr, ct, body).ok() != Some(want) {
                                malformed_wrong.fetch_add(1, Ordering::Relaxed);
                            }
                        }
                    }
                    mine
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().unwrap_or_default())
            .collect()
    });
    let wall = started.elapsed();
    let rss_after = rss_kb();
    latencies.sort();
    println!(
        "load: {} questions answered in {:.1} s by {clients} clients ({:.0}/s), p50 {:.2} ms, \
         p99 {:.2} ms, {} errors; {} malformed requests, {} without the expected 4xx; \
         RSS {} → {} MB ({:+.1} MB)",
        latencies.len(),
        wall.as_secs_f64(),
        latencies.len() as f64 / wall.as_secs_f64(),
        percentile(&latencies, 0.5),
        percentile(&latencies, 0.99),
        errors.load(Ordering::Relaxed),
        malformed_sent.load(Ordering::Relaxed),
        malformed_wrong.load(Ordering::Relaxed),
        rss_before / 1024,
        rss_after / 1024,
        (rss_after as f64 - rss_before as f64) / 1024.0
    );

    // Overload: one question slot, many clients at once; the rest must get 503 promptly.
    let tight = serve(Limits {
        max_concurrent: 1,
        ..Limits::default()
    })?;
    let (ok, busy, other, slowest) = std::thread::scope(|s| {
        let handles: Vec<_> = (0..32)
            .map(|i| {
                s.spawn(move || {
                    let q = QUESTIONS[i % QUESTIONS.len()];
                    let t = Instant::now();
                    let status = post(
                        tight,
                        "application/json",
                        &format!(r#"{{"question": "{q}"}}"#),
                    );
                    (status.ok(), t.elapsed())
                })
            })
            .collect();
        let mut counts = (0, 0, 0, Duration::ZERO);
        for h in handles {
            let (status, took) = h.join().unwrap_or((None, Duration::ZERO));
            match status {
                Some(200) => counts.0 += 1,
                Some(503) => counts.1 += 1,
                _ => counts.2 += 1,
            }
            counts.3 = counts.3.max(took);
        }
        counts
    });
    println!(
        "overload (1 slot, 32 clients at once): {ok} answered, {busy} × 503, {other} other, \
         slowest response {:.1} ms",
        slowest.as_secs_f64() * 1e3
    );
    let failed = errors.load(Ordering::Relaxed) > 0
        || malformed_wrong.load(Ordering::Relaxed) > 0
        || other > 0;
    if failed {
        return Err("load test failed: see the counts above".into());
    }
    Ok(())
}
