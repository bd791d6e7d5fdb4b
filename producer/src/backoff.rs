//! Exponential backoff with jitter (KIP-580), as Java's `ExponentialBackoff` computes it.
//!
//! `backoff(n) = min(max, base * 2^n) * U(0.8, 1.2)`, where `n` counts the failures so far
//! (0 for the first retry), `base` is `retry.backoff.ms` and `max` is `retry.backoff.max.ms`.
//! When `base > max`, `max` is used as a constant, without jitter growth beyond it. The jitter
//! is applied to the capped value, so a backoff may exceed `max` by up to 20%, as in Java.

use std::time::Duration;

use rand::Rng;

/// Jitter factor: the backoff is multiplied by a uniform draw in `[1 - JITTER, 1 + JITTER]`.
const JITTER: f64 = 0.2;

/// A backoff policy.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ExponentialBackoff {
    base: Duration,
    max: Duration,
}

impl ExponentialBackoff {
    /// `retry.backoff.ms` and `retry.backoff.max.ms`.
    pub(crate) fn new(base: Duration, max: Duration) -> Self {
        ExponentialBackoff {
            base: base.min(max),
            max,
        }
    }

    /// The backoff before attempt `failures + 1`, using `rng` for the jitter.
    pub(crate) fn backoff_with(&self, failures: u32, rng: &mut impl Rng) -> Duration {
        let exp = 2f64.powi(failures.min(62) as i32);
        let raw = (self.base.as_secs_f64() * exp).min(self.max.as_secs_f64());
        let jitter = rng.gen_range((1.0 - JITTER)..=(1.0 + JITTER));
        Duration::from_secs_f64(raw * jitter)
    }

    /// [`backoff_with`](Self::backoff_with) using the thread's generator.
    pub(crate) fn backoff(&self, failures: u32) -> Duration {
        self.backoff_with(failures, &mut rand::thread_rng())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::rngs::StdRng;
    use rand::SeedableRng;
    use rstest::rstest;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    /// Java's defaults: 100 ms doubling to 1000 ms, +/-20%.
    #[rstest]
    #[case(0, 100)]
    #[case(1, 200)]
    #[case(2, 400)]
    #[case(3, 800)]
    #[case(4, 1000)]
    #[case(30, 1000)]
    #[case(1000, 1000)]
    fn stays_within_jitter_of_the_capped_exponential(#[case] failures: u32, #[case] center_ms: u64) {
        let b = ExponentialBackoff::new(ms(100), ms(1000));
        let mut rng = StdRng::seed_from_u64(1);
        let (lo, hi) = (center_ms as f64 * 0.8, center_ms as f64 * 1.2);
        let mut seen = Vec::new();
        for _ in 0..1000 {
            let d = b.backoff_with(failures, &mut rng).as_secs_f64() * 1000.0;
            assert!(d >= lo - 1e-6 && d <= hi + 1e-6, "{d} outside [{lo}, {hi}]");
            seen.push(d);
        }
        let (min, max) = seen
            .iter()
            .fold((f64::MAX, f64::MIN), |(a, b), &d| (a.min(d), b.max(d)));
        assert!(
            min < center_ms as f64 * 0.85 && max > center_ms as f64 * 1.15,
            "jitter spans the range"
        );
    }

    #[test]
    fn base_above_max_is_constant_max() {
        let b = ExponentialBackoff::new(ms(5000), ms(1000));
        let mut rng = StdRng::seed_from_u64(2);
        for n in 0..5 {
            let d = b.backoff_with(n, &mut rng);
            assert!(d >= ms(800) && d <= ms(1200), "{d:?}");
        }
    }

    #[test]
    fn zero_base_never_waits() {
        assert_eq!(
            ExponentialBackoff::new(Duration::ZERO, ms(1000)).backoff(5),
            Duration::ZERO
        );
    }
}
