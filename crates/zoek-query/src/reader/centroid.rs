//! Centring questions on a collection's centroid, against hubs.
//!
//! Embeddings of one model share a common direction, and a collection adds its own: some
//! sentences ("as the number of care cooperatives grows, volunteers and professionals
//! meet more often") lie close to that direction and so come close to every question on
//! the topic, and win questions they do not answer. Subtracting `β·ĉ`, the unit centroid
//! of the collection's sentence vectors, from the question scores every sentence `s` by
//! `q·s − β·ĉ·s` (up to one positive factor per question): the same cosine, less a prior
//! for how generic the sentence is. It costs one vector operation per question, and needs
//! no change to the vectors, the graphs or the scan.
//!
//! The centroid is a property of the whole collection (every segment's sentences, deleted
//! ones until a merge drops them, as BM25's statistics), so a root over shards sums the
//! shards' [`Centroid`]s and centres the question once: shards answer as one collection.

use serde::{Deserialize, Serialize};

use crate::error::{QueryError, Result};

/// The sum of a collection's sentence vectors, and how many there are.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Centroid {
    /// Per dimension, the sum of every sentence vector.
    pub sum: Vec<f64>,
    /// Sentences summed.
    pub sentences: u64,
}

impl Centroid {
    /// Sums several centroids (segments of a collection, or shards); `None` for none.
    ///
    /// Errors: [`QueryError::InvalidOption`] when their dimensions differ.
    pub fn sum<'a>(parts: impl IntoIterator<Item = &'a Centroid>) -> Result<Option<Centroid>> {
        let mut total: Option<Centroid> = None;
        for part in parts {
            match &mut total {
                None => total = Some(part.clone()),
                Some(t) if t.sum.len() != part.sum.len() => {
                    return Err(QueryError::InvalidOption(format!(
                        "centroids of {} and {} dimensions cannot be summed",
                        t.sum.len(),
                        part.sum.len()
                    )));
                }
                Some(t) => {
                    for (a, b) in t.sum.iter_mut().zip(&part.sum) {
                        *a += b;
                    }
                    t.sentences += part.sentences;
                }
            }
        }
        Ok(total)
    }

    /// `q` centred with weight `beta` and normalised again: `(q − β·ĉ) / ‖q − β·ĉ‖`. Left
    /// as it is for `beta == 0`, a centroid of no direction, another dimension, or a
    /// question that would vanish.
    pub(crate) fn center(&self, q: &mut [f32], beta: f32) {
        let norm = self.sum.iter().map(|x| x * x).sum::<f64>().sqrt();
        if beta == 0.0 || q.len() != self.sum.len() || !norm.is_normal() {
            return;
        }
        let centred: Vec<f64> = q
            .iter()
            .zip(&self.sum)
            .map(|(&x, &c)| f64::from(x) - f64::from(beta) * c / norm)
            .collect();
        let len = centred.iter().map(|x| x * x).sum::<f64>().sqrt();
        if !len.is_normal() {
            return;
        }
        for (x, c) in q.iter_mut().zip(centred) {
            *x = (c / len) as f32;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dot(a: &[f32], b: &[f32]) -> f32 {
        a.iter().zip(b).map(|(x, y)| x * y).sum()
    }

    #[test]
    fn centring_ranks_by_cosine_less_the_centroid_prior() {
        // Two sentences equally close to the question; the one nearer the centroid loses.
        let c = Centroid {
            sum: vec![3.0, 0.0, 0.0],
            sentences: 3,
        };
        let generic = [0.8f32, 0.6, 0.0];
        let specific = [0.0f32, 0.6, 0.8];
        let mut q = [0.5f32, 0.5, 0.5];
        let n = dot(&q, &q).sqrt();
        q.iter_mut().for_each(|x| *x /= n);
        assert!((dot(&q, &generic) - dot(&q, &specific)).abs() < 1e-6);
        c.center(&mut q, 0.5);
        assert!((dot(&q, &q) - 1.0).abs() < 1e-6);
        assert!(dot(&q, &specific) > dot(&q, &generic) + 0.1);
    }

    #[test]
    fn no_weight_no_direction_or_another_dimension_leave_the_question() {
        let q0 = [0.6f32, 0.8];
        for (c, beta) in [
            (vec![1.0, 0.0], 0.0),
            (vec![0.0, 0.0], 0.5),
            (vec![1.0, 0.0, 0.0], 0.5),
        ] {
            let mut q = q0;
            Centroid {
                sum: c,
                sentences: 1,
            }
            .center(&mut q, beta);
            assert_eq!(q, q0);
        }
    }

    #[test]
    fn sums_add_and_dimensions_must_agree() {
        let a = Centroid {
            sum: vec![1.0, 2.0],
            sentences: 2,
        };
        let b = Centroid {
            sum: vec![0.5, -1.0],
            sentences: 1,
        };
        let s = Centroid::sum([&a, &b]).unwrap().unwrap();
        assert_eq!(s.sum, vec![1.5, 1.0]);
        assert_eq!(s.sentences, 3);
        assert!(Centroid::sum([]).unwrap().is_none());
        let c = Centroid {
            sum: vec![1.0],
            sentences: 1,
        };
        assert!(Centroid::sum([&a, &c]).is_err());
    }
}
