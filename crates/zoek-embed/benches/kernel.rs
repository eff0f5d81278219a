//! The Q4_0 linear-layer kernel on the model's three matrix shapes, per backend, against
//! candle's `QMatMul` (Q4_0 weights x Q8_0 activations) on the same weights.
//!
//! Throughput is reported as elements/s where one element is one floating-point operation
//! (`2 * rows * cols * tokens` per product), so criterion's `Gelem/s` reads as GFLOP/s.
//! Run with `cargo bench -p zoek-embed --bench kernel`; both sides use the global rayon pool.

use candle_core::quantized::{GgmlDType, QMatMul, ggml_file::qtensor_from_ggml};
use candle_core::{Device, Module, Tensor};
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use half::f16;
use std::hint::black_box;
use std::time::Duration;
use zoek_embed::internals::{BLOCK, Backend, QMatrix};

/// (rows, cols): attention projections and output, FFN up, FFN down.
const SHAPES: [(usize, usize); 3] = [(384, 384), (1536, 384), (384, 1536)];
/// A short query and a batch of passages.
const TOKENS: [usize; 2] = [12, 512];

/// Deterministic weights and activations with the model's rough magnitudes.
fn data(rows: usize, cols: usize, tokens: usize) -> (Vec<u8>, Vec<f32>, Vec<f32>) {
    let mut s = 0x2545_f491_4f6c_dd1du64;
    let mut next = move || {
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        s
    };
    let mut bytes = Vec::with_capacity(rows * cols / BLOCK * 18);
    for _ in 0..rows * cols / BLOCK {
        let d = f16::from_f32(0.01 + (next() % 1000) as f32 * 4e-5);
        bytes.extend_from_slice(&d.to_le_bytes());
        bytes.extend((0..16).map(|_| next() as u8));
    }
    let unit = |v: u64| (v % 2001) as f32 / 1000.0 - 1.0;
    let x = (0..tokens * cols).map(|_| unit(next())).collect();
    let bias = (0..rows).map(|_| unit(next())).collect();
    (bytes, x, bias)
}

fn bench_kernel(c: &mut Criterion) {
    for (rows, cols) in SHAPES {
        for tokens in TOKENS {
            let (bytes, x, bias) = data(rows, cols, tokens);
            let m = QMatrix::from_q4_0_bytes(&bytes, rows, cols).expect("valid shape");
            let mut y = vec![0f32; tokens * rows];
            let mut group = c.benchmark_group(format!("q4_linear/{rows}x{cols}/t{tokens}"));
            group.throughput(Throughput::Elements((2 * rows * cols * tokens) as u64));
            group.warm_up_time(Duration::from_millis(300));
            group.measurement_time(Duration::from_secs(2));
            group.sample_size(20);
            for backend in Backend::available() {
                group.bench_function(BenchmarkId::new("zoek", backend.name()), |b| {
                    b.iter(|| {
                        m.matmul_with(backend, black_box(&x), tokens, Some(&bias), &mut y)
                            .expect("shapes match")
                    })
                });
            }
            let qt = qtensor_from_ggml(GgmlDType::Q4_0, &bytes, vec![rows, cols], &Device::Cpu)
                .expect("valid Q4_0");
            let qm = QMatMul::from_qtensor(qt).expect("quantised matmul");
            let xt = Tensor::from_slice(&x, (tokens, cols), &Device::Cpu).expect("tensor");
            group.bench_function(BenchmarkId::new("candle", "qmatmul_q4_0"), |b| {
                b.iter(|| qm.forward(black_box(&xt)).expect("forward"))
            });
            group.finish();
        }
    }
}

criterion_group!(benches, bench_kernel);
criterion_main!(benches);
