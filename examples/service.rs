//! An HTTP service answering questions over a collection.
//!
//! ```sh
//! cargo run --release --example service -- [--index DIR] [--addr 127.0.0.1:8080]
//! curl -s localhost:8080/ask -d '{"question": "what hinders cooperation?", "k": 3}'
//! curl -s localhost:8080/ask -d '{"question": "wie nam het initiatief?", "filter": {"path": "status-quo"}}'
//! zoek add --index DIR new-docs/ && curl -s -X POST localhost:8080/refresh
//! ```
//! Without `--index` it serves the example corpus. It binds 127.0.0.1 unless told otherwise.

use zoek::service::{AppState, Limits, router};
use zoek::{Collection, Engine};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut index = None;
    let mut addr = "127.0.0.1:8080".to_string();
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--index" => index = args.next(),
            "--addr" => addr = args.next().ok_or("--addr needs a value")?,
            other => return Err(format!("unknown argument {other:?}").into()),
        }
    }
    let engine = Engine::from_default_model()?;
    let collection = match index {
        Some(dir) => Collection::open(dir)?,
        None => zoek::example::open_example(&engine, None)?,
    };
    let app = router(AppState::new(engine, collection, Limits::default()));
    let listener = tokio::net::TcpListener::bind(&addr).await?;
    eprintln!("zoek service on http://{}", listener.local_addr()?);
    axum::serve(listener, app)
        .with_graceful_shutdown(async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await?;
    Ok(())
}
