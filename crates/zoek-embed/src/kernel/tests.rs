//! Every backend against the textbook f32 product, on shapes that hit the tile edges.

use super::reference::reference_matmul;
use super::*;
use half::f16;

/// splitmix64: deterministic data without a dependency.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in [-1, 1).
    fn unit(&mut self) -> f32 {
        (self.next() >> 40) as f32 / (1u64 << 23) as f32 - 1.0
    }
}

fn random_q4(rng: &mut Rng, rows: usize, cols: usize) -> Vec<u8> {
    let mut bytes = Vec::with_capacity(rows * cols / BLOCK * BLOCK_BYTES);
    for _ in 0..rows * cols / BLOCK {
        let d = f16::from_f32(0.01 + 0.04 * (rng.unit() + 1.0) / 2.0);
        bytes.extend_from_slice(&d.to_le_bytes());
        for _ in 0..16 {
            bytes.push(rng.next() as u8);
        }
    }
    bytes
}

/// Activations like a transformer's: mostly small, the odd larger one, some exact zeros.
fn random_x(rng: &mut Rng, n: usize) -> Vec<f32> {
    (0..n)
        .map(|i| match i % 97 {
            0 => 3.0 * rng.unit(),
            1 => 0.0,
            _ => rng.unit(),
        })
        .collect()
}

/// Decodes Q4_0 straight from the bytes, independent of the packed layout.
fn decode_q4(bytes: &[u8], rows: usize, cols: usize) -> Vec<f32> {
    let mut out = vec![0f32; rows * cols];
    for (i, blk) in bytes.chunks_exact(BLOCK_BYTES).enumerate() {
        let d = f16::from_le_bytes([blk[0], blk[1]]).to_f32();
        for j in 0..16 {
            out[i * BLOCK + j] = (f32::from(blk[2 + j] & 15) - 8.0) * d;
            out[i * BLOCK + j + 16] = (f32::from(blk[2 + j] >> 4) - 8.0) * d;
        }
    }
    out
}

/// Within Q8_0 activation error of the f32 product: rounding to steps of amax/127 leaves
/// about 0.4% relative noise per output (more in blocks with an outlier), so the worst of a
/// few thousand outputs stays under 3% of their rms, and whole output vectors keep cosine
/// >= 0.9999.
fn assert_close(got: &[f32], want: &[f32], rows: usize, what: &str) {
    let rms = (want.iter().map(|v| v * v).sum::<f32>() / want.len() as f32).sqrt();
    let max_err = got
        .iter()
        .zip(want)
        .map(|(a, b)| (a - b).abs())
        .fold(0f32, f32::max);
    assert!(
        max_err <= 3e-2 * rms,
        "{what}: max abs error {max_err} > 3e-2 * rms {rms}"
    );
    for (t, (g, w)) in got.chunks(rows).zip(want.chunks(rows)).enumerate() {
        let dot: f64 = g
            .iter()
            .zip(w)
            .map(|(&a, &b)| f64::from(a) * f64::from(b))
            .sum();
        let ng: f64 = g.iter().map(|&a| f64::from(a).powi(2)).sum::<f64>().sqrt();
        let nw: f64 = w.iter().map(|&a| f64::from(a).powi(2)).sum::<f64>().sqrt();
        let cos = dot / (ng * nw);
        assert!(cos >= 0.9999, "{what}: token {t} cosine {cos}");
    }
}

fn backends() -> Vec<Backend> {
    for b in Backend::ALL {
        if !b.is_available() {
            eprintln!("skipping backend {b:?}: not supported by this CPU");
        }
    }
    Backend::available()
}

