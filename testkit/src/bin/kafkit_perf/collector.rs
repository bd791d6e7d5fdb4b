//! The completion side: awaits every record's acknowledgement, measures its latency, prints the
//! 5-second window lines and the progress bar.
//!
//! # Measuring without a callback
//! Kafka's tool measures in the producer's callback, on its I/O thread. kafkit's
//! [`DeliveryFuture`]s are awaited instead, on a task of their own: the send loop hands over
//! each record's future with its send time, and this task reads the clock once per wake-up and
//! charges every acknowledgement found then. The futures are kept per partition, in send order,
//! and only each queue's oldest is polled: records of one partition are acknowledged in that
//! order (idempotence, the default, guarantees it; without it a retried batch can complete
//! after a later one, which is then measured when the earlier one completes). Polling every
//! future with this one task's waker registers a single waker per batch, so a wake-up costs a
//! poll per partition, not per record.

use std::collections::VecDeque;
use std::future::Future;
use std::io::Write as _;
use std::pin::Pin;
use std::task::Poll;
use std::time::{Duration, Instant};

use kafkit_producer::{DeliveryFuture, Error};
use tokio::sync::mpsc;

use crate::stats::Stats;

/// Kafka's reporting interval for window lines.
pub const WINDOW: Duration = Duration::from_secs(5);

/// How often the progress bar is redrawn.
const BAR_REFRESH: Duration = Duration::from_millis(200);

/// What the send loop tells the collector, in send order.
#[derive(Debug)]
pub enum Sent {
    /// A record was accepted at `start` (read just before `send`).
    Record {
        /// When its send began.
        start: Instant,
        /// Whether it is past the warmup records.
        steady: bool,
        /// Its acknowledgement.
        delivery: DeliveryFuture,
    },
    /// The first record after the warmup is about to be sent; steady-state stats start now.
    SteadyStart(Instant),
}

/// How progress is shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Progress {
    /// Window lines only (stdout is not a terminal).
    Lines,
    /// Window lines and a progress bar redrawn in place.
    Bar,
}

/// What the run measured.
#[derive(Debug)]
pub struct Outcome {
    /// Every acknowledged record.
    pub total: Stats,
    /// The records after the warmup, if there was one.
    pub steady: Option<Stats>,
    /// Records whose delivery failed.
    pub failed: u64,
    /// The first delivery error.
    pub first_error: Option<Error>,
}

/// A record awaiting its acknowledgement.
struct Pending {
    start: Instant,
    steady: bool,
    delivery: DeliveryFuture,
}

