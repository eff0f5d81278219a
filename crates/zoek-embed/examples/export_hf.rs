//! Writes the e5 image as a Hugging Face BERT directory (f32 safetensors, `config.json`,
//! `tokenizer.json`), for tools that want the model in that form (`benches/peers/` builds
//! its ONNX peers from it).
//!
//! ```text
//! cargo run --release -p zoek-embed --example export_hf -- OUT_DIR [MODEL_DIR]
//! ```
//!
//! `MODEL_DIR` defaults to the default model ([`zoek_embed::default_model_dir`]).

use std::path::PathBuf;

fn main() {
    let mut args = std::env::args_os().skip(1);
    let Some(out) = args.next().map(PathBuf::from) else {
        eprintln!("usage: export_hf OUT_DIR [MODEL_DIR]");
        std::process::exit(2);
    };
    let model = args
        .next()
        .map(PathBuf::from)
        .unwrap_or_else(zoek_embed::default_model_dir);
    if let Err(e) = zoek_embed::export::export_image_to_hf(&model, &out) {
        eprintln!("export_hf: {e}");
        std::process::exit(1);
    }
    println!("{}", out.display());
}
