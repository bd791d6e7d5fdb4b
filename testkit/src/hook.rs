//! The test kit's [`Interceptor`]: journals every request and fires the installed faults.
//!
//! One `Hook` lives as long as its [`MockCluster`](crate::MockCluster) and is installed on
//! every broker state it starts (again after each restart), so faults and the journal survive
//! restarts.
//!
//! Matching and counting happen under one lock, in installation order, so `after_requests`
//! and `times` count exactly even with many connections; waiting (delays, holds) happens after
//! the lock is released.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use kafkit_broker::intercept::{After, BoxFuture, Decision, Interceptor, PartitionError, RequestContext};
use kafkit_broker::response::Response;
use kafkit_protocol::{Request, RequestBody};

use crate::fault::{Fault, FaultHandle, FaultState};
use crate::journal::{Delivery, Journal, JournalEntry};

/// What the faults that fired on a request ask for: the decision, the total delay, the gates
/// of the holds.
type Fired = (Decision, Duration, Vec<tokio::sync::watch::Receiver<bool>>);

/// Faults and journal of one mock cluster.
#[derive(Debug, Default)]
pub(crate) struct Hook {
    /// Installed faults, in installation order (exhausted and removed ones stay, for
    /// `assert_all_faults_fired`).
    faults: Mutex<Vec<Arc<FaultState>>>,
    next_fault_id: AtomicU64,
    pub(crate) journal: Journal,
}

/// What a request names, for topic filters.
enum Touched {
    /// Partitions (Produce, Fetch, ListOffsets).
    Partitions(Vec<(String, i32)>),
    /// Topics by name (Metadata naming topics, CreateTopics, CreatePartitions, DeleteTopics).
    Topics(Vec<String>),
    /// Every topic (Metadata asking for all).
    AllTopics,
    /// No topics (ApiVersions, InitProducerId, FindCoordinator).
    Nothing,
}

fn touched(request: &Request) -> Touched {
    let name = |n: &kafka_protocol::messages::TopicName| n.0.to_string();
    match &request.body {
        RequestBody::Produce(r) => Touched::Partitions(
            r.topic_data
                .iter()
                .flat_map(|t| t.partition_data.iter().map(|p| (name(&t.name), p.index)))
                .collect(),
        ),
        RequestBody::Fetch(r) => Touched::Partitions(
            r.topics
                .iter()
                .flat_map(|t| t.partitions.iter().map(|p| (name(&t.topic), p.partition)))
                .collect(),
        ),
        RequestBody::ListOffsets(r) => Touched::Partitions(
            r.topics
                .iter()
                .flat_map(|t| t.partitions.iter().map(|p| (name(&t.name), p.partition_index)))
                .collect(),
        ),
        RequestBody::Metadata(r) => match &r.topics {
            Some(list) if !(request.version() == 0 && list.is_empty()) => {
                Touched::Topics(list.iter().filter_map(|t| t.name.as_ref().map(name)).collect())
            }
            _ => Touched::AllTopics,
        },
        RequestBody::CreateTopics(r) => Touched::Topics(r.topics.iter().map(|t| name(&t.name)).collect()),
        RequestBody::CreatePartitions(r) => Touched::Topics(r.topics.iter().map(|t| name(&t.name)).collect()),
        RequestBody::DeleteTopics(r) => Touched::Topics(
            r.topic_names
                .iter()
                .map(name)
                .chain(r.topics.iter().filter_map(|t| t.name.as_ref().map(name)))
                .collect(),
        ),
        _ => Touched::Nothing,
    }
}

/// The consumer groups a request is about (for [`Fault::group`]).
fn groups_of(request: &Request) -> Vec<&str> {
    match &request.body {
        RequestBody::JoinGroup(r) => vec![&r.group_id.0],
        RequestBody::SyncGroup(r) => vec![&r.group_id.0],
        RequestBody::Heartbeat(r) => vec![&r.group_id.0],
        RequestBody::LeaveGroup(r) => vec![&r.group_id.0],
        RequestBody::OffsetCommit(r) => vec![&r.group_id.0],
        RequestBody::OffsetDelete(r) => vec![&r.group_id.0],
        RequestBody::TxnOffsetCommit(r) => vec![&r.group_id.0],
        RequestBody::AddOffsetsToTxn(r) => vec![&r.group_id.0],
        RequestBody::ConsumerGroupHeartbeat(r) => vec![&r.group_id.0],
        RequestBody::ConsumerGroupDescribe(r) => r.group_ids.iter().map(|g| g.0.as_str()).collect(),
        RequestBody::OffsetFetch(r) if request.version() >= 8 => {
            r.groups.iter().map(|g| g.group_id.0.as_str()).collect()
        }
        RequestBody::OffsetFetch(r) => vec![&r.group_id.0],
        RequestBody::DescribeGroups(r) => r.groups.iter().map(|g| g.0.as_str()).collect(),
        RequestBody::DeleteGroups(r) => r.groups_names.iter().map(|g| g.0.as_str()).collect(),
        RequestBody::FindCoordinator(r) if r.key_type == 0 => std::iter::once(r.key.as_str())
            .chain(r.coordinator_keys.iter().map(|k| k.as_str()))
            .collect(),
        _ => Vec::new(),
    }
}

