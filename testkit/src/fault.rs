//! Faults: declarative rules that change how the cluster answers matching requests.
//!
//! A [`Fault`] names which requests it matches (ApiKey, broker, topic/partition, client id,
//! how many matching requests to let through first) and what it does to them; installing it
//! with [`MockCluster::fault`](crate::MockCluster::fault) returns a [`FaultHandle`] that counts
//! its hits. Faults are one-shot by default (`.times(n)`, `.always()`), and every fault that
//! matches a request fires on it, in installation order, so they compose: latencies add up,
//! every hold must be released, the first error for a partition wins, closing wins over
//! everything.
//!
//! ```
//! use std::time::Duration;
//! use kafkit_testkit::{ApiKey, ErrorCode, Fault};
//!
//! let fault = Fault::on(ApiKey::Produce)
//!     .broker(0)
//!     .topic_partition("orders", 2)
//!     .respond_error(ErrorCode::NotLeaderOrFollower)
//!     .times(2);
//! assert_eq!(
//!     fault.to_string(),
//!     "Produce on broker 0 for orders-2: respond NOT_LEADER_OR_FOLLOWER (6), 2 times"
//! );
//! let slow = Fault::any_request().broker(1).delay(Duration::from_millis(50)).always();
//! assert_eq!(slow.to_string(), "any request on broker 1: delay 50ms, always");
//! ```

use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use kafka_protocol::messages::ApiKey;
use kafkit_protocol::ErrorCode;
use tokio::sync::watch;

use crate::{Error, Result};

/// What a fault does to the response of a request it matches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    /// An error code: for the matched topics/partitions when the fault names any (they are not
    /// handled; the rest of the request is), else for the whole request.
    Error(ErrorCode),
    /// An error code for the whole request (nothing in it is handled).
    RequestError(ErrorCode),
    /// Close the connection instead of handling the request.
    CloseBefore,
    /// Handle the request, then close the connection without answering.
    CloseAfter,
    /// Handle the request, then send nothing; the connection stays open.
    DropResponse,
}

/// A fault rule; see the [module docs](self).
#[derive(Debug, Clone, PartialEq, Eq)]
#[must_use = "a fault does nothing until installed with MockCluster::fault"]
pub struct Fault {
    pub(crate) api_key: Option<ApiKey>,
    pub(crate) broker: Option<i32>,
    pub(crate) topics: Vec<(String, Option<i32>)>,
    pub(crate) client_id: Option<String>,
    pub(crate) principal: Option<String>,
    pub(crate) group: Option<String>,
    pub(crate) skip: u64,
    pub(crate) times: Option<u64>,
    pub(crate) delay: Option<Duration>,
    pub(crate) hold: bool,
    pub(crate) throttle: Option<Duration>,
    outcome: Option<Outcome>,
}

impl Fault {
    /// A fault on requests of `api_key`.
    pub fn on(api_key: ApiKey) -> Fault {
        Fault {
            api_key: Some(api_key),
            ..Fault::any_request()
        }
    }

    /// A fault on requests of every API.
    pub fn any_request() -> Fault {
        Fault {
            api_key: None,
            broker: None,
            topics: Vec::new(),
            client_id: None,
            principal: None,
            group: None,
            skip: 0,
            times: Some(1),
            delay: None,
            hold: false,
            throttle: None,
            outcome: None,
        }
    }

    /// Only requests received by node `node_id`.
    pub fn broker(mut self, node_id: i32) -> Fault {
        self.broker = Some(node_id);
        self
    }

    /// Only requests that name `topic` (any partition of it; a Metadata request for all
    /// topics matches too). Repeatable: a request naming any of them matches.
    pub fn topic(mut self, topic: impl Into<String>) -> Fault {
        self.topics.push((topic.into(), None));
        self
    }

    /// Only requests that carry `topic`/`partition` (a Metadata request naming the topic, or
    /// asking for all topics, matches too). Repeatable.
    pub fn topic_partition(mut self, topic: impl Into<String>, partition: i32) -> Fault {
        self.topics.push((topic.into(), Some(partition)));
        self
    }

