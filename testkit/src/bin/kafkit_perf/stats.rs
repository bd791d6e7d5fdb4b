//! Latency and throughput statistics, printed in kafka-producer-perf-test's formats.
//!
//! Every acknowledged record's latency is counted (Kafka's tool samples at most 500,000), in a
//! [`LatencyHistogram`] whose percentiles are exact at the resolution it keeps: 1 µs below
//! [`FINE_LIMIT_US`], 1 ms above (rounded to the nearest). Its memory is bounded: a fixed array for the fine range and
//! one entry per distinct millisecond above it.
//!
//! A percentile `p` of `n` latencies is the value at index `floor(p * n)` of the sorted
//! latencies (0-based), as `ProducerPerformance.Stats.percentiles` picks it.
//!
//! # Units in the printed lines
//! Kafka measures latencies in whole milliseconds (`System.currentTimeMillis` differences);
//! kafkit measures microseconds. The lines keep Kafka's formats: averages and maxima carry
//! their decimals (`%.2f ms`), and percentiles, printed as integers (`%d ms 50th`), are
//! rounded to the nearest millisecond. [`Stats::detail_line`] gives them in microseconds.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

/// Latencies below this many microseconds are kept with 1 µs resolution.
pub const FINE_LIMIT_US: u64 = 100_000;

/// A histogram of latencies in microseconds.
#[derive(Debug, Clone)]
pub struct LatencyHistogram {
    /// Counts of latencies `0..FINE_LIMIT_US` µs, by microsecond.
    fine: Box<[u64]>,
    /// Counts of latencies from `FINE_LIMIT_US` µs on, by millisecond (rounded to the nearest).
    coarse: BTreeMap<u64, u64>,
    count: u64,
    sum_us: u128,
    max_us: u64,
}

impl Default for LatencyHistogram {
    fn default() -> Self {
        LatencyHistogram {
            fine: vec![0; FINE_LIMIT_US as usize].into_boxed_slice(),
            coarse: BTreeMap::new(),
            count: 0,
            sum_us: 0,
            max_us: 0,
        }
    }
}

impl LatencyHistogram {
    /// Counts one latency.
    pub fn record(&mut self, latency_us: u64) {
        match self.fine.get_mut(latency_us as usize) {
            Some(c) => *c += 1,
            None => {
                *self
                    .coarse
                    .entry(latency_us.saturating_add(500) / 1000)
                    .or_insert(0) += 1
            }
        }
        self.count += 1;
        self.sum_us += u128::from(latency_us);
        self.max_us = self.max_us.max(latency_us);
    }

    /// The mean in microseconds; 0 when empty.
    pub fn mean_us(&self) -> f64 {
        if self.count == 0 {
            0.0
        } else {
            self.sum_us as f64 / self.count as f64
        }
    }

    /// The largest latency in microseconds; 0 when empty.
    pub fn max_us(&self) -> u64 {
        self.max_us
    }

    /// The latency at index `floor(p * count)` of the sorted latencies, in microseconds
    /// (rounded to the nearest millisecond above [`FINE_LIMIT_US`]); `None` when empty.
    pub fn percentile_us(&self, p: f64) -> Option<u64> {
        if self.count == 0 {
            return None;
        }
        let rank = ((p * self.count as f64) as u64).min(self.count - 1);
        let mut seen = 0u64;
        for (us, &c) in self.fine.iter().enumerate() {
            seen += c;
            if seen > rank {
                return Some(us as u64);
            }
        }
        for (&ms, &c) in &self.coarse {
            seen += c;
            if seen > rank {
                return Some(ms * 1000);
            }
        }
        // Unreachable while the counts add up to `count`; the maximum is the safe answer.
        Some(self.max_us)
    }
}

/// The percentiles the summary prints.
pub const PERCENTILES: [f64; 4] = [0.5, 0.95, 0.99, 0.999];

/// Counters of one run (or of its steady state after the warmup), with Kafka's reporting
/// window.
#[derive(Debug)]
pub struct Stats {
    start: Instant,
    /// Whether this is the steady-state part of a run with warmup records.
    steady_state: bool,
    count: u64,
    bytes: u64,
    latencies: LatencyHistogram,
    window: Window,
}

/// The counters of the current reporting window.
#[derive(Debug)]
struct Window {
    start: Instant,
    count: u64,
    bytes: u64,
    sum_us: u64,
    max_us: u64,
}

impl Window {
    fn new(start: Instant) -> Self {
        Window {
            start,
            count: 0,
            bytes: 0,
            sum_us: 0,
            max_us: 0,
        }
    }
}