/// The topics/partitions of the request that `fault`'s topic filters select, each with the
/// fault's error code (NONE for a fault without one). Empty when the fault names no topics or
/// the request carries none of them.
fn selected(fault: &Fault, touched: &Touched) -> Vec<PartitionError> {
    let mut out = Vec::new();
    for (topic, partition) in &fault.topics {
        let code = fault.error().unwrap_or(kafkit_protocol::ErrorCode::None);
        match touched {
            Touched::Partitions(list) => out.extend(
                list.iter()
                    .filter(|(t, p)| t == topic && partition.is_none_or(|x| x == *p))
                    .map(|(t, p)| PartitionError {
                        topic: t.clone(),
                        partition: Some(*p),
                        error: code,
                    }),
            ),
            Touched::Topics(list) if list.contains(topic) => out.push(PartitionError {
                topic: topic.clone(),
                partition: *partition,
                error: code,
            }),
            Touched::AllTopics => out.push(PartitionError {
                topic: topic.clone(),
                partition: *partition,
                error: code,
            }),
            Touched::Topics(_) | Touched::Nothing => {}
        }
    }
    out
}

impl Hook {
    fn faults(&self) -> MutexGuard<'_, Vec<Arc<FaultState>>> {
        // Every update under this lock is a push or a counter bump: a poisoned lock is usable.
        self.faults.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Installs a fault.
    pub(crate) fn install(&self, fault: Fault) -> FaultHandle {
        let id = self.next_fault_id.fetch_add(1, Ordering::Relaxed);
        let state = Arc::new(FaultState::new(id, fault));
        self.faults().push(state.clone());
        FaultHandle { state }
    }

    /// Every installed fault, in installation order.
    pub(crate) fn handles(&self) -> Vec<FaultHandle> {
        self.faults()
            .iter()
            .map(|state| FaultHandle { state: state.clone() })
            .collect()
    }

    /// Removes every fault, releasing what they hold.
    pub(crate) fn clear(&self) {
        for state in self.faults().drain(..) {
            (FaultHandle { state }).remove();
        }
    }

    /// Decides which faults fire on a request and counts them. Returns the decision, the
    /// total delay and the gates to wait for. `record` gets the ids of the faults that fired
    /// before their hit counts move (still under the lock), so a test that saw a hit finds
    /// the request in the journal with its faults.
    fn fire(&self, ctx: &RequestContext, request: &Request, record: impl FnOnce(Vec<u64>)) -> Fired {
        let touched = touched(request);
        let mut decision = Decision::default();
        let mut delay = Duration::ZERO;
        let mut gates = Vec::new();
        let mut fired = Vec::new();
        let faults = self.faults();
        for state in faults.iter() {
            let fault = &state.fault;
            if !state.active()
                || fault.api_key.is_some_and(|k| k != ctx.api_key)
                || fault.broker.is_some_and(|b| b != ctx.node_id)
                || fault
                    .client_id
                    .as_ref()
                    .is_some_and(|c| ctx.client_id.as_ref() != Some(c))
                || fault.principal.as_ref().is_some_and(|p| *p != ctx.principal)
                || fault
                    .group
                    .as_deref()
                    .is_some_and(|g| !groups_of(request).contains(&g))
            {
                continue;
            }
            let selected = selected(fault, &touched);
            if !fault.topics.is_empty() && selected.is_empty() {
                continue;
            }
            if state.seen.fetch_add(1, Ordering::Relaxed) < fault.skip {
                continue;
            }
            fired.push(state.clone());
            delay += fault.delay.unwrap_or_default();
            if fault.hold {
                gates.push(state.released.subscribe());
            }
            let mut this = Decision {
                close_before: fault.closes_before(),
                request_error: fault.request_error(),
                after: fault.after(),
                throttle: fault.throttle,
                ..Default::default()
            };
            if let Some(code) = fault.error() {
                let per_partition = matches!(
                    request.body,
                    RequestBody::Produce(_)
                        | RequestBody::Fetch(_)
                        | RequestBody::ListOffsets(_)
                        | RequestBody::Metadata(_)
                );
                if fault.topics.is_empty() || !per_partition {
                    this.request_error = Some(code);
                } else {
                    this.partition_errors = selected;
                }
            }
            decision = decision.merge(this);
        }
        record(fired.iter().map(|f| f.id).collect());
        for state in &fired {
            state.hits.send_modify(|h| *h += 1);
        }
        drop(faults);
        (decision, delay, gates)
    }
}