#[test]
fn every_backend_matches_the_f32_product() {
    let mut rng = Rng(7);
    // (rows, cols, tokens, bias): tokens=1, odd token counts, rows off the 16/32 grid, the
    // model's shapes, and products big enough to take the parallel path.
    let shapes = [
        (40, 64, 1, false),
        (17, 32, 3, true),
        (40, 96, 13, true),
        (384, 384, 12, true),
        (1536, 384, 7, false),
        (384, 1536, 5, true),
        (48, 384, 301, true),
        (1, 32, 2, false),
    ];
    let cases = shapes
        .iter()
        .flat_map(|&s| [(s, WeightFormat::Q4_0), (s, WeightFormat::Q8_0)]);
    for ((rows, cols, tokens, with_bias), format) in cases {
        let m = match format {
            WeightFormat::Q4_0 => {
                QMatrix::from_q4_0_bytes(&random_q4(&mut rng, rows, cols), rows, cols).unwrap()
            }
            WeightFormat::Q8_0 => {
                let w: Vec<f32> = (0..rows * cols).map(|_| 0.05 * rng.unit()).collect();
                QMatrix::from_f32_q8_0(&w, rows, cols).unwrap()
            }
        };
        assert_eq!(m.format(), format);
        let w = m.dequantize();
        let x = random_x(&mut rng, tokens * cols);
        let bias: Vec<f32> = (0..rows).map(|_| rng.unit()).collect();
        let bias = with_bias.then_some(bias.as_slice());
        let mut want = vec![0f32; tokens * rows];
        reference_matmul(&w, rows, cols, &x, tokens, bias, &mut want);
        // The same product on the activations as Q8_0 holds them: the kernels must match it
        // to f32 rounding, which checks their integer maths apart from quantisation error.
        let acts = quant::QuantActs::new(&x, tokens, cols, 8, Backend::Scalar, false);
        let xq: Vec<f32> = acts
            .q
            .iter()
            .enumerate()
            .map(|(i, &q)| f32::from(q) * acts.d[i / BLOCK])
            .collect();
        let mut want_q = vec![0f32; tokens * rows];
        reference_matmul(&w, rows, cols, &xq, tokens, bias, &mut want_q);
        for backend in backends() {
            let mut got = vec![f32::NAN; tokens * rows];
            m.matmul_with(backend, &x, tokens, bias, &mut got).unwrap();
            let what =
                format!("{backend:?} {format:?} {rows}x{cols} tokens={tokens} bias={with_bias}");
            assert_close(&got, &want, rows, &what);
            for (g, w) in got.iter().zip(&want_q) {
                assert!(
                    (g - w).abs() <= 1e-5 * (1.0 + w.abs()),
                    "{what}: {g} vs {w}"
                );
            }
        }
        let mut got = vec![f32::NAN; tokens * rows];
        m.matmul(&x, tokens, bias, &mut got).unwrap();
        assert_close(&got, &want, rows, "default backend");
    }
}

#[test]
fn backends_agree_with_scalar_to_rounding() {
    // Same integer sums everywhere; only the f32 accumulation order may differ.
    let mut rng = Rng(11);
    let (rows, cols, tokens) = (72, 384, 9);
    let m = QMatrix::from_q4_0_bytes(&random_q4(&mut rng, rows, cols), rows, cols).unwrap();
    let x = random_x(&mut rng, tokens * cols);
    let mut scalar = vec![0f32; tokens * rows];
    m.matmul_with(Backend::Scalar, &x, tokens, None, &mut scalar)
        .unwrap();
    for backend in backends() {
        let mut got = vec![0f32; tokens * rows];
        m.matmul_with(backend, &x, tokens, None, &mut got).unwrap();
        for (g, s) in got.iter().zip(&scalar) {
            assert!(
                (g - s).abs() <= 1e-5 * (1.0 + s.abs()),
                "{backend:?}: {g} vs {s}"
            );
        }
    }
}

#[test]
fn quantised_product_is_exact_on_representable_inputs() {
    // Activations that Q8_0 holds exactly (integers up to 127 with a block maximum of 127)
    // and weights with scale 1 make the whole product exact integer arithmetic.
    let (rows, cols, tokens) = (19, 64, 4);
    let mut rng = Rng(3);
    let mut bytes = random_q4(&mut rng, rows, cols);
    for blk in bytes.chunks_exact_mut(BLOCK_BYTES) {
        blk[..2].copy_from_slice(&f16::ONE.to_le_bytes());
    }
    let mut x: Vec<f32> = (0..tokens * cols)
        .map(|_| (rng.next() % 255) as f32 - 127.0)
        .collect();
    for blk in x.chunks_exact_mut(BLOCK) {
        blk[0] = 127.0;
    }
    let m = QMatrix::from_q4_0_bytes(&bytes, rows, cols).unwrap();
    let mut want = vec![0f32; tokens * rows];
    reference_matmul(
        &decode_q4(&bytes, rows, cols),
        rows,
        cols,
        &x,
        tokens,
        None,
        &mut want,
    );
    for backend in backends() {
        let mut got = vec![0f32; tokens * rows];
        m.matmul_with(backend, &x, tokens, None, &mut got).unwrap();
        assert_eq!(got, want, "{backend:?}");
    }
}

