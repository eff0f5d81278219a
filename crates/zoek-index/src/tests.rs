//! Crate tests: recall against exact search, round trips, corruption, concurrency,
//! filters, int8, atomic writes. They live inside the crate so that corruption tests
//! can rewrite headers with the real codec.

use std::path::{Path, PathBuf};

use crate::builder::splitmix64;
use crate::format::{HEADER_LEN, Header, SectionKind};
use crate::texmex;
use crate::*;

fn gaussian(state: &mut u64) -> f32 {
    let u1 = ((splitmix64(state) >> 11) as f64 + 1.0) / (1u64 << 53) as f64;
    let u2 = (splitmix64(state) >> 11) as f64 / (1u64 << 53) as f64;
    ((-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()) as f32
}

/// `n` random unit vectors of `dim` components.
fn random_unit(n: usize, dim: usize, seed: u64) -> Vec<f32> {
    let mut state = seed;
    let mut v: Vec<f32> = (0..n * dim).map(|_| gaussian(&mut state)).collect();
    v.chunks_exact_mut(dim).for_each(crate::distance::normalize);
    v
}

fn shared_dir() -> Option<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data/bigann10k");
    if dir.join("bigann10k_base.bvecs").exists() {
        Some(dir)
    } else {
        println!("SKIPPED: {} is absent (needs ../shared)", dir.display());
        None
    }
}

fn recall_at(k: usize, got: &[Neighbor], truth: &[u64]) -> usize {
    let truth = &truth[..k.min(truth.len())];
    got.iter().take(k).filter(|n| truth.contains(&n.id)).count()
}

fn tmp() -> tempfile::TempDir {
    tempfile::tempdir().expect("temp dir")
}

fn write(
    path: &Path,
    dim: usize,
    metric: Metric,
    vectors: &[f32],
    options: WriteOptions,
) -> IndexStats {
    let ids: Vec<u64> = (0..(vectors.len() / dim) as u64)
        .map(|i| i * 3 + 1)
        .collect();
    write_index(
        path,
        dim,
        metric,
        &HnswParams::default(),
        &ids,
        vectors,
        &options,
    )
    .expect("write")
}

fn id_of(pos: usize) -> u64 {
    pos as u64 * 3 + 1
}

/// Mean recall@10 of the index at `ef` against brute force over `vectors`.
fn mean_recall(index: &HnswIndex, vectors: &[f32], queries: &[f32], dim: usize, ef: usize) -> f64 {
    let ids: Vec<u64> = (0..vectors.len() / dim).map(id_of).collect();
    let mut hits = 0;
    let nq = queries.len() / dim;
    for q in queries.chunks_exact(dim) {
        let truth: Vec<u64> = exact_search(vectors, dim, &ids, q, 10, index.metric())
            .iter()
            .map(|n| n.id)
            .collect();
        hits += recall_at(10, &index.search(q, 10, ef).expect("search"), &truth);
    }
    hits as f64 / (nq * 10) as f64
}

#[test]
fn bigann10k_recall_at_ef100_against_shipped_ground_truth() {
    let Some(dir) = shared_dir() else { return };
    let base = texmex::read_bvecs(&dir.join("bigann10k_base.bvecs"), None).expect("base");
    let queries = texmex::read_bvecs(&dir.join("bigann10k_query.bvecs"), None).expect("queries");
    let gt = texmex::read_ivecs(&dir.join("bigann10k_groundtruth.ivecs"), None).expect("gt");
    assert_eq!((base.len(), base.dim, queries.len()), (10_000, 128, 100));
    let d = tmp();
    let path = d.path().join("bigann.hnsw");
    let ids: Vec<u64> = (0..base.len() as u64).collect();
    write_index(
        &path,
        128,
        Metric::L2,
        &HnswParams::default(),
        &ids,
        &base.data,
        &WriteOptions::default(),
    )
    .expect("write");
    let index = HnswIndex::open(&path).expect("open");
    index.verify().expect("verify");
    let mut hits = 0;
    for qi in 0..queries.len() {
        let truth: Vec<u64> = gt.row(qi)[..10].iter().map(|&x| x as u64).collect();
        let got = index.search(queries.row(qi), 10, 100).expect("search");
        // The shipped ground truth must agree with our own brute force.
        let exact = index
            .exact_search(queries.row(qi), 10, None)
            .expect("exact");
        assert!(
            recall_at(10, &exact, &truth) >= 9,
            "query {qi}: exact search disagrees with gt"
        );
        hits += recall_at(10, &got, &truth);
    }
    let recall = hits as f64 / 1000.0;
    println!("bigann10k recall@10 at ef=100: {recall:.4}");
    assert!(recall >= 0.98, "recall {recall}");
}

