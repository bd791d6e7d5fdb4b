//! The record stream the fault scenarios send, and the check of the delivery guarantee it must
//! keep, shared by [`faults`](crate::faults) and [`randomized`](crate::randomized).
//!
//! A [`Stream`] sends records numbered in send order (the value is the number) to a topic's
//! partitions and keeps every record's [`DeliveryFuture`]; [`Stream::finish`] waits for each
//! outcome. [`check`] then reads what the [`MockCluster`] stored and compares, partition by
//! partition, with what the producer reported, under the [`Guarantee`] the producer's
//! configuration promises (producer-reference §1.5, §1.6; Java's `ProducerConfig` docs of
//! `enable.idempotence`, `retries` and `max.in.flight.requests.per.connection`):
//!
//! - [`Guarantee::ExactlyOnceInOrder`] (`enable.idempotence=true`, the default): every record
//!   whose delivery succeeded is stored exactly once, at the offset it was acknowledged with;
//!   nothing is stored twice (not even a record whose delivery failed but that may have been
//!   written); the stored records of a partition follow send order.
//! - [`Guarantee::AtLeastOnce`] (`enable.idempotence=false`, retries on): every acknowledged
//!   record is stored at least once, and the acknowledged offset holds it; a retried batch
//!   whose first attempt was appended is stored again. With `max.in.flight=1` the first copies
//!   still follow send order (Java: "if retries are disabled or if enable.idempotence is set to
//!   true, ordering will be preserved", and max.in.flight=1 mutes a partition while its batch
//!   is in flight); above 1, a retried batch may land after a later one, so no order is checked.
//!
//! Under both: offsets run from 0 without gaps, nothing is stored that was not sent, nothing
//! lands on another partition than the one it was sent to, a record refused by `send` or
//! failed with a "certainly not written" error is not stored, and every failure is a typed
//! [`Error::Timeout`] or [`Error::Broker`] naming the record's topic and partition.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::time::Duration;

use kafkit_producer::{DeliveryFuture, Error, Producer, ProducerRecord, RecordMetadata};
use kafkit_testkit::{ApiKey, Delivery, MockCluster};

/// What the producer's configuration promises; see the [module docs](self).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Guarantee {
    /// `enable.idempotence=true`.
    ExactlyOnceInOrder,
    /// `enable.idempotence=false` with retries; `ordered` when max.in.flight is 1.
    AtLeastOnce {
        /// Whether the first copies must follow send order.
        ordered: bool,
    },
}

/// What became of one record.
#[derive(Debug)]
pub enum Outcome {
    /// `send` itself failed: the record was never accepted.
    Refused(Error),
    /// Accepted and acknowledged.
    Acked(RecordMetadata),
    /// Accepted, then failed.
    Failed(Error),
}

/// One record of the stream and its outcome.
#[derive(Debug)]
pub struct Sent {
    /// Position in send order; also the record's value.
    pub index: usize,
    /// The partition it was sent to.
    pub partition: i32,
    /// What the producer reported.
    pub outcome: Outcome,
}

/// Counts over a checked stream, for exact assertions.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Tally {
    /// Records sent (accepted or not).
    pub sent: usize,
    /// Records acknowledged.
    pub acked: usize,
    /// Records accepted, then failed.
    pub failed: usize,
    /// Records `send` refused.
    pub refused: usize,
    /// Records stored, copies included.
    pub stored: usize,
    /// Stored copies beyond the first of a record.
    pub duplicates: usize,
}

/// Records sent to `topic`, in send order, with their deliveries outstanding.
#[derive(Debug)]
pub struct Stream {
    topic: String,
    partitions: i32,
    next_partition: i32,
    /// Records sent so far.
    sent: usize,
    /// Outcomes collected by [`Stream::wait`], in send order.
    done: Vec<Sent>,
    /// Records whose outcome has not been collected yet, in send order.
    pending: Vec<(usize, i32, Result<DeliveryFuture, Error>)>,
}

impl Stream {
    /// An empty stream to `topic`'s partitions `0..partitions`.
    pub fn new(topic: &str, partitions: i32) -> Stream {
        Stream {
            topic: topic.to_string(),
            partitions,
            next_partition: 0,
            sent: 0,
            done: Vec::new(),
            pending: Vec::new(),
        }
    }

    /// Records sent so far.
    pub fn len(&self) -> usize {
        self.sent
    }

    /// Sends the next record to `partition`, waiting only until it is accepted (or refused).
    pub async fn send_to(&mut self, producer: &Producer, partition: i32) {
        let index = self.sent;
        self.sent += 1;
        let record = ProducerRecord::builder(self.topic.clone())
            .partition(partition)
            .key(format!("k{index}"))
            .value(index.to_string())
            .build();
        let accepted = producer.send(record).await;
        self.pending.push((index, partition, accepted));
    }

    /// Sends `n` records, one partition after the other.
    pub async fn send_round_robin(&mut self, producer: &Producer, n: usize) {
        for _ in 0..n {
            let partition = self.next_partition;
            self.next_partition = (self.next_partition + 1) % self.partitions;
            self.send_to(producer, partition).await;
        }
    }

