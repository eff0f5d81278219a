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
    /// x86-64 AMX-INT8 tile products (`tdpbsud`) for runs of 16 tokens or more, AVX-512
    /// VNNI for the rest; needs the operating system's permission (Linux).
    Amx,
}

impl Backend {
    /// Every backend, slowest first.
    pub const ALL: [Backend; 5] = [
        Backend::Scalar,
        Backend::Avx2,
        Backend::AvxVnni,
        Backend::Avx512Vnni,
        Backend::Amx,
    ];

    /// The backend products use: the fastest this CPU supports, or the one named by the
    /// `ZOEK_KERNEL` environment variable ([`Backend::name`]: `scalar`, `avx2`, `avxvnni`,
    /// `avx512vnni`, `amx`) when this CPU runs it. Checked once, then cached; an unknown or
    /// unavailable name is logged and ignored.
    ///
    /// [`Backend::Amx`] is used only when named: where it was measured it was no faster
    /// than AVX-512 VNNI end to end (see the `amx` module).
    pub fn detect() -> Backend {
        static BEST: OnceLock<Backend> = OnceLock::new();
        *BEST.get_or_init(|| {
            let best = Self::available()
                .into_iter()
                .rfind(|b| *b != Backend::Amx)
                .unwrap_or(Backend::Scalar);
            let chosen = match std::env::var("ZOEK_KERNEL") {
                Ok(name) if !name.is_empty() => {
                    match Self::ALL.into_iter().find(|b| b.name() == name) {
                        Some(b) if b.is_available() => b,
                        Some(b) => {
                            tracing::warn!(?b, ?best, "ZOEK_KERNEL names a backend this CPU lacks");
                            best
                        }
                        None => {
                            tracing::warn!(name, ?best, "ZOEK_KERNEL names no backend");
                            best
                        }
                    }
                }
                _ => best,
            };
            tracing::debug!(?chosen, "q4 kernel backend");
            chosen
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
            #[cfg(target_arch = "x86_64")]
            Backend::Amx => Backend::Avx512Vnni.is_available() && super::amx::supported(),
            #[cfg(not(target_arch = "x86_64"))]
            Backend::Avx2 | Backend::AvxVnni | Backend::Avx512Vnni | Backend::Amx => false,
        }
    }

    /// A short lowercase name, for benchmark labels and logs.
    pub fn name(self) -> &'static str {
        match self {
            Backend::Scalar => "scalar",
            Backend::Avx2 => "avx2",
            Backend::AvxVnni => "avxvnni",
            Backend::Avx512Vnni => "avx512vnni",
            Backend::Amx => "amx",
        }
    }
}