#[test]
fn q8_product_is_exact_on_representable_inputs() {
    // Integer weights whose every block holds ±127 quantise to scale 1 and their own codes;
    // with integer activations the product is exact. Rows of all +127 and all -127 against
    // activations of 127 give the largest pair sums, which AVX2's 16-bit lanes must hold.
    let (rows, cols, tokens) = (35, 96, 5);
    let mut rng = Rng(17);
    let mut w: Vec<f32> = (0..rows * cols)
        .map(|_| (rng.next() % 255) as f32 - 127.0)
        .collect();
    for (i, blk) in w.chunks_exact_mut(BLOCK).enumerate() {
        blk[i % BLOCK] = if i % 2 == 0 { 127.0 } else { -127.0 };
    }
    w[..cols].fill(127.0);
    w[cols..2 * cols].fill(-127.0);
    let mut x: Vec<f32> = (0..tokens * cols)
        .map(|_| (rng.next() % 255) as f32 - 127.0)
        .collect();
    for blk in x.chunks_exact_mut(BLOCK) {
        blk[0] = 127.0;
    }
    x[..cols].fill(127.0);
    let m = QMatrix::from_f32_q8_0(&w, rows, cols).unwrap();
    assert_eq!(m.dequantize(), w);
    let mut want = vec![0f32; tokens * rows];
    reference_matmul(&w, rows, cols, &x, tokens, None, &mut want);
    for backend in backends() {
        let mut got = vec![0f32; tokens * rows];
        m.matmul_with(backend, &x, tokens, None, &mut got).unwrap();
        assert_eq!(got, want, "{backend:?}");
    }
}

#[test]
fn q8_weights_are_within_half_a_step() {
    let mut rng = Rng(19);
    let (rows, cols) = (21, 64);
    let mut w: Vec<f32> = (0..rows * cols).map(|_| rng.unit()).collect();
    w[..BLOCK].fill(0.0);
    w[BLOCK] = f32::NAN;
    let m = QMatrix::from_f32_q8_0(&w, rows, cols).unwrap();
    let back = m.dequantize();
    assert!(back[..BLOCK].iter().all(|&v| v == 0.0));
    assert_eq!(back[BLOCK], 0.0, "NaN quantises to 0");
    for (r, (blk, got)) in w.chunks(BLOCK).zip(back.chunks(BLOCK)).enumerate().skip(2) {
        let step = blk.iter().fold(0f32, |m, v| m.max(v.abs())) / 127.0;
        for (a, b) in blk.iter().zip(got) {
            assert!((a - b).abs() <= step * 0.5 + 1e-7, "block {r}: {a} vs {b}");
        }
    }
    assert_eq!(
        QMatrix::from_f32_q8_0(&w[1..], rows, cols).unwrap_err(),
        KernelError::WeightLength {
            expected: rows * cols,
            got: rows * cols - 1
        }
    );
    assert_eq!(
        QMatrix::from_f32_q8_0(&w, rows, 48).unwrap_err(),
        KernelError::BadCols { cols: 48 }
    );
    assert_eq!(
        QMatrix::from_f32_q8_0(&[], 0, 32).unwrap_err(),
        KernelError::NoRows
    );
}

#[test]
fn activations_round_half_to_even() {
    // amax 127 gives scale 1, so 2.5 -> 2, 3.5 -> 4, -2.5 -> -2 as lrintf does.
    let mut x = vec![0f32; BLOCK];
    x[..4].copy_from_slice(&[127.0, 2.5, 3.5, -2.5]);
    for backend in backends() {
        let acts = quant::QuantActs::new(&x, 1, BLOCK, 8, backend, false);
        assert_eq!(&acts.q[..4], &[127, 2, 4, -2], "{backend:?}");
        assert_eq!(acts.d, vec![1.0], "{backend:?}");
        assert_eq!(acts.offset, vec![-8 * (127 + 2 + 4 - 2)], "{backend:?}");
    }
}

#[test]
fn every_backend_quantises_activations_identically() {
    let mut rng = Rng(13);
    // Whole groups of 16 and 8 blocks and the blocks after them (70 x 12 = 52 x 16 + 8,
    // 7 x 3 = 2 x 8 + 5), an all-zero block and one of a single value in a group.
    for (tokens, cols) in [(70, 384), (7, 96), (1, 32)] {
        let mut x = random_x(&mut rng, tokens * cols);
        if x.len() >= 3 * BLOCK {
            x[BLOCK..2 * BLOCK].fill(0.0);
            x[2 * BLOCK..3 * BLOCK].fill(0.0);
            x[2 * BLOCK + 5] = -3.25;
        }
        let want = quant::QuantActs::new(&x, tokens, cols, 8, Backend::Scalar, false);
        for backend in backends() {
            for parallel in [false, true] {
                let got = quant::QuantActs::new(&x, tokens, cols, 8, backend, parallel);
                assert_eq!(got.q, want.q, "{backend:?} {tokens}x{cols}");
                assert_eq!(got.d, want.d, "{backend:?} {tokens}x{cols}");
                assert_eq!(got.offset, want.offset, "{backend:?} {tokens}x{cols}");
            }
        }
    }
}