#[test]
fn random_unit_vectors_cosine_recall_at_ef100() {
    let (n, dim) = (5_000, 32);
    let data = random_unit(n, dim, 1);
    let queries = random_unit(100, dim, 2);
    let d = tmp();
    let path = d.path().join("random.hnsw");
    write(&path, dim, Metric::Cosine, &data, WriteOptions::default());
    let index = HnswIndex::open(&path).expect("open");
    index.verify().expect("verify");
    let recall = mean_recall(&index, &data, &queries, dim, 100);
    println!("random cosine recall@10 at ef=100: {recall:.4}");
    assert!(recall >= 0.98, "recall {recall}");
    let low = mean_recall(&index, &data, &queries, dim, 10);
    assert!(
        low < recall + 1e-9,
        "ef=10 ({low}) cannot beat ef=100 ({recall})"
    );
}

#[test]
fn round_trip_keeps_ids_metadata_and_finds_every_vector_itself() {
    let (n, dim) = (2_000, 24);
    let data = random_unit(n, dim, 3);
    let d = tmp();
    let path = d.path().join("rt.hnsw");
    for metric in [Metric::Cosine, Metric::Dot, Metric::L2] {
        let stats = write(&path, dim, metric, &data, WriteOptions::default());
        let index = HnswIndex::open(&path).expect("open");
        assert_eq!(
            (index.len(), index.dim(), index.metric(), index.m()),
            (n, dim, metric, 16)
        );
        assert_eq!(index.file_len(), stats.file_bytes);
        assert_eq!(
            std::fs::metadata(&path).expect("meta").len(),
            stats.file_bytes
        );
        index.verify().expect("verify");
        let mut found_self = 0;
        for (pos, v) in data.chunks_exact(dim).enumerate() {
            let hits = index.search(v, 1, 32).expect("search");
            if hits[0].id == id_of(pos) {
                found_self += 1;
            }
        }
        assert!(
            found_self >= n * 99 / 100,
            "{metric:?}: {found_self}/{n} find themselves"
        );
        let ids: Vec<u64> = (0..n).map(id_of).collect();
        let q = &data[..dim];
        let a = index.exact_search(q, 5, None).expect("exact");
        let b = exact_search(&data, dim, &ids, q, 5, metric);
        assert_eq!(
            a.iter().map(|x| x.id).collect::<Vec<_>>(),
            b.iter().map(|x| x.id).collect::<Vec<_>>()
        );
        for (x, y) in a.iter().zip(&b) {
            assert!(
                (x.distance - y.distance).abs() < 1e-4,
                "{metric:?} {x:?} {y:?}"
            );
        }
    }
}

#[test]
fn index_writer_matches_write_index_and_rejects_bad_input() {
    let dim = 8;
    let data = random_unit(300, dim, 4);
    let d = tmp();
    let mut w = IndexWriter::new(
        dim,
        Metric::L2,
        HnswParams::default(),
        WriteOptions::default(),
    )
    .expect("new");
    for (i, v) in data.chunks_exact(dim).enumerate() {
        w.add(i as u64, v).expect("add");
    }
    assert!(matches!(
        w.add(9999, &[0.0; 3]),
        Err(IndexError::DimensionMismatch {
            expected: 8,
            found: 3
        })
    ));
    assert!(matches!(
        w.add(9999, &[f32::NAN; 8]),
        Err(IndexError::NonFinite { .. })
    ));
    assert_eq!(w.len(), 300);
    let path = d.path().join("w.hnsw");
    w.finish(&path).expect("finish");
    let index = HnswIndex::open(&path).expect("open");
    assert_eq!(
        index
            .search(&data[dim * 7..dim * 8], 1, 16)
            .expect("search")[0]
            .id,
        7
    );
    assert!(matches!(
        index.search(&[0.0; 3], 1, 16),
        Err(IndexError::DimensionMismatch {
            expected: 8,
            found: 3
        })
    ));
    let dup = write_index(
        &path,
        dim,
        Metric::L2,
        &HnswParams::default(),
        &[1, 1],
        &data[..16],
        &WriteOptions::default(),
    );
    assert!(matches!(dup, Err(IndexError::InvalidInput(_))));
    let bad_m = HnswParams {
        m: 1,
        ..HnswParams::default()
    };
    assert!(matches!(
        IndexWriter::new(dim, Metric::L2, bad_m, WriteOptions::default()),
        Err(IndexError::InvalidParameter(_))
    ));
    // The failed writes left the earlier index in place.
    HnswIndex::open(&path)
        .expect("still opens")
        .verify()
        .expect("still valid");
}