impl Interceptor for Hook {
    fn before<'a>(&'a self, ctx: &'a RequestContext, request: &'a Request) -> BoxFuture<'a, Decision> {
        Box::pin(async move {
            let key = (ctx.connection_id, ctx.connection_request_index);
            // Journaled before the faults fire, so whoever waits for a fault's hit finds the
            // request in the journal.
            self.journal.begin(
                key,
                JournalEntry {
                    seq: 0,
                    node_id: ctx.node_id,
                    connection_id: ctx.connection_id,
                    client_id: ctx.client_id.clone(),
                    principal: ctx.principal.clone(),
                    api_key: ctx.api_key,
                    api_version: ctx.api_version,
                    correlation_id: ctx.correlation_id,
                    received_at: ctx.received_at,
                    received_instant: ctx.received_instant,
                    elapsed: None,
                    request: Arc::new(request.clone()),
                    response: None,
                    delivery: Delivery::Pending,
                    faults: Vec::new(),
                },
            );
            let (decision, delay, gates) =
                self.fire(ctx, request, |fired| self.journal.set_faults(key, fired));
            if !delay.is_zero() {
                tokio::time::sleep(delay).await;
            }
            for mut gate in gates {
                // The handle holds the sender as long as the fault exists; a closed channel
                // means the fault is gone, so the request goes on.
                let _ = gate.wait_for(|released| *released).await;
            }
            decision
        })
    }

    fn after(
        &self,
        ctx: &RequestContext,
        _request: &Request,
        decision: &Decision,
        response: Option<&mut Response>,
    ) -> After {
        let delivery = match (decision.close_before, &response, decision.after) {
            (true, _, _) => Delivery::ClosedBeforeHandling,
            (false, _, After::Close) => Delivery::ClosedAfterHandling,
            (false, None, _) => Delivery::NoResponse,
            (false, Some(_), After::Drop) => Delivery::Dropped,
            (false, Some(_), After::Send) => Delivery::Sent,
        };
        let elapsed = (!decision.close_before).then(|| ctx.received_instant.elapsed());
        self.journal.finish(
            (ctx.connection_id, ctx.connection_request_index),
            response.map(|r| r.clone()),
            delivery,
            elapsed,
        );
        After::Send
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kafka_protocol::messages::ApiKey;
    use kafkit_protocol::ErrorCode;

    fn partitions() -> Touched {
        Touched::Partitions(vec![("a".into(), 0), ("a".into(), 1), ("b".into(), 0)])
    }

    fn selected_of(fault: Fault, touched: &Touched) -> Vec<(String, Option<i32>)> {
        selected(&fault, touched)
            .into_iter()
            .map(|e| (e.topic, e.partition))
            .collect()
    }

    /// A topic filter selects each of its partitions in the request; a partition filter one.
    #[test]
    fn topic_filters_select_partitions() {
        let fault = || Fault::on(ApiKey::Produce).respond_error(ErrorCode::NotLeaderOrFollower);
        assert_eq!(
            selected_of(fault().topic("a"), &partitions()),
            [("a".into(), Some(0)), ("a".into(), Some(1))]
        );
        assert_eq!(
            selected_of(fault().topic_partition("a", 1), &partitions()),
            [("a".into(), Some(1))]
        );
        assert!(selected_of(fault().topic_partition("c", 0), &partitions()).is_empty());
        assert!(
            selected_of(fault(), &partitions()).is_empty(),
            "no filter, nothing selected"
        );
        let codes: Vec<ErrorCode> = selected(&fault().topic("b"), &partitions())
            .iter()
            .map(|e| e.error)
            .collect();
        assert_eq!(codes, [ErrorCode::NotLeaderOrFollower]);
    }

    /// Metadata naming topics, or asking for all, is selected by topic.
    #[test]
    fn topic_filters_on_metadata() {
        let named = Touched::Topics(vec!["a".into()]);
        assert_eq!(
            selected_of(Fault::any_request().topic("a"), &named),
            [("a".into(), None)]
        );
        assert!(selected_of(Fault::any_request().topic("b"), &named).is_empty());
        assert_eq!(
            selected_of(Fault::any_request().topic_partition("b", 2), &Touched::AllTopics),
            [("b".into(), Some(2))]
        );
        assert!(selected_of(Fault::any_request().topic("a"), &Touched::Nothing).is_empty());
    }
}
