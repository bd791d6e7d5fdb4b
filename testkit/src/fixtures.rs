//! rstest fixtures for each [target](crate::target), ready to `use`.
//!
//! Each is an async fixture: take it with `#[future(awt)]`. The optional targets resolve to
//! `None` (after printing why) when they are not available here, so a test returns early and
//! passes; a target that should be there and fails to start panics the test.
//!
//! ```
//! use kafkit_testkit::fixtures::{external_target, mock_target};
//! use kafkit_testkit::{ExternalBroker, MockCluster, Target};
//! use rstest::rstest;
//!
//! #[rstest]
//! #[tokio::test]
//! async fn mock_supports_faults(#[future(awt)] mock_target: MockCluster) {
//!     assert!(mock_target.supports_faults());
//! }
//!
//! #[rstest]
//! #[tokio::test]
//! async fn external_has_an_address(#[future(awt)] external_target: Option<ExternalBroker>) {
//!     let Some(broker) = external_target else { return }; // KAFKIT_BOOTSTRAP unset
//!     assert!(!broker.bootstrap_servers().is_empty());
//! }
//! ```

// rstest generates an undocumented struct and constructor beside each fixture; the fixture
// functions themselves are documented.
#![allow(missing_docs)]

use rstest::fixture;

use crate::target::{ExternalBroker, Target, TargetKind};
use crate::MockCluster;

/// A fresh one-broker [`MockCluster`] (topics auto-created). Panics if it cannot start.
#[fixture]
pub async fn mock_target() -> MockCluster {
    MockCluster::builder()
        .start()
        .await
        .unwrap_or_else(|e| panic!("the mock cluster did not start: {e}"))
}

/// The cluster `KAFKIT_BOOTSTRAP` names; `None` when it is unset. Panics when it is set but
/// unreachable.
#[fixture]
pub async fn external_target() -> Option<ExternalBroker> {
    match ExternalBroker::from_env().await {
        Ok(Some(broker)) => Some(broker),
        Ok(None) => crate::target::skip(TargetKind::External, "KAFKIT_BOOTSTRAP is not set"),
        Err(e) => panic!("KAFKIT_BOOTSTRAP is set but its cluster is unusable: {e}"),
    }
}

/// Apache Kafka ([`start_kafka`](crate::target::start_kafka): a running one, the shared
/// process from its jars, or a container); `None` when none is at hand. Panics when one should
/// be and does not start.
#[fixture]
pub async fn kafka_target() -> Option<Box<dyn Target>> {
    TargetKind::Kafka
        .start()
        .await
        .unwrap_or_else(|e| panic!("Kafka did not start: {e}"))
}
