//! The transaction coordinator over a `ClusterState`, with its timer task on a paused clock:
//! fencing by epoch, the states EndTxn accepts, markers in every partition of a transaction,
//! and the abort of a transaction that outlives its timeout.

use std::sync::Arc;
use std::time::Duration;

use kafkit_protocol::ErrorCode;
use tokio::sync::watch;

use super::*;
use crate::cluster::{lock_log, BrokerInfo, ClusterState};
use crate::config::{ClusterConfig, TopicConfig};

fn state() -> Arc<ClusterState> {
    let infos = vec![BrokerInfo {
        node_id: 0,
        host: "127.0.0.1".into(),
        port: 9092,
        up: true,
    }];
    let config = ClusterConfig {
        transaction_state_partitions: 3,
        ..ClusterConfig::default()
    };
    let state = Arc::new(ClusterState::open(config, infos).expect("state"));
    state.create_topic("t", 2, TopicConfig::default()).expect("topic");
    state.transactions().locate(&state, "tx").expect("coordinator");
    state
}

fn leo(state: &ClusterState, partition: i32) -> (i64, i64) {
    let metadata = state.metadata();
    let log = metadata.partition("t", partition).expect("partition").log.clone();
    let log = lock_log(&log);
    (log.last_stable_offset(), log.log_end_offset())
}

fn topics(partitions: &[i32]) -> Vec<(String, Vec<i32>)> {
    vec![("t".to_string(), partitions.to_vec())]
}

#[tokio::test(start_paused = true)]
async fn epochs_fence_and_end_txn_follows_the_state() {
    let state = state();
    let txns = state.transactions();
    let first = txns.init_producer(&state, 0, "tx", 60_000, None).expect("init");
    assert_eq!(first.1, 0);
    assert_eq!(
        txns.init_producer(&state, 0, "tx", 0, None),
        Err(ErrorCode::InvalidTransactionTimeout)
    );
    assert_eq!(
        txns.end_transaction(&state, 0, "tx", first, true),
        Err(ErrorCode::InvalidTxnState),
        "nothing is open"
    );
    let added = txns.add_partitions(&state, 0, "tx", first, &topics(&[0, 1]), false);
    assert!(added
        .iter()
        .flat_map(|(_, ps)| ps)
        .all(|(_, c)| *c == ErrorCode::None));
    assert_eq!(txns.transaction("tx").map(|t| t.state), Some(TxnState::Ongoing));
    assert_eq!(txns.end_transaction(&state, 0, "tx", first, true), Ok(first));
    assert_eq!(
        (leo(&state, 0), leo(&state, 1)),
        ((1, 1), (1, 1)),
        "a COMMIT marker in each"
    );
    assert_eq!(
        txns.end_transaction(&state, 0, "tx", first, true),
        Ok(first),
        "a retry"
    );
    assert_eq!(
        txns.end_transaction(&state, 0, "tx", first, false),
        Err(ErrorCode::InvalidTxnState)
    );

    // A second producer fences the first and aborts what it left open.
    txns.add_partitions(&state, 0, "tx", first, &topics(&[0]), false);
    let second = txns.init_producer(&state, 0, "tx", 60_000, None).expect("init");
    assert_eq!((second.0, second.1), (first.0, 1));
    assert_eq!(leo(&state, 0), (2, 2), "an ABORT marker");
    assert_eq!(
        txns.end_transaction(&state, 0, "tx", first, true),
        Err(ErrorCode::ProducerFenced)
    );
    let stale = txns.add_partitions(&state, 0, "tx", first, &topics(&[0]), false);
    assert_eq!(stale[0].1[0].1, ErrorCode::ProducerFenced);
    assert_eq!(
        txns.init_producer(&state, 0, "tx", 60_000, Some(first)),
        Err(ErrorCode::ProducerFenced),
        "KIP-360: not the current epoch"
    );
    let verified = txns.add_partitions(&state, 0, "tx", second, &topics(&[1]), true);
    assert_eq!(
        verified[0].1[0].1,
        ErrorCode::InvalidTxnState,
        "verify-only adds nothing"
    );
    assert_eq!(txns.transaction("tx").map(|t| t.partitions.len()), Some(0));
    let unknown = txns.add_partitions(&state, 0, "tx", second, &topics(&[1, 9]), false);
    assert_eq!(
        unknown[0].1,
        vec![
            (1, ErrorCode::OperationNotAttempted),
            (9, ErrorCode::UnknownTopicOrPartition)
        ]
    );
    assert_eq!(
        txns.add_partitions(&state, 0, "nobody", second, &topics(&[0]), false)[0].1[0].1,
        ErrorCode::InvalidProducerIdMapping
    );
}