    /// Waits for the outcome of every record sent so far (each delivery resolves by
    /// `delivery.timeout.ms` at the latest); the stream can go on afterwards.
    pub async fn wait(&mut self) {
        for (index, partition, accepted) in std::mem::take(&mut self.pending) {
            let outcome = match accepted {
                Err(e) => Outcome::Refused(e),
                Ok(delivery) => match delivery.await {
                    Ok(metadata) => Outcome::Acked(metadata),
                    Err(e) => Outcome::Failed(e),
                },
            };
            self.done.push(Sent {
                index,
                partition,
                outcome,
            });
        }
    }

    /// Waits for every outcome and returns them, in send order.
    pub async fn finish(mut self) -> Vec<Sent> {
        self.wait().await;
        self.done
    }
}

/// Waits until the broker has finished every Produce request it received (a request delayed by
/// a fault may still append long after the client gave up on it), so that [`check`] sees the
/// final log. Bounded by `timeout` on tokio's clock; polls once a virtual second, so that a long
/// wait costs few wake-ups.
pub async fn settle(cluster: &MockCluster, timeout: Duration) -> Result<(), String> {
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        let pending: Vec<String> = cluster
            .journal()
            .requests(ApiKey::Produce)
            .iter()
            .filter(|e| e.delivery == Delivery::Pending)
            .map(|e| {
                format!(
                    "#{} on broker {} (connection {}, faults {:?}, received {:?} ago)",
                    e.seq,
                    e.node_id,
                    e.connection_id,
                    e.faults,
                    e.received_instant.elapsed()
                )
            })
            .collect();
        if pending.is_empty() {
            return Ok(());
        }
        if tokio::time::Instant::now() >= deadline {
            return Err(format!(
                "Produce requests still unanswered after {timeout:?}: {pending:#?}"
            ));
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

/// Compares `sent` with what `cluster` stored for `topic` under `guarantee`; see the
/// [module docs](self). Returns the counts, or every violation found, one per line.
pub fn check(
    cluster: &MockCluster,
    topic: &str,
    partitions: i32,
    sent: &[Sent],
    guarantee: Guarantee,
) -> Result<Tally, String> {
    let mut violations = String::new();
    let mut tally = Tally {
        sent: sent.len(),
        ..Tally::default()
    };
    // Offsets at which each record is stored, by send index.
    let mut copies: BTreeMap<usize, Vec<(i32, i64)>> = BTreeMap::new();
    for partition in 0..partitions {
        let stored = match cluster.records(topic, partition) {
            Ok(stored) => stored,
            Err(e) => return Err(format!("cannot read {topic}-{partition}: {e}")),
        };
        tally.stored += stored.len();
        let offsets: Vec<i64> = stored.iter().map(|r| r.offset).collect();
        if offsets != (0..stored.len() as i64).collect::<Vec<_>>() {
            let _ = writeln!(
                violations,
                "{topic}-{partition}: offsets are not 0..{} without gaps: {offsets:?}",
                stored.len()
            );
        }
        let mut last_first_copy: Option<usize> = None;
        for r in &stored {
            let index = r.value_str().and_then(|v| v.parse::<usize>().ok());
            let Some(index) = index.filter(|&i| i < sent.len()) else {
                let _ = writeln!(
                    violations,
                    "{topic}-{partition}@{}: {:?} was never sent",
                    r.offset, r.value
                );
                continue;
            };
            if sent[index].partition != partition {
                let _ = writeln!(
                    violations,
                    "{topic}-{partition}@{}: record {index} was sent to partition {}",
                    r.offset, sent[index].partition
                );
            }
            let seen = copies.entry(index).or_default();
            let first_copy = seen.is_empty();
            seen.push((partition, r.offset));
            let ordered = match guarantee {
                Guarantee::ExactlyOnceInOrder => true,
                Guarantee::AtLeastOnce { ordered } => ordered && first_copy,
            };
            if ordered {
                if last_first_copy.is_some_and(|last| index <= last) {
                    let _ = writeln!(
                        violations,
                        "{topic}-{partition}@{}: record {index} is stored after record {} (send order)",
                        r.offset,
                        last_first_copy.unwrap_or_default()
                    );
                }
                last_first_copy = Some(index);
            }
        }
    }
    for s in sent {
        let stored_at = copies.get(&s.index).map(Vec::as_slice).unwrap_or_default();
        tally.duplicates += stored_at.len().saturating_sub(1);
        if stored_at.len() > 1 && guarantee == Guarantee::ExactlyOnceInOrder {
            let _ = writeln!(
                violations,
                "record {} is stored {} times: {stored_at:?}",
                s.index,
                stored_at.len()
            );
        }
        match &s.outcome {
            Outcome::Refused(e) => {
                tally.refused += 1;
                if !stored_at.is_empty() {
                    let _ = writeln!(
                        violations,
                        "record {} was refused ({e}) but is stored at {stored_at:?}",
                        s.index
                    );
                }
            }
            Outcome::Acked(m) => {
                tally.acked += 1;
                if (&*m.topic, m.partition) != (topic, s.partition) {
                    let _ = writeln!(
                        violations,
                        "record {} sent to {topic}-{} was acknowledged for {}-{}",
                        s.index, s.partition, m.topic, m.partition
                    );
                }
                if !stored_at.contains(&(s.partition, m.offset)) {
                    let _ = writeln!(
                        violations,
                        "record {} was acknowledged at {}-{}@{} but is stored at {stored_at:?}",
                        s.index, topic, s.partition, m.offset
                    );
                }
            }
            Outcome::Failed(e) => {
                tally.failed += 1;
                let typed = match e {
                    Error::Timeout {
                        topic: t,
                        partition: p,
                        ..
                    }
                    | Error::Broker {
                        topic: t,
                        partition: p,
                        ..
                    } => (t.as_str(), *p) == (topic, s.partition),
                    _ => false,
                };
                if !typed {
                    let _ = writeln!(
                        violations,
                        "record {} to {topic}-{} failed with an unexpected error: {e:?}",
                        s.index, s.partition
                    );
                }
                if !e.may_have_been_persisted() && !stored_at.is_empty() {
                    let _ = writeln!(
                        violations,
                        "record {} failed as certainly not written ({e}) but is stored at {stored_at:?}",
                        s.index
                    );
                }
            }
        }
    }
    if violations.is_empty() {
        Ok(tally)
    } else {
        Err(violations)
    }
}

/// [`check`], panicking with the violations.
#[track_caller]
pub fn assert_guarantee(
    cluster: &MockCluster,
    topic: &str,
    partitions: i32,
    sent: &[Sent],
    guarantee: Guarantee,
) -> Tally {
    match check(cluster, topic, partitions, sent, guarantee) {
        Ok(tally) => tally,
        Err(violations) => panic!("{guarantee:?} violated on {topic}:\n{violations}"),
    }
}

/// The check has teeth: on a log holding send indexes 0, 2, 1, 1 it reports the duplicate only
/// under exactly-once, the reordering unless order is not promised, an acknowledgement that
/// points elsewhere, a record nobody sent, and a "not written" failure that is in the log.
#[tokio::test]
async fn the_check_reports_duplicates_reordering_and_misplaced_records() {
    let cluster = MockCluster::builder()
        .topic("t", 1)
        .start()
        .await
        .expect("cluster");
    let mut raw = kafkit_testkit::WireClient::new(cluster.connect_in_memory(0).expect("connect"), "raw");
    raw.produce("t", 0, &["0", "2", "1", "1"]).await.expect("produce");
    let acked = |index: usize, offset: i64| Sent {
        index,
        partition: 0,
        outcome: Outcome::Acked(RecordMetadata {
            topic: "t".into(),
            partition: 0,
            offset,
            timestamp: 0,
        }),
    };
    let expired = |index: usize, may_have_been_persisted: bool| Sent {
        index,
        partition: 0,
        outcome: Outcome::Failed(Error::Timeout {
            topic: "t".to_string(),
            partition: 0,
            elapsed: Duration::from_secs(120),
            may_have_been_persisted,
        }),
    };
    let check_with = |sent: &[Sent], guarantee| check(&cluster, "t", 1, sent, guarantee);
    let sent = [acked(0, 0), acked(1, 3), acked(2, 1), expired(3, false)];

    let exactly_once = check_with(&sent, Guarantee::ExactlyOnceInOrder).expect_err("violated");
    assert!(
        exactly_once.contains("record 1 is stored 2 times"),
        "{exactly_once}"
    );
    assert!(
        exactly_once.contains("record 1 is stored after record 2"),
        "{exactly_once}"
    );
    let ordered = check_with(&sent, Guarantee::AtLeastOnce { ordered: true }).expect_err("violated");
    assert!(!ordered.contains("stored 2 times"), "{ordered}");
    assert!(ordered.contains("record 1 is stored after record 2"), "{ordered}");
    assert_eq!(
        check_with(&sent, Guarantee::AtLeastOnce { ordered: false }),
        Ok(Tally {
            sent: 4,
            acked: 3,
            failed: 1,
            refused: 0,
            stored: 4,
            duplicates: 1
        })
    );

    let unordered = Guarantee::AtLeastOnce { ordered: false };
    let misplaced = [acked(0, 1), acked(1, 3), acked(2, 1), expired(3, false)];
    let report = check_with(&misplaced, unordered).expect_err("violated");
    assert!(report.contains("record 0 was acknowledged at t-0@1"), "{report}");
    let not_written_but_stored = [acked(0, 0), acked(1, 3), expired(2, false)];
    let report = check_with(&not_written_but_stored, unordered).expect_err("violated");
    assert!(
        report.contains("record 2 failed as certainly not written"),
        "{report}"
    );
    // Only two records sent: what holds "2" was never sent.
    let too_few = [acked(0, 0), acked(1, 3)];
    let report = check_with(&too_few, unordered).expect_err("violated");
    assert!(report.contains("t-0@1: Some(b\"2\") was never sent"), "{report}");
}
