//! Format constants and the header codec (layout documented in the crate docs).

use crate::{IndexError, Metric};

/// The eight magic bytes every index file starts with.
pub const MAGIC: [u8; 8] = *b"ZOEKHNSW";
/// The format version this build writes. Version 1 files (no duplicate groups) are
/// still read.
pub const FORMAT_VERSION: u32 = 2;
/// The oldest format version this build reads.
pub const OLDEST_READABLE_VERSION: u32 = 1;
/// Bytes reserved for the header; the first section starts here.
pub const HEADER_LEN: usize = 512;
/// Alignment of every section's offset, in bytes.
pub const SECTION_ALIGN: u64 = 64;
/// Most sections a file can list.
pub const MAX_SECTIONS: usize = 9;

const TABLE_OFFSET: usize = 128;
const ENTRY_LEN: usize = 32;
const CRC_OFFSET: usize = 60;

/// Header flag: the file holds f32 vectors.
pub const FLAG_F32: u32 = 1;
/// Header flag: the file holds int8 (u8 code) scalar-quantised vectors.
pub const FLAG_SQ8: u32 = 2;

/// The kinds of section a file may hold. A "node" is one graph vertex, holding one
/// distinct vector; several ids share a node when their vectors are identical.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SectionKind {
    /// `count` external ids, u64, grouped by node.
    Ids = 1,
    /// Layer-0 adjacency: `nodes` rows of `1 + m0` u32 (length, then slots).
    Level0 = 2,
    /// `nodes + 1` u32 offsets into `UpperLinks`.
    UpperOffsets = 3,
    /// Upper-layer rows of `1 + m` u32, levels 1.. of each node in turn.
    UpperLinks = 4,
    /// `nodes * dim` f32 vectors (normalised for cosine).
    VectorsF32 = 5,
    /// Scalar quantiser: `dim` f32 minima then `dim` f32 steps.
    Sq8Params = 6,
    /// `nodes` f32 squared norms of the decoded quantised vectors.
    Sq8Norms = 7,
    /// `nodes * dim` u8 codes.
    Sq8Codes = 8,
    /// `nodes + 1` u32 offsets into `Ids` (v2, only when some node holds several ids).
    IdGroups = 9,
}

impl SectionKind {
    /// All kinds, in the order the writer lays them out.
    pub const ALL: [SectionKind; 9] = [
        SectionKind::Ids,
        SectionKind::Level0,
        SectionKind::UpperOffsets,
        SectionKind::UpperLinks,
        SectionKind::VectorsF32,
        SectionKind::Sq8Params,
        SectionKind::Sq8Norms,
        SectionKind::Sq8Codes,
        SectionKind::IdGroups,
    ];

    /// Human-readable name, used in errors.
    pub fn name(self) -> &'static str {
        match self {
            SectionKind::Ids => "ids",
            SectionKind::Level0 => "level0",
            SectionKind::UpperOffsets => "upper_offsets",
            SectionKind::UpperLinks => "upper_links",
            SectionKind::VectorsF32 => "vectors_f32",
            SectionKind::Sq8Params => "sq8_params",
            SectionKind::Sq8Norms => "sq8_norms",
            SectionKind::Sq8Codes => "sq8_codes",
            SectionKind::IdGroups => "id_groups",
        }
    }

    fn from_code(code: u32) -> Option<SectionKind> {
        SectionKind::ALL.into_iter().find(|k| *k as u32 == code)
    }
}

/// One row of the section table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Section {
    /// What the section holds.
    pub kind: SectionKind,
    /// Byte offset from the start of the file (multiple of 64).
    pub offset: u64,
    /// Length in bytes (padding excluded).
    pub length: u64,
    /// CRC-32 (IEEE) of the section's bytes.
    pub crc32: u32,
}

/// The decoded fixed-size header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header {
    /// `FLAG_F32` / `FLAG_SQ8`.
    pub flags: u32,
    /// Distance metric.
    pub metric: Metric,
    /// Vector dimension.
    pub dim: u32,
    /// Upper-layer degree.
    pub m: u32,
    /// Layer-0 degree (normally `2 * m`).
    pub m0: u32,
    /// ef_construction used to build (informational).
    pub ef_construction: u32,
    /// Highest level of any node.
    pub max_level: u32,
    /// Node number of the entry point (`u32::MAX` when empty).
    pub entry_point: u32,
    /// Number of ids (vectors as given to the writer).
    pub count: u64,
    /// Number of graph nodes (distinct vectors); equals `count` in version 1.
    pub nodes: u64,
    /// Format version the file was written with.
    pub version: u32,
    /// Total file length in bytes.
    pub file_len: u64,
    /// Section table.
    pub sections: Vec<Section>,
}

fn u32_at(b: &[u8], at: usize) -> u32 {
    let mut a = [0u8; 4];
    a.copy_from_slice(&b[at..at + 4]);
    u32::from_le_bytes(a)
}

fn u64_at(b: &[u8], at: usize) -> u64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(&b[at..at + 8]);
    u64::from_le_bytes(a)
}