/// A transaction that outlives `transaction.timeout.ms` is aborted (an ABORT marker in its
/// partitions) and its producer's epoch bumped, so that the producer is fenced.
#[tokio::test(start_paused = true)]
async fn a_transaction_older_than_its_timeout_is_aborted() {
    let state = state();
    let (_stop, rx) = watch::channel(false);
    tokio::spawn(run_timers(state.clone(), rx));
    let txns = state.transactions();
    let producer = txns.init_producer(&state, 0, "tx", 10_000, None).expect("init");
    txns.add_partitions(&state, 0, "tx", producer, &topics(&[1]), false);
    tokio::time::sleep(Duration::from_secs(9)).await;
    assert_eq!(txns.transaction("tx").map(|t| t.state), Some(TxnState::Ongoing));
    tokio::time::sleep(Duration::from_secs(2)).await;
    let summary = txns.transaction("tx").expect("tx");
    assert_eq!(
        (summary.state, summary.producer_epoch),
        (TxnState::CompleteAbort, 1)
    );
    assert_eq!(leo(&state, 1), (1, 1), "the ABORT marker");
    assert_eq!(
        txns.end_transaction(&state, 0, "tx", producer, true),
        Err(ErrorCode::ProducerFenced)
    );
}

/// Transactional ids survive a restart (`__transaction_state`): the producer goes on at its
/// epoch, and a transaction left open can still be committed; its markers land after the
/// restart.
#[tokio::test(start_paused = true)]
async fn transactional_ids_survive_a_restart() {
    let dir = tempfile::tempdir().expect("dir");
    let infos = || {
        vec![BrokerInfo {
            node_id: 0,
            host: "127.0.0.1".into(),
            port: 9092,
            up: true,
        }]
    };
    let config = || ClusterConfig {
        data_dir: Some(dir.path().to_path_buf()),
        transaction_state_partitions: 3,
        ..ClusterConfig::default()
    };
    let state = ClusterState::open(config(), infos()).expect("state");
    state.create_topic("t", 2, TopicConfig::default()).expect("topic");
    state.transactions().locate(&state, "tx").expect("coordinator");
    let producer = state
        .transactions()
        .init_producer(&state, 0, "tx", 60_000, None)
        .expect("init");
    state
        .transactions()
        .add_partitions(&state, 0, "tx", producer, &topics(&[0]), false);
    state.close().expect("close");
    drop(state);

    let state = ClusterState::open(config(), infos()).expect("reopen");
    let summary = state.transactions().transaction("tx").expect("remembered");
    assert_eq!(
        (summary.producer_id, summary.producer_epoch, summary.state),
        (producer.0, producer.1, TxnState::Ongoing)
    );
    assert_eq!(summary.partitions, vec![("t".to_string(), 0)]);
    assert_eq!(
        state
            .transactions()
            .end_transaction(&state, 0, "tx", producer, true),
        Ok(producer)
    );
    assert_eq!(leo(&state, 0), (1, 1), "the COMMIT marker");
    let next = state
        .transactions()
        .init_producer(&state, 0, "tx", 60_000, None)
        .expect("init");
    assert_eq!(next, (producer.0, producer.1 + 1), "the epoch goes on");
}