#[test]
fn empty_and_single_vector_indexes_work() {
    let d = tmp();
    let path = d.path().join("empty.hnsw");
    write_index(
        &path,
        4,
        Metric::Cosine,
        &HnswParams::default(),
        &[],
        &[],
        &WriteOptions::default(),
    )
    .expect("write");
    let index = HnswIndex::open(&path).expect("open");
    assert!(index.is_empty());
    index.verify().expect("verify");
    assert!(
        index
            .search(&[1.0, 0.0, 0.0, 0.0], 5, 10)
            .expect("search")
            .is_empty()
    );
    assert!(
        index
            .exact_search(&[1.0, 0.0, 0.0, 0.0], 5, None)
            .expect("exact")
            .is_empty()
    );
    write_index(
        &path,
        4,
        Metric::L2,
        &HnswParams::default(),
        &[42],
        &[1.0, 2.0, 3.0, 4.0],
        &WriteOptions::default(),
    )
    .expect("write one");
    let index = HnswIndex::open(&path).expect("open");
    index.verify().expect("verify");
    let hits = index.search(&[1.0, 2.0, 3.0, 5.0], 5, 10).expect("search");
    assert_eq!(
        hits,
        vec![Neighbor {
            id: 42,
            distance: 1.0
        }]
    );
}

/// Writes a small index and returns its path and bytes.
fn small_index(d: &tempfile::TempDir) -> (PathBuf, Vec<u8>) {
    let path = d.path().join("small.hnsw");
    write(
        &path,
        16,
        Metric::L2,
        &random_unit(500, 16, 5),
        WriteOptions::default(),
    );
    let bytes = std::fs::read(&path).expect("read");
    (path, bytes)
}

fn rewrite_header(bytes: &mut [u8], edit: impl FnOnce(&mut Header)) {
    let mut h = Header::decode(bytes, bytes.len() as u64).expect("decode");
    edit(&mut h);
    bytes[..HEADER_LEN].copy_from_slice(&h.encode());
}

fn open_bytes(d: &tempfile::TempDir, bytes: &[u8]) -> Result<HnswIndex, IndexError> {
    let path = d.path().join("damaged.hnsw");
    std::fs::write(&path, bytes).expect("write damaged");
    HnswIndex::open(&path)
}

#[test]
fn damaged_headers_give_typed_errors() {
    let d = tmp();
    let (_, good) = small_index(&d);
    open_bytes(&d, &good).expect("intact file opens");

    let cut = &good[..good.len() - 100];
    assert!(
        matches!(open_bytes(&d, cut), Err(IndexError::Truncated { .. })),
        "truncated"
    );
    assert!(
        matches!(
            open_bytes(&d, &good[..100]),
            Err(IndexError::Truncated { .. })
        ),
        "short header"
    );
    assert!(
        matches!(open_bytes(&d, &[]), Err(IndexError::Truncated { .. })),
        "empty file"
    );

    let mut b = good.clone();
    b[0] = b'X';
    assert!(matches!(open_bytes(&d, &b), Err(IndexError::BadMagic)));

    let mut b = good.clone();
    b[8..12].copy_from_slice(&(FORMAT_VERSION + 1).to_le_bytes());
    assert!(matches!(
        open_bytes(&d, &b),
        Err(IndexError::UnsupportedVersion {
            found,
            supported: FORMAT_VERSION
        }) if found == FORMAT_VERSION + 1
    ));
    b[8..12].copy_from_slice(&0u32.to_le_bytes());
    assert!(matches!(
        open_bytes(&d, &b),
        Err(IndexError::UnsupportedVersion { found: 0, .. })
    ));

    let mut b = good.clone();
    b[24] ^= 1; // dim, without fixing the header CRC
    assert!(matches!(
        open_bytes(&d, &b),
        Err(IndexError::ChecksumMismatch {
            section: "header",
            ..
        })
    ));

    let mut b = good.clone();
    rewrite_header(&mut b, |h| {
        let s = h
            .sections
            .iter_mut()
            .find(|s| s.kind == SectionKind::Level0)
            .expect("level0");
        s.offset = h.file_len - 64;
    });
    assert!(matches!(
        open_bytes(&d, &b),
        Err(IndexError::SectionOutOfBounds {
            section: "level0",
            ..
        })
    ));

    let mut b = good.clone();
    rewrite_header(&mut b, |h| h.sections[0].offset += 4);
    assert!(matches!(
        open_bytes(&d, &b),
        Err(IndexError::Misaligned { .. })
    ));

    let mut b = good.clone();
    rewrite_header(&mut b, |h| h.count += 1);
    assert!(matches!(
        open_bytes(&d, &b),
        Err(IndexError::SectionLength { .. })
    ));

    let mut b = good.clone();
    rewrite_header(&mut b, |h| h.entry_point = h.count as u32 + 5);
    assert!(matches!(
        open_bytes(&d, &b),
        Err(IndexError::InvalidHeader(_))
    ));

    let mut b = good.clone();
    rewrite_header(&mut b, |h| {
        h.sections.retain(|s| s.kind != SectionKind::Ids)
    });
    assert!(matches!(
        open_bytes(&d, &b),
        Err(IndexError::SectionLength { section: "ids", .. })
    ));
}