impl Stats {
    /// Stats starting at `start`.
    pub fn new(start: Instant, steady_state: bool) -> Self {
        Stats {
            start,
            steady_state,
            count: 0,
            bytes: 0,
            latencies: LatencyHistogram::default(),
            window: Window::new(start),
        }
    }

    /// Counts one acknowledged record of `bytes` bytes.
    pub fn record(&mut self, latency: Duration, bytes: u64) {
        let us = u64::try_from(latency.as_micros()).unwrap_or(u64::MAX);
        self.count += 1;
        self.bytes += bytes;
        self.latencies.record(us);
        let w = &mut self.window;
        w.count += 1;
        w.bytes += bytes;
        w.sum_us += us;
        w.max_us = w.max_us.max(us);
    }

    /// Records counted.
    pub fn count(&self) -> u64 {
        self.count
    }

    /// When the stats started.
    pub fn start(&self) -> Instant {
        self.start
    }

    /// Whether the current window is `interval` old or older at `now`.
    pub fn window_due(&self, now: Instant, interval: Duration) -> bool {
        now.saturating_duration_since(self.window.start) >= interval
    }

    /// Whether every record counted so far is in the current window (no window was printed).
    pub fn first_window(&self) -> bool {
        self.count == self.window.count
    }

    /// The window's line (Kafka's `printWindow`), and a new window starting at `now`:
    /// `N records sent, X records/sec (Y MB/sec), A ms avg latency, M ms max latency.`
    pub fn take_window(&mut self, now: Instant) -> String {
        let w = std::mem::replace(&mut self.window, Window::new(now));
        let secs = now.saturating_duration_since(w.start).as_secs_f64();
        let avg_ms = if w.count == 0 {
            0.0
        } else {
            w.sum_us as f64 / w.count as f64 / 1000.0
        };
        format!(
            "{} records sent, {:.1} records/sec ({:.2} MB/sec), {:.1} ms avg latency, {:.1} ms max latency.",
            w.count,
            rate(w.count as f64, secs),
            rate(w.bytes as f64, secs) / MIB,
            avg_ms,
            w.max_us as f64 / 1000.0,
        )
    }

    /// The summary line (Kafka's `printTotal`) for a run that ended at `end`:
    /// `N records sent, X records/sec (Y MB/sec), A ms avg latency, M ms max latency,
    /// P50 ms 50th, P95 ms 95th, P99 ms 99th, P999 ms 99.9th.` (with `N steady state records
    /// sent` for the steady state).
    pub fn summary_line(&self, end: Instant) -> String {
        let secs = end.saturating_duration_since(self.start).as_secs_f64();
        let p = PERCENTILES.map(|p| {
            let us = self.latencies.percentile_us(p).unwrap_or(0);
            (us + 500) / 1000
        });
        format!(
            "{}{} records sent, {:.6} records/sec ({:.2} MB/sec), {:.2} ms avg latency, {:.2} ms max latency, \
             {} ms 50th, {} ms 95th, {} ms 99th, {} ms 99.9th.",
            self.count,
            if self.steady_state { " steady state" } else { "" },
            rate(self.count as f64, secs),
            rate(self.bytes as f64, secs) / MIB,
            self.latencies.mean_us() / 1000.0,
            self.latencies.max_us() as f64 / 1000.0,
            p[0],
            p[1],
            p[2],
            p[3],
        )
    }

    /// The latencies in microseconds, which the summary line rounds to milliseconds.
    pub fn detail_line(&self) -> String {
        let p = PERCENTILES.map(|p| self.latencies.percentile_us(p).unwrap_or(0));
        format!(
            "{}latency in us: {:.1} avg, {} max, {} 50th, {} 95th, {} 99th, {} 99.9th.",
            if self.steady_state { "steady state " } else { "" },
            self.latencies.mean_us(),
            self.latencies.max_us(),
            p[0],
            p[1],
            p[2],
            p[3],
        )
    }

    /// Mean latency in milliseconds so far, for the progress bar.
    pub fn mean_ms(&self) -> f64 {
        self.latencies.mean_us() / 1000.0
    }
}

const MIB: f64 = 1024.0 * 1024.0;

