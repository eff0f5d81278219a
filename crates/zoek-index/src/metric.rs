//! Distance metrics and the search result type.

/// How distances between vectors are measured.
///
/// Every metric is turned into a distance where **lower is better**:
///
/// | metric   | distance                         | range for unit vectors |
/// |----------|----------------------------------|------------------------|
/// | `Cosine` | `1 - cos(q, x)`                  | `0..=2`                |
/// | `Dot`    | `-(q · x)`                       | `-1..=1`               |
/// | `L2`     | `‖q - x‖²` (squared, no root)    | `0..=4`                |
///
/// With `Cosine` the index normalises stored vectors and queries itself. `Dot` is meant
/// for vectors the caller has already normalised; on other vectors it is maximum
/// inner-product search, which HNSW handles only approximately.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Metric {
    /// Cosine distance, `1 - cos`.
    Cosine,
    /// Negated inner product.
    Dot,
    /// Squared Euclidean distance.
    L2,
}

impl Metric {
    /// The code stored in the file header.
    pub(crate) fn code(self) -> u32 {
        match self {
            Metric::Cosine => 0,
            Metric::Dot => 1,
            Metric::L2 => 2,
        }
    }

    /// Inverse of [`Metric::code`].
    pub(crate) fn from_code(code: u32) -> Option<Metric> {
        match code {
            0 => Some(Metric::Cosine),
            1 => Some(Metric::Dot),
            2 => Some(Metric::L2),
            _ => None,
        }
    }
}

/// One search hit: the caller's id and its distance to the query (lower is better, see
/// [`Metric`]).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Neighbor {
    /// External id given when the index was written.
    pub id: u64,
    /// Distance to the query under the index's metric.
    pub distance: f32,
}