#[test]
fn damaged_sections_are_found_by_verify_and_never_crash_search() {
    let d = tmp();
    let (_, good) = small_index(&d);
    let h = Header::decode(&good, good.len() as u64).expect("decode");
    let level0 = *h.section(SectionKind::Level0).expect("level0");
    let vectors = *h.section(SectionKind::VectorsF32).expect("vectors");
    let q = random_unit(1, 16, 99);

    // A bit flip in the vectors: opens, searches, and verify names the section.
    let mut b = good.clone();
    b[vectors.offset as usize + 40] ^= 0x40;
    let index = open_bytes(&d, &b).expect("opens");
    index.search(&q, 10, 50).expect("search still works");
    assert!(matches!(
        index.verify(),
        Err(IndexError::ChecksumMismatch {
            section: "vectors_f32",
            ..
        })
    ));

    // Out-of-range links with a matching CRC: only the invariant check can see them.
    let mut b = good.clone();
    let off = level0.offset as usize;
    let row_len = 33 * 4;
    for node in 0..500 {
        let slot = off + node * row_len + 4;
        b[slot..slot + 4].copy_from_slice(&(1_000_000u32 + node as u32).to_le_bytes());
    }
    let crc = crc32fast::hash(&b[off..off + level0.length as usize]);
    rewrite_header(&mut b, |h| {
        h.sections
            .iter_mut()
            .find(|s| s.kind == SectionKind::Level0)
            .expect("l0")
            .crc32 = crc;
    });
    let index = open_bytes(&d, &b).expect("opens");
    let hits = index.search(&q, 10, 50).expect("search survives bad links");
    assert!(hits.iter().all(|n| n.id <= id_of(499)));
    assert!(matches!(
        index.verify(),
        Err(IndexError::NeighbourOutOfRange { level: 0, .. })
    ));

    // Link counts larger than the row: clamped by search, reported by verify.
    let mut b = good.clone();
    for node in 0..500 {
        let at = off + node * row_len;
        b[at..at + 4].copy_from_slice(&u32::MAX.to_le_bytes());
    }
    let crc = crc32fast::hash(&b[off..off + level0.length as usize]);
    rewrite_header(&mut b, |h| {
        h.sections
            .iter_mut()
            .find(|s| s.kind == SectionKind::Level0)
            .expect("l0")
            .crc32 = crc;
    });
    let index = open_bytes(&d, &b).expect("opens");
    index
        .search(&q, 10, 50)
        .expect("search survives bad counts");
    assert!(matches!(index.verify(), Err(IndexError::InvalidGraph(_))));

    // Garbage over every section (CRCs fixed up): search must still not panic.
    let mut b = good.clone();
    let mut state = 7u64;
    for byte in &mut b[HEADER_LEN..] {
        *byte = splitmix64(&mut state) as u8;
    }
    let crcs: Vec<(SectionKind, u32)> = h
        .sections
        .iter()
        .map(|s| {
            (
                s.kind,
                crc32fast::hash(&b[s.offset as usize..(s.offset + s.length) as usize]),
            )
        })
        .collect();
    rewrite_header(&mut b, |h| {
        for (kind, crc) in crcs {
            h.sections
                .iter_mut()
                .find(|s| s.kind == kind)
                .expect("section")
                .crc32 = crc;
        }
    });
    let index = open_bytes(&d, &b).expect("opens");
    let _ = index.search(&q, 10, 50).expect("search on garbage");
    let _ = index
        .search_filtered(&q, 10, 50, &|id| id.is_multiple_of(2))
        .expect("filtered on garbage");
    assert!(index.verify().is_err());
}