#[test]
fn kept_activation_buffers_show_nothing_of_earlier_products() {
    let mut rng = Rng(17);
    // A large product fills the thread's kept buffers with its codes; smaller ones after
    // it, and one on a product nested inside (fresh buffers), must see only their own.
    let big = random_x(&mut rng, 96 * 384);
    quant::with_acts(&big, (96, 384), 8, Backend::Scalar, false, |a| {
        assert_eq!(a.q.len(), 96 * 384)
    });
    for (tokens, cols) in [(5, 64), (1, 32), (40, 384)] {
        let x = random_x(&mut rng, tokens * cols);
        for backend in backends() {
            let want = quant::QuantActs::new(&x, tokens, cols, 8, backend, false);
            let check = |got: &quant::QuantActs| {
                assert_eq!(got.q, want.q, "{backend:?} {tokens}x{cols}");
                assert_eq!(got.d, want.d, "{backend:?} {tokens}x{cols}");
                assert_eq!(got.offset, want.offset, "{backend:?} {tokens}x{cols}");
            };
            quant::with_acts(&x, (tokens, cols), 8, backend, true, |outer| {
                quant::with_acts(&x, (tokens, cols), 8, backend, false, check);
                check(outer);
            });
        }
    }
}

#[test]
fn dequantize_decodes_q4_0() {
    let mut rng = Rng(5);
    let (rows, cols) = (33, 96);
    let bytes = random_q4(&mut rng, rows, cols);
    let m = QMatrix::from_q4_0_bytes(&bytes, rows, cols).unwrap();
    assert_eq!((m.rows(), m.cols()), (rows, cols));
    assert_eq!(m.dequantize(), decode_q4(&bytes, rows, cols));
}

/// Split outputs and the epilogue change where results go and what is applied after the
/// sums, never the sums: on every backend and in both formats they equal the plain product,
/// bit for bit, including panels that straddle two parts (rows 3 × 40) and the parallel
/// path (the larger shape).
#[test]
fn split_outputs_and_epilogue_match_the_plain_product() {
    fn double(v: &mut [f32]) {
        v.iter_mut().for_each(|v| *v = 2.0 * *v + 1.0);
    }
    let mut rng = Rng(11);
    for (seg, cols, tokens) in [(40, 64, 5), (272, 256, 64)] {
        let rows = 3 * seg;
        let x = random_x(&mut rng, tokens * cols);
        let bias: Vec<f32> = (0..rows).map(|_| rng.unit()).collect();
        let w: Vec<f32> = (0..rows * cols).map(|_| rng.unit()).collect();
        let q4 = QMatrix::from_q4_0_bytes(&random_q4(&mut rng, rows, cols), rows, cols).unwrap();
        let q8 = QMatrix::from_f32_q8_0(&w, rows, cols).unwrap();
        for m in [&q4, &q8] {
            for backend in backends() {
                let what = format!("{backend:?} {:?} {rows}x{cols}", m.format());
                let mut whole = vec![0f32; tokens * rows];
                m.run(backend, &x, tokens, Some(&bias), &mut [&mut whole], None)
                    .unwrap();
                let mut parts = vec![vec![f32::NAN; tokens * seg]; 3];
                let [a, b, c] = &mut parts[..] else {
                    unreachable!()
                };
                m.run(backend, &x, tokens, Some(&bias), &mut [a, b, c], None)
                    .unwrap();
                for t in 0..tokens {
                    for r in 0..rows {
                        let got = parts[r / seg][t * seg + r % seg];
                        assert_eq!(got.to_bits(), whole[t * rows + r].to_bits(), "{what}");
                    }
                }
                let mut post = vec![f32::NAN; tokens * rows];
                m.run(
                    backend,
                    &x,
                    tokens,
                    Some(&bias),
                    &mut [&mut post],
                    Some(double),
                )
                .unwrap();
                double(&mut whole);
                assert_eq!(post, whole, "{what}: epilogue");
            }
        }
    }
    let m = QMatrix::from_q4_0_bytes(&random_q4(&mut rng, 3, 32), 3, 32).unwrap();
    let (x, mut a, mut b) = (vec![0f32; 32], vec![0f32; 1], vec![0f32; 2]);
    for ys in [&mut [][..], &mut [&mut a[..], &mut b[..]][..]] {
        assert!(matches!(
            m.matmul_split(&x, 1, None, ys),
            Err(KernelError::SliceLength {
                what: "output parts",
                ..
            })
        ));
    }
}