    /// Only requests about consumer group `group_id`: the group APIs (JoinGroup, SyncGroup,
    /// Heartbeat, LeaveGroup, OffsetCommit, OffsetFetch, DescribeGroups, DeleteGroups,
    /// OffsetDelete; ListGroups names no group and never matches) and FindCoordinator for the
    /// group. An error fault answers the whole request (every partition, group or member the
    /// API answers for).
    ///
    /// ```
    /// use kafkit_testkit::{ApiKey, ErrorCode, Fault};
    /// let fault = Fault::on(ApiKey::Heartbeat).group("payments").respond_error(ErrorCode::RebalanceInProgress);
    /// assert_eq!(fault.to_string(), "Heartbeat for group \"payments\": respond REBALANCE_IN_PROGRESS (27)");
    /// ```
    pub fn group(mut self, group_id: impl Into<String>) -> Fault {
        self.group = Some(group_id.into());
        self
    }

    /// Only requests whose header carries this client id.
    pub fn client_id(mut self, client_id: impl Into<String>) -> Fault {
        self.client_id = Some(client_id.into());
        self
    }

    /// Only requests on connections authenticated as `principal` (`User:alice`; see
    /// [`JournalEntry::principal`](crate::JournalEntry::principal)).
    pub fn principal(mut self, principal: impl Into<String>) -> Fault {
        self.principal = Some(principal.into());
        self
    }

    /// Lets the first `n` matching requests through untouched; fires from the next one.
    pub fn after_requests(mut self, n: u64) -> Fault {
        self.skip = n;
        self
    }

    /// Fires on `n` requests, then stays installed but inactive (the default is 1).
    pub fn times(mut self, n: u64) -> Fault {
        self.times = Some(n);
        self
    }

    /// Fires on every matching request until removed.
    pub fn always(mut self) -> Fault {
        self.times = None;
        self
    }

    /// Answers with `code` without handling: only the matched topics/partitions when the fault
    /// names topics (Produce, Fetch, ListOffsets, Metadata; the rest of the request is handled
    /// normally), else the whole request.
    pub fn respond_error(mut self, code: ErrorCode) -> Fault {
        self.outcome = Some(Outcome::Error(code));
        self
    }

    /// Answers every topic/partition of the request with `code` without handling any of it,
    /// even when the fault names topics (they then only select which requests match).
    pub fn respond_request_error(mut self, code: ErrorCode) -> Fault {
        self.outcome = Some(Outcome::RequestError(code));
        self
    }

    /// Waits `delay` before handling (on tokio's clock: instant under a paused clock). Only
    /// this connection waits; others are served meanwhile. Combines with the other actions.
    pub fn delay(mut self, delay: Duration) -> Fault {
        self.delay = Some(delay);
        self
    }

    /// Answers as a broker enforcing a quota does (KIP-219): the request is handled, its
    /// response carries `throttle_time_ms` = `throttle`, and the broker then reads nothing more
    /// from that connection until the time has passed. Clients are expected to hold back their
    /// own requests to that broker meanwhile (kafkit's producer and Java's do, from Produce v6
    /// on). Combines with the other actions; of several throttles, the longest applies.
    pub fn throttle(mut self, throttle: Duration) -> Fault {
        self.throttle = Some(throttle);
        self
    }

    /// Parks the request before handling until [`FaultHandle::release`]; only this connection
    /// waits. Combines with the other actions (they apply once released).
    pub fn hold(mut self) -> Fault {
        self.hold = true;
        self
    }

    /// Closes the connection instead of handling the request: nothing took effect.
    pub fn close_connection(mut self) -> Fault {
        self.outcome = Some(Outcome::CloseBefore);
        self
    }

    /// Handles the request, then closes the connection without answering: it took effect,
    /// and the client learns of a broken connection.
    pub fn close_connection_after_handling(mut self) -> Fault {
        self.outcome = Some(Outcome::CloseAfter);
        self
    }

    /// Handles the request, then drops the response and keeps the connection: it took effect
    /// and the client hears nothing until its request timeout (the case idempotence exists
    /// for).
    pub fn drop_response_after_append(mut self) -> Fault {
        self.outcome = Some(Outcome::DropResponse);
        self
    }

    pub(crate) fn error(&self) -> Option<ErrorCode> {
        match self.outcome {
            Some(Outcome::Error(code)) => Some(code),
            _ => None,
        }
    }

