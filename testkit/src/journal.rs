//! The journal: every request a [`MockCluster`](crate::MockCluster) received and the response
//! it gave, decoded, in arrival order, with where and when.
//!
//! An entry is written when the request arrives (before faults delay or hold it, so a held
//! request is visible as [`Delivery::Pending`]) and completed when its response is ready, or
//! marked [`Delivery::Abandoned`] when the broker stops serving its connection first (taken
//! down, or the cluster restarts), so no entry stays pending for ever. The journal survives
//! restarts. Filters answer the common questions: how many requests of an
//! API ([`Journal::count`]), which Produce requests with which batches and sizes
//! ([`Journal::produce_requests`]), which client ids ([`Journal::client_ids`]).

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime};

use kafka_protocol::messages::{ApiKey, ProduceRequest, ProduceResponse};
use kafkit_broker::response::Response;
use kafkit_protocol::record::view::Batches;
use kafkit_protocol::{Compression, ErrorCode, Request, RequestBody};

/// What became of a request's response.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Delivery {
    /// Not answered yet (being handled, or delayed or held by a fault).
    Pending,
    /// The response was sent.
    Sent,
    /// There is no response to send (Produce with acks=0).
    NoResponse,
    /// A fault dropped the response after the request took effect; the connection stayed open.
    Dropped,
    /// A fault closed the connection before the request was handled.
    ClosedBeforeHandling,
    /// A fault closed the connection after the request was handled, without answering.
    ClosedAfterHandling,
    /// The broker stopped serving the connection before answering: the node was taken down,
    /// or the cluster restarted, while the request waited (delayed or held by a fault, or in a
    /// Fetch long poll). Nothing was answered, and the request had no effect: handlers only
    /// wait before they change anything.
    Abandoned,
}

/// One request and, once answered, its response.
#[derive(Debug, Clone)]
pub struct JournalEntry {
    /// Position in the journal, from 0, in arrival order.
    pub seq: u64,
    /// The node that received it.
    pub node_id: i32,
    /// The connection (unique within the process).
    pub connection_id: u64,
    /// The header's client id.
    pub client_id: Option<String>,
    /// The connection's principal: `User:alice` after SASL, `User:<DN>` for a TLS client
    /// certificate, `User:ANONYMOUS` otherwise.
    pub principal: String,
    /// The API.
    pub api_key: ApiKey,
    /// The request's version.
    pub api_version: i16,
    /// The header's correlation id.
    pub correlation_id: i32,
    /// Wall-clock arrival time.
    pub received_at: SystemTime,
    /// Arrival time on tokio's clock: under a paused clock, the virtual time, so a test can
    /// measure linger and backoff between requests.
    pub received_instant: tokio::time::Instant,
    /// Time from arrival to the response being ready (tokio's clock, so it follows a paused
    /// clock); `None` while pending or when closed before handling.
    pub elapsed: Option<Duration>,
    /// The decoded request.
    pub request: Arc<Request>,
    /// The decoded response, as handled (and rewritten by faults), whether or not it was sent.
    pub response: Option<Response>,
    /// What became of the response.
    pub delivery: Delivery,
    /// Ids of the faults that fired on this request ([`FaultHandle::id`](crate::FaultHandle::id)).
    pub faults: Vec<u64>,
}

impl JournalEntry {
    /// The Produce request, if this is one.
    pub fn produce_request(&self) -> Option<&ProduceRequest> {
        match &self.request.body {
            RequestBody::Produce(r) => Some(r),
            _ => None,
        }
    }

    /// The Produce response, if this is one and it was handled.
    pub fn produce_response(&self) -> Option<&ProduceResponse> {
        match &self.response {
            Some(Response::Produce(r)) => Some(r),
            _ => None,
        }
    }
}