#[test]
fn concurrent_queries_equal_single_thread_results() {
    let (n, dim) = (3_000, 32);
    let data = random_unit(n, dim, 6);
    let queries = random_unit(64, dim, 7);
    let d = tmp();
    let path = d.path().join("conc.hnsw");
    write(&path, dim, Metric::Cosine, &data, WriteOptions::default());
    let index = std::sync::Arc::new(HnswIndex::open(&path).expect("open"));
    let single: Vec<Vec<Neighbor>> = queries
        .chunks_exact(dim)
        .map(|q| index.search(q, 10, 64).expect("search"))
        .collect();
    let threads: Vec<_> = (0..4)
        .map(|t| {
            let index = index.clone();
            let queries = queries.clone();
            std::thread::spawn(move || {
                // Different threads walk the queries in different orders.
                let mut out = vec![Vec::new(); 64];
                for i in 0..64 {
                    let qi = (i * (2 * t + 1)) % 64;
                    out[qi] = index
                        .search(&queries[qi * dim..(qi + 1) * dim], 10, 64)
                        .expect("search");
                }
                out
            })
        })
        .collect();
    for t in threads {
        assert_eq!(t.join().expect("thread"), single);
    }
}

#[test]
fn filtered_search_respects_the_filter_and_falls_back_to_exact() {
    let (n, dim) = (4_000, 32);
    let data = random_unit(n, dim, 8);
    let queries = random_unit(30, dim, 9);
    let d = tmp();
    let path = d.path().join("filter.hnsw");
    write(&path, dim, Metric::Cosine, &data, WriteOptions::default());
    let index = HnswIndex::open(&path).expect("open");

    // Half of the ids pass: graph walk; compare with filtered brute force.
    let even = |id: u64| id.is_multiple_of(2);
    let mut hits = 0;
    for q in queries.chunks_exact(dim) {
        let got = index.search_filtered(q, 10, 100, &even).expect("filtered");
        assert_eq!(got.len(), 10);
        assert!(got.iter().all(|n| even(n.id)));
        let truth: Vec<u64> = index
            .exact_search(q, 10, Some(&even))
            .expect("exact")
            .iter()
            .map(|n| n.id)
            .collect();
        assert!(truth.iter().all(|&id| even(id)));
        hits += recall_at(10, &got, &truth);
    }
    let recall = hits as f64 / 300.0;
    assert!(recall >= 0.95, "filtered recall {recall}");

    // One id in 400 passes: the exact fallback must return the exact answer.
    let rare = |id: u64| id % 1200 == 1;
    for q in queries.chunks_exact(dim) {
        let got = index.search_filtered(q, 5, 50, &rare).expect("rare");
        let truth = index.exact_search(q, 5, Some(&rare)).expect("exact");
        assert_eq!(got, truth);
        assert_eq!(got.len(), 5);
    }
    let none = index
        .search_filtered(&queries[..dim], 5, 50, &|_| false)
        .expect("none");
    assert!(none.is_empty());
    let all = index
        .search_filtered(&queries[..dim], 5, 50, &|_| true)
        .expect("all");
    assert_eq!(all, index.search(&queries[..dim], 5, 50).expect("plain"));
}

#[test]
fn int8_quantisation_keeps_recall_and_shrinks_the_file() {
    let (n, dim) = (5_000, 32);
    let data = random_unit(n, dim, 10);
    let queries = random_unit(100, dim, 11);
    let d = tmp();
    let f32_path = d.path().join("f32.hnsw");
    let f32_stats = write(
        &f32_path,
        dim,
        Metric::Cosine,
        &data,
        WriteOptions::default(),
    );
    let f32_index = HnswIndex::open(&f32_path).expect("open f32");
    let f32_recall = mean_recall(&f32_index, &data, &queries, dim, 100);
    let mut recalls = Vec::new();
    for rescore in [true, false] {
        let path = d.path().join(format!("int8-{rescore}.hnsw"));
        let opts = WriteOptions {
            quantization: Quantization::Int8 { rescore },
        };
        let stats = write(&path, dim, Metric::Cosine, &data, opts);
        let index = HnswIndex::open(&path).expect("open");
        index.verify().expect("verify");
        assert!(index.is_quantized());
        assert_eq!(index.has_f32(), rescore);
        let recall = mean_recall(&index, &data, &queries, dim, 100);
        println!(
            "int8 rescore={rescore}: recall@10 {recall:.4}, {} bytes vs f32 {}",
            stats.file_bytes, f32_stats.file_bytes
        );
        recalls.push(recall);
        if !rescore {
            // One byte per component instead of four, plus a 4-byte norm per vector.
            let saved = f32_stats.file_bytes - stats.file_bytes;
            assert!(
                saved as usize >= n * dim * 3 - n * 4 - 4096,
                "int8 saves only {saved} bytes"
            );
        }
        let q = &queries[..dim];
        let hits = index.search(q, 10, 100).expect("search");
        if rescore {
            // Rescored distances are exact f32 distances.
            let exact = exact_search(
                &data,
                dim,
                &(0..n).map(id_of).collect::<Vec<_>>(),
                q,
                n,
                Metric::Cosine,
            );
            for h in &hits {
                let e = exact.iter().find(|e| e.id == h.id).expect("id exists");
                assert!((e.distance - h.distance).abs() < 1e-4);
            }
        }
    }
    println!("f32 recall@10 {f32_recall:.4}");
    assert!(
        recalls[0] >= f32_recall - 0.01 && recalls[0] >= 0.97,
        "int8+rescore {} vs f32 {f32_recall}",
        recalls[0]
    );
    assert!(
        recalls[1] >= f32_recall - 0.06,
        "int8 {} vs f32 {f32_recall}",
        recalls[1]
    );
}

