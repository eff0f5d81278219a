//! Attention of one layer (12 heads of 32, hidden 384) per path: the AVX-512 and AVX2 tiles
//! and the portable one-row loop, on the batch shapes a build runs. Throughput is in query
//! rows (tokens) per second.
//!
//! Run with `cargo bench -p zoek-embed --bench attention`. Single-threaded: a build runs
//! one batch per thread.

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use std::hint::black_box;
use std::time::Duration;
use zoek_embed::internals::{AttnPath, AttnShape, attention_rows_with, kt_stride, transpose};

const HIDDEN: usize = 384;
const HEADS: usize = 12;

/// (name, sequence lengths): sentences of a separate build, passages of a late one, one
/// full window.
const BATCHES: [(&str, &[usize]); 3] = [
    ("sentences 48x21", &[21; 48]),
    ("passages 16x64", &[64; 16]),
    ("window 2x512", &[512; 2]),
];

fn bench_attention(c: &mut Criterion) {
    for (name, lens) in BATCHES {
        let tokens: usize = lens.iter().sum();
        let mut bounds = Vec::new();
        let mut start = 0;
        for &l in lens {
            bounds.push((start, start + l));
            start += l;
        }
        let f = |i: usize| ((i * 7919 % 1009) as f32 - 504.0) / 300.0;
        let q: Vec<f32> = (0..tokens * HIDDEN).map(f).collect();
        let k: Vec<f32> = (0..tokens * HIDDEN).map(|i| f(i + 5)).collect();
        let v: Vec<f32> = (0..tokens * HIDDEN).map(|i| f(i + 17)).collect();
        let mut kt = vec![0f32; kt_stride(tokens) * HIDDEN];
        transpose(&k, tokens, HIDDEN, &mut kt);
        let shape = AttnShape {
            tokens,
            hidden: HIDDEN,
            heads: HEADS,
        };
        let mut out = vec![0f32; tokens * HIDDEN];
        let mut probs = Vec::new();
        let mut group = c.benchmark_group(format!("attention/{name}"));
        group.throughput(Throughput::Elements(tokens as u64));
        group.warm_up_time(Duration::from_millis(300));
        group.measurement_time(Duration::from_secs(2));
        group.sample_size(20);
        for path in [AttnPath::Avx512, AttnPath::Avx2, AttnPath::Portable] {
            if !path.is_available(HIDDEN / HEADS) {
                continue;
            }
            group.bench_function(BenchmarkId::from_parameter(format!("{path:?}")), |b| {
                b.iter(|| {
                    attention_rows_with(
                        path,
                        &mut out,
                        0,
                        black_box(&q),
                        &kt,
                        &v,
                        &bounds,
                        shape,
                        &mut probs,
                    )
                })
            });
        }
        group.finish();
    }
}

criterion_group!(benches, bench_attention);
criterion_main!(benches);
