//! The transaction state machine without I/O: which calls each state allows, Java's error for
//! the others, and a caller whose wait timed out joining the same operation.

use super::*;

fn ready() -> TxnShared {
    let txn = TxnShared::new("t".into(), Duration::from_secs(60));
    txn.start(Operation::Init, None).expect("init starts");
    let mut inner = txn.lock();
    inner.completed();
    inner.finish(Operation::Init, Ok(()));
    drop(inner);
    txn.seen(Operation::Init);
    txn
}

fn state_error(result: Result<impl std::fmt::Debug>) -> (&'static str, &'static str) {
    match result {
        Err(Error::InvalidTransactionState { operation, state }) => (operation, state),
        other => panic!("expected InvalidTransactionState, got {other:?}"),
    }
}

#[test]
fn calls_before_init_are_refused_with_javas_state_names() {
    let txn = TxnShared::new("t".into(), Duration::from_secs(60));
    assert_eq!(state_error(txn.check_send()), ("send", "UNINITIALIZED"));
    assert_eq!(state_error(txn.begin()), ("begin_transaction", "UNINITIALIZED"));
    assert_eq!(
        state_error(txn.start(Operation::Commit, None)),
        ("commit_transaction", "UNINITIALIZED")
    );
    assert_eq!(
        state_error(txn.start(Operation::Abort, None)),
        ("abort_transaction", "UNINITIALIZED")
    );
}

#[test]
fn a_transaction_goes_ready_in_transaction_committing_ready() {
    let txn = ready();
    assert_eq!(state_error(txn.check_send()), ("send", "READY"));
    txn.begin().expect("begin");
    assert_eq!(state_error(txn.begin()), ("begin_transaction", "IN_TRANSACTION"));
    txn.check_send().expect("send in a transaction");
    assert!(txn.add_partition("a", 0));
    assert!(!txn.add_partition("a", 0));
    assert_eq!(txn.lock().new_partitions.len(), 1, "a partition is added once");
    let rx = txn.start(Operation::Commit, None).expect("commit");
    assert_eq!(txn.state(), State::Committing);
    assert_eq!(state_error(txn.check_send()), ("send", "COMMITTING_TRANSACTION"));
    assert_eq!(
        state_error(txn.start(Operation::Abort, None)),
        ("abort_transaction", "COMMITTING_TRANSACTION"),
        "Java: a commit in progress must be retried, not aborted"
    );
    {
        let mut inner = txn.lock();
        inner.completed();
        inner.finish(Operation::Commit, Ok(()));
    }
    assert_eq!(*rx.borrow(), Some(Ok(())));
    txn.seen(Operation::Commit);
    assert_eq!(txn.state(), State::Ready);
    assert!(txn.lock().partitions.is_empty() && txn.lock().new_partitions.is_empty());
}

#[test]
fn a_timed_out_commit_is_joined_by_the_next_call() {
    let txn = ready();
    txn.begin().expect("begin");
    let first = txn.start(Operation::Commit, None).expect("commit");
    // The caller timed out; it calls commit again and waits for the same outcome.
    let second = txn.start(Operation::Commit, None).expect("commit again");
    txn.lock().finish(Operation::Commit, Ok(()));
    assert_eq!(*first.borrow(), Some(Ok(())));
    assert_eq!(*second.borrow(), Some(Ok(())));
}

#[test]
fn an_abortable_error_fails_sends_and_commit_until_the_abort() {
    let txn = ready();
    txn.begin().expect("begin");
    let error = Error::TransactionAbortable {
        code: ErrorCode::TopicAuthorizationFailed,
        reason: "AddPartitionsToTxn".into(),
    };
    txn.lock().abortable(error.clone());
    assert_eq!(txn.check_send(), Err(error.clone()));
    assert_eq!(txn.start(Operation::Commit, None).err(), Some(error.clone()));
    // A second error does not replace the first.
    txn.lock().abortable(Error::TransactionAborted);
    assert_eq!(txn.check_send(), Err(error));
    txn.start(Operation::Abort, None).expect("abort is allowed");
    assert_eq!(txn.state(), State::Aborting);
    assert_eq!(
        state_error(txn.begin()),
        ("begin_transaction", "ABORTING_TRANSACTION")
    );
    {
        let mut inner = txn.lock();
        inner.completed();
        inner.finish(Operation::Abort, Ok(()));
    }
    assert_eq!(txn.state(), State::Ready);
    txn.begin().expect("usable again");
}

#[test]
fn a_fatal_error_ends_everything() {
    let txn = ready();
    txn.begin().expect("begin");
    let rx = txn.start(Operation::Commit, None).expect("commit");
    let fenced = Error::Fatal {
        code: ErrorCode::ProducerFenced,
        reason: "fenced".into(),
    };
    txn.lock().fatal(fenced.clone());
    assert_eq!(*rx.borrow(), Some(Err(fenced.clone())));
    txn.seen(Operation::Commit);
    assert_eq!(txn.check_send(), Err(fenced.clone()));
    assert_eq!(txn.begin(), Err(fenced.clone()));
    assert_eq!(txn.start(Operation::Abort, None).err(), Some(fenced));
}

#[test]
fn the_sender_stopping_wakes_a_waiting_call() {
    let txn = TxnShared::new("t".into(), Duration::from_secs(60));
    let rx = txn.start(Operation::Init, None).expect("init");
    txn.stopped(&Error::Closed {
        may_have_been_persisted: false,
    });
    assert!(matches!(*rx.borrow(), Some(Err(Error::Closed { .. }))));
}