#[test]
fn an_interrupted_write_never_leaves_an_openable_index() {
    let d = tmp();
    let path = d.path().join("atomic.hnsw");
    let data = random_unit(300, 8, 12);
    write(&path, 8, Metric::L2, &data, WriteOptions::default());
    let before = std::fs::read(&path).expect("read");

    crate::serializer::CRASH_BEFORE_HEADER.with(|c| c.set(true));
    let other = random_unit(300, 8, 13);
    let crashed = write_index(
        &path,
        8,
        Metric::L2,
        &HnswParams::default(),
        &(0..300).collect::<Vec<_>>(),
        &other,
        &WriteOptions::default(),
    );
    crate::serializer::CRASH_BEFORE_HEADER.with(|c| c.set(false));
    assert!(crashed.is_err());

    assert_eq!(
        std::fs::read(&path).expect("read"),
        before,
        "target untouched"
    );
    let leftovers: Vec<PathBuf> = std::fs::read_dir(d.path())
        .expect("dir")
        .map(|e| e.expect("entry").path())
        .filter(|p| p != &path)
        .collect();
    assert_eq!(leftovers.len(), 1, "the crashed write leaves its temp file");
    let temp_len = std::fs::metadata(&leftovers[0]).expect("meta").len();
    assert!(
        temp_len > before.len() as u64 / 2,
        "the temp file holds the sections"
    );
    assert!(matches!(
        HnswIndex::open(&leftovers[0]),
        Err(IndexError::BadMagic)
    ));
    HnswIndex::open(&path)
        .expect("old index opens")
        .verify()
        .expect("old index valid");
}

#[test]
fn texmex_round_trip() {
    let d = tmp();
    let path = d.path().join("v.fvecs");
    let data = random_unit(10, 5, 14);
    texmex::write_fvecs(&path, 5, &data).expect("write");
    let back = texmex::read_fvecs(&path, None).expect("read");
    assert_eq!((back.dim, back.len()), (5, 10));
    assert_eq!(back.data, data);
    assert_eq!(
        texmex::read_vectors(&path, Some(3)).expect("limit").len(),
        3
    );
    let ipath = d.path().join("g.ivecs");
    texmex::write_ivecs(&ipath, 2, &[1, 2, 3, 4]).expect("write ivecs");
    assert_eq!(
        texmex::read_ivecs(&ipath, None).expect("ivecs").data,
        vec![1, 2, 3, 4]
    );
    std::fs::write(&path, [5u8, 0, 0, 0, 1, 2]).expect("write bad");
    assert!(matches!(
        texmex::read_fvecs(&path, None),
        Err(IndexError::InvalidInput(_))
    ));
}

/// Parallel insertion must not lose links: a concurrent inserter may link itself into
/// a new node's list before that node writes it (this orphaned nodes once).
#[test]
fn parallel_build_reaches_every_node_on_bigann10k() {
    let Some(dir) = shared_dir() else { return };
    let base = texmex::read_bvecs(&dir.join("bigann10k_base.bvecs"), None).expect("base");
    let queries = texmex::read_bvecs(&dir.join("bigann10k_query.bvecs"), None).expect("queries");
    let gt = texmex::read_ivecs(&dir.join("bigann10k_groundtruth.ivecs"), None).expect("gt");
    let d = tmp();
    let path = d.path().join("bigann4.hnsw");
    let ids: Vec<u64> = (0..base.len() as u64).collect();
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(4)
        .build()
        .expect("pool");
    pool.install(|| {
        let params = HnswParams::default();
        write_index(
            &path,
            128,
            Metric::L2,
            &params,
            &ids,
            &base.data,
            &WriteOptions::default(),
        )
    })
    .expect("write");
    let bytes = std::fs::read(&path).expect("read");
    let h = Header::decode(&bytes, bytes.len() as u64).expect("decode");
    let l0 = h.section(SectionKind::Level0).expect("level0");
    let rows: &[u32] =
        bytemuck::cast_slice(&bytes[l0.offset as usize..(l0.offset + l0.length) as usize]);
    let mut indegree = vec![0u32; base.len()];
    for r in rows.chunks_exact(33) {
        for &n in &r[1..1 + r[0] as usize] {
            indegree[n as usize] += 1;
        }
    }
    let orphans = indegree.iter().filter(|&&x| x == 0).count();
    let index = HnswIndex::open(&path).expect("open");
    let mut misses = 0;
    for qi in 0..queries.len() {
        let got = index.search(queries.row(qi), 10, 200).expect("search");
        misses += gt.row(qi)[..10]
            .iter()
            .filter(|&&t| !got.iter().any(|g| g.id == t as u64))
            .count();
    }
    assert!(
        orphans <= 1 && misses <= 1,
        "{orphans} unreachable nodes, {misses} misses at ef=200"
    );
}

