//! Damaged or missing models give typed errors, never a panic. A tiny synthetic E5S1 image
//! (written here) makes these tests independent of the fetched model.

use std::path::Path;

use zoek_embed::internals::{ModelImage, Parallelism, load_e5_image};
use zoek_embed::{EmbedError, Embedder, LinearBackend};

const H: usize = 64;
const FF: usize = 128;
const VOC: usize = 16;
const MAXP: usize = 12;

struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u32 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 >> 16) as u32
    }
    fn f32(&mut self) -> f32 {
        (self.next() % 2001) as f32 / 1000.0 - 1.0
    }
}

/// A valid image of a 2-layer, 4-head model: `(name, dtype, elements, bytes)` tensors.
fn tiny_image(heads: i32) -> Vec<u8> {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let mut tensors: Vec<(String, u8, usize, Vec<u8>)> = Vec::new();
    let f32t = |name: &str, n: usize, rng: &mut Rng, around: f32| {
        let bytes = (0..n)
            .flat_map(|_| (around + 0.1 * rng.f32()).to_le_bytes())
            .collect();
        (name.to_string(), 0u8, n, bytes)
    };
    let q4 = |name: &str, rows: usize, cols: usize, rng: &mut Rng| {
        let mut bytes = Vec::new();
        for _ in 0..rows * cols / 32 {
            bytes.extend_from_slice(&half::f16::from_f32(0.02).to_le_bytes());
            bytes.extend((0..16).map(|_| rng.next() as u8));
        }
        (name.to_string(), 1u8, rows * cols, bytes)
    };
    tensors.push(q4("emb.word", VOC, H, &mut rng));
    tensors.push(f32t("emb.pos", MAXP * H, &mut rng, 0.0));
    tensors.push(f32t("emb.type", 2 * H, &mut rng, 0.0));
    tensors.push(f32t("emb.ln.w", H, &mut rng, 1.0));
    tensors.push(f32t("emb.ln.b", H, &mut rng, 0.0));
    for l in 0..2 {
        for (n, rows, cols) in [
            ("q", H, H),
            ("k", H, H),
            ("v", H, H),
            ("ao", H, H),
            ("fi", FF, H),
            ("fo", H, FF),
        ] {
            tensors.push(q4(&format!("l{l}.{n}.w"), rows, cols, &mut rng));
            tensors.push(f32t(&format!("l{l}.{n}.b"), rows, &mut rng, 0.0));
        }
        for n in ["aln", "oln"] {
            tensors.push(f32t(&format!("l{l}.{n}.w"), H, &mut rng, 1.0));
            tensors.push(f32t(&format!("l{l}.{n}.b"), H, &mut rng, 0.0));
        }
    }
    let mut out = Vec::new();
    out.extend_from_slice(b"E5S1");
    out.extend_from_slice(&1u32.to_le_bytes());
    for v in [H as i32, 2, heads, FF as i32, VOC as i32, MAXP as i32, 2] {
        out.extend_from_slice(&v.to_le_bytes());
    }
    out.extend_from_slice(&1e-12f32.to_le_bytes());
    out.extend_from_slice(&32i32.to_le_bytes());
    // tokenizer: VOC one-byte pieces
    for v in [VOC as i32, 0, 2, 1, 3] {
        out.extend_from_slice(&v.to_le_bytes());
    }
    out.extend_from_slice(&(VOC as u64).to_le_bytes());
    for i in 0..=VOC as u32 {
        out.extend_from_slice(&i.to_le_bytes());
    }
    for _ in 0..VOC {
        out.extend_from_slice(&(-1.0f32).to_le_bytes());
    }
    out.extend((0..VOC).map(|i| b'a' + i as u8));
    out.extend_from_slice(&0i32.to_le_bytes());
    out.extend_from_slice(&0u32.to_le_bytes());
    out.extend_from_slice(&(tensors.len() as i32).to_le_bytes());
    let dir_len: usize = tensors.iter().map(|t| 2 + t.0.len() + 1 + 4 + 8 + 8).sum();
    let mut offset = (out.len() + dir_len).div_ceil(32) * 32;
    let mut data = Vec::new();
    for (name, dtype, n, bytes) in &tensors {
        out.extend_from_slice(&(name.len() as u16).to_le_bytes());
        out.extend_from_slice(name.as_bytes());
        out.push(*dtype);
        out.extend_from_slice(&(*n as u32).to_le_bytes());
        out.extend_from_slice(&(offset as u64).to_le_bytes());
        out.extend_from_slice(&(bytes.len() as u64).to_le_bytes());
        let padded = bytes.len().div_ceil(32) * 32;
        data.extend_from_slice(bytes);
        data.resize(data.len() + padded - bytes.len(), 0);
        offset += padded;
    }
    out.resize(out.len().div_ceil(32) * 32, 0);
    out.extend_from_slice(&data);
    out
}

fn write(dir: &Path, name: &str, bytes: &[u8]) -> std::path::PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, bytes).unwrap();
    p
}