#[test]
fn bad_shapes_are_errors() {
    let bytes = vec![0u8; 2 * BLOCK_BYTES];
    assert_eq!(
        QMatrix::from_q4_0_bytes(&bytes, 2, 48).unwrap_err(),
        KernelError::BadCols { cols: 48 }
    );
    assert_eq!(
        QMatrix::from_q4_0_bytes(&bytes, 2, 0).unwrap_err(),
        KernelError::BadCols { cols: 0 }
    );
    assert_eq!(
        QMatrix::from_q4_0_bytes(&[], 0, 32).unwrap_err(),
        KernelError::NoRows
    );
    assert_eq!(
        QMatrix::from_q4_0_bytes(&bytes, 3, 32).unwrap_err(),
        KernelError::WeightLength {
            expected: 3 * BLOCK_BYTES,
            got: 2 * BLOCK_BYTES
        }
    );
    let m = QMatrix::from_q4_0_bytes(&bytes, 2, 32).unwrap();
    let x = vec![0f32; 64];
    let mut y = vec![0f32; 4];
    assert!(matches!(
        m.matmul(&x[..63], 2, None, &mut y),
        Err(KernelError::SliceLength { what: "x", .. })
    ));
    assert!(matches!(
        m.matmul(&x, 2, None, &mut y[..3]),
        Err(KernelError::SliceLength { what: "y", .. })
    ));
    assert!(matches!(
        m.matmul(&x, 2, Some(&[0.0]), &mut y),
        Err(KernelError::SliceLength { what: "bias", .. })
    ));
    m.matmul(&[], 0, None, &mut []).unwrap();
}

#[test]
fn unavailable_backends_are_refused() {
    let m = QMatrix::from_q4_0_bytes(&[0u8; BLOCK_BYTES], 1, 32).unwrap();
    let missing: Vec<_> = Backend::ALL
        .into_iter()
        .filter(|b| !b.is_available())
        .collect();
    if missing.is_empty() {
        eprintln!("skipping: this CPU supports every backend");
    }
    for b in missing {
        assert_eq!(
            m.matmul_with(b, &[0.0; 32], 1, None, &mut [0.0]),
            Err(KernelError::Unavailable(b))
        );
    }
    assert!(Backend::available().contains(&Backend::Scalar));
    assert!(Backend::available().contains(&Backend::detect()));
}

#[test]
fn amx_equals_avx512_bit_for_bit() {
    // AMX runs whole 16-token tiles and hands the rest to the AVX-512 tiles; both must give
    // the same bits, for token counts on and off the tile grid and rows off the panel grid.
    if !Backend::Amx.is_available() {
        eprintln!("skipping: this CPU or OS has no AMX-INT8");
        return;
    }
    let mut rng = Rng(23);
    for (rows, cols, tokens) in [(40, 64, 16), (17, 32, 17), (384, 384, 48), (1536, 384, 50)] {
        let x = random_x(&mut rng, tokens * cols);
        let bias: Vec<f32> = (0..rows).map(|_| rng.unit()).collect();
        let w: Vec<f32> = (0..rows * cols).map(|_| 0.05 * rng.unit()).collect();
        let q4 = QMatrix::from_q4_0_bytes(&random_q4(&mut rng, rows, cols), rows, cols).unwrap();
        let q8 = QMatrix::from_f32_q8_0(&w, rows, cols).unwrap();
        for m in [&q4, &q8] {
            let mut want = vec![0f32; tokens * rows];
            m.matmul_with(Backend::Avx512Vnni, &x, tokens, Some(&bias), &mut want)
                .unwrap();
            let mut got = vec![f32::NAN; tokens * rows];
            m.matmul_with(Backend::Amx, &x, tokens, Some(&bias), &mut got)
                .unwrap();
            for (i, (g, w)) in got.iter().zip(&want).enumerate() {
                assert_eq!(
                    g.to_bits(),
                    w.to_bits(),
                    "{:?} {rows}x{cols} tokens={tokens} at {i}: {g} vs {w}",
                    m.format()
                );
            }
        }
    }
}
