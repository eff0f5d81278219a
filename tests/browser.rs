//! The search page in a real browser: headless Chromium loads `/?q=…` from a service on
//! loopback (the page fills the box and submits it through its own form handler), then the
//! rendered DOM is checked and a screenshot kept in `target/browser/search.png`.
//! Skipped, with a message, where no Chromium is installed (`.ci/run` installs Debian's).

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use zoek::service::{AppState, Limits, router};

fn chromium() -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    for dir in std::env::split_paths(&path) {
        for name in ["chromium", "chromium-browser", "google-chrome"] {
            let p = dir.join(name);
            if p.is_file() {
                return Some(p);
            }
        }
    }
    None
}

/// Runs the browser with a hard time limit; stdout on success.
fn run_browser(browser: &Path, args: &[&str]) -> String {
    let mut child = Command::new(browser)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
        ])
        .args(["--disable-dev-shm-usage", "--virtual-time-budget=10000"])
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("chromium starts");
    let started = Instant::now();
    loop {
        if child.try_wait().unwrap().is_some() {
            break;
        }
        if started.elapsed() > Duration::from_secs(90) {
            let _ = child.kill();
            panic!("chromium did not finish within 90 s");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let out = child.wait_with_output().unwrap();
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn search_page_renders_answers_in_chromium() {
    let Some(browser) = chromium() else {
        eprintln!("SKIPPED: no chromium on PATH (apt-get install chromium)");
        return;
    };
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
    let listener = rt
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .unwrap();
    let addr = listener.local_addr().unwrap();
    let app = router(AppState::new(engine, collection, Limits::default()));
    rt.spawn(async move { axum::serve(listener, app).await.unwrap() });

    let url = format!("http://{addr}/?q=wie%20nam%20het%20initiatief%3F");
    let dom = run_browser(&browser, &["--dump-dom", &url]);
    // The rendered list (the script's own source holds the same markup as strings).
    let list = &dom[dom.find(r#"<ol id="hits">"#).expect("the hit list")..];
    let list = &list[..list.find("</ol>").expect("the list ends")];
    let hits = list.matches(r#"<li class="hit">"#).count();
    let status = dom
        .find(r#"id="status""#)
        .map_or("", |at| &dom[at..(at + 300).min(dom.len())]);
    assert_eq!(hits, 5, "five hits rendered; status: {status}");
    let first = &list[list.find(r#"<li class="hit">"#).unwrap()..];
    let first = &first[..first.find("</li>").unwrap()];
    assert!(first.contains("status-quo-samenwerking.txt"), "{first}");
    assert!(first.contains("Fase en initiatief"), "{first}");
    // The highlighted sentence is marked inside the passage text.
    let text = &first[first.find(r#"<p class="text">"#).unwrap()..];
    assert!(
        text.contains("<mark>") && text.contains("initiatief"),
        "{text}"
    );
    assert!(dom.contains("ms on the server"), "timings shown");

    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/browser");
    std::fs::create_dir_all(&dir).unwrap();
    let shot = dir.join("search.png");
    let _ = std::fs::remove_file(&shot);
    run_browser(
        &browser,
        &[
            "--window-size=420,900",
            &format!("--screenshot={}", shot.display()),
            &url,
        ],
    );
    let png = std::fs::read(&shot).expect("a screenshot was written");
    assert!(
        png.starts_with(b"\x89PNG") && png.len() > 10_000,
        "{} bytes",
        png.len()
    );
}