/// `n` random unit vectors in which row `i` for `i % 4 == 3` repeats an earlier row,
/// and one vector is copied `big` times: the shape of sentence vectors from text that
/// repeats itself.
fn with_duplicates(n: usize, dim: usize, big: usize, seed: u64) -> Vec<f32> {
    let fresh = random_unit(n, dim, seed);
    let mut out = Vec::with_capacity((n + big) * dim);
    let mut state = seed ^ 0xD0;
    for i in 0..n {
        let row = if i % 4 == 3 {
            (splitmix64(&mut state) as usize) % i
        } else {
            i
        };
        out.extend_from_slice(&fresh[row * dim..][..dim]);
        if i == n / 2 {
            for _ in 0..big {
                out.extend_from_slice(&fresh[row * dim..][..dim]);
            }
        }
    }
    out
}

/// Recall by distance: a hit is any result no farther than the k-th true neighbour
/// (ties between identical vectors make recall by id arbitrary).
fn recall_by_distance(got: &[Neighbor], truth: &[Neighbor], k: usize) -> usize {
    let Some(kth) = truth.get(k.min(truth.len()).saturating_sub(1)) else {
        return 0;
    };
    got.iter()
        .take(k)
        .filter(|n| n.distance <= kth.distance + 1e-5)
        .count()
}

#[test]
fn identical_vectors_share_a_node_and_all_their_ids_are_found() {
    let d = tmp();
    let path = d.path().join("dups.hnsw");
    let dim = 24;
    let vectors = with_duplicates(3000, dim, 1500, 11);
    let n = vectors.len() / dim;
    let stats = write(
        &path,
        dim,
        Metric::Cosine,
        &vectors,
        WriteOptions::default(),
    );
    let index = HnswIndex::open(&path).expect("open");
    index.verify().expect("verify");
    assert_eq!(index.len(), n);
    assert_eq!(stats.count, n);
    assert_eq!(index.format_version(), FORMAT_VERSION);
    let distinct: std::collections::HashSet<Vec<u32>> = vectors
        .chunks_exact(dim)
        .map(|r| r.iter().map(|x| x.to_bits()).collect())
        .collect();
    assert!(distinct.len() < 2600, "the fixture should repeat rows");
    assert_eq!(stats.nodes, distinct.len());
    assert_eq!(index.node_count(), stats.nodes);

    // Querying with the vector copied 1501 times: the first k hits are all copies at
    // distance 0, by the graph and by the exact scan alike.
    let big_row = 3000 / 2;
    let q = &vectors[big_row * dim..][..dim];
    let copies: Vec<u64> = (0..n)
        .filter(|&i| vectors[i * dim..][..dim] == *q)
        .map(id_of)
        .collect();
    assert!(copies.len() >= 1501, "{} copies", copies.len());
    for hits in [
        index.search(q, 50, 64).expect("search"),
        index.exact_search(q, 50, None).expect("exact"),
    ] {
        assert_eq!(hits.len(), 50);
        assert!(hits.iter().all(|h| copies.contains(&h.id)));
        assert!(hits.iter().all(|h| h.distance.abs() < 1e-5));
        let mut ids: Vec<u64> = hits.iter().map(|h| h.id).collect();
        ids.sort_unstable();
        ids.dedup();
        assert_eq!(ids.len(), 50, "an id is returned twice");
    }

    // Every id is still reachable as a nearest neighbour of its own vector.
    let mut missing = 0;
    for i in (0..n).step_by(7) {
        let row = &vectors[i * dim..][..dim];
        let group = (0..n)
            .filter(|&j| vectors[j * dim..][..dim] == *row)
            .count();
        let hits = index.search(row, group.min(2000), 2000).expect("search");
        if !hits.iter().any(|h| h.id == id_of(i)) {
            missing += 1;
        }
    }
    assert_eq!(missing, 0, "ids not found by their own vector");

    // Recall on fresh queries, counted by distance.
    let ids: Vec<u64> = (0..n).map(id_of).collect();
    let queries = random_unit(200, dim, 12);
    let mut hits = 0;
    for q in queries.chunks_exact(dim) {
        let truth = exact_search(&vectors, dim, &ids, q, 10, Metric::Cosine);
        hits += recall_by_distance(&index.search(q, 10, 100).expect("search"), &truth, 10);
    }
    let recall = hits as f64 / 2000.0;
    assert!(recall >= 0.98, "recall@10 by distance {recall}");
}

