//! Model files, one per architecture.

pub mod e5_image;
pub mod hf;