    pub(crate) fn request_error(&self) -> Option<ErrorCode> {
        match self.outcome {
            Some(Outcome::RequestError(code)) => Some(code),
            _ => None,
        }
    }

    pub(crate) fn closes_before(&self) -> bool {
        self.outcome == Some(Outcome::CloseBefore)
    }

    pub(crate) fn after(&self) -> kafkit_broker::intercept::After {
        use kafkit_broker::intercept::After;
        match self.outcome {
            Some(Outcome::CloseAfter) => After::Close,
            Some(Outcome::DropResponse) => After::Drop,
            _ => After::Send,
        }
    }
}

impl fmt::Display for Fault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.api_key {
            Some(key) => write!(f, "{key:?}")?,
            None => f.write_str("any request")?,
        }
        if let Some(b) = self.broker {
            write!(f, " on broker {b}")?;
        }
        if !self.topics.is_empty() {
            let names: Vec<String> = self
                .topics
                .iter()
                .map(|(t, p)| p.map_or_else(|| t.clone(), |p| format!("{t}-{p}")))
                .collect();
            write!(f, " for {}", names.join(", "))?;
        }
        if let Some(g) = &self.group {
            write!(f, " for group {g:?}")?;
        }
        if let Some(c) = &self.client_id {
            write!(f, " from client {c:?}")?;
        }
        if let Some(p) = &self.principal {
            write!(f, " as {p}")?;
        }
        if self.skip > 0 {
            write!(f, " after {} requests", self.skip)?;
        }
        f.write_str(":")?;
        let mut actions = Vec::new();
        if let Some(d) = self.delay {
            actions.push(format!("delay {d:?}"));
        }
        if self.hold {
            actions.push("hold".to_string());
        }
        if let Some(t) = self.throttle {
            actions.push(format!("throttle {t:?}"));
        }
        match self.outcome {
            Some(Outcome::Error(code)) => actions.push(format!("respond {code}")),
            Some(Outcome::RequestError(code)) => actions.push(format!("respond {code} to the whole request")),
            Some(Outcome::CloseBefore) => actions.push("close the connection".to_string()),
            Some(Outcome::CloseAfter) => actions.push("close the connection after handling".to_string()),
            Some(Outcome::DropResponse) => actions.push("drop the response".to_string()),
            None => {}
        }
        if actions.is_empty() {
            actions.push("observe".to_string());
        }
        write!(f, " {}", actions.join(", "))?;
        match self.times {
            Some(1) => Ok(()),
            Some(n) => write!(f, ", {n} times"),
            None => f.write_str(", always"),
        }
    }
}

/// An installed fault's shared state: the rule, its counters, its gate.
#[derive(Debug)]
pub(crate) struct FaultState {
    pub(crate) id: u64,
    pub(crate) fault: Fault,
    /// Matching requests seen, fired or not; compared with `fault.skip`. Only changed under
    /// the registry lock, so `seen` and `hits` move together.
    pub(crate) seen: std::sync::atomic::AtomicU64,
    /// Times fired; receivers wait on it.
    pub(crate) hits: watch::Sender<u64>,
    /// Set by `FaultHandle::remove`: the fault matches nothing any more.
    pub(crate) removed: AtomicBool,
    /// Turns true on release; held requests wait for it.
    pub(crate) released: watch::Sender<bool>,
}

impl FaultState {
    pub(crate) fn new(id: u64, fault: Fault) -> FaultState {
        FaultState {
            id,
            fault,
            seen: Default::default(),
            hits: watch::Sender::new(0),
            removed: AtomicBool::new(false),
            released: watch::Sender::new(false),
        }
    }

    /// Whether it may still fire.
    pub(crate) fn active(&self) -> bool {
        !self.removed.load(Ordering::Relaxed) && self.fault.times.is_none_or(|t| *self.hits.borrow() < t)
    }
}

/// An installed fault: counts its hits, releases held requests, removes the fault.
#[derive(Debug, Clone)]
pub struct FaultHandle {
    pub(crate) state: Arc<FaultState>,
}

impl FaultHandle {
    /// The fault's id, as listed in [`JournalEntry::faults`](crate::JournalEntry::faults).
    pub fn id(&self) -> u64 {
        self.state.id
    }

