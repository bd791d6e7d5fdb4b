//! The records of `__transaction_state`, in Kafka's schemas, so that the coordinator's state
//! survives a restart and Kafka's tools read it (`kafka-dump-log --transaction-log-decoder`).
//!
//! - Key v0: `{transactional_id}` (int16-length string).
//! - Value v0 (not flexible): `{producer_id, producer_epoch, transaction_timeout_ms,
//!   transaction_status (int8), transaction_partitions (nullable array of {topic,
//!   [partition]}), last_update_timestamp_ms, start_timestamp_ms}`.
//!
//! Status codes (Kafka's `TransactionState`): Empty 0, Ongoing 1, PrepareCommit 2,
//! PrepareAbort 3, CompleteCommit 4, CompleteAbort 5.

use std::collections::BTreeSet;

use bytes::{Buf, BufMut, Bytes, BytesMut};

use super::TxnState;

/// A transactional id's stored state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct StoredTxn {
    pub producer_id: i64,
    pub producer_epoch: i16,
    pub timeout_ms: i32,
    pub state: TxnState,
    pub partitions: BTreeSet<(String, i32)>,
    pub last_update_ms: i64,
    pub start_ms: i64,
}

fn put_str(out: &mut BytesMut, s: &str) {
    let len = i16::try_from(s.len()).unwrap_or(i16::MAX);
    out.put_i16(len);
    out.put_slice(&s.as_bytes()[..len as usize]);
}

fn read_str(b: &mut &[u8]) -> Option<String> {
    if b.len() < 2 {
        return None;
    }
    let len = usize::try_from(b.get_i16()).ok()?;
    if b.len() < len {
        return None;
    }
    let s = String::from_utf8(b[..len].to_vec()).ok()?;
    b.advance(len);
    Some(s)
}

/// The key of `transactional_id`'s record.
pub(crate) fn key(transactional_id: &str) -> Bytes {
    let mut out = BytesMut::new();
    out.put_i16(0);
    put_str(&mut out, transactional_id);
    out.freeze()
}

/// Reads a key (version 0).
pub(crate) fn decode_key(mut b: &[u8]) -> Option<String> {
    if b.len() < 2 || b.get_i16() != 0 {
        return None;
    }
    read_str(&mut b)
}

fn status(state: TxnState) -> i8 {
    match state {
        TxnState::Empty => 0,
        TxnState::Ongoing => 1,
        TxnState::PrepareCommit => 2,
        TxnState::PrepareAbort => 3,
        TxnState::CompleteCommit => 4,
        TxnState::CompleteAbort => 5,
    }
}

fn state_of(status: i8) -> Option<TxnState> {
    Some(match status {
        0 => TxnState::Empty,
        1 => TxnState::Ongoing,
        2 => TxnState::PrepareCommit,
        3 => TxnState::PrepareAbort,
        4 => TxnState::CompleteCommit,
        5 => TxnState::CompleteAbort,
        _ => return None,
    })
}

impl StoredTxn {
    /// The value's bytes (version 0).
    pub(crate) fn encode(&self) -> Bytes {
        let mut out = BytesMut::new();
        out.put_i16(0);
        out.put_i64(self.producer_id);
        out.put_i16(self.producer_epoch);
        out.put_i32(self.timeout_ms);
        out.put_i8(status(self.state));
        let mut by_topic: Vec<(&str, Vec<i32>)> = Vec::new();
        for (topic, partition) in &self.partitions {
            match by_topic.last_mut() {
                Some((t, ps)) if *t == topic.as_str() => ps.push(*partition),
                _ => by_topic.push((topic.as_str(), vec![*partition])),
            }
        }
        out.put_i32(by_topic.len() as i32);
        for (topic, partitions) in by_topic {
            put_str(&mut out, topic);
            out.put_i32(partitions.len() as i32);
            for p in partitions {
                out.put_i32(p);
            }
        }
        out.put_i64(self.last_update_ms);
        out.put_i64(self.start_ms);
        out.freeze()
    }

    /// Reads a version 0 value (a flexible v1 value is not read: kafkit writes v0).
    pub(crate) fn decode(mut b: &[u8]) -> Option<StoredTxn> {
        let b = &mut b;
        let need = |b: &&[u8], n: usize| (b.len() >= n).then_some(());
        need(b, 2 + 8 + 2 + 4 + 1 + 4)?;
        if b.get_i16() != 0 {
            return None;
        }
        let producer_id = b.get_i64();
        let producer_epoch = b.get_i16();
        let timeout_ms = b.get_i32();
        let state = state_of(b.get_i8())?;
        let topics = b.get_i32();
        let mut partitions = BTreeSet::new();
        for _ in 0..topics.max(0) {
            let topic = read_str(b)?;
            need(b, 4)?;
            let count = usize::try_from(b.get_i32()).ok()?;
            need(b, count.checked_mul(4)?)?;
            for _ in 0..count {
                partitions.insert((topic.clone(), b.get_i32()));
            }
        }
        need(b, 16)?;
        Some(StoredTxn {
            producer_id,
            producer_epoch,
            timeout_ms,
            state,
            partitions,
            last_update_ms: b.get_i64(),
            start_ms: b.get_i64(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_round_trip_and_truncations_are_refused() {
        let txn = StoredTxn {
            producer_id: 7,
            producer_epoch: 3,
            timeout_ms: 60_000,
            state: TxnState::Ongoing,
            partitions: BTreeSet::from([("a".into(), 0), ("a".into(), 2), ("b".into(), 1)]),
            last_update_ms: 10,
            start_ms: 5,
        };
        let bytes = txn.encode();
        assert_eq!(StoredTxn::decode(&bytes), Some(txn));
        for len in 0..bytes.len() {
            assert_eq!(StoredTxn::decode(&bytes[..len]), None, "cut at {len}");
        }
        assert_eq!(decode_key(&key("tx")), Some("tx".into()));
        assert_eq!(&key("tx")[..], &[0, 0, 0, 2, b't', b'x']);
    }
}