/// One record batch of a journaled Produce request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProducedBatch {
    /// Topic.
    pub topic: String,
    /// Partition.
    pub partition: i32,
    /// Records in the batch.
    pub record_count: i32,
    /// The batch's size on the wire, header included.
    pub size_bytes: usize,
    /// The batch's codec (`None` if its attributes name none kafkit knows).
    pub compression: Option<Compression>,
    /// Producer id (`-1` without idempotence).
    pub producer_id: i64,
    /// Producer epoch.
    pub producer_epoch: i16,
    /// Sequence of the first record (`-1` without idempotence).
    pub base_sequence: i32,
    /// The partition's error code in the response (`None` while unanswered or without one).
    pub error: Option<ErrorCode>,
    /// The base offset the response gave (`None` while unanswered, without one, or `-1`).
    pub base_offset: Option<i64>,
}

/// A journaled Produce request, with its batches taken apart.
#[derive(Debug, Clone)]
pub struct ProduceRequestInfo {
    /// The journal entry (request, response, where and when).
    pub entry: JournalEntry,
    /// `acks`.
    pub acks: i16,
    /// Every batch in request order.
    pub batches: Vec<ProducedBatch>,
}

impl ProduceRequestInfo {
    /// Records over all batches.
    pub fn record_count(&self) -> i64 {
        self.batches.iter().map(|b| i64::from(b.record_count)).sum()
    }
}

/// A live view of a cluster's journal; cheap to clone, every method reads the current state.
#[derive(Debug, Clone, Default)]
pub struct Journal {
    inner: Arc<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    entries: Mutex<Vec<JournalEntry>>,
    /// Where the entry of a pending request is: `(connection_id, connection_request_index)`
    /// to its index in `entries`.
    pending: Mutex<HashMap<(u64, u64), usize>>,
    /// Bumped on every change, for waiters.
    changed: tokio::sync::watch::Sender<u64>,
}

impl Journal {
    fn entries_mut(&self) -> MutexGuard<'_, Vec<JournalEntry>> {
        // Entries are pushed or completed in one step, so a poisoned lock holds whole entries.
        self.inner.entries.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Appends a pending entry for a request that just arrived.
    pub(crate) fn begin(&self, key: (u64, u64), mut entry: JournalEntry) {
        let mut entries = self.entries_mut();
        entry.seq = entries.len() as u64;
        self.inner
            .pending
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(key, entries.len());
        entries.push(entry);
        drop(entries);
        self.inner.changed.send_modify(|n| *n += 1);
    }