/// Collects acknowledgements until the send loop dropped its sender and every record sent
/// has completed. `start` is when the stats start; `num_records` sizes the progress bar;
/// `record_size` is what each acknowledged record adds to the byte count.
pub async fn collect(
    mut rx: mpsc::UnboundedReceiver<Sent>,
    start: Instant,
    num_records: u64,
    record_size: u64,
    progress: Progress,
) -> Outcome {
    let mut outcome = Outcome {
        total: Stats::new(start, false),
        steady: None,
        failed: 0,
        first_error: None,
    };
    let mut queues: Vec<VecDeque<Pending>> = Vec::new();
    let mut pending = 0usize;
    let mut closed = false;
    let mut bar = Bar {
        shown: progress == Progress::Bar,
        drawn: false,
        num_records,
    };
    let mut refresh = tokio::time::interval(BAR_REFRESH);
    refresh.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);

    std::future::poll_fn(|cx| {
        // What the send loop handed over. A `Pending` here may be the coop budget running out:
        // the task is woken again at once.
        while !closed {
            match rx.poll_recv(cx) {
                Poll::Ready(Some(Sent::Record {
                    start,
                    steady,
                    delivery,
                })) => {
                    let partition = usize::try_from(delivery.partition()).unwrap_or(0);
                    if queues.len() <= partition {
                        queues.resize_with(partition + 1, VecDeque::new);
                    }
                    queues[partition].push_back(Pending {
                        start,
                        steady,
                        delivery,
                    });
                    pending += 1;
                }
                Poll::Ready(Some(Sent::SteadyStart(at))) => {
                    outcome.steady = Some(Stats::new(at, true));
                }
                Poll::Ready(None) => closed = true,
                Poll::Pending => break,
            }
        }

        // Acknowledgements, oldest first in each partition.
        let now = Instant::now();
        let mut completed = false;
        for queue in &mut queues {
            while let Some(front) = queue.front_mut() {
                let Poll::Ready(result) = Pin::new(&mut front.delivery).poll(cx) else {
                    break;
                };
                completed = true;
                match result {
                    Ok(_) => {
                        let latency = now.saturating_duration_since(front.start);
                        outcome.total.record(latency, record_size);
                        if front.steady {
                            if let Some(steady) = &mut outcome.steady {
                                steady.record(latency, record_size);
                            }
                        }
                    }
                    Err(e) => {
                        outcome.failed += 1;
                        outcome.first_error.get_or_insert(e);
                    }
                }
                queue.pop_front();
                pending -= 1;
            }
        }

        // Kafka prints a window when an acknowledgement finds it old enough; once the steady
        // state began, only its windows are printed.
        if completed {
            let mut lines = Vec::new();
            if outcome.total.window_due(now, WINDOW) {
                let line = outcome.total.take_window(now);
                if outcome.steady.is_none() {
                    lines.push(line);
                }
            }
            if let Some(steady) = &mut outcome.steady {
                if steady.count() > 0 && steady.window_due(now, WINDOW) {
                    if steady.first_window() {
                        lines.push("In steady state.".to_string());
                    }
                    lines.push(steady.take_window(now));
                }
            }
            if !lines.is_empty() {
                bar.print_lines(&lines);
            }
        }

        let done = closed && pending == 0;
        if done {
            bar.clear();
            return Poll::Ready(());
        }
        if bar.shown {
            let mut due = false;
            while refresh.poll_tick(cx).is_ready() {
                due = true;
            }
            if due {
                bar.draw(&outcome, now);
            }
        }
        Poll::Pending
    })
    .await;
    outcome
}

/// The progress bar: one line redrawn in place with `\r`.
struct Bar {
    shown: bool,
    /// Whether the bar is on screen now (and must be cleared before printing a line).
    drawn: bool,
    num_records: u64,
}

/// Moves to the start of the line and erases it.
const CLEAR_LINE: &str = "\r\x1b[2K";

impl Bar {
    fn draw(&mut self, outcome: &Outcome, now: Instant) {
        let done = outcome.total.count() + outcome.failed;
        let fraction = if self.num_records == 0 {
            1.0
        } else {
            (done as f64 / self.num_records as f64).min(1.0)
        };
        const WIDTH: usize = 30;
        let filled = (fraction * WIDTH as f64) as usize;
        let secs = now.saturating_duration_since(outcome.total.start()).as_secs_f64();
        let rate = if secs > 0.0 {
            outcome.total.count() as f64 / secs
        } else {
            0.0
        };
        let mut out = std::io::stdout().lock();
        let _ = write!(
            out,
            "{CLEAR_LINE}[{}{}] {:>3}% {done}/{} records, {rate:.1} records/sec, {:.2} ms avg latency{}",
            "#".repeat(filled),
            "-".repeat(WIDTH - filled),
            (fraction * 100.0) as u32,
            self.num_records,
            outcome.total.mean_ms(),
            if outcome.failed > 0 {
                format!(", {} failed", outcome.failed)
            } else {
                String::new()
            },
        );
        let _ = out.flush();
        self.drawn = true;
    }

    /// Prints whole lines above the bar (which the next refresh redraws).
    fn print_lines(&mut self, lines: &[String]) {
        let mut out = std::io::stdout().lock();
        if self.drawn {
            let _ = write!(out, "{CLEAR_LINE}");
            self.drawn = false;
        }
        for line in lines {
            let _ = writeln!(out, "{line}");
        }
        let _ = out.flush();
    }

    fn clear(&mut self) {
        if self.drawn {
            let mut out = std::io::stdout().lock();
            let _ = write!(out, "{CLEAR_LINE}");
            let _ = out.flush();
            self.drawn = false;
        }
    }
}