/// `amount / secs`, 0 for an empty interval (Kafka would print NaN or Infinity).
fn rate(amount: f64, secs: f64) -> f64 {
    if secs > 0.0 {
        amount / secs
    } else {
        0.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Kafka's definition: sort, take index `(int) (p * n)`.
    fn reference(mut values: Vec<u64>, p: f64) -> u64 {
        values.sort_unstable();
        values[(p * values.len() as f64) as usize]
    }

    #[rstest::rstest]
    #[case::one(vec![7])]
    #[case::two(vec![9, 3])]
    #[case::ten(vec![10, 9, 8, 7, 6, 5, 4, 3, 2, 1])]
    #[case::repeated(vec![5; 1000])]
    #[case::thousand((0..1000).rev().collect())]
    #[case::one_outlier((0..999).map(|_| 100).chain([99_999]).collect())]
    fn percentiles_match_the_sorted_array(#[case] values: Vec<u64>) {
        let mut h = LatencyHistogram::default();
        for &v in &values {
            h.record(v);
        }
        for p in PERCENTILES.into_iter().chain([0.0, 0.25, 0.75]) {
            assert_eq!(h.percentile_us(p), Some(reference(values.clone(), p)), "p = {p}");
        }
    }

    #[test]
    fn percentiles_are_exact_over_a_pseudo_random_spread() {
        // A deterministic spread over both ranges, including the boundary.
        let mut x = 12345u64;
        let values: Vec<u64> = (0..20_011)
            .map(|_| {
                x = x
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                (x >> 33) % (2 * FINE_LIMIT_US)
            })
            .chain([FINE_LIMIT_US - 1, FINE_LIMIT_US])
            .collect();
        let mut h = LatencyHistogram::default();
        for &v in &values {
            h.record(v);
        }
        for p in PERCENTILES {
            let exact = reference(values.clone(), p);
            let expected = if exact < FINE_LIMIT_US {
                exact
            } else {
                (exact + 500) / 1000 * 1000
            };
            assert_eq!(h.percentile_us(p), Some(expected), "p = {p}");
        }
        assert_eq!(h.max_us(), *values.iter().max().expect("values"));
        let mean = values.iter().sum::<u64>() as f64 / values.len() as f64;
        assert!((h.mean_us() - mean).abs() < 1e-6);
    }

    #[test]
    fn empty_histogram_has_no_percentiles() {
        let h = LatencyHistogram::default();
        assert_eq!(h.percentile_us(0.5), None);
        assert_eq!((h.count, h.mean_us(), h.max_us()), (0, 0.0, 0));
    }

    #[test]
    fn summary_line_has_kafkas_format() {
        let start = Instant::now();
        let mut stats = Stats::new(start, false);
        for ms in [1, 2, 3, 4] {
            stats.record(Duration::from_millis(ms), 1024 * 1024);
        }
        let line = stats.summary_line(start + Duration::from_secs(2));
        assert_eq!(
            line,
            "4 records sent, 2.000000 records/sec (2.00 MB/sec), 2.50 ms avg latency, 4.00 ms max latency, \
             3 ms 50th, 4 ms 95th, 4 ms 99th, 4 ms 99.9th."
        );
        let steady = Stats::new(start, true).summary_line(start);
        assert!(
            steady.starts_with("0 steady state records sent, 0.000000 records/sec"),
            "{steady}"
        );
    }

    #[test]
    fn window_line_has_kafkas_format_and_restarts() {
        let start = Instant::now();
        let mut stats = Stats::new(start, false);
        stats.record(Duration::from_micros(1500), 512 * 1024);
        stats.record(Duration::from_micros(2500), 512 * 1024);
        assert!(stats.first_window());
        assert!(stats.window_due(start + Duration::from_secs(5), Duration::from_secs(5)));
        let line = stats.take_window(start + Duration::from_secs(4));
        assert_eq!(
            line,
            "2 records sent, 0.5 records/sec (0.25 MB/sec), 2.0 ms avg latency, 2.5 ms max latency."
        );
        assert!(!stats.first_window());
        assert!(!stats.window_due(start + Duration::from_secs(8), Duration::from_secs(5)));
        assert_eq!(stats.count(), 2);
    }

    #[test]
    fn percentiles_round_to_the_nearest_millisecond() {
        let start = Instant::now();
        let mut stats = Stats::new(start, false);
        stats.record(Duration::from_micros(1499), 1);
        assert!(stats.summary_line(start).contains(", 1 ms 50th,"));
        let mut stats = Stats::new(start, false);
        stats.record(Duration::from_micros(1500), 1);
        assert!(stats.summary_line(start).contains(", 2 ms 50th,"));
        assert!(
            stats.detail_line().contains("1500 50th"),
            "{}",
            stats.detail_line()
        );
    }
}