    /// Records which faults fired on the pending request `key`.
    pub(crate) fn set_faults(&self, key: (u64, u64), faults: Vec<u64>) {
        if faults.is_empty() {
            return;
        }
        let index = self
            .inner
            .pending
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&key)
            .copied();
        if let Some(i) = index {
            if let Some(entry) = self.entries_mut().get_mut(i) {
                entry.faults = faults;
            }
        }
    }

    /// Completes the entry [`Journal::begin`] wrote for `key`.
    pub(crate) fn finish(
        &self,
        key: (u64, u64),
        response: Option<Response>,
        delivery: Delivery,
        elapsed: Option<Duration>,
    ) {
        let index = self
            .inner
            .pending
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&key);
        let Some(index) = index else { return };
        let mut entries = self.entries_mut();
        if let Some(entry) = entries.get_mut(index) {
            entry.response = response;
            entry.delivery = delivery;
            entry.elapsed = elapsed;
        }
        drop(entries);
        self.inner.changed.send_modify(|n| *n += 1);
    }

    /// Marks every pending entry of `node_id` (of every node when `None`) as
    /// [`Delivery::Abandoned`]: its broker stopped serving it. The entries stay completable, so
    /// a request that was answered in the same instant as its node went down still ends up
    /// with its real outcome.
    pub(crate) fn abandon_pending(&self, node_id: Option<i32>) {
        let indexes: Vec<usize> = self
            .inner
            .pending
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .values()
            .copied()
            .collect();
        let mut entries = self.entries_mut();
        let mut changed = false;
        for i in indexes {
            if let Some(entry) = entries.get_mut(i) {
                if entry.delivery == Delivery::Pending && node_id.is_none_or(|n| n == entry.node_id) {
                    entry.delivery = Delivery::Abandoned;
                    changed = true;
                }
            }
        }
        drop(entries);
        if changed {
            self.inner.changed.send_modify(|n| *n += 1);
        }
    }

    /// A receiver that changes whenever an entry is added or completed.
    pub(crate) fn subscribe(&self) -> tokio::sync::watch::Receiver<u64> {
        self.inner.changed.subscribe()
    }

    /// Every entry, in arrival order.
    pub fn entries(&self) -> Vec<JournalEntry> {
        self.entries_mut().clone()
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        self.entries_mut().len()
    }

    /// Whether nothing was journaled.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Forgets every entry (requests still pending are not completed afterwards).
    pub fn clear(&self) {
        self.entries_mut().clear();
        self.inner
            .pending
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clear();
        self.inner.changed.send_modify(|n| *n += 1);
    }

    /// The entries of one API, in arrival order.
    pub fn requests(&self, api_key: ApiKey) -> Vec<JournalEntry> {
        self.entries_mut()
            .iter()
            .filter(|e| e.api_key == api_key)
            .cloned()
            .collect()
    }

    /// How many requests of one API arrived.
    pub fn count(&self, api_key: ApiKey) -> usize {
        self.entries_mut().iter().filter(|e| e.api_key == api_key).count()
    }

    /// How many requests of each API arrived, in ApiKey order.
    pub fn counts_by_api(&self) -> Vec<(ApiKey, usize)> {
        let mut counts: BTreeMap<i16, (ApiKey, usize)> = BTreeMap::new();
        for e in self.entries_mut().iter() {
            counts.entry(e.api_key as i16).or_insert((e.api_key, 0)).1 += 1;
        }
        counts.into_values().collect()
    }

    /// Every client id seen.
    pub fn client_ids(&self) -> BTreeSet<String> {
        self.entries_mut()
            .iter()
            .filter_map(|e| e.client_id.clone())
            .collect()
    }

    /// Every Produce request, with its batches (record counts, sizes, producer ids and
    /// sequences) and what the response said for each.
    pub fn produce_requests(&self) -> Vec<ProduceRequestInfo> {
        self.entries_mut()
            .iter()
            .filter_map(|e| {
                let request = e.produce_request()?;
                Some(ProduceRequestInfo {
                    entry: e.clone(),
                    acks: request.acks,
                    batches: produced_batches(request, e.produce_response()),
                })
            })
            .collect()
    }

    /// The Produce requests that carried a batch for `topic`/`partition`.
    pub fn produce_requests_to(&self, topic: &str, partition: i32) -> Vec<ProduceRequestInfo> {
        self.produce_requests()
            .into_iter()
            .filter(|p| {
                p.batches
                    .iter()
                    .any(|b| b.topic == topic && b.partition == partition)
            })
            .collect()
    }
}