    /// The rule, as installed.
    pub fn fault(&self) -> &Fault {
        &self.state.fault
    }

    /// How many requests it fired on (a held request counts from the moment it is parked).
    pub fn hits(&self) -> u64 {
        *self.state.hits.borrow()
    }

    /// Whether it fired as many times as it was told to (never for `.always()`).
    pub fn is_exhausted(&self) -> bool {
        self.state.fault.times.is_some_and(|t| self.hits() >= t)
    }

    /// Lets every request this fault holds continue, and every later one pass without waiting.
    pub fn release(&self) {
        self.state.released.send_replace(true);
    }

    /// Deactivates the fault (it stays listed, with its hits) and releases what it holds.
    pub fn remove(&self) {
        self.state.removed.store(true, Ordering::Relaxed);
        self.release();
    }

    /// Waits until the fault has fired at least `n` times (for a hold: until `n` requests are
    /// parked). Cancel safe.
    pub async fn wait_for_hits(&self, n: u64, timeout: Duration) -> Result<()> {
        let mut hits = self.state.hits.subscribe();
        let reached = tokio::time::timeout(timeout, async { hits.wait_for(|&h| h >= n).await.is_ok() }).await;
        match reached {
            Ok(true) => Ok(()),
            // The handle holds the sender, so the channel cannot close while we wait.
            Ok(false) => Err(Error::NotRunning),
            Err(_) => Err(Error::Timeout {
                waited: timeout,
                what: format!("{n} hits of fault {} ({})", self.id(), self.state.fault),
            }),
        }
    }
}

impl fmt::Display for FaultHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "fault {} ({}), {} hits",
            self.id(),
            self.state.fault,
            self.hits()
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;

    #[rstest]
    #[case::observe(Fault::on(ApiKey::Metadata).always(), "Metadata: observe, always")]
    #[case::filters(
        Fault::on(ApiKey::Fetch).topic("a").topic_partition("b", 1).client_id("c").after_requests(2),
        "Fetch for a, b-1 from client \"c\" after 2 requests: observe"
    )]
    #[case::request_error(
        Fault::on(ApiKey::Produce).respond_request_error(ErrorCode::NotEnoughReplicas).times(3),
        "Produce: respond NOT_ENOUGH_REPLICAS (19) to the whole request, 3 times"
    )]
    #[case::composed(
        Fault::any_request().delay(Duration::from_millis(5)).hold().close_connection(),
        "any request: delay 5ms, hold, close the connection"
    )]
    #[case::close_after(Fault::on(ApiKey::Produce).close_connection_after_handling(), "Produce: close the connection after handling")]
    #[case::drop(Fault::on(ApiKey::Produce).drop_response_after_append(), "Produce: drop the response")]
    fn describes_itself(#[case] fault: Fault, #[case] expected: &str) {
        assert_eq!(fault.to_string(), expected);
    }

    /// The last outcome set wins; delay and hold compose with it.
    #[test]
    fn outcomes_replace_each_other() {
        let fault = Fault::on(ApiKey::Produce)
            .respond_error(ErrorCode::NotLeaderOrFollower)
            .drop_response_after_append()
            .delay(Duration::from_millis(1));
        assert_eq!(fault.error(), None);
        assert_eq!(fault.after(), kafkit_broker::intercept::After::Drop);
        assert_eq!(fault.delay, Some(Duration::from_millis(1)));
    }

    #[test]
    fn one_shot_by_default_and_exhausted_after_its_hits() {
        let state = Arc::new(FaultState::new(0, Fault::on(ApiKey::Produce).times(2)));
        let handle = FaultHandle { state: state.clone() };
        assert!(state.active() && !handle.is_exhausted());
        state.hits.send_modify(|h| *h += 2);
        assert!(!state.active() && handle.is_exhausted());
        assert_eq!(Fault::on(ApiKey::Produce).times, Some(1));

        let always = Arc::new(FaultState::new(1, Fault::on(ApiKey::Produce).always()));
        always.hits.send_modify(|h| *h += 1000);
        assert!(always.active());
        (FaultHandle {
            state: always.clone(),
        })
        .remove();
        assert!(
            !always.active() && *always.released.borrow(),
            "removing releases held requests"
        );
    }
}
