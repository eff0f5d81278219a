//! An HTTP service answering questions over a collection (what `zoek serve` runs; this is
//! the same in a few lines over the library, to copy into a service of your own).
//!
//! ```sh
//! ZOEK_API_KEY=secret cargo run --release --example service -- [--index DIR] [--addr 127.0.0.1:8080] [--cors-origin ORIGIN]
//! H='Content-Type: application/json'; A='Authorization: Bearer secret'
//! curl -s localhost:8080/ask -H "$H" -H "$A" -d '{"question": "what hinders cooperation?", "k": 3}'
//! curl -s localhost:8080/ask -H "$H" -H "$A" -d '{"question": "wie nam het initiatief?", "filter": {"path": "status-quo"}}'
//! zoek add --index DIR new-docs/ && curl -s -X POST localhost:8080/refresh -H "$H" -H "$A"
//! ```
//! Without `--index` it serves the example corpus. It binds 127.0.0.1 unless told otherwise,
//! and anything else only with an API key (`--api-key KEY` or `ZOEK_API_KEY`); without a key
//! `/ask` is open on loopback and `/refresh` is off.

use zoek::service::{AppState, Limits, serve};
use zoek::{Collection, Engine};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut index = None;
    let mut addr = "127.0.0.1:8080".to_string();
    let mut api_key = std::env::var("ZOEK_API_KEY").ok();
    let mut cors_origins = Vec::new();
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--index" => index = args.next(),
            "--addr" => addr = args.next().ok_or("--addr needs a value")?,
            "--api-key" => api_key = Some(args.next().ok_or("--api-key needs a value")?),
            "--cors-origin" => cors_origins.push(args.next().ok_or("--cors-origin needs a value")?),
            other => return Err(format!("unknown argument {other:?}").into()),
        }
    }
    let engine = Engine::from_default_model()?;
    let collection = match index {
        Some(dir) => Collection::open(dir)?,
        None => zoek::example::open_example(&engine, None)?,
    };
    let state = AppState::new(engine, collection, Limits::default())
        .with_api_key(api_key)
        .with_cors_origins(cors_origins);
    serve(state, addr.parse()?, |at| {
        eprintln!("zoek service on http://{at}")
    })
    .await?;
    Ok(())
}
