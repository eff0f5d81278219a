//! Which instruction set runs the integer dot products.

use std::sync::OnceLock;

/// An implementation of the Q4_0 x Q8_0 product.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Backend {
    /// Portable Rust; runs everywhere.
    Scalar,
    /// x86-64 AVX2 + FMA (`vpmaddubsw`).
    Avx2,
    /// x86-64 AVX-VNNI (`vpdpbusd` on 256-bit registers), for CPUs without AVX-512.
    AvxVnni,
    /// x86-64 AVX-512 with VNNI (`vpdpbusd` on 512-bit registers).
    Avx512Vnni,
}

impl Backend {
    /// Every backend, slowest first.
    pub const ALL: [Backend; 4] = [
        Backend::Scalar,
        Backend::Avx2,
        Backend::AvxVnni,
        Backend::Avx512Vnni,
    ];

    /// The fastest backend this CPU supports (checked once, then cached).
    pub fn detect() -> Backend {
        static BEST: OnceLock<Backend> = OnceLock::new();
        *BEST.get_or_init(|| {
            let best = Self::available()
                .into_iter()
                .last()
                .unwrap_or(Backend::Scalar);
            tracing::debug!(?best, "q4 kernel backend");
            best
        })
    }

    /// The backends this CPU supports, slowest first; always includes [`Backend::Scalar`].
    pub fn available() -> Vec<Backend> {
        Self::ALL.into_iter().filter(|b| b.is_available()).collect()
    }

    /// Whether this CPU can run the backend.
    pub fn is_available(self) -> bool {
        match self {
            Backend::Scalar => true,
            #[cfg(target_arch = "x86_64")]
            Backend::Avx2 => {
                std::arch::is_x86_feature_detected!("avx2")
                    && std::arch::is_x86_feature_detected!("fma")
            }
            #[cfg(target_arch = "x86_64")]
            Backend::AvxVnni => {
                Backend::Avx2.is_available() && std::arch::is_x86_feature_detected!("avxvnni")
            }
            #[cfg(target_arch = "x86_64")]
            Backend::Avx512Vnni => {
                std::arch::is_x86_feature_detected!("avx512f")
                    && std::arch::is_x86_feature_detected!("avx512bw")
                    && std::arch::is_x86_feature_detected!("avx512vnni")
            }
            #[cfg(not(target_arch = "x86_64"))]
            Backend::Avx2 | Backend::AvxVnni | Backend::Avx512Vnni => false,
        }
    }

    /// A short lowercase name, for benchmark labels and logs.
    pub fn name(self) -> &'static str {
        match self {
            Backend::Scalar => "scalar",
            Backend::Avx2 => "avx2",
            Backend::AvxVnni => "avxvnni",
            Backend::Avx512Vnni => "avx512vnni",
        }
    }
}
