//! Latency samples (nanoseconds) and their summaries: nearest-rank percentiles, reported in µs.

use std::collections::BTreeMap;

use serde::Serialize;

/// The nearest-rank percentile `q` (0.0–1.0) of `sorted` (ascending): the smallest sample such
/// that at least `q` of all samples are at or below it. `None` when there are no samples.
pub fn percentile<T: Copy>(sorted: &[T], q: f64) -> Option<T> {
    if sorted.is_empty() {
        return None;
    }
    let rank = (q.clamp(0.0, 1.0) * sorted.len() as f64).ceil() as usize;
    Some(sorted[rank.clamp(1, sorted.len()) - 1])
}

/// Percentiles of one set of latencies, in microseconds.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Summary {
    pub count: usize,
    pub min: f64,
    pub p50: f64,
    pub p90: f64,
    pub p99: f64,
    pub p999: f64,
    pub max: f64,
    pub mean: f64,
}

fn us(ns: i64) -> f64 {
    // One decimal is all the resolution a loopback run has.
    (ns as f64 / 100.0).round() / 10.0
}

impl Summary {
    /// Summarizes samples given in nanoseconds (sorting them in place). Negative samples are
    /// allowed (differences of paired latencies). All zero when there are no samples.
    pub fn of_ns(samples: &mut [i64]) -> Summary {
        samples.sort_unstable();
        let at = |q| us(percentile(samples, q).unwrap_or(0));
        let mean = if samples.is_empty() {
            0.0
        } else {
            samples.iter().map(|&s| s as f64).sum::<f64>() / samples.len() as f64
        };
        Summary {
            count: samples.len(),
            min: us(samples.first().copied().unwrap_or(0)),
            p50: at(0.50),
            p90: at(0.90),
            p99: at(0.99),
            p999: at(0.999),
            max: us(samples.last().copied().unwrap_or(0)),
            mean: (mean / 100.0).round() / 10.0,
        }
    }

    /// `self - base`, percentile by percentile (the latency a gateway adds at each percentile).
    pub fn minus(&self, base: &Summary) -> Summary {
        let r = |a: f64, b: f64| ((a - b) * 10.0).round() / 10.0;
        Summary {
            count: self.count.min(base.count),
            min: r(self.min, base.min),
            p50: r(self.p50, base.p50),
            p90: r(self.p90, base.p90),
            p99: r(self.p99, base.p99),
            p999: r(self.p999, base.p999),
            max: r(self.max, base.max),
            mean: r(self.mean, base.mean),
        }
    }
}

/// Failed requests by cause: `"status 403"`, `"io: connection reset"`, …
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[serde(transparent)]
pub struct Errors(pub BTreeMap<String, u64>);

impl Errors {
    pub fn add(&mut self, cause: impl Into<String>) {
        *self.0.entry(cause.into()).or_default() += 1;
    }

    pub fn merge(&mut self, other: Errors) {
        for (k, v) in other.0 {
            *self.0.entry(k).or_default() += v;
        }
    }

    pub fn total(&self) -> u64 {
        self.0.values().sum()
    }

    /// `none`, or `3 (status 500: 2, io: timed out: 1)`.
    pub fn describe(&self) -> String {
        if self.0.is_empty() {
            return "none".to_owned();
        }
        let parts: Vec<String> = self.0.iter().map(|(k, v)| format!("{k}: {v}")).collect();
        format!("{} ({})", self.total(), parts.join(", "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_percentiles() {
        let v: Vec<i64> = (1..=100).collect();
        assert_eq!(percentile(&v, 0.50), Some(50));
        assert_eq!(percentile(&v, 0.99), Some(99));
        assert_eq!(percentile(&v, 0.999), Some(100));
        assert_eq!(percentile(&v, 0.0), Some(1));
        assert_eq!(percentile(&v, 1.0), Some(100));
        assert_eq!(percentile(&[7], 0.99), Some(7));
        assert_eq!(percentile::<i64>(&[], 0.5), None);
        let ten: Vec<i64> = (1..=10).collect();
        assert_eq!(percentile(&ten, 0.90), Some(9));
        assert_eq!(percentile(&ten, 0.91), Some(10));
    }

    #[test]
    fn summary_in_microseconds() {
        // 1..=1000 µs, shuffled.
        let mut v: Vec<i64> = (1..=1000).rev().map(|us| us * 1000).collect();
        let s = Summary::of_ns(&mut v);
        assert_eq!(s.count, 1000);
        assert_eq!((s.min, s.p50, s.p90, s.p99), (1.0, 500.0, 900.0, 990.0));
        assert_eq!((s.p999, s.max, s.mean), (999.0, 1000.0, 500.5));
        let empty = Summary::of_ns(&mut []);
        assert_eq!((empty.count, empty.p99, empty.mean), (0, 0.0, 0.0));
    }

    #[test]
    fn differences_and_negative_samples() {
        let mut base = vec![100_000, 120_000, 150_000];
        let mut gw = vec![180_000, 200_000, 260_400];
        let added = Summary::of_ns(&mut gw).minus(&Summary::of_ns(&mut base));
        assert_eq!((added.p50, added.max), (80.0, 110.4));
        let mut diffs = vec![-5_000, 3_000, 1_000];
        let s = Summary::of_ns(&mut diffs);
        assert_eq!((s.min, s.p50, s.max), (-5.0, 1.0, 3.0));
    }

    #[test]
    fn errors_merge_and_describe() {
        let mut a = Errors::default();
        assert_eq!(a.describe(), "none");
        a.add("status 500");
        let mut b = Errors::default();
        b.add("status 500");
        b.add("io: reset");
        a.merge(b);
        assert_eq!(a.total(), 3);
        assert_eq!(a.describe(), "3 (io: reset: 1, status 500: 2)");
    }
}
