//! [`Throttle`]: paces sends to a target rate the way Kafka's `ThroughputThrottler` does.
//!
//! The throttle compares the average rate since the start with the target. Only when the
//! producer is ahead does it add one send interval (`1 / target` seconds) to a sleep deficit,
//! and only once that deficit reaches [`MIN_SLEEP`] does the caller sleep it off, all at once;
//! the deficit is then cleared, whether the sleep overshot or not (the average-rate check
//! corrects an overshoot by not throttling until the producer has caught up). Sleeping in
//! chunks of at least 2 ms keeps the timer's granularity from dominating at high rates.
//!
//! The throttle never reads the clock itself: the caller passes the time of each send, so the
//! pacing is tested on a simulated clock.
//!
//! # References
//! - Kafka `server-common` `ThroughputThrottler` (`shouldThrottle`, `throttle`).

use std::time::Duration;

/// The smallest sleep the throttle asks for; smaller deficits accumulate.
pub const MIN_SLEEP: Duration = Duration::from_millis(2);

/// Paces a loop of sends to about `target` sends per second.
#[derive(Debug, Clone)]
pub struct Throttle {
    /// Sends per second; `None` disables throttling (`--throughput -1`).
    target: Option<f64>,
    /// One send interval at the target rate.
    interval: Duration,
    /// Sleep owed and not yet taken.
    deficit: Duration,
}

impl Throttle {
    /// A throttle for `target` sends per second; a negative target disables it. The caller
    /// rejects a target of 0 (Kafka's throttler would block forever).
    pub fn new(target: f64) -> Self {
        if target > 0.0 && target.is_finite() {
            Throttle {
                target: Some(target),
                interval: Duration::from_secs_f64(1.0 / target),
                deficit: Duration::ZERO,
            }
        } else {
            Throttle {
                target: None,
                interval: Duration::ZERO,
                deficit: Duration::ZERO,
            }
        }
    }

    /// Whether the loop is ahead of the target: `sent` sends happened in `elapsed` since the
    /// start (the first send). Never true at `elapsed == 0` or without a target.
    pub fn should_throttle(&self, sent: u64, elapsed: Duration) -> bool {
        let Some(target) = self.target else {
            return false;
        };
        let secs = elapsed.as_secs_f64();
        secs > 0.0 && sent as f64 / secs > target
    }

    /// Adds one send interval to the deficit; returns the time to sleep now once the deficit
    /// reaches [`MIN_SLEEP`] (and clears it), `None` while it is smaller.
    pub fn throttle(&mut self) -> Option<Duration> {
        self.target?;
        self.deficit += self.interval;
        if self.deficit >= MIN_SLEEP {
            Some(std::mem::take(&mut self.deficit))
        } else {
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Runs `records` sends that each take `send_cost` on a simulated clock, sleeping when told;
    /// returns the total simulated time and the sleeps taken.
    fn simulate(target: f64, records: u64, send_cost: Duration) -> (Duration, Vec<Duration>) {
        let mut throttle = Throttle::new(target);
        let mut now = Duration::ZERO;
        let mut sleeps = Vec::new();
        for i in 0..records {
            // Like the tool: the send time is read before the send, the check follows it.
            let send_start = now;
            now += send_cost;
            if throttle.should_throttle(i, send_start) {
                if let Some(sleep) = throttle.throttle() {
                    sleeps.push(sleep);
                    now += sleep;
                }
            }
        }
        (now, sleeps)
    }

    #[test]
    fn unthrottled_never_sleeps() {
        let throttle = Throttle::new(-1.0);
        assert!(!throttle.should_throttle(u64::MAX, Duration::from_nanos(1)));
        let (elapsed, sleeps) = simulate(-1.0, 100_000, Duration::from_micros(1));
        assert!(sleeps.is_empty());
        assert_eq!(elapsed, Duration::from_millis(100));
    }

    #[test]
    fn never_throttles_at_time_zero() {
        let throttle = Throttle::new(10.0);
        assert!(!throttle.should_throttle(1_000, Duration::ZERO));
        assert!(throttle.should_throttle(1_000, Duration::from_secs(1)));
        assert!(!throttle.should_throttle(10, Duration::from_secs(1)));
    }

    #[test]
    fn deficit_accumulates_to_the_minimum_sleep() {
        // 10_000/s: 100 us per send, so 20 throttled sends owe 2 ms.
        let mut throttle = Throttle::new(10_000.0);
        for _ in 0..19 {
            assert_eq!(throttle.throttle(), None);
        }
        assert_eq!(throttle.throttle(), Some(Duration::from_millis(2)));
        assert_eq!(throttle.throttle(), None, "the deficit was cleared");
    }

    #[test]
    fn slow_rates_sleep_one_interval_per_send() {
        let mut throttle = Throttle::new(100.0);
        assert_eq!(throttle.throttle(), Some(Duration::from_millis(10)));
    }

    #[rstest::rstest]
    #[case::slow(50.0, 200)]
    #[case::medium(5_000.0, 20_000)]
    #[case::fast(200_000.0, 600_000)]
    fn paced_rate_is_close_to_the_target(#[case] target: f64, #[case] records: u64) {
        let (elapsed, sleeps) = simulate(target, records, Duration::from_nanos(500));
        assert!(!sleeps.is_empty());
        let rate = records as f64 / elapsed.as_secs_f64();
        assert!(
            (rate - target).abs() / target < 0.02,
            "rate {rate:.1}/s for a target of {target}/s"
        );
        assert!(sleeps.iter().all(|s| *s >= MIN_SLEEP));
    }

    #[test]
    fn a_slow_producer_is_not_throttled() {
        // 1 ms per send cannot exceed 2_000/s: nothing to pace.
        let (_, sleeps) = simulate(2_000.0, 5_000, Duration::from_millis(1));
        assert!(sleeps.is_empty());
    }
}