#[test]
fn filters_apply_to_each_id_of_a_shared_node() {
    let d = tmp();
    let path = d.path().join("dups.hnsw");
    let dim = 16;
    let vectors = with_duplicates(2000, dim, 300, 21);
    let n = vectors.len() / dim;
    write(&path, dim, Metric::L2, &vectors, WriteOptions::default());
    let index = HnswIndex::open(&path).expect("open");
    let q = &vectors[1000 * dim..][..dim];
    let copies: Vec<u64> = (0..n)
        .filter(|&i| vectors[i * dim..][..dim] == *q)
        .map(id_of)
        .collect();
    // Keep every other copy of the big group, and all other ids.
    let dropped: Vec<u64> = copies.iter().copied().step_by(2).collect();
    let keep = |id: u64| !dropped.contains(&id);
    for hits in [
        index.search_filtered(q, 40, 100, &keep).expect("filtered"),
        index.exact_search(q, 40, Some(&keep)).expect("exact"),
    ] {
        assert_eq!(hits.len(), 40);
        assert!(hits.iter().all(|h| keep(h.id)));
        assert!(hits.iter().all(|h| copies.contains(&h.id)));
    }
    // A filter that drops the whole group returns other vectors, never a copy.
    let none = |id: u64| !copies.contains(&id);
    let hits = index.search_filtered(q, 10, 100, &none).expect("filtered");
    assert_eq!(hits.len(), 10);
    assert!(
        hits.iter()
            .all(|h| !copies.contains(&h.id) && h.distance > 0.0)
    );
}

#[test]
fn version_1_files_still_open_and_damaged_groups_are_caught() {
    let d = tmp();
    // A file without duplicates has the v1 layout; relabelled as v1 it must still work.
    let (_, mut bytes) = small_index(&d);
    rewrite_header(&mut bytes, |h| h.version = 1);
    let v1 = open_bytes(&d, &bytes).expect("v1 opens");
    assert_eq!(v1.format_version(), 1);
    v1.verify().expect("v1 verifies");
    let q = random_unit(1, 16, 5);
    assert_eq!(v1.search(&q, 1, 32).expect("search")[0].id, id_of(0));

    // A v2 file with groups: the group offsets are covered by verify, and a search over
    // damaged offsets gives (wrong) results without panicking.
    let path = d.path().join("dups.hnsw");
    let dim = 16;
    let vectors = with_duplicates(800, dim, 50, 31);
    write(&path, dim, Metric::L2, &vectors, WriteOptions::default());
    let good = std::fs::read(&path).expect("read");
    let h = Header::decode(&good, good.len() as u64).expect("decode");
    let groups = *h.section(SectionKind::IdGroups).expect("groups section");
    let mut bad = good.clone();
    let at = groups.offset as usize + 40;
    bad[at..at + 4].copy_from_slice(&u32::MAX.to_le_bytes());
    let damaged = open_bytes(&d, &bad).expect("opens (damage is inside a section)");
    assert!(matches!(
        damaged.verify(),
        Err(IndexError::ChecksumMismatch { .. })
    ));
    for q in vectors.chunks_exact(dim).take(50) {
        damaged.search(q, 10, 50).expect("search");
        damaged.exact_search(q, 10, None).expect("exact");
    }
    // Groups claimed in a v1 header are rejected at open.
    let mut v1_groups = good.clone();
    rewrite_header(&mut v1_groups, |h| h.version = 1);
    assert!(open_bytes(&d, &v1_groups).is_err());
    // Node count above the id count is rejected at open.
    let mut too_many = good;
    rewrite_header(&mut too_many, |h| h.nodes = h.count + 1);
    assert!(matches!(
        open_bytes(&d, &too_many),
        Err(IndexError::InvalidHeader(_))
    ));
}
