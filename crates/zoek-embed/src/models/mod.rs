//! Model files: the encoder, and one file per source of its weights.

pub mod bert;
pub mod e5_image;
pub mod hf;
