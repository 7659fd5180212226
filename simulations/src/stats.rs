//! The few statistics a report needs: nearest-rank percentiles, "time until
//! a share of the nodes", and min/mean/max spreads.
//!
//! They live apart from the report so their definitions are stated and
//! tested once. Percentiles use the nearest-rank method: the p-th percentile
//! of n sorted samples is the sample at rank ⌈p/100 · n⌉ (the smallest
//! sample for p = 0). It always returns a measured value, never an
//! interpolation, which is what "time until 90% of nodes had it" means.

use std::time::Duration;

use serde::{Deserialize, Serialize};

/// Milliseconds, as reports print and store times.
pub fn millis(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// `part` as a share of `whole`, 0 to 1; 0 when `whole` is 0.
pub fn share(part: usize, whole: usize) -> f64 {
    #[allow(clippy::cast_precision_loss, reason = "counts of nodes and fetches")]
    if whole == 0 {
        0.0
    } else {
        part as f64 / whole as f64
    }
}

/// The `percent`-th percentile (0 to 100) of `sorted` (ascending) by the
/// nearest-rank method; `None` for no samples or a percent outside 0..=100.
pub fn nearest_rank<T: Copy>(sorted: &[T], percent: f64) -> Option<T> {
    if sorted.is_empty() || !(0.0..=100.0).contains(&percent) {
        return None;
    }
    let rank = rank_of(percent / 100.0, sorted.len()).max(1);
    sorted.get(rank - 1).copied()
}

/// ⌈fraction · n⌉ as an index-safe count, for `fraction` in 0..=1.
#[allow(
    clippy::cast_precision_loss,
    clippy::cast_possible_truncation,
    clippy::cast_sign_loss
)] // n is a node or sample count, far below 2^52; the result is in 0..=n.
fn rank_of(fraction: f64, n: usize) -> usize {
    // A tiny tolerance keeps 0.9 * 10 from rounding up to 10 in floating
    // point (9.000000000000002).
    let exact = fraction * n as f64;
    let rank = (exact - 1e-9).ceil();
    (rank.max(0.0) as usize).min(n)
}

/// How long it took until `fraction` (0 to 1) of a `population` had
/// something, given the sorted times of those that got it (which may be
/// fewer than the population). `None` if that share was never reached.
/// This is the nearest-rank percentile taken over the whole population, so
/// nodes that never got it count as "not yet".
pub fn time_to_fraction<T: Copy>(sorted: &[T], population: usize, fraction: f64) -> Option<T> {
    if population == 0 || !(0.0..=1.0).contains(&fraction) {
        return None;
    }
    let rank = rank_of(fraction, population).max(1);
    sorted.get(rank - 1).copied()
}

/// Percentiles of a set of durations, in milliseconds.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Percentiles {
    /// How many samples.
    pub count: usize,
    /// Smallest.
    pub min_ms: f64,
    /// Median (nearest rank).
    pub p50_ms: f64,
    /// 90th percentile.
    pub p90_ms: f64,
    /// 99th percentile.
    pub p99_ms: f64,
    /// Largest.
    pub max_ms: f64,
    /// Arithmetic mean.
    pub mean_ms: f64,
}

impl Percentiles {
    /// The percentiles of `samples` (any order); `None` if there are none.
    pub fn of(samples: &[Duration]) -> Option<Self> {
        let mut sorted = samples.to_vec();
        sorted.sort_unstable();
        let at = |p| nearest_rank(&sorted, p).map(millis);
        let total: f64 = sorted.iter().copied().map(millis).sum();
        #[allow(clippy::cast_precision_loss)] // A sample count.
        let mean_ms = total / sorted.len().max(1) as f64;
        Some(Self {
            count: sorted.len(),
            min_ms: at(0.0)?,
            p50_ms: at(50.0)?,
            p90_ms: at(90.0)?,
            p99_ms: at(99.0)?,
            max_ms: at(100.0)?,
            mean_ms,
        })
    }
}