impl Header {
    /// Encodes the header, header checksum included.
    pub fn encode(&self) -> [u8; HEADER_LEN] {
        let mut b = [0u8; HEADER_LEN];
        b[0..8].copy_from_slice(&MAGIC);
        let put32 = |b: &mut [u8; HEADER_LEN], at: usize, v: u32| {
            b[at..at + 4].copy_from_slice(&v.to_le_bytes())
        };
        put32(&mut b, 8, self.version);
        put32(&mut b, 12, HEADER_LEN as u32);
        put32(&mut b, 16, self.flags);
        put32(&mut b, 20, self.metric.code());
        put32(&mut b, 24, self.dim);
        put32(&mut b, 28, self.m);
        put32(&mut b, 32, self.m0);
        put32(&mut b, 36, self.ef_construction);
        put32(&mut b, 40, self.max_level);
        put32(&mut b, 44, self.entry_point);
        b[48..56].copy_from_slice(&self.count.to_le_bytes());
        put32(&mut b, 56, self.sections.len() as u32);
        b[64..72].copy_from_slice(&self.file_len.to_le_bytes());
        if self.version >= 2 {
            b[72..80].copy_from_slice(&self.nodes.to_le_bytes());
        }
        for (i, s) in self.sections.iter().enumerate() {
            let at = TABLE_OFFSET + i * ENTRY_LEN;
            put32(&mut b, at, s.kind as u32);
            b[at + 8..at + 16].copy_from_slice(&s.offset.to_le_bytes());
            b[at + 16..at + 24].copy_from_slice(&s.length.to_le_bytes());
            put32(&mut b, at + 24, s.crc32);
        }
        let crc = crc32fast::hash(&b);
        put32(&mut b, CRC_OFFSET, crc);
        b
    }

    /// Decodes and checks a header: magic, version, checksum, field ranges, and every
    /// section's bounds and alignment against `actual_len`, the file's length. O(1).
    pub fn decode(b: &[u8], actual_len: u64) -> Result<Header, IndexError> {
        if b.len() < 16 || b[0..8] != MAGIC {
            if b.len() >= 8 && b[0..8] != MAGIC {
                return Err(IndexError::BadMagic);
            }
            return Err(IndexError::Truncated {
                expected: HEADER_LEN as u64,
                actual: actual_len,
            });
        }
        let version = u32_at(b, 8);
        if !(OLDEST_READABLE_VERSION..=FORMAT_VERSION).contains(&version) {
            return Err(IndexError::UnsupportedVersion {
                found: version,
                supported: FORMAT_VERSION,
            });
        }
        if b.len() < HEADER_LEN {
            return Err(IndexError::Truncated {
                expected: HEADER_LEN as u64,
                actual: actual_len,
            });
        }
        let b = &b[..HEADER_LEN];
        let stored = u32_at(b, CRC_OFFSET);
        let mut copy = [0u8; HEADER_LEN];
        copy.copy_from_slice(b);
        copy[CRC_OFFSET..CRC_OFFSET + 4].fill(0);
        let computed = crc32fast::hash(&copy);
        if stored != computed {
            return Err(IndexError::ChecksumMismatch {
                section: "header",
                stored,
                computed,
            });
        }
        let header_len = u32_at(b, 12);
        if header_len as usize != HEADER_LEN {
            return Err(IndexError::InvalidHeader(format!(
                "header length {header_len}, expected {HEADER_LEN}"
            )));
        }
        let file_len = u64_at(b, 64);
        if actual_len < file_len {
            return Err(IndexError::Truncated {
                expected: file_len,
                actual: actual_len,
            });
        }
        let metric_code = u32_at(b, 20);
        let metric = Metric::from_code(metric_code).ok_or_else(|| {
            IndexError::InvalidHeader(format!("unknown metric code {metric_code}"))
        })?;
        let header = Header {
            flags: u32_at(b, 16),
            metric,
            dim: u32_at(b, 24),
            m: u32_at(b, 28),
            m0: u32_at(b, 32),
            ef_construction: u32_at(b, 36),
            max_level: u32_at(b, 40),
            entry_point: u32_at(b, 44),
            count: u64_at(b, 48),
            nodes: if version >= 2 {
                u64_at(b, 72)
            } else {
                u64_at(b, 48)
            },
            version,
            file_len,
            sections: Vec::new(),
        };
        let n_sections = u32_at(b, 56) as usize;
        if n_sections > MAX_SECTIONS {
            return Err(IndexError::BadSectionTable(format!(
                "{n_sections} sections listed, at most {MAX_SECTIONS} allowed"
            )));
        }
        let mut sections = Vec::with_capacity(n_sections);
        for i in 0..n_sections {
            let at = TABLE_OFFSET + i * ENTRY_LEN;
            let code = u32_at(b, at);
            let kind = SectionKind::from_code(code).ok_or_else(|| {
                IndexError::BadSectionTable(format!("unknown section kind {code}"))
            })?;
            if sections.iter().any(|s: &Section| s.kind == kind) {
                return Err(IndexError::BadSectionTable(format!(
                    "section {} listed twice",
                    kind.name()
                )));
            }
            let s = Section {
                kind,
                offset: u64_at(b, at + 8),
                length: u64_at(b, at + 16),
                crc32: u32_at(b, at + 24),
            };
            let end = s.offset.checked_add(s.length);
            if s.offset < HEADER_LEN as u64 || end.is_none_or(|e| e > file_len) {
                return Err(IndexError::SectionOutOfBounds {
                    section: kind.name(),
                    offset: s.offset,
                    length: s.length,
                    file_len,
                });
            }
            if !s.offset.is_multiple_of(SECTION_ALIGN) {
                return Err(IndexError::Misaligned {
                    section: kind.name(),
                    offset: s.offset,
                });
            }
            sections.push(s);
        }
        Ok(Header { sections, ..header })
    }

    /// The table row for `kind`, if present.
    pub fn section(&self, kind: SectionKind) -> Option<&Section> {
        self.sections.iter().find(|s| s.kind == kind)
    }
}