#[test]
fn missing_model_names_the_fetch_script() {
    let err = Embedder::from_dir("/nonexistent/zoek-model-dir").unwrap_err();
    assert!(matches!(err, EmbedError::ModelNotFound { .. }), "{err:?}");
    assert!(err.to_string().contains("models/fetch"), "{err}");
    let tmp = tempfile::tempdir().unwrap();
    let err = Embedder::from_dir(tmp.path()).unwrap_err();
    assert!(matches!(err, EmbedError::ModelNotFound { .. }), "{err:?}");
}

#[test]
fn bad_magic_is_reported() {
    let tmp = tempfile::tempdir().unwrap();
    for bytes in [
        &b""[..],
        b"E5",
        b"GGUF\x03\x00\x00\x00",
        b"<html>not a model</html>",
    ] {
        let p = write(tmp.path(), "img.bin", bytes);
        let err = ModelImage::open(&p).unwrap_err();
        assert!(
            matches!(err, EmbedError::BadMagic { .. }),
            "{bytes:?}: {err:?}"
        );
    }
}

#[test]
fn every_truncation_is_an_error() {
    let tmp = tempfile::tempdir().unwrap();
    let full = tiny_image(4);
    assert!(ModelImage::open(&write(tmp.path(), "ok.bin", &full)).is_ok());
    // Cutting the file anywhere before the last tensor's end must fail cleanly.
    let step = (full.len() / 700).max(1);
    let mut cuts: Vec<usize> = (4..full.len()).step_by(step).collect();
    cuts.extend([5, 8, 44, 63, 64, 100, full.len() - 1]);
    for cut in cuts {
        let p = write(tmp.path(), "cut.bin", &full[..cut]);
        match ModelImage::open(&p) {
            Err(EmbedError::Truncated { .. }) => {}
            // A cut inside the zero padding after the last tensor is still a whole image.
            Ok(img) => {
                assert!(
                    cut >= full.len() - 32,
                    "cut at {cut} of {} accepted",
                    full.len()
                );
                drop(img);
            }
            Err(other) => panic!("cut at {cut}: {other:?}"),
        }
    }
}

#[test]
fn inconsistent_images_are_reported() {
    let tmp = tempfile::tempdir().unwrap();
    // 5 heads do not divide a hidden size of 64.
    let err = ModelImage::open(&write(tmp.path(), "a.bin", &tiny_image(5))).unwrap_err();
    assert!(matches!(err, EmbedError::Inconsistent(_)), "{err:?}");
    // A negative layer count.
    let mut img = tiny_image(4);
    img[12..16].copy_from_slice(&(-3i32).to_le_bytes());
    let err = ModelImage::open(&write(tmp.path(), "b.bin", &img)).unwrap_err();
    assert!(matches!(err, EmbedError::Inconsistent(_)), "{err:?}");
    // More layers than tensors: the image opens, the model refuses the missing tensors.
    let mut img = tiny_image(4);
    img[12..16].copy_from_slice(&3i32.to_le_bytes());
    let image = ModelImage::open(&write(tmp.path(), "c.bin", &img)).unwrap();
    let err = load_e5_image(image, LinearBackend::Kernel).unwrap_err();
    assert!(err.to_string().contains("l2."), "{err}");
    // A tensor whose byte length disagrees with its element count.
    let mut img = tiny_image(4);
    let at = img.windows(8).position(|w| w == b"emb.word").unwrap() + 8 + 1;
    img[at..at + 4].copy_from_slice(&((VOC * H + 32) as u32).to_le_bytes());
    let err = ModelImage::open(&write(tmp.path(), "d.bin", &img)).unwrap_err();
    assert!(matches!(err, EmbedError::Inconsistent(_)), "{err:?}");
}

#[test]
fn tiny_model_runs_on_both_linear_backends() {
    let tmp = tempfile::tempdir().unwrap();
    let p = write(tmp.path(), "tiny.bin", &tiny_image(4));
    let kernel = load_e5_image(ModelImage::open(&p).unwrap(), LinearBackend::Kernel).unwrap();
    let candle = load_e5_image(ModelImage::open(&p).unwrap(), LinearBackend::Candle).unwrap();
    let seqs: [&[u32]; 3] = [
        &[0, 5, 6, 7, 2],
        &[0, 2],
        &[0, 9, 9, 9, 9, 9, 9, 9, 9, 9, 15, 2],
    ];
    let a = kernel.forward(&seqs, Parallelism::Serial).unwrap();
    let b = candle.forward(&seqs, Parallelism::Intra).unwrap();
    for (x, y) in a.iter().zip(&b) {
        let d: f32 = x.iter().zip(y).map(|(p, q)| p * q).sum();
        let n = |v: &[f32]| v.iter().map(|p| p * p).sum::<f32>().sqrt();
        assert!(d / (n(x) * n(y)) > 0.999, "cosine {}", d / (n(x) * n(y)));
    }
    // Out-of-range ids and over-long sequences are errors, not panics.
    assert!(kernel.forward(&[&[0, 99, 2]], Parallelism::Serial).is_err());
    assert!(
        kernel
            .forward(&[&[1; MAXP + 1]], Parallelism::Serial)
            .is_err()
    );
    assert!(kernel.forward(&[&[]], Parallelism::Serial).is_err());
}