/// Minimum, mean, maximum and total of a per-node count.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Spread {
    /// Smallest value.
    pub min: u64,
    /// Mean value.
    pub mean: f64,
    /// Largest value.
    pub max: u64,
    /// Sum over all nodes.
    pub total: u64,
}

impl Spread {
    /// The spread of `values`, one per node; all zero for no values.
    pub fn of(values: &[u64]) -> Self {
        if values.is_empty() {
            return Self::default();
        }
        let total = values.iter().copied().fold(0u64, u64::saturating_add);
        #[allow(clippy::cast_precision_loss)] // Counts, summarised for people.
        let mean = values.iter().map(|v| *v as f64).sum::<f64>() / values.len() as f64;
        Self {
            min: values.iter().copied().min().unwrap_or(0),
            mean,
            max: values.iter().copied().max().unwrap_or(0),
            total,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_picks_measured_samples() {
        let v: Vec<u32> = (1..=10).collect();
        assert_eq!(nearest_rank(&v, 0.0), Some(1));
        assert_eq!(nearest_rank(&v, 10.0), Some(1));
        assert_eq!(nearest_rank(&v, 11.0), Some(2));
        assert_eq!(nearest_rank(&v, 50.0), Some(5));
        assert_eq!(nearest_rank(&v, 90.0), Some(9));
        assert_eq!(nearest_rank(&v, 99.0), Some(10));
        assert_eq!(nearest_rank(&v, 100.0), Some(10));
        assert_eq!(nearest_rank::<u32>(&[], 50.0), None);
        assert_eq!(nearest_rank(&v, 101.0), None);
        assert_eq!(nearest_rank(&v, f64::NAN), None);
        // The textbook example: 15, 20, 35, 40, 50.
        let w = [15, 20, 35, 40, 50];
        assert_eq!(nearest_rank(&w, 5.0), Some(15));
        assert_eq!(nearest_rank(&w, 30.0), Some(20));
        assert_eq!(nearest_rank(&w, 40.0), Some(20));
        assert_eq!(nearest_rank(&w, 50.0), Some(35));
        assert_eq!(nearest_rank(&w, 100.0), Some(50));
    }

    #[test]
    fn time_to_fraction_counts_the_missing_as_not_yet() {
        // 8 of 10 nodes got it, at 1..=8 seconds.
        let times: Vec<u32> = (1..=8).collect();
        assert_eq!(time_to_fraction(&times, 10, 0.5), Some(5));
        assert_eq!(time_to_fraction(&times, 10, 0.8), Some(8));
        assert_eq!(time_to_fraction(&times, 10, 0.9), None);
        assert_eq!(time_to_fraction(&times, 10, 1.0), None);
        assert_eq!(time_to_fraction(&times, 8, 1.0), Some(8));
        assert_eq!(time_to_fraction(&times, 0, 0.5), None);
    }

    #[test]
    fn percentiles_of_durations() {
        let samples: Vec<Duration> = (1..=100).rev().map(Duration::from_millis).collect();
        let p = Percentiles::of(&samples).unwrap();
        assert_eq!(p.count, 100);
        assert!((p.min_ms - 1.0).abs() < 1e-9);
        assert!((p.p50_ms - 50.0).abs() < 1e-9);
        assert!((p.p90_ms - 90.0).abs() < 1e-9);
        assert!((p.p99_ms - 99.0).abs() < 1e-9);
        assert!((p.max_ms - 100.0).abs() < 1e-9);
        assert!((p.mean_ms - 50.5).abs() < 1e-9);
        assert_eq!(Percentiles::of(&[]), None);
    }

    #[test]
    fn spreads() {
        let s = Spread::of(&[4, 1, 7]);
        assert_eq!((s.min, s.max, s.total), (1, 7, 12));
        assert!((s.mean - 4.0).abs() < 1e-9);
        assert_eq!(Spread::of(&[]), Spread::default());
    }
}