fn produced_batches(request: &ProduceRequest, response: Option<&ProduceResponse>) -> Vec<ProducedBatch> {
    let mut out = Vec::new();
    for topic in &request.topic_data {
        let name = topic.name.0.as_str();
        for partition in &topic.partition_data {
            let answer = response.and_then(|r| {
                r.responses
                    .iter()
                    .filter(|t| t.name.0.as_str() == name)
                    .flat_map(|t| &t.partition_responses)
                    .find(|p| p.index == partition.index)
            });
            let records = partition.records.as_deref().unwrap_or_default();
            // A batch that does not parse is not listed: the broker refused it, and the
            // response's error code says why.
            for batch in Batches::new(records).flatten() {
                out.push(ProducedBatch {
                    topic: name.to_string(),
                    partition: partition.index,
                    record_count: batch.records_count(),
                    size_bytes: batch.size_in_bytes(),
                    compression: batch.compression(),
                    producer_id: batch.producer_id(),
                    producer_epoch: batch.producer_epoch(),
                    base_sequence: batch.base_sequence(),
                    error: answer.map(|a| ErrorCode::from(a.error_code)),
                    base_offset: answer.map(|a| a.base_offset).filter(|&o| o >= 0),
                });
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use kafka_protocol::messages::produce_response::{PartitionProduceResponse, TopicProduceResponse};
    use kafka_protocol::messages::TopicName;
    use kafka_protocol::protocol::StrBytes;

    /// Each batch of a request is listed with its partition's answer; the journal numbers
    /// entries and completes them by key.
    #[test]
    fn batches_and_their_answers() {
        let request = crate::wire::produce_request("t", 3, 1, &["a", "bb"]).expect("request");
        let response = ProduceResponse::default().with_responses(vec![TopicProduceResponse::default()
            .with_name(TopicName(StrBytes::from_static_str("t")))
            .with_partition_responses(vec![PartitionProduceResponse::default()
                .with_index(3)
                .with_base_offset(7)])]);
        let batches = produced_batches(&request, Some(&response));
        assert_eq!(batches.len(), 1);
        let b = &batches[0];
        assert_eq!((b.topic.as_str(), b.partition, b.record_count), ("t", 3, 2));
        assert_eq!(
            (b.producer_id, b.base_sequence, b.compression),
            (-1, -1, Some(Compression::None))
        );
        assert_eq!((b.error, b.base_offset), (Some(ErrorCode::None), Some(7)));
        assert_eq!(
            b.size_bytes,
            request.topic_data[0].partition_data[0]
                .records
                .as_ref()
                .map_or(0, |r| r.len())
        );

        let journal = Journal::default();
        let entry = |api_key| JournalEntry {
            seq: 99,
            node_id: 0,
            connection_id: 1,
            client_id: Some("c".into()),
            principal: "User:ANONYMOUS".into(),
            api_key,
            api_version: 9,
            correlation_id: 0,
            received_at: SystemTime::now(),
            received_instant: tokio::time::Instant::now(),
            elapsed: None,
            request: Arc::new(Request {
                header: Default::default(),
                body: RequestBody::Produce(request.clone()),
            }),
            response: None,
            delivery: Delivery::Pending,
            faults: Vec::new(),
        };
        journal.begin((1, 0), entry(ApiKey::Produce));
        journal.begin((1, 1), entry(ApiKey::Produce));
        journal.finish((1, 1), Some(Response::Produce(response)), Delivery::Sent, None);
        let entries = journal.entries();
        assert_eq!(entries.iter().map(|e| e.seq).collect::<Vec<_>>(), [0, 1]);
        assert_eq!(
            (entries[0].delivery, entries[1].delivery),
            (Delivery::Pending, Delivery::Sent)
        );
        let produced = journal.produce_requests();
        assert_eq!(
            (produced[0].batches[0].error, produced[1].batches[0].base_offset),
            (None, Some(7))
        );
    }

    /// Abandoning marks only the pending entries of the node that went down, and an answer
    /// that races the abandonment still completes its entry.
    #[test]
    fn abandoned_entries_are_the_down_nodes_and_stay_completable() {
        let journal = Journal::default();
        let entry = |node_id| JournalEntry {
            seq: 0,
            node_id,
            connection_id: node_id as u64,
            client_id: None,
            principal: "User:ANONYMOUS".into(),
            api_key: ApiKey::Produce,
            api_version: 9,
            correlation_id: 0,
            received_at: SystemTime::now(),
            received_instant: tokio::time::Instant::now(),
            elapsed: None,
            request: Arc::new(Request {
                header: Default::default(),
                body: RequestBody::Produce(ProduceRequest::default()),
            }),
            response: None,
            delivery: Delivery::Pending,
            faults: Vec::new(),
        };
        journal.begin((0, 0), entry(0));
        journal.begin((1, 0), entry(1));
        journal.begin((0, 1), entry(0));
        journal.finish((0, 1), None, Delivery::NoResponse, None);
        journal.abandon_pending(Some(0));
        let deliveries = |j: &Journal| j.entries().iter().map(|e| e.delivery).collect::<Vec<_>>();
        assert_eq!(
            deliveries(&journal),
            [Delivery::Abandoned, Delivery::Pending, Delivery::NoResponse]
        );
        journal.finish((0, 0), None, Delivery::Sent, None);
        journal.abandon_pending(None);
        assert_eq!(
            deliveries(&journal),
            [Delivery::Sent, Delivery::Abandoned, Delivery::NoResponse]
        );
    }
}
